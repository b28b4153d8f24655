//! Fix times are bounded against the service's clock (issue 11, item 7):
//! a fix dated further ahead than `max_fix_lead_seconds` is one rejection,
//! the rest of its batch is kept, and the transit's later batches resume
//! from the stored states instead of replaying the whole track.

use chrono::{Duration, SecondsFormat, Utc};
use serde_json::Value;

use escort_tests::{INGEST, Server, metric, moved, serve_refused};

/// The count of stored evaluation steps of `kind` in `GET /metrics`.
fn evaluations(server: &Server, kind: &str) -> f64 {
    let (_, metrics) = server.request("GET", "/metrics", None, b"");
    metric(&metrics, &format!("escort_evaluations_total{{kind=\"{kind}\"}}")).unwrap_or(0.0)
}

/// Before, the fix a year ahead was stored, and every later batch of the
/// transit was older than it: a late batch, evaluated again from the first
/// fix (median batch 3.5 → 72.5 ms, growing).
#[test]
fn a_fix_a_year_ahead_is_refused_and_later_batches_resume() {
    let server = Server::start(&[("max_fix_lead_seconds", "120")]);
    let now = Utc::now();
    let (transit, fixes) = moved("clean-khorgos-almaty", "AHEAD-1", 12, now - Duration::minutes(5));
    assert_eq!(server.put_transit("AHEAD-1", &transit).0, 201);
    let lines: Vec<&str> = fixes.lines().collect();

    let mut ahead: Value = serde_json::from_str(lines[0]).unwrap();
    let year_ahead = (now + Duration::days(365)).to_rfc3339_opts(SecondsFormat::Secs, true);
    ahead["at"] = Value::String(year_ahead.clone());
    let first = format!("{}\n{ahead}\n{}\n", lines[0], lines[1..4].join("\n"));
    let (status, outcome) = server.post_fixes("AHEAD-1", &first);
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["accepted"], 4, "the rest of the batch is kept: {outcome}");
    let rejected = outcome["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{outcome}");
    assert_eq!(rejected[0]["line"], 2);
    let reason = rejected[0]["reason"].as_str().unwrap();
    eprintln!("{reason}");
    assert!(
        reason.starts_with(&format!("`at` {year_ahead} is after the service's clock (")),
        "{reason}"
    );
    assert!(
        reason.ends_with(") by more than max_fix_lead_seconds (120 s)"),
        "{reason}"
    );

    // The batches that follow are in order after the stored fixes: each
    // resumes, none replays.
    let replays = evaluations(&server, "replay");
    for batch in [&lines[4..8], &lines[8..]] {
        let (status, outcome) = server.post_fixes("AHEAD-1", &format!("{}\n", batch.join("\n")));
        assert_eq!(status, 200, "{outcome}");
        assert_eq!(outcome["accepted"], batch.len(), "{outcome}");
    }
    // Within the tolerance, a receiver's clock running ahead is no reason to refuse.
    let mut early: Value = serde_json::from_str(lines[11]).unwrap();
    early["at"] = Value::String((Utc::now() + Duration::seconds(60)).to_rfc3339());
    let (status, outcome) = server.post_fixes("AHEAD-1", &format!("{early}\n"));
    assert_eq!((status, &outcome["accepted"]), (200, &Value::from(1)), "{outcome}");
    assert_eq!(evaluations(&server, "replay"), replays, "no later batch replayed");
    assert_eq!(evaluations(&server, "observe"), 4.0);

    // Nor may a close be dated a year ahead: it would judge the transit
    // as of then.
    let (status, answer) = server.json(
        "POST",
        "/v1/transits/AHEAD-1/close",
        Some(INGEST),
        format!(r#"{{"reason": "arrived", "at": "{year_ahead}"}}"#).as_bytes(),
    );
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .ends_with("by more than max_fix_lead_seconds (120 s)"),
        "{answer}"
    );
}

/// A lead no clock can add to its own is refused by name at start-up.
#[test]
fn a_lead_beyond_a_hundred_years_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("escort.toml"),
        "listen = \"127.0.0.1:0\"\ndata = \"data\"\nmax_fix_lead_seconds = 9223372036854775807\n",
    )
    .unwrap();
    let (status, stderr) = serve_refused(dir.path());
    assert_eq!(status, Some(2), "{stderr}");
    assert!(
        stderr.contains("max_fix_lead_seconds must be at most 3162240000 seconds, not 9223372036854775807"),
        "{stderr}"
    );
}
