//! The live policy set: the built-in policies with the live folder's over
//! them, replaced as a whole when a regulator publishes a policy or the
//! folder changes.
//!
//! The folder holds bare components (`ID.wasm`) and bundles (`ID/` with
//! `policy.toml`, see [`crate::bundle`]). A candidate set is loaded (with
//! signatures checked against the trusted keys), configured (the folder's
//! `policies.toml`) and validated (every policy must run a small transit
//! without failing, and every bundle must pass its own golden scenarios)
//! before it replaces the current one; a candidate that fails is refused with the
//! reason and the current set keeps serving. The swap replaces an
//! `Arc<PolicySet>`: a step that took the old set finishes on it.
//!
//! The folder is polled rather than watched: it changes rarely, polling
//! works on every filesystem (network and container mounts included), and a
//! publish through the API reloads at once anyway.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::SystemTime;

use serde::Serialize;

use super::{ServiceError, validate};
use crate::bundle::{Bundle, Trust};
use crate::golden::{Outcome, Scenario};
use crate::policy::{ParamValue, Policy, PolicySet};
use crate::sandbox::Sandbox;

/// A policy as `GET /v1/policies` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyInfo {
    /// Its id.
    pub id: String,
    /// Its version, from `describe()`.
    pub version: String,
    /// What it checks.
    pub summary: String,
    /// SHA-256 of its component, hex.
    pub content_hash: String,
    /// Where it came from: `built-in NAME` or a file of the live folder.
    pub origin: String,
    /// The value of each parameter.
    pub params: BTreeMap<String, ParamValue>,
}

impl PolicyInfo {
    fn of(policy: &Policy) -> PolicyInfo {
        PolicyInfo {
            id: policy.id().to_owned(),
            version: policy.version().to_owned(),
            summary: policy.summary().to_owned(),
            content_hash: policy.content_hash().to_owned(),
            origin: policy.origin().to_owned(),
            params: policy
                .param_values()
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect(),
        }
    }
}

/// What the folder looked like at the last load: file names, sizes and
/// modification times.
type FolderSignature = Vec<(String, u64, Option<SystemTime>)>;

#[derive(Default)]
struct ReloadState {
    signature: FolderSignature,
    last_error: Option<String>,
}

/// The policies the service evaluates with, and where they come from.
pub struct LivePolicies {
    sandbox: Sandbox,
    dir: PathBuf,
    trust: Trust,
    current: RwLock<Arc<PolicySet>>,
    /// Held while a candidate is built, so two publishes cannot interleave.
    reload: Mutex<ReloadState>,
}

impl LivePolicies {
    /// Loads the built-in set with `dir`'s policies over it (creating `dir`).
    ///
    /// # Errors
    /// [`ServiceError::Setup`] when the folder's policies do not load or
    /// validate: a service must not start on rules other than the ones it
    /// was given.
    pub fn open(sandbox: Sandbox, dir: PathBuf, trust: Trust) -> Result<LivePolicies, ServiceError> {
        fs::create_dir_all(&dir).map_err(|e| ServiceError::Setup(format!("{}: {e}", dir.display())))?;
        let signature = signature(&dir);
        let set = candidate(&sandbox, &dir, &trust, None).map_err(|reason| {
            ServiceError::Setup(format!("the policies in {} are refused: {reason}", dir.display()))
        })?;
        Ok(LivePolicies {
            sandbox,
            dir,
            trust,
            current: RwLock::new(Arc::new(set)),
            reload: Mutex::new(ReloadState {
                signature,
                last_error: None,
            }),
        })
    }

