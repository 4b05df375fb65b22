//! Findings about the identity each hop saw: `identity-dropped` and `identity-mismatch`.

use std::borrow::Cow;
use std::fmt::Write as _;

use super::findings::{edge_hop, finding, join_locations, mesh_hops};
use crate::model::{Finding, FindingKind, Hop, HopKind, HopRole, Identity};

/// Returns true when the hop saw a token: it logged the header, `jwt_authn` claims, a request principal
/// or a fingerprint.
fn saw_token(identity: &Identity) -> bool {
    !identity.is_empty()
}

/// Returns true when `jwt_authn` (or the `EdgeWorker`) read claims from the token.
fn has_claims(identity: &Identity) -> bool {
    identity.issuer.is_some() || identity.subject.is_some() || identity.request_principal.is_some()
}

/// Returns true when the record shows the hop had no token: the header was logged absent and there
/// are no claims. A record that does not log the header says nothing either way.
fn saw_none(identity: &Identity) -> bool {
    identity.token_present == Some(false) && identity.is_empty()
}

/// Describes the claims a hop read (`request principal P`, or `issuer I, subject S`), or `None`.
fn describe_claims(identity: &Identity) -> Option<String> {
    if let Some(principal) = &identity.request_principal {
        return Some(format!("request principal {principal}"));
    }
    let parts: Vec<String> = [("issuer", &identity.issuer), ("subject", &identity.subject)]
        .into_iter()
        .filter_map(|(name, value)| value.as_ref().map(|value| format!("{name} {value}")))
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// Describes what a hop saw of the token, for a message.
fn describe_token(identity: &Identity) -> String {
    if let Some(claims) = describe_claims(identity) {
        return format!("a token with {claims}");
    }
    match (&identity.token_location, &identity.token_fingerprint) {
        (Some(location), _) => format!("a token in {location}"),
        (None, Some(fingerprint)) => format!("a token ({fingerprint})"),
        (None, None) => "a token".to_owned(),
    }
}

/// Returns how a logged token location fails Envoy's default extraction, or `None` when `jwt_authn`
/// reads it or the location is not the `Authorization` header.
///
/// Envoy's `jwt_authn` finds the `Bearer ` prefix in `Authorization` with a case-sensitive search and,
/// when it is not there, skips the header: the token counts as missing, not invalid. So
/// `authorization: bearer` and a bare token both leave the request without a request principal.
fn unread_scheme(location: &str) -> Option<String> {
    let (header, scheme) = location
        .split_once(':')
        .map_or((location, ""), |(header, scheme)| (header, scheme));
    let (header, scheme) = (header.trim(), scheme.trim());
    // NOTE: this assumes the default jwtRules location. A `fromHeaders` entry with another prefix
    // would read such a header, but the records do not show the configuration.
    if !header.eq_ignore_ascii_case("authorization") || scheme == "Bearer" {
        return None;
    }
    // A bare JWT starts with the base64url form of `{"`, which is what a 7-character log shows.
    if scheme.is_empty() || scheme.starts_with("eyJ") {
        Some("without a scheme".to_owned())
    } else {
        Some(format!("with the scheme `{scheme}`"))
    }
}

/// Reports `identity-dropped`: a hop saw a token and a later hop saw none, or the token travelled in a
/// form that `jwt_authn` does not read.
pub(super) fn identity_dropped(hops: &[Hop]) -> Vec<Finding> {
    let mut found = Vec::new();
    let mut last_seen: Option<usize> = None;
    for (index, hop) in hops.iter().enumerate() {
        if saw_token(&hop.identity) {
            last_seen = Some(index);
        } else if saw_none(&hop.identity) {
            // `take` reports one drop per transition, not once for every later hop without a token.
            if let Some(from) = last_seen.take() {
                found.push(dropped_between(hops, from, index));
            }
        }
    }
    found.extend(unread_location(hops));
    found
}

fn dropped_between(hops: &[Hop], from: usize, to: usize) -> Finding {
    let (before, after) = (&hops[from], &hops[to]);
    let mut message = format!(
        "identity dropped between {} and {}: {} saw {}, but {} saw no token and no claims.",
        before.location,
        after.location,
        before.location,
        describe_token(&before.identity),
        after.location,
    );
    if before.role == Some(HopRole::Gateway) && has_claims(&before.identity) {
        let _ = write!(
            message,
            " Likely cause: jwt_authn at {} accepted the token and removed the Authorization header \
             after verifying it, because the gateway's RequestAuthentication does not set \
             forwardOriginalToken: true.",
            before.location
        );
    } else if before.kind == HopKind::Edge {
        message.push_str(" Check that the edge forwards the Authorization header to the origin.");
    }
    finding(FindingKind::IdentityDropped, message, vec![from, to])
}

/// Reports mesh hops that received the token in `Authorization` without the exact `Bearer ` prefix
/// and read no claims from it. When no mesh hop logged the header, an edge record that found the
/// token that way and mesh hops without claims are reported instead.
fn unread_location(hops: &[Hop]) -> Option<Finding> {
    let unread: Vec<(usize, &Hop, String)> = mesh_hops(hops)
        .filter(|(_, hop)| !has_claims(&hop.identity))
        .filter_map(|(index, hop)| {
            let location = hop.identity.token_location.as_deref()?;
            unread_scheme(location).map(|problem| (index, hop, problem))
        })
        .collect();
    let edge = edge_hop(hops).filter(|(_, hop)| saw_token(&hop.identity));

    if let Some((_, first, problem)) = unread.first() {
        let names: Vec<&Hop> = unread.iter().map(|(_, hop, _)| *hop).collect();
        let mut message = format!(
            "jwt_authn at {} treated the token as missing: it arrived in Authorization {problem} \
             (logged as `{}`), but Envoy looks for the case-sensitive `Bearer ` prefix and skips the \
             header otherwise, so no request principal was set.",
            join_locations(&names),
            first.identity.token_location.as_deref().unwrap_or_default(),
        );
        let mut indexes: Vec<usize> = unread.iter().map(|(index, _, _)| *index).collect();
        let edge_claims = edge.and_then(|(index, hop)| {
            describe_claims(&hop.identity).map(|claims| (index, hop, claims))
        });
        if let Some((edge_index, edge, claims)) = edge_claims {
            let _ = write!(
                message,
                " {} read the same token and found {claims}.",
                edge.location
            );
            indexes.insert(0, edge_index);
        }
        return Some(finding(FindingKind::IdentityDropped, message, indexes));
    }

    let (edge_index, edge) = edge?;
    let problem = unread_scheme(edge.identity.token_location.as_deref()?)?;
    let without_claims: Vec<(usize, &Hop)> = mesh_hops(hops)
        .filter(|(_, hop)| !has_claims(&hop.identity) && hop.identity.token_present.is_none())
        .collect();
    if without_claims.is_empty() {
        return None;
    }
    let names: Vec<&Hop> = without_claims.iter().map(|(_, hop)| *hop).collect();
    let message = format!(
        "{} found the token in Authorization {problem} (`{}`), and {} read no claims: Envoy's \
         jwt_authn looks for the case-sensitive `Bearer ` prefix and treats the token as missing \
         otherwise.",
        edge.location,
        edge.identity.token_location.as_deref().unwrap_or_default(),
        join_locations(&names),
    );
    let mut indexes = vec![edge_index];
    indexes.extend(without_claims.iter().map(|(index, _)| *index));
    Some(finding(FindingKind::IdentityDropped, message, indexes))
}

/// Returns the identity fields compared between hops, with their names for messages. The fields are
/// borrowed from the identity, except the audiences, which compare as a sorted, comma-joined set.
fn compared_fields(identity: &Identity) -> [(&'static str, Option<Cow<'_, str>>); 5] {
    let audiences = match identity.audiences.as_slice() {
        [] => None,
        [audience] => Some(Cow::Borrowed(audience.as_str())),
        audiences => {
            let mut sorted: Vec<&str> = audiences.iter().map(String::as_str).collect();
            sorted.sort_unstable();
            sorted.dedup();
            Some(Cow::Owned(sorted.join(",")))
        }
    };
    [
        ("issuer", identity.issuer.as_deref().map(Cow::Borrowed)),
        ("subject", identity.subject.as_deref().map(Cow::Borrowed)),
        ("audiences", audiences),
        (
            "request principal",
            identity.request_principal.as_deref().map(Cow::Borrowed),
        ),
        (
            "token fingerprint",
            identity.token_fingerprint.as_deref().map(Cow::Borrowed),
        ),
    ]
}

/// Reports `identity-mismatch`: an identity field differs between two hops that both logged it.
///
/// Each hop is compared, field by field, with the nearest earlier hop that logged the same field, so a
/// change is reported once where it happens and not again at every later hop. Audiences compare as
/// sets. One finding covers all fields that differ between the same two hops.
pub(super) fn identity_mismatch(hops: &[Hop]) -> Vec<Finding> {
    let fields: Vec<_> = hops
        .iter()
        .map(|hop| compared_fields(&hop.identity))
        .collect();

    let mut pairs: Vec<((usize, usize), Vec<String>)> = Vec::new();
    for (later, later_fields) in fields.iter().enumerate() {
        for (field, (name, value)) in later_fields.iter().enumerate() {
            let Some(value) = value else {
                continue;
            };
            let earlier = (0..later)
                .rev()
                .find_map(|index| fields[index][field].1.as_ref().map(|seen| (index, seen)));
            let Some((earlier, seen)) = earlier.filter(|(_, seen)| *seen != value) else {
                continue;
            };
            let difference = format!(
                "{name} `{seen}` at {} but `{value}` at {}",
                hops[earlier].location, hops[later].location
            );
            match pairs.iter_mut().find(|(pair, _)| *pair == (earlier, later)) {
                Some((_, differences)) => differences.push(difference),
                None => pairs.push(((earlier, later), vec![difference])),
            }
        }
    }

    pairs
        .into_iter()
        .map(|((earlier, later), differences)| {
            let message = format!(
                "identity differs between {} and {}: {}.",
                hops[earlier].location,
                hops[later].location,
                differences.join("; ")
            );
            finding(FindingKind::IdentityMismatch, message, vec![earlier, later])
        })
        .collect()
}
