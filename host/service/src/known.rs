//! What the service keeps in memory of the transits it saw last: each one's
//! record, declaration and policy states as last committed, the declaration
//! parsed, in the contract's record and with its route indexed
//! ([`PreparedTransit`]), so that a batch neither reads them back from the
//! database nor parses, converts or indexes the declaration again.
//!
//! The cache is bounded in bytes (`cached_transit_bytes`, an estimate of
//! what each entry holds: mostly the route, declared and indexed, and the
//! policy states) and in transits (`cached_transits`), so memory stays flat
//! however many transits are open, and a transit with a route of 100,000
//! points counts for what it holds; a transit it no longer holds is read
//! from the database, as every step did before. It is exact,
//! not a guess: an entry is replaced only under the transit's lock, right
//! after the step that changed it committed, and dropped when a step fails
//! or panics.
//!
//! It is a [`quick_cache`] cache, whose eviction keeps what is used often
//! over what was used once. A tick goes over every open transit in turn, and
//! so must find all of them while they fit: nothing is dropped while they do,
//! and past the bound a cycle over more transits than fit still finds part
//! of them, where the least recently used transit would always be the next
//! one the cycle needs.

use std::sync::Arc;

use quick_cache::sync::{Cache, DefaultLifecycle};
use quick_cache::{DefaultHashBuilder, OptionsBuilder, Weighter};

use crate::store::ShadowRun;
use crate::store::TransitRecord;
use escort_engine::Finding;
use escort_engine::PolicyState;
use escort_engine::PreparedTransit;

/// A transit as its last committed step left it.
#[derive(Debug)]
pub(crate) struct Known {
    /// The stored record.
    pub record: TransitRecord,
    /// Its declaration, parsed, converted and indexed.
    pub transit: Arc<PreparedTransit>,
    /// Every policy's state, in set order.
    pub states: Vec<PolicyState>,
    /// The shadow versions' runs its last evaluating step made.
    pub shadows: Vec<ShadowRun>,
}

impl Known {
    /// About how many bytes the entry holds (see
    /// [`PreparedTransit::size_bytes`]).
    fn size_bytes(&self) -> usize {
        let finding = |finding: &Finding| size_of::<Finding>() + finding.message.len();
        let states: usize = self
            .states
            .iter()
            .chain(self.shadows.iter().map(|run| &run.state))
            .map(|state| {
                size_of::<PolicyState>()
                    + state.policy.len()
                    + state.fingerprint.len()
                    + state.state.len()
                    + state.open.iter().map(finding).sum::<usize>()
            })
            .sum();
        size_of::<Known>() + size_of::<TransitRecord>() + self.record.id.len() + self.transit.size_bytes() + states
    }
}

/// The transits used most, within a bound in bytes and in transits.
pub(crate) struct KnownTransits {
    /// `None` when either bound is 0.
    entries: Option<Cache<String, Arc<Known>, Weight>>,
}

/// An entry's weight: its bytes, and at least an even share of the byte
/// bound over the most transits kept, so that neither bound is passed.
#[derive(Clone)]
struct Weight {
    least_bytes: u64,
}

impl Weighter<String, Arc<Known>> for Weight {
    fn weight(&self, _id: &String, known: &Arc<Known>) -> u64 {
        (known.size_bytes() as u64).max(self.least_bytes)
    }
}

impl KnownTransits {
    /// A cache of at most `max_transits` transits and about `max_bytes`
    /// bytes; either of them 0 keeps none.
    pub(crate) fn new(max_transits: usize, max_bytes: u64) -> KnownTransits {
        let entries = (max_transits > 0 && max_bytes > 0).then(|| {
            let least_bytes = max_bytes.div_ceil(max_transits as u64);
            // One shard: shards split both bounds evenly among them, and a
            // tick's cycle over as many transits as fit would lose those
            // that hash to a full one. A step holds the lock for a lookup
            // or an insertion only.
            let options = OptionsBuilder::new()
                .estimated_items_capacity(max_transits)
                .weight_capacity(max_bytes)
                .shards(1)
                .build()
                .expect("a capacity and a weight are all the options need");
            Cache::with_options(
                options,
                Weight { least_bytes },
                DefaultHashBuilder::default(),
                DefaultLifecycle::default(),
            )
        });
        KnownTransits { entries }
    }

