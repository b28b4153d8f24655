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
//! The timeline is behind a lock held only to swap a pointer: a step takes
//! its transit's set and finishes on it, and `GET /v1/policies` lists the
//! versions in force now (the timeline's, which a promotion or a rollback
//! changes without touching the folder), without ever waiting for a
//! publish. Building a candidate is what takes time (a
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
//! Every version the live set ever held is kept (`timeline`, `versions`):
//! a transit is judged by the versions in force when it opened, not by the
//! live set, so a publish or a reload plans the versions it adds first, and
//! is refused when the timeline refuses them (two versions of a policy in
//! force at one instant, a version dated before its publication), before
//! anything changes. The live set is what new transits are judged by once
//! its versions are in force, until a regulator promotes a shadow version
//! or rolls a policy back ([`LivePolicies::reinstate`]); a shadow version
//! is never moved into the folder, and a bundle there that says it is one
//! is refused.
//!
//! The folder is polled rather than watched: it changes rarely, polling
//! works on every filesystem (network and container mounts included), and a
//! publish through the API reloads at once anyway.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::swap::{self, Form};
use super::{ServiceError, validate};
use crate::store::Store;
use crate::timeline::{BY_LIVE_FOLDER, Change, PolicyVersion, Schedule, VersionInfo};
use crate::versions::Versions;
use escort_bundle::folder::{self, FolderEntry, folder_entries, live_name};
use escort_bundle::golden::{Outcome, Scenario};
use escort_bundle::params::{PARAMS_FILE, Params};
use escort_bundle::unpack::{self, UnpackError};
use escort_bundle::{Bundle, Mode, Trust};
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

/// What `GET /v1/policies` answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyListing {
    /// The versions a transit opened now is judged by, in id order.
    pub policies: Vec<PolicyInfo>,
    /// The shadow versions running now, in id order.
    pub shadows: Vec<PolicyInfo>,
    /// Why the last reload of the live folder was refused, if it was.
    pub last_reload_error: Option<String>,
}

/// What the folder looked like at the last load: file names, sizes and
/// modification times.
type FolderSignature = Vec<(String, u64, Option<SystemTime>)>;

