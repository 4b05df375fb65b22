//! The detail pane of one flow: each finding with its message, then each hop's verdict, who decided
//! and the identity it saw, side by side when the pane is wide enough and stacked when not.
//!
//! ```text
//! ┌ GET /api/orders · flow e1a1 (edge request id) ─────────────────────────────┐
//! │DROPPED identity-dropped                                                     │
//! │  The token seen at istio-system/istio-ingressgateway is absent at …         │
//! │                                                                             │
//! │EDGE edge/ew-4242        │ GATEWAY                 │ SIDECAR shop/orders     │
//! │status     200 allow     │ istio-system/istio-ingr │ status     403 deny     │
//! │…                                                                            │
//! └─────────────────────────────────────────────────────────────────────────────┘
//! ```

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::model::{CorrelationKey, DecidedBy, Flow, Hop, HopKind, HopRole, Identity};

use super::app::App;
use super::format::{badge, decided_by_word, finding_slot, status_phrase, styled, verdict_slot};
use super::text::{pad, wrap};
use super::theme::{Slot, Theme};

/// Width of the field labels in a hop column.
const LABEL_WIDTH: usize = 11;
/// Narrowest hop column for the side-by-side layout; narrower panes stack the hops.
const MIN_COLUMN_WIDTH: usize = 30;
const COLUMN_GAP: &str = " │ ";
const COLUMN_GAP_WIDTH: usize = 3;

/// Draws the selected flow's detail in `area`, scrolled by `scroll` lines.
pub fn render(frame: &mut Frame, area: Rect, app: &App, scroll: u16) {
    let theme = &app.theme;
    let flow = app.selected_flow();
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.style(Slot::Border))
        .title(flow.map_or_else(|| Line::from(" Detail "), |flow| title(theme, flow)));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(flow) = flow else {
        frame.render_widget(
            Line::from(styled(theme, Slot::Muted, "No flow selected.")),
            inner,
        );
        return;
    };
    let lines = lines(theme, flow, usize::from(inner.width));
    let max_scroll = lines.len().saturating_sub(usize::from(inner.height));
    let scroll = usize::from(scroll).min(max_scroll);
    let scroll = u16::try_from(scroll).unwrap_or(u16::MAX);
    frame.render_widget(Paragraph::new(lines).scroll((scroll, 0)), inner);
}

/// Returns the number of lines the full-screen detail of the selected flow takes.
pub fn content_height(app: &App) -> usize {
    let width = usize::from(app.size.0.saturating_sub(2));
    app.selected_flow()
        .map_or(0, |flow| lines(&app.theme, flow, width).len())
}

fn title(theme: &Theme, flow: &Flow) -> Line<'static> {
    let method = flow.method.as_deref().unwrap_or("-");
    let path = flow.path.as_deref().unwrap_or("-");
    let joined_by = match flow.correlated_by {
        CorrelationKey::EdgeRequestId => "edge request id",
        CorrelationKey::XRequestId => "x-request-id",
        CorrelationKey::Heuristic => "time, method, path and client",
        CorrelationKey::None => "not joined",
    };
    Line::from(vec![
        styled(theme, Slot::Accent, format!(" {method} {path} ")),
        styled(
            theme,
            Slot::Muted,
            format!("· flow {} ({joined_by}) ", flow.id),
        ),
    ])
}

/// Builds the pane's lines for `width` columns: findings first, because they are what the user
/// opened the flow for and must fit on an 80×24 screen, then the hops as evidence.
fn lines(theme: &Theme, flow: &Flow, width: usize) -> Vec<Line<'static>> {
    let mut out = finding_lines(theme, flow, width);
    out.push(Line::default());
    out.extend(hop_section(theme, &flow.hops, width));
    out
}

/// Lays the hops out side by side when each column gets [`MIN_COLUMN_WIDTH`], else stacks them.
fn hop_section(theme: &Theme, hops: &[Hop], width: usize) -> Vec<Line<'static>> {
    let count = hops.len().max(1);
    let column_width = width.saturating_sub((count - 1) * COLUMN_GAP_WIDTH) / count;
    if column_width < MIN_COLUMN_WIDTH {
        let mut out = Vec::new();
        for hop in hops {
            if !out.is_empty() {
                out.push(Line::default());
            }
            out.extend(hop_lines(theme, hop, width));
        }
        return out;
    }

    let columns: Vec<_> = hops
        .iter()
        .map(|hop| hop_lines(theme, hop, column_width))
        .collect();
    let height = columns.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = Vec::new();
    for row in 0..height {
        let mut spans = Vec::new();
        for (index, column) in columns.iter().enumerate() {
            if index > 0 {
                spans.push(styled(theme, Slot::Border, COLUMN_GAP));
            }
            let line = column.get(row).cloned().unwrap_or_default();
            spans.extend(pad(line, column_width).spans);
        }
        out.push(Line::from(spans));
    }
    out
}

