//! The `?` help overlay, generated from the key table.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::app::App;
use super::format::styled;
use super::keys::{BINDINGS, Context};
use super::theme::{Slot, Theme};

const KEY_WIDTH: usize = 8;

/// Draws the help overlay centred in `area`.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let theme = &app.theme;
    let mut lines = Vec::new();
    let contexts = Context::ALL
        .into_iter()
        .filter(|context| *context == Context::Global || context.applies_to(app.view));
    for context in contexts {
        lines.push(Line::from(styled(theme, Slot::Header, context.title())));
        for binding in BINDINGS.iter().filter(|binding| binding.context == context) {
            lines.push(entry(theme, binding.label, binding.description));
        }
    }
    lines.push(Line::from(styled(theme, Slot::Header, "Anywhere")));
    lines.push(entry(theme, "ctrl-c", "quit"));
    lines.push(entry(theme, "paste", "inspect the pasted token"));

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

fn entry(theme: &Theme, keys: &str, description: &'static str) -> Line<'static> {
    Line::from(vec![
        styled(theme, Slot::Accent, format!("  {keys:<KEY_WIDTH$}")),
        styled(theme, Slot::Text, description),
    ])
}
