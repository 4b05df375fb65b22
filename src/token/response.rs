//! Responses pasted whole. A JSON token response of a token endpoint (RFC 6749 section 5.1) or an
//! OAuth error response (section 5.2) is read flat or nested in an envelope object or a list.
//! A JSON object of headers and an HTTP response as `curl -i` prints it are read too, and so is
//! the `Location` of a redirect that carries a token, as the implicit flow returns it.

use serde_json::{Map, Value};

use super::find::split_header_line;
use super::{Problem, TokenError, quote_truncated};
use crate::mesh::jwt::extract::percent_decode;

/// Maximum depth at which a token response is looked for in a JSON value. In
/// `{"data":{"token":{…}}}` it is at depth 2.
const MAX_DEPTH: usize = 4;

/// The content of a pasted JSON value or redirect that decode reads.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ResponseShape {
    /// An OAuth error response, with its `error` code quoted and truncated.
    OAuthError(String),
    /// The text to read the token from, how it was given, and notes on members not decoded.
    Line {
        line: String,
        source: String,
        problems: Vec<Problem>,
    },
}

/// Reads `text` as JSON: the first token response or OAuth error response in it, shallowest first,
/// else, for an object, its `Authorization` entry or first entry named like a header. Returns
/// `None` for text that is no JSON object or array, or that contains none of these.
pub(super) fn read_json(text: &str) -> Option<ResponseShape> {
    if !text.starts_with(['{', '[']) {
        return None;
    }
    let value: Value = serde_json::from_str(text).ok()?;
    let responses = token_responses(&value);
    if let Some((object, path)) = responses.first() {
        let source = if path.is_empty() {
            "token response".to_owned()
        } else {
            format!("token response in `{path}`")
        };
        if let Some(error) = oauth_error(object) {
            return Some(ResponseShape::OAuthError(error));
        }
        let mut shape = token_line(object, &source)?;
        if let (ResponseShape::Line { problems, .. }, [_, others @ ..]) =
            (&mut shape, &responses[..])
            && !others.is_empty()
        {
            let paths: Vec<String> = others.iter().map(|(_, path)| format!("`{path}`")).collect();
            problems.push(Problem::note(
                "other_token_responses",
                format!(
                    "the JSON holds {} more token {} ({}); idflow decoded the first. Paste \
                     another alone to decode it",
                    others.len(),
                    if others.len() == 1 {
                        "response"
                    } else {
                        "responses"
                    },
                    paths.join(", ")
                ),
            ));
        }
        return Some(shape);
    }
    match &value {
        Value::Object(object) => json_header_line(object),
        _ => None,
    }
}

/// Members of a token response that carry a token, in the order decode prefers them. `token` is
/// the member of container registry and GitHub App token responses.
const TOKEN_MEMBERS: [&str; 3] = ["access_token", "id_token", "token"];

/// Returns the objects in `value`, in breadth-first order up to [`MAX_DEPTH`], that have an
/// `access_token`, `id_token`, `token` or `error` string member, with their paths: `data`, `[0]` or
/// `data.tokens[1]`, and empty for `value` itself. Nothing inside such an object is searched.
fn token_responses(value: &Value) -> Vec<(&Map<String, Value>, String)> {
    let mut found = Vec::new();
    let mut level = vec![(value, String::new())];
    for _ in 0..=MAX_DEPTH {
        let mut next = Vec::new();
        for (value, path) in level {
            match value {
                Value::Object(object) => {
                    let is_response = ["access_token", "id_token", "token", "error"]
                        .iter()
                        .any(|member| object.get(*member).is_some_and(Value::is_string));
                    if is_response {
                        found.push((object, path));
                        continue;
                    }
                    for (name, member) in object {
                        let separator = if path.is_empty() { "" } else { "." };
                        next.push((member, format!("{path}{separator}{name}")));
                    }
                }
                Value::Array(items) => {
                    for (index, item) in items.iter().enumerate() {
                        next.push((item, format!("{path}[{index}]")));
                    }
                }
                _ => {}
            }
        }
        level = next;
    }
    found
}

/// Returns the `error` code of an OAuth 2.0 error response (RFC 6749 section 5.2), a JSON object
/// with an `error` string and no token.
fn oauth_error(map: &Map<String, Value>) -> Option<String> {
    let has_token = TOKEN_MEMBERS
        .iter()
        .any(|member| map.get(*member).is_some_and(Value::is_string));
    let error = map.get("error")?.as_str()?;
    (!has_token).then(|| quote_truncated(error))
}

