//! A token in the `access_token` query parameter with whitespace around or inside it, checked
//! against Envoy 1.40, and the edge's reading of public paths and HTTPie URLs.
//!
//! Envoy's jwt_authn percent-decodes the query parameter and reads the whole value as the token,
//! and Abseil's base64url decoder skips whitespace. So `%20` or `%09` that splits the signature
//! segment leaves the signature intact (200), and a word after the token lands in the signature
//! (401). The tests that compare with Envoy need it (`ENVOY` or scripts/test.sh) and fail
//! without it.

mod envoy_harness;
#[path = "what_if/mint.rs"]
mod mint;
mod support;

use envoy_harness::envoy;
use serde_json::{Value, json};
use support::{decode_output, predicted_verdict, problem_message, public_path_profile};

const OK: &str = "200 via_upstream";
const VERIFICATION_FAILS: &str = "401 jwt_authn_access_denied{Jwt_verification_fails}";

/// Returns a valid RS256 token of [`mint::ISSUER`] for `alice` that expires in an hour. Its
/// signature segment has 342 characters.
fn token() -> String {
    let exp = chrono::Utc::now().timestamp() + 3600;
    mint::mint(
        mint::key(),
        &json!({"iss": mint::ISSUER, "sub": "alice", "exp": exp}),
    )
}

/// Returns `token` with `separator` inserted into its signature segment after 100 characters.
fn split_signature(token: &str, separator: &str) -> String {
    let (signed, signature) = token.rsplit_once('.').expect("a token with a signature");
    format!(
        "{signed}.{}{separator}{}",
        &signature[..100],
        &signature[100..]
    )
}

/// Returns each `access_token` value, named, with the verdict Envoy 1.40 gave for it.
fn query_shapes(token: &str) -> Vec<(&'static str, String, &'static str)> {
    vec![
        ("%20 in the signature", split_signature(token, "%20"), OK),
        ("%09 in the signature", split_signature(token, "%09"), OK),
        (
            "trailing %20abcd",
            format!("{token}%20abcd"),
            VERIFICATION_FAILS,
        ),
        ("trailing %20", format!("{token}%20"), OK),
    ]
}

/// Writes [`mint::jwks`] to a new file and returns its path.
fn jwks_file() -> String {
    let path = envoy_harness::scratch_dir("tester2-edge-jwks").join("jwks.json");
    std::fs::write(&path, mint::jwks()).expect("JWKS written");
    path.to_str().expect("UTF-8 path").to_owned()
}

/// Envoy's verdict for each query value is the one in [`query_shapes`], and decode with the keys
/// predicts it for the value in a URL, a curl command and a raw HTTP request.
#[test]
fn query_whitespace_predicts_envoy() {
    let token = token();
    let shapes = query_shapes(&token);
    let paths: Vec<String> = shapes
        .iter()
        .map(|(_, value, _)| format!("/x?access_token={value}"))
        .collect();
    let requests: Vec<(&str, Vec<(String, String)>)> = paths
        .iter()
        .map(|path| (path.as_str(), Vec::new()))
        .collect();
    let verdicts = envoy_harness::http_statuses(
        mint::istiod_filters(mint::ISSUER),
        envoy::free_port(),
        "orders.shop.svc.cluster.local:8080",
        "spiffe://cluster.local/ns/shop/sa/orders",
        &requests,
    );
    for ((name, _, expected), verdict) in shapes.iter().zip(&verdicts) {
        assert_eq!(verdict, expected, "Envoy for {name}");
    }

    let jwks = jwks_file();
    for ((name, _, _), (path, verdict)) in shapes.iter().zip(paths.iter().zip(&verdicts)) {
        let url = format!("https://api.test{path}");
        let inputs = [
            url.clone(),
            format!("curl '{url}'"),
            format!("GET {path} HTTP/1.1\nHost: api.test\n\n"),
        ];
        for input in inputs {
            let (code, json, stderr) = decode_output(&input, &["--jwks", &jwks]);
            assert_eq!(
                predicted_verdict(code, &json),
                *verdict,
                "decode for {name} ({input:.12}): {stderr}"
            );
        }
    }
}

