//! What the page reads, as JSON under `/page/api`: the signed-in session,
//! the board, a counter to poll for changes, and one transit whole (its
//! declaration, report and track). Every answer needs a live session.

use std::sync::Arc;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::session::Session;
use crate::{Page, PageError};
use escort_engine::{Fix, Verdict, format_time};
use escort_service::{Board, BoardCursor, BoardQuery, BoardRow, Service, ServiceError, VerdictCounts};

/// Most rows one page of the board holds.
pub const MAX_BOARD_PAGE: usize = 500;

/// Longest search text, characters.
pub const MAX_SEARCH_CHARS: usize = 200;

/// Most track points a transit's view gets; a longer track is thinned
/// evenly, its first and last fix kept.
pub const MAX_TRACK_POINTS: usize = 20_000;

impl Page {
    /// The session of a request, or a 401.
    fn session(&self, headers: &HeaderMap) -> Result<Session, PageError> {
        let cookies = headers.get(header::COOKIE).and_then(|value| value.to_str().ok());
        self.sessions.find(cookies).ok_or_else(|| {
            PageError::new(
                StatusCode::UNAUTHORIZED,
                "not signed in, or the session has ended: sign in again at /",
            )
        })
    }

    /// Runs `work` on a blocking thread: the store is synchronous SQLite.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Service) -> Result<T, ServiceError> + Send + 'static,
    ) -> Result<T, PageError> {
        let service = Arc::clone(&self.service);
        tokio::task::spawn_blocking(move || work(&service))
            .await
            .map_err(|e| PageError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("the request failed: {e}")))?
            .map_err(PageError::from)
    }
}

pub(crate) async fn session(State(page): State<Arc<Page>>, headers: HeaderMap) -> Result<Response, PageError> {
    let session = page.session(&headers)?;
    Ok(Json(json!({
        "name": session.holder,
        "role": session.role.as_str(),
        "timezone": page.timezone,
        "map_tiles": page.map_tiles,
        "expires_at": format_time(&session.expires_at),
    }))
    .into_response())
}

