//! Policy folders: every `*.wasm` component and bundle in a folder, loaded
//! as one [`PolicySet`] and configured by the folder's `policies.toml`.
//!
//! This is where bundles and the engine's policies meet: a bundle is
//! verified and its component loaded ([`load_policy`]), a bare component is
//! loaded from its bytes ([`Policy::load`]), and the set is put together
//! here. Names beginning with `.` are never policies: a service stages
//! uploads and retires old versions under such names.

use std::fs;
use std::path::{Path, PathBuf};

use escort_engine::{LoadError, Policy, PolicySet, Sandbox};

use crate::file;
use crate::params::{PARAMS_FILE, Params, ParamsError};
use crate::{Bundle, BundleError, Trust};

/// The name of the optional configuration file in a policy folder.
pub const CONFIG_FILE: &str = PARAMS_FILE;

/// Why a folder of policies could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FolderError {
    /// A file or folder could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A folder holds no `.wasm` component and no bundle.
    #[error("{0}: no policy components (*.wasm) or bundles (folders with policy.toml) in this folder")]
    Empty(PathBuf),
    /// A bundle is refused: unsigned or untrusted, changed after signing,
    /// for another contract, or at odds with its manifest.
    #[error(transparent)]
    Bundle(#[from] Box<BundleError>),
    /// `policies.toml` is not readable or not well formed, or not signed
    /// as the host asks.
    #[error(transparent)]
    Params(#[from] ParamsError),
    /// A component does not load, two have one id, or the configuration
    /// does not fit the policies.
    #[error(transparent)]
    Load(#[from] LoadError),
}

impl From<BundleError> for FolderError {
    fn from(error: BundleError) -> FolderError {
        FolderError::Bundle(Box::new(error))
    }
}

/// Every `*.wasm` component and bundle in `dir` (or `dir` itself when it is
/// a bundle), configured by `dir/policies.toml` when it exists. `trust`
/// decides which bundles load.
///
/// ```no_run
/// use escort_bundle::{Trust, folder};
/// use escort_engine::Sandbox;
///
/// let sandbox = Sandbox::new()?;
/// let policies = folder::load_dir(&sandbox, "policies/".as_ref(), &Trust::default())?;
/// for policy in policies.policies() {
///     println!("{} {}", policy.id(), policy.version());
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load_dir(sandbox: &Sandbox, dir: &Path, trust: &Trust) -> Result<PolicySet, FolderError> {
    if Bundle::is_bundle(dir) {
        return load_bundle(sandbox, &Bundle::open(dir)?, trust);
    }
    let mut set = PolicySet::new(read_components(sandbox, dir, Names::Paths, trust, None)?)?;
    if set.policies().is_empty() {
        return Err(FolderError::Empty(dir.to_owned()));
    }
    configure_from_file(&mut set, &dir.join(CONFIG_FILE), &dir.join(CONFIG_FILE), trust)?;
    Ok(set)
}

/// `set` with the policies of `dir` over it, `dir` loaded as [`load_dir`]
/// loads it: each replaces the policy of `set` with its id, or is added.
/// What `escort check --overlay` evaluates with: the built-in set with an
/// author's bundles over it.
pub fn load_over(mut set: PolicySet, sandbox: &Sandbox, dir: &Path, trust: &Trust) -> Result<PolicySet, FolderError> {
    for policy in load_dir(sandbox, dir, trust)?.into_policies() {
        set.put(policy);
    }
    Ok(set)
}

/// A bundle's policy alone, configured by the bundle's own `policies.toml`
/// when it has one: what its golden scenarios run with.
pub fn load_bundle(sandbox: &Sandbox, bundle: &Bundle, trust: &Trust) -> Result<PolicySet, FolderError> {
    let (policy, _signer) = load_policy(sandbox, bundle, trust)?;
    let mut set = PolicySet::new(vec![policy])?;
    // The bundle's signature covers its own `policies.toml`.
    configure_from_file(
        &mut set,
        &bundle.dir().join(CONFIG_FILE),
        &bundle.shown(CONFIG_FILE),
        &Trust::default(),
    )?;
    Ok(set)
}

/// `set` with the `*.wasm` components and bundles in `dir` added, each
/// replacing the policy with its id if there is one, and `published` over
/// them all (a policy on its way into the folder, which replaces whichever
/// form its id has there, so the folder's `ID/` and `ID.wasm` are not
/// loaded); then configured by `dir/policies.toml` when it exists. `dir` may
/// be empty: a service's live folder over the built-in set. What it loads is
/// named relative to `dir`, as `live NAME` (`live speed/`, `live
/// speed.wasm`), in origins and errors alike.
pub fn overlay_live(
    mut set: PolicySet,
    sandbox: &Sandbox,
    dir: &Path,
    trust: &Trust,
    published: Option<Policy>,
) -> Result<PolicySet, FolderError> {
    let skip = published.as_ref().map(|policy| policy.id().to_owned());
    let overrides = PolicySet::new(read_components(sandbox, dir, Names::Live, trust, skip.as_deref())?)?;
    for policy in overrides.into_policies().into_iter().chain(published) {
        set.put(policy);
    }
    configure_from_file(
        &mut set,
        &dir.join(CONFIG_FILE),
        Path::new(&live_name(CONFIG_FILE)),
        trust,
    )?;
    Ok(set)
}

/// The policy of `bundle`, verified as `trust` asks, loaded, and checked
/// against its manifest; with who signed it (their public key, hex), if
/// anyone did.
pub fn load_policy(sandbox: &Sandbox, bundle: &Bundle, trust: &Trust) -> Result<(Policy, Option<String>), BundleError> {
    let max_component_bytes = sandbox.load_limits().max_component_bytes as u64;
    let verified = bundle.verified_component(trust, max_component_bytes)?;
    let policy = Policy::load(sandbox, &verified.origin, &verified.component)?;
    bundle.check_description(&policy)?;
    Ok((policy, verified.signer))
}

/// Configures `set` from the `policies.toml` at `path`, when it exists,
/// signed as `trust` asks; errors name it `shown`.
fn configure_from_file(set: &mut PolicySet, path: &Path, shown: &Path, trust: &Trust) -> Result<(), FolderError> {
    if let Some(params) = Params::read(path, shown, trust)? {
        set.configure(&params.policies)?;
    }
    Ok(())
}

/// How the policies of a folder are named, in their origins and in errors.
#[derive(Debug, Clone, Copy)]
enum Names {
    /// By their paths, as a command line was given them.
    Paths,
    /// `live NAME`, relative to a service's live folder (`live speed/`,
    /// `live speed.wasm`): the service's answers never show where it keeps
    /// its files.
    Live,
}

impl Names {
    /// How `name`, an entry of `dir` (a bundle's ends with `/`), is named.
    fn of(self, dir: &Path, name: &str) -> String {
        match self {
            Names::Paths => dir.join(name.trim_end_matches('/')).display().to_string(),
            Names::Live => live_name(name),
        }
    }
}

/// How a service names an entry of its live folder: `live speed/` for the
/// bundle `speed/`, `live speed.wasm` for a bare component.
pub fn live_name(entry: &str) -> String {
    format!("live {entry}")
}

/// What an entry of a policy folder is to a load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FolderEntry {
    /// A folder with `policy.toml`.
    Bundle(String),
    /// A `*.wasm` file (or whatever else has that name: reading it refuses
    /// what is not a regular file).
    Component(String),
    /// A link to a bundle's folder: refused, since no link is followed.
    LinkedBundle(String),
}

impl FolderEntry {
    /// Its file name in the folder.
    pub fn name(&self) -> &str {
        match self {
            FolderEntry::Bundle(name) | FolderEntry::Component(name) | FolderEntry::LinkedBundle(name) => name,
        }
    }
}

/// The policies in folder `dir`, by name. Names beginning with `.` are
/// never policies: a service stages uploads and retires old versions under
/// such names (`service::swap`). Entries named for the policy `skip`
/// (`ID/`, `ID.wasm`) are left out.
pub fn folder_entries(dir: &Path, skip: Option<&str>) -> std::io::Result<Vec<FolderEntry>> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let skipped = skip.is_some_and(|id| name == id || name.strip_suffix(".wasm") == Some(id));
        if name.starts_with('.') || skipped {
            continue;
        }
        let kind = entry.file_type()?;
        let path = entry.path();
        if kind.is_dir() && Bundle::is_bundle(&path) {
            entries.push(FolderEntry::Bundle(name));
        } else if kind.is_symlink() && Bundle::is_bundle(&path) {
            entries.push(FolderEntry::LinkedBundle(name));
        } else if !kind.is_dir() && name.ends_with(".wasm") {
            entries.push(FolderEntry::Component(name));
        }
    }
    entries.sort_by(|a, b| a.name().cmp(b.name()));
    Ok(entries)
}