fn hop_lines(theme: &Theme, hop: &Hop, width: usize) -> Vec<Line<'static>> {
    let role = match (hop.kind, hop.role) {
        (HopKind::Edge, _) => "EDGE",
        (HopKind::Mesh, Some(HopRole::Gateway)) => "GATEWAY",
        (HopKind::Mesh, Some(HopRole::Waypoint)) => "WAYPOINT",
        (HopKind::Mesh, Some(HopRole::Sidecar) | None) => "SIDECAR",
    };
    let mut out = Vec::new();
    let heading = format!("{role} {}", hop.location);
    for (index, part) in wrap(&heading, width).into_iter().enumerate() {
        let slot = if index == 0 { Slot::Header } else { Slot::Text };
        out.push(Line::from(styled(theme, slot, part)));
    }
    for (label, value, slot) in fields(hop) {
        let value_width = width.saturating_sub(LABEL_WIDTH).max(1);
        for (index, part) in wrap(&value, value_width).into_iter().enumerate() {
            let label = if index == 0 { label } else { "" };
            out.push(Line::from(vec![
                styled(theme, Slot::Muted, format!("{label:<LABEL_WIDTH$}")),
                Span::styled(part, theme.style(slot)),
            ]));
        }
    }
    out
}

/// Returns the fields shown for a hop as (label, value, slot); absent values are left out.
fn fields(hop: &Hop) -> Vec<(&'static str, String, Slot)> {
    let mut out = verdict_fields(hop);
    out.extend(identity_fields(&hop.identity));
    out
}

fn verdict_fields(hop: &Hop) -> Vec<(&'static str, String, Slot)> {
    let who = decided_by_word(hop.decided_by);
    let decided = match hop.reason.as_deref() {
        // Envoy's RBAC filter logs `none` as the matched policy when no ALLOW policy matched.
        Some("none") if hop.decided_by == DecidedBy::Rbac => {
            format!("{who}: no ALLOW policy matched (none)")
        }
        Some(reason) => format!("{who}: {reason}"),
        None => who.to_owned(),
    };
    let mut out = vec![
        ("status", status_phrase(hop), verdict_slot(hop)),
        ("decided", decided, Slot::Text),
    ];

    if let Some(policy) = &hop.policy {
        let rule = hop
            .rule
            .map(|rule| format!(" rule {rule}"))
            .unwrap_or_default();
        out.push(("policy", format!("{policy}{rule}"), Slot::Accent));
    }
    if let Some(details) = &hop.details {
        out.push(("details", details.clone(), Slot::Muted));
    }
    out
}

fn identity_fields(identity: &Identity) -> Vec<(&'static str, String, Slot)> {
    let (token, token_slot) = match (identity.token_present, &identity.token_location) {
        (Some(false), _) => ("absent".to_owned(), Slot::Dropped),
        (_, Some(location)) => (location.clone(), Slot::Text),
        (Some(true), None) => ("present".to_owned(), Slot::Text),
        (None, None) => ("not logged".to_owned(), Slot::Muted),
    };
    let mut out = vec![("token", token, token_slot)];

    let audiences = (!identity.audiences.is_empty()).then(|| identity.audiences.join(", "));
    let optional = [
        ("issuer", identity.issuer.clone()),
        ("subject", identity.subject.clone()),
        ("audience", audiences),
        ("req. prin.", identity.request_principal.clone()),
        ("peer prin.", identity.peer_principal.clone()),
        ("token fp", identity.token_fingerprint.clone()),
    ];
    for (label, value) in optional {
        if let Some(value) = value {
            out.push((label, value, Slot::Text));
        }
    }
    out
}

fn finding_lines(theme: &Theme, flow: &Flow, width: usize) -> Vec<Line<'static>> {
    if flow.findings.is_empty() {
        return vec![Line::from(styled(theme, Slot::Allow, "No findings."))];
    }
    let mut out = Vec::new();
    for finding in &flow.findings {
        out.push(Line::from(vec![
            styled(theme, finding_slot(finding.kind), badge(finding.kind)),
            Span::raw(" "),
            styled(theme, Slot::Muted, finding.kind.as_str()),
        ]));
        for part in wrap(&finding.message, width.saturating_sub(2).max(1)) {
            out.push(Line::from(vec![
                Span::raw("  "),
                Span::styled(part, Style::new()),
            ]));
        }
    }
    out
}
