//! `idflow follow`: live flows from the cluster's proxy logs as NDJSON.
//!
//! Printing rule: a flow is printed once no new record has changed it for `--settle-ms` (default
//! 2000 ms). A flow that changes after it was printed (a late hop) is printed again with the same
//! `id`, so a reader keeps the last line per `id`. Stream health changes and notices go to stderr,
//! one line each, as do flows dropped to stay within `--max-flows` (at most every 10 s, and once
//! more at exit).

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;

use super::OutputFormat;
use crate::accesslog::credentials_notice;
use crate::output;
use crate::source::kube::{
    FollowPrinter, KubeSettings, LiveMessage, LiveSettings, LiveSource, MAX_LOG_LINE_BYTES,
    StreamSettings, connect, resolve,
};

// Cluster selection flags, as kubectl spells them.
#[derive(Debug, Clone, Args)]
pub struct KubeArgs {
    /// Kubeconfig file (default: `KUBECONFIG`, else `~/.kube/config`).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (default: the current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Namespace (default: the context's namespace, else `default`).
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// All namespaces.
    #[arg(short = 'A', long = "all-namespaces", conflicts_with = "namespace")]
    pub all_namespaces: bool,
}

impl KubeArgs {
    /// Returns the settings for these flags and this process's environment.
    pub fn settings(&self) -> KubeSettings {
        KubeSettings::from_env(
            self.kubeconfig.clone(),
            self.context.clone(),
            self.namespace.clone(),
            self.all_namespaces,
        )
    }
}

#[derive(Debug, Args)]
pub struct FollowArgs {
    #[command(flatten)]
    pub kube: KubeArgs,
    /// Print only flows with a denying hop.
    #[arg(long)]
    pub denials: bool,
    /// Output form; only `ndjson` is supported.
    #[arg(short = 'o', long = "output", value_enum, default_value = "ndjson")]
    pub output: OutputFormat,
    /// Milliseconds a flow must stay unchanged before it is printed.
    #[arg(long, default_value_t = 2000, value_name = "MS")]
    pub settle_ms: u64,
    /// Maximum proxy log streams open at once.
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub max_streams: usize,
    /// Maximum flows kept in memory; the oldest are dropped past it and counted on stderr.
    #[arg(long, default_value_t = crate::source::DEFAULT_MAX_FLOWS, value_name = "N", value_parser = super::parse_max_flows)]
    pub max_flows: usize,
    /// Seconds of log history each stream reads when it starts.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub since: u64,
    /// Trust domain of the SPIFFE principals.
    #[arg(long, default_value = "cluster.local", value_name = "DOMAIN")]
    pub trust_domain: String,
    /// Istio's root namespace, whose policies apply mesh-wide.
    #[arg(long, default_value = "istio-system", value_name = "NAMESPACE")]
    pub root_namespace: String,
}

/// Runs `idflow follow` until Ctrl-C (exit 0) or until the source stops.
pub fn run(args: &FollowArgs) -> anyhow::Result<ExitCode> {
    if args.output != OutputFormat::Ndjson {
        anyhow::bail!("`idflow follow` prints NDJSON only; pass `-o ndjson`");
    }
    let resolved = resolve(&args.kube.settings())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let client = connect(&resolved).await?;
        stderr_line!(
            "idflow: following context \"{}\", {}",
            resolved.context,
            resolved.scope
        );
        let mut settings = LiveSettings::new(resolved.scope.clone());
        settings.trust_domain.clone_from(&args.trust_domain);
        settings.root_namespace.clone_from(&args.root_namespace);
        settings.max_flows = args.max_flows;
        settings.streams = StreamSettings {
            max_streams: args.max_streams,
            since: Duration::from_secs(args.since),
            ..StreamSettings::default()
        };
        let source = LiveSource::start(client, settings);
        let printer = FollowPrinter::new(args.settle_ms, args.denials, args.max_flows);
        let dropped = DroppedReport::new(args.max_flows);
        follow(source, printer, dropped, &mut io::stdout().lock()).await
    })
}

