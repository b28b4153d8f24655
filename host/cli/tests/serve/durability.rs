//! A 2xx answer means the fixes, the policy state and the findings are on
//! disk: killed with SIGKILL under load and restarted, the service has every
//! acknowledged fix and goes on from the stored state.

use std::fs;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use escort_tests::{INGEST, Server, audit_verify, check, scenario, transit_as};

const SCENARIO: &str = "corridor-detour";
const TRANSITS: usize = 4;
const BATCH: usize = 10;

#[test]
fn acknowledged_fixes_survive_kill_9_and_evaluation_goes_on() {
    let temp = tempfile::tempdir().expect("a temporary folder");
    let server = Server::start_in(temp.path(), &[]);
    let text = fs::read_to_string(scenario(SCENARIO).join("fixes.ndjson")).expect("fixes");
    let lines: Vec<String> = text.lines().map(|line| format!("{line}\n")).collect();
    let batches: Vec<String> = lines.chunks(BATCH).map(|chunk| chunk.concat()).collect();
    let ids: Vec<String> = (1..=TRANSITS).map(|n| format!("KILL-{n}")).collect();
    for id in &ids {
        assert_eq!(server.put_transit(id, &transit_as(SCENARIO, id)).0, 201);
    }

    // One gateway per transit, each sending its batches in order as fast as
    // the service answers, counting what was acknowledged.
    let acknowledged: Arc<Vec<AtomicUsize>> = Arc::new((0..TRANSITS).map(|_| AtomicUsize::new(0)).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let url = server.url.clone();
    let gateways: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(index, id)| {
            let (acknowledged, stop, batches, url, id) = (
                Arc::clone(&acknowledged),
                Arc::clone(&stop),
                batches.clone(),
                url.clone(),
                id.clone(),
            );
            thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
                for batch in &batches {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let answer = agent
                        .post(format!("{url}/v1/transits/{id}/fixes"))
                        .header("Authorization", format!("Bearer {INGEST}"))
                        .send(batch.as_str());
                    match answer {
                        Ok(response) if response.status() == 200 => {
                            acknowledged[index].fetch_add(1, Ordering::SeqCst);
                        }
                        // The server is gone: what was not answered was not promised.
                        _ => return,
                    }
                }
            })
        })
        .collect();
    let started = Instant::now();
    while acknowledged.iter().map(|n| n.load(Ordering::SeqCst)).sum::<usize>() < 3 * TRANSITS {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the gateways made no progress"
        );
        thread::sleep(Duration::from_millis(5));
    }
    let mut server = server;
    server.kill();
    stop.store(true, Ordering::SeqCst);
    for gateway in gateways {
        gateway.join().expect("a gateway thread ends");
    }
    let acknowledged: Vec<usize> = acknowledged.iter().map(|n| n.load(Ordering::SeqCst)).collect();
    assert!(
        acknowledged.iter().any(|&n| n < batches.len()),
        "the kill came after every batch; nothing was under load"
    );

    let server = Server::start_in(temp.path(), &[]);
    // Each transit's own: findings' keys name the transit.
    let expected = |id: &str| {
        check(
            &write(temp.path(), id, &transit_as(SCENARIO, id)),
            &scenario(SCENARIO).join("fixes.ndjson"),
            None,
        )
    };
    let evaluated_at = serde_json::from_str::<Value>(&expected(&ids[0])).expect("JSON")["evaluated_at"]
        .as_str()
        .expect("evaluated_at")
        .to_owned();
    for (id, &acked) in ids.iter().zip(&acknowledged) {
        let (status, report) = server.report(id, None);
        assert_eq!(status, 200, "{report}");
        let stored = serde_json::from_str::<Value>(&report).expect("JSON")["fixes"]["accepted"]
            .as_u64()
            .expect("a count") as usize;
        // Every acknowledged batch is there; the one in flight may be too.
        let floor = (acked * BATCH).min(lines.len());
        assert!(
            (floor..=floor + BATCH).contains(&stored),
            "{id}: {stored} fixes stored, {acked} batches of {BATCH} acknowledged"
        );
        assert_eq!(stored % BATCH, 0, "{id}: a batch is stored whole or not at all");
        for batch in &batches[stored / BATCH..] {
            let (status, outcome) = server.post_fixes(id, batch);
            assert_eq!(status, 200, "{outcome}");
        }
        let (status, report) = server.report(id, Some(&evaluated_at));
        assert_eq!(status, 200);
        assert_eq!(
            report,
            expected(id),
            "{id}: after the restart the evaluation did not go on from the stored state"
        );
    }
    let (status, verdict) = audit_verify(&server.data());
    assert_eq!(status, Some(0), "{verdict}");
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.json"));
    fs::write(&path, text).expect("written");
    path
}
