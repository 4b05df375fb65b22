//! Reading a JWS and checking its signature the way Envoy's `jwt_authn` does: the token is parsed
//! with `jwt_verify_lib`'s checks, then each candidate key of the JWKS is tried over the original
//! bytes of the first two segments. The cryptography is jsonwebtoken's (aws-lc-rs).

use aws_lc_rs::signature::{self, RsaParameters, RsaPublicKeyComponents};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};

use super::envoy::{ED25519_WRONG_LENGTH, Parts, VERIFICATION_FAILS, read_parts, split_jws};
use super::jwks::{
    Jwk, Jwks, KID_ALG_MISMATCH, KeyMaterial, KeyType, ParsedKeys, bit_len, candidates,
    strip_leading_zeros, uncompressed_point, websafe_decode,
};

/// A JWS that passed `jwt_verify_lib`'s parse checks.
#[derive(Debug, Clone, PartialEq)]
pub struct Jwt {
    pub header: Map<String, Value>,
    pub payload: Map<String, Value>,
    pub alg: String,
    /// Empty when absent.
    pub kid: String,
    /// Empty when absent.
    pub iss: String,
    /// Empty when absent.
    pub sub: String,
    /// `aud` as a list (a single string becomes one entry).
    pub audiences: Vec<String>,
    /// Seconds since the epoch, 0 when absent (fractions truncated, as Envoy does).
    pub exp: u64,
    pub nbf: u64,
    /// The payload segment exactly as sent, which Envoy forwards in `forward_payload_header`.
    pub payload_segment: String,
    /// `header.payload` exactly as sent: the signed bytes.
    signing_input: String,
    signature: Vec<u8>,
}

impl Jwt {
    /// Returns the parts that a signature check reads.
    pub fn signed(&self) -> Signed<'_> {
        Signed {
            alg: &self.alg,
            kid: &self.kid,
            signing_input: &self.signing_input,
            signing_sha256: None,
            signature: &self.signature,
        }
    }
}

/// The parts of a JWS that a signature check reads, borrowed from a [`Jwt`] or from an
/// [`Inspection`](super::Inspection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signed<'a> {
    pub alg: &'a str,
    /// Empty when absent.
    pub kid: &'a str,
    /// `header.payload` exactly as sent: the signed bytes.
    pub signing_input: &'a str,
    /// The SHA-256 of `signing_input`, when it was already taken.
    pub signing_sha256: Option<&'a [u8; 32]>,
    /// The decoded signature segment.
    pub signature: &'a [u8],
}

/// Returns a `NumericDate` claim as `jwt_verify_lib` reads it: the number as a double, truncated
/// to an unsigned integer (saturating above `u64::MAX`). Its parse checks reject negative values.
pub(crate) fn envoy_seconds(value: &Value) -> Option<u64> {
    let seconds = value.as_f64()?;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let whole = seconds.trunc() as u64;
    Some(whole)
}