/// Prints settled flows from `source` to `out` until Ctrl-C.
async fn follow(
    mut source: LiveSource,
    mut printer: FollowPrinter,
    mut dropped: DroppedReport,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let now_ms = || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut too_long = 0;
    // The count of lines with a whole token when it was last reported: reported again at ten times
    // as many, because a proxy that logs tokens does so on every request.
    let mut credentials_reported = 0u64;
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    loop {
        tokio::select! {
            _ = &mut interrupt => {
                print(out, &printer.drain())?;
                report_last(&mut dropped);
                return Ok(ExitCode::SUCCESS);
            }
            message = source.recv() => {
                let Some(message) = message else {
                    print(out, &printer.drain())?;
                    report_last(&mut dropped);
                    anyhow::bail!("the live source stopped: every watch and stream task ended");
                };
                match message {
                    LiveMessage::Flow(flow) => printer.update(*flow, now_ms()),
                    LiveMessage::Stream(status) => {
                        stderr_line!("idflow: stream {}: {}", status.stream, status.health);
                    }
                    LiveMessage::Notice(text) => stderr_line!("idflow: {text}"),
                    LiveMessage::Counts(counts) => {
                        if let Some(text) = dropped.update(counts.flows_evicted, Instant::now()) {
                            stderr_line!("idflow: {text}");
                        }
                        if counts.too_long > too_long {
                            too_long = counts.too_long;
                            stderr_line!(
                                "idflow: {too_long} log line(s) longer than {} MiB skipped so far",
                                MAX_LOG_LINE_BYTES / 1024 / 1024
                            );
                        }
                        if counts.credentials_logged >= credentials_reported.saturating_mul(10).max(1) {
                            credentials_reported = counts.credentials_logged;
                            if let Some(notice) = credentials_notice(credentials_reported) {
                                stderr_line!("idflow: {notice}");
                            }
                        }
                    }
                    LiveMessage::Workloads(_) | LiveMessage::Policies(_) => {}
                }
            }
            _ = tick.tick() => {
                let due = printer.due(now_ms());
                if !print(out, &due)? {
                    return Ok(ExitCode::SUCCESS);
                }
            }
        }
    }
}

/// Shortest time between two reports of dropped flows.
const DROPPED_REPORT_EVERY: Duration = Duration::from_secs(10);

/// Reports on stderr how many flows were dropped to stay within `--max-flows`: when the first
/// is dropped, then at most every [`DROPPED_REPORT_EVERY`], and at exit when the count changed.
#[derive(Debug)]
struct DroppedReport {
    max_flows: usize,
    /// The count the source reported last.
    dropped: u64,
    /// The count last printed, and when.
    reported: u64,
    reported_at: Option<Instant>,
}

impl DroppedReport {
    fn new(max_flows: usize) -> Self {
        Self {
            max_flows,
            dropped: 0,
            reported: 0,
            reported_at: None,
        }
    }

    /// Takes the source's count at `now` and returns the line to print when a report is due.
    fn update(&mut self, dropped: u64, now: Instant) -> Option<String> {
        self.dropped = dropped;
        let due = self
            .reported_at
            .is_none_or(|at| now.duration_since(at) >= DROPPED_REPORT_EVERY);
        if dropped <= self.reported || !due {
            return None;
        }
        self.reported = dropped;
        self.reported_at = Some(now);
        Some(self.message())
    }

    /// Returns the line to print at exit when the last count was not printed yet.
    fn finish(&mut self) -> Option<String> {
        if self.dropped <= self.reported {
            return None;
        }
        self.reported = self.dropped;
        Some(self.message())
    }

    fn message(&self) -> String {
        format!(
            "dropped {} older flows so far to keep at most {} (--max-flows); raise --max-flows to keep more",
            self.dropped, self.max_flows
        )
    }
}

/// Prints the dropped flows not reported yet, before exit.
fn report_last(dropped: &mut DroppedReport) {
    if let Some(text) = dropped.finish() {
        stderr_line!("idflow: {text}");
    }
}

/// Writes flows as NDJSON. Returns false when stdout is closed (`| head`), which ends the command
/// normally.
fn print(out: &mut impl Write, flows: &[crate::model::Flow]) -> anyhow::Result<bool> {
    if flows.is_empty() {
        return Ok(true);
    }
    match output::write_ndjson(out, flows) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(error) => Err(error).context("cannot write to standard output"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_silent_without_drops() {
        let mut report = DroppedReport::new(10);
        assert_eq!(report.update(0, Instant::now()), None);
    }

    #[test]
    fn dropped_reports_first_drop() {
        let mut report = DroppedReport::new(10);
        let text = report.update(3, Instant::now()).unwrap_or_default();
        assert!(
            text.starts_with("dropped 3 older flows so far to keep at most 10"),
            "{text}"
        );
    }

    #[test]
    fn dropped_waits_between_reports() {
        let mut report = DroppedReport::new(10);
        let start = Instant::now();
        report.update(3, start);
        assert_eq!(report.update(5, start + Duration::from_secs(9)), None);
    }

    #[test]
    fn dropped_reports_after_interval() {
        let mut report = DroppedReport::new(10);
        let start = Instant::now();
        report.update(3, start);
        let text = report.update(5, start + DROPPED_REPORT_EVERY);
        assert!(text.is_some_and(|text| text.starts_with("dropped 5 ")));
    }

    #[test]
    fn dropped_finish_reports_unprinted_count() {
        let mut report = DroppedReport::new(10);
        let start = Instant::now();
        report.update(3, start);
        report.update(5, start + Duration::from_secs(1));
        assert!(
            report
                .finish()
                .is_some_and(|text| text.starts_with("dropped 5 "))
        );
    }

    #[test]
    fn dropped_finish_silent_when_reported() {
        let mut report = DroppedReport::new(10);
        report.update(3, Instant::now());
        assert_eq!(report.finish(), None);
    }
}
