//! Escort's HTTP API: the JSON API under `/v1` (and a transit's report as
//! the officer's text, `?format=text`, from `escort_casefile`), `/healthz`
//! and `/metrics` as an axum [`Router`] over an [`escort_service::Service`],
//! and the loop behind `escort serve`.
//!
//! A team that runs its own tokio runtime and axum app mounts [`router`] in
//! it and spawns [`Background`] (the tick and the policy folder's poll);
//! `escort serve` does the same through [`serve`], which adds its own
//! accept loop with per-connection bounds (`connections.rs`: how many, how
//! long each may take, how they end at a stop). See
//! `host/http/examples/mount.rs`.
//!
//! ```no_run
//! use std::sync::Arc;
//! use escort_service::{ServeConfig, Service};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ServeConfig::default();
//! let service = Arc::new(Service::open(&config)?);
//! let (access, _created) = service.establish_access(&config)?;
//! let _background = escort_http::Background::spawn(&service, &config);
//! let app = axum::Router::new().nest("/escort", escort_http::router(service, access, &config));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(())
//! # }
//! ```
//!
//! Handlers check the token first, before a byte of the body is read, so
//! that a client who may not send a body costs nothing for it; then they
//! read the body, up to the endpoint's limit and within the body timeout,
//! and hand the work to a blocking thread: evaluation is CPU work in
//! WebAssembly and storage is synchronous SQLite, neither of which belongs
//! on the async reactor. A step that panics there is answered `500` and its
//! transit marked for review. Every error, the router's own (no such
//! endpoint, a method it does not take) included, is answered as
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
use axum::extract::{MatchedPath, OriginalUri, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post, put};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::Semaphore;

use escort_bundle::{AppliesTo, Mode};
use escort_engine::excerpt::Excerpt;
use escort_engine::{Report, Verdict, format_time};
use escort_service::{
    Access, Action, Change, CloseReason, Denied, ListFilter, Schedule, ServeConfig, Service, ServiceError,
    ShadowFindings, StepKind,
};
use tokio::task::JoinHandle;

/// Most transits one page of `GET /v1/transits` lists.
const MAX_PAGE: usize = 1000;

/// Most ticks running at once. A second one takes every transit but those
/// the first is still on; more would only pile up behind the same slow
/// transits.
pub const TICKS_IN_FLIGHT: usize = 2;

struct App {
    service: Arc<Service>,
    access: Access,
    /// Largest body of a transit, a batch of fixes or a close.
    max_body_bytes: usize,
    /// Largest policy upload.
    max_policy_bytes: usize,
    /// Longest a client may take to send a body once its headers are in.
    body_timeout: Duration,
    /// The deployment's time zone, for the text report.
    time_zone: Tz,
}

/// The API over `service`, for the token holders of `access`, with the
/// body limits and body timeout of `config`. Its routes are `/v1/...`,
/// `/healthz` and `/metrics`; mount it where you like. The header, idle and
/// connection bounds of `config` are [`serve`]'s, since they belong to the
/// accept loop, not to a router.
pub fn router(service: Arc<Service>, access: Access, config: &ServeConfig) -> Router {
    let app = Arc::new(App {
        service,
        access,
        max_body_bytes: config.max_body_bytes,
        max_policy_bytes: config.max_policy_bytes,
        body_timeout: config.edge_timeouts().body,
        time_zone: config.time_zone(),
    });
    Router::new()
        .route("/v1/transits", get(list_transits))
        .route("/v1/transits/{id}", put(put_transit).get(get_transit))
        .route("/v1/transits/{id}/fixes", post(post_fixes))
        .route("/v1/transits/{id}/close", post(close_transit))
        .route("/v1/policies", get(list_policies))
        .route("/v1/policies/{id}", put(put_policy))
        .route("/v1/policies/{id}/versions", get(policy_versions))
        .route("/v1/policies/{id}/shadow", get(policy_shadow))
        .route("/v1/policies/{id}/promote", post(promote_policy))
        .route("/v1/policies/{id}/rollback", post(roll_back_policy))
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/metrics", get(metrics))
        // Before the counting layer, so that these answers are counted too.
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(middleware::from_fn_with_state(Arc::clone(&app), count_request))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such endpoint; the API is under /v1") })
        .with_state(app)
}