/// Parses `token` as `jwt_verify_lib` does, or returns Envoy's status text for the first check
/// that fails (`Jwt is not in the form of …`, `Jwt header [alg] is not supported`, …).
pub fn parse_jwt(token: &str) -> Result<Jwt, &'static str> {
    // Whitespace in the token only shows at the signature check, which is done here for real.
    let Parts {
        header: header_json,
        payload: payload_json,
        signature,
        header_text,
        payload_text,
    } = read_parts(token)?;
    let text = |map: &Map<String, Value>, name: &str| {
        map.get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let seconds = |name: &str| payload_json.get(name).and_then(envoy_seconds).unwrap_or(0);
    let audiences = match payload_json.get("aud") {
        Some(Value::String(aud)) => vec![aud.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    Ok(Jwt {
        alg: text(&header_json, "alg"),
        kid: text(&header_json, "kid"),
        iss: text(&payload_json, "iss"),
        sub: text(&payload_json, "sub"),
        audiences,
        exp: seconds("exp"),
        nbf: seconds("nbf"),
        payload_segment: payload_text.to_owned(),
        signing_input: format!("{header_text}.{payload_text}"),
        signature,
        header: header_json,
        payload: payload_json,
    })
}

/// Returns the message of [`VerifyError::KidAlgMismatch`]: `kid` is empty when the token has none.
fn kid_alg_mismatch(kid: &str, alg: &str) -> String {
    let matched = if kid.is_empty() {
        format!("the token has no `kid`, and no key of the JWKS fits its `alg` {alg:?}")
    } else {
        format!("no key of the JWKS matches the token's `kid` {kid:?} and `alg` {alg:?}")
    };
    format!(
        "{matched}; publish the signing key in the JWKS, or check that the token comes from this \
         issuer"
    )
}

/// Why no key verified a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("{}", kid_alg_mismatch(kid, alg))]
    KidAlgMismatch { kid: String, alg: String },
    #[error(
        "the signature did not verify with any of the keys tried (indices {tried:?}); the token \
         was signed by another key or changed after signing"
    )]
    VerificationFails { tried: Vec<usize> },
    #[error("{}", wrong_key_type(tried, *kty, alg, kid))]
    WrongKeyType {
        tried: Vec<usize>,
        kty: KeyType,
        alg: String,
        /// The token's `kid` when every key tried has it, else empty.
        kid: String,
    },
    #[error("{}", ed25519_wrong_length(*len, *index, alg))]
    Ed25519WrongLength {
        len: usize,
        /// Index of the Ed25519 key tried.
        index: usize,
        alg: String,
    },
    #[error(
        "key at index {index} is a {kty:?} key for `alg` {alg:?}, which idflow cannot check; \
         Envoy can, so verify this token against a real proxy"
    )]
    Unsupported {
        index: usize,
        kty: KeyType,
        alg: String,
    },
}

impl VerifyError {
    /// Envoy's status text for this failure.
    pub fn envoy_status(&self) -> &'static str {
        match self {
            Self::KidAlgMismatch { .. } => KID_ALG_MISMATCH,
            Self::VerificationFails { .. }
            | Self::WrongKeyType { .. }
            | Self::Unsupported { .. } => VERIFICATION_FAILS,
            Self::Ed25519WrongLength { .. } => ED25519_WRONG_LENGTH,
        }
    }
}

/// Explains Envoy's `Jwt ED25519 signature is wrong length`: for an `EdDSA` token the signature
/// is damaged. For another `alg`, an Ed25519 key without `alg` or `kid` was tried first and
/// stopped the search.
fn ed25519_wrong_length(len: usize, index: usize, alg: &str) -> String {
    if alg == "EdDSA" {
        return format!(
            "the Ed25519 signature is {len} bytes long instead of 64, so the signature segment \
             is damaged"
        );
    }
    format!(
        "Envoy tried the Ed25519 key at index {index} for this {alg} token, because neither the \
         key's `alg` nor a `kid` sets them apart, and stopped at its {len}-byte signature \
         (Ed25519 signatures are 64 bytes) before reaching the other keys. Give the token a \
         `kid` that names its key, or the Ed25519 key `\"alg\": \"EdDSA\"`"
    )
}

/// Returns the index in the JWKS of the key that verified `jwt`, trying the candidates in order
/// as `jwt_verify_lib`'s `verifyJwtWithoutTimeChecking` does.
pub fn verify_jwt(jwt: &Signed, jwks: &Jwks) -> Result<usize, VerifyError> {
    let keys = candidates(jwks, jwt.kid, jwt.alg);
    if keys.is_empty() {
        return Err(VerifyError::KidAlgMismatch {
            kid: jwt.kid.to_owned(),
            alg: jwt.alg.to_owned(),
        });
    }
    let mut unsupported = None;
    for key in &keys {
        match check_key(jwt, key) {
            KeyCheck::Verified => return Ok(key.index),
            KeyCheck::Failed => {}
            KeyCheck::Ed25519WrongLength => {
                return Err(VerifyError::Ed25519WrongLength {
                    len: jwt.signature.len(),
                    index: key.index,
                    alg: jwt.alg.to_owned(),
                });
            }
            KeyCheck::Unsupported => {
                unsupported.get_or_insert(VerifyError::Unsupported {
                    index: key.index,
                    kty: key.kty,
                    alg: jwt.alg.to_owned(),
                });
            }
        }
    }
    let tried: Vec<usize> = keys.iter().map(|key| key.index).collect();
    // Keys of one type that cannot carry the token's `alg` point at the JWKS, not the token.
    let kty = keys[0].kty;
    if unsupported.is_none() && keys.iter().all(|key| key.kty == kty && !fits(kty, jwt.alg)) {
        return Err(VerifyError::WrongKeyType {
            tried,
            kty,
            alg: jwt.alg.to_owned(),
            kid: if !jwt.kid.is_empty() && keys.iter().all(|key| key.kid == jwt.kid) {
                jwt.kid.to_owned()
            } else {
                String::new()
            },
        });
    }
    Err(unsupported.unwrap_or(VerifyError::VerificationFails { tried }))
}

