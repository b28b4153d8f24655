//! Durable storage for the service: transits, their fixes, findings and
//! policy states, the audit log, the access tokens and the policy timeline,
//! in one SQLite file.
//!
//! SQLite runs in WAL mode with `synchronous = FULL`: when
//! [`Store::save_all`] returns, the steps are on disk and survive a crash
//! of the process or of the machine. A step (one batch, one admission, one
//! tick, one close) is never split across transactions, so a crash leaves
//! either all of it or none of it; several steps may share one transaction
//! ([`Store::save_all`], for group commit), each inside its own savepoint.
//! The audit records of a step are written in the same transaction as what
//! they record.
//!
//! The store knows nothing of HTTP or of how evaluation works; it keeps what
//! [`crate::service`] hands it and gives it back. That boundary is what a
//! store shared by several machines would implement.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::config::DbConfig;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, params, params_from_iter};
use rusqlite_migration::{M, Migrations};

mod audit;
mod board;
mod shadow;
mod versions;

pub use board::{Board, BoardCursor, BoardQuery, BoardRow, VerdictCounts};
pub use shadow::ShadowRun;

use crate::audit::commitment::{Commitment, RowsDigest, TransitRow, json_of};
use crate::audit::{AuditEntry, DecisionRecord};
use escort_engine::PolicyState;
use escort_engine::Rejection;
use escort_engine::content_hash;
use escort_engine::{Finding, FindingStatus, Verdict};
use escort_engine::{Fix, FixKey, SealState};

/// The schema version this build reads and writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 6;

/// From each schema version to the next, in order: a new file is made with
/// the first schema and brought up to date by the same steps as an old one,
/// all of them in one transaction. The last one's number is
/// [`SCHEMA_VERSION`].
///
/// A migration that changes what a table committed to the audit log holds
/// (see `audit::commitment`) must end with `audit::adopt`, so that the
/// chain commits to the rows as they are from then on.
fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(SCHEMA),
        // 2: the declaration moves out of the transit's row. It is written
        // once per `PUT`, while the row changes at every step, and a row
        // that holds it spans overflow pages that every step wrote to the
        // WAL again.
        M::up(
            "CREATE TABLE declarations (
                 transit INTEGER PRIMARY KEY REFERENCES transits (key),
                 declaration TEXT NOT NULL
             );
             INSERT INTO declarations (transit, declaration) SELECT key, declaration FROM transits;
             ALTER TABLE transits DROP COLUMN declaration;",
        ),
        // 3: the chain commits to the tables (issue 11): after its
        // decisions, each step appends a step record, which `transit` marks
        // with the transit's key so that verification reads a transit's step
        // records in order without reading the whole chain. Decision records
        // leave it NULL and the index out. The transits an earlier build
        // stored are adopted: one record each commits to their rows as they
        // are.
        M::up_with_hook(
            "ALTER TABLE audit ADD COLUMN transit INTEGER;
             CREATE INDEX audit_steps ON audit (transit) WHERE transit IS NOT NULL;",
            |tx: &Transaction<'_>| Ok(audit::adopt(tx)?),
        ),
        // 4: every version of every policy published, and the components
        // they judge with, so that a transit is judged by the versions in
        // force when it opened, across restarts (`timeline`). A version
        // with no fingerprint is a withdrawal.
        M::up(
            "CREATE TABLE components (
                 content_hash TEXT PRIMARY KEY,
                 bytes BLOB NOT NULL
             );
             CREATE TABLE policy_versions (
                 seq INTEGER PRIMARY KEY,
                 policy TEXT NOT NULL,
                 version TEXT,
                 content_hash TEXT REFERENCES components (content_hash),
                 fingerprint TEXT,
                 origin TEXT,
                 config TEXT,
                 effective_from_ms INTEGER,
                 effective_until_ms INTEGER,
                 applies_to TEXT NOT NULL,
                 published_at_ms INTEGER NOT NULL,
                 published_by TEXT NOT NULL
             );
             CREATE TRIGGER policy_versions_are_append_only_update BEFORE UPDATE ON policy_versions
             BEGIN SELECT RAISE(ABORT, 'the policy timeline is append-only'); END;
             CREATE TRIGGER policy_versions_are_append_only_delete BEFORE DELETE ON policy_versions
             BEGIN SELECT RAISE(ABORT, 'the policy timeline is append-only'); END;",
        ),
        // 5: shadow runs (issue 13). A version is enforced or runs in
        // shadow, and was made by a publication, a promotion or a
        // rollback; each shadow version's run on each transit is kept
        // apart from what decides the transit, and outside the audit
        // chain's commitments, since it decides nothing.
        M::up(
            "ALTER TABLE policy_versions ADD COLUMN mode TEXT NOT NULL DEFAULT 'enforced';
             ALTER TABLE policy_versions ADD COLUMN change TEXT NOT NULL DEFAULT 'publication';
             CREATE TABLE shadow_runs (
                 transit INTEGER NOT NULL REFERENCES transits (key),
                 shadow INTEGER NOT NULL REFERENCES policy_versions (seq),
                 fingerprint TEXT NOT NULL,
                 state BLOB NOT NULL,
                 open TEXT NOT NULL,
                 finals TEXT NOT NULL,
                 PRIMARY KEY (transit, shadow)
             ) WITHOUT ROWID;
             CREATE INDEX shadow_runs_by_shadow ON shadow_runs (shadow, transit);",
        ),
        // 6: the officers' board (issue 15): each transit's labels out of
        // its declaration, to show and search without reading routes, and
        // the transits in the board's order. Derived from the declarations,
        // which the chain commits to, so the chain does not commit to them.
        M::up_with_hook(
            "CREATE TABLE transit_labels (
                 transit INTEGER PRIMARY KEY REFERENCES transits (key),
                 seal_id TEXT,
                 vehicle TEXT,
                 importer TEXT,
                 departure TEXT,
                 destination TEXT,
                 deadline_ms INTEGER,
                 search TEXT NOT NULL
             );
             CREATE INDEX transits_by_board ON transits (closed_at_ms IS NOT NULL, verdict DESC, id);",
            |tx: &Transaction<'_>| Ok(board::adopt_labels(tx)?),
        ),
    ])
}

