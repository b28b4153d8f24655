//! The `escort` binary as the tests run it: on the tests' component cache,
//! so that a run compiles no policy an earlier run compiled.
//!
//! The binary is the one cargo built for this test run, named by
//! `CARGO_BIN_EXE_escort` at run time. Cargo sets that variable (and builds
//! the binary first) only for the integration tests of `escort-cli`, which
//! is therefore where every test that runs the binary lives. Looking for
//! the binary next to the test executable instead, as ripgrep does, would
//! also find a stale one from another crate's test run, or none when the
//! build folder is moved out of `target/`. A test crate outside
//! `escort-cli` (the browser tests) has cargo build the binary for its run
//! and names it with [`use_binary`].

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::workspace::cache_dir;

/// The binary named by [`use_binary`], if any.
static CHOSEN: OnceLock<PathBuf> = OnceLock::new();

/// Names the `escort` binary for a test crate that cargo gives no
/// `CARGO_BIN_EXE_escort` (any but `escort-cli`), once per process: one
/// that cargo has just built for this run, never one found lying around.
pub fn use_binary(path: PathBuf) {
    CHOSEN.get_or_init(|| path);
}

/// The `escort` binary cargo built for this test run.
fn binary() -> PathBuf {
    if let Some(chosen) = CHOSEN.get() {
        return chosen.clone();
    }
    env::var_os("CARGO_BIN_EXE_escort").map(PathBuf::from).expect(
        "CARGO_BIN_EXE_escort is not set: only escort-cli's integration tests (host/cli/tests), or a crate that called use_binary, can run the binary",
    )
}

/// A command for the `escort` binary with the tests' component cache,
/// for a test that needs more than [`escort`] (another working folder,
/// spawning, piping).
pub fn escort_command() -> Command {
    let mut command = Command::new(binary());
    command.env("ESCORT_CACHE_DIR", cache_dir());
    command
}

/// Runs `escort ARGS` to its end.
pub fn escort(args: &[&str]) -> Output {
    escort_command().args(args).output().expect("escort runs")
}

/// What `escort check` prints as JSON for a transit and fixes, with an
/// optional evaluation clock: the golden report a service must agree with.
pub fn check(transit: &Path, fixes: &Path, now: Option<&str>) -> String {
    let mut command = escort_command();
    command
        .args(["check", "--format", "json", "--transit"])
        .arg(transit)
        .arg("--fixes")
        .arg(fixes);
    if let Some(now) = now {
        command.args(["--now", now]);
    }
    let output = command.output().expect("escort check runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("UTF-8 report")
}

/// Runs `escort audit verify --data DATA`: its exit status and stdout.
pub fn audit_verify(data: &Path) -> (Option<i32>, String) {
    let output = escort_command()
        .args(["audit", "verify", "--data"])
        .arg(data)
        .output()
        .expect("escort audit verify runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}
