//! The service: transits that stay open while their fixes stream in, each
//! batch evaluated as it arrives and kept durably, behind an HTTP API
//! (`escort serve`).
//!
//! [`Service`] is the whole of it without HTTP, for a backend that embeds
//! Escort; [`serve`] puts the HTTP API of `docs/service.md` in front of it.
//!
//! - **Streaming equals batch.** A batch is evaluated from the policy states
//!   the previous one left (kept in the [`Store`](crate::store)), so
//!   policies see only new fixes, and the findings equal `escort check` over
//!   the whole track. When that cannot hold by resuming (a fix older than one
//!   already evaluated, a changed transit, changed policies) the transit is
//!   evaluated again from its first stored fix: a replay.
//! - **Durability.** A step (admission, batch, tick, close) is answered only
//!   after its fixes, findings, states and audit records are committed.
//! - **One step per transit at a time.** Steps on one transit are serialised
//!   by a lock; different transits are evaluated side by side.
//! - **Policies are swapped, never edited.** A step takes the current
//!   [`PolicySet`] when it starts and finishes on it, whatever is published
//!   meanwhile ([`live`]).

mod access;
mod config;
mod http;
mod live;
mod metrics;

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use access::{Access, Action, Denied, NewTokens, Role, token_hash};
pub use config::{ConfigError, ServeConfig, TokenConfig};
pub use http::serve;
pub use live::{LivePolicies, PolicyInfo};
pub use metrics::Metrics;

use crate::audit::{AuditEntry, digest_fixes};
use crate::bundle::Trust;
use crate::cache::{ComponentCache, content_hash};
use crate::evaluation::{Decision, Evaluation, PolicyState, telemetry_quality};
use crate::finding::{Finding, Verdict, format_time};
use crate::fix::{Fix, FixKey};
use crate::policy::PolicySet;
use crate::report::{FixCounts, Report};
use crate::sandbox::Sandbox;
pub use crate::store::{ListFilter, StoreError, TransitSummary};
use crate::store::{Step, Store, StreamCounts, TransitRecord};
use crate::telemetry::{NdjsonBatch, Rejection};
use crate::transit::{Transit, TransitError};

/// Why a request to the service failed. Each kind is one HTTP status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The request cannot be read at all (400).
    #[error("{0}")]
    BadRequest(String),
    /// The request is readable but wrong: a transit field, a refused policy (422).
    #[error("{0}")]
    Unprocessable(String),
    /// No such transit or policy (404).
    #[error("{0}")]
    NotFound(String),
    /// The transit is closed (409).
    #[error("{0}")]
    Conflict(String),
    /// The database failed (500); nothing of the step was kept.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The service could not start.
    #[error("{0}")]
    Setup(String),
}

/// An evaluation that went through a step, ready to be stored.
struct Evaluated<'p> {
    evaluation: Evaluation<'p>,
    /// Whether it began again from the transit's first fix.
    replayed: bool,
    /// SHA-256 of what it was given, for the audit log.
    input_digest: String,
}

/// What `PUT /v1/transits/{id}` answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Admission {
    /// The transit's id.
    pub transit: String,
    /// Whether the transit is new (201) rather than updated or repeated (200).
    #[serde(skip)]
    pub created: bool,
    /// Its verdict now.
    pub verdict: Verdict,
    /// The findings of the admission policies (eligibility, deadline).
    pub findings: Vec<Finding>,
}

/// What `POST /v1/transits/{id}/fixes` answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchOutcome {
    /// The transit's id.
    pub transit: String,
    /// Fixes stored.
    pub accepted: u64,
    /// Fixes dropped as repeats of stored ones.
    pub duplicates: u64,
    /// Refused lines, numbered within this batch.
    pub rejected: Vec<Rejection>,
    /// Findings that were not in the transit's report before this batch.
    pub findings: Vec<Finding>,
    /// The transit's verdict now.
    pub verdict: Verdict,
}

/// How a transit ends (`POST /v1/transits/{id}/close`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// The goods reached the office of destination.
    Arrived,
    /// Customs cleared the transit.
    Cleared,
}

impl CloseReason {
    fn as_str(self) -> &'static str {
        match self {
            CloseReason::Arrived => "arrived",
            CloseReason::Cleared => "cleared",
        }
    }
}

