//! Corridor: the truck keeps to its declared route.
//!
//! - `corridor.deviation` (warning / violation): an excursion, a run of
//!   consecutive fixes farther from the route than the corridor half-width
//!   (the transit's own `corridor_m`, else the parameter). A warning once it
//!   lasts `warning_minutes`; a violation once it lasts `violation_minutes` or
//!   any of its fixes is more than `violation_offset_m` off the route (EAEU
//!   abnormal situation 03), even a single fix. One finding per excursion, at
//!   its largest offset: final once a fix back inside the corridor ends it,
//!   open (as it stands, reported again by every call) while it goes on.
//!
//! Fixes with a poor hdop neither start nor end an excursion: their position
//! is not trusted either way (the speed policy reports them). A transit
//! without a route has no corridor, so nothing is reported.

use escort_policy_sdk::*;
use serde::{Deserialize, Serialize};

/// The corridor policy; see the crate documentation for its rule.
pub struct Corridor;

params! {
    /// How wide the corridor is, and how long or far outside it is too much.
    pub struct Limits {
        /// Corridor half-width when the transit declares none, metres.
        corridor_m: f64 = 5000.0,
        /// An excursion this long is a warning, minutes.
        warning_minutes: f64 = 5.0,
        /// An excursion this long is a violation, minutes.
        violation_minutes: f64 = 30.0,
        /// A fix farther than this from the route makes its excursion a violation at once, metres.
        violation_offset_m: f64 = 50000.0,
        /// Fixes with a higher hdop neither start nor end an excursion.
        max_hdop: f64 = 5.0,
    }
}

impl Limits {
    /// The limits for a transit that declares `declared_corridor_m`: its own
    /// half-width wins over the parameter.
    fn declared(&self, declared_corridor_m: Option<f64>) -> Limits {
        Limits {
            corridor_m: declared_corridor_m.unwrap_or(self.corridor_m),
            ..*self
        }
    }
}

/// What the rule carries from one batch to the next: the excursion going on.
#[derive(Default, Serialize, Deserialize)]
pub struct State {
    excursion: Option<Episode>,
}

impl Policy for Corridor {
    const ID: &'static str = "corridor";
    const VERSION: &'static str = "0.1.0";
    const SUMMARY: &'static str =
        "Corridor: how far and how long the truck leaves the corridor around its declared route.";
    type Params = Limits;
    type State = State;

    /// One `route_offsets_m` call per batch with fixes, and the declared
    /// corridor. Without a route the host answers no offsets, and no
    /// excursion ever starts.
    fn observe(
        transit: &impl Transit,
        limits: &Limits,
        fixes: &Fixes,
        _now: Timestamp,
        state: &mut State,
    ) -> Result<Observed, String> {
        let offsets_m = if fixes.is_empty() {
            Vec::new()
        } else {
            match transit.route_offsets_m(fixes.lat(), fixes.lon()) {
                Some(offsets_m) => offsets_m,
                None => return Ok(Observed::default()),
            }
        };
        let limits = limits.declared(transit.corridor_m());
        let findings = follow(&mut state.excursion, fixes.rows(), &offsets_m, &limits);
        Ok(Observed {
            findings,
            open: still_open(state.excursion, &limits),
        })
    }
}

export!(Corridor);

/// Feeds fixes, with their offsets from the route, to the open excursion.
/// Returns the findings of the excursions that ended; the one still open is
/// [`still_open`]'s.
fn follow(
    open: &mut Option<Episode>,
    fixes: impl Iterator<Item = Fix>,
    offsets_m: &[f64],
    limits: &Limits,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (fix, &offset_m) in fixes.zip(offsets_m) {
        if fix.is_low_accuracy(limits.max_hdop) {
            continue;
        }
        if offset_m > limits.corridor_m {
            Episode::start_or_extend(open, &fix, offset_m);
        } else {
            findings.extend(open.take().and_then(|excursion| finding(excursion, limits)));
        }
    }
    findings
}

/// The finding of the excursion still open, as it stands, if it is already
/// long or far enough. Every call reports it, an empty batch's too: the host
/// keeps only the last call's open findings.
fn still_open(open: Option<Episode>, limits: &Limits) -> Vec<Finding> {
    open.and_then(|excursion| finding(excursion, limits))
        .into_iter()
        .collect()
}

fn finding(excursion: Episode, limits: &Limits) -> Option<Finding> {
    let minutes = excursion.minutes();
    let severity = if excursion.peak > limits.violation_offset_m || minutes >= limits.violation_minutes {
        Severity::Violation
    } else if minutes >= limits.warning_minutes {
        Severity::Warning
    } else {
        return None;
    };
    Some(Finding {
        code: "corridor.deviation".into(),
        severity,
        message: format!(
            "left the corridor by up to {:.1} km for {minutes:.0} min",
            excursion.peak / 1000.0
        ),
        from: excursion.from,
        to: excursion.to,
        position: Some(excursion.peak_position()),
        evidence: vec![
            Evidence::number("max_offset_m", excursion.peak, 0),
            Evidence::number("minutes", minutes, 0),
        ],
    })
}

