//! The edge profile's PEM keys as the EdgeWorker imports them: `keys.pem_algorithm` must fit the
//! key's type and curve, it applies to a key given with `decode --key` too, and the messages spell
//! algorithms as JOSE does. Keys and tokens are minted here.

mod edge6_common;
mod support;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA512, RSA_PSS_SHA256, RsaEncoding, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use edge6_common::{ed25519_spki, p256_spki, p384_spki, pem, rsa_pair, rsa_pem, write_file};
use idflow::edge::profile::{EdgeProfile, ProfileVerdict};
use idflow::token::keys::KeySet;
use serde_json::{Value, json};
use support::decode_json;

const RSA_ALGS: &str = "RS256, RS384, RS512, PS256, PS384, PS512";

/// 2025-03-04T11:02:10Z, the clock of the library tests.
const NOW: i64 = 1_741_086_130;

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(NOW, 0).expect("valid time")
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn p256_pem() -> String {
    pem("PUBLIC KEY", &p256_spki())
}

fn p384_pem() -> String {
    pem("PUBLIC KEY", &p384_spki())
}

fn ed25519_pem() -> String {
    pem("PUBLIC KEY", &ed25519_spki())
}

/// Returns a token with `alg` signed by `pair` with `padding`, valid for an hour from [`NOW`].
fn rsa_token(pair: &RsaKeyPair, alg: &str, padding: &'static dyn RsaEncoding) -> String {
    let header = b64(json!({"alg": alg, "typ": "JWT"}).to_string().as_bytes());
    let claims = json!({"sub": "alice", "exp": NOW + 3600});
    let input = format!("{header}.{}", b64(claims.to_string().as_bytes()));
    let mut signature = vec![0; pair.public_modulus_len()];
    pair.sign(
        padding,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .expect("RSA signature");
    format!("{input}.{}", b64(&signature))
}

/// Writes `key` and a profile reading it with `pem_file` and `extra` lines under `[keys]`, loads
/// the profile and its keys, and returns the key file's path and the error.
fn load_error(key: &str, extra: &str) -> (String, String) {
    let key_path = write_file("key.pem", key);
    let label = key_path.display().to_string();
    let profile = write_file(
        "edge.toml",
        &format!("[keys]\npem_file = {label:?}\n{extra}"),
    );
    let loaded = EdgeProfile::load(&profile).unwrap_or_else(|error| panic!("{error}"));
    let error = loaded
        .local_keys()
        .expect_err("the key does not fit the algorithm");
    let prefix = format!("{}: ", profile.display());
    let error = error
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("the error names the profile first: {error}"))
        .to_owned();
    (label, error)
}

fn loads(key: &str, extra: &str) -> bool {
    let key_path = write_file("key.pem", key);
    let profile = write_file(
        "edge.toml",
        &format!(
            "[keys]\npem_file = {:?}\n{extra}",
            key_path.display().to_string()
        ),
    );
    EdgeProfile::load(&profile)
        .and_then(|loaded| loaded.local_keys())
        .is_ok()
}

// ---------------------------------------------------------------------------------------------
// `keys.pem_algorithm` against the key's type and curve.

#[test]
fn rsa_key_for_es256_rejected() {
    let (key, error) = load_error(&rsa_pem(&rsa_pair()), "pem_algorithm = \"ES256\"\n");
    assert_eq!(
        error,
        format!(
            "`keys.pem_algorithm` is ES256, but {key} contains an RSA public key, which \
             WebCrypto's `importKey` cannot import for ECDSA; set `keys.pem_algorithm` to one of \
             {RSA_ALGS}"
        )
    );
}

#[test]
fn ec_key_for_rs256_rejected() {
    let (key, error) = load_error(&p256_pem(), "pem_algorithm = \"RS256\"\n");
    assert_eq!(
        error,
        format!(
            "`keys.pem_algorithm` is RS256, but {key} contains an EC P-256 public key, which \
             WebCrypto's `importKey` cannot import for RSASSA-PKCS1-v1_5; set \
             `keys.pem_algorithm` to ES256"
        )
    );
}

#[test]
fn ec_key_for_ps384_rejected() {
    let (key, error) = load_error(&p384_pem(), "pem_algorithm = \"PS384\"\n");
    assert_eq!(
        error,
        format!(
            "`keys.pem_algorithm` is PS384, but {key} contains an EC P-384 public key, which \
             WebCrypto's `importKey` cannot import for RSA-PSS; set `keys.pem_algorithm` to ES384"
        )
    );
}

