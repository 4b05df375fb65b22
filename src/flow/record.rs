//! One record of a flow as the correlator keeps it: the observation with its start time read once.

use super::Observation;
use super::build::time_ms;
use super::heuristic::non_empty;

/// An observation joined into a flow, with `hop.time` parsed once. Sorting, aging and the heuristic
/// join all read the time, so it is parsed when the record arrives and not at every comparison.
#[derive(Debug, Clone)]
pub(super) struct Record {
    pub(super) observation: Observation,
    /// `hop.time` in milliseconds since the Unix epoch, or `None` when it is absent or invalid.
    pub(super) time_ms: Option<i64>,
}

impl Record {
    pub(super) fn new(observation: Observation) -> Self {
        let time_ms = time_ms(observation.hop.time.as_deref());
        Self {
            observation,
            time_ms,
        }
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
