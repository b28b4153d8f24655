//! Speed sanity, one finding per episode: final once a fix ends it, open (as it stands) while it goes on.
//!
//! - `speed.implausible` (violation): two consecutive fixes imply a speed no truck reaches over a distance no receiver
//!   jitters (spoofing, jamming, a seal moved to another vehicle); out and back is one jump; poor fixes are exempt.
//! - `speed.excessive` (warning): the reported speed stays above a limit.
//! - `telemetry.quality` (info, warning when long): a run of poor fixes.

use escort_policy_sdk::*;
use serde::{Deserialize, Serialize};

/// The speed sanity policy; see the crate documentation for its rules.
pub struct Speed;
export!(Speed);

params! {
    /// What counts as a jump, as excessive speed and as a poor fix.
    pub struct Limits {
        /// A speed implied by two consecutive fixes above this is a jump, km/h.
        implausible_kmh: f64 = 150.0,
        /// Hops shorter than this are receiver noise, never jumps, metres.
        implausible_min_m: f64 = 1000.0,
        /// Fixes with a higher hdop are poor: exempt from jumps and reported as data quality.
        max_hdop: f64 = 5.0,
        /// Reported speed above this is excessive, km/h.
        excessive_kmh: f64 = 110.0,
        /// Excessive speed must last this long to be reported, minutes.
        excessive_min_minutes: f64 = 2.0,
        /// A run of poor fixes this long is a warning, not info, minutes.
        poor_warning_minutes: f64 = 30.0,
    }
}

/// What the rule carries from one batch to the next: the last fix and the episodes still going on.
#[derive(Default, Serialize, Deserialize)]
pub struct State {
    last: Option<Fix>,
    jump: Option<Episode>,
    excessive: Option<Episode>,
    poor: Option<Episode>,
}

impl Policy for Speed {
    const ID: &'static str = "speed";
    const VERSION: &'static str = "0.1.0";
    const SUMMARY: &'static str = "Speed sanity: position jumps, excessive reported speed and poor fixes.";
    type Params = Limits;
    type State = State;

    fn observe(transit: &impl Transit, limits: &Limits, fixes: &Fixes, _now: Timestamp, state: &mut State) -> Outcome {
        let mut findings = Vec::new();
        // One host call measures every leg, the one into the batch included: a jump between batches counts.
        for (fix, leg_m) in fixes.rows().zip(transit.legs_into_m(state.last.as_ref(), fixes)) {
            let poor_hdop = fix.hdop.filter(|&hdop| hdop > limits.max_hdop);
            if let (Some(last), Some(leg_m)) = (state.last, leg_m) {
                let kmh = implied_kmh(leg_m, last.at, fix.at);
                let exempt = poor_hdop.is_some() || last.is_low_accuracy(limits.max_hdop);
                let jump = (!exempt && leg_m > limits.implausible_min_m && kmh > limits.implausible_kmh).then_some(kmh);
                // Consecutive jumps (out and back) are one episode, from the fix before the first.
                findings.extend(Episode::track_from(&mut state.jump, last.at, &fix, jump).map(implausible));
            }
            let fast = fix.speed_kmh.filter(|&kmh| kmh > limits.excessive_kmh);
            findings.extend(Episode::track(&mut state.excessive, &fix, fast).and_then(|run| excessive(run, limits)));
            findings.extend(Episode::track(&mut state.poor, &fix, poor_hdop).map(|run| quality(run, limits)));
            state.last = Some(fix);
        }
        // Every call reports the episodes still going on, as they stand: the host keeps the last call's.
        let mut open: Vec<Finding> = state.jump.map(implausible).into_iter().collect();
        open.extend(state.excessive.and_then(|run| excessive(run, limits)));
        open.extend(state.poor.map(|run| quality(run, limits)));
        Ok(Observed { findings, open })
    }
}

fn implausible(jump: Episode) -> Finding {
    let jumps = format!("{} jump{}", jump.fixes, if jump.fixes == 1 { "" } else { "s" });
    let message = format!("position jumped at an implied {:.0} km/h ({jumps})", jump.peak);
    let evidence = vec![number("max_implied_kmh", jump.peak, 0), integer("jumps", jump.fixes)];
    jump.finding("speed.implausible", Severity::Violation, message, evidence)
}

