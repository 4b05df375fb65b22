//! JSON Web Key Sets read the way Envoy's `jwt_authn` reads them (its copy of `jwt_verify_lib`):
//! which keys it keeps, the status text it reports for a set it cannot use, and which keys it tries
//! for a token.

use std::sync::OnceLock;

use aws_lc_rs::signature::ParsedPublicKey;
use serde_json::{Map, Value};

use super::base64url::{Segment, decode_segment};

/// Envoy's status for a token whose `kid` and `alg` match no key of the set.
pub const KID_ALG_MISMATCH: &str = "Jwks doesn't have key to match kid or alg from Jwt";

/// Envoy's status for a provider whose inline JWKS held no usable key.
pub const NO_VALID_KEYS: &str = "Jwks doesn't have any valid public key";

/// Marker istiod writes into the modulus of the stand-in key it inlines when it cannot fetch a
/// `jwksUri`, followed by the URI.
const ISTIOD_FETCH_MARKER: &str = "Error-IstiodFailedToFetchJwksUri-";

/// Key type (`kty`) of a key Envoy accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Rsa,
    Ec,
    /// `oct`: an HMAC secret.
    Oct,
    /// `OKP`: only Ed25519 is accepted.
    Okp,
}

/// The decoded key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyMaterial {
    /// Big-endian modulus and exponent.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// Affine coordinates, big-endian.
    Ec { x: Vec<u8>, y: Vec<u8> },
    /// The HMAC secret.
    Oct(Vec<u8>),
    /// The raw 32-byte Ed25519 public key.
    Okp(Vec<u8>),
}

/// One key Envoy accepted, at `index` in the `keys` array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwk {
    pub index: usize,
    pub kty: KeyType,
    /// Empty when absent (or not a string, which Envoy also treats as absent).
    pub kid: String,
    /// Empty when absent.
    pub alg: String,
    /// For EC keys the curve Envoy settled on (`P-256` when neither `alg` nor `crv` is given); for
    /// OKP keys `Ed25519`; empty otherwise.
    pub crv: String,
    pub material: KeyMaterial,
    /// The RSA key parsed for verification, once per digest and padding (see `verify.rs`).
    pub parsed: ParsedKeys,
}

/// Keys already parsed for verification, so that a batch of tokens signed by one key parses it
/// once, and the key's description for messages, written once. It is a cache: it takes no part
/// in comparisons, and a clone starts empty.
#[derive(Default)]
pub struct ParsedKeys {
    pub(super) rsa: [OnceLock<Option<ParsedPublicKey>>; 6],
    pub(super) description: OnceLock<String>,
}

impl Clone for ParsedKeys {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl PartialEq for ParsedKeys {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for ParsedKeys {}

impl std::fmt::Debug for ParsedKeys {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("ParsedKeys")
    }
}

/// The usable keys of a JWKS, and what Envoy said about each key it dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
    /// `(index, Envoy status)` for each key Envoy skipped; a set with some usable keys still loads.
    pub skipped: Vec<(usize, &'static str)>,
}

/// Why Envoy refuses a whole JWKS; its provider then fails every token with
/// [`NO_VALID_KEYS`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "JWKS rejected as Envoy's jwt_authn would reject it: {status}{}; fix the JWKS (or the JWKS the \
     issuer publishes) and load it again",
    .key_index.map(|index| format!(" (key at index {index})")).unwrap_or_default()
)]
pub struct JwksError {
    /// Envoy's status text, exactly.
    pub status: &'static str,
    /// The key the status is about, when it is about one.
    pub key_index: Option<usize>,
}

/// Parses `text` as Envoy does for `local_jwks.inline_string`.
///
/// Envoy keeps every key that parses, drops the others, and refuses the set only when no key is
/// left; it then reports the status of the first bad key (or `Jwks doesn't have any valid public
/// key` when the list had no objects).
pub fn parse_jwks(text: &str) -> Result<Jwks, JwksError> {
    let whole = |status| JwksError {
        status,
        key_index: None,
    };
    let value: Value = serde_json::from_str(text).map_err(|_| whole("Jwks is an invalid JSON"))?;
    // Protobuf's JSON parser only accepts an object for a `Struct`.
    let Value::Object(fields) = value else {
        return Err(whole("Jwks is an invalid JSON"));
    };
    let Some(keys) = fields.get("keys") else {
        // NOTE: Envoy also accepts a map of `kid` to X.509 PEM certificates (the Google style);
        // that form is reported here as having no `keys`.
        return Err(whole("Jwks does not have [keys] field"));
    };
    let Value::Array(keys) = keys else {
        return Err(whole("[keys] in Jwks is not an array"));
    };

    let mut jwks = Jwks::default();
    for (index, key) in keys.iter().enumerate() {
        let Value::Object(key) = key else {
            continue;
        };
        match parse_key(index, key) {
            Ok(jwk) => jwks.keys.push(jwk),
            Err(status) => jwks.skipped.push((index, status)),
        }
    }
    if jwks.keys.is_empty() {
        return Err(match jwks.skipped.first() {
            Some(&(index, status)) => JwksError {
                status,
                key_index: Some(index),
            },
            None => whole(NO_VALID_KEYS),
        });
    }
    Ok(jwks)
}