const SCHEMA: &str = "
CREATE TABLE transits (
    key INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    declaration TEXT NOT NULL,
    opened_at_ms INTEGER NOT NULL,
    closed_at_ms INTEGER,
    close_reason TEXT,
    verdict TEXT NOT NULL,
    final_verdict TEXT NOT NULL,
    evaluated_at_ms INTEGER NOT NULL,
    accepted INTEGER NOT NULL,
    rejected INTEGER NOT NULL,
    duplicates INTEGER NOT NULL,
    out_of_order INTEGER NOT NULL,
    lines INTEGER NOT NULL,
    first_fix_ms INTEGER,
    last_fix_ms INTEGER
);
CREATE INDEX transits_by_verdict ON transits (verdict, id);
CREATE TABLE fixes (
    transit INTEGER NOT NULL REFERENCES transits (key),
    seq INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    lat REAL NOT NULL,
    lon REAL NOT NULL,
    speed_kmh REAL,
    course_deg REAL,
    hdop REAL,
    sats INTEGER,
    battery_pct REAL,
    seal TEXT,
    seal_id TEXT,
    PRIMARY KEY (transit, seq)
) WITHOUT ROWID;
CREATE INDEX fixes_by_time ON fixes (transit, at_ms);
CREATE TABLE rejections (
    transit INTEGER NOT NULL REFERENCES transits (key),
    line INTEGER NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (transit, line)
) WITHOUT ROWID;
CREATE TABLE findings (
    transit INTEGER NOT NULL REFERENCES transits (key),
    seq INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    finding TEXT NOT NULL,
    PRIMARY KEY (transit, seq)
) WITHOUT ROWID;
CREATE TABLE policy_states (
    transit INTEGER NOT NULL REFERENCES transits (key),
    position INTEGER NOT NULL,
    policy TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    state BLOB NOT NULL,
    open TEXT NOT NULL,
    PRIMARY KEY (transit, position)
) WITHOUT ROWID;
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY,
    record TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TRIGGER audit_is_append_only_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_is_append_only_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TABLE tokens (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    sha256 TEXT NOT NULL UNIQUE
);
";

/// Why the store failed. The service answers these with 500 and keeps
/// nothing of the step.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite refused.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Bringing the schema up to date failed.
    #[error("database: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    /// There is no database where one was expected.
    #[error("no database at {}", .0.display())]
    Missing(std::path::PathBuf),
    /// The file holds something this build does not understand.
    #[error("database: {0}")]
    Corrupt(String),
    /// The database is of an older schema version, which a reader does not
    /// migrate: `escort serve` brings it up to date.
    #[error(
        "database: schema version {0} is older than {SCHEMA_VERSION}, the one this build reads; start `escort serve` \
         on it once to bring it up to date (verification only reads)"
    )]
    Outdated(i64),
    /// The transaction a step was written in failed as a whole (the commit
    /// of a group of steps, or the writer that commits them stopped).
    #[error("database: {0}")]
    Failed(String),
}

/// A transit as the store keeps it: what its stream of fixes and
/// evaluations adds up to so far. The declaration is kept beside it
/// ([`Store::declaration`]), written only when a `PUT` changes it.
#[derive(Debug, Clone, PartialEq)]
pub struct TransitRecord {
    /// The transit's id.
    pub id: String,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// When and why it was closed; `None` while open.
    pub closed: Option<(DateTime<Utc>, String)>,
    /// The verdict as of `evaluated_at`.
    pub verdict: Verdict,
    /// The verdict of the final findings alone. Final findings only
    /// accumulate, so a step needs this, not every stored finding, to know
    /// the new verdict.
    pub final_verdict: Verdict,
    /// The evaluation clock of the last stored evaluation.
    pub evaluated_at: DateTime<Utc>,
    /// What the stream of fixes held so far.
    pub counts: StreamCounts,
    /// The earliest fix.
    pub first_fix_at: Option<DateTime<Utc>>,
    /// The latest fix.
    pub last_fix_at: Option<DateTime<Utc>>,
}

impl TransitRecord {
    /// The record of a transit that has just opened: clear, no fixes yet.
    pub fn opened(id: &str, opened_at: DateTime<Utc>) -> TransitRecord {
        TransitRecord {
            id: id.to_owned(),
            opened_at,
            closed: None,
            verdict: Verdict::Clear,
            final_verdict: Verdict::Clear,
            evaluated_at: opened_at,
            counts: StreamCounts::default(),
            first_fix_at: None,
            last_fix_at: None,
        }
    }
}

/// Running totals over every batch of one transit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamCounts {
    /// Fixes stored.
    pub accepted: u64,
    /// Lines refused.
    pub rejected: u64,
    /// Fixes dropped as repeats.
    pub duplicates: u64,
    /// Fixes that came earlier than one received before them.
    pub out_of_order: u64,
    /// Lines received in all batches: the offset of the next batch's lines.
    pub lines: u64,
}

