//! The audit log: one hash-chained record per decision and one per step,
//! append-only; `escort audit verify` naming the first broken record of a
//! tampered copy, and the first row of the tables that no longer holds what
//! the log commits to (issue 11, item 4); signed checkpoints; and databases
//! of the previous schema adopted into the log.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::Utc;
use serde_json::Value;
use sha2::{Digest, Sha256};

use escort_tests::{OFFICER, Server, audit_verify, escort, eventually, moved, scenario, transit_as};

/// A copy of a stopped server's database, to tamper with.
fn copy_data(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for file in ["escort.db", "escort.db-wal"] {
        if from.join(file).exists() {
            fs::copy(from.join(file), to.join(file)).unwrap();
        }
    }
}

fn lines(name: &str) -> Vec<String> {
    fs::read_to_string(scenario(name).join("fixes.ndjson"))
        .unwrap()
        .split_inclusive('\n')
        .map(str::to_owned)
        .collect()
}

/// A database of two transits, stopped, with a row in every table that an
/// officer's answer is built from: `AUDIT-1` (seal events, a refused line,
/// closed) and `AUDIT-2` (a detour, a late batch and a changed declaration,
/// so two replays that started its findings again).
fn served(dir: &Path) -> PathBuf {
    let mut server = Server::start_in(dir, &[]);
    assert_eq!(
        server.put_transit("AUDIT-1", &transit_as("seal-events", "AUDIT-1")).0,
        201
    );
    for (index, batch) in lines("seal-events").chunks(100).enumerate() {
        let mut batch = batch.concat();
        if index == 1 {
            batch.push_str("not a fix\n");
        }
        assert_eq!(server.post_fixes("AUDIT-1", &batch).0, 200);
    }
    assert_eq!(server.close("AUDIT-1", r#"{"reason": "arrived"}"#).0, 200);

    let declaration = transit_as("corridor-detour", "AUDIT-2");
    assert_eq!(server.put_transit("AUDIT-2", &declaration).0, 201);
    let detour = lines("corridor-detour");
    for span in [0..100, 100..200, 210..300, 200..210, 300..400] {
        let (status, outcome) = server.post_fixes("AUDIT-2", &detour[span].concat());
        assert_eq!(status, 200, "{outcome}");
    }
    let mut changed: Value = serde_json::from_str(&declaration).unwrap();
    changed["seal_id"] = Value::String("NS-CHANGED".to_owned());
    assert_eq!(server.put_transit("AUDIT-2", &changed.to_string()).0, 200);
    assert_eq!(server.post_fixes("AUDIT-2", &detour[400..].concat()).0, 200);
    server.stop();
    server.data()
}

fn sql(db: &Path, statements: &str) {
    let db = rusqlite::Connection::open(db.join("escort.db")).unwrap();
    db.execute_batch(statements).unwrap();
}

fn value<T: rusqlite::types::FromSql>(db: &Path, query: &str) -> T {
    let db = rusqlite::Connection::open(db.join("escort.db")).unwrap();
    db.query_row(query, [], |row| row.get(0)).unwrap()
}

#[test]
fn every_decision_and_step_is_chained_and_a_tampered_copy_names_its_first_broken_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &[]);
    assert_eq!(
        server.put_transit("AUDIT-1", &transit_as("seal-events", "AUDIT-1")).0,
        201
    );
    for batch in lines("seal-events").chunks(100) {
        assert_eq!(server.post_fixes("AUDIT-1", &batch.concat()).0, 200);
    }
    assert_eq!(server.close("AUDIT-1", r#"{"reason": "arrived"}"#).0, 200);
    server.stop();
    let data = server.data();

    let (status, verdict) = audit_verify(&data);
    assert_eq!(status, Some(0), "{verdict}");
    // The seven policies are published when the service first starts; they
    // decide at admission, at each of three batches and at the close, and
    // each of those five steps has its step record.
    assert!(verdict.starts_with("audit log intact: 47 records, head "), "{verdict}");
    assert!(
        verdict.contains("\ntables match it: 1 transits, 246 fixes, 0 refused lines, "),
        "{verdict}"
    );

    let db = rusqlite::Connection::open(data.join("escort.db")).unwrap();
    let all: Vec<Value> = db
        .prepare("SELECT record FROM audit ORDER BY seq")
        .unwrap()
        .query_map([], |row| row.get::<_, String>(0))
        .unwrap()
        .map(|record| serde_json::from_str(&record.unwrap()).unwrap())
        .collect();
    let (published, records) = all.split_at(7);
    let published: Vec<Value> = published
        .iter()
        .map(|r| serde_json::json!([r["published"], r["effective_from"], r["published_by"]]))
        .collect();
    let since_always: Vec<Value> = ["corridor", "dwell", "eligibility", "seal", "signal", "speed", "transit"]
        .iter()
        .map(|id| serde_json::json!([id, null, "the live folder"]))
        .collect();
    assert_eq!(published, since_always);
    let kinds: Vec<&str> = records.iter().step_by(8).map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["admit", "observe", "observe", "observe", "close"]);
    let steps: Vec<&str> = records
        .iter()
        .skip(7)
        .step_by(8)
        .map(|r| r["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["admit", "observe", "observe", "observe", "close"]);
    let last = &records[39];
    assert_eq!(last["transit"], "AUDIT-1");
    assert_eq!(last["row"]["verdict"], db_text(&db, "SELECT verdict FROM transits"));
    assert_eq!(last["fixes"], Value::Null, "the close adds no fix");
    assert_eq!(records[31]["fixes"]["first"], 200);
    assert_eq!(records[31]["fixes"]["count"], 46);
    assert_eq!(records[7]["declaration"].as_str().unwrap().len(), 64);
    let breach = records
        .iter()
        .find(|r| {
            r["findings"]
                .as_array()
                .is_some_and(|findings| findings.iter().any(|f| f["code"] == "seal.breach"))
        })
        .expect("the breach decision is on record");
    assert_eq!(breach["transit"], "AUDIT-1");
    assert_eq!(breach["policy"], "seal");
    assert_eq!(breach["policy_version"], "0.1.0");
    assert_eq!(breach["content_hash"].as_str().unwrap().len(), 64);
    assert_eq!(breach["input_digest"].as_str().unwrap().len(), 64);
    assert!(breach["fuel_used"].as_u64().unwrap() > 0);
    // Findings still open are written once per step, in the policy states
    // the step record commits to, not again in each decision record.
    assert!(records.iter().all(|r| r.get("open").is_none()), "{:?}", records[1]);
    let open: i64 = value(
        &data,
        "SELECT count(*) FROM policy_states, json_each(policy_states.open)",
    );
    assert!(open > 0, "the seal events leave findings open");

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
    sql(
        &removed,
        "DROP TRIGGER audit_is_append_only_delete; DELETE FROM audit WHERE seq = 9;",
    );
    let (status, verdict) = audit_verify(&removed);
    assert_eq!(status, Some(1), "{verdict}");
    assert!(verdict.starts_with("audit record 10 is broken"), "{verdict}");
}

fn db_text(db: &rusqlite::Connection, query: &str) -> String {
    db.query_row(query, [], |row| row.get(0)).unwrap()
}

/// Issue 11, item 4: an edit of any row an officer's answer is built from
/// was not found, since verify walked the chain alone. Each edit here is
/// made to a copy of one served database with SQL, as someone with the
/// file would, and must be found and named.
#[test]
fn an_edited_row_of_any_table_is_found_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = served(dir.path());
    let (status, verdict) = audit_verify(&data);
    assert_eq!(status, Some(0), "{verdict}");
    assert!(
        verdict.contains("\ntables match it: 2 transits, 729 fixes, 1 refused lines, "),
        "{verdict}"
    );
    let one = "(SELECT key FROM transits WHERE id = 'AUDIT-1')";
    let two = "(SELECT key FROM transits WHERE id = 'AUDIT-2')";
    let verdict_of_one: String = value(&data, "SELECT verdict FROM transits WHERE id = 'AUDIT-1'");
    assert_ne!(verdict_of_one, "clear");
    let last_step_of_one: i64 = value(&data, &format!("SELECT max(seq) FROM audit WHERE transit = {one}"));
    let last_finding_of_one: i64 = value(&data, &format!("SELECT max(seq) FROM findings WHERE transit = {one}"));
    let refused_line: i64 = value(&data, &format!("SELECT line FROM rejections WHERE transit = {one}"));

    // (what is edited, the SQL, how verify's answer begins and ends)
    let cases: Vec<(&str, String, String, &str)> = vec![
        (
            "a transit's verdict",
            "UPDATE transits SET verdict = 'clear' WHERE id = 'AUDIT-1'".to_owned(),
            format!(
                "transit AUDIT-1: its verdict is `clear` in the table but `{verdict_of_one}` in audit record \
                 {last_step_of_one}"
            ),
            "",
        ),
        (
            "a finding changed",
            format!(
                "UPDATE findings SET finding = replace(finding, '\"critical\"', '\"info\"') WHERE transit = {one} \
                 AND finding LIKE '%seal.breach%'"
            ),
            "transit AUDIT-1: finding".to_owned(),
            "committed (changed since)",
        ),
        (
            "a finding removed",
            format!("DELETE FROM findings WHERE transit = {one} AND seq = {last_finding_of_one}"),
            format!("transit AUDIT-1: finding {last_finding_of_one} is missing (audit record "),
            " committed it)",
        ),
        (
            "a finding added",
            format!(
                "INSERT INTO findings SELECT transit, seq + 1, content_hash, finding FROM findings \
                 WHERE transit = {one} AND seq = {last_finding_of_one}"
            ),
            format!(
                "transit AUDIT-1: finding {} is not in the audit log (it was added)",
                last_finding_of_one + 1
            ),
            "",
        ),
        (
            "a fix's position changed",
            format!("UPDATE fixes SET lat = lat + 0.05 WHERE transit = {two} AND seq = 150"),
            "transit AUDIT-2: fixes 100 to 199 differ from what audit record ".to_owned(),
            " committed (changed since)",
        ),
        (
            "a fix's place changed",
            format!("UPDATE fixes SET seq = 100000 WHERE transit = {two} AND seq = 150"),
            "transit AUDIT-2: fix 150 is missing (audit record ".to_owned(),
            " committed it)",
        ),
        (
            "a fix deleted",
            format!("DELETE FROM fixes WHERE transit = {two} AND seq = 482"),
            "transit AUDIT-2: fix 482 is missing (audit record ".to_owned(),
            " committed it)",
        ),
        (
            "a refused line's reason",
            format!("UPDATE rejections SET reason = 'a reason' WHERE transit = {one}"),
            format!("transit AUDIT-1: refused line {refused_line} differs from what audit record "),
            " committed (changed since)",
        ),
        (
            "a policy state",
            format!("UPDATE policy_states SET state = x'00' WHERE transit = {two} AND position = 3"),
            "transit AUDIT-2: policy states 0 to 6 differ from what audit record ".to_owned(),
            " committed (changed since)",
        ),
        (
            "a declaration",
            format!(
                "UPDATE declarations SET declaration = replace(declaration, 'NS-CHANGED', 'NS-OTHER') \
                 WHERE transit = {two}"
            ),
            "transit AUDIT-2: its declaration differs from the one audit record ".to_owned(),
            " committed (it was changed)",
        ),
        (
            "a transit removed",
            "PRAGMA foreign_keys = OFF; DELETE FROM transits WHERE id = 'AUDIT-1'".to_owned(),
            "transit AUDIT-1: audit record ".to_owned(),
            " commits to it, but it is not in the table (it was removed)",
        ),
        (
            "a transit added",
            "INSERT INTO transits (id, opened_at_ms, verdict, final_verdict, evaluated_at_ms, accepted, rejected, \
             duplicates, out_of_order, lines) VALUES ('AUDIT-3', 0, 'clear', 'clear', 0, 0, 0, 0, 0, 0)"
                .to_owned(),
            "transit AUDIT-3: no audit record commits to it (it was added to the table, or its key was changed)"
                .to_owned(),
            "",
        ),
        (
            "a step record filed under no transit",
            format!(
                "DROP TRIGGER audit_is_append_only_update; \
                 UPDATE audit SET transit = NULL WHERE seq = {last_step_of_one}"
            ),
            format!(
                "audit record {last_step_of_one} is broken: the transit it is filed under is not the one it \
                 commits to (its `transit` column was changed)"
            ),
            "",
        ),
    ];
    for (index, (what, statements, begins, ends)) in cases.iter().enumerate() {
        let copy = dir.path().join(format!("case-{index}"));
        copy_data(&data, &copy);
        sql(&copy, statements);
        let (status, answer) = audit_verify(&copy);
        let answer = answer.trim();
        assert_eq!(status, Some(1), "{what}: {answer}");
        assert!(
            answer.starts_with(begins.as_str()) && answer.ends_with(ends),
            "{what}: {answer}"
        );
        println!("{what}: {answer}");
    }
}

/// `escort policy keygen` in `dir`: the secret key's path and the public
/// key's hex.
fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let output = escort(&["policy", "keygen", dir.join(name).to_str().unwrap()]);
    assert!(output.status.success());
    let public = fs::read_to_string(dir.join(format!("{name}.pub"))).unwrap();
    (dir.join(format!("{name}.key")), public.trim().to_owned())
}

fn checkpoint(data: &Path, key: &Path) -> String {
    let output = escort(&[
        "audit",
        "checkpoint",
        "--data",
        data.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn verify_against(data: &Path, checkpoint: &Path, trusted_key: &str) -> (Option<i32>, String) {
    let output = escort(&[
        "audit",
        "verify",
        "--data",
        data.to_str().unwrap(),
        "--checkpoint",
        checkpoint.to_str().unwrap(),
        "--trusted-key",
        trusted_key,
    ]);
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).trim().to_owned(),
    )
}

fn chain_hash(prev_hash: &str, record: &str) -> String {
    hex::encode(Sha256::digest(format!("{prev_hash}\n{record}").as_bytes()))
}

/// Edits audit record `seq` and hashes it and every record after it again,
/// as an attacker who can write the file would: the chain stays whole, and
/// only a checkpoint or the tables can tell.
fn rewrite_record(db: &rusqlite::Connection, seq: i64, edit: impl FnOnce(&mut Value)) {
    let chain: Vec<(i64, String, String)> = db
        .prepare("SELECT seq, record, prev_hash FROM audit WHERE seq >= ?1 ORDER BY seq")
        .unwrap()
        .query_map([seq], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut prev_hash = chain[0].2.clone();
    let mut edit = Some(edit);
    for (at, record, _) in chain {
        let record = match edit.take_if(|_| at == seq) {
            Some(edit) => {
                let mut record: Value = serde_json::from_str(&record).unwrap();
                edit(&mut record);
                record.to_string()
            }
            None => record,
        };
        let hash = chain_hash(&prev_hash, &record);
        db.execute(
            "UPDATE audit SET record = ?2, prev_hash = ?3, hash = ?4 WHERE seq = ?1",
            rusqlite::params![at, record, prev_hash, hash],
        )
        .unwrap();
        prev_hash = hash;
    }
}

/// Issue 11, item 4: a chain cut at its end, or rewritten whole with new
/// hashes, still verifies on its own; against a signed checkpoint it does
/// not. A forged checkpoint, or one by another key, is refused.
#[test]
fn a_signed_checkpoint_finds_a_cut_or_rewritten_chain_and_a_forged_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = served(dir.path());
    let (key, public) = keygen(dir.path(), "audit");
    let text = checkpoint(&data, &key);
    let signed: Value = serde_json::from_str(&text).unwrap();
    let records = signed["records"].as_i64().unwrap();
    assert_eq!(records, value::<i64>(&data, "SELECT count(*) FROM audit"), "{text}");
    assert_eq!(
        signed["head"],
        value::<String>(&data, "SELECT hash FROM audit ORDER BY seq DESC LIMIT 1")
    );
    assert_eq!(signed["key"], public.as_str());
    let file = dir.path().join("checkpoint.json");
    fs::write(&file, &text).unwrap();

    let (status, answer) = verify_against(&data, &file, &public);
    assert_eq!(status, Some(0), "{answer}");
    assert!(
        answer.ends_with(&format!(
            "record {records} has the hash it recorded; signed by the trusted key, {public}"
        )),
        "{answer}"
    );

    // The service goes on after the checkpoint: the chain grows past it.
    let mut server = Server::start_in(dir.path(), &[]);
    assert_eq!(
        server.put_transit("AUDIT-4", &transit_as("seal-events", "AUDIT-4")).0,
        201
    );
    assert_eq!(
        server.post_fixes("AUDIT-4", &lines("seal-events")[..50].concat()).0,
        200
    );
    server.stop();
    let (status, answer) = verify_against(&data, &file, &public);
    assert_eq!(status, Some(0), "{answer}");

    // Cut back to below the checkpoint, with what came after it (AUDIT-4's
    // rows too). Without the checkpoint, verify would name the rows the
    // cut records committed to; with it, it names the cut.
    let cut = dir.path().join("cut");
    copy_data(&data, &cut);
    let keep = records - 16;
    sql(
        &cut,
        &format!(
            "DROP TRIGGER audit_is_append_only_delete;
             DELETE FROM audit WHERE seq > {keep};
             DELETE FROM fixes WHERE transit = (SELECT key FROM transits WHERE id = 'AUDIT-4');
             DELETE FROM policy_states WHERE transit = (SELECT key FROM transits WHERE id = 'AUDIT-4');
             DELETE FROM findings WHERE transit = (SELECT key FROM transits WHERE id = 'AUDIT-4');
             DELETE FROM declarations WHERE transit = (SELECT key FROM transits WHERE id = 'AUDIT-4');
             DELETE FROM transit_labels WHERE transit = (SELECT key FROM transits WHERE id = 'AUDIT-4');
             DELETE FROM transits WHERE id = 'AUDIT-4';"
        ),
    );
    let (status, answer) = verify_against(&cut, &file, &public);
    assert_eq!(status, Some(1), "{answer}");
    assert_eq!(
        answer,
        format!(
            "checkpoint of {}: the audit log holds {keep} records, but held {records} then: records {} to \
             {records} were cut off its end",
            signed["at"].as_str().unwrap(),
            keep + 1
        )
    );

    // Rewritten: AUDIT-1 made clear in its table and in its last step
    // record, and every hash from there on computed again. The chain and
    // the tables agree, so only the checkpoint can tell.
    let rewritten = dir.path().join("rewritten");
    copy_data(&data, &rewritten);
    let db = rusqlite::Connection::open(rewritten.join("escort.db")).unwrap();
    db.execute_batch(
        "DROP TRIGGER audit_is_append_only_update; UPDATE transits SET verdict = 'clear' WHERE id = 'AUDIT-1';",
    )
    .unwrap();
    let step: i64 = db
        .query_row(
            "SELECT max(seq) FROM audit WHERE transit = (SELECT key FROM transits WHERE id = 'AUDIT-1')",
            [],
            |row| row.get(0),
        )
        .unwrap();
    rewrite_record(&db, step, |record| {
        record["row"]["verdict"] = Value::String("clear".to_owned());
    });
    drop(db);
    let (status, answer) = audit_verify(&rewritten);
    assert_eq!(status, Some(0), "without a checkpoint the rewrite passes: {answer}");
    let (status, answer) = verify_against(&rewritten, &file, &public);
    assert_eq!(status, Some(1), "{answer}");
    assert!(
        answer.starts_with(&format!(
            "checkpoint of {}: audit record {records} has hash ",
            signed["at"].as_str().unwrap()
        )) && answer.ends_with("the chain was rewritten at or before that record"),
        "{answer}"
    );

    // Forged: the records count raised so that a longer chain would pass.
    let mut forged = signed.clone();
    forged["records"] = Value::from(records + 100);
    let forged_file = dir.path().join("forged.json");
    fs::write(&forged_file, forged.to_string()).unwrap();
    let (status, answer) = verify_against(&data, &forged_file, &public);
    assert_eq!(status, Some(1), "{answer}");
    assert!(
        answer.ends_with("its signature does not match its content (it was forged or changed)"),
        "{answer}"
    );
    // Signed, but by a key that is not the trusted one.
    let (other_key, other_public) = keygen(dir.path(), "other");
    let other_file = dir.path().join("other.json");
    fs::write(&other_file, checkpoint(&data, &other_key)).unwrap();
    let (status, answer) = verify_against(&data, &other_file, &public);
    assert_eq!(status, Some(1), "{answer}");
    assert!(
        answer.ends_with(&format!(
            "it is signed by {other_public}, not by the trusted key {public}"
        )),
        "{answer}"
    );
}

/// The audit records that are decision records, as SQL.
const DECISION: &str = "transit IS NULL AND json_extract(record, '$.published') IS NULL";

/// The audit records that are publication records, as SQL.
const PUBLICATION: &str = "json_extract(record, '$.published') IS NOT NULL";

/// The database as a build of schema version 2 left it: the same rows,
/// and a chain of decision records alone, so no step records, no
/// publication records, no `transit` column in `audit` and no policy
/// timeline.
fn as_schema_2(data: &Path) {
    let db = rusqlite::Connection::open(data.join("escort.db")).unwrap();
    let decisions: Vec<String> = db
        .prepare(&format!("SELECT record FROM audit WHERE {DECISION} ORDER BY seq"))
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    db.execute_batch(
        "DROP TRIGGER audit_is_append_only_delete;
         DELETE FROM audit;
         DROP INDEX audit_steps;
         ALTER TABLE audit DROP COLUMN transit;
         DROP TABLE shadow_runs;
         DROP TRIGGER policy_versions_are_append_only_update;
         DROP TRIGGER policy_versions_are_append_only_delete;
         DROP TABLE policy_versions;
         DROP TABLE components;
         DROP INDEX transits_by_board;
         DROP TABLE transit_labels;",
    )
    .unwrap();
    let mut prev_hash = "0".repeat(64);
    for (index, record) in decisions.iter().enumerate() {
        let hash = chain_hash(&prev_hash, record);
        db.execute(
            "INSERT INTO audit (seq, record, prev_hash, hash) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![index as i64 + 1, record, prev_hash, hash],
        )
        .unwrap();
        prev_hash = hash;
    }
    db.execute_batch(
        "CREATE TRIGGER audit_is_append_only_delete BEFORE DELETE ON audit
         BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
         PRAGMA user_version = 2;",
    )
    .unwrap();
}

/// Issue 11, item 2: a database of the previous schema has no step
/// records. The service opening it adopts each transit's rows into the
/// chain, so it verifies, an edit made after is found, and the service goes
/// on with it. `escort audit verify` does not migrate it (issue 12).
#[test]
fn a_database_of_the_previous_schema_is_adopted_and_an_edit_after_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let data = served(dir.path());
    let decisions: i64 = value(&data, &format!("SELECT count(*) FROM audit WHERE {DECISION}"));
    as_schema_2(&data);
    // Verification only reads: it names the migration the database needs
    // and leaves it to `escort serve`.
    let (status, refused) = audit_verify_refused(&data);
    assert_eq!(status, Some(2), "{refused}");
    assert!(
        refused.contains("schema version 2 is older than 6, the one this build reads; start `escort serve`"),
        "{refused}"
    );
    assert_eq!(value::<i64>(&data, "PRAGMA user_version"), 2);
    Server::start_in(dir.path(), &[]).stop();
    let (status, answer) = audit_verify(&data);
    assert_eq!(status, Some(0), "{answer}");
    // Every decision record, then one adopt record per transit, then the
    // publication of the policies that judged them, as in force since always.
    let publications: i64 = value(&data, &format!("SELECT count(*) FROM audit WHERE {PUBLICATION}"));
    assert_eq!(publications, 7, "the seven built-in policies");
    assert!(
        answer.starts_with(&format!(
            "audit log intact: {} records, head ",
            decisions + 2 + publications
        )),
        "{answer}"
    );
    assert!(
        answer.contains("\ntables match it: 2 transits, 729 fixes, 1 refused lines, "),
        "{answer}"
    );
    assert_eq!(value::<i64>(&data, "PRAGMA user_version"), 6);
    let adopted: String = value(
        &data,
        "SELECT record FROM audit WHERE json_extract(record, '$.step') = 'adopt' ORDER BY seq DESC LIMIT 1",
    );
    let adopted: Value = serde_json::from_str(&adopted).unwrap();
    assert_eq!(adopted["step"], "adopt");
    assert_eq!(adopted["transit"], "AUDIT-2");
    assert_eq!(adopted["fixes"]["count"], 483);

    let edited = dir.path().join("edited");
    copy_data(&data, &edited);
    sql(&edited, "UPDATE transits SET verdict = 'clear' WHERE id = 'AUDIT-2'");
    let (status, answer) = audit_verify(&edited);
    assert_eq!(status, Some(1), "{answer}");
    assert!(
        answer.starts_with("transit AUDIT-2: its verdict is `clear` in the table but "),
        "{answer}"
    );

    let mut server = Server::start_in(dir.path(), &[]);
    assert_eq!(
        server.put_transit("AUDIT-5", &transit_as("seal-events", "AUDIT-5")).0,
        201
    );
    assert_eq!(server.post_fixes("AUDIT-5", &lines("seal-events").concat()).0, 200);
    server.stop();
    let (status, answer) = audit_verify(&data);
    assert_eq!(status, Some(0), "{answer}");
}

/// `escort audit verify` on `data` when it is refused: its exit status and
/// what it said on stderr.
fn audit_verify_refused(data: &Path) -> (Option<i32>, String) {
    let output = escort(&["audit", "verify", "--data", data.to_str().unwrap()]);
    assert!(output.stdout.is_empty());
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A file's bytes and when it was last modified; `None` for a folder.
type Content = Option<(Vec<u8>, SystemTime)>;

/// Every file of a data folder, its bytes and when it was last modified;
/// for a folder, its name. Not `escort.db-shm`: SQLite's index of the WAL
/// in shared memory, which every reader marks its place in and SQLite
/// rebuilds from the WAL; what the database holds is in the other two.
fn files_of(data: &Path) -> Vec<(PathBuf, Content)> {
    let mut files: Vec<_> = fs::read_dir(data)
        .unwrap()
        .filter(|entry| entry.as_ref().unwrap().file_name() != "escort.db-shm")
        .map(|entry| {
            let path = entry.unwrap().path();
            let content = path.is_file().then(|| {
                (
                    fs::read(&path).unwrap(),
                    fs::metadata(&path).unwrap().modified().unwrap(),
                )
            });
            (path, content)
        })
        .collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
}

/// Issue 12, item 2: `escort audit verify` opens the database read-only and
/// writes nothing, whether the database verifies, holds a difference, or is
/// of a schema it would have migrated before: the database and its WAL keep
/// their bytes and times, and no other file changes. A WAL that was not
/// there may be, empty: SQLite makes one for a reader of a WAL database.
#[test]
fn verification_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = served(dir.path());
    let edited = dir.path().join("edited");
    copy_data(&data, &edited);
    sql(&edited, "UPDATE fixes SET lat = lat + 1 WHERE seq = 3");
    let old = dir.path().join("old");
    copy_data(&data, &old);
    as_schema_2(&old);
    for (data, expected) in [(&data, Some(0)), (&edited, Some(1)), (&old, Some(2))] {
        let before = files_of(data);
        let (status, _) = audit_verify(data);
        assert_eq!(status, expected, "{}", data.display());
        let after = files_of(data);
        let changed: Vec<_> = before
            .iter()
            .filter(|file| !after.contains(file))
            .chain(after.iter().filter(|file| !before.contains(file)))
            .filter(|(path, content)| {
                let made_empty = path.ends_with("escort.db-wal")
                    && content.as_ref().is_some_and(|(bytes, _)| bytes.is_empty())
                    && before.iter().all(|(was, _)| was != path);
                !made_empty
            })
            .map(|(path, _)| path)
            .collect();
        assert!(changed.is_empty(), "audit verify changed {changed:?}");
    }
}

/// The digest a step record keeps of rows (`audit::commitment::RowsDigest`),
/// as someone who rewrites the chain would compute it.
fn rows_digest(rows: &[Vec<rusqlite::types::Value>]) -> String {
    use rusqlite::types::Value as Sql;
    let mut sha = Sha256::new();
    for value in rows.iter().flatten() {
        match value {
            Sql::Null => sha.update([0]),
            Sql::Integer(integer) => {
                sha.update([1]);
                sha.update(integer.to_le_bytes());
            }
            Sql::Real(real) => {
                sha.update([2]);
                sha.update((real + 0.0).to_bits().to_le_bytes());
            }
            Sql::Text(text) => {
                sha.update([3]);
                sha.update((text.len() as u64).to_le_bytes());
                sha.update(text.as_bytes());
            }
            Sql::Blob(blob) => {
                sha.update([4]);
                sha.update((blob.len() as u64).to_le_bytes());
                sha.update(blob);
            }
        }
    }
    hex::encode(sha.finalize())
}

fn verify_reevaluating(data: &Path) -> (Option<i32>, String) {
    let output = escort(&["audit", "verify", "--data", data.to_str().unwrap(), "--reevaluate"]);
    assert_ne!(
        output.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).trim().to_owned(),
    )
}

