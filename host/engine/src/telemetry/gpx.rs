//! Reads GPX 1.0 and 1.1 tracks: every `<trkpt>` of every `<trkseg>` of every `<trk>`, in file order.
//!
//! This walks the XML with `xml-rs` (the parser underneath the `gpx` crate) instead of using the `gpx`
//! crate itself, because `gpx` 0.10 reads a document all or nothing and refuses whole files that
//! ordinary receivers write: a GPX 1.0 `<course>` (Garmin units, GPSBabel), a `<magvar>`, a `<speed>` in
//! a GPX 1.1 file, a single point with a latitude beyond ±90 or a longitude of exactly 180. The
//! reference (`docs/reference.md` § Fixes) rejects such a point with its line number and evaluates every other
//! point, and `gpx` keeps no line numbers.
//!
//! What a point gives:
//! - `lat` and `lon` attributes, required.
//! - `<time>`, required. GPX defines its times as UTC, so a time without an offset is taken as UTC
//!   here (unlike NDJSON and CSV, whose format says nothing of the sort).
//! - `<speed>` in m/s (GPX 1.0; accepted in 1.1 too, where loggers write it), converted to km/h;
//!   `<course>` in degrees; `<hdop>`; `<sat>`. A point without its own `<speed>` or `<course>` takes
//!   the same-named element inside its `<extensions>`, where Garmin's TrackPointExtension v2 and phone
//!   loggers put them, in the same units.
//! - Nothing else: elevation, names, seal state and battery (GPX has neither) are ignored.
//!
//! Waypoints (`<wpt>`) and routes (`<rte>`) are plans, not recorded positions, and are not read.
//! Elements are matched by local name without checking the namespace, since many writers declare it
//! wrongly or not at all.
//!
//! Encoding: a file that declares another encoding (ISO-8859-1, UTF-16) is decoded by `xml-rs`. A file
//! meant as UTF-8 (it says so, or says nothing) with a byte that is not UTF-8 would stop `xml-rs` at that
//! byte and lose every point after it; such a file is decoded lossily instead, and each point with a
//! bad byte between its `<trkpt` and its `</trkpt>` is rejected, so that no replacement character
//! reaches a fix. Positions, not lines, decide, so that in a file written on one line a bad byte
//! costs only its own point.
//!
//! Bounds: `xml-rs` bounds names, attributes and text by its configuration, and this reader bounds
//! the nesting of elements, whose cost in `xml-rs` grows with depth (80,000 levels took 46 s). Past a
//! bound the document is read no further: the points before it are kept and one rejection says where
//! reading stopped.

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use xml::attribute::OwnedAttribute;
use xml::common::Position;
use xml::reader::{EventReader, ParserConfig, XmlEvent};

use super::{Collector, Draft, TelemetryError, number, whole, without_bom};
use crate::excerpt::Excerpt;
use crate::fix::Fix;

/// Metres per second to kilometres per hour.
const KMH_PER_MS: f64 = 3.6;

/// The deepest nesting of elements read, the root being 1. A point's deepest field is 7 levels down
/// (`gpx/trk/trkseg/trkpt/extensions/gpxtpx:TrackPointExtension/gpxtpx:speed`); 64 leaves room for
/// any writer's extensions, while the time `xml-rs` spends per element, which grows with depth, stays
/// small.
const MAX_DEPTH: usize = 64;

/// The longest element or attribute name, in bytes (`xml-rs`'s `max_name_length`). GPX names are a
/// few dozen bytes with their prefix.
const MAX_NAME_BYTES: usize = 1 << 10;

/// The most attributes on one element (`xml-rs`'s `max_attributes`). The root carries the most:
/// namespace declarations and a schema location, a dozen in Garmin's files.
const MAX_ATTRIBUTES: usize = 256;

/// The longest attribute value, in bytes (`xml-rs`'s `max_attribute_length`). A schema location
/// listing every namespace is a few hundred bytes; a coordinate far less.
const MAX_ATTRIBUTE_BYTES: usize = 64 << 10;

