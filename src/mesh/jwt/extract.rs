//! Token extraction by Envoy's `jwt_authn` for a set of providers (its `Extractor`): header
//! locations first (sorted by header name and prefix), then query parameters, then cookies, one
//! token per location.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::config::JwtProvider;

/// A place a token was read from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Location {
    /// Header name in lower case, and the value prefix.
    Header {
        name: String,
        prefix: String,
    },
    Param(String),
    Cookie(String),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Header { name, prefix } if prefix.is_empty() => write!(f, "header {name}"),
            Self::Header { name, prefix } => write!(f, "header {name} after {prefix:?}"),
            Self::Param(name) => write!(f, "query parameter {name}"),
            Self::Cookie(name) => write!(f, "cookie {name}"),
        }
    }
}

/// Issuers whose providers listed a location; an empty issuer allows every issuer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Issuers {
    allow_all: bool,
    issuers: BTreeSet<String>,
}

impl Issuers {
    fn add(&mut self, issuer: &str) {
        if issuer.is_empty() {
            self.allow_all = true;
        } else {
            self.issuers.insert(issuer.to_owned());
        }
    }

    /// Whether a token from this location may carry `issuer`.
    pub fn allows(&self, issuer: &str) -> bool {
        self.allow_all || self.issuers.contains(issuer)
    }
}

/// A token found at a location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub token: String,
    pub location: Location,
    pub issuers: Issuers,
}

/// Returns the locations the providers read tokens from, each with the issuers listening there,
/// in Envoy's order. A provider with no locations uses `Authorization: Bearer` and `access_token`.
pub fn locations(providers: &[&JwtProvider]) -> BTreeMap<Location, Issuers> {
    let mut locations: BTreeMap<Location, Issuers> = BTreeMap::new();
    for provider in providers {
        let mut add = |location| locations.entry(location).or_default().add(&provider.issuer);
        for header in &provider.from_headers {
            add(Location::Header {
                name: header.name.to_ascii_lowercase(),
                prefix: header.value_prefix.clone(),
            });
        }
        for param in &provider.from_params {
            add(Location::Param(param.clone()));
        }
        for cookie in &provider.from_cookies {
            add(Location::Cookie(cookie.clone()));
        }
        if provider.from_headers.is_empty()
            && provider.from_params.is_empty()
            && provider.from_cookies.is_empty()
        {
            add(Location::Header {
                name: "authorization".to_owned(),
                prefix: "Bearer ".to_owned(),
            });
            add(Location::Param("access_token".to_owned()));
        }
    }
    locations
}

/// Returns the tokens the providers' locations hold in `headers` and the query of `path`, in
/// Envoy's order. A header location gives one token for each entry of the header that has the
/// prefix, as `ExtractorImpl::extract` reads every entry.
pub fn extract(providers: &[&JwtProvider], headers: &[(String, String)], path: &str) -> Vec<Found> {
    let params = query_params(path);
    let cookies = cookies(headers);
    let mut found = Vec::new();
    // The map orders headers before params before cookies, each by key, as Envoy iterates them.
    for (location, issuers) in locations(providers) {
        let tokens: Vec<String> = match &location {
            Location::Header { name, prefix } => header_entries(headers, name)
                .iter()
                .filter_map(|value| after_prefix(value, prefix).map(str::to_owned))
                .collect(),
            Location::Param(name) => params.get(name.as_str()).cloned().into_iter().collect(),
            Location::Cookie(name) => cookies.get(name.as_str()).cloned().into_iter().collect(),
        };
        for token in tokens {
            found.push(Found {
                token,
                location: location.clone(),
                issuers: issuers.clone(),
            });
        }
    }
    found
}

/// Returns the entries of header `name` in Envoy's request header map: an inline header is one
/// entry, its values joined by [`join_header_values`], and any other header has one entry per
/// line. The HTTP/1 codec trims spaces and tabs around each value.
fn header_entries(headers: &[(String, String)], name: &str) -> Vec<String> {
    let values = headers
        .iter()
        .filter(|(header, _)| header.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str());
    if is_inline(name) {
        return join_header_values(name, values).into_iter().collect();
    }
    values
        .map(|value| value.trim_matches([' ', '\t']).to_owned())
        .collect()
}

