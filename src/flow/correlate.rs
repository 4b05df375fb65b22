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

use std::collections::BTreeSet;

use super::Observation;
use super::build::{build_flow, flow_id, hop_order};
use super::changes::{ChangeLog, Pending, Slot};
use super::class::ClassId;
use super::heuristic::HeuristicIndex;
use super::index::{IdHasher, IdIndex, SpreadMap};
use super::record::{IdKind, Record};
use crate::model::{CorrelationKey, Flow};

/// The largest number of records one flow keeps. A real request passes the edge, a gateway and a few sidecars or
/// waypoints, far fewer than this. Past it the records are repeats of one id (a client resending a
/// fixed `x-request-id`), and each added record would cost an insertion among the flow's records and
/// new findings for the whole flow whenever it is built, so time would grow with the square of the
/// records. Dropping them keeps it linear.
pub const MAX_HOPS_PER_FLOW: usize = 64;

/// A flow that may still receive records.
#[derive(Debug)]
struct OpenFlow {
    /// Creation order, which breaks ties between flows with equal times.
    seq: u64,
    /// The joined records, in hop order.
    records: Vec<Record>,
    /// The ids, with their kind and hash, of records that a merge dropped past
    /// [`MAX_HOPS_PER_FLOW`] and that no kept record carries. With the kept records' ids they are
    /// the ids that lead to this flow.
    dropped_ids: Vec<(IdKind, String, u64)>,
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
        } else if !self.has_kind(IdKind::Edge) {
            CorrelationKey::XRequestId
        } else {
            CorrelationKey::EdgeRequestId
        }
    }

    /// Builds the flow and its findings.
    fn build(&self) -> Flow {
        build_flow(&self.records, self.correlated_by())
    }

    /// Returns true when a record of the flow, kept or dropped, carries `id` as its id of `kind`.
    ///
    /// It reads every record, at most [`MAX_HOPS_PER_FLOW`], and every dropped id, so a lookup by
    /// id costs that many comparisons for the flow it finds, not one as with the ids as map keys.
    fn has_id(&self, kind: IdKind, id: &str) -> bool {
        self.records
            .iter()
            .any(|record| record.id(kind).is_some_and(|(own, _)| own == id))
            || self
                .dropped_ids
                .iter()
                .any(|(own_kind, own, _)| *own_kind == kind && own == id)
    }

    /// Returns true when a record of the flow, kept or dropped, carries an id of `kind`.
    fn has_kind(&self, kind: IdKind) -> bool {
        self.records.iter().any(|record| record.id(kind).is_some())
            || self
                .dropped_ids
                .iter()
                .any(|(own_kind, ..)| *own_kind == kind)
    }

    /// Returns the ids that lead to the flow, with their kind and hash. An id carried by several
    /// records comes once per record.
    fn ids(&self) -> impl Iterator<Item = (IdKind, &str, u64)> {
        let kept = self.records.iter().flat_map(|record| {
            IdKind::ALL
                .into_iter()
                .filter_map(move |kind| record.id(kind).map(|(id, hash)| (kind, id, hash)))
        });
        let dropped = self
            .dropped_ids
            .iter()
            .map(|(kind, id, hash)| (*kind, id.as_str(), *hash));
        kept.chain(dropped)
    }
}

