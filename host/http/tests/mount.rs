//! Escort's router mounted in an app of the test's own, on a tokio runtime
//! of the test's own, as `examples/mount.rs` shows a team doing: the API
//! answers under the mount point, beside the app's own route, with its
//! tokens and body limits, and a batch is evaluated and stored.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use escort_http::Background;
use escort_service::{Role, ServeConfig, Service, TokenConfig};
use escort_tests::Client;

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

#[test]
fn the_api_mounted_in_an_app_of_its_own_evaluates_and_stores_a_batch() {
    let data = tempfile::tempdir().expect("a data folder");
    let config = ServeConfig {
        data: data.path().to_owned(),
        cache: Some(escort_tests::cache_dir()),
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

    let client = Client::new(&base);
    assert_eq!(
        client.request("GET", "/", None, b""),
        (200, "our own service".to_owned())
    );
    let (status, health) = client.request("GET", "/escort/healthz", None, b"");
    assert_eq!((status, health.as_str()), (200, r#"{"status":"ok"}"#));

    let scenario = escort_tests::scenario("seal-events");
    let transit = std::fs::read(scenario.join("transit.json")).expect("the scenario's transit");
    let fixes = std::fs::read(scenario.join("fixes.ndjson")).expect("the scenario's fixes");
    let transits = "/escort/v1/transits/KZ-2025-002004";
    let (status, body) = client.request("PUT", transits, Some(OFFICER), &transit);
    assert_eq!(status, 403, "an officer may not register a transit: {body}");
    let (status, body) = client.request("PUT", transits, Some(INGEST), &transit);
    assert_eq!(status, 201, "{body}");
    let (status, body) = client.request("POST", &format!("{transits}/fixes"), Some(INGEST), &fixes);
    assert_eq!(status, 200, "{body}");
    let (status, report) = client.json("GET", transits, Some(OFFICER), b"");
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["verdict"], "violation", "{report}");
    let (status, body) = client.request("GET", "/escort/v2/nothing", None, b"");
    assert_eq!(status, 404, "the router's own fallback answers under the mount: {body}");
    let (status, body) = client.request("DELETE", transits, Some(INGEST), b"");
    assert_eq!(status, 405, "{body}");
    assert!(
        body.contains(&format!("{transits} does not take DELETE")),
        "the refusal names the path as asked, under the mount: {body}"
    );
    runtime.shutdown_background();
}