/// The longest run of text, comment or processing instruction, in bytes (`xml-rs`'s
/// `max_data_length`). A point's values are short; the longest text a receiver writes is a `<desc>`
/// of a few kilobytes, so 1 MiB only stops a file that is not a track.
const MAX_TEXT_BYTES: usize = 1 << 20;

/// What `xml-rs` says when a document is over one of the bounds of its configuration.
const XML_RS_OVER_A_LIMIT: &str = "larger/more complex than allowed by the parser's configuration";

pub(super) fn read(bytes: &[u8], out: &mut Collector) -> Result<(), TelemetryError> {
    if std::str::from_utf8(bytes).is_ok() || !meant_as_utf8(bytes) {
        return walk(bytes, &[], out);
    }
    let damaged = not_utf8_at(bytes);
    // One replacement character takes the place of each bad sequence, so positions in the decoded
    // text are what `not_utf8_at` counted, and the lines of the points stay as in the file.
    let text = String::from_utf8_lossy(bytes);
    walk(text.as_bytes(), &damaged, out)
}

/// A position as `xml-rs` counts it: 0-based row (lines split at `\n`), and 0-based column in
/// characters.
type At = (u64, u64);

/// Whether a document is to be read as UTF-8: it has no UTF-16 byte-order mark or zero bytes up front,
/// and its XML declaration names no encoding or UTF-8 (the default XML gives it).
fn meant_as_utf8(bytes: &[u8]) -> bool {
    let utf16 = bytes.starts_with(b"\xFE\xFF")
        || bytes.starts_with(b"\xFF\xFE")
        || bytes.get(..2).is_some_and(|start| start.contains(&0));
    if utf16 {
        return false;
    }
    declared_encoding(bytes)
        .is_none_or(|name| name.eq_ignore_ascii_case(b"utf-8") || name.eq_ignore_ascii_case(b"utf8"))
}

/// The encoding an XML declaration names (`<?xml version="1.0" encoding="UTF-8"?>`), if any.
fn declared_encoding(bytes: &[u8]) -> Option<&[u8]> {
    let declaration = without_bom(bytes).strip_prefix(b"<?xml")?;
    // A declaration is short; what follows is not searched.
    let declaration = &declaration[..declaration.len().min(1 << 10)];
    let declaration = &declaration[..declaration.windows(2).position(|pair| pair == b"?>")?];
    let after = declaration.windows(8).position(|word| word == b"encoding")? + 8;
    let value = declaration[after..]
        .trim_ascii_start()
        .strip_prefix(b"=")?
        .trim_ascii_start();
    let (&quote, value) = value.split_first()?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    Some(&value[..value.iter().position(|&byte| byte == quote)?])
}

/// Where each sequence of bytes that is not UTF-8 begins, in order, counted in the text
/// `String::from_utf8_lossy` makes of the file (each sequence one character there).
fn not_utf8_at(bytes: &[u8]) -> Vec<At> {
    // `xml-rs` takes a byte-order mark as no character.
    let bytes = without_bom(bytes);
    let (mut row, mut column) = (0, 0);
    let mut damaged = Vec::new();
    for chunk in bytes.utf8_chunks() {
        for character in chunk.valid().chars() {
            if character == '\n' {
                (row, column) = (row + 1, 0);
            } else {
                column += 1;
            }
        }
        // An invalid sequence never holds a line break, which is ASCII.
        if !chunk.invalid().is_empty() {
            damaged.push((row, column));
            column += 1;
        }
    }
    damaged
}

