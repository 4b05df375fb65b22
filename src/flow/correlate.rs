//! The [`Correlator`]: joins observations into flows as they arrive, keeps flows open for late records,
//! and bounds how many flows it keeps.
//!
//! Join rules, strongest first:
//! 1. The edge request id (`DataStream 2` `reqId`, forwarded to the mesh in `x-edge-request-id`).
//! 2. Envoy's `x-request-id`. An Envoy gateway passes it on to the sidecar, so a mesh record without the
//!    edge request id joins the flow of a record that shares its `x-request-id` and has one.
//! 3. Only for a record that no id joined: the same method, path (query string ignored) and client
//!    address, with start times at most [`HEURISTIC_WINDOW_MS`](super::HEURISTIC_WINDOW_MS) apart.
//!    The flow must have no id of a kind the record carries and no hop at the record's place.
//!
//! A record whose keys match several flows merges them into one. A record identical to one a kept flow
//! already has (a log read twice, a tail replayed after a reconnect), ids included, is merged into it and counted, not
//! added as a second hop. A flow takes at most [`MAX_HOPS_PER_FLOW`] records; further ones are dropped
//! and counted.

use std::collections::{BTreeSet, HashMap};

use super::Observation;
use super::build::{build_flow, hop_order, time_ms};
use super::heuristic::{Class, HeuristicIndex, non_empty};
use crate::model::{CorrelationKey, Flow, HopKind};

/// The largest number of records one flow keeps. A real request passes the edge, a gateway and a few sidecars or
/// waypoints, far fewer than this. Past it the records are repeats of one id (a client resending a
/// fixed `x-request-id`), and each added record would cost a re-sort and new findings for the whole
/// flow, so time would grow with the square of the records. Dropping them keeps it linear.
pub const MAX_HOPS_PER_FLOW: usize = 64;

/// The fields that make two records the same record: where and when it ran, the request, the verdict
/// as logged, and the ids. Two records with an id that are equal in all of them are one record read
/// twice. Records without an id have no key: two requests without ids can share all the other fields
/// (a burst at one millisecond), so they stay apart.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct RecordKey {
    kind: HopKind,
    location: String,
    time: Option<String>,
    method: Option<String>,
    path: Option<String>,
    authority: Option<String>,
    client_ip: Option<String>,
    status: u16,
    reason: Option<String>,
    details: Option<String>,
    edge_request_id: Option<String>,
    request_id: Option<String>,
}

impl RecordKey {
    /// Returns the key of one record, or `None` when it carries no id.
    fn of(observation: &Observation) -> Option<Self> {
        if non_empty(observation.edge_request_id.as_ref()).is_none()
            && non_empty(observation.request_id.as_ref()).is_none()
        {
            return None;
        }
        Some(Self {
            kind: observation.hop.kind,
            location: observation.hop.location.clone(),
            time: observation.hop.time.clone(),
            method: observation.method.clone(),
            path: observation.path.clone(),
            authority: observation.authority.clone(),
            client_ip: observation.client_ip.clone(),
            status: observation.hop.status,
            reason: observation.hop.reason.clone(),
            details: observation.hop.details.clone(),
            edge_request_id: observation.edge_request_id.clone(),
            request_id: observation.request_id.clone(),
        })
    }
}

/// A flow that may still receive records.
#[derive(Debug, Clone)]
struct OpenFlow {
    /// Creation order, which breaks ties between flows with equal times.
    seq: u64,
    /// The joined records, in hop order.
    observations: Vec<Observation>,
    edge_ids: BTreeSet<String>,
    request_ids: BTreeSet<String>,
    /// Whether any record joined this flow by the heuristic rather than by an id.
    heuristic: bool,
    /// The finished flow, rebuilt (findings included) whenever a record joins.
    flow: Flow,
}

impl OpenFlow {
    /// Returns the eviction and listing key: start time, then creation order. A flow without a
    /// readable time sorts as the oldest.
    fn age_key(&self) -> (Option<i64>, u64) {
        (time_ms(self.flow.time.as_deref()), self.seq)
    }

    /// Returns what the heuristic join checks before it adds a record to this flow.
    fn class(&self) -> Class {
        Class::new(
            &self.observations,
            !self.edge_ids.is_empty(),
            !self.request_ids.is_empty(),
        )
    }

