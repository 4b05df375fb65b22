//! Tokens: finding a token in pasted text, telling JWS, JWE and opaque tokens apart, decoding
//! header and claims with errors that name the segment, and reading `exp`/`nbf`/`iat` as times.
//!
//! Everything here is plain Rust: text and a clock in, values out.

mod base64url;
mod configured;
mod curl;
mod curl_options;
mod envoy;
pub mod fetch;
mod find;
mod httpie;
mod jose;
pub mod jwks;
pub mod keys;
mod nested;
mod pasted;
mod protobuf_json;
mod request;
mod response;
mod shell;
pub mod size;
mod times;
pub mod verify;

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::mesh::jwt::config::JwtProvider;

pub use curl::CurlRequest;
pub use envoy::{extract_from_header, jwt_authn_format_status};
pub(crate) use find::{CREDENTIAL_SCHEMES, TOKEN_SCHEMES};
pub use request::{pasted_request, sent_request};
pub use times::relative_phrase;
pub use verify::Signed;

/// What kind of token the input holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// A signed JWT: three base64url segments separated by two dots, or by more dots around empty
    /// segments, which Envoy skips.
    Jws,
    /// An encrypted JWT: five base64url segments separated by four dots.
    Jwe,
    /// One word of the RFC 6750 `b64token` alphabet that is neither (no dot, usually).
    Opaque,
}

/// A token found in pasted text and decoded as far as its kind allows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Inspection {
    pub kind: TokenKind,
    /// How the token was found, e.g. `Authorization header, Bearer scheme` or `bare token`.
    pub found_as: String,
    /// Name of the header the token was found in (lower case), when the input was a header line.
    pub header_name: Option<String>,
    /// Name of the query parameter the token was found in, when the input was a URL or a curl
    /// command.
    #[serde(skip)]
    pub query_parameter: Option<String>,
    /// Name of the cookie the token was found in, for a `Cookie` or `Set-Cookie` header.
    #[serde(skip)]
    pub cookie_name: Option<String>,
    /// The authorization scheme exactly as written (`Bearer`, `bearer`, `Token` …), when there was
    /// one.
    pub scheme: Option<String>,
    /// The decoded JOSE header, when it decodes.
    pub header: Option<serde_json::Value>,
    /// The decoded claims (JWS only), when they decode.
    pub claims: Option<serde_json::Value>,
    /// `exp`, `nbf` and `iat` as times, in that order, for those present as numbers.
    pub times: Vec<TimeClaim>,
    /// Problems found while decoding, worst first.
    pub problems: Vec<Problem>,
    /// `sha256:` and the first 16 hex digits of the SHA-256 of the token: compares tokens without
    /// storing them. A signature split by whitespace is hashed as Envoy reads it, without the
    /// whitespace.
    pub fingerprint: String,
    /// Length of the encoded token in bytes, counted as the fingerprint hashes it.
    pub encoded_len: usize,
    /// The token itself; never serialized and redacted in `Debug`.
    #[serde(skip)]
    pub token: SecretToken,
    /// Envoy's `jwt_authn` reading of the token. It is never serialized and is redacted in
    /// `Debug`.
    #[serde(skip)]
    pub jwt_authn: JwtAuthnReading,
    /// The `jwt_authn` status for the value as sent, when Envoy reads other text from it than
    /// `token` (the token with characters around it, which fail its format checks).
    #[serde(skip)]
    pub mesh_reads_other: Option<&'static str>,
    /// Whether the token came in an `Authorization` value without the `Bearer ` prefix, where
    /// Envoy's `jwt_authn` finds no token.
    #[serde(skip)]
    pub mesh_finds_no_token: bool,
    /// The 401 status Envoy's `jwt_authn` returns for the value as sent when its format checks
    /// fail, whether it reads the token alone or with characters around it.
    #[serde(skip)]
    pub mesh_format_status: Option<&'static str>,
    /// The token Envoy's `jwt_authn` reads from the value as sent when whitespace splits its
    /// signature segment, decoded with the whitespace removed. Only keys tell whether Envoy
    /// accepts it, so a signature check picks between it and this inspection.
    #[serde(skip)]
    pub as_sent: Option<Box<Inspection>>,
    /// The token that is the payload of this JWS when its header says `cty` `JWT`, decoded one
    /// level down: a JWS or JWE whose own nested token is named in a problem but not decoded.
    #[serde(skip)]
    pub nested: Option<Box<Inspection>>,
}

