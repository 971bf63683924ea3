//! The journal reads the scheduler answers that the read side can answer too, from what it
//! folded: `/api/v1/journal` (its head is the last seq folded from the stream),
//! `/api/v1/journal/head`, `/api/v1/journal/seq`, `/api/v1/events` and the server-sent
//! `/api/v1/events/stream` (so `aurora events tail` works against either). Every other
//! `/api/v1/...` path answers a JSON 404 as the scheduler does, naming what aurora-web serves:
//! a 404 page in HTML told an API client nothing.
//!
//! Events are served only up to the last seq folded, never past a hole in the stream, so a
//! client of aurora-web sees the same dense seqs as a client of the scheduler.
//!
//! As on the scheduler, at most [`MAX_EVENT_STREAMS`] event streams run at once (a JSON 503
//! beyond), and the server closes a client that stops reading, which frees its slot.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use aurora_api::{EventsPage, EventsQuery, JournalHead, JournalInfo, SeqAt};
use aurora_events::{ChainHash, Envelope, Seq, Timestamp};
use aurora_net::streams::{MAX_EVENT_STREAMS, StreamSlots};
use aurora_projections::ReadModel;
use aurora_web::api::Failure;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::Uri;
use axum::response::IntoResponse;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::routing::{any, get};
use axum::{Json, Router};
use futures::StreamExt;
use serde::Deserialize;

use crate::status::Freshness;

/// Events read back at a time for the server-sent stream.
const STREAM_BATCH: u64 = 256;

#[derive(Clone)]
struct ApiState {
    cluster: String,
    read: Arc<ReadModel>,
    freshness: Arc<Freshness>,
    /// One per event stream being answered.
    streams: StreamSlots,
}

/// The journal routes and the JSON 404 for every other `/api/v1` path.
pub fn router(cluster: &str, read: Arc<ReadModel>, freshness: Arc<Freshness>) -> Router {
    router_with(
        cluster,
        read,
        freshness,
        StreamSlots::new(MAX_EVENT_STREAMS),
    )
}

/// [`router`], with `streams` to answer event streams in.
fn router_with(
    cluster: &str,
    read: Arc<ReadModel>,
    freshness: Arc<Freshness>,
    streams: StreamSlots,
) -> Router {
    Router::new()
        .route("/api/v1/journal", get(journal_info))
        .route("/api/v1/journal/head", get(head))
        .route("/api/v1/journal/seq", get(seq_at))
        .route("/api/v1/events", get(events))
        .route("/api/v1/events/stream", get(event_stream))
        .route("/api/v1", any(not_served))
        .route("/api/v1/", any(not_served))
        .route("/api/v1/{*rest}", any(not_served))
        .with_state(ApiState {
            cluster: cluster.to_string(),
            read,
            freshness,
            streams,
        })
}

async fn journal_info(State(state): State<ApiState>) -> Json<JournalInfo> {
    Json(JournalInfo {
        cluster: state.cluster.clone(),
        last_seq: state.read.last_seq(),
        stream_last_seq: state.freshness.stream_last(),
        problem: state.freshness.problem(),
    })
}

/// Reads folded envelopes back (from the local log or the stream) on a blocking thread.
async fn folded(read: &Arc<ReadModel>, from: Seq, to: Seq) -> Result<Vec<Envelope>, Failure> {
    let read = Arc::clone(read);
    tokio::task::spawn_blocking(move || read.events(from, to))
        .await
        .map_err(|e| Failure::internal(format!("reading seqs {from}..={to} failed: {e}")))?
        .map_err(|e| {
            tracing::error!(error = %e, from, to, "reading folded events back failed");
            Failure::internal(format!("reading seqs {from}..={to}: {e}"))
        })
}

/// `GET /api/v1/journal/head`: the last seq folded and its chain hash (the same as the
/// scheduler's for that seq: the stream carries the envelopes unchanged).
async fn head(State(state): State<ApiState>) -> Result<Json<JournalHead>, Failure> {
    let seq = state.read.last_seq();
    if seq == 0 {
        return Err(Failure::not_found(format!(
            "aurora-web has folded no event of cluster {} yet",
            state.cluster
        )));
    }
    let last = folded(&state.read, seq, seq)
        .await?
        .pop()
        .ok_or_else(|| Failure::internal(format!("seq {seq} does not read back")))?;
    Ok(Json(JournalHead {
        cluster: state.cluster.clone(),
        seq,
        hash: ChainHash::of(&last),
        linked: last.prev_hash.is_some(),
    }))
}

#[derive(Debug, Deserialize)]
struct SeqAtQuery {
    at_ms: Option<i64>,
}

/// `GET /api/v1/journal/seq?at_ms=MILLIS`: the last seq folded committed at or before it.
async fn seq_at(
    State(state): State<ApiState>,
    query: Result<Query<SeqAtQuery>, QueryRejection>,
) -> Result<Json<SeqAt>, Failure> {
    let Query(query) =
        query.map_err(|e| Failure::invalid(format!("bad query string: {}", e.body_text())))?;
    let at_ms = query
        .at_ms
        .ok_or_else(|| Failure::invalid("at_ms is required: milliseconds since the epoch"))?;
    let seq = state.read.seq_at(Timestamp::from_millis(at_ms));
    Ok(Json(SeqAt { at_ms, seq }))
}

