//! The HTTP/1 codec in front of the filters: the requests Envoy rejects itself, before jwt_authn
//! and RBAC run.

use super::{Protocol, Request, Stage, Step, Verdict};
use crate::model::Decision;
use crate::token::size::ENVOY_HEADERS_LIMIT_BYTES;

/// Returns whether `text` is an HTTP token (RFC 9110: letters, digits and ``!#$%&'*+-.^_`|~``),
/// the form of a method and of a header name.
pub fn is_http_token(text: &str) -> bool {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    !text.is_empty() && text.chars().all(token)
}

/// Returns the response Envoy's HTTP/1 codec (Envoy 1.40's Balsa parser) and connection manager
/// send before any filter runs. That is 400 for a control character in the request head, for a
/// request line or header name the parser rejects, and 431 when the request head exceeds the
/// default `max_request_headers_kb`. A path with a `#` fragment gets 400
/// `path_normalization_failed`, as a tester's Envoy 1.40 returned.
///
/// The order is the one Envoy 1.40 showed for requests with two faults: a control character
/// wins over a bad method, a bad method over an oversized head, and an oversized head over a
/// control character.
pub fn rejection(workload: &str, request: &Request, notes: &[String]) -> Option<Verdict> {
    if request.protocol != Protocol::Http {
        return None;
    }
    let oversized = head_size_error(request);
    let control = oversized
        .is_none()
        .then(|| control_character_error(request))
        .flatten();
    let (status, details, message) = control
        .or_else(|| request_line_error(request))
        .or(oversized)
        .or_else(|| header_name_error(request))
        .or_else(|| header_value_error(request))
        .or_else(|| fragment_error(request))
        .or_else(|| query_content_type_error(request))?;
    Some(Verdict {
        workload: workload.to_owned(),
        status,
        decision: Decision::Deny,
        stage: Stage::None,
        policy: None,
        rule: None,
        response_code_details: details.to_owned(),
        request_principal: None,
        explanation: vec![Step {
            stage: Stage::None,
            policy: None,
            rule: None,
            outcome: "rejected".to_owned(),
            message,
        }],
        warnings: notes.to_vec(),
    })
}

