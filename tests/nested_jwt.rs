//! `idflow decode` on nested JWTs: a JWS whose header says `cty: JWT` and whose payload is another
//! JWS or JWE (RFC 7519 section 5.2). decode shows the inner token one level down under `nested`,
//! hides its signature like the outer one's, and reports what Envoy does with the outer token, which
//! a real Envoy 1.40 decides here.

mod envoy_harness;
#[path = "what_if/mint.rs"]
mod mint;
mod support;

use std::path::PathBuf;

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use envoy_harness::{require_jwt, scratch_dir};
use serde_json::{Value, json};
use support::{decode_json, decode_output, problem_codes, problem_message, run_decode};

/// The HS256 secret of the inner tokens; minted here, never real.
const INNER_SECRET: &[u8] = b"nested-test-secret-0815";

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Returns an HS256 JWS of `header` and `claims`, signed with [`INNER_SECRET`].
fn hs256(header: &Value, claims: &str) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.as_bytes())
    );
    let key = hmac::Key::new(hmac::HMAC_SHA256, INNER_SECRET);
    let tag = hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

/// Returns the inner HS256 token of the tests: subject `inner-alice`, valid for an hour.
fn inner_jws() -> String {
    let claims =
        json!({"iss": mint::ISSUER, "sub": "inner-alice", "aud": "orders", "exp": now() + 3600});
    hs256(&json!({"alg": "HS256", "typ": "JWT"}), &claims.to_string())
}

/// Returns an RS256 JWS signed by [`mint::key`] whose header has `cty` and whose payload is the
/// text `inner`.
fn wrap(cty: &str, inner: &str) -> String {
    let header = json!({"alg": "RS256", "typ": "JWT", "cty": cty, "kid": mint::KID});
    mint::sign(
        mint::key(),
        &b64(header.to_string().as_bytes()),
        &b64(inner.as_bytes()),
    )
}

fn signature_of(token: &str) -> &str {
    token.rsplit('.').next().expect("a segment")
}

/// Writes the files of the keys for both tokens: the JWKS of [`mint::key`] and [`INNER_SECRET`].
fn key_files(label: &str) -> (PathBuf, PathBuf) {
    let dir = scratch_dir(label);
    let jwks = dir.join("jwks.json");
    std::fs::write(&jwks, mint::jwks()).expect("JWKS written");
    let secret = dir.join("secret");
    std::fs::write(&secret, INNER_SECRET).expect("secret written");
    (jwks, secret)
}

