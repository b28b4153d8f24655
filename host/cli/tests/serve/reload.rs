//! Hot reload: a policy published through the API or placed in the live
//! folder is validated and swapped in whole; a refused one leaves the last
//! good set serving; a step in flight finishes on the set it started with,
//! and its transit goes on under the versions it opened under.

use std::fs;
use std::thread;
use std::time::Instant;

use chrono::{TimeDelta, Utc};
use serde_json::Value;

use escort_tests::{HOSTILE_POLICY, OFFICER, REGULATOR, Server, eventually, opening_at, scenario, transit_as};

fn policies(server: &Server) -> Value {
    let (status, answer) = server.get_json("/v1/policies", OFFICER);
    assert_eq!(status, 200, "{answer}");
    answer
}

fn policy<'a>(listing: &'a Value, id: &str) -> Option<&'a Value> {
    listing["policies"].as_array().unwrap().iter().find(|p| p["id"] == id)
}

fn first_fixes(count: usize) -> String {
    fs::read_to_string(scenario("clean-khorgos-almaty").join("fixes.ndjson"))
        .unwrap()
        .lines()
        .take(count)
        .map(|line| format!("{line}\n"))
        .collect()
}

/// The `behaviour` evidence of the hostile policy's findings in a list.
fn behaviours(findings: &Value) -> Vec<String> {
    findings
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "hostile.alive")
        .map(|f| f["evidence"]["behaviour"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_policy_published_through_the_api_serves_at_once_and_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &[]);
    assert!(policy(&policies(&server), "hostile").is_none());
    let (status, info) = server.json("PUT", "/v1/policies/hostile", Some(REGULATOR), HOSTILE_POLICY);
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["version"], "6.6.6");
    assert_eq!(info["params"]["behaviour"], "well");
    let listed = policies(&server);
    assert_eq!(
        policy(&listed, "hostile").unwrap()["content_hash"],
        info["content_hash"]
    );
    assert!(server.data().join("policies/hostile.wasm").is_file());

    // It judges the transits opened from its publication on.
    let (transit, fixes) = opening_at("clean-khorgos-almaty", "HOT-1", 1, Utc::now() + TimeDelta::seconds(1));
    assert_eq!(server.put_transit("HOT-1", &transit).0, 201);
    let (status, outcome) = server.post_fixes("HOT-1", &fixes);
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(behaviours(&outcome["findings"]), ["well"]);
    server.stop();

    let server = Server::start_in(dir.path(), &[]);
    assert_eq!(
        policy(&policies(&server), "hostile").unwrap()["content_hash"],
        info["content_hash"]
    );
}

#[test]
fn a_refused_policy_leaves_the_last_good_set_serving() {
    let server = Server::start(&[]);
    let speed_before = policy(&policies(&server), "speed").unwrap().clone();

    let (status, answer) = server.json("PUT", "/v1/policies/speed", Some(REGULATOR), b"\0asm but not really");
    assert_eq!(status, 422, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("refused"), "{answer}");
    let (status, answer) = server.json("PUT", "/v1/policies/speed", Some(REGULATOR), HOSTILE_POLICY);
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("describes itself as `hostile`"),
        "{answer}"
    );
    assert_eq!(policy(&policies(&server), "speed").unwrap(), &speed_before);
    assert!(!server.data().join("policies/speed.wasm").exists());

    // A policy that panics on every batch does not pass validation.
    let live = server.data().join("policies");
    fs::write(live.join("policies.toml"), "[hostile.params]\nbehaviour = \"panic\"\n").unwrap();
    fs::write(live.join("hostile.wasm"), HOSTILE_POLICY).unwrap();
    eventually("the folder is refused", || {
        !policies(&server)["last_reload_error"].is_null()
    });
    let listing = policies(&server);
    let reason = listing["last_reload_error"].as_str().unwrap();
    assert!(
        reason.contains("validation") && reason.contains("`hostile` failed"),
        "{reason}"
    );
    assert!(policy(&listing, "hostile").is_none(), "the refused set does not serve");
    assert_eq!(policy(&listing, "speed").unwrap(), &speed_before);

    // A parameter of the wrong kind is refused by name.
    fs::write(live.join("policies.toml"), "[hostile.params]\nbehaviour = 3\n").unwrap();
    eventually("the new mistake is reported", || {
        policies(&server)["last_reload_error"]
            .as_str()
            .is_some_and(|reason| reason.contains("behaviour"))
    });
    assert!(policy(&policies(&server), "hostile").is_none());

    fs::write(live.join("policies.toml"), "[hostile.params]\nbehaviour = \"well\"\n").unwrap();
    eventually("the repaired folder serves", || {
        policy(&policies(&server), "hostile").is_some()
    });
    assert!(policies(&server)["last_reload_error"].is_null());
}

