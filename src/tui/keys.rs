//! The one key table: it maps key presses to actions and drives the help screen and the hint bar.

use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::app::{Action, App, View};

/// The group of views a binding applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Global,
    Flows,
    Token,
    Workloads,
    Workload,
    Pick,
}

impl Context {
    /// Every context, in help order.
    pub const ALL: [Context; 6] = [
        Context::Global,
        Context::Flows,
        Context::Workloads,
        Context::Workload,
        Context::Pick,
        Context::Token,
    ];

    /// Returns the heading of this context in the help screen.
    pub fn title(self) -> &'static str {
        match self {
            Context::Global => "Global",
            Context::Flows => "Flows",
            Context::Token => "Token",
            Context::Workloads => "Workloads",
            Context::Workload => "Workload",
            Context::Pick => "Contexts and namespaces",
        }
    }

    /// Returns true when the bindings of this context work in `view`.
    pub fn applies_to(self, view: View) -> bool {
        match self {
            Context::Global => true,
            Context::Flows => view == View::Flows,
            Context::Token => view == View::Token,
            Context::Workloads => view == View::Workloads,
            Context::Workload => view == View::Workload,
            Context::Pick => matches!(view, View::Pick(_)),
        }
    }
}

/// A binding's entry in the hint bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hint {
    /// The short description, e.g. `filter`.
    pub text: &'static str,
    /// A narrow hint bar drops hints of lower priority first; [`Hint::KEEP`] hints always stay.
    pub priority: u8,
}

impl Hint {
    /// The priority of hints that the bar never drops: help and quit.
    pub const KEEP: u8 = u8::MAX;
}

const fn hint(text: &'static str, priority: u8) -> Hint {
    Hint { text, priority }
}

/// One row of the key table.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub context: Context,
    pub keys: &'static [KeyCode],
    /// The keys as shown in help and the hint bar.
    pub label: &'static str,
    pub description: &'static str,
    /// The hint bar entry; `None` keeps the binding to help only.
    pub hint: Option<Hint>,
    action: fn() -> Action,
}

const fn bind(
    context: Context,
    keys: &'static [KeyCode],
    label: &'static str,
    description: &'static str,
    hint: Option<Hint>,
    action: fn() -> Action,
) -> Binding {
    Binding {
        context,
        keys,
        label,
        description,
        hint,
        action,
    }
}

/// Every key binding, in help order. Ctrl-C quits everywhere and is handled before this table.
pub const BINDINGS: &[Binding] = &[
    bind(
        Context::Token,
        &[KeyCode::Char('i')],
        "i",
        "type a token",
        Some(hint("type", 5)),
        || Action::StartToken,
    ),
    bind(
        Context::Token,
        &[KeyCode::Char('x')],
        "x",
        "clear token",
        None,
        || Action::ClearToken,
    ),
    bind(
        Context::Token,
        &[KeyCode::Char('e')],
        "e",
        "edit the what-if request (METHOD PATH)",
        Some(hint("what-if", 4)),
        || Action::EditWhatIf,
    ),
    bind(
        Context::Token,
        &[KeyCode::Char('y')],
        "y",
        "copy the claims as JSON, or a nested JWT's claims (OSC 52, never the token)",
        Some(hint("copy", 3)),
        || Action::CopyClaims,
    ),
    bind(
        Context::Flows,
        &[KeyCode::Enter],
        "enter",
        "open detail",
        Some(hint("detail", 5)),
        || Action::Open,
    ),
    bind(
        Context::Flows,
        &[KeyCode::Char('p')],
        "p",
        "pause / resume (keeps collecting)",
        Some(hint("pause", 4)),
        || Action::TogglePause,
    ),
    bind(
        Context::Workloads,
        &[KeyCode::Enter],
        "enter",
        "open workload: policies, what-if, flows",
        Some(hint("open", 5)),
        || Action::Open,
    ),
    bind(
        Context::Workload,
        &[KeyCode::Char('e')],
        "e",
        "edit the what-if request (METHOD PATH)",
        Some(hint("what-if", 5)),
        || Action::EditWhatIf,
    ),
    bind(
        Context::Workload,
        &[KeyCode::Char('f')],
        "f",
        "this workload's flows",
        Some(hint("flows", 5)),
        || Action::ShowWorkloadFlows,
    ),
    bind(
        Context::Pick,
        &[KeyCode::Enter],
        "enter",
        "switch to the selected one",
        Some(hint("switch", 5)),
        || Action::Open,
    ),
    bind(
        Context::Global,
        &[KeyCode::Char('/')],
        "/",
        "filter",
        Some(hint("filter", 4)),
        || Action::StartFilter,
    ),
    bind(
        Context::Global,
        &[KeyCode::Char(':')],
        ":",
        "command: :ctx, :ns, :workloads, :q",
        Some(hint("command", 1)),
        || Action::StartCommand,
    ),
    bind(
        Context::Global,
        &[KeyCode::Char('t')],
        "t",
        "token view",
        Some(hint("token", 2)),
        || Action::ShowToken,
    ),
    bind(
        Context::Global,
        &[KeyCode::Char('w')],
        "w",
        "workloads view",
        Some(hint("workloads", 2)),
        || Action::ShowWorkloads,
    ),
    bind(
        Context::Global,
        &[KeyCode::Char('?')],
        "?",
        "help",
        Some(hint("help", Hint::KEEP)),
        || Action::ToggleHelp,
    ),
    bind(
        Context::Global,
        &[KeyCode::Esc],
        "esc",
        "back / clear filter",
        Some(hint("back", 3)),
        || Action::Back,
    ),
    bind(
        Context::Global,
        &[KeyCode::Char('q')],
        "q",
        "quit",
        Some(hint("quit", Hint::KEEP)),
        || Action::Quit,
    ),
    bind(
        Context::Global,
        &[KeyCode::Char('j'), KeyCode::Down],
        "j/↓",
        "down, scroll down",
        None,
        || Action::Down,
    ),
    bind(
        Context::Global,
        &[KeyCode::Char('k'), KeyCode::Up],
        "k/↑",
        "up, scroll up",
        None,
        || Action::Up,
    ),
    bind(
        Context::Global,
        &[KeyCode::Char('g'), KeyCode::Home],
        "g/home",
        "top",
        None,
        || Action::Top,
    ),
    bind(
        Context::Global,
        &[KeyCode::Char('G'), KeyCode::End],
        "G/end",
        "bottom",
        None,
        || Action::Bottom,
    ),
    bind(
        Context::Global,
        &[KeyCode::PageUp],
        "pgup",
        "page up",
        None,
        || Action::PageUp,
    ),
    bind(
        Context::Global,
        &[KeyCode::PageDown],
        "pgdn",
        "page down",
        None,
        || Action::PageDown,
    ),
];

