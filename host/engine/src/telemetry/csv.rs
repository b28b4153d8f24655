//! Reads CSV telemetry: a header row naming the NDJSON fields of `docs/reference.md` § Fixes, in any order,
//! then one fix per record.
//!
//! The header is held to the same standard as NDJSON keys: a column that is not a fix field makes the
//! whole file unusable, because a misnamed column (`lattitude`, `battery_pct`) would otherwise be
//! dropped from every fix without a word. An empty cell means the field is absent; cells are trimmed;
//! blank lines are skipped.
//! The separator is a comma, or a semicolon or tab when the header line has one of those and no comma
//! (spreadsheets in locales with a decimal comma save with semicolons).
//!
//! Records are read as bytes and decoded one by one, so a record that is not UTF-8 (one cell typed in
//! another code page) or longer than [`MAX_RECORD_BYTES`] is one rejection and the records after it
//! are read; only a header that is not UTF-8 refuses the file, since it names every column.

use ::csv::{ByteRecord, ReaderBuilder, StringRecord};

use super::{Collector, Draft, Field, TelemetryError, not_utf8, too_long};
use crate::fix::Fix;

/// The longest record read, in bytes, counting its cells without separators or quotes: as for an
/// NDJSON line (whose bound it shares), a real fix is a few hundred bytes at most.
pub(crate) const MAX_RECORD_BYTES: usize = super::ndjson::MAX_LINE_BYTES;

pub(super) fn read(bytes: &[u8], out: &mut Collector) -> Result<(), TelemetryError> {
    let mut reader = ReaderBuilder::new()
        .delimiter(separator(bytes))
        // The header is read as an ordinary record, so that it is checked here and not skipped.
        .has_headers(false)
        // Records of the wrong length are rejections with a clear reason, not reader errors.
        .flexible(true)
        .from_reader(bytes);
    let mut records = reader.byte_records();
    let header = match records.next() {
        None => return Err(TelemetryError::CsvNoHeader),
        Some(Ok(header)) => header,
        Some(Err(err)) => return Err(TelemetryError::Csv(err)),
    };
    let header_line = first_line(bytes, header.position());
    let mut header =
        StringRecord::from_byte_record(header).map_err(|_| TelemetryError::NotUtf8 { line: header_line })?;
    // Trimmed after decoding: `ByteRecord::trim` only knows ASCII blanks.
    header.trim();
    let columns = columns(&header)?;
    for record in records {
        match record {
            // A line of blanks: no fix and no mistake, as in NDJSON.
            Ok(record)
                if record.len() == 1 && std::str::from_utf8(&record[0]).is_ok_and(|cell| cell.trim().is_empty()) => {}
            Ok(record) => {
                let line = first_line(bytes, record.position());
                out.offer(line, parse_record(&columns, record));
            }
            Err(err) => out.reject(
                first_line(bytes, err.position()),
                format!("unreadable CSV record: {err}"),
            ),
        }
    }
    Ok(())
}

/// The 1-based line on which a record starts. The csv crate places a record after empty lines at the
/// first of those empty lines, so the line breaks between its position and the record are counted here.
fn first_line(bytes: &[u8], position: Option<&::csv::Position>) -> u64 {
    let Some(position) = position else { return 0 };
    let start = usize::try_from(position.byte()).unwrap_or(usize::MAX);
    let skipped = bytes
        .get(start..)
        .unwrap_or_default()
        .iter()
        .take_while(|&&byte| matches!(byte, b'\r' | b'\n'));
    position.line() + skipped.filter(|&&byte| byte == b'\n').count() as u64
}

/// The field separator: the first of `,` `;` tab that occurs in the header line.
fn separator(bytes: &[u8]) -> u8 {
    let header = bytes
        .split(|&byte| byte == b'\n')
        .find(|line| !line.trim_ascii().is_empty())
        .unwrap_or_default();
    [b',', b';', b'\t']
        .into_iter()
        .find(|&byte| header.contains(&byte))
        .unwrap_or(b',')
}

