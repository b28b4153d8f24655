//! Evaluating a transit: admission when it opens, observation of each batch
//! of fixes and of passing time, and the findings that accumulate.
//!
//! An [`Evaluation`] holds, per policy, the opaque state the policy returned
//! last and its *open* findings: episodes still in progress at the last
//! evaluation (a stop, an excursion, a gap with no fix yet). Each call's open
//! findings replace the previous call's; findings about what is over are final
//! and accumulate. Every finding says which it is ([`FindingStatus`]) and
//! carries its episode's key ([`Finding::episode_key`]). That is what lets a stream of batches end with the same
//! findings as one batch of everything, even when a late fix shows that a
//! provisional gap never was one.
//!
//! A service keeps an evaluation between batches as [`PolicyState`]s (the
//! opaque state and the open findings of each policy) and resumes it with
//! [`PolicySet::resume`]; every policy call leaves a [`Decision`] behind for
//! its audit log.
//!
//! Evaluation fails closed: when a policy traps, runs out of fuel or memory,
//! answers `err` or answers something ill-formed, its result is discarded, a
//! `policy.error` warning takes its place (so the verdict is at least
//! `review`), and the other policies run as usual.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::contract::{Batch, LentTransit};
use crate::finding::{EvidenceValue, Finding, FindingStatus, Severity, Verdict, format_time};
use crate::fix::Fix;
use crate::policy::{Policy, PolicySet};
use crate::report::{FixCounts, Report};
use crate::routes::SharedRoutes;
use crate::sandbox::PolicyFailure;
use crate::telemetry::Telemetry;
use crate::transit::Transit;

/// The pseudo-policy under which the host reports its own telemetry checks.
pub const TELEMETRY_CHECKS: &str = "telemetry";
/// The version of the host's telemetry checks.
pub const TELEMETRY_CHECKS_VERSION: &str = "0.1.0";
/// Most fixes one policy call is handed. [`Evaluation::observe`] cuts a
/// longer batch into batches of this size, which policies judge exactly as
/// the whole (streaming equals batch), so that a large file never takes a
/// policy past its memory or fuel: 10,000 fixes are 720 KB of columns.
pub const MAX_FIXES_PER_CALL: usize = 10_000;

/// Why a batch could not be observed. These are mistakes of the caller, not
/// of a policy: nothing was evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ObserveError {
    /// The fixes of a batch must be in time order.
    #[error("fix {index} ({}) is earlier than the fix before it; sort the batch", format_time(.at))]
    OutOfOrder {
        /// Index in the batch.
        index: usize,
        /// Its time.
        at: DateTime<Utc>,
    },
    /// A batch may not go back before fixes already observed.
    #[error("fix at {} is earlier than the last fix already observed ({})", format_time(.at), format_time(.last))]
    BeforeObserved {
        /// The fix's time.
        at: DateTime<Utc>,
        /// The last observed fix's time.
        last: DateTime<Utc>,
    },
    /// The evaluation clock may not stand before the fixes it evaluates.
    #[error("the evaluation time {} is earlier than the fix at {}", format_time(.now), format_time(.last))]
    NowBeforeFix {
        /// The evaluation clock.
        now: DateTime<Utc>,
        /// The latest fix.
        last: DateTime<Utc>,
    },
}

/// What one policy call decided: the unit of the service's audit log.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The policy's id.
    pub policy: String,
    /// Its version, from `describe()`.
    pub policy_version: String,
    /// SHA-256 of its component, hex.
    pub content_hash: String,
    /// Fuel the call used, or `None` when it failed.
    pub fuel_used: Option<u64>,
    /// How long the call took.
    pub elapsed: Duration,
    /// Final findings the call raised; a failure's `policy.error` among them.
    /// The findings it leaves open are in [`Evaluation::policy_states`].
    pub findings: Vec<Finding>,
}

/// What the host keeps of one policy's evaluation of one transit between
/// batches.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyState {
    /// The policy's id.
    pub policy: String,
    /// [`Policy::fingerprint`] of the configured policy that wrote `state`;
    /// another component or other parameters cannot read it.
    pub fingerprint: String,
    /// The policy's opaque state.
    pub state: Vec<u8>,
    /// The policy's open findings.
    pub open: Vec<Finding>,
}

