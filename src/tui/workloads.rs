//! The Workloads view (one row per meshed workload, as k9s lists resources), the page of one
//! workload (policies, what-if, recent flows), and the `:ctx` / `:ns` pick list.
//!
//! ```text
//! ┌ Workloads(shop)[3] ──────────────────────────────────────────────────────┐
//! │NAMESPACE NAME      KIND     READY POLICIES DENIALS   PRINCIPAL           │
//! │shop      orders    sidecar  2/2          3 5 (2/min) spiffe://cluster.lo…│
//! └──────────────────────────────────────────────────────────────────────────┘
//! ```

use std::fmt::Write as _;

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState};

use crate::mesh::crd::{Action as PolicyAction, MtlsMode};
use crate::mesh::scope::AppliedPolicies;
use crate::mesh::{Stage, Verdict};
use crate::model::{Decision, Flow};
use crate::source::kube::MeshWorkload;

use super::app::App;
use super::format::{clock, decision_word, styled, truncate, verdict_slot};
use super::live::{Counter, PickKind, kind_label, pods_ready, policy_count};
use super::text::wrap;
use super::theme::{Slot, Theme};
use super::what_if::targets;

/// Recent flows listed on a workload's page.
const RECENT_FLOWS: usize = 8;

/// Draws the Workloads table in `area`, or a message saying why it is empty.
pub fn render_list(frame: &mut Frame, area: Rect, app: &App) {
    let theme = &app.theme;
    let live = &app.live;
    let scope = live.namespace.as_deref().unwrap_or("all");
    let title = format!(" Workloads({scope})[{}] ", live.workloads.len());
    if live.workloads.is_empty() {
        let width = usize::from(area.width.saturating_sub(2));
        let lines: Vec<Line> = empty_list_text(app)
            .iter()
            .flat_map(|text| wrap(text, width))
            .map(|line| Line::from(styled(theme, Slot::Muted, line)))
            .collect();
        frame.render_widget(Paragraph::new(lines).block(block(theme, title)), area);
        return;
    }
    let header = Row::new(
        [
            "NAMESPACE",
            "NAME",
            "KIND",
            "READY",
            "POLICIES",
            "DENIALS",
            "PRINCIPAL",
        ]
        .map(|text| Cell::from(styled(theme, Slot::Header, text))),
    );
    let rows = live.workloads.iter().map(|workload| {
        let applied = live.applied(workload);
        let policies = policy_count(applied.as_ref()).map_or("-".to_owned(), |n| n.to_string());
        let denials = live.denials.by_workload.get(&workload.location());
        let denial_slot = if denials.is_some() {
            Slot::Deny
        } else {
            Slot::Muted
        };
        Row::new([
            Cell::from(styled(theme, Slot::Text, workload.namespace.clone())),
            Cell::from(styled(theme, Slot::Text, workload.name.clone())),
            Cell::from(styled(theme, Slot::Text, kind_label(workload.proxy))),
            Cell::from(styled(theme, Slot::Text, pods_ready(workload))),
            Cell::from(styled(theme, Slot::Text, format!("{policies:>8}"))),
            Cell::from(styled(theme, denial_slot, denial_text(denials))),
            Cell::from(styled(theme, Slot::Muted, workload.principal.clone())),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(12),
            Constraint::Length(18),
            Constraint::Length(8),
            Constraint::Length(5),
            Constraint::Length(8),
            Constraint::Length(11),
            Constraint::Min(10),
        ],
    )
    .header(header)
    .row_highlight_style(theme.style(Slot::Selection))
    .block(block(theme, title));
    let mut state =
        TableState::default().with_selected((!live.workloads.is_empty()).then_some(live.selected));
    frame.render_stateful_widget(table, area, &mut state);
}

/// Returns the message of an empty Workloads view. Without a cluster it names the workloads that
/// the session's policies and flows show, and where their verdicts are: the Token view's what-if.
fn empty_list_text(app: &App) -> Vec<String> {
    if app.live.context.is_some() {
        return vec![
            "No meshed workloads in scope yet. They appear as the cluster lists pods.".into(),
        ];
    }
    let mut text = vec![
        "This view lists the workloads of a live cluster; start idflow with --context NAME -n NAMESPACE."
            .to_owned(),
    ];
    let names: Vec<String> = targets(&app.policies, &app.flows)
        .iter()
        .map(|target| format!("{}/{}", target.workload.namespace, target.workload.name))
        .collect();
    if !names.is_empty() {
        text.push(String::new());
        text.push(format!(
            "This session's policies and flows name {}. Press t: the Token view's what-if shows each one's verdict for a token.",
            names.join(", ")
        ));
    }
    text
}

/// Returns `TOTAL (RATE/min)`, or `0`.
pub fn denial_text(counter: Option<&Counter>) -> String {
    match counter {
        None => "0".to_owned(),
        Some(counter) => format!("{} ({}/min)", counter.total, counter.per_minute()),
    }
}

/// Draws the selected workload's page in `area`, scrolled by `app.detail_scroll`.
pub fn render_page(frame: &mut Frame, area: Rect, app: &App) {
    let Some(workload) = app.live.selected_workload() else {
        return;
    };
    let title = format!(" Workload({}) ", workload.location());
    let paragraph = Paragraph::new(page_lines(app, workload, usize::from(area.width)))
        .block(block(&app.theme, title))
        .scroll((app.detail_scroll, 0));
    frame.render_widget(paragraph, area);
}

/// Returns the number of lines of the open workload's page, for scrolling.
pub fn content_height(app: &App) -> usize {
    app.live.selected_workload().map_or(0, |workload| {
        page_lines(app, workload, usize::from(app.size.0)).len()
    })
}

fn page_lines(app: &App, workload: &MeshWorkload, width: usize) -> Vec<Line<'static>> {
    let theme = &app.theme;
    let inner = width.saturating_sub(2);
    let mut lines = vec![Line::from(vec![
        styled(theme, Slot::Accent, workload.location()),
        styled(
            theme,
            Slot::Text,
            format!("  {}", kind_label(workload.proxy)),
        ),
        styled(
            theme,
            Slot::Text,
            format!("  {} ready", pods_ready(workload)),
        ),
        styled(theme, Slot::Muted, format!("  {}", workload.principal)),
    ])];
    lines.push(Line::default());
    policy_lines(theme, app.live.applied(workload).as_ref(), &mut lines);
    lines.push(Line::default());
    what_if_lines(app, inner, &mut lines);
    lines.push(Line::default());
    flow_lines(app, workload, inner, &mut lines);
    lines
}

fn policy_lines(theme: &Theme, applied: Option<&AppliedPolicies>, lines: &mut Vec<Line<'static>>) {
    let Some(applied) = applied else {
        lines.push(Line::from(styled(
            theme,
            Slot::Header,
            "Policies: none enforced (no Envoy proxy in these pods)",
        )));
        return;
    };
    let count = policy_count(Some(applied)).unwrap_or(0);
    lines.push(Line::from(styled(
        theme,
        Slot::Header,
        format!("Policies ({count})"),
    )));
    for authorization in &applied.authorization {
        let meta = &authorization.policy.metadata;
        let (word, slot) = match authorization.policy.spec.action {
            PolicyAction::Allow => ("ALLOW", Slot::Allow),
            PolicyAction::Deny => ("DENY", Slot::Deny),
            PolicyAction::Audit => ("AUDIT", Slot::Muted),
            PolicyAction::Custom => ("CUSTOM", Slot::Unverified),
        };
        let dry_run = if authorization.dry_run {
            " (dry-run)"
        } else {
            ""
        };
        lines.push(policy_line(
            theme,
            (word, slot),
            "AuthorizationPolicy",
            format!("{}/{}{dry_run}", meta.namespace, meta.name),
        ));
    }
    for authentication in &applied.request_authentication {
        let meta = &authentication.policy.metadata;
        lines.push(policy_line(
            theme,
            ("JWT", Slot::Accent),
            "RequestAuthentication",
            format!("{}/{}", meta.namespace, meta.name),
        ));
    }
    for source in &applied.peer_authentication.sources {
        let word = match source.mode {
            MtlsMode::Strict => "STRICT",
            MtlsMode::Permissive => "PERMISSIVE",
            MtlsMode::Disable => "DISABLE",
            MtlsMode::Unset => "UNSET",
        };
        lines.push(policy_line(
            theme,
            (word, Slot::Accent),
            "PeerAuthentication",
            source.policy.clone(),
        ));
    }
    if count == 0 {
        lines.push(Line::from(styled(
            theme,
            Slot::Muted,
            "  none: every request is allowed",
        )));
    }
}

fn policy_line(
    theme: &Theme,
    (word, slot): (&'static str, Slot),
    kind: &'static str,
    name: String,
) -> Line<'static> {
    Line::from(vec![
        styled(theme, slot, format!("  {word:<11}")),
        styled(theme, Slot::Muted, format!("{kind:<22}")),
        styled(theme, Slot::Text, name),
    ])
}

fn what_if_lines(app: &App, width: usize, lines: &mut Vec<Line<'static>>) {
    let theme = &app.theme;
    lines.push(Line::from(vec![
        styled(theme, Slot::Header, "What-if  "),
        // A pasted request may carry its token in the query of the what-if path.
        styled(
            theme,
            Slot::Text,
            crate::redact::hide_pasted(&app.what_if_text()),
        ),
        styled(
            theme,
            Slot::Muted,
            "  (e edits; no token, no peer principal)",
        ),
    ]));
    match &app.live.what_if.result {
        None => {}
        Some(Err(reason)) => lines.push(Line::from(styled(
            theme,
            Slot::Error,
            format!("  {}", truncate(reason, width.saturating_sub(2))),
        ))),
        Some(Ok(verdict)) => verdict_lines(theme, verdict, width, lines),
    }
}

fn verdict_lines(theme: &Theme, verdict: &Verdict, width: usize, lines: &mut Vec<Line<'static>>) {
    let slot = if verdict.decision == Decision::Allow {
        Slot::Allow
    } else {
        Slot::Deny
    };
    let mut headline = format!(
        "  {} {}",
        decision_word(verdict.decision).to_uppercase(),
        verdict.status
    );
    if verdict.stage != Stage::None {
        let _ = write!(headline, " at {}", stage_word(verdict.stage));
    }
    if let Some(policy) = &verdict.policy {
        let _ = write!(headline, " by {policy}");
    }
    if let Some(rule) = verdict.rule {
        let _ = write!(headline, " rule {rule}");
    }
    lines.push(Line::from(styled(theme, slot, headline)));
    lines.push(Line::from(styled(
        theme,
        Slot::Muted,
        truncate(
            &format!("  response code details: {}", verdict.response_code_details),
            width,
        ),
    )));
    for step in &verdict.explanation {
        let mut text = format!("  · {}", stage_word(step.stage));
        if let Some(policy) = &step.policy {
            let _ = write!(text, " {policy}");
        }
        if let Some(rule) = step.rule {
            let _ = write!(text, " rule {rule}");
        }
        let _ = write!(text, ": {}", step.outcome);
        if !step.message.is_empty() {
            let _ = write!(text, " ({})", step.message);
        }
        lines.push(Line::from(styled(
            theme,
            Slot::Text,
            truncate(&text, width),
        )));
    }
    for warning in &verdict.warnings {
        lines.push(Line::from(styled(
            theme,
            Slot::Unverified,
            truncate(&format!("  ! {warning}"), width),
        )));
    }
}

fn stage_word(stage: Stage) -> &'static str {
    match stage {
        Stage::Authn => "authn",
        Stage::Authz => "authz",
        Stage::None => "none",
    }
}

