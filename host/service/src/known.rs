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
//!
//! It drops the transit used least recently ([`hashlink::LruCache`]). A
//! tick goes over every open transit in turn, and so must find all of them
//! while they fit: two generations that each held half the capacity, the
//! older dropped whole when the younger filled, kept next to none of a
//! cycle over as many transits as the capacity, and a tick over 10,000
//! silent transits read and parsed every one from the database again.

use std::sync::{Arc, Mutex, MutexGuard};

use hashlink::LruCache;

use crate::store::TransitRecord;
use escort_engine::PolicyState;
use escort_engine::Transit;

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

/// At most `capacity` transits, the ones used last.
pub(crate) struct KnownTransits {
    /// `None` when the capacity is 0.
    entries: Option<Mutex<LruCache<String, Arc<Known>>>>,
}

impl KnownTransits {
    /// A cache of at most `capacity` transits; 0 keeps none.
    pub(crate) fn new(capacity: usize) -> KnownTransits {
        KnownTransits {
            entries: (capacity > 0).then(|| Mutex::new(LruCache::new(capacity))),
        }
    }

    fn entries(&self) -> Option<MutexGuard<'_, LruCache<String, Arc<Known>>>> {
        self.entries
            .as_ref()
            .map(|entries| entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// The transit, if it is held.
    pub(crate) fn get(&self, id: &str) -> Option<Arc<Known>> {
        self.entries()?.get(id).map(Arc::clone)
    }

    /// Holds `known` as the transit's latest committed state.
    pub(crate) fn put(&self, known: Arc<Known>) {
        if let Some(mut entries) = self.entries() {
            entries.insert(known.record.id.clone(), known);
        }
    }

    /// Forgets the transit: the next step reads it from the database.
    pub(crate) fn forget(&self, id: &str) {
        if let Some(mut entries) = self.entries() {
            entries.remove(id);
        }
    }

    /// How many transits are held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries().map_or(0, |entries| entries.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(id: &str) -> Arc<Known> {
        let transit = escort_engine::Transit::from_json(include_str!(
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

    /// What a tick does: every transit in turn, again and again. While
    /// they fit, each is found at every pass.
    #[test]
    fn a_cycle_over_as_many_transits_as_it_holds_finds_every_one() {
        let cache = KnownTransits::new(100);
        for n in 0..100 {
            cache.put(known(&format!("T-{n}")));
        }
        for pass in 0..3 {
            for n in 0..100 {
                assert!(cache.get(&format!("T-{n}")).is_some(), "T-{n} in pass {pass}");
            }
        }
    }

    #[test]
    fn a_capacity_of_zero_holds_nothing() {
        let cache = KnownTransits::new(0);
        cache.put(known("T"));
        assert!(cache.get("T").is_none());
    }
}
