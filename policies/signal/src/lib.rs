//! Signal: the seal keeps reporting while the transit is open.
//!
//! - `signal.lost` (warning / violation): no fix for longer than
//!   `missed_periods` reporting periods of `period_minutes` (EAEU abnormal
//!   situation 06): a warning; longer than `violation_minutes`: a violation.
//!   Gaps count from the opening of the transit. A gap a fix ended is final;
//!   the gap still open at `now` is open, reported as it stands by every call
//!   (an empty batch's too, as `now` advances), so that it disappears if a
//!   late fix shows it was shorter. Tracking ends at arrival, the first fix
//!   inside the destination zone: a seal may fall silent once the goods are
//!   at customs.

use escort_policy_sdk::*;
use serde::{Deserialize, Serialize};

/// The signal policy; see the crate documentation for its rule.
pub struct Signal;

params! {
    /// How long the seal may stay silent.
    pub struct Limits {
        /// The seal's reporting period, minutes.
        period_minutes: f64 = 10.0,
        /// A gap longer than this many reporting periods is a warning, periods.
        missed_periods: i64 = 2,
        /// A gap longer than this is a violation, minutes.
        violation_minutes: f64 = 120.0,
    }
}

impl Limits {
    /// The longest gap allowed without a warning, minutes.
    fn allowed_minutes(&self) -> f64 {
        self.missed_periods as f64 * self.period_minutes
    }
}

/// What the rule carries from one batch to the next: the last fix, and
/// whether tracking ended.
#[derive(Default, Serialize, Deserialize)]
pub struct State {
    last: Option<LastFix>,
    arrived: bool,
}

#[derive(Clone, Copy, Serialize, Deserialize)]
struct LastFix {
    at: Timestamp,
    lat: f64,
    lon: f64,
}

impl Policy for Signal {
    const ID: &'static str = "signal";
    const VERSION: &'static str = "0.1.0";
    const SUMMARY: &'static str = "Signal: gaps in the seal's reports while the transit is open.";
    type Params = Limits;
    type State = State;

    /// The destination and one `distances_to_m` call per batch with fixes
    /// until arrival; nothing at all after.
    fn observe(
        transit: &impl Transit,
        limits: &Limits,
        fixes: &Fixes,
        now: Timestamp,
        state: &mut State,
    ) -> Result<Observed, String> {
        if state.arrived {
            return Ok(Observed::default());
        }
        let opened_at = transit.opened_at();
        // One host call for the whole batch.
        let inside_destination = if fixes.is_empty() {
            Vec::new()
        } else {
            transit.destination().contains(transit, fixes.lat(), fixes.lon())
        };
        let findings = follow(state, fixes.rows(), &inside_destination, opened_at, limits);
        Ok(Observed {
            findings,
            open: still_open(state, opened_at, now, limits),
        })
    }
}

export!(Signal);

/// Feeds fixes, with whether each is inside the destination zone. Returns
/// the gaps the fixes closed; the gap still open is [`still_open`]'s.
fn follow(
    state: &mut State,
    fixes: impl Iterator<Item = Fix>,
    inside_destination: &[bool],
    opened_at: Timestamp,
    limits: &Limits,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    if state.arrived {
        return findings;
    }
    for (fix, &inside) in fixes.zip(inside_destination) {
        findings.extend(lost(state.last, opened_at, fix.at, false, limits));
        state.last = Some(LastFix {
            at: fix.at,
            lat: fix.lat,
            lon: fix.lon,
        });
        if inside {
            state.arrived = true;
            return findings;
        }
    }
    findings
}

/// The gap from the last fix to `now`, if it is already too long and tracking
/// has not ended. Every call reports it, an empty batch's too: the host keeps
/// only the last call's open findings.
fn still_open(state: &State, opened_at: Timestamp, now: Timestamp, limits: &Limits) -> Vec<Finding> {
    if state.arrived {
        return Vec::new();
    }
    lost(state.last, opened_at, now, true, limits).into_iter().collect()
}

