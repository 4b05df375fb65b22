//! [`LiveSource`]: the background tasks that watch pods and policies, follow proxy logs and join
//! their lines into flows, sending what changed over one bounded channel.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::Pod;
use kube::api::DynamicObject;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::config::Scope;
use super::flows::FlowTracker;
use super::logs::{LogFanIn, LogLine, StreamSettings, StreamStatus};
use super::policies::{self, Policy, PolicyKind, PolicyStore, VERSIONS};
use super::workloads::{MeshWorkload, group_workloads, log_targets};
use crate::accesslog::LogParser;
use crate::mesh::crd::PolicySet;
use crate::model::Flow;

/// Settings of a live source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSettings {
    pub scope: Scope,
    /// Istio's root namespace, whose policies apply mesh-wide; watched besides `scope`.
    pub root_namespace: String,
    pub trust_domain: String,
    pub streams: StreamSettings,
    /// Maximum flows kept by the correlator; the oldest are dropped past it.
    pub max_flows: usize,
    /// How often changed flows are collected and sent.
    pub flow_interval: Duration,
    /// Capacity of the message channel; senders wait when it is full.
    pub channel_capacity: usize,
}

impl LiveSettings {
    /// Creates settings with the defaults for `scope`.
    pub fn new(scope: Scope) -> Self {
        Self {
            scope,
            root_namespace: "istio-system".to_owned(),
            trust_domain: "cluster.local".to_owned(),
            streams: StreamSettings::default(),
            max_flows: crate::source::DEFAULT_MAX_FLOWS,
            flow_interval: Duration::from_millis(500),
            channel_capacity: 1024,
        }
    }
}

/// Counts of the log lines read so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LineCounts {
    /// Access log lines that became observations.
    pub access: u64,
    /// Lines that are not access log lines (Envoy and pilot-agent application logs).
    pub not_access_log: u64,
    /// Access log lines that did not parse.
    pub malformed: u64,
    /// Flows dropped to stay within `max_flows`.
    pub flows_evicted: u64,
    /// Records identical to a hop already held, merged into it (a log read twice).
    pub duplicates_merged: u64,
    /// Records dropped because their flow already had [`crate::flow::MAX_HOPS_PER_FLOW`] hops.
    pub hops_dropped: u64,
    /// Lines longer than [`super::logs::MAX_LOG_LINE_BYTES`], skipped.
    pub too_long: u64,
    /// Access log lines that logged a whole `Authorization` value, token included.
    pub credentials_logged: u64,
}

/// A message from a live source.
#[derive(Debug, Clone)]
pub enum LiveMessage {
    /// The full list of workloads in scope, after any pod change that altered it.
    Workloads(Vec<MeshWorkload>),
    /// The full set of policies, after any change.
    Policies(PolicySet),
    /// A flow that is new or changed.
    Flow(Box<Flow>),
    Stream(StreamStatus),
    Counts(LineCounts),
    /// A problem that does not stop the source, in one sentence with the fix.
    Notice(String),
}

/// Handle to the background tasks of one context and scope. Dropping it stops them.
pub struct LiveSource {
    messages: mpsc::Receiver<LiveMessage>,
    tasks: Vec<JoinHandle<()>>,
}

impl LiveSource {
    /// Starts watching and following with `client`. Must be called inside a tokio runtime.
    pub fn start(client: Client, settings: LiveSettings) -> Self {
        let (out, messages) = mpsc::channel(settings.channel_capacity.max(1));
        let (lines_tx, lines_rx) = mpsc::channel(4096);
        let fan_in = LogFanIn::new(client.clone(), settings.streams, lines_tx, out.clone());
        let tasks = vec![
            tokio::spawn(watch_pods(
                client.clone(),
                settings.clone(),
                fan_in,
                out.clone(),
            )),
            tokio::spawn(watch_policies(client, settings.clone(), out.clone())),
            tokio::spawn(join_flows(lines_rx, settings, out)),
        ];
        Self { messages, tasks }
    }

    /// Returns the next message, or `None` once every task has stopped.
    pub async fn recv(&mut self) -> Option<LiveMessage> {
        self.messages.recv().await
    }

    /// Returns a message if one is waiting.
    pub fn try_recv(&mut self) -> Option<LiveMessage> {
        self.messages.try_recv().ok()
    }

    /// Stops the current tasks and starts again with another client (context) or scope.
    pub fn restart(&mut self, client: Client, settings: LiveSettings) {
        self.stop();
        *self = Self::start(client, settings);
    }

