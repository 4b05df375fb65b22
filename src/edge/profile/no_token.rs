//! What the EdgeWorker decides for a pasted request in which decode finds no token: a URL whose
//! only `access_token` is in its fragment, a curl or HTTPie command or an HTTP request (as
//! `curl -v` prints it) without a token, a header line with another scheme. The EdgeWorker still
//! reads its location and responds to the request.

use chrono::{DateTime, Utc};

use super::decision::EdgeDecision;
use super::evaluate::{Located, cookie_value};
use super::sent::strip_quotes;
use super::{EdgeProfile, TokenLocation};
use crate::token::keys::KeySet;
use crate::token::{CurlRequest, sent_request};

/// A pasted request that decode finds no token in: a curl or HTTPie command, an HTTP request, a
/// URL or request target, or a `Name: value` header line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastedRequest {
    /// The request as the client would send it. A URL gives only its URL, a header line only its
    /// header.
    request: CurlRequest,
    /// The URL's fragment (after `#`), which is not sent, when the input was a URL.
    fragment: Option<String>,
}

impl PastedRequest {
    /// Reads `input` as a request, or returns `None` for text that is not one (a word, an empty
    /// input, several lines that are neither an HTTP request nor a block of header lines), for which the edge has nothing to decide.
    /// Every shape in which decode reads a request is read by [`crate::token::sent_request`], so
    /// the edge judges the same request that decode looked for a token in.
    pub fn parse(input: &str) -> Option<Self> {
        let text = strip_quotes(input.trim());
        // The fragment of a one-word URL or path, which no client sends.
        let fragment = (!text.contains(char::is_whitespace))
            .then(|| text.split_once('#'))
            .flatten()
            .map(|(_, fragment)| fragment.to_owned());
        if let Some(mut request) = sent_request(text) {
            // The client sends nothing, so the edge has nothing to decide.
            if request.not_sent.is_some() {
                return None;
            }
            if request.sends_user && request.header("authorization").is_none() {
                // curl's `-u` and HTTPie's `-a` send the user name and password in base64, which
                // has no `.`, so the placeholder splits into as many parts as the real value does.
                request
                    .headers
                    .push("Authorization: Basic <user:password in base64>".to_owned());
            }
            return Some(Self { request, fragment });
        }
        // A path without a query, which decode does not read as a request because no token
        // Envoy reads by default can travel in it.
        if text.starts_with('/') {
            // A path with whitespace in it is not one request target.
            if text.contains(char::is_whitespace) {
                return None;
            }
            let path = text.split('#').next().unwrap_or_default();
            let request = CurlRequest {
                url: Some(path.to_owned()),
                method: "GET".to_owned(),
                ..CurlRequest::default()
            };
            return Some(Self { request, fragment });
        }
        is_header_line(text).then(|| Self {
            request: CurlRequest {
                headers: vec![text.to_owned()],
                ..CurlRequest::default()
            },
            fragment: None,
        })
    }

    /// Returns the path of the request without its query, or `None` when the input names none.
    pub fn path(&self) -> Option<String> {
        self.request.url.as_ref()?;
        let target = self.request.path();
        Some(
            target
                .split_once('?')
                .map_or(target.as_str(), |(path, _)| path)
                .to_owned(),
        )
    }

    /// Returns the value of the first query parameter called `name`, as written.
    fn query_parameter(&self, name: &str) -> Option<String> {
        self.request.url.as_ref()?;
        let target = self.request.path();
        let (_, query) = target.split_once('?')?;
        query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (key == name).then(|| value.to_owned())
        })
    }

    /// Returns whether the fragment, which the client does not send, names parameter `name`.
    fn fragment_names(&self, name: &str) -> bool {
        self.fragment
            .as_deref()
            .is_some_and(|fragment| fragment.contains(&format!("{name}=")))
    }
}

impl EdgeProfile {
    /// Decides what the EdgeWorker does with `request`, which carries no token for decode. A
    /// value at the edge's location goes to the validator, which rejects it unless it is a token
    /// that `keys` verify. A request without a value gets the profile's response to a missing
    /// token, or goes on when its path is public.
    pub fn evaluate_without_token(
        &self,
        request: &PastedRequest,
        keys: Option<&KeySet>,
        now: DateTime<Utc>,
    ) -> EdgeDecision {
        let (value, place) = match &self.location {
            TokenLocation::Header(name) => (
                request.request.header_value(name),
                format!("header `{name}`"),
            ),
            TokenLocation::Query(name) => (
                request.query_parameter(name),
                format!("query parameter `{name}`"),
            ),
            TokenLocation::Cookie(name) => (
                request
                    .request
                    .header_value("cookie")
                    .and_then(|cookies| cookie_value(&cookies, name).map(str::to_owned)),
                format!("cookie `{name}`"),
            ),
        };
        // NOTE: an empty value counts as missing, as it does for an EdgeWorker that tests the
        // value's truthiness (`if (!jwt)`).
        let Some(value) = value.filter(|value| !value.is_empty()) else {
            return self.missing_in(request, &place);
        };
        let located = match &self.location {
            TokenLocation::Header(_) => self.strip_scheme(value, None),
            TokenLocation::Query(_) | TokenLocation::Cookie(_) => Located::Found {
                passed: value,
                notes: Vec::new(),
                quoted_cookie: None,
            },
        };
        let (passed, notes) = match located {
            Located::Missing(reason) => return self.missing(None, &reason),
            Located::SchemeRejected(reason) => return self.deny(&reason, None, Vec::new()),
            Located::Found { passed, notes, .. } => (passed, notes),
        };
        // A value that reads as a token on its own (an opaque word in a cookie) goes through the
        // whole validator. Other text fails at its first steps.
        if let Ok(mut inspection) = crate::token::inspect(&passed, now) {
            // Decode found no token in the request, so the mesh does not read this value as one,
            // and notes on Envoy's reading of it as a bearer token would mislead.
            inspection.mesh_format_status = None;
            inspection.mesh_reads_other = None;
            inspection.mesh_finds_no_token = false;
            return self.judge(&passed, notes, None, &inspection, keys, now);
        }
        let (thrown, failure) = match self.parse_parts(&passed, None) {
            Err((thrown, failure)) => (thrown.map(str::to_owned), failure),
            // Header and payload parse, but decode found no token in the whole value, so its
            // signature segment contains other text.
            // NOTE: which message the module throws for such a segment is not modelled.
            Ok(_) => (
                None,
                "its signature segment is not a base64url signature that a key could verify"
                    .to_owned(),
            ),
        };
        self.deny(
            &format!("the value of {place} is not a token: {failure}"),
            thrown,
            notes,
        )
    }

