//! Policy projects: what `escort policy new` makes, `escort policy build`
//! turns into a bundle and `escort policy export-builtin` starts from.
//!
//! A project is a bundle folder with sources in it: `policy.toml`, the
//! sources of its language, one golden scenario (`scenarios/example/`) and a
//! README. Building writes `policy.wasm` beside the manifest, so a built
//! project is a bundle as it stands.
//!
//! Each language's packager is installed on first build into the project's
//! own `.escort/` folder from its registry (componentize-py from PyPI,
//! componentize-js from npm), so nothing is installed system-wide and the
//! versions are the ones this host was tested with. Every build asks for no
//! WASI at all: a policy imports only the host's interfaces.
//!
//! A build writes the contract's WIT, the one the manifest's `contract`
//! names (a project made for 0.1 keeps building against 0.1), and the SDK of
//! the project's language into `.escort/sdk` (Rust's crate, Python's module
//! `escort_policy`). Both are embedded in this binary and written on every
//! build, so a project always builds with the SDK of the escort that builds
//! it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use escort_bundle::{self as bundle, Bundle, BundleError, Language, Manifest};
use escort_engine::PolicySet;
use escort_engine::contract::is_snake_case;

/// The componentize-py release builds are made with.
pub const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";
/// The componentize-js release builds are made with, and the shim it imports
/// without declaring it (a later shim breaks it).
pub const COMPONENTIZE_JS: [&str; 2] = [
    "@bytecodealliance/componentize-js@0.23.0",
    "@bytecodealliance/preview2-shim@0.25.0",
];

/// Each contract version a project may declare, with its WIT.
const WITS: [(&str, &str); 2] = [
    (
        "escort:policy@0.1.0",
        include_str!("../../../wit/since_v0.1.0/policy.wit"),
    ),
    (
        "escort:policy@0.2.0",
        include_str!("../../../wit/since_v0.2.0/policy.wit"),
    ),
];

/// The Python SDK (contract 0.2): what a Python policy imports as
/// `escort_policy`.
const PYTHON_SDK: &str = include_str!("../../../policies/sdk-python/escort_policy.py");

/// Where a project's copy of its language's SDK lives, inside the project.
const SDK_DIR: &str = ".escort/sdk";

/// The Rust SDK's sources as this binary carries them, by their path in the
/// SDK's folder: what makes a Rust project build without this repository.
const RUST_SDK_FILES: [(&str, &str); 8] = [
    ("src/lib.rs", include_str!("../../../policies/sdk/src/lib.rs")),
    ("src/episode.rs", include_str!("../../../policies/sdk/src/episode.rs")),
    ("src/fix.rs", include_str!("../../../policies/sdk/src/fix.rs")),
    ("src/geodesy.rs", include_str!("../../../policies/sdk/src/geodesy.rs")),
    ("src/params.rs", include_str!("../../../policies/sdk/src/params.rs")),
    ("src/state.rs", include_str!("../../../policies/sdk/src/state.rs")),
    ("src/stop.rs", include_str!("../../../policies/sdk/src/stop.rs")),
    ("src/transit.rs", include_str!("../../../policies/sdk/src/transit.rs")),
];

/// The contract the Rust SDK's bindings are generated from: the newest.
const RUST_SDK_WIT: &str = WITS[WITS.len() - 1].1;

/// Where the SDK's bindings find the contract in the repository, and where
/// they find it in a project's copy.
const RUST_SDK_WIT_PATH: [&str; 2] = ["path: \"../../wit/since_v0.2.0\"", "path: \"wit\""];

/// Why a project could not be made or built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProjectError {
    /// The name cannot be a policy id.
    #[error("`{0}` cannot name a policy: use lowercase letters, digits and `_` or `-`, starting with a letter")]
    BadName(String),
    /// The folder exists already.
    #[error("{} exists already", .0.display())]
    Exists(PathBuf),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The manifest is unusable.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// A build step failed.
    #[error("{0}")]
    Build(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ProjectError + '_ {
    move |source| ProjectError::Io {
        path: path.to_owned(),
        source,
    }
}

