//! The one-line bars: the status line at the top, and the hint bar or open prompt at the bottom.
//!
//! ```text
//! demo │ 7 flows │ 6 denials │ 3 lines of shop.orders.log could not be parsed
//! …
//! <enter> detail  </> filter  <:> command  <t> token  <?> help  <esc> back  <q> quit
//! ```

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::app::{App, FlashLevel, PromptKind};
use super::format::styled;
use super::keys::bindings_for;
use super::theme::Slot;
use super::token_view::masked;

const SEPARATOR: &str = " │ ";

/// Draws the status line: title, counts, then the flash message or the notices.
pub fn render_status(frame: &mut Frame, area: Rect, app: &App) {
    let theme = &app.theme;
    let mut spans = vec![
        styled(theme, Slot::Accent, app.title.clone()),
        styled(theme, Slot::Border, SEPARATOR),
        styled(theme, Slot::Text, plural(app.flows.len(), "flow")),
        styled(theme, Slot::Border, SEPARATOR),
    ];
    let denials = app.denial_count();
    let denial_slot = if denials > 0 { Slot::Deny } else { Slot::Muted };
    spans.push(styled(theme, denial_slot, plural(denials, "denial")));
    if app.dropped_flows > 0 {
        spans.push(styled(theme, Slot::Border, SEPARATOR));
        spans.push(styled(
            theme,
            Slot::Error,
            format!("{} older flows dropped", app.dropped_flows),
        ));
    }
    if let Some(flash) = &app.flash {
        let slot = match flash.level {
            FlashLevel::Info => Slot::Accent,
            FlashLevel::Error => Slot::Error,
        };
        spans.push(styled(theme, Slot::Border, SEPARATOR));
        spans.push(styled(theme, slot, flash.text.clone()));
    } else if let Some(first) = app.notices.first() {
        spans.push(styled(theme, Slot::Border, SEPARATOR));
        spans.push(styled(theme, Slot::Unverified, first.clone()));
        if app.notices.len() > 1 {
            spans.push(styled(
                theme,
                Slot::Muted,
                format!(" (+{} more notices)", app.notices.len() - 1),
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
            PromptKind::Filter => ("/", Span::raw(prompt.text.clone())),
            PromptKind::Command => (":", Span::raw(prompt.text.clone())),
            PromptKind::Token => ("token> ", masked(&prompt.text)),
        };
        Line::from(vec![
            styled(theme, Slot::Accent, lead),
            body.style(theme.style(Slot::Text)),
            styled(theme, Slot::Selection, " "),
        ])
    } else {
        let mut spans = Vec::new();
        for binding in bindings_for(app.view) {
            if let Some(hint) = binding.hint {
                spans.push(styled(theme, Slot::Accent, format!("<{}>", binding.label)));
                spans.push(styled(theme, Slot::Muted, format!(" {hint}  ")));
            }
        }
        Line::from(spans)
    };
    frame.render_widget(line, area);
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}
