//! Policy bundles, how a policy travels from its author to a host, and the
//! policy folders they are loaded from: manifests, signing and verification,
//! reading a bundle's files within bounds, unpacking uploads, folders with
//! `policies.toml` ([`folder`]), and golden-file tests ([`golden`]).
//!
//! A bundle is a folder holding the component (`policy.wasm`), its manifest
//! (`policy.toml`: id, version, description, contract version, language,
//! authors, parameters with their defaults), optionally its golden scenarios
//! (`scenarios/NAME/` with `transit.json`, fixes, `now.txt` and the expected
//! report `expected.json`), and optionally a signature (`policy.sig`). Other
//! files (sources, a README) may sit beside them; they are not part of what
//! is signed or loaded.
//!
//! A signature is an Ed25519 signature over a listing of the SHA-256 of the
//! manifest, the component and every scenario file. The listing travels in
//! `policy.sig` with the signature, so verification names the file that
//! changed after signing rather than only saying that something did.
//! A host given trusted keys ([`Trust`]) loads only bundles signed by one of
//! them.
//!
//! A bundle's files are read by [`file::read`]: regular files only, never
//! through a link, each within a bound, whoever made the bundle. A service
//! unpacks an uploaded one with [`unpack::unpack`] first.

pub mod file;
pub mod folder;
pub mod golden;
pub mod params;
pub mod unpack;

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use escort_engine::{CONTRACT_VERSION, CONTRACT_VERSIONS, LoadError, LoadLimits, ParamValue, Policy, content_hash};
use file::MAX_SETTINGS_BYTES;

/// The manifest's file name.
pub const MANIFEST: &str = "policy.toml";
/// The component's file name.
pub const COMPONENT: &str = "policy.wasm";
/// The signature's file name.
pub const SIGNATURE: &str = "policy.sig";
/// The folder of golden scenarios.
pub const SCENARIOS: &str = "scenarios";

/// The contract a bundle built against this host declares: the newest it
/// implements.
pub fn contract() -> String {
    format!("escort:policy@{CONTRACT_VERSION}")
}

/// Every contract this host loads a bundle of, oldest first, as a manifest
/// names them.
pub fn contracts() -> Vec<String> {
    CONTRACT_VERSIONS
        .iter()
        .map(|version| format!("escort:policy@{version}"))
        .collect()
}

/// The language a policy is written in, which decides how it is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    /// Rust, with the `escort-policy-sdk` crate.
    Rust,
    /// Python, built with componentize-py.
    Python,
    /// JavaScript, built with componentize-js.
    Js,
}

