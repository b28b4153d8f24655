//! Findings' keys and statuses on a real service (issue 13, item 5): an
//! episode keeps its key while it grows over batches and when it ends, says
//! `open` until it ends, and a batch answer does not list it again at every
//! batch it grows by. And every time in every JSON answer is in the one
//! format of `escort_engine::format_time`.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde_json::Value;

use escort_engine::format_time;
use escort_tests::{OFFICER, REGULATOR, Server, transit_as};

const ID: &str = "KEYS-1";
/// A point on the `dwell-stops` route, outside every zone and authorised stop.
const STOP: (f64, f64) = (43.45328, 77.02087);

/// Stationary fixes at [`STOP`] every 5 min from `from` minutes after the
/// opening to `to` minutes, both included.
fn stopped(opened_at: DateTime<Utc>, from: i64, to: i64) -> String {
    (from..=to)
        .step_by(5)
        .map(|minute| fix(opened_at + Duration::minutes(minute), STOP.0, STOP.1, 0.0))
        .collect()
}

fn fix(at: DateTime<Utc>, lat: f64, lon: f64, speed_kmh: f64) -> String {
    format!(
        "{{\"at\":\"{}\",\"lat\":{lat},\"lon\":{lon},\"speed_kmh\":{speed_kmh},\"hdop\":0.9,\"sats\":10,\"seal\":\"intact\",\"battery\":90}}\n",
        format_time(&at)
    )
}

/// The `dwell.unauthorized_stop` findings of a list of findings.
fn stops(findings: &Value) -> Vec<Value> {
    findings
        .as_array()
        .expect("a list of findings")
        .iter()
        .filter(|finding| finding["code"] == "dwell.unauthorized_stop")
        .cloned()
        .collect()
}

/// The one unauthorised stop of the report as of the last fix at `minute`.
fn reported_stop(server: &Server, opened_at: DateTime<Utc>, minute: i64) -> Value {
    let now = format_time(&(opened_at + Duration::minutes(minute)));
    let (status, report) = server.report(ID, Some(&now));
    assert_eq!(status, 200, "{report}");
    let report: Value = serde_json::from_str(&report).expect("JSON");
    let found = stops(&report["findings"]);
    assert_eq!(found.len(), 1, "one stop as of {now}: {report}");
    found[0].clone()
}

#[test]
fn a_growing_stop_keeps_its_key_and_is_news_only_when_it_changes() {
    let server = Server::start(&[]);
    let transit = transit_as("dwell-stops", ID);
    let opened_at: DateTime<Utc> = serde_json::from_str::<Value>(&transit).expect("JSON")["opened_at"]
        .as_str()
        .expect("opened_at")
        .parse()
        .expect("a time");
    assert_eq!(server.put_transit(ID, &transit).0, 201);

    // Stopped for 45 min: a warning, still going on.
    let (status, first) = server.post_fixes(ID, &stopped(opened_at, 0, 45));
    assert_eq!(status, 200, "{first}");
    let listed = stops(&first["findings"]);
    assert_eq!(listed.len(), 1, "a new episode is news: {first}");
    assert_eq!(listed[0]["status"], "open");
    let key = listed[0]["key"].as_str().expect("a key").to_owned();
    assert_eq!(key.len(), 16, "{key}");
    let stop = reported_stop(&server, opened_at, 45);
    assert_eq!(
        (stop["status"].as_str(), stop["key"].as_str()),
        (Some("open"), Some(&*key))
    );

    // Still stopped, still a warning: the same episode, grown, and no news.
    let (status, second) = server.post_fixes(ID, &stopped(opened_at, 50, 90));
    assert_eq!(status, 200, "{second}");
    assert_eq!(stops(&second["findings"]), Vec::<Value>::new(), "{second}");
    let stop = reported_stop(&server, opened_at, 90);
    assert_eq!(
        (stop["status"].as_str(), stop["key"].as_str()),
        (Some("open"), Some(&*key))
    );
    assert_eq!(stop["severity"], "warning");

    // Past two hours: a violation, which is news under the same key.
    let (status, third) = server.post_fixes(ID, &stopped(opened_at, 95, 135));
    assert_eq!(status, 200, "{third}");
    let listed = stops(&third["findings"]);
    assert_eq!(listed.len(), 1, "an escalation is news: {third}");
    assert_eq!(
        (
            listed[0]["severity"].as_str(),
            listed[0]["status"].as_str(),
            listed[0]["key"].as_str()
        ),
        (Some("violation"), Some("open"), Some(&*key))
    );

    // The truck drives on along the route: the stop is over, final, under the same key.
    let route = [(43.46215, 77.02047), (43.47095, 77.0213), (43.47969, 77.02327)];
    let driven: String = route
        .iter()
        .enumerate()
        .map(|(step, (lat, lon))| fix(opened_at + Duration::minutes(140 + 5 * step as i64), *lat, *lon, 12.0))
        .collect();
    let (status, fourth) = server.post_fixes(ID, &driven);
    assert_eq!(status, 200, "{fourth}");
    let listed = stops(&fourth["findings"]);
    assert_eq!(listed.len(), 1, "an ended episode is news: {fourth}");
    assert_eq!(
        (listed[0]["status"].as_str(), listed[0]["key"].as_str()),
        (Some("final"), Some(&*key))
    );
    let stop = reported_stop(&server, opened_at, 150);
    assert_eq!(
        (stop["status"].as_str(), stop["key"].as_str()),
        (Some("final"), Some(&*key))
    );

    // A late fix, older than the stored ones, makes the service evaluate the
    // transit again from its first fix: what it already reported is no news.
    let (status, late) = server.post_fixes(ID, &fix(opened_at + Duration::minutes(2), STOP.0, STOP.1, 0.0));
    assert_eq!(status, 200, "{late}");
    assert_eq!(late["findings"], Value::Array(Vec::new()), "{late}");
}