/// Explains why only keys of a type that cannot carry `alg` were tried.
fn wrong_key_type(tried: &[usize], kty: KeyType, alg: &str, kid: &str) -> String {
    let type_name = key_type_name(kty);
    if kid.is_empty() {
        return format!(
            "the only keys tried (indices {tried:?}) are {type_name} keys, which cannot verify an {alg} \
             signature. Envoy tries them because neither a `kid` on both sides nor the keys' \
             `alg` sets them apart. Publish the signing key, or give the token and its key one \
             `kid`"
        );
    }
    format!(
        "the token's `kid` {} names only {type_name} keys (indices {tried:?}), which cannot verify an \
         {alg} signature. Publish the signing key under that `kid`, or give the token the `kid` \
         of its signing key",
        super::quote_truncated(kid)
    )
}

/// Returns the name of a key type for messages.
fn key_type_name(kty: KeyType) -> &'static str {
    match kty {
        KeyType::Rsa => "RSA",
        KeyType::Ec => "EC",
        KeyType::Oct => "HMAC (oct)",
        KeyType::Okp => "Ed25519 (OKP)",
    }
}

/// Returns whether a key of type `kty` can verify a signature of `alg`.
fn fits(kty: KeyType, alg: &str) -> bool {
    match kty {
        KeyType::Rsa => alg.starts_with("RS") || alg.starts_with("PS"),
        KeyType::Ec => alg.starts_with("ES"),
        KeyType::Oct => alg.starts_with("HS"),
        KeyType::Okp => alg == "EdDSA",
    }
}

enum KeyCheck {
    Verified,
    Failed,
    Ed25519WrongLength,
    /// Envoy could check this pair, idflow cannot (RSA-PSS with a key under 2048 bits).
    Unsupported,
}

/// Tries one key. The digest follows the token's `alg`, the scheme follows the key's type, as in
/// `jwt_verify_lib`: a key of another type than the `alg` names is tried and fails.
fn check_key(jwt: &Signed, key: &Jwk) -> KeyCheck {
    let alg = jwt.alg;
    let algorithm = match (&key.material, key.crv.as_str()) {
        (KeyMaterial::Ec { x, y }, curve) => return check_ec(jwt, curve, x, y),
        (KeyMaterial::Rsa { .. }, _) => match alg {
            "RS384" => Some(Algorithm::RS384),
            "RS512" => Some(Algorithm::RS512),
            "PS256" => Some(Algorithm::PS256),
            "PS384" => Some(Algorithm::PS384),
            "PS512" => Some(Algorithm::PS512),
            _ if alg.starts_with("RS") => Some(Algorithm::RS256),
            _ => None,
        },
        (KeyMaterial::Oct(_), _) => Some(match alg {
            "HS384" => Algorithm::HS384,
            "HS512" => Algorithm::HS512,
            _ => Algorithm::HS256,
        }),
        (KeyMaterial::Okp(_), _) => {
            if jwt.signature.len() != 64 {
                return KeyCheck::Ed25519WrongLength;
            }
            Some(Algorithm::EdDSA)
        }
    };
    let Some(algorithm) = algorithm else {
        return KeyCheck::Failed;
    };
    if let KeyMaterial::Rsa { n, e } = &key.material {
        return check_rsa(jwt, algorithm, n, e, &key.parsed);
    }
    let Some(decoding_key) = decoding_key(&key.material) else {
        return KeyCheck::Failed;
    };
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(jwt.signature);
    match jsonwebtoken::crypto::verify(
        &signature,
        jwt.signing_input.as_bytes(),
        &decoding_key,
        algorithm,
    ) {
        Ok(true) => KeyCheck::Verified,
        Ok(false) | Err(_) => KeyCheck::Failed,
    }
}

