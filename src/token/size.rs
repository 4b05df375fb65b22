//! The size of a token as the header that carries it, against the limits of the hops in front of
//! the workload.

use super::{Problem, plural};

/// Envoy's default `max_request_headers_kb` (60 KiB), the limit on all request headers together.
/// Istio does not change it. Past it, the HTTP/1 codec responds with 431 and the details
/// `http1.headers_too_large` before any filter runs.
pub const ENVOY_HEADERS_LIMIT_BYTES: usize = 60 * 1024;

/// The limit many CDNs and proxies set for a single request header.
const SINGLE_HEADER_LIMIT_BYTES: usize = 8 * 1024;

/// From this size a header is close enough to a limit to warn: three quarters of it, because other
/// headers and a growing token take the rest.
fn near(limit: usize) -> usize {
    limit / 4 * 3
}

/// Bytes of the smallest request head around one header: `GET / HTTP/1.1`, its CRLF and the
/// blank line that ends the head.
const MIN_REQUEST_HEAD_BYTES: usize = "GET / HTTP/1.1\r\n\r\n".len();

/// Returns the problems of a token of `token_len` bytes sent in the header `header_name` after
/// `scheme` (`authorization` and `Bearer` when the token was pasted alone). Envoy counts the
/// request head as sent, so a header takes its name, `: `, its value and a CRLF.
pub(super) fn header_size_problems(
    token_len: usize,
    header_name: Option<&str>,
    scheme: Option<&str>,
) -> Vec<Problem> {
    let name = header_name.unwrap_or("authorization");
    let prefix = match (header_name, scheme) {
        (_, Some(scheme)) => scheme.len() + 1,
        (None, None) => "Bearer ".len(),
        (Some(_), None) => 0,
    };
    let bytes = name.len() + ": ".len() + prefix + token_len + "\r\n".len();
    let mut problems = Vec::new();
    // Most tokens are far below the lowest threshold, so their message is never written.
    if bytes < near(SINGLE_HEADER_LIMIT_BYTES) {
        return problems;
    }
    let header = format!(
        "the `{name}` header carrying the token is {}",
        plural(bytes, "byte")
    );
    if bytes + MIN_REQUEST_HEAD_BYTES > ENVOY_HEADERS_LIMIT_BYTES {
        problems.push(Problem::error(
            "headers_too_large",
            format!(
                "{header}, so with the request line the request head is over Envoy's default \
                 limit of 60 KiB for all request headers together \
                 (`max_request_headers_kb`). The proxy answers 431 `http1.headers_too_large` before \
                 jwt_authn or RBAC run, so no auth details are logged. Make the token smaller (for \
                 example without group lists) or raise the limit on every hop"
            ),
        ));
    } else if bytes >= near(ENVOY_HEADERS_LIMIT_BYTES) {
        problems.push(Problem::warning(
            "headers_near_limit",
            format!(
                "{header}, close to Envoy's default limit of 60 KiB for all request headers \
                 together. With the other headers, the proxy may answer 431 \
                 `http1.headers_too_large`"
            ),
        ));
    }
    if bytes > SINGLE_HEADER_LIMIT_BYTES {
        problems.push(Problem::warning(
            "header_over_8_kib",
            format!(
                "{header}, over the 8 KiB many CDNs and proxies allow for one header, so a hop in \
                 front of the mesh may reject the request before it arrives"
            ),
        ));
    } else if bytes >= near(SINGLE_HEADER_LIMIT_BYTES) {
        problems.push(Problem::note(
            "header_near_8_kib",
            format!("{header}, close to the 8 KiB many CDNs and proxies allow for one header"),
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(problems: &[Problem]) -> Vec<&str> {
        problems
            .iter()
            .map(|problem| problem.code.as_str())
            .collect()
    }

    #[test]
    fn small_token_has_no_problem() {
        assert!(header_size_problems(800, None, None).is_empty());
    }

    #[test]
    fn sizes_cross_each_limit() {
        // `authorization: Bearer ` (22) and the CRLF (2) add 24 bytes to the token, and the
        // smallest request line and the blank line another 18 toward Envoy's limit.
        assert_eq!(
            codes(&header_size_problems(6_120, None, None)),
            ["header_near_8_kib"]
        );
        assert!(header_size_problems(6_119, None, None).is_empty());
        assert_eq!(
            codes(&header_size_problems(8_168, None, None)),
            ["header_near_8_kib"]
        );
        assert_eq!(
            codes(&header_size_problems(8_169, None, None)),
            ["header_over_8_kib"]
        );
        assert_eq!(
            codes(&header_size_problems(46_056, None, None)),
            ["headers_near_limit", "header_over_8_kib"]
        );
        assert_eq!(
            codes(&header_size_problems(61_398, None, None)),
            ["headers_near_limit", "header_over_8_kib"]
        );
        assert_eq!(
            codes(&header_size_problems(61_399, None, None)),
            ["headers_too_large", "header_over_8_kib"]
        );
    }

    #[test]
    fn header_name_and_scheme_count() {
        let problems = header_size_problems(61_000, Some("x-jwt"), None);
        assert_eq!(
            codes(&problems),
            ["headers_near_limit", "header_over_8_kib"]
        );
        assert!(
            problems[0]
                .message
                .starts_with("the `x-jwt` header carrying the token is 61009 bytes"),
            "{problems:?}"
        );
    }
}