/// Issue 11, item 4: verify can also evaluate every transit again from its
/// stored fixes. A finding made less serious, in its table and in the step
/// record that committed it, with the chain rewritten from there, verifies;
/// evaluated again, the policies give the finding as it was. A transit is
/// evaluated again by the versions that last evaluated it, whatever the live
/// folder holds now; one whose version the database does not keep is
/// counted and named, not evaluated.
#[test]
fn evaluated_again_a_rewritten_finding_is_found_and_a_transit_of_a_version_not_kept_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = served(dir.path());
    let (status, answer) = verify_reevaluating(&data);
    assert_eq!(status, Some(0), "{answer}");
    assert!(
        answer.ends_with(
            "evaluated again: 2 transits give their stored findings; 0 not evaluated again, since a \
             version that last evaluated them is not kept or does not load"
        ),
        "{answer}"
    );

    let rewritten = dir.path().join("rewritten");
    copy_data(&data, &rewritten);
    let db = rusqlite::Connection::open(rewritten.join("escort.db")).unwrap();
    let one = "(SELECT key FROM transits WHERE id = 'AUDIT-1')";
    db.execute_batch(&format!(
        "DROP TRIGGER audit_is_append_only_update;
         UPDATE findings SET finding = replace(finding, '\"critical\"', '\"warning\"')
         WHERE transit = {one} AND finding LIKE '%seal.breach%';"
    ))
    .unwrap();
    let breach: i64 = db
        .query_row(
            &format!("SELECT seq FROM findings WHERE transit = {one} AND finding LIKE '%seal.breach%'"),
            [],
            |row| row.get(0),
        )
        .unwrap();
    // The step record that added the breach, since the transit's last replay.
    let step: i64 = db
        .query_row(
            &format!(
                "SELECT min(seq) FROM audit WHERE transit = {one} \
                 AND json_extract(record, '$.findings.first') <= {breach} \
                 AND json_extract(record, '$.findings.first') + json_extract(record, '$.findings.count') > {breach} \
                 AND seq >= (SELECT max(seq) FROM audit WHERE transit = {one} AND json_extract(record, '$.restart'))"
            ),
            [],
            |row| row.get(0),
        )
        .unwrap();
    rewrite_record(&db, step, |record| {
        let (first, count) = (
            record["findings"]["first"].as_i64().unwrap(),
            record["findings"]["count"].as_i64().unwrap(),
        );
        let rows: Vec<Vec<rusqlite::types::Value>> = db
            .prepare(&format!(
                "SELECT seq, content_hash, finding FROM findings WHERE transit = {one} AND seq >= ?1 AND seq < ?2 \
                 ORDER BY seq"
            ))
            .unwrap()
            .query_map([first, first + count], |row| (0..3).map(|i| row.get(i)).collect())
            .unwrap()
            .map(Result::unwrap)
            .collect();
        record["findings"]["digest"] = Value::String(rows_digest(&rows));
    });
    drop(db);
    let (status, answer) = audit_verify(&rewritten);
    assert_eq!(status, Some(0), "the chain and the tables agree: {answer}");
    let (status, answer) = verify_reevaluating(&rewritten);
    assert_eq!(status, Some(1), "{answer}");
    assert!(
        answer.starts_with("transit AUDIT-1: evaluated again from its 246 fixes as of ")
            && answer.contains("the policies give `seal.breach` (critical) from ")
            && answer.ends_with(", which is not stored (it was changed or removed)"),
        "{answer}"
    );

    // The speed policy configured otherwise since: each transit is still
    // evaluated again by the versions that last evaluated it, which the
    // database keeps, not by the live folder's.
    let policies = data.join("policies");
    fs::create_dir_all(&policies).unwrap();
    fs::write(
        policies.join("policies.toml"),
        "[speed.params]\nexcessive_kmh = 150.0\n",
    )
    .unwrap();
    let (status, answer) = verify_reevaluating(&data);
    assert_eq!(status, Some(0), "{answer}");
    assert!(
        answer.contains("evaluated again: 2 transits give their stored findings; 0 not"),
        "{answer}"
    );

    // A version the database does not keep: a transit last evaluated by a
    // build before the timeline, under policies changed before the database
    // was adopted. It is named, and not evaluated again.
    let upgraded = dir.path().join("upgraded");
    copy_data(&data, &upgraded.join("data"));
    as_schema_2(&upgraded.join("data"));
    fs::create_dir_all(upgraded.join("data/policies")).unwrap();
    fs::write(
        upgraded.join("data/policies/policies.toml"),
        "[speed.params]\nexcessive_kmh = 150.0\n",
    )
    .unwrap();
    Server::start_in(&upgraded, &[]).stop();
    let (status, answer) = verify_reevaluating(&upgraded.join("data"));
    assert_eq!(status, Some(0), "{answer}");
    let reason = "policy `speed` last evaluated it in a version the database does not keep";
    assert!(
        answer.ends_with(&format!(
            "evaluated again: 0 transits give their stored findings; 2 not evaluated again, since a version \
             that last evaluated them is not kept or does not load\n  AUDIT-1: {reason}\n  AUDIT-2: {reason}"
        )),
        "{answer}"
    );
}

