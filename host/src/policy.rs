//! Policies and policy sets: loading components, asking them who they are,
//! and validating the parameters they are given.
//!
//! A [`Policy`] is a compiled, linked component plus everything the host
//! needs to call it: its `describe()` answer, its parameter values (already
//! checked against that answer) and its resource [`Limits`]. A [`PolicySet`]
//! is the policies one evaluation runs, in id order.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use wasmtime::Store;
use wasmtime::component::Resource;

use crate::builtin;
use crate::bundle::file::{self, MAX_SETTINGS_BYTES};
use crate::bundle::{Bundle, BundleError, Trust};
use crate::cache::content_hash;
use crate::contract::{
    MAX_PARAMS, MAX_SENTENCE_BYTES, MAX_TEXT_PARAM_BYTES, MAX_VERSION_BYTES, check_length, check_name,
};
use crate::excerpt::Excerpt;
use crate::geodesy::RouteIndex;
use crate::sandbox::{
    CallState, CompileFailure, EscortPolicy, Instances, Limits, PolicyFailure, RouteRef, Sandbox, wit,
};

/// Ids the host keeps for findings of its own: `policy.error` and the
/// telemetry checks.
const RESERVED_IDS: [&str; 2] = ["policy", "telemetry"];

/// The name of the optional configuration file in a policy folder.
pub const CONFIG_FILE: &str = "policies.toml";

/// The type of a parameter's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamKind {
    /// A number with a fraction, such as a distance in metres.
    Float,
    /// A whole number.
    Integer,
    /// `true` or `false`.
    Boolean,
    /// A text, such as a list of HS prefixes.
    Text,
}

impl fmt::Display for ParamKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParamKind::Float => "float",
            ParamKind::Integer => "integer",
            ParamKind::Boolean => "boolean",
            ParamKind::Text => "text",
        })
    }
}

/// A parameter value, as written in `policies.toml` or shown in a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    /// `true` or `false`.
    Boolean(bool),
    /// A whole number.
    Integer(i64),
    /// A number with a fraction.
    Float(f64),
    /// A text.
    Text(String),
}

impl ParamValue {
    /// The value as `kind`, if it is one (a whole number is also a float).
    fn as_kind(&self, kind: ParamKind) -> Option<ParamValue> {
        match (kind, self) {
            (ParamKind::Float, ParamValue::Float(v)) => Some(ParamValue::Float(*v)),
            (ParamKind::Float, ParamValue::Integer(v)) => Some(ParamValue::Float(*v as f64)),
            (ParamKind::Integer, ParamValue::Integer(_))
            | (ParamKind::Boolean, ParamValue::Boolean(_))
            | (ParamKind::Text, ParamValue::Text(_)) => Some(self.clone()),
            _ => None,
        }
    }

    fn to_wit(&self) -> wit::ParamValue {
        match self {
            ParamValue::Boolean(v) => wit::ParamValue::Boolean(*v),
            ParamValue::Integer(v) => wit::ParamValue::Integer(*v),
            ParamValue::Float(v) => wit::ParamValue::Float(*v),
            ParamValue::Text(v) => wit::ParamValue::Text(v.clone()),
        }
    }

    fn from_wit(value: &wit::ParamValue) -> ParamValue {
        match value {
            wit::ParamValue::Boolean(v) => ParamValue::Boolean(*v),
            wit::ParamValue::Integer(v) => ParamValue::Integer(*v),
            wit::ParamValue::Float(v) => ParamValue::Float(*v),
            wit::ParamValue::Text(v) => ParamValue::Text(v.clone()),
        }
    }
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Boolean(v) => write!(f, "{v}"),
            ParamValue::Integer(v) => write!(f, "{v}"),
            ParamValue::Float(v) => write!(f, "{v}"),
            ParamValue::Text(v) => write!(f, "{v:?}"),
        }
    }
}