/// Returns the token of a token response given as `source`: the first of [`TOKEN_MEMBERS`] it
/// has, whatever its `token_type`, with notes on what it leaves undecoded or implies.
fn token_line(object: &Map<String, Value>, source: &str) -> Option<ResponseShape> {
    // An OAuth 2.0 token response carries the token the client then sends, and an OpenID Connect
    // response may carry an ID token beside it.
    let member = TOKEN_MEMBERS
        .into_iter()
        .find(|member| object.get(*member).is_some_and(Value::is_string))?;
    let line = object.get(member)?.as_str()?.to_owned();
    let mut problems = Vec::new();
    if member == "id_token" {
        problems.push(Problem::note(
            "id_token_only",
            "the token response carries only an `id_token`: an OpenID Connect ID token tells the \
             client who signed in and is not meant for APIs. Its `aud` is usually the client id, \
             so a RequestAuthentication whose `audiences` name the API rejects it. Send the \
             access token to APIs",
        ));
    }
    let token_type = object.get("token_type").and_then(Value::as_str);
    if token_type.is_some_and(|token_type| token_type.eq_ignore_ascii_case("DPoP")) {
        problems.push(Problem::warning(
            "dpop_token_type",
            "the token response's `token_type` is `DPoP`, so the client sends the token as \
             `Authorization: DPoP <token>` with a DPoP proof (RFC 9449). Envoy's jwt_authn reads \
             only the `Bearer ` prefix, so the mesh finds no token in such a request",
        ));
    }
    if member == "access_token" && object.get("id_token").is_some_and(Value::is_string) {
        problems.push(Problem::note(
            "id_token_not_decoded",
            "the token response also carries an `id_token`, the OpenID Connect ID token that \
             tells the client who signed in. idflow decoded the `access_token`, the token the \
             client sends to APIs and the mesh verifies. Paste the `id_token` value alone to \
             decode it",
        ));
    }
    Some(ResponseShape::Line {
        line,
        source: format!("{source}, {member}"),
        problems,
    })
}

/// Returns the line to read for a JSON object of headers (`{"Authorization": "Bearer …"}`):
/// `Name: value` of its `Authorization` entry, else of its first string entry whose name reads as
/// a header name.
fn json_header_line(map: &Map<String, Value>) -> Option<ResponseShape> {
    let entries = || {
        map.iter()
            .filter_map(|(name, value)| Some((name, value.as_str()?)))
            .filter(|(name, _)| split_header_line(&format!("{name}: x")).is_some())
    };
    let (name, value) = entries()
        .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        .or_else(|| entries().next())?;
    Some(ResponseShape::Line {
        line: format!("{name}: {value}"),
        source: "JSON object".to_owned(),
        problems: Vec::new(),
    })
}

/// Parameters of a redirect's `Location` that carry a token, in the order decode prefers them, and
/// `token_type`, the scheme the client sends the token with.
const LOCATION_PARAMETERS: [&str; 4] = ["access_token", "id_token", "token_type", "error"];

/// Reads the token in the `Location` header of a redirect (a 3xx status) in `text`, an HTTP
/// response as `curl -i` prints it. Every response head is read, so the redirects that
/// `curl -i -L` prints before the last response count too. The fragment is read before the query,
/// and an `access_token` anywhere before an `id_token`. Returns `None` for text that is no HTTP
/// response, or whose redirects carry no token: an authorization `code` is not one.
pub(super) fn redirect_token(text: &str) -> Option<ResponseShape> {
    let mut rest = text;
    let mut locations = Vec::new();
    while let Some(status) = status_code(rest.lines().next().unwrap_or_default()) {
        let head_end = rest.len() - after_head(rest).len();
        if status.starts_with('3') {
            let location = rest[..head_end]
                .lines()
                .filter_map(split_header_line)
                .find(|(name, _)| name.eq_ignore_ascii_case("location"));
            if let Some((_, url)) = location {
                locations.push((status, url));
            }
        }
        rest = &rest[head_end..];
    }
    let mut carriers = Vec::new();
    for (status, url) in locations {
        let (before_fragment, fragment) = url.split_once('#').unwrap_or((url, ""));
        let query = before_fragment
            .split_once('?')
            .map_or("", |(_, query)| query);
        carriers.push((status, "fragment", location_parameters(fragment)));
        carriers.push((status, "query", location_parameters(query)));
    }
    let token_carrier = ["access_token", "id_token"].iter().find_map(|member| {
        carriers
            .iter()
            .find(|(_, _, parameters)| parameters.contains_key(*member))
    });
    let Some((status, part, parameters)) = token_carrier else {
        // An authorization endpoint that issues no token redirects with an `error` parameter
        // (RFC 6749 sections 4.1.2.1 and 4.2.2.1).
        return carriers.iter().find_map(|(_, _, parameters)| {
            let error = parameters.get("error")?.as_str()?;
            Some(ResponseShape::OAuthError(quote_truncated(error)))
        });
    };
    let mut shape = token_line(
        parameters,
        &format!("HTTP {status} response, `Location` {part}"),
    )?;
    if let ResponseShape::Line { problems, .. } = &mut shape {
        problems.insert(0, location_note(status, part));
    }
    Some(shape)
}

