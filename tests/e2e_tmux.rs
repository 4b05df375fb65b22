//! End-to-end: the built binary in a real terminal (tmux), driven with keys, its screen captured.

#[path = "what_if/mint.rs"]
mod mint;

use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// A tmux session running one command, killed when dropped.
struct TmuxSession {
    name: String,
}

impl TmuxSession {
    fn start(label: &str, command: &str, columns: u16, rows: u16) -> Self {
        let name = format!("idflow-e2e-{label}-{}", std::process::id());
        let status = Command::new("tmux")
            .args(["new-session", "-d", "-s", &name, "-x", &columns.to_string(), "-y", &rows.to_string()])
            .arg(command)
            .env_remove("NO_COLOR")
            .status()
            .expect("tmux could not be started: install tmux (scripts/test.sh does it on Debian as root)");
        assert!(status.success(), "tmux new-session failed for {command:?}");
        Self { name }
    }

    fn send(&self, keys: &[&str]) {
        for key in keys {
            let status = Command::new("tmux")
                .args(["send-keys", "-t", &self.name, key])
                .status()
                .expect("tmux send-keys failed to start");
            assert!(status.success(), "tmux send-keys {key:?} failed");
            sleep(Duration::from_millis(150));
        }
    }

    /// Pastes `text` as the terminal does: in bracketed-paste markers when the program requested
    /// them.
    fn paste(&self, text: &str) {
        let buffer = format!("{}-paste", self.name);
        let status = Command::new("tmux")
            .args(["set-buffer", "-b", &buffer, text])
            .status()
            .expect("tmux set-buffer failed to start");
        assert!(status.success(), "tmux set-buffer failed");
        let status = Command::new("tmux")
            .args(["paste-buffer", "-p", "-d", "-b", &buffer, "-t", &self.name])
            .status()
            .expect("tmux paste-buffer failed to start");
        assert!(status.success(), "tmux paste-buffer failed");
        sleep(Duration::from_millis(150));
    }

    fn capture(&self) -> String {
        let output = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .expect("tmux capture-pane failed to start");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Captures the screen until it contains every needle, or returns the last capture after `timeout`.
    fn wait_for(&self, needles: &[&str], timeout: Duration) -> (bool, String) {
        let start = Instant::now();
        loop {
            let screen = self.capture();
            if needles.iter().all(|needle| screen.contains(needle)) {
                return (true, screen);
            }
            if start.elapsed() > timeout {
                return (false, screen);
            }
            sleep(Duration::from_millis(100));
        }
    }

    fn is_running(&self) -> bool {
        Command::new("tmux")
            .args(["has-session", "-t", &self.name])
            .status()
            .is_ok_and(|status| status.success())
    }
}

impl Drop for TmuxSession {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .status();
    }
}

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
    let status = Command::new("tmux")
        .args(["set-option", "-s", "set-clipboard", "on"])
        .status()
        .expect("tmux set-option failed to start");
    assert!(status.success(), "tmux set-option set-clipboard failed");
    session.send(&["y"]);
    let (flashed, screen) = session.wait_for(&["claims copied"], Duration::from_secs(5));
    assert!(flashed, "y did not report the copy:\n{screen}");
    let start = Instant::now();
    let copied = loop {
        let output = Command::new("tmux")
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