/// Loads every `*.wasm` file and every bundle (a folder with `policy.toml`)
/// in `dir`, in name order, but those named for `skip`. A bare component has
/// no signature, so `trust` that asks for one refuses it.
fn read_components(
    sandbox: &Sandbox,
    dir: &Path,
    names: Names,
    trust: &Trust,
    skip: Option<&str>,
) -> Result<Vec<Policy>, FolderError> {
    let entries = folder_entries(dir, skip).map_err(|source| FolderError::Io {
        path: PathBuf::from(match names {
            Names::Paths => dir.display().to_string(),
            Names::Live => "the live folder".to_owned(),
        }),
        source,
    })?;
    entries
        .iter()
        .map(|entry| match entry {
            FolderEntry::Bundle(name) => {
                let bundle = Bundle::open_as(&dir.join(name), &names.of(dir, &format!("{name}/")))?;
                Ok(load_policy(sandbox, &bundle, trust)?.0)
            }
            FolderEntry::LinkedBundle(name) => Err(FolderError::Io {
                path: PathBuf::from(names.of(dir, name)),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "a symbolic link to a bundle, which is not followed",
                ),
            }),
            FolderEntry::Component(name) => {
                let shown = names.of(dir, name);
                if trust.requires_signature() {
                    return Err(Box::new(BundleError::Unsigned {
                        dir: PathBuf::from(shown),
                    })
                    .into());
                }
                let max_bytes = sandbox.load_limits().max_component_bytes as u64;
                let bytes = file::read(&dir.join(name), max_bytes).map_err(|source| FolderError::Io {
                    path: PathBuf::from(&shown),
                    source,
                })?;
                Ok(Policy::load(sandbox, &shown, &bytes)?)
            }
        })
        .collect()
}