/// A parameter a policy declares in `describe()`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamSpec {
    /// snake_case name with its unit, such as `corridor_m`.
    pub name: String,
    /// The type of its values.
    pub kind: ParamKind,
    /// The value used when none is configured.
    pub default: ParamValue,
    /// One sentence for the regulator who sets it.
    pub doc: String,
}

/// How one policy of a folder is configured (a table of `policies.toml`).
///
/// ```toml
/// [corridor]
/// fuel = 4_000_000_000
/// memory_mib = 32
/// geodesy_positions = 4_000_000
/// deadline_ms = 20_000
/// [corridor.params]
/// corridor_m = 3000
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Parameter values by name; the rest keep their defaults.
    #[serde(default)]
    pub params: BTreeMap<String, ParamValue>,
    /// Fuel for one call, instead of [`Limits::default`]'s.
    pub fuel: Option<u64>,
    /// Memory cap in MiB, instead of [`Limits::default`]'s.
    pub memory_mib: Option<usize>,
    /// Positions one call may ask the host's geodesy about, instead of
    /// [`Limits::default`]'s.
    pub geodesy_positions: Option<u64>,
    /// One call's deadline by the clock in milliseconds, instead of
    /// [`Limits::default`]'s.
    pub deadline_ms: Option<u64>,
}

/// Why a policy or a policy set could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
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
    /// The bytes are not a valid component, or too large to compile, or
    /// took too long compiling (see [`LoadLimits`](crate::LoadLimits)).
    #[error("{origin}: {reason}")]
    Compile {
        /// Where the component came from.
        origin: String,
        /// Why it was not compiled.
        reason: String,
    },
    /// The component does not fit the contract (imports more than `geo`, or
    /// does not export `policy`).
    #[error("{origin}: does not implement escort:policy@{version}: {reason}", version = crate::CONTRACT_VERSION)]
    Contract {
        /// Where the component came from.
        origin: String,
        /// What does not fit.
        reason: String,
    },
    /// `describe()` failed or answered something the contract forbids.
    #[error("{origin}: describe() {reason}")]
    Describe {
        /// Where the component came from.
        origin: String,
        /// What went wrong.
        reason: String,
    },
    /// Two components claim the same id.
    #[error("two policies have the id `{id}`: {first} and {second}")]
    DuplicateId {
        /// The id.
        id: String,
        /// The first component.
        first: String,
        /// The second component.
        second: String,
    },
    /// `policies.toml` is not readable or not well formed.
    #[error("{path}: {reason}")]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The configuration names a policy that is not in the set.
    #[error("configuration for `{id}`, but no policy has that id (policies: {known})")]
    UnknownPolicy {
        /// The id in the configuration.
        id: String,
        /// The ids that exist.
        known: String,
    },
    /// A parameter is unknown or has a value of the wrong type.
    #[error("policy `{policy}`: {reason}")]
    Param {
        /// The policy's id.
        policy: String,
        /// What is wrong with which parameter.
        reason: String,
    },
}

/// A loaded policy, ready to evaluate transits.
pub struct Policy {
    id: String,
    version: String,
    summary: String,
    params: Vec<ParamSpec>,
    values: Vec<wit::Param>,
    limits: Limits,
    content_hash: String,
    /// Kept up to date by `configure`: every resumed batch compares it.
    fingerprint: String,
    origin: String,
    sandbox: Sandbox,
    instances: Instances,
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("id", &self.id)
            .field("version", &self.version)
            .field("content_hash", &self.content_hash)
            .finish_non_exhaustive()
    }
}

