//! Driving the TUI's state without a terminal: the actions a key press or paste sends.

use idflow::tui::{Action, App, update};

/// Types `request` into the what-if prompt of the current view, as `e` opens it, replacing its
/// text.
pub fn set_what_if(app: &mut App, request: &str) {
    update(app, Action::EditWhatIf);
    let typed = app
        .prompt
        .as_ref()
        .map_or(0, |prompt| prompt.text.chars().count());
    for _ in 0..typed {
        update(app, Action::Backspace);
    }
    for c in request.chars() {
        update(app, Action::Input(c));
    }
    update(app, Action::Submit);
}
