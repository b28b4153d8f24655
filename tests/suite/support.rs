//! What the test modules share: the built-in policy set, loaded once, and
//! scenario folders read as `escort check` reads them.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use escort_host::{ComponentCache, PolicySet, Report, Sandbox, Telemetry, Transit, check};

/// One sandbox for the whole suite, caching compiled policies under
/// `target/`, so that only the first test binary run compiles them.
pub fn sandbox() -> &'static Sandbox {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    SANDBOX.get_or_init(|| {
        let cache = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/escort-test-cache");
        Sandbox::with_cache(ComponentCache::in_dir(cache)).expect("the sandbox starts")
    })
}

/// The default policy set that ships with Escort.
pub fn builtin() -> &'static PolicySet {
    static BUILTIN: OnceLock<PolicySet> = OnceLock::new();
    BUILTIN.get_or_init(|| escort_host::builtin::policies(sandbox()).expect("the built-in policies load"))
}

/// The folder of golden scenarios.
pub fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

/// Every scenario folder, by name.
pub fn scenarios() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(scenarios_dir())
        .expect("tests/scenarios exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.join("transit.json").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// A scenario's inputs: its transit, its fixes and its clock.
pub struct Scenario {
    pub name: String,
    pub transit: Transit,
    pub telemetry: Telemetry,
    pub now: Option<DateTime<Utc>>,
}

impl Scenario {
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