/// The rule over hand-made offsets, without the host: excursion bookkeeping,
/// severities, poor fixes, and streaming against batch evaluation.
#[cfg(test)]
mod tests {
    use super::*;

    fn limits(declared_corridor_m: Option<f64>) -> Limits {
        Limits::defaults().declared(declared_corridor_m)
    }

    /// A fix at `minute` whose latitude tells the fixes apart.
    fn fix(minute: i64) -> Fix {
        Fix::new(minute * MINUTE_MS, 43.0 + minute as f64 / 1000.0, 76.0)
    }

    /// One call: the findings of the excursions that ended, then the open one.
    fn observe(open: &mut Option<Episode>, batch: &[(i64, f64)], limits: &Limits) -> (Vec<Finding>, Vec<Finding>) {
        let offsets_m: Vec<f64> = batch.iter().map(|&(_, offset_m)| offset_m).collect();
        let findings = follow(open, batch.iter().map(|&(minute, _)| fix(minute)), &offsets_m, limits);
        (findings, still_open(*open, limits))
    }

    /// Everything one batch reports, final and open.
    fn run(track: &[(i64, f64)], limits: &Limits) -> Vec<Finding> {
        let (mut findings, open) = observe(&mut None, track, limits);
        findings.extend(open);
        findings
    }

    fn evidence(finding: &Finding, name: &str) -> String {
        match &finding.evidence.iter().find(|e| e.name == name).unwrap().value {
            EvidenceValue::Text(text) => text.clone(),
            EvidenceValue::Texts(texts) => texts.join(","),
            // As the host prints them.
            EvidenceValue::Number(Number { value, decimals }) => format!("{value:.*}", usize::from(*decimals)),
            EvidenceValue::Integer(value) => value.to_string(),
        }
    }

    #[test]
    fn a_short_excursion_is_not_reported() {
        let track = [(0, 100.0), (1, 7000.0), (4, 9000.0), (5, 100.0)];
        assert!(run(&track, &limits(None)).is_empty());
    }

    #[test]
    fn an_excursion_of_five_minutes_is_a_warning_at_its_largest_offset() {
        let track = [(0, 100.0), (1, 7000.0), (3, 12345.6), (6, 9000.0), (7, 100.0)];
        let findings = run(&track, &limits(None));
        assert_eq!(findings.len(), 1);
        let finding = &findings[0];
        assert_eq!(finding.severity, Severity::Warning);
        assert_eq!((finding.from, finding.to), (MINUTE_MS, 6 * MINUTE_MS));
        assert_eq!(finding.position, Some(fix(3).position()));
        assert_eq!(finding.message, "left the corridor by up to 12.3 km for 5 min");
        assert_eq!(evidence(finding, "max_offset_m"), "12346");
        assert_eq!(evidence(finding, "minutes"), "5");
    }

    #[test]
    fn thirty_minutes_outside_is_a_violation() {
        let track = [(0, 6000.0), (15, 6000.0), (30, 6000.0), (31, 0.0)];
        assert_eq!(run(&track, &limits(None))[0].severity, Severity::Violation);
    }

