//! Model of Envoy's `jwt_authn` filter handling an `Authorization` header value before it looks
//! at keys: where it finds the token, and which `jwt_verify_lib` status the token's format earns.

use std::borrow::{Borrow, Cow};
use std::cell::Cell;

use base64::Engine as _;
use serde_json::Value;

use super::{base64url, protobuf_json};

/// Istio's default token location is `Authorization` with this value prefix.
pub(super) const BEARER_PREFIX: &str = "Bearer ";

/// The `jwt_verify_lib` status for a token that is not three dot-separated segments.
pub(super) const BAD_FORMAT: &str =
    "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections";

/// The `jwt_verify_lib` status for a token whose signature does not match its signed text.
pub(super) const VERIFICATION_FAILS: &str = "Jwt verification fails";

/// The `jwt_verify_lib` status for an Ed25519 signature that is not 64 bytes long.
pub(super) const ED25519_WRONG_LENGTH: &str = "Jwt ED25519 signature is wrong length";

/// The `alg` values `jwt_verify_lib` implements; any other (`none` included) is rejected.
const SUPPORTED_ALGS: [&str; 13] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "HS256",
    "HS384", "HS512", "EdDSA",
];

/// Returns whether `c` is in the base64url alphabet (without `=`), where Envoy starts a token.
pub(super) fn is_base64url(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_')
}

/// Returns the token Envoy's `jwt_authn` extracts from an `Authorization` header value, or `None`
/// when it finds no token there (`jwt_authn` then reports `Jwt is missing`, and Istio lets the
/// request on without a request principal).
///
/// Envoy searches the value for the case-sensitive prefix `Bearer ` anywhere in it, then takes
/// everything from the first base64url character after the prefix to the end (a leading `.` is
/// skipped too: Envoy 1.40 answers `Bearer %%%.e30.c2ln` with `Jwt is not in the form of …`). Before
/// Envoy 1.29 it stopped at the first character outside the token alphabet, so
/// `Bearer <jwt> .junk` passed.
pub fn extract_from_header(value: &str) -> Option<&str> {
    // HTTP codecs strip optional whitespace around a header value before filters see it.
    let value = value.trim_matches([' ', '\t']);
    let position = value.find(BEARER_PREFIX)?;
    let after = position + BEARER_PREFIX.len();
    match value[after..].find(is_base64url) {
        Some(start) => Some(&value[after + start..]),
        // Envoy hands over the whole value when nothing token-like follows the prefix.
        None => Some(value),
    }
}

/// Returns the `jwt_verify_lib` status text that Envoy's `jwt_authn` sends with a 401 for this
/// token's format, or `None` when the format checks pass and the verdict depends on issuer, times
/// and keys. For a token with whitespace inside, it returns the status that the signature check
/// gives for every key ([`whitespace_status`]).
pub fn jwt_authn_format_status(token: &str) -> Option<&'static str> {
    match read_parts(token) {
        Err(status) => Some(status),
        Ok(parts) => whitespace_status(token, &parts),
    }
}

/// Returns the status that [`jwt_authn_format_status`] returns for `token`, given the outcome of
/// its format checks.
pub(super) fn format_status(token: &str, checks: Result<(), &'static str>) -> Option<&'static str> {
    match checks {
        Err(status) => Some(status),
        Ok(()) if has_ascii_whitespace(token) => jwt_authn_format_status(token),
        Ok(()) => None,
    }
}

/// Returns the 401 status Envoy's signature check gives `token`, whose format checks passed as
/// `parts`, for every key because of the whitespace inside it. `None` when the token has no
/// whitespace, or when it has whitespace only inside the signature segment and the keys decide.
///
/// Abseil's decoder skips the whitespace, but the signed text is the header and payload segments
/// as sent, spaces included, which no signer signs. A signature segment split by whitespace
/// decodes to the signature bytes, with the bytes of any text after the whitespace added, so it
/// can verify only when its length is one the `alg` produces.
fn whitespace_status(token: &str, parts: &Parts) -> Option<&'static str> {
    if !has_ascii_whitespace(token) {
        return None;
    }
    if has_ascii_whitespace(parts.header_text) || has_ascii_whitespace(parts.payload_text) {
        return Some(VERIFICATION_FAILS);
    }
    let alg = parts
        .header
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match alg {
        "EdDSA" if parts.signature.len() != 64 => Some(ED25519_WRONG_LENGTH),
        _ if signature_length_fits(alg, parts.signature.len()) => None,
        _ => Some(VERIFICATION_FAILS),
    }
}

