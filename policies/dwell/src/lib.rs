//! Dwell: where and how long the truck stands still.
//!
//! A stop is a period of at least `stop_min_minutes` during which the truck
//! stays within `stop_radius_m` of the fix where it halted (the SDK's
//! [`StopTracker`]). Where it halted decides how long it may stand:
//!
//! - in the departure or destination customs zone: as long as it likes;
//! - `dwell.overstay` (warning): in an authorised stop, longer than the
//!   stop's `max_minutes` (no limit when it has none);
//! - `dwell.unauthorized_stop` (warning / violation): outside every zone, over
//!   `warning_minutes`, or over `violation_minutes` for a violation.
//!
//! A stop is final once a fix away from where the truck halted ends it; while
//! it goes on it is open, reported as it stands by every call. Fixes with a
//! poor hdop are ignored: receiver noise would otherwise end a stop, or start
//! one.

use escort_policy_sdk::*;
use serde::{Deserialize, Serialize};

/// The dwell policy; see the crate documentation for its rules.
pub struct Dwell;

params! {
    /// What a stop is, and how long one outside every zone may last.
    pub struct Limits {
        /// The truck is stationary while it stays this close to where it halted, metres.
        stop_radius_m: f64 = 200.0,
        /// Stationary for at least this long is a stop, minutes.
        stop_min_minutes: f64 = 3.0,
        /// A stop outside every authorised zone longer than this is a warning, minutes.
        warning_minutes: f64 = 30.0,
        /// A stop outside every authorised zone longer than this is a violation, minutes.
        violation_minutes: f64 = 120.0,
        /// Fixes with a higher hdop are ignored.
        max_hdop: f64 = 5.0,
    }
}

impl Limits {
    /// The shortest stop, in the contract's time unit.
    fn stop_min_ms(&self) -> Timestamp {
        (self.stop_min_minutes * MINUTE_MS as f64).round() as Timestamp
    }
}

/// What the rule carries from one batch to the next: where the truck halted.
#[derive(Default, Serialize, Deserialize)]
pub struct State {
    stops: StopTracker,
}

impl Policy for Dwell {
    const ID: &'static str = "dwell";
    const VERSION: &'static str = "0.1.0";
    const SUMMARY: &'static str = "Dwell: stops outside authorised zones and overstays in authorised stops.";
    type Params = Limits;
    type State = State;

    /// It asks the host the distances of stop detection ([`StopTracker`]),
    /// and the transit for its zones only in a call with a stop to judge: a
    /// stop is judged by where the truck halted, a few distances computed in
    /// the component.
    fn observe(
        transit: &impl Transit,
        limits: &Limits,
        fixes: &Fixes,
        _now: Timestamp,
        state: &mut State,
    ) -> Result<Observed, String> {
        let ended = follow(&mut state.stops, transit, fixes, limits);
        let going_on = state.stops.current(limits.stop_min_ms());
        if ended.is_empty() && going_on.is_none() {
            return Ok(Observed::default());
        }
        let zones = Zones::of(transit);
        Ok(Observed {
            findings: ended.into_iter().filter_map(|stop| zones.judge(stop, limits)).collect(),
            open: still_open(going_on, &zones, limits),
        })
    }
}

export!(Dwell);

/// Feeds fixes to the stop tracker. Returns the stops that ended; the one
/// still going on is the tracker's `current`.
fn follow(stops: &mut StopTracker, geodesy: &impl Geodesy, fixes: &Fixes, limits: &Limits) -> Vec<Stop> {
    let (radius_m, min_ms) = (limits.stop_radius_m, limits.stop_min_ms());
    // Most batches have no poor fix: those go to the tracker as they came.
    if !fixes.hdop().iter().any(|&hdop| hdop > limits.max_hdop) {
        return stops.follow(geodesy, fixes, radius_m, min_ms);
    }
    let accurate: Fixes = fixes
        .rows()
        .filter(|fix| !fix.is_low_accuracy(limits.max_hdop))
        .collect();
    stops.follow(geodesy, &accurate, radius_m, min_ms)
}

/// The finding of the stop still going on, as it stands, if it already
/// overstays. Every call reports it, an empty batch's too: the host keeps only
/// the last call's open findings.
fn still_open(going_on: Option<Stop>, zones: &Zones, limits: &Limits) -> Vec<Finding> {
    going_on
        .and_then(|stop| zones.judge(stop, limits))
        .into_iter()
        .collect()
}

/// Where the truck may stand: the customs offices and the authorised stops.
struct Zones {
    customs: [Zone; 2],
    stops: Vec<AuthorisedStop>,
}

