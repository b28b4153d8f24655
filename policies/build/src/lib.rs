//! Compiles Rust policy crates into WebAssembly components, for build scripts.
//!
//! The host embeds the default policies and the test suite embeds its hostile
//! policy, so both build scripts need the same steps: make sure the
//! `wasm32-unknown-unknown` target is installed, run a nested `cargo build`
//! for it, and wrap each core module into a component with `wit-component`.
//!
//! Why `wasm32-unknown-unknown` and not `wasm32-wasip2`: a `wasip2` build
//! imports `wasi:cli` and `wasi:io` even when a policy never uses them, and a
//! policy must get no WASI capabilities at all. A core module built for
//! `unknown` imports nothing but the contract, so the component the encoder
//! makes from it imports only `escort:policy/geo`.
//!
//! The nested build uses its own target folder (`target/wasm`): cargo locks a
//! target folder for the whole outer build, and a second folder also keeps the
//! release artefacts of the policies cached between builds.

#![deny(missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs, io};

/// The target policies are compiled for.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Why a component could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A tool could not be started or did not succeed.
    #[error("`{command}` failed: {reason}")]
    Tool {
        /// The command line that failed.
        command: String,
        /// Its exit status or why it did not start.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// A core module could not be made into a component.
    #[error("{path} is not a policy module: {reason}")]
    Encode {
        /// The core module.
        path: PathBuf,
        /// The encoder's explanation.
        reason: String,
    },
}

/// Builds `packages` of the workspace at `workspace` for [`WASM_TARGET`] in
/// release mode and writes one component per package to
/// `out_dir/<package>.wasm`. Returns the components' paths, in order.
pub fn build_components(workspace: &Path, packages: &[&str], out_dir: &Path) -> Result<Vec<PathBuf>, BuildError> {
    ensure_target_installed()?;
    let target_dir = workspace.join("target").join("wasm");
    for package in packages {
        let mut build = cdylib_build(workspace, &target_dir);
        build.args(["--package", package]);
        run(&mut build)?;
    }

    fs::create_dir_all(out_dir).map_err(|source| BuildError::Io {
        path: out_dir.to_owned(),
        source,
    })?;
    packages
        .iter()
        .map(|package| {
            let component = out_dir.join(format!("{package}.wasm"));
            encode_component(&module_path(&target_dir, package), &component)?;
            Ok(component)
        })
        .collect()
}

/// Builds `package` of the workspace at `workspace` with the cargo `features`
/// for [`WASM_TARGET`] in release mode and writes its component to
/// `component`: for a crate that is built more than one way, such as the test
/// suite's hostile policy.
pub fn build_variant(workspace: &Path, package: &str, features: &[&str], component: &Path) -> Result<(), BuildError> {
    ensure_target_installed()?;
    let target_dir = workspace.join("target").join("wasm");
    let mut build = cdylib_build(workspace, &target_dir);
    build.args(["--package", package, "--features", &features.join(",")]);
    run(&mut build)?;
    encode_component(&module_path(&target_dir, package), component)
}

/// Builds the stand-alone policy crate `package` at `project` (a crate that
/// is its own workspace, as `escort policy new --lang rust` makes) for
/// [`WASM_TARGET`] in release mode, into `project/target`, and writes its
/// component to `component`.
pub fn build_project(project: &Path, package: &str, component: &Path) -> Result<(), BuildError> {
    ensure_target_installed()?;
    let target_dir = project.join("target");
    run(&mut cdylib_build(project, &target_dir))?;
    encode_component(&module_path(&target_dir, package), component)
}

/// `cargo rustc` in `dir` for a release cdylib of [`WASM_TARGET`] into
/// `target_dir`. Policy crates are plain libraries so that they also build
/// natively (unit tests, benchmarks); `cargo rustc` makes the wasm build a
/// cdylib.
fn cdylib_build(dir: &Path, target_dir: &Path) -> Command {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut build = Command::new(cargo);
    build
        .current_dir(dir)
        .args([
            "rustc",
            "--release",
            "--lib",
            "--crate-type",
            "cdylib",
            "--target",
            WASM_TARGET,
            "--target-dir",
        ])
        .arg(target_dir);
    clear_outer_build_environment(&mut build);
    build
}

/// Where cargo puts the core module of `package`.
fn module_path(target_dir: &Path, package: &str) -> PathBuf {
    target_dir
        .join(WASM_TARGET)
        .join("release")
        .join(format!("{}.wasm", package.replace('-', "_")))
}

/// Wraps a core module built with `wit-bindgen` into a component.
fn encode_component(module: &Path, component: &Path) -> Result<(), BuildError> {
    let bytes = fs::read(module).map_err(|source| BuildError::Io {
        path: module.to_owned(),
        source,
    })?;
    let encoded = wit_component::ComponentEncoder::default()
        .module(&bytes)
        .and_then(|encoder| encoder.validate(true).encode())
        .map_err(|e| BuildError::Encode {
            path: module.to_owned(),
            reason: format!("{e:#}"),
        })?;
    fs::write(component, encoded).map_err(|source| BuildError::Io {
        path: component.to_owned(),
        source,
    })
}

/// Installs the wasm target with rustup when the toolchain lacks it, so that
/// a fresh machine with only stable Rust builds without a manual step.
fn ensure_target_installed() -> Result<(), BuildError> {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let libdir = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", WASM_TARGET])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    let installed = libdir.is_some_and(|dir| fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()));
    if installed {
        return Ok(());
    }
    run(Command::new("rustup").args(["target", "add", WASM_TARGET]))
}

/// Cargo hands a build script the settings of the outer build (its target,
/// flags, a clippy wrapper); none of them apply to the nested wasm build.
fn clear_outer_build_environment(command: &mut Command) {
    for (key, _) in env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let outer = key.starts_with("CARGO_CFG_")
            || key.starts_with("CARGO_FEATURE_")
            || key.starts_with("CARGO_PKG_")
            || matches!(
                key,
                "CARGO_ENCODED_RUSTFLAGS"
                    | "CARGO_BUILD_RUSTFLAGS"
                    | "CARGO_BUILD_TARGET"
                    | "CARGO_TARGET_DIR"
                    | "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "RUSTFLAGS"
                    | "RUSTC_WORKSPACE_WRAPPER"
                    | "TARGET"
                    | "HOST"
                    | "OUT_DIR"
                    | "PROFILE"
                    | "OPT_LEVEL"
                    | "DEBUG"
            );
        if outer {
            command.env_remove(key);
        }
    }
}

/// A command as one line, for messages about it.
pub fn command_line(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

fn run(command: &mut Command) -> Result<(), BuildError> {
    let line = command_line(command);
    match command.status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(BuildError::Tool {
            command: line,
            reason: status.to_string(),
        }),
        Err(e) => Err(BuildError::Tool {
            command: line,
            reason: e.to_string(),
        }),
    }
}