impl Policy {
    /// Compiles (or takes from the cache), links and describes a component.
    /// `origin` names it in errors, e.g. its file name. Only a component that
    /// loads is cached.
    pub fn load(sandbox: &Sandbox, origin: &str, bytes: &[u8]) -> Result<Policy, LoadError> {
        let compile_failed = |failure: CompileFailure| LoadError::Compile {
            origin: origin.to_owned(),
            reason: failure.to_string(),
        };
        let compiled = sandbox.compile(bytes).map_err(compile_failed)?;
        let content_hash = compiled.hash.clone();
        let instances = sandbox.prepare(&compiled.component).map_err(|e| LoadError::Contract {
            origin: origin.to_owned(),
            reason: format!("{e:#}"),
        })?;
        let describe_failed = |reason: String| LoadError::Describe {
            origin: origin.to_owned(),
            reason,
        };
        let (descriptor, _fuel) = sandbox
            .call(&instances, &Limits::default(), None, |store, policy, _| {
                policy.escort_policy_policy().call_describe(store)
            })
            .map_err(|failure| describe_failed(failure.to_string()))?;
        let params = check_descriptor(&descriptor).map_err(describe_failed)?;
        sandbox.keep(&compiled);
        let values: Vec<wit::Param> = params
            .iter()
            .map(|p| wit::Param {
                name: p.name.clone(),
                value: p.default.to_wit(),
            })
            .collect();
        let fingerprint = fingerprint(&content_hash, &values);
        Ok(Policy {
            id: descriptor.id,
            version: descriptor.version,
            summary: descriptor.summary,
            params,
            values,
            limits: Limits::default(),
            content_hash,
            fingerprint,
            origin: origin.to_owned(),
            sandbox: sandbox.clone(),
            instances,
        })
    }

    /// Sets parameters and limits. Every named parameter must exist and have
    /// a value of its kind; the others keep their current values.
    pub fn configure(&mut self, config: &PolicyConfig) -> Result<(), LoadError> {
        let param_error = |reason: String| LoadError::Param {
            policy: self.id.clone(),
            reason,
        };
        let mut values = self.values.clone();
        for (name, value) in &config.params {
            let Some(index) = self.params.iter().position(|p| &p.name == name) else {
                let known: Vec<_> = self.params.iter().map(|p| p.name.as_str()).collect();
                return Err(param_error(format!(
                    "no parameter `{name}`; it takes {}",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                )));
            };
            let spec = &self.params[index];
            let checked = value
                .as_kind(spec.kind)
                .ok_or_else(|| param_error(format!("parameter `{name}` must be a {}, found {value}", spec.kind)))?;
            if let ParamValue::Text(text) = &checked {
                check_length(&format!("parameter `{name}`"), text, MAX_TEXT_PARAM_BYTES).map_err(param_error)?;
            }
            values[index].value = checked.to_wit();
        }
        self.fingerprint = fingerprint(&self.content_hash, &values);
        self.values = values;
        if let Some(fuel) = config.fuel {
            self.limits.fuel = fuel;
        }
        if let Some(mib) = config.memory_mib {
            self.limits.memory_bytes = mib.saturating_mul(1 << 20);
        }
        if let Some(positions) = config.geodesy_positions {
            self.limits.geodesy_positions = positions;
        }
        if let Some(ms) = config.deadline_ms {
            self.limits.deadline = std::time::Duration::from_millis(ms);
        }
        Ok(())
    }

    /// The policy's id, from `describe()`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The policy's version, from `describe()`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// What the policy checks, in one sentence.
    pub fn summary(&self) -> &str {
        &self.summary
    }

    /// The parameters the policy declares.
    pub fn params(&self) -> &[ParamSpec] {
        &self.params
    }

    /// The value each parameter will be called with, in declaration order.
    pub fn param_values(&self) -> Vec<(&str, ParamValue)> {
        self.values
            .iter()
            .map(|p| (p.name.as_str(), ParamValue::from_wit(&p.value)))
            .collect()
    }

    /// The hex SHA-256 of the component.
    pub fn content_hash(&self) -> &str {
        &self.content_hash
    }

    /// What identifies the configured policy: SHA-256 over its component's
    /// hash and its parameter values, hex. State that one configuration
    /// wrote is only ever read back by the same configuration.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Where the component came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Names where the component comes from now: a service's upload once
    /// it is in the live folder.
    pub(crate) fn set_origin(&mut self, origin: String) {
        self.origin = origin;
    }

