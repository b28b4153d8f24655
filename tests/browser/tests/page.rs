//! The officers' page against issue 15's "Done when", in a real headless
//! Chromium against a real `escort serve` loaded with the shipped scenarios
//! through the HTTP API: sign-in and sign-out, what an ingest token gets,
//! the board's counts, filters and search, each transit's map, a click on
//! a finding, requests and console, tokens never shown, and the two
//! screenshots (`target/screenshots/`). What only plain HTTP can see (the
//! `Set-Cookie` header, answers to a forgotten session) is checked with the
//! kit's client beside the browser. Timings belong to
//! `examples/page_draw.rs`, not here.

use std::collections::BTreeSet;
use std::io::Read;
use std::time::{Duration, Instant};

use escort_browser_tests::load::{self, Loaded};
use escort_browser_tests::{Browser, serve};
use escort_tests::{INGEST, OFFICER, REGULATOR, Server, workspace};
use serde_json::Value;

/// The three secrets of every test server.
const TOKENS: [&str; 3] = [INGEST, OFFICER, REGULATOR];

/// A server with every shipped scenario and a browser pointed at it.
async fn loaded() -> (Server, Vec<Loaded>, Browser) {
    let server = serve(&[]);
    let loaded = load::shipped(&server);
    let browser = Browser::start(&server.url).await;
    (server, loaded, browser)
}

/// Signs in as the officer and waits for the board.
async fn signed_in(browser: &Browser) {
    browser.sign_in(OFFICER).await;
    browser.wait_ready("board").await;
}

/// Opens the view at `path` (`/#/transit/ID`) and waits until it is drawn.
/// The mark of the view before is taken away first, so that a hash change
/// is not mistaken for the new view drawn.
async fn open_view(browser: &Browser, path: &str, view: &str) {
    browser
        .js("document.body.removeAttribute('data-ready'); return null;")
        .await;
    browser.open(path).await;
    browser.wait_ready(view).await;
}

/// The officer's report of transit `id` as the service gives it.
fn report(server: &Server, id: &str) -> Value {
    let (status, report) = server.get_json(&format!("/v1/transits/{id}"), OFFICER);
    assert_eq!(status, 200, "{report}");
    report
}

/// A plain HTTP answer with its headers, redirects not followed.
struct Answer {
    status: u16,
    set_cookie: Vec<String>,
    csp: Option<String>,
    body: String,
}

/// Sends a request without following redirects, with an optional cookie
/// and form body: what only plain HTTP shows (`Set-Cookie`, a 303).
fn http(server: &Server, method: &str, path: &str, cookie: Option<&str>, form: Option<&str>) -> Answer {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut request = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{}{path}", server.url));
    if let Some(cookie) = cookie {
        request = request.header("Cookie", cookie);
    }
    if form.is_some() {
        request = request.header("Content-Type", "application/x-www-form-urlencoded");
    }
    let request = request
        .body(form.unwrap_or_default().as_bytes().to_vec())
        .expect("a well-formed request");
    let mut response = agent.run(request).expect("the server answers");
    let set_cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().expect("an ASCII cookie").to_owned())
        .collect();
    let csp = response
        .headers()
        .get("content-security-policy")
        .map(|value| value.to_str().expect("an ASCII policy").to_owned());
    let mut body = String::new();
    response
        .body_mut()
        .as_reader()
        .read_to_string(&mut body)
        .expect("a UTF-8 body");
    Answer {
        status: response.status().as_u16(),
        set_cookie,
        csp,
        body,
    }
}

/// The answer to the sign-in form sent with `token`, outside the browser.
fn sign_in_over_http(server: &Server, token: &str) -> Answer {
    http(server, "POST", "/page/session", None, Some(&format!("token={token}")))
}