#[test]
fn a_step_in_flight_finishes_on_the_policies_it_started_with() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("data/policies");
    fs::create_dir_all(&live).unwrap();
    fs::write(live.join("hostile.wasm"), HOSTILE_POLICY).unwrap();
    let dawdling =
        "[hostile]\nfuel = 100_000_000_000\n[hostile.params]\nbehaviour = \"dawdle\"\nturns = 1_500_000_000\n";
    fs::write(live.join("policies.toml"), dawdling).unwrap();
    let server = Server::start_in(dir.path(), &[]);
    assert_eq!(
        server
            .put_transit("FLIGHT-1", &transit_as("clean-khorgos-almaty", "FLIGHT-1"))
            .0,
        201
    );

    let batch = first_fixes(10);
    let started = Instant::now();
    let in_flight = thread::scope(|scope| {
        let step = scope.spawn(|| {
            let answer = server.post_fixes("FLIGHT-1", &batch);
            (answer, started.elapsed())
        });
        thread::sleep(std::time::Duration::from_millis(100));
        fs::write(live.join("policies.toml"), "[hostile.params]\nbehaviour = \"well\"\n").unwrap();
        eventually("the new set serves", || {
            policy(&policies(&server), "hostile").unwrap()["params"]["behaviour"] == "well"
        });
        let swapped = started.elapsed();
        let ((status, outcome), answered) = step.join().unwrap();
        assert_eq!(status, 200, "{outcome}");
        assert!(
            swapped < answered,
            "the swap ({swapped:?}) came after the answer ({answered:?})"
        );
        outcome
    });
    assert_eq!(
        behaviours(&in_flight["findings"]),
        ["dawdle"],
        "the step in flight finished on the set it started with"
    );
    // New parameters are a new version, which judges the transits opened
    // from then on: FLIGHT-1 goes on under the version it opened under.
    let (status, outcome) = server.post_fixes("FLIGHT-1", &first_fixes(20)[batch.len()..]);
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(
        behaviours(&outcome["findings"]),
        ["dawdle"],
        "the next step goes on under the version the transit opened under"
    );
    let (transit, fixes) = opening_at(
        "clean-khorgos-almaty",
        "FLIGHT-2",
        1,
        Utc::now() + TimeDelta::seconds(1),
    );
    assert_eq!(server.put_transit("FLIGHT-2", &transit).0, 201);
    let (status, outcome) = server.post_fixes("FLIGHT-2", &fixes);
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(
        behaviours(&outcome["findings"]),
        ["well"],
        "a transit opened after is judged by the new one"
    );
}

/// Issue 10, item 10: compiling a policy is bounded in the service too
/// (`compile_timeout_seconds`), and a policy refused for it leaves the set
/// serving.
#[test]
fn a_policy_that_takes_too_long_to_compile_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cache = format!("{:?}", dir.path().join("cache").display().to_string());
    // The first start compiles the built-in policies into the cache, so
    // that the second compiles nothing before the upload.
    drop(Server::start_in(dir.path(), &[("cache", &cache)]));
    let server = Server::start_in(dir.path(), &[("cache", &cache), ("compile_timeout_seconds", "0.001")]);
    let (status, answer) = server.json("PUT", "/v1/policies/hostile", Some(REGULATOR), HOSTILE_POLICY);
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("compiling it took longer than 0.001 s"),
        "{answer}"
    );
    assert!(policy(&policies(&server), "hostile").is_none());
}
