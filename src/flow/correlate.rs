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
//! A record whose keys match several flows merges them into one.

use std::collections::{BTreeSet, HashMap};

use super::Observation;
use super::build::{build_flow, hop_order, time_ms};
use super::heuristic::{Class, HeuristicIndex, non_empty};
use crate::model::{CorrelationKey, Flow};

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

    /// Re-sorts the hops and rebuilds the flow and its findings.
    ///
    /// NOTE: this costs O(k log k) for a flow of k records and nothing caps k, so many records that
    /// share one id (a client resending a fixed `x-request-id`) still take quadratic time in total.
    fn rebuild(&mut self) {
        self.observations.sort_by(hop_order);
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
    evicted: u64,
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
            evicted: 0,
        }
    }

    /// Adds one record: it joins (and may merge) the flows its keys match, or starts a flow of its own.
    /// The changed flow's findings are recomputed. When that makes one flow too many, the oldest is
    /// evicted, which can be the one just started when its record is older than every kept flow.
    ///
    /// Returns the flow the record is now in, or `None` when that flow was the one evicted. Flows
    /// merged into it are gone; their ids now lead to it.
    pub fn push(&mut self, observation: Observation) -> Option<&Flow> {
        let mut matched = self.id_matches(&observation);
        let heuristic = matched.is_empty();
        if heuristic {
            matched.extend(self.heuristic.nearest(&observation));
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
        flow.rebuild();

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