/// `escort_session=VALUE` of a `Set-Cookie` header.
fn session_cookie(set_cookie: &[String]) -> String {
    set_cookie
        .iter()
        .find(|cookie| cookie.starts_with("escort_session="))
        .and_then(|cookie| cookie.split(';').next())
        .unwrap_or_else(|| panic!("no escort_session cookie in {set_cookie:?}"))
        .to_owned()
}

/// The contract's Content-Security-Policy without a tile server, as a
/// set of directives (their order and spacing are free).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; \
                   form-action 'self'; frame-ancestors 'none'";

/// A policy's directives, each with its values in one spacing.
fn directives(policy: &str) -> BTreeSet<String> {
    policy
        .split(';')
        .map(|directive| directive.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|directive| !directive.is_empty())
        .collect()
}

#[test]
fn every_page_answer_carries_the_contract_s_content_security_policy() {
    let server = serve(&[]);
    let signed_in = sign_in_over_http(&server, OFFICER);
    let session = session_cookie(&signed_in.set_cookie);
    for (path, cookie) in [
        ("/", None),
        ("/", Some(session.as_str())),
        ("/page/assets/app.js", None),
        ("/page/api/session", Some(session.as_str())),
    ] {
        let answer = http(&server, "GET", path, cookie, None);
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        let csp = answer
            .csp
            .unwrap_or_else(|| panic!("{path} has no Content-Security-Policy"));
        assert_eq!(directives(&csp), directives(CSP), "{path}: {csp}");
    }
}

#[tokio::test]
async fn a_wrong_or_ingest_token_is_refused_and_an_officer_signs_in_and_out() {
    let (server, _, browser) = loaded().await;
    for (token, what) in [("not-a-token-at-all", "a wrong token"), (INGEST, "the ingest token")] {
        browser.sign_in(token).await;
        browser.wait_ready("signin").await;
        browser
            .wait_for(
                "document.querySelector('#signin-error') && document.querySelector('#signin-error').offsetParent !== null",
                &format!("#signin-error shown after {what}"),
            )
            .await;
        let cookies = browser.client.get_all_cookies().await.expect("cookies");
        assert!(cookies.is_empty(), "{what} got cookies: {cookies:?}");
    }

    browser.sign_in(OFFICER).await;
    browser.wait_ready("board").await;
    let whoami = browser.element("#whoami").await.text().await.expect("#whoami text");
    assert!(
        whoami.contains("test-officer"),
        "#whoami names {whoami:?}, not the officer"
    );
    let cookies = browser.client.get_all_cookies().await.expect("cookies");
    let session = cookies
        .iter()
        .find(|cookie| cookie.name() == "escort_session")
        .unwrap_or_else(|| panic!("no escort_session cookie after signing in: {cookies:?}"));
    assert_eq!(session.http_only(), Some(true), "{session}");
    assert_eq!(
        session.same_site().map(|s| s.to_string()).as_deref(),
        Some("Strict"),
        "{session}"
    );
    let old_cookie = format!("escort_session={}", session.value());
    let script_sees = browser.js("return document.cookie;").await;
    assert!(
        !script_sees.as_str().unwrap_or_default().contains("escort_session"),
        "document.cookie shows the session: {script_sees}"
    );
    assert_eq!(
        http(&server, "GET", "/page/api/session", Some(&old_cookie), None).status,
        200
    );

    browser
        .element("#signout-submit")
        .await
        .click()
        .await
        .expect("signing out");
    browser.wait_ready("signin").await;
    let after = http(&server, "GET", "/page/api/session", Some(&old_cookie), None);
    assert_eq!(after.status, 401, "the ended session still answers: {}", after.body);
    browser.close().await;
}

