//! A step that panics outside a policy call: a defect of the service, which
//! must cost that one step and never show its transit as clear.
//!
//! A policy's own failures (a trap, fuel, the deadline, even a panic of the
//! host inside the call) are already `policy.error` findings, stored like
//! any other. A panic anywhere else in a step (evaluating, storing) leaves
//! nothing to store: the step is rolled back whole, or was not written yet.
//! So the service catches it, counts it (`escort_step_panics_total`), drops
//! what it keeps in memory of the transit (the panic may have come between
//! a commit and the update of that copy), and marks the transit for review
//! in its stored verdict, which is what `GET /v1/transits` lists. The mark
//! lasts until a step of the transit succeeds and stores the verdict its
//! findings give: a tick stores it even when no finding changed.
//!
//! What the mark cannot do: it is a verdict with no finding behind it, so
//! the transit's report (evaluated when it is asked for) shows no trace of
//! the panic; a report that panics too is a `500`. A transit whose steps
//! panic before it was ever stored, or that the database cannot read, is
//! not marked.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use super::{Service, ServiceError, StepKind};
use crate::audit::{AuditEntry, digest_fixes};
use crate::store::Step;
use escort_engine::Verdict;
use escort_engine::panic_message;

impl Service {
    /// Runs `work`, a request's step on transit `id` (`step` names it for
    /// the metrics and logs), and turns a
    /// panic of it into [`ServiceError::Defect`] after marking the transit
    /// for review.
    pub fn guarded<T>(
        &self,
        id: &str,
        step: StepKind,
        work: impl FnOnce() -> Result<T, ServiceError>,
    ) -> Result<T, ServiceError> {
        match catch_unwind(AssertUnwindSafe(work)) {
            Ok(outcome) => outcome,
            Err(payload) => {
                let message = panic_message(payload.as_ref());
                // The step's own lock went with its unwinding. When another
                // step has the transit now, that step stores its verdict, or
                // panics and marks it.
                let transit = self.locks.try_lock(id);
                Err(self.after_panic(id, step, &message, transit.is_some()))
            }
        }
    }

    /// What follows a panic of a `step` on transit `id`: counts it, forgets
    /// the transit's copy in memory and, when `locked` (the caller holds the
    /// transit's lock), marks the transit for review. Returns the error that
    /// tells of it.
    pub(super) fn after_panic(&self, id: &str, step: StepKind, message: &str, locked: bool) -> ServiceError {
        self.metrics.count_step_panic(step);
        self.known.forget(id);
        let what = format!(
            "transit `{id}`: the {step} step panicked ({message}); nothing of it that was not committed was kept"
        );
        if !locked {
            return ServiceError::Defect(format!("{what}, and another step has the transit now"));
        }
        match catch_unwind(AssertUnwindSafe(|| self.mark_for_review(id))) {
            Ok(Ok(true)) => ServiceError::Defect(format!(
                "{what}, and the transit is listed for review until a step of it succeeds"
            )),
            Ok(Ok(false)) => ServiceError::Defect(what),
            Ok(Err(e)) => ServiceError::Defect(format!("{what}, and it could not be marked for review: {e}")),
            Err(payload) => ServiceError::Defect(format!(
                "{what}, and marking it for review panicked too ({})",
                panic_message(payload.as_ref())
            )),
        }
    }

    /// Stores the open transit `id` as it is, but with a verdict of at least
    /// review. Call it holding the transit's lock. Returns whether the
    /// transit is now listed as review or worse; `false` when it is closed
    /// or unknown.
    fn mark_for_review(&self, id: &str) -> Result<bool, ServiceError> {
        let Some(known) = self.known(id)? else {
            return Ok(false);
        };
        if known.record.closed.is_some() {
            return Ok(false);
        }
        if known.record.verdict >= Verdict::Review {
            return Ok(true);
        }
        let mut record = known.record.clone();
        record.verdict = Verdict::Review;
        let evaluated_at = record.evaluated_at;
        // No decisions, so no findings and no decision record: the step only
        // rewrites the transit's row and its states as they were, and its
        // step record commits the audit log to that row.
        self.commit(
            Step {
                record,
                declaration: None,
                fixes: Vec::new(),
                rejections: Vec::new(),
                restart: false,
                decisions: Vec::new(),
                states: known.states.clone(),
                audit: AuditEntry {
                    kind: StepKind::Fault.as_str(),
                    input_digest: digest_fixes(&[]),
                    evaluated_at,
                },
                shadows: known.shadows.clone(),
            },
            Arc::clone(&known.transit),
        )?;
        Ok(true)
    }
}
