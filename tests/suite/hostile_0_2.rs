//! Hostile policies of contract 0.2: a component built from
//! `tests/hostile-0-2` that misbehaves where 0.2 gives it new ways to
//! (`configure`, the `transit` and `batch` imports, numbers in evidence).
//! As in `hostile`, each misdeed must end in bounded time as a
//! `policy.error` finding that says what went wrong and keeps the transit
//! from looking clean, the default policies must still report, and the next
//! call must work.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use escort_host::{EvidenceValue, Finding, Fix, MAX_ANSWER_BYTES, ParamValue, PolicyConfig, PolicySet, Verdict, check};
use escort_tests::HOSTILE_POLICY_0_2;

use crate::hostile::{fixes, hostile_of, misdeed, transit, with_builtin};

/// The id the policy describes itself with.
const ID: &str = "hostile_0_2";

fn text(value: &str) -> ParamValue {
    ParamValue::Text(value.to_owned())
}

/// The built-in policies plus the hostile policy of contract 0.2,
/// committing `behaviour`, with more of its parameters set by `params`.
fn policies_with_hostile(behaviour: &str, params: &[(&str, ParamValue)]) -> PolicySet {
    with_builtin(hostile_of("hostile-0-2.wasm", HOSTILE_POLICY_0_2, behaviour, params))
}

/// The value of the evidence `name` of `finding`, which is a text in a
/// report whatever the policy gave.
fn evidence<'a>(finding: &'a Finding, name: &str) -> Option<&'a str> {
    match finding.evidence.get(name) {
        Some(EvidenceValue::Text(value)) => Some(value),
        _ => None,
    }
}

/// The hostile policy's findings among `findings`.
fn hostile_findings(findings: &[Finding]) -> Vec<&Finding> {
    findings.iter().filter(|f| f.policy == ID).collect()
}

/// Checks that the hostile policy said nothing but `policy.error`, at
/// least once, each of the failure `kind` with a message that ends with
/// `ends_with`; that the verdict is not clear; and that the default
/// policies still reported.
fn assert_failed(findings: &[Finding], verdict: Verdict, kind: &str, ends_with: &str) {
    let hostile = hostile_findings(findings);
    assert!(!hostile.is_empty(), "the hostile policy failed: {findings:#?}");
    for finding in &hostile {
        assert_eq!(finding.code, "policy.error", "{finding:#?}");
        assert_eq!(finding.severity, escort_host::Severity::Warning);
        assert_eq!(evidence(finding, "failure"), Some(kind), "{finding:#?}");
        assert!(
            finding.message.starts_with(&format!("policy `{ID}` failed while ")),
            "{}",
            finding.message
        );
        assert!(finding.message.ends_with(ends_with), "{}", finding.message);
    }
    assert_eq!(
        verdict,
        Verdict::Review,
        "a failed policy must not leave the transit clear"
    );
    for code in ["eligibility.eligible", "transit.arrived"] {
        assert!(
            findings.iter().any(|f| f.code == code),
            "the other policies still report {code}: {findings:#?}"
        );
    }
}

/// Checks that an evaluation of `policies` (admission, then a call that
/// only tells the time) has the hostile policy report `hostile.alive` and
/// fail nowhere: the call after a misdeed works.
fn assert_next_call_works(policies: &PolicySet) {
    let transit = transit();
    let mut evaluation = policies.open(&transit);
    let now = fixes().fixes.last().expect("fixes").at;
    evaluation.observe(&[] as &[Fix], now).expect("time passes");
    let findings = evaluation.findings();
    let hostile = hostile_findings(&findings);
    assert!(
        hostile.iter().any(|f| f.code == "hostile.alive"),
        "the next call must work: {hostile:#?}"
    );
    assert!(!hostile.iter().any(|f| f.code == "policy.error"), "{hostile:#?}");
}

