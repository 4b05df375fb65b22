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
//!
//! The correlator stores each flow's records once and builds the [`Flow`] value, findings included,
//! only when a caller asks for it. A record that joins one flow updates the indexes with its own keys.
//! Only a merge or an eviction removes a whole flow from them.

use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use super::Observation;
use super::build::{build_flow, flow_id, hop_order};
use super::changes::{ChangeLog, Pending, Slot};
use super::class::ClassId;
use super::heuristic::{HeuristicIndex, non_empty};
use super::record::Record;
use crate::model::{CorrelationKey, Flow};

/// The largest number of records one flow keeps. A real request passes the edge, a gateway and a few sidecars or
/// waypoints, far fewer than this. Past it the records are repeats of one id (a client resending a
/// fixed `x-request-id`), and each added record would cost an insertion among the flow's records and
/// new findings for the whole flow whenever it is built, so time would grow with the square of the
/// records. Dropping them keeps it linear.
pub const MAX_HOPS_PER_FLOW: usize = 64;

/// A hasher for flow sequence numbers. They are assigned in order and never come from input, so a
/// multiplication spreads them over the table at a fraction of the default hasher's cost.
#[derive(Debug, Default, Clone, Copy)]
struct SeqHasher(u64);

impl Hasher for SeqHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(self.0.rotate_left(8) ^ u64::from(byte));
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type BySeq<V> = HashMap<u64, V, BuildHasherDefault<SeqHasher>>;

/// A flow that may still receive records.
#[derive(Debug)]
struct OpenFlow {
    /// Creation order, which breaks ties between flows with equal times.
    seq: u64,
    /// The joined records, in hop order.
    records: Vec<Record>,
    /// The distinct non-empty edge request ids of every record that joined, including records
    /// dropped past [`MAX_HOPS_PER_FLOW`].
    edge_ids: Vec<String>,
    /// The same for `x-request-id`.
    request_ids: Vec<String>,
    /// Whether any record joined this flow by the heuristic rather than by an id.
    heuristic: bool,
    class: ClassId,
    /// The earliest start time of the records, in ms, which orders flows for listing and eviction.
    age: Option<i64>,
    /// The flow's entry in the change log, when it has one.
    changed: Option<Slot>,
}

impl OpenFlow {
    /// Returns the eviction and listing key: start time, then creation order. A flow without a
    /// readable time sorts as the oldest.
    fn age_key(&self) -> (Option<i64>, u64) {
        (self.age, self.seq)
    }

    /// Returns the key that joined the records, as the built flow reports it.
    fn correlated_by(&self) -> CorrelationKey {
        if self.records.len() < 2 {
            CorrelationKey::None
        } else if self.heuristic {
            CorrelationKey::Heuristic
        } else if self.edge_ids.is_empty() {
            CorrelationKey::XRequestId
        } else {
            CorrelationKey::EdgeRequestId
        }
    }

    /// Builds the flow and its findings.
    fn build(&self) -> Flow {
        build_flow(&self.records, self.correlated_by())
    }

    /// Adds the record's ids to the flow's and returns the ones that are new to it.
    fn add_ids(&mut self, record: &Record) -> [Option<(IdKind, String)>; 2] {
        let observation = &record.observation;
        let mut added = [None, None];
        for (slot, (kind, id)) in added.iter_mut().zip([
            (IdKind::Edge, observation.edge_request_id.as_ref()),
            (IdKind::Request, observation.request_id.as_ref()),
        ]) {
            let Some(id) = non_empty(id) else {
                continue;
            };
            let ids = match kind {
                IdKind::Edge => &mut self.edge_ids,
                IdKind::Request => &mut self.request_ids,
            };
            if !ids.contains(id) {
                ids.push(id.clone());
                *slot = Some((kind, id.clone()));
            }
        }
        added
    }
}

