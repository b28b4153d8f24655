//! Transit: the truck arrives, and in time.
//!
//! - `transit.arrived` (info): the first fix inside the destination zone.
//! - `transit.overdue` (violation): the deadline passed before arrival; from
//!   the deadline to the arrival, final then, or to `now` while the truck has
//!   not arrived, open then: reported again by every call as `now` advances.
//! - `transit.deadline_too_long` (warning, on admission): the declared
//!   deadline allows less than `min_km_per_month` along the route, the EAEU
//!   ceiling on transit time.
//!
//! Each rule is a module named for its code; this file holds the arrival,
//! which two of them share.

mod arrived;
mod deadline_too_long;
mod overdue;

use escort_policy_sdk::*;
use serde::{Deserialize, Serialize};

/// The transit policy; see the crate documentation for its rules.
pub struct TransitPolicy;

params! {
    /// How long a deadline may be.
    pub struct Limits {
        /// A deadline allowing less progress than this along the route is too long, km per 30-day month.
        min_km_per_month: f64 = 2000.0,
    }
}

/// What the rule carries from one batch to the next: when the truck arrived.
#[derive(Default, Serialize, Deserialize)]
pub struct State {
    arrived_at: Option<Timestamp>,
}

impl Policy for TransitPolicy {
    const ID: &'static str = "transit";
    const VERSION: &'static str = "0.1.0";
    const SUMMARY: &'static str =
        "Transit: arrival at the destination, the deadline, and whether the deadline is too long.";
    type Params = Limits;
    type State = State;

    /// Whether the deadline is too long for the route: the route's length is
    /// asked only when the transit declares a deadline.
    fn admit(transit: &impl Transit, limits: &Limits) -> Result<Vec<Finding>, String> {
        let Some(deadline) = transit.deadline() else {
            return Ok(Vec::new());
        };
        let Some(route_m) = transit.route_length_m() else {
            return Ok(Vec::new());
        };
        Ok(
            deadline_too_long::finding(route_m, transit.opened_at(), deadline, limits.min_km_per_month)
                .into_iter()
                .collect(),
        )
    }

    /// The deadline, and the destination with one `distances_to_m` call per
    /// batch with fixes, until arrival; nothing at all after.
    fn observe(
        transit: &impl Transit,
        _limits: &Limits,
        fixes: &Fixes,
        now: Timestamp,
        state: &mut State,
    ) -> Result<Observed, String> {
        if state.arrived_at.is_some() {
            return Ok(Observed::default());
        }
        let deadline = transit.deadline();
        let findings = if fixes.is_empty() {
            Vec::new()
        } else {
            let destination = transit.destination();
            // One host call for the whole batch.
            let inside_destination = destination.contains(transit, fixes.lat(), fixes.lon());
            follow(state, fixes.rows(), &inside_destination, &destination, deadline)
        };
        Ok(Observed {
            findings,
            open: still_open(state, deadline, now),
        })
    }
}

export!(TransitPolicy);

/// Feeds fixes, with whether each is inside the destination zone. Returns
/// the arrival and, if it was late, the final lateness: everything is said in
/// the batch of arrival, so later batches return nothing.
fn follow(
    state: &mut State,
    fixes: impl Iterator<Item = Fix>,
    inside_destination: &[bool],
    destination: &Zone,
    deadline: Option<Timestamp>,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    if state.arrived_at.is_some() {
        return findings;
    }
    if let Some((fix, _)) = fixes.zip(inside_destination).find(|&(_, &inside)| inside) {
        state.arrived_at = Some(fix.at);
        findings.push(arrived::finding(&fix, destination));
        if let Some(deadline) = deadline {
            // Lateness after arrival runs to the arrival; the clock no longer
            // matters, so the arrival stands in for it.
            findings.extend(overdue::finding(deadline, state.arrived_at, fix.at));
        }
    }
    findings
}

/// The lateness so far while the truck has not arrived and the deadline has
/// passed by `now`. Every call reports it, an empty batch's too: the host
/// keeps only the last call's open findings.
fn still_open(state: &State, deadline: Option<Timestamp>, now: Timestamp) -> Vec<Finding> {
    match (state.arrived_at, deadline) {
        (None, Some(deadline)) => overdue::finding(deadline, None, now).into_iter().collect(),
        _ => Vec::new(),
    }
}