/// `policies` with the hostile policy configured to behave.
fn behaving(mut policies: PolicySet) -> PolicySet {
    policies
        .configure(&BTreeMap::from([(ID.to_owned(), misdeed("well", &[]))]))
        .expect("the policy takes `well`");
    policies
}

/// The misdeed `behaviour` of `observe`, committed on a batch of fixes:
/// checked as [`assert_failed`] does, then the next call, which tells the
/// time only, must work.
fn assert_contained(behaviour: &str, kind: &str, ends_with: &str) {
    let policies = policies_with_hostile(behaviour, &[]);
    let report = check(&policies, &transit(), &fixes(), None).expect("evaluation runs");
    assert_failed(&report.findings, report.verdict, kind, ends_with);
    assert_next_call_works(&policies);
}

/// A policy of contract 0.2 written without the SDK loads, is configured,
/// asks the `transit` import, is told how many fixes there are, and
/// reports beside the default set.
#[test]
fn a_policy_of_contract_0_2_without_the_sdk_reports() {
    let policies = policies_with_hostile("well", &[("tag", text("plain"))]);
    let hostile = policies.policies().iter().find(|p| p.id() == ID).expect("in the set");
    assert_eq!(hostile.contract_version(), "0.2.0");
    let report = check(&policies, &transit(), &fixes(), None).expect("evaluation runs");
    assert_eq!(report.verdict, Verdict::Clear, "{report:#?}");
    let alive = report
        .findings
        .iter()
        .find(|f| f.policy == ID && f.code == "hostile.alive")
        .expect("the policy reports");
    assert_eq!(evidence(alive, "behaviour"), Some("well"));
    assert_eq!(evidence(alive, "tag"), Some("plain"));
    assert_eq!(evidence(alive, "transit"), Some("KZ-TEST-HOSTILE"));
    assert_eq!(evidence(alive, "fixes"), Some("5"));
    assert!(report.findings.iter().any(|f| f.code == "transit.arrived"));
}

/// The transit is the call's: asked for in `configure`, before any call, it
/// traps that call (with the host's words), not the host.
#[test]
fn asking_for_the_transit_in_configure_fails_the_call_not_the_host() {
    let policies = policies_with_hostile("early", &[]);
    let report = check(&policies, &transit(), &fixes(), None).expect("evaluation runs");
    assert_failed(
        &report.findings,
        report.verdict,
        "trap",
        "trapped: the transit was asked for outside `admit` and `observe`",
    );
    // Every call configures first, admission too.
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.policy == ID && f.message.contains("failed while admitting the transit")),
        "{report:#?}"
    );
    assert_next_call_works(&behaving(policies));
}

/// `configure`'s `err` is the policy's own failure, in its own words.
#[test]
fn a_configure_that_refuses_fails_the_call_with_its_words() {
    let policies = policies_with_hostile("misconfigure", &[]);
    let report = check(&policies, &transit(), &fixes(), None).expect("evaluation runs");
    assert_failed(&report.findings, report.verdict, "error", "returned an error: refused");
    for failure in hostile_findings(&report.findings) {
        assert_eq!(evidence(failure, "error"), Some("refused"), "{failure:#?}");
    }
    // An instance that refused its parameters is never taken as configured:
    // `observe` would say so (`misconfigure got past configure`).
    assert_eq!(hostile_findings(&report.findings).len(), 2, "admission and the batch");
    assert_next_call_works(&behaving(policies));
}

