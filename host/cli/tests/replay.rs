//! `escort replay`, the exact backtest (issue 13, item 4): its decision diff
//! equals, transit by transit, the difference between `escort check`'s
//! reports under the base set and under the candidate laid over it, over
//! every golden scenario and over a service's database after a streamed
//! load; and the command's exit statuses and refusals.
//!
//! The candidate is the built-in speed component with other parameters,
//! which changes the findings of some scenarios and not of others.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use escort_bundle::{Trust, folder};
use escort_engine::{Finding, PolicySet, Telemetry, Transit, check};
use escort_service::replay::{Options, Overlay, Replay, Selection, Source, TransitDiff, findings_diff};
use escort_service::{CloseReason, ListFilter, ServeConfig, Service};
use escort_tests::{Scenario, builtin, cache_dir, escort, ndjson_line, sandbox, scenarios, transit_as, workspace};
use serde_json::{Value, json};

/// A candidate folder: the built-in speed component, excessive from 80 km/h
/// and implausible from 100 km/h (110 and 150 by default).
fn changed_speed(dir: &Path) -> PathBuf {
    let candidate = dir.join("candidate");
    unchanged_speed(&candidate);
    fs::write(
        candidate.join("policies.toml"),
        "[speed.params]\nexcessive_kmh = 80.0\nimplausible_kmh = 100.0\n",
    )
    .expect("policies.toml written");
    candidate
}

/// A candidate folder holding the built-in speed component as it is.
fn unchanged_speed(candidate: &Path) -> PathBuf {
    fs::create_dir_all(candidate).expect("candidate folder");
    let speed = escort_builtin::component("speed").expect("a built-in speed policy");
    fs::write(candidate.join("speed.wasm"), speed).expect("component written");
    candidate.to_owned()
}

fn candidate_set(candidate: &Path) -> PolicySet {
    folder::load_dir(sandbox(), candidate, &Trust::default()).expect("the candidate loads")
}

/// What the candidate laid over the built-in set is, in full: the set a
/// service or `escort check` would run after publishing it.
fn overlaid(candidate: &Path) -> PolicySet {
    let mut set = escort_builtin::policies(sandbox()).expect("the built-in policies load");
    for policy in candidate_set(candidate).into_policies() {
        set.put(policy);
    }
    set
}

fn overlay(candidate: &Path) -> Overlay {
    Overlay::new(
        escort_builtin::policies(sandbox()).expect("the built-in policies load"),
        candidate_set(candidate),
    )
}

fn sorted(mut diffs: Vec<TransitDiff>) -> Vec<TransitDiff> {
    diffs.sort_by(|a, b| (&a.transit, &a.scenario).cmp(&(&b.transit, &b.scenario)));
    diffs
}

fn name_of(dir: &Path) -> String {
    dir.file_name().expect("a named folder").to_string_lossy().into_owned()
}

#[test]
fn over_every_scenario_the_diff_is_that_of_check_under_both_sets() {
    let work = tempfile::tempdir().expect("a temporary folder");
    let candidate = changed_speed(work.path());
    let replay = overlay(&candidate)
        .replay(
            &Source::Scenarios(vec![workspace().join("tests/scenarios")]),
            &Selection::default(),
            &Options::default(),
        )
        .expect("the scenarios replay");
    let after = overlaid(&candidate);
    let mut expected = Vec::new();
    let mut fixes = 0;
    for dir in scenarios() {
        let scenario = Scenario::read(&dir);
        fixes += scenario.check(builtin()).fixes.accepted as u64;
        let before: Vec<Finding> = scenario.check(builtin()).findings;
        let after: Vec<Finding> = scenario.check(&after).findings;
        expected.extend(findings_diff(&scenario.transit.id, Some(dir.as_path()), before, after));
    }
    let expected = sorted(expected);
    assert!(!expected.is_empty(), "the candidate changes some scenario");
    assert!(
        expected.len() < scenarios().len(),
        "the candidate leaves some scenario as it was"
    );
    assert_eq!(replay.diffs, expected);
    assert_eq!(replay.transits, scenarios().len() as u64);
    assert_eq!(replay.fixes, fixes);
    assert_eq!(replay.policies.len(), 1, "{:?}", replay.policies);
    assert_eq!(replay.policies[0].id, "speed");
    let tally = replay.by_policy.get("speed").expect("speed's changes are counted");
    let changes: usize = expected
        .iter()
        .map(|d| d.added.len() + d.removed.len() + d.changed.len())
        .sum();
    assert_eq!((tally.added + tally.removed + tally.changed) as usize, changes);
    assert_eq!(replay.by_policy.len(), 1, "only speed's findings change");
}

