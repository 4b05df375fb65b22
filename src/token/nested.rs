//! Nested JWTs. A JWS whose header says `cty: JWT` carries another JWT, in its compact
//! serialization, as its payload (RFC 7519 section 5.2), and section 7.2 step 8 requires a verifier
//! to process that payload as a JWT. idflow decodes it one level down and no further.

use serde_json::Value;

use super::base64url::{Segment, decode_segment};
use super::{Problem, TokenKind, base64url, count_dots, envoy};

/// Returns whether the JOSE `header` sets `cty` to `JWT`. `cty` is a media type, compared without
/// case, and RFC 7515 section 4.1.10 lets it omit the `application/` prefix.
pub(super) fn marks_nested(header: Option<&Value>) -> bool {
    let Some(content_type) = header.and_then(|header| header.get("cty")?.as_str()) else {
        return false;
    };
    let content_type = content_type.trim();
    content_type.eq_ignore_ascii_case("JWT") || content_type.eq_ignore_ascii_case("application/jwt")
}

/// Returns the token that is the payload of the JWS `token`, and its kind, when the payload
/// decodes to a compact JWS (two dots) or JWE (four dots) in base64url.
pub(super) fn payload_token(token: &str) -> Option<(String, TokenKind)> {
    let (_, payload, _) = envoy::split_jws(token)?;
    let decoded = decode_segment(payload, Segment::Payload, 0).ok()?;
    let text = String::from_utf8(decoded.bytes).ok()?;
    if text.is_empty() || !base64url::is_url_safe_with_dots(&text) {
        return None;
    }
    let kind = match count_dots(&text) {
        2 => TokenKind::Jws,
        4 => TokenKind::Jwe,
        _ => return None,
    };
    Some((text, kind))
}

/// Returns the outer token's problem for a payload that is a nested JWT of `kind`. It replaces
/// `payload_invalid_json`, which is true but does not say what the payload is.
pub(super) fn outer_problem(kind: TokenKind) -> Problem {
    Problem::warning(
        "nested_jwt",
        format!(
            "the header says `cty` `JWT`, so the payload is a nested JWT (RFC 7519 section 5.2), \
             here a {}, decoded one level down (`nested` in JSON). Its signature is checked with \
             the keys given for the outer token, so it counts as verified only when one of those \
             keys verifies it. Envoy's jwt_authn does not unwrap a nested JWT: it parses the \
             payload as JSON and returns 401 `Jwt payload is an invalid JSON` (measured with \
             Envoy 1.40)",
            kind_name(kind)
        ),
    )
}

/// Returns the nested token's problem when its own payload is a nested JWT of `kind` again,
/// which idflow names but does not decode.
pub(super) fn too_deep_problem(kind: TokenKind) -> Problem {
    Problem::note(
        "nested_jwt_not_decoded",
        format!(
            "this nested JWT says `cty` `JWT` too, and its payload is a {}. idflow unwraps one \
             level only, so that token is not decoded",
            kind_name(kind)
        ),
    )
}

/// Returns the note for a header that sets `cty` to `JWT` over a payload that is a JSON object.
pub(super) fn json_payload_note() -> Problem {
    Problem::note(
        "cty_jwt_json_payload",
        "the header says `cty` `JWT`, which marks a nested JWT, but the payload is a JSON object, \
         so idflow reads it as the claims, as Envoy's jwt_authn does",
    )
}

fn kind_name(kind: TokenKind) -> &'static str {
    match kind {
        TokenKind::Jws => "JWS",
        TokenKind::Jwe => "JWE",
        TokenKind::Opaque => "opaque token",
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use serde_json::json;

    use super::*;

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    }

    #[test]
    fn cty_compared_as_media_type() {
        for cty in ["JWT", "jwt", "Jwt", "application/jwt", "APPLICATION/JWT"] {
            assert!(marks_nested(Some(&json!({"cty": cty}))), "{cty}");
        }
        for header in [
            json!({"cty": "JWS"}),
            json!({"cty": "application/json"}),
            json!({"cty": 1}),
            json!({"typ": "JWT"}),
        ] {
            assert!(!marks_nested(Some(&header)), "{header}");
        }
        assert!(!marks_nested(None));
    }

    #[test]
    fn payload_token_kinds() {
        let jws = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln";
        let jwe = "eyJhbGciOiJkaXIifQ..aXY.Y3Q.dGFn";
        for (inner, kind) in [(jws, TokenKind::Jws), (jwe, TokenKind::Jwe)] {
            let outer = format!("eyJjdHkiOiJKV1QifQ.{}.c2ln", b64(inner));
            assert_eq!(
                payload_token(&outer),
                Some((inner.to_owned(), kind)),
                "{inner}"
            );
        }
        for payload in ["{\"sub\":\"a\"}", "a.b", "not a token.x.y", ""] {
            let outer = format!("eyJjdHkiOiJKV1QifQ.{}.c2ln", b64(payload));
            assert_eq!(payload_token(&outer), None, "{payload}");
        }
    }
}