/// Why stored [`PolicyState`]s do not fit a policy set. The caller evaluates
/// the transit again from its first fix instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResumeError {
    /// The set's policies are not the ones that wrote the states.
    #[error("the policies changed since the last evaluation (`{policy}` differs)")]
    PoliciesChanged {
        /// The first policy that differs (added, removed, new component or new parameters).
        policy: String,
    },
}

/// One transit under evaluation by one policy set.
///
/// # Examples
/// ```no_run
/// use escort_engine::{Sandbox, Telemetry, Transit};
/// use std::path::Path;
///
/// let sandbox = Sandbox::new()?;
/// let policies = escort_builtin::policies(&sandbox)?;
/// let transit = Transit::from_path(Path::new("transit.json"))?;
/// let mut evaluation = policies.open(&transit); // runs admission
/// for batch in ["monday.ndjson", "tuesday.ndjson"] {
///     let telemetry = Telemetry::read_path(Path::new(batch))?;
///     let now = telemetry.fixes.last().map_or(transit.opened_at, |fix| fix.at);
///     evaluation.observe(&telemetry.fixes, now)?;
/// }
/// println!("{:?}", evaluation.verdict());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Evaluation<'s> {
    policies: &'s PolicySet,
    transit: Arc<LentTransit>,
    /// Per policy, in set order: its state and its open findings.
    states: Vec<Vec<u8>>,
    open: Vec<Vec<Finding>>,
    /// Final findings, in the order they were raised.
    findings: Vec<Finding>,
    /// Calls made since the caller last took them.
    decisions: Vec<Decision>,
    last_fix_at: Option<DateTime<Utc>>,
}

/// A transit as evaluation takes it: its declaration and its route index
/// (and, for policies of contract 0.1, its record in that contract's types),
/// built once for a caller that evaluates it again and again (a service,
/// batch after batch), where [`PolicySet::open`] builds them at every call.
///
/// # Examples
/// ```no_run
/// use escort_engine::{PreparedTransit, Sandbox, Transit};
/// use std::path::Path;
///
/// let sandbox = Sandbox::new()?;
/// let policies = escort_builtin::policies(&sandbox)?;
/// let transit = PreparedTransit::new(Transit::from_path(Path::new("transit.json"))?);
/// let evaluation = policies.open_prepared(&transit);
/// let states = evaluation.policy_states();
/// // Later, the next batch: the route is not indexed again.
/// let evaluation = policies.resume(&transit, states, None)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct PreparedTransit(Arc<LentTransit>);

impl PreparedTransit {
    /// Indexes the transit's route.
    pub fn new(transit: Transit) -> PreparedTransit {
        PreparedTransit(Arc::new(LentTransit::new(transit)))
    }

    /// The transit with its route's index from `routes`: what a service
    /// holding many transits along the same corridors uses, so that it
    /// holds each corridor's index once.
    pub fn sharing(transit: Transit, routes: &SharedRoutes) -> PreparedTransit {
        PreparedTransit(Arc::new(LentTransit::sharing(transit, routes)))
    }

    /// The transit as declared.
    pub fn transit(&self) -> &Transit {
        self.0.transit()
    }

    /// About how many bytes it holds, for a cache that bounds its memory:
    /// the route as declared and as indexed (in full, even when the index
    /// is shared: the bound then holds whatever is shared), and the
    /// declaration's texts,
    /// twice once a policy of contract 0.1 has had the transit lowered into
    /// that contract's record. An estimate: the parties' and zones' few
    /// texts are left out.
    ///
    /// # Units
    /// Bytes.
    pub fn size_bytes(&self) -> usize {
        let transit = self.transit();
        let texts: usize = [&transit.declaration, &transit.seal_id, &transit.vehicle]
            .into_iter()
            .flatten()
            .map(String::len)
            .sum::<usize>()
            + transit.id.len()
            + transit
                .goods
                .iter()
                .map(|item| item.hs.len() + item.description.len() + size_of_val(item))
                .sum::<usize>();
        let copies = 1 + usize::from(self.0.has_record_v0_1());
        size_of::<LentTransit>()
            + copies * texts
            + transit.route.len() * size_of::<geo::Coord<f64>>()
            + self.0.route().map_or(0, |route| route.size_bytes())
    }
}

