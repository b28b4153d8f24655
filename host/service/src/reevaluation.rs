//! Stored transits evaluated again from their stored fixes, and the
//! findings compared with the stored ones (`escort audit verify
//! --reevaluate`).
//!
//! Policies are deterministic (no clock, no randomness, budgets counted in
//! fuel and positions), and streaming equals batch, so a transit's fixes
//! under the policies that last evaluated it give its stored findings
//! again, whatever batches they came in. A finding that is stored but not
//! given again, or given but not stored, is a finding an officer should not
//! trust, even in a database whose audit log verifies (the log records
//! what was decided, not that it was decided right).
//!
//! The policies that last evaluated a transit are the versions its stored
//! policy states name by fingerprint, which the database keeps with their
//! components (`timeline`): each transit is evaluated again by exactly the
//! versions that judged it, whatever the live folder holds now. A transit
//! one of whose versions the database does not keep (one last evaluated by
//! a build before the timeline, under policies changed before it was
//! adopted), or does not load, is counted and named, not evaluated.
//!
//! The verification of the audit log comes first, in the same snapshot of
//! the database, so the rows compared here are the ones the chain commits
//! to.

use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::audit::{AuditError, Checkpoint, Verified};
use crate::store::{ListFilter, Store};
use crate::versions::Versions;
use escort_engine::{Finding, Sandbox, format_time};

/// Most transits a [`Reevaluation`] names one by one; its counts are exact.
const MAX_NAMED: usize = 100;

/// Transits read from the list at a time.
const PAGE: usize = 1_000;

/// What re-evaluation found: every transit counted once, as re-evaluated
/// (with the stored findings given again) or not re-evaluated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reevaluation {
    /// Transits evaluated again, whose findings were the stored ones.
    pub reevaluated: u64,
    /// Transits not evaluated again, because a version that last evaluated
    /// them is not kept, or does not load.
    pub not_reevaluated: u64,
    /// The first 100 of those, and why: (transit, reason).
    pub not_reevaluated_named: Vec<(String, String)>,
}

/// Verifies the database at `path` as
/// [`crate::verification::verify_database`] does (reading only), then
/// evaluates every transit again with the versions that last evaluated it,
/// loaded in `sandbox`, and compares, in one snapshot. The first transit
/// whose findings differ is an [`AuditError::Differs`].
pub fn verify_database(
    path: &Path,
    sandbox: &Sandbox,
    checkpoint: Option<&Checkpoint>,
    trusted_key: Option<&ed25519_dalek::VerifyingKey>,
) -> Result<(Verified, Reevaluation), AuditError> {
    let store = Store::open_verified_reader(path)?;
    store.in_snapshot(|store| {
        let verified = store.verify_audit(checkpoint, trusted_key)?;
        // Read once the snapshot is taken: the timeline only grows, so this
        // one holds every version the snapshot's states name.
        let versions = Versions::open(sandbox.clone(), Arc::new(Mutex::new(Store::open_reader(path)?)))?;
        Ok((verified, reevaluate(store, &versions)?))
    })
}

fn reevaluate(store: &Store, versions: &Versions) -> Result<Reevaluation, AuditError> {
    let mut reevaluation = Reevaluation::default();
    let mut after = None;
    loop {
        let page = store.list(&ListFilter {
            after: after.clone(),
            limit: PAGE,
            ..ListFilter::default()
        })?;
        let Some(last) = page.last() else {
            return Ok(reevaluation);
        };
        after = Some(last.id.clone());
        for summary in &page {
            match reevaluate_transit(store, versions, &summary.id)? {
                None => reevaluation.reevaluated += 1,
                Some(reason) => {
                    reevaluation.not_reevaluated += 1;
                    if reevaluation.not_reevaluated_named.len() < MAX_NAMED {
                        reevaluation.not_reevaluated_named.push((summary.id.clone(), reason));
                    }
                }
            }
        }
    }
}

/// Evaluates transit `id` again; `None` when its findings are the stored
/// ones, and why it was not evaluated when it was not.
fn reevaluate_transit(store: &Store, versions: &Versions, id: &str) -> Result<Option<String>, AuditError> {
    let differs = |reason: String| AuditError::Differs {
        transit: id.to_owned(),
        reason,
    };
    let record = store
        .transit(id)?
        .ok_or_else(|| differs("it was listed but cannot be read".to_owned()))?;
    let states = store.policy_states(id)?;
    let policies = match versions.set_of(&states) {
        Ok(policies) => policies,
        Err(reason) => return Ok(Some(reason)),
    };
    let declaration = store.declaration(id)?.unwrap_or_default();
    let transit = escort_engine::Transit::from_json(&declaration)
        .map_err(|e| differs(format!("its declaration as stored does not read: {e}")))?;
    let fixes = store.fixes(id)?;
    let now: DateTime<Utc> = record
        .last_fix_at
        .map_or(record.evaluated_at, |last| last.max(record.evaluated_at));
    let mut evaluation = policies.open(&transit);
    evaluation
        .observe(&fixes, now)
        .map_err(|e| differs(format!("evaluating it again failed: {e}")))?;
    let stored = store
        .findings(id)?
        .into_iter()
        .chain(states.into_iter().flat_map(|state| state.open));
    match first_difference(stored, evaluation.findings()) {
        None => Ok(None),
        Some(difference) => Err(differs(format!(
            "evaluated again from its {} fixes as of {}, {difference}",
            fixes.len(),
            format_time(&now)
        ))),
    }
}

/// The first finding that is in one list and not in the other, counting
/// repeats, in words; `None` when they hold the same findings.
fn first_difference(stored: impl IntoIterator<Item = Finding>, again: Vec<Finding>) -> Option<String> {
    // Sorted by their full JSON: a total order, so equal lists sort alike.
    let sorted = |findings: Vec<Finding>| {
        let mut texts: Vec<(String, Finding)> = findings
            .into_iter()
            .map(|finding| {
                (
                    serde_json::to_string(&finding).expect("a finding always serializes"),
                    finding,
                )
            })
            .collect();
        texts.sort_by(|a, b| a.0.cmp(&b.0));
        texts
    };
    let (stored, again) = (sorted(stored.into_iter().collect()), sorted(again));
    let (mut stored, mut again) = (stored.iter().peekable(), again.iter().peekable());
    loop {
        match (stored.peek(), again.peek()) {
            (None, None) => return None,
            (Some(kept), Some(given)) if kept.0 == given.0 => {
                stored.next();
                again.next();
            }
            (Some(kept), Some(given)) if kept.0 > given.0 => return Some(given_not_stored(&given.1)),
            (Some(kept), _) => return Some(stored_not_given(&kept.1)),
            (None, Some(given)) => return Some(given_not_stored(&given.1)),
        }
    }
}

fn described(finding: &Finding) -> String {
    format!(
        "`{}` ({}) from {} to {}",
        finding.code,
        finding.severity.as_str(),
        format_time(&finding.from),
        format_time(&finding.to)
    )
}

fn stored_not_given(finding: &Finding) -> String {
    format!(
        "the policies do not give the stored finding {} (it was changed or added)",
        described(finding)
    )
}

fn given_not_stored(finding: &Finding) -> String {
    format!(
        "the policies give {}, which is not stored (it was changed or removed)",
        described(finding)
    )
}
