//! Differential test of flow correlation: the correlator, the live `FlowTracker` and
//! `correlate_bounded` against a reference copy of the implementation they had before flows were
//! built on demand and indexed incrementally.
//!
//! The input is generated from a fixed seed. It has records that share ids or carry none, records
//! read twice, records with ids of two requests (which merge flows), requests with more records
//! than a flow keeps, and times in several forms. The bounds are small enough that flows are
//! evicted. Every flow, its order, every count and the changed flows at each collection must be the
//! same.

use chrono::{DateTime, Duration, SecondsFormat};
use idflow::flow::{Correlator, Observation, correlate_bounded};
use idflow::model::{DecidedBy, Decision, Hop, HopKind, HopRole, Identity};
use idflow::source::kube::FlowTracker;

/// The implementation of commit 18961ef, copied with its comments: `src/flow/time.rs` (the fast
/// time reader), `build.rs`, `heuristic.rs`, `correlate.rs` and the `FlowTracker` of
/// `src/source/kube/flows.rs`. The only change is the `merges` counter.
mod reference {
    use std::collections::HashMap;

    use idflow::flow::Observation;
    use idflow::model::Flow;

    use self::correlate::Correlator;

    /// Joins observations into at most `max_flows` flows, as `idflow::flow::correlate_bounded` did.
    pub fn correlate_bounded(
        mut observations: Vec<Observation>,
        max_flows: usize,
    ) -> (Vec<Flow>, [u64; 3]) {
        observations.sort_by(build::canonical_order);
        let mut correlator = Correlator::new(max_flows);
        for observation in observations {
            correlator.push(observation);
        }
        let counts = [
            correlator.evicted(),
            correlator.duplicates(),
            correlator.hops_dropped(),
        ];
        (correlator.flows(), counts)
    }

    pub(super) mod time {
        /// Returns milliseconds since the Unix epoch for a valid `YYYY-MM-DDTHH:MM:SS.mmmZ`, or `None` for
        /// any other text (including other valid RFC 3339 forms, and second 60).
        pub(super) fn canonical_utc_millis(text: &str) -> Option<i64> {
            let bytes = text.as_bytes();
            if bytes.len() != 24 {
                return None;
            }
            let separators = [
                (4, b'-'),
                (7, b'-'),
                (10, b'T'),
                (13, b':'),
                (16, b':'),
                (19, b'.'),
                (23, b'Z'),
            ];
            if separators.iter().any(|&(at, byte)| bytes[at] != byte) {
                return None;
            }
            let number = |from: usize, to: usize| -> Option<i64> {
                bytes[from..to].iter().try_fold(0i64, |value, &byte| {
                    byte.is_ascii_digit()
                        .then(|| value * 10 + i64::from(byte - b'0'))
                })
            };
            let year = number(0, 4)?;
            let month = number(5, 7)?;
            let day = number(8, 10)?;
            let hour = number(11, 13)?;
            let minute = number(14, 16)?;
            let second = number(17, 19)?;
            let millis = number(20, 23)?;
            let valid = (1..=12).contains(&month)
                && day >= 1
                && day <= days_in_month(year, month)
                && hour < 24
                && minute < 60
                && second < 60;
            if !valid {
                return None;
            }
            let seconds =
                days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second;
            Some(seconds * 1_000 + millis)
        }

        fn days_in_month(year: i64, month: i64) -> i64 {
            match month {
                2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            }
        }

