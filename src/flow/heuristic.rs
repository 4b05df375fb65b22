//! The index behind the heuristic join. Per shape (method, path without its query string, client
//! address) it groups the kept flows' records by the [`Class`](super::class) of their flow. A record
//! skips every class whose flows already have an id of a kind the record carries or a hop at the
//! record's place, so it is only compared with flows it could join.
//!
//! A lookup costs O(c log n), where n is the number of indexed records and c the number of classes of
//! the record's shape. A class is a set of places plus two id flags, so c depends on the mesh topology
//! (how many distinct places one request can pass), not on how many requests share the shape.

use std::collections::{BTreeSet, HashMap};

use super::class::{ClassId, Classes, push_field};
use super::record::Record;

/// Largest distance between the start times of two records that the heuristic join accepts, in
/// milliseconds. The edge stamps the time it received the request and each proxy the time it did, so
/// the records of one request lie within network latency of each other. 5 s is an estimate that leaves
/// room for slow origins and clock skew between the edge and the cluster.
pub const HEURISTIC_WINDOW_MS: i64 = 5_000;

/// Returns the value when it is present and not empty.
pub(super) fn non_empty(value: Option<&String>) -> Option<&String> {
    value.filter(|text| !text.is_empty())
}

/// Writes the heuristic join key of a record (method, path without its query string, and client
/// address) into `key` and returns the record's start time, when it logged all of them.
fn shape(record: &Record, key: &mut Vec<u8>) -> Option<i64> {
    let time = record.time_ms?;
    let observation = &record.observation;
    let method = non_empty(observation.method.as_ref())?;
    let path = non_empty(observation.path.as_ref())?;
    let client_ip = non_empty(observation.client_ip.as_ref())?;
    let path = path.split_once('?').map_or(path.as_str(), |(bare, _)| bare);
    key.clear();
    for field in [method.as_str(), path, client_ip.as_str()] {
        push_field(key, field);
    }
    Some(time)
}

/// Maximum number of entries kept in a sorted vector before they move to a tree. Most shapes contain
/// the one or two records of one request, and a vector of them costs a fraction of a tree node.
const FEW_ENTRIES: usize = 16;

/// The (start time in ms, flow sequence number) of the records of one shape and class, as a set.
#[derive(Debug)]
enum Entries {
    /// Sorted, without repeats, at most [`FEW_ENTRIES`] long.
    Few(Vec<(i64, u64)>),
    Many(BTreeSet<(i64, u64)>),
}

impl Entries {
    fn insert(&mut self, entry: (i64, u64)) {
        match self {
            Self::Few(entries) => {
                let Err(at) = entries.binary_search(&entry) else {
                    return;
                };
                if entries.len() < FEW_ENTRIES {
                    entries.insert(at, entry);
                } else {
                    let mut tree: BTreeSet<(i64, u64)> = entries.drain(..).collect();
                    tree.insert(entry);
                    *self = Self::Many(tree);
                }
            }
            Self::Many(tree) => {
                tree.insert(entry);
            }
        }
    }

    fn remove(&mut self, entry: (i64, u64)) {
        match self {
            Self::Few(entries) => {
                if let Ok(at) = entries.binary_search(&entry) {
                    entries.remove(at);
                }
            }
            Self::Many(tree) => {
                tree.remove(&entry);
            }
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Self::Few(entries) => entries.is_empty(),
            Self::Many(tree) => tree.is_empty(),
        }
    }

    /// Returns the entries nearest to `time` on each side: the first entry at or after it, and the
    /// first entry at the latest time before it. Each is the lowest sequence number logged at its
    /// time.
    fn nearest(&self, time: i64) -> [Option<(i64, u64)>; 2] {
        match self {
            Self::Few(entries) => {
                let at = entries.partition_point(|&entry| entry < (time, u64::MIN));
                let before = at.checked_sub(1).map(|last| {
                    let earlier = entries[last].0;
                    entries[entries.partition_point(|&entry| entry < (earlier, u64::MIN))]
                });
                [before, entries.get(at).copied()]
            }
            Self::Many(tree) => {
                let at_or_after = tree.range((time, u64::MIN)..).next().copied();
                let before = tree
                    .range(..(time, u64::MIN))
                    .next_back()
                    .and_then(|&(earlier, _)| tree.range((earlier, u64::MIN)..).next())
                    .copied();
                [before, at_or_after]
            }
        }
    }
}

