//! The text report a customs officer prints for one transit: its case file.
//!
//! [`render`] takes the transit as declared, its [`Report`], the
//! deployment's time zone and a [`Gazetteer`], and returns the text that
//! `escort check --format text`, `GET /v1/transits/{id}?format=text` and the
//! officers' page all print, so the three never differ. It holds:
//!
//! - a header: the transit and declaration numbers, vehicle, seal, importer,
//!   route (departure → destination, with its length), opening, deadline and
//!   evaluation times;
//! - the verdict line, counting the findings by severity, those still going
//!   on, and the refused lines;
//! - the findings, most severe first (critical, violation, warning, info),
//!   then by start: each with its start, end and duration in the local time
//!   beside UTC, whether it is still going on, where it happened as
//!   kilometres along the declared route (and off it) and the nearest named
//!   place, and its message beneath;
//! - the refused lines, in line order.
//!
//! Columns are measured from their content (`table.rs`), so a long code or
//! place name widens its column rather than breaking the alignment, and a
//! message, of any length, has a line of its own under its finding.
//!
//! # Bounds
//! The report prints what it is given, and every input is bounded before it
//! gets here: the declaration's texts to 256 bytes and its route to 100,000
//! positions by the transit's parser, the findings' codes, messages and
//! evidence by the contract (`escort_engine::contract`), the gazetteer to
//! [`gazetteer::MAX_PLACES`]. A message of several lines is printed as it
//! is, each line under its finding; a finding without a position shows no
//! place and no kilometres; a transit without a route (fewer than two
//! positions) shows no kilometres. The route is indexed once per report and
//! each positioned finding costs one search of it and one scan of the
//! gazetteer.
//!
//! # Examples
//! ```
//! use chrono::{TimeZone, Utc};
//! use escort_casefile::{Gazetteer, render};
//! use escort_engine::{FixCounts, Report, Transit, Verdict};
//!
//! let transit = Transit::from_json(r#"{
//!     "id": "KZ-2025-000001", "seal_id": "NS-1", "vehicle": "123ABC02",
//!     "importer": {"bin": "990240000111", "name": "Alatau Trade LLP", "zone": "green"},
//!     "goods": [],
//!     "departure": {"id": "NUR-ZHOLY", "name": "Nur Zholy", "lat": 44.158, "lon": 80.399, "radius_m": 2000},
//!     "destination": {"id": "ALMATY-TC", "name": "Almaty terminal", "lat": 43.3, "lon": 76.95, "radius_m": 1500},
//!     "opened_at": "2025-04-08T02:00:00Z"
//! }"#)?;
//! let report = Report {
//!     transit: transit.id.clone(),
//!     verdict: Verdict::Clear,
//!     evaluated_at: Utc.with_ymd_and_hms(2025, 4, 8, 8, 0, 0).unwrap(),
//!     fixes: FixCounts { accepted: 0, rejected: 0, duplicates: 0 },
//!     findings: Vec::new(),
//!     rejected: Vec::new(),
//! };
//! let text = render(&transit, &report, chrono_tz::Asia::Almaty, Gazetteer::kazakhstan());
//! assert!(text.contains("route        Nur Zholy → Almaty terminal"));
//! assert!(text.contains("CLEAR: no findings; 0 fixes accepted, 0 lines refused, 0 duplicates"));
//! # Ok::<(), escort_engine::TransitError>(())
//! ```
#![deny(missing_docs)]

pub mod gazetteer;
mod table;
mod times;

use std::fmt::Write;

use chrono_tz::Tz;
use escort_engine::geodesy::RouteIndex;
use escort_engine::{EvidenceValue, Finding, FindingStatus, Report, Severity, Transit};

pub use gazetteer::{Gazetteer, GazetteerError, NearestPlace};

use table::{Align, Table};
use times::{duration, local_beside_utc};

/// The case file of `transit` from its `report`, with times in `zone`
/// beside UTC and places named from `places`. See the crate's
/// documentation for what it holds and what bounds it.
pub fn render(transit: &Transit, report: &Report, zone: Tz, places: &Gazetteer) -> String {
    let route = RouteIndex::new(&transit.route);
    let has_route = transit.route.len() >= 2;
    let mut text = String::new();
    write_header(&mut text, transit, report, zone, has_route.then(|| route.length_m()));
    text.push('\n');
    let _ = writeln!(text, "{}", verdict_line(report));
    if !report.findings.is_empty() {
        let _ = writeln!(text, "\nFindings, most severe first:");
        text.push_str(&findings_table(report, zone, places, has_route.then_some(&route)).render());
    }
    if !report.rejected.is_empty() {
        let _ = writeln!(text, "\nRefused lines:");
        for rejection in &report.rejected {
            let _ = writeln!(text, "  line {}: {}", rejection.line, rejection.reason);
        }
    }
    text
}

