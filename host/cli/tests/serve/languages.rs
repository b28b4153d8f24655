//! Policies in Python and JavaScript: the speed policy agrees with the Rust
//! one on every scenario, and a project made by `escort policy new` in each
//! language builds, passes `escort test`, is signed, and raises findings in
//! a running service.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use chrono::{TimeDelta, Utc};

use escort_tests::{REGULATOR, Server, escort, opening_at, scenarios, workspace};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Held by each test that builds Python or JavaScript components: compiling
/// one takes tens of seconds on two cores, and the host gives a compilation
/// 60 s, so two at once can both run out of time.
fn one_build_at_a_time() -> MutexGuard<'static, ()> {
    static BUILDS: Mutex<()> = Mutex::new(());
    BUILDS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Builds a project or bundle folder with `escort policy build`.
fn build(dir: &Path) {
    let built = escort(&["policy", "build", dir.to_str().unwrap()]);
    assert!(
        built.status.success(),
        "building {} failed:\n{}",
        dir.display(),
        text(&built.stderr)
    );
}

/// A folder holding only the Rust speed component: the one Escort ships,
/// built from its sources by `escort-builtin`.
fn rust_speed() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let component = escort_builtin::component("speed").expect("the built-in set has the speed policy");
        let dir = workspace().join("target/escort-test-speed/alone");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("speed.wasm"), component).unwrap();
        dir
    })
}

