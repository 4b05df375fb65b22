//! The [`Correlator`]: joins observations into flows as they arrive, keeps flows open for late records,
//! and bounds how many flows it keeps.
//!
//! Join rules, strongest first:
//! 1. The edge request id (`DataStream 2` `reqId`, forwarded to the mesh in `x-edge-request-id`).
//! 2. Envoy's `x-request-id`. An Envoy gateway passes it on to the sidecar, so a mesh record without the
//!    edge request id joins the flow of a record that shares its `x-request-id` and has one.
//! 3. Only for a record that no id joined: the same method, path (query string ignored) and client
//!    address, with start times at most [`HEURISTIC_WINDOW_MS`] apart.
//!
//! A record whose keys match several flows merges them into one.

use std::collections::{BTreeSet, HashMap};

use super::Observation;
use super::build::{build_flow, hop_order, time_ms};
use crate::model::{CorrelationKey, Flow};

/// Largest distance between the start times of two records that the heuristic join accepts, in
/// milliseconds. The edge stamps the time it received the request and each proxy the time it did, so
/// the records of one request lie within network latency of each other. 5 s is an estimate that leaves
/// room for slow origins and clock skew between the edge and the cluster.
pub const HEURISTIC_WINDOW_MS: i64 = 5_000;

/// Heuristic join key besides time: method, path without its query string, and client address.
type Shape = (String, String, String);

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

    /// Re-sorts the hops and rebuilds the flow and its findings.
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
    /// Records that the heuristic can join, as (start time in ms, flow) per shape.
    by_shape: HashMap<Shape, BTreeSet<(i64, u64)>>,
    by_age: BTreeSet<(Option<i64>, u64)>,
    evicted: u64,
}

/// Returns the value when it is present and not empty.
fn non_empty(value: Option<&String>) -> Option<&String> {
    value.filter(|text| !text.is_empty())
}

/// Returns the heuristic join key and start time of a record, when it logged all of them.
fn shape(observation: &Observation) -> Option<(Shape, i64)> {
    let time = time_ms(observation.hop.time.as_deref())?;
    let method = non_empty(observation.method.as_ref())?;
    let path = non_empty(observation.path.as_ref())?;
    let client_ip = non_empty(observation.client_ip.as_ref())?;
    let path = path.split_once('?').map_or(path.as_str(), |(bare, _)| bare);
    Some(((method.clone(), path.to_owned(), client_ip.clone()), time))
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
            by_shape: HashMap::new(),
            by_age: BTreeSet::new(),
            evicted: 0,
        }
    }

    /// Adds one record: it joins (and may merge) the flows its keys match, or starts a flow of its own.
    /// The changed flow's findings are recomputed. When that makes one flow too many, the oldest is
    /// evicted, which can be the one just started when its record is older than every kept flow.
    pub fn push(&mut self, observation: Observation) {
        let mut matched = self.id_matches(&observation);
        let heuristic = matched.is_empty();
        if heuristic {
            matched.extend(self.heuristic_match(&observation));
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

        self.attach(flow);
        self.evict_over_bound();
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

    /// Returns the flows that share the record's edge request id or `x-request-id`.
    fn id_matches(&self, observation: &Observation) -> BTreeSet<u64> {
        let by_edge =
            non_empty(observation.edge_request_id.as_ref()).and_then(|id| self.by_edge_id.get(id));
        let by_request =
            non_empty(observation.request_id.as_ref()).and_then(|id| self.by_request_id.get(id));
        by_edge.into_iter().chain(by_request).copied().collect()
    }

    /// Returns the flow the heuristic join puts the record in: the one with the nearest start time
    /// among the flows of the same shape that have no conflicting id and no hop at the same place.
    fn heuristic_match(&self, observation: &Observation) -> Option<u64> {
        let (key, time) = shape(observation)?;
        let edge_id = non_empty(observation.edge_request_id.as_ref());
        let request_id = non_empty(observation.request_id.as_ref());
        let window =
            (time - HEURISTIC_WINDOW_MS, u64::MIN)..=(time + HEURISTIC_WINDOW_MS, u64::MAX);

        let mut best: Option<(i64, u64)> = None;
        for &(joined_time, seq) in self.by_shape.get(&key)?.range(window) {
            let Some(open) = self.open.get(&seq) else {
                continue;
            };
            // The id did not match this flow, so a flow that has ids of the same kind is another request.
            let conflicts = (edge_id.is_some() && !open.edge_ids.is_empty())
                || (request_id.is_some() && !open.request_ids.is_empty());
            let same_place = open.observations.iter().any(|joined| {
                joined.hop.kind == observation.hop.kind
                    && joined.hop.location == observation.hop.location
            });
            let candidate = ((joined_time - time).abs(), seq);
            if !conflicts && !same_place && best.is_none_or(|current| candidate < current) {
                best = Some(candidate);
            }
        }
        best.map(|(_, seq)| seq)
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
        for (key, time) in open.observations.iter().filter_map(shape) {
            self.by_shape.entry(key).or_default().insert((time, seq));
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
        for (key, time) in open.observations.iter().filter_map(shape) {
            if let Some(entries) = self.by_shape.get_mut(&key) {
                entries.remove(&(time, seq));
                if entries.is_empty() {
                    self.by_shape.remove(&key);
                }
            }
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
