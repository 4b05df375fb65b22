//! Findings about the verdicts: `token-rejected`, `verdict-disagreement`, `edge-fail-open` and
//! `unattributed-deny`.

use std::fmt::Write as _;

use super::findings::{
    edge_hop, finding, mesh_hops, own_denial, passed_on, reason_text, unexplained_refusal,
};
use crate::model::{DecidedBy, Decision, Finding, FindingKind, Hop, HopKind, HopRole};

/// The `jwt_authn` status text for an audience mismatch, the one failure it rejects with 403.
const AUDIENCE_NOT_ALLOWED: &str = "Audiences in Jwt are not allowed";

/// Returns what the records add to a `jwt_authn` reason, or an empty string.
fn jwt_reason_hint(reason: &str, location: &str) -> String {
    if reason == AUDIENCE_NOT_ALLOWED {
        // Envoy's jwt_authn returns 403 only for JwtAudienceNotAllowed and 401 for every other failure.
        " jwt_authn returns 403 only for an audience mismatch, and it runs before RBAC, so no \
         AuthorizationPolicy was evaluated: compare the token's aud claim with the audiences of the \
         jwtRules entry."
            .to_owned()
    } else if reason.starts_with("Jwks doesn't have key") {
        " When every token fails this way, istiod may have failed to fetch the JWKS and served a \
         placeholder key instead, or the issuer rotated its keys after istiod last fetched them \
         (every 20 minutes by default)."
            .to_owned()
    } else if reason == "Jwt issuer is not configured" {
        format!(" No jwtRules entry that applies to {location} names the token's issuer.")
    } else {
        String::new()
    }
}

/// Reports `token-rejected`: `jwt_authn` at a mesh hop refused the token, or the edge refused the request.
pub(super) fn token_rejected(hops: &[Hop]) -> Vec<Finding> {
    let mut found = Vec::new();
    for (index, hop) in hops.iter().enumerate() {
        let message = match hop.kind {
            HopKind::Mesh if hop.decided_by == DecidedBy::JwtAuthn && own_denial(hop) => {
                let reason = reason_text(hop);
                format!(
                    "jwt_authn at {} rejected the token with {}: {reason}.{}",
                    hop.location,
                    hop.status,
                    jwt_reason_hint(reason, &hop.location)
                )
            }
            HopKind::Edge if hop.decision == Decision::Deny => format!(
                "{} rejected the request with {}: {}.",
                hop.location,
                hop.status,
                reason_text(hop)
            ),
            _ => continue,
        };
        found.push(finding(FindingKind::TokenRejected, message, vec![index]));
    }
    found
}

/// Describes why a mesh hop denied the request, from who decided and the policy or reason it logged.
fn denial_cause(hop: &Hop) -> String {
    match hop.decided_by {
        DecidedBy::JwtAuthn => format!("jwt_authn rejected the token ({})", reason_text(hop)),
        DecidedBy::Rbac => match (&hop.policy, hop.rule) {
            (Some(policy), Some(rule)) => {
                format!("AuthorizationPolicy {policy} rule {rule} matched")
            }
            (Some(policy), None) => format!("AuthorizationPolicy {policy} matched"),
            (None, _) if matched_no_policy(hop) => {
                let mut cause = "no ALLOW policy matched (`matched_policy[none]`)".to_owned();
                if hop.identity.request_principal.is_none() && hop.identity.issuer.is_none() {
                    let _ = write!(cause, ", and {} saw no request principal", hop.location);
                }
                cause
            }
            (None, _) => "RBAC denied it without naming the policy".to_owned(),
        },
        DecidedBy::ExtAuthz => format!(
            "the CUSTOM (ext_authz) provider denied it ({})",
            reason_text(hop)
        ),
        DecidedBy::Edgeworker | DecidedBy::Upstream | DecidedBy::Other => match &hop.details {
            Some(details) => format!("its record logs `{details}`"),
            None => "its record does not say who decided".to_owned(),
        },
    }
}

/// Returns true when RBAC denied because no ALLOW policy matched (`rbac_access_denied_matched_policy[none]`).
fn matched_no_policy(hop: &Hop) -> bool {
    hop.reason.as_deref() == Some("none")
        || hop
            .details
            .as_deref()
            .is_some_and(|details| details.contains("matched_policy[none]"))
}

/// Reports `verdict-disagreement`: the edge allowed and a mesh hop denied, or the edge denied and the
/// records show a mesh hop that received and allowed the request.
pub(super) fn verdict_disagreement(hops: &[Hop]) -> Option<Finding> {
    let (edge_index, edge) = edge_hop(hops)?;
    match edge.decision {
        Decision::Allow => {
            let (index, denier) =
                mesh_hops(hops).find(|(_, hop)| own_denial(hop) || unexplained_refusal(hop))?;
            let message = format!(
                "{} allowed the request, but {} denied it with {}: {}.",
                edge.location,
                denier.location,
                denier.status,
                denial_cause(denier)
            );
            Some(finding(
                FindingKind::VerdictDisagreement,
                message,
                vec![edge_index, index],
            ))
        }
        Decision::Deny => {
            let (index, allower) = mesh_hops(hops)
                .filter(|(_, hop)| hop.decision == Decision::Allow)
                .last()?;
            let message = format!(
                "{} denied the request with {} ({}), yet {} received it and allowed it.",
                edge.location,
                edge.status,
                reason_text(edge),
                allower.location
            );
            Some(finding(
                FindingKind::VerdictDisagreement,
                message,
                vec![edge_index, index],
            ))
        }
        Decision::Error | Decision::Unknown => None,
    }
}

