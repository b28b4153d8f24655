//! What a gateway would send a service before an officer opens the page,
//! sent through the public HTTP API with the ingest token: the shipped
//! scenarios, a detour whose seal is cut on the way, one long transit and
//! many transits.

use std::fs;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use escort_tests::{Client, OFFICER, Scenario, Server, ndjson_line, scenario, scenarios, transit_as};
use serde_json::{Value, json};

/// A transit the service holds, as loaded.
pub struct Loaded {
    /// The scenario it came from.
    pub scenario: String,
    /// Its id.
    pub id: String,
    /// The declaration as sent.
    pub transit: Value,
}

/// Declares every shipped scenario's transit under its own id and sends
/// its fixes: the NDJSON file as it is (rejected lines and all), or the
/// fixes of a GPX or CSV file as NDJSON lines.
pub fn shipped(server: &Server) -> Vec<Loaded> {
    scenarios()
        .iter()
        .map(|dir| {
            let read = Scenario::read(dir);
            let transit: Value =
                serde_json::from_str(&fs::read_to_string(dir.join("transit.json")).expect("transit readable"))
                    .expect("transit is JSON");
            let id = transit["id"].as_str().expect("a transit id").to_owned();
            let (status, answer) = server.put_transit(&id, &transit.to_string());
            assert_eq!(status, 201, "{}: {answer}", read.name);
            let ndjson = fs::read_to_string(dir.join("fixes.ndjson"))
                .unwrap_or_else(|_| read.telemetry.fixes.iter().map(|fix| ndjson_line(fix) + "\n").collect());
            let (status, answer) = server.post_fixes(&id, &ndjson);
            assert_eq!(status, 200, "{}: {answer}", read.name);
            Loaded {
                scenario: read.name,
                id,
                transit,
            }
        })
        .collect()
}

/// `corridor-detour` as transit `id`, its seal reporting `cable_cut` over
/// a stretch of the road (fixes 40 % to 45 % of the way): a transit with a
/// corridor deviation and a seal breach, which no shipped scenario has at
/// once. Its report, checked to hold both.
pub fn breached_detour(server: &Server, id: &str) -> Value {
    let fixes: Vec<&str> = include_str!("../../scenarios/corridor-detour/fixes.ndjson")
        .lines()
        .collect();
    let cut = fixes.len() * 40 / 100..fixes.len() * 45 / 100;
    let ndjson: String = fixes
        .iter()
        .enumerate()
        .map(|(n, line)| {
            let mut fix: Value = serde_json::from_str(line).expect("a fix is JSON");
            if cut.contains(&n) {
                fix["seal"] = json!("cable_cut");
            }
            format!("{fix}\n")
        })
        .collect();
    let (status, answer) = server.put_transit(id, &transit_as("corridor-detour", id));
    assert_eq!(status, 201, "{answer}");
    let (status, answer) = server.post_fixes(id, &ndjson);
    assert_eq!(status, 200, "{answer}");
    let (status, report) = server.get_json(&format!("/v1/transits/{id}"), OFFICER);
    assert_eq!(status, 200, "{report}");
    for code in ["corridor.deviation", "seal.breach"] {
        assert!(
            report["findings"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|f| f["code"] == code),
            "the breached detour raises no {code}: {report}"
        );
    }
    report
}

