//! The live log reader against hostile proxy logs served by the fake Kubernetes API server. Cases:
//! lines at and past the 1 MiB limit, lines cut by a dropped or ended connection, bytes that are
//! not UTF-8, CRLF endings, floods of short lines, and the memory of `idflow follow` under long
//! lines.

mod fake_apiserver;
mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Duration;

use chrono::{DateTime, Utc};
use fake_apiserver::{ClusterState, FakeApiServer, LogCut, Sidecar, demo_access_line, sidecar_pod};
use idflow::source::kube::{
    LineCounts, LiveMessage, LiveSettings, LiveSource, MAX_IN_FLIGHT_BYTES, MAX_LOG_LINE_BYTES,
    Scope, StreamHealth,
};
use tokio::sync::mpsc;

/// Maximum time one wait may take before the test fails. It guards against a hang: a flood of
/// 100,000 lines took about 25 s on 2 vCPUs with another build running, so the margin is wide.
const WAIT: Duration = Duration::from_secs(90);
/// The pod whose `istio-proxy` log each test writes.
const POD: &str = "orders-v1-7c9d8b6f5d-h0st1";
const CONTAINER: &str = "istio-proxy";
/// Length of the kubelet's timestamp prefix: RFC 3339 with nine fraction digits, and a space.
const STAMP_BYTES: usize = "2026-12-05T10:00:00.000000000Z ".len();

/// What a live source reported: hops per flow id, the last counts, and reconnects.
#[derive(Default)]
struct Report {
    hops: HashMap<String, usize>,
    counts: LineCounts,
    reconnects: usize,
}

impl Report {
    fn record(&mut self, message: LiveMessage) {
        match message {
            LiveMessage::Flow(flow) => {
                self.hops.insert(flow.id.clone(), flow.hops.len());
            }
            LiveMessage::Counts(counts) => self.counts = counts,
            LiveMessage::Stream(status) => {
                if matches!(status.health, StreamHealth::Reconnecting { .. }) {
                    self.reconnects += 1;
                }
            }
            LiveMessage::Workloads(_) | LiveMessage::Policies(_) | LiveMessage::Notice(_) => {}
        }
    }

    fn has_flows(&self, ids: &[String]) -> bool {
        ids.iter().all(|id| self.hops.contains_key(id))
    }

    /// Returns the ids of flows with more than one hop. A line delivered twice is merged into the
    /// hop it repeats and counted in `duplicates_merged`, so tests check that count as well.
    fn repeated(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self
            .hops
            .iter()
            .filter(|(_, hops)| **hops != 1)
            .map(|(id, _)| id.as_str())
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Lines that were read but became neither an observation nor a too-long count.
    fn unparsed(&self) -> u64 {
        self.counts.malformed + self.counts.not_access_log
    }
}

/// A fake cluster with one sidecar pod, its server, and a live source reading it.
struct Cluster {
    state: ClusterState,
    server: Option<FakeApiServer>,
    source: Option<LiveSource>,
    report: Report,
}

impl Cluster {
    /// Creates the cluster. The caller writes the log before [`Cluster::start`].
    fn new() -> Self {
        let state = ClusterState::new();
        state.apply(sidecar_pod("shop", POD, "orders", "v1", Sidecar::Classic));
        Self {
            state,
            server: None,
            source: None,
            report: Report::default(),
        }
    }

    async fn start(&mut self) {
        let server = FakeApiServer::start(self.state.clone()).await;
        let mut settings = LiveSettings::new(Scope::Namespace("shop".into()));
        settings.flow_interval = Duration::from_millis(50);
        self.source = Some(LiveSource::start(server.client("shop").await, settings));
        self.server = Some(server);
    }

    fn server(&self) -> &FakeApiServer {
        self.server.as_ref().expect("the server is started")
    }

    fn append(&self, lines: impl IntoIterator<Item = Vec<u8>>) {
        self.state.append_log("shop", POD, CONTAINER, lines);
    }

    fn append_at(&self, at: DateTime<Utc>, line: Vec<u8>) {
        self.state.append_log_at("shop", POD, CONTAINER, at, line);
    }