fn write(path: &Path, text: &str) -> Result<(), ProjectError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io(parent))?;
    }
    fs::write(path, text).map_err(io(path))
}

/// Makes a new project `parent/name` for `language` that builds and passes
/// `escort test` as it is. Returns its folder.
pub fn new(parent: &Path, name: &str, language: Language) -> Result<PathBuf, ProjectError> {
    let id = name.replace('-', "_");
    if !is_snake_case(&id) {
        return Err(ProjectError::BadName(name.to_owned()));
    }
    let dir = parent.join(name);
    if dir.exists() {
        return Err(ProjectError::Exists(dir));
    }
    let fill = |template: &str| template.replace("{{id}}", &id).replace("{{crate}}", name);
    let manifest = Manifest {
        id: id.clone(),
        version: "0.1.0".to_owned(),
        description: "Warns when a fix reports the seal's battery below a threshold.".to_owned(),
        contract: bundle::contract(),
        language,
        authors: Vec::new(),
        params: [("min_battery_pct".to_owned(), escort_engine::ParamValue::Float(20.0))].into(),
        effective_from: None,
        effective_until: None,
        applies_to: bundle::AppliesTo::default(),
        mode: bundle::Mode::default(),
    };
    write(
        &dir.join(bundle::MANIFEST),
        &toml::to_string(&manifest).expect("a manifest always serializes"),
    )?;
    match language {
        Language::Rust => {
            write(
                &dir.join("Cargo.toml"),
                &fill(include_str!("../templates/rust/Cargo.toml")).replace("{{sdk}}", SDK_DIR),
            )?;
            write(&dir.join("src/lib.rs"), &fill(include_str!("../templates/rust/lib.rs")))?;
            write_rust_sdk(&dir)?;
        }
        Language::Python => write(&dir.join("app.py"), &fill(include_str!("../templates/python/app.py")))?,
        Language::Js => write(&dir.join("policy.js"), &fill(include_str!("../templates/js/policy.js")))?,
    }
    let example = dir.join(bundle::SCENARIOS).join("example");
    write(
        &example.join("transit.json"),
        include_str!("../templates/scenario/transit.template.json"),
    )?;
    write(
        &example.join("fixes.ndjson"),
        include_str!("../templates/scenario/fixes.ndjson"),
    )?;
    write(
        &example.join("expected.json"),
        &episode_keys(&fill(include_str!("../templates/scenario/expected.json"))),
    )?;
    write(
        &example.join("README.md"),
        include_str!("../templates/scenario/README.md"),
    )?;
    write(
        &dir.join("README.md"),
        &fill(include_str!("../templates/README.md")).replace("{{language}}", language.as_str()),
    )?;
    write(
        &dir.join(".gitignore"),
        "/.escort/\n/target/\n/policy.wasm\n__pycache__/\n",
    )?;
    Ok(dir)
}

/// A finished build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// The component written.
    pub component: PathBuf,
    /// Whether a signature of the previous build was removed: a new
    /// component needs a new signature.
    pub unsigned: bool,
}

/// Builds the project at `dir` into `dir/policy.wasm`, installing the
/// language's packager into `dir/.escort` first when it is missing.
pub fn build(dir: &Path) -> Result<Built, ProjectError> {
    // The packagers run in the project folder: every path they get must not
    // depend on where escort was started.
    let dir = &dir.canonicalize().map_err(io(dir))?;
    let project = Bundle::open(dir)?;
    let component = project.component_path();
    let signature = dir.join(bundle::SIGNATURE);
    let unsigned = signature.is_file();
    if unsigned {
        fs::remove_file(&signature).map_err(io(&signature))?;
    }
    match project.manifest().language {
        Language::Rust => {
            write_rust_sdk(dir)?;
            escort_policy_build::build_project(dir, &crate_name(dir)?, &component)
                .map_err(|e| ProjectError::Build(e.to_string()))?
        }
        Language::Python => build_python(dir, &component)?,
        Language::Js => build_js(dir, &component)?,
    }
    Ok(Built { component, unsigned })
}

