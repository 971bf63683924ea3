//! The cluster's activity: the newest events as a page, and live as server-sent events that
//! the page's few lines of script prepend (the page is complete without them).

use std::convert::Infallible;

use askama::Template;
use aurora_events::Seq;
use aurora_projections::{ActivityEntry, Queries};
use axum::extract::{Query, State};
use axum::response::Response;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use futures::StreamExt;

use super::{Layout, PageError, read, render};
use crate::WebState;
use crate::format;
use crate::moment::AtQuery;

/// Events listed on the page.
const SHOWN: usize = 200;
/// Events looked at per wake-up of the stream; more than the leader commits between two
/// wake-ups in practice. Older ones in a burst are skipped (the page says so on reload).
const STREAM_WINDOW: usize = 1000;

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

/// Every event folded after the client connected, as it is folded.
pub async fn stream(
    State(state): State<WebState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let folded = state.read.subscribe();
    let sent = state.read.last_seq();
    let events = futures::stream::unfold(
        (folded, sent, state),
        |(mut folded, mut sent, state)| async move {
            folded.changed().await.ok()?;
            let mut fresh: Vec<ActivityEntry> = state
                .read
                .live(|v| v.activity(STREAM_WINDOW))
                .into_iter()
                .filter(|entry| entry.seq > sent)
                .collect();
            fresh.reverse();
            if let Some(newest) = fresh.last() {
                sent = newest.seq;
            }
            let batch: Vec<Result<Event, Infallible>> =
                fresh.iter().map(|entry| Ok(sse_event(entry))).collect();
            Some((futures::stream::iter(batch), (folded, sent, state)))
        },
    )
    .flatten();
    Sse::new(events).keep_alive(KeepAlive::default())
}
