//! Seal: what the navigation seal reports about itself.
//!
//! Every rule is an episode of consecutive fixes reporting one condition, one
//! finding per episode: final once a fix reports the condition gone, open (as
//! it stands, reported again by every call) until then. A fix silent on the
//! condition (seal state unknown, no battery level) neither extends nor ends
//! the episode: silence is not news.
//!
//! - `seal.breach` (critical): the seal reports `cable_cut` (EAEU abnormal
//!   situation 01) or `housing_breached` (02); each state is its own episode,
//!   as they are two different situations.
//! - `seal.fault` (violation): the seal reports `fault` (04).
//! - `seal.low_battery` (warning): the battery is below `low_battery_pct`
//!   (05); the finding is placed at the lowest charge.
//! - `seal.opened` (critical / info): the seal reports `opened` (07). Critical
//!   when any fix of the episode is outside the destination zone, placed at
//!   the first such fix; info when all are inside it: unloading on arrival.

use escort_policy_sdk::*;
use serde::{Deserialize, Serialize};

/// The seal policy; see the crate documentation for its rules.
pub struct Seal;

params! {
    /// When the seal's battery is low.
    pub struct Limits {
        /// A battery charge below this is low, percent.
        low_battery_pct: f64 = 15.0,
    }
}

/// What the rule carries from one batch to the next: the open episode of
/// each condition, in the order of [`CONDITIONS`].
#[derive(Default, Serialize, Deserialize)]
pub struct State {
    open: [Option<Episode>; 5],
}

#[derive(Clone, Copy)]
enum Condition {
    CableCut,
    HousingBreached,
    Fault,
    LowBattery,
    Opened,
}

const CONDITIONS: [Condition; 5] = [
    Condition::CableCut,
    Condition::HousingBreached,
    Condition::Fault,
    Condition::LowBattery,
    Condition::Opened,
];

impl Condition {
    /// Whether `fix` reports the condition; `None` when the fix is silent on it.
    fn reported(self, fix: &Fix, low_battery_pct: f64) -> Option<bool> {
        let state = match self {
            Condition::LowBattery => return fix.battery_pct.map(|pct| pct < low_battery_pct),
            Condition::CableCut => SealState::CableCut,
            Condition::HousingBreached => SealState::HousingBreached,
            Condition::Fault => SealState::Fault,
            Condition::Opened => SealState::Opened,
        };
        (fix.seal != SealState::Unknown).then_some(fix.seal == state)
    }

    /// The value whose peak the episode keeps, which also places the finding.
    fn value(self, fix: &Fix, inside_destination: bool) -> f64 {
        match self {
            // The episode keeps the largest value: negated, the lowest charge.
            Condition::LowBattery => -fix.battery_pct.unwrap_or_default(),
            Condition::Opened if !inside_destination => 1.0,
            _ => 0.0,
        }
    }

    fn finding(self, episode: Episode) -> Finding {
        let minutes = episode.minutes();
        let min_battery_pct = -episode.peak;
        let battery = format!("battery down to {min_battery_pct:.0} %");
        let state = |state: &str| Evidence::text("state", state);
        let (code, severity, what, evidence) = match self {
            Condition::CableCut => ("seal.breach", Severity::Critical, "cable cut", state("cable_cut")),
            Condition::HousingBreached => (
                "seal.breach",
                Severity::Critical,
                "housing breached",
                state("housing_breached"),
            ),
            Condition::Fault => ("seal.fault", Severity::Violation, "a fault", state("fault")),
            Condition::LowBattery => (
                "seal.low_battery",
                Severity::Warning,
                battery.as_str(),
                Evidence::number("min_battery_pct", min_battery_pct, 0),
            ),
            Condition::Opened if episode.peak > 0.0 => (
                "seal.opened",
                Severity::Critical,
                "opened outside the destination zone",
                state("opened"),
            ),
            Condition::Opened => (
                "seal.opened",
                Severity::Info,
                "opened inside the destination zone",
                state("opened"),
            ),
        };
        Finding {
            code: code.into(),
            severity,
            message: match episode.fixes {
                1 => format!("seal reported {what} once"),
                reports => format!("seal reported {what} for {minutes:.0} min ({reports} reports)"),
            },
            from: episode.from,
            to: episode.to,
            position: Some(episode.peak_position()),
            evidence: vec![evidence, Evidence::number("minutes", minutes, 0)],
        }
    }
}

impl Policy for Seal {
    const ID: &'static str = "seal";
    const VERSION: &'static str = "0.1.0";
    const SUMMARY: &'static str = "Seal: breaches, faults, low battery and opening reported by the navigation seal.";
    type Params = Limits;
    type State = State;

