//! A real terminal for end-to-end tests: tmux runs the binary, takes keys and pastes, and shows
//! its screen.

use std::path::Path;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// A tmux session running one command, killed when dropped. Each session has its own tmux
/// server (`-L`): on a shared server, a session started while the last one closes can reach the
/// server as it exits, and `new-session` then fails.
pub struct TmuxSession {
    name: String,
}

impl TmuxSession {
    pub fn start(label: &str, command: &str, columns: u16, rows: u16) -> Self {
        let name = format!("idflow-e2e-{label}-{}", std::process::id());
        let status = tmux(&name)
            .args(["new-session", "-d", "-s", &name, "-x", &columns.to_string(), "-y", &rows.to_string()])
            .arg(command)
            .env_remove("NO_COLOR")
            .status()
            .expect("tmux could not be started: install tmux (scripts/test.sh does it on Debian as root)");
        assert!(status.success(), "tmux new-session failed for {command:?}");
        Self { name }
    }

    pub fn send(&self, keys: &[&str]) {
        for key in keys {
            let status = tmux(&self.name)
                .args(["send-keys", "-t", &self.name, key])
                .status()
                .expect("tmux send-keys failed to start");
            assert!(status.success(), "tmux send-keys {key:?} failed");
            sleep(Duration::from_millis(150));
        }
    }

    /// Pastes `text` as the terminal does: in bracketed-paste markers when the program requested
    /// them.
    pub fn paste(&self, text: &str) {
        let buffer = format!("{}-paste", self.name);
        let status = tmux(&self.name)
            .args(["set-buffer", "-b", &buffer, text])
            .status()
            .expect("tmux set-buffer failed to start");
        assert!(status.success(), "tmux set-buffer failed");
        let status = tmux(&self.name)
            .args(["paste-buffer", "-p", "-d", "-b", &buffer, "-t", &self.name])
            .status()
            .expect("tmux paste-buffer failed to start");
        assert!(status.success(), "tmux paste-buffer failed");
        sleep(Duration::from_millis(150));
    }

    pub fn capture(&self) -> String {
        let output = tmux(&self.name)
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .expect("tmux capture-pane failed to start");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Captures the screen until it contains every needle, or returns the last capture after `timeout`.
    pub fn wait_for(&self, needles: &[&str], timeout: Duration) -> (bool, String) {
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

    /// Returns a tmux command on this session's server, for options and buffers.
    pub fn tmux(&self) -> Command {
        tmux(&self.name)
    }

    pub fn is_running(&self) -> bool {
        tmux(&self.name)
            .args(["has-session", "-t", &self.name])
            .status()
            .is_ok_and(|status| status.success())
    }
}

impl Drop for TmuxSession {
    fn drop(&mut self) {
        let _ = tmux(&self.name).arg("kill-server").status();
    }
}

/// Returns a tmux command on the server of session `name`.
fn tmux(name: &str) -> Command {
    let mut command = Command::new("tmux");
    command.args(["-L", name]);
    command
}

/// Starts `idflow replay` on the demo's access logs with `policies` in tmux, opens the Token view
/// and pastes `input`.
pub fn replay_token_view(label: &str, policies: &Path, input: &str) -> TmuxSession {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo");
    let command = format!(
        "{} replay --policies {} {} {}",
        env!("CARGO_BIN_EXE_idflow"),
        policies.display(),
        demo.join("istio-system.istio-ingressgateway.log").display(),
        demo.join("shop.orders.log").display(),
    );
    let session = TmuxSession::start(label, &command, 200, 50);
    let (ready, screen) = session.wait_for(&["flows"], Duration::from_secs(10));
    assert!(ready, "replay did not start:\n{screen}");

    session.send(&["t"]);
    session.paste(input);
    let (shown, screen) = session.wait_for(&["found as", "WORKLOAD"], Duration::from_secs(10));
    assert!(shown, "the Token view shows no what-if rows:\n{screen}");
    session
}

/// Returns the what-if row of `workload` on a Token view screen.
pub fn what_if_row(screen: &str, workload: &str) -> String {
    screen
        .lines()
        .find(|line| line.trim_start_matches('│').starts_with(workload))
        .unwrap_or_else(|| panic!("no what-if row for {workload}:\n{screen}"))
        .to_owned()
}
