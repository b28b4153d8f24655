//! Policy bundles: golden-file tests with `escort test`, signatures, and a
//! service that trusts only signed bundles.

use std::fs;
use std::path::Path;

use chrono::{TimeDelta, Utc};
use serde_json::Value;

use escort_tests::{OFFICER, REGULATOR, Server, copy_dir, escort, hostile_bundle, opening_at, scenario, tar_of};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn escort_test_passes_fails_with_a_diff_and_blesses() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = hostile_bundle(dir.path());
    let path = bundle.to_str().unwrap();
    let passed = escort(&["test", path]);
    assert_eq!(passed.status.code(), Some(0), "{}", text(&passed.stdout));
    assert!(
        text(&passed.stdout).ends_with("ok: 1 passed, 0 failed\n"),
        "{}",
        text(&passed.stdout)
    );

    let expected = bundle.join("scenarios/example/expected.json");
    let golden = fs::read_to_string(&expected).unwrap();
    fs::write(
        &expected,
        golden.replace("\"verdict\": \"clear\"", "\"verdict\": \"violation\""),
    )
    .unwrap();
    let failed = escort(&["test", path]);
    assert_eq!(failed.status.code(), Some(1));
    let report = text(&failed.stdout);
    assert!(report.contains("FAILED"), "{report}");
    assert!(
        report.contains("-  \"verdict\": \"violation\",\n+  \"verdict\": \"clear\","),
        "{report}"
    );
    assert!(report.ends_with("FAILED: 0 passed, 1 failed\n"), "{report}");

    let blessed = escort(&["test", "--bless", path]);
    assert_eq!(blessed.status.code(), Some(0));
    assert_eq!(fs::read_to_string(&expected).unwrap(), golden);

    // A folder of scenarios is tested with the built-in set.
    let scenarios = dir.path().join("scenarios");
    fs::create_dir_all(&scenarios).unwrap();
    let copy = scenarios.join("seal-events");
    fs::create_dir_all(&copy).unwrap();
    for file in ["transit.json", "fixes.ndjson"] {
        fs::copy(scenario("seal-events").join(file), copy.join(file)).unwrap();
    }
    let missing = escort(&["test", scenarios.to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        text(&missing.stdout).contains("no expected.json"),
        "{}",
        text(&missing.stdout)
    );
    assert!(
        escort(&["test", "--bless", scenarios.to_str().unwrap()])
            .status
            .success()
    );
    assert!(escort(&["test", scenarios.to_str().unwrap()]).status.success());
}

/// Keys for the tests: (secret path, public path).
fn keys(dir: &Path, name: &str) -> (String, String) {
    let base = dir.join(name);
    let made = escort(&["policy", "keygen", base.to_str().unwrap()]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    (
        base.with_extension("key").display().to_string(),
        base.with_extension("pub").display().to_string(),
    )
}

#[test]
fn signatures_name_what_changed_and_who_is_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = hostile_bundle(dir.path());
    let path = bundle.to_str().unwrap();
    let (secret, public) = keys(dir.path(), "regulator");
    let (_, stranger) = keys(dir.path(), "stranger");

    let unsigned = escort(&["policy", "verify", path, "--trust", &public]);
    assert_eq!(unsigned.status.code(), Some(2));
    assert!(
        text(&unsigned.stderr).contains("not signed"),
        "{}",
        text(&unsigned.stderr)
    );

    assert!(escort(&["policy", "sign", "--key", &secret, path]).status.success());
    let verified = escort(&["policy", "verify", path, "--trust", &public]);
    assert!(verified.status.success(), "{}", text(&verified.stderr));
    assert!(text(&verified.stdout).starts_with("hostile 6.6.6: signed by "));
    let untrusted = escort(&["policy", "verify", path, "--trust", &stranger]);
    assert_eq!(untrusted.status.code(), Some(2));
    assert!(
        text(&untrusted.stderr).contains("does not trust"),
        "{}",
        text(&untrusted.stderr)
    );

    for (file, change) in [
        ("policy.wasm", "a byte more"),
        ("policy.toml", "# a comment\n"),
        ("scenarios/example/fixes.ndjson", "\n"),
    ] {
        let copy = dir.path().join(format!("tampered-{}", file.replace('/', "-")));
        copy_dir(&bundle, &copy);
        let mut bytes = fs::read(copy.join(file)).unwrap();
        bytes.extend_from_slice(change.as_bytes());
        fs::write(copy.join(file), bytes).unwrap();
        let refused = escort(&["policy", "verify", copy.to_str().unwrap(), "--trust", &public]);
        assert_eq!(refused.status.code(), Some(2), "{file}");
        assert!(
            text(&refused.stderr).contains(&format!("{file} changed after the bundle was signed")),
            "{file}: {}",
            text(&refused.stderr)
        );
        // `escort check` refuses it as well.
        let check = escort(&[
            "check",
            "--transit",
            scenario("seal-events").join("transit.json").to_str().unwrap(),
            "--fixes",
            scenario("seal-events").join("fixes.ndjson").to_str().unwrap(),
            "--policies",
            copy.to_str().unwrap(),
            "--trust",
            &public,
        ]);
        assert_eq!(check.status.code(), Some(2), "{file}");
    }
}