/// The field of each column, refusing unknown and repeated columns and requiring `at`, `lat`, `lon`.
fn columns(header: &StringRecord) -> Result<Vec<Field>, TelemetryError> {
    let mut columns = Vec::with_capacity(header.len());
    for name in header {
        let field = Field::from_name(&name.to_ascii_lowercase()).ok_or_else(|| TelemetryError::CsvUnknownColumn {
            column: name.to_string(),
        })?;
        if columns.contains(&field) {
            return Err(TelemetryError::CsvDuplicateColumn {
                column: name.to_string(),
            });
        }
        columns.push(field);
    }
    for required in [Field::At, Field::Lat, Field::Lon] {
        if !columns.contains(&required) {
            return Err(TelemetryError::CsvMissingColumn {
                column: required.name(),
            });
        }
    }
    Ok(columns)
}

fn parse_record(columns: &[Field], record: ByteRecord) -> Result<Fix, String> {
    if record.as_slice().len() > MAX_RECORD_BYTES {
        return Err(too_long("the record", record.as_slice().len(), MAX_RECORD_BYTES));
    }
    let mut record = StringRecord::from_byte_record(record).map_err(|err| {
        let (field, valid_up_to) = (err.utf8_error().field(), err.utf8_error().valid_up_to());
        let record = err.into_byte_record();
        let cell = record.get(field).unwrap_or_default();
        not_utf8(&format!("field {} of the record", field + 1), cell, valid_up_to)
    })?;
    record.trim();
    if record.len() != columns.len() {
        return Err(format!("{} fields, but the header has {}", record.len(), columns.len()));
    }
    let mut draft = Draft::default();
    for (&field, cell) in columns.iter().zip(&record) {
        if !cell.is_empty() {
            draft.set_text(field, cell)?;
        }
    }
    draft.finish()
}

/// CSV headers in any order, empty cells, separators, and the header errors that refuse a file.
#[cfg(test)]
mod tests {
    use super::super::tests::time;
    use super::super::{Format, Rejection, Telemetry, TelemetryError};
    use super::MAX_RECORD_BYTES;
    use crate::fix::SealState;

    fn parse(text: &str) -> Result<Telemetry, TelemetryError> {
        Telemetry::parse(Format::Csv, text.as_bytes())
    }

    #[test]
    fn columns_may_come_in_any_order_and_cells_may_be_empty() {
        let text = "\
seal, battery ,LON,lat,at,speed_kmh,course,hdop,sats,seal_id
intact,87,80.390,44.160,2021-05-16T06:05:00Z,42.5,268,0.9,11,NS-778812
,,80.391,44.161,2021-05-16T06:06:00Z,,,,,
cable_cut,12,80.392,44.162,2021-05-16T06:07:00+06:00,0,,,3,
";
        let telemetry = parse(text).expect("readable");
        assert!(telemetry.rejected.is_empty(), "{:?}", telemetry.rejected);
        let [cut, full, bare] = &telemetry.fixes[..] else {
            panic!("three fixes: {:?}", telemetry.fixes)
        };
        assert_eq!(full.at, time("2021-05-16T06:05:00Z"));
        assert_eq!(
            (full.lat, full.lon, full.speed_kmh, full.course_deg),
            (44.16, 80.39, Some(42.5), Some(268.0))
        );
        assert_eq!(
            (full.hdop, full.sats, full.battery_pct),
            (Some(0.9), Some(11), Some(87.0))
        );
        assert_eq!(
            (full.seal, full.seal_id.as_deref()),
            (Some(SealState::Intact), Some("NS-778812"))
        );
        assert_eq!(
            (bare.lat, bare.speed_kmh, bare.sats, bare.seal, bare.seal_id.as_deref()),
            (44.161, None, None, None, None)
        );
        assert_eq!(
            (cut.at, cut.seal, cut.speed_kmh),
            (time("2021-05-16T00:07:00Z"), Some(SealState::CableCut), Some(0.0))
        );
        assert_eq!(telemetry.out_of_order, 1);
    }

