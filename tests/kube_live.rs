//! The live-cluster source and `idflow follow` against the fake Kubernetes API server: log fan-in
//! under a stream bound, pod restarts, forbidden namespaces, API server outages, policy changes,
//! a cluster without Istio's CRDs, and the `follow` binary itself.

mod fake_apiserver;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use fake_apiserver::{
    ClusterState, FakeApiServer, LogCut, Sidecar, authorization_policy, demo_log_lines,
    gateway_pod, sidecar_pod,
};
use idflow::mesh::MeshSettings;
use idflow::mesh::check::{Mesh, check};
use idflow::mesh::crd::PolicySet;
use idflow::model::{Decision, Flow};
use idflow::source::kube::{
    LineCounts, LiveMessage, LiveSettings, LiveSource, MAX_LOG_LINE_BYTES, MeshWorkload, Scope,
    StreamHealth, StreamSettings,
};
use serde_json::json;
use tokio::sync::mpsc;

/// Maximum time one wait may take before the test fails.
const WAIT: Duration = Duration::from_secs(20);
/// The `ReplicaSet` of the `orders` pods. Pod names add a suffix.
const ORDERS_RS: &str = "orders-v1-7c9d8b6f5d";
/// The recorded sidecar line of an allowed request, and the two ids it carries.
const TEMPLATE_REQUEST_ID: &str = "d77482c6-8692-40bf-b041-fd7e3faa0ee8";
const TEMPLATE_EDGE_ID: &str = "3e57c0a3";

/// Everything the source reported so far.
#[derive(Default)]
struct Seen {
    flows: HashMap<String, Flow>,
    health: BTreeMap<String, StreamHealth>,
    /// Maximum number of streams live at one time.
    max_live: usize,
    /// Every reconnect announced: attempt number and delay in milliseconds.
    reconnects: Vec<(u32, u64)>,
    notices: Vec<String>,
    policies: Option<PolicySet>,
    workloads: Vec<MeshWorkload>,
    counts: LineCounts,
}

impl Seen {
    fn record(&mut self, message: LiveMessage) {
        match message {
            LiveMessage::Flow(flow) => {
                self.flows.insert(flow.id.clone(), *flow);
            }
            LiveMessage::Stream(status) => {
                if let StreamHealth::Reconnecting {
                    attempt, delay_ms, ..
                } = &status.health
                {
                    self.reconnects.push((*attempt, *delay_ms));
                }
                self.health.insert(status.stream, status.health);
                let live = self
                    .health
                    .values()
                    .filter(|health| **health == StreamHealth::Live)
                    .count();
                self.max_live = self.max_live.max(live);
            }
            LiveMessage::Notice(text) => self.notices.push(text),
            LiveMessage::Policies(set) => self.policies = Some(set),
            LiveMessage::Workloads(list) => self.workloads = list,
            LiveMessage::Counts(counts) => self.counts = counts,
        }
    }

    fn streams_in(&self, state: fn(&StreamHealth) -> bool) -> usize {
        self.health.values().filter(|health| state(health)).count()
    }

    /// Returns whether every id has a flow.
    fn has_flows(&self, ids: &[String]) -> bool {
        ids.iter().all(|id| self.flows.contains_key(id))
    }

    /// Returns the ids of flows with more than one hop. A line delivered twice is merged into the
    /// hop it repeats and counted in `duplicates_merged`, so check that count as well.
    fn repeated(&self) -> Vec<&str> {
        self.flows
            .values()
            .filter(|flow| flow.hops.len() != 1)
            .map(|flow| flow.id.as_str())
            .collect()
    }
}

/// A running source with what it reported.
struct Run {
    source: LiveSource,
    seen: Seen,
}

impl Run {
    fn start(client: kube::Client, scope: Scope, max_streams: usize) -> Self {
        let mut settings = LiveSettings::new(scope);
        settings.flow_interval = Duration::from_millis(50);
        settings.streams = StreamSettings {
            max_streams,
            ..StreamSettings::default()
        };
        Self {
            source: LiveSource::start(client, settings),
            seen: Seen::default(),
        }
    }

