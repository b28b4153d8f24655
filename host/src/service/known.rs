//! What the service keeps in memory of the transits it saw last: each one's
//! record, parsed declaration and policy states as last committed, so that a
//! batch neither reads them back from the database nor parses the
//! declaration again.
//!
//! The cache is bounded (an entry is a few kilobytes, mostly the route), so
//! memory stays flat however many transits are open; a transit it no longer
//! holds is read from the database, as every step did before. It is exact,
//! not a guess: an entry is replaced only under the transit's lock, right
//! after the step that changed it committed, and dropped when a step fails
//! or panics.

use std::collections::HashMap;
use std::mem;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::evaluation::PolicyState;
use crate::store::TransitRecord;
use crate::transit::Transit;

/// A transit as its last committed step left it.
#[derive(Debug)]
pub(crate) struct Known {
    /// The stored record.
    pub record: TransitRecord,
    /// Its declaration, parsed.
    pub transit: Arc<Transit>,
    /// Every policy's state, in set order.
    pub states: Vec<PolicyState>,
}

/// At most `capacity` transits, the ones used last (roughly): entries live in
/// a young and an old generation; an entry used while old moves to the young
/// one, and when the young one is full the old one is dropped and the young
/// one becomes old.
pub(crate) struct KnownTransits {
    generation: usize,
    maps: Mutex<Generations>,
}

#[derive(Default)]
struct Generations {
    young: HashMap<String, Arc<Known>>,
    old: HashMap<String, Arc<Known>>,
}

impl KnownTransits {
    /// A cache of at most `capacity` transits; 0 keeps none.
    pub(crate) fn new(capacity: usize) -> KnownTransits {
        KnownTransits {
            generation: capacity / 2,
            maps: Mutex::new(Generations::default()),
        }
    }

    fn maps(&self) -> MutexGuard<'_, Generations> {
        self.maps.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The transit, if it is held.
    pub(crate) fn get(&self, id: &str) -> Option<Arc<Known>> {
        let mut maps = self.maps();
        if let Some(known) = maps.young.get(id) {
            return Some(Arc::clone(known));
        }
        let (id, known) = maps.old.remove_entry(id)?;
        self.put_young(&mut maps, id, Arc::clone(&known));
        Some(known)
    }

    /// Holds `known` as the transit's latest committed state.
    pub(crate) fn put(&self, known: Arc<Known>) {
        if self.generation == 0 {
            return;
        }
        let mut maps = self.maps();
        maps.old.remove(&known.record.id);
        self.put_young(&mut maps, known.record.id.clone(), known);
    }

    /// Forgets the transit: the next step reads it from the database.
    pub(crate) fn forget(&self, id: &str) {
        let mut maps = self.maps();
        maps.young.remove(id);
        maps.old.remove(id);
    }

    fn put_young(&self, maps: &mut Generations, id: String, known: Arc<Known>) {
        if self.generation == 0 {
            return;
        }
        if maps.young.len() >= self.generation && !maps.young.contains_key(&id) {
            maps.old = mem::take(&mut maps.young);
        }
        maps.young.insert(id, known);
    }

    /// How many transits are held.
    #[cfg(test)]
    fn len(&self) -> usize {
        let maps = self.maps();
        maps.young.len() + maps.old.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(id: &str) -> Arc<Known> {
        let transit = crate::transit::Transit::from_json(include_str!(
            "../../../tests/scenarios/clean-khorgos-almaty/transit.json"
        ))
        .expect("the scenario's transit");
        Arc::new(Known {
            record: TransitRecord::opened(id, transit.opened_at),
            transit: Arc::new(transit),
            states: Vec::new(),
        })
    }

    #[test]
    fn holds_at_most_its_capacity_and_keeps_what_is_used() {
        let cache = KnownTransits::new(4);
        for n in 0..10 {
            cache.put(known(&format!("T-{n}")));
            assert!(cache.len() <= 4);
            // T-0 is used after every insertion, so it is never dropped.
            assert!(cache.get("T-0").is_some(), "after T-{n}");
        }
        assert!(cache.get("T-1").is_none());
        assert!(cache.get("T-9").is_some());
        cache.forget("T-9");
        assert!(cache.get("T-9").is_none());
    }

    #[test]
    fn a_capacity_of_zero_holds_nothing() {
        let cache = KnownTransits::new(0);
        cache.put(known("T"));
        assert!(cache.get("T").is_none());
    }
}
