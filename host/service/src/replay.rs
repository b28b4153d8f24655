//! The exact backtest (`escort replay`): stored transits evaluated under a
//! base policy set and under a candidate set laid over it, and the decision
//! diff between the two, transit by transit.
//!
//! [`Overlay`] holds the two sets; [`Overlay::replay`] runs them over a
//! [`Source`] (a service's database, read only, or scenario folders) and
//! returns a [`Replay`]: per transit whose decision changes, the verdict
//! before and after and the findings added, removed or changed, with a
//! summary per policy and per code.
//!
//! - **The base of a stored transit is what judged it**
//!   ([`Overlay::over_judged`]): the versions its stored policy states
//!   name, which the service's database keeps (`timeline`), since a
//!   transit is judged by the versions in force when it opened, not by the
//!   live set. Scenarios are replayed over one base set ([`Overlay::new`]).
//! - **Exact, not sampled.** Policies are deterministic and a policy's
//!   findings depend on the transit, its fixes and the clock, never on the
//!   other policies of the set. So "before" is the base set's report (what
//!   `escort check` gives), and "after" is that report with the findings of
//!   the policies the candidate replaces taken out and the findings of the
//!   candidate's changed policies put in: only the policies that differ
//!   (another component, other parameters or other limits) are evaluated a
//!   second time, and the others' findings are shared.
//! - **A finding is matched by its key**, the key of its episode (a hash
//!   of the transit, the policy, the code and `from`, the start of the
//!   episode). Matched findings that differ in severity, status, `to`,
//!   position, message or evidence are *changed*; a different `policy_version` alone
//!   is not a change (every finding of a new version would be one). Several
//!   findings with one key are paired in the order of their `to` and
//!   message; what is left over is added or removed.
//! - **What the service stored is what the base decides.** Policies are
//!   deterministic and streaming equals batch, so when the policies that
//!   last evaluated a stored transit are exactly its base (always, over
//!   what judged it; for one base set, the same components with the same
//!   parameters, as its stored policy states' fingerprints say), its stored
//!   findings, final and open, are the base's report, and only the
//!   candidate's changed policies are evaluated. Otherwise (a transit only
//!   admitted, too: admission calls no `observe`), or with
//!   [`Options::reevaluate`], the base is evaluated too. `escort audit verify --reevaluate` checks that premise on a
//!   database: it evaluates every such transit again and compares.
//! - **The clock of a stored transit** is that of its last stored
//!   evaluation, and never before its latest fix: a closed transit is
//!   judged as it was closed, an open one as the service last evaluated it.
//!   A scenario's clock is its `now.txt`, or its latest fix, as `escort
//!   check` takes it.
//! - **Read only, and safe beside a running service.** The database is
//!   opened read only; each transit's record, declaration and fixes are
//!   read in one snapshot, by one connection per worker, so a service that
//!   writes meanwhile neither waits nor is seen half-written. Transits are
//!   read a page of ids at a time and one transit's fixes per worker at a
//!   time, and only the transits whose decision changes are kept: memory
//!   grows with the diff, not with the database.
//! - **Parallel, and deterministic.** Transits are evaluated on every core;
//!   the diff is sorted by transit id (then scenario folder), so the same
//!   inputs print the same bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::store::{ListFilter, Store, StoreError, TransitRecord};
use crate::versions::Versions;
use escort_bundle::golden::Scenario;
use escort_engine::{
    Finding, Fix, Policy, PolicySet, PolicyState, PreparedTransit, Sandbox, Telemetry, Transit, Verdict, check,
    format_time,
};

/// Transit ids read from the database's list at a time.
const PAGE: usize = 1_000;

/// Most `--transit` ids one replay takes.
pub const MAX_NAMED_TRANSITS: usize = 10_000;

/// Where the transits to replay come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A service's data folder: its `escort.db`, opened read only.
    Data(PathBuf),
    /// Scenario folders, as `escort test` reads them: each a scenario
    /// (`transit.json`, fixes, optionally `now.txt`) or a folder of them.
    Scenarios(Vec<PathBuf>),
}

/// Which transits to replay. Every bound given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Only transits opened at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only transits opened before this time.
    pub until: Option<DateTime<Utc>>,
    /// Only these transits (at most [`MAX_NAMED_TRANSITS`]); each must exist.
    pub transits: Vec<String>,
}