    /// Reads messages until `done` holds, failing the test after [`WAIT`] with `what`.
    async fn until(&mut self, what: &str, done: impl Fn(&Seen) -> bool) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !done(&self.seen) {
            match tokio::time::timeout_at(deadline, self.source.recv()).await {
                Ok(Some(message)) => self.seen.record(message),
                Ok(None) => panic!("the source stopped while waiting for {what}"),
                Err(tokio::time::error::Elapsed { .. }) => panic!(
                    "timed out waiting for {what}; flows {}, streams {:?}, notices {:?}",
                    self.seen.flows.len(),
                    self.seen.health,
                    self.seen.notices
                ),
            }
        }
    }

    /// Reads what arrives within `quiet`, so that late duplicates would be seen.
    async fn settle(&mut self, quiet: Duration) {
        let deadline = tokio::time::Instant::now() + quiet;
        while let Ok(Some(message)) = tokio::time::timeout_at(deadline, self.source.recv()).await {
            self.seen.record(message);
        }
    }
}

/// Returns a real sidecar access line whose edge request id is `id`, and that id.
fn access_line(id: &str) -> (String, String) {
    let template = demo_log_lines("shop", "orders")
        .into_iter()
        .find(|line| line.contains(TEMPLATE_EDGE_ID))
        .expect("the recorded allowed request in demo/shop.orders.log");
    let line = template
        .replace(TEMPLATE_REQUEST_ID, &format!("{id}-request"))
        .replace(TEMPLATE_EDGE_ID, id);
    (id.to_owned(), line)
}

/// Appends `count` unique access lines, tagged `tag`, to the proxy log of `pod`. Returns their ids.
fn append_lines(
    state: &ClusterState,
    namespace: &str,
    pod: &str,
    tag: &str,
    count: usize,
) -> Vec<String> {
    (0..count)
        .map(|index| {
            let (id, line) = access_line(&format!("{tag}-{index}"));
            state.append_log(namespace, pod, "istio-proxy", [line]);
            id
        })
        .collect()
}

fn orders_pod(namespace: &str, index: usize) -> (String, serde_json::Value) {
    let name = format!("{ORDERS_RS}-p{index:02}");
    let pod = sidecar_pod(namespace, &name, "orders", "v1", Sidecar::Classic);
    (name, pod)
}

fn stream(namespace: &str, pod: &str) -> String {
    format!("{namespace}/{pod}/istio-proxy")
}

