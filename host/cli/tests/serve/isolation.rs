//! One transit whose policy hangs or fails on every call holds up no other
//! transit's batches or ticks, and is itself reported, never clear (issue
//! 10, item 3). The victim is picked by the hostile policy's `victim`
//! parameter; every other transit gets it well behaved.

use std::thread;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::Value;

use escort_tests::{OFFICER, Server, eventually, live_hostile, metric, moved};

/// The transit's entry in `GET /v1/transits`.
fn listed(server: &Server, id: &str) -> Value {
    let (status, list) = server.get_json("/v1/transits?limit=1000", OFFICER);
    assert_eq!(status, 200, "{list}");
    list["transits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .unwrap_or_else(|| panic!("{id} is not listed: {list}"))
        .clone()
}

/// The findings of `findings` with this code.
fn with_code<'f>(findings: &'f Value, code: &str) -> Vec<&'f Value> {
    findings
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == code)
        .collect()
}

/// The `failure` evidence of the hostile policy's `policy.error` findings.
fn hostile_failures(findings: &Value) -> Vec<String> {
    with_code(findings, "policy.error")
        .into_iter()
        .filter(|f| f["policy"] == "hostile")
        .map(|f| f["evidence"]["failure"].as_str().unwrap().to_owned())
        .collect()
}

fn report_json(server: &Server, id: &str) -> Value {
    let (status, report) = server.report(id, None);
    assert_eq!(status, 200, "{report}");
    serde_json::from_str(&report).unwrap()
}

/// Issue 10, item 3: a transit whose policy spins on every call, batch and
/// tick alike, up to a 20 s deadline (with fuel for far longer), holds its
/// own steps only. Another
/// transit that stopped reporting gets `signal.lost` from the ticks within
/// seconds, and other transits' batches are answered at once, while the
/// victim's batch waits for its ticks and then spins its whole deadline.
/// (Before, the tick evaluated transits one after another, and the victim,
/// first by id, kept every other transit from its ticks.)
#[test]
fn a_hung_transit_holds_up_no_other_transits_batches_or_ticks() {
    let dir = tempfile::tempdir().unwrap();
    live_hostile(
        dir.path(),
        "[hostile]\nfuel = 1_000_000_000_000_000\ndeadline_ms = 20_000\n\
         [hostile.params]\nbehaviour = \"spin\"\nwhen = \"always\"\nvictim = \"A-HUNG\"\n",
    );
    let server = Server::start_in(dir.path(), &[("tick_seconds", "1")]);
    let now = Utc::now();
    let (hung, hung_fixes) = moved("clean-khorgos-almaty", "A-HUNG", 10, now - chrono::Duration::minutes(1));
    assert_eq!(server.put_transit("A-HUNG", &hung).0, 201, "admission does not spin");
    // From the next tick on, a tick is always on the victim.
    thread::sleep(Duration::from_secs(2));

    thread::scope(|scope| {
        let victim = scope.spawn(|| {
            let started = Instant::now();
            let (status, outcome) = server.post_fixes("A-HUNG", &hung_fixes);
            (started.elapsed(), status, outcome)
        });
        let started = Instant::now();
        let mut slowest_batch = Duration::ZERO;
        let mut post = |id: &str, fixes: &str| {
            let sent = Instant::now();
            let (status, outcome) = server.post_fixes(id, fixes);
            slowest_batch = slowest_batch.max(sent.elapsed());
            assert_eq!(status, 200, "{outcome}");
            outcome
        };

        // A transit whose seal went silent three hours ago.
        let (quiet, quiet_fixes) = moved("clean-khorgos-almaty", "B-QUIET", 10, now - chrono::Duration::hours(3));
        assert_eq!(server.put_transit("B-QUIET", &quiet).0, 201);
        let outcome = post("B-QUIET", &quiet_fixes);
        assert_eq!(outcome["verdict"], "clear", "nothing is wrong as of the last fix");
        eventually("a tick finds B-QUIET's signal lost", || {
            listed(&server, "B-QUIET")["verdict"] != "clear"
        });
        let flagged_after = started.elapsed();

        // A transit under way, its fixes in batches of two.
        let (busy, busy_fixes) = moved("clean-khorgos-almaty", "C-BUSY", 10, Utc::now());
        assert_eq!(server.put_transit("C-BUSY", &busy).0, 201);
        let lines: Vec<&str> = busy_fixes.lines().collect();
        for pair in lines.chunks(2) {
            let outcome = post("C-BUSY", &format!("{}\n", pair.join("\n")));
            assert_eq!(outcome["accepted"], 2, "{outcome}");
            assert_eq!(outcome["verdict"], "clear", "{outcome}");
        }
        let others_done = started.elapsed();
        let still_hung = !victim.is_finished();

        let (victim_took, status, outcome) = victim.join().unwrap();
        eprintln!(
            "B-QUIET flagged after {flagged_after:?}, slowest other batch {slowest_batch:?}, \
             others done after {others_done:?}, the victim's batch {victim_took:?}"
        );
        assert_eq!(status, 200, "{outcome}");
        assert_eq!(
            hostile_failures(&outcome["findings"]),
            ["timed_out"],
            "the victim's batch ran into its deadline: {outcome}"
        );
        assert_eq!(outcome["verdict"], "review", "{outcome}");
        assert!(
            victim_took >= Duration::from_secs(20),
            "the victim's batch took its deadline at least: {victim_took:?}"
        );
        assert!(
            still_hung,
            "the other transits were done in {others_done:?}, before the victim's batch ({victim_took:?})"
        );
        assert!(
            flagged_after < victim_took / 2,
            "B-QUIET was flagged after {flagged_after:?}, the victim's batch took {victim_took:?}"
        );
        assert!(
            slowest_batch < victim_took / 4,
            "the slowest batch of another transit took {slowest_batch:?}, the victim's {victim_took:?}"
        );
    });

    let report = report_json(&server, "B-QUIET");
    assert!(!with_code(&report["findings"], "signal.lost").is_empty(), "{report}");
    assert!(hostile_failures(&report["findings"]).is_empty(), "{report}");
    assert_eq!(listed(&server, "A-HUNG")["verdict"], "review");
    let (_, metrics) = server.request("GET", "/metrics", None, b"");
    assert!(
        metric(
            &metrics,
            "escort_policy_failures_total{policy=\"hostile\",failure=\"timed_out\"}"
        )
        .is_some_and(|count| count >= 1.0),
        "{metrics}"
    );
    assert!(
        metric(&metrics, "escort_tick_transits_total{outcome=\"busy\"}").is_some_and(|count| count >= 1.0),
        "later ticks passed over the victim while one was on it: {metrics}"
    );
    assert_eq!(
        metric(&metrics, "escort_step_panics_total{step=\"tick\"}"),
        Some(0.0),
        "{metrics}"
    );
}