/// Adds an entry to the entries of `class` among the entries of one shape.
fn add_entry(classes: &mut Vec<(ClassId, Entries)>, class: ClassId, entry: (i64, u64)) {
    match classes.iter_mut().find(|(id, _)| *id == class) {
        Some((_, entries)) => entries.insert(entry),
        None => classes.push((class, Entries::Few(vec![entry]))),
    }
}

/// Removes an entry from the entries of `class` among the entries of one shape, and the class's
/// entries when that was the last.
fn remove_entry(classes: &mut Vec<(ClassId, Entries)>, class: ClassId, entry: (i64, u64)) {
    if let Some(at) = classes.iter().position(|(id, _)| *id == class) {
        classes[at].1.remove(entry);
        if classes[at].1.is_empty() {
            classes.swap_remove(at);
        }
    }
}

/// The records of kept flows that the heuristic join can match, per shape and per class of their
/// flow, and the classes themselves.
#[derive(Debug, Default)]
pub(super) struct HeuristicIndex {
    /// Shape key (see [`shape`]) to the entries of each class that has records of that shape.
    by_shape: HashMap<Box<[u8]>, Vec<(ClassId, Entries)>>,
    pub(super) classes: Classes,
    /// Reused for the shape key of each lookup, so that a lookup allocates nothing.
    key: Vec<u8>,
    /// Entries read as candidates by [`HeuristicIndex::nearest`], over the index's lifetime.
    comparisons: u64,
}

impl HeuristicIndex {
    /// Adds the records of flow `seq`, whose class is `class`.
    pub(super) fn insert(&mut self, class: ClassId, records: &[Record], seq: u64) {
        for record in records {
            let Some(time) = shape(record, &mut self.key) else {
                continue;
            };
            if let Some(classes) = self.by_shape.get_mut(self.key.as_slice()) {
                add_entry(classes, class, (time, seq));
                continue;
            }
            let entries = vec![(class, Entries::Few(vec![(time, seq)]))];
            self.by_shape
                .insert(self.key.clone().into_boxed_slice(), entries);
        }
    }

    /// Moves the records of flow `seq` from class `from` to class `to`.
    pub(super) fn reclassify(&mut self, from: ClassId, to: ClassId, records: &[Record], seq: u64) {
        self.update_entries(records, seq, |classes, entry| {
            remove_entry(classes, from, entry);
            add_entry(classes, to, entry);
        });
    }

    /// Removes the records of flow `seq`, which were added with the same class.
    pub(super) fn remove(&mut self, class: ClassId, records: &[Record], seq: u64) {
        self.update_entries(records, seq, |classes, entry| {
            remove_entry(classes, class, entry);
        });
    }

    /// Calls `change` with the entries of each record's shape and the record's entry, and removes
    /// the shapes left without entries. Records whose shape has no entries are skipped.
    fn update_entries(
        &mut self,
        records: &[Record],
        seq: u64,
        change: impl Fn(&mut Vec<(ClassId, Entries)>, (i64, u64)),
    ) {
        for record in records {
            let Some(time) = shape(record, &mut self.key) else {
                continue;
            };
            let Some(classes) = self.by_shape.get_mut(self.key.as_slice()) else {
                continue;
            };
            change(classes, (time, seq));
            if classes.is_empty() {
                self.by_shape.remove(self.key.as_slice());
            }
        }
    }

    /// Returns the flow the heuristic join puts the record in: among the flows it may join, the one
    /// with a record of the same shape nearest in start time, within [`HEURISTIC_WINDOW_MS`]. Ties go
    /// to the flow created first.
    pub(super) fn nearest(&mut self, record: &Record) -> Option<u64> {
        let time = shape(record, &mut self.key)?;
        let classes = self.by_shape.get(self.key.as_slice())?;

        let mut best: Option<(i64, u64)> = None;
        for (_, entries) in classes
            .iter()
            .filter(|(class, _)| self.classes.accepts(*class, &record.observation))
        {
            for (joined_time, seq) in entries.nearest(time).into_iter().flatten() {
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