/// Returns whether `problems` include the 400 that Envoy's HTTP/1 codec returns for the request
/// before any filter, jwt_authn included, runs.
pub(crate) fn codec_rejects(problems: &[Problem]) -> bool {
    problems
        .iter()
        .any(|problem| problem.code == "codec_rejects_request")
}

impl Inspection {
    /// Returns the `alg` header parameter when it is a string.
    pub fn alg(&self) -> Option<&str> {
        self.header_str("alg")
    }

    /// Returns the `kid` header parameter when it is a string.
    pub fn kid(&self) -> Option<&str> {
        self.header_str("kid")
    }

    fn header_str(&self, name: &str) -> Option<&str> {
        self.header.as_ref()?.get(name)?.as_str()
    }

    /// Returns the encoded signature segment of a JWS, which is as secret as the token.
    pub fn signature_segment(&self) -> Option<&str> {
        if self.kind != TokenKind::Jws {
            return None;
        }
        let token = self.token.expose();
        envoy::split_jws(token)
            .map(|(_, _, signature)| signature)
            .or_else(|| token.rsplit('.').next())
    }

    /// Returns true when a problem makes the token invalid, as [`Problem::invalidates`] decides.
    pub fn is_invalid(&self) -> bool {
        self.problems.iter().any(Problem::invalidates)
    }

    /// Returns the parts of the token that a signature check reads, as Envoy's `jwt_authn` reads
    /// them, or the status text of the first format check that fails.
    pub fn signed(&self) -> Result<Signed<'_>, &'static str> {
        let signature = self
            .jwt_authn
            .signature
            .as_deref()
            .map_err(|status| *status)?;
        let token = self.token.expose();
        // The format checks passed, so the token has three non-empty segments.
        let signing_input = match &self.jwt_authn.joined_input {
            Some(joined) => joined.as_str(),
            None => token.rsplit_once('.').map_or(token, |(input, _)| input),
        };
        Ok(Signed {
            alg: self.alg().unwrap_or_default(),
            kid: self.kid().unwrap_or_default(),
            signing_input,
            signing_sha256: self.jwt_authn.signing_sha256.as_ref(),
            signature,
        })
    }
}

/// Envoy's reading of a token: the decoded signature when `jwt_verify_lib`'s format checks pass,
/// or the status text of the first check that fails. The signature is as secret as the token, so
/// `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct JwtAuthnReading {
    signature: Result<Vec<u8>, &'static str>,
    /// The signed bytes `header.payload` when the token has more than two dots, because then they
    /// are not the text before its last dot.
    joined_input: Option<String>,
    /// The SHA-256 of the signed bytes when they are the text before the last dot, hashed with
    /// the fingerprint, so that an RS256 or PS256 check does not hash them again.
    signing_sha256: Option<[u8; 32]>,
}

impl JwtAuthnReading {
    fn new(token: &str, signature: Result<Vec<u8>, &'static str>) -> Self {
        let joined_input = match (&signature, count_dots(token)) {
            (Ok(_), 3..) => {
                envoy::split_jws(token).map(|(header, payload, _)| format!("{header}.{payload}"))
            }
            _ => None,
        };
        Self {
            signature,
            joined_input,
            signing_sha256: None,
        }
    }

    /// Builds Envoy's reading of `token` from its decoded `signature`, and returns it with the
    /// token's fingerprint. The signed bytes are hashed on the way, for an RS256 or PS256 check.
    fn with_fingerprint(token: &str, signature: Result<Vec<u8>, &'static str>) -> (Self, String) {
        let mut reading = Self::new(token, signature);
        let (fingerprint, signing_sha256) = hash_token(token, reading.signed_prefix_len(token));
        reading.signing_sha256 = signing_sha256;
        (reading, fingerprint)
    }

    /// Returns the length of the signed bytes of `token` when they are the text before its last
    /// dot and the format checks passed.
    fn signed_prefix_len(&self, token: &str) -> Option<usize> {
        if self.signature.is_err() || self.joined_input.is_some() {
            return None;
        }
        token.rfind('.')
    }
}

impl Default for JwtAuthnReading {
    fn default() -> Self {
        Self {
            signature: Err(envoy::BAD_FORMAT),
            joined_input: None,
            signing_sha256: None,
        }
    }
}

impl fmt::Debug for JwtAuthnReading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.signature {
            Ok(signature) => write!(f, "Signature({} bytes, redacted)", signature.len()),
            Err(status) => write!(f, "FormatStatus({status:?})"),
        }
    }
}

/// A bearer token kept out of `Debug` output and serialization, so that logging an inspection does
/// not leak it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretToken(String);

impl SecretToken {
    /// Returns the token; callers show it only when the user asked for secrets.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretToken({} bytes, redacted)", self.0.len())
    }
}