#[test]
fn a_service_with_trusted_keys_takes_only_bundles_they_signed() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = hostile_bundle(dir.path());
    let (secret, public) = keys(dir.path(), "regulator");
    let (stranger_secret, _) = keys(dir.path(), "stranger");
    let trusted = fs::read_to_string(&public).unwrap();
    let server = Server::start(&[("trusted_keys", &format!("[\"{}\"]", trusted.trim()))]);
    let listed = |server: &Server| {
        let (_, listing) = server.get_json("/v1/policies", OFFICER);
        listing["policies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| format!("{} {}", p["id"].as_str().unwrap(), p["content_hash"].as_str().unwrap()))
            .collect::<Vec<_>>()
    };
    let before = listed(&server);
    let publish = |body: &[u8]| server.json("PUT", "/v1/policies/hostile", Some(REGULATOR), body);
    let refusal = |answer: &Value| answer["error"].as_str().unwrap().to_owned();

    let (status, answer) = publish(escort_tests::HOSTILE_POLICY);
    assert_eq!(status, 422, "{answer}");
    assert!(refusal(&answer).contains("only signed bundles"), "{answer}");
    let (status, answer) = publish(&tar_of(&bundle));
    assert_eq!(status, 422, "{answer}");
    assert!(refusal(&answer).contains("not signed"), "{answer}");

    assert!(
        escort(&["policy", "sign", "--key", &stranger_secret, bundle.to_str().unwrap()])
            .status
            .success()
    );
    let (status, answer) = publish(&tar_of(&bundle));
    assert_eq!(status, 422, "{answer}");
    assert!(refusal(&answer).contains("does not trust"), "{answer}");

    assert!(
        escort(&["policy", "sign", "--key", &secret, bundle.to_str().unwrap()])
            .status
            .success()
    );
    let tampered = dir.path().join("tampered");
    copy_dir(&bundle, &tampered);
    fs::write(
        tampered.join("policy.toml"),
        fs::read_to_string(bundle.join("policy.toml")).unwrap() + "\n",
    )
    .unwrap();
    let (status, answer) = publish(&tar_of(&tampered));
    assert_eq!(status, 422, "{answer}");
    assert!(
        refusal(&answer).contains("policy.toml changed after the bundle was signed"),
        "{answer}"
    );
    assert_eq!(listed(&server), before, "nothing refused touched the active set");

    let (status, info) = publish(&tar_of(&bundle));
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["version"], "6.6.6");
    assert!(server.data().join("policies/hostile/policy.sig").is_file());
    // It judges the transits opened from its publication on.
    let (transit, fixes) = opening_at(
        "clean-khorgos-almaty",
        "SIGNED-1",
        1,
        Utc::now() + TimeDelta::seconds(1),
    );
    assert_eq!(server.put_transit("SIGNED-1", &transit).0, 201);
    let (status, outcome) = server.post_fixes("SIGNED-1", &fixes);
    assert_eq!(status, 200, "{outcome}");
    assert!(
        outcome["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "hostile.alive"),
        "{outcome}"
    );
}

#[test]
fn a_bundle_that_fails_its_own_golden_scenario_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = hostile_bundle(dir.path());
    let expected = bundle.join("scenarios/example/expected.json");
    let golden = fs::read_to_string(&expected).unwrap();
    fs::write(&expected, golden.replace("still here", "gone")).unwrap();
    let server = Server::start(&[]);
    let (status, answer) = server.json("PUT", "/v1/policies/hostile", Some(REGULATOR), &tar_of(&bundle));
    assert_eq!(status, 422, "{answer}");
    let reason = answer["error"].as_str().unwrap();
    assert!(reason.contains("fails its own golden scenario example"), "{reason}");
    assert!(reason.contains("-      \"message\": \"gone\""), "{reason}");
    assert!(!server.data().join("policies/hostile").exists());
}

/// The speed policy's versions, as the service lists them.
fn speed_versions(server: &Server) -> Vec<Value> {
    let (status, listing) = server.get_json("/v1/policies/speed/versions", OFFICER);
    assert_eq!(status, 200, "{listing}");
    listing["versions"].as_array().unwrap().clone()
}

