//! The classes of kept flows: what decides whether a record may join a flow by the heuristic.
//!
//! A class is the set of places (hop kind and location) where a flow has hops plus whether it has
//! each kind of id. Flows of one class accept the same records, so the heuristic index groups
//! records by class. Each class is stored once and counted by the flows in it, and a flow refers to
//! its class by a [`ClassId`].

use std::collections::HashMap;

use super::Observation;
use super::heuristic::non_empty;
use super::record::Record;
use crate::model::HopKind;

/// The number of a class in [`Classes`]. It is reused after the last flow of the class is gone.
pub(super) type ClassId = u32;

/// Appends `field` to a key with its length in front, so that no two different lists of fields
/// give the same key.
pub(super) fn push_field(key: &mut Vec<u8>, field: &str) {
    // A field longer than 4 GiB cannot come from one log line.
    let length = u32::try_from(field.len()).unwrap_or(u32::MAX);
    key.extend_from_slice(&length.to_le_bytes());
    key.extend_from_slice(field.as_bytes());
}

/// One class and how many kept flows are in it.
#[derive(Debug)]
struct Class {
    key: Box<[u8]>,
    has_edge_id: bool,
    has_request_id: bool,
    /// Sorted by location, then edge before mesh, without repeats.
    places: Vec<(HopKind, String)>,
    flows: usize,
}

/// The classes of the kept flows.
#[derive(Debug, Default)]
pub(super) struct Classes {
    /// Indexed by [`ClassId`]; `None` where a class was removed.
    slots: Vec<Option<Class>>,
    by_key: HashMap<Box<[u8]>, ClassId>,
    /// Numbers of removed classes, for reuse.
    free: Vec<ClassId>,
    /// Reused for the key of each lookup.
    key: Vec<u8>,
}

impl Classes {
    /// Returns the class of a flow with these records and kinds of id, and counts the flow in it.
    pub(super) fn acquire(
        &mut self,
        records: &[Record],
        has_edge_id: bool,
        has_request_id: bool,
    ) -> ClassId {
        let mut places: Vec<(HopKind, &str)> = records
            .iter()
            .map(|record| {
                let hop = &record.observation.hop;
                (hop.kind, hop.location.as_str())
            })
            .collect();
        places.sort_by(|(a_kind, a_location), (b_kind, b_location)| {
            a_location
                .cmp(b_location)
                .then_with(|| (*a_kind == HopKind::Mesh).cmp(&(*b_kind == HopKind::Mesh)))
        });
        places.dedup();

        self.key.clear();
        self.key
            .push(u8::from(has_edge_id) | u8::from(has_request_id) << 1);
        for (kind, location) in &places {
            self.key.push(u8::from(*kind == HopKind::Mesh));
            push_field(&mut self.key, location);
        }
        if let Some(&id) = self.by_key.get(self.key.as_slice()) {
            if let Some(class) = self.class_mut(id) {
                class.flows += 1;
            }
            return id;
        }

        let class = Class {
            key: self.key.clone().into_boxed_slice(),
            has_edge_id,
            has_request_id,
            places: places
                .into_iter()
                .map(|(kind, location)| (kind, location.to_owned()))
                .collect(),
            flows: 1,
        };
        let id = if let Some(id) = self.free.pop() {
            id
        } else {
            self.slots.push(None);
            // More classes than fit in a u32 would need more distinct places than any mesh has.
            ClassId::try_from(self.slots.len() - 1).unwrap_or(ClassId::MAX)
        };
        self.by_key.insert(class.key.clone(), id);
        if let Some(slot) = self.slots.get_mut(id as usize) {
            *slot = Some(class);
        }
        id
    }

    /// Stops counting one flow in class `id`, and removes the class when it was the last.
    pub(super) fn release(&mut self, id: ClassId) {
        let Some(class) = self.class_mut(id) else {
            return;
        };
        class.flows -= 1;
        if class.flows > 0 {
            return;
        }
        if let Some(class) = self.slots.get_mut(id as usize).and_then(Option::take) {
            self.by_key.remove(&class.key);
            self.free.push(id);
        }
    }

    /// Returns true when a flow of class `id` with one more record at `place`, and ids of the
    /// given kinds, is still of class `id`.
    pub(super) fn keeps(
        &self,
        id: ClassId,
        kind: HopKind,
        location: &str,
        has_edge_id: bool,
        has_request_id: bool,
    ) -> bool {
        self.class(id).is_some_and(|class| {
            class.has_edge_id == has_edge_id
                && class.has_request_id == has_request_id
                && class.has_place(kind, location)
        })
    }

    /// Returns true when the record may join a flow of class `id`.
    pub(super) fn accepts(&self, id: ClassId, observation: &Observation) -> bool {
        let Some(class) = self.class(id) else {
            return false;
        };
        // No id matched this flow, so a flow that has an id of the same kind is another request.
        let conflicts = (class.has_edge_id
            && non_empty(observation.edge_request_id.as_ref()).is_some())
            || (class.has_request_id && non_empty(observation.request_id.as_ref()).is_some());
        !conflicts && !class.has_place(observation.hop.kind, &observation.hop.location)
    }

    fn class(&self, id: ClassId) -> Option<&Class> {
        self.slots.get(id as usize).and_then(Option::as_ref)
    }

    fn class_mut(&mut self, id: ClassId) -> Option<&mut Class> {
        self.slots.get_mut(id as usize).and_then(Option::as_mut)
    }
}

impl Class {
    fn has_place(&self, kind: HopKind, location: &str) -> bool {
        self.places
            .iter()
            .any(|(place_kind, place_location)| *place_kind == kind && place_location == location)
    }
}
