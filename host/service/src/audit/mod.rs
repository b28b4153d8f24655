//! The audit log: every decision the service takes and everything each step
//! wrote, append-only and hash-chained, so that a changed, removed or
//! inserted record is found, and so is a row an officer's answer is built
//! from that no longer holds what the log says.
//!
//! Three kinds of record, in one chain. A *publication record* per version
//! of a policy the service is given (`timeline`): the policy, its version,
//! content hash and fingerprint, when it is in force, what it applies to,
//! who published it, and, for a shadow version, a promotion or a rollback,
//! which it is (a regulator's promotion or rollback is a version too). A *decision record* per policy call:
//! the transit, the policy's id, version and content hash, a digest of the
//! input, the evaluation clock, the fuel used, and the final findings the
//! call raised. After a step's decisions, one *step record*
//! (`commitment.rs`) commits to what the step wrote: the transit's row, the
//! declaration, the fixes, refused lines and findings it added, and the
//! policy states it left, whose rows hold the findings left open: those are
//! written once per step, not once per call (records of builds before
//! issue 12 also carry an `open` list; they verify as they were written).
//! Each record's hash is SHA-256 over the previous record's hash and the
//! record's own text; the first record follows [`GENESIS`]. Records are written in the same transaction as the step they
//! describe (several steps may share one, see `Store::save_all`; the chain
//! follows the order they are written in, which is the order they commit
//! in), and triggers refuse `UPDATE` and `DELETE` on the table.
//!
//! Verification walks the chain ([`ChainWalk`]), then checks every table
//! against the step records (`tables.rs`), so an edited verdict, finding or
//! fix is found although the chain itself was not touched.
//!
//! This module is pure: records, chain hashes, and checks over the rows it
//! is given. The store owns the SQL: it appends the records this module
//! makes and reads the rows back for its checks (`store/audit.rs`), and
//! [`crate::verification`] puts the two together for `escort audit verify`.
//!
//! No secret goes into the chain, so it cannot prove that nothing was cut
//! off its end, nor that it was not rewritten whole. A [`Checkpoint`] closes
//! that gap: the head as of some moment, signed with a key kept away from
//! the database, which verification then checks the chain still contains.

mod checkpoint;
pub(crate) mod commitment;
mod tables;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use checkpoint::{Checkpoint, CheckpointError, public_key};
pub(crate) use tables::{
    Checked, Cursor, FINDINGS, FIXES, POLICY_STATES, REJECTIONS, StoredRows, Table, check_row_and_declaration, removed,
    step_record, stray, transit_name, uncommitted,
};

use crate::timeline::{Change, PolicyVersion};
use commitment::{Commitment, StepRecord};
use escort_bundle::Mode;
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

/// One policy call of a step, as its decision record holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionRecord {
    /// The policy's id.
    pub policy: String,
    /// Its version.
    pub policy_version: String,
    /// SHA-256 of its component.
    pub content_hash: String,
    /// The fuel the call used, when it was counted.
    pub fuel_used: Option<u64>,
    /// The final findings the call raised.
    pub findings: Vec<Finding>,
}

impl From<Decision> for DecisionRecord {
    fn from(decision: Decision) -> DecisionRecord {
        DecisionRecord {
            policy: decision.policy,
            policy_version: decision.policy_version,
            content_hash: decision.content_hash,
            fuel_used: decision.fuel_used,
            findings: decision.findings,
        }
    }
}

#[derive(Serialize)]
struct Record<'a> {
    recorded_at: &'a str,
    transit: &'a str,
    kind: &'a str,
    policy: &'a str,
    policy_version: &'a str,
    content_hash: &'a str,
    input_digest: &'a str,
    evaluated_at: &'a str,
    fuel_used: Option<u64>,
    findings: &'a [Finding],
}

/// The records of one step, in chain order: one per decision, then the
/// step record of what the step wrote (`commitment`).
pub(crate) fn step_records(
    transit: &str,
    entry: &AuditEntry,
    decisions: &[DecisionRecord],
    commitment: Commitment,
) -> Vec<Link> {
    let recorded_at = format_time(&Utc::now());
    let evaluated_at = format_time(&entry.evaluated_at);
    let mut records: Vec<Link> = decisions
        .iter()
        .map(|decision| Link {
            text: serde_json::to_string(&Record {
                recorded_at: &recorded_at,
                transit,
                kind: entry.kind,
                policy: &decision.policy,
                policy_version: &decision.policy_version,
                content_hash: &decision.content_hash,
                input_digest: &entry.input_digest,
                evaluated_at: &evaluated_at,
                fuel_used: decision.fuel_used,
                findings: &decision.findings,
            })
            .expect("a record always serializes"),
            transit: None,
        })
        .collect();
    records.push(Link::step(&StepRecord {
        step: entry.kind.to_owned(),
        recorded_at,
        transit: transit.to_owned(),
        wrote: commitment,
    }));
    records
}

/// The publication record of `version`.
pub(crate) fn publication(version: &PolicyVersion) -> Link {
    #[derive(Serialize)]
    struct Publication<'a> {
        recorded_at: String,
        published: &'a str,
        version: Option<&'a str>,
        content_hash: Option<&'a str>,
        fingerprint: Option<&'a str>,
        effective_from: Option<String>,
        effective_until: Option<String>,
        applies_to: &'a str,
        published_at: String,
        published_by: &'a str,
        // Left out when enforced and published, so that the records of a
        // database from before shadow runs still say what its versions do.
        #[serde(skip_serializing_if = "Option::is_none")]
        mode: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        change: Option<&'a str>,
    }
    let judge = version.judged_by.as_ref();
    let record = Publication {
        recorded_at: format_time(&Utc::now()),
        published: &version.policy,
        version: judge.map(|judge| judge.version.as_str()),
        content_hash: judge.map(|judge| judge.content_hash.as_str()),
        fingerprint: version.fingerprint(),
        effective_from: version.effective_from.map(|at| format_time(&at)),
        effective_until: version.effective_until.map(|at| format_time(&at)),
        applies_to: version.applies_to.as_str(),
        published_at: format_time(&version.published_at),
        published_by: &version.published_by,
        mode: (version.mode != Mode::Enforced).then(|| version.mode.as_str()),
        change: (version.change != Change::Publication).then(|| version.change.as_str()),
    };
    Link {
        text: serde_json::to_string(&record).expect("a record always serializes"),
        transit: None,
    }
}

