//! Which version of a policy judges which transit (issue 13, item 1): a
//! transit is judged by the versions in force when it opened, whatever is
//! published after; a scheduled version judges the transits opened from its
//! time; versions in force at one instant are refused naming both; an
//! `open-transits` version moves the transits still open, each in a replay
//! the audit log records; the timeline outlives a restart; and `escort
//! replay` lays a candidate over what judged each stored transit.
//!
//! The versions are the hostile policy (`tests/hostile`) behaving well, as
//! 6.6.6 and as 6.6.7: each report names the version whose findings it holds.

use std::fs;
use std::path::Path;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::Value;

use escort_tests::{
    HOSTILE_POLICY, HOSTILE_POLICY_V2, OFFICER, REGULATOR, Server, check, escort, hostile_bundle_of, opening_at, tar_of,
};

/// Far enough ahead of the clock for a transit opened a second from now to
/// send the fixes of its first hour.
const SETTINGS: [(&str, &str); 1] = [("max_fix_lead_seconds", "7200")];

fn text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Publishes the hostile policy's `component` (`version`) as a bundle whose
/// manifest carries `schedule`.
fn publish(server: &Server, component: &[u8], version: &str, schedule: &str) -> (u16, Value) {
    let dir = tempfile::tempdir().unwrap();
    let bundle = hostile_bundle_of(dir.path(), component, version, schedule);
    server.json("PUT", "/v1/policies/hostile", Some(REGULATOR), &tar_of(&bundle))
}

/// The clean run from Khorgos under `id`, moved to open at `opened_at`,
/// with its first `count` fixes.
fn opening(id: &str, opened_at: DateTime<Utc>, count: usize) -> (String, String) {
    opening_at("clean-khorgos-almaty", id, count, opened_at)
}

/// Registers a transit and sends its fixes.
fn open(server: &Server, id: &str, (declaration, ndjson): &(String, String)) {
    assert_eq!(server.put_transit(id, declaration).0, 201);
    let (status, answer) = server.post_fixes(id, ndjson);
    assert_eq!(status, 200, "{answer}");
}

/// The versions of the hostile policy whose findings `report` holds.
fn hostile_versions(report: &str) -> Vec<String> {
    let report: Value = serde_json::from_str(report).unwrap();
    let mut versions: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|finding| finding["policy"] == "hostile")
        .map(|finding| finding["policy_version"].as_str().unwrap().to_owned())
        .collect();
    versions.dedup();
    versions
}

fn report(server: &Server, id: &str, now: DateTime<Utc>) -> String {
    let (status, report) = server.report(id, Some(&text(now)));
    assert_eq!(status, 200, "{report}");
    report
}

fn versions(server: &Server) -> Vec<Value> {
    let (status, listing) = server.get_json("/v1/policies/hostile/versions", OFFICER);
    assert_eq!(status, 200, "{listing}");
    listing["versions"].as_array().unwrap().clone()
}

/// What `escort check` reports for a transit and fixes as of `now`, with
/// the default policies.
fn checked(dir: &Path, (declaration, ndjson): &(String, String), now: DateTime<Utc>) -> String {
    let transit = dir.join("transit.json");
    let fixes = dir.join("fixes.ndjson");
    fs::write(&transit, declaration).unwrap();
    fs::write(&fixes, ndjson).unwrap();
    check(&transit, &fixes, Some(&text(now)))
}

