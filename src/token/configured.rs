//! Reading pasted text at the token locations a workload's `RequestAuthentication` objects
//! configure (`fromHeaders` with their prefixes, `fromParams`, `fromCookies`), the way Envoy's
//! `jwt_authn` extractor reads a request with those providers. Istio's default locations are left
//! to [`super::find`], which explains more about what it finds there.

use super::find::{
    Found, MeshReading, pick_token, pick_token_in, read_query_value, split_header_line,
    strip_quotes,
};
use super::request::{self, QUERY_PARAMETER};
use super::{Problem, plural};
use crate::mesh::jwt::config::JwtProvider;
use crate::mesh::jwt::extract::{self, Location};

/// Finds the token Envoy's `jwt_authn` reads first from `trimmed` (pasted text without
/// surrounding whitespace) with `providers`, when it reads one at a location other than Istio's
/// defaults. Returns `None` when it reads none there, or when the text there contains no token,
/// so that the default reading applies.
pub(super) fn find_at(trimmed: &str, providers: &[&JwtProvider]) -> Option<Found> {
    let PastedHeaders {
        source,
        headers,
        path,
    } = pasted_headers(trimmed)?;
    let read = extract::extract(providers, &headers, &path);
    let first = read.first()?;
    if is_default(&first.location) {
        return None;
    }
    let mut picked = match &first.location {
        Location::Param(name) => {
            pick_token_in(&first.token, &format!("the `{name}` query parameter")).ok()?
        }
        Location::Header { .. } | Location::Cookie(_) => pick_token(&first.token).ok()?,
    };
    // Envoy's jwt_authn reads a query parameter's whole value as the token.
    // NOTE: a configured header or cookie value is still judged as the token alone.
    let mesh_reading = match &first.location {
        Location::Param(_) => read_query_value(&first.token, &mut picked),
        Location::Header { .. } | Location::Cookie(_) => MeshReading::Token,
    };
    let (token, kind, mut problems) = picked;
    let mut parts: Vec<String> = source.into_iter().map(str::to_owned).collect();
    let (mut header_name, mut query_parameter, mut cookie_name) = (None, None, None);
    match &first.location {
        Location::Header { name, prefix } => {
            parts.push(format!("{name} header"));
            if !prefix.is_empty() {
                parts.push(format!("after the configured prefix `{prefix}`"));
            }
            let value = header_value(&headers, name);
            problems.extend(text_before_prefix(name, prefix, &value));
            header_name = Some(name.clone());
        }
        Location::Param(name) => {
            parts.push(format!("{name} query parameter"));
            query_parameter = Some(name.clone());
        }
        Location::Cookie(name) => {
            parts.push(format!("cookie {name}"));
            header_name = Some("cookie".to_owned());
            cookie_name = Some(name.clone());
        }
    }
    problems.push(Problem::note(
        "configured_location",
        format!(
            "the token was read at the {} that the workload's RequestAuthentication lists, as \
             Envoy's jwt_authn reads it there",
            first.location
        ),
    ));
    Some(Found {
        text: token,
        kind,
        location: parts.join(", "),
        header_name,
        query_parameter,
        cookie_name,
        scheme: None,
        problems,
        mesh_reading,
        others: read[1..].iter().map(request::other_token).collect(),
    })
}

/// The headers and path of pasted text, as Envoy's extractor reads them.
struct PastedHeaders {
    /// The shape of the text (`curl command`, `header block` …), or `None` for one header line.
    source: Option<&'static str>,
    headers: Vec<(String, String)>,
    /// The path with the query.
    path: String,
}

/// Reads `trimmed` as a request in any shape decode reads, or as one `Name: value` header line.
fn pasted_headers(trimmed: &str) -> Option<PastedHeaders> {
    if let Some((source, request)) = request::read_request(trimmed) {
        let headers = request
            .header_pairs()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        return Some(PastedHeaders {
            source: Some(source),
            headers,
            path: request.path(),
        });
    }
    let (line, _) = strip_quotes(trimmed);
    if line.contains('\n') {
        return None;
    }
    let (name, value) = split_header_line(line)?;
    Some(PastedHeaders {
        source: None,
        headers: vec![(name.to_owned(), value.to_owned())],
        path: "/".to_owned(),
    })
}

/// Returns whether `location` is one of Istio's defaults, `Authorization: Bearer` and the
/// `access_token` query parameter.
fn is_default(location: &Location) -> bool {
    match location {
        Location::Header { name, prefix } => name == "authorization" && prefix == "Bearer ",
        Location::Param(name) => name == QUERY_PARAMETER,
        Location::Cookie(_) => false,
    }
}

/// Returns the values of header `name` joined with `,`, as Envoy reads a repeated header.
fn header_value(headers: &[(String, String)], name: &str) -> String {
    let values: Vec<&str> = headers
        .iter()
        .filter(|(header, _)| header.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
        .collect();
    values.join(",")
}

/// Returns the problem for text before `prefix` in `value`, the value of header `name`. Envoy's
/// extractor finds the prefix anywhere in the value (Envoy 1.29 and later), but servers that
/// compare the value's start with the prefix reject it.
fn text_before_prefix(name: &str, prefix: &str, value: &str) -> Option<Problem> {
    let position = value.find(prefix).filter(|position| *position > 0)?;
    let skipped = plural(value[..position].chars().count(), "character");
    Some(Problem::warning(
        "text_before_prefix",
        format!(
            "the `{name}` value has {skipped} before the configured prefix `{prefix}`. Envoy's \
             jwt_authn finds the prefix anywhere in the value and reads the token after it, but \
             other servers expect the prefix first. Remove the text before the prefix"
        ),
    ))
}
