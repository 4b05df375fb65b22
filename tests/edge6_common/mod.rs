//! Shared by the `edge6_*` test crates: PEM text, DER of public keys minted per test, and
//! temporary files.

// Each test crate that includes this module uses a different part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

pub use crate::support::{hex, pem};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair as _, RsaKeyPair,
};

/// `SubjectPublicKeyInfo` of a P-256 key up to the BIT STRING contents, the uncompressed point.
const P256_SPKI_PREFIX: &str = "3059301306072a8648ce3d020106082a8648ce3d030107034200";
/// The same for a P-384 key.
const P384_SPKI_PREFIX: &str = "3076301006072a8648ce3d020106052b81040022036200";
/// The same for an Ed25519 key of 32 bytes.
const ED25519_SPKI_PREFIX: &str = "302a300506032b6570032100";

pub fn rsa_pair() -> RsaKeyPair {
    RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("RSA key")
}

/// Returns the public key of `pair` as an `RSA PUBLIC KEY` (PKCS #1) PEM.
pub fn rsa_pem(pair: &RsaKeyPair) -> String {
    pem("RSA PUBLIC KEY", pair.public_key().as_ref())
}

/// Returns the `SubjectPublicKeyInfo` DER of a fresh P-256 key.
pub fn p256_spki() -> Vec<u8> {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256 key");
    [hex(P256_SPKI_PREFIX), pair.public_key().as_ref().to_vec()].concat()
}

/// Returns the `SubjectPublicKeyInfo` DER of a fresh P-384 key.
pub fn p384_spki() -> Vec<u8> {
    let pair = EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING).expect("P-384 key");
    [hex(P384_SPKI_PREFIX), pair.public_key().as_ref().to_vec()].concat()
}

/// Returns the `SubjectPublicKeyInfo` DER of a fresh Ed25519 key.
pub fn ed25519_spki() -> Vec<u8> {
    let pair = Ed25519KeyPair::generate().expect("Ed25519 key");
    [
        hex(ED25519_SPKI_PREFIX),
        pair.public_key().as_ref().to_vec(),
    ]
    .concat()
}

/// Returns `spki` with the last byte of the point's `y` changed, so that the point is no longer
/// on its curve.
pub fn off_curve(mut spki: Vec<u8>) -> Vec<u8> {
    let last = spki.len() - 1;
    spki[last] ^= 1;
    spki
}

/// Writes `text` to a new file in this process's temporary folder and returns its path.
pub fn write_file(name: &str, text: &str) -> PathBuf {
    // Tests run in parallel, so each call gets its own file even when two tests use one name.
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let folder =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("edge6-{}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("temporary folder");
    let path = folder.join(format!("{}-{name}", NEXT.fetch_add(1, Ordering::Relaxed)));
    std::fs::write(&path, text).expect("file written");
    path
}
