//! Tokens with more dots than a JWS has, around empty segments (`<jwt>.`, `h..p.s`).
//! Envoy's `jwt_verify_lib` splits the token with Abseil's `SkipEmpty`, so three non-empty
//! segments pass its format check and the signature is checked over `header.payload`. The
//! requests `trailing-dot` to `no-signature-two-dots` of tests/corpus/jwt-basics.yaml send these
//! shapes to a real Envoy, where `idflow check` must agree. Here `idflow decode` must agree too.

#[path = "what_if/mint.rs"]
mod mint;
mod support;

use support::{decode_json, problem_codes};

/// Writes the JWKS of the test key to a file and returns its path.
fn jwks_file() -> std::path::PathBuf {
    let path =
        std::env::temp_dir().join(format!("idflow-empty-segments-{}.json", std::process::id()));
    std::fs::write(&path, mint::jwks()).expect("JWKS written");
    path
}

/// Returns the three segments of a valid token signed by `signer`.
fn token_by(signer: &aws_lc_rs::rsa::KeyPair) -> [String; 3] {
    let now = chrono::Utc::now().timestamp();
    let token = mint::mint(signer, &mint::claims(mint::ISSUER, "api", now, 3600));
    let segments: Vec<String> = token.split('.').map(str::to_owned).collect();
    segments.try_into().expect("three segments")
}

/// Returns the three segments of a valid token signed by the key of the JWKS.
fn token() -> [String; 3] {
    token_by(mint::key())
}

#[test]
fn empty_segments_decode_as_envoy_reads() {
    let [header, payload, signature] = token();
    let jwks = jwks_file();
    let jwks = jwks.to_str().expect("UTF-8 path");
    for shape in [
        format!("{header}.{payload}.{signature}."),
        format!("{header}.{payload}.{signature}.."),
        format!("{header}..{payload}.{signature}"),
        format!("{header}.{payload}..{signature}"),
    ] {
        let dots = shape.matches('.').count();
        let (code, json) = decode_json(&format!("Bearer {shape}"), &["--jwks", jwks]);
        assert_eq!(json["kind"], "jws", "{dots} dots: {json}");
        assert_eq!(
            json["signature"]["status"], "verified",
            "{dots} dots: {json}"
        );
        assert_eq!(
            json["signature"]["envoy_status"],
            serde_json::Value::Null,
            "{dots} dots"
        );
        assert_eq!(code, 0, "{dots} dots: {json}");
        assert_eq!(problem_codes(&json), ["empty_segments"], "{dots} dots");
        assert_eq!(json["claims"]["iss"], mint::ISSUER, "{dots} dots");

        let message = json["problems"][0]["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with(&format!("the token has {dots} dots where a JWS has 2")),
            "{message}"
        );
        assert!(
            message.contains("Envoy's jwt_authn skips empty segments"),
            "{message}"
        );
        assert!(message.contains("Remove the extra dots"), "{message}");
    }
}

#[test]
fn empty_segment_signature_checked() {
    let [header, payload, _] = token();
    let [_, _, other_signature] = {
        let now = chrono::Utc::now().timestamp();
        let other = mint::mint(
            mint::other_key(),
            &mint::claims(mint::ISSUER, "api", now, 3600),
        );
        let segments: Vec<String> = other.split('.').map(str::to_owned).collect();
        <[String; 3]>::try_from(segments).expect("three segments")
    };
    let jwks = jwks_file();
    let forged = format!("Bearer {header}..{payload}.{other_signature}");
    let (code, json) = decode_json(&forged, &["--jwks", jwks.to_str().expect("UTF-8 path")]);
    assert_eq!(json["signature"]["status"], "invalid", "{json}");
    assert_eq!(
        json["signature"]["envoy_status"], "Jwt verification fails",
        "{json}"
    );
    assert_eq!(code, 1);
}

#[test]
fn missing_signature_extra_dots_rejected() {
    let [header, payload, _] = token();
    // `h.p..`: two non-empty segments, which Envoy rejects (corpus request
    // `no-signature-two-dots`).
    let (code, json) = decode_json(&format!("Bearer {header}.{payload}.."), &[]);
    assert_eq!(json["kind"], "opaque", "{json}");
    assert_eq!(code, 1, "{json}");
    let codes = problem_codes(&json);
    assert!(
        codes.contains(&"wrong_segment_count".to_owned()),
        "{codes:?}"
    );
}

#[test]
fn encrypted_token_without_key_stays_jwe() {
    // A JWE with an empty encrypted key and an empty IV has three non-empty segments too, but its
    // header names `enc`.
    let header = "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0";
    let (_, json) = decode_json(&format!("{header}...Y2lwaGVy.dGFn"), &[]);
    assert_eq!(json["kind"], "jwe", "{json}");
}