#[derive(Debug, Clone, Copy)]
enum IdKind {
    Edge,
    Request,
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
    open: BySeq<OpenFlow>,
    by_edge_id: HashMap<String, u64>,
    by_request_id: HashMap<String, u64>,
    heuristic: HeuristicIndex,
    by_age: BTreeSet<(Option<i64>, u64)>,
    /// The flows changed since the last [`Correlator::take_changed`], when the caller asked for them.
    changes: Option<ChangeLog>,
    /// The flow [`Correlator::push`] returns a reference to.
    pushed: Option<Flow>,
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
            open: BySeq::default(),
            by_edge_id: HashMap::new(),
            by_request_id: HashMap::new(),
            heuristic: HeuristicIndex::default(),
            by_age: BTreeSet::new(),
            changes: None,
            pushed: None,
            evicted: 0,
            duplicates: 0,
            hops_dropped: 0,
        }
    }

    /// Creates a correlator like [`Correlator::new`] that also remembers which flows each record
    /// changed, for [`Correlator::take_changed`].
    pub fn with_change_log(max_flows: usize) -> Self {
        Self {
            changes: Some(ChangeLog::default()),
            ..Self::new(max_flows)
        }
    }

    /// Adds one record like [`Correlator::add`] and returns the flow the record is now in, built
    /// with its findings, or `None` when that flow was the one evicted. Flows merged into it are
    /// gone, and their ids now lead to it.
    ///
    /// Building the flow costs more than adding the record. A caller that does not read every
    /// flow it changes should use [`Correlator::add`].
    pub fn push(&mut self, observation: Observation) -> Option<&Flow> {
        let seq = self.insert(Record::new(observation))?;
        self.pushed = self.open.get(&seq).map(OpenFlow::build);
        self.pushed.as_ref()
    }

    /// Adds one record: it joins (and may merge) the flows its keys match, or starts a flow of its own.
    /// When that makes one flow too many, the oldest is evicted, which can be the one just started
    /// when its record is older than every kept flow.
    ///
    /// A record identical to one a kept flow has is counted in [`Correlator::duplicates`] and changes
    /// nothing. A record that would give a flow more than [`MAX_HOPS_PER_FLOW`] hops is counted in
    /// [`Correlator::hops_dropped`] instead. The flow keeps the hops it has, and after a merge the first
    /// in hop order.
    ///
    /// Returns false when the record's flow was the one evicted. The flow is built when a caller asks
    /// for it ([`Correlator::flows`], [`Correlator::take_changed`]).
    pub fn add(&mut self, observation: Observation) -> bool {
        self.insert(Record::new(observation)).is_some()
    }

    /// Adds one record and returns the sequence number of its flow, or `None` when that flow was
    /// evicted.
    pub(super) fn insert(&mut self, record: Record) -> Option<u64> {
        let (by_edge, by_request) = self.id_matches(&record.observation);
        if record.has_id()
            && let Some(seq) = [by_edge, by_request]
                .into_iter()
                .flatten()
                .find(|seq| self.has_copy(*seq, &record))
        {
            self.duplicates += 1;
            self.note_change(seq);
            return Some(seq);
        }

        let by_id = match (by_edge, by_request) {
            (Some(a), Some(b)) if a != b => Some((a.min(b), Some(a.max(b)))),
            (Some(seq), _) | (None, Some(seq)) => Some((seq, None)),
            (None, None) => None,
        };
        let heuristic = by_id.is_none();
        let matched = by_id.or_else(|| self.heuristic.nearest(&record).map(|seq| (seq, None)));

        let seq = match matched {
            None => self.start_flow(record),
            Some((seq, None)) => {
                // A full flow takes no more records, which keeps a flood of records sharing one id
                // at O(1) each.
                if self
                    .open
                    .get(&seq)
                    .is_some_and(|open| open.records.len() >= MAX_HOPS_PER_FLOW)
                {
                    self.hops_dropped += 1;
                    self.note_change(seq);
                    return Some(seq);
                }
                self.join(seq, record, heuristic);
                seq
            }
            Some((seq, Some(other))) => {
                self.merge(seq, other, record);
                seq
            }
        };

        self.evict_over_bound();
        if !self.open.contains_key(&seq) {
            return None;
        }
        self.note_change(seq);
        Some(seq)
    }

    /// Returns the kept flows, oldest first.
    pub fn flows(&self) -> Vec<Flow> {
        self.by_age
            .iter()
            .filter_map(|(_, seq)| self.open.get(seq))
            .map(OpenFlow::build)
            .collect()
    }

    /// Returns the flows that are new or changed since the last call, in the order their ids first
    /// changed, each in its latest form. A flow merged into another or evicted since the last call is
    /// returned in its last form. A flow that changed id is returned once per id.
    ///
    /// Returns nothing for a correlator made with [`Correlator::new`], which does not keep this log.
    pub fn take_changed(&mut self) -> Vec<Flow> {
        let Some(changes) = self.changes.as_mut() else {
            return Vec::new();
        };
        changes
            .take()
            .into_iter()
            .filter_map(|pending| match pending {
                Pending::Open(seq) => self.open.get(&seq).map(OpenFlow::build),
                Pending::Built(flow) => Some(flow),
            })
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

    /// Returns the flows that have the record's edge request id and its `x-request-id`.
    fn id_matches(&self, observation: &Observation) -> (Option<u64>, Option<u64>) {
        let by_edge =
            non_empty(observation.edge_request_id.as_ref()).and_then(|id| self.by_edge_id.get(id));
        let by_request =
            non_empty(observation.request_id.as_ref()).and_then(|id| self.by_request_id.get(id));
        (by_edge.copied(), by_request.copied())
    }

    /// Returns true when flow `seq` has a copy of the record.
    ///
    /// A copy carries the same ids, and every id of a kept record leads to the record's flow, so
    /// the flows of the record's ids are the only ones that can hold a copy.
    fn has_copy(&self, seq: u64, record: &Record) -> bool {
        self.open
            .get(&seq)
            .is_some_and(|open| open.records.iter().any(|kept| record.is_copy_of(kept)))
    }

    /// Starts a flow with the record and returns its sequence number.
    fn start_flow(&mut self, record: Record) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut open = OpenFlow {
            seq,
            records: Vec::with_capacity(1),
            edge_ids: Vec::new(),
            request_ids: Vec::new(),
            heuristic: false,
            class: 0,
            age: record.time_ms,
            changed: None,
        };
        let observation = &record.observation;
        open.edge_ids
            .extend(non_empty(observation.edge_request_id.as_ref()).cloned());
        open.request_ids
            .extend(non_empty(observation.request_id.as_ref()).cloned());
        open.records.push(record);
        self.attach(open);
        seq
    }

    /// Adds the record to flow `seq`, which has room for it, and updates the indexes with the
    /// record's keys. `heuristic` is true when the heuristic join matched the flow.
    fn join(&mut self, seq: u64, record: Record, heuristic: bool) {
        let Some(open) = self.open.get_mut(&seq) else {
            return;
        };
        if let Some(changes) = self.changes.as_mut()
            && let Some(slot) = changes.entry_of(open.changed, seq)
            && flow_id(open.records.iter().chain([&record])) != changes.id(slot)
        {
            changes.freeze(slot, open.build());
        }

        // Inserting after the records that do not follow it gives the order a stable sort of the
        // old records followed by this one gives.
        let at = open
            .records
            .partition_point(|kept| hop_order(kept, &record).is_le());
        // Growing by one while the flow is small keeps the two records of a typical request in
        // room for two, not the four that doubling from one would give.
        if open.records.len() < 4 {
            open.records.reserve_exact(1);
        }
        let added = open.add_ids(&record);
        open.heuristic |= heuristic;
        for (kind, id) in added.into_iter().flatten() {
            match kind {
                IdKind::Edge => self.by_edge_id.insert(id, seq),
                IdKind::Request => self.by_request_id.insert(id, seq),
            };
        }

        let hop = &record.observation.hop;
        let (has_edge_id, has_request_id) =
            (!open.edge_ids.is_empty(), !open.request_ids.is_empty());
        let classes = &self.heuristic.classes;
        if classes.keeps(
            open.class,
            hop.kind,
            &hop.location,
            has_edge_id,
            has_request_id,
        ) {
            self.heuristic
                .insert(open.class, std::slice::from_ref(&record), seq);
            open.records.insert(at, record);
        } else {
            let old_class = open.class;
            open.records.insert(at, record);
            open.class = self
                .heuristic
                .classes
                .acquire(&open.records, has_edge_id, has_request_id);
            let (before, after) = open.records.split_at(at);
            let (added, after) = after.split_at(1);
            self.heuristic
                .reclassify(old_class, open.class, before, seq);
            self.heuristic.reclassify(old_class, open.class, after, seq);
            self.heuristic.insert(open.class, added, seq);
            self.heuristic.classes.release(old_class);
        }

        let age = open.records.iter().filter_map(|kept| kept.time_ms).min();
        if age != open.age {
            self.by_age.remove(&open.age_key());
            open.age = age;
            self.by_age.insert(open.age_key());
        }
    }

    /// Merges flow `other` into flow `seq`, adds the record, and keeps the first
    /// [`MAX_HOPS_PER_FLOW`] records in hop order.
    fn merge(&mut self, seq: u64, other: u64, record: Record) {
        let (Some(mut open), Some(other)) = (self.detach(seq), self.detach(other)) else {
            return;
        };
        open.records.extend(other.records);
        open.edge_ids.extend(other.edge_ids);
        open.request_ids.extend(other.request_ids);
        open.heuristic |= other.heuristic;
        open.add_ids(&record);
        open.records.push(record);

        open.records.sort_by(hop_order);
        let dropped = open.records.len().saturating_sub(MAX_HOPS_PER_FLOW);
        open.records.truncate(MAX_HOPS_PER_FLOW);
        self.hops_dropped += u64::try_from(dropped).unwrap_or(u64::MAX);
        open.age = open.records.iter().filter_map(|kept| kept.time_ms).min();
        self.attach(open);
    }

    /// Adds a flow to the indexes.
    fn attach(&mut self, mut open: OpenFlow) {
        let seq = open.seq;
        for id in &open.edge_ids {
            self.by_edge_id.insert(id.clone(), seq);
        }
        for id in &open.request_ids {
            self.by_request_id.insert(id.clone(), seq);
        }
        open.class = self.heuristic.classes.acquire(
            &open.records,
            !open.edge_ids.is_empty(),
            !open.request_ids.is_empty(),
        );
        self.heuristic.insert(open.class, &open.records, seq);
        self.by_age.insert(open.age_key());
        self.open.insert(seq, open);
    }

    /// Removes a flow from the indexes and returns it. When the change log waits for the flow, the
    /// flow's current form goes into the log first.
    fn detach(&mut self, seq: u64) -> Option<OpenFlow> {
        let open = self.open.remove(&seq)?;
        for id in &open.edge_ids {
            self.by_edge_id.remove(id);
        }
        for id in &open.request_ids {
            self.by_request_id.remove(id);
        }
        self.heuristic.remove(open.class, &open.records, seq);
        self.heuristic.classes.release(open.class);
        self.by_age.remove(&open.age_key());
        if let Some(changes) = self.changes.as_mut()
            && let Some(slot) = changes.entry_of(open.changed, seq)
        {
            changes.freeze(slot, open.build());
        }
        Some(open)
    }

    /// Records in the change log, when there is one, that flow `seq` changed.
    fn note_change(&mut self, seq: u64) {
        let (Some(changes), Some(open)) = (self.changes.as_mut(), self.open.get_mut(&seq)) else {
            return;
        };
        let id = flow_id(open.records.iter());
        open.changed = Some(changes.record(seq, &id, open.changed));
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
