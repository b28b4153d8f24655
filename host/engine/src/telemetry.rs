//! Reads fixes from NDJSON, GPX and CSV, rejects bad lines, drops duplicates, sorts: [`Telemetry`].
//!
//! One malformed fix never costs the rest of the file (`docs/reference.md` § Fixes), so there are two kinds of
//! failure, kept apart: a line that cannot be a fix becomes a [`Rejection`] (with its line number and a
//! reason naming the field and value) and reading goes on; only a file that cannot be read as its
//! format at all (unreadable, too large, not GPX, a CSV without a usable header) is a
//! [`TelemetryError`]. That holds for encoding too: a line (a CSV record, a GPX point) with a byte that
//! is not UTF-8 is one rejection, and the lines around it are read.
//!
//! Every input is bounded, and each bound is a named constant with its reason: the file
//! ([`MAX_FILE_BYTES`]), an NDJSON line ([`ndjson::MAX_LINE_BYTES`]), a CSV record
//! ([`csv::MAX_RECORD_BYTES`]), GPX nesting, names, attributes and text (in [`gpx`]), and whatever a
//! reason quotes from the input ([`Excerpt`]). JSON nesting is bounded by serde_json's limit of 128.
//!
//! Each format has its own reader in a submodule that turns the file into numbered candidate fixes.
//! They share one vocabulary for the wire fields and their parsing (`Field`, `Draft`) so that a bad
//! latitude is worded the same whichever file it came from, and one `Collector` that applies
//! [`Fix::check`](crate::fix::Fix), drops duplicates, counts fixes out of order and sorts.

mod csv;
mod gpx;
mod ndjson;

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use serde::Serialize;

use crate::excerpt::Excerpt;
use crate::finding::format_time;
use crate::fix::{Fix, FixKey, SealState};

/// The largest telemetry file [`Telemetry::read_path`] reads, in bytes. A seal reporting every 10 s
/// for a 30-day transit writes about 260,000 fixes, some 40 MB of NDJSON or 80 MB of GPX; 1 GiB is
/// ten times any real track, and refusing more before reading keeps a wrong path (a disk image, a
/// device) from filling memory.
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// A telemetry file format, chosen by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// One JSON object per line (`.ndjson`, `.jsonl`, `.json`), fields as in `docs/reference.md`
    /// § Fixes.
    Ndjson,
    /// GPX 1.0 or 1.1 track (`.gpx`): every `trk/trkseg/trkpt`.
    Gpx,
    /// Comma-separated values with a header row naming the NDJSON fields (`.csv`).
    Csv,
}

impl Format {
    /// The format a file's extension names (case-insensitive), or `None` for any other extension.
    ///
    /// # Examples
    /// ```
    /// use std::path::Path;
    /// use escort_engine::Format;
    /// assert_eq!(Format::from_path(Path::new("run/FIXES.JSONL")), Some(Format::Ndjson));
    /// assert_eq!(Format::from_path(Path::new("fixes.kml")), None);
    /// ```
    pub fn from_path(path: &Path) -> Option<Format> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "ndjson" | "jsonl" | "json" => Some(Format::Ndjson),
            "gpx" => Some(Format::Gpx),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }
}

/// A line of the telemetry file that could not be used as a fix; it appears in the report's
/// `rejected` list as `{"line": 17, "reason": "latitude 95.1 is outside -90..90"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    /// 1-based physical line of the file: the line itself in NDJSON; the line where the record starts
    /// in CSV (the header is line 1); the line of the point's `<trkpt` tag in GPX.
    pub line: u64,
    /// Why, naming the field and the value, e.g. `latitude 95.1 is outside -90..90`.
    pub reason: String,
}

/// The fixes of one telemetry file, ready for evaluation, with an account of what was left out.
///
/// Besides its public fields it remembers where each fix came from (its line), so that
/// [`check`](crate::check) can still refuse a fix by its line once the transit says the fix is
/// impossible (dated before the transit opened).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Telemetry {
    /// Accepted fixes without duplicates, sorted by `at`; fixes with the same `at` keep file order.
    pub fixes: Vec<Fix>,
    /// Lines that could not be used, in file order.
    pub rejected: Vec<Rejection>,
    /// Fixes dropped because an earlier accepted fix had the same `at`, `lat` and `lon`.
    pub duplicates: usize,
    /// Accepted fixes that came earlier in time than some fix before them in the file (they are
    /// sorted into place, and counted so that the data-quality finding can report them).
    pub out_of_order: usize,
    /// Where each of `fixes` came from, index for index. Kept private so that `Fix` stays the
    /// contract's fix; a caller that edits `fixes` leaves it out of step, which
    /// [`Telemetry::refuse_before`] tolerates.
    origins: Vec<Origin>,
    /// Each dropped duplicate: its line, and the index in `fixes` of the fix it repeats.
    repeats: Vec<(u64, usize)>,
}

