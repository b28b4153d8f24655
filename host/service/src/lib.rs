//! Escort's service without HTTP: transits that stay open while their fixes
//! stream in, each batch evaluated as it arrives and kept durably in SQLite,
//! with the audit log, access tokens, live policies and metrics.
//!
//! [`Service`] is the whole of it, for a backend that embeds Escort;
//! `escort-http` puts the HTTP API of `docs/service.md` in front of it
//! (`escort serve`).
//!
//! - **Streaming equals batch.** A batch is evaluated from the policy states
//!   the previous one left (kept in the store, SQLite), so
//!   policies see only new fixes, and the findings equal `escort check` over
//!   the whole track. When that cannot hold by resuming (a fix older than one
//!   already evaluated, a changed transit, an `open-transits` version come
//!   into force) the transit is evaluated again from its first stored fix: a
//!   replay.
//! - **Durability.** A step (admission, batch, tick, close) is answered only
//!   after its fixes, findings, states and audit records are committed. One
//!   writer thread commits the steps waiting for it together, one sync for
//!   all (`commit.rs`); reads use their own connections.
//! - **Memory.** The transits used most are kept as their last committed
//!   step left them (`known.rs`), so a batch reads, parses and indexes
//!   nothing but its own fixes; the number kept and their bytes are bounded.
//! - **One step per transit at a time, and no transit waits for another.**
//!   Steps on one transit are serialised by that transit's own lock
//!   (`locks.rs`); different transits are evaluated side by side. The tick
//!   (`tick.rs`) runs its transits on a few workers and passes over one
//!   whose lock is held, so a transit whose policies take their whole
//!   deadline delays its own steps only.
//! - **A defect costs one step.** A panic outside a policy call (a policy's
//!   own failures are `policy.error` findings) is caught, counted, and its
//!   transit listed for review until a step of it succeeds (`panics.rs`).
//! - **One service per data folder.** It holds the folder's lock for its
//!   whole life (`data_lock.rs`): two services writing one database would
//!   each overwrite what the other's memory does not know.
//! - **A transit is judged by the versions in force when it opened.** Every
//!   version published is kept (`timeline`, `versions`); a step takes its
//!   transit's [`PolicySet`] when it starts and finishes on it, whatever is
//!   published meanwhile (`live`); a publish moves its files into the live
//!   folder so that a crash leaves the old version or the new one (`swap`).

mod access;
pub mod audit;
mod commit;
mod config;
mod data_lock;
mod intake;
mod known;
mod live;
mod locks;
mod metrics;
mod panics;
pub mod reevaluation;
pub mod replay;
mod shadow;
mod step;
mod store;
mod swap;
mod tick;
mod timeline;
pub mod verification;
mod versions;

use std::sync::Arc;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use serde::Serialize;

pub use access::{Access, Action, Denied, NewTokens, Role, TokenConfig, new_secret, token_hash};
pub use config::{ConfigError, DEFAULT_TIMEZONE, EdgeTimeouts, ServeConfig};
pub use live::{LivePolicies, PolicyInfo, PolicyListing};
pub use metrics::Metrics;
pub use shadow::{MAX_SHADOW_DIFFS, ShadowFindings, ShadowReport};
pub use step::StepKind;
pub use tick::{TickFailure, TickSummary};
pub use timeline::{Change, Schedule, VersionInfo};

use crate::audit::{AuditEntry, DecisionRecord, digest_fixes};
// The store itself is public for tools that write or read a database
// without a service (`escort bench` builds one of many transits at once).
pub use crate::store::{
    Board, BoardCursor, BoardQuery, BoardRow, ListFilter, ShadowRun, Step, Store, StoreError, StreamCounts,
    TransitRecord, TransitSummary, VerdictCounts,
};
use commit::{Pending, Readers, Writer};
use data_lock::DataLock;
use escort_engine::Fix;
use escort_engine::content_hash;
use escort_engine::{Decision, Evaluation, telemetry_quality};
use escort_engine::{Finding, FindingStatus, Severity, Verdict, format_time};
use escort_engine::{FixCounts, Report};
use escort_engine::{NdjsonBatch, Rejection, before_opening};
use escort_engine::{PolicySet, PreparedTransit, SharedRoutes};
use escort_engine::{Transit, TransitError};
use intake::Intake;
use known::{Known, KnownTransits};
use locks::{TransitGuard, TransitLocks};
use shadow::Observed;