/// The service's periodic work as tasks on the current tokio runtime: the
/// tick (when `config` has one) and the poll of the live policy folder.
/// Both stop when this is dropped.
pub struct Background {
    tick: Option<JoinHandle<()>>,
    poll: JoinHandle<()>,
    ticks: Arc<Semaphore>,
}

impl Background {
    /// Starts the tick and the poll. Call it inside a tokio runtime.
    pub fn spawn(service: &Arc<Service>, config: &ServeConfig) -> Background {
        let ticks = Arc::new(Semaphore::new(TICKS_IN_FLIGHT));
        let tick = config
            .tick()
            .map(|period| tokio::spawn(tick(Arc::clone(service), period, Arc::clone(&ticks))));
        let poll = tokio::spawn(poll_policies(Arc::clone(service), config.policy_poll()));
        Background { tick, poll, ticks }
    }

    /// How many ticks are running now.
    pub fn ticks_running(&self) -> usize {
        TICKS_IN_FLIGHT - self.ticks.available_permits()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        // No tick or reload starts from now on; one already on its blocking
        // thread runs to its end.
        if let Some(tick) = &self.tick {
            tick.abort();
        }
        self.poll.abort();
    }
}

/// How [`serve`] ended.
#[derive(Debug)]
pub struct Stopped {
    /// When the grace period for what was in progress ends: the caller's
    /// runtime may wait for its blocking threads until then, no longer.
    pub grace_deadline: std::time::Instant,
    /// The ticks still running when the grace period ended.
    pub ticks_running: usize,
}

