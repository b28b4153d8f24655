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
//!
//! Then it runs again fed in batches ([`check_in_batches`]), each policy's
//! state carried from one batch to the next as a service carries it, since
//! one batch of everything hides a policy that forgets part of its state
//! until a service streams it the track. It is split in two at
//! [`RANDOM_SPLITS`] points drawn from its name (so the same scenario always
//! splits the same way), each alone; then a scenario of at most
//! [`SPLIT_EVERYWHERE_FIXES`] fixes is fed one fix a batch, a longer one in
//! batches split at all those points at once. A report that differs from
//! the one-batch report fails as [`Outcome::SplitDiffers`], naming the first
//! two-way split that differs (when one fix a batch differs, the two-way
//! splits are tried at every fix in turn to find it). A report with a
//! `policy.error` is not split: the failure stands at its call's time, so
//! it moves with the batches, and it is what to report.
//!
//! So a scenario that passes costs [`RANDOM_SPLITS`]` + 1` more evaluations,
//! one of them a call per fix. Two-way splits at every fix would name the
//! point at once, but cost one evaluation per fix. Measured on the 18
//! scenarios of `tests/scenarios` (a debug build, 2 cores), `escort test`
//! takes 3.1 s this way, 10.5 s with a two-way split at every fix, 0.6 s
//! with no split; and one fix a batch leaves no boundary out.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use escort_engine::{
    Format, MAX_FILE_BYTES, MAX_TRANSIT_BYTES, PolicySet, Report, Telemetry, Transit, check, check_in_batches,
    format_time,
};

use crate::file::{self, MAX_SETTINGS_BYTES};

/// The golden file's name.
pub const EXPECTED: &str = "expected.json";

/// Most fixes of a scenario fed one fix a batch; a longer one is fed in
/// batches split at its [`RANDOM_SPLITS`] points.
pub const SPLIT_EVERYWHERE_FIXES: usize = 200;

/// How many points drawn from a scenario's name it is split in two at (fewer
/// when it has fewer fixes, or two draws fall on one point).
pub const RANDOM_SPLITS: usize = 8;

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
    /// Fed in batches, the scenario gave another report than fed in one: a
    /// policy's state does not carry everything from one batch to the next.
    SplitDiffers {
        /// Where the fixes were split, as "at fix N (time)", "at every
        /// fix" or "at fixes N, M, …" (fix N is the first of its batch,
        /// counting from 1 among the fixes evaluated).
        split: String,
        /// A unified diff from the one-batch report to the split one.
        diff: String,
    },
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
    /// `bless`, writes the golden file instead. The scenario is evaluated
    /// again on the same instances and again in batches first (see the
    /// module's documentation); a report that differs then fails, and is
    /// not blessed.
    pub fn test(&self, policies: &PolicySet, bless: bool) -> Outcome {
        // The inputs are read once; only the evaluation runs again.
        let (transit, telemetry, now) = match self.inputs() {
            Ok(inputs) => inputs,
            Err(reason) => return Outcome::Unusable(reason),
        };
        let twice = evaluate(policies, &transit, &telemetry, now)
            .and_then(|first| Ok((first, evaluate(policies, &transit, &telemetry, now)?)));
        let (evaluated, again) = match twice {
            Ok(reports) => reports,
            Err(reason) => return Outcome::Unusable(reason),
        };
        let (report, again) = (evaluated.to_json(), again.to_json());
        if again != report {
            return Outcome::Unrepeatable(diff(&report, &again, "first run", "second run"));
        }
        // A failed call's `policy.error` stands at the call's time, so it
        // differs with the batches by nature: the failure is what to report.
        let failed = evaluated.findings.iter().find(|f| f.code == POLICY_ERROR);
        if failed.is_none()
            && let Some(differs) = self.split_differs(policies, (&transit, &telemetry, now), &report)
        {
            return differs;
        }
        let golden = self.dir.join(EXPECTED);
        if bless && let Some(failure) = failed {
            // A golden file records what the policies decide; a failure
            // blessed would pass for ever, hiding the defect it records.
            return Outcome::Unusable(format!(
                "not blessed: `{}` failed ({POLICY_ERROR}: {}); a golden file records what a policy decides, \
                 not that it failed",
                failure.policy, failure.message
            ));
        }
        if bless {
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

    /// How the scenario fed in batches differs from its one-batch `report`,
    /// if it does (see the module's documentation): the first split that
    /// differs, or why the scenario could not be fed so.
    fn split_differs(
        &self,
        policies: &PolicySet,
        (transit, telemetry, now): (&Transit, &Telemetry, Option<DateTime<Utc>>),
        report: &str,
    ) -> Option<Outcome> {
        // The fixes evaluated, which split points count: those at or after the opening.
        let fixes: Vec<DateTime<Utc>> = telemetry
            .fixes
            .iter()
            .map(|fix| fix.at)
            .filter(|at| *at >= transit.opened_at)
            .collect();
        let at = |point: usize| format!("at fix {} ({})", point + 1, format_time(&fixes[point]));
        let differs =
            |split: String, points: &[usize]| match check_in_batches(policies, transit, telemetry, now, points) {
                Ok(split_report) if split_report.to_json() == report => None,
                Ok(split_report) => Some(Outcome::SplitDiffers {
                    split,
                    diff: diff(report, &split_report.to_json(), "one batch", "in batches"),
                }),
                Err(e) => Some(Outcome::Unusable(format!("fed in batches split {split}: {e}"))),
            };
        if fixes.len() < 2 {
            return None;
        }
        let points = self.split_points(fixes.len());
        if let Some(differs) = points.iter().find_map(|&point| differs(at(point), &[point])) {
            return Some(differs);
        }
        if fixes.len() > SPLIT_EVERYWHERE_FIXES {
            let all = points.iter().map(|point| (point + 1).to_string()).collect::<Vec<_>>();
            return differs(format!("at fixes {}", all.join(", ")), &points);
        }
        let everywhere = differs("at every fix".to_owned(), &(1..fixes.len()).collect::<Vec<_>>())?;
        // Only a scenario that fails pays for naming where.
        Some(
            (1..fixes.len())
                .find_map(|point| differs(at(point), &[point]))
                .unwrap_or(everywhere),
        )
    }

    /// The [`RANDOM_SPLITS`] points, in order, a scenario of `fixes` fixes
    /// (at least two) is split in two at: indices of fixes but the first,
    /// drawn from the scenario's name, so the same scenario always splits
    /// the same way, on every machine.
    fn split_points(&self, fixes: usize) -> Vec<usize> {
        let mut points: Vec<usize> = (0..RANDOM_SPLITS as u64)
            .map(|draw| {
                // FNV-1a of the name and the draw's number.
                let bytes = self.name().into_bytes().into_iter().chain(draw.to_le_bytes());
                let hash = bytes.fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
                    (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
                });
                1 + (hash % (fixes as u64 - 1)) as usize
            })
            .collect();
        points.sort_unstable();
        points.dedup();
        points
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
