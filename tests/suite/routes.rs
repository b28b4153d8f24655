//! Routes the default policies must measure right wherever they run and
//! however far a spoofed fix lands from them, through the real components
//! and `check`. The geometry itself is tested in `escort_host::geodesy`;
//! here it is what an officer would see in a report (issue 10, items 4
//! and 12).

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use escort_host::{EvidenceValue, Finding, Fix, Format, Report, SealState, Telemetry, Transit, check};
use serde_json::json;

use escort_tests::builtin;

/// A transit from `from` to `to` (each `(lat, lon)`) along `route`
/// (`[lon, lat]` pairs), opened at `opened_at`, with a day to arrive.
fn transit(route: &[[f64; 2]], from: (f64, f64), to: (f64, f64), opened_at: DateTime<Utc>) -> Transit {
    let document = json!({
        "id": "ROUTES-1",
        "seal_id": "NS-1",
        "importer": {"bin": "990240000111", "name": "Test Import LLP", "zone": "green"},
        "goods": [{"hs": "847130", "description": "portable computers", "value_usd": 1000, "excise": false}],
        "departure": {"id": "FROM", "lat": from.0, "lon": from.1, "radius_m": 2000},
        "destination": {"id": "TO", "lat": to.0, "lon": to.1, "radius_m": 2000},
        "route": {"type": "LineString", "coordinates": route},
        "opened_at": opened_at.to_rfc3339(),
        "deadline": (opened_at + Duration::days(1)).to_rfc3339(),
    });
    Transit::from_json(&document.to_string()).expect("a well-formed transit")
}

/// The fixes as NDJSON, read as `escort check` reads a file.
fn telemetry(fixes: &[Fix]) -> Telemetry {
    let lines: Vec<String> = fixes
        .iter()
        .map(|fix| {
            json!({
                "at": fix.at.to_rfc3339(),
                "lat": fix.lat,
                "lon": fix.lon,
                "speed_kmh": fix.speed_kmh,
                "seal": "intact",
                "battery": 90,
            })
            .to_string()
        })
        .collect();
    Telemetry::parse(Format::Ndjson, lines.join("\n").as_bytes()).expect("NDJSON")
}

fn fix(at: DateTime<Utc>, lat: f64, lon: f64) -> Fix {
    Fix {
        speed_kmh: Some(60.0),
        battery_pct: Some(90.0),
        seal: Some(SealState::Intact),
        ..Fix::at_position(at, lat, lon)
    }
}

fn deviations(report: &Report) -> Vec<&Finding> {
    report
        .findings
        .iter()
        .filter(|f| f.code == "corridor.deviation")
        .collect()
}

fn max_offset_m(finding: &Finding) -> f64 {
    match finding.evidence.get("max_offset_m") {
        Some(EvidenceValue::Text(metres)) => metres.parse().expect("a number of metres"),
        other => panic!("no max_offset_m: {other:?}"),
    }
}

/// Issue 10, item 12: along the 65th parallel in Chukotka, from 178° E to
/// 178° W across the antimeridian. The route index drew the segment the long
/// way round the Earth, so an honest drive across the seam left "the route"
/// and a spoofed position 5,600 km away (over the pole) sat on it.
#[test]
fn a_route_across_the_antimeridian_is_measured_the_short_way() {
    let opened_at = DateTime::parse_from_rfc3339("2024-02-01T06:00:00Z")
        .expect("a time")
        .to_utc();
    let transit = transit(
        &[[178.0, 65.0], [-178.0, 65.0]],
        (65.0, 178.0),
        (65.0, -178.0),
        opened_at,
    );
    // Four degrees of longitude at 65° N: about 188 km, a fix every two
    // minutes at 60 km/h, the longitude wrapping from 180 to -180 midway.
    let drive: Vec<Fix> = (0..=94)
        .map(|step| {
            let east = 178.0 + 4.0 * f64::from(step) / 94.0;
            let lon = if east > 180.0 { east - 360.0 } else { east };
            fix(opened_at + Duration::minutes(2 * i64::from(step)), 65.0, lon)
        })
        .collect();
    let now = drive.last().expect("fixes").at;
    let honest = check(builtin(), &transit, &telemetry(&drive), Some(now)).expect("evaluates");
    assert_eq!(deviations(&honest), Vec::<&Finding>::new(), "{honest:#?}");
    assert!(honest.findings.iter().any(|f| f.code == "transit.arrived"));

    // The same drive with ten fixes in the middle spoofed to the prime
    // meridian.
    let mut spoofed = drive.clone();
    for fix in &mut spoofed[40..50] {
        fix.lon = 0.0;
    }
    let report = check(builtin(), &transit, &telemetry(&spoofed), Some(now)).expect("evaluates");
    let found = deviations(&report);
    assert_eq!(found.len(), 1, "{report:#?}");
    assert_eq!(found[0].severity, escort_host::Severity::Violation);
    let offset_m = max_offset_m(found[0]);
    assert!((5_500_000.0..5_600_000.0).contains(&offset_m), "{offset_m}");
}

/// Issue 10, item 4: a spoofed track 100 km beside a long route made the
/// corridor check walk the whole route index for every fix (27 s for 10,000
/// fixes on a 20,000-point route). The answer must be one excursion of
/// about 100 km; the time is printed, and measured in `escort bench`.
#[test]
fn a_track_far_beside_a_long_route_is_one_excursion() {
    let opened_at = DateTime::parse_from_rfc3339("2024-02-01T06:00:00Z")
        .expect("a time")
        .to_utc();
    // 100,000 points along the 43rd parallel from 60° E to 80° E, 16 m
    // apart, and the truck a degree north of it (111 km).
    let points = 100_000;
    let route: Vec<[f64; 2]> = (0..points)
        .map(|i| [60.0 + 20.0 * f64::from(i) / f64::from(points - 1), 43.0])
        .collect();
    let transit = transit(&route, (43.0, 60.0), (43.0, 80.0), opened_at);
    let track: Vec<Fix> = (0..10_000)
        .map(|i| {
            fix(
                opened_at + Duration::seconds(6 * i64::from(i)),
                44.0,
                60.0 + 20.0 * f64::from(i) / 10_000.0,
            )
        })
        .collect();
    let now = track.last().expect("fixes").at;
    let telemetry = telemetry(&track);
    let started = Instant::now();
    let report = check(builtin(), &transit, &telemetry, Some(now)).expect("evaluates");
    println!(
        "10,000 fixes 111 km beside a 100,000-point route: {:?}",
        started.elapsed()
    );
    let found = deviations(&report);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!((110_000.0..112_000.0).contains(&max_offset_m(found[0])));
}
