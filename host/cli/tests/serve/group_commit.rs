//! Many gateways at once: their steps are written many to a transaction
//! (group commit), yet each transit's report is what `escort check` says
//! of its whole track, the audit chain verifies, and a restart (nothing in
//! memory, everything read back from the database) reports the same.

use std::fs;
use std::thread;

use escort_tests::{Server, audit_verify, check, scenario, transit_as};

const SCENARIO: &str = "corridor-detour";
const TRANSITS: usize = 8;
const BATCH: usize = 7;

#[test]
fn concurrent_gateways_are_committed_together_and_report_as_check_does() {
    let temp = tempfile::tempdir().expect("a temporary folder");
    // Room for two transits in memory: the others are read back from the
    // database at their steps, while steps of other transits are written.
    let server = Server::start_in(temp.path(), &[("cached_transits", "2")]);
    let text = fs::read_to_string(scenario(SCENARIO).join("fixes.ndjson")).expect("fixes");
    let lines: Vec<String> = text.lines().map(|line| format!("{line}\n")).collect();
    let batches: Vec<String> = lines.chunks(BATCH).map(|chunk| chunk.concat()).collect();
    let ids: Vec<String> = (1..=TRANSITS).map(|n| format!("GROUP-{n}")).collect();
    thread::scope(|scope| {
        for id in &ids {
            let (server, batches) = (&server, &batches);
            scope.spawn(move || {
                assert_eq!(server.put_transit(id, &transit_as(SCENARIO, id)).0, 201);
                for batch in batches {
                    let (status, outcome) = server.post_fixes(id, batch);
                    assert_eq!(status, 200, "{id}: {outcome}");
                }
            });
        }
    });

    // Each transit's own report: findings' keys name the transit.
    let expected: Vec<String> = ids
        .iter()
        .map(|id| {
            let transit = temp.path().join(format!("{id}.json"));
            fs::write(&transit, transit_as(SCENARIO, id)).expect("written");
            check(&transit, &scenario(SCENARIO).join("fixes.ndjson"), None)
        })
        .collect();
    let evaluated_at = serde_json::from_str::<serde_json::Value>(&expected[0]).expect("JSON")["evaluated_at"]
        .as_str()
        .expect("evaluated_at")
        .to_owned();
    let reports = |server: &Server| -> Vec<String> {
        ids.iter()
            .zip(&expected)
            .map(|(id, expected)| {
                let (status, report) = server.report(id, Some(&evaluated_at));
                assert_eq!(status, 200, "{report}");
                assert_eq!(&report, expected, "{id}");
                report
            })
            .collect()
    };
    let before = reports(&server);
    let (status, verdict) = audit_verify(&server.data());
    assert_eq!(status, Some(0), "{verdict}");

    let mut server = server;
    server.stop();
    let server = Server::start_in(temp.path(), &[]);
    assert_eq!(reports(&server), before, "after a restart");
    // The restarted service goes on from what it read back.
    for id in &ids {
        let (status, outcome) = server.post_fixes(id, &batches[0]);
        assert_eq!(status, 200, "{outcome}");
        assert_eq!(outcome["accepted"], 0, "a resent batch doubles nothing");
    }
    let (status, verdict) = audit_verify(&server.data());
    assert_eq!(status, Some(0), "{verdict}");
}