/// Returns whether a signature of `length` bytes can verify for `alg` in `jwt_verify_lib`. HMAC
/// and Ed25519 compare the exact length. ECDSA reads `r` and `s` from the two halves, so zero
/// bytes in front of each still verify. RSA needs the length of the key's modulus.
fn signature_length_fits(alg: &str, length: usize) -> bool {
    let ecdsa = |size: usize| length >= size && length.is_multiple_of(2);
    match alg {
        "HS256" => length == 32,
        "HS384" => length == 48,
        "HS512" | "EdDSA" => length == 64,
        "ES256" => ecdsa(64),
        "ES384" => ecdsa(96),
        "ES512" => ecdsa(132),
        // NOTE: this assumes a modulus of a multiple of 256 bits, so a split signature made with
        // a key of another size is reported as failing without a key check.
        _ => length > 0 && length.is_multiple_of(32),
    }
}

/// Returns whether `token` contains whitespace, which Abseil's decoder skips.
pub(super) fn has_ascii_whitespace(token: &str) -> bool {
    // A fold without early exit compiles to a branch-free loop, faster on a token that has none.
    token
        .bytes()
        .fold(false, |seen, byte| seen | byte.is_ascii_whitespace())
}

/// A token as `jwt_verify_lib` reads it once its format checks passed: the decoded header and
/// payload objects, the decoded signature, and the text of the first two segments as sent.
pub(super) struct Parts<'a> {
    pub header: serde_json::Map<String, Value>,
    pub payload: serde_json::Map<String, Value>,
    pub signature: Vec<u8>,
    pub header_text: &'a str,
    pub payload_text: &'a str,
}

/// Splits a compact JWS into its three segments the way `jwt_verify_lib` does, or returns `None`
/// unless there are exactly three. It splits with Abseil's `SkipEmpty`, so an empty segment does
/// not count: `header.payload.` is two segments, which Envoy rejects with [`BAD_FORMAT`].
pub(super) fn split_jws(token: &str) -> Option<(&str, &str, &str)> {
    let mut segments = token.split('.').filter(|segment| !segment.is_empty());
    match (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) {
        (Some(header), Some(payload), Some(signature), None) => Some((header, payload, signature)),
        _ => None,
    }
}

/// A header or payload segment as `jwt_verify_lib` reads it: `T` is the JSON object, owned or
/// borrowed.
pub(super) enum SegmentRead<T> {
    /// Abseil's decoder rejects the segment.
    InvalidBase64,
    /// The decoded bytes are not a JSON object.
    InvalidJson,
    Object(T),
}

impl<T> SegmentRead<T> {
    /// Returns the JSON object, or the status for a segment that is not base64url or not JSON.
    fn object(
        self,
        invalid_base64_status: &'static str,
        invalid_json_status: &'static str,
    ) -> Result<T, &'static str> {
        match self {
            Self::InvalidBase64 => Err(invalid_base64_status),
            Self::InvalidJson => Err(invalid_json_status),
            Self::Object(object) => Ok(object),
        }
    }
}

/// Decodes `token` with `jwt_verify_lib`'s checks, or returns the status of the first that fails.
pub(super) fn read_parts(token: &str) -> Result<Parts<'_>, &'static str> {
    let (header_text, payload_text, signature) = split_jws(token).ok_or(BAD_FORMAT)?;
    let (header, payload, signature) = check_format(
        decode_object(header_text),
        decode_object(payload_text),
        absl_websafe_decode(signature),
    )?;
    Ok(Parts {
        header,
        payload,
        signature,
        header_text,
        payload_text,
    })
}