    /// The resource limits of each call.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Replaces the resource limits of each call.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Calls the policy under its limits; see [`Sandbox::call`].
    pub(crate) fn call<R>(
        &self,
        route: Option<&Arc<RouteIndex>>,
        call: impl FnMut(&mut Store<CallState>, &EscortPolicy, Option<Resource<RouteRef>>) -> wasmtime::Result<R>,
    ) -> Result<(R, u64), PolicyFailure> {
        self.sandbox.call(&self.instances, &self.limits, route, call)
    }

    pub(crate) fn values(&self) -> &[wit::Param] {
        &self.values
    }
}

/// SHA-256 over a component's hash and its parameter values, hex: see
/// [`Policy::fingerprint`].
fn fingerprint(component_hash: &str, values: &[wit::Param]) -> String {
    let mut identity = component_hash.to_owned();
    for param in values {
        let value = ParamValue::from_wit(&param.value);
        identity.push_str(&format!("\n{}={value:?}", param.name));
    }
    content_hash(identity.as_bytes())
}

/// Checks what a policy says about itself against the contract's bounds
/// (`crate::contract`) and returns its parameters.
fn check_descriptor(descriptor: &wit::Descriptor) -> Result<Vec<ParamSpec>, String> {
    check_name("gave the id", &descriptor.id)?;
    if RESERVED_IDS.contains(&descriptor.id.as_str()) {
        return Err(format!(
            "gave the id `{}`, which the host keeps for itself",
            descriptor.id
        ));
    }
    if descriptor.version.trim().is_empty() {
        return Err("gave an empty version".to_owned());
    }
    check_length("gave a version that", &descriptor.version, MAX_VERSION_BYTES)?;
    check_length("gave a summary that", &descriptor.summary, MAX_SENTENCE_BYTES)?;
    if descriptor.params.len() > MAX_PARAMS {
        return Err(format!(
            "declared {} parameters, over the limit of {MAX_PARAMS}",
            descriptor.params.len()
        ));
    }
    let mut names = HashSet::with_capacity(descriptor.params.len());
    let mut params: Vec<ParamSpec> = Vec::with_capacity(descriptor.params.len());
    for spec in &descriptor.params {
        check_name("declared the parameter", &spec.name)?;
        if !names.insert(spec.name.as_str()) {
            return Err(format!("declared the parameter `{}` twice", spec.name));
        }
        check_length(
            &format!("declared `{}` with a doc that", spec.name),
            &spec.doc,
            MAX_SENTENCE_BYTES,
        )?;
        let kind = match spec.kind {
            wit::ParamKind::Float => ParamKind::Float,
            wit::ParamKind::Integer => ParamKind::Integer,
            wit::ParamKind::Boolean => ParamKind::Boolean,
            wit::ParamKind::Text => ParamKind::Text,
        };
        let default = ParamValue::from_wit(&spec.default);
        if let ParamValue::Text(text) = &default {
            check_length(
                &format!("declared `{}` with a default that", spec.name),
                text,
                MAX_TEXT_PARAM_BYTES,
            )?;
        }
        if default.as_kind(kind) != Some(default.clone()) {
            return Err(format!(
                "declared `{}` as a {kind} with the default {}",
                spec.name,
                Excerpt::of(&default.to_string())
            ));
        }
        params.push(ParamSpec {
            name: spec.name.clone(),
            kind,
            default,
            doc: spec.doc.clone(),
        });
    }
    Ok(params)
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
pub(crate) fn live_name(entry: &str) -> String {
    format!("live {entry}")
}

/// What an entry of a policy folder is to a load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FolderEntry {
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
    pub(crate) fn name(&self) -> &str {
        match self {
            FolderEntry::Bundle(name) | FolderEntry::Component(name) | FolderEntry::LinkedBundle(name) => name,
        }
    }
}

