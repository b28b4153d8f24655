//! Malformed, oversized, repeated and late requests: each gets the right
//! status and a message naming the problem, and nothing accepted is lost.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;

use serde_json::Value;

use escort_tests::{INGEST, OFFICER, Server, check, escort_command, scenario, transit_as};

fn error(answer: &Value) -> &str {
    answer["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message: {answer}"))
}

#[test]
fn malformed_requests_are_refused_with_a_message_naming_the_problem() {
    let server = Server::start(&[]);
    let transit = transit_as("clean-khorgos-almaty", "BAD-1");

    let (status, answer) = server.put_transit("BAD-1", "{\"id\": ");
    assert_eq!(status, 400, "{answer}");
    assert!(error(&answer).contains("not JSON"), "{answer}");

    let mut missing: Value = serde_json::from_str(&transit).unwrap();
    missing.as_object_mut().unwrap().remove("importer");
    let (status, answer) = server.put_transit("BAD-1", &missing.to_string());
    assert_eq!(status, 422, "{answer}");
    assert!(error(&answer).contains("importer"), "{answer}");

    let (status, answer) = server.put_transit("ANOTHER-ID", &transit);
    assert_eq!(status, 422, "{answer}");
    assert!(error(&answer).contains("ANOTHER-ID"), "{answer}");

    let (status, answer) = server.post_fixes("NOBODY", "{}\n");
    assert_eq!(status, 404, "{answer}");
    assert!(error(&answer).contains("NOBODY"), "{answer}");

    assert_eq!(server.put_transit("BAD-1", &transit).0, 201);
    // A line that is not UTF-8 or dated before the opening costs only itself (issue 10 items 7, 8).
    let (status, answer) = server.json(
        "POST",
        "/v1/transits/BAD-1/fixes",
        Some(INGEST),
        b"{\"at\": \"\xff\"}\n{\"at\":\"1901-12-13T20:45:52Z\",\"lat\":44.1,\"lon\":80.3}\n\
          {\"at\":\"2021-05-16T03:45:00Z\",\"lat\":44.1,\"lon\":80.3}\n",
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], 1, "{answer}");
    let reasons: Vec<&str> = answer["rejected"]
        .as_array()
        .expect("rejected")
        .iter()
        .map(|rejection| rejection["reason"].as_str().expect("reason"))
        .collect();
    assert_eq!(
        reasons,
        [
            "the line is not UTF-8 (byte 0xFF at column 9); save the file as UTF-8",
            "`at` 1901-12-13T20:45:52Z is before the transit opened (2021-05-16T03:40:00Z)",
        ],
        "{answer}"
    );

    for (path, problem) in [
        ("/v1/transits/BAD-1?now=yesterday", "now"),
        ("/v1/transits?verdict=maybe", "verdict"),
        ("/v1/transits?limit=0", "limit"),
        ("/v1/transits?colour=red", "colour"),
    ] {
        let (status, answer) = server.json("GET", path, Some(OFFICER), b"");
        assert_eq!(status, 400, "{path}: {answer}");
        assert!(error(&answer).contains(problem), "{path}: {answer}");
    }
    let (status, answer) = server.json(
        "POST",
        "/v1/transits/BAD-1/close",
        Some(INGEST),
        b"{\"reason\": \"bored\"}",
    );
    assert_eq!(status, 400, "{answer}");
    assert!(error(&answer).contains("arrived"), "{answer}");
    let (status, answer) = server.json("GET", "/v2/transits", Some(OFFICER), b"");
    assert_eq!(status, 404, "{answer}");
    assert!(error(&answer).contains("/v1"), "{answer}");
}

#[test]
fn a_batch_with_bad_lines_keeps_the_good_ones_and_names_the_bad_ones_by_line() {
    let server = Server::start(&[]);
    let dir = scenario("malformed-lines");
    let transit = fs::read_to_string(dir.join("transit.json")).unwrap();
    let id = serde_json::from_str::<Value>(&transit).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(server.put_transit(&id, &transit).0, 201);
    let (status, outcome) = server.post_fixes(&id, &fs::read_to_string(dir.join("fixes.ndjson")).unwrap());
    assert_eq!(status, 200, "{outcome}");
    let expected: Value =
        serde_json::from_str(&check(&dir.join("transit.json"), &dir.join("fixes.ndjson"), None)).unwrap();
    assert!(!expected["rejected"].as_array().unwrap().is_empty());
    assert_eq!(outcome["rejected"], expected["rejected"]);
    assert_eq!(outcome["accepted"], expected["fixes"]["accepted"]);
    assert_eq!(outcome["duplicates"], expected["fixes"]["duplicates"]);
}

