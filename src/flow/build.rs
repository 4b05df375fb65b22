//! Building a [`Flow`] value from the observations joined into it: hop order, id, time, method and path.

use std::borrow::Cow;
use std::cmp::Ordering;

use chrono::DateTime;

use super::findings::findings;
use super::record::Record;
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
fn time_key(record: &Record) -> (bool, i64) {
    match record.time_ms {
        Some(ms) => (false, ms),
        None => (true, 0),
    }
}

/// Orders the hops of one flow: edge first, then gateway, then sidecars and waypoints, each by start
/// time, then by location so that equal times still give one order.
pub(super) fn hop_order(a: &Record, b: &Record) -> Ordering {
    hop_rank(&a.observation.hop)
        .cmp(&hop_rank(&b.observation.hop))
        .then_with(|| time_key(a).cmp(&time_key(b)))
        .then_with(|| a.observation.hop.location.cmp(&b.observation.hop.location))
}

/// Orders records totally, by time first, so that a sorted batch does not depend on its input
/// order.
pub(super) fn canonical_order(a: &Record, b: &Record) -> Ordering {
    let (x, y) = (&a.observation, &b.observation);
    time_key(a)
        .cmp(&time_key(b))
        .then_with(|| hop_order(a, b))
        .then_with(|| x.edge_request_id.cmp(&y.edge_request_id))
        .then_with(|| x.request_id.cmp(&y.request_id))
        .then_with(|| x.method.cmp(&y.method))
        .then_with(|| x.path.cmp(&y.path))
        .then_with(|| x.client_ip.cmp(&y.client_ip))
        .then_with(|| x.authority.cmp(&y.authority))
        .then_with(|| x.hop.status.cmp(&y.hop.status))
        .then_with(|| x.hop.details.cmp(&y.hop.details))
        .then_with(|| x.hop.time.cmp(&y.hop.time))
}

/// Returns the id of a flow: its edge request id, else its `x-request-id`, else one made from the
/// location and time of its first hop in [`hop_order`] (`shop/orders@2025-03-04T10:15:02.118Z`).
///
/// The records need not be sorted: the first hop is the first of the records that no other record
/// precedes, which is where a stable sort puts it.
pub(super) fn flow_id<'a>(records: impl Iterator<Item = &'a Record> + Clone) -> Cow<'a, str> {
    let edge_id = records
        .clone()
        .filter_map(|record| record.observation.edge_request_id.as_ref())
        .min();
    let request_id = records
        .clone()
        .filter_map(|record| record.observation.request_id.as_ref())
        .min();
    if let Some(id) = edge_id.or(request_id) {
        return Cow::Borrowed(id);
    }

    match records.min_by(|a, b| hop_order(a, b)) {
        Some(first) => Cow::Owned(format!(
            "{}@{}",
            first.observation.hop.location,
            first.observation.hop.time.as_deref().unwrap_or("-")
        )),
        None => Cow::Borrowed(""),
    }
}

/// Returns the start time of the earliest hop. When no hop time parses, the first time logged is kept
/// verbatim rather than dropped.
fn flow_time(records: &[Record]) -> Option<String> {
    let earliest = records
        .iter()
        .filter_map(|record| record.time_ms.map(|ms| (ms, record)))
        .min_by_key(|(ms, _)| *ms);
    match earliest {
        Some((_, record)) => record.observation.hop.time.clone(),
        None => records
            .iter()
            .find_map(|record| record.observation.hop.time.clone()),
    }
}

/// Builds the flow of `records`, which must already be in [`hop_order`], and computes its findings.
pub(super) fn build_flow(records: &[Record], correlated_by: CorrelationKey) -> Flow {
    let observations = records.iter().map(|record| &record.observation);
    let mut flow = Flow {
        id: flow_id(records.iter()).into_owned(),
        correlated_by,
        time: flow_time(records),
        method: observations
            .clone()
            .find_map(|observation| observation.method.clone()),
        path: observations
            .clone()
            .find_map(|observation| observation.path.clone()),
        hops: observations
            .map(|observation| observation.hop.clone())
            .collect(),
        findings: Vec::new(),
    };
    flow.findings = findings(&flow);
    flow
}