    #[test]
    fn bad_records_are_rejected_with_their_line_numbers() {
        let text = "\
at,lat,lon,battery,sats
2021-05-16T06:00:00Z,44.1,80.2,50,

2021-05-16T06:01:00Z,NaN,80.2,,
2021-05-16T06:02:00Z,44.1,inf,,
2021-05-16T06:03:00Z,44.1,80.2,-1,
2021-05-16T06:04:00Z,abc,80.2,,
2021-05-16T06:05:00Z,44.1,80.2
\"2021-05-16T06:06:00Z\",\"44.1\",\"80.2\",\"\",\"2\"
2021-05-16 06:07,44.1,80.2,,
,44.1,80.2,,
2021-05-16T06:08:00Z,44.1,80.2,,-3
2021-05-16T06:09:00Z,44.1,80.2,,2.5
";
        let telemetry = parse(text).expect("readable");
        let expected = [
            (4, "latitude NaN is not a finite number"),
            (5, "longitude inf is not a finite number"),
            (6, "battery -1 is outside 0..100"),
            (7, "`lat`: \"abc\" is not a number"),
            (8, "3 fields, but the header has 5"),
            (10, "`at`: \"2021-05-16 06:07\" is not an RFC 3339 time"),
            (11, "missing `at`"),
            (12, "`sats`: -3 is not a whole number >= 0"),
            (13, "`sats`: 2.5 is not a whole number >= 0"),
        ];
        let expected: Vec<Rejection> = expected
            .into_iter()
            .map(|(line, reason)| Rejection {
                line,
                reason: reason.into(),
            })
            .collect();
        assert_eq!(telemetry.rejected, expected);
        assert_eq!(telemetry.fixes.len(), 2);
        assert_eq!(telemetry.fixes[1].sats, Some(2));
    }

    #[test]
    fn records_after_blank_lines_keep_their_physical_line() {
        let text = "at,lat,lon\r\n\r\n\r\n2021-05-16T06:00:00Z,91,80.2\r\n \u{a0}\r\n\n2021-05-16T06:00:00Z,44,181\n\n";
        let telemetry = parse(text).expect("readable");
        let lines: Vec<u64> = telemetry.rejected.iter().map(|rejection| rejection.line).collect();
        assert_eq!(lines, [4, 7]);
    }

    #[test]
    fn a_quoted_record_spanning_lines_is_numbered_by_its_first_line() {
        let text = "at,lat,lon,seal_id\n2021-05-16T06:00:00Z,44.1,80.2,\"NS\n1\"\n2021-05-16T06:01:00Z,95,80.2,\n";
        let telemetry = parse(text).expect("readable");
        assert_eq!(telemetry.fixes[0].seal_id.as_deref(), Some("NS\n1"));
        assert_eq!(
            telemetry.rejected,
            vec![Rejection {
                line: 4,
                reason: "latitude 95 is outside -90..90".into()
            }]
        );
    }

    #[test]
    fn semicolons_separate_when_the_header_uses_them() {
        let text = "at;lat;lon;speed_kmh\r\n2021-05-16T06:00:00Z;44.1;80.2;60\r\n";
        let telemetry = parse(text).expect("readable");
        assert_eq!(telemetry.fixes[0].speed_kmh, Some(60.0));
    }