impl PolicySet {
    /// Opens a transit: indexes its route and runs every policy's admission.
    pub fn open(&self, transit: &Transit) -> Evaluation<'_> {
        self.admit(Arc::new(LentTransit::new(transit.clone())))
    }

    /// Opens a transit prepared once ([`PreparedTransit`]): runs every
    /// policy's admission.
    pub fn open_prepared(&self, transit: &PreparedTransit) -> Evaluation<'_> {
        self.admit(Arc::clone(&transit.0))
    }

    fn admit(&self, transit: Arc<LentTransit>) -> Evaluation<'_> {
        let mut evaluation = Evaluation {
            policies: self,
            transit,
            states: vec![Vec::new(); self.policies().len()],
            open: vec![Vec::new(); self.policies().len()],
            findings: Vec::new(),
            decisions: Vec::new(),
            last_fix_at: None,
        };
        evaluation.admit();
        evaluation
    }

    /// Resumes an evaluation of a transit prepared once from the states
    /// [`Evaluation::policy_states`] returned, after fixes up to
    /// `last_fix_at`. The findings that were
    /// final before are the caller's to keep; this evaluation holds only
    /// what it raises from now on.
    ///
    /// # Errors
    /// [`ResumeError::PoliciesChanged`] when the states were written by other
    /// policies or parameters than this set's.
    pub fn resume(
        &self,
        transit: &PreparedTransit,
        states: Vec<PolicyState>,
        last_fix_at: Option<DateTime<Utc>>,
    ) -> Result<Evaluation<'_>, ResumeError> {
        let mut stored = states.into_iter();
        let mut kept_states = Vec::with_capacity(self.policies().len());
        let mut kept_open = Vec::with_capacity(self.policies().len());
        for policy in self.policies() {
            let state = stored
                .next()
                .filter(|state| state.policy == policy.id() && state.fingerprint == policy.fingerprint())
                .ok_or_else(|| ResumeError::PoliciesChanged {
                    policy: policy.id().to_owned(),
                })?;
            kept_states.push(state.state);
            kept_open.push(state.open);
        }
        if let Some(extra) = stored.next() {
            return Err(ResumeError::PoliciesChanged { policy: extra.policy });
        }
        Ok(Evaluation {
            policies: self,
            transit: Arc::clone(&transit.0),
            states: kept_states,
            open: kept_open,
            findings: Vec::new(),
            decisions: Vec::new(),
            last_fix_at,
        })
    }
}