/// How a replay runs.
#[derive(Default)]
pub struct Options<'p> {
    /// Worker threads; 0 for one per core.
    pub threads: usize,
    /// Evaluate every stored transit under the whole base set, even when
    /// the service stored what that set decides (see the module's doc).
    pub reevaluate: bool,
    /// Called after each transit with the totals so far (a progress bar).
    pub progress: Option<&'p (dyn Fn(Progress) + Sync)>,
}

/// How far a replay has come.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Transits replayed.
    pub transits: u64,
    /// Their fixes.
    pub fixes: u64,
}

/// Why a replay could not run. Each is a mistake in what it was given, or
/// an unreadable source; none is a difference in findings.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// `since` is not before `until`, or too many transits are named.
    #[error("{0}")]
    Selection(String),
    /// A transit named in the selection is not in the source.
    #[error("no transit `{0}` in what is replayed")]
    UnknownTransit(String),
    /// A scenario folder named is missing or holds no scenario.
    #[error("{}: no scenarios (folders with transit.json)", .0.display())]
    NoScenarios(PathBuf),
    /// A scenario could not be read or evaluated.
    #[error("scenario {}: {reason}", dir.display())]
    Scenario {
        /// The scenario's folder.
        dir: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A stored transit could not be read or evaluated.
    #[error("transit `{transit}`: {reason}")]
    Transit {
        /// The transit's id.
        transit: String,
        /// What is wrong.
        reason: String,
    },
    /// The database could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A policy as a replay names it: its version and what identifies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyVersion {
    /// Its version, from its `describe()`.
    pub version: String,
    /// SHA-256 of its component, hex.
    pub content_hash: String,
    /// SHA-256 of its component and parameter values, hex.
    pub fingerprint: String,
}

/// A policy the candidate changes: replaced (`base` is the version it
/// replaces) or added (`base` is `None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyChange {
    /// The policy's id.
    pub id: String,
    /// The base's version, if the base has the policy.
    pub base: Option<PolicyVersion>,
    /// The candidate's version.
    pub candidate: PolicyVersion,
}

/// A finding whose episode (its key: policy, code, `from`) is in both reports, and
/// which differs in substance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangedFinding {
    /// As the base set gives it.
    pub before: Finding,
    /// As the candidate gives it.
    pub after: Finding,
}

/// The decision diff of one transit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransitDiff {
    /// The transit's id.
    pub transit: String,
    /// The scenario folder it came from, when replaying scenarios.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scenario: Option<PathBuf>,
    /// The verdict under the base set.
    pub verdict_before: Verdict,
    /// The verdict under the candidate laid over it.
    pub verdict_after: Verdict,
    /// Findings only the candidate gives, in report order.
    pub added: Vec<Finding>,
    /// Findings only the base gives, in report order.
    pub removed: Vec<Finding>,
    /// Findings both give, differently, in the report order of `after`.
    pub changed: Vec<ChangedFinding>,
}

/// Counts of one policy's or one code's changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Findings added.
    pub added: u64,
    /// Findings removed.
    pub removed: u64,
    /// Findings changed.
    pub changed: u64,
    /// Transits with at least one of those.
    pub transits: u64,
}

/// What a replay found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Replay {
    /// The policies the candidate changes, by id.
    pub policies: Vec<PolicyChange>,
    /// Transits replayed.
    pub transits: u64,
    /// Their fixes.
    pub fixes: u64,
    /// Stored transits whose base findings were the ones the service
    /// stored, not evaluated again.
    pub base_as_stored: u64,
    /// Transits whose verdict changes.
    pub verdicts_changed: u64,
    /// The transits whose findings change, by id (then scenario folder).
    pub diffs: Vec<TransitDiff>,
    /// Changes per policy id.
    pub by_policy: BTreeMap<String, Tally>,
    /// Changes per finding code.
    pub by_code: BTreeMap<String, Tally>,
}

/// The base set and the candidate laid over it, ready to replay.
///
/// # Examples
/// ```no_run
/// use escort_bundle::{Trust, folder};
/// use escort_engine::Sandbox;
/// use escort_service::replay::{Options, Overlay, Selection, Source};
///
/// let sandbox = Sandbox::new()?;
/// let base = escort_builtin::policies(&sandbox)?;
/// let candidate = folder::load_dir(&sandbox, "candidate/".as_ref(), &Trust::default())?;
/// let overlay = Overlay::new(base, candidate);
/// let replay = overlay.replay(
///     &Source::Data("escort-data".into()),
///     &Selection::default(),
///     &Options::default(),
/// )?;
/// print!("{}", replay.to_text());
/// std::process::exit(if replay.has_changes() { 1 } else { 0 });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Overlay {
    base: Base,
    /// The whole candidate.
    candidate: PolicySet,
    /// With one base set: the candidate's policies that differ from it.
    changed: Arc<PolicySet>,
    changes: Vec<PolicyChange>,
}