pub(crate) async fn changes(State(page): State<Arc<Page>>, headers: HeaderMap) -> Result<Response, PageError> {
    page.session(&headers)?;
    let changes = page.blocking(Service::changes).await?;
    Ok(Json(json!({ "changes": changes })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BoardParams {
    verdict: Option<String>,
    open: Option<String>,
    q: Option<String>,
    after: Option<String>,
    limit: Option<usize>,
}

pub(crate) async fn board(
    State(page): State<Arc<Page>>,
    headers: HeaderMap,
    params: Result<Query<BoardParams>, QueryRejection>,
) -> Result<Response, PageError> {
    page.session(&headers)?;
    let Query(params) = params.map_err(|e| PageError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let bad = |message: String| PageError::new(StatusCode::BAD_REQUEST, message);
    let verdict = match params.verdict.as_deref() {
        None | Some("") => None,
        Some(name) => Some(
            Verdict::from_name(name)
                .ok_or_else(|| bad(format!("`verdict` must be violation, review or clear, not {name:?}")))?,
        ),
    };
    let open = match params.open.as_deref() {
        None | Some("") => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => return Err(bad(format!("`open` must be true or false, not {other:?}"))),
    };
    let search = params.q.filter(|text| !text.trim().is_empty());
    if let Some(text) = &search
        && text.chars().count() > MAX_SEARCH_CHARS
    {
        return Err(bad(format!("`q` must be at most {MAX_SEARCH_CHARS} characters")));
    }
    let after = match params.after.as_deref() {
        None | Some("") => None,
        Some(text) => Some(
            BoardCursor::parse(text)
                .ok_or_else(|| bad("`after` must be the `next_after` of an earlier page".to_owned()))?,
        ),
    };
    let limit = params.limit.unwrap_or(100);
    if !(1..=MAX_BOARD_PAGE).contains(&limit) {
        return Err(bad(format!("`limit` must be 1 to {MAX_BOARD_PAGE}, not {limit}")));
    }
    let query = BoardQuery {
        verdict,
        open,
        search: search.map(|text| text.trim().to_owned()),
        after,
        limit,
    };
    let (board, changes) = page
        .blocking(move |service| Ok((service.board(&query)?, service.changes()?)))
        .await?;
    Ok(Json(board_json(&board, changes)).into_response())
}

fn board_json(board: &Board, changes: u64) -> Value {
    let counts =
        |counts: &VerdictCounts| json!({"violation": counts.violation, "review": counts.review, "clear": counts.clear});
    let row = |row: &BoardRow| {
        json!({
            "id": row.summary.id,
            "verdict": row.summary.verdict,
            "open": row.summary.open,
            "opened_at": format_time(&row.opened_at),
            "deadline": row.deadline.as_ref().map(format_time),
            "evaluated_at": format_time(&row.summary.evaluated_at),
            "fixes": row.summary.fixes,
            "last_fix_at": row.summary.last_fix_at.as_ref().map(format_time),
            "seal_id": row.seal_id,
            "vehicle": row.vehicle,
            "importer": row.importer,
            "departure": row.departure,
            "destination": row.destination,
        })
    };
    json!({
        "counts": {"open": counts(&board.open), "closed": counts(&board.closed)},
        "transits": board.rows.iter().map(row).collect::<Vec<_>>(),
        "next_after": board.next.as_ref().map(ToString::to_string),
        "changes": changes,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TransitParams {
    #[serde(default)]
    shadow: bool,
}

pub(crate) async fn transit(
    State(page): State<Arc<Page>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    params: Result<Query<TransitParams>, QueryRejection>,
) -> Result<Response, PageError> {
    page.session(&headers)?;
    let Path(id) = id.map_err(|e| PageError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let Query(params) = params.map_err(|e| PageError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let (declaration, report, fixes, shadow) = page
        .blocking(move |service| {
            let report = service.report(&id, None)?;
            let declaration = service.declaration(&id)?;
            let fixes = service.fixes(&id)?;
            let shadow = params.shadow.then(|| service.shadow_findings(&id)).transpose()?;
            Ok((declaration, report, fixes, shadow))
        })
        .await?;
    let stored = |what: &str, e: serde_json::Error| {
        PageError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the stored {what} does not read: {e}"),
        )
    };
    let mut body = json!({
        "transit": serde_json::from_str::<Value>(&declaration).map_err(|e| stored("declaration", e))?,
        "report": serde_json::from_str::<Value>(&report.to_json()).map_err(|e| stored("report", e))?,
        "track": track_json(&fixes),
    });
    if let Some(shadow) = shadow {
        body["shadow"] = serde_json::to_value(shadow).map_err(|e| stored("shadow findings", e))?;
    }
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}

/// The track as columns, thinned to [`MAX_TRACK_POINTS`].
fn track_json(fixes: &[Fix]) -> Value {
    let kept = thinned(fixes.len(), MAX_TRACK_POINTS);
    let column = |value: &dyn Fn(&Fix) -> Value| kept.iter().map(|&i| value(&fixes[i])).collect::<Vec<_>>();
    json!({
        "at": column(&|fix| json!(format_time(&fix.at))),
        "lat": column(&|fix| json!(fix.lat)),
        "lon": column(&|fix| json!(fix.lon)),
        "seal": column(&|fix| json!(fix.seal.map(|seal| seal.as_str()))),
        "battery_pct": column(&|fix| json!(fix.battery_pct)),
        "fixes": fixes.len(),
        "simplified": kept.len() < fixes.len(),
    })
}

/// The indices of at most `most` of `count` items, evenly spread, the
/// first and the last among them.
fn thinned(count: usize, most: usize) -> Vec<usize> {
    if count <= most {
        return (0..count).collect();
    }
    (0..most).map(|k| k * (count - 1) / (most - 1)).collect()
}

#[cfg(test)]
mod tests {
    use super::thinned;

    #[test]
    fn a_long_track_is_thinned_evenly_with_both_ends() {
        assert_eq!(thinned(5, 10), vec![0, 1, 2, 3, 4]);
        let kept = thinned(100_001, 20_000);
        assert_eq!(kept.len(), 20_000);
        assert_eq!((kept[0], kept[19_999]), (0, 100_000));
        assert!(kept.windows(2).all(|pair| (5..=6).contains(&(pair[1] - pair[0]))));
    }
}