/// A string field as `jwt_verify_lib`'s `StructUtils::GetString` reads it.
enum Field<'a> {
    Missing,
    WrongType,
    Text(&'a str),
}

fn field<'a>(key: &'a Map<String, Value>, name: &str) -> Field<'a> {
    match key.get(name) {
        None => Field::Missing,
        Some(Value::String(text)) => Field::Text(text),
        Some(_) => Field::WrongType,
    }
}

/// Reads a required string field, with the statuses for a missing and a non-string value.
fn required<'a>(
    key: &'a Map<String, Value>,
    name: &str,
    missing: &'static str,
    wrong_type: &'static str,
) -> Result<&'a str, &'static str> {
    match field(key, name) {
        Field::Missing => Err(missing),
        Field::WrongType => Err(wrong_type),
        Field::Text(text) => Ok(text),
    }
}

fn optional(key: &Map<String, Value>, name: &str) -> String {
    match field(key, name) {
        Field::Text(text) => text.to_owned(),
        Field::Missing | Field::WrongType => String::new(),
    }
}

fn parse_key(index: usize, key: &Map<String, Value>) -> Result<Jwk, &'static str> {
    let kty = required(
        key,
        "kty",
        "[kty] is missing in [keys]",
        "[kty] is bad in [keys]",
    )?;
    let mut jwk = Jwk {
        index,
        kty: KeyType::Oct,
        kid: optional(key, "kid"),
        alg: optional(key, "alg"),
        crv: String::new(),
        material: KeyMaterial::Oct(Vec::new()),
        parsed: ParsedKeys::default(),
    };
    match kty {
        "RSA" => parse_rsa(key, &mut jwk)?,
        "EC" => parse_ec(key, &mut jwk)?,
        "oct" => parse_oct(key, &mut jwk)?,
        "OKP" => parse_okp(key, &mut jwk)?,
        _ => return Err("[kty] is not supported in [keys]"),
    }
    Ok(jwk)
}

/// The smallest RSA modulus Envoy keeps, in bits.
const MIN_RSA_BITS: usize = 512;

/// A defect that makes Envoy's `jwt_authn` drop a public key, found in a JWK or in a PEM block
/// that [`super::keys`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyDefect {
    /// The RSA public exponent is neither 3 nor 65537.
    RsaExponent,
    /// The RSA modulus is under [`MIN_RSA_BITS`] bits.
    RsaShortModulus { bits: usize },
    /// The RSA modulus is even.
    RsaEvenModulus,
    /// The EC point is not on `curve`.
    EcNotOnCurve { curve: &'static str },
    /// The Ed25519 key is `bytes` long instead of 32.
    OkpLength { bytes: usize },
}

impl KeyDefect {
    /// Returns the status Envoy reports for a JWK with this defect.
    fn envoy_status(self) -> &'static str {
        match self {
            Self::RsaExponent | Self::RsaShortModulus { .. } | Self::RsaEvenModulus => {
                "Jwks RSA [n] or [e] field is missing or has a parse error"
            }
            Self::EcNotOnCurve { .. } => "Jwks EC [x] and [y] fields have a parse error.",
            Self::OkpLength { .. } => "Jwks OKP [x] field is wrong length.",
        }
    }
}

