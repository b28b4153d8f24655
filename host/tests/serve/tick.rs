//! The tick: open transits are evaluated for the passing of time, so signal
//! loss and overdue arrival appear without a new fix.

use std::fs;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::support::{OFFICER, Server, eventually, scenario, transit_as};

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
