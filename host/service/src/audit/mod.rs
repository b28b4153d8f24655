//! The audit log: every decision the service takes and everything each step
//! wrote, append-only and hash-chained, so that a changed, removed or
//! inserted record is found, and so is a row an officer's answer is built
//! from that no longer holds what the log says.
//!
//! Two kinds of record, in one chain. A *decision record* per policy call:
//! the transit, the policy's id, version and content hash, a digest of the
//! input, the evaluation clock, the fuel used, and the findings the call
//! raised and left open. After a step's decisions, one *step record*
//! (`commitment.rs`) commits to what the step wrote: the transit's row, the
//! declaration, the fixes, refused lines and findings it added, and the
//! policy states it left. Each record's hash is SHA-256 over the previous
//! record's hash and the record's own text; the first record follows
//! [`GENESIS`]. Records are written in the same transaction as the step they
//! describe (several steps may share one, see `Store::save_all`; the chain
//! follows the order they are written in, which is the order they commit
//! in), and triggers refuse `UPDATE` and `DELETE` on the table.
//!
//! [`verify`] walks the chain, then checks every table against the step
//! records (`tables.rs`), so an edited verdict, finding or fix is found
//! although the chain itself was not touched.
//!
//! No secret goes into the chain, so it cannot prove that nothing was cut
//! off its end, nor that it was not rewritten whole. A [`Checkpoint`] closes
//! that gap: the head as of some moment, signed with a key kept away from
//! the database, which `verify` then checks the chain still contains.

mod checkpoint;
pub(crate) mod commitment;
mod tables;

use chrono::{DateTime, Utc};
use ed25519_dalek::VerifyingKey;
use rusqlite::{CachedStatement, OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

pub use checkpoint::{Checkpoint, CheckpointError, public_key};
pub(crate) use tables::adopt;

use crate::store::{Store, StoreError};
use commitment::{Commitment, StepRecord};
use escort_engine::Decision;
use escort_engine::Fix;
use escort_engine::content_hash;
use escort_engine::{Finding, format_time};

/// The hash the first record follows.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a step was and what it was given: the audit context of its decisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// `admit`, `observe`, `replay`, `tick` or `close`.
    pub kind: &'static str,
    /// SHA-256 of the input: [`digest_fixes`] of a batch, or of the transit
    /// declaration for an admission.
    pub input_digest: String,
    /// The evaluation clock.
    pub evaluated_at: DateTime<Utc>,
}

/// SHA-256, hex, of a batch of fixes in a fixed text form, so that the same
/// fixes always have the same digest whatever bytes carried them.
pub fn digest_fixes(fixes: &[Fix]) -> String {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(fixes.len() * 96);
    for fix in fixes {
        // Into the one buffer: a `format!` per fix costs an allocation each.
        let _ = writeln!(
            text,
            "{} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
            fix.at.timestamp_millis(),
            fix.lat,
            fix.lon,
            fix.speed_kmh,
            fix.course_deg,
            fix.hdop,
            fix.sats,
            fix.battery_pct,
            fix.seal.map(|seal| seal.as_str()),
            fix.seal_id,
        );
    }
    content_hash(text.as_bytes())
}

#[derive(Serialize)]
struct Record<'a> {
    recorded_at: String,
    transit: &'a str,
    kind: &'a str,
    policy: &'a str,
    policy_version: &'a str,
    content_hash: &'a str,
    input_digest: &'a str,
    evaluated_at: String,
    fuel_used: Option<u64>,
    findings: &'a [Finding],
    open: &'a [Finding],
}

