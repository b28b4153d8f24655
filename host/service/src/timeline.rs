//! Which version of each policy judges which transit: the rule in force
//! (`docs/service.md` § Which rules judge a transit).
//!
//! A service keeps every version of every policy it was given, with the
//! time it is in force from, and forgets none. A transit is judged for its
//! whole life by the versions in force at its `opened_at`, as customs law
//! judges a declaration by the rules in force on the day it was registered:
//! a version published today changes nothing for a transit opened
//! yesterday. The one exception is a version that says so (`applies_to =
//! "open-transits"`, for a corrected defect or an emergency rule): from the
//! moment it comes into force, every transit still open is judged by it too,
//! evaluated again from its first fix.
//!
//! A policy's versions follow one another: each is in force from its
//! `effective_from` until its own `effective_until` or the next one's
//! `effective_from`, whichever comes first. So publishing a version ends the
//! one before it, without a word; what is refused, naming both versions, is
//! two versions in force at one instant (one that ends after the next
//! begins, or two from the same instant), a version dated before its own
//! publication (it would judge transits already judged by another), and a
//! built-in policy left with no version in force (the default set is the
//! floor every transit is judged by).
//!
//! A *shadow* version (`mode = "shadow"`) is kept on a timeline of its
//! own: it judges no transit. From its `effective_from` until the next
//! shadow version of its policy, its own `effective_until` or its
//! promotion, it runs beside the enforced versions (`shadow`). A regulator
//! promotes it, or rolls a policy back to an earlier version, from a date
//! ([`Timeline::reinstate`]): either is a new enforced version with the
//! component and parameters of the one it names, refused as a publication
//! would be.
//!
//! This module is pure: the timeline, what a transit is judged by, and what
//! a change of the live set, a promotion or a rollback adds to it. The
//! store keeps the versions and their components (`policy_versions`,
//! `components`); `live` plans, records and loads them.

use std::collections::BTreeMap;

use chrono::{DateTime, DurationRound, SubsecRound, TimeDelta, Utc};
use serde::Serialize;

use escort_bundle::{AppliesTo, Manifest, Mode};
use escort_engine::{ParamValue, Policy, PolicyConfig, PolicyState, format_time};

/// Who publishes what the service finds in its live folder: a file put
/// there by hand, a folder changed while it was stopped, a new build's
/// built-in policies.
pub(crate) const BY_LIVE_FOLDER: &str = "the live folder";

/// One version of one policy, as the timeline keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyVersion {
    /// Its place in the order of publication, from 1.
    pub seq: i64,
    /// The policy's id.
    pub policy: String,
    /// What the version is: `None` for a withdrawal (the policy judges no
    /// transit opened while it is in force).
    pub judged_by: Option<Judge>,
    /// When it comes into force; `None` for since always (what served
    /// before the service kept a timeline).
    pub effective_from: Option<DateTime<Utc>>,
    /// When it stops judging newly opened transits, if before the next
    /// version comes into force.
    pub effective_until: Option<DateTime<Utc>>,
    /// Which transits it judges besides those opened while it is in force.
    pub applies_to: AppliesTo,
    /// When the service was given it.
    pub published_at: DateTime<Utc>,
    /// Who gave it: the token's holder, or [`BY_LIVE_FOLDER`].
    pub published_by: String,
    /// Whether it is enforced or runs in shadow.
    pub mode: Mode,
    /// What made it.
    pub change: Change,
}

/// What made a version: a publication (the live folder, an upload), a
/// change of the deployment's parameters, or a regulator who promoted a
/// shadow version or rolled back to an earlier one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Change {
    /// A policy given to the service: the live folder, an upload.
    #[default]
    Publication,
    /// The same component with the parameter values the live folder's
    /// `policies.toml` now sets, from the file's `effective_from`.
    Parameters,
    /// A shadow version made the enforced one; a promotion also ends the
    /// shadow run, from the same time.
    Promotion,
    /// An earlier enforced version made the enforced one again.
    Rollback,
}

impl Change {
    /// The name the store, the audit log and the API use.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Publication => "publication",
            Change::Parameters => "parameters",
            Change::Promotion => "promotion",
            Change::Rollback => "rollback",
        }
    }

    /// Whether the live folder or an upload made it, not a regulator's
    /// promotion or rollback.
    fn is_publication(self) -> bool {
        matches!(self, Change::Publication | Change::Parameters)
    }

    /// The one `as_str` names.
    pub fn named(name: &str) -> Option<Change> {
        [
            Change::Publication,
            Change::Parameters,
            Change::Promotion,
            Change::Rollback,
        ]
        .into_iter()
        .find(|change| change.as_str() == name)
    }
}

/// The policy a version judges with: its component and configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Judge {
    /// The policy's version, from `describe()`.
    pub version: String,
    /// SHA-256 of the component, hex.
    pub content_hash: String,
    /// SHA-256 of the component and parameter values, hex: what a
    /// transit's stored policy states name.
    pub fingerprint: String,
    /// Where it came from when it was published (`built-in speed`, `live
    /// speed/`).
    pub origin: String,
    /// Its parameter values and limits.
    pub config: PolicyConfig,
}

impl Judge {
    /// The policy a version of `policy` judges with.
    pub(crate) fn of(policy: &Policy) -> Judge {
        Judge {
            version: policy.version().to_owned(),
            content_hash: policy.content_hash().to_owned(),
            fingerprint: policy.fingerprint().to_owned(),
            origin: policy.origin().to_owned(),
            config: policy.config(),
        }
    }
}

