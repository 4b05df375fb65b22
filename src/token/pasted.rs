//! Requests pasted in other shapes than a curl command: a URL, with or without its scheme, a
//! path with a query as access logs show it (`%REQ(:PATH)%`), an HTTP/1.1 request as `curl -v`
//! or a proxy dump shows it, and a block of header lines as a browser's developer tools copy it.

use super::curl::{CurlRequest, sent_url};
use super::find::split_header_line;
use super::response;
use crate::mesh::codec::is_http_token;

/// The shape name of a block of `Name: value` lines without a request line, in messages.
pub(super) const HEADER_BLOCK: &str = "header block";

/// Returns how `text` was given (`URL`, `path`, `HTTP request` or `header block`) and the request
/// it stands for, or `None` for text in none of these shapes.
pub(super) fn parse(text: &str) -> Option<(&'static str, CurlRequest)> {
    if let Some(read) = http_request(text) {
        return Some(read);
    }
    if text.contains(char::is_whitespace) {
        return None;
    }
    let source = if is_url(text) {
        "URL"
    } else if text.starts_with('/') && text.contains('?') {
        "path"
    } else {
        return None;
    };
    let request = CurlRequest {
        url: Some(sent_url(text, "", None)),
        method: "GET".to_owned(),
        ..CurlRequest::default()
    };
    Some((source, request))
}

/// Returns whether `text`, one word, is an `http://` or `https://` URL, or a URL without a scheme
/// as curl accepts one: a host name with a dot, `localhost` or an IPv4 address, perhaps with a
/// port, then `/` or `?`. A JWT (`eyJ…`) is never taken for a host name.
fn is_url(text: &str) -> bool {
    if text.starts_with("http://") || text.starts_with("https://") {
        return true;
    }
    let Some(end) = text.find(['/', '?']) else {
        return false;
    };
    let authority = &text[..end];
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
        Some(_) => return false,
        None => authority,
    };
    let labels: Vec<&str> = host.split('.').collect();
    let is_label = |label: &&str| {
        !label.is_empty()
            && !label.starts_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let top = labels.last().copied().unwrap_or_default();
    let is_ipv4 = host.parse::<std::net::Ipv4Addr>().is_ok();
    let is_name = labels.len() > 1
        && labels.iter().all(is_label)
        && top.len() > 1
        && top.bytes().all(|b| b.is_ascii_alphabetic());
    !host.starts_with("eyJ") && (host == "localhost" || is_ipv4 || is_name)
}

/// Reads a pasted HTTP request: a request line (`GET /path HTTP/1.1`), then header lines up to
/// a blank line. Lines may start with `> `, as `curl -v` prints what it sends. In the whole output
/// of `curl -v` only those lines count: curl starts its own notes with `* `, the response head
/// with `< ` and data with `{ ` or `} `, and prints the body without a prefix.
///
/// Without a request line, two or more lines that are all `Name: value` header lines are a
/// [`HEADER_BLOCK`], as a browser's developer tools copy a request's headers. Such a request has
/// no URL, and its method is GET, as for a lone `curl -H` argument.
fn http_request(text: &str) -> Option<(&'static str, CurlRequest)> {
    let lines = text.lines().map(|line| line.trim_end_matches('\r'));
    let verbose = is_curl_verbose(text);
    let mut lines = lines
        .filter(|line| !verbose || line.starts_with('>'))
        .map(|line| match line.strip_prefix('>') {
            Some(rest) => rest.strip_prefix(' ').unwrap_or(rest),
            None => line,
        })
        .peekable();
    let Some((method, target)) = request_line(lines.peek()?) else {
        return header_block(lines);
    };
    lines.next();
    let headers = lines
        .take_while(|line| !line.is_empty())
        .map(str::to_owned)
        .collect();
    let request = CurlRequest {
        url: Some(sent_url(target, "", None)),
        headers,
        method: method.to_owned(),
        ..CurlRequest::default()
    };
    Some(("HTTP request", request))
}

/// Returns the method and request target of an HTTP request line, or `None` for another line.
fn request_line(line: &str) -> Option<(&str, &str)> {
    let mut words = line.split(' ');
    let (method, target, version) = (words.next()?, words.next()?, words.next()?);
    // curl -v prints `HTTP/2` and `HTTP/3` requests in the same form. A method in lower case
    // (`get`) is still a request line, which Envoy's HTTP/1 codec rejects with 400.
    let is_request_line = words.next().is_none()
        && is_http_token(method)
        && ["HTTP/1.", "HTTP/2", "HTTP/3"]
            .iter()
            .any(|prefix| version.starts_with(prefix));
    is_request_line.then_some((method, target))
}

/// Reads `lines` as a [`HEADER_BLOCK`]: every line up to the first blank one, and after it only
/// blank lines, is a header line, and there are at least two. One header line alone is read as a
/// header line, not as a request.
fn header_block<'a>(lines: impl Iterator<Item = &'a str>) -> Option<(&'static str, CurlRequest)> {
    let mut headers = Vec::new();
    let mut ended = false;
    for line in lines {
        if line.trim().is_empty() {
            ended = true;
        } else if ended || split_header_line(line).is_none() {
            return None;
        } else {
            headers.push(line.to_owned());
        }
    }
    let request = CurlRequest {
        headers,
        method: "GET".to_owned(),
        ..CurlRequest::default()
    };
    (request.headers.len() >= 2).then_some((HEADER_BLOCK, request))
}

