//! The golden scenarios of `tests/scenarios`: a folder each, holding a
//! transit declaration, its fixes (NDJSON, GPX or CSV) and, when the
//! evaluation clock matters, `now.txt`. [`Scenario::read`] reads one as
//! `escort check` does; [`transit_as`] and [`moved`] turn one into what a
//! service under test is sent.

use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeDelta, Utc};
use escort_engine::{Fix, PolicySet, Report, Telemetry, Transit, check};
use serde_json::{Value, json};

use crate::workspace::workspace;

/// The folder of scenario `name`.
pub fn scenario(name: &str) -> PathBuf {
    workspace().join("tests/scenarios").join(name)
}

/// Every scenario folder, in name order.
pub fn scenarios() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(workspace().join("tests/scenarios"))
        .expect("tests/scenarios exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.join("transit.json").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// The scenario `escort policy new` puts into a new policy project.
pub fn template_scenario() -> PathBuf {
    workspace().join("host/cli/templates/scenario")
}

/// A scenario's inputs: its transit, its fixes and its clock.
pub struct Scenario {
    /// The folder's name.
    pub name: String,
    /// The declaration, `transit.json`.
    pub transit: Transit,
    /// The fixes, from whichever of `fixes.ndjson`, `fixes.gpx` and
    /// `fixes.csv` the folder has.
    pub telemetry: Telemetry,
    /// The evaluation clock of `now.txt`, if the folder has one.
    pub now: Option<DateTime<Utc>>,
}

impl Scenario {
    /// Reads the scenario in `dir`; a scenario that cannot be read fails
    /// the test, naming it.
    pub fn read(dir: &Path) -> Scenario {
        let name = dir.file_name().expect("named folder").to_string_lossy().into_owned();
        let transit = Transit::from_path(&dir.join("transit.json")).unwrap_or_else(|e| panic!("{name}: {e}"));
        let fixes = ["fixes.ndjson", "fixes.gpx", "fixes.csv"]
            .iter()
            .map(|file| dir.join(file))
            .find(|path| path.is_file())
            .unwrap_or_else(|| panic!("{name}: no fixes file"));
        let telemetry = Telemetry::read_path(&fixes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let now = fs::read_to_string(dir.join("now.txt")).ok().map(|text| {
            DateTime::parse_from_rfc3339(text.trim())
                .unwrap_or_else(|e| panic!("{name}: now.txt: {e}"))
                .to_utc()
        });
        Scenario {
            name,
            transit,
            telemetry,
            now,
        }
    }

    /// The report `escort check` prints for this scenario.
    pub fn check(&self, policies: &PolicySet) -> Report {
        check(policies, &self.transit, &self.telemetry, self.now).unwrap_or_else(|e| panic!("{}: {e}", self.name))
    }
}

/// The transit declaration of scenario `name`, under another id.
pub fn transit_as(name: &str, id: &str) -> String {
    let text = fs::read_to_string(scenario(name).join("transit.json")).expect("transit readable");
    let mut value: Value = serde_json::from_str(&text).expect("transit is JSON");
    value["id"] = Value::String(id.to_owned());
    value.to_string()
}

/// A scenario's transit under another id and its first `count` fixes as
/// NDJSON, every time in both moved by the same amount, so that the last of
/// those fixes is at `last_fix_at`: a transit that is under way now.
pub fn moved(name: &str, id: &str, count: usize, last_fix_at: DateTime<Utc>) -> (String, String) {
    shifted(name, id, count, |_, last_fix| last_fix_at - last_fix)
}

/// [`moved`], so that the transit opens at `opened_at`: a transit opened
/// after some moment (a policy's publication), whose fixes may be ahead of
/// the clock.
pub fn opening_at(name: &str, id: &str, count: usize, opened_at: DateTime<Utc>) -> (String, String) {
    shifted(name, id, count, |opened, _| opened_at - opened)
}

/// A scenario's transit under another id and its first `count` fixes, every
/// time moved by what `shift` makes of its opening and its last such fix.
fn shifted(
    name: &str,
    id: &str,
    count: usize,
    shift: impl FnOnce(DateTime<Utc>, DateTime<Utc>) -> TimeDelta,
) -> (String, String) {
    let mut fixes: Vec<Value> = fs::read_to_string(scenario(name).join("fixes.ndjson"))
        .expect("fixes readable")
        .lines()
        .take(count)
        .map(|line| serde_json::from_str(line).expect("a fix is JSON"))
        .collect();
    let time = |value: &Value| -> DateTime<Utc> { value.as_str().expect("a time").parse().expect("an RFC 3339 time") };
    let mut transit: Value = serde_json::from_str(&transit_as(name, id)).expect("transit is JSON");
    let shift = shift(
        time(&transit["opened_at"]),
        time(&fixes.last().expect("a fix to take")["at"]),
    );
    for field in ["opened_at", "deadline"] {
        transit[field] = Value::String((time(&transit[field]) + shift).to_rfc3339());
    }
    let mut ndjson = String::new();
    for fix in &mut fixes {
        fix["at"] = Value::String((time(&fix["at"]) + shift).to_rfc3339());
        ndjson.push_str(&format!("{fix}\n"));
    }
    (transit.to_string(), ndjson)
}

/// A fix as one NDJSON line (without its newline), as a gateway sends it.
pub fn ndjson_line(fix: &Fix) -> String {
    let mut line = json!({"at": fix.at.to_rfc3339(), "lat": fix.lat, "lon": fix.lon});
    let optional = [
        ("speed_kmh", fix.speed_kmh),
        ("course", fix.course_deg),
        ("hdop", fix.hdop),
        ("battery", fix.battery_pct),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            line[name] = json!(value);
        }
    }
    if let Some(sats) = fix.sats {
        line["sats"] = json!(sats);
    }
    if let Some(seal) = fix.seal {
        line["seal"] = json!(seal.as_str());
    }
    line.to_string()
}
