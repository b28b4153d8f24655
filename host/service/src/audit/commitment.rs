//! Step records: what one step wrote to the tables an officer's answer is
//! built from, committed to the audit chain after the step's decisions.
//!
//! A [`StepRecord`] holds the transit's row as the step left it (every
//! column, as stored), the SHA-256 of the declaration when the step wrote
//! one, and a [`Range`] for each kind of row the step added: fixes, refused
//! lines, findings (where they begin, how many, and a [`RowsDigest`] of
//! their stored values). Policy states are replaced whole by every step, so
//! their range is all of them. A record's size and the cost of making it
//! follow the step, not the transit's history; the ranges still let the
//! verifier name which rows differ.
//!
//! Digests are taken over SQLite's own values: the writer hashes the values
//! it binds, the verifier the values it reads back, through the same
//! [`RowsDigest::row`], so the two agree exactly where storage does.

use rusqlite::types::ValueRef;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

/// The transit's row as stored, column by column (`SELECT *` of `transits`).
pub(crate) type TransitRow = Map<String, Value>;

/// One step record, as it is written into the chain.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct StepRecord {
    /// The kind of step (`admit`, `observe`, `replay`, `tick`, `close`,
    /// `fault`), or `adopt` for the record a migration wrote for rows that
    /// an earlier build stored without step records. Its presence is what
    /// tells a step record from a decision record.
    pub(crate) step: String,
    /// When the record was written, by the service's clock.
    pub(crate) recorded_at: String,
    /// The transit's id.
    pub(crate) transit: String,
    /// What the step wrote.
    #[serde(flatten)]
    pub(crate) wrote: Commitment,
}

impl StepRecord {
    /// The transit's key in the tables, as the row says.
    pub(crate) fn key(&self) -> Option<i64> {
        self.wrote.row.get("key").and_then(Value::as_i64)
    }
}

/// What a step wrote, as the store hands it to [`super::step_records`].
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Commitment {
    /// The transit's row after the step.
    pub(crate) row: TransitRow,
    /// SHA-256 of the declaration the step wrote, if it wrote one.
    pub(crate) declaration: Option<String>,
    /// The fixes the step added.
    pub(crate) fixes: Option<Range>,
    /// The refused lines the step added.
    pub(crate) rejections: Option<Range>,
    /// Whether the step removed the transit's findings first.
    pub(crate) restart: bool,
    /// The findings the step added.
    pub(crate) findings: Option<Range>,
    /// Every policy state after the step.
    pub(crate) policy_states: Range,
}

/// Rows of one table of one transit that one step wrote: from the place
/// `first` (a fix's or finding's seq, a refused line's number, a policy
/// state's position) on, `count` of them, in place order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Range {
    /// The first row's place.
    pub(crate) first: i64,
    /// How many rows.
    pub(crate) count: u64,
    /// [`RowsDigest`] of their stored values.
    pub(crate) digest: String,
}

/// SHA-256 over rows of SQLite values. Each value is tagged with its type
/// and texts and blobs with their length, so no two different sequences of
/// rows hash alike.
#[derive(Debug, Default)]
pub(crate) struct RowsDigest {
    sha: Sha256,
    rows: u64,
}

impl RowsDigest {
    pub(crate) fn new() -> RowsDigest {
        RowsDigest::default()
    }