fn flow_lines(app: &App, workload: &MeshWorkload, width: usize, lines: &mut Vec<Line<'static>>) {
    let theme = &app.theme;
    let location = workload.location();
    let flows: Vec<&Flow> = app
        .flows
        .iter()
        .rev()
        .filter(|flow| flow.hops.iter().any(|hop| hop.location == location))
        .take(RECENT_FLOWS)
        .collect();
    lines.push(Line::from(vec![
        styled(theme, Slot::Header, "Recent flows"),
        styled(theme, Slot::Muted, "  (f shows them all)"),
    ]));
    if flows.is_empty() {
        lines.push(Line::from(styled(theme, Slot::Muted, "  none yet")));
    }
    for flow in flows {
        let Some(hop) = flow.hops.iter().find(|hop| hop.location == location) else {
            continue;
        };
        let request = format!(
            "  {} {:<6} {}",
            clock(flow.time.as_deref()),
            flow.method.as_deref().unwrap_or("-"),
            flow.path.as_deref().unwrap_or("-"),
        );
        let verdict = format!(" {} {}", hop.status, decision_word(hop.decision));
        let room = width.saturating_sub(Span::raw(verdict.clone()).width());
        lines.push(Line::from(vec![
            styled(theme, Slot::Text, truncate(&request, room)),
            styled(theme, verdict_slot(hop), verdict),
        ]));
    }
}