impl Zones {
    /// The zones `transit` declares, asked once per call.
    fn of(transit: &impl Transit) -> Zones {
        Zones {
            customs: [transit.departure(), transit.destination()],
            stops: transit.stops(),
        }
    }

    /// Judges a stop by where the truck halted: one anchor per stop, so a few
    /// in-component distances rather than a host call per fix.
    fn judge(&self, stop: Stop, limits: &Limits) -> Option<Finding> {
        if self.customs.iter().any(|zone| zone.contains_position(stop.position)) {
            return None;
        }
        // Where authorised stops overlap, the most permissive one applies.
        let authorised = self
            .stops
            .iter()
            .filter(|allowed| allowed.zone.contains_position(stop.position))
            .max_by_key(|allowed| allowed.max_minutes.map_or(u64::MAX, u64::from));
        match authorised {
            None => unauthorized(stop, limits),
            Some(allowed) => overstay(stop, &allowed.zone, allowed.max_minutes?),
        }
    }
}

fn unauthorized(stop: Stop, limits: &Limits) -> Option<Finding> {
    let minutes = minutes_between(stop.from, stop.to);
    let severity = if minutes > limits.violation_minutes {
        Severity::Violation
    } else if minutes > limits.warning_minutes {
        Severity::Warning
    } else {
        return None;
    };
    Some(Finding {
        code: "dwell.unauthorized_stop".into(),
        severity,
        message: format!("stopped for {minutes:.0} min outside every authorised zone"),
        from: stop.from,
        to: stop.to,
        position: Some(stop.position),
        evidence: vec![Evidence::number("minutes", minutes, 0)],
    })
}

fn overstay(stop: Stop, zone: &Zone, max_minutes: u32) -> Option<Finding> {
    let minutes = minutes_between(stop.from, stop.to);
    (minutes > f64::from(max_minutes)).then(|| Finding {
        code: "dwell.overstay".into(),
        severity: Severity::Warning,
        message: format!(
            "stopped for {minutes:.0} min at {}, longer than the {max_minutes} min allowed",
            zone.name
        ),
        from: stop.from,
        to: stop.to,
        position: Some(stop.position),
        evidence: vec![
            Evidence::number("minutes", minutes, 0),
            Evidence::text("zone_id", &zone.id),
            Evidence::integer("max_minutes", max_minutes),
        ],
    })
}

/// The rule over hand-made fixes, with the SDK's geodesy: where a stop may
/// last how long, poor fixes, and streaming against batch evaluation.
#[cfg(test)]
mod tests {
    use super::*;

    const ELSEWHERE: (f64, f64) = (44.0, 78.0);
    const DEPARTURE: (f64, f64) = (44.158, 80.399);
    const PARKING: (f64, f64) = (44.361, 77.976);
    const LAYBY: (f64, f64) = (44.5, 77.5);

    fn zone(id: &str, (lat, lon): (f64, f64), radius_m: f64) -> Zone {
        Zone {
            id: id.into(),
            name: id.to_lowercase(),
            center: Position { lat, lon },
            radius_m,
        }
    }

    fn transit() -> DeclaredTransit {
        DeclaredTransit {
            departure: zone("NUR-ZHOLY", DEPARTURE, 2000.0),
            destination: zone("ALMATY-TC", (43.30, 76.95), 1500.0),
            stops: vec![
                AuthorisedStop {
                    zone: zone("SARYOZEK-PARK", PARKING, 800.0),
                    max_minutes: Some(720),
                },
                AuthorisedStop {
                    zone: zone("LAYBY", LAYBY, 500.0),
                    max_minutes: None,
                },
            ],
            ..DeclaredTransit::example()
        }
    }

    /// Fixes every ten minutes parked at `place` from `from` to `to`, then
    /// one fix 5 km away that ends the stop.
    fn parked(place: (f64, f64), from: i64, to: i64) -> Vec<Fix> {
        let mut fixes: Vec<Fix> = (from..=to)
            .step_by(10)
            .map(|minute| Fix::new(minute * MINUTE_MS, place.0, place.1))
            .collect();
        fixes.push(Fix::new((to + 5) * MINUTE_MS, place.0 + 0.05, place.1));
        fixes
    }

    /// One call: the findings of the stops that ended, then the open one.
    fn observe(stops: &mut StopTracker, batch: &[Fix]) -> (Vec<Finding>, Vec<Finding>) {
        let (transit, limits) = (transit(), Limits::defaults());
        let zones = Zones::of(&transit);
        let ended = follow(stops, &transit, &batch.iter().copied().collect(), &limits);
        let findings = ended
            .into_iter()
            .filter_map(|stop| zones.judge(stop, &limits))
            .collect();
        (
            findings,
            still_open(stops.current(limits.stop_min_ms()), &zones, &limits),
        )
    }

