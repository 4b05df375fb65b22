//! The Flows table: one row per request, edge verdict and every mesh hop's verdict side by side.
//!
//! ```text
//! ┌ Flows(demo)[7] </orders> ───────────────────────────────────────────────┐
//! │TIME     METHOD PATH             EDGE      HOP 1   HOP 2            FINDING │
//! │09:15:02 GET    /api/orders      allow 200 gw 200  orders 403 rbac  DISAGREE│
//! └─────────────────────────────────────────────────────────────────────────┘
//! ```

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Row, Table, TableState};

use crate::model::Flow;

use super::app::App;
use super::format::{
    badge, badge_text, clock, edge_hop, edge_hop_cell, finding_slot, mesh_cell, mesh_hops,
    more_findings, status_text, styled, truncate,
};
use super::theme::Slot;

/// Mesh hop columns shown; a flow with more hops shows `+N` in its last hop cell.
const MAX_HOP_COLUMNS: usize = 4;
/// Widest a hop cell grows before the table truncates it.
const MAX_HOP_WIDTH: u16 = 20;
const TIME_WIDTH: u16 = 8;
const METHOD_WIDTH: u16 = 6;
const EDGE_WIDTH: u16 = 9;
const MIN_PATH_WIDTH: u16 = 8;
/// Path width below which hop cells leave out the cause word.
const COMFORTABLE_PATH_WIDTH: u16 = 20;

/// Narrowest a column shrinks to when the screen is too narrow: one character and the `…`.
const MIN_CUT_WIDTH: u16 = 2;

/// Widths of the columns, and whether hop cells name the cause of a denial.
struct Columns {
    time: u16,
    method: u16,
    path: u16,
    edge: u16,
    hops: Vec<u16>,
    badge: u16,
    with_cause: bool,
    /// The widest compact cell (the status alone) of the edge column and of each hop column.
    /// These columns shrink to it before other columns are cut.
    edge_compact: u16,
    hops_compact: Vec<u16>,
}

impl Columns {
    /// Sizes hop and badge columns to their widest cell and gives the path what is left.
    fn fit(flows: &[&Flow], hop_columns: usize, width: u16, with_cause: bool) -> Columns {
        let (hops, hops_compact): (Vec<u16>, Vec<u16>) = (0..hop_columns)
            .map(|column| hop_widths(flows, column, hop_columns, with_cause))
            .unzip();
        let badge = flows
            .iter()
            .map(|flow| badge_text(flow).len())
            .max()
            .unwrap_or(0);
        let badge = u16::try_from(badge).unwrap_or(u16::MAX).max(7);
        let fixed = TIME_WIDTH + METHOD_WIDTH + EDGE_WIDTH + hops.iter().sum::<u16>() + badge;
        let path = width
            .saturating_sub(fixed.saturating_add(Self::gaps(hop_columns)))
            .max(MIN_PATH_WIDTH);
        let edge_compact = flows
            .iter()
            .filter_map(|flow| edge_cell(flow))
            .map(|cell| width_of(&cell.compact))
            .fold(MIN_CUT_WIDTH, u16::max);
        let mut columns = Columns {
            time: TIME_WIDTH,
            method: METHOD_WIDTH,
            path,
            edge: EDGE_WIDTH,
            hops,
            badge,
            with_cause,
            edge_compact,
            hops_compact,
        };
        columns.shrink_to(width);
        columns
    }

    /// Returns the spaces between columns: one between each pair.
    fn gaps(hop_columns: usize) -> u16 {
        u16::try_from(4 + hop_columns).unwrap_or(u16::MAX)
    }

