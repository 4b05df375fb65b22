//! The findings about one flow, and the hop facts the rules share.
//!
//! Each rule reads the hops in order and reports a problem once per flow (or once per hop pair), naming
//! the hops by their `where` and quoting the evidence from their records.

use super::identity::{identity_dropped, identity_mismatch};
use super::verdict::{edge_fail_open, token_rejected, unattributed_deny, verdict_disagreement};
use crate::model::{DecidedBy, Decision, Finding, FindingKind, Flow, Hop, HopKind};

/// Returns the findings about `flow`, most important first.
///
/// Causes come before their symptoms: a failed `EdgeWorker` that let the request through, a dropped
/// identity and a rejected token explain the verdict disagreement that follows from them. Findings of
/// one kind keep the order of the hops they name.
pub fn findings(flow: &Flow) -> Vec<Finding> {
    let hops = flow.hops.as_slice();
    let mut all = Vec::new();
    all.extend(edge_fail_open(hops));
    all.extend(identity_dropped(hops));
    all.extend(token_rejected(hops));
    all.extend(identity_mismatch(hops));
    all.extend(verdict_disagreement(hops));
    all.extend(unattributed_deny(hops));
    all.sort_by_key(|finding| importance(finding.kind));
    all
}

/// Returns the rank of a finding kind: lower is more important.
fn importance(kind: FindingKind) -> u8 {
    match kind {
        FindingKind::EdgeFailOpen => 0,
        FindingKind::IdentityDropped => 1,
        FindingKind::TokenRejected => 2,
        FindingKind::IdentityMismatch => 3,
        FindingKind::VerdictDisagreement => 4,
        FindingKind::UnattributedDeny => 5,
    }
}

/// Creates a finding about the hops at `hops` (indexes into the flow's hops).
pub(super) fn finding(kind: FindingKind, message: String, hops: Vec<usize>) -> Finding {
    Finding {
        kind,
        message,
        hops,
    }
}

/// Returns true when the hop forwarded the request and returned whatever came back from further on.
///
/// Envoy logs `via_upstream` when the response came from the upstream, so a 403 logged that way by a
/// gateway was decided at the next hop (or by the application), not by the gateway.
pub(super) fn passed_on(hop: &Hop) -> bool {
    hop.decided_by == DecidedBy::Upstream
        || hop
            .details
            .as_deref()
            .is_some_and(|details| details.starts_with("via_upstream"))
}

/// Returns true when the hop itself refused the request.
pub(super) fn own_denial(hop: &Hop) -> bool {
    hop.decision == Decision::Deny && !passed_on(hop)
}

/// Returns true when the hop returned 401 or 403 but its record names neither who decided nor an
/// upstream as the source of the status.
pub(super) fn unexplained_refusal(hop: &Hop) -> bool {
    hop.decision == Decision::Unknown && matches!(hop.status, 401 | 403) && !passed_on(hop)
}

/// Returns the index and hop of the first edge hop.
pub(super) fn edge_hop(hops: &[Hop]) -> Option<(usize, &Hop)> {
    hops.iter()
        .enumerate()
        .find(|(_, hop)| hop.kind == HopKind::Edge)
}

/// Returns the indexes and hops of the mesh hops, in order.
pub(super) fn mesh_hops(hops: &[Hop]) -> impl Iterator<Item = (usize, &Hop)> {
    hops.iter()
        .enumerate()
        .filter(|(_, hop)| hop.kind == HopKind::Mesh)
}

/// Returns the hop's reason, else its raw details, else a placeholder, for quoting in a message.
pub(super) fn reason_text(hop: &Hop) -> &str {
    hop.reason
        .as_deref()
        .or(hop.details.as_deref())
        .unwrap_or("no reason logged")
}

/// Joins hop locations as `a`, `a and b`, or `a, b and c`.
pub(super) fn join_locations(hops: &[&Hop]) -> String {
    let names: Vec<&str> = hops.iter().map(|hop| hop.location.as_str()).collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}
