//! The text the EdgeWorker hands to the validator, read as the module reads it: its segments
//! decoded with `base64url.decode` and parsed with `JSON.parse`, and what it contains besides the
//! token.

use super::js::{self, JsValue};
use crate::token::jwks::websafe_decode;
use crate::token::{Inspection, jwt_authn_format_status};

/// Explains why a segment of `passed` does not decode, naming what `replace` left in front of or
/// around the token of `inspection`, when the request carries one.
pub(super) fn decode_failure_reason(passed: &str, inspection: Option<&Inspection>) -> String {
    match inspection.and_then(|inspection| extra_text(passed, inspection)) {
        Some(extra) => format!(
            "the validator received {extra}, so a segment is not base64url JSON and decoding it \
             throws"
        ),
        None => "a segment is not base64url-encoded JSON, so decoding it throws".to_owned(),
    }
}

/// Describes what `passed`, the text the validator received, contains besides the token:
/// `the token with 1 whitespace character in front of it …`, or `None` when it is the token.
pub(super) fn extra_text(passed: &str, inspection: &Inspection) -> Option<String> {
    let token = inspection.token.expose();
    if passed == token {
        return None;
    }
    if let Some(scheme) = inspection
        .scheme
        .as_deref()
        .filter(|scheme| passed.starts_with(scheme))
    {
        return Some(format!(
            "the header value with the scheme still in front (`{scheme} <jwt>`)"
        ));
    }
    let Some(position) = passed.find(token) else {
        return Some(
            "more than the token (whitespace or other text that `replace` left in the header \
             value)"
                .to_owned(),
        );
    };
    let describe = |text: &str| {
        let count = text.chars().count();
        let plural = if count == 1 { "" } else { "s" };
        if text.chars().all(char::is_whitespace) {
            format!("{count} whitespace character{plural}")
        } else {
            format!("the text `{}`", text.trim())
        }
    };
    let (before, after) = (&passed[..position], &passed[position + token.len()..]);
    let mut around = Vec::new();
    if !before.is_empty() {
        around.push(format!("{} in front of it", describe(before)));
    }
    if !after.is_empty() {
        around.push(format!("{} after it", describe(after)));
    }
    Some(format!(
        "the token with {}, left in the header value by removing the scheme with `replace`",
        around.join(" and ")
    ))
}

/// Decodes a base64url segment and parses it as the module does, with `base64url.decode(…,
/// "String")` and `JSON.parse`; `None` where either throws.
pub(super) fn parse_segment(segment: &str) -> Option<JsValue> {
    let bytes = websafe_decode(segment)?;
    // NOTE: this assumes the module's decoder replaces invalid UTF-8 as TextDecoder does.
    js::parse(&String::from_utf8_lossy(&bytes))
}

/// Returns the status Envoy's `jwt_authn` rejects `token` with when its JSON is invalid there but
/// `JSON.parse` accepts both segments. Such JSON has a number past the double range, a lone
/// surrogate escape, a repeated member name, or a header or payload that is not an object.
pub(super) fn json_only_at_edge(token: &str) -> Option<&'static str> {
    let status = jwt_authn_format_status(token)?;
    json_parses_at_edge(token, status).then_some(status)
}

/// Returns whether `status` is Envoy's `jwt_authn` status for invalid JSON and `JSON.parse`
/// accepts both segments of `token`, as [`json_only_at_edge`] describes.
pub(super) fn json_parses_at_edge(token: &str, status: &str) -> bool {
    if !status.ends_with("is an invalid JSON") {
        return false;
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload)) = (parts.next(), parts.next()) else {
        return false;
    };
    parse_segment(header).is_some() && parse_segment(payload).is_some()
}

/// Returns the status Envoy's `jwt_authn` rejects the token of `inspection` with for its format
/// or a claim's type, as decode read it, when the request carries the token where Envoy reads it
/// by default (`Authorization: Bearer`, or `access_token` in the query).
///
/// The status covers text around the token that Envoy reads with it. `None` when the value
/// passes those checks, when Envoy finds no token in it, and when the token is in another header
/// or a cookie, which Envoy reads only when a RequestAuthentication lists it.
pub(super) fn mesh_format_status(inspection: &Inspection) -> Option<&'static str> {
    if inspection
        .header_name
        .as_deref()
        .is_some_and(|name| name != "authorization")
    {
        return None;
    }
    inspection.mesh_format_status
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    fn token(payload: &str) -> String {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256"}"#);
        format!("{header}.{}.c2lnbmF0dXJl", URL_SAFE_NO_PAD.encode(payload))
    }

    #[test]
    fn json_only_at_edge_cases() {
        for payload in [
            r#"{"sub":"a","quota":1e400}"#,
            r#"{"sub":"\ud800"}"#,
            r#"{"sub":"a","sub":"b"}"#,
        ] {
            assert_eq!(
                json_only_at_edge(&token(payload)),
                Some("Jwt payload is an invalid JSON"),
                "{payload}"
            );
        }
    }

    #[test]
    fn json_both_accept_or_reject() {
        assert_eq!(json_only_at_edge(&token(r#"{"sub":"a"}"#)), None);
        assert_eq!(json_only_at_edge(&token(r#"{"sub":}"#)), None);
    }
}