/// What the candidate is laid over.
enum Base {
    /// One set, for every transit.
    Set(Arc<PolicySet>),
    /// Each stored transit's own: the versions that last judged it, which
    /// the service's database keeps (`timeline`), loaded in this sandbox.
    Judged(Sandbox),
}

impl Overlay {
    /// The candidate's policies over `base`: each replaces the base's
    /// policy with its id, or is added. A candidate policy identical to the
    /// base's (component, parameters and limits) changes nothing.
    pub fn new(base: PolicySet, candidate: PolicySet) -> Overlay {
        let (changed, changes) = differing(&base, &candidate);
        Overlay {
            base: Base::Set(Arc::new(base)),
            candidate,
            changed: Arc::new(changed),
            changes,
        }
    }

    /// The candidate's policies over what judged each stored transit: the
    /// versions its stored policy states name, which the service's database
    /// keeps, loaded in `sandbox`. This is how a service's transits are
    /// replayed ([`Source::Data`]): each is judged by the versions in force
    /// when it opened, so "before" is what it was judged by. The
    /// [`PolicyChange`]s name no `base` version: each transit has its own.
    pub fn over_judged(sandbox: Sandbox, candidate: PolicySet) -> Overlay {
        let (changed, changes) = differing(&PolicySet::default(), &candidate);
        Overlay {
            base: Base::Judged(sandbox),
            candidate,
            changed: Arc::new(changed),
            changes,
        }
    }

    /// The policies the candidate changes, by id.
    pub fn changes(&self) -> &[PolicyChange] {
        &self.changes
    }

    /// Replays the transits of `source` that `selection` picks.
    ///
    /// # Errors
    /// When the selection is inconsistent or names a transit the source
    /// does not hold, a scenario or stored transit cannot be read or
    /// evaluated, or the database cannot be read.
    pub fn replay(&self, source: &Source, selection: &Selection, options: &Options<'_>) -> Result<Replay, ReplayError> {
        check_selection(selection)?;
        let threads = match options.threads {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            threads => threads,
        };
        let run = Run {
            overlay: self,
            selection,
            reevaluate: options.reevaluate,
            progress: options.progress,
            done: Progress::default().into(),
            as_stored: 0.into(),
            failed: AtomicBool::new(false),
        };
        let diffs = match source {
            Source::Data(dir) => run.data(&dir.join("escort.db"), threads)?,
            Source::Scenarios(dirs) => run.scenarios(dirs, threads)?,
        };
        let done = run.done.into_inner().unwrap_or_else(PoisonError::into_inner);
        Ok(self.summed(diffs, done, run.as_stored.into_inner()))
    }

    fn summed(&self, mut diffs: Vec<TransitDiff>, done: Progress, base_as_stored: u64) -> Replay {
        diffs.sort_by(|a, b| (&a.transit, &a.scenario).cmp(&(&b.transit, &b.scenario)));
        let (by_policy, by_code) = tallies(&diffs);
        Replay {
            policies: self.changes.clone(),
            transits: done.transits,
            fixes: done.fixes,
            base_as_stored,
            verdicts_changed: diffs.iter().filter(|d| d.verdict_before != d.verdict_after).count() as u64,
            diffs,
            by_policy,
            by_code,
        }
    }

    /// The diff of one transit from the base set's findings (`before`) and
    /// the findings (`changed`) of the candidate's policies that differ from
    /// the base's (`policies`); `None` when nothing changes.
    fn diff(
        transit: &str,
        scenario: Option<&Path>,
        before: Vec<Finding>,
        policies: &PolicySet,
        changed: Vec<Finding>,
    ) -> Option<TransitDiff> {
        let changed_ids: BTreeSet<&str> = policies.policies().iter().map(|p| p.id()).collect();
        let mut after: Vec<Finding> = before
            .iter()
            .filter(|f| !changed_ids.contains(f.policy.as_str()))
            .cloned()
            .chain(changed.into_iter().filter(|f| changed_ids.contains(f.policy.as_str())))
            .collect();
        after.sort_by(Finding::report_order);
        findings_diff(transit, scenario, before, after)
    }
}