/// Writes each policy of `builtin`, the default set, as a bundle to start
/// from: `dir/ID/` with its component and a manifest that says what the
/// component does (its id, version, summary and default parameters), and
/// nothing else: the default policies' golden scenarios are the
/// repository's, not the binary's. Refuses, before writing anything, when a
/// policy's folder exists. Returns the folders written.
pub fn export_builtin(dir: &Path, builtin: &PolicySet) -> Result<Vec<PathBuf>, ProjectError> {
    let folders: Vec<PathBuf> = builtin.policies().iter().map(|policy| dir.join(policy.id())).collect();
    if let Some(existing) = folders.iter().find(|folder| folder.symlink_metadata().is_ok()) {
        return Err(ProjectError::Exists(existing.clone()));
    }
    for (policy, folder) in builtin.policies().iter().zip(&folders) {
        let component = escort_builtin::component(policy.id()).expect("a built-in policy has a built-in component");
        let manifest = Manifest {
            id: policy.id().to_owned(),
            version: policy.version().to_owned(),
            description: policy.summary().to_owned(),
            contract: bundle::contract(),
            language: Language::Rust,
            authors: Vec::new(),
            params: policy
                .param_values()
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect(),
            effective_from: None,
            effective_until: None,
            applies_to: bundle::AppliesTo::default(),
            mode: bundle::Mode::default(),
        };
        write(
            &folder.join(bundle::MANIFEST),
            &toml::to_string(&manifest).expect("a manifest always serializes"),
        )?;
        let path = folder.join(bundle::COMPONENT);
        fs::write(&path, component).map_err(io(&path))?;
    }
    Ok(folders)
}

/// The newest source of the project at `dir` when it is newer than the
/// project's `policy.wasm`: the component is not what the sources say, and
/// a test of it tests something else. `None` when the component is newer,
/// when there is none (loading it says so) or when the folder holds no
/// sources (a bundle as it was shipped). Sources are `Cargo.toml` and the
/// `*.rs`, `*.py` and `*.js` files of the folder, outside `.escort/` (the
/// packagers'), `target/` (cargo's), `scenarios/` and hidden folders.
pub fn newer_source(dir: &Path) -> Option<PathBuf> {
    let built = fs::metadata(dir.join(bundle::COMPONENT))
        .and_then(|meta| meta.modified())
        .ok()?;
    let mut newest: Option<(std::time::SystemTime, PathBuf)> = None;
    let mut folders = vec![dir.to_owned()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = fs::read_dir(&folder) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() {
                let outside = folder == dir && [bundle::SCENARIOS, "target"].contains(&name.as_str());
                if !name.starts_with('.') && !outside {
                    folders.push(entry.path());
                }
                continue;
            }
            let source = name == "Cargo.toml"
                || Path::new(&name)
                    .extension()
                    .is_some_and(|extension| ["rs", "py", "js"].iter().any(|source| extension == *source));
            let Ok(modified) = entry.metadata().and_then(|meta| meta.modified()) else {
                continue;
            };
            if kind.is_file() && source && newest.as_ref().is_none_or(|(time, _)| modified > *time) {
                newest = Some((modified, entry.path()));
            }
        }
    }
    newest.filter(|(time, _)| *time > built).map(|(_, path)| path)
}

/// The `[package] name` of a Rust project's `Cargo.toml`.
fn crate_name(dir: &Path) -> Result<String, ProjectError> {
    let path = dir.join("Cargo.toml");
    let text = fs::read_to_string(&path).map_err(io(&path))?;
    let cargo: toml::Table =
        toml::from_str(&text).map_err(|e| ProjectError::Build(format!("{}: {e}", path.display())))?;
    cargo
        .get("package")
        .and_then(|package| package.get("name"))
        .and_then(|name| name.as_str())
        .map(str::to_owned)
        .ok_or_else(|| ProjectError::Build(format!("{}: no [package] name", path.display())))
}