#[test]
fn the_session_cookie_is_http_only_strict_and_expiring_and_an_ingest_token_gets_nothing() {
    let server = serve(&[]);
    let signed_in = sign_in_over_http(&server, OFFICER);
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let cookie = signed_in
        .set_cookie
        .iter()
        .find(|cookie| cookie.starts_with("escort_session="))
        .unwrap_or_else(|| panic!("no session cookie: {:?}", signed_in.set_cookie));
    let attributes: Vec<String> = cookie.split(';').map(|a| a.trim().to_ascii_lowercase()).collect();
    for wanted in ["httponly", "samesite=strict", "path=/"] {
        assert!(attributes.iter().any(|a| a == wanted), "{cookie} lacks {wanted}");
    }
    assert!(
        attributes.iter().any(|a| a.starts_with("max-age=")),
        "{cookie} never expires"
    );
    assert!(
        TOKENS.iter().all(|token| !cookie.contains(token)),
        "the cookie holds a token: {cookie}"
    );

    for token in ["not-a-token-at-all", INGEST] {
        let refused = sign_in_over_http(&server, token);
        assert_eq!(refused.status, 401, "{token}: {}", refused.body);
        assert!(refused.set_cookie.is_empty(), "{token} got {:?}", refused.set_cookie);
        assert!(
            refused.body.contains("id=\"signin-error\""),
            "{token}: {}",
            refused.body
        );
        assert!(!refused.body.contains(token), "the refusal shows the token it refused");
    }
    let (status, answer) = server.request("GET", "/page/api/transits", Some(INGEST), b"");
    assert_eq!(status, 401, "the ingest token read the board: {answer}");
    let answer: Value = serde_json::from_str(&answer).expect("a JSON refusal");
    assert!(
        answer["error"].is_string() && answer.get("transits").is_none(),
        "{answer}"
    );

    let session = session_cookie(&signed_in.set_cookie);
    let ended = http(&server, "POST", "/page/session/end", Some(&session), None);
    assert_eq!(ended.status, 303, "{}", ended.body);
    assert!(
        ended.set_cookie.iter().any(|c| {
            let c = c.to_ascii_lowercase();
            c.starts_with("escort_session=") && (c.contains("max-age=0") || c.contains("expires=thu, 01 jan 1970"))
        }),
        "signing out does not expire the cookie: {:?}",
        ended.set_cookie
    );
    assert_eq!(
        http(&server, "GET", "/page/api/transits", Some(&session), None).status,
        401
    );
}