/// Every golden scenario streamed into a service on `data` in batches of
/// 40 fixes, every other one closed; returns (id, scenario folder) of each.
fn streamed_service(config: &ServeConfig) -> Vec<(String, PathBuf)> {
    let service = Service::open(config).expect("the service opens");
    let mut transits = Vec::new();
    for (index, dir) in scenarios().into_iter().enumerate() {
        let id = format!("REPLAY-{index:02}");
        service
            .put_transit(&id, &transit_as(&name_of(&dir), &id))
            .expect("the transit is admitted");
        let scenario = Scenario::read(&dir);
        let lines: Vec<String> = scenario.telemetry.fixes.iter().map(ndjson_line).collect();
        for batch in lines.chunks(40) {
            service
                .ingest(&id, batch.join("\n").as_bytes())
                .expect("the batch is taken");
        }
        if index % 2 == 0 {
            service
                .close(&id, CloseReason::Arrived, None)
                .expect("the transit closes");
        }
        transits.push((id, dir));
    }
    transits
}

#[test]
fn over_a_service_database_the_diff_is_that_of_check_under_both_sets() {
    let work = tempfile::tempdir().expect("a temporary folder");
    let candidate = changed_speed(work.path());
    let config = ServeConfig {
        data: work.path().join("data"),
        cache: Some(cache_dir()),
        ..ServeConfig::default()
    };
    let transits = streamed_service(&config);
    let listed = {
        let service = Service::open(&config).expect("the service opens again");
        service
            .list(&ListFilter {
                limit: 1_000,
                ..ListFilter::default()
            })
            .expect("the transits list")
    };
    // Every transit was judged by the built-in set, the versions the
    // service recorded as in force since always.
    let overlay = Overlay::over_judged(sandbox().clone(), candidate_set(&candidate));
    let replay = overlay
        .replay(
            &Source::Data(config.data.clone()),
            &Selection::default(),
            &Options::default(),
        )
        .expect("the database replays");
    // The same with the base set evaluated instead of its stored findings taken.
    let reevaluated = overlay
        .replay(
            &Source::Data(config.data.clone()),
            &Selection::default(),
            &Options {
                reevaluate: true,
                ..Options::default()
            },
        )
        .expect("the database replays");
    assert_eq!(reevaluated.diffs, replay.diffs);
    assert_eq!(
        replay.base_as_stored,
        transits.len() as u64,
        "the stored findings were taken"
    );
    assert_eq!(reevaluated.base_as_stored, 0, "the base set was evaluated");
    let after = overlaid(&candidate);
    let mut expected = Vec::new();
    for (id, dir) in &transits {
        let summary = listed.iter().find(|s| &s.id == id).expect("the transit is listed");
        let now = summary
            .last_fix_at
            .map_or(summary.evaluated_at, |last| last.max(summary.evaluated_at));
        let transit = Transit::from_json(&transit_as(&name_of(dir), id)).expect("the transit reads");
        // The fixes the service stored: sorted, without repeats or refused lines.
        let mut telemetry: Telemetry = Scenario::read(dir).telemetry;
        telemetry.duplicates = 0;
        telemetry.out_of_order = 0;
        telemetry.rejected.clear();
        let before = check(builtin(), &transit, &telemetry, Some(now)).expect("check runs");
        let after = check(&after, &transit, &telemetry, Some(now)).expect("check runs");
        expected.extend(findings_diff(id, None, before.findings, after.findings));
    }
    let expected = sorted(expected);
    assert!(!expected.is_empty(), "the candidate changes some stored transit");
    assert_eq!(replay.diffs, expected);
    assert_eq!(replay.transits, transits.len() as u64);
    let stored: u64 = listed.iter().map(|s| s.fixes).sum();
    assert_eq!(replay.fixes, stored);

    let opened = |id: &str| {
        let (_, dir) = transits.iter().find(|(t, _)| t == id).expect("a streamed transit");
        Scenario::read(dir).transit.opened_at
    };
    let some = &expected[0].transit;
    let named = Overlay::new(builtin_owned(), candidate_set(&candidate))
        .replay(
            &Source::Data(config.data.clone()),
            &Selection {
                since: Some(opened(some)),
                until: Some(opened(some) + chrono::Duration::seconds(1)),
                transits: vec![some.clone()],
            },
            &Options {
                threads: 1,
                ..Options::default()
            },
        )
        .expect("one transit replays");
    assert_eq!(named.transits, 1);
    assert_eq!(named.diffs, vec![expected[0].clone()]);
}