    #[test]
    fn a_header_that_cannot_be_used_refuses_the_file() {
        let cases = [
            (
                "",
                "the CSV file is empty; it needs a header row naming at least at, lat, lon",
            ),
            (
                "\n\n",
                "the CSV file is empty; it needs a header row naming at least at, lat, lon",
            ),
            ("at,lon\n", "the CSV header has no `lat` column"),
            (
                "at,lattitude,lon\n",
                "the CSV header has an unknown column `lattitude`; the columns are \
                 at, lat, lon, seal_id, speed_kmh, course, hdop, sats, seal, battery",
            ),
            ("at,lat,lon,lat\n", "the CSV header has the column `lat` twice"),
        ];
        for (text, message) in cases {
            let err = parse(text).expect_err("refused");
            assert_eq!(err.to_string(), message);
        }
        // A file without its header row: the first record is taken for the header and refused.
        let err = parse("2021-05-16T06:00:00Z,44.1,80.2\n").expect_err("refused");
        assert!(matches!(err, TelemetryError::CsvUnknownColumn { column } if column == "2021-05-16T06:00:00Z"));
    }

    /// Guards issue 10 item 7: one byte that is not UTF-8 refused the whole file.
    #[test]
    fn a_record_that_is_not_utf8_is_rejected_and_the_rest_read() {
        let bytes = b"at,lat,lon,seal_id\r\n\
2021-05-16T06:00:00Z,44.1,80.2,NS-1\r\n\
2021-05-16T06:01:00Z,44.1,80.2,\"Gr\xFCn\"\r\n\
2021-05-16T06:02:00Z,44.2,80.2,\xA0NS-2\xA0\r\n\
2021-05-16T06:03:00Z,44.3,80.2,\xC2\xA0NS-3\xC2\xA0\r\n";
        let telemetry = Telemetry::parse(Format::Csv, bytes).expect("a CSV with a bad record is read");
        assert_eq!(
            telemetry.rejected,
            [
                Rejection {
                    line: 3,
                    reason: "field 4 of the record is not UTF-8 (byte 0xFC at column 3); save the file as UTF-8".into()
                },
                Rejection {
                    line: 4,
                    reason: "field 4 of the record is not UTF-8 (byte 0xA0 at column 1); save the file as UTF-8".into()
                },
            ]
        );
        let ids: Vec<_> = telemetry.fixes.iter().map(|fix| fix.seal_id.as_deref()).collect();
        assert_eq!(
            ids,
            [Some("NS-1"), Some("NS-3")],
            "cells are trimmed of Unicode blanks, as before"
        );
    }

    /// Guards issue 10 item 7: only the header, which names every column, refuses the file.
    #[test]
    fn a_header_that_is_not_utf8_refuses_the_file() {
        let err = Telemetry::parse(Format::Csv, b"\n\nat,lat,lon,s\xE9al\n").expect_err("refused");
        assert!(matches!(err, TelemetryError::NotUtf8 { line: 3 }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "the CSV header (line 3) is not UTF-8; save the file as UTF-8"
        );
    }

    /// Guards issue 10 item 11: a huge record is refused unread, a huge column is quoted short.
    #[test]
    fn long_records_are_refused_and_quotes_are_short() {
        let long = format!("2021-05-16T06:00:00Z,44.1,80.2,{}", "x".repeat(MAX_RECORD_BYTES));
        let text = format!(
            "at,lat,lon,seal_id\n{long}\n2021-05-16T06:01:00Z,{},80.2,\n",
            "x".repeat(500)
        );
        let telemetry = parse(&text).expect("readable");
        let reasons: Vec<&str> = telemetry.rejected.iter().map(|r| r.reason.as_str()).collect();
        assert_eq!(
            reasons,
            [
                format!(
                    "the record has {} bytes, over the limit of 65536; it is not read",
                    long.len() - 3
                ),
                format!("`lat`: \"{}\"… is not a number", "x".repeat(60)),
            ]
        );
        let err = parse(&format!("at,lat,lon,{}\n", "q".repeat(10_000))).expect_err("unknown column");
        assert!(err.to_string().len() < 200, "{err}");
    }

    #[test]
    fn a_header_without_records_has_no_fixes() {
        assert_eq!(parse("at,lat,lon\n").expect("readable"), Telemetry::default());
    }
}
