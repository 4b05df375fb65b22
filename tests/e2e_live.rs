//! End-to-end: `idflow --kubeconfig K --context C -n shop` in a real terminal (tmux), fed by two
//! fake API servers on loopback, one per kubeconfig context.

mod fake_apiserver;

use std::process::Command;
use std::sync::mpsc;
use std::thread::sleep;
use std::time::{Duration, Instant};

use fake_apiserver::{
    ClusterState, FakeApiServer, Sidecar, demo_log_lines, kubeconfig, sidecar_pod,
};

const ORDERS_POD: &str = "orders-v1-7c9d8b6f5d-x2k4p";
const WAIT: Duration = Duration::from_secs(20);

/// A tmux session running one command, killed when dropped.
struct Tmux {
    name: String,
}

impl Tmux {
    fn start(command: &str) -> Self {
        let name = format!("idflow-e2e-live-{}", std::process::id());
        let status = Command::new("tmux")
            .args(["new-session", "-d", "-s", &name, "-x", "120", "-y", "40"])
            .arg(command)
            .status()
            .expect("tmux could not be started: install tmux");
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

    /// Types `:text` and enter.
    fn command(&self, text: &str) {
        self.send(&[":"]);
        self.send(&["-l", text]);
        self.send(&["Enter"]);
    }

    fn capture(&self) -> String {
        let output = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .expect("tmux capture-pane failed to start");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Captures the screen until it contains every needle; fails with the last capture.
    fn expect(&self, step: &str, needles: &[&str]) -> String {
        let start = Instant::now();
        loop {
            let screen = self.capture();
            if needles.iter().all(|needle| screen.contains(needle)) {
                return screen;
            }
            assert!(
                start.elapsed() < WAIT,
                "{step}: {needles:?} not on screen:\n{screen}"
            );
            sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .status();
    }
}

/// Starts two fake API servers (contexts `prod` and `staging`) on a thread of their own, writes a
/// kubeconfig with both to `path`, and returns the two cluster states.
fn start_clusters(path: std::path::PathBuf) -> (ClusterState, ClusterState) {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime for the fake API servers");
        runtime.block_on(async move {
            let prod = ClusterState::new();
            prod.apply(sidecar_pod(
                "shop",
                ORDERS_POD,
                "orders",
                "v1",
                Sidecar::Classic,
            ));
            let staging = ClusterState::new();
            staging.apply(sidecar_pod(
                "shop",
                "payments-v2-5b6c7d8e9f-q1w2e",
                "payments",
                "v2",
                Sidecar::Classic,
            ));
            staging.apply(sidecar_pod(
                "billing",
                "ledger-v1-6d7e8f9a0b-z9x8c",
                "ledger",
                "v1",
                Sidecar::Classic,
            ));
            let first = FakeApiServer::start(prod.clone()).await;
            let second = FakeApiServer::start(staging.clone()).await;
            let text = kubeconfig(&[(&first, "prod", "shop"), (&second, "staging", "shop")]);
            std::fs::write(&path, text).expect("write the kubeconfig");
            sender.send((prod, staging)).expect("hand the states over");
            std::future::pending::<()>().await;
        });
    });
    receiver.recv().expect("fake API servers started")
}

#[test]
fn live_context_namespace_switching() {
    let dir = std::env::temp_dir().join(format!("idflow-e2e-live-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary folder");
    let path = dir.join("kubeconfig");
    let (prod, _staging) = start_clusters(path.clone());

    let binary = env!("CARGO_BIN_EXE_idflow");
    let tmux = Tmux::start(&format!(
        "{binary} --kubeconfig {} --context prod -n shop",
        path.display()
    ));
    let screen = tmux.expect("workloads", &["Workloads(shop)", "orders", "sidecar"]);
    println!("workloads on prod:\n{screen}");

    prod.append_log(
        "shop",
        ORDERS_POD,
        "istio-proxy",
        demo_log_lines("shop", "orders"),
    );
    tmux.send(&["Escape"]);
    let screen = tmux.expect("flows", &["/api/orders", "denial"]);
    println!("flows on prod:\n{screen}");

    tmux.command("ctx staging");
    let screen = tmux.expect("context switch", &["staging", "payments"]);
    assert!(
        !screen.contains(" orders "),
        "prod's workload is still shown:\n{screen}"
    );
    println!("workloads on staging:\n{screen}");

    tmux.command("ns billing");
    let screen = tmux.expect("namespace switch", &["Workloads(billing)", "ledger"]);
    println!("workloads in billing:\n{screen}");

    tmux.command("ns");
    let screen = tmux.expect("namespace list", &["Namespaces[", "billing"]);
    println!("namespaces seen:\n{screen}");

    tmux.send(&["q"]);
    let _ = std::fs::remove_dir_all(&dir);
}