/// Returns the response body in the output of `curl -v`: the lines after the last line that ends
/// a response head (`<` alone), without curl's notes (`* `) and data markers (`{ `, `} `). Returns
/// `None` for other text, or output without a body.
pub(super) fn verbose_response_body(text: &str) -> Option<String> {
    if !is_curl_verbose(text) {
        return None;
    }
    let lines: Vec<&str> = text
        .lines()
        .map(|line| line.trim_end_matches('\r'))
        .collect();
    let head_end = lines.iter().rposition(|line| line.trim_end() == "<")?;
    let body: Vec<&str> = lines[head_end + 1..]
        .iter()
        .copied()
        .filter(|line| {
            !["* ", "> ", "< ", "{ ", "} "]
                .iter()
                .any(|prefix| line.starts_with(prefix))
        })
        .collect();
    let body = body.join("\n");
    (!body.trim().is_empty()).then_some(body)
}

/// Returns the response heads in the output of `curl -v` as `curl -i` prints them, when the
/// `Location` of a redirect among them carries a token ([`response::redirect_token`]). curl
/// prints each line of a head after `< `, and `<` alone for the empty line that ends it.
pub(super) fn verbose_redirect_heads(text: &str) -> Option<String> {
    if !is_curl_verbose(text) {
        return None;
    }
    let mut heads = String::new();
    for line in text.lines().map(|line| line.trim_end_matches('\r')) {
        if let Some(rest) = line.strip_prefix('<') {
            heads.push_str(rest.strip_prefix(' ').unwrap_or(rest));
            heads.push('\n');
        }
    }
    response::redirect_token(&heads).map(|_| heads)
}

/// Returns whether `text` is the output of `curl -v`: some line is one curl sent (`> `) and some
/// other line is one of its notes (`* `) or a line of the response head (`< `). Other text may
/// come first, such as curl's warnings or its progress meter.
fn is_curl_verbose(text: &str) -> bool {
    let mut lines = text.lines();
    lines.clone().any(|line| line.starts_with('>'))
        && lines.any(|line| line.starts_with("* ") || line.starts_with("< "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_with_and_without_scheme() {
        for url in [
            "https://h/?a=1",
            "orders.test/?a=1",
            "localhost:8080/x",
            "10.0.0.1?a",
        ] {
            assert!(is_url(url), "{url}");
        }
        for text in ["eyJhbGciOi.eyJzdWIi/x", "abc/def", "a.b1/x", "h:x/"] {
            assert!(!is_url(text), "{text}");
        }
    }

    #[test]
    fn path_with_query_read() {
        let (source, request) = parse("/api/orders?access_token=t#top").expect("a path");
        assert_eq!(source, "path");
        assert_eq!(request.url.as_deref(), Some("/api/orders?access_token=t"));
    }

    #[test]
    fn http_request_read() {
        let text = "> GET /?a=1 HTTP/1.1\r\n> Host: h\r\n> Authorization: Bearer t\r\n>\r\n";
        let (source, request) = parse(text).expect("a request");
        assert_eq!(source, "HTTP request");
        assert_eq!(request.url.as_deref(), Some("/?a=1"));
        assert_eq!(request.headers, ["Host: h", "Authorization: Bearer t"]);
    }

    #[test]
    fn curl_verbose_output_read() {
        let text = "*   Trying 127.0.0.1:8080...\n* Connected to h\n> GET /a?b=1 HTTP/2\n> Host: h\n\
                    > Authorization: Bearer t\n> \n< HTTP/2 200 \n< a: b\n< \nbody\n";
        let (source, request) = parse(text).expect("a request");
        assert_eq!(source, "HTTP request");
        assert_eq!(request.method, "GET");
        assert_eq!(request.url.as_deref(), Some("/a?b=1"));
        assert_eq!(request.headers, ["Host: h", "Authorization: Bearer t"]);
    }

    #[test]
    fn curl_verbose_body_read() {
        let text = "* Trying h\n> POST /token HTTP/1.1\n> \n< HTTP/1.1 200 OK\n< A: b\n<\n{\n  \"a\": 1\n}\n\
                    * Connection #0 to host h left intact\n";
        assert_eq!(
            verbose_response_body(text).as_deref(),
            Some("{\n  \"a\": 1\n}")
        );
        assert_eq!(verbose_response_body("> GET / HTTP/1.1\n> \n"), None);
    }

    #[test]
    fn curl_verbose_redirect_heads() {
        let text = "* Trying h\n> GET /authorize HTTP/1.1\n> \n< HTTP/1.1 302 Found\r\n\
                    < Location: /cb#access_token=a\r\n<\r\n* Connection #0 left intact\n";
        assert_eq!(
            verbose_redirect_heads(text).as_deref(),
            Some("HTTP/1.1 302 Found\nLocation: /cb#access_token=a\n\n")
        );
        let without_token = text.replace("#access_token=a", "?code=c");
        assert_eq!(verbose_redirect_heads(&without_token), None);
    }

    #[test]
    fn header_block_read() {
        let text = "Host: h\r\nAuthorization: Bearer t\r\nAccept: */*\r\n";
        let (source, request) = parse(text).expect("a header block");
        assert_eq!(source, HEADER_BLOCK);
        assert_eq!(request.url, None);
        assert_eq!(request.method, "GET");
        assert_eq!(
            request.headers,
            ["Host: h", "Authorization: Bearer t", "Accept: */*"]
        );
    }

    #[test]
    fn header_block_needs_header_lines() {
        for text in [
            "Authorization: Bearer t",
            "Authorization: Bearer t\nnot a header line",
            "Host: h\nAccept: */*\n\nbody",
        ] {
            assert_eq!(parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn not_a_request() {
        assert_eq!(parse("Bearer abc"), None);
        assert_eq!(parse("GET is a word"), None);
    }
}