/// The policy timeline is held to the publication records: a version
/// removed, added or changed in the database is named.
#[test]
fn a_timeline_changed_in_the_database_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = served(dir.path());
    let unlocked = "DROP TRIGGER policy_versions_are_append_only_update; \
                    DROP TRIGGER policy_versions_are_append_only_delete;";
    for (name, edit, named) in [
        (
            "removed",
            "DELETE FROM policy_versions WHERE policy = 'transit';",
            "the policy timeline of `transit`: audit record 7 published a version the timeline does not hold \
             (removed since)",
        ),
        (
            "rescheduled",
            "UPDATE policy_versions SET effective_from_ms = 0 WHERE policy = 'speed';",
            "the policy timeline of `speed`: its version 6 is not what audit record 6 published (changed since)",
        ),
        (
            "added",
            "INSERT INTO policy_versions SELECT 8, policy, version, content_hash, fingerprint, origin, config, \
             4102444800000, NULL, applies_to, published_at_ms, published_by, mode, change FROM policy_versions \
             WHERE seq = 1;",
            "the policy timeline of `corridor`: its version 8 was published in no audit record (added since)",
        ),
    ] {
        let edited = dir.path().join(name);
        copy_data(&data, &edited);
        sql(&edited, &format!("{unlocked} {edit}"));
        let (status, answer) = audit_verify(&edited);
        assert_eq!(status, Some(1), "{name}: {answer}");
        assert_eq!(answer.trim(), named, "{name}");
    }
}