/// The gap from the last fix (or the opening, if later) until `until`, if it
/// is too long. Fixes before the opening do not start a gap: the transit was
/// not open yet.
fn lost(last: Option<LastFix>, opened_at: Timestamp, until: Timestamp, open: bool, limits: &Limits) -> Option<Finding> {
    let from = last.map_or(opened_at, |last| last.at.max(opened_at));
    let minutes = minutes_between(from, until);
    let severity = if minutes > limits.violation_minutes {
        Severity::Violation
    } else if minutes > limits.allowed_minutes() {
        Severity::Warning
    } else {
        return None;
    };
    let since = if last.is_some() {
        "since the last fix"
    } else {
        "since the transit opened"
    };
    Some(Finding {
        code: "signal.lost".into(),
        severity,
        message: if open {
            format!("no fix for {minutes:.0} min {since}, and still none")
        } else {
            format!("no fix for {minutes:.0} min {since}")
        },
        from,
        to: until,
        position: last.map(|last| Position {
            lat: last.lat,
            lon: last.lon,
        }),
        evidence: vec![Evidence::number("minutes", minutes, 0)],
    })
}

/// The rule over hand-made fixes, inside flags and clocks, without the host:
/// gap lengths, the opening, open gaps, arrival, and streaming against batch
/// evaluation.
#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::defaults()
    }

    fn fix(minute: i64) -> Fix {
        Fix::new(minute * MINUTE_MS, 43.0 + minute as f64 / 1000.0, 76.0)
    }

    /// One call with fixes at the minutes of `batch`, each with whether it is
    /// inside the destination, transit opened at 0: the gaps the fixes
    /// closed, then the open one.
    fn observe(state: &mut State, batch: &[(i64, bool)], now_minute: i64) -> (Vec<Finding>, Vec<Finding>) {
        let limits = limits();
        let inside: Vec<bool> = batch.iter().map(|&(_, inside)| inside).collect();
        let fixes = batch.iter().map(|&(minute, _)| fix(minute));
        let findings = follow(state, fixes, &inside, 0, &limits);
        (findings, still_open(state, 0, now_minute * MINUTE_MS, &limits))
    }

    /// Everything one batch of fixes at `minutes`, none inside the
    /// destination, reports: final and open.
    fn run(minutes: &[i64], now_minute: i64) -> Vec<Finding> {
        let batch: Vec<(i64, bool)> = minutes.iter().map(|&minute| (minute, false)).collect();
        let (mut findings, open) = observe(&mut State::default(), &batch, now_minute);
        findings.extend(open);
        findings
    }

    #[test]
    fn a_gap_of_two_periods_is_allowed_and_longer_is_a_warning() {
        assert!(run(&[0, 20, 40], 40).is_empty());
        let findings = run(&[0, 10, 41, 50], 50);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].severity, Severity::Warning);
        assert_eq!((findings[0].from, findings[0].to), (10 * MINUTE_MS, 41 * MINUTE_MS));
        assert_eq!(findings[0].position, Some(fix(10).position()));
        assert_eq!(findings[0].message, "no fix for 31 min since the last fix");
    }

    #[test]
    fn a_gap_over_two_hours_is_a_violation() {
        assert_eq!(run(&[0, 121], 121)[0].severity, Severity::Violation);
        assert_eq!(run(&[0, 120], 120)[0].severity, Severity::Warning);
    }

    #[test]
    fn the_gap_before_the_first_fix_counts_from_the_opening() {
        let findings = run(&[30], 30);
        assert_eq!((findings[0].from, findings[0].to), (0, 30 * MINUTE_MS));
        assert_eq!(findings[0].position, None);
        assert_eq!(findings[0].message, "no fix for 30 min since the transit opened");
        // A fix before the opening does not start a gap.
        let before = run(&[-60, 15], 15);
        assert!(before.is_empty());
    }

    #[test]
    fn the_gap_open_at_now_is_reported() {
        let findings = run(&[0, 10], 200);
        assert_eq!(findings.len(), 1);
        assert_eq!((findings[0].from, findings[0].to), (10 * MINUTE_MS, 200 * MINUTE_MS));
        assert_eq!(findings[0].severity, Severity::Violation);
        assert_eq!(
            findings[0].message,
            "no fix for 190 min since the last fix, and still none"
        );
        let nothing_yet = run(&[], 45);
        assert_eq!((nothing_yet[0].from, nothing_yet[0].to), (0, 45 * MINUTE_MS));
    }

    #[test]
    fn the_open_gap_grows_with_now_and_a_fix_makes_it_final() {
        let mut state = State::default();
        let (findings, open) = observe(&mut state, &[(0, false)], 15);
        assert!(
            findings.is_empty() && open.is_empty(),
            "15 min without a fix are allowed"
        );
        // No fixes, only time passing: the open gap must be reported again.
        let (findings, open) = observe(&mut state, &[], 30);
        assert!(findings.is_empty());
        assert_eq!(
            (open[0].from, open[0].to, open[0].severity),
            (0, 30 * MINUTE_MS, Severity::Warning)
        );
        let (findings, open) = observe(&mut state, &[], 150);
        assert!(findings.is_empty());
        assert_eq!((open[0].to, open[0].severity), (150 * MINUTE_MS, Severity::Violation));
        let (findings, open) = observe(&mut state, &[(160, false)], 160);
        assert_eq!(findings.len(), 1);
        assert_eq!((findings[0].from, findings[0].to), (0, 160 * MINUTE_MS));
        assert_eq!(findings[0].message, "no fix for 160 min since the last fix");
        assert!(open.is_empty());
    }

    #[test]
    fn a_late_fix_withdraws_an_open_gap_that_never_was() {
        let mut state = State::default();
        let (_, open) = observe(&mut state, &[(0, false)], 25);
        assert_eq!(open.len(), 1, "25 min without a fix, so far");
        // A fix taken at minute 15 arrives late: no gap was ever too long.
        assert_eq!(observe(&mut state, &[(15, false)], 25), (Vec::new(), Vec::new()));
    }

    #[test]
    fn tracking_ends_at_arrival() {
        let mut state = State::default();
        let (findings, open) = observe(&mut state, &[(0, false), (50, true), (200, false)], 500);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].to, 50 * MINUTE_MS);
        assert!(open.is_empty());
        assert_eq!(observe(&mut state, &[], 900), (Vec::new(), Vec::new()));
    }

    /// What the host ends up with: the findings of every call, which
    /// accumulate, and the open findings of the last call, which replaced
    /// those of the calls before. Each batch but the last is evaluated as
    /// late as it can be: at the next fix.
    fn evaluate(batches: &[&[(i64, bool)]], now_minute: i64) -> Vec<Finding> {
        let mut state = State::default();
        let (mut findings, mut open) = (Vec::new(), Vec::new());
        for (i, batch) in batches.iter().enumerate() {
            let next_fix = batches[i + 1..].iter().flat_map(|later| later.first()).next();
            let now_minute = next_fix.map_or(now_minute, |&(minute, _)| minute);
            let (ended, still_open) = observe(&mut state, batch, now_minute);
            findings.extend(ended);
            open = still_open;
        }
        findings.extend(open);
        findings
    }

    #[test]
    fn streaming_equals_batch() {
        let track = [
            (25, false),
            (30, false),
            (60, false),
            (70, false),
            (250, false),
            (260, true),
            (400, false),
        ];
        for now_minute in [400, 700] {
            let whole = evaluate(&[&track], now_minute);
            assert_eq!(whole.len(), 3);
            for split in 0..=track.len() {
                let (a, b) = track.split_at(split);
                assert_eq!(evaluate(&[a, b], now_minute), whole, "split at {split}");
                assert_eq!(
                    evaluate(&[a, b, &[]], now_minute),
                    whole,
                    "split at {split}, then time passes"
                );
            }
            let singles: Vec<&[(i64, bool)]> = track.chunks(1).collect();
            assert_eq!(evaluate(&singles, now_minute), whole);
        }
        let open = [(0, false), (10, false)];
        let whole = evaluate(&[&open], 100);
        assert_eq!(whole.len(), 1);
        assert_eq!(evaluate(&[&open[..1], &open[1..], &[]], 100), whole);
        // Calls with no fix after the last one: each reports the open gap
        // again, and only the last call's stays.
        assert_eq!(evaluate(&[&open, &[], &[]], 100), whole);
    }
}
