//! The whole screen: status line on top, the current view, the hint bar or prompt at the bottom,
//! and the help overlay over everything.
//!
//! ```text
//! status line
//! flash message, on its own rows when too wide for the status line
//! ┌ view ──────────┐
//! │ Flows, Detail  │   Flows: table above, detail of the selection below when there are
//! │ or Token       │   36+ rows, or when the whole table leaves room for it
//! └────────────────┘
//! hint bar or prompt
//! ```

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};

use super::app::{App, View};
use super::{bars, detail, flows, help, token_view, workloads};

/// Rows from which the Flows view always shows the selected flow's detail below the table.
const SPLIT_MIN_HEIGHT: u16 = 36;
/// Share of the rows the table gets in that split, in percent.
const SPLIT_TABLE_PERCENT: u16 = 45;
/// Minimum rows for the detail below a table that fits whole: two borders and three lines, enough
/// for the first finding's badge and the start of its message.
const MIN_PREVIEW_HEIGHT: u16 = 5;
/// Rows of the table that are not flows: two borders and the header.
const TABLE_CHROME: u16 = 3;

/// Draws the whole screen from the state; reads only.
pub fn render(frame: &mut Frame, app: &App) {
    let area = frame.area();
    if area.width == 0 || area.height == 0 {
        return;
    }
    // A live session has a second line: stream health and the denials by workload and policy.
    let live_rows = u16::from(app.live.context.is_some());
    // A flash message too wide for the status line gets rows of its own below it.
    let flash_rows = u16::try_from(bars::flash_lines(app, area.width).len()).unwrap_or(0);
    let [status, flash, live, main, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(flash_rows),
        Constraint::Length(live_rows),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    bars::render_status(frame, status, app);
    if flash_rows > 0 {
        bars::render_flash(frame, flash, app);
    }
    if live_rows > 0 {
        bars::render_live(frame, live, app);
    }
    match app.view {
        View::Flows => match flows_split(app, main.height) {
            Some(table_height) => {
                let [table, preview] =
                    Layout::vertical([Constraint::Length(table_height), Constraint::Min(0)])
                        .areas(main);
                flows::render(frame, table, app);
                detail::render(frame, preview, app, 0);
            }
            None => flows::render(frame, main, app),
        },
        View::Detail => detail::render(frame, main, app, app.detail_scroll),
        View::Token => token_view::render(frame, main, app),
        View::Workloads => workloads::render_list(frame, main, app),
        View::Workload => workloads::render_page(frame, main, app),
        View::Pick(kind) => workloads::render_pick(frame, main, app, kind),
    }
    bars::render_bottom(frame, bottom, app);
    if app.show_help {
        help::render(frame, area, app);
    }
}

/// Returns the table's height when the Flows view in `height` rows also shows the selected flow's
/// detail, or `None` for the table alone. Tall screens give the table a fixed share. Shorter ones
/// (80×24) give it just the rows it needs, if that leaves [`MIN_PREVIEW_HEIGHT`] for the detail.
fn flows_split(app: &App, height: u16) -> Option<u16> {
    app.selected_flow()?;
    if height >= SPLIT_MIN_HEIGHT {
        return Some(height * SPLIT_TABLE_PERCENT / 100);
    }
    let needed = u16::try_from(app.visible.len())
        .unwrap_or(u16::MAX)
        .saturating_add(TABLE_CHROME);
    (height.saturating_sub(needed) >= MIN_PREVIEW_HEIGHT).then_some(needed)
}