/// The policies of `candidate` that differ from `base`'s of the same id
/// (component, parameters or limits), or that `base` has not; and what each
/// changes.
fn differing(base: &PolicySet, candidate: &PolicySet) -> (PolicySet, Vec<PolicyChange>) {
    let version = |policy: &Policy| PolicyVersion {
        version: policy.version().to_owned(),
        content_hash: policy.content_hash().to_owned(),
        fingerprint: policy.fingerprint().to_owned(),
    };
    let mut changes = Vec::new();
    let mut changed = Vec::new();
    for policy in candidate.policies() {
        let same = base.policies().iter().find(|p| p.id() == policy.id());
        if same.is_some_and(|same| same.fingerprint() == policy.fingerprint() && same.limits() == policy.limits()) {
            continue;
        }
        changes.push(PolicyChange {
            id: policy.id().to_owned(),
            base: same.map(version),
            candidate: version(policy),
        });
        changed.push(policy.clone());
    }
    let changed = PolicySet::new(changed).expect("a policy set's ids are unique");
    (changed, changes)
}

/// The diff between two reports' findings of one transit; `None` when they
/// hold the same findings (a different `policy_version` alone is no change).
///
/// # Examples
/// ```
/// use escort_service::replay::findings_diff;
///
/// assert_eq!(findings_diff("KZ-2021-000123", None, Vec::new(), Vec::new()), None);
/// ```
pub fn findings_diff(
    transit: &str,
    scenario: Option<&Path>,
    before: Vec<Finding>,
    after: Vec<Finding>,
) -> Option<TransitDiff> {
    // Matched by episode key, which names the transit, the policy, the code
    // and `from` and leaves the policy's version out.
    let mut episodes: BTreeMap<&str, (Vec<&Finding>, Vec<&Finding>)> = BTreeMap::new();
    for finding in &before {
        episodes.entry(&finding.key).or_default().0.push(finding);
    }
    for finding in &after {
        episodes.entry(&finding.key).or_default().1.push(finding);
    }
    let mut diff = TransitDiff {
        transit: transit.to_owned(),
        scenario: scenario.map(Path::to_owned),
        verdict_before: Verdict::of(&before),
        verdict_after: Verdict::of(&after),
        added: Vec::new(),
        removed: Vec::new(),
        changed: Vec::new(),
    };
    for (_, (mut was, mut is)) in episodes {
        was.sort_by(|a, b| a.report_order(b));
        is.sort_by(|a, b| a.report_order(b));
        for pair in was.iter().zip(&is) {
            if !same_substance(pair.0, pair.1) {
                diff.changed.push(ChangedFinding {
                    before: (*pair.0).clone(),
                    after: (*pair.1).clone(),
                });
            }
        }
        diff.removed.extend(was.iter().skip(is.len()).map(|f| (*f).clone()));
        diff.added.extend(is.iter().skip(was.len()).map(|f| (*f).clone()));
    }
    diff.added.sort_by(Finding::report_order);
    diff.removed.sort_by(Finding::report_order);
    diff.changed.sort_by(|a, b| a.after.report_order(&b.after));
    let unchanged = diff.added.is_empty() && diff.removed.is_empty() && diff.changed.is_empty();
    (!unchanged || diff.verdict_before != diff.verdict_after).then_some(diff)
}

/// The changes `diffs` hold, counted per policy id and per finding code.
pub(crate) fn tallies(diffs: &[TransitDiff]) -> (BTreeMap<String, Tally>, BTreeMap<String, Tally>) {
    let mut by_policy: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_code: BTreeMap<String, Tally> = BTreeMap::new();
    for diff in diffs {
        let mut touched: BTreeSet<(bool, String)> = BTreeSet::new();
        let mut count = |finding: &Finding, kind: fn(&mut Tally)| {
            kind(by_policy.entry(finding.policy.clone()).or_default());
            kind(by_code.entry(finding.code.clone()).or_default());
            touched.insert((true, finding.policy.clone()));
            touched.insert((false, finding.code.clone()));
        };
        diff.added.iter().for_each(|f| count(f, |t| t.added += 1));
        diff.removed.iter().for_each(|f| count(f, |t| t.removed += 1));
        diff.changed.iter().for_each(|c| count(&c.after, |t| t.changed += 1));
        for (policy, name) in touched {
            let tallies = if policy { &mut by_policy } else { &mut by_code };
            if let Some(tally) = tallies.get_mut(&name) {
                tally.transits += 1;
            }
        }
    }
    (by_policy, by_code)
}