/// Appends one record per decision to the chain, then the step record of
/// what the step wrote (`commitment`), inside the step's transaction.
pub(crate) fn append(
    tx: &Transaction<'_>,
    transit: &str,
    entry: &AuditEntry,
    decisions: &[Decision],
    commitment: Commitment,
) -> Result<(), StoreError> {
    let mut chain = Appender::open(tx)?;
    let recorded_at = format_time(&Utc::now());
    let evaluated_at = format_time(&entry.evaluated_at);
    for decision in decisions {
        let record = serde_json::to_string(&Record {
            recorded_at: recorded_at.clone(),
            transit,
            kind: entry.kind,
            policy: &decision.policy,
            policy_version: &decision.policy_version,
            content_hash: &decision.content_hash,
            input_digest: &entry.input_digest,
            evaluated_at: evaluated_at.clone(),
            fuel_used: decision.fuel_used,
            findings: &decision.findings,
            open: &decision.open,
        })
        .expect("a record always serializes");
        chain.push(&record, None)?;
    }
    chain.push_step(&StepRecord {
        step: entry.kind.to_owned(),
        recorded_at,
        transit: transit.to_owned(),
        wrote: commitment,
    })
}

/// The end of the chain, appended to inside a writing transaction.
struct Appender<'t> {
    insert: CachedStatement<'t>,
    prev_hash: String,
}

impl<'t> Appender<'t> {
    fn open(tx: &'t Transaction<'_>) -> Result<Appender<'t>, StoreError> {
        // Read inside the writing transaction: steps are appended in the
        // order they are written, which is the order they commit in.
        let prev_hash: String = tx
            .prepare_cached("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1")?
            .query_row([], |row| row.get(0))
            .optional()?
            .unwrap_or_else(|| GENESIS.to_owned());
        let insert =
            tx.prepare_cached("INSERT INTO audit (record, prev_hash, hash, transit) VALUES (?1, ?2, ?3, ?4)")?;
        Ok(Appender { insert, prev_hash })
    }

    /// Appends a record; `transit` is the key of the transit a step record
    /// commits to, `None` for a decision record.
    fn push(&mut self, record: &str, transit: Option<i64>) -> Result<(), StoreError> {
        let hash = chain_hash(&self.prev_hash, record);
        self.insert.execute(params![record, self.prev_hash, hash, transit])?;
        self.prev_hash = hash;
        Ok(())
    }

    fn push_step(&mut self, step: &StepRecord) -> Result<(), StoreError> {
        let record = serde_json::to_string(step).expect("a step record always serializes");
        self.push(&record, step.key())
    }
}

fn chain_hash(prev_hash: &str, record: &str) -> String {
    content_hash(format!("{prev_hash}\n{record}").as_bytes())
}

/// A chain that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedChain {
    /// How many records it holds.
    pub records: u64,
    /// The last record's hash ([`GENESIS`] for an empty log).
    pub head: String,
}

/// A database whose chain verified and whose tables hold what it commits to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verified {
    /// The chain.
    pub chain: VerifiedChain,
    /// Transits checked against their step records.
    pub transits: u64,
    /// Fixes checked.
    pub fixes: u64,
    /// Refused lines checked.
    pub rejections: u64,
    /// Findings checked.
    pub findings: u64,
}

/// Why the audit log does not verify. Every kind but [`AuditError::Store`]
/// is a finding about the database (`escort audit verify` exits 1).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// A record is not what its place in the chain says it must be.
    #[error("audit record {seq} is broken: {reason}")]
    Broken {
        /// The first broken record's number.
        seq: i64,
        /// What is wrong with it.
        reason: String,
    },
    /// A table does not hold what the chain commits it to.
    #[error("transit {transit}: {reason}")]
    Differs {
        /// The transit whose rows differ (its id, or its key when no
        /// record names it).
        transit: String,
        /// The first difference found, naming the row and the record.
        reason: String,
    },
    /// The checkpoint is forged, signed by a key that is not trusted, or
    /// records a chain that is no longer there.
    #[error("checkpoint of {at}: {reason}")]
    Checkpoint {
        /// When the checkpoint was taken.
        at: String,
        /// What is wrong.
        reason: String,
    },
    /// The log could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for AuditError {
    fn from(error: rusqlite::Error) -> AuditError {
        AuditError::Store(error.into())
    }
}