/// One of `exp`, `nbf`, `iat`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimeClaim {
    pub claim: String,
    /// RFC 3339 in UTC.
    pub time: String,
    /// Seconds from the reference time to this time; negative when it is in the past.
    pub relative_seconds: i64,
}

/// Weight of a problem: `error` means the mesh or a standard verifier rejects or ignores the token,
/// `warning` that some verifiers may, `note` that nothing rejects it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
    Note,
}

/// A problem with a token, in the `{code, message}` shape of the `decode` JSON contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Stable `snake_case` identifier for scripts.
    pub code: String,
    /// Plain-words explanation, including what Envoy or Istio does with the token.
    pub message: String,
    pub severity: Severity,
}

impl Problem {
    pub(crate) fn new(severity: Severity, code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
            severity,
        }
    }

    pub(crate) fn error(code: &str, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, code, message)
    }

    pub(crate) fn warning(code: &str, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, code, message)
    }

    pub(crate) fn note(code: &str, message: impl Into<String>) -> Self {
        Self::new(Severity::Note, code, message)
    }

    /// Returns true when this problem makes the token invalid, which `idflow decode` reports with
    /// exit status 1. Every problem of error severity does, because the mesh or a standard
    /// verifier rejects the token, or the mesh never reads it (a scheme problem). `expired` and
    /// `not_yet_valid` do at any severity: inside Envoy's 60 s clock skew they are warnings and
    /// the mesh still accepts the token, but RFC 7519 verifiers without skew reject it. Other
    /// warnings and notes leave the token valid.
    pub fn invalidates(&self) -> bool {
        self.severity == Severity::Error
            || matches!(self.code.as_str(), "expired" | "not_yet_valid")
    }
}

/// Errors for input that holds no token at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error(
        "no token found: the input is empty; paste a JWT, a `Bearer …` value, an `Authorization:` line or a curl command"
    )]
    Empty,
    #[error("no token found in {input}: {reason}")]
    NotAToken {
        /// The input described by its shape (how it was given, header name, scheme word, length),
        /// never by its text, which may hold a password or a key.
        input: String,
        /// Why the input contains no token and what was expected, in words that repeat none of it.
        reason: String,
    },
}

/// Finds a token in pasted text and decodes it, with times relative to `now`.
pub fn inspect(text: &str, now: DateTime<Utc>) -> Result<Inspection, TokenError> {
    Ok(inspect_found(find::find_token(text)?, now))
}

/// Finds a token in pasted text as [`inspect`] does, but reads it at the locations of
/// `providers` (the `jwtRules` that cover a workload) as Envoy's `jwt_authn` reads them. The
/// default reading applies when Envoy reads no token there outside Istio's default locations.
pub fn inspect_at(
    text: &str,
    now: DateTime<Utc>,
    providers: &[&JwtProvider],
) -> Result<Inspection, TokenError> {
    Ok(inspect_found(find::find_token_at(text, providers)?, now))
}

/// Decodes the token `found`, with times relative to `now`.
fn inspect_found(found: find::Found, now: DateTime<Utc>) -> Inspection {
    let as_sent = find::as_sent(&found).map(|joined| Box::new(inspect_found(joined, now)));
    let mut problems = found.problems;
    let mut decoded = jose::decode(&found.text, found.kind);
    let mesh_format_status = match &found.mesh_reading {
        find::MeshReading::Token => {
            let checks = decoded
                .jwt_authn
                .as_ref()
                .map(drop)
                .map_err(|status| *status);
            let status = envoy::format_status(&found.text, checks);
            problems.extend(find::format_problem(status));
            status
        }
        find::MeshReading::Other(status) => Some(*status),
        find::MeshReading::Spaced(_) => {
            problems.push(find::keys_decide_problem());
            None
        }
        find::MeshReading::Missing | find::MeshReading::Nothing => None,
    };
    let nested = unwrap_nested(&found.text, found.kind, &mut decoded, now, true);
    problems.extend(decoded.problems);
    problems.extend(request::other_token_problems(
        &found.others,
        &found.text,
        now,
    ));
    problems.extend(size::header_size_problems(
        found.text.len(),
        found.header_name.as_deref(),
        found.scheme.as_deref(),
    ));

    // A request the HTTP/1 codec rejects never reaches jwt_authn, so no jwt_authn status is
    // named for it.
    let codec_rejected = codec_rejects(&problems);
    if codec_rejected {
        problems.retain(|problem| problem.code != "mesh_rejects_format");
    }
    let times = read_claim_times(decoded.claims.as_ref(), now, &mut problems);
    let (jwt_authn, mut fingerprint) =
        JwtAuthnReading::with_fingerprint(&found.text, decoded.jwt_authn);
    let mut encoded_len = found.text.len();
    // The fingerprint and size identify the token as Envoy's jwt_authn reads it, which is the
    // whole value with the whitespace in its signature skipped, whether or not keys verify it.
    // So a split signature gets the same fingerprint with keys as without.
    if let Some(joined) = &as_sent {
        fingerprint.clone_from(&joined.fingerprint);
        encoded_len = joined.encoded_len;
    }
    Inspection {
        kind: found.kind,
        found_as: found.location,
        header_name: found.header_name,
        query_parameter: found.query_parameter,
        cookie_name: found.cookie_name,
        scheme: found.scheme,
        header: decoded.header,
        claims: decoded.claims,
        times,
        problems,
        fingerprint,
        encoded_len,
        jwt_authn,
        token: SecretToken(found.text),
        mesh_reads_other: match found.mesh_reading {
            find::MeshReading::Other(status) if !codec_rejected => Some(status),
            find::MeshReading::Other(_)
            | find::MeshReading::Token
            | find::MeshReading::Spaced(_)
            | find::MeshReading::Missing
            | find::MeshReading::Nothing => None,
        },
        mesh_finds_no_token: found.mesh_reading == find::MeshReading::Missing,
        mesh_format_status: mesh_format_status.filter(|_| !codec_rejected),
        as_sent,
        nested,
    }
}