/// Whether two findings of one episode say the same, their policies'
/// versions aside.
fn same_substance(a: &Finding, b: &Finding) -> bool {
    a.severity == b.severity
        && a.status == b.status
        && a.to == b.to
        && a.lat == b.lat
        && a.lon == b.lon
        && a.message == b.message
        && a.evidence == b.evidence
}

fn check_selection(selection: &Selection) -> Result<(), ReplayError> {
    if let (Some(since), Some(until)) = (selection.since, selection.until)
        && since >= until
    {
        return Err(ReplayError::Selection(format!(
            "--since ({}) must be before --until ({})",
            format_time(&since),
            format_time(&until)
        )));
    }
    if selection.transits.len() > MAX_NAMED_TRANSITS {
        return Err(ReplayError::Selection(format!(
            "{} transits named; at most {MAX_NAMED_TRANSITS} may be",
            selection.transits.len()
        )));
    }
    Ok(())
}

/// One replay under way: what its workers share.
struct Run<'a> {
    overlay: &'a Overlay,
    selection: &'a Selection,
    reevaluate: bool,
    progress: Option<&'a (dyn Fn(Progress) + Sync)>,
    done: Mutex<Progress>,
    as_stored: std::sync::atomic::AtomicU64,
    /// Set by the first worker that fails, so the others stop.
    failed: AtomicBool,
}