/// Reads the document, offering each point; a point with a position of `damaged` inside is rejected
/// instead.
fn walk(bytes: &[u8], damaged: &[At], out: &mut Collector) -> Result<(), TelemetryError> {
    let config = ParserConfig::new()
        .cdata_to_characters(true)
        .max_name_length(MAX_NAME_BYTES)
        .max_attributes(MAX_ATTRIBUTES)
        .max_attribute_length(MAX_ATTRIBUTE_BYTES)
        .max_data_length(MAX_TEXT_BYTES);
    let mut reader = EventReader::new_with_config(bytes, config);
    // Local names of the open elements, root first.
    let mut open: Vec<String> = Vec::new();
    let mut root_seen = false;
    let mut point: Option<Point> = None;
    let mut text = String::new();
    loop {
        let event = match reader.next() {
            Ok(event) => event,
            Err(err) if !root_seen => {
                return Err(TelemetryError::NotGpx {
                    reason: format!("not XML: {}", Excerpt::of_message(&err.to_string())),
                });
            }
            Err(err) => {
                // A logger that lost power leaves a truncated file: keep the points before the break.
                let line = err.position().row + 1;
                let message = err.to_string();
                let reason = if message.contains(XML_RS_OVER_A_LIMIT) {
                    format!(
                        "a name, attribute or text here is over the limits for GPX (names {MAX_NAME_BYTES} \
                         bytes, {MAX_ATTRIBUTES} attributes of {MAX_ATTRIBUTE_BYTES} bytes, text \
                         {MAX_TEXT_BYTES} bytes); nothing after it is read"
                    )
                } else {
                    format!(
                        "the XML breaks off here ({}); nothing after it is read",
                        Excerpt::of_message(&message)
                    )
                };
                out.reject(line, reason);
                return Ok(());
            }
        };
        match event {
            XmlEvent::StartElement { name, attributes, .. } => {
                if !root_seen {
                    if name.local_name != "gpx" {
                        let reason = format!("the root element is <{}>, not <gpx>", Excerpt::of(&name.local_name));
                        return Err(TelemetryError::NotGpx { reason });
                    }
                    root_seen = true;
                }
                if open.len() == MAX_DEPTH {
                    out.reject(
                        reader.position().row + 1,
                        format!("elements nest deeper than {MAX_DEPTH} levels here; nothing after it is read"),
                    );
                    return Ok(());
                }
                if name.local_name == "trkpt" && point.is_none() && open.last().is_some_and(|parent| parent == "trkseg")
                {
                    let start = reader.position();
                    point = Some(Point::open((start.row, start.column), open.len(), &attributes));
                }
                open.push(name.local_name);
                text.clear();
            }
            // Only a point's text is of use.
            XmlEvent::Characters(characters) if point.is_some() => text.push_str(&characters),
            XmlEvent::EndElement { .. } => {
                let name = open.pop().unwrap_or_default();
                if let Some(current) = point.as_mut() {
                    if open.len() == current.depth {
                        if let Some(done) = point.take() {
                            let end = reader.position();
                            // The first bad sequence after the point's `<trkpt`, if it is before its `</trkpt`.
                            let first = damaged.partition_point(|&at| at < done.start);
                            match damaged.get(first) {
                                Some(&(row, column)) if (row, column) <= (end.row, end.column) => out.reject(
                                    done.line,
                                    format!(
                                        "the point is not UTF-8 (line {}, column {}); save the file as UTF-8",
                                        row + 1,
                                        column + 1
                                    ),
                                ),
                                _ => out.offer(done.line, done.finish()),
                            }
                        }
                    } else {
                        current.element(open.get(current.depth + 1..).unwrap_or_default(), &name, text.trim());
                    }
                }
                text.clear();
                if open.is_empty() {
                    break;
                }
            }
            XmlEvent::EndDocument => break,
            _ => {}
        }
    }
    if root_seen {
        Ok(())
    } else {
        Err(TelemetryError::NotGpx {
            reason: "the file has no XML element".into(),
        })
    }
}