/// Maps `id` of `kind` to flow `seq` in `index`, the index of that kind of id.
fn index_id(
    index: &mut IdIndex<u64>,
    open: &SpreadMap<OpenFlow>,
    (kind, id, hash): (IdKind, &str, u64),
    seq: u64,
) {
    index.insert(hash, id, seq, |current| {
        open.get(&current).is_some_and(|flow| flow.has_id(kind, id))
    });
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
    open: SpreadMap<OpenFlow>,
    /// The flow of each id, per kind of id (see [`IdKind::index`]).
    by_id: [IdIndex<u64>; 2],
    id_hasher: IdHasher,
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
            open: SpreadMap::default(),
            by_id: [IdIndex::default(), IdIndex::default()],
            id_hasher: IdHasher::default(),
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
    pub(super) fn insert(&mut self, mut record: Record) -> Option<u64> {
        record.hash_ids(&self.id_hasher);
        let [by_edge, by_request] = IdKind::ALL.map(|kind| self.id_match(&record, kind));
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

    /// Returns the flow that has the record's id of `kind`.
    fn id_match(&self, record: &Record, kind: IdKind) -> Option<u64> {
        let (id, hash) = record.id(kind)?;
        self.by_id[kind.index()].get(hash, id, |seq| {
            self.open
                .get(&seq)
                .is_some_and(|open| open.has_id(kind, id))
        })
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
            dropped_ids: Vec::new(),
            heuristic: false,
            class: 0,
            age: record.time_ms,
            changed: None,
        };
        open.records.push(record);
        self.attach(open);
        seq
    }

    /// Adds the record to flow `seq`, which has room for it, and updates the indexes with the
    /// record's keys. `heuristic` is true when the heuristic join matched the flow.
    fn join(&mut self, seq: u64, record: Record, heuristic: bool) {
        let Some(open) = self.open.get(&seq) else {
            return;
        };
        if let Some(changes) = self.changes.as_mut()
            && let Some(slot) = changes.entry_of(open.changed, seq)
            && flow_id(open.records.iter().chain([&record])) != changes.id(slot)
        {
            changes.freeze(slot, open.build());
        }

        let new_ids =
            IdKind::ALL.map(|kind| record.id(kind).filter(|(id, _)| !open.has_id(kind, id)));
        let [has_edge_id, has_request_id] =
            IdKind::ALL.map(|kind| open.has_kind(kind) || record.id(kind).is_some());
        for (kind, new_id) in IdKind::ALL.into_iter().zip(new_ids) {
            if let Some((id, hash)) = new_id {
                index_id(
                    &mut self.by_id[kind.index()],
                    &self.open,
                    (kind, id, hash),
                    seq,
                );
            }
        }
        let Some(open) = self.open.get_mut(&seq) else {
            return;
        };

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
        open.heuristic |= heuristic;

        let hop = &record.observation.hop;
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
        open.dropped_ids.extend(other.dropped_ids);
        open.heuristic |= other.heuristic;
        open.records.push(record);

        open.records.sort_by(hop_order);
        let dropped = open
            .records
            .split_off(MAX_HOPS_PER_FLOW.min(open.records.len()));
        for record in &dropped {
            for kind in IdKind::ALL {
                if let Some((id, hash)) = record.id(kind)
                    && !open.has_id(kind, id)
                {
                    open.dropped_ids.push((kind, id.to_owned(), hash));
                }
            }
        }
        self.hops_dropped += u64::try_from(dropped.len()).unwrap_or(u64::MAX);
        open.age = open.records.iter().filter_map(|kept| kept.time_ms).min();
        self.attach(open);
    }

    /// Adds a flow to the indexes.
    fn attach(&mut self, mut open: OpenFlow) {
        let seq = open.seq;
        for id in open.ids() {
            index_id(&mut self.by_id[id.0.index()], &self.open, id, seq);
        }
        open.class = self.heuristic.classes.acquire(
            &open.records,
            open.has_kind(IdKind::Edge),
            open.has_kind(IdKind::Request),
        );
        self.heuristic.insert(open.class, &open.records, seq);
        self.by_age.insert(open.age_key());
        self.open.insert(seq, open);
    }

    /// Removes a flow from the indexes and returns it. When the change log waits for the flow, the
    /// flow's current form goes into the log first.
    fn detach(&mut self, seq: u64) -> Option<OpenFlow> {
        let open = self.open.remove(&seq)?;
        for (kind, id, hash) in open.ids() {
            self.by_id[kind.index()].remove(hash, id, seq);
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
