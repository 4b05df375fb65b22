//! istiod's stand-in JWKS after a failed fetch, against a real Envoy 1.40: its one RSA key has a
//! modulus that spells `Error-IstiodFailedToFetchJwksUri-` and the `jwksUri`, so whether Envoy can
//! use it depends on the URI. When it cannot, Envoy rejects the whole `jwt_authn` config
//! (`Provider 'origins-0' in jwt_authn config has invalid local jwks`), and idflow must report that
//! instead of predicting a 401. `idflow envoy-config` must warn the same way when it prints such a
//! config.

mod envoy_harness;
#[path = "what_if/mint.rs"]
mod mint;
mod support;

use std::path::PathBuf;
use std::process::Command;

use envoy_harness::envoy::{self, Layout};
use idflow::token::jwks::istiod_fetch_failure_jwks;
use serde_json::json;
use support::decode_json;

/// URIs whose stand-in key Envoy keeps or drops: it wants an odd modulus of at least 512 bits.
const URIS: [&str; 4] = [
    // 39 characters ending in `n` (even): dropped.
    "https://idp.example.test/keys/jwks.json",
    // 39 characters ending in `m` (odd): kept.
    "https://idp.example.test/keys/jwks.jsom",
    // 32 characters ending in `s`: 520 bits, kept.
    "https://idp.example.test/k/certs",
    // 31 characters: the modulus starts with `E` (0x45), so it has 511 bits: dropped.
    "https://idp.example.test/kcerts",
];

/// Runs Envoy in validate mode on a sidecar-shaped config whose one provider inlines `jwks`, and
/// returns whether Envoy accepts the config.
fn envoy_accepts(jwks: &str, dir: &std::path::Path) -> bool {
    let filter = json!({
        "name": "envoy.filters.http.jwt_authn",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": {"origins-0": {
                "issuer": mint::ISSUER,
                "local_jwks": {"inline_string": jwks},
                "payload_in_metadata": "payload",
            }},
            "rules": [{"match": {"prefix": "/"}, "requires": {"requires_any": {"requirements": [
                {"provider_name": "origins-0"}, {"allow_missing": {}},
            ]}}}],
        }
    });

    filters_accepted(vec![filter], dir)
}

/// Runs Envoy in validate mode on a sidecar-shaped config with `http_filters` before the router,
/// and returns whether Envoy accepts the config.
fn filters_accepted(http_filters: Vec<serde_json::Value>, dir: &std::path::Path) -> bool {
    let layout = Layout {
        http_filters,
        network_filters: Vec::new(),
        tcp: false,
        port: envoy::free_port(),
        upstream_port: envoy::free_port(),
        xff_trusted_hops: 0,
    };

    // The bootstrap names the workload's certificate files, which validation opens.
    let pki = envoy_harness::pki::mint("spiffe://cluster.local/ns/shop/sa/orders", &[], &[]);
    for (name, text) in [
        ("ca.pem", &pki.ca_pem),
        ("server.pem", &pki.server.cert_pem),
        ("server.key", &pki.server.key_pem),
    ] {
        std::fs::write(dir.join(name), text).expect("certificate written");
    }
    let config = envoy::bootstrap(&layout, dir);
    let path = dir.join("validate.json");
    std::fs::write(&path, config.to_string()).expect("config written");

    let output = Command::new(envoy::binary())
        .args(["--mode", "validate", "-l", "error", "-c"])
        .arg(&path)
        .output()
        .expect("envoy runs");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() || log.contains("has invalid local jwks"),
        "Envoy rejected the config for another reason: {log}"
    );
    output.status.success()
}

/// Returns a RequestAuthentication for `shop/orders` whose one `jwtRules` entry takes its keys
/// from `keys`, a YAML line such as `jwksUri: URI` or `jwks: '…'`.
fn request_authentication(keys: &str) -> String {
    format!(
        "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\n\
         metadata: {{name: jwt, namespace: shop}}\n\
         spec:\n  selector: {{matchLabels: {{app: orders}}}}\n  jwtRules:\n  \
         - issuer: {}\n    {keys}\n",
        mint::ISSUER
    )
}

fn scratch() -> PathBuf {
    envoy_harness::scratch_dir("jwks-stand-in")
}

#[test]
fn check_names_rejected_config() {
    let dir = scratch();
    for uri in URIS {
        let accepted = envoy_accepts(&istiod_fetch_failure_jwks(uri), &dir);
        let policy = dir.join("ra.yaml");
        std::fs::write(&policy, request_authentication(&format!("jwksUri: {uri}")))
            .expect("policy written");
        let output = Command::new(env!("CARGO_BIN_EXE_idflow"))
            .args(["check", "-f"])
            .arg(&policy)
            .args(["--workload", "shop/orders", "-o", "json"])
            .output()
            .expect("idflow check runs");
        let json: serde_json::Value =
            serde_json::from_slice(&output.stdout).expect("check prints JSON");
        let warned = json
            .to_string()
            .contains("reject the whole jwt_authn config");
        assert_eq!(
            warned, !accepted,
            "{uri}: Envoy accepted {accepted}; {json}"
        );
    }
}

