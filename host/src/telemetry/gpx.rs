//! Reads GPX 1.0 and 1.1 tracks: every `<trkpt>` of every `<trkseg>` of every `<trk>`, in file order.
//!
//! This walks the XML with `xml-rs` (the parser underneath the `gpx` crate) instead of using the `gpx`
//! crate itself, because `gpx` 0.10 reads a document all or nothing and refuses whole files that
//! ordinary receivers write: a GPX 1.0 `<course>` (Garmin units, GPSBabel), a `<magvar>`, a `<speed>` in
//! a GPX 1.1 file, a single point with a latitude beyond ±90 or a longitude of exactly 180. SPEC 1.2
//! wants such a point rejected with its line number and every other point evaluated, and `gpx` keeps
//! no line numbers.
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

use chrono::{DateTime, NaiveDateTime, Utc};
use xml::attribute::OwnedAttribute;
use xml::common::Position;
use xml::reader::{EventReader, ParserConfig, XmlEvent};

use super::{Collector, Draft, TelemetryError, number, whole};
use crate::fix::Fix;

/// Metres per second to kilometres per hour.
const KMH_PER_MS: f64 = 3.6;

pub(super) fn read(bytes: &[u8], out: &mut Collector) -> Result<(), TelemetryError> {
    let mut reader = EventReader::new_with_config(bytes, ParserConfig::new().cdata_to_characters(true));
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
                    reason: format!("not XML: {err}"),
                });
            }
            Err(err) => {
                // A logger that lost power leaves a truncated file: keep the points before the break.
                let line = err.position().row + 1;
                out.reject(
                    line,
                    format!("the XML breaks off here ({err}); nothing after it is read"),
                );
                return Ok(());
            }
        };
        match event {
            XmlEvent::StartElement { name, attributes, .. } => {
                if !root_seen {
                    if name.local_name != "gpx" {
                        let reason = format!("the root element is <{}>, not <gpx>", name.local_name);
                        return Err(TelemetryError::NotGpx { reason });
                    }
                    root_seen = true;
                }
                if name.local_name == "trkpt" && point.is_none() && open.last().is_some_and(|parent| parent == "trkseg")
                {
                    point = Some(Point::open(reader.position().row + 1, open.len(), &attributes));
                }
                open.push(name.local_name);
                text.clear();
            }
            XmlEvent::Characters(characters) => text.push_str(&characters),
            XmlEvent::EndElement { .. } => {
                let name = open.pop().unwrap_or_default();
                if let Some(current) = point.as_mut() {
                    if open.len() == current.depth {
                        if let Some(done) = point.take() {
                            out.offer(done.line, done.finish());
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
    fn open(line: u64, depth: usize, attributes: &[OwnedAttribute]) -> Point {
        let attribute = |name: &str| {
            attributes
                .iter()
                .find(|attribute| attribute.name.local_name == name)
                .map(|attribute| attribute.value.clone())
        };
        Point {
            line,
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

/// An xsd:dateTime as GPX uses it: with an offset, or without one and then in UTC by definition.
fn utc_time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.to_utc());
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .map(|time| time.and_utc())
        .map_err(|_| format!("`time`: {text:?} is not an ISO 8601 time"))
}

/// GPX 1.0 and 1.1 files as receivers write them, broken points, and files that are not GPX.
#[cfg(test)]
mod tests {
    use super::super::tests::time;
    use super::super::{Format, Rejection, Telemetry, TelemetryError};
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

    #[test]
    fn an_empty_track_has_no_fixes() {
        let text = r#"<gpx version="1.1" creator="x"><trk><trkseg/></trk></gpx>"#;
        assert_eq!(parse(text).expect("readable"), Telemetry::default());
    }
}
