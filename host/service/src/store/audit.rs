//! The SQL side of the audit log: appending a step's records to the
//! `audit` table, and reading the chain and the tables back, in one
//! snapshot, for [`crate::audit`]'s checks. What a record holds and what
//! makes a chain or a table differ is the audit log's; which rows are read
//! in which order is the store's.

use ed25519_dalek::VerifyingKey;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{Store, StoreError, transit_row};
use crate::audit::commitment::{Commitment, RowsDigest, StepRecord, TransitRow};
use crate::audit::{
    self, AuditEntry, AuditError, ChainEnd, ChainWalk, Checked, Checkpoint, Cursor, DecisionRecord, FINDINGS, FIXES,
    Link, POLICY_STATES, REJECTIONS, StoredRows, Table, Verified,
};
use escort_engine::content_hash;
use escort_engine::format_time;

impl From<StoreError> for AuditError {
    fn from(error: StoreError) -> AuditError {
        AuditError::Store(Box::new(error))
    }
}

impl From<rusqlite::Error> for AuditError {
    fn from(error: rusqlite::Error) -> AuditError {
        StoreError::from(error).into()
    }
}

impl StoredRows for rusqlite::Rows<'_> {
    type Error = rusqlite::Error;

    fn next_row(&mut self) -> rusqlite::Result<Option<Vec<ValueRef<'_>>>> {
        Ok(self.next()?.map(|row| {
            let columns = row.as_ref().column_count();
            (0..columns).map(|column| row.get_ref_unwrap(column)).collect()
        }))
    }
}

/// A transit's rows of `table`, in place order, with the columns its
/// writer binds (`fix_row` and the others in `super`), in their order.
fn in_order(table: &Table) -> &'static str {
    match table.name {
        "fixes" => {
            "SELECT seq, at_ms, lat, lon, speed_kmh, course_deg, hdop, sats, battery_pct, seal, seal_id FROM fixes
             WHERE transit = ?1 ORDER BY seq"
        }
        "rejections" => "SELECT line, reason FROM rejections WHERE transit = ?1 ORDER BY line",
        "findings" => "SELECT seq, content_hash, finding FROM findings WHERE transit = ?1 ORDER BY seq",
        "policy_states" => {
            "SELECT position, policy, fingerprint, state, open FROM policy_states WHERE transit = ?1 ORDER BY position"
        }
        other => unreachable!("no step record commits to the table `{other}`"),
    }
}

/// Appends one record per decision, then the step record of what the step
/// wrote, inside the step's transaction.
pub(super) fn append(
    tx: &Transaction<'_>,
    transit: &str,
    entry: &AuditEntry,
    decisions: &[DecisionRecord],
    commitment: Commitment,
) -> Result<(), StoreError> {
    Ok(push(tx, audit::step_records(transit, entry, decisions, commitment))?)
}

/// Appends `links` to the chain, in order.
pub(super) fn push(tx: &Transaction<'_>, links: impl IntoIterator<Item = Link>) -> rusqlite::Result<()> {
    // Read inside the writing transaction: steps are appended in the
    // order they are written, which is the order they commit in.
    let head: Option<String> = tx
        .prepare_cached("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1")?
        .query_row([], |row| row.get(0))
        .optional()?;
    let mut end = ChainEnd::after(head);
    let mut insert =
        tx.prepare_cached("INSERT INTO audit (record, prev_hash, hash, transit) VALUES (?1, ?2, ?3, ?4)")?;
    for link in links {
        let (prev_hash, hash) = end.append(&link.text);
        insert.execute(params![link.text, prev_hash, hash, link.transit])?;
    }
    Ok(())
}

impl Store {
    /// Walks the whole chain from the first record, naming the first
    /// record that does not follow from the ones before it; checks it
    /// against the checkpoint, if one is given (its signature by
    /// `trusted_key` when given); then checks every table against the step
    /// records. All of it reads one snapshot of the database, so a service
    /// writing meanwhile does not make it differ.
    pub(crate) fn verify_audit(
        &self,
        checkpoint: Option<&Checkpoint>,
        trusted_key: Option<&VerifyingKey>,
    ) -> Result<Verified, AuditError> {
        if let Some(checkpoint) = checkpoint {
            checkpoint.check_signature(trusted_key)?;
        }
        let conn = &self.conn;
        // A caller that reads more after this (re-evaluation) holds the
        // snapshot already.
        let _snapshot = conn.is_autocommit().then(|| conn.unchecked_transaction()).transpose()?;
        let chain = walk(conn, checkpoint)?;
        let tables = check_tables(conn)?;
        self.check_timeline()?;
        Ok(Verified {
            chain,
            transits: tables.transits,
            fixes: tables.fixes,
            rejections: tables.rejections,
            findings: tables.findings,
        })
    }
}