/// How many locks transits share. Two transits that hash alike wait for each
/// other, which only costs time; a fixed number keeps memory flat however
/// many transits are open.
const TRANSIT_LOCKS: usize = 1024;

/// Escort as a service, without HTTP.
///
/// # Examples
/// ```no_run
/// use escort_host::service::{ServeConfig, Service};
///
/// let service = Service::open(&ServeConfig::default())?;
/// let transit = std::fs::read_to_string("transit.json")?;
/// service.put_transit("KZ-2021-000123", &transit)?;
/// let outcome = service.ingest("KZ-2021-000123", std::fs::read("fixes.ndjson")?.as_slice())?;
/// println!("{} fixes, verdict {:?}", outcome.accepted, outcome.verdict);
/// let report = service.report("KZ-2021-000123", None)?;
/// print!("{}", report.to_json());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Service {
    store: Mutex<Store>,
    policies: LivePolicies,
    locks: Vec<Mutex<()>>,
    lock_hasher: RandomState,
    metrics: Metrics,
}

impl Service {
    /// Opens the data folder (creating it), the database in it, and the live
    /// policy set: the built-in policies with the live folder's over them.
    ///
    /// # Errors
    /// When the folder or database cannot be set up, or the live policy
    /// folder does not load and validate.
    pub fn open(config: &ServeConfig) -> Result<Service, ServiceError> {
        let setup = |what: &str, e: &dyn std::fmt::Display| ServiceError::Setup(format!("{what}: {e}"));
        std::fs::create_dir_all(&config.data).map_err(|e| setup(&config.data.display().to_string(), &e))?;
        let store = Store::open(&config.data.join("escort.db"))?;
        let sandbox = Sandbox::with_cache(ComponentCache::in_dir(config.cache_dir()))
            .map_err(|e| setup("starting the WebAssembly engine", &e))?;
        let trust = Trust::keys(config.trusted_keys.iter().map(String::as_str)).map_err(ServiceError::Setup)?;
        let policies = LivePolicies::open(sandbox, config.policy_dir(), trust)?;
        Ok(Service {
            store: Mutex::new(store),
            policies,
            locks: (0..TRANSIT_LOCKS).map(|_| Mutex::new(())).collect(),
            lock_hasher: RandomState::new(),
            metrics: Metrics::new(),
        })
    }

    /// The live policies.
    pub fn policies(&self) -> &LivePolicies {
        &self.policies
    }