/// The policies in folder `dir`, by name. Names beginning with `.` are
/// never policies: a service stages uploads and retires old versions under
/// such names (`service::swap`). Entries named for the policy `skip`
/// (`ID/`, `ID.wasm`) are left out.
pub(crate) fn folder_entries(dir: &Path, skip: Option<&str>) -> std::io::Result<Vec<FolderEntry>> {
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
) -> Result<Vec<Policy>, LoadError> {
    let entries = folder_entries(dir, skip).map_err(|source| LoadError::Io {
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
                let bundle = Bundle::open_as(&dir.join(name), &names.of(dir, &format!("{name}/")))
                    .map_err(|e| LoadError::Bundle(Box::new(e)))?;
                bundle.load(sandbox, trust).map_err(|e| LoadError::Bundle(Box::new(e)))
            }
            FolderEntry::LinkedBundle(name) => Err(LoadError::Io {
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
                let bytes = file::read(&dir.join(name), max_bytes).map_err(|source| LoadError::Io {
                    path: PathBuf::from(&shown),
                    source,
                })?;
                Policy::load(sandbox, &shown, &bytes)
            }
        })
        .collect()
}

/// The policies one evaluation runs, in id order.
#[derive(Debug, Default)]
pub struct PolicySet {
    policies: Vec<Policy>,
}

impl PolicySet {
    /// The default policy set that ships inside Escort: corridor, dwell,
    /// eligibility, seal, signal, speed and transit, with default parameters.
    pub fn builtin(sandbox: &Sandbox) -> Result<PolicySet, LoadError> {
        let policies = PolicySet::builtin_components()
            .map(|(name, bytes)| Policy::load(sandbox, &format!("built-in {name}"), bytes))
            .collect::<Result<Vec<_>, _>>()?;
        PolicySet::new(policies)
    }

    /// The components of the built-in set as (id, bytes), in id order: to
    /// copy into a policy folder as the start of a deployment's own set.
    pub fn builtin_components() -> impl Iterator<Item = (&'static str, &'static [u8])> {
        builtin::COMPONENTS.iter().copied()
    }

    /// Every `*.wasm` component and bundle in `dir` (or `dir` itself when it
    /// is a bundle), configured by `dir/policies.toml` when it exists.
    /// `trust` decides which bundles load.
    pub fn load_dir(sandbox: &Sandbox, dir: &Path, trust: &Trust) -> Result<PolicySet, LoadError> {
        if Bundle::is_bundle(dir) {
            let bundle = Bundle::open(dir).map_err(|e| LoadError::Bundle(Box::new(e)))?;
            return PolicySet::of_bundle(sandbox, &bundle, trust);
        }
        let mut set = PolicySet::new(read_components(sandbox, dir, Names::Paths, trust, None)?)?;
        if set.policies.is_empty() {
            return Err(LoadError::Empty(dir.to_owned()));
        }
        set.configure_from_dir(dir)?;
        Ok(set)
    }

    /// A bundle's policy alone, configured by the bundle's own
    /// `policies.toml` when it has one: what its golden scenarios run with.
    pub(crate) fn of_bundle(sandbox: &Sandbox, bundle: &Bundle, trust: &Trust) -> Result<PolicySet, LoadError> {
        let policy = bundle
            .load(sandbox, trust)
            .map_err(|e| LoadError::Bundle(Box::new(e)))?;
        let mut set = PolicySet::new(vec![policy])?;
        set.configure_from_file(&bundle.dir().join(CONFIG_FILE), bundle.shown(CONFIG_FILE))?;
        Ok(set)
    }

    /// This set with the `*.wasm` components and bundles in `dir` added, each replacing
    /// the policy with its id if there is one, then configured by
    /// `dir/policies.toml` when it exists. `dir` may be empty: a service's
    /// live folder over the built-in set. What it loads is named relative to
    /// `dir`, as `live NAME` (`live speed/`, `live speed.wasm`), in origins and
    /// errors alike.
    pub fn overlay_dir(self, sandbox: &Sandbox, dir: &Path, trust: &Trust) -> Result<PolicySet, LoadError> {
        self.overlay_live(sandbox, dir, trust, None)
    }