impl Run<'_> {
    fn picks(&self, id: &str, opened_at: DateTime<Utc>) -> bool {
        self.selection.since.is_none_or(|since| opened_at >= since)
            && self.selection.until.is_none_or(|until| opened_at < until)
            && (self.selection.transits.is_empty() || self.selection.transits.iter().any(|t| t == id))
    }

    fn count(&self, fixes: usize) {
        let mut done = self.done.lock().unwrap_or_else(PoisonError::into_inner);
        done.transits += 1;
        done.fixes += fixes as u64;
        let now = *done;
        drop(done);
        if let Some(progress) = self.progress {
            progress(now);
        }
    }

    /// Runs `work` on each item `produce` sends, on `threads` workers, each
    /// with its own `context`; the diffs found, or the first error.
    fn parallel<T: Send, C>(
        &self,
        threads: usize,
        context: impl Fn() -> Result<C, ReplayError> + Sync,
        produce: impl FnOnce(&dyn Fn(T) -> bool) -> Result<(), ReplayError>,
        work: impl Fn(&C, T) -> Result<Option<TransitDiff>, ReplayError> + Sync,
    ) -> Result<Vec<TransitDiff>, ReplayError> {
        let (sender, receiver) = sync_channel::<T>(threads * 4);
        let receiver = Mutex::new(receiver);
        let found = Mutex::new(Vec::new());
        let first_error: Mutex<Option<ReplayError>> = Mutex::new(None);
        let fail = |error: ReplayError| {
            self.failed.store(true, Ordering::Relaxed);
            first_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get_or_insert(error);
        };
        let produced = std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    // A worker that fails still takes what is sent, so that
                    // the sender never waits on a full channel.
                    let context = context().map_err(fail).ok();
                    loop {
                        let item = receiver.lock().unwrap_or_else(PoisonError::into_inner).recv();
                        let Ok(item) = item else { return };
                        let Some(context) = context.as_ref().filter(|_| !self.failed.load(Ordering::Relaxed)) else {
                            continue;
                        };
                        match work(context, item) {
                            Ok(Some(diff)) => found.lock().unwrap_or_else(PoisonError::into_inner).push(diff),
                            Ok(None) => {}
                            Err(e) => fail(e),
                        }
                    }
                });
            }
            let send = |item: T| !self.failed.load(Ordering::Relaxed) && sender.send(item).is_ok();
            let produced = produce(&send);
            drop(sender);
            produced
        });
        if let Some(error) = first_error.into_inner().unwrap_or_else(PoisonError::into_inner) {
            return Err(error);
        }
        produced?;
        Ok(found.into_inner().unwrap_or_else(PoisonError::into_inner))
    }

    fn data(&self, path: &Path, threads: usize) -> Result<Vec<TransitDiff>, ReplayError> {
        let lister = Store::open_verified_reader(path)?;
        let versions = match &self.overlay.base {
            Base::Judged(sandbox) => Some(Versions::open(
                sandbox.clone(),
                Arc::new(Mutex::new(Store::open_reader(path)?)),
            )?),
            Base::Set(_) => None,
        };
        let mut named: Vec<&String> = self.selection.transits.iter().collect();
        named.sort();
        named.dedup();
        for id in &named {
            if lister.transit(id)?.is_none() {
                return Err(ReplayError::UnknownTransit((*id).clone()));
            }
        }
        self.parallel(
            threads,
            || Ok(Store::open_verified_reader(path)?),
            |send| {
                if !named.is_empty() {
                    for id in named {
                        if !send(id.clone()) {
                            break;
                        }
                    }
                    return Ok(());
                }
                let mut after = None;
                loop {
                    let page = lister.list(&ListFilter {
                        after: after.take(),
                        limit: PAGE,
                        ..ListFilter::default()
                    })?;
                    let Some(last) = page.last() else { return Ok(()) };
                    after = Some(last.id.clone());
                    for summary in page {
                        if !send(summary.id) {
                            return Ok(());
                        }
                    }
                }
            },
            |store, id| self.stored_transit(store, versions.as_ref(), &id),
        )
    }

    /// Replays one stored transit, read in one snapshot, over its base: the
    /// overlay's set, or what judged it (the `versions` its stored policy
    /// states name).
    fn stored_transit(
        &self,
        store: &Store,
        versions: Option<&Versions>,
        id: &str,
    ) -> Result<Option<TransitDiff>, ReplayError> {
        let failed = |reason: String| ReplayError::Transit {
            transit: id.to_owned(),
            reason,
        };
        let read = store.in_snapshot(|store| -> Result<_, ReplayError> {
            let Some(record) = store.transit(id)? else {
                return Ok(None);
            };
            if !self.picks(id, record.opened_at) {
                return Ok(None);
            }
            let declaration = store.declaration(id)?.unwrap_or_default();
            let states = store.policy_states(id)?;
            let decided = match self.reevaluate {
                true => None,
                false => self.stored_decision(store, &record, &states)?,
            };
            Ok(Some((record, declaration, store.fixes(id)?, states, decided)))
        })?;
        let Some((record, declaration, fixes, states, decided)) = read else {
            return Ok(None);
        };
        let (base, changed) = match (&self.overlay.base, versions) {
            (Base::Set(base), _) => (Arc::clone(base), Arc::clone(&self.overlay.changed)),
            (Base::Judged(_), Some(versions)) => {
                let base = versions.set_of(&states).map_err(failed)?;
                let changed = Arc::new(differing(&base, &self.overlay.candidate).0);
                (base, changed)
            }
            (Base::Judged(_), None) => unreachable!("a judged base is replayed with the database's versions"),
        };
        let transit = Transit::from_json(&declaration)
            .map_err(|e| failed(format!("its declaration as stored does not read: {e}")))?;
        let transit = PreparedTransit::new(transit);
        let now = record
            .last_fix_at
            .map_or(record.evaluated_at, |last| last.max(record.evaluated_at));
        let evaluate = |policies: &PolicySet| -> Result<Vec<Finding>, ReplayError> {
            let mut evaluation = policies.open_prepared(&transit);
            evaluation
                .observe(&fixes, now)
                .map_err(|e| failed(format!("evaluating it failed: {e}")))?;
            Ok(evaluation.findings())
        };
        let before = match decided {
            Some(findings) => {
                self.as_stored.fetch_add(1, Ordering::Relaxed);
                findings
            }
            None => evaluate(&base)?,
        };
        let changed_findings = if changed.policies().is_empty() {
            Vec::new()
        } else {
            evaluate(&changed)?
        };
        self.count(fixes.len());
        Ok(Overlay::diff(id, None, before, &changed, changed_findings))
    }

    /// The findings the service stored for the transit of `record`, final and open,
    /// in report order, when the policies that last evaluated it (its
    /// stored `states` name them) are exactly the base: always for a base
    /// of what judged each transit; for one base set, when the ids and each
    /// one's component and parameters are the same. `None` otherwise.
    ///
    /// A transit only admitted is evaluated: admission calls no policy's
    /// `observe`, and `escort check` does, even with no fix.
    fn stored_decision(
        &self,
        store: &Store,
        record: &TransitRecord,
        states: &[PolicyState],
    ) -> Result<Option<Vec<Finding>>, StoreError> {
        if record.last_fix_at.is_none() && record.evaluated_at <= record.opened_at {
            return Ok(None);
        }
        let same = match &self.overlay.base {
            Base::Judged(_) => true,
            Base::Set(base) => {
                states.len() == base.policies().len()
                    && states
                        .iter()
                        .zip(base.policies())
                        .all(|(state, policy)| state.policy == policy.id() && state.fingerprint == policy.fingerprint())
            }
        };
        if !same {
            return Ok(None);
        }
        let mut findings = store.findings(&record.id)?;
        findings.extend(states.iter().flat_map(|state| state.open.clone()));
        findings.sort_by(Finding::report_order);
        Ok(Some(findings))
    }

    fn scenarios(&self, dirs: &[PathBuf], threads: usize) -> Result<Vec<TransitDiff>, ReplayError> {
        let Base::Set(base) = &self.overlay.base else {
            return Err(ReplayError::Selection(
                "scenarios were judged by no stored versions: replay them over a base set".to_owned(),
            ));
        };
        let mut scenarios = Vec::new();
        for dir in dirs {
            let found = if dir.is_dir() { Scenario::find(dir) } else { Vec::new() };
            if found.is_empty() {
                return Err(ReplayError::NoScenarios(dir.clone()));
            }
            scenarios.extend(found);
        }
        let seen: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
        let diffs = self.parallel(
            threads,
            || Ok(()),
            |send| {
                for scenario in scenarios {
                    if !send(scenario) {
                        break;
                    }
                }
                Ok(())
            },
            |_, scenario: Scenario| {
                let failed = |reason: String| ReplayError::Scenario {
                    dir: scenario.dir.clone(),
                    reason,
                };
                let (transit, telemetry, now) = scenario.inputs().map_err(failed)?;
                if !self.picks(&transit.id, transit.opened_at) {
                    return Ok(None);
                }
                seen.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(transit.id.clone());
                let report = |policies: &PolicySet| -> Result<Vec<Finding>, ReplayError> {
                    Ok(check(policies, &transit, &telemetry, now)
                        .map_err(|e| failed(e.to_string()))?
                        .findings)
                };
                let before = report(base)?;
                let changed = if self.overlay.changed.policies().is_empty() {
                    Vec::new()
                } else {
                    report(&self.overlay.changed)?
                };
                self.count(accepted(&telemetry, transit.opened_at));
                Ok(Overlay::diff(
                    &transit.id,
                    Some(scenario.dir.as_path()),
                    before,
                    &self.overlay.changed,
                    changed,
                ))
            },
        )?;
        let seen = seen.into_inner().unwrap_or_else(PoisonError::into_inner);
        if let Some(missing) = self.selection.transits.iter().find(|id| !seen.contains(*id)) {
            return Err(ReplayError::UnknownTransit(missing.clone()));
        }
        Ok(diffs)
    }
}

