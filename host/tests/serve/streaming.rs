//! Streaming equals batch: every golden scenario, sent in random batches,
//! ends with the report `escort check` gives for the whole file.

use std::fs;

use escort_host::Telemetry;
use serde_json::{Value, json};

use crate::support::{Server, Sizes, check, scenario, transit_as};

/// A GPX or CSV scenario's fixes as NDJSON, one line per fix.
fn as_ndjson(path: &std::path::Path) -> String {
    let telemetry = Telemetry::read_path(path).expect("the scenario's fixes load");
    let mut text = String::new();
    for fix in &telemetry.fixes {
        let mut line = json!({"at": fix.at.to_rfc3339(), "lat": fix.lat, "lon": fix.lon});
        let optional = [
            ("speed_kmh", fix.speed_kmh),
            ("course", fix.course_deg),
            ("hdop", fix.hdop),
            ("battery", fix.battery_pct),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                line[name] = json!(value);
            }
        }
        if let Some(sats) = fix.sats {
            line["sats"] = json!(sats);
        }
        if let Some(seal) = fix.seal {
            line["seal"] = json!(seal.as_str());
        }
        text.push_str(&line.to_string());
        text.push('\n');
    }
    text
}

#[test]
fn every_scenario_streamed_in_random_batches_reports_as_check_does() {
    let server = Server::start(&[]);
    let work = tempfile::tempdir().expect("a temporary folder");
    let mut names: Vec<String> = fs::read_dir(scenario(""))
        .expect("scenarios")
        .flatten()
        .filter(|entry| entry.path().join("transit.json").is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 18, "the golden scenarios are there");
    for (index, name) in names.iter().enumerate() {
        let dir = scenario(name);
        let id = format!("STREAM-{name}");
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
