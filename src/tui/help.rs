//! The `?` help overlay, generated from the key table.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::app::App;
use super::format::styled;
use super::keys::{BINDINGS, Context};
use super::theme::Slot;

const KEY_WIDTH: usize = 8;

/// Draws the help overlay centred in `area`.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let theme = &app.theme;
    let mut lines = Vec::new();
    for context in [
        Context::Global,
        Context::Flows,
        Context::Scrolling,
        Context::Token,
    ] {
        lines.push(Line::from(styled(theme, Slot::Header, context.title())));
        for binding in BINDINGS.iter().filter(|binding| binding.context == context) {
            lines.push(Line::from(vec![
                styled(
                    theme,
                    Slot::Accent,
                    format!("  {:<KEY_WIDTH$}", binding.label),
                ),
                styled(theme, Slot::Text, binding.description),
            ]));
        }
    }
    lines.push(Line::from(styled(theme, Slot::Header, "Anywhere")));
    for (keys, description) in [
        ("ctrl-c", "quit"),
        ("paste", "inspect the pasted token"),
        (":q", "quit; :token and :flows switch views"),
    ] {
        lines.push(Line::from(vec![
            styled(theme, Slot::Accent, format!("  {keys:<KEY_WIDTH$}")),
            styled(theme, Slot::Text, description),
        ]));
    }

    let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let [popup] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::horizontal([Constraint::Length(48)])
        .flex(Flex::Center)
        .areas(popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.style(Slot::Accent))
        .title(Line::from(styled(
            theme,
            Slot::Accent,
            " Help (any key closes) ",
        )));
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}