/// Runs `idflow decode -` with `token` on standard input and returns the readable summary.
fn decode_text(token: &str) -> String {
    use std::io::Write as _;
    use std::process::{Command, Stdio};

    let mut child = Command::new(env!("CARGO_BIN_EXE_idflow"))
        .args(["decode", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("idflow decode starts");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(token.as_bytes())
        .expect("token written");
    let output = child.wait_with_output().expect("idflow decode runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn jws_in_jws_decoded() {
    let inner = inner_jws();
    let outer = wrap("JWT", &inner);

    let (code, json) = decode_json(&outer, &[]);

    // Envoy rejects the outer token, so decode reports it invalid.
    assert_eq!(code, 1, "{json}");
    assert_eq!(json["kind"], "jws");
    assert_eq!(json["header"]["cty"], "JWT");
    assert_eq!(json["claims"], Value::Null);
    assert_eq!(json["signature"]["alg"], "RS256");
    let codes = problem_codes(&json);
    assert!(codes.contains(&"nested_jwt".to_owned()), "{codes:?}");
    assert!(
        !codes.contains(&"payload_invalid_json".to_owned()),
        "{codes:?}"
    );

    let nested = &json["nested"];
    assert_eq!(nested["kind"], "jws", "{json}");
    assert_eq!(nested["header"]["alg"], "HS256");
    assert_eq!(nested["claims"]["sub"], "inner-alice");
    assert!(nested["times"]["exp"]["relative_seconds"].as_i64() > Some(3500));
    assert_eq!(nested["signature"]["status"], "unverified");
    assert_eq!(nested["signature"]["alg"], "HS256");
    assert_eq!(nested["encoded_len"], inner.len());
    assert!(
        nested["fingerprint"]
            .as_str()
            .is_some_and(|text| text.starts_with("sha256:")),
        "{nested}"
    );
    assert_ne!(nested["fingerprint"], json["fingerprint"]);
    assert_eq!(nested["problems"], json!([]), "{nested}");
    assert!(nested.get("nested").is_none(), "{nested}");
}

#[test]
fn jws_in_jws_keys_check_both() {
    let outer = wrap("JWT", &inner_jws());
    let (jwks, secret) = key_files("nested-keys");
    let jwks = jwks.display().to_string();
    let secret = secret.display().to_string();

    let (_, json) = decode_json(&outer, &["--jwks", &jwks, "--secret-file", &secret]);

    // The outer signature is checked as Envoy reads the token, which fails on the payload.
    assert_eq!(json["signature"]["status"], "invalid", "{json}");
    assert_eq!(
        json["signature"]["envoy_status"],
        "Jwt payload is an invalid JSON"
    );
    assert_eq!(json["nested"]["signature"]["status"], "verified", "{json}");
    assert_eq!(json["nested"]["signature"]["key_source_kind"], "secret");

    // With the JWKS alone, no key verifies the HS256 inner token.
    let (_, json) = decode_json(&outer, &["--jwks", &jwks]);
    assert_ne!(json["nested"]["signature"]["status"], "verified", "{json}");
    assert_ne!(
        json["nested"]["signature"]["status"], "unverified",
        "{json}"
    );
}

#[test]
fn jwe_in_jws_header_only() {
    let header = json!({"alg": "RSA-OAEP", "enc": "A256GCM", "kid": "enc-1"});
    let jwe = format!(
        "{}.{}.{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(&[7; 256]),
        b64(&[1; 12]),
        b64(b"ciphertext bytes"),
        b64(&[2; 16])
    );
    let outer = wrap("JWT", &jwe);

    let (_, json) = decode_json(&outer, &[]);

    let nested = &json["nested"];
    assert_eq!(nested["kind"], "jwe", "{json}");
    assert_eq!(nested["header"]["enc"], "A256GCM");
    assert_eq!(nested["claims"], Value::Null);
    let codes = problem_codes(nested);
    assert!(
        codes.contains(&"jwe_claims_encrypted".to_owned()),
        "{codes:?}"
    );
    assert!(
        problem_message(&json, "nested_jwt").contains("JWE"),
        "{json}"
    );
}

#[test]
fn lower_case_cty_recognised() {
    for cty in ["jwt", "application/jwt"] {
        let outer = wrap(cty, &inner_jws());
        let (_, json) = decode_json(&outer, &[]);
        assert_eq!(
            json["nested"]["claims"]["sub"], "inner-alice",
            "{cty}: {json}"
        );
    }
}

#[test]
fn second_level_named_not_decoded() {
    let innermost = inner_jws();
    let middle = hs256(&json!({"alg": "HS256", "cty": "JWT"}), &innermost);
    let outer = wrap("JWT", &middle);

    let (_, json) = decode_json(&outer, &[]);

    let nested = &json["nested"];
    assert_eq!(nested["header"]["cty"], "JWT", "{json}");
    assert_eq!(nested["claims"], Value::Null);
    assert!(nested.get("nested").is_none(), "{nested}");
    let codes = problem_codes(nested);
    assert!(
        codes.contains(&"nested_jwt_not_decoded".to_owned()),
        "{codes:?}"
    );
    assert!(
        !codes.contains(&"payload_invalid_json".to_owned()),
        "{codes:?}"
    );
    assert!(!json.to_string().contains("inner-alice"), "{json}");
}

#[test]
fn cty_over_json_payload_noted() {
    let claims = json!({"iss": mint::ISSUER, "sub": "alice", "exp": now() + 3600});
    let header = json!({"alg": "RS256", "cty": "JWT", "kid": mint::KID});
    let token = mint::sign(
        mint::key(),
        &b64(header.to_string().as_bytes()),
        &b64(claims.to_string().as_bytes()),
    );

    let (code, json) = decode_json(&token, &[]);

    assert_eq!(code, 0, "{json}");
    assert_eq!(json["claims"]["sub"], "alice");
    assert!(json.get("nested").is_none(), "{json}");
    assert!(
        problem_codes(&json).contains(&"cty_jwt_json_payload".to_owned()),
        "{json}"
    );
}

#[test]
fn inner_signature_hidden() {
    let inner = inner_jws();
    let outer = wrap("JWT", &inner);

    let (_, json, stderr) = decode_output(&outer, &[]);
    let text = decode_text(&outer);

    for shown in [json.to_string(), text.clone(), stderr] {
        assert!(!shown.contains(signature_of(&inner)), "{shown}");
        assert!(!shown.contains(&inner), "{shown}");
    }
    assert!(json["nested"].get("token").is_none(), "{json}");
    assert!(json["nested"]["signature"].get("value").is_none(), "{json}");
    assert!(text.contains("nested JWT"), "{text}");
    assert!(text.contains("inner-alice"), "{text}");
}

#[test]
fn show_secrets_shows_inner() {
    let inner = inner_jws();
    let outer = wrap("JWT", &inner);

    let (_, json) = decode_json(&outer, &["--show-secrets"]);

    assert_eq!(json["nested"]["token"], inner.as_str(), "{json}");
    assert_eq!(json["nested"]["signature"]["value"], signature_of(&inner));
    assert_eq!(json["token"], outer.as_str());
}

#[test]
fn batch_line_has_nested() {
    let outer = wrap("JWT", &inner_jws());
    let plain = mint::mint(
        mint::key(),
        &mint::claims(mint::ISSUER, "orders", now(), 3600),
    );
    let output = run_decode(&format!("{outer}\n{plain}\n"), &["--batch"]);
    let text = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON line"))
        .collect();

    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0]["line"], 1);
    assert_eq!(lines[0]["nested"]["claims"]["sub"], "inner-alice", "{text}");
    assert!(lines[1].get("nested").is_none(), "{text}");
    assert!(!text.contains(signature_of(&inner_jws())), "{text}");
}

/// Sends the nested token through a real Envoy whose RequestAuthentication has the outer token's
/// issuer and keys. jwt_authn parses the payload as JSON before it checks the signature, so it
/// rejects the token. decode's problems must name that status.
#[test]
fn envoy_rejects_nested_jwt() {
    let outer = wrap("JWT", &inner_jws());
    let policies = require_jwt::policy_file(mint::ISSUER, &mint::jwks(), "nested-envoy");
    let request = (
        "/".to_owned(),
        vec![("authorization".to_owned(), format!("Bearer {outer}"))],
    );

    let verdict = require_jwt::verdicts(&policies, &[request], "nested-envoy").remove(0);

    assert_eq!(
        verdict,
        "401 jwt_authn_access_denied{Jwt_payload_is_an_invalid_JSON}"
    );
    let (_, json) = decode_json(&outer, &[]);
    let status = "Jwt payload is an invalid JSON";
    assert!(
        problem_message(&json, "nested_jwt").contains(status),
        "{json}"
    );
    assert!(
        problem_message(&json, "mesh_rejects_format").contains(status),
        "{json}"
    );
}
