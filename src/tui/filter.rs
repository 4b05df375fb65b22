//! The `/` filter: a case-insensitive substring over the fields a user searches flows by.

use crate::model::Flow;

use super::format::badge;

/// Returns true when `needle` (already lower-case) occurs in the flow's method, path, a hop's
/// location, policy or reason, or a finding's kind or badge. An empty needle matches every flow.
pub fn matches(flow: &Flow, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    let hit = |text: &str| text.to_lowercase().contains(needle);
    let request = [flow.method.as_deref(), flow.path.as_deref()]
        .into_iter()
        .flatten()
        .any(hit);
    let hops = flow.hops.iter().any(|hop| {
        hit(&hop.location)
            || [hop.policy.as_deref(), hop.reason.as_deref()]
                .into_iter()
                .flatten()
                .any(hit)
    });
    let findings = flow
        .findings
        .iter()
        .any(|finding| hit(finding.kind.as_str()) || hit(badge(finding.kind)));
    request || hops || findings
}
