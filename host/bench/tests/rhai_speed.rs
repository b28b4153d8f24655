//! The Rhai rule against the shipped WebAssembly speed policy: over every
//! golden scenario's fixes, in one batch, both must find the same episodes,
//! with the same severities, times, run lengths, peaks and places.

use std::sync::OnceLock;

use escort_bench::rhai::{RhaiFinding, RhaiSpeed};
use escort_engine::{EvidenceValue, Finding, Policy, PolicySet};
use escort_tests::{Scenario, sandbox, scenario, scenarios};

/// A finding reduced to what both peers report: code, severity, from and to
/// in milliseconds, the evidence as the policy words it, and the place.
type Key = (String, String, i64, i64, Vec<(String, String)>, Option<(u64, u64)>);

/// The built-in set's speed policy alone, compiled once into the cache the
/// golden suite uses.
fn speed_policy() -> &'static PolicySet {
    static SET: OnceLock<PolicySet> = OnceLock::new();
    SET.get_or_init(|| {
        let (id, bytes) = escort_builtin::COMPONENTS
            .iter()
            .find(|(id, _)| *id == "speed")
            .expect("the built-in set has the speed policy");
        let policy = Policy::load(sandbox(), &format!("built-in {id}"), bytes).expect("the speed policy loads");
        PolicySet::new(vec![policy]).expect("one policy is a set")
    })
}

fn place(lat: f64, lon: f64) -> Option<(u64, u64)> {
    Some((lat.to_bits(), lon.to_bits()))
}

fn wasm_key(finding: &Finding) -> Key {
    let evidence = finding
        .evidence
        .iter()
        .map(|(name, value)| match value {
            EvidenceValue::Text(text) => (name.clone(), text.clone()),
            EvidenceValue::Texts(texts) => (name.clone(), texts.join(",")),
        })
        .collect();
    (
        finding.code.clone(),
        finding.severity.as_str().to_owned(),
        finding.from.timestamp_millis(),
        finding.to.timestamp_millis(),
        evidence,
        finding.lat.zip(finding.lon).and_then(|(lat, lon)| place(lat, lon)),
    )
}

/// The Rhai finding with its evidence worded as the policy words it, in name
/// order.
fn rhai_key(finding: &RhaiFinding) -> Key {
    let minutes = (finding.to_ms - finding.from_ms) as f64 / 60_000.0;
    let evidence: Vec<(&str, String)> = match finding.code.as_str() {
        "speed.implausible" => vec![
            ("jumps", finding.fixes.to_string()),
            ("max_implied_kmh", format!("{:.0}", finding.peak)),
        ],
        "speed.excessive" => vec![
            ("max_speed_kmh", format!("{:.1}", finding.peak)),
            ("minutes", format!("{minutes:.0}")),
        ],
        "telemetry.quality" => vec![
            ("max_hdop", format!("{:.1}", finding.peak)),
            ("poor_fixes", finding.fixes.to_string()),
        ],
        other => panic!("unexpected code {other}"),
    };
    (
        finding.code.clone(),
        finding.severity.as_str().to_owned(),
        finding.from_ms,
        finding.to_ms,
        evidence
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect(),
        place(finding.lat, finding.lon),
    )
}

#[test]
fn the_rhai_rule_finds_what_the_speed_policy_finds_in_every_scenario() {
    let rhai = RhaiSpeed::new().expect("the script compiles");
    let mut codes_seen = Vec::new();
    let scenarios = scenarios();
    assert!(scenarios.len() >= 10, "only {} scenarios", scenarios.len());
    for dir in scenarios {
        let Scenario {
            name,
            transit,
            telemetry,
            ..
        } = Scenario::read(&dir);
        let fixes = telemetry.fixes;
        let Some(last) = fixes.last() else { continue };

        let mut evaluation = speed_policy().open(&transit);
        evaluation.observe(&fixes, last.at).expect("the batch is in order");
        let mut wasm: Vec<Key> = evaluation
            .findings()
            .iter()
            .filter(|finding| finding.policy == "speed")
            .map(wasm_key)
            .collect();
        let mut scripted: Vec<Key> = rhai
            .observe(&fixes)
            .expect("the script runs")
            .iter()
            .map(rhai_key)
            .collect();
        wasm.sort();
        scripted.sort();
        assert_eq!(scripted, wasm, "scenario {name}");
        codes_seen.extend(wasm.into_iter().map(|key| (name.clone(), key.0)));
    }
    // Not vacuous: the scenarios that exercise the rule raise every code.
    for (scenario, code) in [
        ("speed-jump-and-excessive", "speed.implausible"),
        ("speed-jump-and-excessive", "speed.excessive"),
        ("telemetry-quality", "telemetry.quality"),
    ] {
        assert!(
            codes_seen.iter().any(|(s, c)| s == scenario && c == code),
            "{scenario} raised no {code}: {codes_seen:?}"
        );
    }
}

/// A batch cut short in the middle of episodes: the policy reports them open,
/// the script reports them as they stand at the end of the batch, alike.
#[test]
fn episodes_open_at_the_end_of_the_batch_match() {
    let rhai = RhaiSpeed::new().expect("the script compiles");
    for name in ["speed-jump-and-excessive", "telemetry-quality"] {
        let Scenario { transit, telemetry, .. } = Scenario::read(&scenario(name));
        let fixes = telemetry.fixes;
        for cut in (1..=fixes.len()).step_by(7) {
            let batch = &fixes[..cut];
            let mut evaluation = speed_policy().open(&transit);
            evaluation
                .observe(batch, batch[cut - 1].at)
                .expect("the batch is in order");
            let mut wasm: Vec<Key> = evaluation
                .findings()
                .iter()
                .filter(|finding| finding.policy == "speed")
                .map(wasm_key)
                .collect();
            let mut scripted: Vec<Key> = rhai
                .observe(batch)
                .expect("the script runs")
                .iter()
                .map(rhai_key)
                .collect();
            wasm.sort();
            scripted.sort();
            assert_eq!(scripted, wasm, "{name} cut after {cut} fixes");
        }
    }
}