/// When a version is in force, what it judges and whether it is enforced,
/// as its manifest (or a promotion, or a rollback) says. A bare component,
/// a built-in policy or a `policies.toml` change says nothing: enforced,
/// from its publication, for new transits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Schedule {
    /// When it comes into force; `None` for the moment it is published.
    pub effective_from: Option<DateTime<Utc>>,
    /// When it stops judging newly opened transits, if it ends before the
    /// next version begins.
    pub effective_until: Option<DateTime<Utc>>,
    /// Which transits it judges besides those opened while it is in force.
    pub applies_to: AppliesTo,
    /// Enforced, or run in shadow.
    pub mode: Mode,
}

impl Schedule {
    pub(crate) fn of(manifest: &Manifest) -> Schedule {
        Schedule {
            effective_from: manifest.effective_from,
            effective_until: manifest.effective_until,
            applies_to: manifest.applies_to,
            mode: manifest.mode,
        }
    }
}

/// What a change of the live set proposes for one policy: the version it
/// now has (or `None`, withdrawn), when, whether it is built in, and
/// whether a regulator gave it by name (an upload) rather than the live
/// folder holding it still.
#[derive(Debug, Clone)]
pub(crate) struct Proposal {
    pub(crate) policy: String,
    pub(crate) judged_by: Option<Judge>,
    pub(crate) schedule: Schedule,
    pub(crate) built_in: bool,
    pub(crate) uploaded: bool,
    /// The schedule of a change of its parameters alone (`policies.toml`),
    /// which a version of the same component with other parameter values
    /// follows instead of `schedule`.
    pub(crate) parameters: Schedule,
}

/// A version as `GET /v1/policies/{id}/versions` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionInfo {
    /// Its place in the order of publication.
    pub seq: i64,
    /// The policy's version; `null` for a withdrawal.
    pub version: Option<String>,
    /// SHA-256 of its component; `null` for a withdrawal.
    pub content_hash: Option<String>,
    /// Its parameter values.
    pub params: BTreeMap<String, ParamValue>,
    /// When it comes into force; `null` for since always.
    pub effective_from: Option<String>,
    /// When it stops judging newly opened transits: its own
    /// `effective_until` or the next version's `effective_from`; `null`
    /// while no end is set.
    pub in_force_until: Option<String>,
    /// `new-transits` or `open-transits`.
    pub applies_to: &'static str,
    /// When it was published, and by whom.
    pub published_at: String,
    /// The token's holder, or `the live folder`.
    pub published_by: String,
    /// Where its component came from.
    pub origin: Option<String>,
    /// `enforced` or `shadow`.
    pub mode: &'static str,
    /// `publication`, `parameters`, `promotion` or `rollback`.
    pub change: &'static str,
}

impl PolicyVersion {
    /// How messages name it: `` `speed` 0.2.0 (component 1a2b3c4d5e6f,
    /// published 2026-12-01T10:00:00Z by regulator)``.
    pub(crate) fn described(&self) -> String {
        let published = format!(
            "{} {} by {}",
            match self.change {
                Change::Publication => "published",
                Change::Parameters => "parameters changed",
                Change::Promotion => "promoted",
                Change::Rollback => "rolled back to",
            },
            format_time(&self.published_at),
            self.published_by
        );
        let shadow = if self.mode == Mode::Shadow { "shadow " } else { "" };
        match &self.judged_by {
            Some(judge) => format!(
                "{shadow}`{}` {} (component {}, {published})",
                self.policy,
                judge.version,
                &judge.content_hash[..judge.content_hash.len().min(12)]
            ),
            None if self.mode == Mode::Shadow => format!("the end of `{}`'s shadow run ({published})", self.policy),
            None => format!("the withdrawal of `{}` ({published})", self.policy),
        }
    }

    /// When it is in force, in words: `from 2027-01-01T00:00:00Z until
    /// …`, `since always`.
    pub(crate) fn in_force(&self) -> String {
        let from = self
            .effective_from
            .map_or_else(|| "since always".to_owned(), |at| format!("from {}", format_time(&at)));
        let until = self
            .effective_until
            .map(|at| format!(" until {}", format_time(&at)))
            .unwrap_or_default();
        format!("{from}{until}, for {}", self.applies_to.as_str())
    }

    /// Its fingerprint, `None` for a withdrawal.
    pub fn fingerprint(&self) -> Option<&str> {
        self.judged_by.as_ref().map(|judge| judge.fingerprint.as_str())
    }
}

/// The instant a publication (or a promotion, or a rollback) made at
/// `now` takes effect: the next whole second. Times the service takes from
/// its clock are whole seconds on the wire, and rounding down would date a
/// version before its publication, so a transit opened in that second
/// would be judged by a version not yet given.
fn publication_instant(now: DateTime<Utc>) -> DateTime<Utc> {
    now.duration_round_up(TimeDelta::seconds(1))
        .expect("the clock is far from the ends of time")
}

/// Whether `policy` is one of the default set, which has a version in force
/// at every instant.
pub(crate) fn is_built_in(policy: &str) -> bool {
    escort_builtin::component(policy).is_some()
}

