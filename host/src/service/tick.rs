//! The tick: every open transit evaluated for the passing of time, so that
//! signal loss and overdue arrival appear without a new fix.
//!
//! One transit must not hold up the others (issue 10, item 3): a policy
//! call may take its whole deadline, and a transit has one call per policy
//! per step. So the tick's transits are evaluated side by side on a few
//! workers ([`workers`]: one per core, at least two); a transit whose lock
//! is held (a batch in progress, or an earlier tick still on it) is passed
//! over this time rather than waited for, and the next tick takes it; a
//! panic in one transit's step is caught, counted and reported in the
//! [`TickSummary`], and the tick goes on with the others. `serve` starts
//! each tick on time even while an earlier one is still busy with a slow
//! transit (`http.rs`).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use chrono::{DateTime, Utc};

use super::locks::TransitLocks;
use super::{Service, ServiceError};
use crate::sandbox::panic_message;
use crate::store::Store;

/// Fewest workers a tick runs on, whatever the machine: with one, a slow
/// transit would hold up the rest of the tick.
const MIN_WORKERS: usize = 2;

/// Most failures a [`TickSummary`] lists one by one; its counts are exact.
const MAX_LISTED_FAILURES: usize = 100;

/// What one tick did with the open transits. Every open transit it found is
/// counted once, in exactly one of `changed`, `unchanged`, `busy`, `failed`
/// and `panicked`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TickSummary {
    /// Open transits the tick found.
    pub open: usize,
    /// Transits stored because their findings or verdict changed.
    pub changed: usize,
    /// Transits evaluated with nothing new to store, or with nothing to
    /// evaluate (a fix later than the tick's clock).
    pub unchanged: usize,
    /// Transits passed over because another step held them (a batch in
    /// progress, or an earlier tick still on them); the next tick takes them.
    pub busy: usize,
    /// Transits whose step failed on the database; nothing of it was kept.
    pub failed: usize,
    /// Transits whose step panicked outside a policy call: a defect of the
    /// service. Nothing of the step was kept, and the transit is listed for
    /// review until a step of it succeeds.
    pub panicked: usize,
    /// The first 100 transits that failed or panicked, and why.
    pub failures: Vec<TickFailure>,
}

/// One transit whose tick failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TickFailure {
    /// The transit's id.
    pub transit: String,
    /// What went wrong.
    pub reason: String,
    /// Whether the step panicked, rather than failed on the database.
    pub panicked: bool,
}

/// How one transit's part of a tick ended.
enum Outcome {
    Changed,
    Unchanged,
    Busy,
    Failed(String),
    Panicked(String),
}

impl TickSummary {
    fn count(&mut self, id: &str, outcome: Outcome) {
        let failure = match outcome {
            Outcome::Changed => {
                self.changed += 1;
                None
            }
            Outcome::Unchanged => {
                self.unchanged += 1;
                None
            }
            Outcome::Busy => {
                self.busy += 1;
                None
            }
            Outcome::Failed(reason) => {
                self.failed += 1;
                Some((reason, false))
            }
            Outcome::Panicked(reason) => {
                self.panicked += 1;
                Some((reason, true))
            }
        };
        if let Some((reason, panicked)) = failure
            && self.failures.len() < MAX_LISTED_FAILURES
        {
            self.failures.push(TickFailure {
                transit: id.to_owned(),
                reason,
                panicked,
            });
        }
    }
}

/// How many workers a tick runs on: one per core, at least [`MIN_WORKERS`].
pub(super) fn workers() -> usize {
    thread::available_parallelism()
        .map_or(MIN_WORKERS, usize::from)
        .max(MIN_WORKERS)
}

impl Service {
    /// Evaluates every open transit for the passing of time up to `now`, so
    /// that signal loss and overdue arrival appear without new fixes, and
    /// stores the transits whose findings changed.
    ///
    /// Transits are evaluated side by side on one worker per core (at least
    /// two, the calling thread among them). A transit that another step
    /// holds is passed over, not waited for, and a panic in one transit's
    /// step is caught: neither holds up the others, though the call returns
    /// only once every transit it took is done. Calls may overlap; each
    /// passes over the transits the other is on.
    ///
    /// # Errors
    /// Only when the open transits cannot be read; a transit that fails is
    /// counted in the summary, and the tick goes on.
    pub fn tick(&self, now: DateTime<Utc>) -> Result<TickSummary, ServiceError> {
        let ids = self.readers.with(Store::open_transits)?;
        let summary = each_transit(
            &ids,
            self.tick_workers,
            &self.locks,
            |id| self.tick_transit(id, now),
            |id, message| self.after_panic(id, "tick", message, true),
        );
        self.metrics.count_tick(&summary);
        Ok(summary)
    }