impl Evaluation<'_> {
    fn admit(&mut self) {
        let opened_at = self.transit.transit().opened_at;
        for (index, policy) in self.policies.policies().iter().enumerate() {
            let started = Instant::now();
            let (findings, fuel_used) = match policy.admit(&self.transit) {
                Ok((findings, fuel)) => (findings, Some(fuel)),
                Err(failure) => (
                    vec![failure_finding(
                        &self.transit.transit().id,
                        policy,
                        &failure,
                        "admitting the transit",
                        opened_at,
                    )],
                    None,
                ),
            };
            self.record(index, started, fuel_used, findings);
        }
    }

    /// Keeps a call's final findings and notes the decision.
    fn record(&mut self, index: usize, started: Instant, fuel_used: Option<u64>, findings: Vec<Finding>) {
        let policies = self.policies;
        let policy = &policies.policies()[index];
        self.findings.extend(findings.iter().cloned());
        self.decisions.push(Decision {
            policy: policy.id().to_owned(),
            policy_version: policy.version().to_owned(),
            content_hash: policy.content_hash().to_owned(),
            fuel_used,
            elapsed: started.elapsed(),
            findings,
        });
    }

    /// Evaluates a batch of new fixes, in time order, as of `now`. An empty
    /// batch tells the policies only that time has passed (signal loss,
    /// overdue arrival). A batch of more than [`MAX_FIXES_PER_CALL`] fixes
    /// reaches the policies in calls of that many.
    pub fn observe(&mut self, fixes: &[Fix], now: DateTime<Utc>) -> Result<(), ObserveError> {
        if let Some(index) = fixes.windows(2).position(|pair| pair[1].at < pair[0].at) {
            return Err(ObserveError::OutOfOrder {
                index: index + 1,
                at: fixes[index + 1].at,
            });
        }
        if let (Some(first), Some(last)) = (fixes.first(), self.last_fix_at)
            && first.at < last
        {
            return Err(ObserveError::BeforeObserved { at: first.at, last });
        }
        if let Some(last) = fixes.last().map(|f| f.at).or(self.last_fix_at)
            && now < last
        {
            return Err(ObserveError::NowBeforeFix { now, last });
        }
        let mut chunks = fixes.chunks(MAX_FIXES_PER_CALL).peekable();
        if chunks.peek().is_none() {
            self.observe_call(&[], now);
        }
        while let Some(chunk) = chunks.next() {
            // Each call but the last is evaluated as of its own last fix, as
            // a stream of batches would be.
            let chunk_now = match chunks.peek() {
                Some(_) => chunk.last().map_or(now, |fix| fix.at),
                None => now,
            };
            self.observe_call(chunk, chunk_now);
        }
        Ok(())
    }

    /// Hands one batch of at most [`MAX_FIXES_PER_CALL`] checked fixes to
    /// every policy, as of `now`.
    fn observe_call(&mut self, fixes: &[Fix], now: DateTime<Utc>) {
        let batch = Batch::new(fixes);
        let now_ms = now.timestamp_millis();
        for (index, policy) in self.policies.policies().iter().enumerate() {
            let started = Instant::now();
            let state = &self.states[index];
            let outcome = policy.observe(&self.transit, &batch, now_ms, state);
            match outcome {
                Ok((observed, fuel)) => {
                    self.open[index] = observed.open;
                    self.states[index] = observed.state;
                    self.record(index, started, Some(fuel), observed.findings);
                }
                // The policy keeps its state and open findings from before:
                // the batch is lost to it, which the failure finding says.
                Err(failure) => {
                    let phase = format!(
                        "observing {} fix{}",
                        fixes.len(),
                        if fixes.len() == 1 { "" } else { "es" }
                    );
                    let failure = failure_finding(&self.transit.transit().id, policy, &failure, &phase, now);
                    self.record(index, started, None, vec![failure]);
                }
            }
        }
        if let Some(last) = fixes.last() {
            self.last_fix_at = Some(last.at);
        }
    }

    /// Adds findings raised outside the policies (the host's telemetry checks).
    pub fn add_findings(&mut self, findings: impl IntoIterator<Item = Finding>) {
        self.findings.extend(findings);
    }

    /// The findings so far, final and open, in report order.
    pub fn findings(&self) -> Vec<Finding> {
        let mut findings: Vec<Finding> = self
            .findings
            .iter()
            .chain(self.open.iter().flatten())
            .cloned()
            .collect();
        findings.sort_by(Finding::report_order);
        findings
    }

    /// What the findings so far add up to.
    pub fn verdict(&self) -> Verdict {
        Verdict::of(self.findings.iter().chain(self.open.iter().flatten()))
    }

    /// Takes the final findings raised since the last take (or since the
    /// evaluation began): what a caller that stores findings appends.
    pub fn take_findings(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.findings)
    }

    /// Takes the policy calls made since the last take, in call order.
    pub fn take_decisions(&mut self) -> Vec<Decision> {
        std::mem::take(&mut self.decisions)
    }

    /// Each policy's state and open findings, in set order: what
    /// [`PolicySet::resume`] takes back.
    pub fn policy_states(&self) -> Vec<PolicyState> {
        self.policies
            .policies()
            .iter()
            .zip(self.states.iter().zip(&self.open))
            .map(|(policy, (state, open))| PolicyState {
                policy: policy.id().to_owned(),
                fingerprint: policy.fingerprint().to_owned(),
                state: state.clone(),
                open: open.clone(),
            })
            .collect()
    }

    /// The time of the latest fix observed, if any.
    pub fn last_fix_at(&self) -> Option<DateTime<Utc>> {
        self.last_fix_at
    }
}

/// Why `check` could not evaluate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// `--now` stands before the transit opened.
    #[error("the evaluation time {} is before the transit opened ({})", format_time(.now), format_time(.opened_at))]
    NowBeforeOpening {
        /// The evaluation clock.
        now: DateTime<Utc>,
        /// When the transit opened.
        opened_at: DateTime<Utc>,
    },
    /// The batch could not be observed.
    #[error(transparent)]
    Observe(#[from] ObserveError),
}

