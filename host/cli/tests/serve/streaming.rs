//! Streaming equals batch: every golden scenario, sent in random batches,
//! ends with the report `escort check` gives for the whole file.

use std::fs;

use escort_engine::Telemetry;
use serde_json::Value;

use escort_tests::{INGEST, Server, check, ndjson_line, scenario, scenarios, transit_as};

/// A GPX or CSV scenario's fixes as NDJSON, one line per fix.
fn as_ndjson(path: &std::path::Path) -> String {
    let telemetry = Telemetry::read_path(path).expect("the scenario's fixes load");
    telemetry.fixes.iter().map(|fix| ndjson_line(fix) + "\n").collect()
}

#[test]
fn every_scenario_streamed_in_random_batches_reports_as_check_does() {
    let server = Server::start(&[]);
    let work = tempfile::tempdir().expect("a temporary folder");
    let names: Vec<String> = scenarios()
        .iter()
        .map(|dir| dir.file_name().expect("a named folder").to_string_lossy().into_owned())
        .collect();
    assert!(names.len() >= 18, "the golden scenarios are there");
    for (index, name) in names.iter().enumerate() {
        let dir = scenario(name);
        let id = format!("STREAM-{}", name.to_uppercase());
        let transit = work.path().join(format!("{name}.json"));
        fs::write(&transit, transit_as(name, &id)).expect("transit written");
        let fixes = work.path().join(format!("{name}.ndjson"));
        let ndjson = match fs::read_to_string(dir.join("fixes.ndjson")) {
            Ok(text) => text,
            Err(_) => {
                let source = ["fixes.gpx", "fixes.csv"]
                    .map(|file| dir.join(file))
                    .into_iter()
                    .find(|path| path.is_file())
                    .expect("the scenario has fixes");
                as_ndjson(&source)
            }
        };
        fs::write(&fixes, &ndjson).expect("fixes written");
        let now = fs::read_to_string(dir.join("now.txt"))
            .ok()
            .map(|now| now.trim().to_owned());
        let expected = check(&transit, &fixes, now.as_deref());
        let evaluated_at = serde_json::from_str::<Value>(&expected).expect("JSON")["evaluated_at"]
            .as_str()
            .expect("evaluated_at")
            .to_owned();

        let (status, admission) = server.put_transit(&id, &fs::read_to_string(&transit).expect("readable"));
        assert_eq!(status, 201, "{name}: {admission}");
        let lines: Vec<&str> = ndjson.split_inclusive('\n').collect();
        let mut sizes = Sizes::new(index as u64 + 1);
        let mut start = 0;
        let mut verdict = admission["verdict"].clone();
        while start < lines.len() {
            let end = (start + sizes.next(40)).min(lines.len());
            let (status, outcome) = server.post_fixes(&id, &lines[start..end].concat());
            assert_eq!(status, 200, "{name}: {outcome}");
            verdict = outcome["verdict"].clone();
            start = end;
        }
        let (status, report) = server.report(&id, Some(&evaluated_at));
        assert_eq!(status, 200, "{name}: {report}");
        assert_eq!(
            report, expected,
            "{name}: the streamed report differs from escort check's"
        );
        if now.is_none() {
            // As of the last fix, the verdict kept after the last batch is the report's.
            let report: Value = serde_json::from_str(&report).unwrap();
            assert_eq!(verdict, report["verdict"], "{name}: the stored verdict");
        }
    }
}

/// Guards issue 10 items 7 and 8: a line that is not UTF-8 and fixes dated before the opening
/// (repeated in a later batch) are refused by the service as `escort check` refuses them in the
/// whole file, at the same lines, and the rest of each batch is kept.
#[test]
fn refused_lines_stream_as_check_refuses_them() {
    let server = Server::start(&[]);
    let work = tempfile::tempdir().expect("a temporary folder");
    let name = "clean-khorgos-almaty";
    let id = "STREAM-REFUSED";
    let transit = work.path().join("transit.json");
    fs::write(&transit, transit_as(name, id)).expect("transit written");
    let good = fs::read_to_string(scenario(name).join("fixes.ndjson")).expect("fixes");
    let good: Vec<&str> = good.lines().collect();
    let early = r#"{"at":"1901-12-13T20:45:52Z","lat":44.158,"lon":80.399}"#;
    let twice = r#"{"at":"2021-05-16T03:44:00Z","lat":44.158,"lon":80.399,"seal":"cable_cut","seal":"intact"}"#;
    let batches: Vec<Vec<u8>> = vec![
        [&good[..5].join("\n"), "\n", early, "\n"].concat().into_bytes(),
        [
            b"{\"at\":\"2021-05-16T03:45:00Z\",\"lat\":44.1,\"lon\":80.3,\"seal_id\":\"N\xE9\"}\n".as_slice(),
            early.as_bytes(),
            b"\n",
        ]
        .concat(),
        [&good[5..].join("\n"), "\n", twice, "\n"].concat().into_bytes(),
    ];
    let fixes = work.path().join("fixes.ndjson");
    fs::write(&fixes, batches.concat()).expect("fixes written");
    let expected = check(&transit, &fixes, None);
    let parsed: Value = serde_json::from_str(&expected).expect("JSON");
    let refused: Vec<u64> = parsed["rejected"]
        .as_array()
        .expect("rejected")
        .iter()
        .map(|rejection| rejection["line"].as_u64().expect("line"))
        .collect();
    assert_eq!(refused, [6, 7, 8, 265], "{expected}");

    assert_eq!(
        server
            .put_transit(id, &fs::read_to_string(&transit).expect("readable"))
            .0,
        201
    );
    for batch in &batches {
        let (status, outcome) = server.json("POST", &format!("/v1/transits/{id}/fixes"), Some(INGEST), batch);
        assert_eq!(status, 200, "{outcome}");
    }
    let (status, report) = server.report(id, parsed["evaluated_at"].as_str());
    assert_eq!(status, 200, "{report}");
    assert_eq!(report, expected, "the streamed report differs from escort check's");
}

/// A small deterministic generator of batch sizes.
struct Sizes(u64);

impl Sizes {
    fn new(seed: u64) -> Sizes {
        Sizes(seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407))
    }

    /// A size from 1 to `max`.
    fn next(&mut self, max: u64) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % max + 1) as usize
    }
}
