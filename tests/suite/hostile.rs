//! Hostile policies: a component built from `tests/hostile` that loops,
//! hoards memory, panics, overflows its stack, floods the host with output
//! or answers nonsense. Each misdeed must end in bounded time as a
//! `policy.error` finding that keeps the transit from looking clean, the
//! other policies must still report, and the next call must work.

use std::collections::BTreeMap;
use std::fs;
use std::time::Instant;

use chrono::{DateTime, Utc};
use escort_host::{
    EvidenceValue, Fix, Policy, PolicyConfig, PolicySet, Report, Severity, Telemetry, Transit, Verdict, check,
};

use escort_host::golden::{Outcome, Scenario};

use crate::support::sandbox;

const HOSTILE: &[u8] = include_bytes!(env!("ESCORT_HOSTILE_POLICY"));

/// A short, clean transit from Almaty to Kapchagay (GeoNames coordinates).
const TRANSIT: &str = r#"{
  "id": "KZ-TEST-HOSTILE",
  "seal_id": "NS-1",
  "importer": {"bin": "990240000111", "name": "Alatau Trade LLP", "zone": "green"},
  "goods": [{"hs": "847130", "description": "portable computers", "value_usd": 125000, "excise": false}],
  "departure": {"id": "ALMATY-TC", "name": "Almaty terminal", "lat": 43.25667, "lon": 76.92861, "radius_m": 1500},
  "destination": {"id": "KAPCHAGAY", "name": "Kapchagay post", "lat": 43.88333, "lon": 77.08333, "radius_m": 1500},
  "route": {"type": "LineString", "coordinates": [[76.92861, 43.25667], [77.08333, 43.88333]]},
  "opened_at": "2021-05-16T06:00:00Z",
  "deadline": "2021-05-17T06:00:00Z"
}"#;

const FIXES: &str = r#"{"at":"2021-05-16T06:01:00Z","lat":43.2567,"lon":76.9286,"speed_kmh":0,"seal":"intact","battery":90}
{"at":"2021-05-16T06:20:00Z","lat":43.4131,"lon":76.9673,"speed_kmh":62,"seal":"intact","battery":90}
{"at":"2021-05-16T06:39:00Z","lat":43.5696,"lon":77.0060,"speed_kmh":61,"seal":"intact","battery":89}
{"at":"2021-05-16T06:58:00Z","lat":43.7262,"lon":77.0447,"speed_kmh":60,"seal":"intact","battery":89}
{"at":"2021-05-16T07:15:00Z","lat":43.8830,"lon":77.0830,"speed_kmh":0,"seal":"intact","battery":88}
"#;

fn transit() -> Transit {
    Transit::from_json(TRANSIT).expect("test transit is valid")
}

fn fixes() -> Telemetry {
    Telemetry::parse(escort_host::Format::Ndjson, FIXES.as_bytes()).expect("test fixes are valid")
}

/// The built-in policies plus the hostile one, committing `behaviour`.
fn policies_with_hostile(behaviour: &str) -> PolicySet {
    let mut hostile = Policy::load(sandbox(), "hostile.wasm", HOSTILE).expect("the hostile policy loads");
    hostile
        .configure(&PolicyConfig {
            params: BTreeMap::from([(
                "behaviour".to_owned(),
                escort_host::ParamValue::Text(behaviour.to_owned()),
            )]),
            ..PolicyConfig::default()
        })
        .expect("behaviour is a parameter");
    let mut policies = PolicySet::builtin(sandbox()).expect("the built-in policies load");
    policies.add(hostile).expect("no other policy is called hostile");
    policies
}

fn failure_kind(report: &Report) -> Option<String> {
    let finding = report
        .findings
        .iter()
        .find(|f| f.code == "policy.error" && f.policy == "hostile")?;
    assert_eq!(finding.severity, Severity::Warning);
    match finding.evidence.get("failure") {
        Some(EvidenceValue::Text(kind)) => Some(kind.clone()),
        other => panic!("policy.error without a failure kind: {other:?}"),
    }
}

/// Runs the misdeed and checks everything the sandbox promises about it.
fn assert_contained(behaviour: &str, expected_failure: &str) -> Report {
    let policies = policies_with_hostile(behaviour);
    let (transit, telemetry) = (transit(), fixes());

    let started = Instant::now();
    let report = check(&policies, &transit, &telemetry, None).expect("evaluation runs");
    // Printed, not asserted: timing belongs to benchmarks, and fuel is what
    // bounds the time.
    println!("{behaviour}: contained in {:?}", started.elapsed());

    assert_eq!(
        failure_kind(&report).as_deref(),
        Some(expected_failure),
        "{behaviour}: {report:#?}"
    );
    assert_eq!(
        report.verdict,
        Verdict::Review,
        "{behaviour}: a failed policy must not leave the transit clear"
    );
    for code in ["eligibility.eligible", "transit.arrived"] {
        assert!(
            report.findings.iter().any(|f| f.code == code),
            "{behaviour}: the other policies still report {code}"
        );
    }
    assert!(
        !report
            .findings
            .iter()
            .any(|f| f.policy == "hostile" && f.code != "policy.error")
    );

    // The same policy, called again: a fresh instance that behaves when it
    // has no fixes to misbehave on.
    let mut evaluation = policies.open(&transit);
    evaluation
        .observe(&telemetry.fixes, report.evaluated_at)
        .expect("ordered fixes");
    let later: DateTime<Utc> = report.evaluated_at + chrono::Duration::minutes(5);
    evaluation.observe(&[] as &[Fix], later).expect("time passes");
    assert!(
        evaluation.findings().iter().any(|f| f.code == "hostile.alive"),
        "{behaviour}: the next call must work"
    );
    report
}

