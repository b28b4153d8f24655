//! The audit log: one hash-chained record per decision, append-only, and
//! `escort audit verify` naming the first broken record of a tampered copy.

use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::support::{INGEST, Server, audit_verify, scenario, transit_as};

/// A copy of a stopped server's database, to tamper with.
fn copy_data(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for file in ["escort.db", "escort.db-wal"] {
        if from.join(file).exists() {
            fs::copy(from.join(file), to.join(file)).unwrap();
        }
    }
}

#[test]
fn every_decision_is_chained_and_a_tampered_copy_names_its_first_broken_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &[]);
    assert_eq!(
        server.put_transit("AUDIT-1", &transit_as("seal-events", "AUDIT-1")).0,
        201
    );
    let fixes = fs::read_to_string(scenario("seal-events").join("fixes.ndjson")).unwrap();
    let lines: Vec<&str> = fixes.split_inclusive('\n').collect();
    for batch in lines.chunks(100) {
        assert_eq!(server.post_fixes("AUDIT-1", &batch.concat()).0, 200);
    }
    let (status, _) = server.request(
        "POST",
        "/v1/transits/AUDIT-1/close",
        Some(INGEST),
        b"{\"reason\": \"arrived\"}",
    );
    assert_eq!(status, 200);
    server.stop();
    let data = server.data();

    let (status, verdict) = audit_verify(&data);
    assert_eq!(status, Some(0), "{verdict}");
    // Seven policies decide at admission, at each of three batches and at the close.
    assert!(verdict.starts_with("audit log intact: 35 records, head "), "{verdict}");

    let db = rusqlite::Connection::open(data.join("escort.db")).unwrap();
    let records: Vec<Value> = db
        .prepare("SELECT record FROM audit ORDER BY seq")
        .unwrap()
        .query_map([], |row| row.get::<_, String>(0))
        .unwrap()
        .map(|record| serde_json::from_str(&record.unwrap()).unwrap())
        .collect();
    let kinds: Vec<&str> = records.iter().step_by(7).map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["admit", "observe", "observe", "observe", "close"]);
    let breach = records
        .iter()
        .find(|r| {
            r["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["code"] == "seal.breach")
        })
        .expect("the breach decision is on record");
    assert_eq!(breach["transit"], "AUDIT-1");
    assert_eq!(breach["policy"], "seal");
    assert_eq!(breach["policy_version"], "0.1.0");
    assert_eq!(breach["content_hash"].as_str().unwrap().len(), 64);
    assert_eq!(breach["input_digest"].as_str().unwrap().len(), 64);
    assert!(breach["fuel_used"].as_u64().unwrap() > 0);

    for statement in [
        "UPDATE audit SET record = '{}' WHERE seq = 1",
        "DELETE FROM audit WHERE seq = 1",
    ] {
        let refused = db.execute(statement, []).unwrap_err();
        assert!(refused.to_string().contains("append-only"), "{refused}");
    }
    drop(db);

    let changed = dir.path().join("changed");
    copy_data(&data, &changed);
    let db = rusqlite::Connection::open(changed.join("escort.db")).unwrap();
    db.execute_batch("DROP TRIGGER audit_is_append_only_update").unwrap();
    let seq: i64 = db
        .query_row(
            "SELECT min(seq) FROM audit WHERE record LIKE '%seal.breach%'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    db.execute(
        "UPDATE audit SET record = replace(record, '\"critical\"', '\"info\"') WHERE seq = ?1",
        [seq],
    )
    .unwrap();
    drop(db);
    let (status, verdict) = audit_verify(&changed);
    assert_eq!(status, Some(1), "{verdict}");
    assert_eq!(
        verdict.trim(),
        format!("audit record {seq} is broken: its content does not match its hash (it was changed)")
    );

    let removed = dir.path().join("removed");
    copy_data(&data, &removed);
    let db = rusqlite::Connection::open(removed.join("escort.db")).unwrap();
    db.execute_batch("DROP TRIGGER audit_is_append_only_delete; DELETE FROM audit WHERE seq = 9;")
        .unwrap();
    drop(db);
    let (status, verdict) = audit_verify(&removed);
    assert_eq!(status, Some(1), "{verdict}");
    assert!(verdict.starts_with("audit record 10 is broken"), "{verdict}");
}
