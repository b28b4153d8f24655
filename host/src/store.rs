//! Durable storage for the service: transits, their fixes, findings and
//! policy states, the audit log and the access tokens, in one SQLite file.
//!
//! SQLite runs in WAL mode with `synchronous = FULL`: when [`Store::save`]
//! returns, the step is on disk and survives a crash of the process or of the
//! machine. Each step (one batch, one admission, one tick, one close) is one
//! transaction, so a crash leaves either all of it or none of it; the audit
//! records of a step are written in the same transaction as what they record.
//!
//! The store knows nothing of HTTP or of how evaluation works; it keeps what
//! [`crate::service`] hands it and gives it back. That boundary is what a
//! store shared by several machines would implement.

use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::audit::{self, AuditEntry};
use crate::evaluation::{Decision, PolicyState};
use crate::finding::{Finding, Verdict};
use crate::fix::{Fix, FixKey, SealState};
use crate::telemetry::Rejection;

/// The schema version this build reads and writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

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
    /// There is no database where one was expected.
    #[error("no database at {}", .0.display())]
    Missing(std::path::PathBuf),
    /// The file holds something this build does not understand.
    #[error("database: {0}")]
    Corrupt(String),
}

/// A transit as the store keeps it: the declaration as received and what
/// its stream of fixes and evaluations adds up to so far.
#[derive(Debug, Clone, PartialEq)]
pub struct TransitRecord {
    /// The transit's id.
    pub id: String,
    /// The transit JSON as the last `PUT` sent it.
    pub declaration: String,
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
pub struct Step<'a> {
    /// The transit after the step.
    pub record: &'a TransitRecord,
    /// New fixes, in the order they were received.
    pub fixes: &'a [Fix],
    /// New refused lines, numbered across the transit's whole stream.
    pub rejections: &'a [Rejection],
    /// The step evaluated the transit from its first fix again: the stored
    /// findings are replaced, not added to.
    pub restart: bool,
    /// The policy calls of the step; their final findings are stored.
    pub decisions: &'a [Decision],
    /// Every policy's state after the step.
    pub states: &'a [PolicyState],
    /// What the audit log says about the step's inputs.
    pub audit: AuditEntry,
}

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
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
        match version {
            0 => {
                conn.execute_batch(SCHEMA)?;
                conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
            }
            SCHEMA_VERSION => {}
            other => {
                return Err(StoreError::Corrupt(format!(
                    "schema version {other} is not {SCHEMA_VERSION}; a newer escort wrote this file"
                )));
            }
        }
        Ok(Store { conn })
    }

    /// The transit with this id.
    pub fn transit(&self, id: &str) -> Result<Option<TransitRecord>, StoreError> {
        self.conn
            .query_row(
                "SELECT id, declaration, opened_at_ms, closed_at_ms, close_reason, verdict, evaluated_at_ms,
                        accepted, rejected, duplicates, out_of_order, lines, first_fix_ms, last_fix_ms, final_verdict
                 FROM transits WHERE id = ?1",
                [id],
                |row| {
                    Ok((
                        TransitRecord {
                            id: row.get(0)?,
                            declaration: row.get(1)?,
                            opened_at: time(row.get(2)?),
                            closed: match (row.get::<_, Option<i64>>(3)?, row.get::<_, Option<String>>(4)?) {
                                (Some(at), Some(reason)) => Some((time(at), reason)),
                                _ => None,
                            },
                            verdict: Verdict::Clear,
                            final_verdict: Verdict::Clear,
                            evaluated_at: time(row.get(6)?),
                            counts: StreamCounts {
                                accepted: row.get(7)?,
                                rejected: row.get(8)?,
                                duplicates: row.get(9)?,
                                out_of_order: row.get(10)?,
                                lines: row.get(11)?,
                            },
                            first_fix_at: row.get::<_, Option<i64>>(12)?.map(time),
                            last_fix_at: row.get::<_, Option<i64>>(13)?.map(time),
                        },
                        row.get::<_, String>(5)?,
                        row.get::<_, String>(14)?,
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
        let mut statement = self.conn.prepare_cached(
            "SELECT at_ms, lat, lon, speed_kmh, course_deg, hdop, sats, battery_pct, seal, seal_id FROM fixes
             WHERE transit = (SELECT key FROM transits WHERE id = ?1) ORDER BY at_ms, seq",
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
        rows.map(|row| {
            let (mut fix, seal) = row?;
            fix.seal = seal_named(seal.as_deref())?;
            Ok(fix)
        })
        .collect()
    }

    /// The transit's final findings, in the order they were raised.
    pub fn findings(&self, id: &str) -> Result<Vec<Finding>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT finding FROM findings WHERE transit = (SELECT key FROM transits WHERE id = ?1) ORDER BY seq",
        )?;
        let rows = statement.query_map([id], |row| row.get::<_, String>(0))?;
        rows.map(|json| serde_json::from_str(&json?).map_err(|e| StoreError::Corrupt(format!("a finding: {e}"))))
            .collect()
    }

    /// Every policy's state for the transit, in set order.
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
            let open = serde_json::from_str(&open).map_err(|e| StoreError::Corrupt(format!("open findings: {e}")))?;
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

    /// Writes one step in one transaction, its audit records included.
    pub fn save(&mut self, step: &Step<'_>) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        let key = upsert_transit(&tx, step.record)?;
        let first_seq = step.record.counts.accepted as i64 - step.fixes.len() as i64;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO fixes (transit, seq, at_ms, lat, lon, speed_kmh, course_deg, hdop, sats, battery_pct,
                                    seal, seal_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?;
            for (offset, fix) in step.fixes.iter().enumerate() {
                insert.execute(params![
                    key,
                    first_seq + offset as i64,
                    fix.at.timestamp_millis(),
                    fix.lat,
                    fix.lon,
                    fix.speed_kmh,
                    fix.course_deg,
                    fix.hdop,
                    fix.sats,
                    fix.battery_pct,
                    fix.seal.map(SealState::as_str),
                    fix.seal_id,
                ])?;
            }
            let mut insert = tx.prepare_cached("INSERT INTO rejections (transit, line, reason) VALUES (?1, ?2, ?3)")?;
            for rejection in step.rejections {
                insert.execute(params![key, rejection.line, rejection.reason])?;
            }
        }
        if step.restart {
            tx.execute("DELETE FROM findings WHERE transit = ?1", [key])?;
        }
        {
            let mut next: i64 = tx.query_row(
                "SELECT COALESCE(MAX(seq) + 1, 0) FROM findings WHERE transit = ?1",
                [key],
                |row| row.get(0),
            )?;
            let mut insert = tx
                .prepare_cached("INSERT INTO findings (transit, seq, content_hash, finding) VALUES (?1, ?2, ?3, ?4)")?;
            for decision in step.decisions {
                for finding in &decision.findings {
                    let json = serde_json::to_string(finding).expect("a finding always serializes");
                    insert.execute(params![key, next, decision.content_hash, json])?;
                    next += 1;
                }
            }
            tx.execute("DELETE FROM policy_states WHERE transit = ?1", [key])?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO policy_states (transit, position, policy, fingerprint, state, open)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for (position, state) in step.states.iter().enumerate() {
                let open = serde_json::to_string(&state.open).expect("findings always serialize");
                insert.execute(params![
                    key,
                    position,
                    state.policy,
                    state.fingerprint,
                    state.state,
                    open
                ])?;
            }
        }
        audit::append(&tx, &step.record.id, &step.audit, step.decisions)?;
        tx.commit()?;
        Ok(())
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

    /// The underlying connection, for the audit log's verification.
    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }
}

fn upsert_transit(tx: &Transaction<'_>, record: &TransitRecord) -> Result<i64, StoreError> {
    let (closed_at, close_reason) = match &record.closed {
        Some((at, reason)) => (Some(at.timestamp_millis()), Some(reason.as_str())),
        None => (None, None),
    };
    let key = tx.query_row(
        "INSERT INTO transits (id, declaration, opened_at_ms, closed_at_ms, close_reason, verdict, evaluated_at_ms,
                               accepted, rejected, duplicates, out_of_order, lines, first_fix_ms, last_fix_ms,
                               final_verdict)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
         ON CONFLICT (id) DO UPDATE SET
             declaration = excluded.declaration, opened_at_ms = excluded.opened_at_ms,
             closed_at_ms = excluded.closed_at_ms, close_reason = excluded.close_reason,
             verdict = excluded.verdict, evaluated_at_ms = excluded.evaluated_at_ms,
             accepted = excluded.accepted, rejected = excluded.rejected, duplicates = excluded.duplicates,
             out_of_order = excluded.out_of_order, lines = excluded.lines,
             first_fix_ms = excluded.first_fix_ms, last_fix_ms = excluded.last_fix_ms,
             final_verdict = excluded.final_verdict
         RETURNING key",
        params![
            record.id,
            record.declaration,
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
        |row| row.get(0),
    )?;
    Ok(key)
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
