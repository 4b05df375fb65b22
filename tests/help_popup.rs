//! The `?` help overlay on screens shorter than its entries: it scrolls with the movement keys and
//! marks in its bottom border which way more entries are. Checked on a test backend and, with
//! tmux, on the real binary.

mod support;

use std::thread::sleep;
use std::time::{Duration, Instant};

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use idflow::tui::{Action, App, Session, Theme, action_for, render, update};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use support::tmux::TmuxSession;

/// The last help entry of every view.
const LAST_ENTRY: &str = "in a prompt: clear it / delete a word";

fn help_at(width: u16, height: u16) -> App {
    let session = Session {
        title: "demo".into(),
        ..Session::default()
    };
    let mut app = App::new(
        session,
        Theme::load_colored("default").expect("default theme"),
    );
    update(&mut app, Action::Resize { width, height });
    update(&mut app, Action::ToggleHelp);
    app
}

fn draw(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    terminal
        .draw(|frame| render(frame, app))
        .expect("draw into the test backend");
    terminal
}

fn screen(app: &App) -> String {
    let (width, height) = app.size;
    draw(app, width, height).backend().to_string()
}

fn press(app: &mut App, code: KeyCode) {
    let event = Event::Key(KeyEvent::new(code, KeyModifiers::NONE));
    if let Some(action) = action_for(app, &event) {
        update(app, action);
    }
}

#[test]
fn help_80x16() {
    let app = help_at(80, 16);
    insta::assert_snapshot!(draw(&app, 80, 16).backend());
}

#[test]
fn help_80x16_bottom() {
    let mut app = help_at(80, 16);
    press(&mut app, KeyCode::End);
    insta::assert_snapshot!(draw(&app, 80, 16).backend());
}

#[test]
fn short_help_marks_more_below() {
    let app = help_at(80, 16);

    let text = screen(&app);

    assert!(text.contains(" ↓ more "), "{text}");
    assert!(!text.contains("↑ more"), "{text}");
    assert!(!text.contains("↑↓ more"), "{text}");
    assert!(!text.contains(LAST_ENTRY), "{text}");
}

#[test]
fn scroll_keys_reach_last_entry() {
    let mut app = help_at(80, 16);

    for _ in 0..30 {
        press(&mut app, KeyCode::Char('j'));
    }
    let bottom = screen(&app);
    press(&mut app, KeyCode::Char('k'));
    let one_up = screen(&app);

    assert!(app.show_help, "j and k keep help open");
    assert!(bottom.contains(LAST_ENTRY), "{bottom}");
    assert!(bottom.contains(" ↑ more "), "{bottom}");
    assert!(!bottom.contains("↓ more"), "{bottom}");
    assert!(!one_up.contains(LAST_ENTRY), "{one_up}");
    assert!(one_up.contains("↑↓ more"), "{one_up}");
}

#[test]
fn page_keys_scroll_by_page() {
    let mut app = help_at(80, 16);

    press(&mut app, KeyCode::PageDown);
    let after_page_down = app.help_scroll;
    press(&mut app, KeyCode::PageUp);

    assert!(after_page_down > 1, "moved {after_page_down} rows");
    assert_eq!(app.help_scroll, 0);
    assert!(screen(&app).contains("Global"));
}

#[test]
fn arrows_and_home_scroll() {
    let mut app = help_at(80, 16);

    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    let after_down = app.help_scroll;
    press(&mut app, KeyCode::Up);
    let after_up = app.help_scroll;
    press(&mut app, KeyCode::Char('G'));
    let at_end = screen(&app);
    press(&mut app, KeyCode::Home);

    assert_eq!(after_down, 2);
    assert_eq!(after_up, 1);
    assert!(at_end.contains(LAST_ENTRY), "{at_end}");
    assert_eq!(app.help_scroll, 0);
}

#[test]
fn other_key_closes_scrolling_help() {
    let mut app = help_at(80, 16);

    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Char('x'));

    assert!(!app.show_help);
}

#[test]
fn reopened_help_starts_at_top() {
    let mut app = help_at(80, 16);

    press(&mut app, KeyCode::End);
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('?'));

    assert!(app.show_help);
    assert_eq!(app.help_scroll, 0);
}

#[test]
fn tall_help_any_key_closes() {
    let mut app = help_at(80, 40);

    let text = screen(&app);
    press(&mut app, KeyCode::Char('j'));

    assert!(text.contains("Help (any key closes)"), "{text}");
    assert!(text.contains(LAST_ENTRY), "{text}");
    assert!(!text.contains("more"), "{text}");
    assert!(!app.show_help, "j closes help that fits");
}

#[test]
fn taller_screen_shows_all() {
    let mut app = help_at(80, 16);

    press(&mut app, KeyCode::End);
    update(
        &mut app,
        Action::Resize {
            width: 80,
            height: 40,
        },
    );
    let text = screen(&app);

    assert!(text.contains("Global"), "{text}");
    assert!(text.contains(LAST_ENTRY), "{text}");
    assert!(!text.contains("more"), "{text}");
}

#[test]
fn demo_help_scrolls_in_tmux() {
    let binary = env!("CARGO_BIN_EXE_idflow");
    let session = TmuxSession::start("help-scroll", &format!("{binary} demo"), 80, 16);
    let (ready, screen) = session.wait_for(&["flows"], Duration::from_secs(10));
    assert!(ready, "the demo did not start:\n{screen}");

    session.send(&["?"]);
    let (marked, screen) = session.wait_for(&["Help (", "↓ more"], Duration::from_secs(5));
    assert!(marked, "short help shows no marker:\n{screen}");
    assert!(!screen.contains(LAST_ENTRY), "{screen}");

    session.send(&["G"]);
    let (scrolled, screen) = session.wait_for(&[LAST_ENTRY, "↑ more"], Duration::from_secs(5));
    assert!(scrolled, "G did not scroll to the last entry:\n{screen}");

    session.send(&["k", "PageUp"]);
    let (top, screen) = session.wait_for(&["Global", "↓ more"], Duration::from_secs(5));
    assert!(top, "PageUp did not scroll back to the top:\n{screen}");

    session.send(&["x"]);
    let start = Instant::now();
    let mut screen = session.capture();
    while screen.contains("Help (") && start.elapsed() < Duration::from_secs(5) {
        sleep(Duration::from_millis(100));
        screen = session.capture();
    }
    assert!(
        !screen.contains("Help ("),
        "x did not close help:\n{screen}"
    );
}