fn is_inline(name: &str) -> bool {
    INLINE_HEADERS
        .iter()
        .any(|header| header.eq_ignore_ascii_case(name))
}

/// Headers that Envoy's request header map stores inline, as one value, among those a token is
/// read from.
const INLINE_HEADERS: [&str; 1] = ["authorization"];

/// Joins the values of header `name`, sent on separate lines, into the value jwt_authn reads, or
/// returns `None` when there are none. The HTTP/1 codec trims spaces and tabs around each value.
/// An inline header (`Authorization`) is appended to in place with `,`, and an empty value appends
/// nothing (measured with Envoy 1.40). Another header has one entry per line, which jwt_authn
/// reads one by one ([`extract`]), so this joins them with `,` only to show them as one value.
pub fn join_header_values<'a>(
    name: &str,
    values: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let inline = is_inline(name);
    let mut joined: Option<String> = None;
    for value in values {
        let value = value.trim_matches([' ', '\t']);
        match joined.as_mut() {
            None => joined = Some(value.to_owned()),
            Some(_) if inline && value.is_empty() => {}
            Some(text) if inline && text.is_empty() => value.clone_into(text),
            Some(text) => {
                text.push(',');
                text.push_str(value);
            }
        }
    }
    joined
}

/// The token after `prefix` in a header value, or `None` when the value lacks the prefix (the
/// token is then missing, not invalid). The prefix is searched case-sensitively anywhere in the
/// value, and the token runs from the first base64url character or dot after it to the end of
/// the value, or is the whole value when none follows (Envoy 1.40, `ExtractorImpl::extractJWT`).
/// So text after a token stays in it, and a space inside the signature is skipped when jwt_authn
/// decodes it.
fn after_prefix<'a>(value: &'a str, prefix: &str) -> Option<&'a str> {
    if prefix == "Bearer " {
        return crate::token::extract_from_header(value);
    }
    if prefix.is_empty() {
        return Some(value);
    }
    let after = value.find(prefix)? + prefix.len();
    let token_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    match value[after..].find(token_char) {
        Some(start) => Some(&value[after + start..]),
        None => Some(value),
    }
}

/// Query parameters, percent-decoded; the first of a repeated name wins.
fn query_params(path: &str) -> BTreeMap<String, String> {
    let mut params = BTreeMap::new();
    let Some((_, query)) = path.split_once('?') else {
        return params;
    };
    let query = query.split('#').next().unwrap_or_default();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        params
            .entry(percent_decode(name))
            .or_insert_with(|| percent_decode(value));
    }
    params
}

