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
//!
//! A tick stores a transit only when it changed in substance
//! ([`changed_in_substance`]), never for an open finding that only runs on
//! with the clock: 10,000 silent transits were stored, audit records and
//! all, at every tick (issue 11, item 6). And its workers do not wait for
//! each transit's commit, which held a transaction to one step per worker:
//! they hand the step to the writer and go on, and a thread of the tick
//! settles the steps in the order they were handed over, each transit's
//! lock held until its step is committed, so that the known cache and the
//! transit's next step see committed states only.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread;

use chrono::{DateTime, Utc};

use super::commit::MAX_GROUP;
use super::locks::{TransitGuard, TransitLocks};
use super::{Evaluated, Service, ServiceError, StepKind, Submitted};
use crate::store::{Store, TransitRecord};
use escort_engine::PolicyState;
use escort_engine::panic_message;
use escort_engine::{Finding, Severity};

/// Fewest workers a tick runs on, whatever the machine: with one, a slow
/// transit would hold up the rest of the tick.
const MIN_WORKERS: usize = 2;

/// Most steps of a tick handed to the group commit and not yet committed:
/// a full transaction being written and the next one filling. A worker
/// that finds this many waits, so memory stays bounded however many
/// transits a tick stores.
const MAX_IN_FLIGHT: usize = 2 * MAX_GROUP;

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
    /// Transits stored because they changed in substance
    /// ([`Service::tick`]): an episode began, ended or changed severity, a
    /// final finding was raised, or the verdict changed.
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

/// What of an open finding a tick stores a change of: which policy raised
/// it, what it is, how serious, when it began and where. Not its `to`,
/// message or evidence, which an open finding carries as it stands at the
/// evaluation clock ("no fix for 47 min, and still none"): they change at
/// every tick, and storing them stored every silent transit at every tick,
/// forever (issue 11, item 6).
#[derive(PartialEq)]
struct Substance<'f> {
    policy: &'f str,
    policy_version: &'f str,
    code: &'f str,
    severity: Severity,
    from: DateTime<Utc>,
    lat: Option<f64>,
    lon: Option<f64>,
}

impl<'f> Substance<'f> {
    fn of(finding: &'f Finding) -> Substance<'f> {
        Substance {
            policy: &finding.policy,
            policy_version: &finding.policy_version,
            code: &finding.code,
            severity: finding.severity,
            from: finding.from,
            lat: finding.lat,
            lon: finding.lon,
        }
    }
}

/// Whether an evaluation for the passing of time changed the transit in
/// substance since its stored step (`stored` and `record`): it was a
/// replay (the stored states are another policy set's), it raised a final
/// finding, an open finding began, ended or changed in substance
/// ([`Substance`]: a severity, a new episode), or the verdict changed.
///
/// Anything else it would store is what the stored states give again when
/// evaluated at a later clock, so nothing is lost by not storing it: a
/// report evaluates the stored states as of the moment it is asked for,
/// and the next batch resumes from them. A policy is a pure function whose
/// stream of calls must end as one call over everything (the contract's
/// `open`), so a call with no fixes that it was never given changes
/// nothing of what its later calls answer; and one whose state changed
/// with time alone without a finding showing it gets that change again at
/// its next evaluation.
pub(super) fn changed_in_substance(evaluated: &Evaluated<'_>, stored: &[PolicyState], record: &TransitRecord) -> bool {
    if evaluated.replayed {
        return true;
    }
    let open: Vec<Finding> = evaluated
        .evaluation
        .policy_states()
        .into_iter()
        .flat_map(|state| state.open)
        .collect();
    let raised_final = evaluated.evaluation.findings().len() > open.len();
    let open_before = stored.iter().flat_map(|state| &state.open);
    // What `Service::step_of` would store, for an evaluation that resumed.
    let verdict = record.final_verdict.max(evaluated.evaluation.verdict());
    raised_final || !open.iter().map(Substance::of).eq(open_before.map(Substance::of)) || verdict != record.verdict
}

impl Service {
    /// Evaluates every open transit for the passing of time up to `now`, so
    /// that signal loss and overdue arrival appear without new fixes, and
    /// stores the transits that changed in substance
    /// ([`changed_in_substance`]).
    ///
    /// Transits are evaluated side by side on one worker per core (at least
    /// two, the calling thread among them). A transit that another step
    /// holds is passed over, not waited for, and a panic in one transit's
    /// step is caught: neither holds up the others, though the call returns
    /// only once every transit it took is done. A worker hands each step to
    /// the group commit and goes on to the next transit; each transit's
    /// lock is let go once its step is committed, so that the transactions
    /// hold many steps. Calls may overlap; each passes over the transits
    /// the other is on.
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
            |submitted| self.settle(submitted).map(drop),
            |id, message| self.after_panic(id, StepKind::Tick, message, true),
        );
        self.metrics.count_tick(&summary);
        Ok(summary)
    }

    /// One transit's part of a tick; call it holding the transit's lock.
    /// Returns the step it handed to the group commit, if it stores one.
    fn tick_transit(&self, id: &str, now: DateTime<Utc>) -> Result<Option<Submitted>, ServiceError> {
        let Some(known) = self.known(id)? else {
            return Ok(None);
        };
        if known.record.closed.is_some() || known.record.last_fix_at.is_some_and(|last| last > now) {
            return Ok(None);
        }
        let step = self.time_step(&known, now, None)?;
        Ok(step.map(|step| self.submit(step, Arc::clone(&known.transit))))
    }
}

