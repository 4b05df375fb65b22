//! A real terminal for end-to-end tests: tmux runs the binary, takes keys and pastes, and shows
//! its screen.

use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// A tmux session running one command, killed when dropped.
pub struct TmuxSession {
    name: String,
}

impl TmuxSession {
    pub fn start(label: &str, command: &str, columns: u16, rows: u16) -> Self {
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

    pub fn send(&self, keys: &[&str]) {
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
    pub fn paste(&self, text: &str) {
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

    pub fn capture(&self) -> String {
        let output = Command::new("tmux")
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

    pub fn is_running(&self) -> bool {
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