/// The fixes `check` evaluates: those not before the opening.
fn accepted(telemetry: &Telemetry, opened_at: DateTime<Utc>) -> usize {
    telemetry.fixes.iter().filter(|fix: &&Fix| fix.at >= opened_at).count()
}

impl Replay {
    /// Whether any transit's findings or verdict change.
    pub fn has_changes(&self) -> bool {
        !self.diffs.is_empty()
    }

    /// The replay as JSON (`docs/reference.md` § escort replay), one object
    /// and a newline.
    pub fn to_json(&self) -> String {
        let mut json = serde_json::to_string_pretty(self).expect("a replay always serializes");
        json.push('\n');
        json
    }

    /// The replay for a person to read.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        let short = |hash: &str| hash.chars().take(12).collect::<String>();
        if self.policies.is_empty() {
            text.push_str("the candidate changes no policy\n");
        }
        for change in &self.policies {
            let candidate = &change.candidate;
            match &change.base {
                Some(base) => text.push_str(&format!(
                    "policy {}: {} ({}) -> {} ({})\n",
                    change.id,
                    base.version,
                    short(&base.fingerprint),
                    candidate.version,
                    short(&candidate.fingerprint)
                )),
                None => text.push_str(&format!(
                    "policy {}: added, {} ({})\n",
                    change.id,
                    candidate.version,
                    short(&candidate.fingerprint)
                )),
            }
        }
        text.push_str(&format!(
            "{} transits, {} fixes replayed ({} judged by the base as stored): {} with changed findings, {} with a changed verdict\n",
            self.transits,
            self.fixes,
            self.base_as_stored,
            self.diffs.len(),
            self.verdicts_changed
        ));
        for diff in &self.diffs {
            text.push('\n');
            text.push_str(&diff.transit);
            if let Some(scenario) = &diff.scenario {
                text.push_str(&format!(" ({})", scenario.display()));
            }
            text.push_str(&format!(
                ": verdict {} -> {}\n",
                diff.verdict_before.as_str(),
                diff.verdict_after.as_str()
            ));
            for finding in &diff.added {
                text.push_str(&format!("  + {}\n", described(finding)));
            }
            for finding in &diff.removed {
                text.push_str(&format!("  - {}\n", described(finding)));
            }
            for change in &diff.changed {
                text.push_str(&format!(
                    "  ~ {}\n    was {}\n",
                    described(&change.after),
                    described(&change.before)
                ));
            }
        }
        for (title, tallies) in [("by policy", &self.by_policy), ("by code", &self.by_code)] {
            if tallies.is_empty() {
                continue;
            }
            text.push_str(&format!("\n{title}:\n"));
            for (name, tally) in tallies {
                text.push_str(&format!(
                    "  {name}: {} added, {} removed, {} changed, in {} transit{}\n",
                    tally.added,
                    tally.removed,
                    tally.changed,
                    tally.transits,
                    if tally.transits == 1 { "" } else { "s" }
                ));
            }
        }
        text
    }
}

