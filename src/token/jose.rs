//! Decoding the segments of a JWS or JWE into the JOSE header and the claims, turning each failure
//! into a problem that names the segment.

use serde_json::Value;

use super::base64url::{Decoded, Segment, decode_segment};
use super::envoy::BAD_FORMAT;
use super::{Problem, TokenKind, plural};

/// The header and claims of a token, as far as they decode.
#[derive(Debug, Default)]
pub(super) struct Decoding {
    pub header: Option<Value>,
    pub claims: Option<Value>,
    pub problems: Vec<Problem>,
}

/// Decodes `token` of the given kind.
pub(super) fn decode(token: &str, kind: TokenKind) -> Decoding {
    let mut decoding = Decoding::default();
    match kind {
        TokenKind::Jws => decode_jws(token, &mut decoding),
        TokenKind::Jwe => decode_jwe(token, &mut decoding),
        TokenKind::Opaque => decode_opaque(token, &mut decoding),
    }
    decoding
}

fn decode_opaque(token: &str, decoding: &mut Decoding) {
    let dots = token.matches('.').count();
    if dots > 0 {
        // Opaque tokens with dots exist, e.g. Google OAuth access tokens (`ya29.` and the rest).
        decoding.problems.push(Problem::error(
            "wrong_segment_count",
            format!(
                "the token has {} separated by {}, but a JWS has 3 segments (2 dots) and a JWE 5 \
                 (4 dots), so idflow reads it as an opaque token; wherever a \
                 RequestAuthentication makes the mesh read it, Envoy's jwt_authn returns 401 \
                 `{BAD_FORMAT}`",
                plural(dots + 1, "segment"),
                plural(dots, "dot")
            ),
        ));
    }
    decoding.problems.push(Problem::note(
        "opaque_token",
        "an opaque token has no header or claims to decode; only its issuer can say what it \
         grants, for example through token introspection",
    ));
}

/// Splits `token` at its dots into segments with their byte offsets.
fn segments(token: &str) -> Vec<(usize, &str)> {
    let mut start = 0;
    token
        .split('.')
        .map(|text| {
            let segment = (start, text);
            start += text.len() + 1;
            segment
        })
        .collect()
}

fn decode_jws(token: &str, decoding: &mut Decoding) {
    let segments = segments(token);
    let [
        (header_start, header),
        (payload_start, payload),
        (signature_start, signature),
    ] = segments[..]
    else {
        return;
    };

    decoding.header = decode_json(
        header,
        Segment::Header,
        header_start,
        &mut decoding.problems,
    );
    decoding.claims = decode_json(
        payload,
        Segment::Payload,
        payload_start,
        &mut decoding.problems,
    );

    let alg = decoding
        .header
        .as_ref()
        .and_then(|header| header.get("alg"));
    match alg {
        None if decoding.header.is_some() => decoding.problems.push(Problem::error(
            "missing_alg",
            "the header has no `alg`; a JWS names its signature algorithm there, and Envoy's \
             jwt_authn returns 401 `Jwt header [alg] field is required and must be a string`",
        )),
        Some(Value::String(alg)) if alg.eq_ignore_ascii_case("none") => {
            decoding.problems.push(Problem::error(
                "alg_none",
                "the header says `alg` `none`: the token is unsigned, so anyone can write one; \
                 no verifier should accept it",
            ));
        }
        _ => {}
    }

    if signature.is_empty() {
        decoding.problems.push(Problem::error(
            "empty_signature",
            "the signature segment is empty, so the token is unsigned and no verifier accepts it",
        ));
    } else {
        check_segment(
            signature,
            Segment::Signature,
            signature_start,
            &mut decoding.problems,
        );
    }
}