/// Verifies the service database at `path` (`DATA/escort.db`), and, given a
/// checkpoint, that its signature holds (by `trusted_key` when given) and
/// the chain still holds what it recorded.
pub fn verify_database(
    path: &std::path::Path,
    checkpoint: Option<&Checkpoint>,
    trusted_key: Option<&VerifyingKey>,
) -> Result<Verified, AuditError> {
    if !path.is_file() {
        return Err(StoreError::Missing(path.to_owned()).into());
    }
    verify(&Store::open(path)?, checkpoint, trusted_key)
}

/// Walks the whole chain from the first record, naming the first record
/// that does not follow from the ones before it; checks it against the
/// checkpoint, if one is given; then checks every table against the step
/// records. All of it reads one snapshot of the database, so a service
/// writing meanwhile does not make it differ.
pub fn verify(
    store: &Store,
    checkpoint: Option<&Checkpoint>,
    trusted_key: Option<&VerifyingKey>,
) -> Result<Verified, AuditError> {
    if let Some(checkpoint) = checkpoint {
        checkpoint.check_signature(trusted_key)?;
    }
    let conn = store.connection();
    // A caller that reads more after this (re-evaluation) holds the
    // snapshot already.
    let _snapshot = conn.is_autocommit().then(|| conn.unchecked_transaction()).transpose()?;
    let chain = walk(conn, checkpoint)?;
    let tables = tables::check(conn)?;
    Ok(Verified {
        chain,
        transits: tables.transits,
        fixes: tables.fixes,
        rejections: tables.rejections,
        findings: tables.findings,
    })
}

/// What a record says it is, read from its hashed text: a step record has a
/// `step` and the row of the transit it commits to.
#[derive(Deserialize)]
struct Kind {
    step: Option<serde::de::IgnoredAny>,
    row: Option<RowKey>,
}

#[derive(Deserialize)]
struct RowKey {
    key: Option<i64>,
}

fn walk(conn: &rusqlite::Connection, checkpoint: Option<&Checkpoint>) -> Result<VerifiedChain, AuditError> {
    let mut statement = conn
        .prepare("SELECT seq, record, prev_hash, hash, transit FROM audit ORDER BY seq")
        .map_err(StoreError::from)?;
    let mut rows = statement.query([]).map_err(StoreError::from)?;
    let mut head = GENESIS.to_owned();
    let mut records = 0u64;
    let mut last_seq = 0i64;
    while let Some(row) = rows.next().map_err(StoreError::from)? {
        let seq: i64 = row.get(0).map_err(StoreError::from)?;
        let record: String = row.get(1).map_err(StoreError::from)?;
        let prev_hash: String = row.get(2).map_err(StoreError::from)?;
        let hash: String = row.get(3).map_err(StoreError::from)?;
        let transit: Option<i64> = row.get(4).map_err(StoreError::from)?;
        let broken = |reason: String| AuditError::Broken { seq, reason };
        if seq != last_seq + 1 {
            return Err(broken(format!(
                "it follows record {last_seq}; the records between are missing"
            )));
        }
        if prev_hash != head {
            return Err(broken(
                "it does not follow the record before it (that record was changed or removed)".to_owned(),
            ));
        }
        if chain_hash(&prev_hash, &record) != hash {
            return Err(broken(
                "its content does not match its hash (it was changed)".to_owned(),
            ));
        }
        // The column only finds a transit's step records quickly; what a
        // record is, the hashed text says.
        let kind: Kind =
            serde_json::from_str(&record).map_err(|e| broken(format!("it is not a record this build reads ({e})")))?;
        let commits_to = match kind {
            Kind { step: Some(_), row } => Some(row.and_then(|row| row.key)),
            Kind { step: None, .. } => None,
        };
        if commits_to != transit.map(Some) {
            return Err(broken(
                "the transit it is filed under is not the one it commits to (its `transit` column was changed)"
                    .to_owned(),
            ));
        }
        if let Some(checkpoint) = checkpoint.filter(|checkpoint| checkpoint.records() == records + 1) {
            checkpoint.check_record(seq, &hash)?;
        }
        head = hash;
        records += 1;
        last_seq = seq;
    }
    if let Some(checkpoint) = checkpoint {
        checkpoint.check_length(records)?;
    }
    Ok(VerifiedChain { records, head })
}
