//! The HTTP face of the service: the JSON API under `/v1`, `/healthz` and
//! `/metrics`, on axum, with the tick and the policy folder's poll beside it.
//!
//! Handlers check the token first, then hand the work to a blocking thread:
//! evaluation is CPU work in WebAssembly and storage is synchronous SQLite,
//! neither of which belongs on the async reactor. A step that panics there
//! is answered `500` and its transit marked for review (`panics.rs`).
//!
//! The tick starts on time every period, each on a blocking thread of its
//! own, even while an earlier one is still busy with a slow transit; at most
//! [`TICKS_IN_FLIGHT`] run at once, and a period that finds them all
//! running is skipped rather than queued.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post, put};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use super::access::{Access, Action, Denied};
use super::config::ServeConfig;
use super::{CloseReason, Service, ServiceError};
use crate::finding::Verdict;
use crate::report::Report;
use crate::store::ListFilter;

/// Most transits one page of `GET /v1/transits` lists.
const MAX_PAGE: usize = 1000;

/// Most ticks running at once. A second one takes every transit but those
/// the first is still on; more would only pile up behind the same slow
/// transits.
const TICKS_IN_FLIGHT: usize = 2;

struct App {
    service: Arc<Service>,
    access: Access,
}

/// Runs `escort serve` until SIGINT or SIGTERM: opens the service, prints
/// `escort: listening on http://ADDRESS` on stdout once it accepts
/// connections, and serves.
///
/// # Errors
/// When the service cannot start: see [`Service::open`], or the address is
/// taken.
pub fn serve(config: &ServeConfig) -> Result<(), ServiceError> {
    let service = Arc::new(Service::open(config)?);
    let (access, created) = service.with_store(|store| Access::establish(&config.tokens, store, &config.data))?;
    if let Some(created) = created {
        eprintln!(
            "escort: created one access token per role (ingest, officer, regulator) in {}",
            created.path.display()
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| ServiceError::Setup(format!("starting the runtime: {e}")))?;
    runtime.block_on(run(config.clone(), service, access))
}

async fn run(config: ServeConfig, service: Arc<Service>, access: Access) -> Result<(), ServiceError> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| ServiceError::Setup(format!("cannot listen on {}: {e}", config.listen)))?;
    let address = listener
        .local_addr()
        .map_err(|e| ServiceError::Setup(format!("cannot listen on {}: {e}", config.listen)))?;
    // Only for the message a second service on this folder prints.
    if let Err(e) = service.listening(address) {
        eprintln!("escort: cannot record the address in the data folder's lock file: {e}");
    }
    if let Some(period) = config.tick() {
        tokio::spawn(tick(Arc::clone(&service), period));
    }
    tokio::spawn(poll_policies(Arc::clone(&service), config.policy_poll()));
    let app = Arc::new(App { service, access });
    let router = router(app, &config);
    println!("escort: listening on http://{address}");
    eprintln!(
        "escort: data in {}, live policies in {}",
        config.data.display(),
        config.policy_dir().display()
    );
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown())
        .await
        .map_err(|e| ServiceError::Setup(format!("serving: {e}")))
}

fn router(app: Arc<App>, config: &ServeConfig) -> Router {
    Router::new()
        .route("/v1/transits", get(list_transits))
        .route("/v1/transits/{id}", put(put_transit).get(get_transit))
        .route("/v1/transits/{id}/fixes", post(post_fixes))
        .route("/v1/transits/{id}/close", post(close_transit))
        .route("/v1/policies", get(list_policies))
        .route(
            "/v1/policies/{id}",
            put(put_policy).layer(DefaultBodyLimit::max(config.max_policy_bytes)),
        )
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(Arc::clone(&app), count_request))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such endpoint; the API is under /v1") })
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .with_state(app)
}

/// A failed request: its status and a message naming the problem, sent as
/// `{"error": MESSAGE}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({"error": self.message}))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> ApiError {
        let status = match &error {
            ServiceError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ServiceError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
            ServiceError::Conflict(_) => StatusCode::CONFLICT,
            ServiceError::Store(_) | ServiceError::Setup(_) | ServiceError::Defect(_) => {
                eprintln!("escort: error: {error}");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        ApiError::new(status, error.to_string())
    }
}

