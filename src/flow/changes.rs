//! The flows changed since they were last collected, for a live correlator.
//!
//! Each entry is keyed by the flow id the flow had when it changed, in the order its id first
//! changed since the last collection, and gives the latest form of the flow with that id. A kept
//! flow is not built until the collection, so its entry contains only its sequence number. Only when
//! the flow is about to leave that id (a merge, a smaller id joining, an eviction) does the
//! correlator build the form it had and store that in the entry.

use super::index::{IdHasher, IdIndex};
use crate::model::Flow;

/// The position of a flow's entry: the collection it belongs to and its index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Slot {
    collection: u64,
    index: usize,
}

/// The form of the flow that an entry returns at the collection.
#[derive(Debug)]
pub(super) enum Pending {
    /// The kept flow with this sequence number, as it is now.
    Open(u64),
    /// A form that the flow with this id had, built before the flow changed id or was dropped.
    Built(Flow),
}

/// The changed flows waiting for the next collection.
#[derive(Debug, Default)]
pub(super) struct ChangeLog {
    /// Counts collections, so that a [`Slot`] from an earlier one matches nothing.
    collection: u64,
    entries: Vec<(String, Pending)>,
    /// The index in `entries` of each flow id.
    by_id: IdIndex<usize>,
    id_hasher: IdHasher,
}

impl ChangeLog {
    /// Returns the slot when it is the current entry of flow `seq`.
    pub(super) fn entry_of(&self, slot: Option<Slot>, seq: u64) -> Option<Slot> {
        let slot = slot.filter(|slot| slot.collection == self.collection)?;
        match self.entries.get(slot.index) {
            Some((_, Pending::Open(open))) if *open == seq => Some(slot),
            _ => None,
        }
    }

    /// Returns the flow id of an entry.
    pub(super) fn id(&self, slot: Slot) -> &str {
        self.entries
            .get(slot.index)
            .map_or("", |(id, _)| id.as_str())
    }

    /// Stores the form a flow had in its entry, because the flow is about to change id or leave.
    pub(super) fn freeze(&mut self, slot: Slot, flow: Flow) {
        if let Some((_, pending)) = self.entries.get_mut(slot.index) {
            *pending = Pending::Built(flow);
        }
    }

    /// Records that flow `seq`, whose id is now `id`, changed, and returns its entry. `slot` is the
    /// entry it had.
    pub(super) fn record(&mut self, seq: u64, id: &str, slot: Option<Slot>) -> Slot {
        if let Some(slot) = self.entry_of(slot, seq)
            && self.id(slot) == id
        {
            return slot;
        }
        let hash = self.id_hasher.hash(id);
        let entries = &self.entries;
        let has_id = |index: usize| entries.get(index).is_some_and(|(own, _)| own == id);
        let index = if let Some(index) = self.by_id.get(hash, id, has_id) {
            if let Some((_, pending)) = self.entries.get_mut(index) {
                *pending = Pending::Open(seq);
            }
            index
        } else {
            let next = self.entries.len();
            self.by_id.insert(hash, id, next, has_id);
            self.entries.push((id.to_owned(), Pending::Open(seq)));
            next
        };
        Slot {
            collection: self.collection,
            index,
        }
    }

    /// Removes and returns every entry, in the order their ids first changed.
    pub(super) fn take(&mut self) -> Vec<Pending> {
        self.collection += 1;
        self.by_id.clear();
        self.entries.drain(..).map(|(_, pending)| pending).collect()
    }
}
