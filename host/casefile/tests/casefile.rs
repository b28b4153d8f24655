//! The case file of shipped scenarios, checked by the real built-in
//! policies: snapshots of the whole text, and the properties an officer
//! relies on (aligned columns, local time beside UTC, kilometres along the
//! route and the nearest place). What belongs here: anything that needs a
//! real report; the parts' own rules are unit-tested in their modules.

use chrono_tz::Tz;
use escort_casefile::{Gazetteer, render};
use escort_engine::geodesy::distance_m;
use escort_engine::{Finding, FindingStatus, Report, Severity};
use escort_tests::{Scenario, builtin, scenario};

/// The scenario `name`, checked, and its case file in `zone`.
fn case_file(name: &str, zone: Tz) -> (Scenario, Report, String) {
    let scenario = Scenario::read(&scenario(name));
    let report = scenario.check(builtin());
    let text = render(&scenario.transit, &report, zone, Gazetteer::kazakhstan());
    (scenario, report, text)
}

#[test]
fn seal_events_critical_first_and_a_low_battery_still_going_on() {
    let (_, _, text) = case_file("seal-events", chrono_tz::Asia::Almaty);
    insta::assert_snapshot!(text);
}

#[test]
fn corridor_detour() {
    let (_, _, text) = case_file("corridor-detour", chrono_tz::Asia::Almaty);
    insta::assert_snapshot!(text);
}

#[test]
fn malformed_lines_counts_its_refused_lines_in_the_verdict() {
    let (_, report, text) = case_file("malformed-lines", chrono_tz::Asia::Almaty);
    assert_eq!(report.fixes.rejected, 10);
    assert!(text.contains(", 10 lines refused, "), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn clean_khorgos_almaty() {
    let (_, _, text) = case_file("clean-khorgos-almaty", chrono_tz::Asia::Almaty);
    insta::assert_snapshot!(text);
}

/// The lines of the findings table: its header and one row per finding,
/// without the messages beneath.
fn table_rows(text: &str) -> Vec<&str> {
    text.lines()
        .skip_while(|line| !line.starts_with("Findings"))
        .skip(1)
        .take_while(|line| !line.is_empty())
        .filter(|line| !line.starts_with(' '))
        .collect()
}

#[test]
fn a_very_long_code_and_place_keep_the_columns_aligned() {
    let scenario = Scenario::read(&scenario("seal-events"));
    let mut report = scenario.check(builtin());
    report.findings[1].code = format!("seal.{}", "very_long_code_".repeat(8));
    report.findings[1].message = "m".repeat(500);
    let places = Gazetteer::from_csv(&format!(
        "lat,lon,name\n44.266962,79.021961,{}\n43.25654,76.92848,Almaty\n",
        "Very Long Place Name ".repeat(6).trim()
    ))
    .unwrap();
    let text = render(&scenario.transit, &report, chrono_tz::Asia::Almaty, &places);
    let rows = table_rows(&text);
    assert_eq!(rows.len(), report.findings.len() + 1, "{text}");
    // Every text column starts where its title does, in every row; the
    // durations, right-aligned, end where theirs does.
    let header = rows[0];
    let column = |title: &str| header.find(&format!("  {title}")).unwrap() + 2;
    for row in &rows[1..] {
        for title in ["code", "status", "from", "to"] {
            let at = column(title);
            assert!(
                row[..at].ends_with("  ") && !row[at..].starts_with(' '),
                "`{title}` out of line in:\n{text}"
            );
        }
        let end = column("duration") + "duration".len();
        // A finding without a position ends its row with its duration.
        let after = &row[end..];
        assert!(
            row[..end].ends_with('s') && (after.is_empty() || after.starts_with("  ")),
            "duration out of line in:\n{text}"
        );
    }
    let place = column("nearest place");
    let placed: Vec<&&str> = rows[1..].iter().filter(|row| row.len() > place).collect();
    assert_eq!(placed.len(), report.findings.len() - 1, "{text}");
    for row in placed {
        assert!(
            row[place..].contains(" km ") && !row[place..].starts_with(' '),
            "place out of line in:\n{text}"
        );
    }
    assert!(text.contains("  0.0 km N of Very Long Place Name Very"), "{text}");
}

#[test]
fn almaty_time_is_six_hours_ahead_in_2021_five_in_2025_and_utc_is_named_utc() {
    let (_, _, text_2021) = case_file("clean-khorgos-almaty", chrono_tz::Asia::Almaty);
    assert!(
        text_2021.contains("opened       2021-05-16 09:40:00 +06 (03:40:00 UTC)"),
        "{text_2021}"
    );
    let (_, _, text_2025) = case_file("seal-events", chrono_tz::Asia::Almaty);
    assert!(
        text_2025.contains("opened       2025-04-08 07:00:00 +05 (02:00:00 UTC)"),
        "{text_2025}"
    );
    let (_, _, text_utc) = case_file("seal-events", chrono_tz::UTC);
    assert!(
        text_utc.contains("opened       2025-04-08 02:00:00 UTC\n"),
        "{text_utc}"
    );
    assert!(text_utc.contains("time zone    UTC\n"), "{text_utc}");
}

#[test]
fn a_finding_west_of_kapshagay_is_placed_by_km_along_the_route_and_the_town() {
    let scenario = Scenario::read(&scenario("seal-events"));
    let route = &scenario.transit.route;
    // Kapshagay is a waypoint of the declared route: the route's length up
    // to it, summed here independently of the route index.
    let waypoint = route
        .iter()
        .position(|c| (c.y, c.x) == (43.86681, 77.06304))
        .expect("Kapshagay is on the route");
    let along_m: f64 = route[..=waypoint]
        .windows(2)
        .map(|pair| distance_m(pair[0].y, pair[0].x, pair[1].y, pair[1].x))
        .sum();
    let mut report = scenario.check(builtin());
    // 3 km due west of the town, where the route comes from the north-east
    // and turns south: the waypoint is the route's nearest point. 0.03728°
    // of longitude is 3 km at 43.87° N.
    let finding = Finding {
        policy: "corridor".into(),
        policy_version: "0.1.0".into(),
        code: "corridor.deviation".into(),
        severity: Severity::Critical,
        status: FindingStatus::Final,
        key: String::new(),
        message: "left the corridor".into(),
        from: report.evaluated_at,
        to: report.evaluated_at,
        lat: Some(43.86681),
        lon: Some(77.06304 - 0.03728),
        evidence: Default::default(),
    };
    report.findings = vec![finding];
    let text = render(
        &scenario.transit,
        &report,
        chrono_tz::Asia::Almaty,
        Gazetteer::kazakhstan(),
    );
    let row = table_rows(&text)[1];
    let expected = format!("{:.1}           3.0  3.0 km W of Kapshagay", along_m / 1000.0);
    assert!(row.ends_with(&expected), "expected …{expected} in\n{text}");
}

#[test]
fn a_finding_without_a_position_shows_no_place() {
    let (_, report, text) = case_file("seal-events", chrono_tz::Asia::Almaty);
    let eligible = report
        .findings
        .iter()
        .position(|f| f.code == "eligibility.eligible")
        .unwrap();
    assert!(report.findings[eligible].lat.is_none());
    let row = table_rows(&text)
        .into_iter()
        .find(|row| row.contains("eligibility.eligible"))
        .unwrap();
    assert!(row.ends_with("0 s"), "{text}");
}