impl std::fmt::Display for KeyDefect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const EXPORT: &str =
            "export the public key again from the private key (`openssl pkey -in KEY -pubout`)";
        match self {
            Self::RsaExponent => write!(
                f,
                "the RSA public exponent is neither 3 nor 65537, the only exponents Envoy's \
                 jwt_authn accepts; use a key with exponent 65537"
            ),
            Self::RsaShortModulus { bits } => write!(
                f,
                "the RSA modulus is {bits} bits, under the {MIN_RSA_BITS} bits Envoy's jwt_authn \
                 requires; use a key of 2048 bits or more"
            ),
            Self::RsaEvenModulus => write!(
                f,
                "the RSA modulus is even, so the key is not a valid RSA key and Envoy's jwt_authn \
                 drops it; {EXPORT}"
            ),
            Self::EcNotOnCurve { curve } => write!(
                f,
                "the EC point is not on the curve {curve}, so Envoy's jwt_authn drops the key; \
                 {EXPORT}"
            ),
            Self::OkpLength { bytes } => {
                write!(f, "the Ed25519 key is {bytes} bytes instead of 32")
            }
        }
    }
}

/// Checks an RSA public key (big-endian modulus and exponent) as Envoy does, and returns it
/// without leading zero bytes.
pub(super) fn rsa_material(n: &[u8], e: &[u8]) -> Result<KeyMaterial, KeyDefect> {
    // Envoy accepts only the exponents 3 and 65537, then BoringSSL's public key check wants an odd
    // modulus of at least 512 bits (Envoy 1.40 dropped keys of 504 and 511 bits and verified with
    // 512).
    let exponent = strip_leading_zeros(e);
    if exponent != [3] && exponent != [1, 0, 1] {
        return Err(KeyDefect::RsaExponent);
    }
    let modulus = strip_leading_zeros(n);
    let bits = bit_len(modulus);
    if bits < MIN_RSA_BITS {
        return Err(KeyDefect::RsaShortModulus { bits });
    }
    if modulus.last().is_some_and(|last| last % 2 == 0) {
        return Err(KeyDefect::RsaEvenModulus);
    }
    Ok(KeyMaterial::Rsa {
        n: modulus.to_vec(),
        e: exponent.to_vec(),
    })
}

fn parse_rsa(key: &Map<String, Value>, jwk: &mut Jwk) -> Result<(), &'static str> {
    const PARSE_ERROR: &str = "Jwks RSA [n] or [e] field is missing or has a parse error";
    if !jwk.alg.is_empty() && !jwk.alg.starts_with("RS") && !jwk.alg.starts_with("PS") {
        return Err("[alg] is not started with [RS] or [PS] for an RSA key");
    }
    let n = required(
        key,
        "n",
        "[n] field is missing for a RSA key",
        "[n] field is not string for a RSA key",
    )?;
    let e = required(
        key,
        "e",
        "[e] field is missing for a RSA key",
        "[e] field is not string for a RSA key",
    )?;
    let n = websafe_decode(n).ok_or(PARSE_ERROR)?;
    let e = websafe_decode(e).ok_or(PARSE_ERROR)?;
    jwk.material = rsa_material(&n, &e).map_err(KeyDefect::envoy_status)?;
    jwk.kty = KeyType::Rsa;
    Ok(())
}

/// Number of significant bits of a big-endian number without leading zero bytes.
pub(super) fn bit_len(number: &[u8]) -> usize {
    number.first().map_or(0, |&first| {
        (number.len() - 1) * 8 + (8 - first.leading_zeros() as usize)
    })
}

pub(super) fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&byte| byte != 0)
        .unwrap_or(bytes.len());
    &bytes[start..]
}

fn parse_ec(key: &Map<String, Value>, jwk: &mut Jwk) -> Result<(), &'static str> {
    const BAD_BASE64: &str = "Jwks EC [x] or [y] field is an invalid Base64.";
    if !jwk.alg.is_empty() && !jwk.alg.starts_with("ES") {
        return Err("[alg] is not started with [ES] for an EC key");
    }
    let crv = match field(key, "crv") {
        Field::Missing => "",
        Field::WrongType => return Err("[crv] field is not string for an EC key"),
        Field::Text(text) => text,
    };
    let alg = jwk.alg.as_str();
    if !alg.is_empty()
        && !crv.is_empty()
        && !matches!(
            (alg, crv),
            ("ES256", "P-256") | ("ES384", "P-384") | ("ES512", "P-521")
        )
    {
        return Err("[crv] field specified is not compatible with [alg] for an EC key");
    }
    let curve = if alg == "ES256" || crv == "P-256" || (alg.is_empty() && crv.is_empty()) {
        "P-256"
    } else if alg == "ES384" || crv == "P-384" {
        "P-384"
    } else if alg == "ES512" || crv == "P-521" {
        "P-521"
    } else {
        return Err("[crv] or [alg] field is not supported for an EC key");
    };
    let x = required(
        key,
        "x",
        "[x] field is missing for an EC key",
        "[x] field is not string for an EC key",
    )?;
    let y = required(
        key,
        "y",
        "[y] field is missing for an EC key",
        "[y] field is not string for an EC key",
    )?;
    let x = websafe_decode(x).ok_or(BAD_BASE64)?;
    let y = websafe_decode(y).ok_or(BAD_BASE64)?;
    jwk.material = ec_material(curve, &x, &y).map_err(KeyDefect::envoy_status)?;
    jwk.kty = KeyType::Ec;
    curve.clone_into(&mut jwk.crv);
    Ok(())
}

