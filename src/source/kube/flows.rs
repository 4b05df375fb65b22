//! Flows from live lines: the bounded correlator, which flows changed since they were last sent,
//! and the rule `idflow follow` prints by.

use std::collections::{HashMap, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};

use crate::flow::{Correlator, Observation};
use crate::model::{Decision, Flow};

/// Returns a digest of everything a flow shows, to tell whether it changed since it was printed.
pub fn flow_digest(flow: &Flow) -> u64 {
    let mut hasher = DefaultHasher::new();
    // Serialising cannot fail for these plain types; an empty string still gives a stable digest.
    serde_json::to_string(flow)
        .unwrap_or_default()
        .hash(&mut hasher);
    hasher.finish()
}

/// A bounded [`Correlator`] that reports which flows changed since the last call to
/// [`FlowTracker::changed`].
#[derive(Debug)]
pub struct FlowTracker {
    correlator: Correlator,
}

impl FlowTracker {
    /// Creates a tracker that keeps at most `max_flows` flows.
    pub fn new(max_flows: usize) -> Self {
        Self {
            correlator: Correlator::with_change_log(max_flows),
        }
    }

    /// Adds one observation and remembers the flow it changed. A flow evicted at once is not
    /// reported.
    pub fn push(&mut self, observation: Observation) {
        self.correlator.add(observation);
    }

    /// Returns the flows that are new or changed since the last call, in the order they first
    /// changed, each in its latest form.
    ///
    /// The flows are keyed by id. A flow whose id changed (a record with a smaller id joined, or
    /// another flow merged into it) is returned once for each id it had. Two flows that had the
    /// same id are returned once, in the later one's form.
    pub fn changed(&mut self) -> Vec<Flow> {
        self.correlator.take_changed()
    }

    /// Returns how many flows were dropped to stay within the bound.
    pub fn evicted(&self) -> u64 {
        self.correlator.evicted()
    }

    /// Returns how many records were identical to a hop already held, and merged into it.
    pub fn duplicates(&self) -> u64 {
        self.correlator.duplicates()
    }

    /// Returns how many records were dropped because their flow already had the most hops.
    pub fn hops_dropped(&self) -> u64 {
        self.correlator.hops_dropped()
    }

    /// Returns how many flows are kept.
    pub fn len(&self) -> usize {
        self.correlator.len()
    }

    /// Returns true when no flow is kept.
    pub fn is_empty(&self) -> bool {
        self.correlator.is_empty()
    }
}

/// Returns whether any hop of the flow denied the request.
pub fn has_deny(flow: &Flow) -> bool {
    flow.hops.iter().any(|hop| hop.decision == Decision::Deny)
}

/// The printing rule of `idflow follow`.
///
/// A flow is printed once no update has changed it for `settle_ms`, so that the hops of one request
/// (gateway, then sidecars) arrive on one line. When a printed flow changes later (a late edge
/// record, another hop), it is printed again with the same `id`, and readers keep the last line per
/// `id`. A flow is never printed twice with the same content. With `denials_only`, flows without a
/// deny hop are not printed.
#[derive(Debug)]
pub struct FollowPrinter {
    settle_ms: u64,
    denials_only: bool,
    /// Changed flows not printed yet, with the time of their last change.
    pending: HashMap<String, (Flow, u64)>,
    /// Digest of the last printed form of each flow, bounded by `max_remembered`.
    printed: HashMap<String, u64>,
    printed_order: VecDeque<String>,
    max_remembered: usize,
}

impl FollowPrinter {
    /// Creates a printer. It remembers the last printed form of at most `max_remembered` flows; an
    /// older flow that changes is printed again as if new.
    pub fn new(settle_ms: u64, denials_only: bool, max_remembered: usize) -> Self {
        Self {
            settle_ms,
            denials_only,
            pending: HashMap::new(),
            printed: HashMap::new(),
            printed_order: VecDeque::new(),
            max_remembered: max_remembered.max(1),
        }
    }

    /// Records a changed flow at `now_ms` (milliseconds on any monotonic clock).
    pub fn update(&mut self, flow: Flow, now_ms: u64) {
        if self.denials_only && !has_deny(&flow) {
            self.pending.remove(&flow.id);
            return;
        }
        if self.printed.get(&flow.id) == Some(&flow_digest(&flow)) {
            self.pending.remove(&flow.id);
            return;
        }
        self.pending.insert(flow.id.clone(), (flow, now_ms));
    }

