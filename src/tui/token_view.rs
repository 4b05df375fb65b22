//! The Token view: how a pasted token was found, its kind, header, claims as an indented tree,
//! times with relative phrases, problems, and what each workload would decide for it (the what-if
//! table). The raw token is never drawn: only its fingerprint and length.
//!
//! ```text
//! ┌ Token ──────────────────────────────────────────────┐
//! │found as    Authorization header, Bearer scheme      │
//! │kind        jws (signed JWT)                         │
//! │fingerprint sha256:1f2e… · 612 bytes                 │
//! │Header                                               │
//! │  alg       RS256                                    │
//! │Claims                                               │
//! │  iss       https://idp.example.com                  │
//! │Times                                                │
//! │  exp       2026-03-01T10:15:02Z  (expired 5 min ago) │
//! └─────────────────────────────────────────────────────┘
//! ```

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use serde_json::Value;

use crate::output::escape_terminal_controls;
use crate::token::{Inspection, TokenKind};

use super::app::App;
use super::format::{relative, styled};
use super::text::wrap;
use super::theme::{Slot, Theme};
use super::what_if_table;

const LABEL_WIDTH: usize = 12;
/// Minimum columns a problem's message gets beside its code before it moves below the code.
const MIN_PROBLEM_TEXT_WIDTH: usize = 24;
/// Indent of a problem message that sits below its code.
const PROBLEM_INDENT: usize = 4;

/// Draws the Token view in `area`.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let theme = &app.theme;
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.style(Slot::Border))
        .title(Line::from(styled(theme, Slot::Accent, " Token ")));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let lines = lines(app, usize::from(inner.width));
    let height = wrapped_height(&lines, usize::from(inner.width));
    let max_scroll = height.saturating_sub(usize::from(inner.height));
    let scroll = u16::try_from(usize::from(app.token.scroll).min(max_scroll)).unwrap_or(0);
    let paragraph = Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .scroll((scroll, 0));
    frame.render_widget(paragraph, inner);
}

/// Returns the number of lines the full-screen Token view takes once wrapped.
pub fn content_height(app: &App) -> usize {
    let width = usize::from(app.size.0.saturating_sub(2));
    wrapped_height(&lines(app, width), width)
}

/// Estimates the rows `lines` take when wrapped at `width` columns.
fn wrapped_height(lines: &[Line], width: usize) -> usize {
    let width = width.max(1);
    lines
        .iter()
        .map(|line| line.width().div_ceil(width).max(1))
        .sum()
}

/// Builds the view's lines; problems are wrapped to `width` here so their continuation lines keep
/// an indent, and the paragraph wraps the rest.
fn lines(app: &App, width: usize) -> Vec<Line<'static>> {
    let theme = &app.theme;
    match &app.token.result {
        None => vec![
            Line::from(styled(
                theme,
                Slot::Text,
                "Paste a token here, or press i to type one.",
            )),
            Line::from(styled(
                theme,
                Slot::Muted,
                "A bare JWT, an Authorization line or a curl command all work. The token stays on \
                 this screen: only its fingerprint and length are shown.",
            )),
        ],
        // NOTE: the error text comes from `token::inspect` unchanged, so that module must keep
        // whole tokens out of its messages for this view to keep its no-raw-token promise.
        Some(Err(error)) => vec![
            Line::from(styled(
                theme,
                Slot::Error,
                "Could not inspect the pasted text",
            )),
            Line::from(styled(theme, Slot::Text, error.to_string())),
            Line::default(),
            Line::from(styled(
                theme,
                Slot::Muted,
                "Paste a JWT (three base64url parts joined by dots), an `Authorization: Bearer …` \
                 line or a curl command with one; press x to clear.",
            )),
        ],
        Some(Ok(inspection)) => {
            let mut out = inspection_lines(theme, inspection, width);
            out.push(Line::default());
            what_if_table::lines(app, width, &mut out);
            out
        }
    }
}