/// Why a request to the service failed. Each kind is one HTTP status; the
/// enum is exhaustive so that `escort-http` must map a new kind.
#[derive(Debug, thiserror::Error)]
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
    /// The transit is closed, or another publish of policies is still
    /// under way after the publish wait (409).
    #[error("{0}")]
    Conflict(String),
    /// The database failed (500); nothing of the step was kept.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The service could not start.
    #[error("{0}")]
    Setup(String),
    /// A step panicked outside a policy call: a defect of the service
    /// (500). What it had not committed was not kept, and sending the same
    /// request again is safe.
    #[error("{0}")]
    Defect(String),
}

impl ServiceError {
    /// The HTTP status the error is answered with, for every front of the
    /// service (the API, the officers' page) to answer alike.
    pub fn http_status(&self) -> u16 {
        match self {
            ServiceError::BadRequest(_) => 400,
            ServiceError::Unprocessable(_) => 422,
            ServiceError::NotFound(_) => 404,
            ServiceError::Conflict(_) => 409,
            ServiceError::Store(_) | ServiceError::Setup(_) | ServiceError::Defect(_) => 500,
        }
    }
}

/// An evaluation that went through a step, ready to be stored.
struct Evaluated<'p> {
    evaluation: Evaluation<'p>,
    /// Whether it began again from the transit's first fix.
    replayed: bool,
    /// SHA-256 of what it was given, for the audit log.
    input_digest: String,
    /// Its clock.
    evaluated_at: DateTime<Utc>,
    /// The runs of the shadow versions running, over what it observed.
    shadows: Vec<ShadowRun>,
}

/// What an evaluation is asked to take in besides the transit's stored
/// states.
struct Observation<'b> {
    /// New fixes, in time order.
    batch: &'b [Fix],
    /// The evaluation clock.
    now: DateTime<Utc>,
    /// Whether to begin again from the transit's first fix, whatever the
    /// stored states.
    replay: bool,
    /// Whether the shadow versions running observe it too: every step
    /// that is stored, not a report.
    shadows: bool,
}

impl<'b> Observation<'b> {
    /// New fixes, as of `now`.
    fn batch(batch: &'b [Fix], now: DateTime<Utc>) -> Observation<'b> {
        Observation {
            batch,
            now,
            replay: false,
            shadows: true,
        }
    }

    /// The passing of time up to `now`.
    fn time(now: DateTime<Utc>) -> Observation<'b> {
        Observation::batch(&[], now)
    }

    /// Everything again from the transit's first fix, as of `now`.
    fn replay(now: DateTime<Utc>) -> Observation<'b> {
        Observation {
            replay: true,
            ..Observation::time(now)
        }
    }

    /// The same without the shadow versions: for a report, which is not
    /// stored, and a tick, which runs them only once it knows it stores.
    fn unstored(self) -> Observation<'b> {
        Observation { shadows: false, ..self }
    }
}

/// A transit's step handed to the group commit and not settled yet
/// ([`Service::submit`]).
struct Submitted {
    id: String,
    pending: Pending,
    transit: Arc<PreparedTransit>,
}

/// What a step received besides the passing of time.
#[derive(Default)]
struct Received {
    /// New fixes, in the order received.
    fixes: Vec<Fix>,
    /// New refused lines, numbered across the transit's stream.
    rejections: Vec<Rejection>,
    /// A declaration (`PUT`): the transit is new or changed.
    declaration: Option<String>,
}

impl Received {
    fn declaration(text: &str) -> Received {
        Received {
            declaration: Some(text.to_owned()),
            ..Received::default()
        }
    }
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
    /// Findings that are news to the transit's report: those whose key it
    /// did not hold before this batch with the same status and severity
    /// ([`news`]). An episode still growing is listed once, when it appears,
    /// and again when its severity changes or it becomes final.
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

/// Most connections that read the database at once.
const READERS: usize = 8;

/// Escort as a service, without HTTP.
///
/// Every method that names a transit refuses an id outside the transit id
/// rule ([`Transit::check_id`]) as [`ServiceError::BadRequest`], before it
/// looks anything up.
///
/// # Examples
/// ```no_run
/// use escort_service::{ServeConfig, Service};
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
    writer: Writer,
    readers: Readers,
    known: KnownTransits,
    /// The route indexes of the transits in memory, each corridor's once.
    routes: SharedRoutes,
    policies: LivePolicies,
    locks: TransitLocks,
    tick_workers: usize,
    metrics: Metrics,
    /// How far past the clock a fix or a close may be dated.
    max_fix_lead: TimeDelta,
    /// Held for the service's life, and let go last: no other service
    /// writes the data folder meanwhile.
    data_lock: DataLock,
}

