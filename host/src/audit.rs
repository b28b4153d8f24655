//! The audit log: every decision the service takes, append-only and
//! hash-chained, so that a changed, removed or inserted record is found.
//!
//! One record per policy call: the transit, the policy's id, version and
//! content hash, a digest of the input, the evaluation clock, the fuel used,
//! and the findings the call raised and left open. Each record's hash is
//! SHA-256 over the previous record's hash and the record's own text; the
//! first record follows [`GENESIS`]. Records are written in the same
//! transaction as the step they describe (several steps may share one, see
//! `Store::save_all`; the chain follows the order they are
//! written in, which is the order they commit in), and triggers refuse
//! `UPDATE` and `DELETE` on the table.
//!
//! A chain proves that nothing inside it changed; it cannot prove that
//! nothing was cut off its end. [`verify`] returns the head hash, which an
//! operator can record elsewhere to close that gap.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;

use crate::cache::content_hash;
use crate::evaluation::Decision;
use crate::finding::{Finding, format_time};
use crate::fix::Fix;
use crate::store::{Store, StoreError};

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

/// Appends one record per decision to the chain, inside the step's
/// transaction.
pub(crate) fn append(
    tx: &Transaction<'_>,
    transit: &str,
    entry: &AuditEntry,
    decisions: &[Decision],
) -> Result<(), StoreError> {
    if decisions.is_empty() {
        return Ok(());
    }
    // Read inside the writing transaction: steps are appended in the order
    // they are written, which is the order they commit in.
    let mut prev_hash: String = tx
        .prepare_cached("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1")?
        .query_row([], |row| row.get(0))
        .optional()?
        .unwrap_or_else(|| GENESIS.to_owned());
    let recorded_at = format_time(&Utc::now());
    let evaluated_at = format_time(&entry.evaluated_at);
    let mut insert = tx.prepare_cached("INSERT INTO audit (record, prev_hash, hash) VALUES (?1, ?2, ?3)")?;
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
        let hash = chain_hash(&prev_hash, &record);
        insert.execute(params![record, prev_hash, hash])?;
        prev_hash = hash;
    }
    Ok(())
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

/// Why the chain does not verify.
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
    /// The log could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Verifies the audit log of the service database at `path` (`DATA/escort.db`).
pub fn verify_database(path: &std::path::Path) -> Result<VerifiedChain, AuditError> {
    if !path.is_file() {
        return Err(StoreError::Missing(path.to_owned()).into());
    }
    verify(&Store::open(path)?)
}

/// Walks the whole chain from the first record and names the first record
/// that does not follow from the ones before it.
pub fn verify(store: &Store) -> Result<VerifiedChain, AuditError> {
    let mut statement = store
        .connection()
        .prepare("SELECT seq, record, prev_hash, hash FROM audit ORDER BY seq")
        .map_err(StoreError::from)?;
    let rows = statement
        .query_map([], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
            ))
        })
        .map_err(StoreError::from)?;
    let mut head = GENESIS.to_owned();
    let mut records = 0u64;
    let mut last_seq = 0i64;
    for row in rows {
        let (seq, record, prev_hash, hash) = row.map_err(StoreError::from)?;
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
        head = hash;
        records += 1;
        last_seq = seq;
    }
    Ok(VerifiedChain { records, head })
}