/// Evaluates a whole track at once: what `escort check` does.
///
/// `now` is the evaluation clock; without it, the time of the latest fix (or
/// the opening of the transit when there are no fixes). Fixes dated before
/// the transit opened are refused, each a rejection at its line, and the
/// rest is evaluated.
///
/// # Examples
/// ```no_run
/// use escort_engine::{check, Sandbox, Telemetry, Transit};
/// use std::path::Path;
///
/// let sandbox = Sandbox::new()?;
/// let policies = escort_builtin::policies(&sandbox)?;
/// let transit = Transit::from_path(Path::new("transit.json"))?;
/// let telemetry = Telemetry::read_path(Path::new("fixes.ndjson"))?;
/// let report = check(&policies, &transit, &telemetry, None)?;
/// print!("{}", report.to_json());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn check(
    policies: &PolicySet,
    transit: &Transit,
    telemetry: &Telemetry,
    now: Option<DateTime<Utc>>,
) -> Result<Report, CheckError> {
    check_in_batches(policies, transit, telemetry, now, &[])
}

/// Evaluates a whole track as [`check`] does, but fed to the policies as a
/// service is fed it: in batches, each policy's state and open findings
/// carried from one batch to the next through [`PolicyState`]s and
/// [`PolicySet::resume`], and the final findings kept by the caller.
///
/// A new batch begins at each fix of `splits`, an index among the fixes
/// evaluated (those at or after the opening, in time order; the report's
/// `fixes.accepted` counts them); indices of no fix, or of the first, split
/// nothing. Each batch but the last is evaluated as of its own last fix, as
/// a service evaluates a batch it is sent; the last as of `now`, as
/// [`check`] is, so that policies that carry their state whole give the
/// same report, byte for byte, however the track is split.
///
/// # Examples
/// ```no_run
/// use escort_engine::{check, check_in_batches, Sandbox, Telemetry, Transit};
/// use std::path::Path;
///
/// let sandbox = Sandbox::new()?;
/// let policies = escort_builtin::policies(&sandbox)?;
/// let transit = Transit::from_path(Path::new("transit.json"))?;
/// let telemetry = Telemetry::read_path(Path::new("fixes.ndjson"))?;
/// // Three batches: fixes 0..10, 10..25 and from 25 on.
/// let streamed = check_in_batches(&policies, &transit, &telemetry, None, &[10, 25])?;
/// assert_eq!(streamed.to_json(), check(&policies, &transit, &telemetry, None)?.to_json());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`check`].
pub fn check_in_batches(
    policies: &PolicySet,
    transit: &Transit,
    telemetry: &Telemetry,
    now: Option<DateTime<Utc>>,
    splits: &[usize],
) -> Result<Report, CheckError> {
    // A fix dated before the opening (a receiver that lost its GPS week, a GPX file dated 1901) is
    // refused with its line, as the service refuses it, and the rest is evaluated.
    let telemetry = &*telemetry.refuse_before(transit.opened_at);
    let now = now
        .or(telemetry.fixes.last().map(|f| f.at))
        .unwrap_or(transit.opened_at);
    if now < transit.opened_at {
        return Err(CheckError::NowBeforeOpening {
            now,
            opened_at: transit.opened_at,
        });
    }
    if let Some(last) = telemetry.fixes.last()
        && now < last.at
    {
        return Err(ObserveError::NowBeforeFix { now, last: last.at }.into());
    }
    let prepared = PreparedTransit::new(transit.clone());
    let mut evaluation = policies.open_prepared(&prepared);
    if let (Some(first), Some(last)) = (telemetry.fixes.first(), telemetry.fixes.last()) {
        evaluation.add_findings(telemetry_quality(
            &transit.id,
            telemetry.out_of_order,
            telemetry.duplicates,
            first.at,
            last.at,
        ));
    }
    let mut splits: Vec<usize> = splits
        .iter()
        .copied()
        .filter(|&at| 0 < at && at < telemetry.fixes.len())
        .collect();
    splits.sort_unstable();
    splits.dedup();
    // What a service stores of each batch: the final findings it raised.
    let mut finals = Vec::new();
    let mut start = 0;
    for end in splits {
        let batch = &telemetry.fixes[start..end];
        let batch_now = batch.last().map_or(now, |fix| fix.at);
        evaluation.observe(batch, batch_now)?;
        finals.extend(evaluation.take_findings());
        let (states, last_fix_at) = (evaluation.policy_states(), evaluation.last_fix_at());
        evaluation = policies
            .resume(&prepared, states, last_fix_at)
            .expect("the states were written by this very set");
        start = end;
    }
    evaluation.observe(&telemetry.fixes[start..], now)?;
    finals.extend(evaluation.findings());
    finals.sort_by(Finding::report_order);
    let findings = finals;
    Ok(Report {
        transit: transit.id.clone(),
        verdict: Verdict::of(&findings),
        evaluated_at: now,
        fixes: FixCounts {
            accepted: telemetry.fixes.len(),
            rejected: telemetry.rejected.len(),
            duplicates: telemetry.duplicates,
        },
        findings,
        rejected: telemetry.rejected.clone(),
    })
}

