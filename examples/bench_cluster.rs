//! A FAKE cluster for `scripts/bench-follow.sh`. It starts the test suite's fake Kubernetes API
//! server (HTTPS and a bearer token on 127.0.0.1) with N sidecar pods whose `istio-proxy` logs
//! contain M generated Envoy lines each. Then it writes a kubeconfig for it, prints one `ready`
//! line, and serves until it is stopped.
//!
//! ```text
//! cargo run --release --example bench_cluster -- --kubeconfig FILE [--pods N] [--lines M]
//! ```
//!
//! Every line is a request with its own ids, so each line is one flow for `idflow follow`. Pods are
//! `shop/orders-v1-7c9d8b6f5d-NNNNN` with the label `app=orders`. The lines are stamped when the
//! server starts, so followers that read 60 s or more of history receive all of them at once.

idflow::use_pipeline_allocator!();

#[path = "../benches/support/envoy_lines.rs"]
mod envoy_lines;
#[path = "../tests/fake_apiserver/mod.rs"]
mod fake_apiserver;

use std::path::PathBuf;
use std::process::ExitCode;

use envoy_lines::Generator;
use fake_apiserver::{ClusterState, FakeApiServer, Sidecar, sidecar_pod};

const NAMESPACE: &str = "shop";
const REPLICA_SET: &str = "orders-v1-7c9d8b6f5d";

struct Options {
    kubeconfig: PathBuf,
    pods: u64,
    lines: u64,
}

/// Reads `--kubeconfig FILE`, `--pods N` and `--lines M`.
fn options() -> Result<Options, String> {
    let mut kubeconfig = None;
    let mut pods = 50;
    let mut lines = 1000;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("\"{flag}\" needs a value after it"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("\"{value}\" after {flag} is not a whole number"))
        };
        match flag.as_str() {
            "--kubeconfig" => kubeconfig = Some(PathBuf::from(&value)),
            "--pods" => pods = number()?,
            "--lines" => lines = number()?,
            _ => {
                return Err(format!(
                    "unknown flag \"{flag}\"; use --kubeconfig FILE, --pods N or --lines M"
                ));
            }
        }
    }
    let kubeconfig = kubeconfig.ok_or("--kubeconfig FILE is required")?;
    Ok(Options {
        kubeconfig,
        pods,
        lines,
    })
}

fn main() -> ExitCode {
    let options = match options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("bench_cluster: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("bench_cluster: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(serve(options))
}

async fn serve(options: Options) -> ExitCode {
    let generator = Generator::from_demo();
    let state = ClusterState::new();
    for pod in 0..options.pods {
        let name = format!("{REPLICA_SET}-{pod:05}");
        state.apply(sidecar_pod(
            NAMESPACE,
            &name,
            "orders",
            "v1",
            Sidecar::Classic,
        ));
        // Only the first line of each request, so that no two lines share an id and every line
        // is a flow of its own.
        let first = pod * options.lines;
        let lines = (first..first + options.lines)
            .filter_map(|request| generator.request(request).into_iter().next())
            .map(|line| line.text);
        state.append_log(NAMESPACE, &name, "istio-proxy", lines);
    }
    let server = FakeApiServer::start(state).await;
    if let Err(error) = std::fs::write(&options.kubeconfig, server.kubeconfig("bench", NAMESPACE)) {
        eprintln!(
            "bench_cluster: cannot write the kubeconfig {:?}: {error}",
            options.kubeconfig.display().to_string()
        );
        return ExitCode::from(1);
    }
    println!(
        "ready {} pods x {} lines in namespace {NAMESPACE}, label app=orders, at {}",
        options.pods,
        options.lines,
        server.url()
    );
    // Stopped by the script; Ctrl-C stops it by hand.
    let _ = tokio::signal::ctrl_c().await;
    ExitCode::SUCCESS
}