impl Service {
    /// Opens the data folder (creating it), takes its lock
    /// (`DATA/escort.lock`, held until the service is dropped), opens the
    /// database in it, and the live policy set: the built-in policies with
    /// the live folder's over them.
    ///
    /// # Errors
    /// When another service holds the data folder (the message names it and
    /// the lock file), when the folder or database cannot be set up, or the
    /// live policy folder does not load and validate.
    pub fn open(config: &ServeConfig) -> Result<Service, ServiceError> {
        let setup = |what: &str, e: &dyn std::fmt::Display| ServiceError::Setup(format!("{what}: {e}"));
        std::fs::create_dir_all(&config.data).map_err(|e| setup(&config.data.display().to_string(), &e))?;
        let data_lock = DataLock::take(&config.data, config.listen)?;
        let path = config.data.join("escort.db");
        let writer = Writer::start(Store::open(&path)?)?;
        let policies = LivePolicies::open(config.sandbox()?, config.policy_dir(), config.trust()?, writer.shared())?
            .with_publish_bounds(config.publish_wait(), config.max_policy_bytes);
        Ok(Service {
            writer,
            readers: Readers::new(&path, READERS),
            known: KnownTransits::new(config.cached_transits, config.cached_transit_bytes),
            routes: SharedRoutes::default(),
            policies,
            locks: TransitLocks::new(),
            tick_workers: tick::workers(),
            metrics: Metrics::new(),
            max_fix_lead: config.max_fix_lead(),
            data_lock,
        })
    }

    /// Records in the data folder's lock file the address the service
    /// listens on, once it is bound: a second service started on the folder
    /// names it when it refuses to start.
    pub fn listening(&self, address: std::net::SocketAddr) -> std::io::Result<()> {
        self.data_lock.listening(address)
    }

    /// The live policies.
    pub fn policies(&self) -> &LivePolicies {
        &self.policies
    }

