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
    HOSTILE_POLICY, HOSTILE_POLICY_V2, OFFICER, REGULATOR, Server, check, escort, eventually, hostile_bundle_of,
    opening_at, tar_of,
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
    until_in_force(&server);
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

/// Waits until every version of the hostile policy published "from now"
/// is in force: a publication takes effect at the next whole second (the
/// one after, for a second publication within one second).
fn until_in_force(server: &Server) {
    let soon = Utc::now() + TimeDelta::seconds(5);
    let latest = versions(server)
        .iter()
        .filter_map(|version| version["effective_from"].as_str()?.parse::<DateTime<Utc>>().ok())
        .filter(|from| *from <= soon)
        .max();
    if let Some(wait) = latest.and_then(|latest| (latest - Utc::now() + TimeDelta::milliseconds(50)).to_std().ok()) {
        std::thread::sleep(wait);
    }
}

/// Promotes (`promote`) or rolls back (`rollback`) the hostile policy.
fn reinstate(server: &Server, change: &str, body: &str) -> (u16, Value) {
    server.json(
        "POST",
        &format!("/v1/policies/hostile/{change}"),
        Some(REGULATOR),
        body.as_bytes(),
    )
}

/// The hostile policy's shadow report.
fn shadow_report(server: &Server) -> Value {
    let (status, report) = server.get_json("/v1/policies/hostile/shadow", OFFICER);
    assert_eq!(status, 200, "{report}");
    report
}

/// The publication records of the hostile policy that `change` made.
fn records_of(server: &Server, change: &str) -> Vec<Value> {
    let db = rusqlite::Connection::open(server.data().join("escort.db")).unwrap();
    let mut statement = db
        .prepare(
            "SELECT record FROM audit WHERE json_extract(record, '$.published') = 'hostile' \
             AND json_extract(record, '$.change') = ?1 ORDER BY seq",
        )
        .unwrap();
    statement
        .query_map([change], |row| row.get::<_, String>(0))
        .unwrap()
        .map(|record| serde_json::from_str(&record.unwrap()).unwrap())
        .collect()
}