    /// Appends one access line per tag and returns their flow ids.
    fn append_access(&self, tags: &[&str]) -> Vec<String> {
        tags.iter()
            .map(|tag| {
                self.append([demo_access_line(tag).into_bytes()]);
                (*tag).to_owned()
            })
            .collect()
    }

    fn cut(&self, cut: LogCut) {
        self.state.cut_log_streams("shop", POD, CONTAINER, cut);
    }

    /// Reads messages until `done` returns true, failing the test after [`WAIT`] with `awaited`.
    async fn until(&mut self, awaited: &str, done: impl Fn(&Report) -> bool) {
        let source = self.source.as_mut().expect("the source is started");
        let deadline = tokio::time::Instant::now() + WAIT;
        while !done(&self.report) {
            match tokio::time::timeout_at(deadline, source.recv()).await {
                Ok(Some(message)) => self.report.record(message),
                Ok(None) => panic!("the source stopped while waiting for {awaited}"),
                Err(tokio::time::error::Elapsed { .. }) => panic!(
                    "timed out waiting for {awaited}; flows {}, counts {:?}",
                    self.report.hops.len(),
                    self.report.counts
                ),
            }
        }
    }

    /// Waits for a flow of every id in `ids`, then reads what arrives within 300 ms, so that late
    /// repeats would be seen.
    async fn flows_then_settle(&mut self, awaited: &str, ids: &[String]) {
        self.until(awaited, |report| report.has_flows(ids)).await;
        self.settle(Duration::from_millis(300)).await;
    }