/// A `<trkpt>` being read: its line, its place in the element stack, and the raw text of the elements
/// that make a fix.
#[derive(Debug, Default)]
struct Point {
    /// Where its `<trkpt` is.
    start: At,
    /// The 1-based line of its `<trkpt`.
    line: u64,
    /// Index of the `trkpt` element in the stack of open elements.
    depth: usize,
    lat: Option<String>,
    lon: Option<String>,
    time: Option<String>,
    speed_ms: Option<String>,
    course: Option<String>,
    hdop: Option<String>,
    sat: Option<String>,
    extension_speed_ms: Option<String>,
    extension_course: Option<String>,
}

impl Point {
    fn open(start: At, depth: usize, attributes: &[OwnedAttribute]) -> Point {
        let attribute = |name: &str| {
            attributes
                .iter()
                .find(|attribute| attribute.name.local_name == name)
                .map(|attribute| attribute.value.clone())
        };
        Point {
            start,
            line: start.0 + 1,
            depth,
            lat: attribute("lat"),
            lon: attribute("lon"),
            ..Point::default()
        }
    }

    /// Records an element that just closed inside the point; `within` are the elements between the
    /// `trkpt` and it. Empty elements count as absent.
    fn element(&mut self, within: &[String], name: &str, text: &str) {
        if text.is_empty() {
            return;
        }
        let slot = match (within.first().map(String::as_str), name) {
            (None, "time") => &mut self.time,
            (None, "speed") => &mut self.speed_ms,
            (None, "course") => &mut self.course,
            (None, "hdop") => &mut self.hdop,
            (None, "sat") => &mut self.sat,
            (Some("extensions"), "speed") => &mut self.extension_speed_ms,
            (Some("extensions"), "course") => &mut self.extension_course,
            _ => return,
        };
        // The first occurrence wins, as a schema-valid file has only one.
        slot.get_or_insert_with(|| text.to_string());
    }

    fn finish(self) -> Result<Fix, String> {
        let time = self.time.ok_or("missing <time>")?;
        let mut draft = Draft {
            at: Some(utc_time(&time)?),
            ..Draft::default()
        };
        draft.lat = self.lat.map(|text| number("lat", &text)).transpose()?;
        draft.lon = self.lon.map(|text| number("lon", &text)).transpose()?;
        if let Some(speed) = self.speed_ms.or(self.extension_speed_ms) {
            draft.speed_kmh = Some(number("speed", &speed)? * KMH_PER_MS);
        }
        draft.course_deg = self
            .course
            .or(self.extension_course)
            .map(|text| number("course", &text))
            .transpose()?;
        draft.hdop = self.hdop.map(|text| number("hdop", &text)).transpose()?;
        draft.sats = self
            .sat
            .map(|text| number("sat", &text).and_then(|sat| whole("sat", sat)))
            .transpose()?;
        draft.finish()
    }
}

/// An xsd:dateTime as GPX uses it: with an offset, or without one and then in UTC by definition;
/// to the millisecond, as every fix's time.
fn utc_time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.to_utc().trunc_subsecs(3));
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .map(|time| time.and_utc().trunc_subsecs(3))
        .map_err(|_| format!("`time`: {:?} is not an ISO 8601 time", Excerpt::of(text)))
}

/// GPX 1.0 and 1.1 files as receivers write them, broken points, and files that are not GPX.
#[cfg(test)]
mod tests {
    use super::super::tests::time;
    use super::super::{Format, Rejection, Telemetry, TelemetryError};
    use super::{MAX_ATTRIBUTE_BYTES, MAX_DEPTH, MAX_NAME_BYTES, MAX_TEXT_BYTES, declared_encoding, meant_as_utf8};
    use crate::fix::Fix;

    fn parse(text: &str) -> Result<Telemetry, TelemetryError> {
        Telemetry::parse(Format::Gpx, text.as_bytes())
    }