    /// The service's counters, for `GET /metrics`.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Takes the transit's lock, waiting for its earlier steps.
    fn lock(&self, id: &str) -> TransitGuard<'_> {
        self.locks.lock(id)
    }

    /// Who may do what: the tokens `config` names, or with none there
    /// those the database keeps; on a first start with neither, one new
    /// token per role, written to a file in the data folder that only its
    /// owner may read (returned as [`NewTokens`], to tell the operator).
    pub fn establish_access(&self, config: &ServeConfig) -> Result<(Access, Option<NewTokens>), ServiceError> {
        Access::establish(&config.tokens, &mut self.writer.store(), &config.data)
    }

    /// The transit as its last committed step left it: from memory, or read
    /// and parsed. Call it holding the transit's lock.
    fn known(&self, id: &str) -> Result<Option<Arc<Known>>, ServiceError> {
        if let Some(known) = self.known.get(id) {
            return Ok(Some(known));
        }
        let stored = self.readers.with(|store| {
            let Some(record) = store.transit(id)? else {
                return Ok(None);
            };
            let declaration = store.declaration(id)?.unwrap_or_default();
            Ok(Some((
                record,
                declaration,
                store.policy_states(id)?,
                store.shadow_runs(id)?,
            )))
        })?;
        let Some((record, declaration, states, shadows)) = stored else {
            return Ok(None);
        };
        let known = Arc::new(Known {
            transit: Arc::new(PreparedTransit::sharing(parse_stored(id, &declaration)?, &self.routes)),
            record,
            states,
            shadows,
        });
        self.known.put(Arc::clone(&known));
        Ok(Some(known))
    }

    /// Writes a step (through the group commit) and, once it is committed,
    /// keeps the transit's new state in memory. Call it holding the
    /// transit's lock.
    fn commit(&self, step: Step, transit: Arc<PreparedTransit>) -> Result<Arc<Known>, ServiceError> {
        self.settle(self.submit(step, transit))
    }

    /// Hands a step to the group commit without waiting for it; [`settle`]
    /// it holding the transit's lock.
    ///
    /// [`settle`]: Service::settle
    fn submit(&self, step: Step, transit: Arc<PreparedTransit>) -> Submitted {
        Submitted {
            id: step.record.id.clone(),
            pending: self.writer.submit(step),
            transit,
        }
    }

    /// Waits for a submitted step's commit and keeps the transit's new
    /// state in memory, or forgets the transit when the step was not kept.
    /// Call it holding the transit's lock, taken before the step was
    /// evaluated: the cache, and the transit's next step, see committed
    /// states only.
    fn settle(&self, submitted: Submitted) -> Result<Arc<Known>, ServiceError> {
        match submitted.pending.wait() {
            Ok(step) => {
                let known = Arc::new(Known {
                    record: step.record,
                    transit: submitted.transit,
                    states: step.states,
                    shadows: step.shadows,
                });
                self.known.put(Arc::clone(&known));
                Ok(known)
            }
            Err(e) => {
                self.known.forget(&submitted.id);
                Err(e.into())
            }
        }
    }

    /// Registers a transit, or updates it while it is open, and runs
    /// admission. An update evaluates the transit again from its first fix.
    pub fn put_transit(&self, id: &str, declaration: &str) -> Result<Admission, ServiceError> {
        check_path_id(id)?;
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
        let opened_at = transit.opened_at;
        let transit = Arc::new(PreparedTransit::sharing(transit, &self.routes));
        let _transit = self.lock(id);
        let policies = self.policies.judging(opened_at)?;
        // Admission is a pure function of the transit, so asking again
        // answers what the stored evaluation was given; a new transit's
        // evaluation goes on from this one.
        let opened = policies.open_prepared(&transit);
        let admission = opened.findings();
        let answer = |created, verdict| Admission {
            transit: id.to_owned(),
            created,
            verdict,
            findings: admission.clone(),
        };
        match self.known(id)? {
            Some(known) => {
                if let Some((closed_at, _)) = &known.record.closed {
                    return Err(closed(id, closed_at));
                }
                if known.transit.transit() == transit.transit() {
                    return Ok(answer(false, known.record.verdict));
                }
                let mut record = known.record.clone();
                let now = record.last_fix_at.unwrap_or(opened_at).max(opened_at);
                let evaluated = self.evaluate(&policies, &transit, &known, Observation::replay(now))?;
                record.opened_at = opened_at;
                let (known, _) = self.save_step(
                    record,
                    transit,
                    evaluated,
                    StepKind::Replay,
                    Received::declaration(declaration),
                )?;
                Ok(answer(false, known.record.verdict))
            }
            None => {
                let record = TransitRecord::opened(id, opened_at);
                let evaluated = Evaluated {
                    evaluation: opened,
                    replayed: true,
                    input_digest: content_hash(declaration.as_bytes()),
                    evaluated_at: opened_at,
                    shadows: self.run_shadows(&transit, None, &Observed::Admission, opened_at),
                };
                let (known, _) = self.save_step(
                    record,
                    transit,
                    evaluated,
                    StepKind::Admit,
                    Received::declaration(declaration),
                )?;
                Ok(answer(true, known.record.verdict))
            }
        }
    }

    /// Takes a batch of fixes as NDJSON (`docs/reference.md` § Fixes), stores the good
    /// ones and evaluates them. Returns once everything is on disk.
    ///
    /// Refused lines are numbered within the batch in the answer, and across
    /// the transit's whole stream in its report, as if every batch had been
    /// one file.
    pub fn ingest(&self, id: &str, ndjson: &[u8]) -> Result<BatchOutcome, ServiceError> {
        check_path_id(id)?;
        let batch = NdjsonBatch::parse(ndjson);
        let clock = Utc::now();
        let _transit = self.lock(id);
        let known = self.open_known(id)?;
        let opened_at = known.transit.transit().opened_at;
        let mut intake = Intake::sort(batch, |fix| {
            if fix.at < opened_at {
                // Refused as `escort check` refuses it, so that a stream reports as its file does.
                Some(before_opening(fix.at, opened_at))
            } else if self.ahead_of_clock(fix.at, clock) {
                // A fix from the future would make every later batch a late
                // one and a replay; the clock is the service's, so the
                // refusal is too (`escort check` has no clock to hold it to).
                Some(self.after_clock(fix.at, clock))
            } else {
                None
            }
        });
        self.drop_repeats(&known.record, &mut intake)?;
        let accepted = intake.accepted();
        self.metrics
            .count_fixes(accepted, intake.duplicates, intake.rejected.len() as u64);
        let mut sorted = intake.fresh.clone();
        sorted.sort_by_key(|fix| fix.at);
        let now = known
            .record
            .last_fix_at
            .into_iter()
            .chain(sorted.last().map(|f| f.at))
            .max();
        let policies = self.policies.judging(opened_at)?;
        let evaluated = match now {
            Some(now) if !sorted.is_empty() => {
                Some(self.evaluate(&policies, &known.transit, &known, Observation::batch(&sorted, now))?)
            }
            _ => None,
        };

        let mut record = known.record.clone();
        let stream_rejections = intake.add_to(&mut record);
        let transit = Arc::clone(&known.transit);
        let (verdict, findings) = match evaluated {
            Some(evaluated) => {
                let mut before: Vec<Finding> = known.states.iter().flat_map(|state| state.open.clone()).collect();
                // A replay raises every final finding again; the ones stored
                // before are no news. Without one, a final finding is raised
                // once, and only the open ones can be known already.
                if evaluated.replayed {
                    before.extend(self.readers.with(|store| store.findings(id))?);
                }
                let (known, raised) = self.save_step(
                    record,
                    transit,
                    evaluated,
                    StepKind::Observe,
                    Received {
                        fixes: intake.fresh,
                        rejections: stream_rejections,
                        declaration: None,
                    },
                )?;
                (known.record.verdict, news(&before, raised))
            }
            None => {
                // Nothing to evaluate; the counts and refused lines still count.
                let evaluated_at = record.evaluated_at;
                let known = self.commit(
                    Step {
                        record,
                        declaration: None,
                        fixes: Vec::new(),
                        rejections: stream_rejections,
                        restart: false,
                        decisions: Vec::new(),
                        states: known.states.clone(),
                        audit: AuditEntry {
                            kind: StepKind::Observe.as_str(),
                            input_digest: digest_fixes(&[]),
                            evaluated_at,
                        },
                        shadows: known.shadows.clone(),
                    },
                    transit,
                )?;
                (known.record.verdict, Vec::new())
            }
        };
        Ok(BatchOutcome {
            transit: id.to_owned(),
            accepted,
            duplicates: intake.duplicates,
            rejected: intake.rejected,
            findings,
            verdict,
        })
    }

    /// Drops the fixes of a batch that repeat a stored fix or an earlier
    /// one of the batch.
    fn drop_repeats(&self, record: &TransitRecord, intake: &mut Intake) -> Result<(), ServiceError> {
        let stored = match intake.span() {
            // Every stored fix is at or before the latest one, so a batch
            // that begins after it repeats none: no need to look.
            Some((from, to)) if record.last_fix_at.is_some_and(|last| from <= last) => self
                .readers
                .with(|store| store.fix_keys_between(&record.id, from, to))?,
            _ => Vec::new(),
        };
        intake.drop_repeats(stored);
        Ok(())
    }

    /// The transit's report (`docs/reference.md` § The report). An open transit is evaluated as of
    /// `now` (default: the clock, but never before its latest fix) without
    /// storing anything; a closed one is reported as it was closed.
    pub fn report(&self, id: &str, now: Option<DateTime<Utc>>) -> Result<Report, ServiceError> {
        check_path_id(id)?;
        let _transit = self.lock(id);
        let known = self.known(id)?.ok_or_else(|| not_found(id))?;
        let mut record = known.record.clone();
        let (finals, rejections) = self
            .readers
            .with(|store| Ok((store.findings(id)?, store.rejections(id)?)))?;
        if record.closed.is_some() {
            let open = known.states.iter().flat_map(|state| state.open.clone());
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
            None => clock().max(floor),
        };
        let policies = self.policies.judging(record.opened_at)?;
        let evaluated = self.evaluate(&policies, &known.transit, &known, Observation::time(now).unstored())?;
        let mut findings = if evaluated.replayed { Vec::new() } else { finals };
        findings.extend(evaluated.evaluation.findings());
        record.evaluated_at = now;
        Ok(build_report(&record, findings, rejections))
    }

    /// The transit's declaration, its JSON as the last `PUT` sent it: what
    /// the officer's case file and the officers' page show of it.
    ///
    /// # Errors
    /// [`ServiceError::NotFound`] for a transit the service does not know.
    pub fn declaration(&self, id: &str) -> Result<String, ServiceError> {
        check_path_id(id)?;
        self.readers
            .with(|store| store.declaration(id))?
            .ok_or_else(|| not_found(id))
    }

    /// The transit's case file, the text an officer prints
    /// ([`escort_casefile::render`]): its report as of `now` (as
    /// [`Service::report`] gives it) with its declaration, times in `zone`.
    pub fn case_file(&self, id: &str, now: Option<DateTime<Utc>>, zone: chrono_tz::Tz) -> Result<String, ServiceError> {
        let report = self.report(id, now)?;
        let declaration = self.declaration(id)?;
        // The service admitted this declaration: one that no longer reads
        // is the service's defect, not the client's.
        let transit = Transit::from_json(&declaration)
            .map_err(|e| ServiceError::Defect(format!("the stored declaration of `{id}`: {e}")))?;
        Ok(escort_casefile::render(
            &transit,
            &report,
            zone,
            escort_casefile::Gazetteer::kazakhstan(),
        ))
    }

    /// The shadow versions' findings on the transit `id`, as its last
    /// stored step left them, by shadow version: what `GET
    /// /v1/transits/{id}?shadow=true` shows beside the report.
    pub fn shadow_findings(&self, id: &str) -> Result<Vec<ShadowFindings>, ServiceError> {
        check_path_id(id)?;
        let runs = self.readers.with(|store| {
            if store.transit(id)?.is_none() {
                return Ok(None);
            }
            store.shadow_runs(id).map(Some)
        })?;
        Ok(runs
            .ok_or_else(|| not_found(id))?
            .iter()
            .map(ShadowFindings::of)
            .collect())
    }

    /// Where the shadow version `seq` of the policy `policy` (default: the
    /// last one published) disagrees with the enforced versions, over
    /// every transit it ran on ([`ShadowReport`]).
    ///
    /// # Errors
    /// [`ServiceError::Unprocessable`] for an id that is no policy id or a
    /// `seq` that is no shadow version of it, [`ServiceError::NotFound`]
    /// when it has no shadow version.
    pub fn shadow_report(&self, policy: &str, seq: Option<i64>) -> Result<ShadowReport, ServiceError> {
        let shadow = self.policies.shadow_version(policy, seq)?;
        let runs = self.readers.with(|store| {
            store
                .runs_of_shadow(shadow.seq)?
                .into_iter()
                .map(|(id, run)| {
                    let mut enforced = store.findings(&id)?;
                    enforced.extend(store.policy_states(&id)?.into_iter().flat_map(|state| state.open));
                    Ok((id, run, enforced))
                })
                .collect::<Result<Vec<_>, StoreError>>()
        })?;
        Ok(ShadowReport::of(shadow, policy, runs))
    }

    /// Transits with their verdicts as of their last stored evaluation.
    pub fn list(&self, filter: &ListFilter) -> Result<Vec<TransitSummary>, ServiceError> {
        Ok(self.readers.with(|store| store.list(filter))?)
    }

    /// A page of the officers' board: transits open first and the most
    /// serious first, with their labels, and the counts of every transit
    /// by verdict.
    pub fn board(&self, query: &BoardQuery) -> Result<Board, ServiceError> {
        Ok(self.readers.with(|store| store.board(query))?)
    }

    /// A number that grows whenever a transit changes (an admission, a
    /// batch, a tick, a close), for a client to poll cheaply.
    pub fn changes(&self) -> Result<u64, ServiceError> {
        Ok(self.readers.with(Store::changes)?)
    }

    /// Every stored fix of the transit, by time.
    pub fn fixes(&self, id: &str) -> Result<Vec<Fix>, ServiceError> {
        check_path_id(id)?;
        let fixes = self.readers.with(|store| {
            store.in_snapshot(|store| {
                if store.transit(id)?.is_none() {
                    return Ok(None);
                }
                store.fixes(id).map(Some)
            })
        })?;
        fixes.ok_or_else(|| not_found(id))
    }

    /// Closes an open transit as of `at` (default: the clock, but never
    /// before its latest fix): a last evaluation for the passing of time,
    /// then no more fixes. An `at` further past the clock than a fix may be
    /// (`max_fix_lead_seconds`) is refused.
    pub fn close(&self, id: &str, reason: CloseReason, at: Option<DateTime<Utc>>) -> Result<Report, ServiceError> {
        check_path_id(id)?;
        let clock = Utc::now();
        if let Some(at) = at.filter(|at| self.ahead_of_clock(*at, clock)) {
            return Err(ServiceError::Unprocessable(self.after_clock(at, clock)));
        }
        {
            let _transit = self.lock(id);
            let known = self.open_known(id)?;
            let floor = known.record.last_fix_at.unwrap_or(known.record.opened_at);
            let now = at.unwrap_or_else(crate::clock).max(floor);
            if let Some(step) = self.time_step(&known, now, Some(reason))? {
                self.commit(step, Arc::clone(&known.transit))?;
            }
        }
        self.report(id, None)
    }

    /// Evaluates the passing of time up to `now`, closing the transit when
    /// `close` says why, and returns the step that stores it: a close always;
    /// a tick only when it changed in substance since the stored step
    /// ([`tick::changed_in_substance`]; the stored verdict can be a mark for
    /// review a panic left, `panics.rs`).
    fn time_step(
        &self,
        known: &Known,
        now: DateTime<Utc>,
        close: Option<CloseReason>,
    ) -> Result<Option<Step>, ServiceError> {
        let mut record = known.record.clone();
        if let Some(reason) = close {
            record.closed = Some((now, reason.as_str().to_owned()));
        }
        let policies = self.policies.judging(record.opened_at)?;
        let mut evaluated = self.evaluate(&policies, &known.transit, known, Observation::time(now).unstored())?;
        if close.is_none() && !tick::changed_in_substance(&evaluated, &known.states, &record) {
            return Ok(None);
        }
        // Only a step that is stored runs the shadow versions: a tick that
        // changes nothing costs them nothing. The passing of time brings no
        // fix, so each resumes from its own run whatever the enforced
        // versions did.
        evaluated.shadows = self.run_shadows(&known.transit, Some(known), &Observed::Batch(&[]), now);
        evaluated.input_digest = digest_fixes(&[]);
        let kind = if close.is_some() {
            StepKind::Close
        } else {
            StepKind::Tick
        };
        let (step, _) = self.step_of(record, evaluated, kind, Received::default());
        Ok(Some(step))
    }

    /// Evaluates `transit` (the one `from` holds, or its new declaration)
    /// from how its last committed step left it (`from`), for what
    /// `observation` brings: from the stored states when they fit
    /// `policies` and no fix of the batch is older than one already
    /// evaluated; otherwise, or when a replay is asked for, from the
    /// transit's first stored fix with the batch among them, as `escort
    /// check` would over the whole track.
    fn evaluate<'p>(
        &self,
        policies: &'p PolicySet,
        transit: &PreparedTransit,
        from: &Known,
        observation: Observation<'_>,
    ) -> Result<Evaluated<'p>, ServiceError> {
        let Observation {
            batch,
            now,
            replay,
            shadows,
        } = observation;
        let record = &from.record;
        let late = record
            .last_fix_at
            .is_some_and(|last| batch.first().is_some_and(|first| first.at < last));
        let resumed = (!replay && !late)
            .then(|| policies.resume(transit, from.states.clone(), record.last_fix_at).ok())
            .flatten();
        let (mut evaluation, fixes, replayed) = match resumed {
            Some(evaluation) => (evaluation, batch.to_vec(), false),
            None => {
                let mut all = self.readers.with(|store| store.fixes(&record.id))?;
                all.extend_from_slice(batch);
                // Stable: fixes with the same time keep the order received.
                all.sort_by_key(|fix| fix.at);
                (policies.open_prepared(transit), all, true)
            }
        };
        evaluation
            .observe(&fixes, now)
            .map_err(|e| ServiceError::Unprocessable(e.to_string()))?;
        let shadows = if shadows {
            let observed = if replayed {
                Observed::Everything(&fixes)
            } else {
                Observed::Batch(&fixes)
            };
            self.run_shadows(transit, Some(from), &observed, now)
        } else {
            Vec::new()
        };
        Ok(Evaluated {
            evaluation,
            replayed,
            input_digest: digest_fixes(&fixes),
            evaluated_at: now,
            shadows,
        })
    }

    /// Runs every shadow version running now over what a step of `transit`
    /// observed as of `now`, from the runs its last committed step (`from`)
    /// left. A shadow version that cannot observe, or does not load, is left
    /// out of the step with a warning: it decides nothing, so the step goes
    /// on.
    fn run_shadows(
        &self,
        transit: &PreparedTransit,
        from: Option<&Known>,
        observed: &Observed<'_>,
        now: DateTime<Utc>,
    ) -> Vec<ShadowRun> {
        let running = match self.policies.running_shadows() {
            Ok(running) => running,
            Err(e) => {
                tracing::warn!("no shadow run on transit `{}`: {e}", transit.transit().id);
                return Vec::new();
            }
        };
        let mut runs = Vec::with_capacity(running.len());
        for (version, set) in running {
            let before = from.and_then(|known| known.shadows.iter().find(|run| run.shadow == version.seq));
            let all_fixes = || {
                let mut all = self.readers.with(|store| store.fixes(&transit.transit().id))?;
                if let Observed::Batch(batch) = observed {
                    all.extend_from_slice(batch);
                }
                // Stable: fixes with the same time keep the order received.
                all.sort_by_key(|fix| fix.at);
                Ok(all)
            };
            let last_fix_at = from.and_then(|known| known.record.last_fix_at);
            match shadow::run(
                version.seq,
                &set,
                transit,
                before,
                last_fix_at,
                observed,
                all_fixes,
                now,
            ) {
                Ok(run) => runs.push(run),
                Err(e) => tracing::warn!(
                    "{}: shadow run on transit `{}` left out: {e}",
                    version.described(),
                    transit.transit().id
                ),
            }
        }
        runs
    }

    /// Stores a step ([`Service::step_of`]). Returns the transit as
    /// committed and every finding the step raised or left open.
    fn save_step(
        &self,
        record: TransitRecord,
        transit: Arc<PreparedTransit>,
        evaluated: Evaluated<'_>,
        kind: StepKind,
        received: Received,
    ) -> Result<(Arc<Known>, Vec<Finding>), ServiceError> {
        let (step, raised) = self.step_of(record, evaluated, kind, received);
        Ok((self.commit(step, transit)?, raised))
    }

    /// The step that stores an evaluation: the record (with its verdict
    /// brought up to date), the new fixes and refused lines, the
    /// decisions' findings, the states and the audit records; and every
    /// finding the evaluation raised or left open.
    fn step_of(
        &self,
        mut record: TransitRecord,
        mut evaluated: Evaluated<'_>,
        kind: StepKind,
        received: Received,
    ) -> (Step, Vec<Finding>) {
        let kind = kind.evaluated(evaluated.replayed);
        let now = evaluated.evaluated_at;
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
        let step = Step {
            record,
            declaration: received.declaration,
            fixes: received.fixes,
            rejections: received.rejections,
            restart: evaluated.replayed,
            decisions: decisions.into_iter().map(DecisionRecord::from).collect(),
            states,
            audit: AuditEntry {
                kind: kind.as_str(),
                input_digest: evaluated.input_digest,
                evaluated_at: now,
            },
            shadows: evaluated.shadows,
        };
        (step, raised.into_iter().chain(open).collect())
    }

    /// Whether `at` is further past `clock` than a fix may be.
    fn ahead_of_clock(&self, at: DateTime<Utc>, clock: DateTime<Utc>) -> bool {
        clock
            .checked_add_signed(self.max_fix_lead)
            .is_some_and(|latest| at > latest)
    }

    /// Why a time further past the clock than a fix may be is refused.
    fn after_clock(&self, at: DateTime<Utc>, clock: DateTime<Utc>) -> String {
        format!(
            "`at` {} is after the service's clock ({}) by more than max_fix_lead_seconds ({} s)",
            format_time(&at),
            format_time(&clock.trunc_subsecs(0)),
            self.max_fix_lead.num_seconds()
        )
    }

    fn open_known(&self, id: &str) -> Result<Arc<Known>, ServiceError> {
        let known = self.known(id)?.ok_or_else(|| not_found(id))?;
        match &known.record.closed {
            Some((closed_at, _)) => Err(closed(id, closed_at)),
            None => Ok(known),
        }
    }
}