/// What the transit is: the lines an officer checks against the papers.
fn write_header(text: &mut String, transit: &Transit, report: &Report, zone: Tz, route_length_m: Option<f64>) {
    let declared = |value: &Option<String>| value.clone().unwrap_or_else(|| "not declared".to_owned());
    let route = match route_length_m {
        Some(length_m) => format!(", {:.1} km declared", length_m / 1000.0),
        None => ", no route declared".to_owned(),
    };
    let mut lines = vec![
        ("declaration", declared(&transit.declaration)),
        ("vehicle", declared(&transit.vehicle)),
        ("seal", declared(&transit.seal_id)),
        (
            "importer",
            format!("{}, BIN {}", transit.importer.name, transit.importer.bin),
        ),
    ];
    if let Some(carrier) = &transit.carrier {
        lines.push(("carrier", format!("{}, BIN {}", carrier.name, carrier.bin)));
    }
    lines.extend([
        (
            "route",
            format!("{} → {}{route}", transit.departure.name, transit.destination.name),
        ),
        ("opened", local_beside_utc(&transit.opened_at, zone)),
        (
            "deadline",
            transit
                .deadline
                .map_or_else(|| "none declared".to_owned(), |at| local_beside_utc(&at, zone)),
        ),
        ("evaluated", local_beside_utc(&report.evaluated_at, zone)),
        ("time zone", zone.name().to_owned()),
    ]);
    let _ = writeln!(text, "Transit {}", transit.id);
    for (name, value) in lines {
        let _ = writeln!(text, "  {name:<11}  {value}");
    }
}

/// The verdict, what it rests on, and what was refused.
fn verdict_line(report: &Report) -> String {
    let counts: Vec<String> = Severity::ALL
        .iter()
        .rev()
        .filter_map(|severity| {
            let count = report.findings.iter().filter(|f| f.severity == *severity).count();
            (count > 0).then(|| format!("{count} {}", severity.as_str()))
        })
        .collect();
    let open = report
        .findings
        .iter()
        .filter(|f| f.status == FindingStatus::Open)
        .count();
    let findings = match report.findings.len() {
        0 => "no findings".to_owned(),
        1 => format!("1 finding ({})", counts.join(", ")),
        count => format!("{count} findings ({})", counts.join(", ")),
    };
    let open = if open > 0 {
        format!(", {open} still going on")
    } else {
        String::new()
    };
    let lines = match report.fixes.rejected {
        1 => "line",
        _ => "lines",
    };
    format!(
        "{}: {findings}{open}; {} fixes accepted, {} {lines} refused, {} duplicates",
        report.verdict.as_str().to_uppercase(),
        report.fixes.accepted,
        report.fixes.rejected,
        report.fixes.duplicates,
    )
}

/// The findings, most severe first, each with its message and list
/// evidence beneath it.
fn findings_table(report: &Report, zone: Tz, places: &Gazetteer, route: Option<&RouteIndex>) -> Table {
    let mut findings: Vec<&Finding> = report.findings.iter().collect();
    // Stable: findings of one severity and start keep the report's order.
    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.from.cmp(&b.from)));
    let mut table = Table::new(&[
        ("severity", Align::Left),
        ("code", Align::Left),
        ("status", Align::Left),
        ("from", Align::Left),
        ("to", Align::Left),
        ("duration", Align::Right),
        ("route km", Align::Right),
        ("off route km", Align::Right),
        ("nearest place", Align::Left),
    ]);
    for finding in findings {
        let position = finding.lat.zip(finding.lon);
        let (along, off) = match (position, route) {
            (Some((lat, lon)), Some(route)) => {
                let at = route.locate(lat, lon);
                (kilometres(at.progress_m), kilometres(at.offset_m))
            }
            _ => (String::new(), String::new()),
        };
        let place = position
            .and_then(|(lat, lon)| places.nearest(lat, lon))
            .map(|place| {
                format!(
                    "{} km {} of {}",
                    kilometres(place.distance_m),
                    place.direction(),
                    place.name
                )
            })
            .unwrap_or_default();
        // An officer acts differently on an episode still under way: its
        // end is only the latest time it was seen.
        let status = match finding.status {
            FindingStatus::Open => "GOING ON",
            FindingStatus::Final => "ended",
        };
        table.row(vec![
            finding.severity.as_str().to_owned(),
            finding.code.clone(),
            status.to_owned(),
            local_beside_utc(&finding.from, zone),
            local_beside_utc(&finding.to, zone),
            duration(&finding.from, &finding.to),
            along,
            off,
            place,
        ]);
        for line in finding.message.lines() {
            table.note(line.to_owned());
        }
        for (name, value) in &finding.evidence {
            if let EvidenceValue::Texts(values) = value {
                for value in values {
                    table.note(format!("  {name}: {value}"));
                }
            }
        }
    }
    table
}

/// Metres as kilometres to a tenth, as a road sign gives them.
fn kilometres(metres: f64) -> String {
    format!("{:.1}", metres / 1000.0)
}