fn inspection_lines(theme: &Theme, inspection: &Inspection, width: usize) -> Vec<Line<'static>> {
    let kind = match inspection.kind {
        TokenKind::Jws => "jws (signed JWT)",
        TokenKind::Jwe => "jwe (encrypted JWT)",
        TokenKind::Opaque => "opaque",
    };
    let mut out = vec![
        field(
            theme,
            0,
            "found as",
            inspection.found_as.clone(),
            Slot::Text,
        ),
        field(theme, 0, "kind", kind.to_owned(), Slot::Text),
        field(
            theme,
            0,
            "fingerprint",
            format!(
                "{} · {} bytes",
                inspection.fingerprint, inspection.encoded_len
            ),
            Slot::Muted,
        ),
    ];
    for (heading, value) in [
        ("Header", &inspection.header),
        ("Claims", &inspection.claims),
    ] {
        out.push(Line::from(styled(theme, Slot::Header, heading)));
        let missing = if heading == "Claims" && inspection.nested.is_some() {
            "a nested JWT, shown below"
        } else {
            "did not decode"
        };
        match value {
            Some(value) => tree(theme, 1, None, value, &mut out),
            None => out.push(field(theme, 1, "", missing.to_owned(), Slot::Muted)),
        }
    }
    if !inspection.times.is_empty() {
        out.push(Line::from(styled(theme, Slot::Header, "Times")));
    }
    for time in &inspection.times {
        let past = time.relative_seconds < 0;
        let (phrase, slot) = match time.claim.as_str() {
            "exp" if past => (
                format!("expired {}", relative(time.relative_seconds)),
                Slot::Expired,
            ),
            "exp" => (
                format!("expires {}", relative(time.relative_seconds)),
                Slot::Allow,
            ),
            "nbf" if !past && time.relative_seconds > 0 => (
                format!("not valid until {}", relative(time.relative_seconds)),
                Slot::Expired,
            ),
            _ => (relative(time.relative_seconds), Slot::Muted),
        };
        out.push(Line::from(vec![
            styled(
                theme,
                Slot::Muted,
                format!("  {:<w$}", time.claim, w = LABEL_WIDTH - 2),
            ),
            styled(theme, Slot::Text, format!("{}  ", time.time)),
            styled(theme, slot, format!("({phrase})")),
        ]));
    }
    out.push(Line::from(styled(theme, Slot::Header, "Problems")));
    if inspection.problems.is_empty() {
        out.push(field(theme, 1, "", "none found".to_owned(), Slot::Allow));
    }
    for problem in &inspection.problems {
        out.extend(problem_lines(theme, &problem.code, &problem.message, width));
    }
    // A nested token has no nested token of its own decoded, so this recurses once at most.
    if let Some(inner) = inspection.nested.as_deref() {
        out.push(Line::from(styled(
            theme,
            Slot::Header,
            "Nested JWT (the payload, one level down)",
        )));
        for mut line in inspection_lines(theme, inner, width.saturating_sub(NESTED_INDENT.len())) {
            line.spans.insert(0, Span::raw(NESTED_INDENT));
            out.push(line);
        }
    }
    out
}

/// Indent of the nested token's lines under their heading.
const NESTED_INDENT: &str = "  ";

/// Returns a problem as `  code message`, wrapped to `width` with continuation lines indented under
/// the message. A code too long to leave [`MIN_PROBLEM_TEXT_WIDTH`] columns beside it gets a line
/// of its own, with the message below it indented by [`PROBLEM_INDENT`].
fn problem_lines(theme: &Theme, code: &str, message: &str, width: usize) -> Vec<Line<'static>> {
    let lead = format!("  {code} ");
    let lead_width = Span::raw(lead.as_str()).width();
    let mut out = Vec::new();
    let indent = if width.saturating_sub(lead_width) >= MIN_PROBLEM_TEXT_WIDTH {
        lead_width
    } else {
        out.push(Line::from(styled(theme, Slot::Deny, lead.clone())));
        PROBLEM_INDENT
    };
    for (index, part) in wrap(message, width.saturating_sub(indent).max(1))
        .into_iter()
        .enumerate()
    {
        let prefix = if index == 0 && out.is_empty() {
            styled(theme, Slot::Deny, lead.clone())
        } else {
            Span::raw(" ".repeat(indent))
        };
        out.push(Line::from(vec![prefix, styled(theme, Slot::Text, part)]));
    }
    out
}

fn field(theme: &Theme, depth: usize, label: &str, value: String, slot: Slot) -> Line<'static> {
    let indent = "  ".repeat(depth);
    let width = LABEL_WIDTH.saturating_sub(indent.len());
    Line::from(vec![
        styled(theme, Slot::Muted, format!("{indent}{label:<width$}")),
        styled(theme, slot, value),
    ])
}

/// Appends a JSON value as an indented tree: objects and arrays nest one level per depth.
fn tree(
    theme: &Theme,
    depth: usize,
    label: Option<&str>,
    value: &Value,
    out: &mut Vec<Line<'static>>,
) {
    let label = escape_terminal_controls(label.unwrap_or(""));
    let label = label.as_ref();
    match value {
        Value::Object(map) => {
            if !label.is_empty() {
                out.push(field(theme, depth, label, String::new(), Slot::Text));
            }
            let depth = if label.is_empty() { depth } else { depth + 1 };
            for (key, child) in map {
                tree(theme, depth, Some(key), child, out);
            }
        }
        Value::Array(items) if items.iter().any(|item| item.is_object() || item.is_array()) => {
            out.push(field(theme, depth, label, String::new(), Slot::Text));
            for (index, item) in items.iter().enumerate() {
                tree(theme, depth + 1, Some(&format!("[{index}]")), item, out);
            }
        }
        Value::Array(items) => {
            let joined = items.iter().map(scalar).collect::<Vec<_>>().join(", ");
            out.push(field(
                theme,
                depth,
                label,
                format!("[{joined}]"),
                Slot::Text,
            ));
        }
        scalar_value => out.push(field(theme, depth, label, scalar(scalar_value), Slot::Text)),
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(text) => escape_terminal_controls(text).into_owned(),
        other => other.to_string(),
    }
}

/// Returns the masked form of a token being typed: its length, never its text.
pub fn masked(text: &str) -> Span<'static> {
    Span::raw(format!(
        "{} characters typed (hidden); enter inspects, esc cancels",
        text.len()
    ))
}