    /// Everything one batch reports, final and open.
    fn run(fixes: Vec<Fix>) -> Vec<Finding> {
        let (mut findings, open) = observe(&mut StopTracker::default(), &fixes);
        findings.extend(open);
        findings
    }

    #[test]
    fn a_stop_outside_every_zone_is_a_warning_then_a_violation() {
        assert!(run(parked(ELSEWHERE, 0, 30)).is_empty());
        let warning = run(parked(ELSEWHERE, 0, 40));
        assert_eq!(warning.len(), 1);
        assert_eq!(warning[0].code, "dwell.unauthorized_stop");
        assert_eq!(warning[0].severity, Severity::Warning);
        assert_eq!((warning[0].from, warning[0].to), (0, 40 * MINUTE_MS));
        assert_eq!(warning[0].message, "stopped for 40 min outside every authorised zone");
        assert_eq!(
            warning[0].position,
            Some(Position {
                lat: ELSEWHERE.0,
                lon: ELSEWHERE.1
            })
        );
        assert_eq!(run(parked(ELSEWHERE, 0, 130))[0].severity, Severity::Violation);
    }

    #[test]
    fn a_stop_at_a_customs_office_is_never_reported() {
        assert!(run(parked(DEPARTURE, 0, 600)).is_empty());
    }

    #[test]
    fn an_authorised_stop_may_last_its_max_minutes() {
        assert!(run(parked(PARKING, 0, 720)).is_empty());
        let overstay = run(parked(PARKING, 0, 800));
        assert_eq!(overstay.len(), 1);
        assert_eq!(overstay[0].code, "dwell.overstay");
        assert_eq!(
            overstay[0].message,
            "stopped for 800 min at saryozek-park, longer than the 720 min allowed"
        );
        let evidence: Vec<_> = overstay[0].evidence.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(evidence, ["minutes", "zone_id", "max_minutes"]);
        assert!(run(parked(LAYBY, 0, 2000)).is_empty());
    }

    #[test]
    fn poor_fixes_do_not_end_a_stop() {
        let mut fixes = parked(ELSEWHERE, 0, 60);
        fixes.insert(
            3,
            Fix {
                hdop: Some(12.0),
                ..Fix::new(25 * MINUTE_MS, 44.1, 78.0)
            },
        );
        let findings = run(fixes);
        assert_eq!(findings.len(), 1);
        assert_eq!((findings[0].from, findings[0].to), (0, 60 * MINUTE_MS));
    }

    #[test]
    fn a_stop_going_on_is_open_until_the_truck_moves() {
        let mut fixes = parked(ELSEWHERE, 0, 50);
        let moved = fixes.pop().unwrap();
        let mut stops = StopTracker::default();
        let (findings, open) = observe(&mut stops, &fixes);
        assert!(findings.is_empty());
        assert_eq!(open.len(), 1);
        assert_eq!((open[0].from, open[0].to), (0, 50 * MINUTE_MS));
        // Time passing without fixes changes nothing, but the open stop must
        // be reported again.
        assert_eq!(observe(&mut stops, &[]), (Vec::new(), open.clone()));
        let (findings, open_after) = observe(&mut stops, &[moved]);
        assert_eq!(findings, open);
        assert!(open_after.is_empty());
    }

    /// What the host ends up with: the findings of every call, which
    /// accumulate, and the open findings of the last call, which replaced
    /// those of the calls before.
    fn evaluate(batches: &[&[Fix]]) -> Vec<Finding> {
        let mut state = State::default();
        let (mut findings, mut open) = (Vec::new(), Vec::new());
        for batch in batches {
            let (ended, still_open) = observe(&mut state.stops, batch);
            findings.extend(ended);
            open = still_open;
        }
        findings.extend(open);
        findings
    }

    #[test]
    fn streaming_equals_batch() {
        let mut fixes = parked(ELSEWHERE, 0, 50);
        fixes.extend(parked(PARKING, 60, 800));
        fixes.extend(parked(ELSEWHERE, 810, 1000));
        fixes.pop();
        let whole = evaluate(&[&fixes]);
        // Two stops ended, the last is still going on.
        assert_eq!(whole.len(), 3);
        for split in 0..=fixes.len() {
            let (a, b) = fixes.split_at(split);
            assert_eq!(evaluate(&[a, b]), whole, "split at {split}");
            assert_eq!(evaluate(&[a, b, &[]]), whole, "split at {split}, then time passes");
        }
        let singles: Vec<&[Fix]> = fixes.chunks(1).collect();
        assert_eq!(evaluate(&singles), whole);
    }
}