/// Runs `jwt_verify_lib`'s format checks, in its order, on the decoded segments of a JWS, and
/// returns them when every check passes, or else the status of the first check that fails.
/// `signature` is `None` when Abseil's decoder rejects the signature segment.
pub(super) fn check_format<T: Borrow<serde_json::Map<String, Value>>, S>(
    header: SegmentRead<T>,
    payload: SegmentRead<T>,
    signature: Option<S>,
) -> Result<(T, T, S), &'static str> {
    let header = header.object(
        "Jwt header is an invalid Base64url encoded",
        "Jwt header is an invalid JSON",
    )?;
    if let Some(status) = header_status(header.borrow()) {
        return Err(status);
    }
    let payload = payload.object(
        "Jwt payload is an invalid Base64url encoded",
        "Jwt payload is an invalid JSON",
    )?;
    if let Some(status) = payload_status(payload.borrow()) {
        return Err(status);
    }
    let signature = signature.ok_or("Jwt signature is an invalid Base64url encoded")?;
    Ok((header, payload, signature))
}

fn header_status(header: &serde_json::Map<String, Value>) -> Option<&'static str> {
    let Some(alg) = header.get("alg").and_then(Value::as_str) else {
        return Some("Jwt header [alg] field is required and must be a string");
    };
    if !SUPPORTED_ALGS.contains(&alg) {
        return Some("Jwt header [alg] is not supported");
    }
    if header.get("kid").is_some_and(|kid| !kid.is_string()) {
        return Some("Jwt header [kid] field is not a string");
    }
    None
}

/// 2^64, the first double that `jwt_verify_lib` rejects as a time claim.
const UINT64_LIMIT: f64 = 18_446_744_073_709_551_616.0;

fn payload_status(payload: &serde_json::Map<String, Value>) -> Option<&'static str> {
    let not_string = |name: &str| payload.get(name).is_some_and(|value| !value.is_string());
    if not_string("iss") {
        return Some("Jwt payload [iss] field is not a string");
    }
    if not_string("sub") {
        return Some("Jwt payload [sub] field is not a string");
    }
    let time_checks = [
        (
            "iat",
            "Jwt payload [iat] field is not an integer",
            "Jwt payload [iat] field is not a positive 64 bit integer",
        ),
        (
            "nbf",
            "Jwt payload [nbf] field is not an integer",
            "Jwt payload [nbf] field is not a positive 64 bit integer",
        ),
        (
            "exp",
            "Jwt payload [exp] field is not an integer",
            "Jwt payload [exp] field is not a positive 64 bit integer",
        ),
    ];
    for (name, not_integer, out_of_range) in time_checks {
        match payload.get(name) {
            // jwt_verify_lib reads the number as a double and truncates it, so fractions pass. Its
            // `StructUtils::GetUInt64` rejects a double below 0 or at least `(double)UINT64_MAX`,
            // which is 2^64.
            Some(Value::Number(number))
                if number
                    .as_f64()
                    .is_none_or(|seconds| !(0.0..UINT64_LIMIT).contains(&seconds)) =>
            {
                return Some(out_of_range);
            }
            None | Some(Value::Number(_)) => {}
            Some(_) => return Some(not_integer),
        }
    }
    if not_string("jti") {
        return Some("Jwt payload [jti] field is not a string");
    }
    if let Some(aud) = payload.get("aud") {
        let valid = match aud {
            Value::String(_) => true,
            Value::Array(items) => items.iter().all(Value::is_string),
            _ => false,
        };
        if !valid {
            return Some("Jwt payload [aud] field is not a string or string list");
        }
    }
    None
}

/// Decodes a segment that must hold a JSON object. Protobuf's parser reads the JSON `null` into a
/// `Struct` as an empty object, so Envoy 1.40 returns 401 `Jwt issuer is not configured` for the
/// payload `null`. It rejects `[]`, `1` and `"x"` as invalid JSON.
fn decode_object(segment: &str) -> SegmentRead<serde_json::Map<String, Value>> {
    let Some(bytes) = absl_websafe_decode(segment) else {
        return SegmentRead::InvalidBase64;
    };
    let Some(Ok(read)) = std::str::from_utf8(&bytes).ok().map(protobuf_json::read) else {
        return SegmentRead::InvalidJson;
    };
    match read.value {
        _ if read.rejected => SegmentRead::InvalidJson,
        Value::Object(map) => SegmentRead::Object(map),
        Value::Null => SegmentRead::Object(serde_json::Map::new()),
        _ => SegmentRead::InvalidJson,
    }
}