fn described(finding: &Finding) -> String {
    format!(
        "{} {} ({}) {} - {}: {}",
        finding.policy,
        finding.code,
        finding.severity.as_str(),
        format_time(&finding.from),
        format_time(&finding.to),
        finding.message
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use escort_engine::Severity;

    fn finding(code: &str, severity: Severity, from_min: i64, to_min: i64) -> Finding {
        let at = |minutes: i64| {
            DateTime::parse_from_rfc3339("2021-05-16T06:00:00Z")
                .expect("a time")
                .to_utc()
                + chrono::Duration::minutes(minutes)
        };
        Finding {
            key: Finding::episode_key("KZ-2021-000123", "speed", code, &at(from_min)),
            status: escort_engine::FindingStatus::Final,
            policy: "speed".to_owned(),
            policy_version: "0.1.0".to_owned(),
            code: code.to_owned(),
            severity,
            message: "a message".to_owned(),
            from: at(from_min),
            to: at(to_min),
            lat: None,
            lon: None,
            evidence: BTreeMap::new(),
        }
    }

    #[test]
    fn findings_are_matched_by_policy_code_and_start() {
        let kept = finding("speed.jump", Severity::Warning, 0, 1);
        let grown = finding("speed.excessive", Severity::Warning, 10, 12);
        let longer = finding("speed.excessive", Severity::Violation, 10, 20);
        let dropped = finding("speed.jump", Severity::Warning, 30, 31);
        let new = finding("speed.jump", Severity::Warning, 40, 41);
        let diff = findings_diff(
            "T",
            None,
            vec![kept.clone(), grown.clone(), dropped.clone()],
            vec![kept, longer.clone(), new.clone()],
        )
        .expect("something changed");
        assert_eq!(diff.added, vec![new]);
        assert_eq!(diff.removed, vec![dropped]);
        assert_eq!(
            diff.changed,
            vec![ChangedFinding {
                before: grown,
                after: longer
            }]
        );
        assert_eq!(
            (diff.verdict_before, diff.verdict_after),
            (Verdict::Review, Verdict::Violation)
        );
    }

    #[test]
    fn another_version_that_decides_alike_changes_nothing() {
        let before = finding("speed.jump", Severity::Warning, 0, 1);
        let mut after = before.clone();
        after.policy_version = "0.2.0".to_owned();
        assert_eq!(
            findings_diff("T", None, vec![before.clone()], vec![after.clone()]),
            None
        );
        after.evidence.insert(
            "implied_kmh".to_owned(),
            escort_engine::EvidenceValue::Text("151".to_owned()),
        );
        let diff = findings_diff("T", None, vec![before], vec![after]).expect("the evidence changed");
        assert_eq!(diff.changed.len(), 1);
        assert_eq!(diff.verdict_before, diff.verdict_after);
    }

    #[test]
    fn repeated_keys_pair_in_report_order_and_the_rest_is_added() {
        let one = finding("speed.jump", Severity::Warning, 0, 1);
        let two = finding("speed.jump", Severity::Warning, 0, 2);
        let diff = findings_diff("T", None, vec![one.clone()], vec![two.clone(), one]).expect("one more");
        assert_eq!(diff.added, vec![two]);
        assert!(diff.removed.is_empty() && diff.changed.is_empty());
    }

    #[test]
    fn since_must_be_before_until() {
        let at = DateTime::parse_from_rfc3339("2021-05-16T06:00:00Z")
            .expect("a time")
            .to_utc();
        let selection = Selection {
            since: Some(at),
            until: Some(at),
            ..Selection::default()
        };
        assert!(matches!(check_selection(&selection), Err(ReplayError::Selection(_))));
    }
}
