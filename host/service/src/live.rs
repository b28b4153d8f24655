//! The live policy set: the built-in policies with the live folder's over
//! them, replaced as a whole when a regulator publishes a policy or the
//! folder changes.
//!
//! The folder holds bare components (`ID.wasm`) and bundles (`ID/` with
//! `policy.toml`, see [`crate::bundle`]); names beginning with `.` are a
//! publish's own (`swap`) and never policies. A candidate set is loaded
//! (with signatures checked against the trusted keys), configured (the
//! folder's `policies.toml`) and validated (every policy must run a small
//! transit without failing, and every bundle must pass its own golden
//! scenarios) before it replaces the current one; a candidate that fails is
//! refused with the reason and the current set keeps serving.
//!
//! What serves, with its listing and the last reload's error, is one
//! [`Snapshot`] behind a lock held only to swap a pointer: a step takes the
//! set and finishes on it, and `GET /v1/policies` reads the listing, without
//! ever waiting for a publish. Building a candidate is what takes time (a
//! compilation, the golden scenarios), and that runs under a lock of its
//! own, one publish or reload at a time; a publish that finds another under
//! way waits a bounded time (`publish_wait_seconds`) and is then refused,
//! rather than queueing behind it for as long as it takes.
//!
//! Everything a publish or a reload answers names the live folder's files
//! relative to it (`live speed/`, `live policies.toml`) and an upload's
//! files relative to the upload (`policy.toml: line 3, column 1: …`): never
//! a path of the server, never the content of a file.
//!
//! The folder is polled rather than watched: it changes rarely, polling
//! works on every filesystem (network and container mounts included), and a
//! publish through the API reloads at once anyway.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::swap::{self, Form};
use super::{ServiceError, validate};
use escort_bundle::folder::{self, FolderEntry, folder_entries, live_name};
use escort_bundle::golden::{Outcome, Scenario};
use escort_bundle::unpack::{self, UnpackError};
use escort_bundle::{Bundle, Trust};
use escort_engine::Sandbox;
use escort_engine::contract::check_name;
use escort_engine::{ParamValue, Policy, PolicySet};

/// How long a publish waits for another publish (or a reload of the
/// folder) to end, unless configured otherwise.
pub(crate) const DEFAULT_PUBLISH_WAIT: Duration = Duration::from_secs(10);

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
    /// Where it came from: `built-in ID`, or its entry in the live folder,
    /// relative to it: `live ID/` for a bundle, `live ID.wasm` for a bare
    /// component.
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

/// What serves, as one value: swapped whole, read without waiting.
struct Snapshot {
    set: Arc<PolicySet>,
    /// The set as `GET /v1/policies` lists it.
    listing: Vec<PolicyInfo>,
    /// Why the last reload of the folder was refused, if it was.
    last_error: Option<String>,
}

impl Snapshot {
    fn of(set: PolicySet, last_error: Option<String>) -> Snapshot {
        Snapshot {
            listing: set.policies().iter().map(PolicyInfo::of).collect(),
            set: Arc::new(set),
            last_error,
        }
    }
}

/// What the folder looked like at the last load: file names, sizes and
/// modification times.
type FolderSignature = Vec<(String, u64, Option<SystemTime>)>;

/// The policies the service evaluates with, and where they come from.
pub struct LivePolicies {
    sandbox: Sandbox,
    dir: PathBuf,
    trust: Trust,
    snapshot: RwLock<Arc<Snapshot>>,
    /// Held while a candidate is built and swapped in, so that publishes
    /// and reloads never interleave; it keeps the folder's signature at the
    /// last load.
    changing: parking_lot::Mutex<FolderSignature>,
    publish_wait: Duration,
    max_upload_bytes: u64,
}

impl LivePolicies {
    /// Loads the built-in set with `dir`'s policies over it (creating
    /// `dir`), after finishing or undoing whatever a publish cut short by a
    /// crash left in it.
    ///
    /// # Errors
    /// [`ServiceError::Setup`] when the folder's policies do not load or
    /// validate: a service must not start on rules other than the ones it
    /// was given.
    pub fn open(sandbox: Sandbox, dir: PathBuf, trust: Trust) -> Result<LivePolicies, ServiceError> {
        let setup = |e: &dyn std::fmt::Display| ServiceError::Setup(format!("{}: {e}", dir.display()));
        fs::create_dir_all(&dir).map_err(|e| setup(&e))?;
        for done in swap::recover(&dir).map_err(|e| setup(&e))? {
            tracing::info!("{}: {done}", dir.display());
        }
        let signature = signature(&dir);
        let set = candidate(&sandbox, &dir, &trust, None).map_err(|reason| {
            ServiceError::Setup(format!("the policies in {} are refused: {reason}", dir.display()))
        })?;
        Ok(LivePolicies {
            sandbox,
            dir,
            trust,
            snapshot: RwLock::new(Arc::new(Snapshot::of(set, None))),
            changing: parking_lot::Mutex::new(signature),
            publish_wait: DEFAULT_PUBLISH_WAIT,
            max_upload_bytes: u64::MAX,
        })
    }