/// When, for messages: the time, or `the beginning` for since always.
fn instant(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(|| "the beginning".to_owned(), |at| format_time(&at))
}

/// Every version of every policy, each policy's in the order they come
/// into force: the enforced ones, and apart from them the shadow ones.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    policies: BTreeMap<String, Vec<PolicyVersion>>,
    shadows: BTreeMap<String, Vec<PolicyVersion>>,
}

impl Timeline {
    /// The timeline of `versions`, in any order.
    pub(crate) fn of(versions: Vec<PolicyVersion>) -> Timeline {
        let mut timeline = Timeline::default();
        for version in versions {
            timeline.push(version);
        }
        timeline
    }

    /// Adds a version in its place: after every version that comes into
    /// force no later than it (`None`, since always, before all).
    pub(crate) fn push(&mut self, version: PolicyVersion) {
        let timeline = match version.mode {
            Mode::Enforced => &mut self.policies,
            Mode::Shadow => &mut self.shadows,
        };
        let versions = timeline.entry(version.policy.clone()).or_default();
        let at = versions.partition_point(|v| v.effective_from <= version.effective_from);
        versions.insert(at, version);
    }

    /// Whether it holds no version at all: a new database, or one from a
    /// build before timelines.
    pub(crate) fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    /// Every version, enforced and shadow, in no particular order.
    fn every(&self) -> impl Iterator<Item = &PolicyVersion> {
        self.policies.values().chain(self.shadows.values()).flatten()
    }

    /// The last place in the order of publication.
    pub(crate) fn last_seq(&self) -> i64 {
        self.every().map(|v| v.seq).max().unwrap_or(0)
    }

    /// The policies it knows, in id order.
    pub(crate) fn policies(&self) -> impl Iterator<Item = &str> {
        self.policies.keys().map(String::as_str)
    }

    /// `policy`'s enforced versions in the order they come into force.
    pub(crate) fn versions(&self, policy: &str) -> &[PolicyVersion] {
        self.policies.get(policy).map_or(&[], Vec::as_slice)
    }

    /// `policy`'s shadow versions in the order they begin.
    pub(crate) fn shadow_versions(&self, policy: &str) -> &[PolicyVersion] {
        self.shadows.get(policy).map_or(&[], Vec::as_slice)
    }

    /// `policy`'s versions of `mode` in the order they begin.
    fn of_mode(&self, policy: &str, mode: Mode) -> &[PolicyVersion] {
        match mode {
            Mode::Enforced => self.versions(policy),
            Mode::Shadow => self.shadow_versions(policy),
        }
    }

    /// `policy`'s shadow version `seq`, or without one its last shadow
    /// version published; never the end of a shadow run.
    pub(crate) fn shadow(&self, policy: &str, seq: Option<i64>) -> Option<&PolicyVersion> {
        let mut shadows = self
            .shadow_versions(policy)
            .iter()
            .filter(|version| version.judged_by.is_some());
        match seq {
            Some(seq) => shadows.find(|version| version.seq == seq),
            None => shadows.max_by_key(|version| version.seq),
        }
    }

    /// When the last version was published: the instant it took (or
    /// takes) effect, unless it was scheduled later.
    pub(crate) fn last_published_at(&self) -> Option<DateTime<Utc>> {
        self.every().map(|v| v.published_at).max()
    }

    /// The shadow versions running at `now`, in policy id order.
    pub(crate) fn running_shadows(&self, now: DateTime<Utc>) -> Vec<&PolicyVersion> {
        self.shadows
            .values()
            .filter_map(|versions| in_force(versions, now))
            .collect()
    }

    /// The first version of `policy` published with this fingerprint
    /// (component and parameters): the one a stored policy state names.
    fn by_fingerprint(&self, policy: &str, fingerprint: &str) -> Option<&PolicyVersion> {
        self.versions(policy)
            .iter()
            .filter(|version| version.fingerprint() == Some(fingerprint))
            .min_by_key(|version| version.seq)
    }

    /// The versions that wrote `states` (a stored transit's policy states,
    /// which name each by its fingerprint), in their order; `Err` names the
    /// first the timeline does not hold.
    pub(crate) fn wrote(&self, states: &[PolicyState]) -> Result<Vec<&PolicyVersion>, String> {
        states
            .iter()
            .map(|state| {
                self.by_fingerprint(&state.policy, &state.fingerprint).ok_or_else(|| {
                    format!(
                        "policy `{}` last evaluated it in a version the database does not keep",
                        state.policy
                    )
                })
            })
            .collect()
    }

    /// `policy`'s versions as `GET /v1/policies/{id}/versions` lists them:
    /// the enforced ones, then the shadow ones, each in the order they begin.
    pub(crate) fn listing(&self, policy: &str) -> Vec<VersionInfo> {
        let mut listing = listed(self.versions(policy));
        listing.extend(listed(self.shadow_versions(policy)));
        listing
    }

    /// The enforced version of `policy` in force at `at`.
    fn in_force(&self, policy: &str, at: DateTime<Utc>) -> Option<&PolicyVersion> {
        in_force(self.versions(policy), at)
    }