#[tokio::test]
async fn fan_in_fifty_pods() {
    const PODS: usize = 50;
    const MAX_STREAMS: usize = 20;
    let state = ClusterState::new();
    let mut pods = Vec::new();
    let mut ids = Vec::new();
    for index in 0..PODS {
        let (name, pod) = orders_pod("shop", index);
        state.apply(pod);
        ids.extend(append_lines(
            &state,
            "shop",
            &name,
            &format!("p{index:02}"),
            2,
        ));
        pods.push(name);
    }
    let server = FakeApiServer::start(state.clone()).await;
    let mut run = Run::start(
        server.client("shop").await,
        Scope::Namespace("shop".into()),
        MAX_STREAMS,
    );

    run.until("the first streams to open", |seen| {
        seen.streams_in(|h| *h == StreamHealth::Live) == MAX_STREAMS
            && seen.streams_in(|h| *h == StreamHealth::Queued) == PODS - MAX_STREAMS
    })
    .await;
    // End the open streams by deleting their pods, which frees slots for the queued ones.
    while run.seen.streams_in(|h| *h == StreamHealth::Queued) > 0
        || run.seen.streams_in(|h| *h == StreamHealth::Live) > 0
    {
        let live: Vec<String> = pods
            .iter()
            .filter(|pod| run.seen.health.get(&stream("shop", pod)) == Some(&StreamHealth::Live))
            .cloned()
            .collect();
        // Line ids start with the pod's tag (`p07-0`), which ends the pod's name.
        let live_ids: Vec<String> = ids
            .iter()
            .filter(|id| live.iter().any(|pod| pod.ends_with(&id[..3])))
            .cloned()
            .collect();
        run.until("the lines of the open streams", |seen| {
            seen.has_flows(&live_ids)
        })
        .await;
        for pod in &live {
            state.delete_pod("shop", pod);
        }
        let ended = live.clone();
        run.until("the deleted pods' streams to end", move |seen| {
            ended.iter().all(|pod| {
                matches!(
                    seen.health.get(&stream("shop", pod)),
                    Some(StreamHealth::Ended { .. })
                )
            })
        })
        .await;
        run.until("the queued streams to open", |seen| {
            seen.streams_in(|h| *h == StreamHealth::Queued) == 0
                || seen.streams_in(|h| *h == StreamHealth::Live) > 0
        })
        .await;
    }
    run.until("every line", |seen| seen.has_flows(&ids)).await;
    run.settle(Duration::from_millis(200)).await;

    assert_eq!(run.seen.flows.len(), PODS * 2);
    assert_eq!(run.seen.repeated(), Vec::<&str>::new());
    assert_eq!(run.seen.counts.duplicates_merged, 0);
    assert_eq!(run.seen.counts.access, (PODS * 2) as u64);
    assert!(
        run.seen.max_live <= MAX_STREAMS,
        "{} streams live at once",
        run.seen.max_live
    );
}

#[tokio::test]
async fn restart_follows_new_container() {
    let state = ClusterState::new();
    let (pod, object) = orders_pod("shop", 0);
    state.apply(object);
    let before = append_lines(&state, "shop", &pod, "before", 3);
    let server = FakeApiServer::start(state.clone()).await;
    let mut run = Run::start(
        server.client("shop").await,
        Scope::Namespace("shop".into()),
        10,
    );
    run.until("the lines before the restart", |seen| {
        seen.has_flows(&before)
    })
    .await;

    state.restart_pod("shop", &pod).expect("the pod exists");
    let after = append_lines(&state, "shop", &pod, "after", 3);
    run.until("the lines of the new container", |seen| {
        seen.has_flows(&after)
    })
    .await;
    run.settle(Duration::from_millis(200)).await;

    assert_eq!(run.seen.flows.len(), 6);
    assert_eq!(run.seen.repeated(), Vec::<&str>::new());
    assert_eq!(run.seen.counts.duplicates_merged, 0);
    assert_eq!(run.seen.counts.access, 6);
}

#[tokio::test]
async fn forbidden_namespace_isolated() {
    let state = ClusterState::new();
    let (shop_pod, object) = orders_pod("shop", 0);
    state.apply(object);
    let (audit_pod, object) = orders_pod("audit", 1);
    state.apply(object);
    state.set_logs_forbidden("audit", true);
    append_lines(&state, "audit", &audit_pod, "audit", 2);
    let first = append_lines(&state, "shop", &shop_pod, "first", 2);
    let server = FakeApiServer::start(state.clone()).await;
    let mut run = Run::start(server.client("shop").await, Scope::All, 10);

    let audit = stream("audit", &audit_pod);
    run.until("the forbidden stream and the first lines", |seen| {
        matches!(
            seen.health.get(&audit),
            Some(StreamHealth::Forbidden { .. })
        ) && seen.has_flows(&first)
    })
    .await;
    let later = append_lines(&state, "shop", &shop_pod, "later", 2);
    run.until("lines after the 403", |seen| seen.has_flows(&later))
        .await;

    assert_eq!(run.seen.flows.len(), 4);
    assert_eq!(
        run.seen.health.get(&stream("shop", &shop_pod)),
        Some(&StreamHealth::Live)
    );
}

