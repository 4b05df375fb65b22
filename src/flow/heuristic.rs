//! The index behind the heuristic join. Per shape (method, path without its query string, client
//! address) it groups the kept flows' records by the [`Class`] of their flow. A record skips every
//! class whose flows already have an id of a kind the record carries or a hop at the record's place,
//! so it is only compared with flows it could join.
//!
//! A lookup costs O(c log n), where n is the number of indexed records and c the number of classes of
//! the record's shape. A class is a set of places plus two id flags, so c depends on the mesh topology
//! (how many distinct places one request can pass), not on how many requests share the shape.

use std::collections::{BTreeSet, HashMap};

use super::Observation;
use super::build::time_ms;
use crate::model::HopKind;

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
            || (self.has_request_id && non_empty(observation.request_id.as_ref()).is_some());
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
fn nearest_entries(entries: &BTreeSet<(i64, u64)>, time: i64) -> impl Iterator<Item = (i64, u64)> {
    let at_or_after = entries.range((time, u64::MIN)..).next();
    let before = entries
        .range(..(time, u64::MIN))
        .next_back()
        .and_then(|&(earlier, _)| entries.range((earlier, u64::MIN)..).next());
    before.into_iter().chain(at_or_after).copied()
}