/// Objects and arrays nested deeper than this fail protobuf's JSON parser: Envoy 1.40 accepts a
/// payload 100 levels deep and rejects 101 (`serde_json`'s own limit is 128).
pub(super) const MAX_JSON_DEPTH: u32 = 100;

/// Parses JSON text into a value, and returns it with whether protobuf's JSON parser, which
/// `jwt_verify_lib` reads the header and payload with, rejects the text though `serde_json`
/// accepts it: a member name repeated within one object, at any depth, or nesting deeper than
/// [`MAX_JSON_DEPTH`]. So Envoy 1.40 rejects `{"sub":"a","sub":"a"}` with `Jwt payload is an
/// invalid JSON` where most JSON libraries keep the last value, as the value returned here does.
/// One pass serves both, because a batch of tokens spends much of its time reading JSON.
pub(super) fn parse_json(json: &str) -> serde_json::Result<(Value, bool)> {
    let rejected = Cell::new(false);
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let value = serde::de::DeserializeSeed::deserialize(
        ProtobufReading {
            depth: 0,
            rejected: &rejected,
        },
        &mut deserializer,
    )?;
    deserializer.end()?;
    Ok((value, rejected.get()))
}

/// Returns whether protobuf's JSON parser rejects JSON text that `serde_json` accepts, as
/// [`parse_json`] explains.
#[cfg(test)]
fn protobuf_json_rejects(json: &[u8]) -> bool {
    std::str::from_utf8(json)
        .ok()
        .and_then(|text| parse_json(text).ok())
        .is_some_and(|(_, rejected)| rejected)
}

/// Builder of a JSON value that notes in `rejected` what protobuf's JSON parser rejects: a
/// repeated member name or nesting deeper than [`MAX_JSON_DEPTH`]. `depth` counts the objects and
/// arrays around the value.
#[derive(Clone, Copy)]
struct ProtobufReading<'a> {
    depth: u32,
    rejected: &'a Cell<bool>,
}

impl ProtobufReading<'_> {
    /// Returns the builder for the values inside an object or array at this depth.
    fn inner(self) -> Self {
        let depth = self.depth + 1;
        if depth > MAX_JSON_DEPTH {
            self.rejected.set(true);
        }
        Self { depth, ..self }
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for ProtobufReading<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for ProtobufReading<'_> {
    type Value = Value;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut items: A) -> Result<Value, A::Error> {
        let inner = self.inner();
        let mut values = Vec::with_capacity(items.size_hint().unwrap_or(0));
        while let Some(value) = items.next_element_seed(inner)? {
            values.push(value);
        }
        Ok(Value::Array(values))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut members: A) -> Result<Value, A::Error> {
        let inner = self.inner();
        let mut map = serde_json::Map::new();
        while let Some(name) = members.next_key::<String>()? {
            let value = members.next_value_seed(inner)?;
            if map.insert(name, value).is_some() {
                self.rejected.set(true);
            }
        }
        Ok(Value::Object(map))
    }
}