/// Serves `app` (the [`router`] over `service`, with whatever the caller
/// merged into it, such as the officers' page) as `escort serve` does
/// until `stop` completes: listens on `config.listen` with the connection
/// bounds of `config`, prints `escort: listening on http://ADDRESS` on
/// stdout once it accepts connections, runs the [`Background`] work, and
/// serves `app`. Once `stop` completes, it accepts no more connections and
/// gives the requests in progress and a running tick up to
/// `shutdown_grace_seconds` to finish; then it returns, abandoning what is
/// still running (a step is answered only once committed, so an abandoned
/// one was never answered).
///
/// # Errors
/// When the address cannot be listened on.
pub async fn serve(
    config: &ServeConfig,
    service: Arc<Service>,
    app: Router,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<Stopped, ServiceError> {
    let listener = connections::listen(config.listen)
        .map_err(|e| ServiceError::Setup(format!("cannot listen on {}: {e}", config.listen)))?;
    let address = listener
        .local_addr()
        .map_err(|e| ServiceError::Setup(format!("cannot listen on {}: {e}", config.listen)))?;
    // Only for the message a second service on this folder prints.
    if let Err(e) = service.listening(address) {
        tracing::warn!("cannot record the address in the data folder's lock file: {e}");
    }
    let background = Background::spawn(&service, config);
    let ticks = Arc::clone(&background.ticks);
    let timeouts = config.edge_timeouts();
    let max_connections = connections::connection_cap(config.max_connections);
    println!("escort: listening on http://{address}");
    tracing::info!(
        "data in {}, live policies in {}",
        config.data.display(),
        config.policy_dir().display()
    );
    let stop = async move {
        stop.await;
        drop(background);
    };
    let deadline = connections::serve(listener, app, service, max_connections, timeouts, stop).await;
    Ok(Stopped {
        grace_deadline: deadline.into_std(),
        ticks_running: TICKS_IN_FLIGHT - ticks.available_permits(),
    })
}

/// A known endpoint asked with a method it does not take; the router adds
/// the `Allow` header, which lists those it takes. The path is the one the
/// client asked for, with the prefix of an app that mounts the router.
async fn method_not_allowed(method: Method, OriginalUri(uri): OriginalUri) -> ApiError {
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
        let status = StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!("{error}");
        }
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
    /// Checks the request's token for `action`; returns its holder's name.
    fn authorise(&self, headers: &HeaderMap, action: Action) -> Result<String, ApiError> {
        let header = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok());
        Ok(self.access.authorise(header, action)?.to_owned())
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
        step: StepKind,
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

/// `found`, what the text `text` of the field `field` names; or a refusal
/// that lists the `allowed` names and quotes the text short.
fn named<T>(field: &str, text: &str, found: Option<T>, allowed: &str) -> Result<T, ApiError> {
    found.ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("`{field}` must be {allowed}, not {:?}", Excerpt::of(text)),
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
        .step(id, StepKind::Admit, move |service, id| {
            service.put_transit(id, &declaration)
        })
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
        .step(id, StepKind::Observe, move |service, id| service.ingest(id, &body))
        .await?;
    Ok(Json(outcome).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    now: Option<String>,
    /// Whether to show the shadow versions' findings beside the report.
    #[serde(default)]
    shadow: bool,
    /// `json` (the default) or `text`, the officer's case file.
    format: Option<String>,
}

/// What `GET /v1/transits/{id}` answers in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ReportFormat {
    /// The report as `escort check --format json` prints it.
    Json,
    /// The case file as `escort check --format text` prints it
    /// (`escort_casefile`), in the deployment's time zone.
    Text,
}

impl ReportFormat {
    fn from_name(name: &str) -> Option<ReportFormat> {
        match name {
            "json" => Some(ReportFormat::Json),
            "text" => Some(ReportFormat::Text),
            _ => None,
        }
    }
}

/// A report with the shadow versions' findings beside it (`?shadow=true`).
#[derive(Serialize)]
struct WithShadows<'r> {
    #[serde(flatten)]
    report: &'r Report,
    shadow: Vec<ShadowFindings>,
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
    let format = match query.format.as_deref() {
        None => ReportFormat::Json,
        Some(name) => named("format", name, ReportFormat::from_name(name), "`json` or `text`")?,
    };
    if format == ReportFormat::Text {
        if query.shadow {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "shadow findings are shown in the JSON report only: `shadow=true` takes `format=json`",
            ));
        }
        let zone = app.time_zone;
        let text = app
            .step(id, StepKind::Report, move |service, id| {
                service.case_file(id, now, zone)
            })
            .await?;
        return Ok((
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            )],
            text,
        )
            .into_response());
    }
    let (report, shadow) = app
        .step(id, StepKind::Report, move |service, id| {
            let report = service.report(id, now)?;
            let shadow = query.shadow.then(|| service.shadow_findings(id)).transpose()?;
            Ok((report, shadow))
        })
        .await?;
    match shadow {
        None => Ok(report_response(&report)),
        Some(shadow) => {
            let mut json = serde_json::to_string_pretty(&WithShadows {
                report: &report,
                shadow,
            })
            .expect("a report always serializes");
            json.push('\n');
            Ok((
                [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
                json,
            )
                .into_response())
        }
    }
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
    let verdict = query
        .verdict
        .as_deref()
        .map(|name| {
            named(
                "verdict",
                name,
                Verdict::from_name(name),
                "`clear`, `review` or `violation`",
            )
        })
        .transpose()?;
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
                "evaluated_at": format_time(&t.evaluated_at),
                "fixes": t.fixes,
                "last_fix_at": t.last_fix_at.as_ref().map(format_time),
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
        .step(id, StepKind::Close, move |service, id| {
            service.close(id, request.reason, at)
        })
        .await?;
    Ok(report_response(&report))
}

