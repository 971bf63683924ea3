//! The cluster's activity: the newest events as a page, and live as server-sent events that
//! the page's few lines of script prepend (the page is complete without them).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use crate::query::Query;
use askama::Template;
use aurora_events::Seq;
use aurora_projections::{ActivityEntry, Queries};
use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::Response;
use futures::StreamExt;

use super::{Layout, PageError, read, render};
use crate::WebState;
use crate::feed::Feed;
use crate::format;
use crate::moment::AtQuery;

/// Events listed on the page.
const SHOWN: usize = 200;

pub struct EventLine {
    pub seq: Seq,
    pub time: String,
    pub actor: String,
    pub kind: String,
    pub summary: String,
}

impl EventLine {
    fn new(entry: &ActivityEntry) -> Self {
        Self {
            seq: entry.seq,
            time: format::time(entry.at),
            actor: entry.actor.to_string(),
            kind: entry.kind.to_string(),
            summary: entry.summary.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "events.html")]
struct EventsPage {
    layout: Layout,
    live: bool,
    events: Vec<EventLine>,
}

pub async fn page(
    State(state): State<WebState>,
    Query(at): Query<AtQuery>,
) -> Result<Response, PageError> {
    let (entries, moment) = read(&state, "/events", &at, |v| v.activity(SHOWN)).await?;
    render(&EventsPage {
        layout: moment.layout(&state, "Events".into(), "events"),
        live: moment.is_live(),
        events: entries.iter().map(EventLine::new).collect(),
    })
}

/// One activity entry as a server-sent event (`event: activity`, `id: <seq>`, JSON data), as
/// the bytes sent.
pub(crate) fn sse_frame(entry: &ActivityEntry) -> Bytes {
    let line = EventLine::new(entry);
    let data = serde_json::json!({
        "seq": line.seq,
        "time": line.time,
        "actor": line.actor,
        "kind": line.kind,
        "summary": line.summary,
    });
    // JSON has no raw newline, so the data is one `data:` line.
    Bytes::from(format!(
        "event: activity\nid: {}\ndata: {data}\n\n",
        line.seq
    ))
}

/// A comment line every so often keeps proxies from closing a quiet stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Every event folded after the client connected, as it is folded, from the app's shared
/// feed (frames rendered once for all clients). Too many clients: 503. A client that falls
/// too far behind is dropped. The stream ends when the server begins to shut down (see
/// [`aurora_net::serve::Shutdown`]): an open page must not hold the shutdown's grace period.
pub async fn stream(
    Extension(feed): Extension<Arc<Feed>>,
    shutdown: Option<Extension<aurora_net::serve::Shutdown>>,
) -> Result<Response, PageError> {
    let Some(subscription) = feed.subscribe() else {
        return Err(PageError::unavailable(format!(
            "the live event stream is serving its maximum of {} clients; reload later",
            crate::feed::MAX_CLIENTS
        )));
    };
    let frames = futures::stream::unfold(subscription, |mut subscription| async move {
        let frames = match tokio::time::timeout(KEEP_ALIVE, subscription.batches.recv()).await {
            Ok(Ok(batch)) => {
                let since = subscription.since;
                let mut frames = Vec::new();
                for (seq, frame) in batch.iter() {
                    if *seq > since {
                        frames.extend_from_slice(frame);
                    }
                }
                Bytes::from(frames)
            }
            Err(_) => Bytes::from_static(b":\n\n"),
            // Too slow for the feed (or the feed ended): drop the client rather than wait.
            Ok(Err(_)) => return None,
        };
        Some((Ok::<_, Infallible>(frames), subscription))
    });
    let frames = match shutdown {
        Some(Extension(shutdown)) => frames.take_until(shutdown.begun()).boxed(),
        None => frames.boxed(),
    };
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(frames))
        .map_err(|e| PageError::internal(format!("building the event stream: {e}")))
}