/// The service's clock, to the second: a time the service writes of its own
/// (an evaluation as of now, a close without `at`, a tick) has no more
/// precision than that, as every time on the wire has none that its input
/// did not carry (`docs/reference.md` § The report).
pub fn clock() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

/// Holds an id a request names to the transit id rule ([`Transit::check_id`])
/// before anything is looked up, so that no other spelling reaches the
/// store, a lock or a message as a transit of its own.
fn check_path_id(id: &str) -> Result<(), ServiceError> {
    Transit::check_id(id).map_err(|e| ServiceError::BadRequest(format!("the transit in the path: {e}")))
}

fn parse_stored(id: &str, declaration: &str) -> Result<Transit, ServiceError> {
    Transit::from_json(declaration).map_err(|e| StoreError::Corrupt(format!("transit `{id}` as stored: {e}")).into())
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

/// What a batch answer lists of the findings a step `raised` or left open:
/// each one whose key the report `before` the step did not hold with the same
/// status and severity, in report order. So a consumer is told of an episode
/// when it appears, when it escalates and when it ends, not at every batch
/// it grows by.
fn news(before: &[Finding], raised: Vec<Finding>) -> Vec<Finding> {
    let known: std::collections::HashSet<(&str, FindingStatus, Severity)> = before
        .iter()
        .map(|finding| (finding.key.as_str(), finding.status, finding.severity))
        .collect();
    let mut news: Vec<Finding> = raised
        .into_iter()
        .filter(|finding| !known.contains(&(finding.key.as_str(), finding.status, finding.severity)))
        .collect();
    news.sort_by(Finding::report_order);
    news
}

/// The report (`docs/reference.md` § The report) from what the store holds.
fn build_report(record: &TransitRecord, mut findings: Vec<Finding>, rejected: Vec<Rejection>) -> Report {
    if let (Some(first), Some(last)) = (record.first_fix_at, record.last_fix_at) {
        findings.extend(telemetry_quality(
            &record.id,
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
            seal: Some(escort_engine::SealState::Intact),
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
