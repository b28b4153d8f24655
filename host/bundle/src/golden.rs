//! Golden-file tests (`docs/reference.md` § Golden files): a scenario's report against
//! the report it is expected to give.
//!
//! A scenario is a folder with `transit.json`, fixes (`fixes.ndjson`,
//! `fixes.gpx` or `fixes.csv`), optionally `now.txt` (the evaluation clock),
//! and its golden file `expected.json`: the report `escort check` prints.
//! What `escort test` runs and what a service runs before it takes a new
//! bundle.
//!
//! A scenario's files are read as a bundle's are (`bundle::file`): regular
//! files only, never through a link, each within its bound; a scenario
//! folder is never entered through a link either.
//!
//! Each scenario runs twice, the second time on the policy instances the
//! first run used. The host reuses instances between calls, so a policy
//! that keeps anything between calls outside the state it returns (a
//! counter or a cache in a global) could answer differently in a service
//! than in a test; a scenario whose second report differs from its first
//! fails as [`Outcome::Unrepeatable`], whatever its golden file says.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use escort_engine::{Format, MAX_FILE_BYTES, MAX_TRANSIT_BYTES, PolicySet, Report, Telemetry, Transit, check};

use crate::file::{self, MAX_SETTINGS_BYTES};

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
    /// it (any depth), in path order. A folder that is a link is not
    /// entered: it is a scenario of its own, which its evaluation refuses.
    /// Nor is a bundle below `dir` (a folder with `policy.toml`): its
    /// scenarios expect its policy alone, and are its own to run. Nor is a
    /// cache (a folder with `CACHEDIR.TAG`, as cargo's `target/` has), whose
    /// copies of scenarios are a build's or a test's, not the project's.
    pub fn find(dir: &Path) -> Vec<Scenario> {
        let mut found = Vec::new();
        if dir.symlink_metadata().is_ok_and(|meta| meta.is_symlink()) {
            found.push(Scenario { dir: dir.to_owned() });
        } else {
            find_into(dir, &mut found);
        }
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
        evaluate(policies, &transit, &telemetry, now).map(|report| report.to_json())
    }

    /// The scenario's transit, fixes and evaluation clock, read from its
    /// folder as `escort check` reads them (each file within its bound).
    /// Errors name the files relative to it.
    pub fn inputs(&self) -> Result<(Transit, Telemetry, Option<DateTime<Utc>>), String> {
        if self.dir.symlink_metadata().is_ok_and(|meta| meta.is_symlink()) {
            return Err("the scenario's folder is a symbolic link, which is not followed".to_owned());
        }
        let read = |name: &str, max_bytes| file::read(&self.dir.join(name), max_bytes);
        let transit = read("transit.json", MAX_TRANSIT_BYTES as u64)
            .and_then(|bytes| String::from_utf8(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)))
            .map_err(|e| format!("transit.json: {e}"))?;
        let transit = Transit::from_json(&transit).map_err(|e| format!("transit.json: {e}"))?;
        let fixes = ["fixes.ndjson", "fixes.jsonl", "fixes.gpx", "fixes.csv"]
            .into_iter()
            .find(|name| self.dir.join(name).symlink_metadata().is_ok())
            .ok_or("no fixes.ndjson, fixes.gpx or fixes.csv")?;
        let format = Format::from_path(Path::new(fixes)).expect("the fixes' names have a format");
        let telemetry = read(fixes, MAX_FILE_BYTES)
            .map_err(|e| e.to_string())
            .and_then(|bytes| Telemetry::parse(format, &bytes).map_err(|e| e.to_string()))
            .map_err(|reason| format!("{fixes}: {reason}"))?;
        let now = match file::read_text(&self.dir.join("now.txt"), MAX_SETTINGS_BYTES) {
            Ok(text) => Some(
                DateTime::parse_from_rfc3339(text.trim())
                    .map_err(|e| format!("now.txt: {e}"))?
                    .with_timezone(&Utc),
            ),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("now.txt: {e}")),
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
        let (evaluated, again) = match twice {
            Ok(reports) => reports,
            Err(reason) => return Outcome::Unusable(reason),
        };
        let report = evaluated.to_json();
        if again.to_json() != report {
            return Outcome::Unrepeatable(diff(&report, &again.to_json(), "first run", "second run"));
        }
        let golden = self.dir.join(EXPECTED);
        if bless {
            // A golden file records what the policies decide; a failure
            // blessed would pass for ever, hiding the defect it records.
            if let Some(failure) = evaluated.findings.iter().find(|f| f.code == POLICY_ERROR) {
                return Outcome::Unusable(format!(
                    "not blessed: `{}` failed ({POLICY_ERROR}: {}); a golden file records what a policy decides, \
                     not that it failed",
                    failure.policy, failure.message
                ));
            }
            return match fs::write(&golden, &report) {
                Ok(()) => Outcome::Blessed,
                Err(e) => Outcome::Unusable(format!("{}: {e}", golden.display())),
            };
        }
        match file::read_text(&golden, MAX_FILE_BYTES) {
            Ok(expected) if expected == report => Outcome::Passed,
            Ok(expected) => Outcome::Failed(diff(&expected, &report, EXPECTED, "report")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Outcome::NoGolden,
            Err(e) => Outcome::Unusable(format!("{EXPECTED}: {e}")),
        }
    }
}

/// The code of the finding a failed policy call gives.
const POLICY_ERROR: &str = "policy.error";

/// The report of `check`.
fn evaluate(
    policies: &PolicySet,
    transit: &Transit,
    telemetry: &Telemetry,
    now: Option<DateTime<Utc>>,
) -> Result<Report, String> {
    check(policies, transit, telemetry, now).map_err(|e| e.to_string())
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
    if dir.join("transit.json").symlink_metadata().is_ok() {
        found.push(Scenario { dir: dir.to_owned() });
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        let Ok(kind) = entry.file_type() else { continue };
        let path = entry.path();
        if hidden {
            continue;
        } else if kind.is_dir() {
            if !path.join(crate::MANIFEST).exists() && !path.join("CACHEDIR.TAG").exists() {
                find_into(&path, found);
            }
        } else if kind.is_symlink() && path.is_dir() {
            found.push(Scenario { dir: path });
        }
    }
}