/// The policies the service evaluates with, and where they come from.
pub struct LivePolicies {
    sandbox: Sandbox,
    dir: PathBuf,
    trust: Trust,
    /// Why the last reload of the folder was refused, if it was.
    last_error: RwLock<Option<String>>,
    /// Every version ever published, and the sets transits are judged by.
    versions: Versions,
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
    /// crash left in it, and the timeline `store` keeps; what the folder
    /// holds that the timeline does not is published (by
    /// [`BY_LIVE_FOLDER`]).
    ///
    /// # Errors
    /// [`ServiceError::Setup`] when the folder's policies do not load or
    /// validate, or the timeline refuses them: a service must not start on
    /// rules other than the ones it was given.
    pub(crate) fn open(
        sandbox: Sandbox,
        dir: PathBuf,
        trust: Trust,
        store: Arc<std::sync::Mutex<Store>>,
    ) -> Result<LivePolicies, ServiceError> {
        let setup = |e: &dyn std::fmt::Display| ServiceError::Setup(format!("{}: {e}", dir.display()));
        fs::create_dir_all(&dir).map_err(|e| setup(&e))?;
        for done in swap::recover(&dir).map_err(|e| setup(&e))? {
            tracing::info!("{}: {done}", dir.display());
        }
        let signature = signature(&dir);
        let versions = Versions::open(sandbox.clone(), store).map_err(|e| setup(&e))?;
        candidate(&sandbox, &dir, &trust, None)
            .and_then(|set| record_folder(&versions, &sandbox, &dir, &set))
            .map_err(|reason| {
                ServiceError::Setup(format!("the policies in {} are refused: {reason}", dir.display()))
            })?;
        Ok(LivePolicies {
            sandbox,
            dir,
            trust,
            last_error: RwLock::new(None),
            versions,
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

    fn set_last_error(&self, error: Option<String>) {
        *self.last_error.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = error;
    }

    /// The set a transit opened at `opened_at` is judged by now: the
    /// versions in force at its opening (`timeline`).
    ///
    /// # Errors
    /// [`ServiceError::Setup`] when a version does not load from the
    /// component the database keeps (a database changed by hand).
    pub fn judging(&self, opened_at: DateTime<Utc>) -> Result<Arc<PolicySet>, ServiceError> {
        self.versions.judging(opened_at).map_err(ServiceError::Setup)
    }

    /// Every version of the policy `id` in the order they come into force.
    ///
    /// # Errors
    /// [`ServiceError::Unprocessable`] when `id` is no policy id (named as a
    /// publish names it), [`ServiceError::NotFound`] when no version of it
    /// was ever published.
    pub fn versions(&self, id: &str) -> Result<Vec<VersionInfo>, ServiceError> {
        check_name("the path names the policy", id).map_err(ServiceError::Unprocessable)?;
        let listing = self.versions.timeline().listing(id);
        if listing.is_empty() {
            return Err(ServiceError::NotFound(format!(
                "no version of policy `{id}` was ever published"
            )));
        }
        Ok(listing)
    }

    /// The folder watched for changes.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The versions in force now and the shadow versions running, in id
    /// order (within the second after a publication, as it takes effect),
    /// and why the last reload of the folder was refused, if it was. Never
    /// waits for a publish or reload.
    ///
    /// # Errors
    /// [`ServiceError::Setup`] when a version does not load from the
    /// component the database keeps (a database changed by hand).
    pub fn list(&self) -> Result<PolicyListing, ServiceError> {
        // A publication takes effect at the next whole second: from the
        // moment it is answered, the listing shows what it put in force.
        let at = Utc::now().max(self.versions.last_published_at().unwrap_or_default());
        let policies = self.judging(at)?;
        let shadows = self.versions.running_shadows(at).map_err(ServiceError::Setup)?;
        let info = |set: &PolicySet| set.policies().iter().map(PolicyInfo::of).collect::<Vec<_>>();
        Ok(PolicyListing {
            policies: info(&policies),
            shadows: shadows.iter().flat_map(|(_, set)| info(set)).collect(),
            last_reload_error: self
                .last_error
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone(),
        })
    }

    /// The shadow versions running now, each with the set of it alone that
    /// runs it beside the enforced versions.
    pub(crate) fn running_shadows(&self) -> Result<Vec<(PolicyVersion, Arc<PolicySet>)>, ServiceError> {
        self.versions.running_shadows(Utc::now()).map_err(ServiceError::Setup)
    }

    /// Makes a version of the policy `id` the enforced one from
    /// `schedule`'s `effective_from` (`None`: now), as `published_by` asks:
    /// a promotion of its shadow version `seq` (`None`: the last one
    /// published), or a rollback to its earlier enforced version `seq`.
    /// Returns the version added, as the timeline lists it. The live folder
    /// is left as it is: the timeline, not the folder, says what judges.
    ///
    /// # Errors
    /// [`ServiceError::Unprocessable`] naming why it is refused (no such
    /// version, a time before now, two versions in force at one instant),
    /// [`ServiceError::NotFound`] when no version of `id` was ever
    /// published, [`ServiceError::Conflict`] when another publish did not
    /// end within the publish wait.
    pub fn reinstate(
        &self,
        id: &str,
        seq: Option<i64>,
        change: Change,
        schedule: Schedule,
        published_by: &str,
    ) -> Result<VersionInfo, ServiceError> {
        self.versions(id)?;
        let Some(_changing) = self.changing.try_lock_for(self.publish_wait) else {
            return Err(ServiceError::Conflict(format!(
                "policy `{id}` is not changed: a publish (or a reload of the live folder) is still under way after \
                 {:.1} s (publish_wait_seconds); send it again",
                self.publish_wait.as_secs_f64()
            )));
        };
        let seq = match (seq, change) {
            (Some(seq), _) => seq,
            (None, Change::Promotion) => {
                self.versions
                    .timeline()
                    .shadow(id, None)
                    .ok_or_else(|| ServiceError::Unprocessable(format!("`{id}` has no shadow version to promote")))?
                    .seq
            }
            (None, _) => {
                return Err(ServiceError::Unprocessable(format!(
                    "a rollback names the version of `{id}` to roll back to (`seq`, as GET \
                     /v1/policies/{id}/versions lists it)"
                )));
            }
        };
        let added = self
            .versions
            .reinstate(id, seq, change, schedule, published_by)
            .map_err(|reason| ServiceError::Unprocessable(format!("policy `{id}`: {reason}")))?;
        Ok(self.listed(id, added.seq).expect("the version added is listed"))
    }

    /// The shadow version `seq` of the policy `id` (default: the last one
    /// published), as the timeline lists it.
    ///
    /// # Errors
    /// As [`LivePolicies::versions`]; [`ServiceError::Unprocessable`] for a
    /// `seq` that is no shadow version of it, [`ServiceError::NotFound`]
    /// when it has none.
    pub fn shadow_version(&self, id: &str, seq: Option<i64>) -> Result<VersionInfo, ServiceError> {
        self.versions(id)?;
        let shadow = self.versions.timeline().shadow(id, seq).map(|version| version.seq);
        match (shadow, seq) {
            (Some(shadow), _) => Ok(self.listed(id, shadow).expect("a shadow version is listed")),
            (None, Some(seq)) => Err(ServiceError::Unprocessable(format!(
                "`{id}` has no shadow version {seq}"
            ))),
            (None, None) => Err(ServiceError::NotFound(format!("`{id}` has no shadow version"))),
        }
    }

    /// The version `seq` of the policy `id`, as the timeline lists it.
    fn listed(&self, id: &str, seq: i64) -> Option<VersionInfo> {
        self.versions
            .timeline()
            .listing(id)
            .into_iter()
            .find(|info| info.seq == seq)
    }

    /// Publishes a policy under `id`: a bare component (`.wasm` bytes) or a
    /// bundle (a tar archive of its folder, unpacked by
    /// [`unpack::unpack`]). It is loaded and validated with the rest of the
    /// live set, then moved into the live folder (`ID.wasm` or `ID/`, see
    /// `swap`) and the set is swapped.
    ///
    /// Its version goes into the timeline as `published_by` (the token's
    /// holder) publishes it, in force from its manifest's `effective_from`
    /// or from now.
    ///
    /// A shadow version (`mode` says so, or else its manifest's `mode`) is
    /// loaded, configured and validated the same way, but it is not moved
    /// into the live folder: the database keeps its component, and it runs
    /// beside the enforced version until it is promoted
    /// ([`LivePolicies::reinstate`]) or another shadow version replaces it.
    ///
    /// # Errors
    /// [`ServiceError::Unprocessable`] naming why it was refused (the
    /// timeline's refusals name both versions in conflict), and
    /// [`ServiceError::Conflict`] when another publish or reload did not end
    /// within the publish wait; the current set keeps serving.
    pub fn publish(
        &self,
        id: &str,
        upload: &[u8],
        published_by: &str,
        mode: Option<Mode>,
    ) -> Result<PolicyInfo, ServiceError> {
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
        let (mut policy, schedule) = match form {
            Form::Component if self.trust.requires_signature() => {
                return Err(refused(
                    "a bare component has no signature, and this service loads only signed bundles".to_owned(),
                ));
            }
            Form::Component => (
                Policy::load(&self.sandbox, "the upload", upload).map_err(|e| refused(e.to_string()))?,
                Schedule::default(),
            ),
            Form::Bundle => {
                unpack::unpack(upload, staging.path(), self.max_upload_bytes).map_err(|e| match e {
                    UnpackError::Io(e) => failed(e),
                    refusal => refused(refusal.to_string()),
                })?;
                let bundle = Bundle::open_as(staging.path(), "").map_err(|e| refused(e.to_string()))?;
                let (policy, _signer) =
                    folder::load_policy(&self.sandbox, &bundle, &self.trust).map_err(|e| refused(e.to_string()))?;
                (policy, Schedule::of(bundle.manifest()))
            }
        };
        if policy.id() != id {
            return Err(refused(format!("it describes itself as `{}`", policy.id())));
        }
        let schedule = Schedule {
            mode: mode.unwrap_or(schedule.mode),
            ..schedule
        };
        policy.set_origin(match schedule.mode {
            Mode::Enforced => live_name(&form.entry(id)),
            Mode::Shadow => format!("shadow {}", form.entry(id)),
        });
        let staged_bundle = (form == Form::Bundle).then(|| staging.path());
        let set = candidate(&self.sandbox, &self.dir, &self.trust, Some((policy, staged_bundle))).map_err(refused)?;
        let published = set
            .policies()
            .iter()
            .find(|p| p.id() == id)
            .expect("the published policy is in the set");
        if schedule.mode == Mode::Shadow {
            let added = self
                .versions
                .plan_shadow(published, schedule, Utc::now(), published_by)
                .map_err(refused)?;
            let component = match form {
                Form::Component => upload.to_vec(),
                Form::Bundle => escort_bundle::file::read(
                    &staging.path().join(escort_bundle::COMPONENT),
                    self.sandbox.load_limits().max_component_bytes as u64,
                )
                .map_err(failed)?,
            };
            let info = PolicyInfo::of(published);
            self.versions
                .record(added, &set, |_| Ok(component.clone()))
                .map_err(|reason| ServiceError::Setup(format!("policy `{id}`: {reason}")))?;
            return Ok(info);
        }
        let mut schedules = live_schedules(&self.dir, Some(id)).map_err(refused)?;
        schedules.insert(id.to_owned(), schedule);
        let added = self
            .versions
            .plan(
                &set,
                &schedules,
                parameters_schedule(&self.dir).map_err(refused)?,
                Some(id),
                Utc::now(),
                published_by,
            )
            .map_err(refused)?;
        if form == Form::Component {
            fs::write(swap::staged_component(staging.path(), id), upload).map_err(failed)?;
        }
        swap::commit(&self.dir, id, staging, form).map_err(failed)?;
        // The folder first, then the timeline: a crash between the two
        // leaves a folder whose new version the next start publishes, never
        // a timeline naming a version the folder does not hold. Until then,
        // the folder is left looking changed, so the next reload records it.
        self.versions
            .record(added, &set, |policy| component_of(&self.sandbox, &self.dir, policy))
            .map_err(|reason| {
                ServiceError::Setup(format!(
                    "policy `{id}` is in the live folder but its version is not recorded yet ({reason}); the next \
                     reload of the folder records it"
                ))
            })?;
        let info = set
            .policies()
            .iter()
            .find(|p| p.id() == id)
            .map(PolicyInfo::of)
            .expect("the published policy is in the set");
        self.set_last_error(None);
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
        let reloaded = candidate(&self.sandbox, &self.dir, &self.trust, None)
            .and_then(|set| record_folder(&self.versions, &self.sandbox, &self.dir, &set).map(|()| set));
        match reloaded {
            Ok(_) => {
                self.set_last_error(None);
                Ok(true)
            }
            Err(reason) => {
                self.set_last_error(Some(reason.clone()));
                Err(reason)
            }
        }
    }
}

/// Records in the timeline the versions the live set `set`, just read from
/// the live folder `dir`, adds to it, published by the live folder.
fn record_folder(versions: &Versions, sandbox: &Sandbox, dir: &Path, set: &PolicySet) -> Result<(), String> {
    let added = versions.plan(
        set,
        &live_schedules(dir, None)?,
        parameters_schedule(dir)?,
        None,
        Utc::now(),
        BY_LIVE_FOLDER,
    )?;
    versions.record(added, set, |policy| component_of(sandbox, dir, policy))
}

/// The schedule of each bundle in the live folder `dir` but the one of the
/// policy `skip` (its manifest's `effective_from`, `effective_until` and
/// `applies_to`), by policy id. A bundle that says `mode = "shadow"` is
/// refused: the live folder holds what is enforced.
fn live_schedules(dir: &Path, skip: Option<&str>) -> Result<BTreeMap<String, Schedule>, String> {
    let mut schedules = BTreeMap::new();
    for entry in folder_entries(dir, skip).map_err(|e| format!("the live folder: {e}"))? {
        if let FolderEntry::Bundle(name) = entry {
            let bundle =
                Bundle::open_as(&dir.join(&name), &live_name(&format!("{name}/"))).map_err(|e| e.to_string())?;
            if bundle.manifest().mode == Mode::Shadow {
                return Err(format!(
                    "{}: its policy.toml says mode = \"shadow\"; the live folder holds enforced policies only, and a \
                     shadow version is published through the API (PUT /v1/policies/{{id}}?mode=shadow)",
                    live_name(&format!("{name}/"))
                ));
            }
            schedules.insert(bundle.manifest().id.clone(), Schedule::of(bundle.manifest()));
        }
    }
    Ok(schedules)
}

/// The schedule of a change of the live folder `dir`'s parameters: its
/// `policies.toml`'s `effective_from` (already verified with the set).
fn parameters_schedule(dir: &Path) -> Result<Schedule, String> {
    let params = Params::read(
        &dir.join(PARAMS_FILE),
        Path::new(&live_name(PARAMS_FILE)),
        &Trust::default(),
    )
    .map_err(|e| e.to_string())?;
    Ok(Schedule {
        effective_from: params.and_then(|params| params.effective_from),
        ..Schedule::default()
    })
}

/// The bytes of `policy`'s component, from where the live set took it: the
/// built-in set, or the live folder `dir`; checked to be the ones it was
/// loaded from.
fn component_of(sandbox: &Sandbox, dir: &Path, policy: &Policy) -> Result<Vec<u8>, String> {
    let origin = policy.origin();
    let bytes = if let Some(id) = origin.strip_prefix("built-in ") {
        escort_builtin::component(id)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| format!("{origin}: no such built-in policy"))?
    } else if let Some(entry) = origin.strip_prefix("live ") {
        let path = match entry.strip_suffix('/') {
            Some(bundle) => dir.join(bundle).join(escort_bundle::COMPONENT),
            None => dir.join(entry),
        };
        escort_bundle::file::read(&path, sandbox.load_limits().max_component_bytes as u64)
            .map_err(|e| format!("{origin}: {e}"))?
    } else {
        return Err(format!("{origin}: not a policy of the live set"));
    };
    if escort_engine::content_hash(&bytes) != policy.content_hash() {
        return Err(format!("{origin}: its component changed since it was loaded"));
    }
    Ok(bytes)
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
            Outcome::SplitDiffers { split, diff } => {
                return Err(format!(
                    "`{id}` answers scenario {name} differently fed in batches split {split}: its state does not \
                     carry everything from one batch to the next\n{diff}"
                ));
            }
        }
    }
    Ok(())
}

/// Most files the folder's signature looks at: far more than a live
/// folder holds (a bundle holds at most 1,000), so that a poll of a folder
/// someone filled with files costs a bounded walk.
const MAX_SIGNED_FILES: usize = 10_000;

/// The folder's files, below it too (a bundle's `policy.toml` edited in
/// place changes neither the folder nor the bundle's folder), by path,
/// with their sizes and modification times. Links are not followed.
fn signature(dir: &Path) -> FolderSignature {
    let mut files = FolderSignature::new();
    let mut folders = vec![(dir.to_owned(), String::new())];
    while let Some((folder, prefix)) = folders.pop() {
        for entry in fs::read_dir(&folder).into_iter().flatten().flatten() {
            if files.len() >= MAX_SIGNED_FILES {
                break;
            }
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if prefix.is_empty() && name.starts_with('.') {
                continue;
            }
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            let path = format!("{prefix}{name}");
            if meta.is_dir() {
                folders.push((entry.path(), format!("{path}/")));
            }
            files.push((path, meta.len(), meta.modified().ok()));
        }
    }
    files.sort();
    files
}