    /// The versions that judge a transit opened at `opened_at` when the
    /// time is `now`, in policy id order: for each policy, the version in
    /// force at the transit's opening, or, when an `open-transits` version
    /// came into force after the opening and by `now`, the one in force
    /// when the last of those did.
    pub(crate) fn judging(&self, opened_at: DateTime<Utc>, now: DateTime<Utc>) -> Vec<&PolicyVersion> {
        self.policies
            .iter()
            .filter_map(|(policy, versions)| {
                let moved_at = versions
                    .iter()
                    .filter(|v| v.applies_to == AppliesTo::OpenTransits)
                    .filter_map(|v| v.effective_from)
                    .filter(|from| *from > opened_at && *from <= now)
                    .max();
                self.in_force(policy, moved_at.unwrap_or(opened_at))
            })
            .collect()
    }

    /// What `proposals` add to the timeline when published at `now` by
    /// `published_by`, in order; or why they are refused, naming the
    /// versions in conflict. A proposal that says again what its policy
    /// already has adds nothing, so that the same live folder read again,
    /// or the same bundle published again, is no new version: an upload is
    /// compared with the last version of its mode, a policy the live folder
    /// still holds with the last one published (a promotion or a rollback
    /// since does not make the folder's version new again).
    ///
    /// Into an empty timeline (a new database, or one from a build before
    /// timelines) every version goes as in force since always: it is what
    /// judged the transits stored so far.
    pub(crate) fn plan(
        &self,
        proposals: Vec<Proposal>,
        now: DateTime<Utc>,
        published_by: &str,
    ) -> Result<Vec<PolicyVersion>, String> {
        let now = publication_instant(now);
        let first = self.is_empty();
        let mut planned = self.clone();
        let mut added = Vec::new();
        for proposal in proposals {
            let Proposal {
                policy,
                judged_by,
                schedule,
                built_in,
                uploaded,
                parameters,
            } = proposal;
            let only_parameters = !uploaded
                && schedule.mode == Mode::Enforced
                && planned.last_published(&policy).is_some_and(|last| {
                    let (last, now) = (last.judged_by.as_ref(), judged_by.as_ref());
                    last.zip(now).is_some_and(|(last, now)| {
                        last.content_hash == now.content_hash && last.fingerprint != now.fingerprint
                    })
                });
            let (schedule, change) = if only_parameters {
                (parameters, Change::Parameters)
            } else {
                (schedule, Change::Publication)
            };
            let version = PolicyVersion {
                seq: planned.last_seq() + 1,
                policy,
                judged_by,
                effective_from: schedule.effective_from.map(|at| at.trunc_subsecs(3)),
                effective_until: schedule.effective_until.map(|at| at.trunc_subsecs(3)),
                applies_to: schedule.applies_to,
                published_at: now,
                published_by: published_by.to_owned(),
                mode: schedule.mode,
                change,
            };
            if planned.repeats(&version, uploaded) {
                continue;
            }
            let first = first && version.mode == Mode::Enforced;
            let version = PolicyVersion {
                effective_from: if first {
                    None
                } else {
                    Some(
                        version
                            .effective_from
                            .unwrap_or_else(|| planned.soonest(&version.policy, version.mode, now)),
                    )
                },
                ..version
            };
            if !first {
                planned.check(&version, built_in, now)?;
            }
            planned.push(version.clone());
            added.push(version);
        }
        Ok(added)
    }

    /// What a regulator's promotion of the shadow version `seq` of
    /// `policy`, or rollback to its earlier enforced version `seq`
    /// (`change` says which), adds to the timeline at `now`: an enforced
    /// version with the same component and parameters, on `schedule`
    /// (`effective_from` `None` for now), and for a promotion the end of
    /// the shadow run from the same time. `Err` says why it is refused, as
    /// for a publication.
    pub(crate) fn reinstate(
        &self,
        policy: &str,
        seq: i64,
        change: Change,
        schedule: Schedule,
        now: DateTime<Utc>,
        published_by: &str,
    ) -> Result<Vec<PolicyVersion>, String> {
        let now = publication_instant(now);
        let built_in = is_built_in(policy);
        let (versions, named) = match change {
            Change::Promotion => (self.shadow_versions(policy), "shadow version"),
            Change::Rollback | Change::Publication | Change::Parameters => (self.versions(policy), "enforced version"),
        };
        let Some(source) = versions.iter().find(|version| version.seq == seq) else {
            let known: Vec<String> = versions
                .iter()
                .filter(|version| version.judged_by.is_some())
                .map(|version| version.seq.to_string())
                .collect();
            return Err(format!(
                "`{policy}` has no {named} {seq}; its {named}s are: {}",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ));
        };
        if source.judged_by.is_none() {
            return Err(format!(
                "{} is a withdrawal, not a version to judge with",
                source.described()
            ));
        }
        let from = schedule
            .effective_from
            .map_or_else(|| self.soonest(policy, Mode::Enforced, now), |at| at.trunc_subsecs(3));
        let version = PolicyVersion {
            seq: self.last_seq() + 1,
            policy: policy.to_owned(),
            judged_by: source.judged_by.clone(),
            effective_from: Some(from),
            effective_until: schedule.effective_until.map(|at| at.trunc_subsecs(3)),
            applies_to: schedule.applies_to,
            published_at: now,
            published_by: published_by.to_owned(),
            mode: Mode::Enforced,
            change,
        };
        self.check(&version, built_in, now)?;
        let mut added = vec![version];
        if change == Change::Promotion {
            added.push(PolicyVersion {
                seq: self.last_seq() + 2,
                judged_by: None,
                effective_until: None,
                applies_to: AppliesTo::default(),
                mode: Mode::Shadow,
                ..added[0].clone()
            });
        }
        Ok(added)
    }

