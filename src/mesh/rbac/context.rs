//! The request as Envoy's RBAC filter reads it: the normalized path without query, the pseudo
//! headers, the client address from `x-forwarded-for`, and the jwt_authn payload.

use std::borrow::Cow;
use std::net::IpAddr;

use serde_json::Value;

use crate::mesh::{Protocol, Request};

/// Request attributes the matchers read, computed once per request.
pub(super) struct Ctx<'a> {
    pub req: &'a Request,
    /// The path after `normalize_path`, query and fragment removed (what `url_path` matches).
    pub path: Cow<'a, str>,
    /// `remote.ip`: the `x-forwarded-for` entry `xff_trusted_hops` from the right, else the peer.
    pub remote_ip: IpAddr,
    pub payload: Option<&'a Value>,
    pub http: bool,
}

impl<'a> Ctx<'a> {
    pub fn new(req: &'a Request, payload: Option<&'a Value>) -> Self {
        let http = req.protocol == Protocol::Http;
        Self {
            req,
            path: normalized(strip_query(&req.path)),
            remote_ip: remote_ip(req),
            payload: if http { payload } else { None },
            http,
        }
    }

    /// Returns a request header by name, pseudo headers included. Repeated headers are joined with
    /// `,` as in Envoy's header matcher. `None` when absent or on a TCP connection.
    pub fn header(&self, name: &str) -> Option<std::borrow::Cow<'a, str>> {
        if !self.http {
            return None;
        }
        let req = self.req;
        match name {
            ":authority" | "host" => Some(req.host.as_str().into()),
            ":method" => Some(req.method.as_str().into()),
            ":path" => Some(req.path.as_str().into()),
            _ => {
                let mut found = req
                    .headers
                    .iter()
                    .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.as_str());
                let first = found.next()?;
                match found.next() {
                    None => Some(first.into()),
                    Some(second) => {
                        let mut joined = format!("{first},{second}");
                        for v in found {
                            joined.push(',');
                            joined.push_str(v);
                        }
                        Some(joined.into())
                    }
                }
            }
        }
    }
}

/// The request field a header matcher reads, chosen once when the matcher is compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HeaderField {
    /// `:authority`, also matched as `host`.
    Authority,
    Method,
    /// `:path` as sent, query included.
    Path,
    /// A header of [`Request::headers`], by name in any case.
    Regular,
}

impl HeaderField {
    pub fn of(name: &str) -> Self {
        match name {
            ":authority" | "host" => Self::Authority,
            ":method" => Self::Method,
            ":path" => Self::Path,
            _ => Self::Regular,
        }
    }
}

impl<'a> Ctx<'a> {
    /// Returns each value of a request header separately (pseudo headers included); nothing when
    /// absent or on a TCP connection. `name` is only read for [`HeaderField::Regular`].
    pub fn header_values(
        &self,
        field: HeaderField,
        name: &'a str,
    ) -> impl Iterator<Item = &'a str> + 'a {
        let req = self.req;
        let (pseudo, regular): (Option<&str>, &[(String, String)]) = match field {
            _ if !self.http => (None, &[]),
            HeaderField::Authority => (Some(&req.host), &[]),
            HeaderField::Method => (Some(&req.method), &[]),
            HeaderField::Path => (Some(&req.path), &[]),
            HeaderField::Regular => (None, &req.headers),
        };
        pseudo.into_iter().chain(
            regular
                .iter()
                .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str()),
        )
    }
}

fn strip_query(path: &str) -> &str {
    match path.bytes().position(|b| b == b'?' || b == b'#') {
        Some(end) => &path[..end],
        None => path,
    }
}