#[test]
fn an_endless_loop_runs_out_of_fuel() {
    let report = assert_contained("spin", "out_of_fuel");
    insta::assert_json_snapshot!(report, {
        ".findings[].evidence.content_hash" => "[content hash]",
    });
}

#[test]
fn unbounded_allocation_hits_the_memory_cap() {
    assert_contained("hoard", "trap");
}

#[test]
fn a_panic_is_a_trap() {
    assert_contained("panic", "trap");
}

#[test]
fn a_stack_overflow_is_a_trap() {
    assert_contained("recurse", "trap");
}

#[test]
fn too_many_findings_are_refused() {
    assert_contained("flood", "ill_formed");
}

#[test]
fn an_oversized_state_is_refused() {
    assert_contained("bloat", "ill_formed");
}

#[test]
fn a_finding_that_ends_before_it_starts_is_refused() {
    assert_contained("garbage", "ill_formed");
}

#[test]
fn a_position_of_nan_degrees_is_refused() {
    assert_contained("nan", "ill_formed");
}

#[test]
fn an_error_answer_fails_closed() {
    assert_contained("fail", "error");
}

#[test]
fn what_earlier_calls_left_in_an_instance_never_fails_a_call() {
    // `leak` keeps 8 MiB of every call, so an instance the host reuses
    // reaches the 64 MiB cap within eight calls. The host must then run the
    // call again on a fresh instance rather than report a failure.
    let policies = policies_with_hostile("leak");
    let transit = transit();
    let first = fixes().fixes[0].clone();
    let mut evaluation = policies.open(&transit);
    let calls = 24;
    for minute in 0..calls {
        let fix = Fix {
            at: first.at + chrono::Duration::minutes(minute),
            ..first.clone()
        };
        evaluation
            .observe(std::slice::from_ref(&fix), fix.at)
            .expect("ordered fixes");
    }
    let findings = evaluation.findings();
    assert!(
        !findings.iter().any(|f| f.code == "policy.error"),
        "{:#?}",
        findings.iter().filter(|f| f.code == "policy.error").collect::<Vec<_>>()
    );
    let alive = findings.iter().filter(|f| f.code == "hostile.alive").count();
    assert_eq!(alive, calls as usize, "every call answered");
}

#[test]
fn a_policy_that_keeps_state_in_a_global_fails_its_golden_test() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    fs::write(dir.path().join("transit.json"), TRANSIT).expect("writes");
    fs::write(dir.path().join("fixes.ndjson"), FIXES).expect("writes");
    let scenario = Scenario {
        dir: dir.path().to_owned(),
    };
    // Run again on the same instance, `remember` reports "call 2".
    match scenario.test(&policies_with_hostile("remember"), true) {
        Outcome::Unrepeatable(diff) => assert!(diff.contains("+") && diff.contains("call 2"), "{diff}"),
        other => panic!("{other:?}"),
    }
    assert!(
        !dir.path().join(escort_host::golden::EXPECTED).exists(),
        "nothing blessed"
    );
    assert_eq!(scenario.test(&policies_with_hostile("well"), true), Outcome::Blessed);
    assert_eq!(scenario.test(&policies_with_hostile("well"), false), Outcome::Passed);
}

#[test]
fn an_unknown_parameter_is_refused_by_name() {
    let mut hostile = Policy::load(sandbox(), "hostile.wasm", HOSTILE).expect("loads");
    let error = hostile
        .configure(&PolicyConfig {
            params: BTreeMap::from([("behavior".to_owned(), escort_host::ParamValue::Text("spin".to_owned()))]),
            ..PolicyConfig::default()
        })
        .expect_err("misspelt parameter");
    assert_eq!(
        error.to_string(),
        "policy `hostile`: no parameter `behavior`; it takes behaviour, turns"
    );
}

#[test]
fn an_ill_typed_parameter_is_refused_by_name() {
    let mut hostile = Policy::load(sandbox(), "hostile.wasm", HOSTILE).expect("loads");
    let error = hostile
        .configure(&PolicyConfig {
            params: BTreeMap::from([("behaviour".to_owned(), escort_host::ParamValue::Integer(3))]),
            ..PolicyConfig::default()
        })
        .expect_err("a number for a text");
    assert_eq!(
        error.to_string(),
        "policy `hostile`: parameter `behaviour` must be a text, found 3"
    );
}