/// Where an accepted fix came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Origin {
    /// Its line, as in [`Rejection::line`].
    line: u64,
    /// Whether it was counted in [`Telemetry::out_of_order`].
    late: bool,
}

/// Why a telemetry file could not be read at all. Problems with single fixes are never errors; they
/// are [`Rejection`]s.
///
/// Messages do not name the file, except [`TelemetryError::Read`] and
/// [`TelemetryError::UnknownFormat`]: the caller chose the path and prefixes it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file that was being read.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file's extension names no known format.
    #[error("{}: unknown telemetry format; use .ndjson, .jsonl, .json, .gpx or .csv", path.display())]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// The file is larger than the limit for a telemetry file (1 GiB); nothing was read.
    #[error("the file is larger than {limit} bytes, the limit for a telemetry file")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// A CSV header row that is not UTF-8: without it no column can be named, so no record can be
    /// read. (A record or a line that is not UTF-8 is only a [`Rejection`].)
    #[error("the CSV header (line {line}) is not UTF-8; save the file as UTF-8")]
    NotUtf8 {
        /// The 1-based line of the header.
        line: u64,
    },
    /// The file is not XML, or its root element is not `<gpx>`.
    #[error("not a GPX file: {reason}")]
    NotGpx {
        /// What was found instead.
        reason: String,
    },
    /// The CSV file has no header row (it is empty).
    #[error("the CSV file is empty; it needs a header row naming at least at, lat, lon")]
    CsvNoHeader,
    /// The CSV header lacks a required column.
    #[error("the CSV header has no `{column}` column")]
    CsvMissingColumn {
        /// The required column: `at`, `lat` or `lon`.
        column: &'static str,
    },
    /// The CSV header names a column that is not a fix field (often a misspelling, or a file without
    /// a header row whose first record was taken as one).
    #[error("the CSV header has an unknown column `{}`; the columns are {}", Excerpt::of(.column), Field::list())]
    CsvUnknownColumn {
        /// The column as written.
        column: String,
    },
    /// The CSV reader failed on the header row itself (it cannot on bytes held in memory, but the
    /// reader's errors are not assumed away).
    #[error("unreadable CSV header: {0}")]
    Csv(#[source] ::csv::Error),
    /// The CSV header names the same column twice.
    #[error("the CSV header has the column `{}` twice", Excerpt::of(.column))]
    CsvDuplicateColumn {
        /// The repeated column.
        column: String,
    },
}