    /// Returns the flows that have settled by `now_ms`, oldest change first, and marks them printed.
    pub fn due(&mut self, now_ms: u64) -> Vec<Flow> {
        let settled: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, (_, changed))| now_ms.saturating_sub(*changed) >= self.settle_ms)
            .map(|(id, _)| id.clone())
            .collect();
        self.take(&settled)
    }

    /// Returns every pending flow, for the last output before exit.
    pub fn drain(&mut self) -> Vec<Flow> {
        let all: Vec<String> = self.pending.keys().cloned().collect();
        self.take(&all)
    }

    fn take(&mut self, ids: &[String]) -> Vec<Flow> {
        let mut flows: Vec<(Flow, u64)> = ids
            .iter()
            .filter_map(|id| self.pending.remove(id))
            .collect();
        flows.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.id.cmp(&b.0.id)));
        flows
            .into_iter()
            .map(|(flow, _)| {
                self.remember(&flow);
                flow
            })
            .collect()
    }

    fn remember(&mut self, flow: &Flow) {
        if self
            .printed
            .insert(flow.id.clone(), flow_digest(flow))
            .is_none()
        {
            self.printed_order.push_back(flow.id.clone());
        }
        while self.printed_order.len() > self.max_remembered {
            if let Some(oldest) = self.printed_order.pop_front() {
                self.printed.remove(&oldest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CorrelationKey, Hop, HopKind};

    fn flow(id: &str, decisions: &[Decision]) -> Flow {
        let hops = decisions
            .iter()
            .map(|decision| {
                let mut hop = Hop::new(HopKind::Mesh, "shop/orders");
                hop.decision = *decision;
                hop
            })
            .collect();
        Flow {
            id: id.to_owned(),
            correlated_by: CorrelationKey::XRequestId,
            time: None,
            method: Some("GET".to_owned()),
            path: Some("/api/orders".to_owned()),
            hops,
            findings: Vec::new(),
        }
    }

    fn observation(edge_id: &str, location: &str) -> Observation {
        Observation {
            hop: Hop::new(HopKind::Mesh, location),
            edge_request_id: Some(edge_id.to_owned()),
            request_id: None,
            method: Some("GET".to_owned()),
            path: Some("/api/orders".to_owned()),
            authority: None,
            client_ip: None,
        }
    }

    fn ids(flows: &[Flow]) -> Vec<&str> {
        flows.iter().map(|flow| flow.id.as_str()).collect()
    }

    #[test]
    fn tracker_reports_each_flow_once() {
        let mut tracker = FlowTracker::new(100);
        tracker.push(observation("a", "istio-system/istio-ingressgateway"));
        tracker.push(observation("b", "shop/orders"));
        tracker.push(observation("a", "shop/orders"));
        assert_eq!(ids(&tracker.changed()), ["a", "b"]);
    }

    #[test]
    fn tracker_reports_latest_form() {
        let mut tracker = FlowTracker::new(100);
        tracker.push(observation("a", "istio-system/istio-ingressgateway"));
        tracker.push(observation("a", "shop/orders"));
        let hops: Vec<usize> = tracker.changed().iter().map(|f| f.hops.len()).collect();
        assert_eq!(hops, [2]);
    }

    #[test]
    fn tracker_forgets_after_call() {
        let mut tracker = FlowTracker::new(100);
        tracker.push(observation("a", "shop/orders"));
        tracker.changed();
        assert!(tracker.changed().is_empty());
    }

    #[test]
    fn printer_waits_for_settle() {
        let mut printer = FollowPrinter::new(2000, false, 100);
        printer.update(flow("a", &[Decision::Allow]), 0);
        assert!(printer.due(1999).is_empty());
    }

    #[test]
    fn printer_prints_after_settle() {
        let mut printer = FollowPrinter::new(2000, false, 100);
        printer.update(flow("a", &[Decision::Allow]), 0);
        assert_eq!(ids(&printer.due(2000)), ["a"]);
    }

    #[test]
    fn printer_change_restarts_settle() {
        let mut printer = FollowPrinter::new(2000, false, 100);
        printer.update(flow("a", &[Decision::Allow]), 0);
        printer.update(flow("a", &[Decision::Allow, Decision::Allow]), 1500);
        assert!(printer.due(2500).is_empty());
    }

    #[test]
    fn printer_reprints_changed_flow() {
        let mut printer = FollowPrinter::new(0, false, 100);
        printer.update(flow("a", &[Decision::Allow]), 0);
        printer.due(0);
        printer.update(flow("a", &[Decision::Allow, Decision::Deny]), 10);
        assert_eq!(ids(&printer.due(10)), ["a"]);
    }

    #[test]
    fn printer_skips_unchanged_flow() {
        let mut printer = FollowPrinter::new(0, false, 100);
        printer.update(flow("a", &[Decision::Allow]), 0);
        printer.due(0);
        printer.update(flow("a", &[Decision::Allow]), 10);
        assert!(printer.due(10).is_empty());
    }

    #[test]
    fn printer_denials_only_filters() {
        let mut printer = FollowPrinter::new(0, true, 100);
        printer.update(flow("allowed", &[Decision::Allow]), 0);
        printer.update(flow("denied", &[Decision::Allow, Decision::Deny]), 0);
        assert_eq!(ids(&printer.due(0)), ["denied"]);
    }

    #[test]
    fn printer_orders_by_change_time() {
        let mut printer = FollowPrinter::new(0, false, 100);
        printer.update(flow("late", &[Decision::Allow]), 5);
        printer.update(flow("early", &[Decision::Allow]), 1);
        assert_eq!(ids(&printer.due(10)), ["early", "late"]);
    }

    #[test]
    fn printer_drain_ignores_settle() {
        let mut printer = FollowPrinter::new(60_000, false, 100);
        printer.update(flow("a", &[Decision::Deny]), 0);
        assert_eq!(ids(&printer.drain()), ["a"]);
    }

    #[test]
    fn printer_forgets_beyond_bound() {
        let mut printer = FollowPrinter::new(0, false, 1);
        printer.update(flow("a", &[Decision::Allow]), 0);
        printer.due(0);
        printer.update(flow("b", &[Decision::Allow]), 1);
        printer.due(1);
        printer.update(flow("a", &[Decision::Allow]), 2);
        assert_eq!(ids(&printer.due(2)), ["a"]);
    }
}
