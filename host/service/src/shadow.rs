//! Shadow runs: a version published with `mode = "shadow"` runs beside
//! the enforced versions on live traffic, and decides nothing.
//!
//! Every step that stores an evaluation of a transit also runs each shadow
//! version running at that moment over what the step observed, from the
//! state its last run on the transit left (or from the transit's first fix,
//! the first time, and whenever the step itself began again). What it
//! finds is stored apart (`shadow_runs`): it never reaches a verdict, a
//! report, the transit list or the audit log's decisions, and a shadow
//! version that fails, traps or runs out of fuel only gives itself a
//! `policy.error`; the step goes on. A shadow runs on every transit that
//! steps while it runs, including those its policy's enforced versions do
//! not judge, so that a new policy can be shadowed too.
//!
//! [`ShadowReport`] (`GET /v1/policies/{id}/shadow`) compares each run with
//! the enforced findings of the same policy on the same transit, as the
//! backtest does (`replay`): the verdict the transit would have, the
//! findings the shadow version adds, drops and changes, and counts by code.
//! Policies are deterministic and streaming equals batch, so a shadow
//! version identical to the enforced one disagrees on nothing.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::replay::{Tally, TransitDiff, findings_diff, tallies};
use crate::store::{ShadowRun, StoreError};
use crate::timeline::VersionInfo;
use escort_engine::{Finding, Fix, ObserveError, PolicySet, PreparedTransit};

/// Most transits a shadow report lists one by one; its counts take in every
/// transit.
pub const MAX_SHADOW_DIFFS: usize = 1_000;

/// What a step observed, for a shadow version to observe the same.
pub(crate) enum Observed<'f> {
    /// The transit was admitted: no fix yet.
    Admission,
    /// New fixes in time order, after the stored states.
    Batch(&'f [Fix]),
    /// Every fix from the first, in time order: the step began again.
    Everything(&'f [Fix]),
}

/// Runs the shadow version `shadow` (`set` holds it alone) over what a step
/// of `transit` observed as of `now`, from its run `before` when it has
/// one. `all_fixes` gives every fix of the transit in time order, for a
/// run that begins at the first. `Err` says why it could not.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    shadow: i64,
    set: &PolicySet,
    transit: &PreparedTransit,
    before: Option<&ShadowRun>,
    last_fix_at: Option<DateTime<Utc>>,
    observed: &Observed<'_>,
    all_fixes: impl FnOnce() -> Result<Vec<Fix>, StoreError>,
    now: DateTime<Utc>,
) -> Result<ShadowRun, String> {
    let observe_error = |e: ObserveError| e.to_string();
    let resumed = match (observed, before) {
        (Observed::Batch(batch), Some(before)) => set
            .resume(transit, vec![before.state.clone()], last_fix_at)
            .ok()
            .map(|evaluation| (evaluation, *batch, before.finals.clone())),
        _ => None,
    };
    let (mut evaluation, finals) = match resumed {
        Some((mut evaluation, batch, finals)) => {
            evaluation.observe(batch, now).map_err(observe_error)?;
            (evaluation, finals)
        }
        None => {
            let mut evaluation = set.open_prepared(transit);
            match observed {
                Observed::Admission => {}
                Observed::Everything(fixes) => evaluation.observe(fixes, now).map_err(observe_error)?,
                Observed::Batch(_) => {
                    let fixes = all_fixes().map_err(|e| e.to_string())?;
                    evaluation.observe(&fixes, now).map_err(observe_error)?;
                }
            }
            (evaluation, Vec::new())
        }
    };
    let mut finals = finals;
    finals.extend(evaluation.take_findings());
    let state = evaluation
        .policy_states()
        .pop()
        .expect("a shadow version's set holds it alone");
    Ok(ShadowRun { shadow, state, finals })
}

/// A shadow run's findings on one transit, as `GET
/// /v1/transits/{id}?shadow=true` shows them beside the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShadowFindings {
    /// The policy's id.
    pub policy: String,
    /// The shadow version's place in the timeline.
    pub seq: i64,
    /// Its findings as of the transit's last stored step, final and open,
    /// in report order.
    pub findings: Vec<Finding>,
}

impl ShadowFindings {
    pub(crate) fn of(run: &ShadowRun) -> ShadowFindings {
        ShadowFindings {
            policy: run.state.policy.clone(),
            seq: run.shadow,
            findings: run.findings(),
        }
    }
}

/// Where a shadow version disagrees with the enforced versions of its
/// policy (`GET /v1/policies/{id}/shadow`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShadowReport {
    /// The shadow version, as the timeline lists it.
    pub shadow: VersionInfo,
    /// Transits it ran on.
    pub transits: u64,
    /// Transits whose verdict it would change.
    pub verdicts_changed: u64,
    /// Changes per finding code, over every transit.
    pub by_code: BTreeMap<String, Tally>,
    /// The transits where it disagrees, by id: the verdict before (as
    /// enforced) and after (with its findings in place of the enforced
    /// version's), and the findings it adds (`added`), drops (`removed`)
    /// and changes. At most [`MAX_SHADOW_DIFFS`].
    pub diffs: Vec<TransitDiff>,
    /// Transits where it disagrees that `diffs` leaves off.
    pub diffs_left_off: u64,
}