/// Checks an RSA signature with the key parsed once per digest and padding. Keys of 2048 to 8192
/// bits take the parameters jsonwebtoken's aws-lc-rs back end uses for the same `alg`. Envoy 1.40
/// also verified RS256 tokens signed with 1024- to 2047-bit keys, so RS256 and RS512 take
/// aws-lc-rs's legacy parameters there.
fn check_rsa(
    jwt: &Signed,
    algorithm: Algorithm,
    n: &[u8],
    e: &[u8],
    parsed: &ParsedKeys,
) -> KeyCheck {
    let bits = modulus_bits(n);
    if bits < 2048
        && let Some(digest) = pss_digest(algorithm)
    {
        return if pss_verifies(jwt, n, e, digest) {
            KeyCheck::Verified
        } else {
            KeyCheck::Failed
        };
    }
    if bits < 1024 || (algorithm == Algorithm::RS384 && bits < 2048) {
        return match pkcs1_digest(algorithm) {
            Some((digest, prefix)) if pkcs1_verifies(jwt, n, e, digest, prefix) => {
                KeyCheck::Verified
            }
            Some(_) => KeyCheck::Failed,
            None => KeyCheck::Unsupported,
        };
    }
    let (slot, parameters): (usize, &'static RsaParameters) = match (algorithm, bits >= 2048) {
        (Algorithm::RS384, true) => (1, &signature::RSA_PKCS1_2048_8192_SHA384),
        (Algorithm::RS512, true) => (2, &signature::RSA_PKCS1_2048_8192_SHA512),
        (Algorithm::RS512, false) => (
            2,
            &signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
        ),
        (Algorithm::PS256, true) => (3, &signature::RSA_PSS_2048_8192_SHA256),
        (Algorithm::PS384, true) => (4, &signature::RSA_PSS_2048_8192_SHA384),
        (Algorithm::PS512, true) => (5, &signature::RSA_PSS_2048_8192_SHA512),

        (_, true) => (0, &signature::RSA_PKCS1_2048_8192_SHA256),
        (_, false) => (
            0,
            &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
        ),
    };
    let key = parsed.rsa[slot].get_or_init(|| {
        RsaPublicKeyComponents { n, e }
            .to_parsed_public_key(parameters)
            .ok()
    });
    let Some(key) = key else {
        return KeyCheck::Failed;
    };
    // Slots 0 and 3 verify SHA-256 signatures, whose digest may already be taken.
    let verified = match jwt.signing_sha256.filter(|_| matches!(slot, 0 | 3)) {
        Some(sha256) => {
            aws_lc_rs::digest::Digest::import_less_safe(sha256, &aws_lc_rs::digest::SHA256)
                .is_ok_and(|digest| key.verify_digest_sig(&digest, jwt.signature).is_ok())
        }
        None => key
            .verify_sig(jwt.signing_input.as_bytes(), jwt.signature)
            .is_ok(),
    };
    if verified {
        KeyCheck::Verified
    } else {
        KeyCheck::Failed
    }
}

/// Returns the digest and the DER `DigestInfo` prefix RSASSA-PKCS1-v1_5 uses for an RS `alg`
/// (RFC 8017, section 9.2), or `None` for another `alg`.
fn pkcs1_digest(
    algorithm: Algorithm,
) -> Option<(&'static aws_lc_rs::digest::Algorithm, &'static [u8])> {
    use aws_lc_rs::digest;
    const SHA256: [u8; 19] = [
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0x04, 0x20,
    ];
    const SHA384: [u8; 19] = [
        0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02,
        0x05, 0x00, 0x04, 0x30,
    ];
    const SHA512: [u8; 19] = [
        0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03,
        0x05, 0x00, 0x04, 0x40,
    ];
    match algorithm {
        Algorithm::RS256 => Some((&digest::SHA256, &SHA256)),
        Algorithm::RS384 => Some((&digest::SHA384, &SHA384)),
        Algorithm::RS512 => Some((&digest::SHA512, &SHA512)),
        _ => None,
    }
}