/// Writes the Rust SDK this binary carries into the project at `dir`, with
/// the contract its bindings are generated from.
fn write_rust_sdk(dir: &Path) -> Result<(), ProjectError> {
    let sdk = dir.join(SDK_DIR);
    write(
        &sdk.join("Cargo.toml"),
        &include_str!("../templates/rust/sdk.Cargo.toml").replace("{{version}}", env!("CARGO_PKG_VERSION")),
    )?;
    for (path, text) in RUST_SDK_FILES {
        let [in_repository, in_project] = RUST_SDK_WIT_PATH;
        write(&sdk.join(path), &text.replace(in_repository, in_project))?;
    }
    write(&sdk.join("wit/policy.wit"), RUST_SDK_WIT)
}

/// Writes the WIT of the contract the project's manifest declares where the
/// packagers read it.
fn write_wit(dir: &Path) -> Result<PathBuf, ProjectError> {
    let project = Bundle::open(dir)?;
    let contract = &project.manifest().contract;
    let Some((_, text)) = WITS.iter().find(|(version, _)| version == contract) else {
        let known: Vec<&str> = WITS.iter().map(|(version, _)| *version).collect();
        return Err(ProjectError::Build(format!(
            "policy.toml declares the contract `{contract}`; this escort builds {}",
            known.join(" and ")
        )));
    };
    let wit = dir.join(".escort/wit");
    write(&wit.join("policy.wit"), text)?;
    Ok(wit)
}

fn build_python(dir: &Path, component: &Path) -> Result<(), ProjectError> {
    let packages = dir.join(".escort/python");
    if !packages.join("componentize_py").is_dir() {
        run(Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--target",
            ])
            .arg(&packages)
            .arg(COMPONENTIZE_PY))?;
    }
    // componentize-py puts the machine's own site-packages on the
    // component's module path unless a virtual environment says otherwise:
    // an empty one keeps the component to the project's own modules.
    let no_site = dir.join(".escort/no-site");
    let site_packages = no_site.join("lib/site-packages");
    fs::create_dir_all(&site_packages).map_err(io(&site_packages))?;
    let wit = write_wit(dir)?;
    // The SDK gets a folder of its own on the module path, not `.escort`,
    // which holds the packager and its WIT.
    let sdk = dir.join(SDK_DIR);
    write(&sdk.join("escort_policy.py"), PYTHON_SDK)?;
    run(Command::new("python3")
        .current_dir(dir)
        .env("VIRTUAL_ENV", &no_site)
        .env("PYTHONPATH", &packages)
        .arg(packages.join("bin/componentize-py"))
        .arg("-q")
        .arg("-d")
        .arg(&wit)
        .args(["-w", "escort-policy", "componentize", "app", "-p", ".", "-p"])
        .arg(&sdk)
        .args(["--stub-wasi", "-o"])
        .arg(component))
}

/// The JavaScript SDK, which a JavaScript policy imports from the project's
/// `.escort/` folder.
const JS_SDK: &str = include_str!("../../../policies/sdk-js/escort-policy.js");
/// Its file name there.
const JS_SDK_FILE: &str = "escort-policy.js";