    /// A GPX 1.1 file in the style of a Garmin export, with a waypoint and a route that must be ignored.
    const GPX_11: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<gpx xmlns="http://www.topografix.com/GPX/1/1" xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v2" creator="eTrex 32x" version="1.1">
  <metadata><link href="http://www.garmin.com"><text>Garmin International</text></link><time>2021-05-16T06:20:00Z</time></metadata>
  <wpt lat="43.3" lon="76.95"><time>2021-05-16T05:00:00Z</time><name>ALMATY-TC</name></wpt>
  <trk>
    <name>Khorgos - Almaty</name>
    <trkseg>
      <trkpt lat="44.158" lon="80.399">
        <ele>612.4</ele>
        <time>2021-05-16T06:00:00Z</time>
        <magvar>4.5</magvar>
        <fix>3d</fix>
        <sat>9</sat>
        <hdop>0.8</hdop>
        <extensions>
          <gpxtpx:TrackPointExtension><gpxtpx:speed>12.5</gpxtpx:speed><gpxtpx:course>268</gpxtpx:course></gpxtpx:TrackPointExtension>
        </extensions>
      </trkpt>
      <trkpt lat="44.160" lon="80.390"><ele>610.0</ele></trkpt>
      <trkpt lat="95.0" lon="80.380"><time>2021-05-16T06:02:00Z</time></trkpt>
      <trkpt lat="44.161" lon="180"><time>2021-05-16T06:02:30Z</time></trkpt>
    </trkseg>
    <trkseg>
      <trkpt lat="44.170" lon="80.370"><time>2021-05-16T06:03:00</time><sat></sat></trkpt>
      <trkpt lat="44.171" lon="80.369"><time>2021-05-16T12:04:00+06:00</time><hdop>x</hdop></trkpt>
      <trkpt lon="80.368"><time>2021-05-16T06:05:00Z</time></trkpt>
    </trkseg>
  </trk>
  <rte><rtept lat="44.0" lon="79.0"><time>2021-05-16T06:30:00Z</time></rtept></rte>
</gpx>
"#;

    #[test]
    fn reads_a_gpx_11_track_with_hdop_and_sat() {
        let telemetry = parse(GPX_11).expect("a GPX 1.1 track is readable");
        let first = &telemetry.fixes[0];
        assert_eq!(
            (first.at, first.lat, first.lon),
            (time("2021-05-16T06:00:00Z"), 44.158, 80.399)
        );
        assert_eq!(
            (first.sats, first.hdop, first.course_deg),
            (Some(9), Some(0.8), Some(268.0))
        );
        assert_eq!(first.speed_kmh, Some(12.5 * 3.6), "extension speed in m/s, converted");
        assert_eq!(
            (first.seal, first.battery_pct, first.seal_id.as_deref()),
            (None, None, None)
        );
        let later: Vec<(f64, f64)> = telemetry.fixes[1..].iter().map(|fix| (fix.lat, fix.lon)).collect();
        assert_eq!(later, [(44.161, 180.0), (44.17, 80.37)], "no waypoint, no route point");
        assert_eq!(
            telemetry.fixes[2].at,
            time("2021-05-16T06:03:00Z"),
            "a time without offset is UTC"
        );
        assert_eq!(telemetry.fixes[2].sats, None, "an empty <sat> is absent");
    }

    #[test]
    fn a_point_without_time_is_rejected_with_the_line_of_its_tag() {
        let telemetry = parse(GPX_11).expect("readable");
        let expected = [
            (19, "missing <time>"),
            (20, "latitude 95 is outside -90..90"),
            (25, "`hdop`: \"x\" is not a number"),
            (26, "missing `lat`"),
        ];
        let expected: Vec<Rejection> = expected
            .into_iter()
            .map(|(line, reason)| Rejection {
                line,
                reason: reason.into(),
            })
            .collect();
        assert_eq!(telemetry.rejected, expected);
    }