fn excessive(run: Episode, limits: &Limits) -> Option<Finding> {
    let (peak, minutes) = (run.peak, run.minutes());
    let message = format!("reported up to {peak:.0} km/h for {minutes:.0} min");
    let evidence = vec![number("max_speed_kmh", peak, 1), number("minutes", minutes, 0)];
    let finding = run.finding("speed.excessive", Severity::Warning, message, evidence);
    (minutes >= limits.excessive_min_minutes).then_some(finding)
}

fn quality(run: Episode, limits: &Limits) -> Finding {
    let long = run.minutes() >= limits.poor_warning_minutes;
    let severity = if long { Severity::Warning } else { Severity::Info };
    let fixes = format!("{} fix{}", run.fixes, if run.fixes == 1 { "" } else { "es" });
    let (max_hdop, minutes) = (limits.max_hdop, run.minutes());
    let message = format!("{fixes} with hdop above {max_hdop} over {minutes:.0} min");
    let evidence = vec![integer("poor_fixes", run.fixes), number("max_hdop", run.peak, 1)];
    run.finding("telemetry.quality", severity, message, evidence)
}

#[cfg(test)]
mod tests {
    //! The rules over hand-made fixes, with legs measured by the SDK's formula (the host's) rather than the host: jumps,
    //! excessive speed, poor fixes, and streaming against batch evaluation.

    use super::*;

    fn limits() -> Limits {
        Limits::defaults()
    }

    /// A fix at `minute` at latitude `lat`; 0.01° of latitude is 1.1 km.
    fn fix(minute: i64, lat: f64) -> Fix {
        Fix::new(minute * MINUTE_MS, lat, 76.0)
    }

    fn moving(minute: i64, lat: f64, speed_kmh: f64) -> Fix {
        Fix {
            speed_kmh: Some(speed_kmh),
            ..fix(minute, lat)
        }
    }

    fn poor(minute: i64, lat: f64, hdop: f64) -> Fix {
        Fix {
            hdop: Some(hdop),
            ..fix(minute, lat)
        }
    }

    /// One call: the findings of the episodes that ended, then the open ones.
    fn observe(state: &mut State, batch: &[Fix]) -> (Vec<Finding>, Vec<Finding>) {
        let fixes: Fixes = batch.iter().copied().collect();
        let observed = Speed::observe(&DeclaredTransit::example(), &limits(), &fixes, 0, state).unwrap();
        (observed.findings, observed.open)
    }

    /// Everything one batch reports, final and open.
    fn run(fixes: &[Fix]) -> Vec<Finding> {
        let (mut findings, open) = observe(&mut State::default(), fixes);
        findings.extend(open);
        findings
    }

    #[test]
    fn a_jump_out_and_back_is_one_finding() {
        let fixes = [fix(0, 43.0), fix(1, 43.01), fix(2, 43.5), fix(3, 43.02), fix(4, 43.03)];
        let findings = run(&fixes);
        assert_eq!(findings.len(), 1);
        let jump = &findings[0];
        assert_eq!(
            (jump.code.as_str(), jump.severity),
            ("speed.implausible", Severity::Violation)
        );
        assert_eq!((jump.from, jump.to), (MINUTE_MS, 3 * MINUTE_MS));
        assert_eq!(jump.evidence[1], Evidence::integer("jumps", 2));
    }

    #[test]
    fn a_poor_fix_is_exempt_from_jumps_and_reported_as_quality() {
        let fixes = [fix(0, 43.0), poor(1, 43.5, 9.0), fix(2, 43.02)];
        let findings = run(&fixes);
        assert_eq!(findings.len(), 1);
        assert_eq!(
            (findings[0].code.as_str(), findings[0].severity),
            ("telemetry.quality", Severity::Info)
        );
        assert_eq!(findings[0].message, "1 fix with hdop above 5 over 0 min");
    }