/// Verifies an `RSASSA-PKCS1-v1_5` signature as `RSA_verify` in `BoringSSL` does, for keys that
/// `aws-lc-rs` rejects (under 1024 bits, or under 2048 for SHA-384). The signature raised to `e`
/// modulo `n` must equal `00 01 FF… 00 DigestInfo`, with at least eight `FF`.
fn pkcs1_verifies(
    jwt: &Signed,
    n: &[u8],
    e: &[u8],
    digest: &'static aws_lc_rs::digest::Algorithm,
    prefix: &[u8],
) -> bool {
    let length = strip_leading_zeros(n).len();
    let hash = aws_lc_rs::digest::digest(digest, jwt.signing_input.as_bytes());
    let hash = hash.as_ref();
    if length < prefix.len() + hash.len() + 11 {
        return false;
    }
    let Some(message) = rsa_public_operation(jwt.signature, n, e) else {
        return false;
    };
    let mut expected = vec![0xff; length];
    expected[0] = 0;
    expected[1] = 1;
    let tail = length - prefix.len() - hash.len();
    expected[tail - 1] = 0;
    expected[tail..tail + prefix.len()].copy_from_slice(prefix);
    expected[tail + prefix.len()..].copy_from_slice(hash);
    // The leading zero byte of the encoded message is not in the number.
    expected[1..] == message[..]
}

/// Returns `signature` raised to `e` modulo `n`, big-endian without leading zeros, or `None` when
/// the signature does not have the modulus's length or is not below it, as `BoringSSL` requires.
fn rsa_public_operation(signature: &[u8], n: &[u8], e: &[u8]) -> Option<Vec<u8>> {
    use num_bigint::BigUint;
    let n = strip_leading_zeros(n);
    if signature.len() != n.len() {
        return None;
    }
    let modulus = BigUint::from_bytes_be(n);
    let signature = BigUint::from_bytes_be(signature);
    if signature >= modulus {
        return None;
    }
    Some(
        signature
            .modpow(&BigUint::from_bytes_be(e), &modulus)
            .to_bytes_be(),
    )
}

/// Returns the digest of a PS `alg`, or `None` for another `alg`.
fn pss_digest(algorithm: Algorithm) -> Option<&'static aws_lc_rs::digest::Algorithm> {
    use aws_lc_rs::digest;
    match algorithm {
        Algorithm::PS256 => Some(&digest::SHA256),
        Algorithm::PS384 => Some(&digest::SHA384),
        Algorithm::PS512 => Some(&digest::SHA512),
        _ => None,
    }
}

/// Verifies an `RSASSA-PSS` signature with MGF1 on the same digest and a salt as long as the
/// digest (RFC 8017, section 9.1.2), for keys under 2048 bits that `aws-lc-rs` rejects and Envoy
/// 1.40 verified. Envoy 1.40 rejects other salt lengths (see `tests/pss_salt.rs`).
fn pss_verifies(
    jwt: &Signed,
    n: &[u8],
    e: &[u8],
    digest: &'static aws_lc_rs::digest::Algorithm,
) -> bool {
    let n = strip_leading_zeros(n);
    let Some(message) = rsa_public_operation(jwt.signature, n, e) else {
        return false;
    };

    let hash = aws_lc_rs::digest::digest(digest, jwt.signing_input.as_bytes());
    let hash = hash.as_ref();
    let hash_len = hash.len();
    let em_bits = modulus_bits(n) - 1;
    let em_len = em_bits.div_ceil(8);
    if em_len < 2 * hash_len + 2 {
        return false;
    }
    if message.len() > em_len {
        return false;
    }
    let mut encoded = vec![0; em_len - message.len()];
    encoded.extend_from_slice(&message);
    if encoded[em_len - 1] != 0xbc {
        return false;
    }
    let (masked, rest) = encoded.split_at(em_len - hash_len - 1);
    let digest_in_message = &rest[..hash_len];
    let unused_bits = 8 * em_len - em_bits;
    let top_mask = 0xffu8 >> unused_bits;
    if masked[0] & !top_mask != 0 {
        return false;
    }

    // MGF1: the digest of the seed and a 4-byte counter, repeated until the mask is long enough.
    let mut mask = Vec::with_capacity(masked.len() + hash_len);
    let mut counter: u32 = 0;
    while mask.len() < masked.len() {
        let mut context = aws_lc_rs::digest::Context::new(digest);
        context.update(digest_in_message);
        context.update(&counter.to_be_bytes());
        mask.extend_from_slice(context.finish().as_ref());
        counter += 1;
    }
    let mut block: Vec<u8> = masked.iter().zip(&mask).map(|(a, b)| a ^ b).collect();
    block[0] &= top_mask;

    // The block is zeros, a 1, then the salt, as long as the digest.
    let separator = block.len() - hash_len - 1;
    if block[..separator].iter().any(|byte| *byte != 0) || block[separator] != 1 {
        return false;
    }

    let salt = &block[separator + 1..];
    let mut context = aws_lc_rs::digest::Context::new(digest);
    context.update(&[0; 8]);
    context.update(hash);
    context.update(salt);
    context.finish().as_ref() == digest_in_message
}