fn check(policies: &Path, dir: &Path) -> String {
    let fixes = ["fixes.ndjson", "fixes.gpx", "fixes.csv"]
        .into_iter()
        .map(|name| dir.join(name))
        .find(|path| path.is_file())
        .expect("the scenario has fixes");
    let mut args = vec![
        "check".to_owned(),
        "--format".to_owned(),
        "json".to_owned(),
        "--transit".to_owned(),
        dir.join("transit.json").display().to_string(),
        "--fixes".to_owned(),
        fixes.display().to_string(),
        "--policies".to_owned(),
        policies.display().to_string(),
    ];
    if let Ok(now) = fs::read_to_string(dir.join("now.txt")) {
        args.extend(["--now".to_owned(), now.trim().to_owned()]);
    }
    let output = escort(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(output.status.success(), "{}", text(&output.stderr));
    text(&output.stdout)
}

#[test]
fn the_speed_policy_in_rust_python_and_javascript_gives_the_same_reports() {
    let _one_at_a_time = one_build_at_a_time();
    let bundles = ["speed-py", "speed-js"].map(|name| workspace().join("policies").join(name));
    for bundle in &bundles {
        build(bundle);
    }
    let mut with_speed_findings = 0;
    for dir in &scenarios() {
        let rust = check(rust_speed(), dir);
        if rust.contains("\"policy\": \"speed\"") {
            with_speed_findings += 1;
        }
        for bundle in &bundles {
            assert_eq!(
                check(bundle, dir),
                rust,
                "{} differs from the Rust speed policy on {}",
                bundle.display(),
                dir.display()
            );
        }
    }
    assert!(with_speed_findings >= 2, "the comparison saw speed findings");

    // Each bundle carries scenarios of its own, whose golden files are the
    // Rust policy's reports: `escort test` on the bundle passes them.
    for bundle in &bundles {
        let tested = escort(&["test", bundle.to_str().unwrap()]);
        let printed = text(&tested.stdout);
        assert!(tested.status.success(), "{}: {printed}", bundle.display());
        assert!(printed.ends_with("ok: 3 passed, 0 failed\n"), "{printed}");
    }
}

#[test]
fn new_projects_in_every_language_build_test_sign_and_serve() {
    let _one_at_a_time = one_build_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let parent = dir.path().to_str().unwrap();
    let key = dir.path().join("regulator");
    assert!(escort(&["policy", "keygen", key.to_str().unwrap()]).status.success());
    let public = fs::read_to_string(key.with_extension("pub")).unwrap();
    // A transit opened after the policies are published sends the fixes
    // of its first quarter hour at once.
    let server = Server::start(&[
        ("trusted_keys", &format!("[\"{}\"]", public.trim())),
        ("max_fix_lead_seconds", "3600"),
    ]);

    for (name, language) in [
        ("low-battery-py", "python"),
        ("low-battery-js", "js"),
        ("low-battery-rs", "rust"),
    ] {
        let made = escort(&["policy", "new", name, "--lang", language, "--dir", parent]);
        assert!(made.status.success(), "{}", text(&made.stderr));
        let project = dir.path().join(name);
        // Issue 14: a Rust project carries its SDK and names nothing of
        // this checkout, so it builds on a machine without it.
        if let Ok(cargo) = fs::read_to_string(project.join("Cargo.toml")) {
            assert!(cargo.contains("path = \".escort/sdk\""), "{cargo}");
            assert!(!cargo.contains(workspace().to_str().unwrap()), "{cargo}");
        }
        build(&project);
        let tested = escort(&["test", project.to_str().unwrap()]);
        assert!(
            tested.status.success(),
            "{name}: the new project fails its own test:\n{}",
            text(&tested.stdout)
        );
        let signed = escort(&[
            "policy",
            "sign",
            "--key",
            key.with_extension("key").to_str().unwrap(),
            project.to_str().unwrap(),
        ]);
        assert!(signed.status.success(), "{}", text(&signed.stderr));

        let id = name.replace('-', "_");
        let upload = bundle_of(&project);
        let (status, info) = server.json("PUT", &format!("/v1/policies/{id}"), Some(REGULATOR), &upload);
        assert_eq!(status, 200, "{name}: {info}");
        assert_eq!(info["params"]["min_battery_pct"], 20.0);
    }

    // A new build invalidates the signature of the old one, which goes.
    let project = dir.path().join("low-battery-rs");
    let rebuilt = escort(&["policy", "build", project.to_str().unwrap()]);
    assert!(rebuilt.status.success(), "{}", text(&rebuilt.stderr));
    assert!(
        text(&rebuilt.stdout).contains("sign it again"),
        "{}",
        text(&rebuilt.stdout)
    );
    assert!(!project.join("policy.sig").exists());

    // Every fix of the scenario reports 95 % or less; a low threshold is not
    // reached, so the three policies raise findings only on a drained seal.
    // They judge the transits opened from their publication on.
    let (transit, fixes) = opening_at("clean-khorgos-almaty", "NEW-1", 5, Utc::now() + TimeDelta::seconds(1));
    assert_eq!(server.put_transit("NEW-1", &transit).0, 201);
    let drained = fixes.replace("\"battery\":95", "\"battery\":9");
    assert_eq!(drained.matches("\"battery\":9,").count(), 5, "{drained}");
    let (status, outcome) = server.post_fixes("NEW-1", &drained);
    assert_eq!(status, 200, "{outcome}");
    for id in ["low_battery_py", "low_battery_js", "low_battery_rs"] {
        let raised = outcome["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["code"] == format!("{id}.battery_low"))
            .count();
        assert_eq!(raised, 5, "{id}: {outcome}");
    }
}

/// A project `raises` made by `escort policy new` in `parent`.
fn new_project(parent: &Path, language: &str) -> PathBuf {
    let parent = parent.to_str().unwrap();
    let made = escort(&["policy", "new", "raises", "--lang", language, "--dir", parent]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    Path::new(parent).join("raises")
}

/// Issue 14: an exception in a Python rule reaches its author as its type,
/// message and line, in the `policy.error` finding and on stderr, rather
/// than as "wasm `unreachable` instruction executed".
#[test]
fn a_python_exception_names_its_type_message_and_line() {
    let _one_at_a_time = one_build_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let project = new_project(dir.path(), "python");
    let app = project.join("app.py");
    let rule = "    def observe(self, transit, params, fixes, now, state):\n";
    let source = fs::read_to_string(&app).unwrap();
    let at = source.find(rule).expect("the template defines observe");
    let line = source[..at].lines().count() + 2;
    fs::write(
        &app,
        source.replacen(rule, &format!("{rule}        per_fix = 1 / 0\n"), 1),
    )
    .unwrap();
    build(&project);

    let example = project.join("scenarios/example");
    let checked = escort(&[
        "check",
        "--format",
        "json",
        "--transit",
        example.join("transit.json").to_str().unwrap(),
        "--fixes",
        example.join("fixes.ndjson").to_str().unwrap(),
        "--policies",
        project.to_str().unwrap(),
    ]);
    let report: serde_json::Value = serde_json::from_slice(&checked.stdout).unwrap();
    let failures: Vec<&serde_json::Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "policy.error")
        .collect();
    assert_eq!(failures.len(), 1, "{report}");
    assert_eq!(failures[0]["evidence"]["failure"], "error", "{report}");
    let said = format!("ZeroDivisionError: division by zero (app.py, line {line})");
    assert_eq!(failures[0]["evidence"]["error"], said.as_str(), "{report}");
    let message = failures[0]["message"].as_str().unwrap();
    assert!(message.ends_with(&format!("returned an error: {said}")), "{message}");
    assert!(text(&checked.stderr).contains(&said), "{}", text(&checked.stderr));
}

/// Issue 14: an exception thrown in a JavaScript policy reaches its author as
/// a `policy.error` naming the exception's type, message and line, where it
/// used to be a bare "wasm `unreachable` instruction executed".
#[test]
fn a_javascript_exception_names_its_type_message_and_line_in_policy_error() {
    let _one_at_a_time = one_build_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let project = new_project(dir.path(), "js");
    let source = project.join("policy.js");
    let rule = fs::read_to_string(&source).unwrap();
    // A slip an author makes: the state of this rule is `{}`, it has no list.
    let slip = "        const findings = state.findings.slice();\n";
    let raising = rule.replacen("        const findings = [];\n", slip, 1);
    assert_ne!(raising, rule, "the template's observe starts its findings");
    fs::write(&source, &raising).unwrap();
    let line = raising.lines().position(|l| l == slip.trim_end()).unwrap() + 1;
    build(&project);

    let report = check(&project, &project.join("scenarios/example"));
    // SpiderMonkey's wording, in the componentize-js that escort pins.
    let expected = format!(
        "returned an error: TypeError: can't access property \"slice\", state.findings is undefined (policy.js:{line})"
    );
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let errors: Vec<&serde_json::Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "policy.error")
        .collect();
    assert!(!errors.is_empty(), "{report}");
    for error in errors {
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(&expected), "{message}");
        assert_eq!(
            error["evidence"]["error"]
                .as_str()
                .map(|said| format!("returned an error: {said}")),
            Some(expected.clone()),
            "{error}"
        );
    }
}

/// The bundle files of a project, without its sources and build folders, as
/// a tar archive.
fn bundle_of(project: &Path) -> Vec<u8> {
    let bundle = project.with_extension("bundle");
    fs::create_dir_all(&bundle).unwrap();
    for file in ["policy.toml", "policy.wasm", "policy.sig"] {
        fs::copy(project.join(file), bundle.join(file)).unwrap();
    }
    let mut archive = tar::Builder::new(Vec::new());
    archive.append_dir_all(".", &bundle).unwrap();
    archive.append_dir_all("scenarios", project.join("scenarios")).unwrap();
    archive.into_inner().unwrap()
}
