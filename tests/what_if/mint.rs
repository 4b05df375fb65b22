//! Keys and tokens minted by the what-if tests: an RSA key made for each test run, RS256 tokens
//! signed with it, and its public half as a JWKS. No private key or token is written to disk.

// Each test crate that includes this module uses a different part of it.
#![allow(dead_code)]

use std::sync::OnceLock;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// The issuer of the minted tokens; never contacted.
pub const ISSUER: &str = "https://idp.shop.test";
/// The `kid` of the key in [`jwks`].
pub const KID: &str = "what-if-1";

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Returns the key published in [`jwks`].
pub fn key() -> &'static KeyPair {
    static KEY: OnceLock<KeyPair> = OnceLock::new();
    KEY.get_or_init(|| KeyPair::generate(KeySize::Rsa2048).expect("RSA key generation"))
}

/// Returns a second key with the same `kid`, whose signatures the JWKS does not verify.
pub fn other_key() -> &'static KeyPair {
    static KEY: OnceLock<KeyPair> = OnceLock::new();
    KEY.get_or_init(|| KeyPair::generate(KeySize::Rsa2048).expect("RSA key generation"))
}

/// Returns the JWKS with the public half of [`key`], as one line of JSON.
pub fn jwks() -> String {
    let public = RsaPublicKeyComponents::<Vec<u8>>::from(key().public_key());
    json!({"keys": [{"kty": "RSA", "kid": KID, "alg": "RS256", "n": b64(&public.n), "e": b64(&public.e)}]})
        .to_string()
}

/// Returns an RS256 token with `claims`, signed by `signer`.
pub fn mint(signer: &KeyPair, claims: &Value) -> String {
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": KID});
    sign(
        signer,
        &b64(header.to_string().as_bytes()),
        &b64(claims.to_string().as_bytes()),
    )
}

/// Signs `header.payload` with RS256 by `signer` and returns the token. Both segments are used as
/// given, so callers can pass segments that are not canonical base64url.
pub fn sign(signer: &KeyPair, header: &str, payload: &str) -> String {
    let input = format!("{header}.{payload}");
    let mut signature = vec![0; signer.public_modulus_len()];
    signer
        .sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            input.as_bytes(),
            &mut signature,
        )
        .expect("RSA signing");
    format!("{input}.{}", b64(&signature))
}

/// Returns claims of `issuer` for `audience` that expire `lifetime` seconds after `now`.
pub fn claims(issuer: &str, audience: &str, now: i64, lifetime: i64) -> Value {
    json!({
        "iss": issuer,
        "sub": "alice",
        "aud": audience,
        "iat": now - 60,
        "exp": now + lifetime,
    })
}

/// Returns the jwt_authn and RBAC filters istiod generates for a `RequestAuthentication` of
/// `issuer` with the inline [`jwks`] (`shop/jwt`) and an `AuthorizationPolicy` that requires a
/// request principal of that issuer (`shop/require-jwt`).
pub fn istiod_filters(issuer: &str) -> Vec<Value> {
    vec![
        json!({"name": "envoy.filters.http.jwt_authn", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": {"origins-0": {
                "issuer": issuer,
                "local_jwks": {"inline_string": jwks()},
                "payload_in_metadata": "payload",
            }},
            "rules": [{"match": {"prefix": "/"}, "requires": {"requires_any": {"requirements": [
                {"provider_name": "origins-0"},
                {"allow_missing": {}},
            ]}}}],
            "bypass_cors_preflight": true,
        }}),
        json!({"name": "envoy.filters.http.rbac", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
            "rules": {"policies": {"ns[shop]-policy[require-jwt]-rule[0]": {
                "permissions": [{"and_rules": {"rules": [{"any": true}]}}],
                "principals": [{"and_ids": {"ids": [{"metadata": {
                    "filter": "envoy.filters.http.jwt_authn",
                    "path": [{"key": "payload"}, {"key": "iss"}],
                    "value": {"string_match": {"exact": issuer}},
                }}]}}],
            }}},
        }}),
    ]
}