    /// Adds one row.
    pub(crate) fn row<'v>(&mut self, values: impl IntoIterator<Item = ValueRef<'v>>) {
        for value in values {
            self.value(value);
        }
        self.rows += 1;
    }

    /// Hashes a value as SQLite keeps it: a NaN is stored as NULL, and a
    /// negative zero as zero.
    fn value(&mut self, value: ValueRef<'_>) {
        match value {
            ValueRef::Null => self.sha.update([0]),
            ValueRef::Real(real) if real.is_nan() => self.sha.update([0]),
            ValueRef::Integer(integer) => {
                self.sha.update([1]);
                self.sha.update(integer.to_le_bytes());
            }
            ValueRef::Real(real) => {
                self.sha.update([2]);
                self.sha.update((real + 0.0).to_bits().to_le_bytes());
            }
            ValueRef::Text(bytes) => {
                self.sha.update([3]);
                self.sha.update((bytes.len() as u64).to_le_bytes());
                self.sha.update(bytes);
            }
            ValueRef::Blob(bytes) => {
                self.sha.update([4]);
                self.sha.update((bytes.len() as u64).to_le_bytes());
                self.sha.update(bytes);
            }
        }
    }

    /// The range of the rows added, which begin at `first`; `None` when
    /// there were none.
    pub(crate) fn range_from(self, first: i64) -> Option<Range> {
        (self.rows > 0).then(|| self.range(first))
    }

    /// The range of the rows added, which begin at `first`, even when empty.
    pub(crate) fn range(self, first: i64) -> Range {
        Range {
            first,
            count: self.rows,
            digest: hex::encode(self.sha.finalize()),
        }
    }
}

/// A stored value as JSON, for the transit's row in a step record.
pub(crate) fn json_of(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(integer) => Value::from(integer),
        ValueRef::Real(real) => serde_json::Number::from_f64(real).map_or(Value::Null, Value::Number),
        ValueRef::Text(bytes) => Value::String(String::from_utf8_lossy(bytes).into_owned()),
        // No column of `transits` holds a blob; one that does was put there
        // by hand, and must not equal any text.
        ValueRef::Blob(bytes) => Value::Object(Map::from_iter([("blob".to_owned(), hex::encode(bytes).into())])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_that_differ_anywhere_hash_apart_and_stored_equals_hash_alike() {
        let digest = |rows: &[&[ValueRef<'_>]]| {
            let mut digest = RowsDigest::new();
            for row in rows {
                digest.row(row.iter().copied());
            }
            digest.range(0).digest
        };
        let text = |s: &'static str| ValueRef::Text(s.as_bytes());
        // The boundary between two texts is part of the digest.
        assert_ne!(digest(&[&[text("ab"), text("c")]]), digest(&[&[text("a"), text("bc")]]));
        assert_ne!(digest(&[&[ValueRef::Integer(1)]]), digest(&[&[ValueRef::Real(1.0)]]));
        assert_ne!(digest(&[&[ValueRef::Null]]), digest(&[&[text("")]]));
        assert_ne!(digest(&[&[text("a")]]), digest(&[&[ValueRef::Blob(b"a")]]));
        // What SQLite keeps the same is hashed the same.
        assert_eq!(digest(&[&[ValueRef::Real(-0.0)]]), digest(&[&[ValueRef::Real(0.0)]]));
        assert_eq!(digest(&[&[ValueRef::Real(f64::NAN)]]), digest(&[&[ValueRef::Null]]));
    }

    #[test]
    fn what_the_writer_binds_the_verifier_reads_back_alike() {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        db.execute_batch("CREATE TABLE t (a INTEGER, b REAL, c TEXT, d BLOB, e REAL)")
            .unwrap();
        let written = [
            ValueRef::Integer(-7),
            ValueRef::Real(-0.0),
            ValueRef::Text("ü".as_bytes()),
            ValueRef::Blob(&[0, 1]),
            ValueRef::Real(3.0),
        ];
        db.execute(
            "INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params_from_iter(written.iter().map(|v| rusqlite::types::ToSqlOutput::Borrowed(*v))),
        )
        .unwrap();
        let mut bound = RowsDigest::new();
        bound.row(written);
        let read = db
            .query_row("SELECT a, b, c, d, e FROM t", [], |row| {
                let mut read = RowsDigest::new();
                read.row((0..5).map(|i| row.get_ref_unwrap(i)));
                Ok(read.range(0))
            })
            .unwrap();
        assert_eq!(bound.range(0), read);
    }
}