#[test]
fn a_shadow_version_decides_nothing_until_it_is_promoted_and_a_rollback_restores_the_version_before() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &SETTINGS);

    // Under way before any version of hostile: the default set judges it.
    let opened_before = Utc::now() - TimeDelta::hours(2);
    open(&server, "UNJUDGED", &opening("UNJUDGED", opened_before, 30));
    let (status, info) = publish(&server, HOSTILE_POLICY, "6.6.6", "");
    assert_eq!(status, 200, "{info}");
    let enforced_from = Utc::now();
    let enforced = opening("ENFORCED", enforced_from + TimeDelta::seconds(1), 60);
    assert_eq!(server.put_transit("ENFORCED", &enforced.0).0, 201);

    // 6.6.7 in shadow, asked for at publication (its manifest says nothing).
    let bundle_dir = tempfile::tempdir().unwrap();
    let bundle = hostile_bundle_of(bundle_dir.path(), HOSTILE_POLICY_V2, "6.6.7", "");
    let (status, info) = server.json(
        "PUT",
        "/v1/policies/hostile?mode=shadow",
        Some(REGULATOR),
        &tar_of(&bundle),
    );
    assert_eq!(status, 200, "{info}");
    until_in_force(&server);
    let listed = versions(&server);
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(
        (&listed[1]["mode"], &listed[1]["version"]),
        (&Value::from("shadow"), &Value::from("6.6.7"))
    );
    let shadow_seq = listed[1]["seq"].as_i64().unwrap();
    // No report without a shadow version; no mode but the two.
    let (status, refused) = server.get_json("/v1/policies/speed/shadow", OFFICER);
    assert_eq!(status, 404, "{refused}");
    let (status, refused) = server.json(
        "PUT",
        &format!("/v1/policies/hostile?mode={}", "x".repeat(5_000)),
        Some(REGULATOR),
        &tar_of(&bundle),
    );
    assert_eq!(status, 400, "{refused}");
    assert!(refused["error"].as_str().unwrap().len() < 200, "{refused}");
    // A bundle in the live folder that says it is a shadow is refused:
    // the folder holds what is enforced.
    let manifest = server.data().join("policies/hostile/policy.toml");
    let enforced_manifest = fs::read_to_string(&manifest).unwrap();
    // Edited in place: the poll looks below the live folder too.
    let save = |text: &str| fs::write(&manifest, text).unwrap();
    save(&enforced_manifest.replace("[params]", "mode = \"shadow\"\n[params]"));
    eventually("the folder is refused", || {
        let (_, listing) = server.get_json("/v1/policies", OFFICER);
        listing["last_reload_error"]
            .as_str()
            .is_some_and(|reason| reason.contains("mode = \"shadow\"; the live folder holds enforced policies only"))
    });
    save(&enforced_manifest);
    eventually("the folder serves again", || {
        let (_, listing) = server.get_json("/v1/policies", OFFICER);
        listing["last_reload_error"].is_null()
    });
    assert_eq!(versions(&server).len(), 2, "a refused folder adds no version");
    assert_eq!(versions(&server).len(), 2, "a refused folder adds no version");
    let (status, listing) = server.get_json("/v1/policies", OFFICER);
    assert_eq!(status, 200, "{listing}");
    let hostile = |list: &Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .filter(|p| p["id"] == "hostile")
            .map(|p| p["version"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(hostile(&listing["policies"]), ["6.6.6"]);
    assert_eq!(hostile(&listing["shadows"]), ["6.6.7"]);

    // It runs on live traffic, and reaches no report, verdict or list.
    let unjudged = opening("UNJUDGED", opened_before, 60);
    let rest: String = unjudged.1.lines().skip(30).map(|line| format!("{line}\n")).collect();
    assert_eq!(server.post_fixes("UNJUDGED", &rest).0, 200);
    // All in one batch: the hostile policy says it is alive once per call,
    // so its findings depend on how fixes are split into calls, which the
    // shadow could not follow before it ran.
    assert_eq!(server.post_fixes("ENFORCED", &enforced.1).0, 200);
    let as_of = Utc::now() + TimeDelta::hours(3);
    let unjudged_report = report(&server, "UNJUDGED", as_of);
    assert_eq!(unjudged_report, checked(dir.path(), &unjudged, as_of));
    assert_eq!(hostile_versions(&report(&server, "ENFORCED", as_of)), ["6.6.6"]);
    let (status, list) = server.get_json("/v1/transits", OFFICER);
    assert_eq!(status, 200, "{list}");
    let listed = list["transits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "UNJUDGED")
        .unwrap();
    let (transit, fixes) = (dir.path().join("unjudged.json"), dir.path().join("unjudged.ndjson"));
    fs::write(&transit, &unjudged.0).unwrap();
    fs::write(&fixes, &unjudged.1).unwrap();
    let stored: Value = serde_json::from_str(&check(&transit, &fixes, listed["evaluated_at"].as_str())).unwrap();
    assert_eq!(listed["verdict"], stored["verdict"], "{listed}");
    let report_value: Value = serde_json::from_str(&unjudged_report).unwrap();
    // Beside the report on request: the shadow's own findings.
    let (status, mut beside) = server.get_json(
        &format!("/v1/transits/UNJUDGED?shadow=true&now={}", text(as_of)),
        OFFICER,
    );
    assert_eq!(status, 200, "{beside}");
    let shadow = beside["shadow"].as_array().unwrap();
    assert_eq!(shadow.len(), 1, "{beside:#}");
    assert_eq!(shadow[0]["seq"], shadow_seq);
    assert!(
        !shadow[0]["findings"].as_array().unwrap().is_empty()
            && shadow[0]["findings"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["policy_version"] == "6.6.7"),
        "{beside:#}"
    );
    beside.as_object_mut().unwrap().remove("shadow");
    assert_eq!(
        beside, report_value,
        "the report beside the shadow's findings is the report"
    );

    // Where it disagrees: on the transit hostile does not judge, it adds
    // every finding it makes; on the one 6.6.6 judges, another version
    // with the same findings is no disagreement.
    let disagreement = shadow_report(&server);
    assert_eq!(disagreement["shadow"]["seq"], shadow_seq);
    assert_eq!(disagreement["transits"], 2, "{disagreement:#}");
    let diffs = disagreement["diffs"].as_array().unwrap();
    assert_eq!(diffs.len(), 1, "{disagreement:#}");
    assert_eq!(diffs[0]["transit"], "UNJUDGED");
    let added = diffs[0]["added"].as_array().unwrap().len() as u64;
    assert!(added > 0, "{disagreement:#}");
    assert_eq!(diffs[0]["removed"], Value::Array(Vec::new()));
    assert_eq!(disagreement["by_code"]["hostile.alive"]["added"], added);
    assert_eq!(disagreement["verdicts_changed"], 0);

    // Promoted from now: it judges the transits opened from then on, and
    // the shadow run ends.
    let (status, refused) = reinstate(&server, "promote", r#"{"effective_from": "2020-01-01T00:00:00Z"}"#);
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains("is before its publication"),
        "{refused}"
    );
    let (status, refused) = reinstate(&server, "promote", r#"{"effective_from": "now", "seq": 1}"#);
    assert_eq!(status, 422, "{refused}");
    until_in_force(&server);
    let (status, promoted) = reinstate(&server, "promote", r#"{"effective_from": "now"}"#);
    assert_eq!(status, 200, "{promoted}");
    until_in_force(&server);
    assert_eq!(
        (&promoted["change"], &promoted["version"], &promoted["mode"]),
        (
            &Value::from("promotion"),
            &Value::from("6.6.7"),
            &Value::from("enforced")
        )
    );
    let promoted_at = Utc::now();
    let (_, listing) = server.get_json("/v1/policies", OFFICER);
    assert_eq!(hostile(&listing["policies"]), ["6.6.7"]);
    assert_eq!(listing["shadows"], Value::Array(Vec::new()));
    open(&server, "PROMOTED", &opening("PROMOTED", promoted_at, 5));
    let later = promoted_at + TimeDelta::hours(3);
    assert_eq!(hostile_versions(&report(&server, "PROMOTED", later)), ["6.6.7"]);
    assert_eq!(hostile_versions(&report(&server, "ENFORCED", later)), ["6.6.6"]);
    let promotion = records_of(&server, "promotion");
    assert_eq!(
        promotion.len(),
        2,
        "the version and the shadow run's end: {promotion:?}"
    );
    assert_eq!(promotion[0]["published_by"], "test-regulator");
    assert_eq!(promotion[0]["content_hash"], promoted["content_hash"]);
    assert_eq!(promotion[0]["effective_from"], promoted["effective_from"]);

    // A restart keeps it: the live folder, which still holds 6.6.6, does
    // not undo the promotion.
    let listed = versions(&server);
    server.stop();
    let mut server = Server::start_in(dir.path(), &SETTINGS);
    assert_eq!(versions(&server), listed);
    let (_, listing) = server.get_json("/v1/policies", OFFICER);
    assert_eq!(hostile(&listing["policies"]), ["6.6.7"]);

    // Rolled back to 6.6.6 from now: the transits opened from then on are
    // judged by it again; those opened under 6.6.7 keep it.
    let first = listed.iter().find(|v| v["version"] == "6.6.6").unwrap()["seq"].clone();
    let (status, rolled_back) = reinstate(
        &server,
        "rollback",
        &format!(r#"{{"seq": {first}, "effective_from": "now"}}"#),
    );
    assert_eq!(status, 200, "{rolled_back}");
    until_in_force(&server);
    assert_eq!(rolled_back["change"], "rollback");
    assert_eq!(rolled_back["version"], "6.6.6");
    let rolled_back_at = Utc::now();
    open(&server, "ROLLED", &opening("ROLLED", rolled_back_at, 5));
    let later = rolled_back_at + TimeDelta::minutes(30);
    assert_eq!(hostile_versions(&report(&server, "ROLLED", later)), ["6.6.6"]);
    assert_eq!(hostile_versions(&report(&server, "PROMOTED", later)), ["6.6.7"]);
    assert_eq!(records_of(&server, "rollback").len(), 1);
    let (status, refused) = reinstate(&server, "rollback", r#"{"effective_from": "now"}"#);
    assert_eq!(status, 422, "a rollback names its version: {refused}");
    let (status, refused) = reinstate(&server, "rollback", r#"{"seq": 1, "effective_from": "now", "seq": 2}"#);
    assert_eq!(status, 400, "a duplicate key: {refused}");
    let (status, refused) = reinstate(
        &server,
        "rollback",
        &format!(r#"{{"seq": {shadow_seq}, "effective_from": "now"}}"#),
    );
    assert_eq!(
        status, 422,
        "a shadow version is promoted, not rolled back to: {refused}"
    );
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains(&format!("`hostile` has no enforced version {shadow_seq}")),
        "{refused}"
    );
    let (status, refused) = reinstate(&server, "rollback", r#"{"seq": 1e999, "effective_from": "now"}"#);
    assert_eq!(status, 400, "{refused}");
    server.stop();

    // The audit log verifies, publications, promotion and rollback included.
    let verified = escort(&["audit", "verify", "--data", server.data().to_str().unwrap()]);
    assert_eq!(
        verified.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
}

/// `escort policy ARGS --service URL` with `token` in `ESCORT_TOKEN` (none
/// when `None`): its exit status, stdout and stderr.
fn policy_client(server: &Server, token: Option<&str>, args: &[&str]) -> (Option<i32>, String, String) {
    let mut command = escort_tests::escort_command();
    command.arg("policy").args(args).args(["--service", &server.url]);
    command.env_remove("ESCORT_TOKEN");
    if let Some(token) = token {
        command.env("ESCORT_TOKEN", token);
    }
    let output = command.output().expect("escort runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_policy_client_publishes_in_shadow_promotes_and_rolls_back_against_a_running_service() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &SETTINGS);
    let enforced = hostile_bundle_of(&dir.path().join("enforced"), HOSTILE_POLICY, "6.6.6", "");
    let next = hostile_bundle_of(&dir.path().join("next"), HOSTILE_POLICY_V2, "6.6.7", "");

    let (status, _, said) = policy_client(&server, None, &["publish", enforced.to_str().unwrap()]);
    assert_eq!(status, Some(2), "no token: {said}");
    assert!(said.contains("set ESCORT_TOKEN"), "{said}");
    let (status, _, said) = policy_client(&server, Some(OFFICER), &["publish", enforced.to_str().unwrap()]);
    assert_eq!(status, Some(2), "{said}");
    assert!(said.contains("the service answered 403"), "{said}");

    let (status, out, said) = policy_client(&server, Some(REGULATOR), &["publish", enforced.to_str().unwrap()]);
    assert_eq!(status, Some(0), "{said}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["version"], "6.6.6");
    until_in_force(&server);
    let (status, out, said) = policy_client(
        &server,
        Some(REGULATOR),
        &["publish", "--shadow", next.to_str().unwrap()],
    );
    assert_eq!(status, Some(0), "{said}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["origin"],
        "shadow hostile/"
    );

    let (status, out, said) = policy_client(&server, Some(OFFICER), &["versions", "hostile"]);
    assert_eq!(status, Some(0), "{said}");
    let listed: Value = serde_json::from_str(&out).unwrap();
    let modes: Vec<&str> = listed["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["mode"].as_str().unwrap())
        .collect();
    assert_eq!(modes, ["enforced", "shadow"]);
    let (status, out, said) = policy_client(&server, Some(OFFICER), &["shadow", "hostile"]);
    assert_eq!(status, Some(0), "{said}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["shadow"]["version"],
        "6.6.7"
    );

    until_in_force(&server);
    let (status, out, said) = policy_client(&server, Some(REGULATOR), &["promote", "hostile", "--from", "now"]);
    assert_eq!(status, Some(0), "{said}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["change"], "promotion");
    until_in_force(&server);
    let first = listed["versions"][0]["seq"].to_string();
    let (status, _, said) = policy_client(
        &server,
        Some(REGULATOR),
        &["rollback", "hostile", "--seq", &first, "--from", "2020-01-01T00:00:00Z"],
    );
    assert_eq!(status, Some(2), "a time already past is refused: {said}");
    assert!(said.contains("is before its publication"), "{said}");
    let (status, out, said) = policy_client(
        &server,
        Some(REGULATOR),
        &["rollback", "hostile", "--seq", &first, "--from", "now"],
    );
    assert_eq!(status, Some(0), "{said}");
    let rolled_back: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (&rolled_back["change"], &rolled_back["version"]),
        (&Value::from("rollback"), &Value::from("6.6.6"))
    );
}
