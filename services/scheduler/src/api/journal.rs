//! Reading the journal itself: `/api/v1/journal` and `/api/v1/events`.

use std::sync::Arc;

use aurora_events::{Envelope, Seq};
use aurora_journal::{Journal, SeqRange};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::{ApiError, Failure};

/// Most events one `/api/v1/events` call returns.
pub const MAX_EVENTS_PER_PAGE: u64 = 1000;

#[derive(Clone)]
struct ApiState {
    journal: Arc<dyn Journal>,
}

/// The API routes, reading from `journal`.
pub fn router(journal: Arc<dyn Journal>) -> Router {
    Router::new()
        .route("/api/v1/journal", get(journal_info))
        .route("/api/v1/events", get(events))
        .with_state(ApiState { journal })
}

fn internal(error: aurora_journal::Error) -> Failure {
    tracing::error!(%error, "journal read failed");
    Failure(
        StatusCode::INTERNAL_SERVER_ERROR,
        ApiError {
            code: "ERROR".into(),
            message: error.to_string(),
        },
    )
}

#[derive(Debug, Serialize, Deserialize)]
pub struct JournalInfo {
    pub cluster: String,
    pub last_seq: Seq,
}

async fn journal_info(State(state): State<ApiState>) -> Json<JournalInfo> {
    Json(JournalInfo {
        cluster: state.journal.cluster().to_string(),
        last_seq: state.journal.last_seq(),
    })
}

#[derive(Debug, Deserialize)]
struct EventsQuery {
    from: Option<Seq>,
    limit: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct EventsPage {
    pub last_seq: Seq,
    pub events: Vec<Envelope>,
}

/// `GET /api/v1/events?from=SEQ&limit=N`: committed events from `from` (default 1), at most
/// `limit` (default 100, at most 1000).
async fn events(
    State(state): State<ApiState>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Json<EventsPage>, Failure> {
    let Query(query) =
        query.map_err(|e| Failure::invalid(format!("bad query string: {}", e.body_text())))?;
    let from = query.from.unwrap_or(1);
    if from == 0 {
        return Err(Failure::invalid(
            "from must be at least 1 (seqs start at 1)",
        ));
    }
    let limit = query.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_EVENTS_PER_PAGE {
        return Err(Failure::invalid(format!(
            "limit must be between 1 and {MAX_EVENTS_PER_PAGE}, not {limit}"
        )));
    }
    let last = from.saturating_add(limit - 1);
    let events = state
        .journal
        .read(SeqRange::new(from, last))
        .await
        .map_err(internal)?;
    Ok(Json(EventsPage {
        last_seq: state.journal.last_seq(),
        events,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aurora_journal::{Clock, MemoryJournal, SystemClock};
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get_json(app: Router, uri: &str) -> (StatusCode, serde_json::Value) {
        let response = app
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn events_pages_through_the_journal() {
        let journal = MemoryJournal::new_initialised("devcluster", SystemClock.now());
        let app = router(Arc::new(journal));
        let (status, body) = get_json(app.clone(), "/api/v1/events?from=1&limit=5").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["last_seq"], 1);
        assert_eq!(
            body["events"][0]["event"]["ClusterInitialised"]["cluster"],
            "devcluster"
        );
        let (_, info) = get_json(app, "/api/v1/journal").await;
        assert_eq!(info["cluster"], "devcluster");
    }

    #[tokio::test]
    async fn bad_queries_are_named() {
        let journal = MemoryJournal::new_initialised("devcluster", SystemClock.now());
        let app = router(Arc::new(journal));
        for (uri, needle) in [
            ("/api/v1/events?from=0", "from must be at least 1"),
            (
                "/api/v1/events?limit=5000",
                "limit must be between 1 and 1000",
            ),
            ("/api/v1/events?from=abc", "bad query string"),
        ] {
            let (status, body) = get_json(app.clone(), uri).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
            assert_eq!(body["code"], "INVALID_REQUEST");
            assert!(
                body["message"].as_str().unwrap().contains(needle),
                "{uri}: {body}"
            );
        }
    }
}
