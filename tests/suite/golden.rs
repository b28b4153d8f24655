//! Golden scenarios: each folder of `tests/scenarios` evaluated by the
//! built-in policies, its report compared byte for byte with the folder's
//! `expected.json` (the golden file `escort test tests/scenarios` checks
//! too); and the properties every scenario must have.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use escort_bundle::golden::{self, Outcome};
use escort_host::{Severity, Verdict};

use escort_tests::{Scenario, builtin, scenarios};

/// Every scenario's report is its golden file. A changed report is blessed
/// with `escort test tests/scenarios --bless`, and the diff reviewed.
#[test]
fn reports_match_their_golden_files() {
    let failed: Vec<String> = scenarios()
        .into_iter()
        .filter_map(
            |dir| match (golden::Scenario { dir: dir.clone() }).test(builtin(), false) {
                Outcome::Passed => None,
                outcome => Some(format!("{}: {outcome:?}", dir.display())),
            },
        )
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// The codes of SPEC section 3; each must be raised by some golden file.
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

/// The golden files: each scenario's `expected.json`, and the suite's own
/// snapshots (a hostile policy's report, for the codes only a misbehaving
/// policy gives).
pub(crate) fn golden_files() -> Vec<PathBuf> {
    let snapshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("suite/snapshots");
    let mut files: Vec<PathBuf> = scenarios().iter().map(|dir| dir.join(golden::EXPECTED)).collect();
    for entry in fs::read_dir(&snapshots).expect("suite/snapshots exists") {
        let path = entry.expect("readable entry").path();
        if path.extension().is_some_and(|extension| extension == "snap") {
            files.push(path);
        }
    }
    files
}

#[test]
fn every_spec_code_appears_in_a_golden_file() {
    let text: String = golden_files()
        .iter()
        .map(|file| fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display())))
        .collect();
    let missing: Vec<_> = SPEC_CODES
        .iter()
        .filter(|code| !text.contains(&format!("\"code\": \"{code}\"")))
        .collect();
    assert!(missing.is_empty(), "no golden file raises {missing:?}");
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