/// Every string of `value` that reads as an RFC 3339 time, with where it is.
fn times(value: &Value, path: &str, into: &mut Vec<(String, String)>) {
    match value {
        Value::String(text) if DateTime::parse_from_rfc3339(text).is_ok() => {
            into.push((path.to_owned(), text.clone()));
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                times(item, &format!("{path}[{index}]"), into);
            }
        }
        Value::Object(fields) => {
            for (name, field) in fields {
                times(field, &format!("{path}.{name}"), into);
            }
        }
        _ => {}
    }
}

#[test]
fn every_time_in_every_json_answer_is_in_one_format() {
    let server = Server::start(&[("max_fix_lead_seconds", "3600")]);
    // A transit on today's clock, so that the service's own clock meets its times.
    let opened_at = (Utc::now() - Duration::hours(3)).trunc_subsecs(0);
    let mut transit: Value = serde_json::from_str(&transit_as("dwell-stops", ID)).expect("JSON");
    transit["opened_at"] = Value::String(format_time(&opened_at));
    transit["deadline"] = Value::String(format_time(&(opened_at + Duration::hours(48))));
    let transit = transit.to_string();

    let mut answers: Vec<(String, Value)> = Vec::new();
    let mut answer = |what: &str, (status, body): (u16, Value)| {
        assert!(status < 500, "{what}: {status} {body}");
        answers.push((what.to_owned(), body));
    };
    let json = |text: String| serde_json::from_str::<Value>(&text).expect("JSON");
    answer("PUT transit", server.put_transit(ID, &transit));
    answer("POST fixes", server.post_fixes(ID, &stopped(opened_at, 0, 45)));
    let ahead = fix(Utc::now() + Duration::days(1), STOP.0, STOP.1, 0.0);
    answer("POST fixes, one ahead of the clock", server.post_fixes(ID, &ahead));
    let (status, report) = server.report(ID, None);
    answer("GET transit as of the clock", (status, json(report)));
    let (status, report) = server.report(ID, Some(&format_time(&(opened_at + Duration::minutes(50)))));
    answer("GET transit as of a time", (status, json(report)));
    answer("GET transits", server.get_json("/v1/transits", OFFICER));
    answer("GET policies", server.get_json("/v1/policies", REGULATOR));
    answer(
        "GET versions",
        server.get_json("/v1/policies/dwell/versions", REGULATOR),
    );
    answer("GET healthz", server.get_json("/healthz", OFFICER));
    answer("GET a missing transit", server.get_json("/v1/transits/NONE-1", OFFICER));
    let (status, closed) = server.close(ID, r#"{"reason": "arrived"}"#);
    answer("POST close", (status, json(closed)));
    answer("GET transits after the close", server.get_json("/v1/transits", OFFICER));

    let mut seen = Vec::new();
    for (what, body) in &answers {
        let mut found = Vec::new();
        times(body, "", &mut found);
        for (path, text) in found {
            let at = DateTime::parse_from_rfc3339(&text).expect("a time").to_utc();
            assert_eq!(text, format_time(&at), "{what}, {path}: not in the one format");
            seen.push((what.clone(), path, text));
        }
    }
    // Times of the service's own clock are to the second.
    for (what, path, text) in &seen {
        if what == "GET transit as of the clock" && path == ".evaluated_at" || what == "POST close" {
            assert!(!text.contains('.'), "{what}, {path}: {text} is not to the second");
        }
    }
    for (what, least) in [
        ("PUT transit", 2),
        ("POST fixes", 2),
        ("GET transit as of the clock", 3),
        ("GET transits", 2),
        ("GET versions", 1),
        ("POST close", 3),
    ] {
        let count = seen.iter().filter(|(answer, _, _)| answer == what).count();
        assert!(
            count >= least,
            "{what}: {count} times, expected at least {least}: {seen:?}"
        );
    }
}