#[test]
fn an_oversized_batch_is_refused_whole() {
    let server = Server::start(&[("max_body_bytes", "16384"), ("max_policy_bytes", "32768")]);
    let transit = transit_as("clean-khorgos-almaty", "BIG-1");
    assert_eq!(server.put_transit("BIG-1", &transit).0, 201);
    let fixes = fs::read_to_string(scenario("clean-khorgos-almaty").join("fixes.ndjson")).unwrap();
    assert!(fixes.len() > 16384);
    let (status, answer) = server.post_fixes("BIG-1", &fixes);
    assert_eq!(status, 413, "{answer}");
    assert!(error(&answer).contains("size limit"), "{answer}");
    let (_, report) = server.report("BIG-1", None);
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["fixes"]["accepted"], 0, "nothing of the refused batch is kept");
    let component = escort_tests::HOSTILE_POLICY;
    assert!(component.len() > 32768);
    let (status, answer) = server.json("PUT", "/v1/policies/hostile", Some(escort_tests::REGULATOR), component);
    assert_eq!(status, 413, "policies have their own limit: {answer}");
    let roomy = Server::start(&[("max_body_bytes", "16384")]);
    let (status, answer) = roomy.json("PUT", "/v1/policies/hostile", Some(escort_tests::REGULATOR), component);
    assert_eq!(status, 200, "a policy may be larger than a batch: {answer}");
    let small: String = fixes.lines().take(10).map(|line| format!("{line}\n")).collect();
    let (status, outcome) = server.post_fixes("BIG-1", &small);
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["accepted"], 10);
}

#[test]
fn repeated_requests_change_nothing() {
    let server = Server::start(&[]);
    let transit = transit_as("seal-events", "AGAIN-1");
    let (status, first) = server.put_transit("AGAIN-1", &transit);
    assert_eq!(status, 201, "{first}");
    let (status, second) = server.put_transit("AGAIN-1", &transit);
    assert_eq!(status, 200, "{second}");
    assert_eq!(first["findings"], second["findings"]);

    let fixes = fs::read_to_string(scenario("seal-events").join("fixes.ndjson")).unwrap();
    let (_, outcome) = server.post_fixes("AGAIN-1", &fixes);
    let accepted = outcome["accepted"].as_u64().unwrap();
    assert!(accepted > 0);
    assert!(!outcome["findings"].as_array().unwrap().is_empty());
    let (status, resent) = server.post_fixes("AGAIN-1", &fixes);
    assert_eq!(status, 200, "{resent}");
    assert_eq!(resent["accepted"], 0);
    assert_eq!(resent["duplicates"], accepted);
    assert_eq!(
        resent["findings"],
        Value::Array(Vec::new()),
        "a resent batch raises nothing new"
    );
}