    /// Decides for `request`, which has nothing at `place`, where the edge looks.
    fn missing_in(&self, request: &PastedRequest, place: &str) -> EdgeDecision {
        let mut reason = format!("the request has no {place}");
        if let TokenLocation::Query(name) = &self.location
            && request.fragment_names(name)
        {
            reason.push_str(
                " (the URL's fragment names it, but a client does not send the fragment)",
            );
        }
        let public = request.path().filter(|path| self.is_public_path(path));
        match public {
            Some(path) => self.public_pass(&reason, &path, Vec::new()),
            None => self.missing(None, &reason),
        }
    }
}

/// Returns whether `text` is one `Name: value` header line with a valid RFC 9110 field name,
/// and not a URL (`https://…`) or a URL without its scheme (`localhost:8080/api`).
fn is_header_line(text: &str) -> bool {
    let Some((name, value)) = text.split_once(':') else {
        return false;
    };
    let port_digits = value.len() - value.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let is_host_and_port = port_digits > 0 && value[port_digits..].starts_with('/');
    !is_host_and_port
        && !value.starts_with("//")
        && !text.contains(['\n', '\r'])
        && !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parsed() {
        for input in [
            "https://orders.test/api#x?access_token=a.b.c",
            "'/api/orders?page=2'",
            "Authorization: Basic dXNlcjpwYXNz",
            "curl https://orders.test/",
            "-H 'Accept: text/plain'",
            "Content-Length: 42",
            "localhost:8080/api?page=2",
            "http orders.test/api",
            "GET /api HTTP/1.1\r\nHost: orders.test\r\n\r\n",
        ] {
            assert!(PastedRequest::parse(input).is_some(), "{input}");
        }
    }

    #[test]
    fn other_text_not_request() {
        for input in [
            "",
            "hello world",
            "opaque-word",
            "Authorization: Basic a\nnot a header line",
            "https://orders.test/a b",
            "localhost:8080/a b",
        ] {
            assert!(PastedRequest::parse(input).is_none(), "{input:?}");
        }
    }

    #[test]
    fn url_fragment_not_sent() {
        let request = PastedRequest::parse("https://orders.test/api?x=1#y?access_token=t")
            .expect("a request");

        assert_eq!(request.path().as_deref(), Some("/api"));
        assert_eq!(request.query_parameter("x").as_deref(), Some("1"));
        assert_eq!(request.query_parameter("access_token"), None);
        assert!(request.fragment_names("access_token"));
    }

    #[test]
    fn other_shapes_read_as_decode_reads() {
        let cases = [
            ("http -a user:pass orders.test/api?x=1", "/api"),
            ("GET /api?x=1 HTTP/1.1\r\nHost: orders.test\r\n\r\n", "/api"),
            (
                "> GET /api?x=1 HTTP/2\n> Host: orders.test\n>\n< HTTP/2 401\n<\n",
                "/api",
            ),
        ];
        for (input, path) in cases {
            let request = PastedRequest::parse(input).expect("a request");

            assert_eq!(request.path().as_deref(), Some(path), "{input:?}");
            assert_eq!(
                request.query_parameter("x").as_deref(),
                Some("1"),
                "{input:?}"
            );
        }
        let basic = PastedRequest::parse("http -a user:pass orders.test/").expect("a request");
        assert!(
            basic
                .request
                .header("authorization")
                .is_some_and(|value| value.starts_with("Basic ")),
            "{basic:?}"
        );
    }

    #[test]
    fn header_block_read_as_decode_reads() {
        let request =
            PastedRequest::parse("Authorization: Basic a\nCookie: b=c").expect("a request");

        assert_eq!(request.path(), None);
        assert_eq!(
            request.request.header("authorization"),
            Some("Basic a"),
            "{request:?}"
        );
        assert_eq!(
            request.request.header_value("cookie").as_deref(),
            Some("b=c")
        );
    }

    #[test]
    fn header_line_has_no_path() {
        let request = PastedRequest::parse("Cookie: jwt=abc").expect("a request");

        assert_eq!(request.path(), None);
        assert_eq!(request.query_parameter("jwt"), None);
        assert_eq!(
            request.request.header_value("cookie").as_deref(),
            Some("jwt=abc")
        );
    }
}