/// Issue 10, item 3: a transit whose policy asks the route about a NaN
/// position on every call (which panicked the host before the sandbox's
/// hardening) is reported: `review` with a `policy.error` in its list entry
/// and its report, from the ticks before any fix and from its batches, and
/// counted in the metrics, while another transit stays clear.
#[test]
fn a_transit_whose_policy_fails_on_every_call_is_listed_for_review_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    live_hostile(
        dir.path(),
        "[hostile.params]\nbehaviour = \"nan-route\"\nwhen = \"always\"\nvictim = \"A-NAN\"\n",
    );
    let server = Server::start_in(dir.path(), &[("tick_seconds", "1")]);
    let now = Utc::now();
    let (clean, clean_fixes) = moved(
        "clean-khorgos-almaty",
        "B-CLEAN",
        10,
        now - chrono::Duration::minutes(1),
    );
    assert_eq!(server.put_transit("B-CLEAN", &clean).0, 201);
    let (status, outcome) = server.post_fixes("B-CLEAN", &clean_fixes);
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["verdict"], "clear", "{outcome}");

    // Opened eight minutes ago, no fix yet: nothing but the policy's
    // failure can make it anything but clear.
    let (victim, victim_fixes) = moved("clean-khorgos-almaty", "A-NAN", 2, now - chrono::Duration::seconds(10));
    let (status, admission) = server.put_transit("A-NAN", &victim);
    assert_eq!(status, 201, "{admission}");
    assert_eq!(admission["verdict"], "clear", "admission does not ask the route");

    // Only a tick stores the victim's steps until its first batch.
    let metrics = || server.request("GET", "/metrics", None, b"").1;
    let failed_calls = |metrics: &str| {
        metric(
            metrics,
            "escort_policy_failures_total{policy=\"hostile\",failure=\"trap\"}",
        )
        .unwrap_or(0.0)
    };
    // The failure is counted during the call, before its step commits:
    // wait for what the step stores.
    eventually("a tick stores the victim's failure", || {
        listed(&server, "A-NAN")["verdict"] == "review"
    });
    assert!(failed_calls(&metrics()) >= 1.0);
    let report = report_json(&server, "A-NAN");
    assert_eq!(report["verdict"], "review", "{report}");
    assert!(
        hostile_failures(&report["findings"]).iter().all(|kind| kind == "trap"),
        "{report}"
    );
    assert!(
        hostile_failures(&report["findings"]).len() >= 2,
        "the tick's failure is stored, and the report's own evaluation fails too: {report}"
    );

    let (status, outcome) = server.post_fixes("A-NAN", &victim_fixes);
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["accepted"], 2, "{outcome}");
    assert_eq!(outcome["verdict"], "review", "{outcome}");
    assert_eq!(hostile_failures(&outcome["findings"]), ["trap"], "{outcome}");
    assert_eq!(listed(&server, "A-NAN")["verdict"], "review");

    // The other transit, evaluated by the same ticks, is untouched.
    let ticks_so_far = metric(&metrics(), "escort_ticks_total{outcome=\"run\"}").unwrap();
    eventually("two more ticks started", || {
        metric(&metrics(), "escort_ticks_total{outcome=\"run\"}").unwrap() >= ticks_so_far + 2.0
    });
    assert_eq!(listed(&server, "B-CLEAN")["verdict"], "clear");
    let report = report_json(&server, "B-CLEAN");
    assert_eq!(report["verdict"], "clear", "{report}");
    assert!(with_code(&report["findings"], "policy.error").is_empty(), "{report}");

    let metrics = metrics();
    let errors = metric(&metrics, "escort_policy_errors_total{policy=\"hostile\"}").unwrap();
    assert!(errors >= 2.0, "a tick's failure and the batch's: {metrics}");
    assert!(failed_calls(&metrics) >= 2.0, "{metrics}");
    let kinds: Vec<&str> = metrics
        .lines()
        .filter(|line| line.starts_with("escort_policy_failures_total{policy=\"hostile\""))
        .collect();
    assert_eq!(kinds.len(), 1, "every failure was a trap: {kinds:?}");
    assert_eq!(
        metric(&metrics, "escort_step_panics_total{step=\"tick\"}"),
        Some(0.0),
        "the host did not panic: {metrics}"
    );
}
