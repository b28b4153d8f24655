//! The HTTP face of the service: the JSON API under `/v1`, `/healthz` and
//! `/metrics`, on axum, with the tick and the policy folder's poll beside it.
//! The connections themselves (how many, how long each may take, how they
//! end at a stop) are `connections.rs`'s.
//!
//! Handlers check the token first, before a byte of the body is read, so
//! that a client who may not send a body costs nothing for it; then they
//! read the body, up to the endpoint's limit and within the body timeout,
//! and hand the work to a blocking thread: evaluation is CPU work in
//! WebAssembly and storage is synchronous SQLite, neither of which belongs
//! on the async reactor. A step that panics there is answered `500` and its
//! transit marked for review (`panics.rs`). Every error, the router's own
//! (no such endpoint, a method it does not take) included, is answered as
//! `{"error": MESSAGE}`.
//!
//! The tick starts on time every period, each on a blocking thread of its
//! own, even while an earlier one is still busy with a slow transit; at most
//! [`TICKS_IN_FLIGHT`] run at once, and a period that finds them all
//! running is skipped rather than queued.

mod connections;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post, put};
use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Semaphore;

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
    /// Largest body of a transit, a batch of fixes or a close.
    max_body_bytes: usize,
    /// Largest policy upload.
    max_policy_bytes: usize,
    /// Longest a client may take to send a body once its headers are in.
    body_timeout: Duration,
}

/// Runs `escort serve` until SIGINT or SIGTERM: opens the service, prints
/// `escort: listening on http://ADDRESS` on stdout once it accepts
/// connections, and serves. Once told to stop, it accepts no more
/// connections and gives the requests in progress and a running tick up to
/// `shutdown_grace_seconds` to finish; then it returns, abandoning what is
/// still running (a step is answered only once committed, so an abandoned
/// one was never answered).
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
    let ticks = Arc::new(Semaphore::new(TICKS_IN_FLIGHT));
    let deadline = runtime.block_on(run(config.clone(), service, access, Arc::clone(&ticks)))?;
    // Dropping the runtime would wait for every blocking thread to finish
    // its work, however long: a stuck publish, a slow tick or reload.
    runtime.shutdown_timeout(deadline.saturating_duration_since(std::time::Instant::now()));
    let ticking = TICKS_IN_FLIGHT - ticks.available_permits();
    if ticking > 0 {
        eprintln!(
            "escort: stopping: {ticking} ticks still running are abandoned; the transits they had stored are kept"
        );
    }
    eprintln!("escort: stopped");
    Ok(())
}

/// Serves until told to stop; returns when the grace period for what was
/// in progress ends.
async fn run(
    config: ServeConfig,
    service: Arc<Service>,
    access: Access,
    ticks: Arc<Semaphore>,
) -> Result<std::time::Instant, ServiceError> {
    let listener = connections::listen(config.listen)
        .map_err(|e| ServiceError::Setup(format!("cannot listen on {}: {e}", config.listen)))?;
    let address = listener
        .local_addr()
        .map_err(|e| ServiceError::Setup(format!("cannot listen on {}: {e}", config.listen)))?;
    // Only for the message a second service on this folder prints.
    if let Err(e) = service.listening(address) {
        eprintln!("escort: cannot record the address in the data folder's lock file: {e}");
    }
    let tick = config
        .tick()
        .map(|period| tokio::spawn(tick(Arc::clone(&service), period, ticks)));
    let poll = tokio::spawn(poll_policies(Arc::clone(&service), config.policy_poll()));
    let timeouts = config.edge_timeouts();
    let max_connections = connections::connection_cap(config.max_connections);
    let app = Arc::new(App {
        service: Arc::clone(&service),
        access,
        max_body_bytes: config.max_body_bytes,
        max_policy_bytes: config.max_policy_bytes,
        body_timeout: timeouts.body,
    });
    println!("escort: listening on http://{address}");
    eprintln!(
        "escort: data in {}, live policies in {}",
        config.data.display(),
        config.policy_dir().display()
    );
    let stop = async move {
        shutdown().await;
        // No tick or reload starts from now on; one under way has the
        // grace period to finish.
        if let Some(tick) = tick {
            tick.abort();
        }
        poll.abort();
    };
    let deadline = connections::serve(listener, router(app), service, max_connections, timeouts, stop).await;
    Ok(deadline.into_std())
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v1/transits", get(list_transits))
        .route("/v1/transits/{id}", put(put_transit).get(get_transit))
        .route("/v1/transits/{id}/fixes", post(post_fixes))
        .route("/v1/transits/{id}/close", post(close_transit))
        .route("/v1/policies", get(list_policies))
        .route("/v1/policies/{id}", put(put_policy))
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/metrics", get(metrics))
        // Before the counting layer, so that these answers are counted too.
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(middleware::from_fn_with_state(Arc::clone(&app), count_request))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such endpoint; the API is under /v1") })
        .with_state(app)
}

