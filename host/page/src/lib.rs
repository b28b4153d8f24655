//! The officers' page: every open transit at a glance, and each one on a
//! map with its findings, served by `escort serve` beside the API on the
//! same port.
//!
//! An officer or a regulator signs in with their token at `/`; the page
//! then holds only a session cookie (HttpOnly, SameSite=Strict, expiring
//! after `session_hours`), never the token. An ingest token opens no
//! session. Everything the page needs is inside the binary (its files, a
//! pinned Leaflet, the country borders), so that it works on a customs
//! network with no internet access; a deployment with a tile server names
//! it in `map_tiles`. Every answer carries a Content-Security-Policy that
//! lets the page load nothing from anywhere else.
//!
//! ```no_run
//! use std::sync::Arc;
//! use escort_service::{ServeConfig, Service};
//!
//! # fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ServeConfig::default();
//! let service = Arc::new(Service::open(&config)?);
//! let (access, _created) = service.establish_access(&config)?;
//! let app = escort_http::router(Arc::clone(&service), access.clone(), &config)
//!     .merge(escort_page::router(service, access, &config));
//! # let _ = app;
//! # Ok(())
//! # }
//! ```

mod api;
mod assets;
mod session;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Form, FromRequest, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Json, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use assets::Assets;
use escort_service::{Access, Action, Denied, ServeConfig, Service, ServiceError};
use session::Sessions;

pub use api::{MAX_BOARD_PAGE, MAX_SEARCH_CHARS, MAX_TRACK_POINTS};
pub use session::MAX_SESSIONS;

/// Largest sign-in form, bytes: a token and its field name.
const MAX_SIGN_IN_BYTES: usize = 4096;

struct Page {
    service: Arc<Service>,
    access: Access,
    sessions: Sessions,
    zone: chrono_tz::Tz,
    map_tiles: Option<String>,
    policy: HeaderValue,
    /// Longest a client may take to send the sign-in form.
    body_timeout: std::time::Duration,
}

/// The page over `service`, for the officers and regulators of `access`,
/// with the time zone, tile server and session length of `config`. Its
/// routes are `/`, `/page/session`, `/page/assets/...` and
/// `/page/api/...`; merge it into the API's router.
pub fn router(service: Arc<Service>, access: Access, config: &ServeConfig) -> Router {
    let page = Arc::new(Page {
        service,
        access,
        sessions: Sessions::new(config.session_duration()),
        zone: config.time_zone(),
        map_tiles: config.map_tiles.clone(),
        policy: content_security_policy(config.map_tiles.as_deref()),
        body_timeout: config.edge_timeouts().body,
    });
    Router::new()
        .route("/", get(index))
        .route(
            "/page/session",
            post(sign_in).layer(DefaultBodyLimit::max(MAX_SIGN_IN_BYTES)),
        )
        .route("/page/session/end", post(sign_out))
        .route("/page/assets/borders.geojson", get(borders))
        .route("/page/assets/{*file}", get(asset))
        .route("/page/api/session", get(api::session))
        .route("/page/api/changes", get(api::changes))
        .route("/page/api/transits", get(api::board))
        .route("/page/api/transits/{id}", get(api::transit))
        .route("/page/api/transits/{id}/casefile.txt", get(api::case_file))
        .route_layer(middleware::from_fn_with_state(Arc::clone(&page), guard))
        .with_state(page)
}

/// The policy that keeps the page to its own origin (and the tile
/// server's, when there is one).
fn content_security_policy(map_tiles: Option<&str>) -> HeaderValue {
    let tiles = map_tiles.map(origin_of).unwrap_or_default();
    let policy = format!(
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:{tiles}; \
         connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    HeaderValue::from_str(&policy).unwrap_or(HeaderValue::from_static("default-src 'none'"))
}

/// ` SCHEME://HOST[:PORT]` of a URL template.
fn origin_of(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |at| at + 3);
    let end = url[after_scheme..].find('/').map_or(url.len(), |at| after_scheme + at);
    format!(" {}", &url[..end])
}

/// Adds the page's security headers to every answer.
async fn guard(State(page): State<Arc<Page>>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, page.policy.clone());
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// A failed page request: `{"error": MESSAGE}` with its status.
#[derive(Debug)]
struct PageError {
    status: StatusCode,
    message: String,
}

impl PageError {
    fn new(status: StatusCode, message: impl Into<String>) -> PageError {
        PageError {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": self.message}))).into_response()
    }
}

impl From<ServiceError> for PageError {
    fn from(error: ServiceError) -> PageError {
        let status = StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!("{error}");
        }
        PageError::new(status, error.to_string())
    }
}

