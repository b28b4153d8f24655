//! The hostile test policies (`tests/hostile` for contract 0.1,
//! `tests/hostile-0-2` for 0.2): components that misbehave as their
//! parameters tell them to. This crate's build script builds them from the
//! repository's sources, once per change of them, and they are embedded
//! here, so that no test builds them again at run time.

use std::fs;
use std::path::{Path, PathBuf};

use crate::binary::escort;
use crate::scenario::template_scenario;

/// The hostile policy's component.
pub const HOSTILE_POLICY: &[u8] = include_bytes!(env!("ESCORT_HOSTILE_POLICY"));

/// The hostile policy of contract 0.2 (`tests/hostile-0-2`), whose id is
/// `hostile_0_2`.
pub const HOSTILE_POLICY_0_2: &[u8] = include_bytes!(env!("ESCORT_HOSTILE_POLICY_0_2"));

/// The hostile policy built to answer `describe()` with a 10 MiB summary.
pub const HOSTILE_DESCRIBE_BLOAT: &[u8] = include_bytes!(env!("ESCORT_HOSTILE_DESCRIBE_BLOAT"));

/// The hostile policy built to declare 100,000 parameters.
pub const HOSTILE_DESCRIBE_CROWD: &[u8] = include_bytes!(env!("ESCORT_HOSTILE_DESCRIBE_CROWD"));

/// The hostile policy's next version: the same policy, 6.6.7.
pub const HOSTILE_POLICY_V2: &[u8] = include_bytes!(env!("ESCORT_HOSTILE_VERSION_2"));

/// A bundle of the hostile policy in `dir/hostile`, with one golden
/// scenario (the one `escort policy new` ships, cut to its first fix),
/// blessed by `escort test`. One fix, because the hostile policy reports
/// `hostile.alive` as final at every call: fed in batches, a scenario of
/// more fixes gives one more finding a batch, which `escort test` refuses
/// (`golden::Outcome::SplitDiffers`); one fix is never split.
pub fn hostile_bundle(dir: &Path) -> PathBuf {
    hostile_bundle_of(dir, HOSTILE_POLICY, "6.6.6", "")
}

/// [`hostile_bundle`] of `component`, the version `version` of the hostile
/// policy, with `schedule` in its manifest (lines of `policy.toml` such as
/// `effective_from = 2027-01-01T00:00:00Z`).
pub fn hostile_bundle_of(dir: &Path, component: &[u8], version: &str, schedule: &str) -> PathBuf {
    let bundle = dir.join("hostile");
    let example = bundle.join("scenarios/example");
    fs::create_dir_all(&example).unwrap();
    fs::write(bundle.join("policy.wasm"), component).unwrap();
    fs::write(
        bundle.join("policy.toml"),
        format!(
            "id = \"hostile\"\nversion = \"{version}\"\ndescription = \"Misbehaves on purpose.\"\n\
             contract = \"escort:policy@0.1.0\"\nlanguage = \"rust\"\nauthors = [\"the tests\"]\n{schedule}\n\
             [params]\nbehaviour = \"well\"\nturns = 100000000\npositions = 1000000\nvictim = \"\"\nwhen = \"fixes\"\n"
        ),
    )
    .unwrap();
    fs::copy(
        template_scenario().join("transit.template.json"),
        example.join("transit.json"),
    )
    .unwrap();
    let fixes = fs::read_to_string(template_scenario().join("fixes.ndjson")).unwrap();
    let first = fixes.lines().next().expect("the template has fixes");
    fs::write(example.join("fixes.ndjson"), format!("{first}\n")).unwrap();
    let blessed = escort(&["test", "--bless", bundle.to_str().unwrap()]);
    assert!(blessed.status.success(), "{}", String::from_utf8_lossy(&blessed.stdout));
    bundle
}

/// The hostile policy as a bare component in the live policy folder of a
/// server that is to run on `dir`, configured by `config`: the tables of
/// `policies.toml` for it (`[hostile]` with its limits, then
/// `[hostile.params]`).
pub fn live_hostile(dir: &Path, config: &str) {
    let live = dir.join("data/policies");
    fs::create_dir_all(&live).unwrap();
    fs::write(live.join("hostile.wasm"), HOSTILE_POLICY).unwrap();
    fs::write(live.join("policies.toml"), config).unwrap();
}