/// Returns the length in bytes of a coordinate of `curve` (`P-256`, `P-384` or `P-521`).
pub(super) fn coordinate_len(curve: &str) -> usize {
    match curve {
        "P-256" => 32,
        "P-384" => 48,
        _ => 66,
    }
}

/// Checks that the big-endian coordinates `(x, y)` are a point of `curve`, and returns them padded
/// to the curve's size.
pub(super) fn ec_material(
    curve: &'static str,
    x: &[u8],
    y: &[u8],
) -> Result<KeyMaterial, KeyDefect> {
    // BoringSSL reads the coordinates as numbers, so shorter encodings pass; longer ones cannot be
    // on the curve, and Envoy drops a point that is not on the curve named, such as a P-256 point
    // labelled P-384.
    let length = coordinate_len(curve);
    let x = strip_leading_zeros(x);
    let y = strip_leading_zeros(y);
    if x.len() > length || y.len() > length {
        return Err(KeyDefect::EcNotOnCurve { curve });
    }
    let (x, y) = (left_pad(x, length), left_pad(y, length));
    if !on_curve(curve, &x, &y) {
        return Err(KeyDefect::EcNotOnCurve { curve });
    }
    Ok(KeyMaterial::Ec { x, y })
}

/// Returns whether `(x, y)`, coordinates of the curve's size, is a point of `curve`, which
/// aws-lc checks when it parses the uncompressed point.
fn on_curve(curve: &str, x: &[u8], y: &[u8]) -> bool {
    use aws_lc_rs::signature;
    let algorithm: &'static dyn signature::VerificationAlgorithm = match curve {
        "P-256" => &signature::ECDSA_P256_SHA256_FIXED,
        "P-384" => &signature::ECDSA_P384_SHA384_FIXED,
        _ => &signature::ECDSA_P521_SHA512_FIXED,
    };
    signature::ParsedPublicKey::new(algorithm, uncompressed_point(x, y)).is_ok()
}

/// Returns the SEC 1 uncompressed encoding of the point `(x, y)`: `04 || x || y`.
pub(crate) fn uncompressed_point(x: &[u8], y: &[u8]) -> Vec<u8> {
    let mut point = Vec::with_capacity(1 + x.len() + y.len());
    point.push(0x04);
    point.extend_from_slice(x);
    point.extend_from_slice(y);
    point
}

fn left_pad(bytes: &[u8], len: usize) -> Vec<u8> {
    let mut padded = vec![0; len.saturating_sub(bytes.len())];
    padded.extend_from_slice(bytes);
    padded
}

fn parse_oct(key: &Map<String, Value>, jwk: &mut Jwk) -> Result<(), &'static str> {
    if !jwk.alg.is_empty() && !matches!(jwk.alg.as_str(), "HS256" | "HS384" | "HS512") {
        return Err("[alg] does not start with [HS] for an HMAC key");
    }
    let k = required(
        key,
        "k",
        "[k] field is missing for an HMAC key",
        "[k] field is not string for an HMAC key",
    )?;
    let secret = websafe_decode(k)
        .filter(|secret| !secret.is_empty())
        .ok_or("Jwks Oct key is an invalid Base64")?;
    jwk.kty = KeyType::Oct;
    jwk.material = KeyMaterial::Oct(secret);
    Ok(())
}

fn parse_okp(key: &Map<String, Value>, jwk: &mut Jwk) -> Result<(), &'static str> {
    if !jwk.alg.is_empty() && jwk.alg != "EdDSA" {
        return Err("[alg] is not [EdDSA] for an OKP key");
    }
    let crv = required(
        key,
        "crv",
        "[crv] field is missing for an OKP key",
        "[crv] field is not string for an OKP key",
    )?;
    if crv != "Ed25519" {
        return Err("[crv] field is not supported for an OKP key");
    }
    let x = required(
        key,
        "x",
        "[x] field is missing for an OKP key",
        "[x] field is not string for an OKP key",
    )?;
    let x = websafe_decode(x).ok_or("Jwks OKP [x] field is an invalid Base64.")?;
    jwk.material = okp_material(x).map_err(KeyDefect::envoy_status)?;
    jwk.kty = KeyType::Okp;
    crv.clone_into(&mut jwk.crv);
    Ok(())
}

