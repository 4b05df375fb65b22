//! The whole screen: status line on top, the current view, the hint bar or prompt at the bottom,
//! and the help overlay over everything.
//!
//! ```text
//! status line
//! ┌ view ──────────┐
//! │ Flows, Detail  │   Flows at 36+ rows: table above, detail of the selection below
//! │ or Token       │
//! └────────────────┘
//! hint bar or prompt
//! ```

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};

use super::app::{App, View};
use super::{bars, detail, flows, help, token_view};

/// Rows from which the Flows view also shows the selected flow's detail below the table.
const SPLIT_MIN_HEIGHT: u16 = 36;

/// Draws the whole screen from the state; reads only.
pub fn render(frame: &mut Frame, app: &App) {
    let area = frame.area();
    if area.width == 0 || area.height == 0 {
        return;
    }
    let [status, main, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    bars::render_status(frame, status, app);
    match app.view {
        View::Flows if main.height >= SPLIT_MIN_HEIGHT => {
            let [table, preview] =
                Layout::vertical([Constraint::Percentage(45), Constraint::Min(0)]).areas(main);
            flows::render(frame, table, app);
            detail::render(frame, preview, app, 0);
        }
        View::Flows => flows::render(frame, main, app),
        View::Detail => detail::render(frame, main, app, app.detail_scroll),
        View::Token => token_view::render(frame, main, app),
    }
    bars::render_bottom(frame, bottom, app);
    if app.show_help {
        help::render(frame, area, app);
    }
}
