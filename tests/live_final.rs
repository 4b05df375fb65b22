//! The live log reader against the fake Kubernetes API server, for the resume point's count of
//! identical lines at one timestamp and for the shared budget of bytes in flight. Cases: identical
//! lines cut at every point, reconnect storms, 50 pods writing lines near the 1 MiB limit to a
//! slow consumer, and streams that end while their lines still hold budget.

mod fake_apiserver;

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, DurationRound, Utc};
use fake_apiserver::{ClusterState, FakeApiServer, LogCut, Sidecar, demo_access_line, sidecar_pod};
use idflow::source::kube::{
    Backoff, LineCounts, LiveMessage, LiveSettings, LiveSource, MAX_LOG_LINE_BYTES, Scope,
    StreamHealth,
};

/// Maximum time one wait may take before the test fails.
const WAIT: Duration = Duration::from_secs(30);
const CONTAINER: &str = "istio-proxy";

/// Returns the name of sidecar pod number `index`.
fn pod(index: usize) -> String {
    format!("orders-v1-7c9d8b6f5d-f{index:03}")
}

/// Returns a line of `bytes` bytes that is not an access line, starting with `tag`.
fn filler(tag: &str, bytes: usize) -> Vec<u8> {
    let mut line = format!("{tag} ").into_bytes();
    line.resize(bytes, b'n');
    line
}

/// A fake cluster of `pods` sidecar pods and a live source reading it, with what it reported.
struct Live {
    state: ClusterState,
    server: FakeApiServer,
    source: LiveSource,
    counts: LineCounts,
    flows: HashSet<String>,
    reconnects: usize,
    /// The delay of each reconnect, in milliseconds.
    delays_ms: Vec<u64>,
    /// How often a stream became live.
    connections: usize,
    /// Pause after each message read, to play a slow consumer.
    pause: Duration,
}

impl Live {
    /// Starts the source on `state` with fast reconnects and a message channel of `capacity`.
    async fn start(state: ClusterState, capacity: usize) -> Self {
        let server = FakeApiServer::start(state.clone()).await;
        let mut settings = LiveSettings::new(Scope::Namespace("shop".into()));
        settings.flow_interval = Duration::from_millis(20);
        settings.channel_capacity = capacity;
        settings.streams.backoff = Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(80),
        };
        let source = LiveSource::start(server.client("shop").await, settings);
        Self {
            state,
            server,
            source,
            counts: LineCounts::default(),
            flows: HashSet::new(),
            reconnects: 0,
            delays_ms: Vec::new(),
            connections: 0,
            pause: Duration::ZERO,
        }
    }

    fn record(&mut self, message: LiveMessage) {
        match message {
            LiveMessage::Flow(flow) => {
                self.flows.insert(flow.id.clone());
            }
            LiveMessage::Counts(counts) => self.counts = counts,
            LiveMessage::Stream(status) => match status.health {
                StreamHealth::Reconnecting { delay_ms, .. } => {
                    self.reconnects += 1;
                    self.delays_ms.push(delay_ms);
                }
                StreamHealth::Live => self.connections += 1,
                _ => {}
            },
            LiveMessage::Workloads(_) | LiveMessage::Policies(_) | LiveMessage::Notice(_) => {}
        }
    }

    /// Reads messages until `done` returns true, failing the test after [`WAIT`] with `awaited`.
    async fn until(&mut self, awaited: &str, done: impl Fn(&Self) -> bool) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !done(self) {
            match tokio::time::timeout_at(deadline, self.source.recv()).await {
                Ok(Some(message)) => self.record(message),
                Ok(None) => panic!("the source stopped while waiting for {awaited}"),
                Err(tokio::time::error::Elapsed { .. }) => panic!(
                    "timed out waiting for {awaited}; flows {}, counts {:?}",
                    self.flows.len(),
                    self.counts
                ),
            }
            if !self.pause.is_zero() {
                tokio::time::sleep(self.pause).await;
            }
        }
    }

    /// Reads what arrives within `quiet`, so that late repeats would be seen.
    async fn settle(&mut self, quiet: Duration) {
        let deadline = tokio::time::Instant::now() + quiet;
        while let Ok(Some(message)) = tokio::time::timeout_at(deadline, self.source.recv()).await {
            self.record(message);
        }
    }

    /// Waits until `lines` lines that are not access lines were read.
    async fn read_lines(&mut self, awaited: &str, lines: u64) {
        self.until(awaited, |live| live.counts.not_access_log >= lines)
            .await;
    }

    fn append_at(&self, pod_index: usize, at: DateTime<Utc>, line: Vec<u8>) {
        self.state
            .append_log_at("shop", &pod(pod_index), CONTAINER, at, line);
    }
}

