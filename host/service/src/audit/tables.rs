//! The tables an officer's answer is built from, checked against the step
//! records of the chain (`commitment.rs`); and the step records a migration
//! writes for rows an earlier build stored without them.
//!
//! One transit at a time, in key order: its step records in chain order
//! beside each of its tables in place order (fixes by seq, refused lines by
//! line, findings by seq, policy states by position), each range a record
//! claims taken from the front of its table. Memory holds a row and a record
//! at a time, whatever the size of the database. Findings are the one table
//! a step empties (a replay raises them again from the first fix), so they
//! are checked against the records from the last such step on, in a second
//! pass over the transit's records; the row, the declaration and the policy
//! states against the last record that wrote them.

use chrono::Utc;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, Row, Rows, Transaction, params};
use serde_json::Value;

use super::commitment::{Commitment, Range, RowsDigest, StepRecord, TransitRow};
use super::{Appender, AuditError};
use crate::store::{self, StoreError, transit_row};
use escort_engine::content_hash;
use escort_engine::format_time;

/// A table a step record commits to, in words and in SQL.
struct Table {
    /// The table's name.
    name: &'static str,
    /// One row, in words.
    one: &'static str,
    /// Several rows, in words.
    many: &'static str,
    /// Whether the places of a step's rows follow one another (seqs,
    /// positions) or leave gaps (refused lines among good ones).
    contiguous: bool,
    /// One transit's rows, in place order, each as the store wrote it.
    in_order: &'static str,
}

const FIXES: Table = Table {
    name: "fixes",
    one: "fix",
    many: "fixes",
    contiguous: true,
    in_order: store::FIXES_IN_ORDER,
};

const REJECTIONS: Table = Table {
    name: "rejections",
    one: "refused line",
    many: "refused lines",
    contiguous: false,
    in_order: store::REJECTIONS_IN_ORDER,
};

const FINDINGS: Table = Table {
    name: "findings",
    one: "finding",
    many: "findings",
    contiguous: true,
    in_order: store::FINDINGS_IN_ORDER,
};

const POLICY_STATES: Table = Table {
    name: "policy_states",
    one: "policy state",
    many: "policy states",
    contiguous: true,
    in_order: store::POLICY_STATES_IN_ORDER,
};

/// How many rows [`check`] found as the chain says.
#[derive(Debug, Default)]
pub(super) struct Checked {
    pub(super) transits: u64,
    pub(super) fixes: u64,
    pub(super) rejections: u64,
    pub(super) findings: u64,
}