    #[test]
    fn excessive_speed_must_last() {
        let brief = [moving(0, 43.0, 120.0), moving(1, 43.01, 125.0), moving(2, 43.02, 90.0)];
        assert!(run(&brief).is_empty());
        let long = [
            moving(0, 43.0, 120.0),
            moving(1, 43.01, 125.0),
            moving(2, 43.02, 118.0),
            moving(3, 43.03, 90.0),
        ];
        let findings = run(&long);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].code, "speed.excessive");
        assert_eq!((findings[0].from, findings[0].to), (0, 2 * MINUTE_MS));
        assert_eq!(findings[0].message, "reported up to 125 km/h for 2 min");
    }

    #[test]
    fn an_episode_going_on_is_open_until_a_fix_ends_it() {
        let mut state = State::default();
        let (findings, open) = observe(&mut state, &[poor(0, 43.0, 8.0), poor(40, 43.0, 9.0)]);
        assert!(findings.is_empty());
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].severity, Severity::Warning);
        // Time passing without fixes changes nothing, but the open run must
        // be reported again.
        assert_eq!(observe(&mut state, &[]), (Vec::new(), open.clone()));
        let (findings, still) = observe(&mut state, &[fix(41, 43.0)]);
        assert_eq!(findings, open);
        assert!(still.is_empty());
    }

    /// What the host ends up with: the findings of every call, which
    /// accumulate, and the open findings of the last call, which replaced
    /// those of the calls before.
    fn evaluate(batches: &[&[Fix]]) -> Vec<Finding> {
        let mut state = State::default();
        let (mut findings, mut open) = (Vec::new(), Vec::new());
        for batch in batches {
            let (ended, still_open) = observe(&mut state, batch);
            findings.extend(ended);
            open = still_open;
        }
        findings.extend(open);
        findings
    }

    #[test]
    fn streaming_equals_batch() {
        let track = [
            moving(0, 43.00, 60.0),
            moving(1, 43.01, 120.0),
            moving(2, 43.02, 125.0),
            moving(3, 43.03, 118.0),
            Fix {
                hdop: Some(9.0),
                ..moving(4, 43.04, 80.0)
            },
            Fix {
                hdop: Some(9.0),
                ..moving(5, 43.60, 80.0)
            },
            moving(6, 43.05, 80.0),
            moving(7, 43.50, 80.0),
            moving(8, 43.06, 80.0),
            moving(9, 43.07, 130.0),
            Fix {
                hdop: Some(8.0),
                ..moving(10, 43.08, 130.0)
            },
            Fix {
                hdop: Some(8.0),
                ..moving(11, 43.09, 135.0)
            },
        ];
        let whole = evaluate(&[&track]);
        let codes: Vec<&str> = whole.iter().map(|f| f.code.as_str()).collect();
        // Excessive speed, poor fixes and a jump ended; excessive speed and
        // poor fixes again are still going on.
        assert_eq!(
            codes,
            [
                "speed.excessive",
                "telemetry.quality",
                "speed.implausible",
                "speed.excessive",
                "telemetry.quality"
            ]
        );
        for split in 0..=track.len() {
            let (a, b) = track.split_at(split);
            assert_eq!(evaluate(&[a, b]), whole, "split at {split}");
            assert_eq!(evaluate(&[a, b, &[]]), whole, "split at {split}, then time passes");
        }
        let singles: Vec<&[Fix]> = track.chunks(1).collect();
        assert_eq!(evaluate(&singles), whole);
    }

    /// The contract's `observe` itself, natively: the jump into the second
    /// batch is measured from the state the first batch left.
    #[test]
    fn observe_runs_natively_across_batches() {
        let defaults = Limits::default_values();
        let transit = DeclaredTransit::example();
        let batch = |fixes: &[Fix]| -> Fixes { fixes.iter().copied().collect() };
        let first = escort_policy_sdk::observe::<Speed>(
            &transit,
            &defaults,
            &batch(&[fix(0, 43.0), fix(1, 43.01)]),
            MINUTE_MS,
            &[],
        )
        .unwrap();
        assert_eq!((first.findings.len(), first.open.len()), (0, 0));
        // 0.49° of latitude, 54 km, in a minute.
        let second = escort_policy_sdk::observe::<Speed>(
            &transit,
            &defaults,
            &batch(&[fix(2, 43.5)]),
            2 * MINUTE_MS,
            &first.state,
        )
        .unwrap();
        assert!(second.findings.is_empty());
        assert_eq!(second.open.len(), 1);
        let jump = &second.open[0];
        assert_eq!(
            (jump.code.as_str(), jump.severity, jump.from, jump.to),
            ("speed.implausible", Severity::Violation, MINUTE_MS, 2 * MINUTE_MS)
        );
        let EvidenceValue::Number(Number { value, decimals: 0 }) = jump.evidence[0].value else {
            panic!("the implied speed is a whole number of km/h: {:?}", jump.evidence[0]);
        };
        assert_eq!(
            (jump.evidence[0].name.as_str(), value.round()),
            ("max_implied_kmh", 3269.0)
        );
    }
}