/// Returns a cluster with `pods` sidecar pods and no log lines.
fn cluster(pods: usize) -> ClusterState {
    let state = ClusterState::new();
    for index in 0..pods {
        add_pod(&state, index);
    }
    state
}

/// Adds sidecar pod number `index` to `state`.
fn add_pod(state: &ClusterState, index: usize) {
    state.apply(sidecar_pod(
        "shop",
        &pod(index),
        "orders",
        "v1",
        Sidecar::Classic,
    ));
}

/// Half a second into the current second, so that lines a few milliseconds either side of it
/// share the second that a reconnect requests again.
fn mid_second() -> DateTime<Utc> {
    Utc::now()
        .duration_trunc(chrono::Duration::seconds(1))
        .expect("truncate to the second")
        + chrono::Duration::milliseconds(500)
}

/// How a test cuts the open log stream.
#[derive(Debug, Clone, Copy)]
enum Cut {
    /// Drop every connection of the server.
    Drop,
    /// Drop the connection between two lines.
    Abort,
    /// End the body cleanly between two lines.
    End,
    /// Send half of the repeated line, then drop the connection.
    MidLine,
}

/// Writes `total` identical lines at one nanosecond, cutting the stream once `before_cut` of them
/// were read, and returns how many were read in all.
async fn identical_across_cut(total: usize, before_cut: usize, cut: Cut) -> u64 {
    const SAME: &str = "same line at one nanosecond";
    let at = mid_second();
    let mut live = Live::start(cluster(1), 64).await;
    // An older line of the same second, which the reconnect also reads again.
    live.append_at(
        0,
        at - chrono::Duration::milliseconds(3),
        filler("older", 40),
    );
    for _ in 0..before_cut {
        live.append_at(0, at, SAME.into());
    }
    live.read_lines("the lines before the cut", 1 + before_cut as u64)
        .await;

    match cut {
        Cut::Drop => live.server.drop_connections(),
        Cut::Abort => live
            .state
            .cut_log_streams("shop", &pod(0), CONTAINER, LogCut::Abort),
        Cut::End => live
            .state
            .cut_log_streams("shop", &pod(0), CONTAINER, LogCut::End),
        Cut::MidLine => {
            let stamp = at.format("%Y-%m-%dT%H:%M:%S%.9fZ ").to_string();
            let half = format!("{stamp}{}", &SAME[..SAME.len() / 2]);
            live.state
                .cut_log_streams("shop", &pod(0), CONTAINER, LogCut::MidLine(half));
        }
    }
    live.until("the reconnect", |live| live.reconnects >= 1)
        .await;
    for _ in before_cut..total {
        live.append_at(0, at, SAME.into());
    }
    live.append_at(0, at + chrono::Duration::seconds(1), filler("closing", 40));
    let written = total as u64 + 2;
    live.read_lines("every line", written).await;
    live.settle(Duration::from_millis(100)).await;
    live.counts.not_access_log - 2
}

