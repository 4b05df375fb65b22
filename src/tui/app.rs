//! Application state, the one [`Action`] enum and the one [`update`] that changes state.

use chrono::{DateTime, Utc};

use crate::mesh::crd::PolicySet;
use crate::model::{Decision, Flow};
use crate::token;

use super::filter::matches;
use super::live::{LiveState, LiveUpdate, PickKind};
use super::theme::Theme;
use super::token_update::PastedText;
pub use super::token_update::TokenPane;
use super::{Session, detail, token_view, workloads};

/// Flows kept in memory; older ones are dropped first and counted in the status line.
pub const MAX_FLOWS: usize = 10_000;

/// Ticks a flash message stays on screen (the tick is one second).
const FLASH_TICKS: u8 = 6;

/// Rows that PgUp/PgDn move when the screen size is not known yet.
const DEFAULT_PAGE: usize = 10;

/// Everything a user or a source can ask the UI to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Up,
    Down,
    Top,
    Bottom,
    PageUp,
    PageDown,
    /// Enter: open the detail of the selected flow.
    Open,
    /// Esc: leave the current view, or clear the filter.
    Back,
    ShowFlows,
    ShowToken,
    ToggleHelp,
    StartFilter,
    StartCommand,
    /// Starts typing a token in the Token view.
    StartToken,
    ClearToken,
    /// A character typed into the open prompt.
    Input(char),
    Backspace,
    /// Ctrl-U in the open prompt: clears the text typed so far, as in a shell.
    ClearInput,
    /// Ctrl-W in the open prompt: deletes the word before the cursor, as in a shell.
    DeleteWord,
    /// Enter in the open prompt. A filter stays applied.
    Submit,
    /// Esc in the open prompt. A filter is cleared.
    Cancel,
    /// Text from a bracketed paste.
    Paste(String),
    /// A flow from a live source, new or changed.
    AddFlow(Flow),
    /// Anything else a live source reports.
    Live(LiveUpdate),
    ShowWorkloads,
    /// `p`: stop or restart showing new flows; they are collected meanwhile.
    TogglePause,
    /// Opens the prompt to edit the what-if request (`METHOD PATH`) of the open workload or of the
    /// Token view.
    EditWhatIf,
    /// `y` in the Token view: copies the claims as JSON to the clipboard.
    CopyClaims,
    /// Opens the Flows view filtered to the open workload.
    ShowWorkloadFlows,
    Resize {
        width: u16,
        height: u16,
    },
    Tick,
    Quit,
}

/// The main views.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Flows,
    /// The selected flow's hops and findings, full screen.
    Detail,
    Token,
    /// Meshed workloads of the live cluster, one per row.
    Workloads,
    /// The selected workload: its policies, a what-if and its recent flows.
    Workload,
    /// The `:ctx` or `:ns` list.
    Pick(PickKind),
}

/// The kind of input the one-line prompt collects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    /// `/`: a filter over the flows.
    Filter,
    /// `:`: a command such as `q`, `token` or `flows`.
    Command,
    /// A token typed in the Token view; shown masked.
    Token,
    /// `METHOD PATH` of the what-if request.
    WhatIf,
}

/// The open prompt and the text typed so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub kind: PromptKind,
    pub text: String,
}

/// Severity of a flash message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlashLevel {
    Info,
    Error,
}

/// A short message in the status line that clears itself after a few seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    pub level: FlashLevel,
    pub text: String,
    ticks_left: u8,
}

/// The whole UI state. Views read it; only [`update`] changes it.
#[derive(Debug)]
pub struct App {
    pub title: String,
    pub flows: Vec<Flow>,
    pub notices: Vec<String>,
    pub theme: Theme,
    pub view: View,
    /// Indexes into `flows` that pass the filter, in order.
    pub visible: Vec<usize>,
    /// Position of the selected flow within `visible`.
    pub selected: usize,
    /// The applied filter, empty for none. While the filter prompt is open it follows the prompt.
    pub filter: String,
    pub prompt: Option<Prompt>,
    pub show_help: bool,
    /// First entry row shown in the help overlay, for scrolling it on short screens.
    pub help_scroll: u16,
    pub token: TokenPane,
    /// First line shown in the detail view, for scrolling.
    pub detail_scroll: u16,
    pub flash: Option<Flash>,
    /// What a live cluster source reported; empty for demo and replay.
    pub live: LiveState,
    /// Flows dropped because more than [`MAX_FLOWS`] arrived.
    pub dropped_flows: u64,
    /// Terminal size, from the last resize.
    pub size: (u16, u16),
    pub should_quit: bool,
    /// Policies given with the session (demo, replay `--policies`); a live cluster's are in `live`.
    pub policies: PolicySet,
    /// Counts changes to the policies or workloads, so the what-if table is computed again.
    pub policy_generation: u64,
    /// The edge profile of the what-if table's edge column.
    pub edge: Option<super::EdgeSetup>,
    /// A fixed clock for token times and the what-if; `None` reads the system clock.
    pub clock: Option<DateTime<Utc>>,
    /// Text waiting to be copied to the terminal's clipboard by the event loop.
    pub(super) clipboard: Option<String>,
}