/// One row of the transit list.
#[derive(Debug, Clone, PartialEq)]
pub struct TransitSummary {
    /// The transit's id.
    pub id: String,
    /// Its verdict as of `evaluated_at`.
    pub verdict: Verdict,
    /// Whether it is still open.
    pub open: bool,
    /// The evaluation clock of that verdict.
    pub evaluated_at: DateTime<Utc>,
    /// Fixes stored.
    pub fixes: u64,
    /// The latest fix.
    pub last_fix_at: Option<DateTime<Utc>>,
}

/// Which transits a listing shows, and from where.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this verdict.
    pub verdict: Option<Verdict>,
    /// Only open (`true`) or closed (`false`) transits.
    pub open: Option<bool>,
    /// Only ids after this one: the previous page's last id.
    pub after: Option<String>,
    /// At most this many.
    pub limit: usize,
}

/// Everything one evaluation step changes, written in one transaction.
#[derive(Debug)]
pub struct Step {
    /// The transit after the step.
    pub record: TransitRecord,
    /// The transit JSON, when the step registers the transit or changes its
    /// declaration; `None` keeps the stored one.
    pub declaration: Option<String>,
    /// New fixes, in the order they were received.
    pub fixes: Vec<Fix>,
    /// New refused lines, numbered across the transit's whole stream.
    pub rejections: Vec<Rejection>,
    /// The step evaluated the transit from its first fix again: the stored
    /// findings are replaced, not added to.
    pub restart: bool,
    /// The policy calls of the step; their final findings are stored.
    pub decisions: Vec<DecisionRecord>,
    /// Every policy's state after the step.
    pub states: Vec<PolicyState>,
    /// What the audit log says about the step's inputs.
    pub audit: AuditEntry,
    /// The shadow versions' runs the step made: stored apart, and outside
    /// the audit log's commitments, since they decide nothing.
    pub shadows: Vec<ShadowRun>,
}

/// How much of the database a reader that reads all of it maps into memory.
const MMAP_BYTES: i64 = 1 << 30;