/// Reports `edge-fail-open`: the `EdgeWorker` failed and the request still reached the mesh.
pub(super) fn edge_fail_open(hops: &[Hop]) -> Option<Finding> {
    let (edge_index, edge) = edge_hop(hops).filter(|(_, hop)| hop.decision == Decision::Error)?;
    let (mesh_index, first_mesh) = mesh_hops(hops).next()?;
    let message = format!(
        "{} failed ({}) and the request still reached {}, so the edge did not check its identity.",
        edge.location,
        reason_text(edge),
        first_mesh.location
    );
    Some(finding(
        FindingKind::EdgeFailOpen,
        message,
        vec![edge_index, mesh_index],
    ))
}

/// Reports `unattributed-deny`: a denial whose cause the records do not name, with the candidates.
///
/// The cases:
/// - RBAC logged a bare `rbac_access_denied`, as Envoy releases did before the matched policy was
///   added to the details.
/// - A mesh hop returned 401 or 403 and its record names no auth decision.
/// - A gateway passed on a 401 or 403 from upstream, and no record of the next proxy joined the flow.
/// - The edge returned 401 or 403 without saying whether the `EdgeWorker` or the origin responded, and
///   no mesh hop returned that status.
///
/// A sidecar that passed on a 403 is not reported, because its upstream is the application, which
/// decided.
pub(super) fn unattributed_deny(hops: &[Hop]) -> Vec<Finding> {
    let last_mesh = mesh_hops(hops).last().map(|(index, _)| index);
    hops.iter()
        .enumerate()
        .filter_map(|(index, hop)| {
            let message = match hop.kind {
                HopKind::Edge => unattributed_at_edge(hop, hops),
                HopKind::Mesh => unattributed_at_mesh(hop, last_mesh == Some(index)),
            }?;
            Some(finding(FindingKind::UnattributedDeny, message, vec![index]))
        })
        .collect()
}

/// Returns the message for a mesh hop's denial whose cause its record does not name. `is_last` is
/// true when no later mesh hop joined the flow.
fn unattributed_at_mesh(hop: &Hop, is_last: bool) -> Option<String> {
    if own_denial(hop)
        && hop.decided_by == DecidedBy::Rbac
        && hop.policy.is_none()
        && !matched_no_policy(hop)
    {
        return Some(format!(
            "{} denied the request with {} (`{}`) but the record does not name the policy: the \
             candidates are a DENY policy that matched, no ALLOW policy matching, or a CUSTOM \
             policy's provider.",
            hop.location,
            hop.status,
            reason_text(hop)
        ));
    }
    if unexplained_refusal(hop) || (own_denial(hop) && hop.decided_by == DecidedBy::Other) {
        return Some(format!(
            "{} returned {} and its record names no auth decision ({}): the candidates are \
             jwt_authn (401, or 403 for an audience mismatch), an AuthorizationPolicy, a CUSTOM \
             ext_authz provider, or the application.",
            hop.location,
            hop.status,
            hop.details.as_deref().unwrap_or("no response code details")
        ));
    }
    let gateway_passed_refusal = passed_on(hop)
        && matches!(hop.status, 401 | 403)
        && hop.role == Some(HopRole::Gateway)
        && is_last;
    gateway_passed_refusal.then(|| {
        format!(
            "{} passed on a {} from its upstream, but no record of the next proxy joined this flow: \
             the candidates are jwt_authn or an AuthorizationPolicy at that proxy, or the application.",
            hop.location, hop.status
        )
    })
}

/// Returns the message for an edge 401 or 403 whose decider is unknown and that no mesh hop explains.
fn unattributed_at_edge(edge: &Hop, hops: &[Hop]) -> Option<String> {
    if edge.decision != Decision::Unknown || !matches!(edge.status, 401 | 403) {
        return None;
    }
    let mut mesh = mesh_hops(hops).peekable();
    if mesh.peek().is_none() {
        return Some(format!(
            "{} returned {} without saying whether the EdgeWorker or the origin responded, and no mesh \
             record joined this flow: the candidates are the EdgeWorker, or jwt_authn, an \
             AuthorizationPolicy or the application behind the origin.",
            edge.location, edge.status
        ));
    }
    if mesh.any(|(_, hop)| hop.status == edge.status) {
        return None;
    }
    Some(format!(
        "{} returned {} without saying who responded, and no mesh hop returned that status: the \
         candidate is the EdgeWorker.",
        edge.location, edge.status
    ))
}