impl App {
    pub fn new(session: Session, theme: Theme) -> App {
        let mut app = App {
            title: session.title,
            flows: Vec::new(),
            notices: session.notices,
            theme,
            view: View::Flows,
            visible: Vec::new(),
            selected: 0,
            filter: String::new(),
            prompt: None,
            show_help: false,
            help_scroll: 0,
            token: TokenPane::default(),
            detail_scroll: 0,
            flash: None,
            live: LiveState::default(),
            dropped_flows: 0,
            size: (0, 0),
            should_quit: false,
            policies: session.policies,
            policy_generation: 0,
            edge: session.edge,
            clock: None,
            clipboard: None,
        };
        for flow in session.flows {
            app.insert_flow(flow);
        }
        app.refresh_visible();
        app
    }

    /// Returns the selected flow, if any passes the filter.
    pub fn selected_flow(&self) -> Option<&Flow> {
        self.visible
            .get(self.selected)
            .and_then(|index| self.flows.get(*index))
    }

    /// Counts flows in which some hop denied the request.
    pub fn denial_count(&self) -> usize {
        self.flows.iter().filter(|flow| is_denied(flow)).count()
    }

    pub(super) fn push_flow(&mut self, flow: Flow) {
        if self.flows.len() >= MAX_FLOWS {
            self.flows.remove(0);
            self.dropped_flows += 1;
        }
        self.flows.push(flow);
    }

    pub(super) fn refresh_visible(&mut self) {
        let filter = self.filter.to_lowercase();
        self.visible = (0..self.flows.len())
            .filter(|index| matches(&self.flows[*index], &filter))
            .collect();
        self.clamp_selection();
    }

    /// Applies `text` as the filter and selects the first flow that passes it.
    pub(super) fn set_filter(&mut self, text: &str) {
        text.trim().clone_into(&mut self.filter);
        self.selected = 0;
        self.refresh_visible();
    }

    /// Changes the open prompt's text with `edit`; a filter prompt applies each change at once, so
    /// the list narrows as the user types, as in k9s.
    fn edit_prompt(&mut self, edit: impl FnOnce(&mut String)) {
        let Some(prompt) = &mut self.prompt else {
            return;
        };
        edit(&mut prompt.text);
        if prompt.kind == PromptKind::Filter {
            let text = prompt.text.clone();
            self.set_filter(&text);
        }
    }

    fn clamp_selection(&mut self) {
        self.selected = self.selected.min(self.visible.len().saturating_sub(1));
    }

    fn page(&self) -> usize {
        match self.size.1 {
            0 => DEFAULT_PAGE,
            // Status line, hint bar, table borders and header take five rows.
            height => usize::from(height.saturating_sub(5)).max(1),
        }
    }

    pub(super) fn set_flash(&mut self, level: FlashLevel, text: impl Into<String>) {
        // A message may quote what the user typed or pasted, which can be a token.
        self.flash = Some(Flash {
            level,
            text: crate::redact::hide_pasted(&text.into()),
            ticks_left: FLASH_TICKS,
        });
    }

    /// Moves the selection, or scrolls the detail or Token view, by `delta` rows.
    fn move_by(&mut self, delta: isize) {
        let limit = self.scroll_limit();
        match self.view {
            View::Flows => {
                let last = self.visible.len().saturating_sub(1);
                self.selected = self.selected.saturating_add_signed(delta).min(last);
            }
            View::Detail | View::Workload => {
                self.detail_scroll = scroll(self.detail_scroll, delta, limit);
            }
            View::Token => self.token.scroll = scroll(self.token.scroll, delta, limit),
            View::Workloads => {
                let last = self.live.workloads.len().saturating_sub(1);
                self.live.selected = self.live.selected.saturating_add_signed(delta).min(last);
            }
            View::Pick(kind) => {
                let last = self.live.pick_items(kind).len().saturating_sub(1);
                self.live.pick_selected = self
                    .live
                    .pick_selected
                    .saturating_add_signed(delta)
                    .min(last);
            }
        }
    }