/// How long a connection waits for another one's lock before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The service's SQLite database.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens the database at `path`, creating it and its schema if needed.
    ///
    /// # Errors
    /// When SQLite cannot open or set up the file, or when it was made by a
    /// newer build with another schema.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL syncs the WAL on every commit: an acknowledged step survives
        // a power cut, not only a crash of the process.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
        if !(0..=SCHEMA_VERSION).contains(&version) {
            return Err(StoreError::Corrupt(format!(
                "schema version {version} is not {SCHEMA_VERSION}; a newer escort wrote this file"
            )));
        }
        let mut store = Store { conn };
        migrations().to_latest(&mut store.conn)?;
        Ok(store)
    }

    /// Opens a connection that only reads the database at `path`, which
    /// [`Store::open`] has set up. In WAL mode readers neither wait for the
    /// writer nor hold it up: each read sees the last committed step.
    ///
    /// # Errors
    /// When SQLite cannot open the file.
    pub fn open_reader(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        Ok(Store { conn })
    }

    /// Opens a connection that only reads the database at `path`, for a
    /// verifier, which must find it there and of the schema this build
    /// reads: it neither creates a database nor migrates one.
    ///
    /// # Errors
    /// When there is no file at `path`, SQLite cannot open it, or its
    /// schema version is not this build's.
    pub(crate) fn open_verified_reader(path: &Path) -> Result<Store, StoreError> {
        if !path.is_file() {
            return Err(StoreError::Missing(path.to_owned()));
        }
        let store = Store::open_reader(path)?;
        // The last connection to close a database checkpoints its WAL into
        // it, even one that only read. (Reading a database without a WAL
        // still makes an empty one, and the index in `-shm`: SQLite's, for
        // readers and a writer to agree on what is committed.)
        store
            .conn
            .set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
        // A verifier or a replay reads every page once: mapped, SQLite reads
        // them in place instead of copying each into its own cache.
        store.conn.pragma_update(None, "mmap_size", MMAP_BYTES)?;
        let version: i64 = store.conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
        match version {
            SCHEMA_VERSION => Ok(store),
            older if older < SCHEMA_VERSION => Err(StoreError::Outdated(older)),
            newer => Err(StoreError::Corrupt(format!(
                "schema version {newer} is not {SCHEMA_VERSION}; a newer escort wrote this file"
            ))),
        }
    }

    /// Runs `read` in one read transaction, so that everything it reads is
    /// one snapshot of the database, whatever a writer commits meanwhile.
    pub(crate) fn in_snapshot<R, E: From<StoreError>>(
        &self,
        read: impl FnOnce(&Store) -> Result<R, E>,
    ) -> Result<R, E> {
        let _snapshot = self.conn.unchecked_transaction().map_err(StoreError::from)?;
        read(self)
    }

    /// The transit with this id.
    pub fn transit(&self, id: &str) -> Result<Option<TransitRecord>, StoreError> {
        self.conn
            .query_row(
                "SELECT id, opened_at_ms, closed_at_ms, close_reason, verdict, evaluated_at_ms,
                        accepted, rejected, duplicates, out_of_order, lines, first_fix_ms, last_fix_ms, final_verdict
                 FROM transits WHERE id = ?1",
                [id],
                |row| {
                    Ok((
                        TransitRecord {
                            id: row.get(0)?,
                            opened_at: time(row.get(1)?),
                            closed: match (row.get::<_, Option<i64>>(2)?, row.get::<_, Option<String>>(3)?) {
                                (Some(at), Some(reason)) => Some((time(at), reason)),
                                _ => None,
                            },
                            verdict: Verdict::Clear,
                            final_verdict: Verdict::Clear,
                            evaluated_at: time(row.get(5)?),
                            counts: StreamCounts {
                                accepted: row.get(6)?,
                                rejected: row.get(7)?,
                                duplicates: row.get(8)?,
                                out_of_order: row.get(9)?,
                                lines: row.get(10)?,
                            },
                            first_fix_at: row.get::<_, Option<i64>>(11)?.map(time),
                            last_fix_at: row.get::<_, Option<i64>>(12)?.map(time),
                        },
                        row.get::<_, String>(4)?,
                        row.get::<_, String>(13)?,
                    ))
                },
            )
            .optional()?
            .map(|(mut record, verdict, final_verdict)| {
                record.verdict = verdict_named(&verdict)?;
                record.final_verdict = verdict_named(&final_verdict)?;
                Ok(record)
            })
            .transpose()
    }

    /// The transit's declaration (its JSON) as the last `PUT` sent it.
    pub fn declaration(&self, id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT declaration FROM declarations WHERE transit = (SELECT key FROM transits WHERE id = ?1)",
            )?
            .query_row([id], |row| row.get(0))
            .optional()?)
    }

    /// The keys (`at`, position, seal state) of the transit's fixes between
    /// two times, inclusive: what a new fix in that span may repeat.
    pub(crate) fn fix_keys_between(
        &self,
        id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<FixKey>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT at_ms, lat, lon, seal FROM fixes
             WHERE transit = (SELECT key FROM transits WHERE id = ?1) AND at_ms BETWEEN ?2 AND ?3",
        )?;
        let rows = statement.query_map(params![id, from.timestamp_millis(), to.timestamp_millis()], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get::<_, Option<String>>(3)?,
            ))
        })?;
        rows.map(|row| {
            let (at, lat, lon, seal) = row?;
            Ok(FixKey::new(time(at), lat, lon, seal_named(seal.as_deref())?))
        })
        .collect()
    }

    /// Every fix of the transit, by time; fixes with the same time in the
    /// order they were received.
    pub fn fixes(&self, id: &str) -> Result<Vec<Fix>, StoreError> {
        // Read in the table's own order (as received), which is one walk
        // along its key, and sorted here: ordered by time, SQLite would look
        // each fix up through the time index, a search per row.
        let mut statement = self.conn.prepare_cached(
            "SELECT at_ms, lat, lon, speed_kmh, course_deg, hdop, sats, battery_pct, seal, seal_id FROM fixes
             WHERE transit = (SELECT key FROM transits WHERE id = ?1) ORDER BY seq",
        )?;
        let rows = statement.query_map([id], |row| {
            Ok((
                Fix {
                    at: time(row.get(0)?),
                    lat: row.get(1)?,
                    lon: row.get(2)?,
                    speed_kmh: row.get(3)?,
                    course_deg: row.get(4)?,
                    hdop: row.get(5)?,
                    sats: row.get(6)?,
                    battery_pct: row.get(7)?,
                    seal: None,
                    seal_id: row.get(9)?,
                },
                row.get::<_, Option<String>>(8)?,
            ))
        })?;
        let mut fixes = rows
            .map(|row| {
                let (mut fix, seal) = row?;
                fix.seal = seal_named(seal.as_deref())?;
                Ok(fix)
            })
            .collect::<Result<Vec<Fix>, StoreError>>()?;
        // Stable: fixes with the same time keep the order received. Most
        // streams arrive in order, and then there is nothing to sort.
        if !fixes.is_sorted_by_key(|fix| fix.at) {
            fixes.sort_by_key(|fix| fix.at);
        }
        Ok(fixes)
    }

    /// The transit's final findings, in the order they were raised. One
    /// stored by a build older than findings' keys and statuses reads with its
    /// key filled in, final.
    pub fn findings(&self, id: &str) -> Result<Vec<Finding>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT finding FROM findings WHERE transit = (SELECT key FROM transits WHERE id = ?1) ORDER BY seq",
        )?;
        let rows = statement.query_map([id], |row| row.get::<_, String>(0))?;
        rows.map(|json| {
            let finding: Finding =
                serde_json::from_str(&json?).map_err(|e| StoreError::Corrupt(format!("a finding: {e}")))?;
            Ok(Finding {
                status: FindingStatus::Final,
                ..finding.with_episode_key(id)
            })
        })
        .collect()
    }

    /// Every policy's state for the transit, in set order. Open findings
    /// stored by a build older than findings' keys and statuses read with
    /// their keys filled in, open.
    pub fn policy_states(&self, id: &str) -> Result<Vec<PolicyState>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT policy, fingerprint, state, open FROM policy_states
             WHERE transit = (SELECT key FROM transits WHERE id = ?1) ORDER BY position",
        )?;
        let rows = statement.query_map([id], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get::<_, String>(3)?))
        })?;
        rows.map(|row| {
            let (policy, fingerprint, state, open) = row?;
            let open: Vec<Finding> =
                serde_json::from_str(&open).map_err(|e| StoreError::Corrupt(format!("open findings: {e}")))?;
            let open = open
                .into_iter()
                .map(|finding| Finding {
                    status: FindingStatus::Open,
                    ..finding.with_episode_key(id)
                })
                .collect();
            Ok(PolicyState {
                policy,
                fingerprint,
                state,
                open,
            })
        })
        .collect()
    }

    /// The transit's refused lines, in line order.
    pub fn rejections(&self, id: &str) -> Result<Vec<Rejection>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT line, reason FROM rejections WHERE transit = (SELECT key FROM transits WHERE id = ?1)
             ORDER BY line",
        )?;
        let rows = statement.query_map([id], |row| {
            Ok(Rejection {
                line: row.get(0)?,
                reason: row.get(1)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Transits by id, filtered and paged.
    pub fn list(&self, filter: &ListFilter) -> Result<Vec<TransitSummary>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT id, verdict, closed_at_ms IS NULL, evaluated_at_ms, accepted, last_fix_ms FROM transits
             WHERE (?1 IS NULL OR verdict = ?1)
               AND (?2 IS NULL OR (closed_at_ms IS NULL) = ?2)
               AND (?3 IS NULL OR id > ?3)
             ORDER BY id LIMIT ?4",
        )?;
        let rows = statement.query_map(
            params![
                filter.verdict.map(Verdict::as_str),
                filter.open,
                filter.after,
                filter.limit as i64
            ],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get::<_, Option<i64>>(5)?,
                ))
            },
        )?;
        rows.map(|row| {
            let (id, verdict, open, evaluated_at, fixes, last_fix) = row?;
            Ok(TransitSummary {
                id,
                verdict: verdict_named(&verdict)?,
                open,
                evaluated_at: time(evaluated_at),
                fixes,
                last_fix_at: last_fix.map(time),
            })
        })
        .collect()
    }

    /// The ids of every open transit.
    pub fn open_transits(&self) -> Result<Vec<String>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT id FROM transits WHERE closed_at_ms IS NULL ORDER BY id")?;
        let rows = statement.query_map([], |row| row.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Writes several steps in ONE transaction, so that they share one
    /// commit (one sync of the WAL), in the order given: their audit records
    /// chain in that order. Each step is all or nothing: a step SQLite
    /// refuses is rolled back to where it began (its own outcome is the
    /// error) and the others are still written. Returns each step's outcome
    /// once the transaction is committed; `Err` when the transaction as a
    /// whole failed, and then none of the steps was kept.
    pub fn save_all(&mut self, steps: &[&Step]) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let tx = self.conn.transaction()?;
        let mut outcomes = Vec::with_capacity(steps.len());
        for step in steps {
            tx.execute_batch("SAVEPOINT step")?;
            match write_step(&tx, step) {
                Ok(()) => {
                    tx.execute_batch("RELEASE step")?;
                    outcomes.push(Ok(()));
                }
                Err(e) => {
                    tx.execute_batch("ROLLBACK TO step; RELEASE step")?;
                    outcomes.push(Err(e));
                }
            }
        }
        tx.commit()?;
        Ok(outcomes)
    }

    /// The access tokens: (name, role, SHA-256 of the token, hex).
    pub fn tokens(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        let mut statement = self
            .conn
            .prepare("SELECT name, role, sha256 FROM tokens ORDER BY name")?;
        let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stores access tokens by the SHA-256 of their secret.
    pub fn add_tokens(&mut self, tokens: &[(String, String, String)]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        for (name, role, sha256) in tokens {
            tx.execute(
                "INSERT INTO tokens (name, role, sha256) VALUES (?1, ?2, ?3)",
                params![name, role, sha256],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}

/// Everything of one step, inside the caller's transaction, and the step
/// record that commits the audit log to it.
fn write_step(tx: &Transaction<'_>, step: &Step) -> Result<(), StoreError> {
    let (key, row) = upsert_transit(tx, &step.record, step.declaration.as_deref())?;
    let first_seq = step.record.counts.accepted as i64 - step.fixes.len() as i64;
    let mut fixes = RowsDigest::new();
    let mut rejections = RowsDigest::new();
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO fixes (transit, seq, at_ms, lat, lon, speed_kmh, course_deg, hdop, sats, battery_pct,
                                seal, seal_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?;
        for (offset, fix) in step.fixes.iter().enumerate() {
            let stored = fix_row(first_seq + offset as i64, fix);
            insert_row(&mut insert, key, stored)?;
            fixes.row(stored);
        }
        let mut insert = tx.prepare_cached("INSERT INTO rejections (transit, line, reason) VALUES (?1, ?2, ?3)")?;
        // In line order, as the verifier reads them back.
        let mut by_line: Vec<&Rejection> = step.rejections.iter().collect();
        by_line.sort_by_key(|rejection| rejection.line);
        for rejection in by_line {
            let stored = rejection_row(rejection);
            insert_row(&mut insert, key, stored)?;
            rejections.row(stored);
        }
    }
    if step.restart {
        tx.prepare_cached("DELETE FROM findings WHERE transit = ?1")?
            .execute([key])?;
    }
    let mut findings = RowsDigest::new();
    let mut first_finding = 0;
    if step.decisions.iter().any(|decision| !decision.findings.is_empty()) {
        first_finding = tx
            .prepare_cached("SELECT COALESCE(MAX(seq) + 1, 0) FROM findings WHERE transit = ?1")?
            .query_row([key], |row| row.get(0))?;
        let mut insert =
            tx.prepare_cached("INSERT INTO findings (transit, seq, content_hash, finding) VALUES (?1, ?2, ?3, ?4)")?;
        let mut next = first_finding;
        for decision in &step.decisions {
            for finding in &decision.findings {
                let json = serde_json::to_string(finding).expect("a finding always serializes");
                let stored = finding_row(next, &decision.content_hash, &json);
                insert_row(&mut insert, key, stored)?;
                findings.row(stored);
                next += 1;
            }
        }
    }
    let mut states = RowsDigest::new();
    {
        tx.prepare_cached("DELETE FROM policy_states WHERE transit = ?1")?
            .execute([key])?;
        let mut insert = tx.prepare_cached(
            "INSERT INTO policy_states (transit, position, policy, fingerprint, state, open)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for (position, state) in step.states.iter().enumerate() {
            let open = serde_json::to_string(&state.open).expect("findings always serialize");
            let stored = policy_state_row(position as i64, state, &open);
            insert_row(&mut insert, key, stored)?;
            states.row(stored);
        }
    }
    let commitment = Commitment {
        row,
        declaration: step.declaration.as_deref().map(|text| content_hash(text.as_bytes())),
        fixes: fixes.range_from(first_seq),
        rejections: rejections.range_from(step.rejections.iter().map(|r| r.line as i64).min().unwrap_or(0)),
        restart: step.restart,
        findings: findings.range_from(first_finding),
        policy_states: states.range(0),
    };
    audit::append(tx, &step.record.id, &step.audit, &step.decisions, commitment)?;
    shadow::write_runs(tx, key, &step.shadows)
}

/// Runs `insert` on the transit's key and `values`: the values a step
/// record's digest is taken over are the ones bound.
fn insert_row<'v>(
    insert: &mut rusqlite::CachedStatement<'_>,
    key: i64,
    values: impl IntoIterator<Item = ValueRef<'v>>,
) -> rusqlite::Result<usize> {
    insert.execute(params_from_iter(
        std::iter::once(ValueRef::Integer(key))
            .chain(values)
            .map(ToSqlOutput::Borrowed),
    ))
}

/// A fix's row as `fixes` stores it after the transit's key: its seq, then
/// its fields. `audit::in_order` reads these columns back in this order.
fn fix_row(seq: i64, fix: &Fix) -> [ValueRef<'_>; 11] {
    let real = |value: Option<f64>| value.map_or(ValueRef::Null, ValueRef::Real);
    [
        ValueRef::Integer(seq),
        ValueRef::Integer(fix.at.timestamp_millis()),
        ValueRef::Real(fix.lat),
        ValueRef::Real(fix.lon),
        real(fix.speed_kmh),
        real(fix.course_deg),
        real(fix.hdop),
        fix.sats.map_or(ValueRef::Null, |sats| ValueRef::Integer(sats.into())),
        real(fix.battery_pct),
        fix.seal
            .map_or(ValueRef::Null, |seal| ValueRef::Text(seal.as_str().as_bytes())),
        fix.seal_id
            .as_deref()
            .map_or(ValueRef::Null, |id| ValueRef::Text(id.as_bytes())),
    ]
}

/// A refused line's row, as `audit::in_order` reads it.
fn rejection_row(rejection: &Rejection) -> [ValueRef<'_>; 2] {
    [
        ValueRef::Integer(rejection.line as i64),
        ValueRef::Text(rejection.reason.as_bytes()),
    ]
}

/// A finding's row, as `audit::in_order` reads it.
fn finding_row<'a>(seq: i64, content_hash: &'a str, json: &'a str) -> [ValueRef<'a>; 3] {
    [
        ValueRef::Integer(seq),
        ValueRef::Text(content_hash.as_bytes()),
        ValueRef::Text(json.as_bytes()),
    ]
}

/// A policy state's row, as `audit::in_order` reads it.
fn policy_state_row<'a>(position: i64, state: &'a PolicyState, open: &'a str) -> [ValueRef<'a>; 5] {
    [
        ValueRef::Integer(position),
        ValueRef::Text(state.policy.as_bytes()),
        ValueRef::Text(state.fingerprint.as_bytes()),
        ValueRef::Blob(&state.state),
        ValueRef::Text(open.as_bytes()),
    ]
}