#[tokio::test]
async fn outage_resumes_without_repeats() {
    let state = ClusterState::new();
    let (pod, object) = orders_pod("shop", 0);
    state.apply(object);
    let mut ids = append_lines(&state, "shop", &pod, "start", 3);
    let server = FakeApiServer::start(state.clone()).await;
    let mut run = Run::start(
        server.client("shop").await,
        Scope::Namespace("shop".into()),
        10,
    );
    run.until("the first lines", |seen| seen.has_flows(&ids))
        .await;

    server.drop_connections();
    ids.extend(append_lines(&state, "shop", &pod, "dropped", 3));
    run.until("the lines written while dropped", |seen| {
        seen.has_flows(&ids)
    })
    .await;

    server.refuse_connections(Duration::from_secs(1));
    // Watches then resume from a resource version the server no longer has (410 Expired).
    state.compact();
    ids.extend(append_lines(&state, "shop", &pod, "refused", 3));
    run.until("the lines written while refused", |seen| {
        seen.has_flows(&ids)
    })
    .await;

    // The pod and policy watches must have recovered to see these.
    let (new_pod, object) = orders_pod("shop", 1);
    state.apply(object);
    let fresh = append_lines(&state, "shop", &new_pod, "fresh", 2);
    state.apply(authorization_policy(
        "shop",
        "after-outage",
        json!({"action": "DENY", "rules": [{"to": [{"operation": {"methods": ["DELETE"]}}]}]}),
    ));
    run.until("a new pod and policy after the outage", |seen| {
        seen.has_flows(&fresh)
            && seen.policies.as_ref().is_some_and(|set| {
                set.authorization
                    .iter()
                    .any(|p| p.metadata.name == "after-outage")
            })
    })
    .await;
    run.settle(Duration::from_millis(300)).await;

    assert_eq!(run.seen.flows.len(), ids.len() + fresh.len());
    assert_eq!(run.seen.repeated(), Vec::<&str>::new());
    assert_eq!(run.seen.counts.duplicates_merged, 0);
    // Refused for 1 s: the first retry (at most 500 ms) fails, so a longer second one follows.
    let longest = run
        .seen
        .reconnects
        .iter()
        .max()
        .copied()
        .unwrap_or_default();
    assert!(longest.0 >= 2, "reconnects: {:?}", run.seen.reconnects);
    assert!(longest.1 >= 250, "reconnects: {:?}", run.seen.reconnects);
    assert!(
        run.seen
            .notices
            .iter()
            .all(|text| !text.contains("forbidden")),
        "notices: {:?}",
        run.seen.notices
    );
}

#[tokio::test]
async fn mid_line_cut_not_split() {
    let state = ClusterState::new();
    let (pod, object) = orders_pod("shop", 0);
    state.apply(object);
    let mut ids = append_lines(&state, "shop", &pod, "whole", 2);
    let server = FakeApiServer::start(state.clone()).await;
    let mut run = Run::start(
        server.client("shop").await,
        Scope::Namespace("shop".into()),
        10,
    );
    run.until("the first lines", |seen| seen.has_flows(&ids))
        .await;

    let (id, line) = access_line("cut-0");
    state.cut_log_streams(
        "shop",
        &pod,
        "istio-proxy",
        LogCut::MidLine(line[..80].to_owned()),
    );
    state.append_log("shop", &pod, "istio-proxy", [line]);
    ids.push(id);
    run.until("the cut line, whole", |seen| seen.has_flows(&ids))
        .await;
    run.settle(Duration::from_millis(200)).await;

    assert_eq!(run.seen.repeated(), Vec::<&str>::new());
    assert_eq!(run.seen.counts.duplicates_merged, 0);
    assert_eq!(
        run.seen.counts.malformed + run.seen.counts.not_access_log,
        0
    );
}