#[test]
fn a_closed_transit_takes_no_more_changes() {
    let server = Server::start(&[]);
    let transit = transit_as("clean-khorgos-almaty", "CLOSE-1");
    assert_eq!(server.put_transit("CLOSE-1", &transit).0, 201);
    let fixes = fs::read_to_string(scenario("clean-khorgos-almaty").join("fixes.ndjson")).unwrap();
    let (first_half, second_half) = fixes.split_at(fixes.len() / 2);
    let first_half = &first_half[..=first_half.rfind('\n').unwrap()];
    assert_eq!(server.post_fixes("CLOSE-1", first_half).0, 200);
    let (status, closed) = server.close("CLOSE-1", r#"{"reason": "cleared"}"#);
    assert_eq!(status, 200, "{closed}");
    let (status, answer) = server.post_fixes("CLOSE-1", second_half);
    assert_eq!(status, 409, "{answer}");
    assert!(error(&answer).contains("closed"), "{answer}");
    assert_eq!(server.put_transit("CLOSE-1", &transit).0, 409);
    assert_eq!(server.close("CLOSE-1", r#"{"reason": "arrived"}"#).0, 409);
    let (_, report) = server.report("CLOSE-1", None);
    assert_eq!(report, closed, "a closed transit reports as it was closed");
    let (_, list) = server.get_json("/v1/transits?open=false", OFFICER);
    assert_eq!(list["transits"][0]["id"], "CLOSE-1");
    assert_eq!(list["transits"][0]["open"], false);
}

#[test]
fn the_transit_list_filters_by_verdict_and_pages() {
    let server = Server::start(&[]);
    for n in 1..=5 {
        let id = format!("LIST-{n}");
        assert_eq!(server.put_transit(&id, &transit_as("clean-khorgos-almaty", &id)).0, 201);
    }
    assert_eq!(server.put_transit("LIST-X", &transit_as("ineligible", "LIST-X")).0, 201);
    let (_, violations) = server.get_json("/v1/transits?verdict=violation", OFFICER);
    let ids: Vec<&str> = violations["transits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["LIST-X"]);

    let mut seen = Vec::new();
    let mut path = "/v1/transits?verdict=clear&open=true&limit=2".to_owned();
    loop {
        let (status, page) = server.get_json(&path, OFFICER);
        assert_eq!(status, 200, "{page}");
        seen.extend(
            page["transits"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_str().unwrap().to_owned()),
        );
        match page["next_after"].as_str() {
            Some(after) => path = format!("/v1/transits?verdict=clear&open=true&limit=2&after={after}"),
            None => break,
        }
    }
    assert_eq!(seen, ["LIST-1", "LIST-2", "LIST-3", "LIST-4", "LIST-5"]);
}

#[test]
fn changing_an_open_transit_evaluates_it_again_from_its_first_fix() {
    let server = Server::start(&[]);
    let dir = scenario("clean-khorgos-almaty");
    assert_eq!(
        server
            .put_transit("CHANGE-1", &transit_as("clean-khorgos-almaty", "CHANGE-1"))
            .0,
        201
    );
    let fixes = fs::read_to_string(dir.join("fixes.ndjson")).unwrap();
    assert_eq!(server.post_fixes("CHANGE-1", &fixes).0, 200);
    // The declaration is corrected: a narrower corridor and an earlier deadline.
    let mut changed: Value = serde_json::from_str(&transit_as("clean-khorgos-almaty", "CHANGE-1")).unwrap();
    changed["corridor_m"] = Value::from(50);
    changed["deadline"] = Value::from("2021-05-16T06:00:00Z");
    let (status, admission) = server.put_transit("CHANGE-1", &changed.to_string());
    assert_eq!(status, 200, "{admission}");
    let work = tempfile::tempdir().unwrap();
    let transit = work.path().join("transit.json");
    fs::write(&transit, changed.to_string()).unwrap();
    let expected = check(&transit, &dir.join("fixes.ndjson"), None);
    let evaluated_at = serde_json::from_str::<Value>(&expected).unwrap()["evaluated_at"].clone();
    let (_, report) = server.report("CHANGE-1", evaluated_at.as_str());
    assert_eq!(report, expected);
    assert!(report.contains("corridor.deviation") && report.contains("transit.overdue"));
}

/// `GET path` with the officer's token on a connection of its own: the
/// answer's head and body.
fn get_raw(server: &Server, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(server.address()).expect("the server accepts connections");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: escort\r\nAuthorization: Bearer {OFFICER}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("a UTF-8 answer");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    (head.to_owned(), body.to_owned())
}

#[test]
fn the_report_as_text_is_the_case_file_escort_check_prints_in_the_configured_zone() {
    // Issue 15 item 5: the same text over HTTP as on the command line.
    let server = Server::start(&[("timezone", "\"Asia/Tokyo\"")]);
    let dir = scenario("seal-events");
    let transit = fs::read_to_string(dir.join("transit.json")).unwrap();
    assert_eq!(server.put_transit("KZ-2025-002004", &transit).0, 201);
    let (status, outcome) = server.post_fixes("KZ-2025-002004", &fs::read_to_string(dir.join("fixes.ndjson")).unwrap());
    assert_eq!(status, 200, "{outcome}");
    let now = "2025-04-08T08:06:13Z";
    let (head, text) = get_raw(&server, &format!("/v1/transits/KZ-2025-002004?format=text&now={now}"));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; charset=utf-8"),
        "{head}"
    );
    let cli = escort_command()
        .args([
            "check",
            "--format",
            "text",
            "--timezone",
            "Asia/Tokyo",
            "--now",
            now,
            "--transit",
        ])
        .arg(dir.join("transit.json"))
        .arg("--fixes")
        .arg(dir.join("fixes.ndjson"))
        .output()
        .expect("escort check runs");
    assert_eq!(text, String::from_utf8(cli.stdout).unwrap());
    assert!(text.contains("time zone    Asia/Tokyo"), "{text}");

    let (status, answer) = server.json("GET", "/v1/transits/KZ-2025-002004?format=pdf", Some(OFFICER), b"");
    assert_eq!(status, 400, "{answer}");
    assert!(error(&answer).contains("`format` must be `json` or `text`"), "{answer}");
}
