//! Istio's value patterns (`abc`, `abc*`, `*abc`, `*`) turned into Envoy matchers, as istiod's
//! authz matcher helpers do it.

use std::net::IpAddr;

use super::config::{
    CidrRange, HeaderCheck, HeaderMatcher, ListMatcher, MetadataMatcher, OrMatcher, PathSegment,
    StringMatcher, ValueMatcher,
};

/// jwt_authn's dynamic metadata namespace, where the accepted token's claims sit under `payload`.
pub const JWT_AUTHN_FILTER: &str = "envoy.filters.http.jwt_authn";
/// The metadata namespace of the `istio_authn` filter that proxies before Istio 1.21 had.
pub const ISTIO_AUTHN_FILTER: &str = "istio_authn";

/// Converts a value pattern into a string matcher, with `prefix` put in front of the value
/// (`spiffe://` for principals). `*` alone becomes the regex `.+` (present and non-empty) because
/// Envoy rejects an empty prefix or suffix.
pub fn string_with_prefix(v: &str, prefix: &str) -> StringMatcher {
    if v == "*" {
        StringMatcher::regex(".+")
    } else if let Some(rest) = v.strip_prefix('*') {
        if prefix.is_empty() {
            StringMatcher::suffix(rest)
        } else {
            StringMatcher::regex(format!("{prefix}.*{}", quote_meta(rest)))
        }
    } else if let Some(rest) = v.strip_suffix('*') {
        StringMatcher::prefix(format!("{prefix}{rest}"))
    } else {
        StringMatcher::exact(format!("{prefix}{v}"))
    }
}

/// Converts a value pattern into a string matcher.
pub fn string(v: &str) -> StringMatcher {
    string_with_prefix(v, "")
}

/// Builds a header matcher: like [`string`], except that `*` is a presence check.
pub fn header(name: &str, v: &str) -> HeaderMatcher {
    let check = if v == "*" {
        HeaderCheck::PresentMatch(true)
    } else {
        HeaderCheck::StringMatch(string(v))
    };
    HeaderMatcher {
        name: name.to_owned(),
        check,
        invert_match: false,
    }
}

/// Builds a `hosts` matcher on `:authority`: a header matcher that ignores case.
pub fn host(v: &str) -> HeaderMatcher {
    let mut m = header(":authority", v);
    if let HeaderCheck::StringMatch(s) = &mut m.check {
        s.ignore_case = true;
    }
    m
}

/// Builds a metadata matcher on the jwt_authn payload: the claim as a string, or a list containing
/// a matching element (the form istiod emits since the list-claim fix in Istio 1.21).
pub fn jwt_claim(claims: &[String], values: &[String]) -> MetadataMatcher {
    let or = or_values(
        values
            .iter()
            .map(|v| ValueMatcher::StringMatch(string(v)))
            .collect(),
    );
    let value = ValueMatcher::OrMatch(OrMatcher {
        value_matchers: vec![
            ValueMatcher::ListMatch(ListMatcher {
                one_of: Box::new(or.clone()),
            }),
            or,
        ],
    });
    jwt_payload(claims, value)
}

/// Combines value matchers with `or_match`, or returns a single matcher unwrapped.
pub fn or_values(mut value_matchers: Vec<ValueMatcher>) -> ValueMatcher {
    if value_matchers.len() == 1 {
        value_matchers.remove(0)
    } else {
        ValueMatcher::OrMatch(OrMatcher { value_matchers })
    }
}

/// Builds a metadata matcher under the jwt_authn `payload`.
pub fn jwt_payload(claims: &[String], value: ValueMatcher) -> MetadataMatcher {
    let path = std::iter::once("payload")
        .chain(claims.iter().map(String::as_str))
        .map(|key| PathSegment {
            key: key.to_owned(),
        })
        .collect();
    MetadataMatcher {
        filter: JWT_AUTHN_FILTER.to_owned(),
        path,
        value,
    }
}

/// Parses an address or CIDR into a range. A bare address is a /32 or /128.
pub fn cidr(v: &str) -> Result<CidrRange, String> {
    let (addr, len) = match v.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (v, None),
    };
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| format!("bad IP address (\"{v}\")"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix_len = match len {
        None => max,
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| format!("bad CIDR range (\"{v}\")"))?,
    };
    Ok(CidrRange {
        address_prefix: addr.to_owned(),
        prefix_len,
    })
}

/// Escapes the characters Go's `regexp.QuoteMeta` escapes, so generated regexes read as istiod's.
pub fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Extracts the names inside `[a][b]…`. When the text is not such a sequence, the whole bracket
/// content is one name (`[foo.com/name]` is the claim `foo.com/name`).
pub fn names_in_brackets(s: &str) -> Result<Vec<String>, String> {
    let inner = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .filter(|r| !r.is_empty())
        .ok_or_else(|| format!("bad key ({s}): should have format a[b]"))?;
    let parts: Vec<&str> = inner.split("][").collect();
    if parts
        .iter()
        .all(|p| !p.is_empty() && !p.contains(['[', ']']))
    {
        Ok(parts.into_iter().map(str::to_owned).collect())
    } else {
        Ok(vec![inner.to_owned()])
    }
}