impl Telemetry {
    /// Reads a telemetry file, choosing the format by its extension ([`Format::from_path`]).
    ///
    /// # Errors
    /// [`TelemetryError::UnknownFormat`] for an unknown extension, [`TelemetryError::Read`] when the
    /// file cannot be read, [`TelemetryError::TooLarge`] when it is over 1 GiB (found without reading
    /// more than that), else as [`Telemetry::parse`].
    pub fn read_path(path: &Path) -> Result<Telemetry, TelemetryError> {
        let format = Format::from_path(path).ok_or_else(|| TelemetryError::UnknownFormat { path: path.into() })?;
        let read = |source| TelemetryError::Read {
            path: path.into(),
            source,
        };
        let file = std::fs::File::open(path).map_err(read)?;
        if file.metadata().map_err(read)?.len() > MAX_FILE_BYTES {
            return Err(TelemetryError::TooLarge { limit: MAX_FILE_BYTES });
        }
        // The size on disk is not trusted to the byte (a pipe or a device has none, a log grows):
        // reading stops one byte past the limit.
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(read)?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(TelemetryError::TooLarge { limit: MAX_FILE_BYTES });
        }
        Telemetry::parse(format, &bytes)
    }

    /// Reads telemetry in the given format from the bytes of a whole file.
    ///
    /// # Errors
    /// Only when the file as a whole is unusable: a GPX file that is not XML or whose root is not
    /// `<gpx>`, a CSV file without a usable header. NDJSON is never refused as a whole. Bad fixes,
    /// lines that are not UTF-8 or too long among them, are [`Rejection`]s in the result.
    ///
    /// # Examples
    /// ```
    /// use escort_engine::{Format, Telemetry};
    /// let ndjson = br#"{"at":"2021-05-16T06:05:00Z","lat":44.160,"lon":80.390,"seal":"intact"}
    /// {"at":"2021-05-16T06:00:00Z","lat":95.1,"lon":80.399}
    /// "#;
    /// let telemetry = Telemetry::parse(Format::Ndjson, ndjson).unwrap();
    /// assert_eq!(telemetry.fixes.len(), 1);
    /// assert_eq!(telemetry.rejected[0].line, 2);
    /// assert_eq!(telemetry.rejected[0].reason, "latitude 95.1 is outside -90..90");
    /// ```
    pub fn parse(format: Format, bytes: &[u8]) -> Result<Telemetry, TelemetryError> {
        let mut collector = Collector::default();
        match format {
            Format::Ndjson => ndjson::read(without_bom(bytes), &mut collector),
            Format::Csv => csv::read(without_bom(bytes), &mut collector)?,
            Format::Gpx => gpx::read(bytes, &mut collector)?,
        }
        Ok(collector.finish())
    }

    /// The telemetry as of a transit that opened at `opened_at`: every fix dated before it becomes a
    /// [`Rejection`] at its line, and so does every dropped repeat of one (a fix that is refused is no
    /// accepted fix to be repeated). The counts follow: `out_of_order` no longer counts refused fixes,
    /// `duplicates` no longer counts their repeats. Rejections stay in line order.
    ///
    /// A receiver that lost its GPS week (dates 1024 weeks back) or a GPX file dated 1901 would
    /// otherwise make the evaluation clock stand before the opening, and nothing could be evaluated.
    ///
    /// Borrowed when no fix is that early. A fix added to `fixes` by hand has no known line: it is
    /// refused at line 0.
    pub(crate) fn refuse_before(&self, opened_at: DateTime<Utc>) -> Cow<'_, Telemetry> {
        if self.fixes.iter().all(|fix| fix.at >= opened_at) {
            return Cow::Borrowed(self);
        }
        let origin = |index: usize| self.origins.get(index).copied().unwrap_or_default();
        let mut kept = Telemetry::default();
        let mut refused = Vec::new();
        let mut refused_late = 0;
        // Where each fix went: its index among the kept ones, or `None` when refused.
        let mut moved = Vec::with_capacity(self.fixes.len());
        for (index, fix) in self.fixes.iter().enumerate() {
            let origin = origin(index);
            if fix.at < opened_at {
                refused.push(Rejection {
                    line: origin.line,
                    reason: before_opening(fix.at, opened_at),
                });
                refused_late += usize::from(origin.late);
                moved.push(None);
            } else {
                moved.push(Some(kept.fixes.len()));
                kept.fixes.push(fix.clone());
                kept.origins.push(origin);
            }
        }
        for &(line, index) in &self.repeats {
            match moved.get(index) {
                Some(Some(now)) => kept.repeats.push((line, *now)),
                Some(None) => refused.push(Rejection {
                    line,
                    reason: before_opening(self.fixes[index].at, opened_at),
                }),
                None => {}
            }
        }
        // A refused fix is earlier than every kept one, so it never made a kept fix late: only the
        // refused fixes that were late themselves leave the count.
        kept.out_of_order = self.out_of_order.saturating_sub(refused_late);
        kept.duplicates = self.duplicates.saturating_sub(self.repeats.len() - kept.repeats.len());
        // Both lists are in line order and the sort is stable: on a shared line (two GPX points),
        // what reading refused comes first.
        refused.sort_by_key(|rejection| rejection.line);
        kept.rejected = self.rejected.iter().cloned().chain(refused).collect();
        kept.rejected.sort_by_key(|rejection| rejection.line);
        Cow::Owned(kept)
    }
}

/// Why a fix dated before the transit opened is refused; the same words from `escort check` and from
/// the service, so that both report the same stream alike.
pub fn before_opening(at: DateTime<Utc>, opened_at: DateTime<Utc>) -> String {
    format!(
        "`at` {} is before the transit opened ({})",
        format_time(&at),
        format_time(&opened_at)
    )
}

/// One line of a batch: its number, and the fix or the reason it is none.
pub type Candidate = (u64, Result<Fix, String>);

/// An NDJSON batch as the service takes it: unlike [`Telemetry`], nothing is
/// dropped as a duplicate or sorted yet, since that is decided against the
/// fixes the service already holds.
pub struct NdjsonBatch {
    /// How many lines the batch has, blank ones included.
    pub line_count: u64,
    /// Every non-blank line, numbered from 1.
    pub candidates: Vec<Candidate>,
}

impl NdjsonBatch {
    /// Reads a batch as [`Telemetry::parse`] reads an NDJSON file: a line that is not UTF-8, too long
    /// or not a fix is refused on its own, so a batch as a whole never is.
    pub fn parse(bytes: &[u8]) -> NdjsonBatch {
        let bytes = without_bom(bytes);
        NdjsonBatch {
            line_count: ndjson::split_lines(bytes).count() as u64,
            candidates: ndjson::lines(bytes).collect(),
        }
    }
}

