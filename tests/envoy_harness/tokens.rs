//! Signing keys per issuer, their JWKS, and tokens minted from a case's token spec.

use std::collections::BTreeMap;

use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256};
use serde_json::{Map, Value};

use super::corpus::{IssuerSpec, TokenSpec};

/// One issuer's signing key and its public JWKS.
pub struct SigningKey {
    pub alg: Algorithm,
    pub kid: String,
    pub key: EncodingKey,
    pub jwks: String,
}

fn algorithm(name: &str) -> Algorithm {
    match name {
        "RS256" => Algorithm::RS256,
        "ES256" => Algorithm::ES256,
        other => panic!("token alg {other:?} is not supported by the harness: use RS256 or ES256"),
    }
}

/// Generates a key for `spec` (RSA 2048 for RS256, P-256 for ES256).
pub fn signing_key(spec: &IssuerSpec) -> SigningKey {
    let alg = algorithm(&spec.alg);
    let pair = match alg {
        Algorithm::RS256 => KeyPair::generate_for(&PKCS_RSA_SHA256),
        _ => KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256),
    }
    .expect("key generation");
    let pem = pair.serialize_pem();
    let key = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(pem.as_bytes()),
        _ => EncodingKey::from_ec_pem(pem.as_bytes()),
    }
    .expect("a freshly generated key loads");
    let mut jwk = Jwk::from_encoding_key(&key, alg).expect("public part of the key");
    jwk.common.key_id = Some(spec.kid.clone());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    jwk.common.key_algorithm = Some(match alg {
        Algorithm::RS256 => KeyAlgorithm::RS256,
        _ => KeyAlgorithm::ES256,
    });
    let jwks = serde_json::to_string(&JwkSet { keys: vec![jwk] }).expect("JWKS serializes");
    SigningKey {
        alg,
        kid: spec.kid.clone(),
        key,
        jwks,
    }
}

/// The claims of `spec`: `iss` of its issuer, `sub` `user-1`, `iat` now and `exp` in an hour
/// unless the spec overrides them; a claim set to null is left out. `iat`, `nbf` and `exp` are
/// offsets in seconds from the case clock, turned into absolute times from `now`.
pub fn claims(spec: &TokenSpec, issuer: &IssuerSpec, now: i64) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("iss".into(), Value::String(issuer.iss.clone()));
    claims.insert("sub".into(), Value::String("user-1".into()));
    claims.insert("iat".into(), Value::from(0));
    claims.insert("exp".into(), Value::from(3600));
    for (name, value) in &spec.claims {
        claims.insert(name.clone(), value.clone());
    }
    claims.retain(|_, value| !value.is_null());
    for name in ["iat", "nbf", "exp"] {
        if let Some(offset) = claims.get(name).and_then(Value::as_i64) {
            claims.insert(name.into(), Value::from(now + offset));
        }
    }
    claims
}

/// Mints the token of `spec`, signed with the key of `spec.sign_with` (default: its issuer) and
/// carrying its issuer's `kid` unless the spec names another.
pub fn mint(
    spec: &TokenSpec,
    issuers: &BTreeMap<String, IssuerSpec>,
    keys: &BTreeMap<String, SigningKey>,
    now: i64,
) -> String {
    if let Some(raw) = &spec.raw {
        return raw.clone();
    }
    let issuer = issuers.get(&spec.issuer).unwrap_or_else(|| {
        panic!(
            "token names issuer {:?}, which the case does not define",
            spec.issuer
        )
    });
    let signer_name = spec.sign_with.as_ref().unwrap_or(&spec.issuer);
    let signer = keys
        .get(signer_name)
        .unwrap_or_else(|| panic!("no signing key for issuer {signer_name:?}"));
    let mut header = Header::new(signer.alg);
    header.kid = match &spec.kid {
        Some(kid) if kid.is_empty() => None,
        Some(kid) => Some(kid.clone()),
        None => Some(keys[&spec.issuer].kid.clone()),
    };
    let token = jsonwebtoken::encode(&header, &claims(spec, issuer, now), &signer.key)
        .unwrap_or_else(|error| panic!("cannot sign a token for {:?}: {error}", spec.issuer));
    match &spec.shape {
        Some(shape) => reshape(shape, &token),
        None => token,
    }
}

/// Returns `shape` with `{header}`, `{payload}` and `{signature}` replaced by the segments of
/// `token`.
fn reshape(shape: &str, token: &str) -> String {
    let mut segments = token.split('.');
    let mut text = shape.to_owned();
    for name in ["{header}", "{payload}", "{signature}"] {
        text = text.replace(name, segments.next().unwrap_or_default());
    }
    text
}
