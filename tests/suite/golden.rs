//! Golden scenarios: each folder of `tests/scenarios` evaluated by the
//! built-in policies, its report compared byte for byte with an insta
//! snapshot; and the properties every scenario must have.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use escort_host::{Severity, Verdict};

use escort_tests::{Scenario, builtin, scenarios};

#[test]
fn reports_match_their_snapshots() {
    for dir in scenarios() {
        let scenario = Scenario::read(&dir);
        insta::assert_snapshot!(scenario.name.as_str(), scenario.check(builtin()).to_json());
    }
}

/// The codes of SPEC section 3; each must be raised by some snapshot.
const SPEC_CODES: [&str; 17] = [
    "eligibility.eligible",
    "eligibility.ineligible",
    "corridor.deviation",
    "dwell.unauthorized_stop",
    "dwell.overstay",
    "speed.implausible",
    "speed.excessive",
    "telemetry.quality",
    "signal.lost",
    "seal.breach",
    "seal.fault",
    "seal.low_battery",
    "seal.opened",
    "transit.arrived",
    "transit.overdue",
    "transit.deadline_too_long",
    "policy.error",
];

#[test]
fn every_spec_code_appears_in_a_snapshot() {
    let snapshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("suite/snapshots");
    let mut text = String::new();
    for entry in fs::read_dir(&snapshots).expect("suite/snapshots exists") {
        text.push_str(&fs::read_to_string(entry.expect("readable entry").path()).expect("readable snapshot"));
    }
    let missing: Vec<_> = SPEC_CODES
        .iter()
        .filter(|code| !text.contains(&format!("\"code\": \"{code}\"")))
        .collect();
    assert!(missing.is_empty(), "no snapshot raises {missing:?}");
}

#[test]
fn clean_runs_raise_nothing_at_warning_or_above() {
    let clean: Vec<_> = scenarios()
        .into_iter()
        .filter(|dir| {
            let name = dir.file_name().expect("named").to_string_lossy().into_owned();
            name.starts_with("clean-") || name.starts_with("gpx-")
        })
        .collect();
    assert!(
        clean.len() >= 3,
        "expected clean and real-receiver scenarios, found {}",
        clean.len()
    );
    for dir in clean {
        let scenario = Scenario::read(&dir);
        let report = scenario.check(builtin());
        let serious: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.severity >= Severity::Warning)
            .map(|f| format!("{} {}", f.code, f.message))
            .collect();
        assert!(serious.is_empty(), "{}: {serious:#?}", scenario.name);
        assert_eq!(report.verdict, Verdict::Clear, "{}", scenario.name);
    }
}

#[test]
fn the_same_inputs_give_the_same_bytes() {
    for dir in scenarios() {
        let scenario = Scenario::read(&dir);
        assert_eq!(
            scenario.check(builtin()).to_json(),
            scenario.check(builtin()).to_json(),
            "{}",
            scenario.name
        );
    }
}

/// A small deterministic generator of batch sizes, so a failure replays.
struct BatchSizes(u64);

impl BatchSizes {
    fn next(&mut self, max: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        1 + (self.0 >> 33) as usize % max
    }
}

/// Policies keep state between batches and re-report episodes still in
/// progress; fed in batches of any size, they must end where one batch ends.
#[test]
fn streaming_in_batches_equals_one_batch() {
    let mut sizes = BatchSizes(2);
    for dir in scenarios() {
        let scenario = Scenario::read(&dir);
        let whole = scenario.check(builtin());
        let mut evaluation = builtin().open(&scenario.transit);
        let fixes = &scenario.telemetry.fixes;
        let mut start = 0;
        while start < fixes.len() {
            let end = (start + sizes.next(300)).min(fixes.len());
            evaluation
                .observe(&fixes[start..end], fixes[end - 1].at)
                .expect("ordered batches");
            start = end;
        }
        evaluation.observe(&[], whole.evaluated_at).expect("time passes");
        let streamed: BTreeSet<String> = evaluation
            .findings()
            .iter()
            .filter(|f| f.policy != escort_host::TELEMETRY_CHECKS)
            .map(|f| serde_json::to_string(f).expect("serializes"))
            .collect();
        let batch: BTreeSet<String> = whole
            .findings
            .iter()
            .filter(|f| f.policy != escort_host::TELEMETRY_CHECKS)
            .map(|f| serde_json::to_string(f).expect("serializes"))
            .collect();
        assert_eq!(
            streamed.symmetric_difference(&batch).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "{}: streamed and batch findings differ",
            scenario.name
        );
    }
}