/// `observe` is told there are no fixes so that it need not ask; asking
/// anyway traps the call. The next batch of fixes is served.
#[test]
fn columns_asked_of_an_empty_batch_fail_the_call() {
    let policies = policies_with_hostile("columns-when-empty", &[]);
    let transit = transit();
    let fixes = fixes().fixes;
    let last = fixes.last().expect("fixes").clone();
    let mut evaluation = policies.open(&transit);
    evaluation.observe(&fixes, last.at).expect("ordered fixes");
    let asked = evaluation
        .findings()
        .into_iter()
        .find(|f| f.policy == ID && f.code == "hostile.alive")
        .expect("asking for the columns of a batch of fixes works");
    assert_eq!(evidence(&asked, "columns"), Some("5"));

    let mut evaluation = policies.open(&transit);
    evaluation
        .observe(&[] as &[Fix], last.at + chrono::Duration::minutes(5))
        .expect("time passes");
    // Admission and the empty batch only: the default policies have no
    // fixes to report arrival on, but admission still reports.
    let findings = evaluation.findings();
    let failure = hostile_findings(&findings)
        .into_iter()
        .find(|f| f.code == "policy.error")
        .cloned()
        .expect("the empty batch fails");
    assert_eq!(evidence(&failure, "failure"), Some("trap"), "{failure:#?}");
    assert!(
        failure.message.ends_with(
            "failed while observing 0 fixes and its findings are missing: trapped: the batch was asked for \
             outside `observe`, or when it was empty"
        ),
        "{}",
        failure.message
    );
    assert!(evaluation.verdict() >= Verdict::Review, "{findings:#?}");
    assert!(
        findings.iter().any(|f| f.code == "eligibility.eligible"),
        "{findings:#?}"
    );
    assert!(!hostile_findings(&findings).iter().any(|f| f.code == "hostile.alive"));

    // The next call, with a fix, works.
    let next = Fix {
        at: last.at + chrono::Duration::minutes(10),
        ..last.clone()
    };
    evaluation
        .observe(std::slice::from_ref(&next), next.at)
        .expect("ordered fixes");
    let findings = evaluation.findings();
    let alive = hostile_findings(&findings)
        .into_iter()
        .find(|f| f.code == "hostile.alive")
        .cloned()
        .expect("the next call must work");
    assert_eq!(evidence(&alive, "columns"), Some("1"));
}

/// A number of evidence must be finite: the host prints it, and a NaN has
/// no digits to print. The call fails closed.
#[test]
fn a_number_of_nan_in_evidence_is_refused() {
    assert_contained(
        "nan-number",
        "ill_formed",
        "returned an ill-formed result: finding 0: the evidence `number_m` NaN is not a finite number",
    );
}

/// A number of evidence asks for at most 9 decimals.
#[test]
fn a_number_with_more_than_nine_decimals_is_refused() {
    assert_contained(
        "decimals",
        "ill_formed",
        "returned an ill-formed result: finding 0: the evidence `number_m` asks for 10 decimals, over the limit of 9",
    );
}

/// The message of a call that asked the `transit` and `batch` imports for
/// more than [`MAX_ANSWER_BYTES`].
const ANSWERED_TOO_MUCH: &str = "trapped: the call asked the transit and batch for more than 64 MiB of answers";

/// Every answer of the `transit` import is a copy the host makes and
/// lowers into the component, work that fuel counts only as far as the
/// component's allocations go. Asked for without end, the declaration is
/// refused once the call's answers pass 64 MiB: at the same question on
/// every machine, long before fuel or the deadline.
#[test]
fn asking_for_the_declaration_without_end_is_bounded() {
    assert_eq!(MAX_ANSWER_BYTES, 64 << 20, "the message below names it");
    let policies = policies_with_hostile("declarations", &[("turns", ParamValue::Integer(i64::MAX))]);
    let started = Instant::now();
    let report = check(&policies, &transit(), &fixes(), None).expect("evaluation runs");
    let elapsed = started.elapsed();
    println!("declarations: contained in {elapsed:?}");
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    assert_failed(&report.findings, report.verdict, "trap", ANSWERED_TOO_MUCH);
    assert_next_call_works(&policies);
}