/// Returns the [`LOCATION_PARAMETERS`] with a value among the `name=value` pairs of a URL's query
/// or fragment, percent-decoded. The first of a repeated name wins.
fn location_parameters(pairs: &str) -> Map<String, Value> {
    let mut parameters = Map::new();
    for pair in pairs.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = percent_decode(name);
        let is_read = LOCATION_PARAMETERS.contains(&name.as_str()) && !value.is_empty();
        if is_read && !parameters.contains_key(&name) {
            parameters.insert(name, Value::String(percent_decode(value)));
        }
    }
    parameters
}

/// Returns the note saying that the token came from the `part` (`fragment` or `query`) of the
/// `Location` of a redirect with `status`.
fn location_note(status: &str, part: &str) -> Problem {
    let message = if part == "fragment" {
        format!(
            "the token is in the fragment of the `Location` header of the {status} response, as \
             the OAuth 2.0 implicit flow returns it. The browser does not send a fragment to the \
             server, so the client's script reads the token there and sends it to APIs itself"
        )
    } else {
        format!(
            "the token is in the query of the `Location` header of the {status} response, so the \
             browser sends it in the URL of its next request, where access logs can record it and \
             a `Referer` header can pass it on"
        )
    };
    Problem::note("token_in_location", message)
}

/// Returns the body of an HTTP response as `curl -i` prints it: a status line (`HTTP/1.1 200 OK`,
/// `HTTP/2 200`), header lines, an empty line, then the body. The heads of interim and redirect
/// responses before it (`HTTP/1.1 100 Continue`, or each hop of `curl -i -L`) are skipped too.
/// Returns `None` for text that does not start with a status line.
pub(super) fn http_response_body(text: &str) -> Option<&str> {
    let mut rest = text;
    let mut seen = false;
    while is_status_line(rest.lines().next().unwrap_or_default()) {
        seen = true;
        rest = after_head(rest);
    }
    seen.then_some(rest)
}

/// Returns the text after the first empty line of `text`, or nothing when it has none.
fn after_head(text: &str) -> &str {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        offset += line.len();
        if line.trim_end_matches(['\r', '\n']).is_empty() {
            return &text[offset..];
        }
    }
    ""
}

/// Returns whether `line` is an HTTP status line: `HTTP/`, a version, a space and three digits.
fn is_status_line(line: &str) -> bool {
    status_code(line).is_some()
}

/// Returns the three digits of the status code when `line` is an HTTP status line.
fn status_code(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("HTTP/")?;
    let (version, rest) = rest.split_once(' ')?;
    let status = rest.get(..3)?;
    let is_status_line = !version.is_empty()
        && version.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && status.bytes().all(|b| b.is_ascii_digit())
        && rest[3..]
            .chars()
            .next()
            .is_none_or(|c| c == ' ' || c == '\r');
    is_status_line.then_some(status)
}

