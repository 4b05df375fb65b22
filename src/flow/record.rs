//! One record of a flow as the correlator keeps it: the observation with its start time read once.

use super::Observation;
use super::build::time_ms;
use super::heuristic::non_empty;
use super::index::IdHasher;

/// The kinds of id that join records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IdKind {
    /// The edge request id.
    Edge,
    /// Envoy's `x-request-id`.
    Request,
}

impl IdKind {
    pub(super) const ALL: [Self; 2] = [Self::Edge, Self::Request];

    /// Returns the position of the kind in [`IdKind::ALL`], for arrays with one item per kind.
    pub(super) fn index(self) -> usize {
        match self {
            Self::Edge => 0,
            Self::Request => 1,
        }
    }
}

/// An observation joined into a flow, with `hop.time` parsed once. Sorting, aging and the heuristic
/// join all read the time, so it is parsed when the record arrives and not at every comparison.
#[derive(Debug, Clone)]
pub(super) struct Record {
    pub(super) observation: Observation,
    /// `hop.time` in milliseconds since the Unix epoch, or `None` when it is absent or invalid.
    pub(super) time_ms: Option<i64>,
    /// The hash of the non-empty edge request id, set by [`Record::hash_ids`].
    pub(super) edge_id_hash: Option<u64>,
    /// The same for `x-request-id`.
    pub(super) request_id_hash: Option<u64>,
}

impl Record {
    pub(super) fn new(observation: Observation) -> Self {
        let time_ms = time_ms(observation.hop.time.as_deref());
        Self {
            observation,
            time_ms,
            edge_id_hash: None,
            request_id_hash: None,
        }
    }

    /// Hashes the record's ids with the correlator's hasher, once, for its id indexes.
    pub(super) fn hash_ids(&mut self, hasher: &IdHasher) {
        let observation = &self.observation;
        self.edge_id_hash =
            non_empty(observation.edge_request_id.as_ref()).map(|id| hasher.hash(id));
        self.request_id_hash = non_empty(observation.request_id.as_ref()).map(|id| hasher.hash(id));
    }

    /// Returns the record's non-empty id of `kind` with its hash.
    pub(super) fn id(&self, kind: IdKind) -> Option<(&str, u64)> {
        let (id, hash) = match kind {
            IdKind::Edge => (&self.observation.edge_request_id, self.edge_id_hash),
            IdKind::Request => (&self.observation.request_id, self.request_id_hash),
        };
        Some((non_empty(id.as_ref())?.as_str(), hash?))
    }

    /// Returns true when the record carries an edge request id or an `x-request-id`. Only such a
    /// record can be a copy of another: two requests without ids can share every other field (a
    /// burst at one millisecond), so they stay apart.
    pub(super) fn has_id(&self) -> bool {
        non_empty(self.observation.edge_request_id.as_ref()).is_some()
            || non_empty(self.observation.request_id.as_ref()).is_some()
    }

    /// Returns true when both are the same record read twice: equal where and when it ran, the
    /// request, the verdict as logged, and the ids. The caller checks [`Record::has_id`] first.
    pub(super) fn is_copy_of(&self, other: &Self) -> bool {
        let (a, b) = (&self.observation, &other.observation);
        a.hop.kind == b.hop.kind
            && a.hop.status == b.hop.status
            && a.hop.time == b.hop.time
            && a.hop.location == b.hop.location
            && a.edge_request_id == b.edge_request_id
            && a.request_id == b.request_id
            && a.method == b.method
            && a.path == b.path
            && a.authority == b.authority
            && a.client_ip == b.client_ip
            && a.hop.reason == b.hop.reason
            && a.hop.details == b.hop.details
    }
}
