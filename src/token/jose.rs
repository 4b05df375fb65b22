//! Decoding the segments of a JWS or JWE into the JOSE header and the claims, turning each failure
//! into a problem that names the segment.

use serde_json::{Map, Value};

use super::base64url::{Decoded, Segment, SegmentError, decode_segment};
use super::envoy::{self, BAD_FORMAT, SegmentRead};
use super::protobuf_json;
use super::{Problem, TokenKind, count_dots, plural};

/// The header and claims of a token, as far as they decode.
#[derive(Debug)]
pub(super) struct Decoding {
    pub header: Option<Value>,
    pub claims: Option<Value>,
    pub problems: Vec<Problem>,
    /// Envoy's `jwt_authn` reading of the token: the decoded signature when `jwt_verify_lib`'s
    /// format checks pass, or the status text of the first check that fails.
    pub jwt_authn: Result<Vec<u8>, &'static str>,
}

/// Decodes `token` of the given kind.
pub(super) fn decode(token: &str, kind: TokenKind) -> Decoding {
    let mut decoding = Decoding {
        header: None,
        claims: None,
        problems: Vec::new(),
        jwt_authn: Err(BAD_FORMAT),
    };
    match kind {
        TokenKind::Jws => {
            let dots = count_dots(token);
            decoding.problems.extend(empty_segments_problem(dots));
            decode_jws(token, dots, &mut decoding);
        }
        // `jwt_verify_lib` skips empty segments, so text with more dots (`a.b..c`) can still be
        // three segments to it.
        TokenKind::Jwe => {
            decode_jwe(token, count_dots(token), &mut decoding);
            decoding.jwt_authn = envoy::read_parts(token).map(|parts| parts.signature);
        }
        TokenKind::Opaque => {
            decode_opaque(token, &mut decoding);
            decoding.jwt_authn = envoy::read_parts(token).map(|parts| parts.signature);
        }
    }
    decoding
}

