//! PEM public keys get the checks Envoy's `jwt_authn` applies to a JWK when they are loaded, with
//! `decode --key` and with an edge profile's `[keys] pem` or `pem_file`. A point off its curve, a
//! short or even RSA modulus, and an RSA exponent other than 3 or 65537 are rejected with a
//! message that names the file, the PEM block and the curve. Keys are minted here.

mod edge6_common;
mod support;

use std::process::Command;

use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use edge6_common::{hex, off_curve, p256_spki, p384_spki, pem, rsa_pair, write_file};
use idflow::token::jwks::parse_jwks;
use idflow::token::keys::KeySet;

const EXPORT: &str =
    "export the public key again from the private key (`openssl pkey -in KEY -pubout`)";

/// Encodes one DER element.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let length = content.len();
    if length < 0x80 {
        out.push(u8::try_from(length).expect("short length"));
    } else {
        let bytes: Vec<u8> = length
            .to_be_bytes()
            .into_iter()
            .skip_while(|&byte| byte == 0)
            .collect();
        out.push(0x80 | u8::try_from(bytes.len()).expect("few length bytes"));
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// Returns a PKCS #1 `RSAPublicKey` with modulus `n` and exponent `e`, as an `RSA PUBLIC KEY` PEM.
fn rsa_pem(n: &[u8], e: &[u8]) -> String {
    let integer = |bytes: &[u8]| {
        // A leading zero keeps the INTEGER positive.
        let mut content = vec![0];
        content.extend_from_slice(bytes);
        der(0x02, &content)
    };
    let body = [integer(n), integer(e)].concat();
    pem("RSA PUBLIC KEY", &der(0x30, &body))
}

fn off_curve_pem() -> String {
    pem("PUBLIC KEY", &off_curve(p256_spki()))
}

/// Runs `idflow decode` on a token-shaped value with `args`, and returns the exit status and
/// standard error.
fn decode(args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_idflow"))
        .args(["decode", "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"])
        .args(args)
        .output()
        .expect("idflow decode runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).trim().to_owned(),
    )
}

fn pem_error(text: &str) -> String {
    KeySet::from_pem("k.pem", text)
        .expect_err("the PEM key is rejected")
        .to_string()
}

#[test]
fn off_curve_point_rejected() {
    assert_eq!(
        pem_error(&off_curve_pem()),
        format!(
            "k.pem: PEM block 1: the EC point is not on the curve P-256, so Envoy's jwt_authn \
             drops the key; {EXPORT}"
        )
    );
}

#[test]
fn off_curve_names_block_and_curve() {
    // A P-384 key first, then a P-384 point whose `y` is changed.
    let text = format!(
        "{}{}",
        pem("PUBLIC KEY", &p384_spki()),
        pem("PUBLIC KEY", &off_curve(p384_spki()))
    );
    assert_eq!(
        pem_error(&text),
        format!(
            "k.pem: PEM block 2: the EC point is not on the curve P-384, so Envoy's jwt_authn \
             drops the key; {EXPORT}"
        )
    );
}

#[test]
fn on_curve_point_loads() {
    let text = pem("PUBLIC KEY", &p256_spki());
    let set = KeySet::from_pem("k.pem", &text).expect("a valid key loads");
    assert_eq!(set.jwks.keys[0].crv, "P-256");
}

#[test]
fn short_rsa_modulus_rejected() {
    // 256 bits, odd.
    let mut modulus = vec![0xC5; 32];
    modulus[31] = 0x01;
    assert_eq!(
        pem_error(&rsa_pem(&modulus, &[1, 0, 1])),
        "k.pem: PEM block 1: the RSA modulus is 256 bits, under the 512 bits Envoy's jwt_authn \
         requires; use a key of 2048 bits or more"
    );
}

#[test]
fn even_rsa_modulus_rejected() {
    // Rebuild the key from a real 2048-bit modulus with its last bit cleared.
    let mut modulus = rsa_modulus(rsa_pair().public_key().as_ref());
    let last = modulus.len() - 1;
    modulus[last] &= 0xFE;
    assert_eq!(
        pem_error(&rsa_pem(&modulus, &[1, 0, 1])),
        format!(
            "k.pem: PEM block 1: the RSA modulus is even, so the key is not a valid RSA key and \
             Envoy's jwt_authn drops it; {EXPORT}"
        )
    );
}

#[test]
fn rsa_exponent_rejected() {
    let modulus = rsa_modulus(rsa_pair().public_key().as_ref());
    assert_eq!(
        pem_error(&rsa_pem(&modulus, &[17])),
        "k.pem: PEM block 1: the RSA public exponent is neither 3 nor 65537, the only exponents \
         Envoy's jwt_authn accepts; use a key with exponent 65537"
    );
}

#[test]
fn ed25519_wrong_length_rejected() {
    // An Ed25519 `SubjectPublicKeyInfo` whose key is 31 bytes.
    let spki = [hex("3029300506032b6570032000"), vec![7; 31]].concat();
    assert_eq!(
        pem_error(&pem("PUBLIC KEY", &spki)),
        "k.pem: PEM block 1: the Ed25519 key is 31 bytes instead of 32"
    );
}

/// Returns the modulus of a PKCS #1 `RSAPublicKey` without its leading zero byte.
fn rsa_modulus(der: &[u8]) -> Vec<u8> {
    // SEQUENCE (30 82 LL LL), INTEGER (02 82 LL LL) with a leading zero byte.
    assert_eq!(&der[..2], [0x30, 0x82], "a long SEQUENCE");
    assert_eq!(&der[4..6], [0x02, 0x82], "a long INTEGER");
    let length = usize::from(der[6]) << 8 | usize::from(der[7]);
    let modulus = &der[8..8 + length];
    modulus.strip_prefix(&[0]).unwrap_or(modulus).to_vec()
}

#[test]
fn jwks_off_curve_status_kept() {
    // The JWKS path shares the check and keeps Envoy's status text.
    let spki = off_curve(p256_spki());
    let point = &spki[spki.len() - 65..];
    let jwks = serde_json::json!({"keys": [{
        "kty": "EC", "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
    }]})
    .to_string();
    let error = parse_jwks(&jwks).expect_err("the only key is dropped");
    assert_eq!(
        error.status,
        "Jwks EC [x] and [y] fields have a parse error."
    );
}

#[test]
fn jwks_short_rsa_status_kept() {
    let mut modulus = vec![0xC5; 32];
    modulus[31] = 0x01;
    let jwks = serde_json::json!({"keys": [{
        "kty": "RSA", "n": URL_SAFE_NO_PAD.encode(&modulus), "e": "AQAB",
    }]})
    .to_string();
    let error = parse_jwks(&jwks).expect_err("the only key is dropped");
    assert_eq!(
        error.status,
        "Jwks RSA [n] or [e] field is missing or has a parse error"
    );
}

#[test]
fn decode_key_off_curve_usage_error() {
    let path = write_file("off-curve.pem", &off_curve_pem());
    let label = path.display().to_string();
    let (code, stderr) = decode(&["--key", &label]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "idflow decode: {label}: PEM block 1: the EC point is not on the curve P-256, so \
             Envoy's jwt_authn drops the key; {EXPORT}"
        )
    );
}

#[test]
fn profile_pem_file_off_curve() {
    let key = write_file("off-curve.pem", &off_curve_pem());
    let profile = write_file(
        "edge.toml",
        &format!("[keys]\npem_file = {:?}\n", key.display().to_string()),
    );
    let (code, stderr) = decode(&["--edge-profile", &profile.display().to_string()]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "idflow decode: {}: PEM block 1: the EC point is not on the curve P-256, so Envoy's \
             jwt_authn drops the key; {EXPORT}",
            key.display()
        )
    );
}

#[test]
fn profile_inline_pem_off_curve() {
    let profile = write_file(
        "edge.toml",
        &format!("[keys]\npem = \"\"\"\n{}\"\"\"\n", off_curve_pem()),
    );
    let label = profile.display().to_string();
    let (code, stderr) = decode(&["--edge-profile", &label]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "idflow decode: the PEM key of {label}: PEM block 1: the EC point is not on the curve \
             P-256, so Envoy's jwt_authn drops the key; {EXPORT}"
        )
    );
}