    /// Re-sorts the hops, keeps the first [`MAX_HOPS_PER_FLOW`] and rebuilds the flow and its
    /// findings. Returns how many records were dropped.
    ///
    /// This costs O(k log k) for a flow of k records, and k is at most [`MAX_HOPS_PER_FLOW`], or twice
    /// that right after two full flows merged.
    fn rebuild(&mut self) -> u64 {
        self.observations.sort_by(hop_order);
        let dropped = self.observations.len().saturating_sub(MAX_HOPS_PER_FLOW);
        self.observations.truncate(MAX_HOPS_PER_FLOW);
        let key = if self.observations.len() < 2 {
            CorrelationKey::None
        } else if self.heuristic {
            CorrelationKey::Heuristic
        } else if self.edge_ids.is_empty() {
            CorrelationKey::XRequestId
        } else {
            CorrelationKey::EdgeRequestId
        };
        self.flow = build_flow(&self.observations, key);
        u64::try_from(dropped).unwrap_or(u64::MAX)
    }
}

/// Joins observations into flows as they arrive, for live use.
///
/// Flows stay open: `DataStream 2` delivers edge records in batches, often 30 s or more after the mesh
/// logged the same request, and a late record still joins its flow as long as that flow is kept. At
/// most `max_flows` flows are kept; past that the oldest by start time is dropped and counted.
#[derive(Debug)]
pub struct Correlator {
    max_flows: usize,
    next_seq: u64,
    open: HashMap<u64, OpenFlow>,
    by_edge_id: HashMap<String, u64>,
    by_request_id: HashMap<String, u64>,
    heuristic: HeuristicIndex,
    by_age: BTreeSet<(Option<i64>, u64)>,
    /// The kept flows' records, to find a record read twice.
    by_record: HashMap<RecordKey, u64>,
    evicted: u64,
    duplicates: u64,
    hops_dropped: u64,
}

impl Correlator {
    /// Creates a correlator that keeps at most `max_flows` flows (at least one).
    pub fn new(max_flows: usize) -> Self {
        Self {
            max_flows: max_flows.max(1),
            next_seq: 0,
            open: HashMap::new(),
            by_edge_id: HashMap::new(),
            by_request_id: HashMap::new(),
            heuristic: HeuristicIndex::default(),
            by_age: BTreeSet::new(),
            by_record: HashMap::new(),
            evicted: 0,
            duplicates: 0,
            hops_dropped: 0,
        }
    }

    /// Adds one record: it joins (and may merge) the flows its keys match, or starts a flow of its own.
    /// The changed flow's findings are recomputed. When that makes one flow too many, the oldest is
    /// evicted, which can be the one just started when its record is older than every kept flow.
    ///
    /// A record identical to one a kept flow has is counted in [`Correlator::duplicates`] and changes
    /// nothing. A record that would give a flow more than [`MAX_HOPS_PER_FLOW`] hops is counted in
    /// [`Correlator::hops_dropped`] instead. The flow keeps the hops it has, and after a merge the first
    /// in hop order.
    ///
    /// Returns the flow the record is now in, or `None` when that flow was the one evicted. Flows
    /// merged into it are gone; their ids now lead to it.
    pub fn push(&mut self, observation: Observation) -> Option<&Flow> {
        let key = RecordKey::of(&observation);
        if let Some(&seq) = key.as_ref().and_then(|key| self.by_record.get(key)) {
            self.duplicates += 1;
            return self.open.get(&seq).map(|open| &open.flow);
        }
        let mut matched = self.id_matches(&observation);
        let heuristic = matched.is_empty();
        if heuristic {
            matched.extend(self.heuristic.nearest(&observation));
        }

        // A full flow takes no more records. Checking before it is detached keeps a dropped record
        // at O(1), so a flood of records sharing one id costs linear time.
        if matched.len() == 1
            && let Some(&seq) = matched.first()
            && self
                .open
                .get(&seq)
                .is_some_and(|open| open.observations.len() >= MAX_HOPS_PER_FLOW)
        {
            self.hops_dropped += 1;
            return self.open.get(&seq).map(|open| &open.flow);
        }

        let mut flow = match matched.pop_first() {
            Some(seq) => self.detach(seq),
            None => self.start_flow(),
        };
        for seq in matched {
            let other = self.detach(seq);
            flow.observations.extend(other.observations);
            flow.edge_ids.extend(other.edge_ids);
            flow.request_ids.extend(other.request_ids);
            flow.heuristic |= other.heuristic;
        }

        if let Some(id) = non_empty(observation.edge_request_id.as_ref()) {
            flow.edge_ids.insert(id.clone());
        }
        if let Some(id) = non_empty(observation.request_id.as_ref()) {
            flow.request_ids.insert(id.clone());
        }
        // A record that starts a flow alone has joined nothing, so it does not count as heuristic.
        flow.heuristic |= heuristic && !flow.observations.is_empty();
        flow.observations.push(observation);
        self.hops_dropped += flow.rebuild();

        let seq = flow.seq;
        self.attach(flow);
        self.evict_over_bound();
        self.open.get(&seq).map(|open| &open.flow)
    }

