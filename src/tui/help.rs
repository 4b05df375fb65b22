//! The `?` help overlay, generated from the key table. On a screen too short for every entry it
//! scrolls, and its bottom border shows which way more entries are.

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Flex, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::app::{Action, App};
use super::format::styled;
use super::keys::{BINDINGS, Context};
use super::theme::{Slot, Theme};

const KEY_WIDTH: usize = 8;
/// The narrowest popup, wide enough for its title.
const MIN_WIDTH: u16 = 26;
/// Rows the top and bottom borders take.
const BORDER_ROWS: u16 = 2;
/// Columns the left and right borders take.
const BORDER_COLUMNS: usize = 2;

/// Draws the help overlay centred in `area`, from entry [`App::help_scroll`] on.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let theme = &app.theme;
    let lines = entries(app);
    let rows = shown_rows(area.height, lines.len());
    let first = app
        .help_scroll
        .min(last_first_row(area.height, lines.len()));
    let scrolls = rows < lines.len();

    // As wide as the longest entry and the borders, within the screen.
    let widest = lines.iter().map(Line::width).max().unwrap_or_default() + BORDER_COLUMNS;
    let width = u16::try_from(widest)
        .unwrap_or(u16::MAX)
        .clamp(MIN_WIDTH, area.width.max(MIN_WIDTH));
    let height = u16::try_from(rows)
        .unwrap_or(u16::MAX)
        .saturating_add(BORDER_ROWS);
    let [popup] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::horizontal([Constraint::Length(width)])
        .flex(Flex::Center)
        .areas(popup);
    let title = if scrolls {
        " Help (j/k scroll, other keys close) "
    } else {
        " Help (any key closes) "
    };
    let mut block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.style(Slot::Accent))
        .title(Line::from(styled(theme, Slot::Accent, title)));
    let above = first > 0;
    let below = usize::from(first) + rows < lines.len();
    let marker = match (above, below) {
        (true, true) => Some(" ↑↓ more "),
        (false, true) => Some(" ↓ more "),
        (true, false) => Some(" ↑ more "),
        (false, false) => None,
    };
    if let Some(marker) = marker {
        block = block.title_bottom(
            Line::from(styled(theme, Slot::Accent, marker)).alignment(Alignment::Right),
        );
    }
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(lines).block(block).scroll((first, 0)), popup);
}

/// Returns whether the help overlay on the screen of `app` shows fewer entries than it has, so
/// that the scroll keys scroll it rather than close it.
pub fn scrolls(app: &App) -> bool {
    let count = entries(app).len();
    shown_rows(app.size.1, count) < count
}

/// Returns whether `action` moves through a list or a page: up, down, page up or down, top,
/// bottom. Those scroll the help overlay while it is open.
pub fn is_scroll(action: &Action) -> bool {
    matches!(
        action,
        Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Top
            | Action::Bottom
    )
}

/// Returns the first entry row shown after `action` ([`is_scroll`]) scrolls the help overlay of
/// `app`. Other actions leave it where it is.
pub fn scrolled(app: &App, action: &Action) -> u16 {
    let count = entries(app).len();
    let last = last_first_row(app.size.1, count);
    let page = u16::try_from(shown_rows(app.size.1, count))
        .unwrap_or(u16::MAX)
        .max(1);
    let first = app.help_scroll.min(last);
    match action {
        Action::Up => first.saturating_sub(1),
        Action::Down => first.saturating_add(1).min(last),
        Action::PageUp => first.saturating_sub(page),
        Action::PageDown => first.saturating_add(page).min(last),
        Action::Top => 0,
        Action::Bottom => last,
        _ => first,
    }
}

/// Returns how many entry rows fit on a screen `height` rows tall, at most `count`. A height of
/// 0 (not known yet) shows them all.
fn shown_rows(height: u16, count: usize) -> usize {
    if height == 0 {
        return count;
    }
    usize::from(height.saturating_sub(BORDER_ROWS)).min(count)
}

/// Returns the first row shown when the last entry is at the bottom of the popup.
fn last_first_row(height: u16, count: usize) -> u16 {
    u16::try_from(count - shown_rows(height, count)).unwrap_or(u16::MAX)
}

/// Returns the help lines for the view of `app`: the key table's bindings under their context
/// headings, then the keys that work anywhere. A description wider than the screen wraps below
/// itself, so that a narrow terminal shows all of it.
fn entries(app: &App) -> Vec<Line<'static>> {
    let theme = &app.theme;
    // The screen less the borders and the key column. A size of 0 (not known yet) wraps nothing.
    let width = match usize::from(app.size.0) {
        0 => usize::MAX,
        screen => screen
            .saturating_sub(BORDER_COLUMNS + KEY_COLUMN)
            .max(MIN_DESCRIPTION_WIDTH),
    };

    let mut lines = Vec::new();
    let contexts = Context::ALL
        .into_iter()
        .filter(|context| *context == Context::Global || context.applies_to(app.view));
    for context in contexts {
        lines.push(Line::from(styled(theme, Slot::Header, context.title())));
        for binding in BINDINGS.iter().filter(|binding| binding.context == context) {
            push_entry(&mut lines, theme, binding.label, binding.description, width);
        }
    }

    lines.push(Line::from(styled(theme, Slot::Header, "Anywhere")));
    push_entry(&mut lines, theme, "ctrl-c", "quit", width);
    push_entry(
        &mut lines,
        theme,
        "paste",
        "inspect the pasted token",
        width,
    );
    let prompt_keys = "in a prompt: clear it / delete a word";
    push_entry(&mut lines, theme, "ctrl-u/w", prompt_keys, width);
    lines
}

/// Columns before a description: two spaces, the keys and a space.
const KEY_COLUMN: usize = KEY_WIDTH + 3;
/// The narrowest a description wraps to.
const MIN_DESCRIPTION_WIDTH: usize = 12;

/// Appends the entry for `keys`, its `description` wrapped at spaces to `width` columns.
fn push_entry(
    lines: &mut Vec<Line<'static>>,
    theme: &Theme,
    keys: &str,
    description: &'static str,
    width: usize,
) {
    let mut rows: Vec<String> = Vec::new();
    for word in description.split(' ') {
        match rows.last_mut() {
            Some(row) if row.chars().count() + 1 + word.chars().count() <= width => {
                row.push(' ');
                row.push_str(word);
            }
            _ => rows.push(word.to_owned()),
        }
    }
    for (index, row) in rows.into_iter().enumerate() {
        let keys = if index == 0 { keys } else { "" };
        lines.push(Line::from(vec![
            styled(theme, Slot::Accent, format!("  {keys:<KEY_WIDTH$} ")),
            styled(theme, Slot::Text, row),
        ]));
    }
}