/// Checks the length of a raw Ed25519 public key.
pub(super) fn okp_material(x: Vec<u8>) -> Result<KeyMaterial, KeyDefect> {
    if x.len() == 32 {
        Ok(KeyMaterial::Okp(x))
    } else {
        Err(KeyDefect::OkpLength { bytes: x.len() })
    }
}

/// Decodes base64url as Abseil's `WebSafeBase64Unescape` does for Envoy: whitespace is skipped,
/// up to two `=` may close the text, and `+` or `/` fail.
pub(crate) fn websafe_decode(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return Some(Vec::new());
    }
    decode_segment(&compact, Segment::Signature, 0)
        .ok()
        .filter(|decoded| !decoded.standard_alphabet)
        .map(|decoded| decoded.bytes)
}

/// Returns the keys Envoy tries for a token with this `kid` (empty when absent) and `alg`, in
/// order: a key is skipped when both it and the token name a `kid` and they differ, or when the
/// key names an `alg` other than the token's.
///
/// Envoy checks nothing else here: a key of the wrong type for the `alg` is still a candidate and
/// simply fails to verify, which yields `Jwt verification fails` rather than the kid/alg status.
pub fn candidates<'a>(jwks: &'a Jwks, kid: &str, alg: &str) -> Vec<&'a Jwk> {
    jwks.keys
        .iter()
        .filter(|key| kid.is_empty() || key.kid.is_empty() || key.kid == kid)
        .filter(|key| key.alg.is_empty() || key.alg == alg)
        .collect()
}

/// Returns the `jwksUri` when `jwks` is the stand-in set istiod inlines after failing to fetch a
/// `jwksUri` (one RSA key, `kid` `abc`, a modulus that spells the marker and the URI), so that the
/// explanation can say istiod could not fetch the JWKS instead of blaming the token's `kid`.
pub fn istiod_fetch_failure(text: &str) -> Option<String> {
    let value: Value = serde_json::from_str(text).ok()?;
    let keys = value.get("keys")?.as_array()?;
    let [key] = keys.as_slice() else {
        return None;
    };
    if key.get("kid")?.as_str()? != "abc" {
        return None;
    }
    let modulus = websafe_decode(key.get("n")?.as_str()?)?;
    let modulus = String::from_utf8(modulus).ok()?;
    modulus.strip_prefix(ISTIOD_FETCH_MARKER).map(str::to_owned)
}

