//! The one-line bars: the status line at the top, and the hint bar or open prompt at the bottom.
//!
//! ```text
//! demo │ 7 flows │ 6 denials │ 3 lines of shop.orders.log could not be parsed
//! …
//! <enter> detail  </> filter  <:> command  <t> token  <?> help  <esc> back  <q> quit
//! ```

use std::cmp::Reverse;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::app::{App, FlashLevel, PromptKind, View};
use super::format::{styled, truncate};
use super::keys::{Hint, bindings_for};
use super::live::DenialStats;
use super::text::wrap;
use super::theme::Slot;
use super::token_view::masked;
use super::workloads::denial_text;
use crate::token::plural;

const SEPARATOR: &str = " │ ";
const HINT_GAP: &str = "  ";
/// Workloads and policies named in the live line, most denials first.
const TOP_DENIALS: usize = 2;

/// Largest number of rows a flash message too wide for the status line takes below it. A longer
/// message ends in `…`.
const MAX_FLASH_ROWS: usize = 3;

/// Draws the status line: title, counts, then the flash message or the notices. A flash message
/// that does not fit after the counts is drawn below by [`render_flash`] instead.
pub fn render_status(frame: &mut Frame, area: Rect, app: &App) {
    let theme = &app.theme;
    let mut spans = status_spans(app);
    let inline = flash_lines(app, area.width).is_empty();
    if let Some(flash) = app.flash.as_ref().filter(|_| inline) {
        spans.push(styled(theme, Slot::Border, SEPARATOR));
        spans.push(styled(theme, flash_slot(flash.level), flash.text.clone()));
    } else if let Some(first) = app.notices.first() {
        spans.push(styled(theme, Slot::Border, SEPARATOR));
        let more = match app.notices.len() {
            1 => String::new(),
            count => format!(" (+{} more notices)", count - 1),
        };
        // A notice cut at the screen edge ends in `…`, so it does not read as the whole notice.
        let room = usize::from(area.width).saturating_sub(Line::from(spans.clone()).width());
        if first.chars().count() + more.chars().count() <= room {
            spans.push(styled(theme, Slot::Unverified, first.clone()));
            spans.push(styled(theme, Slot::Muted, more));
        } else {
            spans.push(styled(
                theme,
                Slot::Unverified,
                truncate(&format!("{first}{more}"), room),
            ));
        }
    }
    frame.render_widget(Line::from(spans), area);
}

/// Returns the lines of the flash message when it is too wide for the status line of `width`
/// columns: wrapped to the width, at most [`MAX_FLASH_ROWS`], the last ending in `…` when cut.
/// Returns nothing when there is no flash or it fits after the counts.
pub fn flash_lines(app: &App, width: u16) -> Vec<String> {
    let Some(flash) = &app.flash else {
        return Vec::new();
    };
    let counts = Line::from(status_spans(app)).width();
    let needed = counts + SEPARATOR.chars().count() + flash.text.chars().count();
    if needed <= usize::from(width) {
        return Vec::new();
    }
    let width = usize::from(width);
    let mut lines = wrap(&flash.text, width);
    if lines.len() > MAX_FLASH_ROWS {
        let rest = lines.split_off(MAX_FLASH_ROWS - 1).join(" ");
        lines.push(truncate(&rest, width));
    }
    lines
}

/// Draws the flash message on its own rows, for one too wide for the status line.
pub fn render_flash(frame: &mut Frame, area: Rect, app: &App) {
    let Some(flash) = &app.flash else {
        return;
    };
    let style = app.theme.style(flash_slot(flash.level));
    let lines: Vec<Line> = flash_lines(app, area.width)
        .into_iter()
        .map(|line| Line::styled(line, style))
        .collect();
    frame.render_widget(ratatui::widgets::Paragraph::new(lines), area);
}

fn flash_slot(level: FlashLevel) -> Slot {
    match level {
        FlashLevel::Info => Slot::Accent,
        FlashLevel::Error => Slot::Error,
    }
}