    /// The transit, if it is held.
    pub(crate) fn get(&self, id: &str) -> Option<Arc<Known>> {
        self.entries.as_ref()?.get(id)
    }

    /// Holds `known` as the transit's latest committed state.
    pub(crate) fn put(&self, known: Arc<Known>) {
        if let Some(entries) = &self.entries {
            entries.insert(known.record.id.clone(), known);
        }
    }

    /// Forgets the transit: the next step reads it from the database.
    pub(crate) fn forget(&self, id: &str) {
        if let Some(entries) = &self.entries {
            entries.remove(id);
        }
    }

    /// How many transits are held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.as_ref().map_or(0, Cache::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use escort_engine::Transit;

    const SCENARIO: &str = include_str!("../../../tests/scenarios/clean-khorgos-almaty/transit.json");

    fn known(id: &str) -> Arc<Known> {
        let transit = Transit::from_json(SCENARIO).expect("the scenario's transit");
        Arc::new(Known {
            record: TransitRecord::opened(id, transit.opened_at),
            transit: Arc::new(PreparedTransit::new(transit)),
            states: Vec::new(),
            shadows: Vec::new(),
        })
    }

    /// Room for `transits` entries like [`known`]'s, with ids of up to
    /// five characters, and not one more.
    fn bytes_for(transits: u64) -> u64 {
        transits * known("T-999").size_bytes() as u64
    }

    #[test]
    fn holds_at_most_its_transits_and_keeps_what_is_used() {
        let cache = KnownTransits::new(4, bytes_for(1_000));
        for n in 0..10 {
            cache.put(known(&format!("T-{n}")));
            assert!(cache.len() <= 4);
            // T-0 is used after every insertion, so it is never dropped.
            assert!(cache.get("T-0").is_some(), "after T-{n}");
        }
        cache.put(known("T-10"));
        cache.forget("T-10");
        assert!(cache.get("T-10").is_none());
    }

    #[test]
    fn holds_at_most_its_bytes() {
        let cache = KnownTransits::new(1_000, bytes_for(4));
        for n in 0..10 {
            cache.put(known(&format!("T-{n}")));
            assert!(cache.len() <= 4, "{} after T-{n}", cache.len());
        }
    }

    /// A transit counts for what it holds: one with a long route is
    /// weighed by it, and one too heavy for the bound is not kept.
    #[test]
    fn a_long_route_weighs_what_it_holds() {
        let short = known("SHORT");
        let mut declaration: serde_json::Value = serde_json::from_str(SCENARIO).expect("the scenario's transit");
        declaration["route"]["coordinates"] = (0..100_000)
            .map(|n| serde_json::json!([76.0 + f64::from(n) * 1e-5, 43.0]))
            .collect();
        let transit = Transit::from_json(&declaration.to_string()).expect("a transit with a long route");
        let long = Arc::new(Known {
            record: TransitRecord::opened("LONG", transit.opened_at),
            transit: Arc::new(PreparedTransit::new(transit)),
            states: Vec::new(),
            shadows: Vec::new(),
        });
        // The route three times over: declared, and the index's ends and segments.
        assert!(long.size_bytes() > 100_000 * 3 * 16, "{} bytes", long.size_bytes());
        let cache = KnownTransits::new(1_000, bytes_for(100));
        cache.put(Arc::clone(&short));
        cache.put(long);
        assert!(cache.get("SHORT").is_some());
        assert!(cache.get("LONG").is_none(), "over the whole bound");
    }

    /// What a tick does: every transit in turn, again and again. While
    /// they fit, each is found at every pass.
    #[test]
    fn a_cycle_over_as_many_transits_as_it_holds_finds_every_one() {
        let cache = KnownTransits::new(100, bytes_for(100));
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
    fn a_bound_of_zero_holds_nothing() {
        for cache in [KnownTransits::new(0, bytes_for(10)), KnownTransits::new(10, 0)] {
            cache.put(known("T"));
            assert!(cache.get("T").is_none());
        }
    }
}