/// The ids in the board's table.
async fn rows(browser: &Browser) -> BTreeSet<String> {
    let ids = browser
        .js("return [...document.querySelectorAll('#transits tbody tr')].map(r => r.getAttribute('data-transit'));")
        .await;
    ids.as_array()
        .into_iter()
        .flatten()
        .map(|id| id.as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Waits until the board is drawn with exactly `expected` rows; fails
/// after 20 s with the rows it showed.
async fn wait_rows(browser: &Browser, expected: &BTreeSet<String>, what: &str) {
    let started = Instant::now();
    loop {
        let ready = browser.js("return document.body.getAttribute('data-ready');").await;
        let seen = rows(browser).await;
        if ready == "board" && &seen == expected {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{what}: the board shows {seen:?} (data-ready {ready}), not {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Types `text` into the board's search box in place of what it held.
async fn search(browser: &Browser, text: &str) {
    browser
        .js("const box = document.querySelector('#search'); box.value = ''; \
             box.dispatchEvent(new Event('input', {bubbles: true})); return null;")
        .await;
    browser
        .element("#search")
        .await
        .send_keys(text)
        .await
        .expect("typing a search");
}

#[tokio::test]
async fn the_board_counts_each_verdict_and_narrows_by_filter_and_search() {
    let (server, loaded, browser) = loaded().await;
    let (status, closed) = server.close("KZ-2022-004417", r#"{"reason": "arrived"}"#);
    assert_eq!(status, 200, "{closed}");
    let (status, list) = server.get_json("/v1/transits?limit=1000", OFFICER);
    assert_eq!(status, 200, "{list}");
    let listed = list["transits"].as_array().expect("transits");
    assert_eq!(listed.len(), loaded.len());
    let open_ids = |verdict: Option<&str>| -> BTreeSet<String> {
        listed
            .iter()
            .filter(|t| t["open"] == true && verdict.is_none_or(|v| t["verdict"] == v))
            .map(|t| t["id"].as_str().expect("an id").to_owned())
            .collect()
    };

    signed_in(&browser).await;
    for verdict in ["violation", "review", "clear"] {
        let shown = browser
            .element(&format!("#count-{verdict}"))
            .await
            .text()
            .await
            .expect("a count");
        assert_eq!(
            shown.trim(),
            open_ids(Some(verdict)).len().to_string(),
            "#count-{verdict}"
        );
    }
    let closed_count = listed.iter().filter(|t| t["open"] == false).count();
    let shown = browser.element("#count-closed").await.text().await.expect("a count");
    assert_eq!(shown.trim(), closed_count.to_string(), "#count-closed");
    wait_rows(&browser, &open_ids(None), "the open transits").await;

    let filter = browser.element("select#filter-verdict").await;
    filter.select_by_value("violation").await.expect("choosing violation");
    wait_rows(&browser, &open_ids(Some("violation")), "verdict violation").await;
    filter.select_by_value("").await.expect("choosing every verdict");
    wait_rows(&browser, &open_ids(None), "every verdict").await;

    let detour = loaded
        .iter()
        .find(|l| l.scenario == "corridor-detour")
        .expect("corridor-detour");
    let open = open_ids(None);
    for (field, text) in [
        ("seal id", detour.transit["seal_id"].as_str().expect("a seal")),
        ("vehicle", detour.transit["vehicle"].as_str().expect("a vehicle")),
        ("importer", "tashkent fruit"),
    ] {
        let expected: BTreeSet<String> = loaded
            .iter()
            .filter(|l| open.contains(&l.id))
            .filter(|l| {
                [
                    &l.transit["id"],
                    &l.transit["seal_id"],
                    &l.transit["vehicle"],
                    &l.transit["importer"]["name"],
                ]
                .iter()
                .any(|v| {
                    v.as_str()
                        .unwrap_or_default()
                        .to_lowercase()
                        .contains(&text.to_lowercase())
                })
            })
            .map(|l| l.id.clone())
            .collect();
        assert!(
            !expected.is_empty() && expected.len() < open.len(),
            "{field} {text} narrows nothing"
        );
        search(&browser, text).await;
        wait_rows(&browser, &expected, &format!("a search by {field} ({text})")).await;
    }
    browser.close().await;
}

/// The number in `#map[name]` of transit `id`'s view.
async fn map_number(browser: &Browser, id: &str, name: &str) -> u64 {
    let value = browser.attr("#map", name).await;
    value
        .as_deref()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{id}: #map[{name}] is {value:?}, not a number"))
}

#[tokio::test]
async fn each_transit_draws_its_track_route_zones_and_finding_markers() {
    let (server, loaded, browser) = loaded().await;
    signed_in(&browser).await;
    for transit in &loaded {
        let id = &transit.id;
        open_view(&browser, &format!("/#/transit/{id}"), "transit").await;
        let report = report(&server, id);
        let accepted = report["fixes"]["accepted"].as_u64().expect("accepted fixes");
        assert_eq!(
            map_number(&browser, id, "data-track-points").await,
            accepted,
            "{id}: track points"
        );
        let route = transit.transit["route"]["coordinates"].as_array().map_or(0, Vec::len) as u64;
        assert_eq!(
            map_number(&browser, id, "data-route-points").await,
            route,
            "{id}: route points"
        );
        let stops = transit.transit["stops"].as_array().cloned().unwrap_or_default();
        assert_eq!(
            map_number(&browser, id, "data-zones").await,
            2 + stops.len() as u64,
            "{id}: zones"
        );

        // The labels of the transit before fade out for 200 ms (Leaflet's
        // tooltips) at opacity 0: they are not this transit's.
        let shown = "[...document.querySelectorAll('#map .zone-label')].filter(label => label.style.opacity !== '0')";
        browser
            .wait_for(
                &format!("{shown}.length === {}", 2 + stops.len()),
                &format!("{id}: its zone labels"),
            )
            .await;
        let labels = browser
            .js(&format!("return {shown}.map(label => label.textContent);"))
            .await;
        let texts: Vec<&str> = labels
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(texts.len(), 2 + stops.len(), "{id}: zone labels {texts:?}");
        let names = [
            &transit.transit["departure"]["name"],
            &transit.transit["destination"]["name"],
        ]
        .into_iter()
        .chain(stops.iter().map(|stop| {
            if stop["name"].is_string() {
                &stop["name"]
            } else {
                &stop["id"]
            }
        }));
        for name in names {
            let name = name.as_str().expect("a zone name");
            assert!(
                texts.iter().any(|t| t.contains(name)),
                "{id}: no zone label names {name}: {texts:?}"
            );
        }

        let positioned = report["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["lat"].is_number() && f["lon"].is_number())
            .count();
        let markers = browser
            .js("return document.querySelectorAll('#map .finding-marker').length;")
            .await;
        assert_eq!(markers.as_u64(), Some(positioned as u64), "{id}: .finding-marker count");
        assert_eq!(
            map_number(&browser, id, "data-finding-markers").await,
            positioned as u64,
            "{id}: data-finding-markers"
        );
    }
    browser.close().await;
}

#[tokio::test]
async fn clicking_a_finding_centres_the_map_on_it_and_highlights_its_stretch() {
    let (server, _, browser) = loaded().await;
    signed_in(&browser).await;
    let mut clicked = 0;
    for id in ["KZ-2023-010552", "KZ-2025-002004", "KZ-2022-007781"] {
        open_view(&browser, &format!("/#/transit/{id}"), "transit").await;
        let report = report(&server, id);
        for finding in report["findings"].as_array().expect("findings") {
            let (Some(lat), Some(lon)) = (finding["lat"].as_f64(), finding["lon"].as_f64()) else {
                continue;
            };
            let key = finding["key"].as_str().expect("a key");
            let stretch = match (finding["from"].as_str(), finding["to"].as_str()) {
                (Some(from), Some(to)) => load::time(from) < load::time(to),
                _ => false,
            };
            let mut target = None;
            for item in browser.elements("#findings li.finding").await {
                if item.attr("data-key").await.expect("data-key").as_deref() == Some(key) {
                    target = Some(item);
                }
            }
            let item = target.unwrap_or_else(|| panic!("{id}: no li.finding[data-key={key:?}]"));
            item.click().await.expect("clicking the finding");
            let highlighted = if stretch {
                "&& Number(map.getAttribute('data-highlight-points')) > 0"
            } else {
                ""
            };
            browser
                .wait_for(
                    &format!(
                        "(() => {{ const map = document.querySelector('#map'); \
                         const c = (map.getAttribute('data-center') || '').split(',').map(Number); \
                         return Math.abs(c[0] - {lat}) <= 0.001 && Math.abs(c[1] - {lon}) <= 0.001 {highlighted}; }})()"
                    ),
                    &format!(
                        "{id}: the map centred on {key} at {lat},{lon}{}",
                        if stretch { " with its stretch highlighted" } else { "" }
                    ),
                )
                .await;
            clicked += usize::from(stretch);
        }
    }
    assert!(clicked > 0, "no finding with a stretch was clicked");
    browser.close().await;
}

/// Fails on any resource of the page from outside the service.
async fn assert_inside(browser: &Browser, view: &str) {
    let names = browser
        .js("return performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource')).map(e => e.name);")
        .await;
    let inside = format!("{}/", browser.base);
    let outside: Vec<&str> = names
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|name| !name.starts_with(&inside))
        .collect();
    assert!(outside.is_empty(), "the {view} requested outside {inside}: {outside:?}");
}

#[tokio::test]
async fn the_page_asks_only_the_service_and_logs_no_console_error() {
    let (server, _, browser) = loaded().await;
    load::breached_detour(&server, "BREACHED-DETOUR");
    let mut log = Vec::new();
    browser.open("/").await;
    browser.wait_ready("signin").await;
    assert_inside(&browser, "sign-in page").await;
    log.extend(browser.log().await);
    signed_in(&browser).await;
    assert_inside(&browser, "board").await;
    open_view(&browser, "/#/transit/BREACHED-DETOUR", "transit").await;
    browser
        .element("#findings li.finding")
        .await
        .click()
        .await
        .expect("clicking a finding");
    browser
        .element("#show-shadow")
        .await
        .click()
        .await
        .expect("showing shadow findings");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_inside(&browser, "transit page").await;
    log.extend(browser.log().await);
    let severe: Vec<_> = log.iter().filter(|entry| entry.level == "SEVERE").collect();
    assert!(severe.is_empty(), "the console has errors:\n{severe:#?}");
    browser.close().await;
}

/// Fails when `text`, seen at `where_`, holds any of the three tokens.
fn assert_no_token(text: &str, where_: &str) {
    for token in TOKENS {
        assert!(!text.contains(token), "{where_} shows the token {token}");
    }
}

#[tokio::test]
async fn the_page_never_shows_a_token() {
    let (_server, _, browser) = loaded().await;
    signed_in(&browser).await;
    let id = "KZ-2025-002004";
    for (path, view) in [("/#/", "board"), (&format!("/#/transit/{id}") as &str, "transit")] {
        open_view(&browser, path, view).await;
        assert_no_token(
            &browser.client.source().await.expect("the source"),
            &format!("the {view}'s source"),
        );
        let text = browser.js("return document.body.innerText;").await;
        assert_no_token(text.as_str().unwrap_or_default(), &format!("the {view}'s text"));
    }
    for path in [
        "/page/api/session".to_owned(),
        "/page/api/transits".to_owned(),
        "/page/api/transits?open=false".to_owned(),
        "/page/api/changes".to_owned(),
        format!("/page/api/transits/{id}"),
        format!("/page/api/transits/{id}?shadow=true"),
        format!("/page/api/transits/{id}/casefile.txt"),
    ] {
        let answer = browser
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1]; \
                 fetch(arguments[0]).then(r => r.text().then(t => done([r.status, t]))).catch(e => done([0, String(e)]));",
                vec![Value::String(path.clone())],
            )
            .await
            .expect("a fetch");
        assert_eq!(answer[0], 200, "{path}: {}", answer[1]);
        assert_no_token(answer[1].as_str().unwrap_or_default(), &path);
    }
    let cookies = browser.client.get_all_cookies().await.expect("cookies");
    for cookie in cookies {
        assert_no_token(cookie.value(), "the session cookie");
    }
    browser.close().await;
}

#[tokio::test]
async fn screenshots_of_the_board_and_of_a_detour_with_a_breached_seal() {
    let (server, _, browser) = loaded().await;
    load::breached_detour(&server, "KZ-2023-010553");
    let folder = workspace().join("target/screenshots");
    signed_in(&browser).await;
    browser.screenshot(&folder.join("page-board.png")).await;
    open_view(&browser, "/#/transit/KZ-2023-010553", "transit").await;
    browser.screenshot(&folder.join("page-transit.png")).await;
    // Then the breach selected, as an officer would look at it: its
    // stretch highlighted on the map.
    browser
        .js("[...document.querySelectorAll('#findings li.finding')] \
             .find(item => item.textContent.includes('seal.breach')).click(); return null;")
        .await;
    browser
        .wait_for(
            "Number(document.querySelector('#map').getAttribute('data-highlight-points')) > 0",
            "the breach's stretch highlighted",
        )
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    browser.screenshot(&folder.join("page-transit-breach.png")).await;
    browser.close().await;
}