    /// Narrows columns until the table fits `width`. The path goes first. The hop columns, from
    /// the last, and the edge column follow, down to their compact cells (the status alone). Then
    /// the finding, the method and the time shrink, and last the hop and edge columns go below
    /// their compact cells. The table lays the columns out as given, so every cell cut to its
    /// column ends in `…` instead of being clipped.
    fn shrink_to(&mut self, width: u16) {
        let total = self.time
            + self.method
            + self.path
            + self.edge
            + self.hops.iter().sum::<u16>()
            + self.badge
            + Self::gaps(self.hops.len());
        let mut excess = total.saturating_sub(width);
        let mut order: Vec<(&mut u16, u16)> = vec![(&mut self.path, MIN_CUT_WIDTH)];
        order.extend(
            self.hops
                .iter_mut()
                .zip(self.hops_compact.iter().copied())
                .rev(),
        );
        order.extend([
            (&mut self.edge, self.edge_compact),
            (&mut self.badge, MIN_CUT_WIDTH),
            (&mut self.method, MIN_CUT_WIDTH),
            (&mut self.time, MIN_CUT_WIDTH),
        ]);
        for (column, narrowest) in &mut order {
            let cut = excess.min(column.saturating_sub(*narrowest));
            **column -= cut;
            excess -= cut;
        }
        for (column, _) in order {
            let cut = excess.min(column.saturating_sub(MIN_CUT_WIDTH));
            *column -= cut;
            excess -= cut;
        }
    }
}

/// Draws the Flows table in `area`.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let theme = &app.theme;
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.style(Slot::Border))
        .title(title(app));
    let inner = block.inner(area);
    frame.render_widget(block, area);

    let flows: Vec<&Flow> = app
        .visible
        .iter()
        .filter_map(|i| app.flows.get(*i))
        .collect();
    if flows.is_empty() {
        let text = if app.flows.is_empty() {
            "No flows yet. Live sources add them as requests arrive."
        } else {
            "No flow matches the filter. Press esc to clear it."
        };
        frame.render_widget(Line::from(styled(theme, Slot::Muted, text)), inner);
        return;
    }

    let hop_columns = flows
        .iter()
        .map(|flow| mesh_hops(flow).count())
        .max()
        .unwrap_or(0)
        .min(MAX_HOP_COLUMNS);
    // Narrow screens drop the cause word (`rbac`, `expired`) from hop cells so the path stays
    // readable. The cell's colour and the detail pane still show the cause.
    let mut layout = Columns::fit(&flows, hop_columns, inner.width, true);
    if layout.path < COMFORTABLE_PATH_WIDTH {
        layout = Columns::fit(&flows, hop_columns, inner.width, false);
    }

    let mut widths = vec![layout.time, layout.method, layout.path, layout.edge];
    widths.extend(&layout.hops);
    widths.push(layout.badge);

    let mut header = vec![
        "TIME".to_owned(),
        "METHOD".into(),
        "PATH".into(),
        "EDGE".into(),
    ];
    header.extend((1..=hop_columns).map(|n| format!("HOP {n}")));
    header.push("FINDING".into());
    let header = header
        .iter()
        .zip(&widths)
        .map(|(text, width)| truncate(text, usize::from(*width)));
    let header = Row::new(header).style(theme.style(Slot::Header));
    let widths: Vec<Constraint> = widths.into_iter().map(Constraint::Length).collect();

    let rows = flows.iter().map(|flow| row(app, flow, &layout));
    let table = Table::new(rows, widths)
        .header(header)
        .row_highlight_style(theme.style(Slot::Selection));

    let visible_rows = usize::from(inner.height.saturating_sub(1)).max(1);
    let mut state = TableState::default()
        .with_offset(app.selected.saturating_sub(visible_rows - 1))
        .with_selected(Some(app.selected));
    frame.render_stateful_widget(table, inner, &mut state);
}

fn title(app: &App) -> Line<'static> {
    let theme = &app.theme;
    let mut spans = vec![
        styled(theme, Slot::Accent, format!(" Flows({})", app.title)),
        styled(theme, Slot::Header, format!("[{}] ", app.visible.len())),
    ];
    if !app.filter.is_empty() {
        let filter = crate::redact::hide_pasted(&app.filter);
        spans.push(styled(theme, Slot::Accent, format!("</{filter}> ")));
    }
    Line::from(spans)
}