/// Draws the `:ctx` or `:ns` list in `area`.
pub fn render_pick(frame: &mut Frame, area: Rect, app: &App, kind: PickKind) {
    let theme = &app.theme;
    let live = &app.live;
    let (name, current) = match kind {
        PickKind::Contexts => ("Contexts", live.context.as_deref()),
        PickKind::Namespaces => ("Namespaces", live.namespace.as_deref()),
    };
    let items = live.pick_items(kind);
    let title = format!(" {name}[{}] ", items.len());
    let rows = items.iter().map(|item| {
        let mark = if Some(item.as_str()) == current {
            "(current)"
        } else {
            ""
        };
        Row::new([
            Cell::from(styled(theme, Slot::Text, item.clone())),
            Cell::from(styled(theme, Slot::Muted, mark)),
        ])
    });
    let table = Table::new(rows, [Constraint::Min(20), Constraint::Length(10)])
        .row_highlight_style(theme.style(Slot::Selection))
        .block(block(theme, title));
    let mut state =
        TableState::default().with_selected((!items.is_empty()).then_some(live.pick_selected));
    frame.render_stateful_widget(table, area, &mut state);
}

fn block(theme: &Theme, title: String) -> Block<'static> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(theme.style(Slot::Border))
        .title(Line::from(styled(theme, Slot::Accent, title)))
}