/// Returns the status line's title and counts, without the flash message or notices.
fn status_spans(app: &App) -> Vec<Span<'static>> {
    let theme = &app.theme;
    let mut spans = vec![styled(theme, Slot::Accent, app.title.clone())];
    if app.live.context.is_some() {
        let scope = app.live.namespace.as_deref().unwrap_or("all namespaces");
        spans.push(styled(theme, Slot::Border, SEPARATOR));
        spans.push(styled(theme, Slot::Text, format!("ns {scope}")));
    }
    spans.push(styled(theme, Slot::Border, SEPARATOR));
    spans.push(styled(theme, Slot::Text, plural(app.flows.len(), "flow")));
    spans.push(styled(theme, Slot::Border, SEPARATOR));
    let denials = app.denial_count();
    let denial_slot = if denials > 0 { Slot::Deny } else { Slot::Muted };
    spans.push(styled(theme, denial_slot, plural(denials, "denial")));
    if app.live.paused {
        spans.push(styled(theme, Slot::Border, SEPARATOR));
        spans.push(styled(
            theme,
            Slot::Unverified,
            format!("PAUSED, {} held", plural(app.live.held.len(), "flow")),
        ));
    }
    if app.dropped_flows > 0 {
        spans.push(styled(theme, Slot::Border, SEPARATOR));
        spans.push(styled(
            theme,
            Slot::Error,
            format!("{} older flows dropped", app.dropped_flows),
        ));
    }
    spans
}

/// Draws the live line: stream health, then the denials by workload and by policy, most first.
pub fn render_live(frame: &mut Frame, area: Rect, app: &App) {
    let theme = &app.theme;
    let tally = app.live.stream_tally();
    let mut spans = vec![styled(theme, Slot::Muted, "streams ")];
    let states = [
        (tally.live, "live", Slot::Allow),
        (tally.queued, "queued", Slot::Unverified),
        (tally.reconnecting, "reconnecting", Slot::Unverified),
        (tally.ended, "ended", Slot::Muted),
        (tally.forbidden, "forbidden", Slot::Error),
    ];
    let mut any = false;
    for (count, word, slot) in states.into_iter().filter(|(count, ..)| *count > 0) {
        if any {
            spans.push(styled(theme, Slot::Muted, ", "));
        }
        any = true;
        spans.push(styled(theme, slot, format!("{count} {word}")));
    }
    if !any {
        spans.push(styled(theme, Slot::Muted, "none yet"));
    }
    let counts = &app.live.counts;
    // Each loss as its count, the noun that takes the plural, and the rest of the phrase.
    let losses = [
        (
            counts.flows_evicted,
            "flow",
            "evicted past --max-flows",
            Slot::Error,
        ),
        (
            counts.duplicates_merged,
            "duplicate record",
            "merged",
            Slot::Muted,
        ),
        (
            counts.hops_dropped,
            "record",
            "dropped from full flows",
            Slot::Error,
        ),
        (
            counts.too_long,
            "log line",
            "over 1 MiB skipped",
            Slot::Error,
        ),
        (
            counts.credentials_logged,
            "log line",
            "with a whole token (log only the scheme)",
            Slot::Error,
        ),
    ];
    for (count, noun, rest, slot) in losses.into_iter().filter(|(count, ..)| *count > 0) {
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        spans.push(styled(theme, Slot::Border, SEPARATOR));
        spans.push(styled(
            theme,
            slot,
            format!("{} {rest}", plural(count, noun)),
        ));
    }
    let denials = &app.live.denials;
    for (label, map) in [
        ("denials by workload ", &denials.by_workload),
        ("by policy ", &denials.by_policy),
    ] {
        let top = DenialStats::top(map, TOP_DENIALS);
        if top.is_empty() {
            continue;
        }
        spans.push(styled(theme, Slot::Border, SEPARATOR));
        spans.push(styled(theme, Slot::Muted, label));
        for (index, (key, counter)) in top.into_iter().enumerate() {
            if index > 0 {
                spans.push(styled(theme, Slot::Muted, ", "));
            }
            spans.push(styled(
                theme,
                Slot::Deny,
                format!("{key} {}", denial_text(Some(counter))),
            ));
        }
    }
    frame.render_widget(Line::from(spans), area);
}