    /// [`PolicySet::overlay_dir`] with `published` over the folder's
    /// policies: a policy on its way into the folder, which replaces
    /// whichever form its id has there (so the folder's `ID/` and `ID.wasm`
    /// are not loaded), configured with the rest.
    pub(crate) fn overlay_live(
        mut self,
        sandbox: &Sandbox,
        dir: &Path,
        trust: &Trust,
        published: Option<Policy>,
    ) -> Result<PolicySet, LoadError> {
        let skip = published.as_ref().map(|policy| policy.id().to_owned());
        let overrides = PolicySet::new(read_components(sandbox, dir, Names::Live, trust, skip.as_deref())?)?;
        for policy in overrides.policies.into_iter().chain(published) {
            self.put(policy);
        }
        self.configure_from_file(&dir.join(CONFIG_FILE), PathBuf::from(live_name(CONFIG_FILE)))?;
        Ok(self)
    }

    /// Adds a policy, or replaces the one with its id; returns the replaced one.
    pub fn put(&mut self, policy: Policy) -> Option<Policy> {
        let replaced = self
            .policies
            .iter()
            .position(|p| p.id == policy.id)
            .map(|index| self.policies.remove(index));
        self.policies.push(policy);
        self.policies.sort_by(|a, b| a.id.cmp(&b.id));
        replaced
    }

    /// Configures the set from `dir/policies.toml`, when that file exists.
    pub fn configure_from_dir(&mut self, dir: &Path) -> Result<(), LoadError> {
        let path = dir.join(CONFIG_FILE);
        self.configure_from_file(&path, path.clone())
    }

    /// Configures the set from the `policies.toml` at `path`, when it
    /// exists; errors name it `shown`.
    fn configure_from_file(&mut self, path: &Path, shown: PathBuf) -> Result<(), LoadError> {
        if path.symlink_metadata().is_err() {
            return Ok(());
        }
        let text = file::read_text(path, MAX_SETTINGS_BYTES).map_err(|source| LoadError::Io {
            path: shown.clone(),
            source,
        })?;
        let config: BTreeMap<String, PolicyConfig> =
            file::parse_toml(&text).map_err(|reason| LoadError::Config { path: shown, reason })?;
        self.configure(&config)
    }

    /// A set of already loaded policies. Ids must be unique.
    pub fn new(mut policies: Vec<Policy>) -> Result<PolicySet, LoadError> {
        policies.sort_by(|a, b| a.id.cmp(&b.id));
        if let Some(pair) = policies.windows(2).find(|pair| pair[0].id == pair[1].id) {
            return Err(LoadError::DuplicateId {
                id: pair[0].id.clone(),
                first: pair[0].origin.clone(),
                second: pair[1].origin.clone(),
            });
        }
        Ok(PolicySet { policies })
    }

    /// Adds a policy. Its id must not be in the set already.
    pub fn add(&mut self, policy: Policy) -> Result<(), LoadError> {
        if let Some(existing) = self.policies.iter().find(|p| p.id == policy.id) {
            return Err(LoadError::DuplicateId {
                id: policy.id.clone(),
                first: existing.origin.clone(),
                second: policy.origin.clone(),
            });
        }
        self.policies.push(policy);
        self.policies.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(())
    }

    /// Configures policies by id. An id that is not in the set is an error.
    pub fn configure(&mut self, config: &BTreeMap<String, PolicyConfig>) -> Result<(), LoadError> {
        for (id, policy_config) in config {
            let known = || {
                self.policies
                    .iter()
                    .map(|p| p.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let Some(index) = self.policies.iter().position(|p| &p.id == id) else {
                return Err(LoadError::UnknownPolicy {
                    id: id.clone(),
                    known: known(),
                });
            };
            self.policies[index].configure(policy_config)?;
        }
        Ok(())
    }

    /// The policies, in id order.
    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_are_floats_but_not_the_reverse() {
        assert_eq!(
            ParamValue::Integer(3000).as_kind(ParamKind::Float),
            Some(ParamValue::Float(3000.0))
        );
        assert_eq!(ParamValue::Float(3000.5).as_kind(ParamKind::Integer), None);
        assert_eq!(ParamValue::Text("3km".into()).as_kind(ParamKind::Float), None);
    }
}
