//! `escort bench` and what it rests on. Timings are never asserted (they are
//! the benchmark's to print); what is tested is that the comparison is
//! honest and the run is whole:
//!
//! - each default policy compiled natively answers exactly as its shipped
//!   component does, on every golden scenario, so "WASM against native"
//!   compares one rule with itself;
//! - `escort bench --quick --json` runs every section, the real server end
//!   to end and the replay beside it included, and prints every figure the
//!   issues ask for.

use escort_bench::{NativeCall, WasmCall, clock, lent, native_fixes};
use escort_engine::contract::Batch;
use escort_tests::{Scenario, builtin, escort_command, scenarios, workspace};
use serde_json::Value;

#[test]
fn every_default_policy_answers_alike_natively_and_as_webassembly() {
    let policies = builtin();
    let mut compared = 0;
    let mut with_findings = 0;
    for dir in &scenarios() {
        let Scenario { transit, telemetry, .. } = Scenario::read(dir);
        let mut fixes = telemetry.fixes;
        fixes.sort_by_key(|fix| fix.at);
        // Two batches, so the second resumes the state the first left.
        let (first, second) = fixes.split_at(fixes.len() / 2);
        let lent = lent(&transit);
        for policy in policies.policies() {
            let wasm = WasmCall::new(policy, &lent);
            let native = NativeCall::new(policy, &lent).expect("a default policy");
            let now = clock(first, transit.opened_at);
            let by_wasm = wasm
                .observe(&Batch::new(first), now, &[])
                .expect("the component answers");
            let by_native = native
                .observe(&native_fixes(first), now, &[])
                .expect("the native rule answers");
            assert_eq!(by_wasm, by_native, "{} on {}, first half", policy.id(), dir.display());
            let later = clock(second, transit.opened_at).max(now);
            let by_wasm = wasm
                .observe(&Batch::new(second), later, &by_wasm.state)
                .expect("the component answers");
            let by_native = native
                .observe(&native_fixes(second), later, &by_native.state)
                .expect("the native rule answers");
            assert_eq!(by_wasm, by_native, "{} on {}, second half", policy.id(), dir.display());
            compared += 1;
            with_findings += usize::from(by_wasm.findings > 0);
        }
    }
    assert!(compared >= 7 * 15, "{compared} comparisons");
    assert!(
        with_findings >= 10,
        "only {with_findings} comparisons had findings to compare"
    );
}

#[test]
fn a_quick_run_prints_every_figure_as_json() {
    let output = escort_command()
        .args(["bench", "--quick", "--json"])
        .current_dir(workspace())
        .output()
        .expect("escort runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let results: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    let defaults = ["corridor", "dwell", "eligibility", "seal", "signal", "speed", "transit"];
    let ratios = results["wasm_vs_native"]
        .as_object()
        .expect("wasm_vs_native per policy");
    assert_eq!(ratios.keys().map(String::as_str).collect::<Vec<_>>(), defaults);
    for (policy, ratio) in ratios {
        let ratio = ratio.as_f64().expect("a number");
        assert!(ratio.is_finite() && ratio > 0.0, "{policy}: {ratio}");
    }
    let batches: Vec<u64> = results["policies"]
        .as_array()
        .expect("per policy and batch")
        .iter()
        .map(|row| row["batch_fixes"].as_u64().expect("a batch size"))
        .collect();
    assert_eq!(batches.len(), 3 * defaults.len());
    assert_eq!(&batches[..3], &[1, 100, 10_000]);
    assert_eq!(results["call_overhead"].as_array().map(Vec::len), Some(defaults.len()));
    let routes: Vec<u64> = results["corridor_growth"]
        .as_array()
        .expect("growth rows")
        .iter()
        .map(|row| row["route_points"].as_u64().expect("a size"))
        .collect();
    assert_eq!(routes, [10, 100, 1_000, 10_000, 100_000]);
    assert_eq!(results["rhai"].as_array().map(Vec::len), Some(2));
    assert_eq!(results["languages"][0]["language"], "rust");
    assert!(results["policy_set_load"]["cached_ms"].as_f64().is_some());
    let e2e = &results["end_to_end"];
    assert_eq!(e2e["load"]["errors"], 0, "{e2e:#}");
    assert_eq!(e2e["load"]["fixes"], 32 * 5 * 100);
    assert!(e2e["load"]["fixes_per_s"].as_f64().is_some_and(|v| v > 0.0));
    assert!(e2e["rss_mib"].as_f64().is_some_and(|v| v > 1.0));
    assert_eq!(e2e["shape"]["open_transits"], 2_000);
    let replay = &results["replay"];
    assert_eq!(replay["shape"]["transits"], 50, "{replay:#}");
    assert_eq!(replay["shape"]["fixes"], 1_000);
    assert!(replay["fixes_per_s"].as_f64().is_some_and(|v| v > 0.0), "{replay:#}");
    for figure in ["alone_p99_ms", "beside_replay_p99_ms", "beside_nice_replay_p99_ms"] {
        assert!(
            replay["ingest"][figure].as_f64().is_some_and(|v| v > 0.0),
            "{figure}: {replay:#}"
        );
    }
}