/// A known endpoint asked with a method it does not take; the router adds
/// the `Allow` header, which lists those it takes.
async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} does not take {method}; the Allow header lists the methods it takes",
            uri.path()
        ),
    )
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
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        // These are answered without reading the body, or all of it; what
        // is left of it would be read as the next request, so the
        // connection ends with the answer.
        if matches!(
            self.status,
            StatusCode::UNAUTHORIZED
                | StatusCode::FORBIDDEN
                | StatusCode::REQUEST_TIMEOUT
                | StatusCode::PAYLOAD_TOO_LARGE
        ) {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
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

    /// Reads a request's body whole: at most `limit_bytes` (the setting
    /// `setting`), within the body timeout. Call it only once the token
    /// is checked.
    async fn read_body(&self, body: Body, limit_bytes: usize, setting: &str) -> Result<Bytes, ApiError> {
        let too_large = || {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is over this endpoint's size limit of {limit_bytes} bytes ({setting})"),
            )
        };
        // A declared length over the limit is refused before any of it is read.
        if body.size_hint().lower() > limit_bytes as u64 {
            return Err(too_large());
        }
        let read = Limited::new(body, limit_bytes).collect();
        match tokio::time::timeout(self.body_timeout, read).await {
            Ok(Ok(body)) => Ok(body.to_bytes()),
            Ok(Err(e)) if e.is::<LengthLimitError>() => Err(too_large()),
            Ok(Err(e)) => {
                // hyper's own message is only "error reading a body from
                // connection"; the reason (a bad chunk size, the client
                // gone) is in its sources.
                let mut reasons = vec![e.to_string()];
                let mut source = e.source();
                while let Some(reason) = source {
                    reasons.push(reason.to_string());
                    source = reason.source();
                }
                // axum's error repeats the message of the hyper error it wraps.
                reasons.dedup();
                Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("unreadable request body: {}", reasons.join(": ")),
                ))
            }
            Err(_) => Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not come whole within {:?} (body_timeout_seconds)",
                    self.body_timeout
                ),
            )),
        }
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
    body: Body,
) -> Result<Response, ApiError> {
    app.authorise(&headers, Action::Ingest)?;
    let Path(id) = id?;
    let body = app.read_body(body, app.max_body_bytes, "max_body_bytes").await?;
    let declaration = utf8(body, "transit")?;
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
    body: Body,
) -> Result<Response, ApiError> {
    app.authorise(&headers, Action::Ingest)?;
    let Path(id) = id?;
    let body = app.read_body(body, app.max_body_bytes, "max_body_bytes").await?;
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
    body: Body,
) -> Result<Response, ApiError> {
    app.authorise(&headers, Action::Ingest)?;
    let Path(id) = id?;
    let body = app.read_body(body, app.max_body_bytes, "max_body_bytes").await?;
    let request: CloseRequest = serde_json::from_slice(&body).map_err(|e| {
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
    body: Body,
) -> Result<Response, ApiError> {
    app.authorise(&headers, Action::Publish)?;
    let Path(id) = id?;
    let body = app.read_body(body, app.max_policy_bytes, "max_policy_bytes").await?;
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
/// ticks are still doing, at most [`TICKS_IN_FLIGHT`] at once (one permit
/// of `in_flight` each, held until its work is done).
async fn tick(service: Arc<Service>, period: Duration, in_flight: Arc<Semaphore>) {
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
            let outcome = tokio::task::spawn_blocking(move || {
                let _running = running;
                service.tick(Utc::now())
            })
            .await;
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