    /// These policies with bounds on publishing: how long a publish waits
    /// for another to end before it is refused, and the most bytes an
    /// upload may have and a bundle may unpack to.
    pub fn with_publish_bounds(mut self, wait: Duration, max_upload_bytes: usize) -> LivePolicies {
        self.publish_wait = wait;
        self.max_upload_bytes = max_upload_bytes as u64;
        self
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.snapshot.read().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    fn replace(&self, snapshot: Snapshot) {
        *self.snapshot.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(snapshot);
    }

    /// The set a step should use, now.
    pub fn current(&self) -> Arc<PolicySet> {
        Arc::clone(&self.snapshot().set)
    }

    /// The folder watched for changes.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every active policy, in id order, and why the last reload of the
    /// folder was refused, if it was. Never waits for a publish or reload.
    pub fn list(&self) -> (Vec<PolicyInfo>, Option<String>) {
        let snapshot = self.snapshot();
        (snapshot.listing.clone(), snapshot.last_error.clone())
    }

    /// Publishes a policy under `id`: a bare component (`.wasm` bytes) or a
    /// bundle (a tar archive of its folder, unpacked by
    /// [`unpack::unpack`]). It is loaded and validated with the rest of the
    /// live set, then moved into the live folder (`ID.wasm` or `ID/`, see
    /// `swap`) and the set is swapped.
    ///
    /// # Errors
    /// [`ServiceError::Unprocessable`] naming why it was refused, and
    /// [`ServiceError::Conflict`] when another publish or reload did not end
    /// within the publish wait; the current set keeps serving.
    pub fn publish(&self, id: &str, upload: &[u8]) -> Result<PolicyInfo, ServiceError> {
        let refused = |reason: String| ServiceError::Unprocessable(format!("policy `{id}` is refused: {reason}"));
        // The folder's own trouble, not the upload's; it names no path.
        let failed = |e: std::io::Error| ServiceError::Setup(format!("publishing policy `{id}`: {e}"));
        check_name("the path names the policy", id).map_err(ServiceError::Unprocessable)?;
        if upload.len() as u64 > self.max_upload_bytes {
            return Err(refused(format!(
                "the upload is over the limit of {} bytes",
                self.max_upload_bytes
            )));
        }
        let Some(mut signature) = self.changing.try_lock_for(self.publish_wait) else {
            return Err(ServiceError::Conflict(format!(
                "policy `{id}` is not published: another publish (or a reload of the live folder) is still \
                 under way after {:.1} s (publish_wait_seconds); send it again",
                self.publish_wait.as_secs_f64()
            )));
        };
        let staging = swap::stage(&self.dir).map_err(failed)?;
        let form = if upload.starts_with(b"\0asm") {
            Form::Component
        } else {
            Form::Bundle
        };
        let mut policy = match form {
            Form::Component if self.trust.requires_signature() => {
                return Err(refused(
                    "a bare component has no signature, and this service loads only signed bundles".to_owned(),
                ));
            }
            Form::Component => Policy::load(&self.sandbox, "the upload", upload).map_err(|e| refused(e.to_string()))?,
            Form::Bundle => {
                unpack::unpack(upload, staging.path(), self.max_upload_bytes).map_err(|e| match e {
                    UnpackError::Io(e) => failed(e),
                    refusal => refused(refusal.to_string()),
                })?;
                Bundle::open_as(staging.path(), "")
                    .and_then(|bundle| folder::load_policy(&self.sandbox, &bundle, &self.trust))
                    .map(|(policy, _signer)| policy)
                    .map_err(|e| refused(e.to_string()))?
            }
        };
        if policy.id() != id {
            return Err(refused(format!("it describes itself as `{}`", policy.id())));
        }
        policy.set_origin(live_name(&form.entry(id)));
        let staged_bundle = (form == Form::Bundle).then(|| staging.path());
        let set = candidate(&self.sandbox, &self.dir, &self.trust, Some((policy, staged_bundle))).map_err(refused)?;
        if form == Form::Component {
            fs::write(swap::staged_component(staging.path(), id), upload).map_err(failed)?;
        }
        swap::commit(&self.dir, id, staging, form).map_err(failed)?;
        let info = set
            .policies()
            .iter()
            .find(|p| p.id() == id)
            .map(PolicyInfo::of)
            .expect("the published policy is in the set");
        self.replace(Snapshot::of(set, None));
        *signature = self::signature(&self.dir);
        Ok(info)
    }

    /// Loads the folder again if anything in it changed since the last load.
    /// Returns `Ok(true)` when a new set now serves, `Err` with the reason
    /// when the changed folder was refused (the current set keeps serving).
    /// While a publish is under way it does nothing: the publish loads the
    /// folder itself.
    pub fn reload_if_changed(&self) -> Result<bool, String> {
        let Some(mut signature) = self.changing.try_lock() else {
            return Ok(false);
        };
        // A publish whose last steps failed (a full disk) left its intent:
        // finish it before the folder is read.
        for done in swap::recover(&self.dir).map_err(|e| format!("the live folder: {e}"))? {
            tracing::info!("{}: {done}", self.dir.display());
        }
        let now = self::signature(&self.dir);
        if now == *signature {
            return Ok(false);
        }
        *signature = now;
        match candidate(&self.sandbox, &self.dir, &self.trust, None) {
            Ok(set) => {
                self.replace(Snapshot::of(set, None));
                Ok(true)
            }
            Err(reason) => {
                let current = self.snapshot();
                self.replace(Snapshot {
                    set: Arc::clone(&current.set),
                    listing: current.listing.clone(),
                    last_error: Some(reason.clone()),
                });
                Err(reason)
            }
        }
    }
}

/// The set the live folder `dir` holds now (the built-in set with the
/// folder's policies over it, configured and validated), read without
/// writing to the folder: for a reader beside a running service
/// (`escort audit verify --reevaluate`), which must neither finish nor
/// undo a publish that service is still making.
///
/// # Errors
/// The reason the folder's policies do not load or validate.
pub(crate) fn serving_set(sandbox: &Sandbox, dir: &Path, trust: &Trust) -> Result<PolicySet, String> {
    if !dir.exists() {
        // A service creates its live folder when it starts; none holds
        // nothing over the built-in set.
        return escort_builtin::policies(sandbox).map_err(|e| e.to_string());
    }
    candidate(sandbox, dir, trust, None)
}

/// The built-in set, the folder's components and bundles over it,
/// `published` (a policy, and its staged bundle's folder if it came in one)
/// over those, configured by the folder's `policies.toml`, and validated.
fn candidate(
    sandbox: &Sandbox,
    dir: &Path,
    trust: &Trust,
    published: Option<(Policy, Option<&Path>)>,
) -> Result<PolicySet, String> {
    let id = published.as_ref().map(|(policy, _)| policy.id().to_owned());
    let (policy, staged_bundle) = published.unzip();
    let builtin = escort_builtin::policies(sandbox).map_err(|e| e.to_string())?;
    let set = folder::overlay_live(builtin, sandbox, dir, trust, policy).map_err(|e| e.to_string())?;
    validate(&set).map_err(|reason| format!("the validation run (a short clean transit) failed: {reason}"))?;
    let entries = folder_entries(dir, id.as_deref()).map_err(|e| format!("the live folder: {e}"))?;
    for entry in entries {
        if let FolderEntry::Bundle(name) = entry {
            check_golden(sandbox, &dir.join(&name), &live_name(&format!("{name}/")), trust)?;
        }
    }
    if let Some(staged) = staged_bundle.flatten() {
        check_golden(sandbox, staged, "", trust)?;
    }
    Ok(set)
}

/// Runs a bundle's golden scenarios with its policy alone, configured by
/// the bundle's own `policies.toml` if it has one: the author's own account
/// of what the policy does. `name` names the bundle in errors.
fn check_golden(sandbox: &Sandbox, bundle: &Path, name: &str, trust: &Trust) -> Result<(), String> {
    let alone = Bundle::open_as(bundle, name)
        .map_err(|e| e.to_string())
        .and_then(|bundle| folder::load_bundle(sandbox, &bundle, trust).map_err(|e| e.to_string()))?;
    let id = alone.policies().first().map_or("", |p| p.id()).to_owned();
    for scenario in Scenario::find(&bundle.join(escort_bundle::SCENARIOS)) {
        let name = scenario.name();
        match scenario.test(&alone, false) {
            Outcome::Passed | Outcome::Blessed => {}
            Outcome::NoGolden => {
                return Err(format!(
                    "`{id}`: scenario {name} has no {}",
                    escort_bundle::golden::EXPECTED
                ));
            }
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