fn build_js(dir: &Path, component: &Path) -> Result<(), ProjectError> {
    let node = dir.join(".escort/node");
    if !node.join("node_modules/@bytecodealliance/componentize-js").is_dir() {
        run(Command::new("npm")
            .args([
                "install",
                "--silent",
                "--no-audit",
                "--no-fund",
                "--save-exact",
                "--prefix",
            ])
            .arg(&node)
            .args(COMPONENTIZE_JS))?;
    }
    let wit = write_wit(dir)?;
    // The policy imports the SDK as `./.escort/escort-policy.js`: componentize-js
    // maps the folder it runs in (the project) as the component's root and
    // resolves imports as paths within it. Written on every build, so an
    // upgraded escort brings its SDK.
    write(&dir.join(".escort").join(JS_SDK_FILE), JS_SDK)?;
    let script = node.join("build.mjs");
    write(&script, include_str!("../templates/js/build.mjs"))?;
    run(Command::new("node")
        .current_dir(dir)
        .arg(&script)
        .arg(dir.join("policy.js"))
        .arg(&wit)
        .arg(component))
}

/// Runs a packager, keeping its output for the error: unlike a cargo build,
/// pip, npm and the componentizers say nothing useful on success.
fn run(command: &mut Command) -> Result<(), ProjectError> {
    let line = escort_policy_build::command_line(command);
    let output = command
        .output()
        .map_err(|e| ProjectError::Build(format!("`{line}` did not start: {e}")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(ProjectError::Build(format!(
            "`{line}` failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )))
    }
}

/// The example's golden file with each `{{key TRANSIT POLICY CODE FROM}}`
/// replaced by that finding's episode key: a key is a hash of the policy's
/// id, which the template cannot know before `policy new` names it.
fn episode_keys(template: &str) -> String {
    let mut text = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{key ") {
        let end = start + rest[start..].find("}}").expect("a key placeholder is closed");
        let fields: Vec<&str> = rest[start + "{{key ".len()..end].split(' ').collect();
        let [transit, policy, code, from] = fields[..] else {
            panic!("a key placeholder names a transit, a policy, a code and a time");
        };
        let from = from.parse().expect("a key placeholder's time is RFC 3339");
        text.push_str(&rest[..start]);
        text.push_str(&escort_engine::Finding::episode_key(transit, policy, code, &from));
        rest = &rest[end + "}}".len()..];
    }
    text.push_str(rest);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SDK a project gets must find its contract: its bindings name
    /// the repository's WIT folder, which the copy replaces.
    #[test]
    fn the_rust_sdk_copy_names_its_own_contract() {
        let (_, lib) = RUST_SDK_FILES[0];
        assert!(lib.contains(RUST_SDK_WIT_PATH[0]), "the SDK's bindings moved");
        assert!(RUST_SDK_WIT.contains("package escort:policy@0.2.0;"));
    }

    /// A project's SDK depends on what the workspace's SDK depends on, at
    /// the same versions: the project builds what the repository tested.
    #[test]
    fn the_rust_sdk_copy_has_the_workspace_dependencies() {
        let workspace: toml::Table = toml::from_str(include_str!("../../../Cargo.toml")).unwrap();
        let copy: toml::Table = toml::from_str(include_str!("../templates/rust/sdk.Cargo.toml")).unwrap();
        let sdk: toml::Table = toml::from_str(include_str!("../../../policies/sdk/Cargo.toml")).unwrap();
        let pinned = &workspace["workspace"]["dependencies"];
        let copied = copy["dependencies"].as_table().unwrap();
        let names: Vec<&String> = sdk["dependencies"].as_table().unwrap().keys().collect();
        assert_eq!(copied.keys().collect::<Vec<_>>(), names);
        for name in names {
            assert_eq!(copied[name.as_str()], pinned[name.as_str()], "{name}");
        }
        let files: Vec<&str> = RUST_SDK_FILES.iter().map(|(path, _)| *path).collect();
        let mut sources: Vec<String> =
            fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/sdk/src"))
                .unwrap()
                .map(|entry| format!("src/{}", entry.unwrap().file_name().to_string_lossy()))
                .collect();
        sources.sort();
        let mut carried: Vec<String> = files.iter().map(|path| (*path).to_owned()).collect();
        carried.sort();
        assert_eq!(carried, sources, "every SDK source travels in the binary");
    }
}