fn row(app: &App, flow: &Flow, layout: &Columns) -> Row<'static> {
    let hop_columns = layout.hops.len();
    let theme = &app.theme;
    // Each text is cut to its column here, so a cut cell ends in `…` rather than a shortened
    // status such as `gw 20`.
    let cut = |text: &str, width: u16| truncate(text, usize::from(width));
    let mut cells = vec![
        Cell::from(styled(
            theme,
            Slot::Muted,
            cut(&clock(flow.time.as_deref()), layout.time),
        )),
        Cell::from(cut(
            flow.method.as_deref().unwrap_or_default(),
            layout.method,
        )),
        Cell::from(cut(flow.path.as_deref().unwrap_or("-"), layout.path)),
        match edge_cell(flow) {
            Some(cell) => Cell::from(styled(theme, cell.slot, cell.fit(layout.edge))),
            None => Cell::from(styled(theme, Slot::Muted, "-")),
        },
    ];
    for (column, width) in layout.hops.iter().enumerate() {
        cells.push(
            match hop_cell(flow, column, hop_columns, layout.with_cause) {
                Some(cell) => Cell::from(styled(theme, cell.slot, cell.fit(*width))),
                None => Cell::from(""),
            },
        );
    }
    cells.push(match flow.findings.first() {
        Some(finding) => {
            let slot = finding_slot(finding.kind);
            let more = more_findings(flow);
            let whole = format!("{}{more}", badge(finding.kind));
            if whole.chars().count() <= usize::from(layout.badge) {
                Cell::from(Line::from(vec![
                    styled(theme, slot, badge(finding.kind)),
                    Span::raw(more),
                ]))
            } else {
                Cell::from(styled(theme, slot, cut(&whole, layout.badge)))
            }
        }
        None => Cell::from(""),
    });
    Row::new(cells)
}

/// A verdict cell of the edge or a mesh hop: its full text, the status alone for narrow
/// columns, and its colour.
struct VerdictCell {
    text: String,
    compact: String,
    slot: Slot,
}

impl VerdictCell {
    /// Returns the text for a column `width` wide: the full text when it fits, else the status
    /// alone, cut with `…` when even that does not fit. A cut status would read as another status
    /// (`gw 40` for `gw 403`), and a cut name (`g…`) shows no verdict.
    fn fit(&self, width: u16) -> String {
        let text = if width_of(&self.text) <= width {
            &self.text
        } else {
            &self.compact
        };
        truncate(text, usize::from(width))
    }
}

/// Returns the text's width in columns.
fn width_of(text: &str) -> u16 {
    u16::try_from(Span::raw(text).width()).unwrap_or(u16::MAX)
}

fn edge_cell(flow: &Flow) -> Option<VerdictCell> {
    let hop = edge_hop(flow)?;
    let (text, slot) = edge_hop_cell(hop);
    Some(VerdictCell {
        text,
        compact: status_text(hop),
        slot,
    })
}

/// Returns the cell of mesh hop `column`; the last column also counts the hops that do not fit.
fn hop_cell(
    flow: &Flow,
    column: usize,
    hop_columns: usize,
    with_cause: bool,
) -> Option<VerdictCell> {
    let hops: Vec<_> = mesh_hops(flow).collect();
    let hop = hops.get(column)?;
    let (mut text, slot) = mesh_cell(hop, with_cause);
    let mut compact = status_text(hop);
    let hidden = hops.len().saturating_sub(hop_columns);
    if column + 1 == hop_columns && hidden > 0 {
        text = format!("+{hidden} {text}");
        compact = format!("+{hidden} {compact}");
    }
    Some(VerdictCell {
        text,
        compact,
        slot,
    })
}

/// Returns the width of hop column `column` and the width of its compact cells.
fn hop_widths(flows: &[&Flow], column: usize, hop_columns: usize, with_cause: bool) -> (u16, u16) {
    let (mut widest, mut compact) = (0, MIN_CUT_WIDTH);
    for cell in flows
        .iter()
        .filter_map(|flow| hop_cell(flow, column, hop_columns, with_cause))
    {
        widest = widest.max(cell.text.chars().count());
        compact = compact.max(width_of(&cell.compact));
    }
    let width = u16::try_from(widest.max(5))
        .unwrap_or(MAX_HOP_WIDTH)
        .min(MAX_HOP_WIDTH);
    (width, compact)
}
