//! Joining the edge and mesh records of one request into a flow of hops, and the findings about it.
//!
//! [`Correlator`] joins records as they arrive and keeps flows open for late edge records.
//! [`correlate`] runs it over a finished batch. [`findings`] explains one flow.

mod build;
mod changes;
mod class;
mod correlate;
mod findings;
mod heuristic;
mod identity;
mod index;
mod record;
pub(crate) mod time;
mod verdict;

use crate::model::{Flow, Hop};
use record::Record;

pub use correlate::{Correlator, MAX_HOPS_PER_FLOW};
pub use findings::findings;
pub use heuristic::HEURISTIC_WINDOW_MS;

/// One record of a request at one hop, with the keys that can join it to the other hops' records.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub hop: Hop,
    /// The edge request id: `DataStream 2` `reqId` at the edge, the forwarded header in the mesh.
    pub edge_request_id: Option<String>,
    /// Envoy's `x-request-id`.
    pub request_id: Option<String>,
    pub method: Option<String>,
    /// Path with its query string, as logged.
    pub path: Option<String>,
    pub authority: Option<String>,
    /// The original client address (edge `cliIP`, first `x-forwarded-for` entry in the mesh).
    pub client_ip: Option<String>,
}

/// Joins observations into flows and attaches findings. Input order does not matter.
///
/// The observations are sorted into one canonical order before they are joined, so the heuristic join,
/// which takes the nearest fitting flow, gives the same flows for any input order. Nothing is evicted.
pub fn correlate(observations: Vec<Observation>) -> Vec<Flow> {
    correlate_bounded(observations, usize::MAX).flows
}

/// Flows joined from a batch, with counts of what was left out of them.
#[derive(Debug, Clone, Default)]
pub struct Correlated {
    pub flows: Vec<Flow>,
    /// Flows dropped to stay within the bound.
    pub evicted: u64,
    /// Records merged into an identical record of their flow.
    pub duplicates: u64,
    /// Records dropped because their flow had [`MAX_HOPS_PER_FLOW`] hops.
    pub hops_dropped: u64,
}

/// Joins observations into at most `max_flows` flows, evicting the oldest past the bound, and
/// returns the flows with what was evicted, merged and dropped.
pub fn correlate_bounded(observations: Vec<Observation>, max_flows: usize) -> Correlated {
    let mut records: Vec<Record> = observations.into_iter().map(Record::new).collect();
    records.sort_by(build::canonical_order);

    let mut correlator = Correlator::new(max_flows);
    for record in records {
        correlator.insert(record);
    }
    Correlated {
        flows: correlator.flows(),
        evicted: correlator.evicted(),
        duplicates: correlator.duplicates(),
        hops_dropped: correlator.hops_dropped(),
    }
}