#[tokio::test]
async fn identical_lines_cut_anywhere() {
    let cases = [
        (2, 0),
        (2, 1),
        (2, 2),
        (3, 0),
        (3, 1),
        (3, 2),
        (3, 3),
        (1000, 1),
        (1000, 500),
        (1000, 1000),
    ];
    for (total, before_cut) in cases {
        for cut in [Cut::Drop, Cut::Abort, Cut::End, Cut::MidLine] {
            let read = identical_across_cut(total, before_cut, cut).await;
            assert_eq!(
                read, total as u64,
                "{total} identical lines, cut ({cut:?}) after {before_cut}"
            );
        }
    }
}

/// A line whose timestamp is older than the last one read, in the same second, written after the
/// cut. The reader delivers such lines on a live connection, taking the older time for the
/// container runtime's clock. This one was never read, so the reconnect must deliver it.
// NOTE: fails: while resuming, the resume point drops every line older than the last one read.
#[tokio::test]
async fn older_stamp_after_cut_read() {
    let at = mid_second();
    let mut live = Live::start(cluster(1), 64).await;
    live.append_at(0, at, filler("first", 40));
    live.read_lines("the first line", 1).await;

    live.server.drop_connections();
    live.until("the reconnect", |live| live.reconnects >= 1)
        .await;
    live.append_at(
        0,
        at - chrono::Duration::microseconds(5),
        filler("older", 40),
    );
    live.append_at(0, at + chrono::Duration::seconds(1), filler("closing", 40));
    live.until("the closing line", |live| live.counts.not_access_log >= 2)
        .await;
    live.settle(Duration::from_millis(300)).await;

    assert_eq!(live.counts.not_access_log, 3, "first, older and closing");
}

/// Connections dropped every few milliseconds while identical and distinct lines are written at
/// a handful of timestamps: no line may be lost or read twice.
#[tokio::test]
async fn reconnect_storm_counts_exact() {
    const ROUNDS: usize = 40;
    const PER_ROUND: usize = 50;
    let at = mid_second();
    let mut live = Live::start(cluster(1), 256).await;
    let mut written = 0u64;
    for round in 0..ROUNDS {
        // Every round shares one of four timestamps, so reconnects land inside runs of them.
        let stamp = at + chrono::Duration::microseconds(i64::try_from(round / 10).unwrap_or(0));
        for index in 0..PER_ROUND {
            let text = if index % 2 == 0 {
                "storm same".to_owned()
            } else {
                format!("storm {round} {index}")
            };
            live.append_at(0, stamp, text.into_bytes());
            written += 1;
        }
        // Cut a live connection each round, so that a loaded machine, which connects slowly,
        // still reconnects in every round.
        live.until("the stream to be live again", |live| {
            live.connections > round
        })
        .await;
        live.server.drop_connections();
        live.settle(Duration::from_millis(5)).await;
    }
    live.append_at(0, at + chrono::Duration::seconds(1), filler("closing", 40));
    written += 1;
    live.read_lines("every line of the storm", written).await;
    live.settle(Duration::from_millis(300)).await;

    assert!(live.reconnects >= ROUNDS, "the storm forces reconnects");
    assert_eq!(live.counts.not_access_log, written);
}

/// Number of pods in the budget tests: the default bound on concurrent streams.
const PODS: usize = 50;
/// Lines just under the limit that each pod writes before its short access line.
const NEAR_LIMIT_LINES: usize = 3;

/// Writes [`NEAR_LIMIT_LINES`] lines just under the limit and then a short access line on every
/// pod, and returns the flow ids of the short lines.
fn write_near_limit(state: &ClusterState, tag: &str) -> Vec<String> {
    (0..PODS)
        .map(|index| {
            let lines = (0..NEAR_LIMIT_LINES)
                .map(|line| filler(&format!("{tag} {index} {line}"), MAX_LOG_LINE_BYTES - 1024));
            state.append_log("shop", &pod(index), CONTAINER, lines);
            let id = format!("{tag}-{index}");
            state.append_log("shop", &pod(index), CONTAINER, [demo_access_line(&id)]);
            id
        })
        .collect()
}