/// Returns the stand-in JWKS istiod inlines when it cannot fetch `jwks_uri`, so that every token
/// for the issuer fails closed.
pub fn istiod_fetch_failure_jwks(jwks_uri: &str) -> String {
    use base64::Engine as _;
    let modulus = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("{ISTIOD_FETCH_MARKER}{jwks_uri}"));
    format!(r#"{{"keys":[ {{"e":"AQAB","kid":"abc","kty":"RSA","n":"{modulus}"}}]}}"#)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(text: &str) -> &'static str {
        parse_jwks(text).map_or_else(|error| error.status, |_| "Ok")
    }

    #[test]
    fn statuses() {
        let cases = [
            ("{", "Jwks is an invalid JSON"),
            ("[]", "Jwks is an invalid JSON"),
            ("{}", "Jwks does not have [keys] field"),
            (r#"{"keys":{}}"#, "[keys] in Jwks is not an array"),
            (r#"{"keys":[]}"#, NO_VALID_KEYS),
            (r#"{"keys":[1]}"#, NO_VALID_KEYS),
            (r#"{"keys":[{}]}"#, "[kty] is missing in [keys]"),
            (r#"{"keys":[{"kty":1}]}"#, "[kty] is bad in [keys]"),
            (
                r#"{"keys":[{"kty":"XYZ"}]}"#,
                "[kty] is not supported in [keys]",
            ),
            (
                r#"{"keys":[{"kty":"RSA","alg":"ES256"}]}"#,
                "[alg] is not started with [RS] or [PS] for an RSA key",
            ),
            (
                r#"{"keys":[{"kty":"RSA"}]}"#,
                "[n] field is missing for a RSA key",
            ),
            (
                r#"{"keys":[{"kty":"RSA","n":1}]}"#,
                "[n] field is not string for a RSA key",
            ),
            (
                r#"{"keys":[{"kty":"RSA","n":"AQAB"}]}"#,
                "[e] field is missing for a RSA key",
            ),
            (
                r#"{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAC"}]}"#,
                "Jwks RSA [n] or [e] field is missing or has a parse error",
            ),
            (
                r#"{"keys":[{"kty":"EC","alg":"RS256"}]}"#,
                "[alg] is not started with [ES] for an EC key",
            ),
            (
                r#"{"keys":[{"kty":"EC","alg":"ES256","crv":"P-384"}]}"#,
                "[crv] field specified is not compatible with [alg] for an EC key",
            ),
            (
                r#"{"keys":[{"kty":"EC","crv":"P-999"}]}"#,
                "[crv] or [alg] field is not supported for an EC key",
            ),
            (
                r#"{"keys":[{"kty":"EC"}]}"#,
                "[x] field is missing for an EC key",
            ),
            (
                r#"{"keys":[{"kty":"EC","x":"AA","y":"+/"}]}"#,
                "Jwks EC [x] or [y] field is an invalid Base64.",
            ),
            (
                r#"{"keys":[{"kty":"oct","alg":"RS256"}]}"#,
                "[alg] does not start with [HS] for an HMAC key",
            ),
            (
                r#"{"keys":[{"kty":"oct"}]}"#,
                "[k] field is missing for an HMAC key",
            ),
            (
                r#"{"keys":[{"kty":"oct","k":""}]}"#,
                "Jwks Oct key is an invalid Base64",
            ),
            (
                r#"{"keys":[{"kty":"OKP","alg":"ES256"}]}"#,
                "[alg] is not [EdDSA] for an OKP key",
            ),
            (
                r#"{"keys":[{"kty":"OKP"}]}"#,
                "[crv] field is missing for an OKP key",
            ),
            (
                r#"{"keys":[{"kty":"OKP","crv":"X25519"}]}"#,
                "[crv] field is not supported for an OKP key",
            ),
            (
                r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AAAA"}]}"#,
                "Jwks OKP [x] field is wrong length.",
            ),
            (r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#, "Ok"),
        ];
        for (text, expected) in cases {
            assert_eq!(status(text), expected, "{text}");
        }
    }

    #[test]
    fn first_bad_key_reported() {
        let error = parse_jwks(r#"{"keys":[{"kty":"XYZ"},{}]}"#).err();
        assert_eq!(error.and_then(|error| error.key_index), Some(0));
    }

    #[test]
    fn bad_key_skipped_when_another_loads() {
        let jwks = parse_jwks(r#"{"keys":[{"kty":"XYZ"},{"kty":"oct","k":"c2VjcmV0"}]}"#);
        assert_eq!(jwks.map(|jwks| jwks.skipped.len()), Ok(1));
    }

    #[test]
    fn ec_defaults_to_p256() {
        let x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
        let y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
        let text = format!(r#"{{"keys":[{{"kty":"EC","x":"{x}","y":"{y}"}}]}}"#);
        let crv = parse_jwks(&text).map(|jwks| jwks.keys[0].crv.clone());
        assert_eq!(crv.as_deref(), Ok("P-256"));
    }

    #[test]
    fn candidates_by_kid_and_alg() {
        let text = r#"{"keys":[
            {"kty":"oct","k":"YQ","kid":"a"},
            {"kty":"oct","k":"Yg","kid":"b","alg":"HS384"},
            {"kty":"oct","k":"Yw"}]}"#;
        let jwks = parse_jwks(text).unwrap_or_default();
        let indices = |kid, alg| -> Vec<usize> {
            candidates(&jwks, kid, alg)
                .iter()
                .map(|key| key.index)
                .collect()
        };
        assert_eq!(indices("a", "HS256"), vec![0, 2]);
        assert_eq!(indices("b", "HS256"), vec![2]);
        assert_eq!(indices("", "HS384"), vec![0, 1, 2]);
    }

    #[test]
    fn istiod_stand_in_recognised() {
        let text = istiod_fetch_failure_jwks("https://idp.example.com/certs");
        assert_eq!(
            istiod_fetch_failure(&text).as_deref(),
            Some("https://idp.example.com/certs")
        );
    }

    #[test]
    fn ordinary_jwks_not_stand_in() {
        assert_eq!(
            istiod_fetch_failure(r#"{"keys":[{"kty":"oct","k":"YQ","kid":"abc"}]}"#),
            None
        );
    }
}