/// A container that writes a line longer than the limit costs the limit, not the line: the line
/// is counted as too long, and the lines around it still become flows.
#[tokio::test]
async fn overlong_line_counted_and_skipped() {
    let state = ClusterState::new();
    let (pod, object) = orders_pod("shop", 0);
    state.apply(object);
    let mut ids = append_lines(&state, "shop", &pod, "before", 1);
    state.append_log(
        "shop",
        &pod,
        "istio-proxy",
        ["x".repeat(MAX_LOG_LINE_BYTES * 3)],
    );
    ids.extend(append_lines(&state, "shop", &pod, "after", 1));
    let server = FakeApiServer::start(state.clone()).await;
    let mut run = Run::start(
        server.client("shop").await,
        Scope::Namespace("shop".into()),
        10,
    );

    run.until("the lines around the long one", |seen| seen.has_flows(&ids))
        .await;
    run.until("the long line counted", |seen| seen.counts.too_long == 1)
        .await;
    run.settle(Duration::from_millis(200)).await;

    assert_eq!(run.seen.counts.too_long, 1);
    assert_eq!(
        run.seen.counts.malformed + run.seen.counts.not_access_log,
        0
    );
    assert_eq!(run.seen.repeated(), Vec::<&str>::new());
    assert_eq!(run.seen.counts.duplicates_merged, 0);
}

#[tokio::test]
async fn new_policy_changes_verdict() {
    let state = ClusterState::new();
    let (_, object) = orders_pod("shop", 0);
    state.apply(object);
    let server = FakeApiServer::start(state.clone()).await;
    let mut run = Run::start(
        server.client("shop").await,
        Scope::Namespace("shop".into()),
        10,
    );
    run.until("the workload and the empty policy set", |seen| {
        !seen.workloads.is_empty() && seen.policies.is_some()
    })
    .await;
    let workload = run.seen.workloads[0].to_mesh().expect("a sidecar workload");
    let request = idflow::mesh::Request {
        method: "DELETE".to_owned(),
        path: "/api/orders/1042".to_owned(),
        source_principal: Some(
            "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"
                .to_owned(),
        ),
        ..idflow::mesh::Request::default()
    };
    let verdict = |policies: &PolicySet| {
        let mesh = Mesh {
            policies,
            jwks: &BTreeMap::new(),
            providers: &[],
            settings: &MeshSettings::default(),
        };
        check(&mesh, &workload, &request).expect("simulation runs")
    };
    let before = verdict(run.seen.policies.as_ref().expect("policies"));

    state.apply(authorization_policy(
        "shop",
        "deny-delete",
        json!({"selector": {"matchLabels": {"app": "orders"}}, "action": "DENY", "rules": [{"to": [{"operation": {"methods": ["DELETE"]}}]}]}),
    ));
    run.until("the new policy", |seen| {
        seen.policies
            .as_ref()
            .is_some_and(|set| !set.authorization.is_empty())
    })
    .await;
    let after = verdict(run.seen.policies.as_ref().expect("policies"));

    assert_eq!(before.decision, Decision::Allow);
    assert_eq!(
        (after.decision, after.policy.as_deref(), after.rule),
        (Decision::Deny, Some("shop/deny-delete"), Some(0))
    );
}

#[tokio::test]
async fn missing_crds_one_notice() {
    let state = ClusterState::new();
    state.set_istio_crds(false);
    let (pod, object) = orders_pod("shop", 0);
    state.apply(object);
    let ids = append_lines(&state, "shop", &pod, "nocrd", 2);
    let server = FakeApiServer::start(state.clone()).await;
    let mut run = Run::start(
        server.client("shop").await,
        Scope::Namespace("shop".into()),
        10,
    );
    run.until("the notice and the flows", |seen| {
        !seen.notices.is_empty() && seen.has_flows(&ids)
    })
    .await;
    run.settle(Duration::from_millis(300)).await;

    assert_eq!(run.seen.notices.len(), 1, "notices: {:?}", run.seen.notices);
    assert!(
        run.seen.notices[0].contains("install Istio's CRDs"),
        "notice: {}",
        run.seen.notices[0]
    );
    assert_eq!(run.seen.workloads.len(), 1);
}

