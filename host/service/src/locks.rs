//! One lock per transit, so that a step waits for nothing but the earlier
//! steps of its own transit.
//!
//! A transit's lock exists while a step holds it or waits for it, and goes
//! away with the last of them: the map holds the transits in use, never
//! every transit the service has seen. Locks shared between transits (a
//! fixed number of hashed slots) would keep memory flat too, but then a
//! transit whose policies take their whole deadline would hold up every
//! transit that hashes alike.
//!
//! [`TransitLocks::try_lock`] is for the tick, which passes over a busy
//! transit rather than wait for it: it fails while the lock is held *or*
//! waited for, so that a batch waiting behind one tick is not overtaken by
//! the next.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// The locks of the transits in use, by id.
#[derive(Default)]
pub(crate) struct TransitLocks {
    entries: Mutex<HashMap<String, Entry>>,
}

/// A transit's lock while anyone holds it or waits for it.
struct Entry {
    held: bool,
    waiting: usize,
    /// Signalled when the lock is let go with someone waiting. Every
    /// entry's condition variable waits on the map's one mutex.
    freed: Arc<Condvar>,
}

/// A held transit lock, let go when dropped (a panic's unwinding included:
/// the lock is never poisoned, the next step of the transit takes it).
pub(crate) struct TransitGuard<'l> {
    locks: &'l TransitLocks,
    id: String,
}

impl TransitLocks {
    pub(crate) fn new() -> TransitLocks {
        TransitLocks::default()
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        // The map is only changed by code that cannot panic halfway.
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes the transit's lock, waiting for as long as another step holds it.
    pub(crate) fn lock(&self, id: &str) -> TransitGuard<'_> {
        let mut entries = self.entries();
        loop {
            let Some(entry) = entries.get_mut(id) else {
                entries.insert(id.to_owned(), Entry::held());
                break;
            };
            if !entry.held {
                entry.held = true;
                break;
            }
            entry.waiting += 1;
            let freed = Arc::clone(&entry.freed);
            entries = freed.wait(entries).unwrap_or_else(|poisoned| poisoned.into_inner());
            entries
                .get_mut(id)
                .expect("an entry stays while a step waits for it")
                .waiting -= 1;
        }
        self.guard(id)
    }

    /// Takes the transit's lock if no other step holds it or waits for it.
    pub(crate) fn try_lock(&self, id: &str) -> Option<TransitGuard<'_>> {
        let mut entries = self.entries();
        if entries.contains_key(id) {
            return None;
        }
        entries.insert(id.to_owned(), Entry::held());
        drop(entries);
        Some(self.guard(id))
    }

    fn guard(&self, id: &str) -> TransitGuard<'_> {
        TransitGuard {
            locks: self,
            id: id.to_owned(),
        }
    }

    /// How many transits have a lock now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries().len()
    }
}

impl Entry {
    fn held() -> Entry {
        Entry {
            held: true,
            waiting: 0,
            freed: Arc::new(Condvar::new()),
        }
    }
}

impl Drop for TransitGuard<'_> {
    fn drop(&mut self) {
        let mut entries = self.locks.entries();
        let Some(entry) = entries.get_mut(&self.id) else {
            return;
        };
        if entry.waiting == 0 {
            entries.remove(&self.id);
        } else {
            entry.held = false;
            entry.freed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::thread;
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_held_lock_is_waited_for_by_its_own_transit_only() {
        let locks = TransitLocks::new();
        let held = locks.lock("A");
        // Another transit is free at once.
        assert!(locks.try_lock("B").is_some());
        drop(locks.lock("B"));
        assert!(locks.try_lock("A").is_none());
        let released = AtomicBool::new(false);
        thread::scope(|scope| {
            let waiter = scope.spawn(|| {
                let _a = locks.lock("A");
                assert!(released.load(Ordering::SeqCst), "A was taken while held");
            });
            // Until the waiter has the lock, A stays taken for the tick,
            // even once the holder let go.
            while locks.entries().get("A").is_none_or(|entry| entry.waiting == 0) {
                thread::sleep(Duration::from_millis(1));
            }
            released.store(true, Ordering::SeqCst);
            drop(held);
            assert!(locks.try_lock("A").is_none() || waiter.is_finished());
            waiter.join().unwrap();
        });
        assert_eq!(locks.len(), 0, "no lock outlives its steps");
    }

    #[test]
    fn a_panic_lets_the_lock_go() {
        let locks = TransitLocks::new();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _a = locks.lock("A");
            panic!("a defect while A is held");
        }));
        assert!(outcome.is_err());
        assert!(locks.try_lock("A").is_some());
        assert_eq!(locks.len(), 0);
    }
}