/// Returns whether Envoy 1.40's HTTP/1 codec rejects `c` anywhere in a request head (method,
/// path, header name or value) with 400 `http1.invalid_characters`: a C0 control other than tab,
/// line feed and carriage return, or DEL. A lone carriage return inside a value passes.
fn is_rejected_control(c: char) -> bool {
    c.is_ascii_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// Returns the codec's 400 `http1.invalid_characters` for the first character of the request
/// head that [`is_rejected_control`] matches.
fn control_character_error(request: &Request) -> Option<Rejection> {
    let line = [
        ("the method", request.method.as_str()),
        ("the path", request.path.as_str()),
        ("the Host header", request.host.as_str()),
    ];
    let names = request
        .headers
        .iter()
        .map(|(name, _)| (format!("the header name {name:?}"), name.as_str()));
    let values = request
        .headers
        .iter()
        .map(|(name, value)| (format!("the header {name:?}"), value.as_str()));
    let (place, c) = line
        .into_iter()
        .map(|(place, text)| (place.to_owned(), text))
        .chain(names)
        .chain(values)
        .find_map(|(place, text)| Some((place, text.chars().find(|c| is_rejected_control(*c))?)))?;
    Some((
        400,
        "http1.invalid_characters",
        format!(
            "{place} has the control character U+{:04X}, which Envoy's HTTP/1 codec rejects \
             anywhere in the request head, so it responds with 400 before jwt_authn or RBAC run",
            u32::from(c)
        ),
    ))
}

/// A response the proxy sends before any filter runs: status, response code details, and why.
type Rejection = (u16, &'static str, String);

/// The methods Envoy's Balsa parser accepts while `allow_custom_methods` is off, which istiod
/// leaves it. The list is Envoy 1.40's `isMethodValid`: exact, upper-case names, and `MSEARCH`
/// without the dash of `M-SEARCH`. QUERY is added: Envoy 1.40 accepted it in a test with a
/// `Content-Type` (see [`query_content_type_error`]).
const HTTP1_METHODS: [&str; 35] = [
    "ACL",
    "BIND",
    "CHECKOUT",
    "CONNECT",
    "COPY",
    "DELETE",
    "GET",
    "HEAD",
    "LINK",
    "LOCK",
    "MERGE",
    "MKACTIVITY",
    "MKCALENDAR",
    "MKCOL",
    "MOVE",
    "MSEARCH",
    "NOTIFY",
    "OPTIONS",
    "PATCH",
    "POST",
    "PROPFIND",
    "PROPPATCH",
    "PURGE",
    "PUT",
    "QUERY",
    "REBIND",
    "REPORT",
    "SEARCH",
    "SOURCE",
    "SUBSCRIBE",
    "TRACE",
    "UNBIND",
    "UNLINK",
    "UNLOCK",
    "UNSUBSCRIBE",
];

/// Returns the parser's error for the request line. The parser ends with `HPE_INVALID_METHOD` for
/// a method outside [`HTTP1_METHODS`], and with `HPE_INVALID_URL` for an origin-form target with a
/// byte outside `!`..`~` (tab, carriage return and raw UTF-8 included). Envoy 1.40 logged both as
/// `http1.codec_error`. The other control characters are [`control_character_error`]'s. A CONNECT
/// target passes the parser when it starts with `/`, but the codec then wants the authority form
/// (`host:port`) and responds with `http1.invalid_url`.
fn request_line_error(request: &Request) -> Option<Rejection> {
    let method = request.method.as_str();
    if !HTTP1_METHODS.contains(&method) {
        return Some((
            400,
            "http1.codec_error",
            format!(
                "Envoy's HTTP/1 codec accepts only the upper-case methods of its list (GET, POST, \
                 PUT, PATCH, DELETE, HEAD, OPTIONS, TRACE, PURGE and WebDAV ones), not {method:?}, \
                 so it responds with 400 before jwt_authn or RBAC run"
            ),
        ));
    }
    if !request
        .path
        .bytes()
        .all(|byte| (b'!'..=b'~').contains(&byte))
    {
        return Some((
            400,
            "http1.codec_error",
            "the path has a byte outside printable ASCII (raw UTF-8, for one), which Envoy's \
             HTTP/1 codec rejects with 400 before jwt_authn or RBAC run; clients send such \
             characters percent-encoded, e.g. /%C3%A9 for /é"
                .to_owned(),
        ));
    }
    if method == "CONNECT" {
        return Some((
            400,
            "http1.invalid_url",
            "a CONNECT request's target is host:port, not a path, so Envoy's HTTP/1 codec \
             responds with 400 before jwt_authn or RBAC run"
                .to_owned(),
        ));
    }
    None
}

/// Returns 431 when the request head is over [`ENVOY_HEADERS_LIMIT_BYTES`]. Envoy 1.40's HTTP/1
/// codec counted the head as sent: the request line, each `name: value` line with its CRLF, and
/// the blank line (a tester found the edge byte by byte).
fn head_size_error(request: &Request) -> Option<Rejection> {
    let request_line = request.method.len() + 1 + request.path.len() + " HTTP/1.1\r\n".len();
    let header_line = |name: &str, value: &str| name.len() + ": ".len() + value.len() + 2;
    let bytes = request_line
        + header_line("host", &request.host)
        + request
            .headers
            .iter()
            .map(|(name, value)| header_line(name, value))
            .sum::<usize>()
        + 2;
    (bytes > ENVOY_HEADERS_LIMIT_BYTES).then(|| {
        (
            431,
            "http1.headers_too_large",
            format!(
                "the request line and headers take {bytes} bytes, over Envoy's default limit of \
                 {ENVOY_HEADERS_LIMIT_BYTES} bytes (`max_request_headers_kb` 60), so the HTTP \
                 codec responds with 431 before jwt_authn or RBAC run"
            ),
        )
    })
}

/// Returns 400 `query_missing_content_type` for a QUERY request without `Content-Type`, as Envoy
/// 1.40 responded in a test. The QUERY method's draft requires the media type of its body.
fn query_content_type_error(request: &Request) -> Option<Rejection> {
    let has_content_type = request
        .headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
    (request.method == "QUERY" && !has_content_type).then(|| {
        (
            400,
            "query_missing_content_type",
            "a QUERY request without a Content-Type header, which Envoy rejects with 400 before \
             jwt_authn or RBAC run; send the body's media type"
                .to_owned(),
        )
    })
}

/// Returns the codec's 400 for a header value with a line feed, which ends the header line and
/// leaves a line without a colon, and for a `Content-Length` that is not a decimal number. Envoy
/// 1.40 logged `http1.codec_error` for each.
fn header_value_error(request: &Request) -> Option<Rejection> {
    let (name, reason) = request.headers.iter().find_map(|(name, value)| {
        if value.contains('\n') {
            return Some((name, "a line feed"));
        }
        let not_number = value.is_empty() || !value.bytes().all(|byte| byte.is_ascii_digit());
        (name.eq_ignore_ascii_case("content-length") && not_number)
            .then_some((name, "a value that is not a decimal number"))
    })?;
    Some((
        400,
        "http1.codec_error",
        format!(
            "the header {name:?} has {reason}, so Envoy's HTTP/1 codec responds with 400 before \
             jwt_authn or RBAC run"
        ),
    ))
}

/// Returns the parser's `HPE_INVALID_HEADER_TOKEN` for a header name with a character outside
/// RFC 9110's token characters, which Envoy's Balsa parser checks once the head is read.
fn header_name_error(request: &Request) -> Option<Rejection> {
    let (name, _) = request
        .headers
        .iter()
        .find(|(name, _)| !is_http_token(name))?;
    Some((
        400,
        "http1.codec_error",
        format!(
            "the header name {name:?} has a character that HTTP does not allow in names, so \
             Envoy's HTTP/1 codec responds with 400 before jwt_authn or RBAC run"
        ),
    ))
}

fn fragment_error(request: &Request) -> Option<Rejection> {
    request.path.contains('#').then(|| {
        (
            400,
            "path_normalization_failed",
            "the path has a `#` fragment, which a client never sends; Envoy responds with 400 \
             before jwt_authn or RBAC run"
                .to_owned(),
        )
    })
}
