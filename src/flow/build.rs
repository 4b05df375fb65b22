//! Building a [`Flow`] value from the observations joined into it: hop order, id, time, method and path.

use std::cmp::Ordering;

use chrono::DateTime;

use super::Observation;
use super::findings::findings;
use crate::model::{CorrelationKey, Flow, Hop, HopKind, HopRole};

/// Parses an RFC 3339 time into milliseconds since the Unix epoch. Returns `None` when it is absent or
/// invalid.
pub(super) fn time_ms(time: Option<&str>) -> Option<i64> {
    let time = time?;
    super::time::canonical_utc_millis(time).or_else(|| {
        DateTime::parse_from_rfc3339(time)
            .ok()
            .map(|parsed| parsed.timestamp_millis())
    })
}

/// Returns the position class of a hop: the edge, then the ingress gateway, then sidecars and waypoints.
/// A mesh hop without a role counts as a sidecar.
fn hop_rank(hop: &Hop) -> u8 {
    match (hop.kind, hop.role) {
        (HopKind::Edge, _) => 0,
        (HopKind::Mesh, Some(HopRole::Gateway)) => 1,
        (HopKind::Mesh, _) => 2,
    }
}

/// Returns a time sort key that puts hops without a readable time after those with one.
fn time_key(observation: &Observation) -> (bool, i64) {
    match time_ms(observation.hop.time.as_deref()) {
        Some(ms) => (false, ms),
        None => (true, 0),
    }
}

/// Orders the hops of one flow: edge first, then gateway, then sidecars and waypoints, each by start
/// time, then by location so that equal times still give one order.
pub(super) fn hop_order(a: &Observation, b: &Observation) -> Ordering {
    hop_rank(&a.hop)
        .cmp(&hop_rank(&b.hop))
        .then_with(|| time_key(a).cmp(&time_key(b)))
        .then_with(|| a.hop.location.cmp(&b.hop.location))
}

/// Orders observations totally, by time first, so that a sorted batch does not depend on its input
/// order.
pub(super) fn canonical_order(a: &Observation, b: &Observation) -> Ordering {
    time_key(a)
        .cmp(&time_key(b))
        .then_with(|| hop_order(a, b))
        .then_with(|| a.edge_request_id.cmp(&b.edge_request_id))
        .then_with(|| a.request_id.cmp(&b.request_id))
        .then_with(|| a.method.cmp(&b.method))
        .then_with(|| a.path.cmp(&b.path))
        .then_with(|| a.client_ip.cmp(&b.client_ip))
        .then_with(|| a.authority.cmp(&b.authority))
        .then_with(|| a.hop.status.cmp(&b.hop.status))
        .then_with(|| a.hop.details.cmp(&b.hop.details))
        .then_with(|| a.hop.time.cmp(&b.hop.time))
}

/// Returns the id of a flow: its edge request id, else its `x-request-id`, else one made from the
/// location and time of its first hop (`shop/orders@2025-03-04T10:15:02.118Z`).
fn flow_id(observations: &[Observation]) -> String {
    let edge_id = observations
        .iter()
        .filter_map(|observation| observation.edge_request_id.as_ref())
        .min();
    let request_id = observations
        .iter()
        .filter_map(|observation| observation.request_id.as_ref())
        .min();
    if let Some(id) = edge_id.or(request_id) {
        return id.clone();
    }

    match observations.first() {
        Some(first) => format!(
            "{}@{}",
            first.hop.location,
            first.hop.time.as_deref().unwrap_or("-")
        ),
        None => String::new(),
    }
}

/// Returns the start time of the earliest hop. When no hop time parses, the first time logged is kept
/// verbatim rather than dropped.
fn flow_time(observations: &[Observation]) -> Option<String> {
    let earliest = observations
        .iter()
        .filter_map(|observation| {
            time_ms(observation.hop.time.as_deref()).map(|ms| (ms, observation))
        })
        .min_by_key(|(ms, _)| *ms);
    match earliest {
        Some((_, observation)) => observation.hop.time.clone(),
        None => observations
            .iter()
            .find_map(|observation| observation.hop.time.clone()),
    }
}

/// Builds the flow of `observations`, which must already be in [`hop_order`], and computes its findings.
pub(super) fn build_flow(observations: &[Observation], correlated_by: CorrelationKey) -> Flow {
    let mut flow = Flow {
        id: flow_id(observations),
        correlated_by,
        time: flow_time(observations),
        method: observations
            .iter()
            .find_map(|observation| observation.method.clone()),
        path: observations
            .iter()
            .find_map(|observation| observation.path.clone()),
        hops: observations
            .iter()
            .map(|observation| observation.hop.clone())
            .collect(),
        findings: Vec::new(),
    };
    flow.findings = findings(&flow);
    flow
}
