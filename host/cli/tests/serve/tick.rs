//! The tick: open transits are evaluated for the passing of time, so signal
//! loss and overdue arrival appear without a new fix.

use std::fs;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use escort_tests::{OFFICER, Server, audit_verify, eventually, metric, moved, scenario, transit_as};

#[test]
fn the_tick_raises_signal_loss_and_overdue_arrival_on_its_own() {
    let server = Server::start(&[("tick_seconds", "1")]);
    // A transit that opened four hours ago, was due half an hour ago, and
    // whose seal went silent near the departure.
    let mut transit: Value = serde_json::from_str(&transit_as("clean-khorgos-almaty", "TICK-1")).unwrap();
    let opened_at: DateTime<Utc> = transit["opened_at"].as_str().unwrap().parse().unwrap();
    let now = Utc::now();
    let shift = now - Duration::hours(4) - opened_at;
    transit["opened_at"] = Value::String((opened_at + shift).to_rfc3339());
    transit["deadline"] = Value::String((now - Duration::minutes(30)).to_rfc3339());
    assert_eq!(server.put_transit("TICK-1", &transit.to_string()).0, 201);
    let fixes: String = fs::read_to_string(scenario("clean-khorgos-almaty").join("fixes.ndjson"))
        .unwrap()
        .lines()
        .take(10)
        .map(|line| {
            let mut fix: Value = serde_json::from_str(line).unwrap();
            let at: DateTime<Utc> = fix["at"].as_str().unwrap().parse().unwrap();
            fix["at"] = Value::String((at + shift).to_rfc3339());
            format!("{fix}\n")
        })
        .collect();
    let (status, outcome) = server.post_fixes("TICK-1", &fixes);
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["verdict"], "clear", "nothing is wrong as of the last fix");

    eventually("a tick finds the transit in violation", || {
        let (_, list) = server.get_json("/v1/transits?verdict=violation", OFFICER);
        list["transits"].as_array().unwrap().iter().any(|t| t["id"] == "TICK-1")
    });
    let (_, report) = server.report("TICK-1", None);
    let report: Value = serde_json::from_str(&report).unwrap();
    let codes: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"signal.lost"), "{codes:?}");
    assert!(codes.contains(&"transit.overdue"), "{codes:?}");
}

/// How many audit records the server's chain holds, as `escort audit
/// verify` counts them.
fn audit_records(server: &Server) -> u64 {
    let (status, out) = audit_verify(&server.data());
    assert_eq!(status, Some(0), "{out}");
    out.split_whitespace()
        .zip(out.split_whitespace().skip(1))
        .find_map(|(count, word)| word.starts_with("records").then(|| count.parse().ok()).flatten())
        .unwrap_or_else(|| panic!("no record count in {out:?}"))
}

/// The value of a `GET /metrics` series, 0 when absent.
fn metric_of(server: &Server, series: &str) -> f64 {
    let (_, metrics) = server.request("GET", "/metrics", None, b"");
    metric(&metrics, series).unwrap_or(0.0)
}

/// The transit's open `signal.lost` in its report as of the clock.
fn signal_lost(server: &Server, id: &str) -> Value {
    let (status, report) = server.report(id, None);
    assert_eq!(status, 200, "{report}");
    let report: Value = serde_json::from_str(&report).unwrap();
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "signal.lost")
        .unwrap_or_else(|| panic!("no signal.lost: {report}"))
        .clone()
}

/// Issue 11, item 6: a silent transit's open `signal.lost` runs on at every
/// tick (its `to`, the minutes in its message), which stored the transit,
/// its audit records and all, at every tick, forever. A tick now stores
/// what changed in substance only: the episode opening, not its running
/// on, while the report, evaluated as of the clock, still shows it grow.
#[test]
fn a_silent_transit_is_stored_when_its_signal_loss_opens_not_at_every_tick() {
    let server = Server::start(&[("tick_seconds", "1")]);
    // Silent for just over 20 minutes: the first tick opens signal.lost.
    let (transit, fixes) = moved(
        "clean-khorgos-almaty",
        "SILENT-1",
        10,
        Utc::now() - Duration::seconds(20 * 60 + 5),
    );
    assert_eq!(server.put_transit("SILENT-1", &transit).0, 201);
    let (status, outcome) = server.post_fixes("SILENT-1", &fixes);
    assert_eq!((status, &outcome["verdict"]), (200, &Value::from("clear")), "{outcome}");

    eventually("a tick opens SILENT-1's signal.lost", || {
        let (_, list) = server.get_json("/v1/transits", OFFICER);
        list["transits"][0]["verdict"] == "review"
    });
    let stored_ticks = metric_of(&server, "escort_evaluations_total{kind=\"tick\"}");
    let records = audit_records(&server);
    let first = signal_lost(&server, "SILENT-1");
    assert_eq!(first["severity"], "warning", "{first}");

    // Three more ticks evaluate it (stored or not).
    let evaluated = || {
        ["changed", "unchanged"]
            .map(|outcome| metric_of(&server, &format!("escort_tick_transits_total{{outcome=\"{outcome}\"}}")))
            .iter()
            .sum::<f64>()
    };
    let before = evaluated();
    eventually("three more ticks evaluate SILENT-1", || evaluated() >= before + 3.0);
    let later = signal_lost(&server, "SILENT-1");
    eprintln!(
        "{stored_ticks} tick steps and {records} audit records stored; then {} and {}; signal.lost {} → {}",
        metric_of(&server, "escort_evaluations_total{kind=\"tick\"}"),
        audit_records(&server),
        first["message"],
        later["message"]
    );
    assert_eq!(
        metric_of(&server, "escort_evaluations_total{kind=\"tick\"}"),
        stored_ticks,
        "no tick stored the transit once its signal.lost had opened"
    );
    assert_eq!(audit_records(&server), records, "its audit records stopped growing");
    // The episode, as reported, still grows with the clock.
    assert_eq!(later["from"], first["from"]);
    let to = |finding: &Value| finding["to"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap();
    assert!(to(&later) > to(&first), "{first} then {later}");
    assert_eq!(later["severity"], "warning");
}
