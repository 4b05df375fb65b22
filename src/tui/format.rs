//! Short text forms of model values shared by the views: verdict cells, badges, times, truncation.

use ratatui::text::Span;

use crate::model::{DecidedBy, Decision, FindingKind, Flow, Hop, HopKind, HopRole};

use super::theme::{Slot, Theme};

/// Returns the badge shown for a finding kind in the Flows view.
pub fn badge(kind: FindingKind) -> &'static str {
    match kind {
        FindingKind::IdentityDropped => "DROPPED",
        FindingKind::IdentityMismatch => "MISMATCH",
        FindingKind::VerdictDisagreement => "DISAGREE",
        FindingKind::TokenRejected => "REJECTED",
        FindingKind::EdgeFailOpen => "FAIL-OPEN",
        FindingKind::UnattributedDeny => "UNATTRIBUTED",
    }
}

/// Returns the Flows table's finding cell: the first finding's badge and how many more there are,
/// e.g. `DROPPED +1`; empty for a flow without findings.
pub fn badge_text(flow: &Flow) -> String {
    flow.findings
        .first()
        .map(|finding| format!("{}{}", badge(finding.kind), more_findings(flow)))
        .unwrap_or_default()
}

/// Returns ` +N` for the findings after the first, or nothing.
pub fn more_findings(flow: &Flow) -> String {
    match flow.findings.len() {
        0 | 1 => String::new(),
        n => format!(" +{}", n - 1),
    }
}

/// Returns the theme slot that marks a finding kind.
pub fn finding_slot(kind: FindingKind) -> Slot {
    match kind {
        FindingKind::IdentityDropped => Slot::Dropped,
        FindingKind::IdentityMismatch | FindingKind::VerdictDisagreement => Slot::Mismatch,
        FindingKind::TokenRejected => Slot::Deny,
        FindingKind::EdgeFailOpen => Slot::Error,
        FindingKind::UnattributedDeny => Slot::Unverified,
    }
}

/// Returns the theme slot for a hop's verdict: an expired token gets its own slot, and an error
/// status that an allowing hop only passed back stays neutral, so green never marks a 4xx or 5xx.
pub fn verdict_slot(hop: &Hop) -> Slot {
    match hop.decision {
        Decision::Allow if passed_on_error(hop) => Slot::Text,
        Decision::Allow => Slot::Allow,
        Decision::Deny if is_expired(hop) => Slot::Expired,
        Decision::Deny => Slot::Deny,
        Decision::Error => Slot::Error,
        Decision::Unknown => Slot::Muted,
    }
}

/// Returns true when the hop allowed the request yet returned an error status. A proxy's access log
/// shows the status it sent downstream, so for a request it passed on that is the upstream's status.
fn passed_on_error(hop: &Hop) -> bool {
    hop.decision == Decision::Allow && hop.status >= 400
}

/// Returns the detail pane's status line for a hop, e.g. `200 allow`, `403 deny`, or
/// `403 (passed on; upstream answered)` when the hop allowed the request and relayed a denial.
pub fn status_phrase(hop: &Hop) -> String {
    let status = status_text(hop);
    if passed_on_error(hop) {
        format!("{status} (passed on; upstream answered)")
    } else {
        format!("{status} {}", decision_word(hop.decision))
    }
}

fn is_expired(hop: &Hop) -> bool {
    let says_expired = |text: &Option<String>| {
        text.as_deref()
            .is_some_and(|text| text.to_lowercase().contains("expired"))
    };
    says_expired(&hop.reason) || says_expired(&hop.details)
}

/// Returns the short name of a hop: `gw` for a gateway, else the workload or `EdgeWorker` name.
pub fn hop_name(hop: &Hop) -> &str {
    if hop.role == Some(HopRole::Gateway) {
        return "gw";
    }
    hop.location
        .rsplit('/')
        .next()
        .filter(|name| !name.is_empty())
        .unwrap_or(&hop.location)
}

/// Returns a word for who denied or failed, e.g. `rbac` or `jwt`; `None` when the hop did not deny or fail.
pub fn cause(hop: &Hop) -> Option<&'static str> {
    if !matches!(hop.decision, Decision::Deny | Decision::Error) {
        return None;
    }
    Some(match hop.decided_by {
        DecidedBy::Rbac => "rbac",
        DecidedBy::JwtAuthn if is_expired(hop) => "expired",
        DecidedBy::JwtAuthn => "jwt",
        DecidedBy::ExtAuthz => "ext_authz",
        DecidedBy::Edgeworker => "ew",
        DecidedBy::Upstream => "app",
        DecidedBy::Other => "other",
    })
}

/// Returns the word for a decision.
pub fn decision_word(decision: Decision) -> &'static str {
    match decision {
        Decision::Allow => "allow",
        Decision::Deny => "deny",
        Decision::Error => "error",
        Decision::Unknown => "unknown",
    }
}

/// Returns who decided, as the JSON contract names it.
pub fn decided_by_word(decided_by: DecidedBy) -> &'static str {
    match decided_by {
        DecidedBy::Edgeworker => "edgeworker",
        DecidedBy::JwtAuthn => "jwt_authn",
        DecidedBy::Rbac => "rbac",
        DecidedBy::ExtAuthz => "ext_authz",
        DecidedBy::Upstream => "upstream",
        DecidedBy::Other => "other",
    }
}