#[test]
fn a_transit_is_judged_by_the_versions_in_force_when_it_opened() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &SETTINGS);
    let start = Utc::now();

    // Under way before any version of the hostile policy.
    let opened_before = start - TimeDelta::hours(2);
    open(&server, "BEFORE", &opening("BEFORE", opened_before, 40));

    let (status, info) = publish(&server, HOSTILE_POLICY, "6.6.6", "");
    assert_eq!(status, 200, "{info}");
    let published = Utc::now();
    let listed = versions(&server);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["version"], "6.6.6");
    assert_eq!(listed[0]["published_by"], "test-regulator");
    assert_eq!(listed[0]["applies_to"], "new-transits");
    assert_eq!(listed[0]["in_force_until"], Value::Null);

    // An id that is none is refused as a publish refuses it, quoted short.
    let (status, refused) = server.get_json(&format!("/v1/policies/{}/versions", "A".repeat(5_000)), OFFICER);
    assert_eq!(status, 422, "{refused}");
    assert!(refused["error"].as_str().unwrap().len() < 200, "{refused}");
    let (status, refused) = server.get_json("/v1/policies/never_published/versions", OFFICER);
    assert_eq!(status, 404, "{refused}");

    // Opened after the publication: judged by it.
    let after = opening("AFTER", published + TimeDelta::seconds(1), 5);
    open(&server, "AFTER", &after);
    let now = published + TimeDelta::minutes(30);
    assert_eq!(hostile_versions(&report(&server, "AFTER", now)), ["6.6.6"]);

    // Opened before: exactly as it was, byte for byte the report of the
    // default policies, although its fixes keep coming.
    let before = opening("BEFORE", opened_before, 60);
    let rest: String = before.1.lines().skip(40).map(|line| format!("{line}\n")).collect();
    let (status, answer) = server.post_fixes("BEFORE", &rest);
    assert_eq!(status, 200, "{answer}");
    let as_of = start;
    assert_eq!(report(&server, "BEFORE", as_of), checked(dir.path(), &before, as_of));

    // Scheduled for tomorrow: it judges the transits opened from then on.
    let tomorrow = published + TimeDelta::days(1);
    let (status, info) = publish(
        &server,
        HOSTILE_POLICY_V2,
        "6.6.7",
        &format!("effective_from = {}", text(tomorrow)),
    );
    assert_eq!(status, 200, "{info}");
    let listed = versions(&server);
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0]["in_force_until"], text(tomorrow));
    assert_eq!(listed[1]["effective_from"], text(tomorrow));
    let eve = opening("EVE", tomorrow - TimeDelta::minutes(1), 1);
    assert_eq!(server.put_transit("EVE", &eve.0).0, 201);
    let day = opening("DAY", tomorrow + TimeDelta::minutes(1), 1);
    assert_eq!(server.put_transit("DAY", &day.0).0, 201);
    let later = tomorrow + TimeDelta::hours(1);
    assert_eq!(hostile_versions(&report(&server, "EVE", later)), ["6.6.6"]);
    assert_eq!(hostile_versions(&report(&server, "DAY", later)), ["6.6.7"]);

    // Refused, naming both versions: two from one instant, and one that
    // would judge transits opened before it was published.
    let (status, refused) = publish(
        &server,
        HOSTILE_POLICY,
        "6.6.6",
        &format!("effective_from = {}", text(tomorrow)),
    );
    assert_eq!(status, 422, "{refused}");
    let refused = refused["error"].as_str().unwrap();
    assert!(
        refused.contains(&format!(
            "two versions of `hostile` would come into force at {}",
            text(tomorrow)
        )) && refused.contains("`hostile` 6.6.7 (component ")
            && refused.contains("`hostile` 6.6.6 (component "),
        "{refused}"
    );
    let yesterday = published - TimeDelta::days(1);
    let (status, refused) = publish(
        &server,
        HOSTILE_POLICY,
        "6.6.6",
        &format!("effective_from = \"{}\"", text(yesterday)),
    );
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains(&format!(
            "its effective_from ({}) is before its publication",
            text(yesterday)
        )),
        "{refused}"
    );
    assert_eq!(versions(&server).len(), 2);

    // An emergency rule moves every transit still open, each in a replay.
    let (status, info) = publish(&server, HOSTILE_POLICY_V2, "6.6.7", "applies_to = \"open-transits\"");
    assert_eq!(status, 200, "{info}");
    let listed = versions(&server);
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert_eq!(listed[1]["applies_to"], "open-transits");
    assert_eq!(listed[0]["in_force_until"], listed[1]["effective_from"]);
    assert_eq!(listed[1]["in_force_until"], text(tomorrow));
    let (status, answer) = server.post_fixes("AFTER", &opening("AFTER", published + TimeDelta::seconds(1), 6).1);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(hostile_versions(&report(&server, "AFTER", now)), ["6.6.7"]);
    assert_eq!(hostile_versions(&report(&server, "BEFORE", as_of)), ["6.6.7"]);
    let db = rusqlite::Connection::open(server.data().join("escort.db")).unwrap();
    let publication: i64 = db
        .query_row(
            "SELECT seq FROM audit WHERE json_extract(record, '$.published') = 'hostile' \
             AND json_extract(record, '$.applies_to') = 'open-transits'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    let replays: i64 = db
        .query_row(
            "SELECT count(*) FROM audit WHERE seq > ?1 AND json_extract(record, '$.step') = 'replay' \
             AND json_extract(record, '$.transit') = 'AFTER'",
            [publication],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(replays, 1, "the move of AFTER is a replay of its own in the audit log");
    drop(db);
    let after_report = report(&server, "AFTER", now);

    // A restart keeps the whole timeline, and what it judged.
    let listed = versions(&server);
    server.stop();
    let server = Server::start_in(dir.path(), &SETTINGS);
    assert_eq!(versions(&server), listed);
    assert_eq!(report(&server, "AFTER", now), after_report);
    let next = opening("NEXT", Utc::now() + TimeDelta::seconds(1), 1);
    assert_eq!(server.put_transit("NEXT", &next.0).0, 201);
    assert_eq!(
        hostile_versions(&report(&server, "NEXT", now + TimeDelta::hours(1))),
        ["6.6.7"]
    );

    // A backtest lays its candidate over what judged each transit. 6.6.6
    // again changes nothing for the transits hostile judged (another
    // version alone is no change), and adds its findings to BEFORE, whose
    // stored states hostile never judged: the emergency moved it, but no
    // step of it has been stored since.
    let candidate = tempfile::tempdir().unwrap();
    hostile_bundle_of(candidate.path(), HOSTILE_POLICY, "6.6.6", "");
    let replayed = escort(&[
        "replay",
        "--policies",
        candidate.path().to_str().unwrap(),
        "--data",
        server.data().to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(
        replayed.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&replayed.stderr)
    );
    let replay: Value = serde_json::from_slice(&replayed.stdout).unwrap();
    let diffs = replay["diffs"].as_array().unwrap();
    assert_eq!(diffs.len(), 1, "{replay:#}");
    assert_eq!(diffs[0]["transit"], "BEFORE");
    let added = diffs[0]["added"].as_array().unwrap();
    assert!(
        !added.is_empty() && added.iter().all(|f| f["policy"] == "hostile"),
        "{replay:#}"
    );
    assert_eq!(diffs[0]["removed"], Value::Array(Vec::new()));
}