        /// Returns the days from 1970-01-01 to a date of the proleptic Gregorian calendar (Howard
        /// Hinnant's `days_from_civil`).
        fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
            let year = if month <= 2 { year - 1 } else { year };
            let era = year.div_euclid(400);
            let year_of_era = year - era * 400;
            let shifted_month = if month > 2 { month - 3 } else { month + 9 };
            let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
            let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
            era * 146_097 + day_of_era - 719_468
        }
    }

    pub(super) mod build {
        use std::cmp::Ordering;

        use chrono::DateTime;

        use idflow::flow::{Observation, findings};
        use idflow::model::{CorrelationKey, Flow, Hop, HopKind, HopRole};

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
        pub(super) fn build_flow(
            observations: &[Observation],
            correlated_by: CorrelationKey,
        ) -> Flow {
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
    }

    pub(super) mod heuristic {
        use std::collections::{BTreeSet, HashMap};

        use super::build::time_ms;
        use idflow::flow::Observation;
        use idflow::model::HopKind;

        /// Largest distance between the start times of two records that the heuristic join accepts, in
        /// milliseconds. The edge stamps the time it received the request and each proxy the time it did, so
        /// the records of one request lie within network latency of each other. 5 s is an estimate that leaves
        /// room for slow origins and clock skew between the edge and the cluster.
        pub const HEURISTIC_WINDOW_MS: i64 = 5_000;

        /// Heuristic join key besides time: method, path without its query string, and client address.
        type Shape = (String, String, String);

        /// Returns the value when it is present and not empty.
        pub(super) fn non_empty(value: Option<&String>) -> Option<&String> {
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

        /// What decides whether a record may join a flow by the heuristic: which id kinds the flow has, and
        /// the places (hop kind and location) where it already has a hop.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub(super) struct Class {
            has_edge_id: bool,
            has_request_id: bool,
            /// Sorted by location, then edge before mesh, without repeats.
            places: Vec<(HopKind, String)>,
        }

        impl Class {
            /// Creates the class of a flow from its records and whether it has each kind of id.
            pub(super) fn new(
                observations: &[Observation],
                has_edge_id: bool,
                has_request_id: bool,
            ) -> Self {
                let mut places: Vec<(HopKind, String)> = observations
                    .iter()
                    .map(|observation| (observation.hop.kind, observation.hop.location.clone()))
                    .collect();
                places.sort_by(|(a_kind, a_location), (b_kind, b_location)| {
                    a_location
                        .cmp(b_location)
                        .then_with(|| (*a_kind == HopKind::Mesh).cmp(&(*b_kind == HopKind::Mesh)))
                });
                places.dedup();
                Self {
                    has_edge_id,
                    has_request_id,
                    places,
                }
            }

            /// Returns true when the record may join a flow of this class.
            fn accepts(&self, observation: &Observation) -> bool {
                // No id matched this flow, so a flow that has an id of the same kind is another request.
                let conflicts = (self.has_edge_id
                    && non_empty(observation.edge_request_id.as_ref()).is_some())
                    || (self.has_request_id
                        && non_empty(observation.request_id.as_ref()).is_some());
                let same_place = self.places.iter().any(|(kind, location)| {
                    *kind == observation.hop.kind && *location == observation.hop.location
                });
                !conflicts && !same_place
            }
        }

        /// The records of kept flows that the heuristic join can match, as (start time in ms, flow sequence
        /// number), per shape and per class of their flow.
        #[derive(Debug, Default)]
        pub(super) struct HeuristicIndex {
            by_shape: HashMap<Shape, HashMap<Class, BTreeSet<(i64, u64)>>>,
            /// Entries read as candidates by [`HeuristicIndex::nearest`], over the index's lifetime.
            comparisons: u64,
        }

        impl HeuristicIndex {
            /// Adds the records of flow `seq`, whose class is `class`.
            pub(super) fn insert(&mut self, class: &Class, observations: &[Observation], seq: u64) {
                for (key, time) in observations.iter().filter_map(shape) {
                    self.by_shape
                        .entry(key)
                        .or_default()
                        .entry(class.clone())
                        .or_default()
                        .insert((time, seq));
                }
            }

            /// Removes the records of flow `seq`, which were added with the same class.
            pub(super) fn remove(&mut self, class: &Class, observations: &[Observation], seq: u64) {
                for (key, time) in observations.iter().filter_map(shape) {
                    let Some(classes) = self.by_shape.get_mut(&key) else {
                        continue;
                    };
                    if let Some(entries) = classes.get_mut(class) {
                        entries.remove(&(time, seq));
                        if entries.is_empty() {
                            classes.remove(class);
                        }
                    }
                    if classes.is_empty() {
                        self.by_shape.remove(&key);
                    }
                }
            }

            /// Returns the flow the heuristic join puts the record in: among the flows it may join, the one
            /// with a record of the same shape nearest in start time, within [`HEURISTIC_WINDOW_MS`]. Ties go
            /// to the flow created first.
            pub(super) fn nearest(&mut self, observation: &Observation) -> Option<u64> {
                let (key, time) = shape(observation)?;
                let classes = self.by_shape.get(&key)?;

                let mut best: Option<(i64, u64)> = None;
                for entries in classes
                    .iter()
                    .filter(|(class, _)| class.accepts(observation))
                    .map(|(_, entries)| entries)
                {
                    for (joined_time, seq) in nearest_entries(entries, time) {
                        self.comparisons += 1;
                        let candidate = ((joined_time - time).abs(), seq);
                        if candidate.0 <= HEURISTIC_WINDOW_MS
                            && best.is_none_or(|current| candidate < current)
                        {
                            best = Some(candidate);
                        }
                    }
                }
                best.map(|(_, seq)| seq)
            }

            /// Returns how many indexed records [`HeuristicIndex::nearest`] has read as candidates.
            pub(super) fn comparisons(&self) -> u64 {
                self.comparisons
            }
        }

        /// Returns the entries nearest to `time` on each side: the first entry at or after it, and the first
        /// entry at the latest time before it. Each is the lowest sequence number logged at its time.
        fn nearest_entries(
            entries: &BTreeSet<(i64, u64)>,
            time: i64,
        ) -> impl Iterator<Item = (i64, u64)> {
            let at_or_after = entries.range((time, u64::MIN)..).next();
            let before = entries
                .range(..(time, u64::MIN))
                .next_back()
                .and_then(|&(earlier, _)| entries.range((earlier, u64::MIN)..).next());
            before.into_iter().chain(at_or_after).copied()
        }
    }

    pub(super) mod correlate {
        use std::collections::{BTreeSet, HashMap};

        use super::build::{build_flow, hop_order, time_ms};
        use super::heuristic::{Class, HeuristicIndex, non_empty};
        use idflow::flow::Observation;
        use idflow::model::{CorrelationKey, Flow, HopKind};

        /// The largest number of records one flow keeps. A real request passes the edge, a gateway and a few sidecars or
        /// waypoints, far fewer than this. Past it the records are repeats of one id (a client resending a
        /// fixed `x-request-id`), and each added record would cost a re-sort and new findings for the whole
        /// flow, so time would grow with the square of the records. Dropping them keeps it linear.
        pub const MAX_HOPS_PER_FLOW: usize = 64;

        /// The fields that make two records the same record: where and when it ran, the request, the verdict
        /// as logged, and the ids. Two records with an id that are equal in all of them are one record read
        /// twice. Records without an id have no key: two requests without ids can share all the other fields
        /// (a burst at one millisecond), so they stay apart.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        struct RecordKey {
            kind: HopKind,
            location: String,
            time: Option<String>,
            method: Option<String>,
            path: Option<String>,
            authority: Option<String>,
            client_ip: Option<String>,
            status: u16,
            reason: Option<String>,
            details: Option<String>,
            edge_request_id: Option<String>,
            request_id: Option<String>,
        }

        impl RecordKey {
            /// Returns the key of one record, or `None` when it carries no id.
            fn of(observation: &Observation) -> Option<Self> {
                if non_empty(observation.edge_request_id.as_ref()).is_none()
                    && non_empty(observation.request_id.as_ref()).is_none()
                {
                    return None;
                }
                Some(Self {
                    kind: observation.hop.kind,
                    location: observation.hop.location.clone(),
                    time: observation.hop.time.clone(),
                    method: observation.method.clone(),
                    path: observation.path.clone(),
                    authority: observation.authority.clone(),
                    client_ip: observation.client_ip.clone(),
                    status: observation.hop.status,
                    reason: observation.hop.reason.clone(),
                    details: observation.hop.details.clone(),
                    edge_request_id: observation.edge_request_id.clone(),
                    request_id: observation.request_id.clone(),
                })
            }
        }

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

            /// Re-sorts the hops, keeps the first [`MAX_HOPS_PER_FLOW`] and rebuilds the flow and its
            /// findings. Returns how many records were dropped.
            ///
            /// This costs O(k log k) for a flow of k records, and k is at most [`MAX_HOPS_PER_FLOW`], or twice
            /// that right after two full flows merged.
            fn rebuild(&mut self) -> u64 {
                self.observations.sort_by(hop_order);
                let dropped = self.observations.len().saturating_sub(MAX_HOPS_PER_FLOW);
                self.observations.truncate(MAX_HOPS_PER_FLOW);
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
                u64::try_from(dropped).unwrap_or(u64::MAX)
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
            /// The kept flows' records, to find a record read twice.
            by_record: HashMap<RecordKey, u64>,
            evicted: u64,
            duplicates: u64,
            hops_dropped: u64,
            /// Flows merged into another. The product's correlator does not count them; the test
            /// reads this to check that its input exercises merges.
            pub merges: u64,
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
                    by_record: HashMap::new(),
                    evicted: 0,
                    duplicates: 0,
                    hops_dropped: 0,
                    merges: 0,
                }
            }

            /// Adds one record: it joins (and may merge) the flows its keys match, or starts a flow of its own.
            /// The changed flow's findings are recomputed. When that makes one flow too many, the oldest is
            /// evicted, which can be the one just started when its record is older than every kept flow.
            ///
            /// A record identical to one a kept flow has is counted in [`Correlator::duplicates`] and changes
            /// nothing. A record that would give a flow more than [`MAX_HOPS_PER_FLOW`] hops is counted in
            /// [`Correlator::hops_dropped`] instead. The flow keeps the hops it has, and after a merge the first
            /// in hop order.
            ///
            /// Returns the flow the record is now in, or `None` when that flow was the one evicted. Flows
            /// merged into it are gone; their ids now lead to it.
            pub fn push(&mut self, observation: Observation) -> Option<&Flow> {
                let key = RecordKey::of(&observation);
                if let Some(&seq) = key.as_ref().and_then(|key| self.by_record.get(key)) {
                    self.duplicates += 1;
                    return self.open.get(&seq).map(|open| &open.flow);
                }
                let mut matched = self.id_matches(&observation);
                let heuristic = matched.is_empty();
                if heuristic {
                    matched.extend(self.heuristic.nearest(&observation));
                }

                // A full flow takes no more records. Checking before it is detached keeps a dropped record
                // at O(1), so a flood of records sharing one id costs linear time.
                if matched.len() == 1
                    && let Some(&seq) = matched.first()
                    && self
                        .open
                        .get(&seq)
                        .is_some_and(|open| open.observations.len() >= MAX_HOPS_PER_FLOW)
                {
                    self.hops_dropped += 1;
                    return self.open.get(&seq).map(|open| &open.flow);
                }

                let mut flow = match matched.pop_first() {
                    Some(seq) => self.detach(seq),
                    None => self.start_flow(),
                };
                for seq in matched {
                    self.merges += 1;
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
                self.hops_dropped += flow.rebuild();

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

            /// Returns the flows that share the record's edge request id or `x-request-id`.
            fn id_matches(&self, observation: &Observation) -> BTreeSet<u64> {
                let by_edge = non_empty(observation.edge_request_id.as_ref())
                    .and_then(|id| self.by_edge_id.get(id));
                let by_request = non_empty(observation.request_id.as_ref())
                    .and_then(|id| self.by_request_id.get(id));
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
                for key in open.observations.iter().filter_map(RecordKey::of) {
                    self.by_record.insert(key, seq);
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
                self.heuristic
                    .remove(&open.class(), &open.observations, seq);
                for key in open.observations.iter().filter_map(RecordKey::of) {
                    self.by_record.remove(&key);
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
    }

    /// A bounded [`Correlator`] that reports which flows changed since the last call to
    /// [`FlowTracker::changed`].
    #[derive(Debug)]
    pub struct FlowTracker {
        correlator: Correlator,
        /// The latest form of each flow changed since the last call, in the order of first change.
        changed: Vec<Flow>,
        /// Index into `changed` by flow id.
        changed_at: HashMap<String, usize>,
    }

    impl FlowTracker {
        /// Creates a tracker that keeps at most `max_flows` flows.
        pub fn new(max_flows: usize) -> Self {
            Self {
                correlator: Correlator::new(max_flows),
                changed: Vec::new(),
                changed_at: HashMap::new(),
            }
        }

        /// Adds one observation and remembers the flow it changed. A flow evicted at once is not
        /// reported.
        pub fn push(&mut self, observation: Observation) {
            let Some(flow) = self.correlator.push(observation) else {
                return;
            };
            if let Some(&index) = self.changed_at.get(&flow.id) {
                self.changed[index] = flow.clone();
            } else {
                self.changed_at.insert(flow.id.clone(), self.changed.len());
                self.changed.push(flow.clone());
            }
        }

        /// Returns the flows that are new or changed since the last call, in the order they first
        /// changed, each in its latest form.
        pub fn changed(&mut self) -> Vec<Flow> {
            self.changed_at.clear();
            std::mem::take(&mut self.changed)
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
}

/// A xorshift64* generator, so that the input is the same on every run.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Returns a number in `0..bound`.
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let index = usize::try_from(self.below(items.len() as u64)).expect("small index");
        &items[index]
    }
}

const EDGE: &str = "edge/ew 4242 jwt-check";
const GATEWAY: &str = "istio-system/istio-ingressgateway";

/// The places a record can come from.
const PLACES: [(HopKind, &str, Option<HopRole>); 6] = [
    (HopKind::Edge, EDGE, None),
    (HopKind::Mesh, GATEWAY, Some(HopRole::Gateway)),
    (HopKind::Mesh, "shop/orders", Some(HopRole::Sidecar)),
    (HopKind::Mesh, "shop/payments", Some(HopRole::Waypoint)),
    (HopKind::Mesh, "shop/cart", None),
    (HopKind::Edge, "edge/ew 77 geo", None),
];

/// Returns a time `offset_ms` after the base time, in one of the forms records carry: mostly
/// Envoy's, sometimes with an offset, without milliseconds, unreadable or absent.
fn time(rng: &mut Rng, offset_ms: i64) -> Option<String> {
    let base = DateTime::parse_from_rfc3339("2025-03-04T10:15:02.118Z").expect("base time parses");
    let at = (base + Duration::milliseconds(offset_ms)).to_utc();
    match rng.below(100) {
        0..=84 => Some(at.to_rfc3339_opts(SecondsFormat::Millis, true)),
        85..=88 => Some(at.to_rfc3339_opts(SecondsFormat::Millis, false)),
        89..=92 => Some(at.to_rfc3339_opts(SecondsFormat::Secs, true)),
        93..=95 => Some("not a time".to_owned()),
        _ => None,
    }
}

/// Returns an id of request `request` with prefix `prefix`, an id of the next request (which
/// merges two flows), an empty id or none.
fn id(rng: &mut Rng, prefix: &str, request: u64, present: u64) -> Option<String> {
    match rng.below(100) {
        roll if roll < present => Some(format!("{prefix}{request}")),
        roll if roll < present + 6 => Some(format!("{prefix}{}", request + 1)),
        roll if roll < present + 9 => Some(String::new()),
        _ => None,
    }
}

/// Sets a verdict as a proxy or the edge logs it.
fn verdict(rng: &mut Rng, hop: &mut Hop) {
    let (status, decision, decided_by, reason, details, policy): (
        u16,
        Decision,
        DecidedBy,
        Option<&str>,
        Option<&str>,
        Option<&str>,
    ) = match rng.below(9) {
        0..=2 => (
            200,
            Decision::Allow,
            DecidedBy::Upstream,
            None,
            Some("via_upstream"),
            None,
        ),
        3 => (
            401,
            Decision::Deny,
            DecidedBy::JwtAuthn,
            Some("Jwt is expired"),
            Some("jwt_authn_access_denied{Jwt_is_expired}"),
            None,
        ),
        4 => (
            403,
            Decision::Deny,
            DecidedBy::Rbac,
            Some("ns[shop]-policy[deny-delete]-rule[0]"),
            Some("rbac_access_denied_matched_policy[ns[shop]-policy[deny-delete]-rule[0]]"),
            Some("shop/deny-delete"),
        ),
        5 => (
            403,
            Decision::Deny,
            DecidedBy::Rbac,
            None,
            Some("rbac_access_denied"),
            None,
        ),
        6 => (403, Decision::Unknown, DecidedBy::Other, None, None, None),
        7 => (
            403,
            Decision::Deny,
            DecidedBy::Upstream,
            None,
            Some("via_upstream"),
            None,
        ),
        _ => (
            500,
            Decision::Error,
            DecidedBy::Edgeworker,
            Some("EdgeWorker timed out"),
            None,
            None,
        ),
    };
    hop.status = status;
    hop.decision = decision;
    hop.decided_by = decided_by;
    hop.reason = reason.map(str::to_owned);
    hop.details = details.map(str::to_owned);
    hop.policy = policy.map(str::to_owned);
    hop.rule = policy.map(|_| 0);
}

/// Returns an identity as a hop may log it: none, absent, a token in one of two forms, claims of
/// one of two users.
fn identity(rng: &mut Rng) -> Identity {
    let mut identity = Identity::default();
    match rng.below(4) {
        0 => return identity,
        1 => {
            identity.token_present = Some(false);
            return identity;
        }
        _ => identity.token_present = Some(true),
    }
    identity.token_location = Some(
        (*rng.pick(&[
            "authorization: Bearer",
            "authorization: bearer",
            "authorization",
        ]))
        .to_owned(),
    );
    if rng.chance(70) {
        let issuer = *rng.pick(&["https://idp.example.com", "https://legacy.example.com"]);
        let subject = *rng.pick(&["user-1042", "svc-batch-7"]);
        identity.issuer = Some(issuer.to_owned());
        identity.subject = Some(subject.to_owned());
        identity.request_principal = rng.chance(50).then(|| format!("{issuer}/{subject}"));
    }
    for audience in ["orders-api", "cart-api"] {
        if rng.chance(40) {
            identity.audiences.push(audience.to_owned());
        }
    }
    identity.token_fingerprint = rng
        .chance(60)
        .then(|| (*rng.pick(&["sha256:1f2e", "sha256:9a8b"])).to_owned());
    identity
}

/// Returns a record of request `request`. Requests start 7 ms apart, so the heuristic window
/// contains hundreds of them, and a record may come up to 6 s after its request started.
fn record(rng: &mut Rng, request: u64) -> Observation {
    let (kind, location, role) = *rng.pick(&PLACES);
    let mut hop = Hop::new(kind, location);
    hop.role = role;
    let delay = if rng.chance(5) {
        6_000
    } else {
        i64::try_from(rng.below(40)).expect("small delay")
    };
    hop.time = time(
        rng,
        i64::try_from(request).expect("small request") * 7 + delay,
    );
    verdict(rng, &mut hop);
    hop.identity = identity(rng);

    let (edge_present, request_present) = match kind {
        HopKind::Edge => (70, 0),
        HopKind::Mesh => (45, 55),
    };
    let text = |rng: &mut Rng, values: &[&str]| -> Option<String> {
        let value = *rng.pick(values);
        (value != "-").then(|| value.to_owned())
    };
    Observation {
        edge_request_id: id(rng, "e-", request, edge_present),
        request_id: id(rng, "r-", request, request_present),
        method: text(rng, &["GET", "GET", "GET", "POST", "", "-"]),
        path: text(
            rng,
            &[
                "/api/orders",
                "/api/orders?page=2",
                "/api/cart",
                "/api/orders",
                "-",
            ],
        ),
        authority: text(rng, &["api.example.com", "api.example.com", "-"]),
        client_ip: text(
            rng,
            &["203.0.113.10", "203.0.113.10", "203.0.113.11", "", "-"],
        ),
        hop,
    }
}

/// Returns at least `count` records: mostly a few per request with some arriving late, some read
/// twice, and bursts of records that share an `x-request-id` far past the hop limit.
fn generate(seed: u64, count: usize) -> Vec<Observation> {
    let mut rng = Rng::new(seed);
    let mut records: Vec<Observation> = Vec::with_capacity(count);
    let mut request = 0u64;
    while records.len() < count {
        if !records.is_empty() && rng.chance(6) {
            let back = usize::try_from(rng.below(40)).expect("small index");
            let index = records.len().saturating_sub(back + 1);
            records.push(records[index].clone());
            continue;
        }
        if rng.below(1_000) < 4 {
            // A client that resends one fixed `x-request-id`: more records than a flow keeps.
            let burst = format!("r-burst-{}", records.len());
            for _ in 0..70 + rng.below(20) {
                let mut repeated = record(&mut rng, request);
                repeated.request_id = Some(burst.clone());
                records.push(repeated);
            }
            continue;
        }
        if rng.chance(40) {
            request += 1;
        }
        let late = request.saturating_sub(rng.below(5));
        records.push(record(&mut rng, late));
    }
    records
}

/// Returns the counts a correlator reports.
fn counts(correlator: &Correlator) -> [u64; 4] {
    [
        correlator.evicted(),
        correlator.duplicates(),
        correlator.hops_dropped(),
        correlator.heuristic_comparisons(),
    ]
}

/// Returns the reference's counts in the order of [`counts`].
fn reference_counts(correlator: &reference::correlate::Correlator) -> [u64; 4] {
    [
        correlator.evicted(),
        correlator.duplicates(),
        correlator.hops_dropped(),
        correlator.heuristic_comparisons(),
    ]
}

/// The cases: (seed, records, max flows). The small bounds evict most flows.
const CASES: [(u64, usize, usize); 5] = [
    (1, 3_000, 100_000),
    (2, 3_000, 300),
    (3, 3_000, 25),
    (4, 3_000, 2),
    (5, 3_000, 1),
];

#[test]
fn correlator_matches_reference() {
    for (seed, count, max_flows) in CASES {
        let records = generate(seed, count);
        let mut correlator = Correlator::new(max_flows);
        let mut expected = reference::correlate::Correlator::new(max_flows);

        for (index, observation) in records.into_iter().enumerate() {
            let pushed = correlator.push(observation.clone()).cloned();
            let expected_pushed = expected.push(observation).cloned();
            assert_eq!(pushed, expected_pushed, "seed {seed}: push {index}");
            assert_eq!(
                correlator.len(),
                expected.len(),
                "seed {seed}: push {index}"
            );
            assert_eq!(
                correlator.is_empty(),
                expected.is_empty(),
                "seed {seed}: push {index}"
            );
            if index % 250 == 0 {
                assert_eq!(
                    correlator.flows(),
                    expected.flows(),
                    "seed {seed}: push {index}"
                );
            }
        }

        assert_eq!(correlator.flows(), expected.flows(), "seed {seed}");
        assert_eq!(
            counts(&correlator),
            reference_counts(&expected),
            "seed {seed}"
        );
    }
}

#[test]
fn tracker_matches_reference() {
    for (seed, count, max_flows) in CASES {
        let records = generate(seed, count);
        let mut rng = Rng::new(seed + 100);
        let mut tracker = FlowTracker::new(max_flows);
        let mut expected = reference::FlowTracker::new(max_flows);
        let mut next_collection = 1 + rng.below(60);

        for (index, observation) in records.into_iter().enumerate() {
            tracker.push(observation.clone());
            expected.push(observation);
            next_collection -= 1;
            if next_collection == 0 {
                assert_eq!(
                    tracker.changed(),
                    expected.changed(),
                    "seed {seed}: push {index}"
                );
                next_collection = 1 + rng.below(60);
            }
        }

        assert_eq!(tracker.changed(), expected.changed(), "seed {seed}");
        let tracker_counts = [
            tracker.evicted(),
            tracker.duplicates(),
            tracker.hops_dropped(),
        ];
        let expected_counts = [
            expected.evicted(),
            expected.duplicates(),
            expected.hops_dropped(),
        ];
        assert_eq!(tracker_counts, expected_counts, "seed {seed}");
        assert_eq!(tracker.len(), expected.len(), "seed {seed}");
        assert_eq!(tracker.is_empty(), expected.is_empty(), "seed {seed}");
    }
}

#[test]
fn batch_matches_reference() {
    for (seed, count, max_flows) in CASES {
        let records = generate(seed, count);
        let correlated = correlate_bounded(records.clone(), max_flows);
        let (flows, expected_counts) = reference::correlate_bounded(records, max_flows);

        assert_eq!(correlated.flows, flows, "seed {seed}");
        let counts = [
            correlated.evicted,
            correlated.duplicates,
            correlated.hops_dropped,
        ];
        assert_eq!(counts, expected_counts, "seed {seed}");
    }
}

/// Checks that the generated input reaches every path the other tests compare: without this, a
/// change to the generator could leave a path untested while the comparisons still pass.
#[test]
fn input_exercises_every_path() {
    use idflow::model::CorrelationKey;

    for (seed, count, max_flows) in CASES {
        let mut expected = reference::correlate::Correlator::new(max_flows);
        let mut joined_by = Vec::new();
        for observation in generate(seed, count) {
            if let Some(flow) = expected.push(observation)
                && !joined_by.contains(&flow.correlated_by)
            {
                joined_by.push(flow.correlated_by);
            }
        }

        assert!(
            expected.duplicates() > 0,
            "seed {seed}: no record read twice"
        );
        assert!(
            expected.hops_dropped() > 0,
            "seed {seed}: no flow past the hop limit"
        );
        assert!(
            expected.merges > 0 || max_flows <= 2,
            "seed {seed}: no merge"
        );
        assert!(
            expected.heuristic_comparisons() > 0,
            "seed {seed}: no heuristic candidate"
        );
        assert!(
            expected.evicted() > 0 || max_flows > count,
            "seed {seed}: nothing evicted"
        );
        for key in [
            CorrelationKey::EdgeRequestId,
            CorrelationKey::XRequestId,
            CorrelationKey::Heuristic,
            CorrelationKey::None,
        ] {
            assert!(
                joined_by.contains(&key),
                "seed {seed}: no flow joined by {key:?}"
            );
        }
    }
}