    /// The service's counters, for `GET /metrics`.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The database, for the duration of one short read or write. A poisoned
    /// lock only means another thread panicked between statements; SQLite's
    /// transactions kept the file consistent, so the store is still usable.
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock(&self, id: &str) -> MutexGuard<'_, ()> {
        let index = self.lock_hasher.hash_one(id) as usize % self.locks.len();
        self.locks[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` on the store: for setting up access at start-up.
    pub(crate) fn with_store<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        f(&mut self.store())
    }

    /// Registers a transit, or updates it while it is open, and runs
    /// admission. An update evaluates the transit again from its first fix.
    pub fn put_transit(&self, id: &str, declaration: &str) -> Result<Admission, ServiceError> {
        let transit = Transit::from_json(declaration).map_err(|e| match e {
            TransitError::Json(_) => ServiceError::BadRequest(format!("the transit is not JSON: {e}")),
            _ => ServiceError::Unprocessable(e.to_string()),
        })?;
        if transit.id != id {
            return Err(ServiceError::Unprocessable(format!(
                "the transit's id `{}` is not the `{id}` of the path",
                transit.id
            )));
        }
        let _transit = self.lock(id);
        let policies = self.policies.current();
        // Admission is a pure function of the transit, so asking again
        // answers what the stored evaluation was given.
        let admission = policies.open(&transit).findings();
        let answer = |created, verdict| Admission {
            transit: id.to_owned(),
            created,
            verdict,
            findings: admission.clone(),
        };
        // Bound first: a guard in the `match` head would be held through
        // the arms, and `save_step` takes the store again.
        let existing = self.store().transit(id)?;
        match existing {
            Some(TransitRecord {
                closed: Some((closed_at, _)),
                ..
            }) => Err(closed(id, &closed_at)),
            Some(record) if parse_stored(&record)? == transit => Ok(answer(false, record.verdict)),
            Some(mut record) => {
                let states = self.store().policy_states(id)?;
                let now = record.last_fix_at.unwrap_or(transit.opened_at).max(transit.opened_at);
                let evaluated = self.evaluate(&policies, &transit, &record, states, &[], now, true)?;
                record.declaration = declaration.to_owned();
                record.opened_at = transit.opened_at;
                self.save_step(&mut record, evaluated, now, "replay", &[], &[])?;
                Ok(answer(false, record.verdict))
            }
            None => {
                let mut record = TransitRecord {
                    id: id.to_owned(),
                    declaration: declaration.to_owned(),
                    opened_at: transit.opened_at,
                    closed: None,
                    verdict: Verdict::Clear,
                    final_verdict: Verdict::Clear,
                    evaluated_at: transit.opened_at,
                    counts: StreamCounts::default(),
                    first_fix_at: None,
                    last_fix_at: None,
                };
                let evaluated = Evaluated {
                    evaluation: policies.open(&transit),
                    replayed: true,
                    input_digest: content_hash(declaration.as_bytes()),
                };
                self.save_step(&mut record, evaluated, transit.opened_at, "admit", &[], &[])?;
                Ok(answer(true, record.verdict))
            }
        }
    }

    /// Takes a batch of fixes as NDJSON (SPEC 1.2), stores the good ones and
    /// evaluates them. Returns once everything is on disk.
    ///
    /// Refused lines are numbered within the batch in the answer, and across
    /// the transit's whole stream in its report, as if every batch had been
    /// one file.
    pub fn ingest(&self, id: &str, ndjson: &[u8]) -> Result<BatchOutcome, ServiceError> {
        let batch = NdjsonBatch::parse(ndjson)
            .map_err(|e| ServiceError::BadRequest(format!("the batch is not NDJSON: {e}")))?;
        let _transit = self.lock(id);
        let mut record = self.open_record(id)?;
        let transit = parse_stored(&record)?;
        let mut rejected = Vec::new();
        let mut candidates = Vec::new();
        for (line, parsed) in batch.candidates {
            match parsed {
                Ok(fix) => candidates.push(fix),
                Err(reason) => rejected.push(Rejection { line, reason }),
            }
        }
        let (fresh, duplicates) = self.drop_duplicates(id, candidates)?;
        self.metrics
            .count_fixes(fresh.len() as u64, duplicates, rejected.len() as u64);
        let states = self.store().policy_states(id)?;
        let open_before: Vec<Finding> = states.iter().flat_map(|state| state.open.clone()).collect();
        let mut sorted = fresh.clone();
        sorted.sort_by_key(|fix| fix.at);
        let now = record.last_fix_at.into_iter().chain(sorted.last().map(|f| f.at)).max();
        let policies = self.policies.current();
        let evaluated = match now {
            Some(now) if !fresh.is_empty() => Some((
                self.evaluate(&policies, &transit, &record, states.clone(), &sorted, now, false)?,
                now,
            )),
            _ => None,
        };

        let stream_rejections: Vec<Rejection> = rejected
            .iter()
            .map(|r| Rejection {
                line: record.counts.lines + r.line,
                reason: r.reason.clone(),
            })
            .collect();
        let counts = &mut record.counts;
        counts.lines += batch.line_count;
        counts.rejected += rejected.len() as u64;
        counts.duplicates += duplicates;
        counts.accepted += fresh.len() as u64;
        for fix in &fresh {
            match record.last_fix_at {
                Some(latest) if fix.at < latest => counts.out_of_order += 1,
                _ => record.last_fix_at = Some(fix.at),
            }
        }
        record.first_fix_at = record
            .first_fix_at
            .into_iter()
            .chain(sorted.first().map(|f| f.at))
            .min();

        let findings = match evaluated {
            Some((evaluated, now)) => {
                let raised = self.save_step(&mut record, evaluated, now, "observe", &fresh, &stream_rejections)?;
                let mut new: Vec<Finding> = raised.into_iter().filter(|f| !open_before.contains(f)).collect();
                new.sort_by(Finding::report_order);
                new
            }
            None => {
                // Nothing to evaluate; the counts and refused lines still count.
                self.store().save(&Step {
                    record: &record,
                    fixes: &[],
                    rejections: &stream_rejections,
                    restart: false,
                    decisions: &[],
                    states: &states,
                    audit: AuditEntry {
                        kind: "observe",
                        input_digest: digest_fixes(&[]),
                        evaluated_at: record.evaluated_at,
                    },
                })?;
                Vec::new()
            }
        };
        Ok(BatchOutcome {
            transit: id.to_owned(),
            accepted: fresh.len() as u64,
            duplicates,
            rejected,
            findings,
            verdict: record.verdict,
        })
    }

    /// The fixes of a batch that repeat neither a stored fix nor an earlier
    /// one of the batch, in the order received, and how many did repeat.
    fn drop_duplicates(&self, id: &str, candidates: Vec<Fix>) -> Result<(Vec<Fix>, u64), ServiceError> {
        let span = (
            candidates.iter().map(|f| f.at).min(),
            candidates.iter().map(|f| f.at).max(),
        );
        let mut seen: HashSet<FixKey> = match span {
            (Some(from), Some(to)) => self.store().fix_keys_between(id, from, to)?.into_iter().collect(),
            _ => HashSet::new(),
        };
        let total = candidates.len();
        let fresh: Vec<Fix> = candidates
            .into_iter()
            .filter(|fix| seen.insert(FixKey::of(fix)))
            .collect();
        let duplicates = (total - fresh.len()) as u64;
        Ok((fresh, duplicates))
    }

    /// The transit's report (SPEC 2). An open transit is evaluated as of
    /// `now` (default: the clock, but never before its latest fix) without
    /// storing anything; a closed one is reported as it was closed.
    pub fn report(&self, id: &str, now: Option<DateTime<Utc>>) -> Result<Report, ServiceError> {
        let _transit = self.lock(id);
        let mut record = self.store().transit(id)?.ok_or_else(|| not_found(id))?;
        let (finals, states, rejections) = {
            let store = self.store();
            (store.findings(id)?, store.policy_states(id)?, store.rejections(id)?)
        };
        if record.closed.is_some() {
            let open = states.into_iter().flat_map(|state| state.open);
            return Ok(build_report(
                &record,
                finals.into_iter().chain(open).collect(),
                rejections,
            ));
        }
        let floor = record.last_fix_at.unwrap_or(record.opened_at);
        let now = match now {
            Some(now) if now < floor => {
                return Err(ServiceError::Unprocessable(format!(
                    "`now` ({}) is before the transit's latest fix or opening ({})",
                    format_time(&now),
                    format_time(&floor)
                )));
            }
            Some(now) => now,
            None => Utc::now().max(floor),
        };
        let transit = parse_stored(&record)?;
        let policies = self.policies.current();
        let evaluated = self.evaluate(&policies, &transit, &record, states, &[], now, false)?;
        let mut findings = if evaluated.replayed { Vec::new() } else { finals };
        findings.extend(evaluated.evaluation.findings());
        record.evaluated_at = now;
        Ok(build_report(&record, findings, rejections))
    }

    /// Transits with their verdicts as of their last stored evaluation.
    pub fn list(&self, filter: &ListFilter) -> Result<Vec<TransitSummary>, ServiceError> {
        Ok(self.store().list(filter)?)
    }

    /// Closes an open transit as of `at` (default: the clock, but never
    /// before its latest fix): a last evaluation for the passing of time,
    /// then no more fixes.
    pub fn close(&self, id: &str, reason: CloseReason, at: Option<DateTime<Utc>>) -> Result<Report, ServiceError> {
        {
            let _transit = self.lock(id);
            let mut record = self.open_record(id)?;
            let floor = record.last_fix_at.unwrap_or(record.opened_at);
            let now = at.unwrap_or_else(Utc::now).max(floor);
            record.closed = Some((now, reason.as_str().to_owned()));
            self.pass_time(&mut record, now, "close", true)?;
        }
        self.report(id, None)
    }

    /// Evaluates every open transit for the passing of time up to `now`, so
    /// that signal loss and overdue arrival appear without new fixes. Stores
    /// only transits whose findings changed. Returns how many did.
    pub fn tick(&self, now: DateTime<Utc>) -> Result<usize, ServiceError> {
        let ids = self.store().open_transits()?;
        let mut changed = 0;
        for id in ids {
            let _transit = self.lock(&id);
            let Some(mut record) = self.store().transit(&id)? else {
                continue;
            };
            if record.closed.is_some() || record.last_fix_at.is_some_and(|last| last > now) {
                continue;
            }
            if self.pass_time(&mut record, now, "tick", false)? {
                changed += 1;
            }
        }
        Ok(changed)
    }

    /// Evaluates the passing of time up to `now`, and stores it if `always`
    /// or if the findings changed. Returns whether it stored.
    fn pass_time(
        &self,
        record: &mut TransitRecord,
        now: DateTime<Utc>,
        kind: &'static str,
        always: bool,
    ) -> Result<bool, ServiceError> {
        let transit = parse_stored(record)?;
        let policies = self.policies.current();
        let states = self.store().policy_states(&record.id)?;
        let open_before: Vec<Finding> = states.iter().flat_map(|state| state.open.clone()).collect();
        let mut evaluated = self.evaluate(&policies, &transit, record, states, &[], now, false)?;
        let open: Vec<Finding> = evaluated
            .evaluation
            .policy_states()
            .into_iter()
            .flat_map(|state| state.open)
            .collect();
        let raised_final = evaluated.evaluation.findings().len() > open.len();
        if !(always || evaluated.replayed || raised_final || open != open_before) {
            return Ok(false);
        }
        evaluated.input_digest = digest_fixes(&[]);
        self.save_step(record, evaluated, now, kind, &[], &[])?;
        Ok(true)
    }

    /// Evaluates `batch` (new fixes, in time order) as of `now`: from the
    /// stored states when they fit `policies` and no fix of the batch is
    /// older than one already evaluated; otherwise, or when `replay` is
    /// asked for, from the transit's first stored fix with the batch among
    /// them, as `escort check` would over the whole track.
    #[allow(clippy::too_many_arguments)]
    fn evaluate<'p>(
        &self,
        policies: &'p PolicySet,
        transit: &Transit,
        record: &TransitRecord,
        states: Vec<PolicyState>,
        batch: &[Fix],
        now: DateTime<Utc>,
        replay: bool,
    ) -> Result<Evaluated<'p>, ServiceError> {
        let late = record
            .last_fix_at
            .is_some_and(|last| batch.first().is_some_and(|first| first.at < last));
        let resumed = (!replay && !late)
            .then(|| policies.resume(transit, states, record.last_fix_at).ok())
            .flatten();
        let (mut evaluation, fixes, replayed) = match resumed {
            Some(evaluation) => (evaluation, batch.to_vec(), false),
            None => {
                let mut all = self.store().fixes(&record.id)?;
                all.extend_from_slice(batch);
                // Stable: fixes with the same time keep the order received.
                all.sort_by_key(|fix| fix.at);
                (policies.open(transit), all, true)
            }
        };
        evaluation
            .observe(&fixes, now)
            .map_err(|e| ServiceError::Unprocessable(e.to_string()))?;
        Ok(Evaluated {
            evaluation,
            replayed,
            input_digest: digest_fixes(&fixes),
        })
    }

    /// Stores a step as of `now`: the record (with its verdict brought up to
    /// date), the new fixes and refused lines, the decisions' findings, the
    /// states and the audit records. Returns every finding the step raised
    /// or left open.
    fn save_step(
        &self,
        record: &mut TransitRecord,
        mut evaluated: Evaluated<'_>,
        now: DateTime<Utc>,
        kind: &'static str,
        fixes: &[Fix],
        rejections: &[Rejection],
    ) -> Result<Vec<Finding>, ServiceError> {
        let kind = if evaluated.replayed && kind != "admit" {
            "replay"
        } else {
            kind
        };
        let decisions: Vec<Decision> = evaluated.evaluation.take_decisions();
        let states = evaluated.evaluation.policy_states();
        let open: Vec<Finding> = states.iter().flat_map(|state| state.open.clone()).collect();
        let raised: Vec<Finding> = decisions.iter().flat_map(|d| d.findings.clone()).collect();
        // Final findings only accumulate (a replay starts them again), so
        // the verdict is that of the final findings so far and of what is
        // open now.
        let raised_verdict = Verdict::of(&raised);
        record.final_verdict = if evaluated.replayed {
            raised_verdict
        } else {
            record.final_verdict.max(raised_verdict)
        };
        record.verdict = record.final_verdict.max(Verdict::of(&open));
        record.evaluated_at = now;
        self.metrics.count_decisions(kind, &decisions);
        self.store().save(&Step {
            record,
            fixes,
            rejections,
            restart: evaluated.replayed,
            decisions: &decisions,
            states: &states,
            audit: AuditEntry {
                kind,
                input_digest: evaluated.input_digest,
                evaluated_at: now,
            },
        })?;
        Ok(raised.into_iter().chain(open).collect())
    }

    fn open_record(&self, id: &str) -> Result<TransitRecord, ServiceError> {
        let record = self.store().transit(id)?.ok_or_else(|| not_found(id))?;
        match &record.closed {
            Some((closed_at, _)) => Err(closed(id, closed_at)),
            None => Ok(record),
        }
    }
}

fn parse_stored(record: &TransitRecord) -> Result<Transit, ServiceError> {
    Transit::from_json(&record.declaration)
        .map_err(|e| StoreError::Corrupt(format!("transit `{}` as stored: {e}", record.id)).into())
}

fn not_found(id: &str) -> ServiceError {
    ServiceError::NotFound(format!("no transit `{id}`; register it with PUT /v1/transits/{id}"))
}

fn closed(id: &str, closed_at: &DateTime<Utc>) -> ServiceError {
    ServiceError::Conflict(format!(
        "transit `{id}` was closed at {}; it takes no more changes",
        format_time(closed_at)
    ))
}

/// The report of SPEC 2 from what the store holds.
fn build_report(record: &TransitRecord, mut findings: Vec<Finding>, rejected: Vec<Rejection>) -> Report {
    if let (Some(first), Some(last)) = (record.first_fix_at, record.last_fix_at) {
        findings.extend(telemetry_quality(
            record.counts.out_of_order as usize,
            record.counts.duplicates as usize,
            first,
            last,
        ));
    }
    findings.sort_by(Finding::report_order);
    Report {
        transit: record.id.clone(),
        verdict: Verdict::of(&findings),
        evaluated_at: record.evaluated_at,
        fixes: FixCounts {
            accepted: record.counts.accepted as usize,
            rejected: record.counts.rejected as usize,
            duplicates: record.counts.duplicates as usize,
        },
        findings,
        rejected,
    }
}

/// A short evaluation the live policies must pass before they serve: a
/// small transit with a few fixes, on which no policy may fail.
pub(crate) fn validate(policies: &PolicySet) -> Result<(), String> {
    const TRANSIT: &str = r#"{
        "id": "VALIDATION", "seal_id": "NS-1",
        "importer": {"bin": "990240000111", "name": "Validation LLP", "zone": "green"},
        "goods": [{"hs": "847130", "description": "portable computers", "value_usd": 1000, "excise": false}],
        "departure": {"id": "A", "lat": 43.30, "lon": 76.90, "radius_m": 1000},
        "destination": {"id": "B", "lat": 43.30, "lon": 77.10, "radius_m": 1000},
        "route": {"type": "LineString", "coordinates": [[76.90, 43.30], [77.10, 43.30]]},
        "opened_at": "2021-05-16T06:00:00Z", "deadline": "2021-05-17T06:00:00Z"
    }"#;
    let transit = Transit::from_json(TRANSIT).expect("the validation transit is well formed");
    let fixes: Vec<Fix> = (0..=12)
        .map(|step| Fix {
            at: transit.opened_at + chrono::Duration::minutes(step * 5),
            lat: 43.30,
            lon: 76.90 + 0.2 * step as f64 / 12.0,
            speed_kmh: Some(25.0),
            course_deg: Some(90.0),
            hdop: Some(0.9),
            sats: Some(11),
            battery_pct: Some(90.0),
            seal: Some(crate::fix::SealState::Intact),
            seal_id: None,
        })
        .collect();
    let mut evaluation = policies.open(&transit);
    let now = fixes.last().map(|f| f.at).unwrap_or(transit.opened_at);
    evaluation.observe(&fixes, now).map_err(|e| e.to_string())?;
    match evaluation.findings().into_iter().find(|f| f.code == "policy.error") {
        Some(failure) => Err(failure.message),
        None => Ok(()),
    }
}