impl From<Denied> for ApiError {
    fn from(denied: Denied) -> ApiError {
        let status = match denied {
            Denied::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Denied::Forbidden(_) => StatusCode::FORBIDDEN,
        };
        ApiError::new(status, denied.to_string())
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> ApiError {
        let status = rejection.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "the request body is over this endpoint's size limit (max_body_bytes, max_policy_bytes)".to_owned()
        } else {
            format!("unreadable request body: {}", rejection.body_text())
        };
        ApiError::new(status, message)
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, rejection.body_text())
    }
}

impl App {
    fn authorise(&self, headers: &HeaderMap, action: Action) -> Result<(), ApiError> {
        let header = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok());
        self.access.authorise(header, action)?;
        Ok(())
    }

    /// Runs `work` on a blocking thread.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Service) -> Result<T, ServiceError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let service = Arc::clone(&self.service);
        let outcome = tokio::task::spawn_blocking(move || work(&service))
            .await
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("the request failed: {e}")))?;
        Ok(outcome?)
    }

    /// Runs `work`, a `step` on transit `id`, on a blocking thread; a panic
    /// of it is a [`ServiceError::Defect`] and marks the transit for review.
    async fn step<T: Send + 'static>(
        &self,
        id: String,
        step: &'static str,
        work: impl FnOnce(&Service, &str) -> Result<T, ServiceError> + Send + 'static,
    ) -> Result<T, ApiError> {
        self.blocking(move |service| service.guarded(&id, step, || work(service, &id)))
            .await
    }
}

fn utf8(body: Bytes, what: &str) -> Result<String, ApiError> {
    String::from_utf8(body.to_vec()).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the {what} is not UTF-8 (byte {})", e.utf8_error().valid_up_to()),
        )
    })
}

fn parse_time(name: &str, text: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.to_utc())
        .map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("`{name}`: {text:?} is not an RFC 3339 time: {e}"),
            )
        })
}

async fn put_transit(
    State(app): State<Arc<App>>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    app.authorise(&headers, Action::Ingest)?;
    let Path(id) = id?;
    let declaration = utf8(body?, "transit")?;
    let admission = app
        .step(id, "admit", move |service, id| service.put_transit(id, &declaration))
        .await?;
    let status = if admission.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(admission)).into_response())
}

async fn post_fixes(
    State(app): State<Arc<App>>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    app.authorise(&headers, Action::Ingest)?;
    let Path(id) = id?;
    let body = body?;
    let outcome = app
        .step(id, "observe", move |service, id| service.ingest(id, &body))
        .await?;
    Ok(Json(outcome).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    now: Option<String>,
}

async fn get_transit(
    State(app): State<Arc<App>>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    app.authorise(&headers, Action::Read)?;
    let Path(id) = id?;
    let Query(query) = query?;
    let now = query.now.map(|now| parse_time("now", &now)).transpose()?;
    let report = app
        .step(id, "report", move |service, id| service.report(id, now))
        .await?;
    Ok(report_response(&report))
}

/// A report as `escort check` prints it: the same bytes over HTTP.
fn report_response(report: &Report) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        report.to_json(),
    )
        .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    verdict: Option<String>,
    open: Option<bool>,
    after: Option<String>,
    limit: Option<usize>,
}