/// The tick's steps are committed like any other, and a transit whose last
/// steps were ticks (signal lost, then overdue, then a late batch) is
/// evaluated again as of its last stored evaluation with the same findings.
#[test]
fn steps_of_the_tick_verify_and_evaluate_again_alike() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &[("tick_seconds", "1")]);
    // Opened four hours ago, due half an hour ago, silent since its tenth fix.
    let (transit, fixes) = moved(
        "clean-khorgos-almaty",
        "TICK-AUDIT",
        20,
        Utc::now() - chrono::Duration::hours(3),
    );
    let mut transit: Value = serde_json::from_str(&transit).unwrap();
    transit["deadline"] = Value::String((Utc::now() - chrono::Duration::minutes(30)).to_rfc3339());
    assert_eq!(server.put_transit("TICK-AUDIT", &transit.to_string()).0, 201);
    let fixes: Vec<&str> = fixes.split_inclusive('\n').collect();
    assert_eq!(server.post_fixes("TICK-AUDIT", &fixes[..10].concat()).0, 200);
    eventually("a tick stores the transit in violation", || {
        let (_, list) = server.get_json("/v1/transits?verdict=violation", OFFICER);
        list["transits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == "TICK-AUDIT")
    });
    // The fixes the seal kept while silent arrive late, then more ticks.
    assert_eq!(server.post_fixes("TICK-AUDIT", &fixes[10..].concat()).0, 200);
    std::thread::sleep(std::time::Duration::from_millis(2_500));
    server.stop();
    let ticks: i64 = value(
        &server.data(),
        "SELECT count(*) FROM audit WHERE transit IS NOT NULL AND record LIKE '{\"step\":\"tick\"%'",
    );
    assert!(ticks > 0, "no tick was stored");
    let (status, answer) = verify_reevaluating(&server.data());
    assert_eq!(status, Some(0), "{answer}");
    assert!(
        answer.contains("\nevaluated again: 1 transits give their stored findings; "),
        "{answer}"
    );
}