/// 50 streams write 150 MiB of lines near the limit to a consumer that reads one message every
/// 2 ms from a channel of 2: the budget of bytes in flight fills, and every stream's short line
/// must still arrive.
#[tokio::test]
async fn budget_many_streams_slow_consumer() {
    let state = cluster(PODS);
    let ids = write_near_limit(&state, "slow");
    let mut live = Live::start(state, 2).await;
    live.pause = Duration::from_millis(2);

    live.until("every stream's short line", |live| {
        ids.iter().all(|id| live.flows.contains(id))
    })
    .await;
    live.pause = Duration::ZERO;
    live.read_lines("every near-limit line", (PODS * NEAR_LIMIT_LINES) as u64)
        .await;
    live.settle(Duration::from_millis(300)).await;

    assert_eq!(live.counts.not_access_log, (PODS * NEAR_LIMIT_LINES) as u64);
    assert_eq!(live.counts.access, PODS as u64);
    assert_eq!(live.counts.too_long, 0);
}

/// Half of the pods are deleted and the other half's streams cut mid-line while their lines fill
/// the budget. If the lines of ended streams kept their share, the second round of 150 MiB, far
/// past the 16 MiB budget, could not be read.
#[tokio::test]
async fn ended_streams_return_budget() {
    let state = cluster(PODS);
    let first = write_near_limit(&state, "one");
    let mut live = Live::start(state.clone(), 2).await;
    live.pause = Duration::from_millis(2);
    live.until("some near-limit lines", |live| {
        live.counts.not_access_log >= 10
    })
    .await;

    for index in 0..PODS {
        if index % 2 == 0 {
            state.delete_pod("shop", &pod(index));
        } else {
            let cut = LogCut::MidLineThenEnd("2026-12-05T10:00:00.000000000Z partial".into());
            state.cut_log_streams("shop", &pod(index), CONTAINER, cut);
        }
    }
    for index in 0..PODS {
        if index % 2 == 0 {
            add_pod(&state, index);
        }
    }
    let second = write_near_limit(&state, "two");
    live.pause = Duration::ZERO;
    live.until("the second round's short lines", |live| {
        second.iter().all(|id| live.flows.contains(id))
    })
    .await;

    let surviving = first.iter().skip(1).step_by(2);
    let missing: Vec<&String> = surviving.filter(|id| !live.flows.contains(*id)).collect();
    assert_eq!(
        missing,
        Vec::<&String>::new(),
        "short lines of the streams that were cut"
    );
}

/// Twenty streams write identical lines near the limit at one nanosecond to a slow consumer, and
/// every connection is dropped every 20 ms, so reconnects happen while streams wait for budget and
/// while they skip the lines read before. Each line must be read exactly once.
#[tokio::test]
async fn storm_with_full_budget() {
    const STREAMS: usize = 20;
    const LINES: usize = 4;
    let at = mid_second();
    let state = cluster(STREAMS);
    for index in 0..STREAMS {
        for _ in 0..LINES {
            let line = filler(&format!("same {index}"), MAX_LOG_LINE_BYTES - 1024);
            state.append_log_at("shop", &pod(index), CONTAINER, at, line);
        }
        let closing = demo_access_line(&format!("storm-{index}"));
        state.append_log_at(
            "shop",
            &pod(index),
            CONTAINER,
            at + chrono::Duration::seconds(1),
            closing,
        );
    }
    let mut live = Live::start(state, 2).await;
    live.pause = Duration::from_millis(1);
    for _ in 0..10 {
        live.settle(Duration::from_millis(20)).await;
        live.server.drop_connections();
    }
    live.pause = Duration::ZERO;
    live.until("every stream's closing line", |live| {
        live.counts.access >= STREAMS as u64
    })
    .await;
    live.settle(Duration::from_millis(300)).await;

    assert!(live.reconnects >= 1, "the storm forces reconnects");
    assert_eq!(live.counts.not_access_log, (STREAMS * LINES) as u64);
    assert_eq!(live.counts.access, STREAMS as u64);
    assert_eq!(live.counts.duplicates_merged, 0);
}