/// Returns the size in bits of a big-endian RSA modulus, leading zero bytes aside.
fn modulus_bits(n: &[u8]) -> usize {
    bit_len(strip_leading_zeros(n))
}

/// Checks an ECDSA signature as `jwt_verify_lib` does: the digest follows the token's `alg`
/// (SHA-384 for ES384, SHA-512 for ES512, else SHA-256) and the curve follows the key, so Envoy
/// 1.40 verifies an ES384 token signed with a P-256 key. The signature's first half is `r`, its
/// second half `s`.
fn check_ec(jwt: &Signed, curve: &str, x: &[u8], y: &[u8]) -> KeyCheck {
    use signature::VerificationAlgorithm;
    let algorithm: &'static dyn VerificationAlgorithm = match (curve, jwt.alg) {
        ("P-256", "ES384") => &signature::ECDSA_P256_SHA384_ASN1,
        ("P-256", "ES512") => &signature::ECDSA_P256_SHA512_ASN1,
        ("P-256", _) => &signature::ECDSA_P256_SHA256_ASN1,
        ("P-384", "ES384") => &signature::ECDSA_P384_SHA384_ASN1,
        ("P-384", "ES512") => &signature::ECDSA_P384_SHA512_ASN1,
        ("P-384", _) => &signature::ECDSA_P384_SHA256_ASN1,
        (_, "ES384") => &signature::ECDSA_P521_SHA384_ASN1,
        (_, "ES512") => &signature::ECDSA_P521_SHA512_ASN1,
        _ => &signature::ECDSA_P521_SHA256_ASN1,
    };
    let half = jwt.signature.len() / 2;
    if half == 0 || !jwt.signature.len().is_multiple_of(2) {
        return KeyCheck::Failed;
    }
    let (r, s) = jwt.signature.split_at(half);
    let key = signature::UnparsedPublicKey::new(algorithm, uncompressed_point(x, y));
    if key
        .verify(jwt.signing_input.as_bytes(), &der_signature(r, s))
        .is_ok()
    {
        KeyCheck::Verified
    } else {
        KeyCheck::Failed
    }
}