    /// One transit's part of a tick; call it holding the transit's lock.
    /// Returns whether it stored.
    fn tick_transit(&self, id: &str, now: DateTime<Utc>) -> Result<bool, ServiceError> {
        let Some(known) = self.known(id)? else {
            return Ok(false);
        };
        if known.record.closed.is_some() || known.record.last_fix_at.is_some_and(|last| last > now) {
            return Ok(false);
        }
        self.pass_time(&known, now, None, "tick", false)
    }
}

/// Runs `step` (which returns whether it stored) on each of `ids` under the
/// transit's lock, on `workers` threads, the calling one among them. A
/// transit whose lock is taken is passed over; a panic in `step` is caught
/// and handed to `on_panic`, still under the lock, which says what came of
/// it.
fn each_transit(
    ids: &[String],
    workers: usize,
    locks: &TransitLocks,
    step: impl Fn(&str) -> Result<bool, ServiceError> + Sync,
    on_panic: impl Fn(&str, &str) -> ServiceError + Sync,
) -> TickSummary {
    let next = AtomicUsize::new(0);
    let summary = Mutex::new(TickSummary {
        open: ids.len(),
        ..TickSummary::default()
    });
    let one = |id: &str| -> Outcome {
        let Some(_transit) = locks.try_lock(id) else {
            return Outcome::Busy;
        };
        match catch_unwind(AssertUnwindSafe(|| step(id))) {
            Ok(Ok(true)) => Outcome::Changed,
            Ok(Ok(false)) => Outcome::Unchanged,
            Ok(Err(e)) => Outcome::Failed(e.to_string()),
            Err(payload) => {
                let message = panic_message(payload.as_ref());
                // Whatever `on_panic` does, the panic has been told.
                let told = catch_unwind(AssertUnwindSafe(|| on_panic(id, &message).to_string()));
                Outcome::Panicked(told.unwrap_or(message))
            }
        }
    };
    let work = || {
        while let Some(id) = ids.get(next.fetch_add(1, Ordering::Relaxed)) {
            let outcome = one(id);
            summary
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .count(id, outcome);
        }
    };
    thread::scope(|scope| {
        for _ in 1..workers.min(ids.len()) {
            // A worker the system refuses leaves the others the work.
            if thread::Builder::new()
                .name("escort-tick".to_owned())
                .spawn_scoped(scope, work)
                .is_err()
            {
                break;
            }
        }
        work();
    });
    summary.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::time::{Duration, Instant};

    use super::*;

    fn ids(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    /// Issue 10, item 3: a transit that hangs, one that panics and one that
    /// another step holds do not keep the tick from the others.
    #[test]
    fn a_hung_a_panicking_and_a_busy_transit_hold_up_no_other() {
        let locks = TransitLocks::new();
        let done = AtomicUsize::new(0);
        let others_done_while_hung = AtomicBool::new(false);
        let held = locks.lock("D-BUSY");
        let summary = each_transit(
            &ids(&["A-HUNG", "B-PANICS", "C", "D-BUSY", "E", "F"]),
            2,
            &locks,
            |id| match id {
                "A-HUNG" => {
                    // Hangs until every other transit is done: with one
                    // worker left, that proves they did not wait for it.
                    let started = Instant::now();
                    while done.load(Ordering::SeqCst) < 3 {
                        assert!(started.elapsed() < Duration::from_secs(30), "the others waited");
                        thread::sleep(Duration::from_millis(1));
                    }
                    others_done_while_hung.store(true, Ordering::SeqCst);
                    Ok(false)
                }
                "B-PANICS" => panic!("a defect of the service, on purpose"),
                _ => {
                    done.fetch_add(1, Ordering::SeqCst);
                    Ok(true)
                }
            },
            |id, message| ServiceError::Defect(format!("{id}: {message}")),
        );
        drop(held);
        assert!(others_done_while_hung.load(Ordering::SeqCst));
        assert_eq!(
            (
                summary.open,
                summary.changed,
                summary.unchanged,
                summary.busy,
                summary.failed,
                summary.panicked
            ),
            (6, 3, 1, 1, 0, 1)
        );
        assert_eq!(
            summary.failures,
            [TickFailure {
                transit: "B-PANICS".to_owned(),
                reason: "B-PANICS: a defect of the service, on purpose".to_owned(),
                panicked: true,
            }]
        );
        assert!(locks.try_lock("B-PANICS").is_some(), "the panic let the lock go");
    }

    #[test]
    fn a_tick_runs_on_at_least_two_workers() {
        assert!(workers() >= MIN_WORKERS);
    }
}