/// Checks every transit's rows against its step records, then that no
/// table holds rows of a transit that is not there. Names the first
/// difference.
pub(super) fn check(conn: &Connection) -> Result<Checked, AuditError> {
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
    let id = match row.get("id") {
        Some(Value::String(id)) => id.clone(),
        _ => format!("with key {key}"),
    };
    let differs = differs_in(&id);
    let mut records =
        conn.prepare_cached("SELECT seq, record FROM audit WHERE transit = ?1 AND seq >= ?2 ORDER BY seq")?;
    let mut last: Option<(i64, StepRecord)> = None;
    let mut declaration: Option<(i64, String)> = None;
    let mut restarted_at = 0;
    {
        let mut fixes_in_order = conn.prepare_cached(FIXES.in_order)?;
        let mut fixes = Cursor::new(&FIXES, &id, fixes_in_order.query([key])?);
        let mut rejections_in_order = conn.prepare_cached(REJECTIONS.in_order)?;
        let mut rejections = Cursor::new(&REJECTIONS, &id, rejections_in_order.query([key])?);
        let mut steps = records.query(params![key, 0])?;
        while let Some(step) = steps.next()? {
            let (seq, step) = step_record(step)?;
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
        return Err(differs(
            "no audit record commits to it (it was added to the table, or its key was changed)".to_owned(),
        ));
    };
    compare_rows(row, &last.wrote.row, last_seq).map_err(&differs)?;
    check_declaration(conn, key, declaration).map_err(&differs)?;
    {
        let mut states_in_order = conn.prepare_cached(POLICY_STATES.in_order)?;
        let mut states = Cursor::new(&POLICY_STATES, &id, states_in_order.query([key])?);
        states.take(&last.wrote.policy_states, last_seq)?;
        states.finish()?;
    }
    let mut findings_in_order = conn.prepare_cached(FINDINGS.in_order)?;
    let mut findings = Cursor::new(&FINDINGS, &id, findings_in_order.query([key])?);
    let mut steps = records.query(params![key, restarted_at])?;
    while let Some(step) = steps.next()? {
        let (seq, step) = step_record(step)?;
        if let Some(range) = &step.wrote.findings {
            findings.take(range, seq)?;
        }
    }
    findings.finish()?;
    checked.findings += findings.taken;
    Ok(())
}

fn step_record(row: &Row<'_>) -> Result<(i64, StepRecord), AuditError> {
    let seq: i64 = row.get(0)?;
    let text: String = row.get(1)?;
    // The walk of the chain found this record filed under its transit, so
    // it is a step record; one this build cannot read is not its own.
    let record = serde_json::from_str(&text).map_err(|e| AuditError::Broken {
        seq,
        reason: format!("it is not a step record this build reads ({e})"),
    })?;
    Ok((seq, record))
}

/// Names the first column whose value differs between the transit's row in
/// the table and in audit record `seq`.
fn compare_rows(table: &TransitRow, recorded: &TransitRow, seq: i64) -> Result<(), String> {
    for (column, value) in table {
        match recorded.get(column) {
            Some(kept) if kept == value => {}
            Some(kept) => {
                return Err(format!(
                    "its {column} is {} in the table but {} in audit record {seq}",
                    shown(column, value),
                    shown(column, kept)
                ));
            }
            None => {
                return Err(format!(
                    "its {column} is {} in the table but audit record {seq} has no such column",
                    shown(column, value)
                ));
            }
        }
    }
    match recorded.iter().find(|(column, _)| !table.contains_key(*column)) {
        Some((column, kept)) => Err(format!(
            "its {column} is not in the table, but is {} in audit record {seq}",
            shown(column, kept)
        )),
        None => Ok(()),
    }
}

/// A stored value for a message: texts and numbers quoted, times (`_ms`
/// columns) also as a date, NULL as "empty".
fn shown(column: &str, value: &Value) -> String {
    match value {
        Value::Null => "empty".to_owned(),
        Value::String(text) => format!("`{text}`"),
        Value::Number(number) if column.ends_with("_ms") => {
            match number.as_i64().and_then(chrono::DateTime::from_timestamp_millis) {
                Some(at) => format!("`{number}` ({})", format_time(&at)),
                None => format!("`{number}`"),
            }
        }
        other => format!("`{other}`"),
    }
}

/// The declaration in the table against the last one a step record
/// committed (record `seq`, SHA-256 `digest`).
fn check_declaration(conn: &Connection, key: i64, committed: Option<(i64, String)>) -> Result<(), String> {
    let stored = declaration_digest(conn, key).map_err(|e| e.to_string())?;
    match (stored, committed) {
        (None, None) => Ok(()),
        (Some(_), None) => Err("its declaration is not in the audit log (it was added)".to_owned()),
        (None, Some((seq, _))) => Err(format!("its declaration is missing (audit record {seq} committed one)")),
        (Some(stored), Some((seq, digest))) if stored != digest => Err(format!(
            "its declaration differs from the one audit record {seq} committed (it was changed)"
        )),
        (Some(_), Some(_)) => Ok(()),
    }
}

/// SHA-256 of the transit's declaration, if it has one.
fn declaration_digest(conn: &Connection, key: i64) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT declaration FROM declarations WHERE transit = ?1")?
        .query_row([key], |row| {
            Ok(match row.get_ref(0)? {
                ValueRef::Text(text) => content_hash(text),
                // Only a hand can store anything else; no digest is empty.
                _ => String::new(),
            })
        })
        .optional()?)
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
        let transit = serde_json::from_str::<StepRecord>(&text)
            .map(|record| record.transit)
            .unwrap_or_else(|_| format!("of audit record {seq}"));
        return Err(AuditError::Differs {
            transit,
            reason: format!("audit record {seq} commits to it, but it is not in the table (it was removed)"),
        });
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
            return Err(AuditError::Differs {
                transit: format!("with key {key}"),
                reason: format!(
                    "there is no such transit, yet the table `{table}` holds its {what}, which no audit record \
                     commits to (they were added)"
                ),
            });
        }
    }
    Ok(())
}

/// One table's rows of one transit, read in place order and handed out to
/// the ranges of its step records in turn.
struct Cursor<'r, 'id> {
    table: &'static Table,
    transit: &'id str,
    rows: Rows<'r>,
    taken: u64,
}

impl<'r, 'id> Cursor<'r, 'id> {
    fn new(table: &'static Table, transit: &'id str, rows: Rows<'r>) -> Cursor<'r, 'id> {
        Cursor {
            table,
            transit,
            rows,
            taken: 0,
        }
    }