/// Parameters are handed once per instance, and instances are reused: a
/// policy configured anew must have `configure` run again on the instance
/// it reuses, or calls would run on the old values.
#[test]
fn a_reconfigured_policy_configures_its_reused_instance_again() {
    let alive = |policies: &PolicySet| {
        let report = check(policies, &transit(), &fixes(), None).expect("evaluation runs");
        assert_eq!(report.verdict, Verdict::Clear, "{report:#?}");
        let found: Vec<Finding> = hostile_findings(&report.findings)
            .into_iter()
            .filter(|f| f.code == "hostile.alive")
            .cloned()
            .collect();
        assert_eq!(found.len(), 1, "{found:#?}");
        found.into_iter().next().expect("one")
    };
    let mut policies = policies_with_hostile("reconfigured", &[("tag", text("first"))]);
    let first = alive(&policies);
    assert_eq!(evidence(&first, "tag"), Some("first"));
    // Admission configured the instance; the batch reused it as it was.
    assert_eq!(
        evidence(&first, "configures"),
        Some("1"),
        "configured once, not once a call"
    );

    policies
        .configure(&BTreeMap::from([(
            ID.to_owned(),
            misdeed("reconfigured", &[("tag", text("second"))]),
        )]))
        .expect("the policy takes these parameters");
    let second = alive(&policies);
    assert_eq!(evidence(&second, "behaviour"), Some("reconfigured"));
    assert_eq!(evidence(&second, "tag"), Some("second"), "{second:#?}");
    assert_eq!(
        evidence(&second, "configures"),
        Some("2"),
        "the reused instance, configured again: {second:#?}"
    );
}

/// The largest batch a call is handed, 10,000 fixes, is lowered into the
/// component at every `batch.columns()`: nine lists, about 650 KiB, for
/// the fuel of nine allocations. Asked for without end, it is refused once
/// the call's answers pass 64 MiB, about a hundred copies in.
#[test]
fn asking_for_a_full_batch_without_end_is_bounded() {
    let policies = policies_with_hostile("columns-again", &[("turns", ParamValue::Integer(i64::MAX))]);
    let transit = transit();
    let first = fixes().fixes[0].clone();
    let batch: Vec<Fix> = (0..10_000)
        .map(|second| Fix {
            at: first.at + chrono::Duration::seconds(second),
            ..first.clone()
        })
        .collect();
    let now = batch.last().expect("fixes").at;
    let mut evaluation = policies.open(&transit);
    let started = Instant::now();
    evaluation.observe(&batch, now).expect("ordered fixes");
    let elapsed = started.elapsed();
    let findings = evaluation.findings();
    let failure = hostile_findings(&findings)
        .into_iter()
        .find(|f| f.code == "policy.error")
        .cloned()
        .expect("the policy fails");
    println!("columns-again: contained in {elapsed:?}");
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    assert_eq!(evidence(&failure, "failure"), Some("trap"), "{failure:#?}");
    assert!(failure.message.ends_with(ANSWERED_TOO_MUCH), "{}", failure.message);
    assert!(evaluation.verdict() >= Verdict::Review);
    assert_next_call_works(&policies);
}

/// A question of the host's geodesy about no position at all still costs
/// the host a call. Asked without end, it spends the call's geodesy budget,
/// one position a question, and fails at the same question on every
/// replay, long before fuel or the deadline. (A budget of 100,000, so that
/// a debug build stays far from the deadline too.)
#[test]
fn empty_geodesy_questions_without_end_are_bounded() {
    let mut hostile = hostile_of("hostile-0-2.wasm", HOSTILE_POLICY_0_2, "well", &[]);
    hostile
        .configure(&PolicyConfig {
            geodesy_positions: Some(100_000),
            ..misdeed("empty-questions", &[("turns", ParamValue::Integer(i64::MAX))])
        })
        .expect("the policy takes these parameters and limits");
    let policies = with_builtin(hostile);
    let started = Instant::now();
    let report = check(&policies, &transit(), &fixes(), None).expect("evaluation runs");
    println!("empty-questions: contained in {:?}", started.elapsed());
    assert_failed(
        &report.findings,
        report.verdict,
        "geodesy_budget",
        "asked the host's geodesy about more than its budget of 100000 positions",
    );
    assert_next_call_works(&policies);
}