/// The file without a UTF-8 byte-order mark (spreadsheet programs and some GPX writers put one).
fn without_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// Why a line (a CSV field) that is not UTF-8 is refused, pointing at the first bad byte, which comes
/// after `valid_up_to` good ones.
fn not_utf8(what: &str, bytes: &[u8], valid_up_to: usize) -> String {
    let byte = bytes.get(valid_up_to).copied().unwrap_or_default();
    format!(
        "{what} is not UTF-8 (byte 0x{byte:02X} at column {}); save the file as UTF-8",
        valid_up_to + 1
    )
}

/// Why a line (or a record) over its length bound is refused, unread.
fn too_long(what: &str, bytes: usize, limit: usize) -> String {
    format!("{what} has {bytes} bytes, over the limit of {limit}; it is not read")
}

/// A field of a fix as it is named on the wire (`docs/reference.md` § Fixes): the NDJSON keys and the CSV
/// columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    At,
    Lat,
    Lon,
    SealId,
    SpeedKmh,
    Course,
    Hdop,
    Sats,
    Seal,
    Battery,
}

impl Field {
    const ALL: [Field; 10] = [
        Field::At,
        Field::Lat,
        Field::Lon,
        Field::SealId,
        Field::SpeedKmh,
        Field::Course,
        Field::Hdop,
        Field::Sats,
        Field::Seal,
        Field::Battery,
    ];

    fn name(self) -> &'static str {
        match self {
            Field::At => "at",
            Field::Lat => "lat",
            Field::Lon => "lon",
            Field::SealId => "seal_id",
            Field::SpeedKmh => "speed_kmh",
            Field::Course => "course",
            Field::Hdop => "hdop",
            Field::Sats => "sats",
            Field::Seal => "seal",
            Field::Battery => "battery",
        }
    }

    fn from_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|field| field.name() == name)
    }

    /// Whether the value is a number on the wire (in JSON it must then be a JSON number, not a string).
    fn is_number(self) -> bool {
        !matches!(self, Field::At | Field::SealId | Field::Seal)
    }

    fn list() -> String {
        Field::ALL.map(Field::name).join(", ")
    }
}

/// The fields of one fix as a reader found them, before it is known that the fix is whole.
#[derive(Debug, Default)]
struct Draft {
    at: Option<DateTime<Utc>>,
    lat: Option<f64>,
    lon: Option<f64>,
    speed_kmh: Option<f64>,
    course_deg: Option<f64>,
    hdop: Option<f64>,
    sats: Option<u32>,
    battery_pct: Option<f64>,
    seal: Option<SealState>,
    seal_id: Option<String>,
}

impl Draft {
    /// Sets a field from its text, as written in a CSV cell or a JSON string; numbers are parsed.
    fn set_text(&mut self, field: Field, text: &str) -> Result<(), String> {
        match field {
            Field::At => self.at = Some(rfc3339("at", text)?),
            Field::SealId => self.seal_id = Some(text.to_string()).filter(|id| !id.trim().is_empty()),
            Field::Seal => {
                let state = SealState::from_name(text).ok_or_else(|| {
                    let names = SealState::ALL.map(SealState::as_str).join(", ");
                    format!("`seal`: {:?} is not one of {names}", Excerpt::of(text))
                })?;
                self.seal = Some(state);
            }
            _ => self.set_number(field, number(field.name(), text)?)?,
        }
        Ok(())
    }

    /// Sets a numeric field. Ranges are left to [`Fix::check`], so that every format words them alike.
    fn set_number(&mut self, field: Field, value: f64) -> Result<(), String> {
        let slot = match field {
            Field::Lat => &mut self.lat,
            Field::Lon => &mut self.lon,
            Field::SpeedKmh => &mut self.speed_kmh,
            Field::Course => &mut self.course_deg,
            Field::Hdop => &mut self.hdop,
            Field::Battery => &mut self.battery_pct,
            Field::Sats => {
                self.sats = Some(whole(field.name(), value)?);
                return Ok(());
            }
            Field::At | Field::SealId | Field::Seal => {
                return Err(format!("`{}`: expected a string, found a number", field.name()));
            }
        };
        *slot = Some(value);
        Ok(())
    }