/// `GET /api/v1/events?from=SEQ&limit=N`: folded events from `from` (default 1), at most
/// `limit` (default 100, at most 1000).
async fn events(
    State(state): State<ApiState>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Json<EventsPage>, Failure> {
    let Query(query) =
        query.map_err(|e| Failure::invalid(format!("bad query string: {}", e.body_text())))?;
    let (from, last) = query.seqs().map_err(Failure::invalid)?;
    // Read the position first: the page never claims less than the events it holds.
    let last_seq = state.read.last_seq();
    let events = folded(&state.read, from, last.min(last_seq)).await?;
    Ok(Json(EventsPage { last_seq, events }))
}

#[derive(Debug, Deserialize)]
struct StreamQuery {
    after: Option<Seq>,
}

/// `GET /api/v1/events/stream?after=SEQ`: every folded event strictly after `after`, then
/// each one as it is folded, as server-sent events in the scheduler's framing (`id: <seq>`,
/// `event: envelope`, `data: <stream payload>`). Dense: a hole in the stream stalls the folds
/// and so this stream, rather than skipping a seq. At most [`MAX_EVENT_STREAMS`] at once.
async fn event_stream(
    State(state): State<ApiState>,
    shutdown: Option<axum::Extension<aurora_net::serve::Shutdown>>,
    query: Result<Query<StreamQuery>, QueryRejection>,
) -> Result<impl IntoResponse, Failure> {
    let Query(query) =
        query.map_err(|e| Failure::invalid(format!("bad query string: {}", e.body_text())))?;
    let after = query.after.unwrap_or(0);
    let Some(slot) = state.streams.take() else {
        return Err(Failure::unavailable(format!(
            "the event stream is serving its maximum of {} clients; retry later",
            state.streams.max()
        )));
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<SseEvent, Infallible>>(64);
    tokio::spawn(async move {
        let mut folded_seq = state.read.subscribe();
        let mut last = after;
        loop {
            let target = *folded_seq.borrow_and_update();
            while last < target {
                let to = target.min(last + STREAM_BATCH);
                let envelopes = match folded(&state.read, last + 1, to).await {
                    Ok(envelopes) => envelopes,
                    // Logged by `folded`; the client reconnects after the last seq it saw.
                    Err(_) => return,
                };
                for envelope in envelopes {
                    last = envelope.seq;
                    let data =
                        String::from_utf8(aurora_stream::wire::encode(&state.cluster, &envelope))
                            .unwrap_or_default();
                    let event = SseEvent::default()
                        .id(envelope.seq.to_string())
                        .event("envelope")
                        .data(data);
                    if tx.send(Ok(event)).await.is_err() {
                        return; // the client went away
                    }
                }
            }
            tokio::select! {
                () = tx.closed() => return,
                changed = folded_seq.changed() => if changed.is_err() { return },
            }
        }
    });
    let events = slot.hold(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    // Ends at shutdown, so that an open stream does not hold the grace period.
    let events = match shutdown {
        Some(axum::Extension(shutdown)) => events.take_until(shutdown.begun()).boxed(),
        None => events.boxed(),
    };
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(10))))
}

/// Any other `/api/v1` path: a JSON 404 like the scheduler's, saying what is served here.
async fn not_served(State(state): State<ApiState>, uri: Uri) -> Failure {
    Failure::not_found(format!(
        "aurora-web (the read side of cluster {}) does not serve {}: it answers the read API \
         (jobs, tasks, updates, quota, maintenance, audit, diff, why, history) and the journal \
         reads /api/v1/journal, /api/v1/journal/head, /api/v1/journal/seq, /api/v1/events and \
         /api/v1/events/stream. Commands, /api/v1/cron and /api/v1/journal/verify are the \
         scheduler's: point clusters.json's scheduler_uri at the scheduler for them",
        state.cluster,
        uri.path()
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use aurora_projections::HistoryConfig;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    /// Past the cap, an event stream is the API's JSON 503; a stream dropped frees its slot.
    #[tokio::test]
    async fn event_streams_past_the_cap_are_a_json_503() {
        let read = Arc::new(ReadModel::in_memory(HistoryConfig::default()));
        let freshness = Arc::new(Freshness::new(
            "devcluster",
            "nats://127.0.0.1:4222",
            Arc::clone(&read),
        ));
        let app = router_with("devcluster", read, freshness, StreamSlots::new(1));
        let open = || async {
            app.clone()
                .oneshot(
                    Request::get("/api/v1/events/stream")
                        .body(Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap()
        };
        let first = open().await;
        assert_eq!(first.status(), StatusCode::OK);
        let refused = open().await;
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(refused.into_body(), 1 << 20)
            .await
            .unwrap();
        let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(error["code"], "ERROR_TRANSIENT", "{error}");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("maximum of 1 clients"),
            "{error}"
        );
        drop(first);
        assert_eq!(open().await.status(), StatusCode::OK);
    }
}