fn decode_opaque(token: &str, decoding: &mut Decoding) {
    let dots = count_dots(token);
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

/// Splits `token`, which contains `dots` dots, into segments with their byte offsets. With more than
/// two dots, empty segments are left out, as `jwt_verify_lib` splits.
fn segments(token: &str, dots: usize) -> Vec<(usize, &str)> {
    let skip_empty = dots > 2;
    let mut start = 0;
    token
        .split('.')
        .filter_map(|text| {
            let segment = (start, text);
            start += text.len() + 1;
            (!(skip_empty && text.is_empty())).then_some(segment)
        })
        .collect()
}

/// Returns the warning for a JWS with `dots` dots when there are more than two, because Envoy
/// skips the empty segments between them.
fn empty_segments_problem(dots: usize) -> Option<Problem> {
    (dots > 2).then(|| {
        Problem::warning(
            "empty_segments",
            format!(
                "the token has {} where a JWS has 2, with empty segments between them; Envoy's \
                 jwt_authn skips empty segments and reads the three others, but most JWT \
                 libraries, Akamai's JWT EdgeWorker module among them, reject the token. Remove \
                 the extra dots",
                plural(dots, "dot")
            ),
        )
    })
}

fn decode_jws(token: &str, dots: usize, decoding: &mut Decoding) {
    let [
        (header_start, header),
        (payload_start, payload),
        (signature_start, signature),
    ] = segments(token, dots)[..]
    else {
        decoding.jwt_authn = envoy::read_parts(token).map(|parts| parts.signature);
        return;
    };

    let problems = &mut decoding.problems;
    let (header_segment, header_value, header_rejected) =
        read_object(header, Segment::Header, header_start, problems);
    let (payload_segment, claims, payload_rejected) =
        read_object(payload, Segment::Payload, payload_start, problems);
    (decoding.header, decoding.claims) = (header_value, claims);

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

    let signature_segment = if signature.is_empty() {
        decoding.problems.push(Problem::error(
            "empty_signature",
            "the signature segment is empty, so the token is unsigned and no verifier accepts it",
        ));
        Err(SegmentError::Empty {
            segment: Segment::Signature,
        })
    } else {
        check_segment(
            signature,
            Segment::Signature,
            signature_start,
            &mut decoding.problems,
        )
    };

    let unusual = |text: &str| text.is_empty() || text.ends_with('=');
    decoding.jwt_authn = if envoy::has_ascii_whitespace(token)
        || [header, payload, signature].into_iter().any(unusual)
        || decoding.header.is_none()
        || decoding.claims.is_none()
    {
        // Abseil's decoder skips whitespace, which `decode_segment` rejects, and Envoy's rules for
        // empty segments and padding are stricter than the display's, so only Envoy's own reading
        // of the text is right here. The same is true for a segment that is no JSON object here,
        // because Envoy reads the JSON `null` as an empty object.
        envoy::read_parts(token).map(|parts| parts.signature)
    } else {
        envoy::check_format(
            jwt_authn_object(&header_segment, decoding.header.as_ref(), header_rejected),
            jwt_authn_object(&payload_segment, decoding.claims.as_ref(), payload_rejected),
            jwt_authn_bytes(signature_segment),
        )
        .map(|(_, _, signature)| signature)
    };
    push_protobuf_rejection(decoding);
}

/// Explains why Envoy finds the header or payload invalid JSON when it decoded to an object here:
/// it nests too deep or repeats a member.
fn push_protobuf_rejection(decoding: &mut Decoding) {
    for (segment, value, status) in [
        ("header", &decoding.header, "Jwt header is an invalid JSON"),
        (
            "payload",
            &decoding.claims,
            "Jwt payload is an invalid JSON",
        ),
    ] {
        let Some(value) = value.as_ref().filter(|value| value.is_object()) else {
            continue;
        };
        if decoding.jwt_authn != Err(status) {
            continue;
        }
        let depth = json_depth(value);
        let problem = if depth > envoy::MAX_JSON_DEPTH {
            Problem::error(
                "json_too_deep",
                format!(
                    "the {segment} nests objects and arrays {depth} levels deep, but \
                     Envoy's jwt_authn reads it with protobuf's JSON parser, which stops at {} \
                     levels, so it rejects the token with 401 `{status}`",
                    envoy::MAX_JSON_DEPTH
                ),
            )
        } else {
            Problem::error(
                "repeated_member",
                format!(
                    "the {segment} repeats a member name: idflow shows the last value, as most \
                     JSON libraries keep it, but Envoy's jwt_authn rejects the token with 401 \
                     `{status}`"
                ),
            )
        };
        decoding.problems.push(problem);
    }
}

/// Returns how many objects and arrays nest in `value`, itself included.
fn json_depth(value: &Value) -> u32 {
    let deepest = |values: &mut dyn Iterator<Item = &Value>| values.map(json_depth).max();
    match value {
        Value::Array(items) => 1 + deepest(&mut items.iter()).unwrap_or(0),
        Value::Object(members) => 1 + deepest(&mut members.values()).unwrap_or(0),
        _ => 0,
    }
}

/// Returns how `jwt_verify_lib` reads a header or payload segment that decoded here as `segment`,
/// with `value` its JSON object and `rejected` whether protobuf's JSON parser rejects its text.
/// Abseil's decoder, which it uses, reads the same bytes from a non-empty segment without
/// whitespace or padding, except that it rejects the standard base64 alphabet.
fn jwt_authn_object<'a>(
    segment: &Result<Decoded, SegmentError>,
    value: Option<&'a Value>,
    rejected: bool,
) -> SegmentRead<&'a Map<String, Value>> {
    match (segment, value) {
        (Ok(decoded), _) if decoded.standard_alphabet => SegmentRead::InvalidBase64,
        (Ok(_), Some(Value::Object(object))) if !rejected => SegmentRead::Object(object),
        (Ok(_), _) => SegmentRead::InvalidJson,
        (Err(_), _) => SegmentRead::InvalidBase64,
    }
}

/// Returns the bytes Abseil's decoder reads from the signature segment that decoded here as
/// `segment`, or `None` when it rejects the segment, as [`jwt_authn_object`] explains.
fn jwt_authn_bytes(segment: Result<Decoded, SegmentError>) -> Option<Vec<u8>> {
    match segment {
        Ok(decoded) if decoded.standard_alphabet => None,
        Ok(decoded) => Some(decoded.bytes),
        Err(_) => None,
    }
}