    fn finish(self) -> Result<Fix, String> {
        let missing = |field: Field| format!("missing `{}`", field.name());
        let fix = Fix {
            at: self.at.ok_or_else(|| missing(Field::At))?,
            lat: self.lat.ok_or_else(|| missing(Field::Lat))?,
            lon: self.lon.ok_or_else(|| missing(Field::Lon))?,
            speed_kmh: self.speed_kmh,
            course_deg: self.course_deg,
            hdop: self.hdop,
            sats: self.sats,
            battery_pct: self.battery_pct,
            seal: self.seal,
            seal_id: self.seal_id,
        };
        fix.check()?;
        Ok(fix)
    }
}

/// Parses an RFC 3339 time and converts it to UTC, to the millisecond (as a service stores it, so
/// that a report says the same before and after a restart). A time without an offset is refused:
/// the seal may be set to local time, and guessing would shift every fix by hours.
fn rfc3339(name: &str, text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.to_utc().trunc_subsecs(3));
    }
    if NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").is_ok() {
        return Err(format!(
            "`{name}`: {:?} has no UTC offset (RFC 3339 needs one, e.g. Z)",
            Excerpt::of(text)
        ));
    }
    Err(format!("`{name}`: {:?} is not an RFC 3339 time", Excerpt::of(text)))
}

/// Parses a decimal number. `NaN` and `inf` parse here and are refused by [`Fix::check`], which
/// names them as not finite.
fn number(name: &str, text: &str) -> Result<f64, String> {
    text.parse()
        .map_err(|_| format!("`{name}`: {:?} is not a number", Excerpt::of(text)))
}

fn whole(name: &str, value: f64) -> Result<u32, String> {
    if value.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&value) {
        // In range and whole, so the cast is exact.
        Ok(value as u32)
    } else {
        Err(format!("`{name}`: {value} is not a whole number >= 0"))
    }
}

/// Takes numbered candidate fixes from a reader, checks them, drops duplicates, counts fixes out of
/// order, and finally sorts them.
#[derive(Default)]
struct Collector {
    fixes: Vec<Fix>,
    origins: Vec<Origin>,
    rejected: Vec<Rejection>,
    duplicates: usize,
    repeats: Vec<(u64, usize)>,
    out_of_order: usize,
    /// The key of every accepted fix, and its index in `fixes`.
    seen: HashMap<FixKey, usize>,
    latest: Option<DateTime<Utc>>,
}

impl Collector {
    fn reject(&mut self, line: u64, reason: String) {
        self.rejected.push(Rejection { line, reason });
    }

    fn offer(&mut self, line: u64, candidate: Result<Fix, String>) {
        let fix = match candidate {
            Ok(fix) => fix,
            Err(reason) => return self.reject(line, reason),
        };
        match self.seen.entry(FixKey::of(&fix)) {
            Entry::Occupied(first) => {
                self.duplicates += 1;
                self.repeats.push((line, *first.get()));
                return;
            }
            Entry::Vacant(slot) => {
                slot.insert(self.fixes.len());
            }
        }
        let late = match self.latest {
            Some(latest) if fix.at < latest => true,
            _ => {
                self.latest = Some(fix.at);
                false
            }
        };
        self.out_of_order += usize::from(late);
        self.fixes.push(fix);
        self.origins.push(Origin { line, late });
    }

    fn finish(self) -> Telemetry {
        // A stable sort: fixes with the same `at` keep their file order. The origins go along, and
        // the repeats follow the fixes they repeat to their new places.
        let mut order: Vec<usize> = (0..self.fixes.len()).collect();
        order.sort_by_key(|&index| self.fixes[index].at);
        let mut place = vec![0; order.len()];
        for (new, &old) in order.iter().enumerate() {
            place[old] = new;
        }
        let mut fixes: Vec<Option<Fix>> = self.fixes.into_iter().map(Some).collect();
        Telemetry {
            fixes: order.iter().filter_map(|&old| fixes[old].take()).collect(),
            origins: order.iter().map(|&old| self.origins[old]).collect(),
            repeats: self.repeats.into_iter().map(|(line, old)| (line, place[old])).collect(),
            rejected: self.rejected,
            duplicates: self.duplicates,
            out_of_order: self.out_of_order,
        }
    }
}