impl Store {
    /// Checks the policy timeline against the publication records, in
    /// order: each version published once, as it was published, none added
    /// or removed since. (A component or parameters changed in the database
    /// is refused when the version is loaded: its fingerprint, which the
    /// record holds, no longer matches.)
    fn check_timeline(&self) -> Result<(), AuditError> {
        let versions = self.policy_versions()?;
        let mut statement = self.conn.prepare(
            "SELECT seq, record FROM audit WHERE json_extract(record, '$.published') IS NOT NULL ORDER BY seq",
        )?;
        let mut records = statement.query([])?;
        for version in &versions {
            let Some(record) = records.next()? else {
                return Err(AuditError::Timeline {
                    policy: version.policy.clone(),
                    reason: format!(
                        "its version {} was published in no audit record (added since)",
                        version.seq
                    ),
                });
            };
            audit::check_publication(record.get(0)?, &record.get::<_, String>(1)?, version)?;
        }
        if let Some(record) = records.next()? {
            let seq: i64 = record.get(0)?;
            let text: String = record.get(1)?;
            let policy = serde_json::from_str::<serde_json::Value>(&text).unwrap_or_default()["published"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            return Err(AuditError::Timeline {
                policy,
                reason: format!("audit record {seq} published a version the timeline does not hold (removed since)"),
            });
        }
        Ok(())
    }
}

fn walk(conn: &Connection, checkpoint: Option<&Checkpoint>) -> Result<audit::VerifiedChain, AuditError> {
    let mut statement = conn.prepare("SELECT seq, record, prev_hash, hash, transit FROM audit ORDER BY seq")?;
    let mut rows = statement.query([])?;
    let mut walk = ChainWalk::new(checkpoint);
    while let Some(row) = rows.next()? {
        walk.record(
            row.get(0)?,
            &row.get::<_, String>(1)?,
            &row.get::<_, String>(2)?,
            &row.get::<_, String>(3)?,
            row.get(4)?,
        )?;
    }
    walk.finish()
}

/// Checks every transit's rows against its step records, then that no
/// table holds rows of a transit that is not there. Names the first
/// difference.
fn check_tables(conn: &Connection) -> Result<Checked, AuditError> {
    let mut checked = Checked::default();
    let mut transits = conn.prepare("SELECT * FROM transits ORDER BY key")?;
    let mut rows = transits.query([])?;
    while let Some(row) = rows.next()? {
        check_transit(conn, row.get("key")?, &transit_row(row)?, &mut checked)?;
        checked.transits += 1;
    }
    check_strays(conn)?;
    Ok(checked)
}

fn check_transit(conn: &Connection, key: i64, row: &TransitRow, checked: &mut Checked) -> Result<(), AuditError> {
    let id = audit::transit_name(key, row);
    let mut records =
        conn.prepare_cached("SELECT seq, record FROM audit WHERE transit = ?1 AND seq >= ?2 ORDER BY seq")?;
    let mut last: Option<(i64, StepRecord)> = None;
    let mut declaration: Option<(i64, String)> = None;
    let mut restarted_at = 0;
    {
        let mut fixes_in_order = conn.prepare_cached(in_order(&FIXES))?;
        let mut fixes = Cursor::new(&FIXES, &id, fixes_in_order.query([key])?);
        let mut rejections_in_order = conn.prepare_cached(in_order(&REJECTIONS))?;
        let mut rejections = Cursor::new(&REJECTIONS, &id, rejections_in_order.query([key])?);
        let mut steps = records.query(params![key, 0])?;
        while let Some(step) = steps.next()? {
            let seq: i64 = step.get(0)?;
            let step = audit::step_record(seq, &step.get::<_, String>(1)?)?;
            if let Some(range) = &step.wrote.fixes {
                fixes.take(range, seq)?;
            }
            if let Some(range) = &step.wrote.rejections {
                rejections.take(range, seq)?;
            }
            if let Some(digest) = &step.wrote.declaration {
                declaration = Some((seq, digest.clone()));
            }
            if step.wrote.restart {
                restarted_at = seq;
            }
            last = Some((seq, step));
        }
        fixes.finish()?;
        rejections.finish()?;
        checked.fixes += fixes.taken;
        checked.rejections += rejections.taken;
    }
    let Some((last_seq, last)) = last else {
        return Err(audit::uncommitted(&id));
    };
    audit::check_row_and_declaration(&id, row, (last_seq, &last), declaration_digest(conn, key)?, declaration)?;
    {
        let mut states_in_order = conn.prepare_cached(in_order(&POLICY_STATES))?;
        let mut states = Cursor::new(&POLICY_STATES, &id, states_in_order.query([key])?);
        states.take(&last.wrote.policy_states, last_seq)?;
        states.finish()?;
    }
    let mut findings_in_order = conn.prepare_cached(in_order(&FINDINGS))?;
    let mut findings = Cursor::new(&FINDINGS, &id, findings_in_order.query([key])?);
    let mut steps = records.query(params![key, restarted_at])?;
    while let Some(step) = steps.next()? {
        let seq: i64 = step.get(0)?;
        let step = audit::step_record(seq, &step.get::<_, String>(1)?)?;
        if let Some(range) = &step.wrote.findings {
            findings.take(range, seq)?;
        }
    }
    findings.finish()?;
    checked.findings += findings.taken;
    Ok(())
}

/// SHA-256 of the transit's declaration, if it has one.
fn declaration_digest(conn: &Connection, key: i64) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT declaration FROM declarations WHERE transit = ?1")?
        .query_row([key], |row| {
            Ok(match row.get_ref(0)? {
                ValueRef::Text(text) => content_hash(text),
                // Only a hand can store anything else; no digest is empty.
                _ => String::new(),
            })
        })
        .optional()
}

