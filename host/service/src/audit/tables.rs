//! The tables an officer's answer is built from, checked against the step
//! records of the chain (`commitment.rs`), over rows the store reads and
//! hands over; and the step records a migration writes for rows an earlier
//! build stored without them.
//!
//! The store walks one transit at a time, in key order: its step records in
//! chain order beside each of its tables in place order (fixes by seq,
//! refused lines by line, findings by seq, policy states by position), each
//! range a record claims taken from the front of its table by a [`Cursor`].
//! Memory holds a row and a record at a time, whatever the size of the
//! database. Findings are the one table a step empties (a replay raises them
//! again from the first fix), so they are checked against the records from
//! the last such step on, in a second pass over the transit's records; the
//! row, the declaration and the policy states against the last record that
//! wrote them.

use rusqlite::types::ValueRef;
use serde_json::Value;

use super::AuditError;
use super::commitment::{Range, RowsDigest, StepRecord, TransitRow};
use escort_engine::format_time;

/// A table a step record commits to, in words.
#[derive(Debug)]
pub(crate) struct Table {
    /// The table's name.
    pub(crate) name: &'static str,
    /// One row, in words.
    one: &'static str,
    /// Several rows, in words.
    pub(crate) many: &'static str,
    /// Whether the places of a step's rows follow one another (seqs,
    /// positions) or leave gaps (refused lines among good ones).
    contiguous: bool,
}

/// The fixes.
pub(crate) const FIXES: Table = Table {
    name: "fixes",
    one: "fix",
    many: "fixes",
    contiguous: true,
};

/// The refused lines.
pub(crate) const REJECTIONS: Table = Table {
    name: "rejections",
    one: "refused line",
    many: "refused lines",
    contiguous: false,
};

/// The findings.
pub(crate) const FINDINGS: Table = Table {
    name: "findings",
    one: "finding",
    many: "findings",
    contiguous: true,
};

/// The policy states.
pub(crate) const POLICY_STATES: Table = Table {
    name: "policy_states",
    one: "policy state",
    many: "policy states",
    contiguous: true,
};

/// How many rows the store's walk found as the chain says.
#[derive(Debug, Default)]
pub(crate) struct Checked {
    pub(crate) transits: u64,
    pub(crate) fixes: u64,
    pub(crate) rejections: u64,
    pub(crate) findings: u64,
}

/// One table's rows of one transit, in place order, as the store reads
/// them: each row's values as stored, its place first.
pub(crate) trait StoredRows {
    /// Why a row could not be read.
    type Error;

    /// The next row, `None` after the last.
    fn next_row(&mut self) -> Result<Option<Vec<ValueRef<'_>>>, Self::Error>;
}

/// What a transit is called in a message: its id, or its key when its row
/// has no id.
pub(crate) fn transit_name(key: i64, row: &TransitRow) -> String {
    match row.get("id") {
        Some(Value::String(id)) => id.clone(),
        _ => format!("with key {key}"),
    }
}

/// The error for a transit that no step record commits to.
pub(crate) fn uncommitted(transit: &str) -> AuditError {
    differs_in(transit)("no audit record commits to it (it was added to the table, or its key was changed)".to_owned())
}

/// A step record read back from the chain (record `seq`).
pub(crate) fn step_record(seq: i64, text: &str) -> Result<StepRecord, AuditError> {
    // The walk of the chain found this record filed under its transit, so
    // it is a step record; one this build cannot read is not its own.
    serde_json::from_str(text).map_err(|e| AuditError::Broken {
        seq,
        reason: format!("it is not a step record this build reads ({e})"),
    })
}