impl Language {
    /// The name used in `policy.toml` and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::Python => "python",
            Language::Js => "js",
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `policy.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The policy's id; its component's `describe()` must give the same.
    pub id: String,
    /// The policy's version; its component's `describe()` must give the same.
    pub version: String,
    /// What the policy checks, for the people who deploy it.
    pub description: String,
    /// The contract it implements, such as `escort:policy@0.1.0`.
    pub contract: String,
    /// The language it is written in.
    pub language: Language,
    /// Who wrote it.
    #[serde(default)]
    pub authors: Vec<String>,
    /// Its parameters and their defaults, as its `describe()` declares them.
    #[serde(default)]
    pub params: BTreeMap<String, ParamValue>,
    /// When this version comes into force: a service judges the transits
    /// opened from then on by it. Without it, from the moment a service is
    /// given the bundle; never earlier.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "moment")]
    pub effective_from: Option<DateTime<Utc>>,
    /// When this version stops judging newly opened transits, if it ends
    /// before the next version comes into force.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "moment")]
    pub effective_until: Option<DateTime<Utc>>,
    /// Which transits this version judges besides those opened while it is
    /// in force.
    #[serde(default, skip_serializing_if = "AppliesTo::is_default")]
    pub applies_to: AppliesTo,
    /// Whether a service enforces this version or runs it in shadow,
    /// beside the enforced one, without ever deciding a verdict.
    #[serde(default, skip_serializing_if = "Mode::is_default")]
    pub mode: Mode,
}

/// How a service runs a version of a policy (`mode` in `policy.toml`, or
/// `?mode=` at publication).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// It judges transits: its findings decide their verdicts.
    #[default]
    Enforced,
    /// It runs beside the enforced version on live traffic; its findings
    /// are stored apart and never reach a verdict, a report or the transit
    /// list, only the comparison with the enforced version.
    Shadow,
}

impl Mode {
    /// The name `policy.toml` and the service's answers use.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforced => "enforced",
            Mode::Shadow => "shadow",
        }
    }

    /// The one `as_str` names.
    pub fn named(name: &str) -> Option<Mode> {
        [Mode::Enforced, Mode::Shadow]
            .into_iter()
            .find(|mode| mode.as_str() == name)
    }

    fn is_default(&self) -> bool {
        *self == Mode::default()
    }
}

/// Which transits a version of a policy judges (`applies_to` in
/// `policy.toml`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AppliesTo {
    /// The transits opened while it is in force, and no other: a rule
    /// change is never retroactive.
    #[default]
    NewTransits,
    /// Those, and every transit still open when it comes into force, which
    /// is evaluated again from its first fix under it: for a corrected
    /// defect or an emergency rule.
    OpenTransits,
}

impl AppliesTo {
    /// The name `policy.toml` and the service's answers use.
    pub fn as_str(self) -> &'static str {
        match self {
            AppliesTo::NewTransits => "new-transits",
            AppliesTo::OpenTransits => "open-transits",
        }
    }

    /// The one `as_str` names.
    pub fn named(name: &str) -> Option<AppliesTo> {
        [AppliesTo::NewTransits, AppliesTo::OpenTransits]
            .into_iter()
            .find(|applies_to| applies_to.as_str() == name)
    }

    fn is_default(&self) -> bool {
        *self == AppliesTo::default()
    }
}

/// `effective_from` and `effective_until`: a time with its offset, as
/// TOML's own date-time (`2027-01-01T00:00:00Z`) or as an RFC 3339 string.
pub(crate) mod moment {
    use chrono::{DateTime, Utc};
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(at: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => serializer.serialize_str(&escort_engine::format_time(at)),
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        let text = match toml::Value::deserialize(deserializer)? {
            toml::Value::String(text) => text,
            toml::Value::Datetime(datetime) => datetime.to_string(),
            other => {
                return Err(D::Error::custom(format!(
                    "a time must be a date-time with its offset, such as 2027-01-01T00:00:00Z, not a {}",
                    other.type_str()
                )));
            }
        };
        DateTime::parse_from_rfc3339(&text)
            .map(|at| Some(at.with_timezone(&Utc)))
            .map_err(|e| D::Error::custom(format!("`{text}` is not a date-time with its offset ({e})")))
    }
}

/// Why a bundle cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// `policy.toml` is not a manifest.
    #[error("{}: {reason}", path.display())]
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The bundle implements another contract version.
    #[error("{}the bundle implements {found}; this host implements {}", place(dir), contracts().join(" and "))]
    Contract {
        /// The bundle.
        dir: PathBuf,
        /// The contract it declares.
        found: String,
    },
    /// The component does not load.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The component and its manifest disagree.
    #[error("{}{reason}", place(dir))]
    Mismatch {
        /// The bundle.
        dir: PathBuf,
        /// Where they disagree.
        reason: String,
    },
    /// The host trusts signed bundles only, and this one is not signed.
    #[error(
        "{}the bundle is not signed, and this host loads only bundles signed by a trusted key",
        place(dir)
    )]
    Unsigned {
        /// The bundle.
        dir: PathBuf,
    },
    /// The bundle is signed by a key the host does not trust.
    #[error("{}the bundle is signed by key {key}, which this host does not trust", place(dir))]
    UnknownKey {
        /// The bundle.
        dir: PathBuf,
        /// The signer's public key, hex.
        key: String,
    },
    /// The signature does not hold.
    #[error("{}{reason}", place(dir))]
    BadSignature {
        /// The bundle.
        dir: PathBuf,
        /// Why: which file changed after signing, or a corrupt signature.
        reason: String,
    },
    /// A key file is unusable.
    #[error("{}: {reason}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// How the bundle named `name` names one of its files, `relative` to its
/// folder: `NAME/relative`, or `relative` alone when it has no name.
fn shown(name: &str, relative: &str) -> PathBuf {
    if name.is_empty() || name.ends_with('/') {
        PathBuf::from(format!("{name}{relative}"))
    } else {
        PathBuf::from(format!("{name}/{relative}"))
    }
}

/// `DIR: ` to lead a message about the bundle named `dir`; nothing when it
/// has no name (an upload, whose messages name its files alone).
fn place(dir: &Path) -> String {
    if dir.as_os_str().is_empty() {
        String::new()
    } else {
        format!("{}: ", dir.display())
    }
}

/// A bundle's component, for this host's contract and signed as the host's
/// [`Trust`] asks, not loaded yet.
#[derive(Debug)]
pub struct Verified {
    /// The component's bytes.
    pub component: Vec<u8>,
    /// Who signed the bundle (their public key, hex), if anyone did.
    pub signer: Option<String>,
    /// How the component is named in its policy's origin and in errors.
    pub origin: String,
}

/// Which signers a host accepts. With no keys, bundles need no signature
/// (a signature that is there is still checked).
#[derive(Debug, Clone, Default)]
pub struct Trust {
    keys: Vec<VerifyingKey>,
}

impl Trust {
    /// Trusts these public keys, each 64 hex digits.
    pub fn keys<'a>(hex_keys: impl IntoIterator<Item = &'a str>) -> Result<Trust, String> {
        let keys = hex_keys
            .into_iter()
            .map(|text| verifying_key(text).map_err(|reason| format!("trusted key {text:?}: {reason}")))
            .collect::<Result<_, _>>()?;
        Ok(Trust { keys })
    }

    /// Whether only signed bundles are loaded.
    pub fn requires_signature(&self) -> bool {
        !self.keys.is_empty()
    }
}

/// `policy.sig`: who signed, the signature, and what was signed.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureFile {
    /// The signer's public key, hex.
    key: String,
    /// The Ed25519 signature over `files` joined by newlines, hex.
    signature: String,
    /// `SHA256  PATH` of every signed file, by path.
    files: Vec<String>,
}

/// A bundle on disk.
#[derive(Debug, Clone)]
pub struct Bundle {
    dir: PathBuf,
    /// How it is named in errors and in its policy's origin.
    name: String,
    manifest: Manifest,
}

impl Bundle {
    /// Reads a bundle's manifest; nothing is loaded yet. The bundle is named
    /// by its path.
    pub fn open(dir: &Path) -> Result<Bundle, BundleError> {
        Bundle::open_as(dir, &dir.display().to_string())
    }

    /// [`Bundle::open`], naming the bundle `name` in errors and in its
    /// policy's origin instead of by its path (a service names a bundle of
    /// its live folder `live speed/`, and must not show where it keeps its
    /// files). With an empty name, errors name the bundle's files alone
    /// (`policy.toml: …`).
    pub fn open_as(dir: &Path, name: &str) -> Result<Bundle, BundleError> {
        let path = shown(name, MANIFEST);
        let text = file::read_text(&dir.join(MANIFEST), MAX_SETTINGS_BYTES).map_err(|source| BundleError::Io {
            path: path.clone(),
            source,
        })?;
        let manifest = file::parse_toml(&text).map_err(|reason| BundleError::Manifest { path, reason })?;
        Ok(Bundle {
            dir: dir.to_owned(),
            name: name.to_owned(),
            manifest,
        })
    }

    /// How the bundle names one of its files, `relative` to its folder.
    pub(crate) fn shown(&self, relative: &str) -> PathBuf {
        shown(&self.name, relative)
    }

    /// Whether `dir` holds a bundle: it has a manifest. (Whatever the
    /// manifest is: one that is a link or a FIFO is refused when it is read,
    /// rather than the folder passed over in silence.)
    pub fn is_bundle(dir: &Path) -> bool {
        dir.join(MANIFEST).symlink_metadata().is_ok()
    }

    /// The bundle's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The component's path.
    pub fn component_path(&self) -> PathBuf {
        self.dir.join(COMPONENT)
    }

    /// The bundle's component, once the bundle is for this host's contract
    /// and its signature holds as `trust` asks; read within
    /// `max_component_bytes`. Loading it is the caller's
    /// ([`folder::load_policy`] loads it and checks it against the manifest).
    pub fn verified_component(&self, trust: &Trust, max_component_bytes: u64) -> Result<Verified, BundleError> {
        if !contracts().contains(&self.manifest.contract) {
            return Err(BundleError::Contract {
                dir: PathBuf::from(&self.name),
                found: self.manifest.contract.clone(),
            });
        }
        let signer = self.verify_within(trust, max_component_bytes)?;
        let component = file::read(&self.component_path(), max_component_bytes).map_err(|source| BundleError::Io {
            path: self.shown(COMPONENT),
            source,
        })?;
        // A bundle with no name is an upload: its component is what it names.
        let origin = if self.name.is_empty() { COMPONENT } else { &self.name };
        Ok(Verified {
            component,
            signer,
            origin: origin.to_owned(),
        })
    }

    /// Checks that `policy`, loaded from this bundle's component, is what
    /// the manifest says: its id, version and parameters with their defaults.
    pub fn check_description(&self, policy: &Policy) -> Result<(), BundleError> {
        let mismatch = |reason: String| BundleError::Mismatch {
            dir: PathBuf::from(&self.name),
            reason,
        };
        let manifest = &self.manifest;
        let exported = format!("escort:policy@{}", policy.contract_version());
        if exported != manifest.contract {
            return Err(mismatch(format!(
                "the manifest says the component implements {}, but it exports {exported}",
                manifest.contract
            )));
        }
        if policy.id() != manifest.id || policy.version() != manifest.version {
            return Err(mismatch(format!(
                "the manifest says {} {}, the component describes itself as {} {}",
                manifest.id,
                manifest.version,
                policy.id(),
                policy.version()
            )));
        }
        // Each parameter by name, so that the message says which one and
        // what kind of value each side has; a whole number is a float's
        // value as well, as in `policies.toml`.
        for spec in policy.params() {
            match manifest.params.get(&spec.name) {
                None => {
                    return Err(mismatch(format!(
                        "the component declares parameter `{}` ({}, default {}), which the manifest's [params] \
                         does not list",
                        spec.name, spec.kind, spec.default
                    )));
                }
                Some(value) if value.as_kind(spec.kind).as_ref() != Some(&spec.default) => {
                    return Err(mismatch(format!(
                        "parameter `{}`: the manifest says {value} ({}), the component's default is {} ({})",
                        spec.name,
                        value.kind(),
                        spec.default,
                        spec.kind
                    )));
                }
                Some(_) => {}
            }
        }
        if let Some(extra) = manifest
            .params
            .keys()
            .find(|name| policy.params().iter().all(|spec| spec.name != **name))
        {
            return Err(mismatch(format!(
                "the manifest's [params] list `{extra}`, which the component does not declare"
            )));
        }
        Ok(())
    }

    /// Every file of its `scenarios/` folder, relative to the bundle; a
    /// link is listed as a file, never followed.
    fn scenario_files(&self) -> Result<Vec<PathBuf>, BundleError> {
        let mut paths = Vec::new();
        let scenarios = self.dir.join(SCENARIOS);
        if scenarios.symlink_metadata().is_ok() {
            collect_files(&self.dir, &scenarios, &mut paths).map_err(|source| BundleError::Io {
                path: self.shown(SCENARIOS),
                source,
            })?;
        }
        Ok(paths)
    }

    /// The files the bundle is made of, relative to it, by path: its
    /// manifest, component, signature and own `policies.toml` where they
    /// are, and every scenario file. What a publication sends.
    pub fn files(&self) -> Result<Vec<PathBuf>, BundleError> {
        let mut paths: Vec<PathBuf> = [MANIFEST, COMPONENT, SIGNATURE, params::PARAMS_FILE]
            .into_iter()
            .filter(|name| self.dir.join(name).symlink_metadata().is_ok())
            .map(PathBuf::from)
            .collect();
        paths.extend(self.scenario_files()?);
        paths.sort();
        Ok(paths)
    }

    /// `SHA256  PATH` of the manifest, the component and every scenario
    /// file, by path: what a signature covers. Each is read within its
    /// bound: the component within `max_component_bytes`, a scenario's file
    /// within what `escort check` reads of telemetry.
    fn listing(&self, max_component_bytes: u64) -> Result<Vec<String>, BundleError> {
        let mut paths = vec![PathBuf::from(MANIFEST), PathBuf::from(COMPONENT)];
        paths.extend(self.scenario_files()?);
        paths.sort();
        paths
            .into_iter()
            .map(|relative| {
                let name = relative
                    .components()
                    .map(|part| part.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                let max_bytes = match name.as_str() {
                    MANIFEST => MAX_SETTINGS_BYTES,
                    COMPONENT => max_component_bytes,
                    _ => escort_engine::MAX_FILE_BYTES,
                };
                let bytes = file::read(&self.dir.join(&relative), max_bytes).map_err(|source| BundleError::Io {
                    path: self.shown(&name),
                    source,
                })?;
                Ok(format!("{}  {name}", content_hash(&bytes)))
            })
            .collect()
    }

    /// Signs the bundle with `key`, writing `policy.sig`.
    pub fn sign(&self, key: &SigningKey) -> Result<(), BundleError> {
        let files = self.listing(LoadLimits::default().max_component_bytes as u64)?;
        write_signature(&self.dir.join(SIGNATURE), key, files)
    }

    /// Checks the signature, if there is one or `trust` asks for one.
    /// Returns the signer's public key (hex) when the bundle is signed.
    pub fn verify(&self, trust: &Trust) -> Result<Option<String>, BundleError> {
        self.verify_within(trust, LoadLimits::default().max_component_bytes as u64)
    }

    /// [`Bundle::verify`], reading a component of up to `max_component_bytes`.
    fn verify_within(&self, trust: &Trust, max_component_bytes: u64) -> Result<Option<String>, BundleError> {
        let path = self.dir.join(SIGNATURE);
        if path.symlink_metadata().is_err() {
            return if trust.requires_signature() {
                Err(BundleError::Unsigned {
                    dir: PathBuf::from(&self.name),
                })
            } else {
                Ok(None)
            };
        }
        let bad = |reason: String| BundleError::BadSignature {
            dir: PathBuf::from(&self.name),
            reason,
        };
        let file = read_signature(&path, self.shown(SIGNATURE), &self.name, trust)?;
        let now = self.listing(max_component_bytes)?;
        if now != file.files {
            let name = |line: &String| {
                line.split_once("  ")
                    .map(|(_, name)| name.to_owned())
                    .unwrap_or_default()
            };
            let signed: BTreeMap<String, &String> = file.files.iter().map(|line| (name(line), line)).collect();
            let current: BTreeMap<String, &String> = now.iter().map(|line| (name(line), line)).collect();
            let changed = signed
                .keys()
                .chain(current.keys())
                .find(|path| signed.get(*path) != current.get(*path))
                .cloned()
                .unwrap_or_default();
            let how = match (signed.contains_key(&changed), current.contains_key(&changed)) {
                (true, true) => "changed",
                (true, false) => "was removed",
                _ => "was added",
            };
            return Err(bad(format!("{changed} {how} after the bundle was signed")));
        }
        Ok(Some(file.key))
    }
}

/// Writes the signature file at `path`: `key`'s signature over `files`
/// (`SHA256  NAME` lines).
fn write_signature(path: &Path, key: &SigningKey, files: Vec<String>) -> Result<(), BundleError> {
    let signature = key.sign(files.join("\n").as_bytes());
    let file = SignatureFile {
        key: hex::encode(key.verifying_key().as_bytes()),
        signature: hex::encode(signature.to_bytes()),
        files,
    };
    let text = toml::to_string(&file).expect("a signature file always serializes");
    fs::write(path, text).map_err(|source| BundleError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Reads the signature file at `path` (shown as `shown`, for what `name`
/// names) and checks that its signature holds over its own listing and
/// that `trust` trusts its key (any key, when `trust` asks for none); the
/// caller compares the listing with the files as they are.
fn read_signature(path: &Path, shown: PathBuf, name: &str, trust: &Trust) -> Result<SignatureFile, BundleError> {
    let file_name = shown
        .file_name()
        .map_or_else(String::new, |name| name.to_string_lossy().into_owned());
    let bad = |reason: String| BundleError::BadSignature {
        dir: PathBuf::from(name),
        reason: format!("{file_name}: {reason}"),
    };
    let text = file::read_text(path, MAX_SETTINGS_BYTES).map_err(|source| BundleError::Io { path: shown, source })?;
    let file: SignatureFile = file::parse_toml(&text).map_err(bad)?;
    let key = verifying_key(&file.key).map_err(|reason| bad(format!("the key {reason}")))?;
    let signature = hex::decode(&file.signature)
        .ok()
        .and_then(|bytes| Signature::from_slice(&bytes).ok())
        .ok_or_else(|| bad("the signature is not 128 hex digits".to_owned()))?;
    key.verify(file.files.join("\n").as_bytes(), &signature)
        .map_err(|_| bad("the signature does not match the signed listing".to_owned()))?;
    if trust.requires_signature() && !trust.keys.contains(&key) {
        return Err(BundleError::UnknownKey {
            dir: PathBuf::from(name),
            key: file.key,
        });
    }
    Ok(file)
}

/// Every file below `dir`, relative to `root`. A link is listed as a file,
/// never followed, so that reading it refuses it.
fn collect_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let relative = |path: &Path| path.strip_prefix(root).expect("found under the root").to_owned();
    if !dir.symlink_metadata()?.is_dir() {
        out.push(relative(dir));
        return Ok(());
    }
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            collect_files(root, &entry.path(), out)?;
        } else {
            out.push(relative(&entry.path()));
        }
    }
    Ok(())
}

/// An Ed25519 public key from its 64 hex digits; the error says what is
/// wrong, to follow the key's name.
pub fn verifying_key(text: &str) -> Result<VerifyingKey, String> {
    let bytes: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or("is not 64 hex digits")?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| "is not an Ed25519 public key".to_owned())
}

/// Makes a new key pair: the secret key to `NAME.key` (readable by its owner
/// only) and the public key to `NAME.pub`, both as hex. Returns the public
/// key's hex.
pub fn keygen(name: &Path) -> Result<String, BundleError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| BundleError::Key {
        path: name.to_owned(),
        reason: format!("no randomness for a key: {e}"),
    })?;
    let key = SigningKey::from_bytes(&seed);
    let public = hex::encode(key.verifying_key().as_bytes());
    if let Some(folder) = name.parent().filter(|folder| !folder.as_os_str().is_empty()) {
        fs::create_dir_all(folder).map_err(|source| BundleError::Io {
            path: folder.to_owned(),
            source,
        })?;
    }
    let secret_path = name.with_extension("key");
    write_private(&secret_path, &format!("{}\n", hex::encode(seed))).map_err(|source| BundleError::Io {
        path: secret_path,
        source,
    })?;
    let public_path = name.with_extension("pub");
    fs::write(&public_path, format!("{public}\n")).map_err(|source| BundleError::Io {
        path: public_path,
        source,
    })?;
    Ok(public)
}

/// Reads a secret key written by [`keygen`].
pub fn read_signing_key(path: &Path) -> Result<SigningKey, BundleError> {
    let text = fs::read_to_string(path).map_err(|source| BundleError::Io {
        path: path.to_owned(),
        source,
    })?;
    let seed: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| BundleError::Key {
            path: path.to_owned(),
            reason: "not a secret key (64 hex digits) as `escort policy keygen` writes".to_owned(),
        })?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Reads a public key: a `.pub` file written by [`keygen`], as hex.
pub fn read_public_key(path: &Path) -> Result<String, BundleError> {
    let text = fs::read_to_string(path).map_err(|source| BundleError::Io {
        path: path.to_owned(),
        source,
    })?;
    let key = text.trim().to_owned();
    verifying_key(&key).map_err(|reason| BundleError::Key {
        path: path.to_owned(),
        reason: format!("the public key {reason}"),
    })?;
    Ok(key)
}

/// Creates a file only its owner can read, refusing to overwrite one.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}