#[test]
fn p256_key_for_es384_rejected() {
    let (key, error) = load_error(&p256_pem(), "pem_algorithm = \"ES384\"\n");
    assert_eq!(
        error,
        format!(
            "`keys.pem_algorithm` is ES384, but {key} contains an EC P-256 public key, which \
             `importKey` with namedCurve P-384 rejects; set `keys.pem_algorithm` to ES256"
        )
    );
}

#[test]
fn p384_key_unset_rejected() {
    let (key, error) = load_error(&p384_pem(), "");
    assert_eq!(
        error,
        format!(
            "`keys.pem_algorithm` is unset, so the EdgeWorker imports the key for ES256 as \
             Akamai's examples do, but {key} contains an EC P-384 public key, which `importKey` \
             with namedCurve P-256 rejects; set `keys.pem_algorithm` to ES384"
        )
    );
}

#[test]
fn ed25519_key_rejected() {
    let (key, error) = load_error(&ed25519_pem(), "");
    assert_eq!(
        error,
        format!(
            "{key} contains an Ed25519 public key, and no algorithm of Akamai's JWT module fits \
             it, because the module implements no EdDSA; give an RSA or EC public key"
        )
    );
}

#[test]
fn second_block_named() {
    let text = format!("{}{}", rsa_pem(&rsa_pair()), p256_pem());
    let (key, error) = load_error(&text, "pem_algorithm = \"PS256\"\n");
    assert_eq!(
        error,
        format!(
            "`keys.pem_algorithm` is PS256, but PEM block 2 of {key} contains an EC P-256 public \
             key, which WebCrypto's `importKey` cannot import for RSA-PSS; set \
             `keys.pem_algorithm` to ES256"
        )
    );
}

#[test]
fn fitting_keys_load() {
    assert!(loads(&rsa_pem(&rsa_pair()), "pem_algorithm = \"PS512\"\n"));
    assert!(loads(&rsa_pem(&rsa_pair()), ""));
    assert!(loads(&p256_pem(), ""));
    assert!(loads(&p384_pem(), "pem_algorithm = \"ES384\"\n"));
}

#[test]
fn decode_profile_mismatch_usage_error() {
    let key = write_file("key.pem", &rsa_pem(&rsa_pair()));
    let label = key.display().to_string();
    let profile = write_file(
        "edge.toml",
        &format!("[keys]\npem_file = {label:?}\npem_algorithm = \"ES512\"\n"),
    );
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_idflow"))
        .args(["decode", "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"])
        .args(["--edge-profile", &profile.display().to_string()])
        .output()
        .expect("idflow decode runs");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim(),
        format!(
            "idflow decode: {}: `keys.pem_algorithm` is ES512, but {label} contains an RSA public \
             key, which WebCrypto's `importKey` cannot import for ECDSA; set \
             `keys.pem_algorithm` to one of {RSA_ALGS}",
            profile.display()
        )
    );
}

#[test]
fn jwks_with_pem_algorithm_rejected() {
    let error = EdgeProfile::from_toml(
        "[keys]\njwks = \"keys.json\"\npem_algorithm = \"RS384\"\n",
        "edge.toml",
    )
    .expect_err("a JWKS is not imported from PEM");
    assert_eq!(
        error,
        "edge.toml:3: `keys.pem_algorithm` applies to PEM keys only (`keys.pem`, \
         `keys.pem_file` or `--key`), but this profile reads a JWKS; remove it"
    );
}

// ---------------------------------------------------------------------------------------------
// A PEM key given with `--key`, in a profile without a key source.

/// Runs `decode --key KEY --edge-profile PROFILE` on an RS512 token, with a fresh RSA key and a
/// profile of `profile_text`. Returns the key file, the profile file and the `edge` object.
fn decode_rs512_with_key(profile_text: &str) -> (String, String, Value) {
    let pair = rsa_pair();
    let key = write_file("key.pem", &rsa_pem(&pair)).display().to_string();
    let profile = write_file("edge.toml", profile_text).display().to_string();
    let token = rsa_token(&pair, "RS512", &RSA_PKCS1_SHA512);
    let (_, json) = decode_json(
        &format!("Authorization: Bearer {token}"),
        &["--key", &key, "--edge-profile", &profile],
    );
    (key, profile, json["edge"].clone())
}

