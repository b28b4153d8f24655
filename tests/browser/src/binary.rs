//! The `escort` binary for this crate's runs. Cargo names it with
//! `CARGO_BIN_EXE_escort` only for `escort-cli`'s own tests, so this crate
//! has cargo build it (a no-op when it is up to date) in the profile this
//! crate was built in, and hands it to the test kit: a test never runs a
//! stale binary left by another build.

use std::env;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use escort_tests::{Server, use_binary, workspace};
use serde_json::Value;

/// Builds `escort` once per process (`cargo build -p escort-cli --bin
/// escort`, `--release` when this crate was built optimised) and names it
/// to the test kit; its path.
pub fn escort_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let mut command = Command::new(cargo);
            command.current_dir(workspace()).args([
                "build",
                "--quiet",
                "-p",
                "escort-cli",
                "--bin",
                "escort",
                "--message-format=json",
            ]);
            if !cfg!(debug_assertions) {
                command.arg("--release");
            }
            let output = command.output().expect("cargo runs");
            assert!(
                output.status.success(),
                "building escort failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
            let binary = String::from_utf8_lossy(&output.stdout)
                .lines()
                .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                .filter(|message| message["target"]["name"] == "escort")
                .find_map(|message| message["executable"].as_str().map(PathBuf::from))
                .expect("cargo names the escort executable it built");
            use_binary(binary.clone());
            binary
        })
        .clone()
}

/// A real `escort serve` (the kit's [`Server`]) on the binary of
/// [`escort_binary`].
pub fn serve(overrides: &[(&str, &str)]) -> Server {
    escort_binary();
    Server::start(overrides)
}