fn decode_jwe(token: &str, decoding: &mut Decoding) {
    let segments = segments(token);
    let [(header_start, header), rest @ ..] = &segments[..] else {
        return;
    };
    decoding.header = decode_json(
        header,
        Segment::Header,
        *header_start,
        &mut decoding.problems,
    );

    let others = [
        Segment::EncryptedKey,
        Segment::InitializationVector,
        Segment::Ciphertext,
        Segment::AuthenticationTag,
    ];
    for ((start, text), segment) in rest.iter().zip(others) {
        // Direct key agreement (`dir`, `ECDH-ES`) leaves the encrypted key empty.
        if !(text.is_empty() && segment == Segment::EncryptedKey) {
            check_segment(text, segment, *start, &mut decoding.problems);
        }
    }

    decoding.problems.push(Problem::error(
        "jwe_not_accepted_by_istio",
        "this is an encrypted JWT (JWE); Istio's RequestAuthentication accepts only signed JWTs \
         (JWS), so the mesh rejects it with 401",
    ));
    decoding.problems.push(Problem::note(
        "jwe_claims_encrypted",
        "the claims are encrypted; decrypting them needs the recipient's private key, so only the \
         protected header is shown",
    ));
}

/// Decodes a segment that must hold a JSON object.
fn decode_json(
    text: &str,
    segment: Segment,
    start: usize,
    problems: &mut Vec<Problem>,
) -> Option<Value> {
    let decoded = check_segment(text, segment, start, problems)?;
    let name = segment.name();
    let code = segment.code();

    let json_text = match std::str::from_utf8(&decoded.bytes) {
        Ok(json_text) => json_text,
        Err(error) => {
            problems.push(Problem::error(
                &format!("{code}_invalid_utf8"),
                format!(
                    "the {name} is not UTF-8 text: invalid byte at offset {} of the decoded bytes",
                    error.valid_up_to()
                ),
            ));
            return None;
        }
    };
    let value: Value = match serde_json::from_str(json_text) {
        Ok(value) => value,
        Err(error) => {
            problems.push(Problem::error(
                &format!("{code}_invalid_json"),
                format!(
                    "the {name} is not valid JSON: {} at line {}, column {}",
                    json_error_text(&error),
                    error.line(),
                    error.column()
                ),
            ));
            return None;
        }
    };
    if !value.is_object() {
        problems.push(Problem::error(
            &format!("{code}_not_object"),
            format!(
                "the {name} is the JSON {}, but it must be a JSON object ({{…}})",
                json_type(&value)
            ),
        ));
        return None;
    }
    Some(value)
}

/// Decodes one segment, recording problems for failures and for non-canonical encodings.
fn check_segment(
    text: &str,
    segment: Segment,
    start: usize,
    problems: &mut Vec<Problem>,
) -> Option<Decoded> {
    let name = segment.name();
    let code = segment.code();
    let decoded = match decode_segment(text, segment, start) {
        Ok(decoded) => decoded,
        Err(error) => {
            let code = format!("{}_invalid_base64url", error.segment().code());
            problems.push(Problem::error(
                &code,
                format!("{error}; check that it was copied whole"),
            ));
            return None;
        }
    };

    if decoded.standard_alphabet {
        problems.push(Problem::error(
            &format!("{code}_standard_base64"),
            format!(
                "the {name} segment uses '+' or '/' from standard base64 instead of base64url \
                 ('-' and '_'); idflow decoded it anyway, but JWT libraries and Envoy reject it"
            ),
        ));
    }
    if decoded.padded {
        problems.push(Problem::warning(
            &format!("{code}_padded"),
            format!(
                "the {name} segment ends in '=' padding, which JOSE base64url omits \
                 (non-canonical); idflow decoded it anyway, but some JWT libraries reject it"
            ),
        ));
    }
    if decoded.nonzero_trailing_bits {
        problems.push(Problem::note(
            &format!("{code}_noncanonical"),
            format!(
                "the last character of the {name} segment has unused bits that are not zero \
                 (non-canonical base64url); most decoders ignore them"
            ),
        ));
    }
    Some(decoded)
}

/// Returns `serde_json`'s message without its own ` at line L column C` suffix.
fn json_error_text(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(position) => text[..position].to_owned(),
        None => text,
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_offsets() {
        assert_eq!(segments("ab.c.def"), [(0, "ab"), (3, "c"), (5, "def")]);
    }

    #[test]
    fn json_error_line_column() {
        let mut problems = Vec::new();
        // `{"a":` in base64url
        let value = decode_json("eyJhIjo", Segment::Header, 0, &mut problems);
        assert!(value.is_none());
        assert_eq!(
            problems[0].message,
            "the header is not valid JSON: EOF while parsing a value at line 1, column 5"
        );
    }
}