    /// Only an opened seal needs to know where the truck is: then the
    /// destination and one `distances_to_m` call for the whole batch, nothing
    /// otherwise.
    fn observe(
        transit: &impl Transit,
        limits: &Limits,
        fixes: &Fixes,
        _now: Timestamp,
        state: &mut State,
    ) -> Result<Observed, String> {
        let inside_destination = if fixes.seal_states().any(|seal| seal == SealState::Opened) {
            transit.destination().contains(transit, fixes.lat(), fixes.lon())
        } else {
            vec![false; fixes.len()]
        };
        let findings = follow(
            &mut state.open,
            fixes.rows(),
            &inside_destination,
            limits.low_battery_pct,
        );
        Ok(Observed {
            findings,
            open: still_open(&state.open),
        })
    }
}

export!(Seal);

/// Feeds fixes, with whether each is inside the destination zone, to the
/// open episodes. Returns the findings of the episodes that ended; those still
/// open are [`still_open`]'s.
fn follow(
    open: &mut [Option<Episode>; 5],
    fixes: impl Iterator<Item = Fix>,
    inside_destination: &[bool],
    low_battery_pct: f64,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (fix, &inside) in fixes.zip(inside_destination) {
        for (condition, episode) in CONDITIONS.into_iter().zip(open.iter_mut()) {
            match condition.reported(&fix, low_battery_pct) {
                Some(true) => Episode::start_or_extend(episode, &fix, condition.value(&fix, inside)),
                Some(false) => findings.extend(episode.take().map(|ended| condition.finding(ended))),
                None => {}
            }
        }
    }
    findings
}

/// The findings of the episodes still open, as they stand. Every call reports
/// them, an empty batch's too: the host keeps only the last call's open
/// findings.
fn still_open(open: &[Option<Episode>; 5]) -> Vec<Finding> {
    CONDITIONS
        .into_iter()
        .zip(open)
        .filter_map(|(condition, episode)| episode.map(|going_on| condition.finding(going_on)))
        .collect()
}

/// The rules over hand-made fixes and inside flags, without the host:
/// episodes per condition, silent fixes, placement, and streaming against
/// batch evaluation.
#[cfg(test)]
mod tests {
    use super::*;

    fn fix(minute: i64, seal: SealState) -> Fix {
        Fix {
            seal,
            ..Fix::new(minute * MINUTE_MS, 43.0 + minute as f64 / 1000.0, 76.0)
        }
    }

    fn battery(minute: i64, pct: f64) -> Fix {
        Fix {
            battery_pct: Some(pct),
            ..fix(minute, SealState::Unknown)
        }
    }

    /// One call: the findings of the episodes that ended, then the open ones.
    fn observe(open: &mut [Option<Episode>; 5], fixes: &[Fix], inside: &[bool]) -> (Vec<Finding>, Vec<Finding>) {
        let findings = follow(open, fixes.iter().copied(), inside, 15.0);
        (findings, still_open(open))
    }

    /// Everything one batch reports, final and open.
    fn run(fixes: &[Fix], inside: &[bool]) -> Vec<Finding> {
        let (mut findings, open) = observe(&mut State::default().open, fixes, inside);
        findings.extend(open);
        findings
    }

    fn outside(fixes: &[Fix]) -> Vec<bool> {
        vec![false; fixes.len()]
    }

    #[test]
    fn a_breach_is_critical_and_each_state_is_its_own_episode() {
        use SealState::*;
        let fixes = [
            fix(0, Intact),
            fix(1, CableCut),
            fix(2, Unknown),
            fix(3, CableCut),
            fix(4, HousingBreached),
        ];
        let findings = run(&fixes, &outside(&fixes));
        assert_eq!(findings.len(), 2);
        let cut = &findings[0];
        assert_eq!((cut.code.as_str(), cut.severity), ("seal.breach", Severity::Critical));
        assert_eq!((cut.from, cut.to), (MINUTE_MS, 3 * MINUTE_MS));
        assert_eq!(cut.message, "seal reported cable cut for 2 min (2 reports)");
        assert_eq!(cut.evidence[0], Evidence::text("state", "cable_cut"));
        assert_eq!(findings[1].evidence[0], Evidence::text("state", "housing_breached"));
        assert_eq!(findings[1].from, 4 * MINUTE_MS);
    }

    #[test]
    fn a_fault_is_a_violation() {
        let fixes = [fix(0, SealState::Fault), fix(1, SealState::Intact)];
        let findings = run(&fixes, &outside(&fixes));
        assert_eq!(findings.len(), 1);
        assert_eq!(
            (findings[0].code.as_str(), findings[0].severity),
            ("seal.fault", Severity::Violation)
        );
    }