/// Reads the binary's stdout lines on a thread, so waits can time out without blocking the
/// fake server, which runs on this test's runtime.
fn line_reader(stdout: std::process::ChildStdout) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[tokio::test]
async fn follow_prints_denials() {
    let state = ClusterState::new();
    let orders = format!("{ORDERS_RS}-x2k4p");
    state.apply(sidecar_pod(
        "shop",
        &orders,
        "orders",
        "v1",
        Sidecar::Classic,
    ));
    let gateway = "istio-ingressgateway-6d8f9c7b5-abcde";
    state.apply(gateway_pod(gateway));
    state.append_log(
        "shop",
        &orders,
        "istio-proxy",
        demo_log_lines("shop", "orders"),
    );
    state.append_log(
        "istio-system",
        gateway,
        "istio-proxy",
        demo_log_lines("istio-system", "istio-ingressgateway"),
    );
    let server = FakeApiServer::start(state.clone()).await;
    let dir = std::env::temp_dir().join(format!("idflow-kube-live-{}", std::process::id()));
    let args = [
        "follow",
        "-A",
        "--denials",
        "-o",
        "ndjson",
        "--settle-ms",
        "200",
    ];
    let mut child = server
        .command(env!("CARGO_BIN_EXE_idflow"), &dir, &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start idflow follow");
    let mut lines = line_reader(child.stdout.take().expect("stdout"));
    let expected: BTreeSet<&str> = [
        "e4582eb6", "b237c2b1", "592296c1", "32758ea4", "63edf245", "5ff2bad4", "10fcf546",
    ]
    .into();
    let mut last: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while last.len() < expected.len() {
        let Ok(Some(line)) = tokio::time::timeout_at(deadline, lines.recv()).await else {
            let _ = child.kill();
            panic!("timed out waiting for denials; printed {:?}", last.keys());
        };
        keep_last(&mut last, &line);
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -INT failed");
    // The reader ends when idflow closes stdout, which it does on exit.
    while let Ok(Some(line)) = tokio::time::timeout_at(deadline + WAIT, lines.recv()).await {
        keep_last(&mut last, &line);
    }
    let exit = loop {
        if let Some(exit) = child.try_wait().expect("wait for idflow") {
            break exit;
        }
        assert!(
            tokio::time::Instant::now() < deadline + WAIT,
            "idflow did not exit on SIGINT"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // The kubeconfig holds the fake server's token, so it does not outlive the test.
    let _ = std::fs::remove_dir_all(&dir);

    assert_eq!(exit.code(), Some(0));
    assert_eq!(
        last.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        expected
    );
    let unattributed: Vec<&String> = last
        .iter()
        .filter(|(_, flow)| !attributed(flow))
        .map(|(id, _)| id)
        .collect();
    assert_eq!(unattributed, Vec::<&String>::new());
}

/// Keeps the last printed form of each flow, as readers of `follow` do.
fn keep_last(last: &mut BTreeMap<String, serde_json::Value>, line: &str) {
    let flow: serde_json::Value = serde_json::from_str(line).expect("an NDJSON flow");
    last.insert(flow["id"].as_str().unwrap_or_default().to_owned(), flow);
}

/// Returns whether a flow's denying hop names its cause: an RBAC policy and rule (or Envoy's
/// `none`, the default deny when no ALLOW policy matched), or the jwt_authn status text.
fn attributed(flow: &serde_json::Value) -> bool {
    let hops = flow["hops"].as_array().cloned().unwrap_or_default();
    hops.iter()
        .filter(|hop| hop["decision"] == "deny")
        .any(|hop| match hop["decided_by"].as_str() {
            Some("rbac") => {
                hop["reason"] == "none" || (hop["policy"].is_string() && hop["rule"].is_u64())
            }
            Some("jwt_authn") => hop["reason"].is_string(),
            _ => false,
        })
}