/// Arrival and the deadline over hand-made fixes and inside flags, without
/// the host, and streaming against batch evaluation. Each rule's own wording
/// is tested in its module.
#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_MS: Timestamp = 60 * MINUTE_MS;

    fn transit(deadline_hours: Option<i64>) -> DeclaredTransit {
        let example = DeclaredTransit::example();
        DeclaredTransit {
            departure: Zone {
                id: "NUR-ZHOLY".into(),
                ..example.destination.clone()
            },
            deadline: deadline_hours.map(|hours| hours * HOUR_MS),
            ..example
        }
    }

    fn fix(hour: i64) -> Fix {
        Fix::new(hour * HOUR_MS, 43.0 + hour as f64 / 100.0, 76.0)
    }

    /// One call with fixes at the hours of `batch`, each with whether it is
    /// inside the destination: the final findings, then the open ones.
    fn observe(
        state: &mut State,
        batch: &[(i64, bool)],
        transit: &DeclaredTransit,
        now_hour: i64,
    ) -> (Vec<Finding>, Vec<Finding>) {
        let inside: Vec<bool> = batch.iter().map(|&(_, inside)| inside).collect();
        let fixes = batch.iter().map(|&(hour, _)| fix(hour));
        let findings = follow(state, fixes, &inside, &transit.destination, transit.deadline);
        (findings, still_open(state, transit.deadline, now_hour * HOUR_MS))
    }

    /// What the host ends up with: the findings of every call, which
    /// accumulate, and the open findings of the last call, which replaced
    /// those of the calls before. Each batch but the last is evaluated at its
    /// last fix (an empty one when the previous was, at first the opening).
    fn evaluate(batches: &[&[(i64, bool)]], deadline_hours: Option<i64>, now_hour: i64) -> Vec<Finding> {
        let transit = transit(deadline_hours);
        let mut state = State::default();
        let (mut findings, mut open) = (Vec::new(), Vec::new());
        let mut clock_hour = 0;
        for (i, batch) in batches.iter().enumerate() {
            clock_hour = batch.last().map_or(clock_hour, |&(hour, _)| hour);
            if i + 1 == batches.len() {
                clock_hour = now_hour;
            }
            let (ended, still_open) = observe(&mut state, batch, &transit, clock_hour);
            findings.extend(ended);
            open = still_open;
        }
        findings.extend(open);
        findings
    }

    fn codes(findings: &[Finding]) -> Vec<(&str, Timestamp, Timestamp)> {
        findings.iter().map(|f| (f.code.as_str(), f.from, f.to)).collect()
    }

    #[test]
    fn arrival_is_the_first_fix_inside_the_destination() {
        let track = [(1, false), (5, true), (6, true)];
        let findings = evaluate(&[&track], Some(48), 10);
        assert_eq!(codes(&findings), [("transit.arrived", 5 * HOUR_MS, 5 * HOUR_MS)]);
        assert_eq!(findings[0].position, Some(fix(5).position()));
    }

    #[test]
    fn overdue_runs_from_the_deadline_to_arrival_or_now() {
        let late = [(1, false), (50, true)];
        assert_eq!(
            codes(&evaluate(&[&late], Some(48), 60)),
            [
                ("transit.arrived", 50 * HOUR_MS, 50 * HOUR_MS),
                ("transit.overdue", 48 * HOUR_MS, 50 * HOUR_MS)
            ]
        );
        let not_yet = [(1, false), (47, false)];
        assert!(evaluate(&[&not_yet], Some(48), 48).is_empty());
        assert_eq!(
            codes(&evaluate(&[&not_yet], Some(48), 52)),
            [("transit.overdue", 48 * HOUR_MS, 52 * HOUR_MS)]
        );
        assert!(evaluate(&[&not_yet], None, 500).is_empty());
    }

    #[test]
    fn overdue_is_open_until_arrival_makes_it_final() {
        let transit = transit(Some(48));
        let mut state = State::default();
        let (findings, open) = observe(&mut state, &[(1, false), (49, false)], &transit, 49);
        assert!(findings.is_empty());
        assert_eq!(codes(&open), [("transit.overdue", 48 * HOUR_MS, 49 * HOUR_MS)]);
        // No fixes, only time passing: the open lateness is reported again, grown.
        let (findings, open) = observe(&mut state, &[], &transit, 52);
        assert!(findings.is_empty());
        assert_eq!(codes(&open), [("transit.overdue", 48 * HOUR_MS, 52 * HOUR_MS)]);
        assert_eq!(open[0].message, "not arrived 4.0 h after the deadline");
        let (findings, open) = observe(&mut state, &[(53, true)], &transit, 53);
        assert_eq!(
            codes(&findings),
            [
                ("transit.arrived", 53 * HOUR_MS, 53 * HOUR_MS),
                ("transit.overdue", 48 * HOUR_MS, 53 * HOUR_MS)
            ]
        );
        assert!(open.is_empty());
        assert_eq!(observe(&mut state, &[], &transit, 90), (Vec::new(), Vec::new()));
    }

    #[test]
    fn streaming_equals_batch() {
        let track = [
            (1, false),
            (20, false),
            (49, false),
            (51, false),
            (53, true),
            (54, true),
            (70, false),
        ];
        for (deadline, now) in [(Some(48), 80), (Some(60), 80), (None, 80), (Some(48), 70)] {
            let whole = evaluate(&[&track], deadline, now);
            for split in 0..=track.len() {
                let (a, b) = track.split_at(split);
                assert_eq!(evaluate(&[a, b], deadline, now), whole, "split at {split}");
                assert_eq!(
                    evaluate(&[a, b, &[]], deadline, now),
                    whole,
                    "split at {split}, then time passes"
                );
            }
            let singles: Vec<&[(i64, bool)]> = track.chunks(1).collect();
            assert_eq!(evaluate(&singles, deadline, now), whole);
        }
        let open = [(1, false), (49, false), (60, false)];
        let whole = evaluate(&[&open], Some(48), 90);
        assert_eq!(codes(&whole), [("transit.overdue", 48 * HOUR_MS, 90 * HOUR_MS)]);
        assert_eq!(evaluate(&[&open[..2], &open[2..], &[]], Some(48), 90), whole);
    }
}
