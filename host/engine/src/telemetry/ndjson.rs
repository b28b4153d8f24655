//! Reads NDJSON telemetry: one JSON object per line, with the fields of `docs/reference.md` § Fixes.
//!
//! Each line is parsed on its own, so a broken line is one rejection and the next line is read as
//! usual. That starts with the bytes: the file is split into lines before anything is decoded, so a
//! line that is not UTF-8 (a logger that wrote Latin-1 once) or longer than [`MAX_LINE_BYTES`] is
//! refused alone, unread, and the lines after it are not lost.
//!
//! A line is strict JSON ([`crate::json`]): a key given twice is refused, since serde_json would keep
//! the last and `"seal":"cable_cut","seal":"intact"` would read as intact. Unknown fields are refused,
//! as in the transit: a misspelt `lattitude` would otherwise turn into "missing `lat`", hiding the
//! real mistake, and a misspelt optional field (`batery`) would be dropped without a word.

use serde_json::Value;

use super::{Collector, Draft, Field, not_utf8, too_long};
use crate::excerpt::Excerpt;
use crate::fix::Fix;
use crate::json::{self, JsonError};

/// The longest line read, in bytes. A fix with every field is under 250 bytes, so 64 KiB is far
/// beyond any logger's line, and a longer one (a 200 MB key) is refused without being parsed or
/// copied.
pub(crate) const MAX_LINE_BYTES: usize = 64 << 10;

/// Offers every non-blank line to `out`, numbered from 1. Blank lines (an editor's trailing newline,
/// a logger's separator) are no fixes and not mistakes, so they are skipped without a rejection.
pub(super) fn read(bytes: &[u8], out: &mut Collector) {
    for (line, candidate) in lines(bytes) {
        out.offer(line, candidate);
    }
}

/// The lines of a file as `str::lines` splits text: at `\n`, with a `\r` before it dropped, and no
/// empty line after a final `\n`.
pub(super) fn split_lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes
        .split_inclusive(|&byte| byte == b'\n')
        .map(|line| match line.strip_suffix(b"\n") {
            Some(line) => line.strip_suffix(b"\r").unwrap_or(line),
            None => line,
        })
}

/// Every non-blank line, numbered from 1, parsed.
pub(super) fn lines(bytes: &[u8]) -> impl Iterator<Item = (u64, Result<Fix, String>)> + '_ {
    split_lines(bytes).enumerate().filter_map(|(index, line)| {
        let number = index as u64 + 1;
        if line.len() > MAX_LINE_BYTES {
            return Some((number, Err(too_long("the line", line.len(), MAX_LINE_BYTES))));
        }
        match std::str::from_utf8(line) {
            Err(err) => Some((number, Err(not_utf8("the line", line, err.valid_up_to())))),
            Ok(text) if text.trim().is_empty() => None,
            Ok(text) => Some((number, parse_line(text))),
        }
    })
}