    fn move_to_end(&mut self, end: bool) {
        let limit = if end { self.scroll_limit() } else { 0 };
        match self.view {
            View::Flows if end => self.selected = self.visible.len().saturating_sub(1),
            View::Flows => self.selected = 0,
            View::Detail | View::Workload => self.detail_scroll = limit,
            View::Token => self.token.scroll = limit,
            View::Workloads => {
                self.live.selected = if end {
                    self.live.workloads.len().saturating_sub(1)
                } else {
                    0
                };
            }
            View::Pick(kind) => {
                self.live.pick_selected = if end {
                    self.live.pick_items(kind).len().saturating_sub(1)
                } else {
                    0
                };
            }
        }
    }

    /// Returns the largest scroll offset of the detail or Token view at the current size.
    fn scroll_limit(&self) -> u16 {
        let content = match self.view {
            View::Flows | View::Workloads | View::Pick(_) => 0,
            View::Detail => detail::content_height(self),
            View::Token => token_view::content_height(self),
            View::Workload => workloads::content_height(self),
        };
        // The status line, the bottom line and the view's two borders take four rows.
        let viewport = usize::from(self.size.1.saturating_sub(4));
        u16::try_from(content.saturating_sub(viewport)).unwrap_or(u16::MAX)
    }

    fn inspect(&mut self, text: &str) {
        // NOTE: the view covers several workloads, so it reads the token at Istio's default
        // locations only. A configured `fromHeaders` prefix is still reported as text before the
        // token here, though the what-if rows send the header as pasted.
        self.token.result = Some(token::inspect(text.trim(), self.now()));
        self.token.pasted = PastedText(text.trim().to_owned());
        self.token.scroll = 0;
        // A pasted request (a curl or HTTPie command, `curl -v` output, a URL) names the
        // request, so the what-if rows judge that one. A block of header lines or a lone `-H`
        // argument names no URL, so the what-if request stays as it was.
        if let Some(request) = token::pasted_request(text)
            && request.url.is_some()
        {
            self.live.what_if.path = request.path();
            self.live.what_if.method = request.method;
        }
    }

    fn run_command(&mut self, command: &str) {
        match command.trim() {
            "q" | "q!" | "quit" => self.should_quit = true,
            "token" | "t" => self.view = View::Token,
            "flows" | "f" => self.view = View::Flows,
            "help" | "h" => {
                self.show_help = true;
                self.help_scroll = 0;
            }
            "" => {}
            other if self.run_live_command(other) => {}
            other => self.set_flash(
                FlashLevel::Error,
                format!(
                    "unknown command \":{other}\"; try :flows :workloads :ctx :ns :token :help :q"
                ),
            ),
        }
    }

    fn submit(&mut self, prompt: &Prompt) {
        match prompt.kind {
            PromptKind::Filter => self.set_filter(&prompt.text),
            PromptKind::Command => self.run_command(&prompt.text),
            PromptKind::Token => self.inspect(&prompt.text),
            PromptKind::WhatIf => self.submit_what_if(&prompt.text),
        }
    }

    fn back(&mut self) {
        if self.show_help {
            self.show_help = false;
            return;
        }
        match self.view {
            View::Detail | View::Token | View::Workloads => self.view = View::Flows,
            View::Workload | View::Pick(_) => self.view = View::Workloads,
            View::Flows if !self.filter.is_empty() => {
                self.filter.clear();
                self.refresh_visible();
            }
            View::Flows => {}
        }
    }

    fn open_prompt(&mut self, kind: PromptKind) {
        let text = match kind {
            PromptKind::Filter => self.filter.clone(),
            PromptKind::WhatIf => self.what_if_text(),
            PromptKind::Command | PromptKind::Token => String::new(),
        };
        self.prompt = Some(Prompt { kind, text });
    }
}