/// Writes the transit's row, and its declaration when there is a new one.
/// Returns the transit's key and its row as stored.
fn upsert_transit(
    tx: &Transaction<'_>,
    record: &TransitRecord,
    declaration: Option<&str>,
) -> Result<(i64, TransitRow), StoreError> {
    let (closed_at, close_reason) = match &record.closed {
        Some((at, reason)) => (Some(at.timestamp_millis()), Some(reason.as_str())),
        None => (None, None),
    };
    let mut upsert = tx.prepare_cached(
        "INSERT INTO transits (id, opened_at_ms, closed_at_ms, close_reason, verdict, evaluated_at_ms,
                               accepted, rejected, duplicates, out_of_order, lines, first_fix_ms, last_fix_ms,
                               final_verdict)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
         ON CONFLICT (id) DO UPDATE SET
             opened_at_ms = excluded.opened_at_ms,
             closed_at_ms = excluded.closed_at_ms, close_reason = excluded.close_reason,
             verdict = excluded.verdict, evaluated_at_ms = excluded.evaluated_at_ms,
             accepted = excluded.accepted, rejected = excluded.rejected, duplicates = excluded.duplicates,
             out_of_order = excluded.out_of_order, lines = excluded.lines,
             first_fix_ms = excluded.first_fix_ms, last_fix_ms = excluded.last_fix_ms,
             final_verdict = excluded.final_verdict
         RETURNING *",
    )?;
    let (key, row) = upsert.query_row(
        params![
            record.id,
            record.opened_at.timestamp_millis(),
            closed_at,
            close_reason,
            record.verdict.as_str(),
            record.evaluated_at.timestamp_millis(),
            record.counts.accepted,
            record.counts.rejected,
            record.counts.duplicates,
            record.counts.out_of_order,
            record.counts.lines,
            record.first_fix_at.map(|at| at.timestamp_millis()),
            record.last_fix_at.map(|at| at.timestamp_millis()),
            record.final_verdict.as_str(),
        ],
        |row| Ok((row.get::<_, i64>("key")?, transit_row(row)?)),
    )?;
    if let Some(declaration) = declaration {
        tx.prepare_cached(
            "INSERT INTO declarations (transit, declaration) VALUES (?1, ?2)
             ON CONFLICT (transit) DO UPDATE SET declaration = excluded.declaration",
        )?
        .execute(params![key, declaration])?;
        board::write_labels(tx, key, &record.id, declaration)?;
    }
    Ok((key, row))
}