/// Decodes base64url the way Abseil's `WebSafeBase64Unescape` does for `jwt_verify_lib`: whitespace
/// anywhere is skipped, and `+`, `/` or any other character fail. Trailing `=` padding is either
/// absent or exactly what the length calls for (`Base64UnescapeInternal`), so `e30==` fails.
fn absl_websafe_decode(text: &str) -> Option<Vec<u8>> {
    let compact: Cow<'_, str> = if has_ascii_whitespace(text) {
        Cow::Owned(text.chars().filter(|c| !c.is_ascii_whitespace()).collect())
    } else {
        Cow::Borrowed(text)
    };
    let unpadded = compact.trim_end_matches('=');
    let padding = compact.len() - unpadded.len();
    let expected_padding = match unpadded.len() % 4 {
        0 => 0,
        2 => 2,
        3 => 1,
        _ => return None,
    };
    if padding != 0 && padding != expected_padding {
        return None;
    }
    if !base64url::is_url_safe(unpadded) {
        return None;
    }
    base64url::URL_SAFE_LENIENT.decode(unpadded).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extract_bearer() {
        assert_eq!(
            extract_from_header("Bearer abc.def.ghi"),
            Some("abc.def.ghi")
        );
    }

    #[test]
    fn extract_lower_case_missing() {
        assert_eq!(extract_from_header("bearer abc.def.ghi"), None);
    }

    #[test]
    fn extract_keeps_junk() {
        assert_eq!(extract_from_header("Bearer a.b.c .abc"), Some("a.b.c .abc"));
    }

    #[test]
    fn extract_skips_extra_spaces() {
        assert_eq!(extract_from_header("Bearer   a.b.c"), Some("a.b.c"));
    }

    #[test]
    fn extract_nothing_after_prefix() {
        assert_eq!(extract_from_header("Bearer ###"), Some("Bearer ###"));
    }

    #[test]
    fn status_bad_format() {
        assert_eq!(
            jwt_authn_format_status("9f1c2e7a5b8d4c3e"),
            Some(BAD_FORMAT)
        );
    }

    #[test]
    fn status_none_alg() {
        // {"alg":"none"} . {} . (empty): two segments to `jwt_verify_lib`, which skips empty ones.
        assert_eq!(
            jwt_authn_format_status("eyJhbGciOiJub25lIn0.e30."),
            Some(BAD_FORMAT)
        );
        assert_eq!(
            jwt_authn_format_status("eyJhbGciOiJub25lIn0.e30.c2ln"),
            Some("Jwt header [alg] is not supported")
        );
    }

    #[test]
    fn status_empty_segments_skipped() {
        assert_eq!(jwt_authn_format_status("e30..c2ln"), Some(BAD_FORMAT));
        // Four dots with one segment empty are three segments to `jwt_verify_lib`.
        assert_eq!(
            jwt_authn_format_status("eyJhbGciOiJub25lIn0.e30..c2ln"),
            Some("Jwt header [alg] is not supported")
        );
    }

    #[test]
    fn status_padding_exact() {
        // {"alg":"RS256"} is 20 characters unpadded (20 % 4 == 0), so it takes no `=`.
        let header = "eyJhbGciOiJSUzI1NiJ9";
        assert_eq!(
            jwt_authn_format_status(&format!("{header}=.e30.c2ln")),
            Some("Jwt header is an invalid Base64url encoded")
        );
        // `e30` (3 characters) takes exactly one `=`, and `c2ln` none.
        assert_eq!(
            jwt_authn_format_status(&format!("{header}.e30=.c2ln")),
            None
        );
        assert_eq!(
            jwt_authn_format_status(&format!("{header}.e30==.c2ln")),
            Some("Jwt payload is an invalid Base64url encoded")
        );
        assert_eq!(
            jwt_authn_format_status(&format!("{header}.e30.c2ln==")),
            Some("Jwt signature is an invalid Base64url encoded")
        );
    }

    #[test]
    fn status_standard_alphabet_header() {
        assert_eq!(
            jwt_authn_format_status("ab+/.e30.c2ln"),
            Some("Jwt header is an invalid Base64url encoded")
        );
    }

    /// Whitespace in the signed text earns a failure for every key. Whitespace in the signature
    /// segment earns one only when the decoded signature has a length the `alg` never produces.
    #[test]
    fn status_with_whitespace() {
        let engine = &base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let spaced = |alg: &str, length: usize| {
            let signature = engine.encode(vec![7_u8; length]);
            let (left, right) = signature.split_at(8);
            format!(
                "{}.e30.{left} {right}",
                engine.encode(format!(r#"{{"alg":"{alg}"}}"#))
            )
        };
        let cases = [
            ("RS256", 256, None),
            ("PS512", 512, None),
            ("RS256", 259, Some(VERIFICATION_FAILS)),
            ("HS256", 32, None),
            ("HS256", 33, Some(VERIFICATION_FAILS)),
            ("ES256", 64, None),
            ("ES256", 66, None),
            ("ES256", 65, Some(VERIFICATION_FAILS)),
            ("ES512", 130, Some(VERIFICATION_FAILS)),
            ("EdDSA", 64, None),
            ("EdDSA", 66, Some(ED25519_WRONG_LENGTH)),
        ];
        for (alg, length, expected) in cases {
            assert_eq!(
                jwt_authn_format_status(&spaced(alg, length)),
                expected,
                "{alg} {length}"
            );
        }
        let header = engine.encode(r#"{"alg":"RS256"}"#);
        let signature = engine.encode([7_u8; 256]);
        assert_eq!(
            jwt_authn_format_status(&format!("{header}. e30.{signature}")),
            Some(VERIFICATION_FAILS)
        );
        assert_eq!(
            jwt_authn_format_status(&format!("{header}.e30.{signature}")),
            None
        );
    }

    /// Returns a token with `claims` and a placeholder signature, as jwt_authn parses it.
    fn with_claims(claims: &str) -> String {
        let engine = &base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.c2ln",
            engine.encode(r#"{"alg":"RS256"}"#),
            engine.encode(claims)
        )
    }

    /// Asserts the status of a token with each payload text, as [`with_claims`] builds it.
    fn assert_statuses(cases: &[(&str, Option<&str>)]) {
        for (claims, expected) in cases {
            assert_eq!(
                jwt_authn_format_status(&with_claims(claims)),
                *expected,
                "{claims}"
            );
        }
    }

    #[test]
    fn exp_range_like_jwt_verify_lib() {
        let cases = [
            (
                r#"{"exp":1e30}"#,
                Some("Jwt payload [exp] field is not a positive 64 bit integer"),
            ),
            (
                r#"{"exp":18446744073709551615}"#,
                Some("Jwt payload [exp] field is not a positive 64 bit integer"),
            ),
            (
                r#"{"exp":-1}"#,
                Some("Jwt payload [exp] field is not a positive 64 bit integer"),
            ),
            (r#"{"exp":1.8e19}"#, None),
            (r#"{"exp":1741086130.5}"#, None),
        ];
        assert_statuses(&cases);
    }

    #[test]
    fn repeated_members_found_at_any_depth() {
        assert!(protobuf_json_rejects(br#"{"sub":"a","sub":"a"}"#));
        assert!(protobuf_json_rejects(br#"{"a":[{"x":1,"x":2}]}"#));
        assert!(protobuf_json_rejects(br#"{"sub":"a","s\u0075b":"b"}"#));
        assert!(!protobuf_json_rejects(
            br#"{"a":{"x":1},"b":{"x":1},"c":[1,"x",null]}"#
        ));
    }

    #[test]
    fn nesting_limit() {
        let nested = |levels: usize| format!("{}1{}", "[".repeat(levels), "]".repeat(levels));
        let object = |levels: usize| format!(r#"{{"n":{}}}"#, nested(levels - 1));
        assert!(!protobuf_json_rejects(object(100).as_bytes()));
        assert!(protobuf_json_rejects(object(101).as_bytes()));
    }

    #[test]
    fn status_of_non_object_json() {
        let cases = [
            ("null", None),
            (" null ", None),
            ("[]", Some("Jwt payload is an invalid JSON")),
            ("1", Some("Jwt payload is an invalid JSON")),
            (r#""x""#, Some("Jwt payload is an invalid JSON")),
        ];
        assert_statuses(&cases);
    }

    #[test]
    fn status_of_legacy_syntax() {
        let cases = [
            (r#"{"exp":1,}"#, None),
            ("{'iss':'a'}", None),
            ("{exp:1}", None),
            (
                r#"{"iss":1,}"#,
                Some("Jwt payload [iss] field is not a string"),
            ),
            ("{a:1,'a':2}", Some("Jwt payload is an invalid JSON")),
            ("{a:1,,}", Some("Jwt payload is an invalid JSON")),
        ];
        assert_statuses(&cases);
    }
}