/// Describes an error about the body of a pasted HTTP response as being about that body.
pub(super) fn body_error(error: TokenError) -> TokenError {
    match error {
        TokenError::Empty => TokenError::NotAToken {
            input: "the input (HTTP response)".to_owned(),
            reason: "the response has no body after its headers. Paste the whole output of \
                     `curl -i`, with the token response in the body, or the token alone"
                .to_owned(),
        },
        TokenError::NotAToken { input, reason } => TokenError::NotAToken {
            input: input.replacen("the input (", "the input (HTTP response body, ", 1),
            reason,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_of(text: &str) -> (String, String, Vec<String>) {
        match read_json(text) {
            Some(ResponseShape::Line {
                line,
                source,
                problems,
            }) => (
                line,
                source,
                problems.into_iter().map(|problem| problem.code).collect(),
            ),
            other => panic!("no line in {text}: {other:?}"),
        }
    }

    #[test]
    fn nested_and_listed_responses() {
        let cases = [
            (r#"{"access_token":"a"}"#, "token response, access_token"),
            (
                r#"{"data":{"access_token":"a","token_type":"Bearer"}}"#,
                "token response in `data`, access_token",
            ),
            (
                r#"[{"access_token":"a"}]"#,
                "token response in `[0]`, access_token",
            ),
            (
                r#"{"status":"ok","result":[{"id_token":"a"}]}"#,
                "token response in `result[0]`, id_token",
            ),
        ];
        for (text, expected) in cases {
            let (line, source, _) = line_of(text);
            assert_eq!(line, "a", "{text}");
            assert_eq!(source, expected, "{text}");
        }
    }

    #[test]
    fn id_token_beside_access_token_noted() {
        let (line, _, codes) = line_of(r#"{"id_token":"i","access_token":"a"}"#);
        assert_eq!(line, "a");
        assert_eq!(codes, ["id_token_not_decoded"]);
    }

    #[test]
    fn nested_error_response() {
        let shape = read_json(r#"{"data":{"error":"invalid_grant"}}"#);
        assert_eq!(
            shape,
            Some(ResponseShape::OAuthError(r#""invalid_grant""#.to_owned()))
        );
    }

    #[test]
    fn header_object_read() {
        let (line, source, _) = line_of(r#"{"Accept":"*/*","Authorization":"Bearer t"}"#);
        assert_eq!(line, "Authorization: Bearer t");
        assert_eq!(source, "JSON object");
    }

    #[test]
    fn redirect_tokens() {
        let cases = [
            (
                "HTTP/1.1 302 Found\r\nLocation: https://a.test/cb#access_token=a&token_type=Bearer\r\n\r\n",
                "a",
                "HTTP 302 response, `Location` fragment, access_token",
            ),
            (
                "HTTP/1.1 303 See Other\r\nlocation: /cb?state=s&access_token=a%2Eb\r\n\r\n",
                "a.b",
                "HTTP 303 response, `Location` query, access_token",
            ),
            (
                "HTTP/2 302 \r\nlocation: /cb#id_token=i\r\n\r\n",
                "i",
                "HTTP 302 response, `Location` fragment, id_token",
            ),
            (
                "HTTP/1.1 302 Found\r\nLocation: /cb?id_token=i#access_token=a\r\n\r\n",
                "a",
                "HTTP 302 response, `Location` fragment, access_token",
            ),
            (
                "HTTP/1.1 302 Found\r\nLocation: /login\r\n\r\nHTTP/1.1 302 Found\r\n\
                 Location: /cb#access_token=a\r\n\r\nHTTP/1.1 200 OK\r\n\r\n<html>",
                "a",
                "HTTP 302 response, `Location` fragment, access_token",
            ),
        ];
        for (text, expected_line, expected_source) in cases {
            let Some(ResponseShape::Line {
                line,
                source,
                problems,
            }) = redirect_token(text)
            else {
                panic!("no token read from {text:?}");
            };
            assert_eq!(line, expected_line, "{text:?}");
            assert_eq!(source, expected_source, "{text:?}");
            assert_eq!(problems[0].code, "token_in_location", "{text:?}");
        }
    }

    #[test]
    fn redirects_without_token() {
        for text in [
            "HTTP/1.1 302 Found\r\nLocation: /cb?code=c&state=s\r\n\r\n",
            "HTTP/1.1 302 Found\r\nLocation: /cb#access_token=&state=s\r\n\r\n",
            "HTTP/1.1 201 Created\r\nLocation: /items/1?access_token=a\r\n\r\n",
            "GET /cb?access_token=a HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(redirect_token(text), None, "{text:?}");
        }
    }

    #[test]
    fn response_bodies() {
        let cases = [
            ("HTTP/1.1 200 OK\r\nA: b\r\n\r\n{}", Some("{}")),
            ("HTTP/2 200 \ncontent-type: x\n\nbody\n", Some("body\n")),
            (
                "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n{}",
                Some("{}"),
            ),
            ("HTTP/1.1 204 No Content\r\nA: b\r\n", Some("")),
            ("HTTP/1.1 OK\r\n\r\n{}", None),
            ("GET / HTTP/1.1\r\n\r\n", None),
        ];
        for (text, expected) in cases {
            assert_eq!(http_response_body(text), expected, "{text:?}");
        }
    }
}