/// A row of `transits` (`SELECT *` or `RETURNING *`), every column.
pub(crate) fn transit_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<TransitRow> {
    let statement: &rusqlite::Statement<'_> = row.as_ref();
    (0..statement.column_count())
        .map(|column| Ok((statement.column_name(column)?.to_owned(), json_of(row.get_ref(column)?))))
        .collect()
}

fn time(ms: i64) -> DateTime<Utc> {
    // Every stored time was a `DateTime` before it was stored.
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn verdict_named(name: &str) -> Result<Verdict, StoreError> {
    Verdict::from_name(name).ok_or_else(|| StoreError::Corrupt(format!("unknown verdict {name:?}")))
}

fn seal_named(name: Option<&str>) -> Result<Option<SealState>, StoreError> {
    name.map(|name| {
        SealState::from_name(name).ok_or_else(|| StoreError::Corrupt(format!("unknown seal state {name:?}")))
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes one step in a transaction of its own.
    /// The admission of the transit `record` names, with `fixes`, as of
    /// its opening.
    fn admission(record: TransitRecord, fixes: Vec<Fix>) -> Step {
        Step {
            declaration: Some(format!("{{\"id\": \"{}\"}}", record.id)),
            audit: AuditEntry {
                kind: "admit",
                input_digest: String::new(),
                evaluated_at: record.opened_at,
            },
            record,
            fixes,
            rejections: Vec::new(),
            restart: false,
            decisions: Vec::new(),
            states: Vec::new(),
            shadows: Vec::new(),
        }
    }

    fn save(store: &mut Store, step: &Step) -> Result<(), StoreError> {
        store.save_all(&[step])?.pop().expect("one outcome per step")
    }

    #[test]
    fn the_migrations_end_at_the_schema_version() {
        let mut conn = Connection::open_in_memory().expect("a database");
        migrations().to_latest(&mut conn).expect("migrated");
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .expect("a version");
        assert_eq!(version, SCHEMA_VERSION);
    }

    #[test]
    fn a_first_version_database_is_brought_up_to_date_with_its_transits() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("escort.db");
        {
            let conn = Connection::open(&path).expect("a database");
            conn.execute_batch(SCHEMA).expect("the first schema");
            conn.execute(
                "INSERT INTO transits (id, declaration, opened_at_ms, verdict, final_verdict, evaluated_at_ms,
                                       accepted, rejected, duplicates, out_of_order, lines)
                 VALUES ('KZ-1', '{\"id\": \"KZ-1\"}', 1000, 'review', 'clear', 2000, 3, 0, 0, 0, 3)",
                [],
            )
            .expect("a transit");
            conn.pragma_update(None, "user_version", 1).expect("version 1");
        }
        let mut store = Store::open(&path).expect("migrated");
        let version: i64 = store
            .conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .expect("a version");
        assert_eq!(version, SCHEMA_VERSION);
        // Its labels are copied out for the officers' board.
        let labelled: i64 = store
            .conn
            .query_row("SELECT count(*) FROM transit_labels WHERE search = 'kz-1'", [], |row| {
                row.get(0)
            })
            .expect("labels");
        assert_eq!(labelled, 1);
        // The transit an earlier build stored is adopted into the audit log.
        let verified = store.verify_audit(None, None).expect("verifies");
        assert_eq!((verified.chain.records, verified.transits), (1, 1));
        let mut record = store.transit("KZ-1").expect("readable").expect("kept");
        let declaration = |store: &Store| store.declaration("KZ-1").expect("readable").expect("kept");
        assert_eq!(declaration(&store), "{\"id\": \"KZ-1\"}");
        assert_eq!(record.verdict, Verdict::Review);
        assert_eq!(record.counts.accepted, 3);

        // A step that does not declare keeps the declaration; one that does replaces it.
        let step = |record: &TransitRecord, declaration: Option<&str>| Step {
            record: record.clone(),
            declaration: declaration.map(str::to_owned),
            fixes: Vec::new(),
            rejections: Vec::new(),
            restart: false,
            decisions: Vec::new(),
            states: Vec::new(),
            audit: AuditEntry {
                kind: "tick",
                input_digest: String::new(),
                evaluated_at: record.evaluated_at,
            },
            shadows: Vec::new(),
        };
        record.counts.lines = 4;
        save(&mut store, &step(&record, None)).expect("saved");
        let kept = store.transit("KZ-1").expect("readable").expect("kept");
        assert_eq!(declaration(&store), "{\"id\": \"KZ-1\"}");
        assert_eq!(kept.counts.lines, 4);
        save(
            &mut store,
            &step(&record, Some("{\"id\": \"KZ-1\", \"changed\": true}")),
        )
        .expect("saved");
        assert_eq!(declaration(&store), "{\"id\": \"KZ-1\", \"changed\": true}");
        store.verify_audit(None, None).expect("verifies after the steps");
        store
            .conn
            .execute("UPDATE declarations SET declaration = '{}'", [])
            .expect("changed by hand");
        let found = store
            .verify_audit(None, None)
            .expect_err("a changed declaration is found");
        assert!(found.to_string().contains("its declaration differs"), "{found}");
        drop(store);
        // Opening again changes nothing.
        Store::open(&path).expect("opens again");
    }

    #[test]
    fn findings_an_older_build_stored_read_with_their_keys_and_statuses() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let mut store = Store::open(&dir.path().join("escort.db")).expect("a database");
        let at = DateTime::from_timestamp_millis(1_000).expect("a time");
        save(&mut store, &admission(TransitRecord::opened("KZ-1", at), Vec::new())).expect("saved");
        // Rows as a build before keys and statuses wrote them: no `key`, no `status`.
        let old = |code: &str| {
            format!(
                r#"{{"policy":"dwell","policy_version":"0.1.0","code":"{code}","severity":"warning","message":"stopped","from":"2021-05-16T06:00:00Z","to":"2021-05-16T07:00:00Z","evidence":{{}}}}"#
            )
        };
        store
            .conn
            .execute(
                "INSERT INTO findings (transit, seq, content_hash, finding)
                 VALUES ((SELECT key FROM transits WHERE id = 'KZ-1'), 1, 'hash', ?1)",
                [old("dwell.overstay")],
            )
            .expect("an old final finding");
        store
            .conn
            .execute(
                "INSERT INTO policy_states (transit, position, policy, fingerprint, state, open)
                 VALUES ((SELECT key FROM transits WHERE id = 'KZ-1'), 0, 'dwell', 'f', x'', ?1)",
                [format!("[{}]", old("dwell.unauthorized_stop"))],
            )
            .expect("an old open finding");
        let from = DateTime::parse_from_rfc3339("2021-05-16T06:00:00Z")
            .expect("a time")
            .to_utc();
        let finals = store.findings("KZ-1").expect("an old final finding reads");
        assert_eq!(finals.len(), 1);
        assert_eq!(finals[0].status, FindingStatus::Final);
        assert_eq!(
            finals[0].key,
            Finding::episode_key("KZ-1", "dwell", "dwell.overstay", &from)
        );
        let states = store.policy_states("KZ-1").expect("an old open finding reads");
        let open = &states[0].open[0];
        assert_eq!(open.status, FindingStatus::Open);
        assert_eq!(
            open.key,
            Finding::episode_key("KZ-1", "dwell", "dwell.unauthorized_stop", &from)
        );
    }

    #[test]
    fn steps_written_together_commit_together_and_a_refused_one_alone_is_dropped() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let mut store = Store::open(&dir.path().join("escort.db")).expect("a database");
        let at = DateTime::from_timestamp_millis(1_000).expect("a time");
        let record = |id: &str| TransitRecord::opened(id, at);
        let step = admission;
        let fix = Fix::at_position(at, 43.0, 77.0);
        // The second step numbers its fix as the first one did: SQLite refuses it.
        let mut first = record("A");
        first.counts.accepted = 1;
        first.counts.lines = 1;
        let mut again = first.clone();
        again.counts.lines = 2;
        let steps = [
            step(first, vec![fix.clone()]),
            step(again, vec![fix.clone()]),
            step(record("C"), Vec::new()),
        ];
        let outcomes = store.save_all(&steps.iter().collect::<Vec<_>>()).expect("committed");
        assert!(outcomes[0].is_ok() && outcomes[1].is_err() && outcomes[2].is_ok());
        let kept = store.transit("A").expect("readable").expect("the first step is kept");
        assert_eq!(kept.counts.lines, 1, "a refused step leaves nothing of itself");
        assert_eq!(store.fixes("A").expect("readable").len(), 1);
        assert!(store.transit("C").expect("readable").is_some());
        // The refused step's step record went with it.
        let verified = store.verify_audit(None, None).expect("verifies");
        assert_eq!((verified.chain.records, verified.transits, verified.fixes), (2, 2, 1));
    }

    #[test]
    fn a_fix_verifies_as_stored_whatever_its_values() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let mut store = Store::open(&dir.path().join("escort.db")).expect("a database");
        let at = DateTime::from_timestamp_millis(1_000).expect("a time");
        let mut record = TransitRecord::opened("Z", at);
        // SQLite keeps -0.0 as 0 and an integral REAL as an integer; what
        // it reads back hashes as what was written.
        let fixes = vec![
            Fix {
                at,
                lat: -0.0,
                lon: 77.0,
                speed_kmh: Some(-0.0),
                course_deg: None,
                hdop: Some(0.9),
                sats: Some(0),
                battery_pct: None,
                seal: Some(SealState::Intact),
                seal_id: Some("NS-1".to_owned()),
            },
            Fix {
                at: at + chrono::Duration::milliseconds(1),
                lat: 1e-300,
                lon: -180.0,
                speed_kmh: None,
                course_deg: Some(359.99999999999994),
                hdop: None,
                sats: None,
                battery_pct: Some(100.0),
                seal: None,
                seal_id: None,
            },
        ];
        record.counts.accepted = 2;
        record.counts.lines = 3;
        record.counts.rejected = 1;
        save(
            &mut store,
            &Step {
                declaration: Some("{}".to_owned()),
                record,
                fixes,
                rejections: vec![Rejection {
                    line: 2,
                    reason: "latitude 95.1 is outside -90..90".to_owned(),
                }],
                restart: true,
                decisions: Vec::new(),
                states: vec![PolicyState {
                    policy: "speed".to_owned(),
                    fingerprint: "f".to_owned(),
                    state: vec![0, 255],
                    open: Vec::new(),
                }],
                audit: AuditEntry {
                    kind: "observe",
                    input_digest: String::new(),
                    evaluated_at: at,
                },
                shadows: Vec::new(),
            },
        )
        .expect("saved");
        let verified = store.verify_audit(None, None).expect("verifies");
        assert_eq!((verified.fixes, verified.rejections), (2, 1));
    }
}