/// Runs `step` on each of `ids` under the transit's lock, on `workers`
/// threads, the calling one among them. A step that stores hands back what
/// it submitted (`S`), which `settle` waits for on a thread of its own,
/// still under the transit's lock, while the workers go on. A transit
/// whose lock is taken is passed over; a panic in `step` or `settle` is
/// caught and handed to `on_panic`, still under the lock, which says what
/// came of it.
fn each_transit<'t, S: Send>(
    ids: &'t [String],
    workers: usize,
    locks: &'t TransitLocks,
    step: impl Fn(&str) -> Result<Option<S>, ServiceError> + Sync,
    settle: impl Fn(S) -> Result<(), ServiceError> + Sync,
    on_panic: impl Fn(&str, &str) -> ServiceError + Sync,
) -> TickSummary {
    let next = AtomicUsize::new(0);
    let summary = Mutex::new(TickSummary {
        open: ids.len(),
        ..TickSummary::default()
    });
    let count = |id: &str, outcome: Outcome| {
        summary
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .count(id, outcome);
    };
    let settle_one = |id: &str, submitted: S| {
        let outcome = match caught(id, &on_panic, || settle(submitted)) {
            Ok(()) => Outcome::Changed,
            Err(failed) => failed,
        };
        count(id, outcome);
    };
    let (to_settle, submitted) = mpsc::sync_channel::<Submission<'t, S>>(MAX_IN_FLIGHT);
    let work = |to_settle: SyncSender<Submission<'t, S>>| {
        while let Some(id) = ids.get(next.fetch_add(1, Ordering::Relaxed)) {
            let Some(transit) = locks.try_lock(id) else {
                count(id, Outcome::Busy);
                continue;
            };
            match caught(id, &on_panic, || step(id)) {
                Ok(Some(submitted)) => {
                    // Without the settling thread, settled here.
                    if let Err(mpsc::SendError((_transit, id, submitted))) = to_settle.send((transit, id, submitted)) {
                        settle_one(id, submitted);
                    }
                }
                Ok(None) => count(id, Outcome::Unchanged),
                Err(failed) => count(id, failed),
            }
        }
    };
    thread::scope(|scope| {
        // A thread the system refuses leaves its work to the others: the
        // settling thread's to the workers, a worker's to the rest.
        let _ = thread::Builder::new()
            .name("escort-tick-commit".to_owned())
            .spawn_scoped(scope, || {
                for (_transit, id, pending) in submitted {
                    settle_one(id, pending);
                }
            });
        for _ in 1..workers.min(ids.len()) {
            let to_settle = to_settle.clone();
            if thread::Builder::new()
                .name("escort-tick".to_owned())
                .spawn_scoped(scope, || work(to_settle))
                .is_err()
            {
                break;
            }
        }
        // The last sender goes with this worker, which ends the settling.
        work(to_settle);
    });
    summary.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A transit's step handed to the group commit, the transit's lock, and
/// its id: what a tick's worker hands the thread that settles it.
type Submission<'t, S> = (TransitGuard<'t>, &'t str, S);

/// Runs `work` for transit `id`, catching a panic: the outcome for the
/// summary when it failed or panicked (after `on_panic`).
fn caught<T>(
    id: &str,
    on_panic: &(impl Fn(&str, &str) -> ServiceError + Sync),
    work: impl FnOnce() -> Result<T, ServiceError>,
) -> Result<T, Outcome> {
    match catch_unwind(AssertUnwindSafe(work)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(Outcome::Failed(e.to_string())),
        Err(payload) => {
            let message = panic_message(payload.as_ref());
            // Whatever `on_panic` does, the panic has been told.
            let told = catch_unwind(AssertUnwindSafe(|| on_panic(id, &message).to_string()));
            Err(Outcome::Panicked(told.unwrap_or(message)))
        }
    }
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
                    Ok(None)
                }
                "B-PANICS" => panic!("a defect of the service, on purpose"),
                _ => {
                    done.fetch_add(1, Ordering::SeqCst);
                    Ok(Some(()))
                }
            },
            |()| Ok(()),
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

    /// Issue 11, item 6: a worker hands a transit's step to the commit and
    /// goes on to the next transit instead of waiting for it, so that one
    /// transaction holds many transits' steps; each transit's lock is held
    /// until its step is settled.
    #[test]
    fn a_worker_goes_on_while_its_steps_commit_and_each_lock_is_held_until_settled() {
        let locks = TransitLocks::new();
        let stepped = Mutex::new(Vec::new());
        let settled = Mutex::new(Vec::new());
        let names = ["A", "B", "C", "D"];
        let summary = each_transit(
            &ids(&names),
            1,
            &locks,
            |id| {
                stepped.lock().unwrap().push(id.to_owned());
                Ok(Some(id.to_owned()))
            },
            |id| {
                // Waiting here for every step, as a commit waits for its
                // transaction: with one worker, the steps ran meanwhile.
                let started = Instant::now();
                while stepped.lock().unwrap().len() < names.len() {
                    assert!(
                        started.elapsed() < Duration::from_secs(30),
                        "the worker waited for {id}'s commit"
                    );
                    thread::sleep(Duration::from_millis(1));
                }
                assert!(locks.try_lock(&id).is_none(), "{id} is still locked while it settles");
                settled.lock().unwrap().push(id);
                Ok(())
            },
            |id, message| ServiceError::Defect(format!("{id}: {message}")),
        );
        assert_eq!((summary.open, summary.changed), (4, 4));
        assert_eq!(*settled.lock().unwrap(), names, "settled in the order submitted");
        assert!(locks.try_lock("A").is_some(), "every lock was let go");
    }

    #[test]
    fn a_tick_runs_on_at_least_two_workers() {
        assert!(workers() >= MIN_WORKERS);
    }
}