/// Encodes `r` and `s`, big-endian, as the DER `SEQUENCE { INTEGER r, INTEGER s }` of an ECDSA
/// signature.
fn der_signature(r: &[u8], s: &[u8]) -> Vec<u8> {
    fn push_length(out: &mut Vec<u8>, length: usize) {
        // Lengths here stay below 256: two integers of at most 67 bytes.
        if length < 0x80 {
            out.push(u8::try_from(length).unwrap_or(0x7f));
        } else {
            out.push(0x81);
            out.push(u8::try_from(length).unwrap_or(u8::MAX));
        }
    }
    fn integer(bytes: &[u8]) -> Vec<u8> {
        let start = bytes
            .iter()
            .position(|byte| *byte != 0)
            .unwrap_or(bytes.len());
        let digits = &bytes[start..];
        let mut out = vec![0x02];
        let pad = digits.first().is_none_or(|first| first & 0x80 != 0);
        push_length(&mut out, digits.len() + usize::from(pad));
        if pad {
            out.push(0);
        }
        out.extend_from_slice(digits);
        out
    }
    let body = [integer(r), integer(s)].concat();
    let mut out = vec![0x30];
    push_length(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

/// Returns jsonwebtoken's key for HMAC and Ed25519 material. RSA keys go through [`check_rsa`],
/// which keeps them parsed, and EC keys through [`check_ec`].
fn decoding_key(material: &KeyMaterial) -> Option<DecodingKey> {
    Some(match material {
        KeyMaterial::Rsa { .. } | KeyMaterial::Ec { .. } => return None,
        KeyMaterial::Oct(secret) => DecodingKey::from_secret(secret).ok()?,
        KeyMaterial::Okp(x) => DecodingKey::from_ed_der(x),
    })
}

/// Why a token did not verify, parse failures included.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenVerifyError {
    #[error("the token does not parse as Envoy's jwt_authn reads it: {0}")]
    Malformed(&'static str),
    #[error(transparent)]
    Signature(#[from] VerifyError),
}

impl TokenVerifyError {
    /// Envoy's status text for this failure.
    pub fn envoy_status(&self) -> &'static str {
        match self {
            Self::Malformed(status) => status,
            Self::Signature(error) => error.envoy_status(),
        }
    }
}

/// Parses `token` and returns the index of the JWKS key that verifies it, without time or audience
/// checks.
pub fn verify_token(token: &str, jwks: &Jwks) -> Result<usize, TokenVerifyError> {
    let jwt = parse_jwt(token).map_err(TokenVerifyError::Malformed)?;
    Ok(verify_jwt(&jwt.signed(), jwks)?)
}

/// Checks only the signature of a compact JWS whose payload need not be JSON (RFC 8037's example
/// signs plain text), with the header's `alg` and `kid`.
pub fn verify_signature_only(token: &str, jwks: &Jwks) -> Result<usize, TokenVerifyError> {
    verify_signature_as(token, jwks, None)
}

/// Checks only the signature, as [`verify_signature_only`] does, but with `alg` in place of the
/// header's when given: Akamai's JWT module upper-cases the header's `alg` before it verifies.
pub fn verify_signature_as(
    token: &str,
    jwks: &Jwks,
    alg: Option<&str>,
) -> Result<usize, TokenVerifyError> {
    let (header, payload, signature) =
        split_jws(token).ok_or(TokenVerifyError::Malformed(super::envoy::BAD_FORMAT))?;
    let header_json: Map<String, Value> = websafe_decode(header)
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(TokenVerifyError::Malformed("Jwt header is an invalid JSON"))?;
    let text = |name: &str| {
        header_json
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let signature = websafe_decode(signature).unwrap_or_default();
    let signed = Signed {
        alg: alg.unwrap_or_else(|| text("alg")),
        kid: text("kid"),
        signing_input: &token[..header.len() + 1 + payload.len()],
        signing_sha256: None,
        signature: &signature,
    };
    Ok(verify_jwt(&signed, jwks)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::jwks::parse_jwks;

    // RFC 7515 Appendix A.1: HS256 example.
    const A1_TOKEN: &str = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const A1_JWKS: &str = r#"{"keys":[{"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}]}"#;

    #[test]
    fn parse_reads_claims() {
        let jwt = parse_jwt(A1_TOKEN).map(|jwt| (jwt.iss.clone(), jwt.exp));
        assert_eq!(jwt, Ok(("joe".to_owned(), 1_300_819_380)));
    }

    #[test]
    fn parse_rejects_none() {
        assert_eq!(
            parse_jwt("eyJhbGciOiJub25lIn0.e30.c2ln").err(),
            Some("Jwt header [alg] is not supported")
        );
    }

    #[test]
    fn hs256_vector() {
        let jwks = parse_jwks(A1_JWKS).unwrap_or_default();
        assert_eq!(verify_token(A1_TOKEN, &jwks), Ok(0));
    }

    #[test]
    fn changed_payload_fails() {
        let jwks = parse_jwks(A1_JWKS).unwrap_or_default();
        let mut segments = A1_TOKEN.split('.');
        let (header, _, signature) = (segments.next(), segments.next(), segments.next());
        let token = format!(
            "{}.e30.{}",
            header.unwrap_or_default(),
            signature.unwrap_or_default()
        );
        let status = verify_token(&token, &jwks).map_err(|error| error.envoy_status());
        assert_eq!(status, Err(VERIFICATION_FAILS));
    }

    #[test]
    fn other_kid_mismatch() {
        let jwks = parse_jwks(r#"{"keys":[{"kty":"oct","k":"YQ","kid":"x"}]}"#).unwrap_or_default();
        // {"alg":"HS256","kid":"y"}.{}.AAAA
        let status = verify_token("eyJhbGciOiJIUzI1NiIsImtpZCI6InkifQ.e30.AAAA", &jwks)
            .map_err(|error| error.envoy_status());
        assert_eq!(status, Err(KID_ALG_MISMATCH));
    }
}
