//! Builds the hostile test policy (`hostile/`) into a component for the
//! sandbox tests, from the repository's own sources.

use std::env;
use std::path::PathBuf;

fn main() {
    let tests = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let workspace = tests.parent().expect("the tests crate lives in the workspace");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for watched in ["tests/hostile", "policies/sdk", "wit"] {
        println!("cargo::rerun-if-changed={}", workspace.join(watched).display());
    }
    let components =
        escort_policy_build::build_components(workspace, &["escort-hostile-policy"], &out_dir.join("hostile"))
            .unwrap_or_else(|e| panic!("building the hostile policy failed: {e}"));
    println!("cargo::rustc-env=ESCORT_HOSTILE_POLICY={}", components[0].display());
}