/// Decodes the nested token in the payload of the JWS `token` when its header says `cty` `JWT`
/// ([`nested`]), and replaces the payload's `payload_invalid_json` problem in `decoded` with one
/// that names the nested JWT. With `decode_inner` false, the nested token is only named.
fn unwrap_nested(
    token: &str,
    kind: TokenKind,
    decoded: &mut jose::Decoding,
    now: DateTime<Utc>,
    decode_inner: bool,
) -> Option<Box<Inspection>> {
    if kind != TokenKind::Jws || !nested::marks_nested(decoded.header.as_ref()) {
        return None;
    }
    if decoded.claims.is_some() {
        decoded.problems.push(nested::json_payload_note());
        return None;
    }
    let (text, inner_kind) = nested::payload_token(token)?;
    decoded
        .problems
        .retain(|problem| problem.code != "payload_invalid_json");
    if !decode_inner {
        decoded.problems.push(nested::too_deep_problem(inner_kind));
        return None;
    }
    decoded.problems.push(nested::outer_problem(inner_kind));
    Some(Box::new(inspect_nested(text, inner_kind, now)))
}

/// Decodes `text`, the nested token of kind `kind` in an outer JWS's payload. Its own nested
/// token, if any, is named in a problem but not decoded.
fn inspect_nested(text: String, kind: TokenKind, now: DateTime<Utc>) -> Inspection {
    let mut decoded = jose::decode(&text, kind);
    unwrap_nested(&text, kind, &mut decoded, now, false);
    let mut problems = decoded.problems;
    let times = read_claim_times(decoded.claims.as_ref(), now, &mut problems);
    let (jwt_authn, fingerprint) = JwtAuthnReading::with_fingerprint(&text, decoded.jwt_authn);
    Inspection {
        kind,
        found_as: "payload of the outer JWS (cty JWT)".to_owned(),
        header_name: None,
        query_parameter: None,
        cookie_name: None,
        scheme: None,
        header: decoded.header,
        claims: decoded.claims,
        times,
        problems,
        fingerprint,
        encoded_len: text.len(),
        jwt_authn,
        token: SecretToken(text),
        mesh_reads_other: None,
        mesh_finds_no_token: false,
        mesh_format_status: None,
        as_sent: None,
        nested: None,
    }
}

/// Reads `exp`, `nbf` and `iat` from `claims` as times relative to `now`, adds their problems to
/// `problems` and sorts those worst first.
fn read_claim_times(
    claims: Option<&serde_json::Value>,
    now: DateTime<Utc>,
    problems: &mut Vec<Problem>,
) -> Vec<TimeClaim> {
    let (times, time_problems) = match claims {
        Some(claims) => times::read_times(claims, now),
        None => (Vec::new(), Vec::new()),
    };
    problems.extend(time_problems);
    problems.sort_by_key(|problem| problem.severity);
    times
}

/// Returns `sha256:` and the first 16 hex digits of the SHA-256 of `token`.
///
/// aws-lc computes it because it reads the CPU's features when the binary loads. The `sha2` crate
/// would read them again with CPUID instructions, which cost about 11 µs each in a virtual machine
/// (measured on a 2-vCPU Xeon guest).
pub fn fingerprint(token: &str) -> String {
    hash_token(token, None).0
}

