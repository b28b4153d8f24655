//! Golden-file tests (SPEC 5): a scenario's report against the report it
//! is expected to give.
//!
//! A scenario is a folder with `transit.json`, fixes (`fixes.ndjson`,
//! `fixes.gpx` or `fixes.csv`), optionally `now.txt` (the evaluation clock),
//! and its golden file `expected.json`: the report `escort check` prints.
//! What `escort test` runs and what a service runs before it takes a new
//! bundle.
//!
//! Each scenario runs twice, the second time on the policy instances the
//! first run used. The host reuses instances between calls, so a policy
//! that keeps anything between calls outside the state it returns (a
//! counter or a cache in a global) could answer differently in a service
//! than in a test; a scenario whose second report differs from its first
//! fails as [`Outcome::Unrepeatable`], whatever its golden file says.

use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::evaluation::check;
use crate::policy::PolicySet;
use crate::telemetry::Telemetry;
use crate::transit::Transit;

/// The golden file's name.
pub const EXPECTED: &str = "expected.json";

/// One scenario folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    /// The folder.
    pub dir: PathBuf,
}

/// How a scenario came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The report is the golden file, byte for byte.
    Passed,
    /// The golden file was written (`--bless`).
    Blessed,
    /// The report differs; a unified diff from the golden file to it.
    Failed(String),
    /// There is no golden file yet.
    NoGolden,
    /// Run again, the scenario gave another report: a policy keeps something
    /// between calls outside its state. A unified diff from the first report
    /// to the second.
    Unrepeatable(String),
    /// The scenario could not be evaluated.
    Unusable(String),
}

impl Scenario {
    /// `dir` itself when it is a scenario, else every scenario folder below
    /// it (any depth), in path order.
    pub fn find(dir: &Path) -> Vec<Scenario> {
        let mut found = Vec::new();
        find_into(dir, &mut found);
        found.sort_by(|a, b| a.dir.cmp(&b.dir));
        found
    }

    /// The scenario's name: its folder's.
    pub fn name(&self) -> String {
        self.dir
            .file_name()
            .map_or_else(|| self.dir.display().to_string(), |n| n.to_string_lossy().into_owned())
    }

    /// The report the scenario gives with `policies`, as JSON.
    pub fn report(&self, policies: &PolicySet) -> Result<String, String> {
        let (transit, telemetry, now) = self.inputs()?;
        evaluate(policies, &transit, &telemetry, now)
    }

    /// The scenario's transit, fixes and evaluation clock, read from its
    /// folder.
    fn inputs(&self) -> Result<(Transit, Telemetry, Option<DateTime<Utc>>), String> {
        let transit = Transit::from_path(&self.dir.join("transit.json")).map_err(|e| format!("transit.json: {e}"))?;
        let fixes = ["fixes.ndjson", "fixes.jsonl", "fixes.gpx", "fixes.csv"]
            .into_iter()
            .map(|name| self.dir.join(name))
            .find(|path| path.is_file())
            .ok_or("no fixes.ndjson, fixes.gpx or fixes.csv")?;
        let telemetry = Telemetry::read_path(&fixes).map_err(|e| e.to_string())?;
        let now = match fs::read_to_string(self.dir.join("now.txt")) {
            Ok(text) => Some(
                DateTime::parse_from_rfc3339(text.trim())
                    .map_err(|e| format!("now.txt: {e}"))?
                    .with_timezone(&Utc),
            ),
            Err(_) => None,
        };
        Ok((transit, telemetry, now))
    }

    /// Evaluates the scenario and compares with its golden file; with
    /// `bless`, writes the golden file instead.
    pub fn test(&self, policies: &PolicySet, bless: bool) -> Outcome {
        // The inputs are read once; only the evaluation runs twice.
        let twice = self.inputs().and_then(|(transit, telemetry, now)| {
            let first = evaluate(policies, &transit, &telemetry, now)?;
            Ok((first, evaluate(policies, &transit, &telemetry, now)?))
        });
        let (report, again) = match twice {
            Ok(reports) => reports,
            Err(reason) => return Outcome::Unusable(reason),
        };
        if again != report {
            return Outcome::Unrepeatable(diff(&report, &again, "first run", "second run"));
        }
        let golden = self.dir.join(EXPECTED);
        if bless {
            return match fs::write(&golden, &report) {
                Ok(()) => Outcome::Blessed,
                Err(e) => Outcome::Unusable(format!("{}: {e}", golden.display())),
            };
        }
        match fs::read_to_string(&golden) {
            Ok(expected) if expected == report => Outcome::Passed,
            Ok(expected) => Outcome::Failed(diff(&expected, &report, EXPECTED, "report")),
            Err(_) => Outcome::NoGolden,
        }
    }
}

/// The report of `check`, as JSON.
fn evaluate(
    policies: &PolicySet,
    transit: &Transit,
    telemetry: &Telemetry,
    now: Option<DateTime<Utc>>,
) -> Result<String, String> {
    let report = check(policies, transit, telemetry, now).map_err(|e| e.to_string())?;
    Ok(report.to_json())
}

/// A unified diff from `old` to `new`, three lines of context.
fn diff(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(old_name, new_name)
        .to_string()
}

fn find_into(dir: &Path, found: &mut Vec<Scenario>) {
    if dir.join("transit.json").is_file() {
        found.push(Scenario { dir: dir.to_owned() });
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if path.is_dir() && !hidden {
            find_into(&path, found);
        }
    }
}
