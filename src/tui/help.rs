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
/// The narrowest popup, wide enough for its title.
const MIN_WIDTH: u16 = 26;

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
    lines.push(entry(
        theme,
        "ctrl-u/w",
        "in a prompt: clear it / delete a word",
    ));

    // As wide as the longest entry and the borders, within the screen.
    let widest = lines.iter().map(Line::width).max().unwrap_or_default() + 2;
    let width = u16::try_from(widest)
        .unwrap_or(u16::MAX)
        .clamp(MIN_WIDTH, area.width.max(MIN_WIDTH));
    let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let [popup] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::horizontal([Constraint::Length(width)])
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
        styled(theme, Slot::Accent, format!("  {keys:<KEY_WIDTH$} ")),
        styled(theme, Slot::Text, description),
    ])
}