/// Bindings that apply in `view`, in table order.
pub fn bindings_for(view: View) -> impl Iterator<Item = &'static Binding> {
    BINDINGS
        .iter()
        .filter(move |binding| binding.context.applies_to(view))
}

/// Turns a terminal event into an action, given the current state.
pub fn action_for(app: &App, event: &Event) -> Option<Action> {
    match event {
        Event::Key(key) if key.kind == KeyEventKind::Press => key_action(app, key),
        Event::Paste(text) => Some(Action::Paste(text.clone())),
        Event::Resize(width, height) => Some(Action::Resize {
            width: *width,
            height: *height,
        }),
        _ => None,
    }
}

fn key_action(app: &App, key: &KeyEvent) -> Option<Action> {
    if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
        return Some(Action::Quit);
    }
    if app.prompt.is_some() {
        return prompt_action(key);
    }
    if app.show_help && key.code != KeyCode::Char('q') {
        return Some(help_action(app, key));
    }
    bindings_for(app.view)
        .find(|binding| binding.keys.contains(&key.code))
        .map(|binding| (binding.action)())
}

/// Turns a key pressed while help is open into an action. On a screen too short for every
/// entry the movement keys of the key table scroll it, and as in k9s any other key closes it.
fn help_action(app: &App, key: &KeyEvent) -> Action {
    let scroll = BINDINGS
        .iter()
        .filter(|binding| binding.context == Context::Global)
        .find(|binding| binding.keys.contains(&key.code))
        .map(|binding| (binding.action)())
        .filter(super::help::is_scroll);
    match scroll {
        Some(action) if super::help::scrolls(app) => action,
        _ => Action::ToggleHelp,
    }
}

fn prompt_action(key: &KeyEvent) -> Option<Action> {
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        // Shell line editing. Other control keys type nothing.
        return match key.code {
            KeyCode::Char('u') => Some(Action::ClearInput),
            KeyCode::Char('w') => Some(Action::DeleteWord),
            _ => None,
        };
    }
    match key.code {
        KeyCode::Enter => Some(Action::Submit),
        KeyCode::Esc => Some(Action::Cancel),
        KeyCode::Backspace => Some(Action::Backspace),
        KeyCode::Char(c) => Some(Action::Input(c)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_control_keys_edit() {
        let control = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL);

        assert!(matches!(
            prompt_action(&control('u')),
            Some(Action::ClearInput)
        ));
        assert!(matches!(
            prompt_action(&control('w')),
            Some(Action::DeleteWord)
        ));
        assert!(prompt_action(&control('x')).is_none());
    }

    #[test]
    fn keys_unique_per_view() {
        for view in [
            View::Flows,
            View::Detail,
            View::Token,
            View::Workloads,
            View::Workload,
            View::Pick(super::super::live::PickKind::Contexts),
        ] {
            let mut seen = Vec::new();
            for binding in bindings_for(view) {
                for key in binding.keys {
                    assert!(!seen.contains(key), "{key:?} bound twice in {view:?}");
                    seen.push(*key);
                }
            }
        }
    }
}
