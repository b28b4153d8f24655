//! Speed sanity.
//!
//! - `speed.implausible` (violation): two consecutive fixes imply a speed no
//!   truck reaches over a distance no receiver jitters. Spoofing, jamming or a
//!   seal moved to another vehicle look like this. Consecutive jumps (out and
//!   back) are one finding. Fixes with a poor hdop are exempt.
//! - `speed.excessive` (warning): the reported speed stays above a limit.
//! - `telemetry.quality` (info, warning when long): a run of poor fixes.
//!
//! Each is one finding per episode: final once a fix ends it, open (as it
//! stands, reported again by every call) while it goes on.

use escort_policy_sdk::*;
use serde::{Deserialize, Serialize};

/// The speed sanity policy; see the crate documentation for its rules.
pub struct Speed;

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

/// What the rule carries from one batch to the next: the last fix and the
/// episodes still going on.
#[derive(Default, Serialize, Deserialize)]
pub struct State {
    last: Option<LastFix>,
    jump: Option<Episode>,
    excessive: Option<Episode>,
    poor: Option<Episode>,
}

#[derive(Clone, Copy, Serialize, Deserialize)]
struct LastFix {
    at: Timestamp,
    lat: f64,
    lon: f64,
    poor: bool,
}

impl Policy for Speed {
    const ID: &'static str = "speed";
    const VERSION: &'static str = "0.1.0";
    const SUMMARY: &'static str = "Speed sanity: position jumps, excessive reported speed and poor fixes.";
    type Params = Limits;
    type State = State;

    /// One host call for every leg of the batch, the leg into it included.
    fn observe(
        transit: &impl Transit,
        limits: &Limits,
        fixes: &Fixes,
        _now: Timestamp,
        state: &mut State,
    ) -> Result<Observed, String> {
        let (mut lat, mut lon) = (Vec::with_capacity(fixes.len() + 1), Vec::with_capacity(fixes.len() + 1));
        if let Some(last) = state.last {
            lat.push(last.lat);
            lon.push(last.lon);
        }
        lat.extend_from_slice(&fixes.lat);
        lon.extend_from_slice(&fixes.lon);
        let legs_m = transit.legs_m(&lat, &lon);
        let findings = follow(state, fixes.rows(), &legs_m, limits);
        Ok(Observed {
            findings,
            open: still_open(state, limits),
        })
    }
}

export!(Speed);

/// Feeds fixes to the open episodes; `legs_m` are the legs between the
/// previous batch's last fix, if any, and the fixes, in order. Returns the
/// findings of the episodes that ended; those still open are [`still_open`]'s.
fn follow(state: &mut State, fixes: impl Iterator<Item = Fix>, legs_m: &[f64], limits: &Limits) -> Vec<Finding> {
    let mut findings = Vec::new();
    let had_last = usize::from(state.last.is_some());
    for (i, fix) in fixes.enumerate() {
        let poor = fix.is_low_accuracy(limits.max_hdop);
        if let Some(last) = state.last {
            let leg_m = legs_m[i + had_last - 1];
            let hours = (fix.at - last.at) as f64 / 3_600_000.0;
            let implied_kmh = if hours > 0.0 {
                leg_m / 1000.0 / hours
            } else {
                f64::INFINITY
            };
            let jumped =
                !poor && !last.poor && leg_m > limits.implausible_min_m && implied_kmh > limits.implausible_kmh;
            if jumped {
                match &mut state.jump {
                    Some(jump) if jump.to == last.at => jump.extend(&fix, implied_kmh),
                    open => {
                        findings.extend(open.take().map(jump_finding));
                        *open = Some(Episode::start_at(last.at, &fix, implied_kmh));
                    }
                }
            } else if let Some(jump) = state.jump.take() {
                findings.push(jump_finding(jump));
            }
        }

        match fix.speed_kmh {
            Some(kmh) if kmh > limits.excessive_kmh => Episode::start_or_extend(&mut state.excessive, &fix, kmh),
            _ => findings.extend(state.excessive.take().and_then(|e| excessive_finding(e, limits))),
        }

        if poor {
            Episode::start_or_extend(&mut state.poor, &fix, fix.hdop.unwrap_or_default());
        } else if let Some(run) = state.poor.take() {
            findings.push(poor_finding(run, limits));
        }

        state.last = Some(LastFix {
            at: fix.at,
            lat: fix.lat,
            lon: fix.lon,
            poor,
        });
    }
    findings
}

/// The findings of the episodes still open, as they stand. Every call reports
/// them, an empty batch's too: the host keeps only the last call's open
/// findings.
fn still_open(state: &State, limits: &Limits) -> Vec<Finding> {
    let mut open = Vec::new();
    open.extend(state.jump.map(jump_finding));
    open.extend(state.excessive.and_then(|run| excessive_finding(run, limits)));
    open.extend(state.poor.map(|run| poor_finding(run, limits)));
    open
}

fn jump_finding(jump: Episode) -> Finding {
    let jumps = jump.fixes;
    Finding {
        code: "speed.implausible".into(),
        severity: Severity::Violation,
        message: format!(
            "position jumped at an implied {:.0} km/h ({jumps} jump{})",
            jump.peak,
            if jumps == 1 { "" } else { "s" }
        ),
        from: jump.from,
        to: jump.to,
        position: Some(jump.peak_position()),
        evidence: vec![
            Evidence::number("max_implied_kmh", jump.peak, 0),
            Evidence::integer("jumps", jumps),
        ],
    }
}

fn excessive_finding(run: Episode, limits: &Limits) -> Option<Finding> {
    (run.minutes() >= limits.excessive_min_minutes).then(|| Finding {
        code: "speed.excessive".into(),
        severity: Severity::Warning,
        message: format!("reported up to {:.0} km/h for {:.0} min", run.peak, run.minutes()),
        from: run.from,
        to: run.to,
        position: Some(run.peak_position()),
        evidence: vec![
            Evidence::number("max_speed_kmh", run.peak, 1),
            Evidence::number("minutes", run.minutes(), 0),
        ],
    })
}

fn poor_finding(run: Episode, limits: &Limits) -> Finding {
    let severity = if run.minutes() >= limits.poor_warning_minutes {
        Severity::Warning
    } else {
        Severity::Info
    };
    Finding {
        code: "telemetry.quality".into(),
        severity,
        message: format!(
            "{} fix{} with hdop above {} over {:.0} min",
            run.fixes,
            if run.fixes == 1 { "" } else { "es" },
            limits.max_hdop,
            run.minutes()
        ),
        from: run.from,
        to: run.to,
        position: Some(run.peak_position()),
        evidence: vec![
            Evidence::integer("poor_fixes", run.fixes),
            Evidence::number("max_hdop", run.peak, 1),
        ],
    }
}

/// The rules over hand-made fixes, with legs measured by the SDK's formula
/// (the host's) rather than the host: jumps, excessive speed, poor fixes, and
/// streaming against batch evaluation.
#[cfg(test)]
mod tests {
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
        let limits = limits();
        let last = state.last.map(|last| Position {
            lat: last.lat,
            lon: last.lon,
        });
        let positions: Vec<Position> = last.into_iter().chain(batch.iter().map(Fix::position)).collect();
        let legs_m: Vec<f64> = positions.windows(2).map(|leg| distance_m(leg[0], leg[1])).collect();
        let findings = follow(state, batch.iter().copied(), &legs_m, &limits);
        (findings, still_open(state, &limits))
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