/// A transit `id` of `clean-khorgos-almaty` with `count` fixes, one every
/// 15 s, ending a minute ago: the truck waits in the departure zone's
/// queue (as trucks do at Khorgos), wandering a few metres, then drives
/// the declared route at 60 km/h, its last fix at the destination.
pub fn long_transit(server: &Server, id: &str, count: usize) {
    let name = "clean-khorgos-almaty";
    let declared: Value =
        serde_json::from_str(&fs::read_to_string(scenario(name).join("transit.json")).expect("transit readable"))
            .expect("transit is JSON");
    let route: Vec<(f64, f64)> = declared["route"]["coordinates"]
        .as_array()
        .expect("a route")
        .iter()
        .map(|point| (point[1].as_f64().expect("lat"), point[0].as_f64().expect("lon")))
        .collect();
    let step_m = 60_000.0 / 3600.0 * 15.0;
    let along = points_along(&route, step_m);
    assert!(
        along.len() < count,
        "{count} fixes are too few to drive {name}'s route at 60 km/h"
    );
    let queue = count - along.len();
    let every = TimeDelta::seconds(15);
    let last = Utc::now() - TimeDelta::minutes(1);
    let first = last - every * (count as i32 - 1);
    let (start_lat, start_lon) = route[0];
    let mut ndjson = String::with_capacity(count * 120);
    for n in 0..count {
        let (lat, lon, speed_kmh) = if n < queue {
            let wobble = (n as f64 * 0.7).sin() * 0.0002;
            (start_lat + wobble, start_lon - wobble, 0.0)
        } else {
            let (lat, lon) = along[n - queue];
            (lat, lon, 60.0)
        };
        let line = json!({
            "at": (first + every * n as i32).to_rfc3339(),
            "lat": lat, "lon": lon, "speed_kmh": speed_kmh,
            "hdop": 0.9, "sats": 11, "seal": "intact", "battery": 95 - (n * 20 / count),
        });
        ndjson.push_str(&format!("{line}\n"));
    }
    let mut transit: Value = serde_json::from_str(&transit_as(name, id)).expect("transit is JSON");
    transit["opened_at"] = json!((first - TimeDelta::minutes(5)).to_rfc3339());
    transit["deadline"] = json!((last + TimeDelta::hours(24)).to_rfc3339());
    let (status, answer) = server.put_transit(id, &transit.to_string());
    assert_eq!(status, 201, "{answer}");
    let (status, answer) = server.post_fixes(id, &ndjson);
    assert_eq!(status, 200, "{answer}");
}

/// Points every `step_m` metres along `route` (lat, lon), by linear
/// interpolation on each leg in an equirectangular approximation, which
/// is close enough on legs of a few kilometres.
fn points_along(route: &[(f64, f64)], step_m: f64) -> Vec<(f64, f64)> {
    const EARTH_M: f64 = 6_371_000.0;
    let mut points = vec![route[0]];
    let mut carried_m = 0.0;
    for leg in route.windows(2) {
        let ((lat1, lon1), (lat2, lon2)) = (leg[0], leg[1]);
        let dy_m = (lat2 - lat1).to_radians() * EARTH_M;
        let dx_m = (lon2 - lon1).to_radians() * EARTH_M * lat1.to_radians().cos();
        let leg_m = dy_m.hypot(dx_m);
        let mut at_m = step_m - carried_m;
        while at_m <= leg_m {
            let t = at_m / leg_m;
            points.push((lat1 + (lat2 - lat1) * t, lon1 + (lon2 - lon1) * t));
            at_m += step_m;
        }
        carried_m = leg_m - (at_m - step_m);
    }
    points
}

/// Declares `count` transits `BULK-000001`… (copies of the shipped
/// scenarios' declarations, round robin, so that the board has every
/// verdict), from `threads` threads; how long it took.
pub fn many_transits(server: &Server, count: usize, threads: usize) -> Duration {
    let templates: Vec<Value> = scenarios()
        .iter()
        .map(|dir| {
            serde_json::from_str(&fs::read_to_string(dir.join("transit.json")).expect("readable")).expect("JSON")
        })
        .collect();
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let client = Client::new(&server.url);
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= count {
                        break;
                    }
                    let id = format!("BULK-{n:06}");
                    let mut transit = templates[n % templates.len()].clone();
                    transit["id"] = json!(id);
                    let (status, answer) = client.request(
                        "PUT",
                        &format!("/v1/transits/{id}"),
                        Some(escort_tests::INGEST),
                        transit.to_string().as_bytes(),
                    );
                    assert_eq!(status, 201, "{id}: {answer}");
                }
            });
        }
    });
    started.elapsed()
}

/// The moment an RFC 3339 time names.
pub fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text:?} is not RFC 3339: {e}"))
        .to_utc()
}