/// A split signature that verifies is one token: the fingerprint is the token's and the problem
/// is the whitespace, not text after the token.
#[test]
fn query_split_signature_is_one_token() {
    let token = token();
    let jwks = jwks_file();
    let url = format!(
        "https://api.test/x?access_token={}",
        split_signature(&token, "%20")
    );

    let (code, json, stderr) = decode_output(&url, &["--jwks", &jwks]);

    assert_eq!(code, 0, "{stderr}{json}");
    assert_eq!(json["signature"]["status"], "verified");
    assert_eq!(json["fingerprint"], idflow::token::fingerprint(&token));
    assert_eq!(support::problem_codes(&json), ["internal_whitespace"]);
}

/// Text after a token in the query parameter is reported where it was sent, not in a header.
#[test]
fn query_trailing_text_names_parameter() {
    let token = token();
    let url = format!("https://api.test/x?access_token={token}%20abcd");

    let (_, json, stderr) = decode_output(&url, &[]);
    let message = problem_message(&json, "trailing_text");

    assert!(
        message.contains("from the `access_token` query parameter"),
        "{message}{stderr}"
    );
    assert!(!message.contains("header"), "{message}");
}

/// A request to a public path goes on at the edge whether it carries no token or a token where
/// the edge does not look.
#[test]
fn public_path_token_elsewhere_allowed() {
    let profile = public_path_profile("tester2-public");
    let profile = profile.to_string_lossy();
    let token = token();
    let inputs = [
        "curl https://api.test/public/x".to_owned(),
        format!("curl 'https://api.test/public/x?access_token={token}'"),
        format!("curl -H 'X-Other: Bearer {token}' https://api.test/public/x"),
        format!("curl -b jwt={token} https://api.test/public/x"),
        format!("https://api.test/public/x?access_token={token}"),
        format!("http api.test/public/x access_token=={token}"),
        format!("GET /public/x?access_token={token} HTTP/1.1\nHost: api.test\n\n"),
    ];
    for input in inputs {
        let (_, json, stderr) = decode_output(&input, &["--edge-profile", &profile]);
        let edge = &json["edge"];
        assert_eq!(edge["verdict"], "allow", "{input:.40}: {edge}{stderr}");
        assert_eq!(edge["status"], Value::Null, "{input:.40}");
        let reason = edge["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("public path"), "{input:.40}: {reason}");
        assert!(!reason.contains("responds with"), "{input:.40}: {reason}");
    }
}

/// Outside the public paths, a token where the edge does not look still gets the response to a
/// missing token.
#[test]
fn private_path_token_elsewhere_missing() {
    let profile = public_path_profile("tester2-private");
    let token = token();
    let input = format!("curl 'https://api.test/orders?access_token={token}'");

    let (_, json, stderr) = decode_output(&input, &["--edge-profile", &profile.to_string_lossy()]);

    assert_eq!(json["edge"]["verdict"], "deny", "{stderr}");
    assert_eq!(json["edge"]["status"], 400);
}

/// The edge judges the path HTTPie 3.2.4 sends: dot segments resolved first, then percent-encoded
/// unreserved characters decoded (`http --offline` prints `GET /orders` and `GET /public/x`).
#[test]
fn httpie_path_normalised_as_sent() {
    let profile = public_path_profile("tester2-httpie");
    let profile = profile.to_string_lossy();
    let cases = [
        ("http api.test/public/../orders", "deny"),
        ("http api.test/%70ublic/x", "allow"),
        ("http api.test/a/../public/x", "allow"),
    ];
    for (command, verdict) in cases {
        let (_, json, stderr) = decode_output(command, &["--edge-profile", &profile]);
        assert_eq!(json["edge"]["verdict"], verdict, "{command}: {stderr}");
    }
}

/// A query parameter that a RequestAuthentication lists under `fromParams` is read as Envoy reads
/// `access_token`: its whole value, with the whitespace in the signature skipped.
#[test]
fn configured_parameter_predicts_envoy() {
    let token = token();
    let policies = envoy_harness::require_jwt::policy_file_at(
        mint::ISSUER,
        &mint::jwks(),
        &json!({"fromParams": ["jwt"]}),
        "tester2-from-params",
    );
    let values = [
        (split_signature(&token, "%20"), OK),
        (format!("{token}%20abcd"), VERIFICATION_FAILS),
    ];
    let requests: Vec<(String, Vec<(String, String)>)> = values
        .iter()
        .map(|(value, _)| (format!("/x?jwt={value}"), Vec::new()))
        .collect();
    let verdicts =
        envoy_harness::require_jwt::verdicts(&policies, &requests, "tester2-from-params");
    for ((value, expected), verdict) in values.iter().zip(&verdicts) {
        assert_eq!(verdict, expected, "Envoy for {value:.8}");
    }

    let policy_arg = policies.to_string_lossy();
    for ((path, _), verdict) in requests.iter().zip(&verdicts) {
        let url = format!("https://orders.example.test{path}");
        let args = ["--policies", &policy_arg, "--workload", "shop/orders"];
        let (code, json, stderr) = decode_output(&url, &args);
        assert_eq!(
            predicted_verdict(code, &json),
            *verdict,
            "decode for {path:.12}: {stderr}"
        );
    }
}

/// A path without a query is no token, on standard input as in the argument, and the edge still
/// judges the request to it.
#[test]
fn bare_path_not_a_token() {
    let profile = public_path_profile("tester2-bare-path");
    let profile = profile.to_string_lossy();

    let (code, json, stderr) = decode_output("/public/x", &["--edge-profile", &profile]);
    assert_eq!(code, 2, "{json}");
    assert!(stderr.contains("no token found"), "{stderr}");
    assert_eq!(json["edge"]["verdict"], "allow", "{json}");

    let argument = std::process::Command::new(env!("CARGO_BIN_EXE_idflow"))
        .args(["decode", "/public/x"])
        .output()
        .expect("idflow decode runs");
    assert_eq!(argument.status.code(), Some(2));
}

/// A redirect that carries an OAuth error names it, and a plain-text body is not read as a
/// token.
#[test]
fn response_without_token_explained() {
    let redirect = "HTTP/1.1 302 Found\nLocation: https://app.test/cb#error=access_denied\
                    &error_description=denied\n\n";
    let (code, _, stderr) = decode_output(redirect, &[]);
    assert_eq!(code, 2);
    assert!(stderr.contains("\"access_denied\""), "{stderr}");

    for response in [
        "HTTP/1.1 200 OK\nContent-Type: text/plain\n\nok\n",
        "HTTP/1.1 201 Created\n\nok",
    ] {
        let (code, json, stderr) = decode_output(response, &[]);
        assert_eq!(code, 2, "{response:?}: {json}");
        assert!(stderr.contains("not a JWT"), "{response:?}: {stderr}");
    }
}

/// HTTPie 3.2.4 exits with `--auth required` for `-A bearer` without `-a` and sends nothing, so
/// neither decode nor the edge judges a request.
#[test]
fn httpie_bearer_without_auth() {
    let profile = public_path_profile("tester2-httpie-auth");
    let command = "http -A bearer api.test/orders";

    let (code, json, stderr) =
        decode_output(command, &["--edge-profile", &profile.to_string_lossy()]);

    assert_eq!(code, 2, "{json}");
    assert!(stderr.contains("--auth required"), "{stderr}");
    assert_eq!(json["edge"], Value::Null, "{json}");
}