/// Draws the bottom line: the open prompt, or the hints for the current view.
pub fn render_bottom(frame: &mut Frame, area: Rect, app: &App) {
    let theme = &app.theme;
    let line = if let Some(prompt) = &app.prompt {
        let (lead, body) = match prompt.kind {
            // A token pasted into another prompt is hidden too, as in every other display.
            PromptKind::Filter => ("/", Span::raw(crate::redact::hide_pasted(&prompt.text))),
            PromptKind::Command => (":", Span::raw(crate::redact::hide_pasted(&prompt.text))),
            PromptKind::Token => ("token> ", masked(&prompt.text)),
            PromptKind::WhatIf => (
                "what-if> ",
                Span::raw(crate::redact::hide_pasted(&prompt.text)),
            ),
        };
        Line::from(vec![
            styled(theme, Slot::Accent, lead),
            body.style(theme.style(Slot::Text)),
            styled(theme, Slot::Selection, " "),
        ])
    } else {
        let mut spans = Vec::new();
        for (index, (label, hint)) in fit_hints(app.view, usize::from(area.width))
            .into_iter()
            .enumerate()
        {
            if index > 0 {
                spans.push(Span::raw(HINT_GAP));
            }
            spans.push(styled(theme, Slot::Accent, format!("<{label}>")));
            spans.push(styled(theme, Slot::Muted, format!(" {}", hint.text)));
        }
        Line::from(spans)
    };
    frame.render_widget(line, area);
}

/// Returns the hints of `view` that fit in `width` columns, in key table order. The hint of lowest
/// priority is dropped first, and of two equal ones the later. Help and quit always stay, even when
/// they alone are wider than `width`.
fn fit_hints(view: View, width: usize) -> Vec<(&'static str, Hint)> {
    let mut hints: Vec<(&'static str, Hint)> = bindings_for(view)
        .filter_map(|binding| binding.hint.map(|hint| (binding.label, hint)))
        .collect();
    while hints_width(&hints) > width {
        let droppable = hints
            .iter()
            .enumerate()
            .filter(|(_, (_, hint))| hint.priority != Hint::KEEP)
            .min_by_key(|(index, (_, hint))| (hint.priority, Reverse(*index)));
        let Some((index, _)) = droppable else {
            break;
        };
        hints.remove(index);
    }
    hints
}

/// Returns the columns `<label> text` entries take, joined by [`HINT_GAP`].
fn hints_width(hints: &[(&str, Hint)]) -> usize {
    let entries: usize = hints
        .iter()
        .map(|(label, hint)| Span::raw(format!("<{label}> {}", hint.text)).width())
        .sum();
    entries + HINT_GAP.len() * hints.len().saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(view: View, width: usize) -> Vec<&'static str> {
        fit_hints(view, width)
            .into_iter()
            .map(|(_, hint)| hint.text)
            .collect()
    }

    #[test]
    fn hints_all_when_wide() {
        assert_eq!(
            texts(View::Flows, 200),
            [
                "detail",
                "pause",
                "filter",
                "command",
                "token",
                "workloads",
                "help",
                "back",
                "quit"
            ]
        );
    }

    #[test]
    fn hints_drop_command_and_workloads_first() {
        assert_eq!(
            texts(View::Flows, 80),
            ["detail", "pause", "filter", "token", "help", "back", "quit"]
        );
    }

    #[test]
    fn hints_fit_width() {
        for width in [80, 60, 40, 20] {
            let hints = fit_hints(View::Flows, width);
            assert!(hints_width(&hints) <= width, "at {width}: {hints:?}");
        }
    }

    #[test]
    fn hints_token_view_at_80() {
        assert_eq!(
            texts(View::Token, 80),
            ["type", "what-if", "copy", "filter", "help", "back", "quit"]
        );
    }

    #[test]
    fn hints_token_view_all_when_wide() {
        assert_eq!(
            texts(View::Token, 200),
            [
                "type",
                "what-if",
                "copy",
                "filter",
                "command",
                "token",
                "workloads",
                "help",
                "back",
                "quit"
            ]
        );
    }

    #[test]
    fn hints_keep_help_quit() {
        assert_eq!(texts(View::Token, 1), ["help", "quit"]);
    }
}