/// Returns the fingerprint of `token` and, for `Some(length)`, the SHA-256 of its first `length`
/// bytes, taken on the way.
fn hash_token(token: &str, prefix_len: Option<usize>) -> (String, Option<[u8; 32]>) {
    const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut rest = token.as_bytes();
    let prefix_sha256 = prefix_len.and_then(|length| {
        let (prefix, after) = token.as_bytes().split_at_checked(length)?;
        context.update(prefix);
        rest = after;
        context.clone().finish().as_ref().try_into().ok()
    });
    context.update(rest);
    let digest = context.finish();
    let mut text = String::with_capacity(23);
    text.push_str("sha256:");
    for byte in digest.as_ref().iter().take(8) {
        text.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
    }
    (text, prefix_sha256)
}

/// Returns how many dots `text` contains. Counting in bytes, up to 255 at a time, lets the compiler
/// compare many bytes an instruction: callgrind counted far fewer instructions on a 600-byte token
/// than for a search for each dot.
pub(super) fn count_dots(text: &str) -> usize {
    text.as_bytes()
        .chunks(usize::from(u8::MAX))
        .map(|chunk| {
            let dots = chunk
                .iter()
                .fold(0_u8, |dots, &byte| dots + u8::from(byte == b'.'));
            usize::from(dots)
        })
        .sum()
}

/// Returns `count` and `noun`, with an `s` unless `count` is 1: `1 dot`, `3 dots`.
pub(crate) fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("{count} {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// Quotes `text` for a message as `{:?}` does, cut to 40 characters so that no whole token lands
/// in an error.
pub(crate) fn quote_truncated(text: &str) -> String {
    const MAX_CHARS: usize = 40;
    let end = text
        .char_indices()
        .nth(MAX_CHARS)
        .map_or(text.len(), |(index, _)| index);
    let (kept, cut) = (&text[..end], end < text.len());
    // `{:?}` writes printable ASCII other than `"` and `\` as it is, and a `kid` or an issuer
    // is usually such text, so only other text pays for the escaping.
    if kept
        .bytes()
        .all(|byte| matches!(byte, b' '..=b'~') && byte != b'"' && byte != b'\\')
    {
        let mut quoted = String::with_capacity(kept.len() + 5);
        quoted.push('"');
        quoted.push_str(kept);
        if cut {
            quoted.push('…');
        }
        quoted.push('"');
        return quoted;
    }
    let mut quoted = kept.to_owned();
    if cut {
        quoted.push('…');
    }
    format!("{quoted:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_dots_past_one_chunk() {
        for length in [0, 1, 254, 255, 256, 600, 1000] {
            let dots = ".".repeat(length);
            assert_eq!(count_dots(&dots), length);
            let mixed = "a.b".repeat(length);
            assert_eq!(count_dots(&mixed), length);
        }
    }

    #[test]
    fn hash_token_prefix_digest() {
        let token = "header.payload.signature";
        let (fingerprint_text, prefix) = hash_token(token, Some(14));
        assert_eq!(fingerprint_text, fingerprint(token));
        let expected = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"header.payload");
        assert_eq!(
            prefix.as_ref().map(<[u8; 32]>::as_slice),
            Some(expected.as_ref())
        );
        assert_eq!(hash_token(token, Some(99)).1, None);
        assert_eq!(hash_token(token, None).1, None);
    }

    #[test]
    fn fingerprint_sha256_prefix() {
        // SHA-256("abc") is ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad.
        assert_eq!(fingerprint("abc"), "sha256:ba7816bf8f01cfea");
    }

    #[test]
    fn quote_truncated_escapes_like_debug() {
        let forty = "k".repeat(40);
        let cases = [
            ("kid-1".to_owned(), r#""kid-1""#.to_owned()),
            (r#"say "hi""#.to_owned(), r#""say \"hi\"""#.to_owned()),
            (r"back\slash".to_owned(), r#""back\\slash""#.to_owned()),
            ("tab\there".to_owned(), r#""tab\there""#.to_owned()),
            ("é and ü".to_owned(), r#""é and ü""#.to_owned()),
            (forty.clone(), format!("\"{forty}\"")),
            (format!("{forty}k"), format!("\"{forty}…\"")),
            (
                format!("{}\u{7}more", "k".repeat(39)),
                format!("\"{}\\u{{7}}…\"", "k".repeat(39)),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(quote_truncated(&text), expected, "{text:?}");
        }
    }
}