#[test]
fn key_flag_gets_pem_advice() {
    let (_, profile, edge) = decode_rs512_with_key("name = \"cli-key\"\n");
    assert_eq!(edge["verdict"], "deny", "{edge}");
    assert_eq!(
        edge["reason"],
        format!(
            "the EdgeWorker imported the PEM key for RS256, so WebCrypto hashes with SHA-256 and \
             the RS512 signature does not verify; set `keys.pem_algorithm` to RS512 in {profile} \
             if the EdgeWorker imports the key for RS512; the EdgeWorker responds with 400"
        )
    );
}

#[test]
fn key_flag_follows_pem_algorithm() {
    let (_, _, edge) = decode_rs512_with_key("[keys]\npem_algorithm = \"RS512\"\n");
    assert_eq!(edge["verdict"], "allow", "{edge}");
    assert_eq!(edge["signature_checked"], true);
}

#[test]
fn key_flag_import_failure() {
    let (key, _, edge) = decode_rs512_with_key("[keys]\npem_algorithm = \"ES256\"\n");
    assert_eq!(edge["status"], 500, "{edge}");
    assert_eq!(
        edge["reason"],
        format!(
            "the EdgeWorker fails: `keys.pem_algorithm` is ES256, but {key} contains an RSA public \
             key, which WebCrypto's `importKey` cannot import for ECDSA; set \
             `keys.pem_algorithm` to one of {RSA_ALGS}; without continue on error Akamai responds \
             with 500"
        )
    );
}

// ---------------------------------------------------------------------------------------------
// Wording.

#[test]
fn ps256_against_rs256_import() {
    let pair = rsa_pair();
    let profile = EdgeProfile::from_toml(
        "[keys]\npem = \"\"\"\n-----BEGIN PUBLIC KEY-----\nthe test passes the key\n\
         -----END PUBLIC KEY-----\n\"\"\"\n",
        "edge.toml",
    )
    .unwrap_or_else(|error| panic!("{error}"));
    let keys = KeySet::from_pem("key.pem", &rsa_pem(&pair)).expect("PEM loads");
    let token = rsa_token(&pair, "PS256", &RSA_PSS_SHA256);
    let inspection =
        idflow::token::inspect(&token, now()).unwrap_or_else(|error| panic!("{error}"));
    let decision = profile.evaluate(&inspection, Some(&keys), now());
    assert_eq!(decision.verdict, ProfileVerdict::Deny);
    assert_eq!(
        decision.reason,
        "the EdgeWorker imported the PEM key for RS256 (RSASSA-PKCS1-v1_5), so \
         `crypto.subtle.verify` rejects it for the PS256 token (RSA-PSS) and throws; set \
         `keys.pem_algorithm` to PS256 in edge.toml if the EdgeWorker imports the key for PS256; \
         the EdgeWorker responds with 400"
    );
}

#[test]
fn ec_key_no_advice_for_ps256() {
    // An EC key cannot be imported for PS256, so the advice to set `keys.pem_algorithm` to PS256
    // would be rejected in turn.
    let rsa = rsa_pair();
    let profile = EdgeProfile::from_toml("", "edge.toml").unwrap_or_else(|error| panic!("{error}"));
    let keys = KeySet::from_pem("ec.pem", &p256_pem()).expect("PEM loads");
    let token = rsa_token(&rsa, "PS256", &RSA_PSS_SHA256);
    let inspection =
        idflow::token::inspect(&token, now()).unwrap_or_else(|error| panic!("{error}"));
    let decision = profile.evaluate(&inspection, Some(&keys), now());
    assert_eq!(
        decision.reason,
        "the EdgeWorker imported the PEM key for ES256 (ECDSA), so `crypto.subtle.verify` rejects \
         it for the PS256 token (RSA-PSS) and throws; an EC P-256 public key cannot be imported \
         for PS256, so the token needs a key of another type; the EdgeWorker responds with 400"
    );
}

#[test]
fn eddsa_spelled_as_jose() {
    let header = b64(br#"{"alg":"EdDSA"}"#);
    let token = format!("{header}.{}.{}", b64(br#"{"sub":"a"}"#), b64(&[7; 64]));
    let profile = EdgeProfile::from_toml("", "edge.toml").unwrap_or_else(|error| panic!("{error}"));
    let inspection =
        idflow::token::inspect(&token, now()).unwrap_or_else(|error| panic!("{error}"));
    let decision = profile.evaluate(&inspection, None, now());
    assert_eq!(
        decision.reason,
        "`alg` EdDSA is not in the edge's algorithms (RS256, RS384, RS512, HS256, HS384, HS512, \
         PS256, PS384, PS512, ES256, ES384, ES512); the EdgeWorker responds with 400"
    );
}