#[test]
fn decode_names_rejected_config() {
    let dir = scratch();
    let token = mint::mint(
        mint::key(),
        &mint::claims(mint::ISSUER, "orders", chrono::Utc::now().timestamp(), 600),
    );
    for uri in URIS {
        let stand_in = istiod_fetch_failure_jwks(uri);
        let accepted = envoy_accepts(&stand_in, &dir);
        let file = dir.join("stand-in.json");
        std::fs::write(&file, &stand_in).expect("JWKS written");
        let (_, json) = decode_json(&token, &["--jwks", &file.display().to_string()]);
        let message = json["signature"]["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("istiod could not fetch the JWKS from"),
            "{uri}: {message}"
        );
        assert_eq!(
            message.contains("rejects the whole jwt_authn config"),
            !accepted,
            "{uri}: Envoy accepted {accepted}; {message}"
        );
    }
}

/// Runs `idflow envoy-config -f POLICY --workload shop/orders` and returns its standard output as
/// JSON and its standard error.
fn envoy_config(policy: &std::path::Path) -> (serde_json::Value, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_idflow"))
        .args(["envoy-config", "-f"])
        .arg(policy)
        .args(["--workload", "shop/orders"])
        .output()
        .expect("idflow envoy-config runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let config = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!("standard output is not only the config ({error}): {stderr}")
    });
    (config, stderr)
}

/// `envoy-config` warns on standard error, in `check`'s words, exactly when Envoy rejects the
/// config it prints: for an inline `jwks` and for istiod's stand-in after a failed fetch.
#[test]
fn envoy_config_names_rejected_config() {
    let dir = scratch();
    let mut policies: Vec<String> = URIS
        .iter()
        .map(|uri| request_authentication(&format!("jwksUri: {uri}")))
        .collect();
    policies.push(request_authentication("jwks: '{\"keys\":[]}'"));
    policies.push(request_authentication(&format!("jwks: '{}'", mint::jwks())));

    let mut rejected = 0;
    for text in policies {
        let policy = dir.join("ra.yaml");
        std::fs::write(&policy, &text).expect("policy written");
        let (config, stderr) = envoy_config(&policy);
        let filters = config["http_filters"]
            .as_array()
            .expect("a list of HTTP filters")
            .clone();
        let accepted = filters_accepted(filters, &dir);

        let check = Command::new(env!("CARGO_BIN_EXE_idflow"))
            .args(["check", "-o", "json", "-f"])
            .arg(&policy)
            .args(["--workload", "shop/orders"])
            .output()
            .expect("idflow check runs");
        let verdict: serde_json::Value =
            serde_json::from_slice(&check.stdout).expect("check prints JSON");
        let notes: Vec<&str> = verdict["warnings"]
            .as_array()
            .expect("a warnings list")
            .iter()
            .filter_map(serde_json::Value::as_str)
            .filter(|warning| warning.contains("jwt_authn config"))
            .collect();

        assert_eq!(
            notes.is_empty(),
            accepted,
            "{text}: Envoy accepted {accepted}"
        );
        for note in notes {
            assert!(
                stderr
                    .lines()
                    .any(|line| line == format!("idflow: warning: {note}")),
                "{text}: check warns {note:?}, envoy-config wrote {stderr:?}"
            );
        }
        if !accepted {
            rejected += 1;
        }
    }
    assert_eq!(rejected, 3, "two stand-in keys and the empty inline JWKS");
}

/// The warning for an inline `jwks` whose only key Envoy cannot use, word for word.
#[test]
fn envoy_config_inline_jwks_warning() {
    let dir = scratch();
    let policy = dir.join("ra.yaml");
    std::fs::write(&policy, request_authentication("jwks: '{\"keys\":[]}'"))
        .expect("policy written");
    let (_, stderr) = envoy_config(&policy);

    assert_eq!(
        stderr,
        "idflow: warning: Envoy rejects this jwt_authn config: the JWKS of issuer \
         \"https://idp.shop.test\" has no usable key (Jwks doesn't have any valid public key). \
         The proxy rejects the listener update and keeps its previous configuration, so this \
         workload's RequestAuthentication and AuthorizationPolicy changes do not take effect and \
         idflow's verdicts for it may not be what the proxy does.\n"
    );
}