/// Returns the edge hop's verdict cell, e.g. `allow 200` or `deny 401`.
pub fn edge_cell(flow: &Flow) -> Option<(String, Slot)> {
    edge_hop(flow).map(edge_hop_cell)
}

/// Returns the first edge hop of a flow.
pub fn edge_hop(flow: &Flow) -> Option<&Hop> {
    flow.hops.iter().find(|hop| hop.kind == HopKind::Edge)
}

/// Returns the verdict cell of an edge hop, as [`edge_cell`] does for its flow.
pub fn edge_hop_cell(hop: &Hop) -> (String, Slot) {
    let text = format!("{} {}", decision_word(hop.decision), status_text(hop));
    (text, verdict_slot(hop))
}

/// Returns a mesh hop's compact cell, e.g. `gw 200`, or `orders 403 rbac` when `with_cause`.
pub fn mesh_cell(hop: &Hop, with_cause: bool) -> (String, Slot) {
    let mut text = format!("{} {}", hop_name(hop), status_text(hop));
    if let Some(cause) = cause(hop).filter(|_| with_cause) {
        text.push(' ');
        text.push_str(cause);
    }
    (text, verdict_slot(hop))
}

/// Returns the mesh hops of a flow, in order.
pub fn mesh_hops(flow: &Flow) -> impl Iterator<Item = &Hop> {
    flow.hops.iter().filter(|hop| hop.kind == HopKind::Mesh)
}

/// Returns the status a hop returned as a cell shows it: the code, `tcp` for a TCP connection at
/// a mesh hop, or `—` for an edge record without a valid `statusCode`.
pub fn status_text(hop: &Hop) -> String {
    match (hop.status, hop.kind) {
        (0, HopKind::Edge) => "—".to_owned(),
        (0, _) => "tcp".to_owned(),
        (code, _) => code.to_string(),
    }
}

/// Returns `HH:MM:SS` from an RFC 3339 time, or the text itself when it does not parse.
pub fn clock(time: Option<&str>) -> String {
    let Some(time) = time else {
        return "--:--:--".to_owned();
    };
    chrono::DateTime::parse_from_rfc3339(time).map_or_else(
        |_| time.chars().take(8).collect(),
        |parsed| parsed.format("%H:%M:%S").to_string(),
    )
}

/// Shortens `text` to at most `width` columns, ending in `…` when cut.
pub fn truncate(text: &str, width: usize) -> String {
    if Span::raw(text).width() <= width {
        return text.to_owned();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = Span::raw(c.encode_utf8(&mut [0; 4]).to_owned()).width();
        if used + w > width - 1 {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// Returns a phrase for a time `seconds` away from now, e.g. `in 5 min` or `2 h ago`.
pub fn relative(seconds: i64) -> String {
    crate::token::relative_phrase(seconds)
}

/// Returns a styled span for a slot.
pub fn styled<'a>(
    theme: &Theme,
    slot: Slot,
    text: impl Into<std::borrow::Cow<'a, str>>,
) -> Span<'a> {
    Span::styled(text, theme.style(slot))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_cases() {
        let cases = [
            ("/api/orders", 20, "/api/orders"),
            ("/api/orders/12345", 10, "/api/orde…"),
            ("abc", 1, "…"),
            ("abc", 0, ""),
        ];
        for (text, width, expected) in cases {
            assert_eq!(truncate(text, width), expected, "{text} at {width}");
        }
    }

    #[test]
    fn relative_cases() {
        let cases = [
            (0, "now"),
            (30, "in 30 s"),
            (-120, "2 min ago"),
            (3_900, "in 1 h 5 min"),
            (-172_800, "2 days ago"),
        ];
        for (seconds, expected) in cases {
            assert_eq!(relative(seconds), expected, "{seconds}");
        }
    }

    #[test]
    fn clock_cases() {
        let cases = [
            (Some("2026-03-01T09:15:02Z"), "09:15:02"),
            (Some("2026-03-01T09:15:02.125+00:00"), "09:15:02"),
            (None, "--:--:--"),
        ];
        for (time, expected) in cases {
            assert_eq!(clock(time), expected, "{time:?}");
        }
    }

    #[test]
    fn hop_name_cases() {
        let mut gateway = Hop::new(HopKind::Mesh, "istio-system/istio-ingressgateway");
        gateway.role = Some(HopRole::Gateway);
        let sidecar = Hop::new(HopKind::Mesh, "shop/orders");
        assert_eq!(hop_name(&gateway), "gw");
        assert_eq!(hop_name(&sidecar), "orders");
    }

    #[test]
    fn status_text_by_hop_kind() {
        let mut tcp = Hop::new(HopKind::Mesh, "shop/db");
        tcp.status = 0;
        let mut edge = Hop::new(HopKind::Edge, "edge");
        edge.status = 0;
        let mut denied = Hop::new(HopKind::Edge, "edge");
        denied.status = 403;
        assert_eq!(status_text(&tcp), "tcp");
        assert_eq!(status_text(&edge), "—");
        assert_eq!(status_text(&denied), "403");
    }
}