async fn list_policies(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, ApiError> {
    app.authorise(&headers, Action::Read)?;
    let listing = app.blocking(|service| service.policies().list()).await?;
    Ok(Json(listing).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishQuery {
    /// `enforced` or `shadow`, over what the manifest says.
    mode: Option<String>,
}

async fn put_policy(
    State(app): State<Arc<App>>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    query: Result<Query<PublishQuery>, QueryRejection>,
    body: Body,
) -> Result<Response, ApiError> {
    let holder = app.authorise(&headers, Action::Publish)?;
    let Path(id) = id?;
    let Query(query) = query?;
    let mode = query
        .mode
        .map(|mode| named("mode", &mode, Mode::named(&mode), "`enforced` or `shadow`"))
        .transpose()?;
    let body = app.read_body(body, app.max_policy_bytes, "max_policy_bytes").await?;
    let info = app
        .blocking(move |service| service.policies().publish(&id, &body, &holder, mode))
        .await?;
    tracing::info!("published policy {} {} ({})", info.id, info.version, info.content_hash);
    Ok(Json(info).into_response())
}

async fn policy_versions(
    State(app): State<Arc<App>>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    app.authorise(&headers, Action::Read)?;
    let Path(id) = id?;
    let versions = app.service.policies().versions(&id)?;
    Ok(Json(json!({"policy": id, "versions": versions})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShadowQuery {
    /// The shadow version, as the versions listing numbers it; default: the
    /// last one published.
    seq: Option<i64>,
}

async fn policy_shadow(
    State(app): State<Arc<App>>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    query: Result<Query<ShadowQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    app.authorise(&headers, Action::Read)?;
    let Path(id) = id?;
    let Query(query) = query?;
    let report = app
        .blocking(move |service| service.shadow_report(&id, query.seq))
        .await?;
    Ok(Json(report).into_response())
}

/// What a promotion or a rollback asks for.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReinstateRequest {
    /// The version, as the versions listing numbers it; a promotion's
    /// default is the last shadow version published.
    seq: Option<i64>,
    /// When it comes into force: an RFC 3339 time, or `now`.
    effective_from: String,
    effective_until: Option<String>,
    applies_to: Option<String>,
}

async fn promote_policy(
    State(app): State<Arc<App>>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    reinstate(app, id, headers, body, Change::Promotion).await
}

async fn roll_back_policy(
    State(app): State<Arc<App>>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    reinstate(app, id, headers, body, Change::Rollback).await
}

/// A promotion or a rollback: a new enforced version with an earlier
/// version's component and parameters, from a time the request gives.
async fn reinstate(
    app: Arc<App>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
    change: Change,
) -> Result<Response, ApiError> {
    let holder = app.authorise(&headers, Action::Publish)?;
    let Path(id) = id?;
    let body = app.read_body(body, app.max_body_bytes, "max_body_bytes").await?;
    let request: ReinstateRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "the body must be {{\"seq\": a version's seq, \"effective_from\": an RFC 3339 time or \"now\", \
                 \"effective_until\": optional time, \"applies_to\": optional \"new-transits\" or \
                 \"open-transits\"}}: {e}"
            ),
        )
    })?;
    let effective_from = match request.effective_from.as_str() {
        "now" => None,
        text => Some(parse_time("effective_from", text)?),
    };
    let effective_until = request
        .effective_until
        .map(|text| parse_time("effective_until", &text))
        .transpose()?;
    let applies_to = match request.applies_to {
        None => AppliesTo::default(),
        Some(name) => named(
            "applies_to",
            &name,
            AppliesTo::named(&name),
            "`new-transits` or `open-transits`",
        )?,
    };
    let schedule = Schedule {
        effective_from,
        effective_until,
        applies_to,
        mode: Mode::Enforced,
    };
    let version = app
        .blocking(move |service| {
            service
                .policies()
                .reinstate(&id, request.seq, change, schedule, &holder)
        })
        .await?;
    tracing::info!(
        "{} of policy to version {} (seq {})",
        change.as_str(),
        version.version.as_deref().unwrap_or("-"),
        version.seq
    );
    Ok(Json(version).into_response())
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
            tracing::warn!("tick: skipped, {TICKS_IN_FLIGHT} earlier ticks are still running");
            continue;
        };
        service.metrics().count_tick_period(true);
        let service = Arc::clone(&service);
        tokio::spawn(async move {
            let outcome = tokio::task::spawn_blocking(move || {
                let _running = running;
                service.tick(escort_service::clock())
            })
            .await;
            match outcome {
                Ok(Ok(summary)) => {
                    for failure in &summary.failures {
                        tracing::warn!("tick: {}", failure.reason);
                    }
                    let listed = summary.failures.len();
                    let failed = summary.failed + summary.panicked;
                    if failed > listed {
                        tracing::warn!("tick: and {} more transits failed", failed - listed);
                    }
                }
                Ok(Err(e)) => tracing::error!("tick: {e}"),
                Err(e) => tracing::error!("tick: {e}"),
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
            Ok((dir, Ok(true))) => tracing::info!("policies reloaded from {dir}"),
            Ok((_, Ok(false))) => {}
            Ok((dir, Err(reason))) => {
                tracing::warn!("the policies in {dir} are refused, the previous set keeps serving: {reason}")
            }
            Err(e) => tracing::warn!("policy reload: {e}"),
        }
    }
}

/// Completes on SIGINT or SIGTERM: the `stop` of `escort serve`.
pub async fn shutdown_signal() {
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