impl ShadowReport {
    /// The report of `shadow` (a shadow version of `policy`) over its
    /// `runs`: each transit's id, run, and enforced findings (final and
    /// open).
    pub(crate) fn of(
        shadow: VersionInfo,
        policy: &str,
        runs: impl IntoIterator<Item = (String, ShadowRun, Vec<Finding>)>,
    ) -> ShadowReport {
        let mut transits = 0;
        let mut diffs = Vec::new();
        for (id, run, mut before) in runs {
            transits += 1;
            before.sort_by(Finding::report_order);
            let mut after: Vec<Finding> = before
                .iter()
                .filter(|finding| finding.policy != policy)
                .cloned()
                .chain(run.findings())
                .collect();
            after.sort_by(Finding::report_order);
            diffs.extend(findings_diff(&id, None, before, after));
        }
        let (_, by_code) = tallies(&diffs);
        let verdicts_changed = diffs.iter().filter(|d| d.verdict_before != d.verdict_after).count() as u64;
        let diffs_left_off = diffs.len().saturating_sub(MAX_SHADOW_DIFFS) as u64;
        diffs.truncate(MAX_SHADOW_DIFFS);
        ShadowReport {
            shadow,
            transits,
            verdicts_changed,
            by_code,
            diffs,
            diffs_left_off,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use escort_engine::PolicyState;

    fn finding(policy: &str, code: &str, severity: &str, from: &str) -> Finding {
        serde_json::from_value(serde_json::json!({
            "policy": policy, "policy_version": "1.0.0", "code": code, "severity": severity,
            "message": "m", "from": from, "to": from, "evidence": {}
        }))
        .expect("a finding")
    }

    fn run(findings: Vec<Finding>) -> ShadowRun {
        ShadowRun {
            shadow: 9,
            state: PolicyState {
                policy: "speed".to_owned(),
                fingerprint: "f".to_owned(),
                state: Vec::new(),
                open: Vec::new(),
            },
            finals: findings,
        }
    }

    fn shadow() -> VersionInfo {
        VersionInfo {
            seq: 9,
            version: Some("2.0.0".to_owned()),
            content_hash: Some("c".to_owned()),
            params: BTreeMap::new(),
            effective_from: None,
            in_force_until: None,
            applies_to: "new-transits",
            published_at: "2026-06-01T00:00:00Z".to_owned(),
            published_by: "regulator".to_owned(),
            origin: None,
            mode: "shadow",
            change: "publication",
        }
    }

    #[test]
    fn the_report_names_what_the_shadow_adds_and_drops_and_the_verdicts_it_would_change() {
        let at = "2026-06-01T10:00:00Z";
        let report = ShadowReport::of(
            shadow(),
            "speed",
            vec![
                // The same findings: no disagreement.
                (
                    "A".to_owned(),
                    run(vec![finding("speed", "speed.excessive", "warning", at)]),
                    vec![
                        finding("speed", "speed.excessive", "warning", at),
                        finding("seal", "seal.opened", "info", at),
                    ],
                ),
                // It raises a violation the enforced version does not.
                (
                    "B".to_owned(),
                    run(vec![finding(
                        "speed",
                        "speed.excessive",
                        "violation",
                        "2026-06-01T11:00:00Z",
                    )]),
                    vec![finding("seal", "seal.opened", "info", at)],
                ),
                // It drops a warning; another policy's violation keeps the verdict.
                (
                    "C".to_owned(),
                    run(Vec::new()),
                    vec![
                        finding("speed", "speed.excessive", "warning", at),
                        finding("corridor", "corridor.deviation", "violation", at),
                    ],
                ),
            ],
        );
        assert_eq!(report.transits, 3);
        assert_eq!(report.verdicts_changed, 1);
        let diffs: Vec<(&str, usize, usize)> = report
            .diffs
            .iter()
            .map(|d| (d.transit.as_str(), d.added.len(), d.removed.len()))
            .collect();
        assert_eq!(diffs, [("B", 1, 0), ("C", 0, 1)]);
        assert_eq!(report.diffs[0].verdict_before, escort_engine::Verdict::Clear);
        assert_eq!(report.diffs[0].verdict_after, escort_engine::Verdict::Violation);
        let tally = report.by_code["speed.excessive"];
        assert_eq!((tally.added, tally.removed, tally.transits), (1, 1, 2));
        assert!(!report.by_code.contains_key("seal.opened"));
    }
}