    #[test]
    fn a_single_fix_far_off_is_a_violation() {
        let findings = run(&[(0, 100.0), (1, 61230.0), (2, 100.0)], &limits(None));
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].severity, Severity::Violation);
        assert_eq!(findings[0].message, "left the corridor by up to 61.2 km for 0 min");
        assert_eq!(evidence(&findings[0], "max_offset_m"), "61230");
    }

    #[test]
    fn the_declared_corridor_wins_over_the_parameter() {
        let track = [(0, 7000.0), (10, 7000.0)];
        assert!(run(&track, &limits(Some(8000.0))).is_empty());
        assert_eq!(run(&track, &limits(None)).len(), 1);
    }

    #[test]
    fn poor_fixes_neither_start_nor_end_an_excursion() {
        let limits = limits(None);
        let poor = |minute, hdop| Fix {
            hdop: Some(hdop),
            ..fix(minute)
        };
        let fixes = [fix(0), poor(2, 9.0), fix(4), poor(8, 7.5), fix(10), fix(11)];
        let offsets_m = [7000.0, 100.0, 7000.0, 90000.0, 7000.0, 100.0];
        let findings = follow(&mut None, fixes.into_iter(), &offsets_m, &limits);
        assert_eq!(findings.len(), 1);
        assert_eq!((findings[0].from, findings[0].to), (0, 10 * MINUTE_MS));
        assert_eq!(findings[0].severity, Severity::Warning);
    }

    #[test]
    fn an_excursion_still_outside_is_open_until_a_fix_ends_it() {
        let limits = limits(None);
        let mut excursion = None;
        let (findings, open) = observe(&mut excursion, &[(0, 100.0), (1, 7000.0), (3, 7000.0)], &limits);
        assert!(
            findings.is_empty() && open.is_empty(),
            "two minutes outside do not qualify yet"
        );
        let (findings, open) = observe(&mut excursion, &[(8, 7000.0)], &limits);
        assert!(findings.is_empty());
        assert_eq!(open.len(), 1);
        assert_eq!((open[0].from, open[0].to), (MINUTE_MS, 8 * MINUTE_MS));
        // Time passing without fixes changes nothing, but the open excursion
        // must be reported again.
        assert_eq!(observe(&mut excursion, &[], &limits), (Vec::new(), open));
        let (findings, open) = observe(&mut excursion, &[(9, 100.0)], &limits);
        assert_eq!(findings.len(), 1);
        assert_eq!((findings[0].from, findings[0].to), (MINUTE_MS, 8 * MINUTE_MS));
        assert!(open.is_empty());
    }

    /// What the host ends up with: the findings of every call, which
    /// accumulate, and the open findings of the last call, which replaced
    /// those of the calls before.
    fn evaluate(batches: &[&[(i64, f64)]]) -> Vec<Finding> {
        let limits = limits(None);
        let mut state = State::default();
        let (mut findings, mut open) = (Vec::new(), Vec::new());
        for batch in batches {
            let (ended, still_open) = observe(&mut state.excursion, batch, &limits);
            findings.extend(ended);
            open = still_open;
        }
        findings.extend(open);
        findings
    }

    #[test]
    fn streaming_equals_batch() {
        let track = [
            (0, 100.0),
            (2, 6000.0),
            (5, 8000.0),
            (9, 7000.0),
            (10, 100.0),
            (12, 20000.0),
            (30, 60000.0),
            (45, 9000.0),
            (50, 6000.0),
        ];
        let whole = evaluate(&[&track]);
        // One excursion ended, the other is still open.
        assert_eq!(whole.len(), 2);
        for split in 0..=track.len() {
            let (a, b) = track.split_at(split);
            assert_eq!(evaluate(&[a, b]), whole, "split at {split}");
            assert_eq!(evaluate(&[a, b, &[]]), whole, "split at {split}, then time passes");
        }
        let singles: Vec<&[(i64, f64)]> = track.chunks(1).collect();
        assert_eq!(evaluate(&singles), whole);
    }

    /// A transit whose route, if it has one, follows the 43rd parallel: a
    /// fix's offset is its distance due south to it. It answers only what
    /// the corridor policy asks.
    struct Parallel {
        has_route: bool,
    }

    impl Geodesy for Parallel {}

    impl Transit for Parallel {
        fn corridor_m(&self) -> Option<f64> {
            None
        }
        fn has_route(&self) -> bool {
            unimplemented!("the corridor policy does not ask")
        }
        fn route_offsets_m(&self, lat: &[f64], lon: &[f64]) -> Option<Vec<f64>> {
            let offset_m = |(&lat, &lon)| distance_m(Position { lat, lon }, Position { lat: 43.0, lon });
            self.has_route.then(|| lat.iter().zip(lon).map(offset_m).collect())
        }
        fn id(&self) -> String {
            unimplemented!("the corridor policy does not ask")
        }
        fn opened_at(&self) -> Timestamp {
            unimplemented!("the corridor policy does not ask")
        }
        fn deadline(&self) -> Option<Timestamp> {
            unimplemented!("the corridor policy does not ask")
        }
        fn departure(&self) -> Zone {
            unimplemented!("the corridor policy does not ask")
        }
        fn destination(&self) -> Zone {
            unimplemented!("the corridor policy does not ask")
        }
        fn stops(&self) -> Vec<AuthorisedStop> {
            unimplemented!("the corridor policy does not ask")
        }
        fn declaration(&self) -> Declaration {
            unimplemented!("the corridor policy does not ask")
        }
        fn route_length_m(&self) -> Option<f64> {
            unimplemented!("the corridor policy does not ask")
        }
        fn route_progress_m(&self, _: &[f64], _: &[f64]) -> Option<Vec<f64>> {
            unimplemented!("the corridor policy does not ask")
        }
    }

    /// The contract's `observe` itself, natively: offsets come from the
    /// transit's route, and without a route nothing is asked or reported.
    #[test]
    fn observe_runs_natively() {
        // 0.1° of latitude is 11.1 km off the route, for ten minutes.
        let track = [(0, 43.0), (1, 43.1), (11, 43.1), (12, 43.0)];
        let fixes: Fixes = track
            .iter()
            .map(|&(minute, lat)| Fix::new(minute * MINUTE_MS, lat, 76.0))
            .collect();
        let defaults = Limits::default_values();
        let observe = |has_route| {
            escort_policy_sdk::observe::<Corridor>(&Parallel { has_route }, &defaults, &fixes, 12 * MINUTE_MS, &[])
                .unwrap()
        };

        let without = observe(false);
        assert_eq!((without.findings, without.open), (Vec::new(), Vec::new()));

        let with = observe(true);
        assert!(with.open.is_empty());
        assert_eq!(with.findings.len(), 1);
        let excursion = &with.findings[0];
        assert_eq!(
            (excursion.severity, excursion.from, excursion.to),
            (Severity::Warning, MINUTE_MS, 11 * MINUTE_MS)
        );
        assert_eq!(excursion.message, "left the corridor by up to 11.1 km for 10 min");
    }
}