fn parse_line(line: &str) -> Result<Fix, String> {
    let value = json::from_str(line).map_err(|err| match err {
        JsonError::Syntax(err) => format!("not a JSON object: {err}"),
        duplicate @ JsonError::DuplicateKey { .. } => duplicate.to_string(),
    })?;
    let Value::Object(fields) = value else {
        return Err(format!("not a JSON object: found {}", kind(&value)));
    };
    // Unknown fields first, so that a misspelling is reported as itself and not as what it hides.
    if let Some(unknown) = fields.keys().find(|key| Field::from_name(key).is_none()) {
        return Err(format!("unknown field `{}`", Excerpt::of(unknown)));
    }
    let mut draft = Draft::default();
    for (key, value) in fields {
        let Some(field) = Field::from_name(&key) else { continue };
        match value {
            // Loggers write `null` for a measurement they do not have: the same as leaving it out.
            Value::Null => {}
            Value::String(text) if !field.is_number() => draft.set_text(field, &text)?,
            Value::Number(number) if field.is_number() => {
                // Always `Some` without serde_json's `arbitrary_precision`; JSON has no NaN.
                let number = number
                    .as_f64()
                    .ok_or_else(|| format!("`{key}`: {number} is not a number"))?;
                draft.set_number(field, number)?;
            }
            other => {
                let expected = if field.is_number() { "a number" } else { "a string" };
                return Err(format!("`{key}`: expected {expected}, found {}", kind(&other)));
            }
        }
    }
    draft.finish()
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// NDJSON lines, good and bad, with their line numbers and reasons.
#[cfg(test)]
mod tests {
    use super::super::tests::time;
    use super::super::{Format, Rejection, Telemetry};
    use super::MAX_LINE_BYTES;
    use crate::fix::{Fix, SealState};

    fn parse(text: &str) -> Telemetry {
        Telemetry::parse(Format::Ndjson, text.as_bytes()).expect("NDJSON is readable")
    }

    fn reasons(text: &str) -> Vec<(u64, String)> {
        parse(text)
            .rejected
            .into_iter()
            .map(|Rejection { line, reason }| (line, reason))
            .collect()
    }

    #[test]
    fn reads_the_spec_example_with_every_field() {
        let line = r#"{"at":"2021-05-16T06:05:00Z","lat":44.160,"lon":80.390,"speed_kmh":42.5,"course":268,"hdop":0.9,"sats":11,"seal":"intact","battery":87,"seal_id":"NS-778812"}"#;
        let telemetry = parse(line);
        assert_eq!(
            telemetry.fixes,
            vec![Fix {
                at: time("2021-05-16T06:05:00Z"),
                lat: 44.16,
                lon: 80.39,
                speed_kmh: Some(42.5),
                course_deg: Some(268.0),
                hdop: Some(0.9),
                sats: Some(11),
                battery_pct: Some(87.0),
                seal: Some(SealState::Intact),
                seal_id: Some("NS-778812".into()),
            }]
        );
    }

    #[test]
    fn optional_fields_may_be_absent_or_null() {
        let telemetry = parse(r#"{"at":"2021-05-16T06:05:00+06:00","lat":44.16,"lon":80.39,"hdop":null,"seal":null}"#);
        let fix = &telemetry.fixes[0];
        assert_eq!(fix.at, time("2021-05-16T00:05:00Z"));
        assert_eq!(
            (fix.speed_kmh, fix.course_deg, fix.hdop, fix.sats),
            (None, None, None, None)
        );
        assert_eq!((fix.battery_pct, fix.seal, fix.seal_id.as_deref()), (None, None, None));
    }

    #[test]
    fn bad_lines_are_rejected_with_their_line_number_and_blank_lines_skipped() {
        let text = [
            r#"{"at":"2021-05-16T06:00:00Z","lat":44.158,"lon":80.399}"#,
            "",
            "   ",
            r#"{"at":"2021-05-16T06:01:00Z","lat":95.1,"lon":80.399}"#,
            "garbage",
            r#"{"at":"2021-13-01T00:00:00Z","lat":44.1,"lon":80.3}"#,
            r#"{"at":"2021-05-16T06:02:00","lat":44.1,"lon":80.3}"#,
            r#"{"at":"2021-05-16T06:03:00Z","lon":80.3}"#,
            r#"{"at":"2021-05-16T06:03:00Z","lattitude":44.1,"lon":80.3}"#,
            r#"{"at":"2021-05-16T06:04:00Z","lat":"44.1","lon":80.3}"#,
            r#"{"at":"2021-05-16T06:05:00Z","lat":44.1,"lon":-181}"#,
            r#"{"at":"2021-05-16T06:06:00Z","lat":44.1,"lon":80.3,"speed_kmh":-4}"#,
            r#"{"at":"2021-05-16T06:07:00Z","lat":44.1,"lon":80.3,"battery":101}"#,
            r#"{"at":"2021-05-16T06:08:00Z","lat":44.1,"lon":80.3,"course":400}"#,
            r#"{"at":"2021-05-16T06:09:00Z","lat":44.1,"lon":80.3,"hdop":-1}"#,
            r#"{"at":"2021-05-16T06:10:00Z","lat":44.1,"lon":80.3,"sats":-1}"#,
            r#"{"at":"2021-05-16T06:11:00Z","lat":44.1,"lon":80.3,"sats":7.5}"#,
            r#"{"at":"2021-05-16T06:12:00Z","lat":44.1,"lon":80.3,"seal":"broken"}"#,
            r#"{"at":"2021-05-16T06:13:00Z","lat":44.1,"lon":80.3,"seal_id":778812}"#,
            "[1, 2]",
            r#"{"at":1621145580,"lat":44.1,"lon":80.3}"#,
            r#"{"at":"2021-05-16T06:14:00Z","lat":44.1,"lon":80.3,"sats":12.0}"#,
            "",
        ]
        .join("\r\n");
        let expected: Vec<(u64, &str)> = vec![
            (4, "latitude 95.1 is outside -90..90"),
            (5, "not a JSON object: expected value at line 1 column 1"),
            (6, "`at`: \"2021-13-01T00:00:00Z\" is not an RFC 3339 time"),
            (
                7,
                "`at`: \"2021-05-16T06:02:00\" has no UTC offset (RFC 3339 needs one, e.g. Z)",
            ),
            (8, "missing `lat`"),
            (9, "unknown field `lattitude`"),
            (10, "`lat`: expected a number, found a string"),
            (11, "longitude -181 is outside -180..180"),
            (12, "speed_kmh -4 is negative"),
            (13, "battery 101 is outside 0..100"),
            (14, "course 400 is outside 0..360"),
            (15, "hdop -1 is negative"),
            (16, "`sats`: -1 is not a whole number >= 0"),
            (17, "`sats`: 7.5 is not a whole number >= 0"),
            (
                18,
                "`seal`: \"broken\" is not one of intact, opened, cable_cut, housing_breached, fault",
            ),
            (19, "`seal_id`: expected a string, found a number"),
            (20, "not a JSON object: found an array"),
            (21, "`at`: expected a string, found a number"),
        ];
        let actual = reasons(&text);
        let actual: Vec<(u64, &str)> = actual.iter().map(|(line, reason)| (*line, reason.as_str())).collect();
        assert_eq!(actual, expected);
        let telemetry = parse(&text);
        assert_eq!(telemetry.fixes.len(), 2);
        assert_eq!(telemetry.fixes[1].sats, Some(12));
    }

    /// Guards issue 10 item 6: serde_json kept the last `seal`, so a cut cable read as intact and the
    /// transit was clear.
    #[test]
    fn a_line_with_a_key_given_twice_is_rejected() {
        let text = concat!(
            r#"{"at":"2021-05-16T06:00:00Z","lat":44.1,"lon":80.3,"seal":"cable_cut","seal":"intact"}"#,
            "\n",
            r#"{"at":"2021-05-16T06:01:00Z","lat":44.1,"lon":80.3,"seal":"cable_cut"}"#,
        );
        let telemetry = parse(text);
        assert_eq!(reasons(text), [(1, "the key `seal` is given twice".to_owned())]);
        assert_eq!(telemetry.fixes.len(), 1);
        assert_eq!(telemetry.fixes[0].seal, Some(SealState::CableCut));
    }

    /// Guards issue 10 item 7: one byte that is not UTF-8 refused the whole file.
    #[test]
    fn a_line_that_is_not_utf8_is_rejected_and_the_rest_read() {
        let bytes = b"\xEF\xBB\xBF{\"at\":\"2021-05-16T06:00:00Z\",\"lat\":44.1,\"lon\":80.3}\r\n\
{\"at\":\"2021-05-16T06:01:00Z\",\"lat\":44.1,\"lon\":80.3,\"seal_id\":\"N\xE9\"}\r\n\
\n\
{\"at\":\"2021-05-16T06:02:00Z\",\"lat\":44.2,\"lon\":80.3}";
        let telemetry = Telemetry::parse(Format::Ndjson, bytes).expect("NDJSON is never refused whole");
        assert_eq!(
            telemetry.rejected,
            [Rejection {
                line: 2,
                reason: "the line is not UTF-8 (byte 0xE9 at column 64); save the file as UTF-8".into()
            }]
        );
        let lats: Vec<f64> = telemetry.fixes.iter().map(|fix| fix.lat).collect();
        assert_eq!(lats, [44.1, 44.2], "the lines before and after are read");
    }

    /// Guards issue 10 item 11: a 200 MB key was parsed and echoed whole into the report.
    #[test]
    fn long_lines_are_refused_unread_and_quotes_are_short() {
        let key = "k".repeat(MAX_LINE_BYTES);
        let long = format!(r#"{{"at":"2021-05-16T06:00:00Z","lat":44.1,"lon":80.3,"{key}":1}}"#);
        let unknown = format!(
            r#"{{"at":"2021-05-16T06:00:00Z","lat":44.1,"lon":80.3,"{}":1}}"#,
            &key[..1000]
        );
        let time = format!(r#"{{"at":"{}","lat":44.1,"lon":80.3}}"#, "9".repeat(1000));
        let text = [
            long.as_str(),
            &unknown,
            &time,
            r#"{"at":"2021-05-16T06:00:00Z","lat":44.1,"lon":80.3}"#,
        ]
        .join("\n");
        let telemetry = parse(&text);
        let reasons: Vec<&str> = telemetry.rejected.iter().map(|r| r.reason.as_str()).collect();
        assert_eq!(
            reasons,
            [
                format!(
                    "the line has {} bytes, over the limit of 65536; it is not read",
                    long.len()
                ),
                format!("unknown field `{}…`", "k".repeat(60)),
                format!("`at`: \"{}\"… is not an RFC 3339 time", "9".repeat(60)),
            ]
        );
        assert_eq!(telemetry.fixes.len(), 1);
        let exactly = format!(
            r#"{{"at":"2021-05-16T06:00:00Z","lat":44.1,"lon":80.3,"seal_id":"{}"}}"#,
            ""
        );
        let padding = " ".repeat(MAX_LINE_BYTES - exactly.len());
        assert_eq!(
            parse(&format!("{exactly}{padding}")).fixes.len(),
            1,
            "a line at the limit is read"
        );
    }

    #[test]
    fn an_empty_file_has_no_fixes_and_no_rejections() {
        assert_eq!(parse(""), Telemetry::default());
        assert_eq!(parse("\n\n"), Telemetry::default());
    }
}
