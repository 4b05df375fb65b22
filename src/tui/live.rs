//! State fed by a live cluster: workloads, policies, stream health, denial counters, the context
//! and namespace, and the requests (`Effect`s) that only the event loop can carry out.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::mesh::crd::PolicySet;
use crate::mesh::scope::{AppliedPolicies, policies_for};
use crate::mesh::{MeshSettings, Verdict};
use crate::model::{Decision, Flow};
use crate::source::kube::{LineCounts, MeshWorkload, Proxy, StreamHealth, StreamStatus};

/// Ticks (seconds) over which the denial rate is measured.
pub const RATE_WINDOW_TICKS: u64 = 60;
/// Notices kept; older ones are dropped first.
const MAX_NOTICES: usize = 50;

/// A message from a live source, in the form [`super::update`] takes.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveUpdate {
    /// The full list of workloads in scope.
    Workloads(Vec<MeshWorkload>),
    /// The full set of policies.
    Policies(PolicySet),
    Stream(StreamStatus),
    Counts(LineCounts),
    /// A problem that does not stop the source, in one sentence with the fix.
    Notice(String),
    /// The source could not do what was asked (e.g. a context switch failed).
    Failed(String),
}

/// A request from [`super::update`] to the event loop, which owns the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Restart the source on another kubeconfig context, keeping the namespace.
    SwitchContext(String),
    /// Restart the source on another namespace; `None` for all namespaces.
    SwitchNamespace(Option<String>),
}

/// A list the user picks from with `enter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PickKind {
    Contexts,
    Namespaces,
}

/// A denial counter with the times of recent denials, for a rate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counter {
    pub total: u64,
    /// Ticks at which the denials of the last [`RATE_WINDOW_TICKS`] arrived.
    recent: VecDeque<u64>,
}

impl Counter {
    /// Denials per minute over the last [`RATE_WINDOW_TICKS`] ticks.
    pub fn per_minute(&self) -> usize {
        self.recent.len()
    }

    fn add(&mut self, tick: u64) {
        self.total += 1;
        self.recent.push_back(tick);
    }

    fn prune(&mut self, now: u64) {
        while self
            .recent
            .front()
            .is_some_and(|tick| now.saturating_sub(*tick) >= RATE_WINDOW_TICKS)
        {
            self.recent.pop_front();
        }
    }
}

/// Denials by the workload (hop location) and by the policy that denied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DenialStats {
    pub by_workload: BTreeMap<String, Counter>,
    /// Keyed by `NAMESPACE/NAME`, or by who decided when the hop names no policy.
    pub by_policy: BTreeMap<String, Counter>,
}

impl DenialStats {
    /// Counts the denying hops `after` has and `before` had not: a flow sent again with a late hop
    /// is counted once per hop.
    pub fn record(&mut self, before: Option<&Flow>, after: &Flow, tick: u64) {
        let old = before.map(deny_keys).unwrap_or_default();
        for key in deny_keys(after) {
            if old.contains(&key) {
                continue;
            }
            self.by_workload.entry(key.0).or_default().add(tick);
            self.by_policy.entry(key.1).or_default().add(tick);
        }
    }

    fn prune(&mut self, now: u64) {
        for counter in self
            .by_workload
            .values_mut()
            .chain(self.by_policy.values_mut())
        {
            counter.prune(now);
        }
    }

    /// Returns the counters with the most denials first, at most `limit`.
    pub fn top(map: &BTreeMap<String, Counter>, limit: usize) -> Vec<(&str, &Counter)> {
        let mut entries: Vec<(&str, &Counter)> = map
            .iter()
            .map(|(key, counter)| (key.as_str(), counter))
            .collect();
        entries.sort_by(|a, b| b.1.total.cmp(&a.1.total).then(a.0.cmp(b.0)));
        entries.truncate(limit);
        entries
    }
}

/// `(location, policy)` of each denying hop.
fn deny_keys(flow: &Flow) -> BTreeSet<(String, String)> {
    flow.hops
        .iter()
        .filter(|hop| hop.decision == Decision::Deny)
        .map(|hop| {
            let policy = hop
                .policy
                .clone()
                .unwrap_or_else(|| format!("({})", super::format::decided_by_word(hop.decided_by)));
            (hop.location.clone(), policy)
        })
        .collect()
}

/// The request the what-if sends to the selected workload, and the last verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct WhatIf {
    pub method: String,
    pub path: String,
    /// The verdict, or why there is none (no proxy, the simulation failed).
    pub result: Option<Result<Verdict, String>>,
}

impl Default for WhatIf {
    fn default() -> Self {
        Self {
            method: "GET".to_owned(),
            path: "/".to_owned(),
            result: None,
        }
    }
}