    /// The soonest a version of `policy` (of `mode`) published at `now`
    /// (a whole second) "from now" can come into force: the first whole
    /// second from `now` at which no other version of it begins, so that
    /// two publications in one second follow one another rather than being
    /// refused as in force at one instant.
    fn soonest(&self, policy: &str, mode: Mode, now: DateTime<Utc>) -> DateTime<Utc> {
        let versions = self.of_mode(policy, mode);
        let mut soonest = now;
        while versions.iter().any(|version| version.effective_from == Some(soonest)) {
            soonest += TimeDelta::seconds(1);
        }
        soonest
    }

    /// The last enforced version of `policy` the live folder or an upload
    /// published (not a promotion or a rollback).
    fn last_published(&self, policy: &str) -> Option<&PolicyVersion> {
        self.versions(policy)
            .iter()
            .filter(|v| v.change.is_publication())
            .max_by_key(|v| v.seq)
    }

    /// Whether `version` says again what its policy has (a withdrawal of a
    /// policy never published included): for an upload, the last version
    /// of its mode; for the live folder, the last one published.
    fn repeats(&self, version: &PolicyVersion, uploaded: bool) -> bool {
        let last = self
            .of_mode(&version.policy, version.mode)
            .iter()
            .filter(|v| uploaded || v.change.is_publication())
            .max_by_key(|v| v.seq);
        match last {
            None => version.judged_by.is_none(),
            Some(last) => {
                last.fingerprint() == version.fingerprint()
                    && last.effective_until == version.effective_until
                    && last.applies_to == version.applies_to
                    && version
                        .effective_from
                        .is_none_or(|from| last.effective_from == Some(from))
            }
        }
    }

    /// Refuses `version` (whose `effective_from` is set) when it is dated
    /// before `now`, ends before it begins, would be in force at one
    /// instant with another version of its policy, or would leave a
    /// built-in policy with no version in force.
    fn check(&self, version: &PolicyVersion, built_in: bool, now: DateTime<Utc>) -> Result<(), String> {
        let from = version.effective_from;
        let at = instant(from);
        if from.is_some_and(|from| from < now) {
            return Err(format!(
                "{}: its effective_from ({at}) is before its publication ({}); a version never judges \
                 transits opened before it is published (to move open transits to it, give it \
                 applies_to = \"open-transits\")",
                version.described(),
                format_time(&now)
            ));
        }
        if let Some(until) = version.effective_until
            && from.is_some_and(|from| until <= from)
        {
            return Err(format!(
                "{}: its effective_until ({}) is not after its effective_from ({at})",
                version.described(),
                format_time(&until)
            ));
        }
        if version.mode == Mode::Shadow {
            // A shadow version decides nothing: a later one replaces it.
            return Ok(());
        }
        let versions = self.versions(&version.policy);
        if let Some(same) = versions.iter().find(|v| v.effective_from == from) {
            return Err(format!(
                "two versions of `{}` would come into force at {at}: {} and {}",
                version.policy,
                same.described(),
                version.described()
            ));
        }
        let before = versions.iter().rev().find(|v| v.effective_from < from);
        if let Some(before) = before
            && let Some(until) = before.effective_until
            && from.is_some_and(|from| until > from)
            && before.judged_by.is_some()
        {
            return Err(format!(
                "two versions of `{}` would be in force at {at}: {}, in force until {}, and {}",
                version.policy,
                before.described(),
                format_time(&until),
                version.described()
            ));
        }
        let next = versions.iter().find(|v| v.effective_from > from);
        if let Some(next) = next
            && let (Some(until), Some(next_from)) = (version.effective_until, next.effective_from)
            && until > next_from
        {
            return Err(format!(
                "two versions of `{}` would be in force at {}: {}, in force until {}, and {}",
                version.policy,
                format_time(&next_from),
                version.described(),
                format_time(&until),
                next.described()
            ));
        }
        if built_in
            && let Some(until) = version.effective_until
            && next.is_none_or(|next| next.effective_from.is_some_and(|next_from| next_from > until))
        {
            return Err(format!(
                "`{}` would have no version in force from {}: {} ends then and no version follows it; a \
                 built-in policy is in force at every instant (publish the version that follows it \
                 first, or leave effective_until out)",
                version.policy,
                format_time(&until),
                version.described()
            ));
        }
        Ok(())
    }
}

/// `versions` (one policy's, of one mode, in the order they begin) as
/// `GET /v1/policies/{id}/versions` lists them: each in force until its
/// `effective_until` or the next one's `effective_from`.
fn listed(versions: &[PolicyVersion]) -> Vec<VersionInfo> {
    versions
        .iter()
        .enumerate()
        .map(|(index, version)| {
            let next_from = versions.get(index + 1).and_then(|next| next.effective_from);
            let until = match (version.effective_until, next_from) {
                (Some(until), Some(next)) => Some(until.min(next)),
                (until, next) => until.or(next),
            };
            let judge = version.judged_by.as_ref();
            VersionInfo {
                seq: version.seq,
                version: judge.map(|judge| judge.version.clone()),
                content_hash: judge.map(|judge| judge.content_hash.clone()),
                params: judge.map(|judge| judge.config.params.clone()).unwrap_or_default(),
                effective_from: version.effective_from.map(|at| format_time(&at)),
                in_force_until: until.map(|at| format_time(&at)),
                applies_to: version.applies_to.as_str(),
                published_at: format_time(&version.published_at),
                published_by: version.published_by.clone(),
                origin: judge.map(|judge| judge.origin.clone()),
                mode: version.mode.as_str(),
                change: version.change.as_str(),
            }
        })
        .collect()
}