    #[test]
    fn reads_gpx_10_speed_and_course() {
        let text = r#"<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.0" creator="GPSBabel - https://www.gpsbabel.org" xmlns="http://www.topografix.com/GPX/1/0">
<time>2021-05-16T06:10:00Z</time>
<bounds minlat="44.158" minlon="80.390" maxlat="44.160" maxlon="80.399"/>
<trk>
<name>ACTIVE LOG</name>
<number>1</number>
<trkseg>
<trkpt lat="44.158000" lon="80.399000">
  <ele>612.000000</ele>
  <time>2021-05-16T06:00:00Z</time>
  <course>268.500000</course>
  <speed>12.500000</speed>
  <fix>3d</fix>
  <sat>8</sat>
  <hdop>1.100000</hdop>
</trkpt>
<trkpt lat="44.160000" lon="80.390000">
  <time>2021-05-16T06:00:30Z</time>
  <speed>-1</speed>
</trkpt>
</trkseg>
</trk>
</gpx>"#;
        let telemetry = parse(text).expect("a GPX 1.0 track is readable");
        assert_eq!(
            telemetry.fixes,
            vec![Fix {
                at: time("2021-05-16T06:00:00Z"),
                lat: 44.158,
                lon: 80.399,
                speed_kmh: Some(45.0),
                course_deg: Some(268.5),
                hdop: Some(1.1),
                sats: Some(8),
                battery_pct: None,
                seal: None,
                seal_id: None,
            }]
        );
        assert_eq!(
            telemetry.rejected,
            vec![Rejection {
                line: 18,
                reason: "speed_kmh -3.6 is negative".into()
            }]
        );
    }

    #[test]
    fn a_truncated_file_keeps_the_points_before_the_break() {
        let text = "<gpx version=\"1.1\"><trk><trkseg>\n\
                    <trkpt lat=\"44.1\" lon=\"80.1\"><time>2021-05-16T06:00:00Z</time></trkpt>\n\
                    <trkpt lat=\"44.2\" lon=\"80.2\"><time>2021-05-16T06:0";
        let telemetry = parse(text).expect("a truncated GPX is still read");
        assert_eq!(telemetry.fixes.len(), 1);
        assert_eq!(telemetry.rejected.len(), 1);
        assert_eq!(telemetry.rejected[0].line, 3);
        assert!(
            telemetry.rejected[0].reason.starts_with("the XML breaks off here ("),
            "{:?}",
            telemetry.rejected
        );
    }