/// Rows in any table that belong to no transit of the table: a transit row
/// removed with its step records still in the chain, or rows added for a
/// key no transit has.
fn check_strays(conn: &Connection) -> Result<(), AuditError> {
    let removed = conn
        .query_row(
            "SELECT seq, record FROM audit WHERE transit IS NOT NULL AND transit NOT IN (SELECT key FROM transits)
             ORDER BY seq LIMIT 1",
            [],
            |row| Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?)),
        )
        .optional()?;
    if let Some((seq, text)) = removed {
        return Err(audit::removed(seq, &text));
    }
    for (table, what) in [
        (FIXES.name, FIXES.many),
        (REJECTIONS.name, REJECTIONS.many),
        (FINDINGS.name, FINDINGS.many),
        (POLICY_STATES.name, POLICY_STATES.many),
        ("declarations", "declaration"),
    ] {
        let stray: Option<i64> = conn
            .query_row(
                &format!("SELECT transit FROM {table} WHERE transit NOT IN (SELECT key FROM transits) LIMIT 1"),
                [],
                |row| row.get(0),
            )
            .optional()?;
        if let Some(key) = stray {
            return Err(audit::stray(key, table, what));
        }
    }
    Ok(())
}

/// Appends one `adopt` step record per transit, committing to its rows as
/// they are. A migration does this for the transits an earlier build
/// stored without step records, so that the chain covers them from then
/// on: what was changed before cannot be found, what is changed after can.
pub(super) fn adopt(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    let recorded_at = format_time(&chrono::Utc::now());
    let mut links = Vec::new();
    let mut transits = tx.prepare("SELECT * FROM transits ORDER BY key")?;
    let mut rows = transits.query([])?;
    while let Some(row) = rows.next()? {
        let key: i64 = row.get("key")?;
        let id: String = row.get("id")?;
        let rest = |table: &'static Table| -> rusqlite::Result<Option<audit::commitment::Range>> {
            let mut in_order = tx.prepare_cached(in_order(table))?;
            Cursor::new(table, &id, in_order.query([key])?).take_rest()
        };
        let (fixes, rejections, findings) = (rest(&FIXES)?, rest(&REJECTIONS)?, rest(&FINDINGS)?);
        let policy_states = rest(&POLICY_STATES)?.unwrap_or_else(|| RowsDigest::new().range(0));
        links.push(Link::step(&StepRecord {
            step: "adopt".to_owned(),
            recorded_at: recorded_at.clone(),
            transit: id.clone(),
            wrote: Commitment {
                row: transit_row(row)?,
                declaration: declaration_digest(tx, key)?,
                fixes,
                rejections,
                // Findings an earlier step removed are gone from the table;
                // the ones there now are all the transit has.
                restart: true,
                findings,
                policy_states,
            },
        }));
    }
    push(tx, links)
}