/// Returns `text` with each `%XX` escape decoded, bytes that are not UTF-8 replaced.
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes
            .get(index + 1..index + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (bytes[index], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                index += 3;
            }
            (byte, _) => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Cookies from every `Cookie` header; the first of a repeated name wins, and one pair of double
/// quotes around a value is removed.
fn cookies(headers: &[(String, String)]) -> BTreeMap<String, String> {
    let mut cookies = BTreeMap::new();
    for (_, value) in headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("cookie"))
    {
        for pair in value.split(';') {
            let Some((name, value)) = pair.trim().split_once('=') else {
                continue;
            };
            let value = value
                .strip_prefix('"')
                .and_then(|inner| inner.strip_suffix('"'))
                .unwrap_or(value);
            cookies
                .entry(name.to_owned())
                .or_insert_with(|| value.to_owned());
        }
    }
    cookies
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::jwt::config::JwtHeader;

    fn header(name: &str, value: &str) -> (String, String) {
        (name.to_owned(), value.to_owned())
    }

    fn tokens(provider: &JwtProvider, headers: &[(String, String)], path: &str) -> Vec<String> {
        extract(&[provider], headers, path)
            .into_iter()
            .map(|found| found.token)
            .collect()
    }

    #[test]
    fn default_locations() {
        let provider = JwtProvider::default();
        let headers = [header("Authorization", "Bearer a.b.c")];
        assert_eq!(
            tokens(&provider, &headers, "/?access_token=d.e.f"),
            ["a.b.c", "d.e.f"]
        );
    }

    #[test]
    fn custom_prefix() {
        let provider = JwtProvider {
            from_headers: vec![JwtHeader {
                name: "X-Jwt".to_owned(),
                value_prefix: "Token ".to_owned(),
            }],
            ..JwtProvider::default()
        };
        let headers = [header("x-jwt", "Token  a.b.c")];
        assert_eq!(tokens(&provider, &headers, "/"), ["a.b.c"]);
    }

    #[test]
    fn repeated_values_joined() {
        let cases: [(&str, &[&str], Option<&str>); 7] = [
            ("Authorization", &["Bearer a.b.c", ""], Some("Bearer a.b.c")),
            (
                "authorization",
                &["Bearer a.b.c", " "],
                Some("Bearer a.b.c"),
            ),
            ("authorization", &["", "Bearer a.b.c"], Some("Bearer a.b.c")),
            ("authorization", &["", ""], Some("")),
            ("x-jwt", &["a.b.c", ""], Some("a.b.c,")),
            ("x-jwt", &["", " a.b.c "], Some(",a.b.c")),
            ("x-jwt", &[], None),
        ];
        for (name, values, expected) in cases {
            assert_eq!(
                join_header_values(name, values.iter().copied()).as_deref(),
                expected,
                "{name} {values:?}"
            );
        }
    }

    /// Envoy 1.40 reads a custom header's token after its prefix to the end of the value, and
    /// reads each entry of a header that is not inline on its own.
    #[test]
    fn custom_header_entries_read_apart() {
        let provider = JwtProvider {
            from_headers: vec![JwtHeader {
                name: "x-jwt".to_owned(),
                value_prefix: "Tok ".to_owned(),
            }],
            ..JwtProvider::default()
        };
        let headers = [header("x-jwt", "Tok a.b.c,Tok d.e.f")];
        assert_eq!(tokens(&provider, &headers, "/"), ["a.b.c,Tok d.e.f"]);
        let headers = [header("x-jwt", "Tok a.b.c abcd")];
        assert_eq!(tokens(&provider, &headers, "/"), ["a.b.c abcd"]);
        let headers = [
            header("x-jwt", "Tok a.b.c"),
            header("x-jwt", ""),
            header("x-jwt", "Tok d.e.f"),
        ];
        assert_eq!(tokens(&provider, &headers, "/"), ["a.b.c", "d.e.f"]);
        let bare = JwtProvider {
            from_headers: vec![JwtHeader {
                name: "x-jwt".to_owned(),
                value_prefix: String::new(),
            }],
            ..JwtProvider::default()
        };
        let headers = [header("x-jwt", "a.b.c"), header("x-jwt", " ")];
        assert_eq!(tokens(&bare, &headers, "/"), ["a.b.c", ""]);
    }

    #[test]
    fn prefix_absent_is_missing() {
        let provider = JwtProvider::default();
        let headers = [header("authorization", "bearer a.b.c")];
        assert!(tokens(&provider, &headers, "/").is_empty());
    }

    #[test]
    fn cookie_quotes_removed() {
        let provider = JwtProvider {
            from_cookies: vec!["session".to_owned()],
            ..JwtProvider::default()
        };
        let headers = [header("cookie", "a=1; session=\"x.y.z\"")];
        assert_eq!(tokens(&provider, &headers, "/"), ["x.y.z"]);
    }

    #[test]
    fn param_percent_decoded() {
        assert_eq!(
            query_params("/p?t=a%2Eb&t=z").get("t").map(String::as_str),
            Some("a.b")
        );
    }
}