    #[test]
    fn a_file_that_is_not_gpx_is_refused() {
        for (text, start) in [
            ("", "not a GPX file: not XML: "),
            (r#"{"at":"2021-05-16T06:00:00Z"}"#, "not a GPX file: not XML: "),
            (
                "<kml><Document/></kml>",
                "not a GPX file: the root element is <kml>, not <gpx>",
            ),
        ] {
            let err = parse(text).expect_err("refused");
            assert!(matches!(err, TelemetryError::NotGpx { .. }));
            assert!(err.to_string().starts_with(start), "{err}");
        }
    }

    fn rejected(telemetry: &Telemetry) -> Vec<(u64, &str)> {
        telemetry
            .rejected
            .iter()
            .map(|rejection| (rejection.line, rejection.reason.as_str()))
            .collect()
    }

    /// Guards issue 10 item 7: `xml-rs` stopped at the first byte that is not UTF-8 and every point
    /// after it was lost.
    #[test]
    fn a_point_that_is_not_utf8_is_rejected_and_the_rest_read() {
        for declaration in [
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
            "<?xml version='1.0'?>\n",
            "\n",
        ] {
            let mut bytes = declaration.as_bytes().to_vec();
            bytes.extend_from_slice(
                b"<gpx version=\"1.1\"><metadata><name>Z\xFCrich</name></metadata><trk><trkseg>\n\
<trkpt lat=\"44.1\" lon=\"80.1\"><time>2021-05-16T06:00:00Z</time></trkpt>\n\
<trkpt lat=\"44.2\" lon=\"80.2\">\n\
  <time>2021-05-16T06:01:00Z</time><name>Stra\xDFe</name>\n\
</trkpt>\n\
<trkpt lat=\"44.\xB3\" lon=\"80.3\"><time>2021-05-16T06:02:00Z</time></trkpt>\n\
<trkpt lat=\"44.4\" lon=\"80.4\"><time>2021-05-16T06:03:00Z</time></trkpt>\n\
</trkseg></trk></gpx>\n",
            );
            let telemetry = Telemetry::parse(Format::Gpx, &bytes).expect("a GPX with bad bytes is read");
            assert_eq!(
                rejected(&telemetry),
                [
                    (4, "the point is not UTF-8 (line 5, column 44); save the file as UTF-8"),
                    (7, "the point is not UTF-8 (line 7, column 16); save the file as UTF-8"),
                ],
                "{declaration:?}"
            );
            let lats: Vec<f64> = telemetry.fixes.iter().map(|fix| fix.lat).collect();
            assert_eq!(
                lats,
                [44.1, 44.4],
                "{declaration:?}: a bad byte outside a point costs nothing"
            );
        }
    }

    /// Guards issue 10 item 7 for a file written on one line: a bad byte costs its own point only.
    #[test]
    fn on_one_line_only_the_damaged_point_is_rejected() {
        let bytes = b"\xEF\xBB\xBF<gpx><trk><name>\xFC</name><trkseg>\
<trkpt lat=\"44.1\" lon=\"80.1\"><time>2021-05-16T06:00:00Z</time></trkpt>\
<trkpt lat=\"44.2\" lon=\"80.2\"><time>2021-05-16T06:01:00Z</time><desc>\xFC\xFC</desc></trkpt>\
<trkpt lat=\"44.3\" lon=\"80.3\"><time>2021-05-16T06:02:00Z</time></trkpt>\
<trkpt lat=\"44.4\" lon=\"80.4\"><time>2021-05-16T06:03:00Z\xE2\x82</time></trkpt>\
</trkseg></trk></gpx>";
        let telemetry = Telemetry::parse(Format::Gpx, bytes).expect("readable");
        assert_eq!(
            rejected(&telemetry),
            [
                (1, "the point is not UTF-8 (line 1, column 171); save the file as UTF-8"),
                (1, "the point is not UTF-8 (line 1, column 313); save the file as UTF-8"),
            ]
        );
        let lats: Vec<f64> = telemetry.fixes.iter().map(|fix| fix.lat).collect();
        assert_eq!(lats, [44.1, 44.3]);
    }

    /// A file in another declared encoding is still `xml-rs`'s to decode.
    #[test]
    fn a_declared_latin1_file_is_decoded_as_such() {
        let bytes = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n\
<gpx version=\"1.1\"><trk><name>Z\xFCrich</name><trkseg>\n\
<trkpt lat=\"44.1\" lon=\"80.1\"><time>2021-05-16T06:00:00Z</time><desc>\xDF</desc></trkpt>\n\
</trkseg></trk></gpx>\n";
        let telemetry = Telemetry::parse(Format::Gpx, bytes).expect("Latin-1 GPX");
        assert!(telemetry.rejected.is_empty(), "{:?}", telemetry.rejected);
        assert_eq!(telemetry.fixes.len(), 1);
    }

    /// Guards issue 10 item 11: 80,000 nested elements took 46 s in `xml-rs`.
    #[test]
    fn deep_nesting_stops_reading_and_keeps_the_points_before() {
        let depth = 80_000;
        let text = format!(
            "<gpx version=\"1.1\"><trk><trkseg>\n\
             <trkpt lat=\"44.1\" lon=\"80.1\"><time>2021-05-16T06:00:00Z</time></trkpt>\n\
             {}{}\n\
             <trkpt lat=\"44.2\" lon=\"80.2\"><time>2021-05-16T06:01:00Z</time></trkpt>\n\
             </trkseg></trk></gpx>",
            "<a>".repeat(depth),
            "</a>".repeat(depth)
        );
        // Timed, not asserted: speed is for benchmarks.
        let started = std::time::Instant::now();
        let telemetry = parse(&text).expect("read up to the bound");
        println!("80,000 nested elements read in {:?}", started.elapsed());
        assert_eq!(
            rejected(&telemetry),
            [(3, "elements nest deeper than 64 levels here; nothing after it is read")]
        );
        assert_eq!(telemetry.fixes.len(), 1);
        let extensions = format!(
            "<gpx><trk><trkseg><trkpt lat=\"44.1\" lon=\"80.1\"><time>2021-05-16T06:00:00Z</time>{}{}</trkpt></trkseg></trk></gpx>",
            "<x>".repeat(MAX_DEPTH - 4),
            "</x>".repeat(MAX_DEPTH - 4)
        );
        let telemetry = parse(&extensions).expect("readable");
        assert_eq!(
            (telemetry.fixes.len(), telemetry.rejected.len()),
            (1, 0),
            "64 levels are read"
        );
    }

    /// Guards issue 10 item 11: names, attributes and text are bounded, and what is quoted is short.
    #[test]
    fn long_text_and_attributes_stop_reading_with_a_reason() {
        let point = "<trkpt lat=\"44.1\" lon=\"80.1\"><time>2021-05-16T06:00:00Z</time></trkpt>";
        let limit = "a name, attribute or text here is over the limits for GPX (names 1024 bytes, 256 attributes \
                     of 65536 bytes, text 1048576 bytes); nothing after it is read";
        for hostile in [
            format!("<desc>{}</desc>", "d".repeat(2 * MAX_TEXT_BYTES)),
            format!("<trkpt lat=\"{}\" lon=\"80.2\"/>", "4".repeat(2 * MAX_ATTRIBUTE_BYTES)),
            format!("<{0}></{0}>", "n".repeat(2 * MAX_NAME_BYTES)),
        ] {
            let text = format!("<gpx><trk><trkseg>\n{point}\n{hostile}\n{point}</trkseg></trk></gpx>");
            let telemetry = parse(&text).expect("read up to the bound");
            assert_eq!(rejected(&telemetry), [(3, limit)]);
            assert_eq!(telemetry.fixes.len(), 1);
        }
        let time = "9".repeat(10_000);
        let text =
            format!("<gpx><trk><trkseg><trkpt lat=\"1\" lon=\"1\"><time>{time}</time></trkpt></trkseg></trk></gpx>");
        let telemetry = parse(&text).expect("readable");
        assert_eq!(
            rejected(&telemetry),
            [(
                1,
                format!("`time`: \"{}\"… is not an ISO 8601 time", "9".repeat(60)).as_str()
            )]
        );
        let err = parse(&format!("<{}/>", "k".repeat(1000))).expect_err("not GPX");
        assert!(err.to_string().len() < 200, "{err}");
    }

    #[test]
    fn finds_the_declared_encoding() {
        assert_eq!(
            declared_encoding(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><gpx/>"),
            Some(&b"UTF-8"[..])
        );
        assert_eq!(
            declared_encoding(b"\xEF\xBB\xBF<?xml version='1.0' encoding = 'latin1' ?>"),
            Some(&b"latin1"[..])
        );
        assert_eq!(declared_encoding(b"<?xml version=\"1.0\"?><gpx encoding=\"x\"/>"), None);
        assert_eq!(declared_encoding(b"<gpx/>"), None);
        assert!(!meant_as_utf8(b"\xFF\xFE<\0g\0"));
        assert!(!meant_as_utf8(b"<?xml version=\"1.0\" encoding=\"windows-1252\"?>"));
        assert!(meant_as_utf8(b"<?xml version=\"1.0\" encoding=\"utf-8\"?>"));
    }

    #[test]
    fn an_empty_track_has_no_fixes() {
        let text = r#"<gpx version="1.1" creator="x"><trk><trkseg/></trk></gpx>"#;
        assert_eq!(parse(text).expect("readable"), Telemetry::default());
    }
}