    /// Reads what arrives within `quiet`, so that late repeats would be seen.
    async fn settle(&mut self, quiet: Duration) {
        let source = self.source.as_mut().expect("the source is started");
        let deadline = tokio::time::Instant::now() + quiet;
        while let Ok(Some(message)) = tokio::time::timeout_at(deadline, source.recv()).await {
            self.report.record(message);
        }
    }
}

/// Returns `line` with its kubelet timestamp prefix, as the API server sends it.
fn stamped(at: DateTime<Utc>, line: &[u8]) -> Vec<u8> {
    let mut bytes = at
        .format("%Y-%m-%dT%H:%M:%S%.9fZ ")
        .to_string()
        .into_bytes();
    bytes.extend_from_slice(line);
    bytes
}

/// Writes an access line, a filler line of `filler_bytes`, and another access line, then returns
/// what the source reported once both access lines arrived.
async fn filler_between(filler_bytes: usize) -> Report {
    let mut cluster = Cluster::new();
    let mut ids = cluster.append_access(&["before"]);
    cluster.append([vec![b'x'; filler_bytes]]);
    ids.extend(cluster.append_access(&["after"]));
    cluster.start().await;

    cluster
        .flows_then_settle("the lines around the filler", &ids)
        .await;
    cluster.report
}

#[tokio::test]
async fn line_at_limit_whole() {
    let report = filler_between(MAX_LOG_LINE_BYTES).await;

    assert_eq!(
        report.counts.too_long, 0,
        "a 1 MiB line is within the limit"
    );
    assert_eq!(report.counts.not_access_log, 1);
    assert_eq!(report.repeated(), Vec::<&str>::new());
    assert_eq!(report.counts.duplicates_merged, 0);
}

#[tokio::test]
async fn line_below_stamp_margin_whole() {
    let report = filler_between(MAX_LOG_LINE_BYTES - STAMP_BYTES).await;

    assert_eq!(report.counts.too_long, 0);
    assert_eq!(report.counts.not_access_log, 1);
}

#[tokio::test]
async fn line_over_limit_counted() {
    let report = filler_between(MAX_LOG_LINE_BYTES + 1).await;

    assert_eq!(report.counts.access, 2);
    assert_eq!(report.counts.too_long, 1);
    assert_eq!(report.unparsed(), 0);
    assert_eq!(report.repeated(), Vec::<&str>::new());
    assert_eq!(report.counts.duplicates_merged, 0);
}

#[tokio::test]
async fn ten_mib_line_counted() {
    let report = filler_between(10 * 1024 * 1024).await;

    assert_eq!(report.counts.access, 2);
    assert_eq!(report.counts.too_long, 1);
    assert_eq!(report.unparsed(), 0);
    assert_eq!(report.repeated(), Vec::<&str>::new());
    assert_eq!(report.counts.duplicates_merged, 0);
    assert_eq!(report.reconnects, 0);
}

/// Writes `line` and cuts the connection after its first `cut_at` bytes: dropped, or `ended`
/// cleanly. Returns what the source reported once the access line after it, and the flow `line`
/// carries (`line_flow`, if any), arrived.
async fn cut_inside(line: Vec<u8>, cut_at: usize, ended: bool, line_flow: Option<&str>) -> Report {
    let mut cluster = Cluster::new();
    cluster.start().await;
    let mut ids = cluster.append_access(&["first"]);
    cluster
        .until("the first line", |report| report.has_flows(&ids))
        .await;

    let at = Utc::now();
    let partial = String::from_utf8(stamped(at, &line[..cut_at])).expect("a UTF-8 test line");
    cluster.cut(if ended {
        LogCut::MidLineThenEnd(partial)
    } else {
        LogCut::MidLine(partial)
    });
    cluster.append_at(at, line);
    ids.extend(cluster.append_access(&["second"]));
    ids.extend(line_flow.map(str::to_owned));
    cluster
        .flows_then_settle("the cut line and the line after it", &ids)
        .await;
    cluster.report
}

/// A connection dropped or ended inside a long line, after more than the limit was sent, is read
/// again from the same second. The long line is counted once and its neighbours arrive once.
#[tokio::test]
async fn long_line_cut_counted_once() {
    for (name, ended) in [("dropped", false), ("ended", true)] {
        let long = vec![b'y'; 3 * MAX_LOG_LINE_BYTES];
        let report = cut_inside(long, 2 * MAX_LOG_LINE_BYTES, ended, None).await;

        assert_eq!(report.counts.access, 2, "{name}");
        assert_eq!(report.counts.too_long, 1, "{name}");
        assert_eq!(report.repeated(), Vec::<&str>::new(), "{name}");
        assert_eq!(report.counts.duplicates_merged, 0, "{name}");
        assert_eq!(report.unparsed(), 0, "{name}");
        assert!(report.reconnects >= 1, "{name}: the cut forces a reconnect");
    }
}

/// A long line read whole, then a dropped connection: the reconnect reads that second again and
/// must not count the long line a second time.
#[tokio::test]
async fn long_line_not_recounted() {
    let mut cluster = Cluster::new();
    let mut ids = cluster.append_access(&["first"]);
    cluster.append([vec![b'z'; 2 * MAX_LOG_LINE_BYTES]]);
    ids.extend(cluster.append_access(&["second"]));
    cluster.start().await;
    cluster
        .until("the lines and the long one", |report| {
            report.has_flows(&ids) && report.counts.too_long == 1
        })
        .await;

    cluster.server().drop_connections();
    ids.extend(cluster.append_access(&["third"]));
    cluster
        .flows_then_settle("the line after the reconnect", &ids)
        .await;

    assert_eq!(cluster.report.counts.access, 3);
    assert_eq!(cluster.report.counts.too_long, 1);
    assert_eq!(cluster.report.repeated(), Vec::<&str>::new());
    assert_eq!(cluster.report.counts.duplicates_merged, 0);
    assert!(
        cluster.report.reconnects >= 1,
        "the drop forces a reconnect"
    );
}

#[tokio::test]
async fn invalid_utf8_access_line_parsed() {
    let mut cluster = Cluster::new();
    // Bytes 0xFF and 0xFE never occur in UTF-8, and a lone 0xC3 starts a character that never ends.
    let agent = replace_bytes(
        demo_access_line("agent-0").as_bytes(),
        b"python",
        b"py\xff\xfethon",
    );
    let path = replace_bytes(
        demo_access_line("path-0").as_bytes(),
        b"status=open",
        b"status=\xc3open",
    );
    cluster.append([agent, path]);
    let ids = cluster.append_access(&["after"]);
    cluster.start().await;

    let expected = ["agent-0".to_owned(), "path-0".to_owned(), ids[0].clone()];
    cluster
        .flows_then_settle("the lines with invalid bytes", &expected)
        .await;

    assert_eq!(cluster.report.counts.access, 3);
    assert_eq!(cluster.report.unparsed(), 0);
    assert_eq!(cluster.report.reconnects, 0);
    assert_eq!(cluster.report.repeated(), Vec::<&str>::new());
    assert_eq!(cluster.report.counts.duplicates_merged, 0);
}

#[tokio::test]
async fn crlf_access_lines_parsed() {
    let mut cluster = Cluster::new();
    let lines = ["crlf-0", "crlf-1"].map(|id| format!("{}\r", demo_access_line(id)).into_bytes());
    cluster.append(lines);
    cluster.start().await;

    let ids = ["crlf-0".to_owned(), "crlf-1".to_owned()];
    cluster.flows_then_settle("the CRLF lines", &ids).await;

    assert_eq!(cluster.report.counts.access, 2);
    assert_eq!(cluster.report.unparsed(), 0);
}

/// Number of lines in a flood.
const FLOOD_LINES: usize = 100_000;

/// Writes [`FLOOD_LINES`] short access lines and returns their flow ids.
fn append_flood(cluster: &Cluster) -> Vec<String> {
    let ids: Vec<String> = (0..FLOOD_LINES).map(|index| format!("f{index}")).collect();
    cluster.append(ids.iter().map(|id| demo_access_line(id).into_bytes()));
    ids
}

/// Waits until every line of the flood was read, then for late repeats, and checks that each of
/// `ids` has a flow. Checking the ids once at the end keeps the wait linear in the flood's size.
async fn flood_read(cluster: &mut Cluster, ids: &[String]) {
    cluster
        .until("every line of the flood", |report| {
            report.counts.access >= FLOOD_LINES as u64
        })
        .await;
    cluster.settle(Duration::from_millis(300)).await;
    assert!(
        cluster.report.has_flows(ids),
        "every flow of the flood arrives"
    );
}

#[tokio::test]
async fn flood_of_short_lines() {
    let mut cluster = Cluster::new();
    let ids = append_flood(&cluster);
    cluster.start().await;

    flood_read(&mut cluster, &ids).await;

    assert_eq!(cluster.report.counts.access, FLOOD_LINES as u64);
    assert_eq!(
        cluster.report.unparsed() + cluster.report.counts.too_long,
        0
    );
    assert_eq!(cluster.report.repeated(), Vec::<&str>::new());
    assert_eq!(cluster.report.counts.duplicates_merged, 0);
}

/// A connection dropped in the middle of a flood starts again at the second of the last line
/// read, which contains thousands of lines here. None of them may be read twice.
#[tokio::test]
async fn flood_dropped_no_repeats() {
    let mut cluster = Cluster::new();
    let ids = append_flood(&cluster);
    cluster.start().await;
    cluster
        .until("a tenth of the flood", |report| {
            report.counts.access >= (FLOOD_LINES / 10) as u64
        })
        .await;

    cluster.server().drop_connections();
    flood_read(&mut cluster, &ids).await;

    assert!(
        cluster.report.reconnects >= 1,
        "the drop forces a reconnect"
    );
    assert_eq!(cluster.report.counts.access, FLOOD_LINES as u64);
    assert_eq!(cluster.report.counts.duplicates_merged, 0);
    assert_eq!(cluster.report.repeated(), Vec::<&str>::new());
}

/// Returns `bytes` with every `from` replaced by `to`.
fn replace_bytes(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some(at) = rest.windows(from.len()).position(|window| window == from) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(to);
        rest = &rest[at + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// A running `idflow follow` against the fake server, with its stderr read on a thread.
struct Follow {
    child: Child,
    stderr: mpsc::UnboundedReceiver<String>,
    dir: PathBuf,
}

impl Follow {
    fn start(server: &FakeApiServer, name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("idflow-live-hostile-{name}-{}", std::process::id()));
        let args = ["follow", "-n", "shop", "--settle-ms", "100"];
        let mut child = server
            .command(env!("CARGO_BIN_EXE_idflow"), &dir, &args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start idflow follow");
        let (tx, stderr) = mpsc::unbounded_channel();
        let pipe = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, stderr, dir }
    }

    /// Waits for a stderr line containing `text`, and adds every line read to `seen`.
    async fn stderr_until(&mut self, text: &str, seen: &mut Vec<String>) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !seen.iter().any(|line| line.contains(text)) {
            match tokio::time::timeout_at(deadline, self.stderr.recv()).await {
                Ok(Some(line)) => seen.push(line),
                _ => panic!("no stderr line with {text:?}; stderr: {seen:#?}"),
            }
        }
    }

    /// Returns the peak resident memory of the process in KiB.
    fn peak_kib(&self) -> u64 {
        support::peak_memory_kib(self.child.id())
    }
}

impl Drop for Follow {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The kubeconfig contains the fake server's token, so it does not outlive the test.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `idflow follow` until its stderr reports `too_long` lines skipped, and returns its peak
/// memory in KiB with its stderr.
async fn follow_peak(server: &FakeApiServer, name: &str, too_long: usize) -> (u64, Vec<String>) {
    let mut follow = Follow::start(server, name);
    let mut stderr = Vec::new();
    let notice = format!("idflow: {too_long} log line(s) longer than 1 MiB skipped so far");
    follow.stderr_until(&notice, &mut stderr).await;
    let peak = follow.peak_kib();
    eprintln!("idflow follow ({name}): VmHWM {peak} KiB");
    (peak, stderr)
}

/// Starts a fake server with `pods` sidecar pods, each logging `lines` and then a closing line over
/// the limit, whose count on stderr shows that every line before it was read.
async fn pods_logging(pods: usize, lines: impl Fn(usize) -> Vec<Vec<u8>>) -> FakeApiServer {
    let state = ClusterState::new();
    for index in 0..pods {
        let pod = format!("orders-v1-7c9d8b6f5d-m{index:03}");
        state.apply(sidecar_pod("shop", &pod, "orders", "v1", Sidecar::Classic));
        state.append_log("shop", &pod, CONTAINER, lines(index));
        state.append_log(
            "shop",
            &pod,
            CONTAINER,
            [vec![b'e'; MAX_LOG_LINE_BYTES + 1]],
        );
    }
    FakeApiServer::start(state).await
}

/// Returns `count` distinct lines of pod number `pod`, each 1 KiB shorter than the limit.
fn near_limit_lines(pod: usize, count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|index| {
            let mut line = format!("{pod:03} {index:04} ").into_bytes();
            line.resize(MAX_LOG_LINE_BYTES - 1024, b'n');
            line
        })
        .collect()
}

/// Eight pods each write a 16 MiB line at once. Read whole, the lines would take 128 MiB, so a
/// peak under 96 MiB shows that no line is kept whole (a debug build peaked at about 56 MiB).
#[tokio::test]
async fn follow_long_lines_bounded() {
    const PODS: usize = 8;
    let server = pods_logging(PODS, |_| vec![vec![b'm'; 16 * 1024 * 1024]]).await;

    let (peak, stderr) = follow_peak(&server, "long", 2 * PODS).await;

    assert!(
        stderr.iter().all(|line| !line.contains("reconnecting")),
        "stderr: {stderr:#?}"
    );
    assert!(peak < 96 * 1024, "idflow follow peaked at {peak} KiB");
}

/// Eight pods each write 24 lines just under the limit, which are read whole (192 MiB in all).
/// The lines wait in a channel for the parser, and a peak under half their total shows that they
/// do not all pile up there.
#[tokio::test]
async fn follow_near_limit_lines_bounded() {
    const PODS: usize = 8;
    let server = pods_logging(PODS, |pod| near_limit_lines(pod, 24)).await;

    let (peak, _) = follow_peak(&server, "near-limit", PODS).await;

    assert!(peak < 96 * 1024, "idflow follow peaked at {peak} KiB");
}

/// Each stream keeps at most the chunk it is reading and the line it is building, about two lines
/// at the limit, and lines read and not yet parsed share [`MAX_IN_FLIGHT_BYTES`]. So the peak of
/// 17 streams, each writing 8 lines just under the limit, less that of one stream and the shared
/// budget, divided by 16, must stay under four lines at the limit (allocator slack included). A
/// stream that kept its lines would add 8.
#[tokio::test]
async fn follow_stream_cost_near_limit() {
    let near_limit = |pod| near_limit_lines(pod, 8);
    let one_stream = follow_peak(&pods_logging(1, near_limit).await, "one", 1)
        .await
        .0;
    let seventeen_streams = follow_peak(&pods_logging(17, near_limit).await, "many", 17)
        .await
        .0;

    let shared_kib = (MAX_IN_FLIGHT_BYTES / 1024) as u64;
    let per_stream = seventeen_streams
        .saturating_sub(one_stream)
        .saturating_sub(shared_kib)
        / 16;
    let limit_kib = (4 * MAX_LOG_LINE_BYTES / 1024) as u64;
    assert!(
        per_stream < limit_kib,
        "each stream added {per_stream} KiB beyond the shared {shared_kib} KiB (one stream: \
         {one_stream} KiB, 17 streams: {seventeen_streams} KiB)"
    );
}

/// 48 lines of just under 1 MiB share one kubelet timestamp. The resume point counts the lines of
/// the last second to skip them after a reconnect, so it must not keep 48 MiB of text.
#[tokio::test]
async fn same_stamp_lines_bounded() {
    const LINES: usize = 48;
    let at = Utc::now();
    let mut peaks = Vec::new();
    for shared_stamp in [false, true] {
        let state = ClusterState::new();
        state.apply(sidecar_pod("shop", POD, "orders", "v1", Sidecar::Classic));
        for index in 0..LINES {
            let mut line = format!("{index:04} ").into_bytes();
            line.resize(MAX_LOG_LINE_BYTES - 1024, b's');
            let offset = if shared_stamp { 0 } else { index };
            let stamp = at + chrono::Duration::microseconds(i64::try_from(offset).unwrap_or(0));
            state.append_log_at("shop", POD, CONTAINER, stamp, line);
        }
        // A closing long line marks the end: its count shows that every line before it was read.
        state.append_log_at(
            "shop",
            POD,
            CONTAINER,
            at + chrono::Duration::seconds(1),
            vec![b'e'; 2 * MAX_LOG_LINE_BYTES],
        );
        let server = FakeApiServer::start(state.clone()).await;
        let name = if shared_stamp { "shared" } else { "distinct" };
        peaks.push(follow_peak(&server, name, 1).await.0);
    }

    let (distinct, shared) = (peaks[0], peaks[1]);
    assert!(
        shared < distinct + 16 * 1024,
        "peak {shared} KiB with one timestamp, {distinct} KiB with distinct ones"
    );
}

/// A proxy whose JSON format logs the whole `Authorization` header: `idflow follow` warns on
/// stderr, and neither the warning nor anything else it prints there carries the token.
#[tokio::test]
async fn follow_warns_of_logged_tokens() {
    let (token, segments) = support::jwt_shaped("follow-logged-subject");
    let state = ClusterState::new();
    state.apply(sidecar_pod("shop", POD, "orders", "v1", Sidecar::Classic));
    let lines = (0..3).map(|index| {
        support::json_line_logging_token(
            &format!("2026-12-05T10:00:0{index}.000Z"),
            &format!("follow-logged-{index}"),
            &token,
        )
    });
    state.append_log("shop", POD, CONTAINER, lines);
    let server = FakeApiServer::start(state).await;

    let mut follow = Follow::start(&server, "logged-token");
    let mut stderr = Vec::new();
    follow
        .stderr_until(
            "logged the whole Authorization header, token included",
            &mut stderr,
        )
        .await;
    // Later counts of the same three lines must not repeat the warning.
    let quiet = tokio::time::Instant::now() + Duration::from_millis(800);
    while let Ok(Some(line)) = tokio::time::timeout_at(quiet, follow.stderr.recv()).await {
        stderr.push(line);
    }

    let warnings = stderr
        .iter()
        .filter(|line| line.contains("logged the whole Authorization header"))
        .count();
    assert_eq!(warnings, 1, "stderr: {stderr:#?}");
    for segment in &segments {
        assert!(
            stderr.iter().all(|line| !line.contains(&segment[..12])),
            "stderr shows a token segment: {stderr:#?}"
        );
    }
}
