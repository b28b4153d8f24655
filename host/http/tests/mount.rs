//! Escort's router mounted in an app of the test's own, on a tokio runtime
//! of the test's own, as `examples/mount.rs` shows a team doing: the API
//! answers under the mount point, beside the app's own route, with its
//! tokens and body limits, and a batch is evaluated and stored.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use escort_http::Background;
use escort_service::{Role, ServeConfig, Service, TokenConfig};

const INGEST: &str = "ingest-secret-for-the-mount-test";
const OFFICER: &str = "officer-secret-for-the-mount-test";

fn token(name: &str, role: Role, secret: &str) -> TokenConfig {
    TokenConfig {
        name: name.to_owned(),
        role,
        token: Some(secret.to_owned()),
        token_sha256: None,
    }
}

fn request(agent: &ureq::Agent, method: &str, url: &str, token: Option<&str>, body: &[u8]) -> (u16, String) {
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let mut response = agent
        .run(request.body(body.to_vec()).expect("a well-formed request"))
        .expect("the app answers");
    let mut text = String::new();
    response
        .body_mut()
        .as_reader()
        .read_to_string(&mut text)
        .expect("a UTF-8 body");
    (response.status().as_u16(), text)
}

#[test]
fn the_api_mounted_in_an_app_of_its_own_evaluates_and_stores_a_batch() {
    let data = tempfile::tempdir().expect("a data folder");
    let config = ServeConfig {
        data: data.path().to_owned(),
        cache: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/escort-test-cache")),
        max_body_bytes: 1 << 20,
        tokens: vec![
            token("gateway", Role::Ingest, INGEST),
            token("officer", Role::Officer, OFFICER),
        ],
        ..ServeConfig::default()
    };
    let service = Arc::new(Service::open(&config).expect("the service opens"));
    let (access, created) = service.establish_access(&config).expect("the tokens are established");
    assert!(created.is_none(), "configured tokens are used, none created");

    let runtime = tokio::runtime::Runtime::new().expect("the test's own runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("a loopback port");
    let base = format!("http://{}", listener.local_addr().expect("its address"));
    let app = Router::new()
        .route("/", get(|| async { "our own service" }))
        .nest("/escort", escort_http::router(Arc::clone(&service), access, &config));
    runtime.spawn(async move {
        let _background = Background::spawn(&service, &config);
        axum::serve(listener, app).await.expect("the app serves");
    });

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(120)))
        .build()
        .into();
    assert_eq!(
        request(&agent, "GET", &format!("{base}/"), None, b""),
        (200, "our own service".to_owned())
    );
    let (status, health) = request(&agent, "GET", &format!("{base}/escort/healthz"), None, b"");
    assert_eq!((status, health.as_str()), (200, r#"{"status":"ok"}"#));

    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios/seal-events");
    let transit = std::fs::read(scenario.join("transit.json")).expect("the scenario's transit");
    let fixes = std::fs::read(scenario.join("fixes.ndjson")).expect("the scenario's fixes");
    let transits = format!("{base}/escort/v1/transits/KZ-2025-002004");
    let (status, body) = request(&agent, "PUT", &transits, Some(OFFICER), &transit);
    assert_eq!(status, 403, "an officer may not register a transit: {body}");
    let (status, body) = request(&agent, "PUT", &transits, Some(INGEST), &transit);
    assert_eq!(status, 201, "{body}");
    let (status, body) = request(&agent, "POST", &format!("{transits}/fixes"), Some(INGEST), &fixes);
    assert_eq!(status, 200, "{body}");
    let (status, report) = request(&agent, "GET", &transits, Some(OFFICER), b"");
    assert_eq!(status, 200, "{report}");
    let report: serde_json::Value = serde_json::from_str(&report).expect("the report is JSON");
    assert_eq!(report["verdict"], "violation", "{report}");
    let (status, body) = request(&agent, "GET", &format!("{base}/escort/v2/nothing"), None, b"");
    assert_eq!(status, 404, "the router's own fallback answers under the mount: {body}");
    runtime.shutdown_background();
}