/// Checks the transit's row in the table against the one its last step
/// record `seq` committed, and its declaration (SHA-256 `stored`) against
/// the last one a step record committed.
pub(crate) fn check_row_and_declaration(
    transit: &str,
    table: &TransitRow,
    last: (i64, &StepRecord),
    stored: Option<String>,
    committed: Option<(i64, String)>,
) -> Result<(), AuditError> {
    let differs = differs_in(transit);
    compare_rows(table, &last.1.wrote.row, last.0).map_err(&differs)?;
    check_declaration(stored, committed).map_err(&differs)
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

/// The declaration in the table (SHA-256 `stored`) against the last one a
/// step record committed (record `seq`, SHA-256 `digest`).
fn check_declaration(stored: Option<String>, committed: Option<(i64, String)>) -> Result<(), String> {
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

/// The error for the step record `seq` (text `record`) of a transit that
/// is not in the table.
pub(crate) fn removed(seq: i64, record: &str) -> AuditError {
    let transit = serde_json::from_str::<StepRecord>(record)
        .map(|record| record.transit)
        .unwrap_or_else(|_| format!("of audit record {seq}"));
    AuditError::Differs {
        transit,
        reason: format!("audit record {seq} commits to it, but it is not in the table (it was removed)"),
    }
}

/// The error for rows of `table` (`what`, in words) kept for the key of a
/// transit that is not there.
pub(crate) fn stray(key: i64, table: &str, what: &str) -> AuditError {
    AuditError::Differs {
        transit: format!("with key {key}"),
        reason: format!(
            "there is no such transit, yet the table `{table}` holds its {what}, which no audit record \
             commits to (they were added)"
        ),
    }
}

/// One table's rows of one transit, read in place order and handed out to
/// the ranges of its step records in turn.
pub(crate) struct Cursor<'id, R> {
    table: &'static Table,
    transit: &'id str,
    rows: R,
    /// How many rows were taken.
    pub(crate) taken: u64,
}

impl<'id, R: StoredRows> Cursor<'id, R>
where
    AuditError: From<R::Error>,
{
    /// A cursor over `transit`'s `rows` of `table`.
    pub(crate) fn new(table: &'static Table, transit: &'id str, rows: R) -> Cursor<'id, R> {
        Cursor {
            table,
            transit,
            rows,
            taken: 0,
        }
    }

    /// Takes the rows audit record `seq` committed in `range`: they must be
    /// the next ones, in their places, and hash to its digest.
    pub(crate) fn take(&mut self, range: &Range, seq: i64) -> Result<(), AuditError> {
        let Table {
            one, many, contiguous, ..
        } = *self.table;
        let differs = differs_in(self.transit);
        let mut digest = RowsDigest::new();
        let mut expected = range.first;
        for index in 0..range.count {
            let known_place = index == 0 || contiguous;
            let Some(row) = self.rows.next_row()? else {
                return Err(differs(if known_place {
                    format!("{one} {expected} is missing (audit record {seq} committed it)")
                } else {
                    format!(
                        "{many} are missing: audit record {seq} committed {} from {one} {}",
                        range.count, range.first
                    )
                }));
            };
            let place = place(&row).ok_or_else(|| {
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
            digest.row(row);
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
    pub(crate) fn finish(&mut self) -> Result<(), AuditError> {
        let Some(row) = self.rows.next_row()? else {
            return Ok(());
        };
        let one = self.table.one;
        Err(differs_in(self.transit)(match place(&row) {
            Some(place) => format!("{one} {place} is not in the audit log (it was added)"),
            None => format!("a {one} is not in the audit log (it was added)"),
        }))
    }

    /// Takes every row that is left, as one range (`None` when there is
    /// none).
    pub(crate) fn take_rest(&mut self) -> Result<Option<Range>, R::Error> {
        let mut digest = RowsDigest::new();
        let mut first = None;
        while let Some(row) = self.rows.next_row()? {
            first = first.or_else(|| place(&row));
            digest.row(row);
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
fn place(row: &[ValueRef<'_>]) -> Option<i64> {
    match row.first() {
        Some(ValueRef::Integer(place)) => Some(*place),
        _ => None,
    }
}