    /// Stops every task.
    pub fn stop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Drop for LiveSource {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends a notice when `text` differs from the previous one, so a failing watch that retries does
/// not repeat itself.
async fn notice_once(out: &mpsc::Sender<LiveMessage>, last: &mut Option<String>, text: String) {
    if last.as_ref() != Some(&text) {
        *last = Some(text.clone());
        let _ = out.send(LiveMessage::Notice(text)).await;
    }
}

/// Returns a watch error in one sentence, with the fix for a 403.
fn describe_watch_error(what: &str, scope: &str, error: &watcher::Error) -> String {
    let status = match error {
        watcher::Error::InitialListFailed(kube::Error::Api(status))
        | watcher::Error::WatchStartFailed(kube::Error::Api(status))
        | watcher::Error::WatchFailed(kube::Error::Api(status))
        | watcher::Error::WatchError(status) => Some(status.code),
        _ => None,
    };
    if status == Some(403) {
        format!(
            "cannot list or watch {what} in {scope}: forbidden; ask for list and watch on {what} there"
        )
    } else {
        format!("watching {what} in {scope} failed, retrying: {error}")
    }
}

async fn watch_pods(
    client: Client,
    settings: LiveSettings,
    mut fan_in: LogFanIn,
    out: mpsc::Sender<LiveMessage>,
) {
    let api: Api<Pod> = match settings.scope.namespace() {
        Some(namespace) => Api::namespaced(client, namespace),
        None => Api::all(client),
    };
    let mut events = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut pods: BTreeMap<(String, String), Pod> = BTreeMap::new();
    let mut relist: Option<BTreeMap<(String, String), Pod>> = None;
    let mut last_workloads: Option<Vec<MeshWorkload>> = None;
    let mut last_error = None;
    let scope = settings.scope.to_string();

    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::Init) => relist = Some(BTreeMap::new()),
            Ok(watcher::Event::InitApply(pod)) => {
                if let Some(buffer) = relist.as_mut() {
                    buffer.insert(pod_key(&pod), slim(pod));
                }
            }
            Ok(watcher::Event::InitDone) => pods = relist.take().unwrap_or_default(),
            Ok(watcher::Event::Apply(pod)) => {
                pods.insert(pod_key(&pod), slim(pod));
            }
            Ok(watcher::Event::Delete(pod)) => {
                pods.remove(&pod_key(&pod));
            }
            Err(error) => {
                let text = describe_watch_error("pods", &scope, &error);
                notice_once(&out, &mut last_error, text).await;
                continue;
            }
        }
        last_error = None;
        if relist.is_some() {
            continue;
        }
        let list: Vec<Pod> = pods.values().cloned().collect();
        let workloads = group_workloads(&list, &settings.trust_domain);
        if last_workloads.as_ref() != Some(&workloads) {
            fan_in.sync(log_targets(&workloads)).await;
            let _ = out.send(LiveMessage::Workloads(workloads.clone())).await;
            last_workloads = Some(workloads);
        }
    }
}

fn pod_key(pod: &Pod) -> (String, String) {
    (
        pod.metadata.namespace.clone().unwrap_or_default(),
        pod.metadata.name.clone().unwrap_or_default(),
    )
}

