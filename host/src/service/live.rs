//! The live policy set: the built-in policies with the live folder's over
//! them, replaced as a whole when a regulator publishes a policy or the
//! folder changes.
//!
//! A candidate set is loaded, configured (the folder's `policies.toml`) and
//! validated (every policy must run a small transit without failing) before
//! it replaces the current one; a candidate that fails is refused with the
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
    pub fn open(sandbox: Sandbox, dir: PathBuf) -> Result<LivePolicies, ServiceError> {
        fs::create_dir_all(&dir).map_err(|e| ServiceError::Setup(format!("{}: {e}", dir.display())))?;
        let signature = signature(&dir);
        let set = candidate(&sandbox, &dir, None).map_err(|reason| {
            ServiceError::Setup(format!("the policies in {} are refused: {reason}", dir.display()))
        })?;
        Ok(LivePolicies {
            sandbox,
            dir,
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

    /// Publishes a policy component under `id`: loads and validates it with
    /// the rest of the live set, then writes it to the live folder as
    /// `ID.wasm` and swaps the set.
    ///
    /// # Errors
    /// [`ServiceError::Unprocessable`] naming why the component was refused;
    /// the current set keeps serving.
    pub fn publish(&self, id: &str, component: &[u8]) -> Result<PolicyInfo, ServiceError> {
        let refused = |reason: String| ServiceError::Unprocessable(format!("policy `{id}` is refused: {reason}"));
        let policy =
            Policy::load(&self.sandbox, &format!("upload of {id}"), component).map_err(|e| refused(e.to_string()))?;
        if policy.id() != id {
            return Err(refused(format!("the component describes itself as `{}`", policy.id())));
        }
        let mut state = self.state();
        let set = candidate(&self.sandbox, &self.dir, Some(policy)).map_err(refused)?;
        let path = self.dir.join(format!("{id}.wasm"));
        let partial = self.dir.join(format!(".{id}.wasm.partial"));
        fs::write(&partial, component)
            .and_then(|()| fs::rename(&partial, &path))
            .map_err(|e| ServiceError::Setup(format!("{}: {e}", path.display())))?;
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
        match candidate(&self.sandbox, &self.dir, None) {
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

/// The built-in set, the folder's components over it, `extra` over those,
/// configured by the folder's `policies.toml`, and validated.
fn candidate(sandbox: &Sandbox, dir: &Path, extra: Option<Policy>) -> Result<PolicySet, String> {
    let mut set = PolicySet::builtin(sandbox)
        .and_then(|set| set.overlay_dir(sandbox, dir))
        .map_err(|e| e.to_string())?;
    if let Some(policy) = extra {
        set.put(policy);
        set.configure_from_dir(dir).map_err(|e| e.to_string())?;
    }
    validate(&set).map_err(|reason| format!("the validation run (a short clean transit) failed: {reason}"))?;
    Ok(set)
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
