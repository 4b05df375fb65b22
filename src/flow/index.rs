//! An index from ids (request ids, flow ids) to values that stores each id's 64-bit hash, not a
//! copy of the id.
//!
//! The caller hashes an id once per record with [`IdHasher`] and passes the hash to every index
//! operation. The id itself stays where the caller keeps it (a record, a change log entry), and
//! each lookup checks it there, so two ids with the same hash never match each other. The second
//! of two such ids goes to a map keyed by the id, which stays empty unless hashes collide.

use std::collections::HashMap;
use std::collections::hash_map::{Entry, RandomState};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

/// Hashes ids that come from logs with `SipHash`. Each hasher draws its own random keys, as std's
/// `HashMap` does, so input cannot be crafted to make ids collide.
#[derive(Debug, Default, Clone)]
pub(super) struct IdHasher(RandomState);

impl IdHasher {
    pub(super) fn hash(&self, id: &str) -> u64 {
        self.0.hash_one(id)
    }
}

/// A hasher for keys that are already well spread: flow sequence numbers, which are assigned in
/// order and never come from input, and `SipHash` values. A multiplication spreads them over the table
/// at a fraction of `SipHash`'s cost.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct SpreadHasher(u64);

impl Hasher for SpreadHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(self.0.rotate_left(8) ^ u64::from(byte));
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A map keyed by `u64` values that need no further hashing.
pub(super) type SpreadMap<V> = HashMap<u64, V, BuildHasherDefault<SpreadHasher>>;

/// Ids to values, keyed by the ids' hashes.
#[derive(Debug)]
pub(super) struct IdIndex<V> {
    by_hash: SpreadMap<V>,
    /// Ids whose hash was taken by another id when they were inserted.
    collided: HashMap<String, V>,
}

impl<V> Default for IdIndex<V> {
    fn default() -> Self {
        Self {
            by_hash: SpreadMap::default(),
            collided: HashMap::new(),
        }
    }
}

impl<V: Copy + PartialEq> IdIndex<V> {
    /// Returns the value of `id`, whose hash is `hash`. `has_id` returns whether the id of a value
    /// is `id`.
    pub(super) fn get(&self, hash: u64, id: &str, has_id: impl Fn(V) -> bool) -> Option<V> {
        if let Some(&value) = self.by_hash.get(&hash)
            && has_id(value)
        {
            return Some(value);
        }
        if self.collided.is_empty() {
            return None;
        }
        self.collided.get(id).copied()
    }

    /// Maps `id`, whose hash is `hash`, to `value`, replacing the value it had. `has_id` is as for
    /// [`IdIndex::get`].
    pub(super) fn insert(&mut self, hash: u64, id: &str, value: V, has_id: impl Fn(V) -> bool) {
        match self.by_hash.entry(hash) {
            Entry::Vacant(entry) => {
                entry.insert(value);
            }
            Entry::Occupied(mut entry) => {
                let current = *entry.get();
                if current == value || has_id(current) {
                    entry.insert(value);
                } else {
                    self.collided.insert(id.to_owned(), value);
                }
            }
        }
    }

    /// Removes `id`, whose hash is `hash` and whose value is `value`.
    pub(super) fn remove(&mut self, hash: u64, id: &str, value: V) {
        if self.by_hash.get(&hash) == Some(&value) {
            self.by_hash.remove(&hash);
        } else if !self.collided.is_empty() {
            self.collided.remove(id);
        }
    }

    /// Removes every id.
    pub(super) fn clear(&mut self) {
        self.by_hash.clear();
        self.collided.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids given one hash, as if `SipHash` had collided on them.
    const HASH: u64 = 7;

    #[test]
    fn colliding_ids_keep_their_values() {
        let ids = ["a", "b", "c"];
        let mut index = IdIndex::default();
        for (value, id) in ids.iter().enumerate() {
            index.insert(HASH, id, value, |other| ids[other] == *id);
        }
        for (value, id) in ids.iter().enumerate() {
            assert_eq!(index.get(HASH, id, |other| ids[other] == *id), Some(value));
        }
        assert_eq!(index.get(HASH, "d", |other| ids[other] == "d"), None);
    }

    #[test]
    fn removed_id_leaves_colliding_ones() {
        let ids = ["a", "b"];
        let mut index = IdIndex::default();
        for (value, id) in ids.iter().enumerate() {
            index.insert(HASH, id, value, |other| ids[other] == *id);
        }
        index.remove(HASH, "a", 0);
        assert_eq!(index.get(HASH, "a", |other| ids[other] == "a"), None);
        assert_eq!(index.get(HASH, "b", |other| ids[other] == "b"), Some(1));

        index.remove(HASH, "b", 1);
        assert_eq!(index.get(HASH, "b", |other| ids[other] == "b"), None);
    }

    #[test]
    fn insert_replaces_value_of_same_id() {
        let ids = ["a", "a"];
        let mut index = IdIndex::default();
        index.insert(HASH, "a", 0, |other| ids[other] == "a");
        index.insert(HASH, "a", 1, |other| ids[other] == "a");
        assert_eq!(index.get(HASH, "a", |other| ids[other] == "a"), Some(1));
        assert!(index.collided.is_empty());
    }
}