fn decode_jwe(token: &str, dots: usize, decoding: &mut Decoding) {
    let segments = segments(token, dots);
    let [(header_start, header), rest @ ..] = &segments[..] else {
        return;
    };
    let header_segment = check_segment(
        header,
        Segment::Header,
        *header_start,
        &mut decoding.problems,
    );
    decoding.header = decode_json(&header_segment, Segment::Header, &mut decoding.problems)
        .map(|(value, _)| value);

    let others = [
        Segment::EncryptedKey,
        Segment::InitializationVector,
        Segment::Ciphertext,
        Segment::AuthenticationTag,
    ];
    for ((start, text), segment) in rest.iter().zip(others) {
        // Direct key agreement (`dir`, `ECDH-ES`) leaves the encrypted key empty.
        if !(text.is_empty() && segment == Segment::EncryptedKey) {
            let _ = check_segment(text, segment, *start, &mut decoding.problems);
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

/// Decodes the header or payload segment `text`, which starts at byte `start`, and reads its JSON
/// object. Returns the decoded bytes, the object, and whether protobuf's JSON parser rejects it.
fn read_object(
    text: &str,
    segment: Segment,
    start: usize,
    problems: &mut Vec<Problem>,
) -> (Result<Decoded, SegmentError>, Option<Value>, bool) {
    let decoded = check_segment(text, segment, start, problems);
    let (value, rejected) = decode_json(&decoded, segment, problems)
        .map_or((None, false), |(value, rejected)| (Some(value), rejected));
    (decoded, value, rejected)
}

/// Reads a decoded segment that must hold a JSON object, in protobuf's JSON syntax
/// ([`protobuf_json::read`]). Returns the object and whether protobuf's JSON parser rejects its
/// text ([`envoy::parse_json`]).
fn decode_json(
    decoded: &Result<Decoded, SegmentError>,
    segment: Segment,
    problems: &mut Vec<Problem>,
) -> Option<(Value, bool)> {
    let decoded = decoded.as_ref().ok()?;
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
    let read = match protobuf_json::read(json_text) {
        Ok(read) => read,
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
    if let Some(leniency) = read.lenient {
        problems.push(Problem::warning(
            &format!("{code}_not_strict_json"),
            format!(
                "the {name} is not strict JSON: it has {leniency}. Envoy's jwt_authn reads it \
                 with protobuf's JSON parser, which accepts that, but most JWT libraries and \
                 JSON.parse in an Akamai EdgeWorker reject the token"
            ),
        ));
    }
    if !read.value.is_object() {
        // An empty payload has no `iss`, and every jwtRules entry names an issuer.
        let envoy_reading = match segment {
            Segment::Payload if read.value.is_null() => {
                ". Envoy's jwt_authn reads `null` as an empty object, which has no `iss`, so it \
                 returns 401 `Jwt issuer is not configured` (response code details \
                 `jwt_authn_access_denied{Jwt_issuer_is_not_configured}`) on every workload that \
                 a RequestAuthentication selects"
            }
            _ if read.value.is_null() => ". Envoy's jwt_authn reads `null` as an empty object",
            _ => "",
        };
        problems.push(Problem::error(
            &format!("{code}_not_object"),
            format!(
                "the {name} is the JSON {}, but it must be a JSON object ({{…}}){envoy_reading}",
                json_type(&read.value)
            ),
        ));
        return None;
    }
    Some((read.value, read.rejected))
}

/// Decodes one segment, recording problems for failures and for non-canonical encodings.
fn check_segment(
    text: &str,
    segment: Segment,
    start: usize,
    problems: &mut Vec<Problem>,
) -> Result<Decoded, SegmentError> {
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
            return Err(error);
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
    Ok(decoded)
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
    fn jwt_authn_reading_matches_envoy() {
        use base64::Engine as _;
        use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};

        let url = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        let header = url(br#"{"alg":"RS256","kid":"k1"}"#);
        let claims = url(br#"{"iss":"a","exp":1}"#);
        // `~~~` encodes to `fn5+` in standard base64 and to `fn5-` in base64url.
        let standard_header = STANDARD_NO_PAD.encode(br#"{"alg":"RS256","x":"~~~"}"#);
        assert!(standard_header.contains('+'), "{standard_header}");
        let tokens = [
            format!("{header}.{claims}.c2ln"),
            format!("{header}==.{claims}=.c2ln=="),
            format!("{header}.{claims}.c2ln==="),
            format!("{header}.{claims}.c2+n"),
            format!("{header}.{claims}.c2-+"),
            format!("{header}.{claims}."),
            format!(".{claims}.c2ln"),
            format!("{header}..c2ln"),
            format!("{header}.{claims}.c2l"),
            format!("{header}.{claims}.c"),
            format!("{header}.{claims}.c2lo"),
            format!("{header}.{claims}.c%ln"),
            format!("{header}.{claims}.c2=n"),
            format!("{standard_header}.{claims}.c2ln"),
            format!("{header}.{}.c2ln", url(b"[1]")),
            format!("{header}.{}.c2ln", url(b"{\"a\":\"\xff\"}")),
            format!("{header}.{}.c2ln", url(br#"{"exp":"1"}"#)),
            format!("{header}.{}.c2ln", url(br#"{"aud":[1]}"#)),
            format!("{}.{claims}.c2ln", url(br#"{"alg":"none"}"#)),
            format!("{}.{claims}.c2ln", url(br#"{"alg":"RS256","kid":5}"#)),
            format!("{}.{claims}.c2ln", url(br#"{"kid":"k1"}"#)),
            format!("{}.{claims}.c2ln", url(b"{}x")),
            format!("{header}.{claims}.c2 ln"),
        ];
        for token in tokens {
            let envoy = envoy::read_parts(&token).map(|parts| parts.signature);
            assert_eq!(decode(&token, TokenKind::Jws).jwt_authn, envoy, "{token}");
        }
    }

    /// Bytes that the mutation test writes into tokens: both base64 alphabets, padding, dots,
    /// whitespace, `%` and JSON punctuation.
    const MUTATION_BYTES: &[u8] = b"Aa0-_+/=. %\t~\"{}[],:";

    /// Replaces, inserts or removes one to three bytes of `text`, or cuts it short.
    fn mutate(text: &mut Vec<u8>, next: &mut impl FnMut(usize) -> usize) {
        for _ in 0..=next(3) {
            let at = next(text.len() + 1);
            let byte = MUTATION_BYTES[next(MUTATION_BYTES.len())];
            match next(7) {
                0 if at < text.len() => text[at] = byte,
                1 | 2 => text.insert(at, byte),
                3 => text.truncate(at),
                _ if at < text.len() => {
                    text.remove(at);
                }
                _ => text.push(byte),
            }
        }
    }

    #[test]
    fn jwt_authn_reading_matches_envoy_on_mutations() {
        use base64::Engine as _;
        use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};

        let header = br#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#;
        let claims = br#"{"iss":"https://a.example","aud":["b"],"exp":1,"nbf":0.5,"sub":"c"}"#;
        let mut next = crate::xorshift(0x51ed_2701_f3a5_c7b9);
        for round in 0..6_000 {
            // Mutate the JSON before encoding it, or the encoded text itself.
            let mut segments = [header.to_vec(), claims.to_vec(), b"signature".to_vec()];
            let in_json = round % 2 == 0;
            if in_json {
                mutate(&mut segments[next(3)], &mut next);
            }
            // Mostly unpadded base64url, sometimes padded or in the standard alphabet.
            let encoded: Vec<String> = segments
                .iter()
                .map(|bytes| match next(8) {
                    0 => URL_SAFE.encode(bytes),
                    1 => STANDARD.encode(bytes),
                    _ => URL_SAFE_NO_PAD.encode(bytes),
                })
                .collect();
            let mut token = encoded.join(".").into_bytes();
            if !in_json {
                mutate(&mut token, &mut next);
            }
            let token = String::from_utf8(token).expect("the mutations are ASCII");
            let envoy = envoy::read_parts(&token).map(|parts| parts.signature);
            assert_eq!(decode(&token, TokenKind::Jws).jwt_authn, envoy, "{token}");
        }
    }

    #[test]
    fn segments_offsets() {
        assert_eq!(segments("ab.c.def", 2), [(0, "ab"), (3, "c"), (5, "def")]);
    }

    #[test]
    fn json_error_line_column() {
        let mut problems = Vec::new();
        // `{"a":` in base64url
        let decoded = check_segment("eyJhIjo", Segment::Header, 0, &mut problems);
        let value = decode_json(&decoded, Segment::Header, &mut problems);
        assert!(value.is_none());
        assert_eq!(
            problems[0].message,
            "the header is not valid JSON: EOF while parsing a value at line 1, column 5"
        );
    }

    #[test]
    fn legacy_syntax_claims_warned() {
        use base64::Engine as _;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;

        let token = format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256"}"#),
            URL_SAFE_NO_PAD.encode("{sub:'alice',}")
        );
        let decoding = decode(&token, TokenKind::Jws);
        assert_eq!(decoding.claims, Some(serde_json::json!({"sub": "alice"})));
        assert_eq!(decoding.jwt_authn, Ok(b"sig".to_vec()));
        let warning = decoding
            .problems
            .iter()
            .find(|problem| problem.code == "payload_not_strict_json")
            .map(|problem| problem.message.as_str());
        assert!(
            warning.is_some_and(|message| message.contains("without quotes at line 1, column 2")),
            "{warning:?}"
        );
    }
}