fn builtin_owned() -> PolicySet {
    escort_builtin::policies(sandbox()).expect("the built-in policies load")
}

fn replay_cli(args: &[&str]) -> Output {
    escort(&[&["replay"], args].concat())
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("UTF-8 output")
}

#[test]
fn the_command_exits_0_when_nothing_changes_1_when_something_does_and_prints_the_same_bytes() {
    let work = tempfile::tempdir().expect("a temporary folder");
    let changed = changed_speed(work.path());
    let unchanged = unchanged_speed(&work.path().join("unchanged"));
    let scenarios_dir = workspace().join("tests/scenarios");
    let scenarios_dir = scenarios_dir.to_str().expect("a UTF-8 path");

    let output = replay_cli(&["--policies", unchanged.to_str().expect("UTF-8"), scenarios_dir]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let replay: Value = serde_json::from_str(&stdout(&output)).expect("JSON on stdout");
    assert_eq!(replay["diffs"], json!([]));
    assert_eq!(replay["policies"], json!([]));

    let args = ["--policies", changed.to_str().expect("UTF-8"), scenarios_dir];
    let output = replay_cli(&args);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let again = replay_cli(&args);
    assert_eq!(stdout(&output), stdout(&again), "the same inputs print the same bytes");
    let printed: Value = serde_json::from_str(&stdout(&output)).expect("JSON on stdout");
    let library: Replay = overlay(&changed)
        .replay(
            &Source::Scenarios(vec![scenarios_dir.into()]),
            &Selection::default(),
            &Options::default(),
        )
        .expect("the scenarios replay");
    assert_eq!(
        printed,
        serde_json::from_str::<Value>(&library.to_json()).expect("JSON")
    );
    assert!(
        stderr(&output).is_empty(),
        "no progress bar off a terminal: {}",
        stderr(&output)
    );

    let text = replay_cli(&[&args[..], &["--format", "text"]].concat());
    assert_eq!(text.status.code(), Some(1));
    assert_eq!(stdout(&text), library.to_text());
    assert!(stdout(&text).contains("policy speed: 0.1.0"), "{}", stdout(&text));
}

#[test]
fn the_command_refuses_unusable_input_with_status_2() {
    let work = tempfile::tempdir().expect("a temporary folder");
    let changed = changed_speed(work.path());
    let changed = changed.to_str().expect("UTF-8");
    let empty = work.path().join("empty");
    fs::create_dir_all(&empty).expect("an empty folder");
    let broken = work.path().join("broken");
    fs::create_dir_all(&broken).expect("a folder");
    fs::write(broken.join("speed.wasm"), b"not a component").expect("written");
    let scenario = workspace().join("tests/scenarios/speed-jump-and-excessive");
    let scenario = scenario.to_str().expect("UTF-8");
    let missing = work.path().join("missing");
    let missing = missing.to_str().expect("UTF-8");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--policies", changed], "give --data DIR"),
        (
            vec![
                "--policies",
                changed,
                "--data",
                work.path().to_str().expect("UTF-8"),
                scenario,
            ],
            "cannot be used with",
        ),
        (vec!["--policies", changed, "--data", missing], "no service database"),
        (vec!["--policies", changed, missing], "no scenarios"),
        (
            vec!["--policies", empty.to_str().expect("UTF-8"), scenario],
            "no policy components",
        ),
        (
            vec!["--policies", broken.to_str().expect("UTF-8"), scenario],
            "speed.wasm",
        ),
        (vec!["--policies", missing, scenario], "no such policy folder"),
        (
            vec![
                "--policies",
                changed,
                "--since",
                "2021-06-01T00:00:00Z",
                "--until",
                "2021-05-01T00:00:00Z",
                scenario,
            ],
            "must be before --until",
        ),
        (
            vec!["--policies", changed, "--since", "yesterday", scenario],
            "RFC 3339",
        ),
        (
            vec!["--policies", changed, "--transit", "KZ-NO-SUCH", scenario],
            "no transit `KZ-NO-SUCH`",
        ),
    ];
    for (args, reason) in cases {
        let output = replay_cli(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stderr(&output));
        assert!(stdout(&output).is_empty(), "{args:?}: nothing on stdout");
        assert!(stderr(&output).contains(reason), "{args:?}: {}", stderr(&output));
    }
}