#[test]
fn with_trusted_keys_parameters_are_signed_and_a_change_of_them_is_a_version_from_its_date() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, public) = keys(dir.path(), "regulator");
    let (stranger_secret, _) = keys(dir.path(), "stranger");
    let trusted = fs::read_to_string(&public).unwrap();
    let server = Server::start(&[("trusted_keys", &format!("[\"{}\"]", trusted.trim()))]);
    let live = server.data().join("policies");
    let params = live.join("policies.toml");
    let reload_error = |server: &Server| {
        let (_, listing) = server.get_json("/v1/policies", OFFICER);
        listing["last_reload_error"].as_str().unwrap_or_default().to_owned()
    };
    let sign = |key: &str| {
        let signed = escort(&["policy", "sign", "--key", key, params.to_str().unwrap()]);
        assert!(signed.status.success(), "{}", text(&signed.stderr));
    };

    // A new year's threshold, scheduled: refused unsigned, and signed by a
    // stranger.
    let new_year = (Utc::now() + TimeDelta::days(30))
        .format("%Y-%m-%dT00:00:00Z")
        .to_string();
    let text_of_params = format!("effective_from = {new_year}\n[speed.params]\nexcessive_kmh = 150.0\n");
    fs::write(&params, &text_of_params).unwrap();
    escort_tests::eventually("unsigned parameters are refused", || {
        reload_error(&server).contains("live policies.toml: the parameters are not signed")
    });
    sign(&stranger_secret);
    escort_tests::eventually("a stranger's parameters are refused", || {
        reload_error(&server).contains("which this host does not trust")
    });
    assert_eq!(speed_versions(&server).len(), 1, "a refused folder adds no version");

    // Signed: a version of speed with the new value, from the new year.
    sign(&secret);
    escort_tests::eventually("signed parameters are taken", || {
        reload_error(&server).is_empty() && speed_versions(&server).len() == 2
    });
    let versions = speed_versions(&server);
    assert_eq!(versions[1]["change"], "parameters");
    assert_eq!(versions[1]["effective_from"], new_year.as_str());
    assert_eq!(versions[1]["params"]["excessive_kmh"], 150.0);
    assert_eq!(versions[1]["content_hash"], versions[0]["content_hash"]);
    assert_eq!(versions[0]["in_force_until"], new_year.as_str());
    // Until then the values in force are the old ones.
    let (_, listing) = server.get_json("/v1/policies", OFFICER);
    let speed = listing["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "speed")
        .unwrap()
        .clone();
    assert_eq!(speed["params"]["excessive_kmh"], 110.0, "{speed}");
    let db = rusqlite::Connection::open(server.data().join("escort.db")).unwrap();
    let recorded: i64 = db
        .query_row(
            "SELECT count(*) FROM audit WHERE json_extract(record, '$.published') = 'speed' \
             AND json_extract(record, '$.change') = 'parameters' AND json_extract(record, '$.effective_from') = ?1",
            [&new_year],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(recorded, 1, "the change of parameters is an audit record of its own");

    let verified = escort(&["policy", "verify", params.to_str().unwrap(), "--trust", &public]);
    assert_eq!(verified.status.code(), Some(0), "{}", text(&verified.stderr));
    assert!(
        text(&verified.stdout).ends_with(&format!("policies.toml: signed by {}, reads\n", trusted.trim())),
        "{}",
        text(&verified.stdout)
    );

    // Changed after it was signed: refused, naming the file.
    fs::write(&params, text_of_params.replace("150.0", "250.0")).unwrap();
    let verified = escort(&["policy", "verify", params.to_str().unwrap(), "--trust", &public]);
    assert_eq!(verified.status.code(), Some(2));
    assert!(
        text(&verified.stderr).contains("it changed after it was signed"),
        "{}",
        text(&verified.stderr)
    );
    escort_tests::eventually("a changed file is refused", || {
        reload_error(&server).contains("live policies.toml: it changed after it was signed")
    });
    assert_eq!(speed_versions(&server).len(), 2);
}

/// Issue 14, the author's loop: `--bless` never writes a report in which a
/// policy failed, which would then pass for ever.
#[test]
fn bless_refuses_a_report_with_a_policy_error() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = hostile_bundle(dir.path());
    let expected = bundle.join("scenarios/example/expected.json");
    let golden = fs::read_to_string(&expected).unwrap();
    fs::write(bundle.join("policies.toml"), "[hostile.params]\nbehaviour = \"fail\"\n").unwrap();
    let blessed = escort(&["test", "--bless", bundle.to_str().unwrap()]);
    assert_eq!(blessed.status.code(), Some(1), "{}", text(&blessed.stdout));
    assert!(
        text(&blessed.stdout).contains("not blessed: `hostile` failed (policy.error: "),
        "{}",
        text(&blessed.stdout)
    );
    assert_eq!(
        fs::read_to_string(&expected).unwrap(),
        golden,
        "the golden file is left as it was"
    );
}
