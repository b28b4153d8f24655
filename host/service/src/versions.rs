//! The policy sets transits are judged by: the timeline's versions
//! (`timeline`) loaded as policies, and the sets a transit's versions make,
//! kept for its next step.
//!
//! A version is loaded once, from the live set it was published in or,
//! after a restart, from the component the store keeps, and it is shared by
//! every set it is in: a [`Policy`] clone shares its compiled component and
//! instances. A set is keyed by its versions' places in the timeline, so a
//! step finds its transit's set with one look-up once the timeline has
//! named the versions.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use parking_lot::RwLock;

use crate::store::{Store, StoreError};
use crate::timeline::{Change, Judge, PolicyVersion, Proposal, Schedule, Timeline, is_built_in};
use escort_engine::{Policy, PolicySet, PolicyState, Sandbox};

/// Most sets kept. Past it they are built again as steps need them, from
/// versions already loaded, which costs a few clones.
const MAX_SETS: usize = 256;

/// Every version a service keeps, and what it loaded of them.
pub(crate) struct Versions {
    sandbox: Sandbox,
    /// The database's writing connection, shared with the writer: the
    /// timeline is written rarely, and never beside a step's transaction.
    store: Arc<Mutex<Store>>,
    timeline: RwLock<Arc<Timeline>>,
    /// The versions loaded, by fingerprint.
    loaded: Mutex<HashMap<String, Policy>>,
    /// The sets built, by their versions' places in the timeline.
    sets: Mutex<HashMap<Vec<i64>, Arc<PolicySet>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Versions {
    /// The versions the database at `store` keeps.
    pub(crate) fn open(sandbox: Sandbox, store: Arc<Mutex<Store>>) -> Result<Versions, StoreError> {
        let versions = lock(&store).policy_versions()?;
        Ok(Versions {
            sandbox,
            store,
            timeline: RwLock::new(Arc::new(Timeline::of(versions))),
            loaded: Mutex::default(),
            sets: Mutex::default(),
        })
    }

    /// The timeline as it is now.
    pub(crate) fn timeline(&self) -> Arc<Timeline> {
        Arc::clone(&self.timeline.read())
    }

    /// What the live set `set` adds to the timeline when published at `now`
    /// by `published_by`: a version for each of its policies that says
    /// something new ([`Timeline::plan`]; `uploaded` names the policy a
    /// regulator gave by name, if any), and a withdrawal of each policy the
    /// timeline has and `set` has not. `schedules` holds the bundles'
    /// schedules by policy id, `parameters` the schedule of a change of
    /// `policies.toml`. `Err` says why the versions are refused.
    pub(crate) fn plan(
        &self,
        set: &PolicySet,
        schedules: &BTreeMap<String, Schedule>,
        parameters: Schedule,
        uploaded: Option<&str>,
        now: DateTime<Utc>,
        published_by: &str,
    ) -> Result<Vec<PolicyVersion>, String> {
        let timeline = self.timeline();
        let mut proposals: Vec<Proposal> = set
            .policies()
            .iter()
            .map(|policy| Proposal {
                policy: policy.id().to_owned(),
                judged_by: Some(Judge::of(policy)),
                schedule: schedules.get(policy.id()).copied().unwrap_or_default(),
                built_in: is_built_in(policy.id()),
                uploaded: uploaded == Some(policy.id()),
                parameters,
            })
            .collect();
        for policy in timeline.policies() {
            if set.policies().iter().all(|p| p.id() != policy) {
                proposals.push(Proposal {
                    policy: policy.to_owned(),
                    judged_by: None,
                    schedule: Schedule::default(),
                    built_in: false,
                    uploaded: false,
                    parameters,
                });
            }
        }
        timeline.plan(proposals, now, published_by)
    }

    /// What a shadow version of `policy` (configured as the live set would
    /// configure it) adds to the timeline when published at `now` by
    /// `published_by` on `schedule`.
    pub(crate) fn plan_shadow(
        &self,
        policy: &Policy,
        schedule: Schedule,
        now: DateTime<Utc>,
        published_by: &str,
    ) -> Result<Vec<PolicyVersion>, String> {
        let proposal = Proposal {
            policy: policy.id().to_owned(),
            judged_by: Some(Judge::of(policy)),
            schedule,
            built_in: is_built_in(policy.id()),
            uploaded: true,
            parameters: Schedule::default(),
        };
        self.timeline().plan(vec![proposal], now, published_by)
    }

    /// Records a regulator's promotion of a shadow version, or rollback to
    /// an earlier enforced version ([`Timeline::reinstate`]); returns the
    /// enforced version it adds.
    pub(crate) fn reinstate(
        &self,
        policy: &str,
        seq: i64,
        change: Change,
        schedule: Schedule,
        published_by: &str,
    ) -> Result<PolicyVersion, String> {
        let added = self
            .timeline()
            .reinstate(policy, seq, change, schedule, Utc::now(), published_by)?;
        let enforced = added[0].clone();
        self.commit(added, &[])?;
        Ok(enforced)
    }

    /// Stores the versions `added` (a plan of `set`), with each component
    /// the store does not keep yet (`component_of` reads its bytes), and
    /// puts them in the timeline; keeps `set`'s policies loaded as the
    /// versions they are.
    pub(crate) fn record(
        &self,
        added: Vec<PolicyVersion>,
        set: &PolicySet,
        component_of: impl Fn(&Policy) -> Result<Vec<u8>, String>,
    ) -> Result<(), String> {
        {
            let mut loaded = lock(&self.loaded);
            for policy in set.policies() {
                loaded.insert(policy.fingerprint().to_owned(), policy.clone());
            }
        }
        if added.is_empty() {
            return Ok(());
        }
        let mut components: Vec<(String, Vec<u8>)> = Vec::new();
        for judge in added.iter().filter_map(|version| version.judged_by.as_ref()) {
            let kept = components.iter().any(|(hash, _)| *hash == judge.content_hash)
                || lock(&self.store)
                    .has_component(&judge.content_hash)
                    .map_err(|e| e.to_string())?;
            if !kept {
                let policy = set
                    .policies()
                    .iter()
                    .find(|policy| policy.fingerprint() == judge.fingerprint)
                    .expect("a version planned from a set is one of its policies");
                components.push((judge.content_hash.clone(), component_of(policy)?));
            }
        }
        self.commit(added, &components)
    }

    /// Stores `added` with the `components` (SHA-256, bytes) the store does
    /// not keep yet, and puts them in the timeline.
    fn commit(&self, added: Vec<PolicyVersion>, components: &[(String, Vec<u8>)]) -> Result<(), String> {
        lock(&self.store)
            .add_policy_versions(&added, components)
            .map_err(|e| e.to_string())?;
        let mut timeline = (*self.timeline()).clone();
        for version in added {
            tracing::info!("{}: in force {}", version.described(), version.in_force());
            timeline.push(version);
        }
        *self.timeline.write() = Arc::new(timeline);
        Ok(())
    }

    /// The last instant a publication (a promotion, a rollback) took or
    /// takes effect: up to a second after it was made.
    pub(crate) fn last_published_at(&self) -> Option<DateTime<Utc>> {
        self.timeline().last_published_at()
    }

    /// The set a transit opened at `opened_at` is judged by now
    /// ([`Timeline::judging`]).
    pub(crate) fn judging(&self, opened_at: DateTime<Utc>) -> Result<Arc<PolicySet>, String> {
        let timeline = self.timeline();
        self.set(&timeline.judging(opened_at, Utc::now()))
    }

    /// Each shadow version running at `at`, and the set of it alone that
    /// runs it; `Err` names a version that does not load.
    pub(crate) fn running_shadows(&self, at: DateTime<Utc>) -> Result<Vec<(PolicyVersion, Arc<PolicySet>)>, String> {
        let timeline = self.timeline();
        timeline
            .running_shadows(at)
            .into_iter()
            .map(|version| Ok((version.clone(), self.set(&[version])?)))
            .collect()
    }

    /// The set of the versions that wrote `states` (a stored transit's
    /// policy states, which name each version by its fingerprint): what
    /// last judged the transit. `Err` names a version the database does not
    /// keep, or one that does not load.
    pub(crate) fn set_of(&self, states: &[PolicyState]) -> Result<Arc<PolicySet>, String> {
        let timeline = self.timeline();
        if let Ok(versions) = timeline.wrote(states) {
            return self.set(&versions);
        }
        // A reader beside a running service: a version may have been
        // published since it read the timeline. Read it again.
        let versions = lock(&self.store).policy_versions().map_err(|e| e.to_string())?;
        *self.timeline.write() = Arc::new(Timeline::of(versions));
        let timeline = self.timeline();
        self.set(&timeline.wrote(states)?)
    }

    /// The set of `versions`, built the first time it is asked for.
    fn set(&self, versions: &[&PolicyVersion]) -> Result<Arc<PolicySet>, String> {
        let key: Vec<i64> = versions.iter().map(|version| version.seq).collect();
        if let Some(set) = lock(&self.sets).get(&key) {
            return Ok(Arc::clone(set));
        }
        let policies = versions
            .iter()
            .map(|version| self.policy(version))
            .collect::<Result<Vec<_>, _>>()?;
        let set = Arc::new(PolicySet::new(policies).map_err(|e| e.to_string())?);
        let mut sets = lock(&self.sets);
        if sets.len() >= MAX_SETS {
            sets.clear();
        }
        sets.insert(key, Arc::clone(&set));
        Ok(set)
    }

    /// The policy of `version` (enforced or shadow), loaded from the
    /// component the store keeps the first time it is asked for.
    fn policy(&self, version: &PolicyVersion) -> Result<Policy, String> {
        let judge = version
            .judged_by
            .as_ref()
            .expect("a transit is judged by versions, never by withdrawals");
        if let Some(policy) = lock(&self.loaded).get(&judge.fingerprint) {
            return Ok(policy.clone());
        }
        let unusable = |reason: String| format!("{} does not load: {reason}", version.described());
        let bytes = lock(&self.store)
            .component(&judge.content_hash)
            .map_err(|e| unusable(e.to_string()))?
            .ok_or_else(|| unusable("the database does not keep its component".to_owned()))?;
        let mut policy = Policy::load(&self.sandbox, &judge.origin, &bytes).map_err(|e| unusable(e.to_string()))?;
        policy.configure(&judge.config).map_err(|e| unusable(e.to_string()))?;
        if policy.fingerprint() != judge.fingerprint {
            return Err(unusable(format!(
                "its fingerprint is {}, not the {} it was published with",
                policy.fingerprint(),
                judge.fingerprint
            )));
        }
        lock(&self.loaded).insert(judge.fingerprint.clone(), policy.clone());
        Ok(policy)
    }
}