    /// The set a step should use, now.
    pub fn current(&self) -> Arc<PolicySet> {
        Arc::clone(&self.current.read().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// The folder watched for changes.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every active policy, in id order, and why the last reload of the
    /// folder was refused, if it was.
    pub fn list(&self) -> (Vec<PolicyInfo>, Option<String>) {
        let infos = self.current().policies().iter().map(PolicyInfo::of).collect();
        (infos, self.state().last_error.clone())
    }

    fn state(&self) -> MutexGuard<'_, ReloadState> {
        self.reload.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Publishes a policy under `id`: a bare component (`.wasm` bytes) or a
    /// bundle (a tar archive of its folder). It is loaded and validated with
    /// the rest of the live set, then written to the live folder (`ID.wasm`
    /// or `ID/`) and the set is swapped.
    ///
    /// # Errors
    /// [`ServiceError::Unprocessable`] naming why it was refused; the
    /// current set keeps serving.
    pub fn publish(&self, id: &str, upload: &[u8]) -> Result<PolicyInfo, ServiceError> {
        let refused = |reason: String| ServiceError::Unprocessable(format!("policy `{id}` is refused: {reason}"));
        let setup = |path: &Path, e: std::io::Error| ServiceError::Setup(format!("{}: {e}", path.display()));
        let mut state = self.state();
        let staging = tempfile::Builder::new()
            .prefix(".upload-")
            .tempdir_in(&self.dir)
            .map_err(|e| setup(&self.dir, e))?;
        let is_component = upload.starts_with(b"\0asm");
        let (policy, bundle) = if is_component {
            if self.trust.requires_signature() {
                return Err(refused(
                    "a bare component has no signature, and this service loads only signed bundles".to_owned(),
                ));
            }
            (
                Policy::load(&self.sandbox, &format!("upload of {id}"), upload).map_err(|e| refused(e.to_string()))?,
                None,
            )
        } else {
            tar::Archive::new(upload)
                .unpack(staging.path())
                .map_err(|e| refused(format!("neither a component nor a tar archive of a bundle: {e}")))?;
            let bundle = Bundle::open(staging.path()).map_err(|e| refused(e.to_string()))?;
            let policy = bundle
                .load(&self.sandbox, &self.trust)
                .map_err(|e| refused(e.to_string()))?;
            (policy, Some(staging.path()))
        };
        if policy.id() != id {
            return Err(refused(format!("it describes itself as `{}`", policy.id())));
        }
        let set = candidate(&self.sandbox, &self.dir, &self.trust, Some((policy, bundle))).map_err(refused)?;

        // The new version replaces whichever form the old one had.
        let component = self.dir.join(format!("{id}.wasm"));
        let folder = self.dir.join(id);
        let retired = self.dir.join(format!(".retired-{id}"));
        let _ = fs::remove_dir_all(&retired);
        if folder.is_dir() {
            fs::rename(&folder, &retired).map_err(|e| setup(&folder, e))?;
        }
        if is_component {
            let partial = staging.path().join(format!("{id}.wasm"));
            fs::write(&partial, upload)
                .and_then(|()| fs::rename(&partial, &component))
                .map_err(|e| setup(&component, e))?;
        } else {
            fs::rename(staging.path(), &folder).map_err(|e| setup(&folder, e))?;
            if component.is_file() {
                fs::remove_file(&component).map_err(|e| setup(&component, e))?;
            }
        }
        let _ = fs::remove_dir_all(&retired);
        let info = set
            .policies()
            .iter()
            .find(|p| p.id() == id)
            .map(PolicyInfo::of)
            .expect("the published policy is in the set");
        *self.current.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(set);
        state.signature = signature(&self.dir);
        state.last_error = None;
        Ok(info)
    }

    /// Loads the folder again if anything in it changed since the last load.
    /// Returns `Ok(true)` when a new set now serves, `Err` with the reason
    /// when the changed folder was refused (the current set keeps serving).
    pub fn reload_if_changed(&self) -> Result<bool, String> {
        let mut state = self.state();
        let now = signature(&self.dir);
        if now == state.signature {
            return Ok(false);
        }
        state.signature = now;
        match candidate(&self.sandbox, &self.dir, &self.trust, None) {
            Ok(set) => {
                *self.current.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(set);
                state.last_error = None;
                Ok(true)
            }
            Err(reason) => {
                state.last_error = Some(reason.clone());
                Err(reason)
            }
        }
    }
}

/// The built-in set, the folder's components and bundles over it, `extra`
/// (a policy, and its bundle's folder if it came in one) over those,
/// configured by the folder's `policies.toml`, and validated.
fn candidate(
    sandbox: &Sandbox,
    dir: &Path,
    trust: &Trust,
    extra: Option<(Policy, Option<&Path>)>,
) -> Result<PolicySet, String> {
    let mut set = PolicySet::builtin(sandbox)
        .and_then(|set| set.overlay_dir(sandbox, dir, trust))
        .map_err(|e| e.to_string())?;
    let mut bundles: Vec<PathBuf> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| Bundle::is_bundle(path))
        .collect();
    if let Some((policy, bundle)) = extra {
        bundles.retain(|path| path.file_name().is_none_or(|name| name != policy.id()));
        bundles.extend(bundle.map(Path::to_owned));
        set.put(policy);
        set.configure_from_dir(dir).map_err(|e| e.to_string())?;
    }
    validate(&set).map_err(|reason| format!("the validation run (a short clean transit) failed: {reason}"))?;
    for bundle in bundles {
        check_golden(sandbox, &bundle, trust)?;
    }
    Ok(set)
}

/// Runs a bundle's golden scenarios with its policy alone, at its defaults:
/// the author's own account of what the policy does.
fn check_golden(sandbox: &Sandbox, bundle: &Path, trust: &Trust) -> Result<(), String> {
    let alone = PolicySet::load_dir(sandbox, bundle, trust).map_err(|e| e.to_string())?;
    let id = alone.policies().first().map_or("", |p| p.id()).to_owned();
    for scenario in Scenario::find(&bundle.join(crate::bundle::SCENARIOS)) {
        let name = scenario.name();
        match scenario.test(&alone, false) {
            Outcome::Passed | Outcome::Blessed => {}
            Outcome::NoGolden => return Err(format!("`{id}`: scenario {name} has no {}", crate::golden::EXPECTED)),
            Outcome::Unusable(reason) => return Err(format!("`{id}`: scenario {name}: {reason}")),
            Outcome::Failed(diff) => {
                return Err(format!("`{id}` fails its own golden scenario {name}:\n{diff}"));
            }
            Outcome::Unrepeatable(diff) => {
                return Err(format!(
                    "`{id}` answers scenario {name} differently when it runs again: it keeps something \
                     between calls outside its state\n{diff}"
                ));
            }
        }
    }
    Ok(())
}

fn signature(dir: &Path) -> FolderSignature {
    let mut files: FolderSignature = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let meta = entry.metadata().ok()?;
            (!name.starts_with('.')).then(|| (name, meta.len(), meta.modified().ok()))
        })
        .collect();
    files.sort();
    files
}
