//! End-to-end: the built binary in a real terminal (tmux), driven with keys, its screen captured.

#[path = "what_if/mint.rs"]
mod mint;
mod support;

use std::thread::sleep;
use std::time::{Duration, Instant};

use support::tmux::TmuxSession;

#[test]
fn demo_shows_identity_dropped_explanation() {
    let binary = env!("CARGO_BIN_EXE_idflow");
    let session = TmuxSession::start("dropped", &format!("{binary} demo"), 120, 40);

    let (ready, screen) = session.wait_for(&["DROPPED"], Duration::from_secs(10));
    assert!(
        ready,
        "the demo's flow list shows no identity-dropped badge:\n{screen}"
    );

    session.send(&["/", "DROPPED", "Enter", "Enter"]);
    let (shown, screen) = session.wait_for(
        &["identity-dropped", "forwardOriginalToken"],
        Duration::from_secs(10),
    );
    assert!(
        shown,
        "the detail pane does not explain the dropped identity:\n{screen}"
    );
    assert!(
        screen.contains("shop/orders"),
        "the explanation does not name the workload:\n{screen}"
    );

    session.send(&["q"]);
    let start = Instant::now();
    while session.is_running() && start.elapsed() < Duration::from_secs(5) {
        sleep(Duration::from_millis(100));
    }
    assert!(!session.is_running(), "idflow did not quit on q");
}

#[test]
fn demo_survives_a_tiny_terminal() {
    let binary = env!("CARGO_BIN_EXE_idflow");
    let session = TmuxSession::start("tiny", &format!("{binary} demo"), 20, 5);
    sleep(Duration::from_millis(800));
    session.send(&["j", "Enter", "?", "Escape"]);
    sleep(Duration::from_millis(300));
    assert!(
        session.is_running(),
        "idflow exited in a 20x5 terminal:\n{}",
        session.capture()
    );
}

#[test]
fn demo_token_what_if_denies_and_copies() {
    let binary = env!("CARGO_BIN_EXE_idflow");
    let session = TmuxSession::start("what-if", &format!("{binary} demo"), 120, 40);
    let (ready, screen) = session.wait_for(&["flows"], Duration::from_secs(10));
    assert!(ready, "the demo did not start:\n{screen}");

    let now = chrono::Utc::now().timestamp();
    let token = mint::mint(
        mint::key(),
        &mint::claims("https://idp.example.com", "orders-api", now, -600),
    );
    session.send(&["t"]);
    session.paste(&format!("Authorization: Bearer {token}"));
    let (shown, screen) = session.wait_for(
        &["What-if GET /", "shop/orders", "deny 401", "Jwt is expired"],
        Duration::from_secs(10),
    );
    assert!(shown, "no what-if row denies the expired token:\n{screen}");
    let row = screen
        .lines()
        .find(|line| line.contains("istio-system/istio-ingress") && line.contains("deny"))
        .unwrap_or_else(|| panic!("the gateway row is missing:\n{screen}"));
    assert!(
        row.contains("istio-system/ingress-jwt"),
        "deciding policy: {row}"
    );
    let signature = token.rsplit('.').next().expect("three segments");
    assert!(
        !screen.contains(&signature[..16]),
        "the token's signature is on screen:\n{screen}"
    );

    // tmux keeps what a program copies with OSC 52 as a paste buffer once set-clipboard is on.
    let status = session
        .tmux()
        .args(["set-option", "-s", "set-clipboard", "on"])
        .status()
        .expect("tmux set-option failed to start");
    assert!(status.success(), "tmux set-option set-clipboard failed");
    session.send(&["y"]);
    let (flashed, screen) = session.wait_for(&["claims copied"], Duration::from_secs(5));
    assert!(flashed, "y did not report the copy:\n{screen}");
    let start = Instant::now();
    let copied = loop {
        let output = session
            .tmux()
            .arg("show-buffer")
            .output()
            .expect("tmux show-buffer failed to start");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        if text.contains("\"sub\": \"alice\"") || start.elapsed() > Duration::from_secs(5) {
            break text;
        }
        sleep(Duration::from_millis(100));
    };
    assert!(
        copied.contains("\"iss\": \"https://idp.example.com\""),
        "the clipboard does not contain the claims: {copied:?}"
    );
    assert!(!copied.contains(&token), "the token itself was copied");

    session.send(&["q"]);
}