/// Applies one action to the state.
pub fn update(app: &mut App, action: Action) {
    // The table may be stale when a caller set the token directly; scrolling needs its height.
    app.refresh_token_what_if();
    if !matches!(
        action,
        Action::Tick | Action::AddFlow(_) | Action::Live(_) | Action::Resize { .. }
    ) {
        app.flash = None;
    }
    match action {
        scroll if app.show_help && super::help::is_scroll(&scroll) => {
            app.help_scroll = super::help::scrolled(app, &scroll);
        }
        Action::Up => app.move_by(-1),
        Action::Down => app.move_by(1),
        Action::PageUp => app.move_by(-signed(app.page())),
        Action::PageDown => app.move_by(signed(app.page())),
        Action::Top => app.move_to_end(false),
        Action::Bottom => app.move_to_end(true),
        Action::Open => match app.view {
            View::Flows if app.selected_flow().is_some() => {
                app.view = View::Detail;
                app.detail_scroll = 0;
            }
            View::Workloads => app.open_workload(),
            View::Pick(kind) => app.pick(kind),
            _ => {}
        },
        Action::Back => app.back(),
        Action::ShowFlows => app.view = View::Flows,
        Action::ShowToken => app.view = View::Token,
        Action::ToggleHelp => {
            app.show_help = !app.show_help;
            app.help_scroll = 0;
        }
        Action::StartFilter => app.open_prompt(PromptKind::Filter),
        Action::StartCommand => app.open_prompt(PromptKind::Command),
        Action::StartToken => {
            app.view = View::Token;
            app.open_prompt(PromptKind::Token);
        }
        Action::ClearToken => app.token = TokenPane::default(),
        Action::Input(c) => app.edit_prompt(|text| text.push(c)),
        Action::Backspace => app.edit_prompt(|text| {
            text.pop();
        }),
        Action::ClearInput => app.edit_prompt(String::clear),
        Action::DeleteWord => app.edit_prompt(|text| {
            let kept = text
                .trim_end()
                .rfind(char::is_whitespace)
                .map_or(0, |at| at + 1);
            text.truncate(kept);
        }),
        Action::Submit => {
            if let Some(prompt) = app.prompt.take() {
                app.submit(&prompt);
            }
        }
        Action::Cancel => {
            if let Some(prompt) = app.prompt.take()
                && prompt.kind == PromptKind::Filter
            {
                app.filter.clear();
                app.refresh_visible();
            }
        }
        Action::Paste(text) => paste(app, &text),
        Action::AddFlow(flow) => app.add_flow(flow),
        Action::Live(update) => app.apply_live(update),
        Action::ShowWorkloads => app.view = View::Workloads,
        Action::TogglePause => app.toggle_pause(),
        Action::EditWhatIf => {
            if matches!(app.view, View::Workload | View::Token) {
                app.open_prompt(PromptKind::WhatIf);
            }
        }
        Action::CopyClaims => app.copy_claims(),
        Action::ShowWorkloadFlows => app.show_workload_flows(),
        Action::Resize { width, height } => app.size = (width, height),
        Action::Tick => {
            app.live.tick();
            if let Some(flash) = &mut app.flash {
                flash.ticks_left = flash.ticks_left.saturating_sub(1);
                if flash.ticks_left == 0 {
                    app.flash = None;
                }
            }
        }
        Action::Quit => app.should_quit = true,
    }
    app.refresh_token_what_if();
}

/// Inserts pasted text into the open prompt, or inspects it as a token anywhere else.
fn paste(app: &mut App, text: &str) {
    match app.prompt.as_ref().map(|prompt| prompt.kind) {
        Some(PromptKind::Filter | PromptKind::Command | PromptKind::WhatIf) => {
            // Filters and commands are one line.
            app.edit_prompt(|typed| typed.extend(text.chars().filter(|c| !c.is_control())));
        }
        Some(PromptKind::Token) => {
            app.prompt = None;
            app.view = View::Token;
            app.inspect(&pasted_lines(text));
        }
        None => {
            app.view = View::Token;
            app.inspect(&pasted_lines(text));
        }
    }
}

/// Returns `text` with each line break as LF. tmux's `paste-buffer` sends each LF of a paste as
/// CR unless given `-r`, so pasted `curl -i` or `curl -v` output would otherwise read as one line.
fn pasted_lines(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// Returns true when some hop of the flow denied the request.
pub fn is_denied(flow: &Flow) -> bool {
    flow.hops.iter().any(|hop| hop.decision == Decision::Deny)
}

fn signed(rows: usize) -> isize {
    isize::try_from(rows).unwrap_or(isize::MAX)
}

fn scroll(position: u16, delta: isize, limit: u16) -> u16 {
    let moved = i64::from(position) + i64::try_from(delta).unwrap_or_default();
    u16::try_from(moved.clamp(0, i64::from(limit))).unwrap_or_default()
}
