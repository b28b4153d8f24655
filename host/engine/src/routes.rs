//! Route indexes shared by the transits that declare the same route.
//!
//! Customs sends transits along a few corridors, so many of the transits a
//! service holds open declare the very same positions, and an index is most
//! of what a transit holds in memory (about 20 KiB for a route of 300
//! positions). [`SharedRoutes`] gives every transit with the same positions,
//! to the bit, the same index. Policies cannot tell: an index is a function
//! of its positions alone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use sha2::{Digest, Sha256};

use crate::geodesy::RouteIndex;

/// Routes kept before the first sweep of those no transit holds any more.
const FIRST_SWEEP: usize = 1024;

/// The indexes of the routes the transits in memory declare, each held once.
///
/// It holds them weakly: an index lives as long as a transit holds it, and a
/// route no transit holds is forgotten. Its own memory is one entry per
/// route held, swept once the count doubles.
///
/// # Examples
/// ```
/// use escort_engine::SharedRoutes;
/// use geo::coord;
/// use std::sync::Arc;
///
/// let routes = SharedRoutes::default();
/// let corridor = [coord! { x: 80.26, y: 44.21 }, coord! { x: 76.93, y: 43.26 }];
/// let first = routes.index(&corridor);
/// assert!(Arc::ptr_eq(&first, &routes.index(&corridor.clone())));
/// ```
#[derive(Debug, Default)]
pub struct SharedRoutes {
    held: Mutex<Held>,
}

#[derive(Debug, Default)]
struct Held {
    /// By the SHA-256 of the positions' bits.
    indexes: HashMap<[u8; 32], Weak<RouteIndex>>,
    /// How many entries trigger the next sweep.
    sweep_at: usize,
}

impl SharedRoutes {
    /// The index of `route`: the one a transit with the same positions
    /// already holds, or a new one.
    pub fn index(&self, route: &[geo::Coord<f64>]) -> Arc<RouteIndex> {
        let key = route_key(route);
        if let Some(index) = self.lock().indexes.get(&key).and_then(Weak::upgrade) {
            return index;
        }
        // Indexed outside the lock: two transits with a new route at once
        // may both index it, and the second is the one kept.
        let index = Arc::new(RouteIndex::new(route));
        let mut held = self.lock();
        if held.indexes.len() >= held.sweep_at {
            held.indexes.retain(|_, index| index.strong_count() > 0);
            held.sweep_at = (2 * held.indexes.len()).max(FIRST_SWEEP);
        }
        held.indexes.insert(key, Arc::downgrade(&index));
        index
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        // The map is left whole by every step under the lock.
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many routes are held, live or not yet swept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().indexes.len()
    }
}

/// The SHA-256 of the positions' bits, in order.
fn route_key(route: &[geo::Coord<f64>]) -> [u8; 32] {
    let mut hash = Sha256::new();
    for position in route {
        hash.update(position.x.to_bits().to_le_bytes());
        hash.update(position.y.to_bits().to_le_bytes());
    }
    hash.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::coord;

    fn route(end_lat: f64) -> Vec<geo::Coord<f64>> {
        vec![coord! { x: 80.26, y: 44.21 }, coord! { x: 76.93, y: end_lat }]
    }

    #[test]
    fn the_same_positions_share_an_index_and_others_do_not() {
        let routes = SharedRoutes::default();
        let first = routes.index(&route(43.26));
        assert!(Arc::ptr_eq(&first, &routes.index(&route(43.26))));
        assert!(!Arc::ptr_eq(&first, &routes.index(&route(43.27))));
        // -0.0 and 0.0 are the same place but other bits: not shared, and
        // the index is the same function of either.
        assert!(!Arc::ptr_eq(&routes.index(&route(0.0)), &routes.index(&route(-0.0))));
    }

    #[test]
    fn a_route_no_transit_holds_is_forgotten() {
        let routes = SharedRoutes::default();
        let kept = routes.index(&route(43.0));
        for n in 0..3 * FIRST_SWEEP {
            routes.index(&route(44.0 + n as f64 * 1e-6));
        }
        assert!(routes.len() <= FIRST_SWEEP + 1, "{} routes held", routes.len());
        assert!(Arc::ptr_eq(&kept, &routes.index(&route(43.0))));
    }
}