/// Behaviour shared by every format: choosing the format, duplicates, ordering, whole-file errors.
/// Each format's own parsing is tested in its submodule.
#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn time(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).expect("valid time").to_utc()
    }

    fn ndjson(text: &str) -> Telemetry {
        Telemetry::parse(Format::Ndjson, text.as_bytes()).expect("NDJSON is readable")
    }

    /// A service stores milliseconds; a finer fraction would make a report
    /// differ before and after a restart.
    #[test]
    fn times_are_kept_to_the_millisecond() {
        let telemetry = ndjson(concat!(
            r#"{"at":"2021-05-16T06:00:00.359921196+05:00","lat":43.2,"lon":76.9}"#,
            "\n"
        ));
        assert_eq!(telemetry.fixes[0].at, time("2021-05-16T01:00:00.359Z"));
    }

    #[test]
    fn format_follows_the_extension() {
        for (name, format) in [
            ("a.ndjson", Some(Format::Ndjson)),
            ("a.jsonl", Some(Format::Ndjson)),
            ("a.json", Some(Format::Ndjson)),
            ("dir.v2/A.GPX", Some(Format::Gpx)),
            ("a.Csv", Some(Format::Csv)),
            ("a.txt", None),
            ("gpx", None),
        ] {
            assert_eq!(Format::from_path(Path::new(name)), format, "{name}");
        }
    }

    #[test]
    fn duplicates_are_dropped_and_counted() {
        let telemetry = ndjson(concat!(
            r#"{"at":"2021-05-16T06:00:00Z","lat":44.158,"lon":80.399}"#,
            "\n",
            r#"{"at":"2021-05-16T06:00:00Z","lat":44.158,"lon":80.399,"speed_kmh":3}"#,
            "\n",
            // Same instant, other place: both are kept, for the speed policy to judge.
            r#"{"at":"2021-05-16T06:00:00Z","lat":44.5,"lon":80.399}"#,
            "\n",
            r#"{"at":"2021-05-16T08:00:00+02:00","lat":44.158,"lon":80.399}"#,
            "\n",
            r#"{"at":"2021-05-16T06:00:00Z","lat":-0.0,"lon":0.0}"#,
            "\n",
            r#"{"at":"2021-05-16T06:00:00Z","lat":0.0,"lon":-0.0}"#,
        ));
        assert_eq!(telemetry.duplicates, 3);
        assert_eq!(telemetry.fixes.len(), 3);
        assert_eq!(
            telemetry.fixes[0].speed_kmh, None,
            "the first of the duplicates is the one kept"
        );
        assert_eq!(telemetry.fixes[1].lat, 44.5);
        assert!(telemetry.rejected.is_empty());
        assert_eq!(telemetry.out_of_order, 0);
    }

    #[test]
    fn a_repeat_with_another_seal_state_is_kept() {
        let telemetry = ndjson(concat!(
            r#"{"at":"2021-05-16T06:00:00Z","lat":44.158,"lon":80.399,"seal":"intact"}"#,
            "\n",
            r#"{"at":"2021-05-16T06:00:00Z","lat":44.158,"lon":80.399,"seal":"cable_cut"}"#,
            "\n",
            r#"{"at":"2021-05-16T06:00:00Z","lat":44.158,"lon":80.399,"seal":"cable_cut"}"#,
        ));
        assert_eq!(telemetry.duplicates, 1);
        let seals: Vec<_> = telemetry.fixes.iter().map(|f| f.seal).collect();
        assert_eq!(seals, [Some(SealState::Intact), Some(SealState::CableCut)]);
    }

    #[test]
    fn fixes_out_of_order_are_sorted_and_counted() {
        let telemetry = ndjson(concat!(
            r#"{"at":"2021-05-16T06:10:00Z","lat":44.0,"lon":80.0}"#,
            "\n",
            r#"{"at":"2021-05-16T06:00:00Z","lat":44.1,"lon":80.0}"#,
            "\n",
            r#"{"at":"2021-05-16T06:20:00Z","lat":44.2,"lon":80.0}"#,
            "\n",
            r#"{"at":"2021-05-16T06:15:00Z","lat":44.3,"lon":80.0}"#,
            "\n",
            r#"{"at":"2021-05-16T06:05:00Z","lat":44.4,"lon":80.0}"#,
            "\n",
            r#"{"at":"2021-05-16T06:20:00Z","lat":44.5,"lon":80.0}"#,
        ));
        // 06:00, 06:15 and 06:05 each come after a later fix; the second 06:20 ties and is in order.
        assert_eq!(telemetry.out_of_order, 3);
        let lats: Vec<f64> = telemetry.fixes.iter().map(|fix| fix.lat).collect();
        assert_eq!(lats, [44.1, 44.4, 44.0, 44.3, 44.2, 44.5], "stable by `at`");
    }

    #[test]
    fn rejected_and_duplicate_fixes_do_not_count_as_out_of_order() {
        let telemetry = ndjson(concat!(
            r#"{"at":"2021-05-16T07:00:00Z","lat":95.0,"lon":80.0}"#,
            "\n",
            r#"{"at":"2021-05-16T06:00:00Z","lat":44.0,"lon":80.0}"#,
            "\n",
            r#"{"at":"2021-05-16T06:00:00Z","lat":44.0,"lon":80.0}"#,
        ));
        assert_eq!(
            (telemetry.fixes.len(), telemetry.rejected.len(), telemetry.duplicates),
            (1, 1, 1)
        );
        assert_eq!(telemetry.out_of_order, 0);
    }

    /// Guards issue 10 item 7: one byte that is not UTF-8 refused the whole file.
    #[test]
    fn a_line_that_is_not_utf8_costs_only_itself_and_a_bom_is_skipped() {
        let bytes =
            b"\xEF\xBB\xBF{}\n\n{\"at\":\"\xff\"}\n{\"at\":\"2021-05-16T06:00:00Z\",\"lat\":44.1,\"lon\":80.2}\n";
        let telemetry = Telemetry::parse(Format::Ndjson, bytes).expect("NDJSON is never refused whole");
        let lines: Vec<u64> = telemetry.rejected.iter().map(|rejection| rejection.line).collect();
        assert_eq!(lines, [1, 3]);
        assert_eq!(
            telemetry.rejected[1].reason,
            "the line is not UTF-8 (byte 0xFF at column 8); save the file as UTF-8"
        );
        assert_eq!(telemetry.fixes.len(), 1);
        let batch = NdjsonBatch::parse(bytes);
        assert_eq!(batch.line_count, 4);
        let batch: Vec<(u64, bool)> = batch
            .candidates
            .iter()
            .map(|(line, fix)| (*line, fix.is_ok()))
            .collect();
        assert_eq!(
            batch,
            [(1, false), (3, false), (4, true)],
            "the service's batches alike"
        );
        let bom = b"\xEF\xBB\xBFat,lat,lon\n2021-05-16T06:00:00Z,44.1,80.2\n";
        assert_eq!(Telemetry::parse(Format::Csv, bom).expect("readable").fixes.len(), 1);
    }

    fn fix_lines(at: &[&str]) -> Telemetry {
        let lines: Vec<String> = at
            .iter()
            .enumerate()
            .map(|(index, at)| match *at {
                "" => String::new(),
                "bad" => r#"{"at":"2021-05-16T06:00:00Z","lat":95,"lon":80}"#.to_owned(),
                at => format!(r#"{{"at":"{at}","lat":44.{index},"lon":80}}"#),
            })
            .collect();
        ndjson(&lines.join("\n"))
    }

    /// Guards issue 10 item 8: a fix dated 1901 made the whole check unusable.
    #[test]
    fn fixes_before_the_opening_are_refused_by_line() {
        let opened_at = time("2021-05-16T06:00:00Z");
        let telemetry = fix_lines(&[
            "2021-05-16T06:10:00Z",
            "1901-12-13T20:45:52Z",
            "bad",
            "2021-05-16T06:05:00Z",
            "2021-05-16T05:59:59Z",
            "",
            "2021-05-16T06:00:00Z",
        ]);
        assert_eq!(
            telemetry.out_of_order, 4,
            "06:05, 05:59:59, 1901 and 06:00 came after 06:10"
        );
        let refused = telemetry.refuse_before(opened_at);
        let rejected: Vec<(u64, &str)> = refused
            .rejected
            .iter()
            .map(|rejection| (rejection.line, rejection.reason.as_str()))
            .collect();
        assert_eq!(
            rejected,
            [
                (
                    2,
                    "`at` 1901-12-13T20:45:52Z is before the transit opened (2021-05-16T06:00:00Z)"
                ),
                (3, "latitude 95 is outside -90..90"),
                (
                    5,
                    "`at` 2021-05-16T05:59:59Z is before the transit opened (2021-05-16T06:00:00Z)"
                ),
            ]
        );
        let kept: Vec<DateTime<Utc>> = refused.fixes.iter().map(|fix| fix.at).collect();
        assert_eq!(
            kept,
            [opened_at, time("2021-05-16T06:05:00Z"), time("2021-05-16T06:10:00Z")],
            "a fix at the opening itself is kept"
        );
        assert_eq!(refused.out_of_order, 2, "refused fixes are not counted out of order");
        assert_eq!(
            refused.origins.iter().map(|origin| origin.line).collect::<Vec<_>>(),
            [7, 4, 1]
        );
        assert!(matches!(
            telemetry.refuse_before(time("1900-01-01T00:00:00Z")),
            Cow::Borrowed(_)
        ));
    }

    /// Guards issue 10 item 8: a repeat of a refused fix is refused too, as the service refuses every
    /// line of a stream dated before the opening, and not counted as a duplicate.
    #[test]
    fn repeats_of_a_refused_fix_are_refused_and_others_stay_duplicates() {
        let text = concat!(
            r#"{"at":"1901-12-13T20:45:52Z","lat":44.0,"lon":80.0}"#,
            "\n",
            r#"{"at":"2021-05-16T07:00:00Z","lat":44.1,"lon":80.0}"#,
            "\n",
            r#"{"at":"1901-12-13T20:45:52Z","lat":44.0,"lon":80.0}"#,
            "\n",
            r#"{"at":"2021-05-16T07:00:00Z","lat":44.1,"lon":80.0}"#,
        );
        let telemetry = ndjson(text);
        assert_eq!(telemetry.duplicates, 2);
        let refused = telemetry.refuse_before(time("2021-05-16T06:00:00Z"));
        let lines: Vec<u64> = refused.rejected.iter().map(|rejection| rejection.line).collect();
        assert_eq!(lines, [1, 3]);
        assert_eq!((refused.fixes.len(), refused.duplicates), (1, 1));
        assert_eq!(refused.repeats, [(4, 0)]);
        let again = refused.refuse_before(time("2021-05-16T08:00:00Z"));
        let lines: Vec<u64> = again.rejected.iter().map(|rejection| rejection.line).collect();
        assert_eq!(lines, [1, 2, 3, 4], "the kept repeats still point at their fix");
        assert_eq!((again.fixes.len(), again.duplicates), (0, 0));
    }

    #[test]
    fn fixes_added_by_hand_are_refused_at_line_0() {
        let mut telemetry = Telemetry::default();
        telemetry
            .fixes
            .push(Fix::at_position(time("2021-05-16T05:00:00Z"), 44.0, 80.0));
        let refused = telemetry.refuse_before(time("2021-05-16T06:00:00Z"));
        assert_eq!(refused.rejected[0].line, 0);
        assert!(refused.fixes.is_empty());
    }

    /// Guards issue 10 item 11: a file over the bound is refused before it is read.
    #[test]
    fn a_file_over_the_limit_is_refused_unread() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("huge.ndjson");
        // Sparse: no disk is used, and the size alone refuses it.
        let file = std::fs::File::create(&path).expect("create");
        file.set_len(MAX_FILE_BYTES + 1).expect("sparse file");
        let err = Telemetry::read_path(&path).expect_err("too large");
        assert!(matches!(err, TelemetryError::TooLarge { limit: MAX_FILE_BYTES }));
        assert_eq!(
            err.to_string(),
            "the file is larger than 1073741824 bytes, the limit for a telemetry file"
        );
    }

    #[test]
    fn read_path_picks_the_format_and_names_the_file_on_failure() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("fixes.csv");
        std::fs::write(&path, "lon,at,lat\n80.2,2021-05-16T06:00:00Z,44.1\n").expect("write");
        let telemetry = Telemetry::read_path(&path).expect("readable");
        assert_eq!((telemetry.fixes[0].lat, telemetry.fixes[0].lon), (44.1, 80.2));

        let unknown = dir.path().join("fixes.kml");
        let err = Telemetry::read_path(&unknown).expect_err("unknown extension");
        assert_eq!(
            err.to_string(),
            format!(
                "{}: unknown telemetry format; use .ndjson, .jsonl, .json, .gpx or .csv",
                unknown.display()
            )
        );
        let missing = dir.path().join("missing.ndjson");
        let err = Telemetry::read_path(&missing).expect_err("missing file");
        assert!(matches!(err, TelemetryError::Read { .. }));
        assert!(
            err.to_string()
                .starts_with(&format!("cannot read {}: ", missing.display()))
        );
    }

    #[test]
    fn rejections_serialise_as_in_the_report() {
        let rejection = Rejection {
            line: 17,
            reason: "latitude 95.1 is outside -90..90".into(),
        };
        assert_eq!(
            serde_json::to_string(&rejection).expect("serialises"),
            r#"{"line":17,"reason":"latitude 95.1 is outside -90..90"}"#
        );
    }

    #[test]
    fn times_must_carry_an_offset() {
        assert_eq!(
            rfc3339("at", "2021-05-16T12:00:00+06:00"),
            Ok(time("2021-05-16T06:00:00Z"))
        );
        assert_eq!(
            rfc3339("at", "2021-05-16T06:00:00"),
            Err("`at`: \"2021-05-16T06:00:00\" has no UTC offset (RFC 3339 needs one, e.g. Z)".into())
        );
        assert_eq!(
            rfc3339("at", "2021-13-01T00:00:00Z"),
            Err("`at`: \"2021-13-01T00:00:00Z\" is not an RFC 3339 time".into())
        );
    }
}