    /// Returns the kept flows, oldest first.
    pub fn flows(&self) -> Vec<Flow> {
        self.by_age
            .iter()
            .filter_map(|(_, seq)| self.open.get(seq))
            .map(|open| open.flow.clone())
            .collect()
    }

    /// Returns how many flows are kept.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// Returns true when no flow is kept.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Returns how many flows were dropped to stay within the bound.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Returns how many records were merged into an identical record of a kept flow.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Returns how many records were dropped because their flow had [`MAX_HOPS_PER_FLOW`] hops.
    pub fn hops_dropped(&self) -> u64 {
        self.hops_dropped
    }

    /// Returns how many records of kept flows the heuristic join has read as candidates so far. It
    /// measures the join's work: at most two per class of flow that a record could join.
    pub fn heuristic_comparisons(&self) -> u64 {
        self.heuristic.comparisons()
    }

    /// Returns the flows that share the record's edge request id or `x-request-id`.
    fn id_matches(&self, observation: &Observation) -> BTreeSet<u64> {
        let by_edge =
            non_empty(observation.edge_request_id.as_ref()).and_then(|id| self.by_edge_id.get(id));
        let by_request =
            non_empty(observation.request_id.as_ref()).and_then(|id| self.by_request_id.get(id));
        by_edge.into_iter().chain(by_request).copied().collect()
    }

    fn start_flow(&mut self) -> OpenFlow {
        let seq = self.next_seq;
        self.next_seq += 1;
        OpenFlow {
            seq,
            observations: Vec::new(),
            edge_ids: BTreeSet::new(),
            request_ids: BTreeSet::new(),
            heuristic: false,
            flow: build_flow(&[], CorrelationKey::None),
        }
    }

    /// Adds a flow to the indexes.
    fn attach(&mut self, open: OpenFlow) {
        let seq = open.seq;
        for id in &open.edge_ids {
            self.by_edge_id.insert(id.clone(), seq);
        }
        for id in &open.request_ids {
            self.by_request_id.insert(id.clone(), seq);
        }
        self.heuristic
            .insert(&open.class(), &open.observations, seq);
        for key in open.observations.iter().filter_map(RecordKey::of) {
            self.by_record.insert(key, seq);
        }
        self.by_age.insert(open.age_key());
        self.open.insert(seq, open);
    }

    /// Removes a flow from the indexes and returns it. The callers pass only kept flows, and an unknown
    /// `seq` gives a new empty flow rather than a panic.
    fn detach(&mut self, seq: u64) -> OpenFlow {
        let Some(open) = self.open.remove(&seq) else {
            return self.start_flow();
        };
        for id in &open.edge_ids {
            self.by_edge_id.remove(id);
        }
        for id in &open.request_ids {
            self.by_request_id.remove(id);
        }
        self.heuristic
            .remove(&open.class(), &open.observations, seq);
        for key in open.observations.iter().filter_map(RecordKey::of) {
            self.by_record.remove(&key);
        }
        self.by_age.remove(&open.age_key());
        open
    }

    fn evict_over_bound(&mut self) {
        while self.open.len() > self.max_flows {
            let Some(&(_, seq)) = self.by_age.first() else {
                break;
            };
            self.detach(seq);
            self.evicted += 1;
        }
    }
}
