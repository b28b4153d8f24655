//! Builds the default policies into components and embeds them in this
//! crate (see `src/lib.rs`), so that `escort` ships its policy set. This is
//! the only build script of the host that builds WebAssembly.

use std::env;
use std::fmt::Write;
use std::fs;
use std::path::{Path, PathBuf};

/// The default policy set: (id, package).
const POLICIES: [(&str, &str); 7] = [
    ("corridor", "escort-policy-corridor"),
    ("dwell", "escort-policy-dwell"),
    ("eligibility", "escort-policy-eligibility"),
    ("seal", "escort-policy-seal"),
    ("signal", "escort-policy-signal"),
    ("speed", "escort-policy-speed"),
    ("transit", "escort-policy-transit"),
];

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir
        .ancestors()
        .nth(2)
        .expect("the crate lives in host/builtin of the workspace");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for watched in ["policies", "wit", "Cargo.lock"] {
        println!("cargo::rerun-if-changed={}", workspace.join(watched).display());
    }

    let packages: Vec<&str> = POLICIES.iter().map(|(_, package)| *package).collect();
    let components = escort_policy_build::build_components(workspace, &packages, &out_dir.join("policies"))
        .unwrap_or_else(|e| panic!("building the default policies failed: {e}"));

    let mut source = String::from("/// The default policies: (id, component bytes), in id order.\n");
    source.push_str("pub const COMPONENTS: &[(&str, &[u8])] = &[\n");
    for ((id, _), component) in POLICIES.iter().zip(&components) {
        writeln!(source, "    ({id:?}, include_bytes!({:?})),", path_str(component)).expect("writing to a String");
    }
    source.push_str("];\n");
    fs::write(out_dir.join("builtin.rs"), source).expect("OUT_DIR is writable");
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("OUT_DIR is valid UTF-8")
}