/// The host's own data-quality finding about `transit`: what reading the
/// telemetry had to repair, over fixes from `first` to `last`. Policies only
/// ever see the repaired, ordered batch.
///
/// It is final: it reports repairs already made, which no later fix undoes.
/// A later batch that needs more repairs widens it under the same key (its
/// `from` is the first fix), as `escort check` over the whole track would.
pub fn telemetry_quality(
    transit: &str,
    out_of_order: usize,
    duplicates: usize,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
) -> Option<Finding> {
    let fixes = |count: usize| {
        if count == 1 {
            "1 fix".to_owned()
        } else {
            format!("{count} fixes")
        }
    };
    let mut evidence = BTreeMap::new();
    let mut repairs = Vec::new();
    if out_of_order > 0 {
        repairs.push(format!("{} out of time order (sorted)", fixes(out_of_order)));
        evidence.insert(
            "out_of_order_fixes".to_owned(),
            EvidenceValue::Text(out_of_order.to_string()),
        );
    }
    if duplicates > 0 {
        repairs.push(format!("{} repeating an earlier one (dropped)", fixes(duplicates)));
        evidence.insert(
            "duplicate_fixes".to_owned(),
            EvidenceValue::Text(duplicates.to_string()),
        );
    }
    if repairs.is_empty() {
        return None;
    }
    Some(Finding {
        key: Finding::episode_key(transit, TELEMETRY_CHECKS, "telemetry.quality", &first),
        status: FindingStatus::Final,
        policy: TELEMETRY_CHECKS.to_owned(),
        policy_version: TELEMETRY_CHECKS_VERSION.to_owned(),
        code: "telemetry.quality".to_owned(),
        severity: Severity::Info,
        message: repairs.join("; "),
        from: first,
        to: last,
        lat: None,
        lon: None,
        evidence,
    })
}

/// The `policy.error` finding about `transit` that replaces a failed call's
/// result: final, since the call it reports is over.
fn failure_finding(transit: &str, policy: &Policy, failure: &PolicyFailure, phase: &str, at: DateTime<Utc>) -> Finding {
    Finding {
        key: Finding::episode_key(transit, policy.id(), "policy.error", &at),
        status: FindingStatus::Final,
        policy: policy.id().to_owned(),
        policy_version: policy.version().to_owned(),
        code: "policy.error".to_owned(),
        severity: Severity::Warning,
        message: format!(
            "policy `{}` failed while {phase} and its findings are missing: {failure}",
            policy.id()
        ),
        from: at,
        to: at,
        lat: None,
        lon: None,
        evidence: BTreeMap::from_iter(
            [
                ("failure", Some(failure.kind().to_owned())),
                ("content_hash", Some(policy.content_hash().to_owned())),
                // The policy's own words (a Python or JavaScript exception's
                // type, message and line, as the SDKs give them), already held
                // to the bound of evidence.
                (
                    "error",
                    match failure {
                        PolicyFailure::Error(text) => Some(text.clone()),
                        _ => None,
                    },
                ),
            ]
            .into_iter()
            .filter_map(|(name, text)| Some((name.to_owned(), EvidenceValue::Text(text?)))),
        ),
    }
}