/// Drops the parts of a pod nothing here reads, which are most of its size.
fn slim(mut pod: Pod) -> Pod {
    pod.metadata.managed_fields = None;
    if let Some(annotations) = pod.metadata.annotations.as_mut() {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
    pod
}

/// Returns the namespaces to watch policies in: the scope and the root namespace.
fn policy_namespaces(settings: &LiveSettings) -> Vec<Option<String>> {
    match settings.scope.namespace() {
        None => vec![None],
        Some(namespace) if namespace == settings.root_namespace => {
            vec![Some(namespace.to_owned())]
        }
        Some(namespace) => vec![
            Some(namespace.to_owned()),
            Some(settings.root_namespace.clone()),
        ],
    }
}

/// Asks the API server which versions of the security group it serves.
async fn discover(
    client: &Client,
    out: &mpsc::Sender<LiveMessage>,
) -> Vec<(
    &'static str,
    Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList>,
)> {
    let mut discovered = Vec::new();
    for version in VERSIONS {
        let group_version = format!("{}/{version}", policies::GROUP);
        match client.list_api_group_resources(&group_version).await {
            Ok(list) => discovered.push((version, Some(list))),
            Err(kube::Error::Api(status)) if status.code == 404 => discovered.push((version, None)),
            Err(error) => {
                let text = format!(
                    "cannot read API discovery for {group_version}: {error}; policies from this version are not shown"
                );
                let _ = out.send(LiveMessage::Notice(text)).await;
                discovered.push((version, None));
            }
        }
    }
    discovered
}

async fn watch_policies(client: Client, settings: LiveSettings, out: mpsc::Sender<LiveMessage>) {
    let discovered = discover(&client, &out).await;
    let mut watches = Vec::new();
    for kind in PolicyKind::ALL {
        let Some(version) = policies::pick_version(kind, &discovered) else {
            continue;
        };
        let resource = kind.api_resource(version);
        for namespace in policy_namespaces(&settings) {
            let api: Api<DynamicObject> = match &namespace {
                Some(namespace) => Api::namespaced_with(client.clone(), namespace, &resource),
                None => Api::all_with(client.clone(), &resource),
            };
            let events = watcher(api, watcher::Config::default()).default_backoff();
            watches.push(
                events
                    .map(move |event| (kind, namespace.clone(), event))
                    .boxed(),
            );
        }
    }
    if watches.is_empty() {
        let text = "Istio security policies are not available: the API server serves no AuthorizationPolicy, RequestAuthentication or PeerAuthentication (security.istio.io v1 or v1beta1); install Istio's CRDs to see policies. Workloads and traffic are still shown".to_owned();
        let _ = out.send(LiveMessage::Notice(text)).await;
        return;
    }

    let mut store = PolicyStore::default();
    let mut relists: BTreeMap<(PolicyKind, Option<String>), Vec<Policy>> = BTreeMap::new();
    let mut last_errors: BTreeMap<(PolicyKind, Option<String>), Option<String>> = BTreeMap::new();
    let mut last_sent: Option<PolicySet> = None;
    let mut events = stream::select_all(watches);
    while let Some((kind, namespace, event)) = events.next().await {
        let key = (kind, namespace.clone());
        let decode = |object: &DynamicObject| policies::decode(kind, object);
        match event {
            Ok(watcher::Event::Init) => {
                relists.insert(key.clone(), Vec::new());
            }
            Ok(watcher::Event::InitApply(object)) => match decode(&object) {
                Ok(policy) => relists.entry(key.clone()).or_default().push(policy),
                Err(error) => {
                    let _ = out.send(LiveMessage::Notice(error.to_string())).await;
                }
            },
            Ok(watcher::Event::InitDone) => {
                let listed = relists.remove(&key).unwrap_or_default();
                store.replace(kind, namespace.as_deref(), listed);
            }
            Ok(watcher::Event::Apply(object)) => match decode(&object) {
                Ok(policy) => store.apply(policy),
                Err(error) => {
                    let _ = out.send(LiveMessage::Notice(error.to_string())).await;
                }
            },
            Ok(watcher::Event::Delete(object)) => {
                let namespace = object.metadata.namespace.clone().unwrap_or_default();
                let name = object.metadata.name.clone().unwrap_or_default();
                store.delete(kind, &namespace, &name);
            }
            Err(error) => {
                let scope = namespace.as_ref().map_or_else(
                    || "all namespaces".to_owned(),
                    |namespace| format!("namespace \"{namespace}\""),
                );
                let what = kind.plural();
                let text = describe_watch_error(what, &scope, &error);
                let last = last_errors.entry(key).or_default();
                notice_once(&out, last, text).await;
                continue;
            }
        }
        last_errors.remove(&key);
        if !relists.contains_key(&key) {
            let snapshot = store.snapshot();
            if last_sent.as_ref() != Some(&snapshot) {
                let _ = out.send(LiveMessage::Policies(snapshot.clone())).await;
                last_sent = Some(snapshot);
            }
        }
    }
}

async fn join_flows(
    mut lines: mpsc::Receiver<LogLine>,
    settings: LiveSettings,
    out: mpsc::Sender<LiveMessage>,
) {
    let mut parser = LogParser::new();
    let mut tracker = FlowTracker::new(settings.max_flows);
    let mut tick = tokio::time::interval(settings.flow_interval);
    let mut sent_counts = LineCounts::default();
    let mut too_long = 0;
    loop {
        tokio::select! {
            line = lines.recv() => {
                let Some(line) = line else { break };
                let target = &line.target;
                let Some(text) = &line.text else {
                    too_long += 1;
                    continue;
                };
                if let Ok(observation) = parser.parse_observation(text, &target.location, target.role) {
                    tracker.push(observation);
                }
            }
            _ = tick.tick() => {
                for flow in tracker.changed() {
                    if out.send(LiveMessage::Flow(Box::new(flow))).await.is_err() {
                        return;
                    }
                }
                let stats = parser.stats();
                let counts = LineCounts {
                    access: stats.parsed,
                    not_access_log: stats.not_access_log,
                    malformed: stats.malformed,
                    flows_evicted: tracker.evicted(),
                    duplicates_merged: tracker.duplicates(),
                    hops_dropped: tracker.hops_dropped(),
                    too_long,
                    credentials_logged: stats.credentials_logged,
                };
                if counts != sent_counts {
                    sent_counts = counts;
                    let _ = out.send(LiveMessage::Counts(counts)).await;
                }
            }
        }
    }
}