    #[test]
    fn low_battery_is_placed_at_the_lowest_charge() {
        let fixes = [
            battery(0, 20.0),
            battery(1, 14.0),
            fix(2, SealState::Intact),
            battery(3, 9.4),
            battery(4, 12.0),
        ];
        let findings = run(&fixes, &outside(&fixes));
        assert_eq!(findings.len(), 1);
        let low = &findings[0];
        assert_eq!(
            (low.code.as_str(), low.severity),
            ("seal.low_battery", Severity::Warning)
        );
        assert_eq!((low.from, low.to), (MINUTE_MS, 4 * MINUTE_MS));
        assert_eq!(low.position, Some(fixes[3].position()));
        assert_eq!(low.evidence[0], Evidence::number("min_battery_pct", 9.4, 0));
        assert_eq!(low.message, "seal reported battery down to 9 % for 3 min (3 reports)");
    }

    #[test]
    fn opened_is_info_inside_the_destination_and_critical_once_outside() {
        let fixes = [
            fix(0, SealState::Opened),
            fix(1, SealState::Opened),
            fix(2, SealState::Opened),
        ];
        let findings = run(&fixes, &[true, true, true]);
        assert_eq!(findings[0].severity, Severity::Info);
        assert_eq!(
            findings[0].message,
            "seal reported opened inside the destination zone for 2 min (3 reports)"
        );
        let findings = run(&fixes, &[true, false, true]);
        assert_eq!(findings[0].severity, Severity::Critical);
        assert_eq!(findings[0].position, Some(fixes[1].position()));
    }

    #[test]
    fn an_episode_still_reported_is_open_until_a_fix_ends_it() {
        let mut open = State::default().open;
        let (findings, still) = observe(&mut open, &[fix(0, SealState::Fault)], &[false]);
        assert!(findings.is_empty());
        assert_eq!(still.len(), 1);
        assert_eq!(still[0].code, "seal.fault");
        // Time passing without fixes changes nothing, but the open episode
        // must be reported again; so must a fix silent on it.
        assert_eq!(observe(&mut open, &[], &[]), (Vec::new(), still.clone()));
        let silent = [battery(1, 80.0)];
        assert_eq!(
            observe(&mut open, &silent, &outside(&silent)),
            (Vec::new(), still.clone())
        );
        let (findings, still) = observe(&mut open, &[fix(2, SealState::Intact)], &[false]);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].to, 0, "the silent fix did not extend it");
        assert!(still.is_empty());
    }

    /// What the host ends up with: the findings of every call, which
    /// accumulate, and the open findings of the last call, which replaced
    /// those of the calls before.
    fn evaluate(batches: &[&[(Fix, bool)]]) -> Vec<Finding> {
        let mut state = State::default();
        let (mut findings, mut open) = (Vec::new(), Vec::new());
        for batch in batches {
            let fixes: Vec<Fix> = batch.iter().map(|&(fix, _)| fix).collect();
            let inside: Vec<bool> = batch.iter().map(|&(_, inside)| inside).collect();
            let (ended, still_open) = observe(&mut state.open, &fixes, &inside);
            findings.extend(ended);
            open = still_open;
        }
        findings.extend(open);
        findings
    }

    #[test]
    fn streaming_equals_batch() {
        use SealState::*;
        let track = [
            (
                Fix {
                    battery_pct: Some(16.0),
                    ..fix(0, Intact)
                },
                false,
            ),
            (
                Fix {
                    battery_pct: Some(14.0),
                    ..fix(1, Fault)
                },
                false,
            ),
            (
                Fix {
                    battery_pct: Some(13.0),
                    ..fix(2, Unknown)
                },
                false,
            ),
            (fix(3, Fault), false),
            (fix(4, CableCut), false),
            (
                Fix {
                    battery_pct: Some(12.0),
                    ..fix(5, Intact)
                },
                false,
            ),
            (fix(6, Opened), true),
            (fix(7, Opened), false),
            (
                Fix {
                    battery_pct: Some(10.0),
                    ..fix(8, Opened)
                },
                true,
            ),
        ];
        let whole = evaluate(&[&track]);
        // The fault and the cable cut ended; low battery and opened are open.
        assert_eq!(whole.len(), 4);
        for split in 0..=track.len() {
            let (a, b) = track.split_at(split);
            assert_eq!(evaluate(&[a, b]), whole, "split at {split}");
            assert_eq!(evaluate(&[a, b, &[]]), whole, "split at {split}, then time passes");
        }
        let singles: Vec<&[(Fix, bool)]> = track.chunks(1).collect();
        assert_eq!(evaluate(&singles), whole);
    }
}