/// Returns the `x-forwarded-for` entry `xff_trusted_hops` from the right (0 is the last), else
/// the peer address when there are too few entries or that one is not an address. Envoy joins
/// repeated `x-forwarded-for` lines with `,` into one list, in the order sent.
fn remote_ip(req: &Request) -> IpAddr {
    let lines: Vec<&str> = req
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("x-forwarded-for"))
        .map(|(_, v)| v.as_str())
        .collect();
    if lines.is_empty() {
        return req.source_ip;
    }
    let hops = usize::try_from(req.xff_trusted_hops).unwrap_or(usize::MAX);
    lines
        .iter()
        .rev()
        .flat_map(|line| line.rsplit(','))
        .nth(hops)
        .and_then(|entry| entry.trim().parse().ok())
        .unwrap_or(req.source_ip)
}

/// Returns `normalize_path(path)`, borrowing `path` when normalizing would not change it.
fn normalized(path: &str) -> Cow<'_, str> {
    if is_normal(path) {
        Cow::Borrowed(path)
    } else {
        Cow::Owned(normalize_path(path))
    }
}

/// Returns whether `normalize_path` leaves `path` as it is: it starts with `/` and has no `%`,
/// no `\` and no `.` or `..` segment.
fn is_normal(path: &str) -> bool {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return false;
    }
    let is_dots = |segment: &[u8]| matches!(segment, [b'.'] | [b'.', b'.']);
    let mut segment_start = 0;
    for (i, b) in bytes.iter().enumerate() {
        match b {
            b'%' | b'\\' => return false,
            b'/' if is_dots(&bytes[segment_start..i]) => return false,
            b'/' => segment_start = i + 1,
            _ => {}
        }
    }
    !is_dots(&bytes[segment_start..])
}

/// Envoy's `normalize_path` (Istio's default `BASE` normalization): percent-encoded unreserved
/// characters decoded, other escapes upper-cased (`%2f` stays encoded as `%2F`), `\` turned into
/// `/`, and `.`/`..` segments resolved. `//` is kept (merging is the `MERGE_SLASHES` option).
pub fn normalize_path(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut decoded = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%'
            && i + 2 < bytes.len()
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit()
        {
            let hex = &path[i + 1..i + 3];
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                if v.is_ascii_alphanumeric() || matches!(v, b'-' | b'.' | b'_' | b'~') {
                    decoded.push(char::from(v));
                } else {
                    decoded.push('%');
                    decoded.push_str(&hex.to_ascii_uppercase());
                }
                i += 3;
                continue;
            }
        }
        let c = path[i..].chars().next().unwrap_or('\u{fffd}');
        decoded.push(if c == '\\' { '/' } else { c });
        i += c.len_utf8();
    }
    remove_dot_segments(&decoded)
}

fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    let last = segments.len().saturating_sub(1);
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "." => {
                if i == last {
                    out.push("");
                }
            }
            ".." => {
                if out.len() > 1 {
                    out.pop();
                }
                if i == last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    if joined.starts_with('/') || joined.is_empty() {
        if joined.is_empty() {
            "/".to_owned()
        } else {
            joined
        }
    } else {
        format!("/{joined}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrowed_path_is_normalized() {
        let paths = [
            "",
            "/",
            "//",
            "/a",
            "/a/",
            "/a//b",
            "a",
            "a/b",
            "/.",
            "/..",
            "/./a",
            "/a/.",
            "/a/..",
            "/a/../b",
            "/a/./b",
            "/.a",
            "/..a",
            "/a.",
            "/a..",
            "/.../a",
            "/a/b.c",
            "/%41",
            "/a%2f",
            "/a%",
            "/a\\b",
            "\\a",
            "/caf\u{e9}",
            "/a/%2E%2E/b",
        ];
        for path in paths {
            assert_eq!(normalized(path), normalize_path(path), "path {path:?}");
            if is_normal(path) {
                assert_eq!(normalize_path(path), path, "{path:?} is left as it is");
            }
        }
    }

    #[test]
    fn query_and_fragment_stripped() {
        assert_eq!(strip_query("/a?b#c"), "/a");
        assert_eq!(strip_query("/a#b?c"), "/a");
        assert_eq!(strip_query("/a"), "/a");
        assert_eq!(strip_query("?"), "");
    }
}