/// The version of `versions` (one policy's, of one mode, in the order they
/// begin) in force at `at`: the last to begin by then, unless it ended
/// before; `None` when none is, or it is a withdrawal.
fn in_force(versions: &[PolicyVersion], at: DateTime<Utc>) -> Option<&PolicyVersion> {
    let begun = versions.partition_point(|v| v.effective_from.is_none_or(|from| from <= at));
    let version = versions[..begun].last()?;
    let ended = version.effective_until.is_some_and(|until| until <= at);
    (!ended && version.judged_by.is_some()).then_some(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("an RFC 3339 time")
    }

    fn judge(fingerprint: &str) -> Judge {
        Judge {
            version: format!("v-{fingerprint}"),
            content_hash: format!("hash-{fingerprint}"),
            fingerprint: fingerprint.to_owned(),
            origin: format!("live {fingerprint}"),
            config: PolicyConfig::default(),
        }
    }

    fn proposal(policy: &str, fingerprint: Option<&str>, from: Option<&str>, until: Option<&str>) -> Proposal {
        Proposal {
            policy: policy.to_owned(),
            judged_by: fingerprint.map(judge),
            schedule: Schedule {
                effective_from: from.map(at),
                effective_until: until.map(at),
                applies_to: AppliesTo::NewTransits,
                mode: Mode::Enforced,
            },
            built_in: policy == "speed",
            uploaded: true,
            parameters: Schedule::default(),
        }
    }

    /// A timeline that began with `speed` version `a` since always, then
    /// had `proposals` published one at a time at `now`.
    fn published(now: &str, proposals: Vec<Proposal>) -> Result<Timeline, String> {
        let mut timeline = Timeline::default();
        for version in timeline.plan(vec![proposal("speed", Some("a"), None, None)], at(now), "start")? {
            timeline.push(version);
        }
        for proposal in proposals {
            for version in timeline.plan(vec![proposal], at(now), "regulator")? {
                timeline.push(version);
            }
        }
        Ok(timeline)
    }

    fn judged(timeline: &Timeline, opened_at: &str, now: &str) -> Vec<String> {
        timeline
            .judging(at(opened_at), at(now))
            .iter()
            .map(|v| format!("{} {}", v.policy, v.fingerprint().unwrap_or("-")))
            .collect()
    }

    #[test]
    fn a_transit_is_judged_by_the_versions_in_force_at_its_opening() {
        let timeline = published(
            "2026-06-01T00:00:00Z",
            vec![
                proposal("speed", Some("b"), None, None),
                proposal("speed", Some("c"), Some("2026-07-01T00:00:00Z"), None),
                proposal("eta", Some("x"), None, None),
            ],
        )
        .expect("published");
        let now = "2026-08-01T00:00:00Z";
        assert_eq!(judged(&timeline, "2026-05-31T23:59:59Z", now), ["speed a"]);
        assert_eq!(judged(&timeline, "2026-06-01T00:00:00Z", now), ["eta x", "speed b"]);
        assert_eq!(judged(&timeline, "2026-06-30T23:59:59Z", now), ["eta x", "speed b"]);
        assert_eq!(judged(&timeline, "2026-07-01T00:00:00Z", now), ["eta x", "speed c"]);
        // A scheduled version judges the transits opened from its time on,
        // whatever the time is now.
        assert_eq!(
            judged(&timeline, "2026-07-02T00:00:00Z", "2026-06-02T00:00:00Z"),
            ["eta x", "speed c"]
        );
    }

    #[test]
    fn an_open_transits_version_moves_transits_open_when_it_comes_into_force() {
        let mut timeline = published("2026-06-01T00:00:00Z", vec![]).expect("published");
        let mut emergency = proposal("speed", Some("e"), Some("2026-06-10T00:00:00Z"), None);
        emergency.schedule.applies_to = AppliesTo::OpenTransits;
        for version in timeline
            .plan(vec![emergency], at("2026-06-01T00:00:00Z"), "regulator")
            .expect("planned")
        {
            timeline.push(version);
        }
        // Before it comes into force, a transit opened earlier keeps its version.
        assert_eq!(
            judged(&timeline, "2026-05-01T00:00:00Z", "2026-06-09T00:00:00Z"),
            ["speed a"]
        );
        // From then on, the same transit is judged by it.
        assert_eq!(
            judged(&timeline, "2026-05-01T00:00:00Z", "2026-06-10T00:00:00Z"),
            ["speed e"]
        );
        assert_eq!(
            judged(&timeline, "2026-06-11T00:00:00Z", "2026-06-12T00:00:00Z"),
            ["speed e"]
        );
    }

    #[test]
    fn the_same_version_published_again_is_no_new_version() {
        let timeline = published(
            "2026-06-01T00:00:00Z",
            vec![
                proposal("speed", Some("b"), None, None),
                proposal("speed", Some("b"), None, None),
                proposal("eta", None, None, None),
            ],
        )
        .expect("published");
        assert_eq!(timeline.versions("speed").len(), 2);
        assert!(timeline.versions("eta").is_empty());
    }

    #[test]
    fn a_withdrawn_policy_judges_no_transit_opened_after() {
        let timeline = published(
            "2026-06-01T00:00:00Z",
            vec![
                proposal("eta", Some("x"), Some("2026-06-02T00:00:00Z"), None),
                proposal("eta", None, Some("2026-06-03T00:00:00Z"), None),
            ],
        )
        .expect("published");
        let now = "2026-08-01T00:00:00Z";
        assert_eq!(judged(&timeline, "2026-06-02T12:00:00Z", now), ["eta x", "speed a"]);
        assert_eq!(judged(&timeline, "2026-06-03T12:00:00Z", now), ["speed a"]);
        assert_eq!(
            timeline.listing("eta")[0].in_force_until.as_deref(),
            Some("2026-06-03T00:00:00Z")
        );
    }

    #[test]
    fn versions_in_force_at_one_instant_are_refused_naming_both() {
        let now = "2026-06-01T00:00:00Z";
        let refused = published(
            now,
            vec![
                proposal("speed", Some("a"), Some("2026-06-20T00:00:00Z"), None),
                proposal(
                    "speed",
                    Some("b"),
                    Some("2026-06-02T00:00:00Z"),
                    Some("2026-06-20T00:00:00Z"),
                ),
                proposal("speed", Some("c"), Some("2026-06-10T00:00:00Z"), None),
            ],
        )
        .expect_err("an overlap");
        assert!(
            refused.starts_with("two versions of `speed` would be in force at 2026-06-10T00:00:00Z: `speed` v-b")
                && refused.contains("in force until 2026-06-20T00:00:00Z, and `speed` v-c"),
            "{refused}"
        );

        let refused = published(
            now,
            vec![
                proposal("eta", Some("x"), Some("2026-06-05T00:00:00Z"), None),
                proposal(
                    "eta",
                    Some("y"),
                    Some("2026-06-02T00:00:00Z"),
                    Some("2026-06-06T00:00:00Z"),
                ),
            ],
        )
        .expect_err("an overlap with the next");
        assert!(
            refused.starts_with("two versions of `eta` would be in force at 2026-06-05T00:00:00Z: `eta` v-y"),
            "{refused}"
        );

        let refused = published(
            now,
            vec![
                proposal("eta", Some("x"), Some("2026-06-05T00:00:00Z"), None),
                proposal("eta", Some("y"), Some("2026-06-05T00:00:00Z"), None),
            ],
        )
        .expect_err("the same instant");
        assert!(
            refused.contains("`eta` v-x") && refused.contains("`eta` v-y"),
            "{refused}"
        );
    }

    #[test]
    fn a_version_dated_before_its_publication_is_refused() {
        let refused = published(
            "2026-06-01T00:00:00Z",
            vec![proposal("speed", Some("b"), Some("2026-05-01T00:00:00Z"), None)],
        )
        .expect_err("retroactive");
        assert!(
            refused.contains("its effective_from (2026-05-01T00:00:00Z) is before its publication"),
            "{refused}"
        );
    }

    #[test]
    fn a_built_in_policy_is_never_left_without_a_version() {
        let now = "2026-06-01T00:00:00Z";
        let refused = published(
            now,
            vec![proposal("speed", Some("b"), None, Some("2026-07-01T00:00:00Z"))],
        )
        .expect_err("a gap");
        assert!(
            refused.starts_with("`speed` would have no version in force from 2026-07-01T00:00:00Z"),
            "{refused}"
        );
        // The version that follows first, then the one that ends when it begins.
        let timeline = published(
            now,
            vec![
                proposal("speed", Some("c"), Some("2026-07-01T00:00:00Z"), None),
                proposal("speed", Some("b"), None, Some("2026-07-01T00:00:00Z")),
            ],
        )
        .expect("no gap");
        assert_eq!(judged(&timeline, "2026-06-15T00:00:00Z", now), ["speed b"]);
        // A policy of the live folder alone may end.
        published(
            now,
            vec![proposal("eta", Some("x"), None, Some("2026-07-01T00:00:00Z"))],
        )
        .expect("may end");
    }

    fn shadow(policy: &str, fingerprint: &str) -> Proposal {
        let mut proposal = proposal(policy, Some(fingerprint), None, None);
        proposal.schedule.mode = Mode::Shadow;
        proposal
    }

    #[test]
    fn a_shadow_version_judges_no_transit_and_runs_until_another_replaces_it() {
        let timeline = published(
            "2026-06-01T00:00:00Z",
            vec![shadow("speed", "s1"), shadow("eta", "e1"), shadow("speed", "s2")],
        )
        .expect("published");
        assert_eq!(
            judged(&timeline, "2026-06-02T00:00:00Z", "2026-06-02T00:00:00Z"),
            ["speed a"]
        );
        let running: Vec<_> = timeline
            .running_shadows(at("2026-06-02T00:00:00Z"))
            .iter()
            .map(|v| v.fingerprint().unwrap_or("-").to_owned())
            .collect();
        assert_eq!(running, ["e1", "s2"]);
        assert!(timeline.running_shadows(at("2026-05-31T00:00:00Z")).is_empty());
        // The live folder's set read again adds no version, shadows aside.
        let again = timeline
            .plan(
                vec![Proposal {
                    uploaded: false,
                    ..proposal("speed", Some("a"), None, None)
                }],
                at("2026-06-03T00:00:00Z"),
                "the live folder",
            )
            .expect("planned");
        assert!(again.is_empty(), "{again:?}");
    }

    #[test]
    fn a_promotion_enforces_the_shadow_from_its_time_and_ends_the_run() {
        let now = "2026-06-01T00:00:00Z";
        let timeline = published(now, vec![shadow("speed", "s")]).expect("published");
        let seq = timeline.shadow_versions("speed")[0].seq;
        let schedule = Schedule {
            effective_from: Some(at("2026-06-10T00:00:00Z")),
            ..Schedule::default()
        };
        let mut promoted = timeline.clone();
        for version in timeline
            .reinstate("speed", seq, Change::Promotion, schedule, at(now), "regulator")
            .expect("promoted")
        {
            promoted.push(version);
        }
        let later = "2026-06-20T00:00:00Z";
        assert_eq!(judged(&promoted, "2026-06-09T00:00:00Z", later), ["speed a"]);
        assert_eq!(judged(&promoted, "2026-06-10T00:00:00Z", later), ["speed s"]);
        assert_eq!(promoted.running_shadows(at("2026-06-09T00:00:00Z")).len(), 1);
        assert!(promoted.running_shadows(at("2026-06-10T00:00:00Z")).is_empty());
        // The live folder, which still holds `a`, adds nothing: the
        // promotion is no publication it must repeat.
        let again = promoted
            .plan(
                vec![Proposal {
                    uploaded: false,
                    ..proposal("speed", Some("a"), None, None)
                }],
                at(later),
                "the live folder",
            )
            .expect("planned");
        assert!(again.is_empty(), "{again:?}");

        // Rolled back to `a` from later: transits opened after are judged by it again.
        let first = promoted.versions("speed")[0].seq;
        let schedule = Schedule {
            effective_from: Some(at("2026-06-25T00:00:00Z")),
            ..Schedule::default()
        };
        let mut rolled_back = promoted.clone();
        for version in promoted
            .reinstate("speed", first, Change::Rollback, schedule, at(later), "regulator")
            .expect("rolled back")
        {
            rolled_back.push(version);
        }
        assert_eq!(judged(&rolled_back, "2026-06-24T00:00:00Z", later), ["speed s"]);
        assert_eq!(judged(&rolled_back, "2026-06-25T00:00:00Z", later), ["speed a"]);

        // Refused as a publication is, naming both versions.
        let refused = rolled_back
            .reinstate("speed", seq, Change::Promotion, schedule, at(later), "regulator")
            .expect_err("the same instant");
        assert!(
            refused.starts_with("two versions of `speed` would come into force at 2026-06-25T00:00:00Z"),
            "{refused}"
        );
        let refused = rolled_back
            .reinstate("speed", first, Change::Promotion, schedule, at(later), "regulator")
            .expect_err("no shadow version");
        assert!(refused.starts_with("`speed` has no shadow version"), "{refused}");
    }

    #[test]
    fn publications_take_effect_at_the_next_whole_second_one_after_another() {
        let timeline = published(
            "2026-06-01T00:00:00.250Z",
            vec![
                proposal("speed", Some("b"), None, None),
                proposal("speed", Some("c"), None, None),
            ],
        )
        .expect("published");
        let from: Vec<_> = timeline
            .versions("speed")
            .iter()
            .map(|v| {
                (
                    v.fingerprint().unwrap_or("-").to_owned(),
                    v.effective_from.map(|at| format_time(&at)),
                )
            })
            .collect();
        assert_eq!(
            from,
            [
                ("a".to_owned(), None),
                ("b".to_owned(), Some("2026-06-01T00:00:01Z".to_owned())),
                ("c".to_owned(), Some("2026-06-01T00:00:02Z".to_owned())),
            ]
        );
        assert_eq!(
            format_time(&timeline.versions("speed")[2].published_at),
            "2026-06-01T00:00:01Z"
        );
    }

    #[test]
    fn a_change_of_parameters_alone_follows_the_parameters_schedule() {
        let mut timeline = published("2026-06-01T00:00:00Z", vec![]).expect("published");
        let mut configured = judge("a2");
        configured.content_hash = "hash-a".to_owned();
        let new_year = "2027-01-01T00:00:00Z";
        let proposal = Proposal {
            judged_by: Some(configured),
            uploaded: false,
            parameters: Schedule {
                effective_from: Some(at(new_year)),
                ..Schedule::default()
            },
            ..proposal("speed", Some("a2"), None, None)
        };
        let added = timeline
            .plan(vec![proposal.clone()], at("2026-06-02T00:00:00Z"), "the live folder")
            .expect("planned");
        assert_eq!(added.len(), 1);
        assert_eq!(added[0].change, Change::Parameters);
        assert_eq!(added[0].effective_from, Some(at(new_year)));
        for version in added {
            timeline.push(version);
        }
        assert_eq!(judged(&timeline, "2026-12-31T00:00:00Z", new_year), ["speed a"]);
        assert_eq!(judged(&timeline, new_year, new_year), ["speed a2"]);
        // Read again, the folder adds nothing.
        let again = timeline
            .plan(vec![proposal], at("2026-06-03T00:00:00Z"), "the live folder")
            .expect("planned");
        assert!(again.is_empty(), "{again:?}");
    }
}