/// `/`: the page for a live session, else the sign-in form.
async fn index(State(page): State<Arc<Page>>, headers: HeaderMap) -> Response {
    let cookies = headers.get(header::COOKIE).and_then(|value| value.to_str().ok());
    let file = if page.sessions.find(cookies).is_some() {
        "app.html"
    } else {
        "signin.html"
    };
    let mut response = html_file(file, None).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// An HTML file of the page, with a refusal in its `<!--error-->` place.
fn html_file(name: &str, error: Option<&str>) -> Html<String> {
    let html = Assets::named(name)
        .map(|asset| String::from_utf8_lossy(&asset.bytes).into_owned())
        .unwrap_or_default();
    let error = error
        .map(|message| format!("<p id=\"signin-error\" role=\"alert\">{}</p>", escape_html(message)))
        .unwrap_or_default();
    Html(html.replacen("<!--error-->", &error, 1))
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[derive(Deserialize)]
struct SignIn {
    token: String,
}

async fn sign_in(State(page): State<Arc<Page>>, request: Request) -> Response {
    let refused = |status: StatusCode, message: &str| (status, html_file("signin.html", Some(message))).into_response();
    // The form is read within the body timeout, as the API's bodies are: a
    // client that trickles it holds its connection no longer than that.
    let form = tokio::time::timeout(page.body_timeout, Form::<SignIn>::from_request(request, &())).await;
    let token = match form {
        Ok(Ok(Form(SignIn { token }))) => token,
        Ok(Err(rejection)) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return unread(refused(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("the sign-in form is over its limit of {MAX_SIGN_IN_BYTES} bytes"),
            ));
        }
        Ok(Err(_)) => return refused(StatusCode::BAD_REQUEST, "the form must send a token"),
        Err(_) => {
            return unread(refused(
                StatusCode::REQUEST_TIMEOUT,
                &format!(
                    "the sign-in form did not come whole within {:?} (body_timeout_seconds)",
                    page.body_timeout
                ),
            ));
        }
    };
    let (holder, role) = match page.access.holder(token.trim(), Action::Read) {
        Ok(holder) => holder,
        Err(Denied::Unauthenticated(_)) => return refused(StatusCode::UNAUTHORIZED, "that token is not known"),
        Err(Denied::Forbidden(_)) => {
            return refused(
                StatusCode::UNAUTHORIZED,
                "that token may not read transits: the page is for officers and regulators",
            );
        }
    };
    match page.sessions.open(holder, role) {
        Ok(cookie) => {
            tracing::info!("{holder} signed in to the page");
            ([(header::SET_COOKIE, cookie.to_string())], Redirect::to("/")).into_response()
        }
        Err(e) => refused(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
}

/// A refusal of a request whose body was not read whole: what is left of
/// it would be read as the next request, so the connection ends with it.
fn unread(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

async fn sign_out(State(page): State<Arc<Page>>, headers: HeaderMap) -> Response {
    let cookies = headers.get(header::COOKIE).and_then(|value| value.to_str().ok());
    let gone = page.sessions.end(cookies);
    ([(header::SET_COOKIE, gone.to_string())], Redirect::to("/")).into_response()
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let Some(asset) = Assets::named(&file) else {
        return PageError::new(StatusCode::NOT_FOUND, format!("the page has no file {file:?}")).into_response();
    };
    let etag = format!("\"{}\"", asset.etag);
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|value| value.as_bytes() == etag.as_bytes())
    {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    (
        [
            (header::CONTENT_TYPE, asset.media_type.to_owned()),
            (header::ETAG, etag),
            (header::CACHE_CONTROL, "no-cache".to_owned()),
        ],
        asset.bytes.into_owned(),
    )
        .into_response()
}

async fn borders() -> Response {
    let borders = tokio::task::spawn_blocking(assets::borders).await;
    match borders {
        Ok(borders) => (
            [
                (header::CONTENT_TYPE, "application/geo+json"),
                (header::CACHE_CONTROL, "max-age=86400"),
            ],
            borders,
        )
            .into_response(),
        Err(e) => PageError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("the borders failed: {e}")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_the_tile_server_only() {
        let policy = content_security_policy(Some("https://tiles.customs.kz:8443/osm/{z}/{x}/{y}.png"));
        let policy = policy.to_str().unwrap();
        assert!(
            policy.contains("img-src 'self' data: https://tiles.customs.kz:8443;"),
            "{policy}"
        );
        let policy = content_security_policy(None);
        assert!(policy.to_str().unwrap().contains("img-src 'self' data:;"));
    }

    #[test]
    fn a_refusal_is_shown_as_text() {
        let Html(html) = html_file("signin.html", Some("<script>x</script>"));
        assert!(html.contains("&lt;script&gt;x&lt;/script&gt;"), "{html}");
    }
}
