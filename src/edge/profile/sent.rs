//! The header value a pasted request carries, exactly as the EdgeWorker's `getHeader` returns it.
//! The token finder keeps only the scheme and the token, but Akamai's example bundles hand the
//! whole value to `replace('Bearer ', '')` and the validator, so tabs, extra spaces and trailing
//! text change the edge's verdict.

use serde_json::Value;

use crate::token::{Inspection, pasted_request};

/// Returns the value of the header the token was found in, from the pasted `input`. That is the
/// value of a `Name: value` line, of a JSON object of headers or of the header a pasted request
/// sends (a curl or HTTPie command, an HTTP request), or a bare value such as `Bearer <jwt>`.
/// Returns `None` when the value cannot be read back (several lines that are no request, or a
/// token a request sends in the query), so the caller rebuilds it from the scheme and the token.
pub fn sent_header_value(input: &str, inspection: &Inspection) -> Option<String> {
    if let Some(request) = pasted_request(input) {
        let name = inspection.header_name.as_deref()?;
        return request.header_value(name);
    }
    let text = strip_quotes(input.trim());
    if text.contains(['\n', '\r']) {
        return None;
    }
    let header = inspection.header_name.as_deref().unwrap_or("authorization");
    if text.starts_with('{') {
        let Ok(Value::Object(headers)) = serde_json::from_str::<Value>(text) else {
            return None;
        };
        return headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(header))
            .and_then(|(_, value)| value.as_str().map(str::to_owned));
    }
    if inspection.header_name.is_none() {
        return Some(text.to_owned());
    }
    let (name, value) = text.split_once(':')?;
    name.trim()
        .eq_ignore_ascii_case(header)
        .then(|| value.trim_matches([' ', '\t']).to_owned())
}

/// Removes one pair of matching quotes around `text`.
pub(super) fn strip_quotes(text: &str) -> &str {
    for quote in ['\'', '"'] {
        if let Some(inner) = text
            .strip_prefix(quote)
            .and_then(|rest| rest.strip_suffix(quote))
        {
            return inner;
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl";

    fn sent(input: &str) -> Option<String> {
        let inspection = crate::token::inspect(input, Utc::now()).expect("a token");
        sent_header_value(input, &inspection)
    }

    #[test]
    fn header_line_keeps_tab() {
        let value = format!("Bearer\t{TOKEN}");
        assert_eq!(sent(&format!("Authorization: {value}")), Some(value));
    }

    #[test]
    fn header_line_keeps_trailing_text() {
        let value = format!("Bearer {TOKEN} .abc");
        assert_eq!(sent(&format!("authorization:  {value} ")), Some(value));
    }

    #[test]
    fn json_object_value() {
        let value = format!("Bearer  {TOKEN}");
        let input = serde_json::json!({"Authorization": value}).to_string();
        assert_eq!(sent(&input), Some(value));
    }

    #[test]
    fn bare_value_as_pasted() {
        let value = format!("Bearer  {TOKEN}");
        assert_eq!(sent(&format!("'{value}'")), Some(value));
    }

    #[test]
    fn curl_command_header() {
        let input = format!("curl -H 'Authorization: Bearer  {TOKEN}' https://127.0.0.1/");
        assert_eq!(sent(&input), Some(format!("Bearer  {TOKEN}")));
    }

    #[test]
    fn other_request_shapes_keep_value() {
        let value = format!("Bearer {TOKEN} .abc");
        for input in [
            format!("http orders.test/ 'Authorization:{value}'"),
            format!("GET / HTTP/1.1\r\nHost: orders.test\r\nAuthorization: {value}\r\n\r\n"),
            format!(
                "* Connected\n> GET / HTTP/1.1\n> Authorization: {value}\n> \n< HTTP/1.1 200 OK\n"
            ),
        ] {
            assert_eq!(sent(&input), Some(value.clone()), "{input:?}");
        }
    }

    #[test]
    fn curl_cookie_option() {
        let input = format!("curl -b 'a=1;jwt={TOKEN}' https://127.0.0.1/");
        assert_eq!(sent(&input), Some(format!("a=1;jwt={TOKEN}")));
    }

    #[test]
    fn curl_query_token_not_read() {
        let input = format!("curl 'https://127.0.0.1/?access_token={TOKEN}'");
        assert_eq!(sent(&input), None);
    }
}
