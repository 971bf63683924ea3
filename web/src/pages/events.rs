//! The cluster's activity: the newest events as a page, and live as server-sent events that
//! the page's few lines of script prepend (the page is complete without them).

use std::convert::Infallible;
use std::sync::Arc;

use askama::Template;
use aurora_events::Seq;
use aurora_projections::{ActivityEntry, Queries};
use axum::Extension;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
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

/// One activity entry as a server-sent event (`event: activity`, `id: <seq>`, JSON data).
fn sse_event(entry: &ActivityEntry) -> Event {
    let line = EventLine::new(entry);
    let data = serde_json::json!({
        "seq": line.seq,
        "time": line.time,
        "actor": line.actor,
        "kind": line.kind,
        "summary": line.summary,
    });
    Event::default()
        .event("activity")
        .id(line.seq.to_string())
        .data(data.to_string())
}

/// Every event folded after the client connected, as it is folded, from the app's shared
/// feed. Too many clients: 503. A client that falls too far behind is dropped.
pub async fn stream(
    Extension(feed): Extension<Arc<Feed>>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, PageError> {
    let Some(subscription) = feed.subscribe() else {
        return Err(PageError::unavailable(format!(
            "the live event stream is serving its maximum of {} clients; reload later",
            crate::feed::MAX_CLIENTS
        )));
    };
    let events = futures::stream::unfold(subscription, |mut subscription| async move {
        let batch = match subscription.batches.recv().await {
            Ok(batch) => batch,
            // Too slow for the feed (or the feed ended): drop the client rather than wait.
            Err(_) => return None,
        };
        let since = subscription.since;
        let events: Vec<Result<Event, Infallible>> = batch
            .iter()
            .filter(|entry| entry.seq > since)
            .map(|entry| Ok(sse_event(entry)))
            .collect();
        Some((futures::stream::iter(events), subscription))
    })
    .flatten();
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