/// Everything the live source told the UI, and what the user chose about it.
#[derive(Debug, Default)]
pub struct LiveState {
    /// The kubeconfig context; `None` when the session is not live (demo, replay).
    pub context: Option<String>,
    /// The namespace watched; `None` for all namespaces.
    pub namespace: Option<String>,
    /// Contexts of the kubeconfig, for `:ctx`.
    pub contexts: Vec<String>,
    /// Namespaces seen in workloads and flows, for `:ns`.
    pub namespaces_seen: BTreeSet<String>,
    pub workloads: Vec<MeshWorkload>,
    pub policies: PolicySet,
    pub mesh: MeshSettings,
    /// The latest health of each log stream, keyed by `NAMESPACE/POD/CONTAINER`.
    pub streams: BTreeMap<String, StreamHealth>,
    pub counts: LineCounts,
    pub denials: DenialStats,
    /// While set, flows are collected into `held` and the Flows view stays as it is.
    pub paused: bool,
    pub held: Vec<crate::model::Flow>,
    /// Position of the selected row in the Workloads view.
    pub selected: usize,
    /// Position of the selected row in the `:ctx` or `:ns` list.
    pub pick_selected: usize,
    pub what_if: WhatIf,
    /// Seconds since the session started, counted by ticks.
    pub ticks: u64,
    /// Requests for the event loop, taken with [`super::App::take_effects`].
    pub effects: Vec<Effect>,
}

/// Stream counts by health, for the status line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamTally {
    pub live: usize,
    pub queued: usize,
    pub reconnecting: usize,
    pub ended: usize,
    pub forbidden: usize,
}

impl LiveState {
    /// Counts the streams by health.
    pub fn stream_tally(&self) -> StreamTally {
        let mut tally = StreamTally::default();
        for health in self.streams.values() {
            match health {
                StreamHealth::Live => tally.live += 1,
                StreamHealth::Queued => tally.queued += 1,
                StreamHealth::Reconnecting { .. } => tally.reconnecting += 1,
                StreamHealth::Ended { .. } => tally.ended += 1,
                StreamHealth::Forbidden { .. } => tally.forbidden += 1,
            }
        }
        tally
    }

    /// Returns the selected workload of the Workloads view.
    pub fn selected_workload(&self) -> Option<&MeshWorkload> {
        self.workloads.get(self.selected)
    }

    /// Returns the policies that apply to `workload`, or `None` when no Envoy proxy of its own
    /// enforces them (ztunnel, ambient and unmeshed pods).
    pub fn applied(&self, workload: &MeshWorkload) -> Option<AppliedPolicies> {
        let mesh = workload.to_mesh()?;
        Some(policies_for(&self.policies, &mesh, &self.mesh))
    }

    /// Returns the rows of the open pick list.
    pub fn pick_items(&self, kind: PickKind) -> Vec<String> {
        match kind {
            PickKind::Contexts => self.contexts.clone(),
            PickKind::Namespaces => self.namespaces_seen.iter().cloned().collect(),
        }
    }

    /// Forgets what the previous context or namespace showed.
    pub(super) fn reset_cluster_data(&mut self) {
        self.workloads.clear();
        self.policies = PolicySet::default();
        self.streams.clear();
        self.counts = LineCounts::default();
        self.denials = DenialStats::default();
        self.held.clear();
        self.selected = 0;
        self.what_if.result = None;
    }

    pub(super) fn apply(&mut self, update: LiveUpdate, notices: &mut Vec<String>) {
        match update {
            LiveUpdate::Workloads(workloads) => {
                self.namespaces_seen
                    .extend(workloads.iter().map(|w| w.namespace.clone()));
                self.workloads = workloads;
                self.selected = self.selected.min(self.workloads.len().saturating_sub(1));
            }
            LiveUpdate::Policies(policies) => self.policies = policies,
            LiveUpdate::Stream(status) => {
                self.streams.insert(status.stream, status.health);
            }
            LiveUpdate::Counts(counts) => self.counts = counts,
            LiveUpdate::Notice(text) | LiveUpdate::Failed(text) => {
                if !notices.contains(&text) {
                    if notices.len() >= MAX_NOTICES {
                        notices.remove(0);
                    }
                    notices.push(text);
                }
            }
        }
    }

    pub(super) fn tick(&mut self) {
        self.ticks += 1;
        self.denials.prune(self.ticks);
    }
}

/// Returns the kind column of the Workloads view: sidecar, gateway, waypoint, ztunnel, ambient or
/// none.
pub fn kind_label(proxy: Proxy) -> &'static str {
    match proxy {
        Proxy::Sidecar | Proxy::NativeSidecar => "sidecar",
        Proxy::Gateway | Proxy::KubernetesGateway => "gateway",
        Proxy::Waypoint => "waypoint",
        Proxy::Ztunnel => "ztunnel",
        Proxy::Ambient => "ambient",
        Proxy::None => "none",
    }
}

/// Returns `READY/TOTAL` pods: running, not terminating, and with a ready proxy when the workload
/// runs one in its pods.
pub fn pods_ready(workload: &MeshWorkload) -> String {
    let needs_proxy = workload.proxy.hop_role().is_some();
    let ready = workload
        .pods
        .iter()
        .filter(|pod| pod.phase == "Running" && !pod.terminating)
        .filter(|pod| pod.proxy_ready || !needs_proxy)
        .count();
    format!("{ready}/{}", workload.pods.len())
}

/// Returns the number of policies that apply to a workload, or `None` when it has no proxy that
/// enforces them.
pub fn policy_count(applied: Option<&AppliedPolicies>) -> Option<usize> {
    applied.map(|applied| {
        applied.authorization.len()
            + applied.request_authentication.len()
            + applied.peer_authentication.sources.len()
    })
}
