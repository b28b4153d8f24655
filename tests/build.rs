//! Builds the hostile test policies into components that the test kit
//! embeds (`src/hostile.rs`), from the repository's own sources: the policy
//! of contract 0.1 (`hostile/`), one component of it per misdeed of
//! `describe()` (a cargo feature each, since `describe()` takes no
//! parameters), its next version, and the policy of contract 0.2
//! (`hostile-0-2/`). This is the only build of the hostile policies: every
//! test crate takes them from the kit.

use std::env;
use std::path::PathBuf;

/// The `describe()` misdeeds and the policy's next version: (cargo
/// feature, environment variable naming the component for the kit).
const VARIANTS: [(&str, &str); 3] = [
    ("describe-bloat", "ESCORT_HOSTILE_DESCRIBE_BLOAT"),
    ("describe-crowd", "ESCORT_HOSTILE_DESCRIBE_CROWD"),
    ("version-2", "ESCORT_HOSTILE_VERSION_2"),
];

fn main() {
    let tests = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let workspace = tests.parent().expect("the tests crate lives in the workspace");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("hostile");
    for watched in ["tests/hostile", "tests/hostile-0-2", "wit"] {
        println!("cargo::rerun-if-changed={}", workspace.join(watched).display());
    }
    let components = escort_policy_build::build_components(
        workspace,
        &["escort-hostile-policy", "escort-hostile-policy-0-2"],
        &out_dir,
    )
    .unwrap_or_else(|e| panic!("building the hostile policies failed: {e}"));
    println!("cargo::rustc-env=ESCORT_HOSTILE_POLICY={}", components[0].display());
    println!("cargo::rustc-env=ESCORT_HOSTILE_POLICY_0_2={}", components[1].display());
    for (feature, variable) in VARIANTS {
        let component = out_dir.join(format!("{feature}.wasm"));
        escort_policy_build::build_variant(workspace, "escort-hostile-policy", &[feature], &component)
            .unwrap_or_else(|e| panic!("building the hostile policy with {feature} failed: {e}"));
        println!("cargo::rustc-env={variable}={}", component.display());
    }
}