    /// Takes the rows audit record `seq` committed in `range`: they must be
    /// the next ones, in their places, and hash to its digest.
    fn take(&mut self, range: &Range, seq: i64) -> Result<(), AuditError> {
        let Table {
            one, many, contiguous, ..
        } = *self.table;
        let differs = differs_in(self.transit);
        let mut digest = RowsDigest::new();
        let mut expected = range.first;
        for index in 0..range.count {
            let known_place = index == 0 || contiguous;
            let Some(row) = self.rows.next()? else {
                return Err(differs(if known_place {
                    format!("{one} {expected} is missing (audit record {seq} committed it)")
                } else {
                    format!(
                        "{many} are missing: audit record {seq} committed {} from {one} {}",
                        range.count, range.first
                    )
                }));
            };
            let place = place(row).ok_or_else(|| {
                differs(format!(
                    "one of its {many} has a place that is not a number (it was changed)"
                ))
            })?;
            if known_place && place > expected {
                return Err(differs(format!(
                    "{one} {expected} is missing (audit record {seq} committed it)"
                )));
            }
            if known_place && place < expected {
                return Err(differs(format!("{one} {place} is not in the audit log (it was added)")));
            }
            let columns = row.as_ref().column_count();
            digest.row((0..columns).map(|column| row.get_ref_unwrap(column)));
            expected = place + 1;
        }
        if digest.range(range.first).digest != range.digest {
            let rows = match (range.count, contiguous) {
                (1, _) => format!("{one} {} differs", range.first),
                (count, true) => format!("{many} {} to {} differ", range.first, range.first + count as i64 - 1),
                (count, false) => format!("the {count} {many} from {one} {} differ", range.first),
            };
            return Err(differs(format!(
                "{rows} from what audit record {seq} committed (changed since)"
            )));
        }
        self.taken += range.count;
        Ok(())
    }

    /// Checks that no row is left that no record claimed.
    fn finish(&mut self) -> Result<(), AuditError> {
        let Some(row) = self.rows.next()? else {
            return Ok(());
        };
        let one = self.table.one;
        Err(differs_in(self.transit)(match place(row) {
            Some(place) => format!("{one} {place} is not in the audit log (it was added)"),
            None => format!("a {one} is not in the audit log (it was added)"),
        }))
    }

    /// Takes every row that is left, as one range (`None` when there is
    /// none).
    fn take_rest(&mut self) -> Result<Option<Range>, StoreError> {
        let mut digest = RowsDigest::new();
        let mut first = None;
        while let Some(row) = self.rows.next()? {
            first = first.or_else(|| place(row));
            let columns = row.as_ref().column_count();
            digest.row((0..columns).map(|column| row.get_ref_unwrap(column)));
        }
        Ok(digest.range_from(first.unwrap_or(0)))
    }
}

/// What makes the error for a difference in `transit`'s rows.
fn differs_in(transit: &str) -> impl Fn(String) -> AuditError + '_ {
    move |reason| AuditError::Differs {
        transit: transit.to_owned(),
        reason,
    }
}

/// A row's place: its first column, a number.
fn place(row: &Row<'_>) -> Option<i64> {
    match row.get_ref(0) {
        Ok(ValueRef::Integer(place)) => Some(place),
        _ => None,
    }
}

/// Appends one `adopt` step record per transit, committing to its rows as
/// they are. A migration does this for the transits an earlier build
/// stored without step records, so that the chain covers them from then
/// on: what was changed before cannot be found, what is changed after can.
pub(crate) fn adopt(tx: &Transaction<'_>) -> Result<(), StoreError> {
    let mut chain = Appender::open(tx)?;
    let recorded_at = format_time(&Utc::now());
    let mut transits = tx.prepare("SELECT * FROM transits ORDER BY key")?;
    let mut rows = transits.query([])?;
    while let Some(row) = rows.next()? {
        let key: i64 = row.get("key")?;
        let id: String = row.get("id")?;
        let rest = |table: &'static Table| -> Result<Option<Range>, StoreError> {
            let mut in_order = tx.prepare_cached(table.in_order)?;
            Cursor::new(table, &id, in_order.query([key])?).take_rest()
        };
        let (fixes, rejections, findings) = (rest(&FIXES)?, rest(&REJECTIONS)?, rest(&FINDINGS)?);
        let policy_states = rest(&POLICY_STATES)?.unwrap_or_else(|| RowsDigest::new().range(0));
        chain.push_step(&StepRecord {
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
        })?;
    }
    Ok(())
}