/// Checks the timeline's version `version` against the publication record
/// (number `seq`, text `record`) that recorded it: they must say the same,
/// when it was recorded aside.
pub(crate) fn check_publication(seq: i64, record: &str, version: &PolicyVersion) -> Result<(), AuditError> {
    let said = |text: &str| -> serde_json::Value {
        let mut value: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        if let Some(fields) = value.as_object_mut() {
            fields.remove("recorded_at");
        }
        value
    };
    if said(record) == said(&publication(version).text) {
        return Ok(());
    }
    Err(AuditError::Timeline {
        policy: version.policy.clone(),
        reason: format!(
            "its version {} is not what audit record {seq} published (changed since)",
            version.seq
        ),
    })
}

/// A record's text and, for a step record, the key of the transit it
/// commits to, which the store files it under.
#[derive(Debug)]
pub(crate) struct Link {
    /// The record, as it is hashed.
    pub(crate) text: String,
    /// The transit's key, for a step record; `None` for a decision record.
    pub(crate) transit: Option<i64>,
}

impl Link {
    /// A step record's link.
    pub(crate) fn step(step: &StepRecord) -> Link {
        Link {
            text: serde_json::to_string(step).expect("a step record always serializes"),
            transit: step.key(),
        }
    }
}

/// The end of the chain: the hash the next record follows.
#[derive(Debug)]
pub(crate) struct ChainEnd {
    prev_hash: String,
}

impl ChainEnd {
    /// The end of a chain whose last record has hash `head` (`None` for an
    /// empty chain).
    pub(crate) fn after(head: Option<String>) -> ChainEnd {
        ChainEnd {
            prev_hash: head.unwrap_or_else(|| GENESIS.to_owned()),
        }
    }

    /// Appends `record`: returns the hash it follows and its own hash.
    pub(crate) fn append(&mut self, record: &str) -> (String, String) {
        let hash = chain_hash(&self.prev_hash, record);
        let prev_hash = std::mem::replace(&mut self.prev_hash, hash.clone());
        (prev_hash, hash)
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
    /// The policy timeline does not hold the versions the publication
    /// records published.
    #[error("the policy timeline of `{policy}`: {reason}")]
    Timeline {
        /// The policy whose versions differ.
        policy: String,
        /// The first difference found, naming the version and the record.
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
    /// The log could not be read: the store's error (a `StoreError`),
    /// kept opaque here because the store reads for the log, not the log
    /// for itself.
    #[error("{0}")]
    Store(Box<dyn std::error::Error + Send + Sync>),
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

/// The walk of the chain from its first record, fed one row of the table
/// at a time in `seq` order: names the first record that does not follow
/// from the ones before it, and checks the chain against a checkpoint.
pub(crate) struct ChainWalk<'c> {
    checkpoint: Option<&'c Checkpoint>,
    head: String,
    records: u64,
    last_seq: i64,
}

impl<'c> ChainWalk<'c> {
    /// A walk that will check the chain against `checkpoint`, if given.
    pub(crate) fn new(checkpoint: Option<&'c Checkpoint>) -> ChainWalk<'c> {
        ChainWalk {
            checkpoint,
            head: GENESIS.to_owned(),
            records: 0,
            last_seq: 0,
        }
    }

    /// Checks the next record: its number, the hash it follows, its own
    /// hash, and the transit it is filed under (`transit`).
    pub(crate) fn record(
        &mut self,
        seq: i64,
        record: &str,
        prev_hash: &str,
        hash: &str,
        transit: Option<i64>,
    ) -> Result<(), AuditError> {
        let broken = |reason: String| AuditError::Broken { seq, reason };
        let last_seq = self.last_seq;
        if seq != last_seq + 1 {
            return Err(broken(format!(
                "it follows record {last_seq}; the records between are missing"
            )));
        }
        if prev_hash != self.head {
            return Err(broken(
                "it does not follow the record before it (that record was changed or removed)".to_owned(),
            ));
        }
        if chain_hash(prev_hash, record) != hash {
            return Err(broken(
                "its content does not match its hash (it was changed)".to_owned(),
            ));
        }
        // The column only finds a transit's step records quickly; what a
        // record is, the hashed text says.
        let kind: Kind =
            serde_json::from_str(record).map_err(|e| broken(format!("it is not a record this build reads ({e})")))?;
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
        if let Some(checkpoint) = self
            .checkpoint
            .filter(|checkpoint| checkpoint.records() == self.records + 1)
        {
            checkpoint.check_record(seq, hash)?;
        }
        self.head = hash.to_owned();
        self.records += 1;
        self.last_seq = seq;
        Ok(())
    }

    /// The chain walked, once it is not shorter than the checkpoint's.
    pub(crate) fn finish(self) -> Result<VerifiedChain, AuditError> {
        if let Some(checkpoint) = self.checkpoint {
            checkpoint.check_length(self.records)?;
        }
        Ok(VerifiedChain {
            records: self.records,
            head: self.head,
        })
    }
}