async fn list_transits(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    app.authorise(&headers, Action::Read)?;
    let Query(query) = query?;
    let verdict = match query.verdict.as_deref() {
        None => None,
        Some(name) => Some(Verdict::from_name(name).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("`verdict`: {name:?} is not one of clear, review, violation"),
            )
        })?),
    };
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("`limit` must be 1 to {MAX_PAGE}, not {limit}"),
        ));
    }
    let filter = ListFilter {
        verdict,
        open: query.open,
        after: query.after,
        limit,
    };
    let page = app.blocking(move |service| service.list(&filter)).await?;
    let next = (page.len() == limit)
        .then(|| page.last().map(|t| t.id.clone()))
        .flatten();
    let transits: Vec<_> = page
        .iter()
        .map(|t| {
            json!({
                "id": t.id,
                "verdict": t.verdict,
                "open": t.open,
                "evaluated_at": crate::finding::format_time(&t.evaluated_at),
                "fixes": t.fixes,
                "last_fix_at": t.last_fix_at.as_ref().map(crate::finding::format_time),
            })
        })
        .collect();
    Ok(Json(json!({"transits": transits, "next_after": next})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CloseRequest {
    reason: CloseReason,
    at: Option<String>,
}

async fn close_transit(
    State(app): State<Arc<App>>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    app.authorise(&headers, Action::Ingest)?;
    let Path(id) = id?;
    let request: CloseRequest = serde_json::from_slice(&body?).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the body must be {{\"reason\": \"arrived\" or \"cleared\", \"at\": optional time}}: {e}"),
        )
    })?;
    let at = request.at.map(|at| parse_time("at", &at)).transpose()?;
    let report = app
        .step(id, "close", move |service, id| service.close(id, request.reason, at))
        .await?;
    Ok(report_response(&report))
}

async fn list_policies(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, ApiError> {
    app.authorise(&headers, Action::Read)?;
    let (policies, reload_error) = app.service.policies().list();
    Ok(Json(json!({"policies": policies, "last_reload_error": reload_error})).into_response())
}

async fn put_policy(
    State(app): State<Arc<App>>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    app.authorise(&headers, Action::Publish)?;
    let Path(id) = id?;
    let body = body?;
    let info = app
        .blocking(move |service| service.policies().publish(&id, &body))
        .await?;
    eprintln!(
        "escort: published policy {} {} ({})",
        info.id, info.version, info.content_hash
    );
    Ok(Json(info).into_response())
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        app.service.metrics().encode(),
    )
        .into_response()
}

async fn count_request(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    app.service
        .metrics()
        .count_request(&method, &route, response.status().as_u16());
    response
}

/// Evaluates open transits for the passing of time, every `period`: each
/// tick on a blocking thread of its own, started on time whatever earlier
/// ticks are still doing, at most [`TICKS_IN_FLIGHT`] at once.
async fn tick(service: Arc<Service>, period: Duration) {
    let in_flight = Arc::new(tokio::sync::Semaphore::new(TICKS_IN_FLIGHT));
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    interval.tick().await;
    loop {
        interval.tick().await;
        let Ok(running) = Arc::clone(&in_flight).try_acquire_owned() else {
            service.metrics().count_tick_period(false);
            eprintln!("escort: tick: skipped, {TICKS_IN_FLIGHT} earlier ticks are still running");
            continue;
        };
        service.metrics().count_tick_period(true);
        let service = Arc::clone(&service);
        tokio::spawn(async move {
            let outcome = tokio::task::spawn_blocking(move || service.tick(Utc::now())).await;
            drop(running);
            match outcome {
                Ok(Ok(summary)) => {
                    for failure in &summary.failures {
                        eprintln!("escort: tick: {}", failure.reason);
                    }
                    let listed = summary.failures.len();
                    let failed = summary.failed + summary.panicked;
                    if failed > listed {
                        eprintln!("escort: tick: and {} more transits failed", failed - listed);
                    }
                }
                Ok(Err(e)) => eprintln!("escort: tick: {e}"),
                Err(e) => eprintln!("escort: tick: {e}"),
            }
        });
    }
}

/// Reloads the live policy folder when it changes.
async fn poll_policies(service: Arc<Service>, period: Duration) {
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let service = Arc::clone(&service);
        let outcome = tokio::task::spawn_blocking(move || {
            let dir = service.policies().dir().display().to_string();
            (dir, service.policies().reload_if_changed())
        })
        .await;
        match outcome {
            Ok((dir, Ok(true))) => eprintln!("escort: policies reloaded from {dir}"),
            Ok((_, Ok(false))) => {}
            Ok((dir, Err(reason))) => {
                eprintln!("escort: the policies in {dir} are refused, the previous set keeps serving: {reason}")
            }
            Err(e) => eprintln!("escort: policy reload: {e}"),
        }
    }
}

async fn shutdown() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => return interrupt.await.unwrap_or(()),
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    interrupt.await.unwrap_or(());
}
