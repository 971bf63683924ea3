//! Reading the journal itself: `/api/v1/journal`, `/api/v1/journal/seq`, `/api/v1/events`
//! and `/api/v1/events/stream`, the server-sent event stream `aurora events tail` follows
//! when the cluster has no JetStream mirror (each event's data is the stream's payload,
//! `aurora_stream::wire` format 1, so both sources read alike).
//!
//! Anyone who may read may open the event stream, and each one holds a journal reader, buffers
//! and a connection for as long as its client stays: at most [`MAX_EVENT_STREAMS`] run at once
//! (more are a 503 in the API's JSON shape), and a client that stops reading is closed by the
//! server ([`aurora_net::Limits::write_stall_timeout`]), which frees its slot. (1,500 clients
//! that connected and never read took the scheduler from 88 MB to 740 MB.)

use std::sync::Arc;

use std::time::Duration;

use aurora_events::{ChainCheck, ChainHash, Seq, Timestamp};
use aurora_journal::{Journal, SeqRange};
use aurora_net::serve::Shutdown;
use aurora_net::streams::{MAX_EVENT_STREAMS, StreamSlots};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::routing::get;
use axum::{Extension, Json, Router};
use futures::StreamExt;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

use super::{ApiError, Failure};

#[derive(Clone)]
struct ApiState {
    journal: Arc<dyn Journal>,
    /// Held by the verification running, if one is: one at a time (see [`verify`]).
    verifying: Arc<tokio::sync::Semaphore>,
    /// One per event stream being answered.
    streams: StreamSlots,
}

/// The API routes, reading from `journal`.
pub fn router(journal: Arc<dyn Journal>) -> Router {
    router_with(journal, StreamSlots::new(MAX_EVENT_STREAMS))
}

/// [`router`], with `streams` to answer event streams in.
fn router_with(journal: Arc<dyn Journal>, streams: StreamSlots) -> Router {
    Router::new()
        .route("/api/v1/journal", get(journal_info))
        .route("/api/v1/journal/seq", get(seq_at))
        .route("/api/v1/journal/verify", get(verify))
        .route("/api/v1/journal/head", get(head))
        .route("/api/v1/events", get(events))
        .route("/api/v1/events/stream", get(event_stream))
        .with_state(ApiState {
            journal,
            verifying: Arc::new(tokio::sync::Semaphore::new(1)),
            streams,
        })
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

pub use aurora_api::{
    EventsPage, EventsQuery, JournalHead, JournalInfo, MAX_EVENTS_PER_PAGE, SeqAt,
};

async fn journal_info(State(state): State<ApiState>) -> Json<JournalInfo> {
    Json(JournalInfo {
        cluster: state.journal.cluster().to_string(),
        last_seq: state.journal.last_seq(),
        stream_last_seq: None,
        problem: None,
    })
}

/// `GET /api/v1/journal/head`: the last committed seq and its chain hash (see
/// [`JournalHead`]).
async fn head(State(state): State<ApiState>) -> Result<Json<JournalHead>, Failure> {
    let seq = state.journal.last_seq();
    let last = state
        .journal
        .read(SeqRange::new(seq, seq))
        .await
        .map_err(internal)?
        .pop()
        .ok_or_else(|| Failure::internal(format!("the journal has no seq {seq}")))?;
    Ok(Json(JournalHead {
        cluster: state.journal.cluster().to_string(),
        seq,
        hash: ChainHash::of(&last),
        linked: last.prev_hash.is_some(),
    }))
}

/// What `/api/v1/journal/verify` found.
#[derive(Debug, Serialize, Deserialize)]
pub struct JournalCheck {
    pub cluster: String,
    pub last_seq: Seq,
    /// Seqs read and found sound (`from..=this`; `from - 1` when none was).
    pub sound_through: Seq,
    /// The last seq this request was to check (`last_seq` unless a `limit` stopped it
    /// earlier): the next part of a check made in parts starts after it.
    #[serde(default)]
    pub checked_through: Seq,
    /// The chain hash of the last sound seq (the head, when nothing is wrong).
    pub head_hash: Option<ChainHash>,
    /// The first seq linked to the one before it (where the hash chain starts), if any.
    pub chained_from: Option<Seq>,
    /// The first problem, if any: its seq and what is wrong.
    pub problem: Option<JournalProblem>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct JournalProblem {
    pub seq: Seq,
    pub problem: String,
}

/// Envelopes read at a time by the check.
const VERIFY_CHUNK: u64 = 4096;

/// Which part of the journal one `/api/v1/journal/verify` call checks: `from` (default 1)
/// and at most `limit` seqs after it (default: to the end), so that a long journal can be
/// checked in parts, each a bounded request.
#[derive(Debug, Deserialize)]
struct VerifyQuery {
    from: Option<Seq>,
    limit: Option<u64>,
}

/// `GET /api/v1/journal/verify[?from=SEQ&limit=N]`: reads the journal as committed now, from
/// `from` on, and checks every record's checksum (by decoding it), that seqs are dense and
/// that commit times never go back, and the hash chain; answers with the first problem found.
/// A part that starts after seq 1 goes on from the envelope before it (read again, and
/// checked by the part before).
async fn verify(
    State(state): State<ApiState>,
    query: Result<Query<VerifyQuery>, QueryRejection>,
) -> Result<Json<JournalCheck>, Failure> {
    let Query(query) =
        query.map_err(|e| Failure::invalid(format!("bad query string: {}", e.body_text())))?;
    let from = first_seq(query.from)?;
    if query.limit == Some(0) {
        return Err(Failure::invalid("limit must be at least 1"));
    }
    // One verification at a time: each reads the whole journal, and anyone may ask (reads are
    // open, as in Aurora), so concurrent ones would take the leader's cores.
    let Ok(_running) = state.verifying.try_acquire() else {
        return Err(Failure::unavailable(
            "ERROR_TRANSIENT",
            "another journal verification is running on this scheduler; retry when it ends",
        ));
    };
    let journal = &state.journal;
    let last_seq = journal.last_seq();
    let through = match query.limit {
        Some(limit) => from.saturating_add(limit - 1).min(last_seq),
        None => last_seq,
    };
    let mut check = JournalCheck {
        cluster: journal.cluster().to_string(),
        last_seq,
        sound_through: from - 1,
        checked_through: through,
        head_hash: None,
        chained_from: None,
        problem: None,
    };
    let mut previous_at = None;
    let mut chain = ChainCheck::default();
    if from > 1 && from <= through {
        match journal.read(SeqRange::new(from - 1, from - 1)).await {
            Ok(before) if before.len() == 1 => {
                chain = ChainCheck::after(&before[0]);
                previous_at = Some(before[0].at);
            }
            outcome => {
                let problem = match outcome {
                    Err(e) => e.to_string(),
                    Ok(_) => "missing: the journal holds no record there".into(),
                };
                check.sound_through = from.saturating_sub(2);
                check.problem = Some(JournalProblem {
                    seq: from - 1,
                    problem,
                });
                return Ok(Json(check));
            }
        }
    }
    let mut next = from;
    while next <= through {
        let range = SeqRange::new(next, (next + VERIFY_CHUNK - 1).min(through));
        let envelopes = match journal.read(range).await {
            Ok(envelopes) => envelopes,
            Err(_) => {
                // Find the record that does not read, one at a time.
                let mut found = None;
                for seq in range.first..=range.last {
                    if let Err(e) = journal.read(SeqRange::new(seq, seq)).await {
                        found = Some(JournalProblem {
                            seq,
                            problem: e.to_string(),
                        });
                        break;
                    }
                    check.sound_through = seq;
                }
                check.problem = found.or(Some(JournalProblem {
                    seq: range.first,
                    problem: "the range does not read as a whole".into(),
                }));
                return Ok(Json(check));
            }
        };
        let mut expected = range.first;
        for envelope in &envelopes {
            let problem = if envelope.seq != expected {
                Some(format!("the record holds seq {}", envelope.seq))
            } else if previous_at.is_some_and(|at| envelope.at < at) {
                Some(format!(
                    "its time {} is before the previous event's",
                    envelope.at.to_utc_string()
                ))
            } else {
                chain.check(envelope).err().map(|broken| broken.problem)
            };
            if let Some(problem) = problem {
                check.problem = Some(JournalProblem {
                    seq: expected,
                    problem,
                });
                return Ok(Json(check));
            }
            previous_at = Some(envelope.at);
            if envelope.prev_hash.is_some() && check.chained_from.is_none() {
                check.chained_from = Some(envelope.seq);
            }
            check.head_hash = chain.head();
            check.sound_through = expected;
            expected += 1;
        }
        if expected <= range.last {
            check.problem = Some(JournalProblem {
                seq: expected,
                problem: "missing: the journal holds no record there".into(),
            });
            return Ok(Json(check));
        }
        next = range.last + 1;
    }
    Ok(Json(check))
}

/// A `from` query parameter: 1 when absent, refused when 0.
fn first_seq(from: Option<Seq>) -> Result<Seq, Failure> {
    aurora_api::first_seq(from).map_err(Failure::invalid)
}

#[derive(Debug, Deserialize)]
struct SeqAtQuery {
    at_ms: Option<i64>,
}

/// `GET /api/v1/journal/seq?at_ms=MILLIS`: where the journal stood at an instant.
async fn seq_at(
    State(state): State<ApiState>,
    query: Result<Query<SeqAtQuery>, QueryRejection>,
) -> Result<Json<SeqAt>, Failure> {
    let Query(query) =
        query.map_err(|e| Failure::invalid(format!("bad query string: {}", e.body_text())))?;
    let Some(at_ms) = query.at_ms else {
        return Err(Failure::invalid(
            "at_ms is required: milliseconds since the epoch",
        ));
    };
    let seq = state
        .journal
        .seq_at(Timestamp::from_millis(at_ms))
        .await
        .map_err(internal)?
        .unwrap_or(0);
    Ok(Json(SeqAt { at_ms, seq }))
}

/// Envelopes each event stream reads from the journal (and holds) at a time: a client
/// catching up from seq 1 would otherwise hold the journal's usual 1,024 decoded envelopes,
/// and 256 of them took the scheduler from 90 MB to 500 MB (64: 150 MB).
const STREAM_CHUNK: u64 = 64;

#[derive(Debug, Deserialize)]
struct StreamQuery {
    after: Option<Seq>,
}

/// `GET /api/v1/events/stream?after=SEQ`: every committed event strictly after `after`
/// (default 0: from the start), then live ones, as server-sent events `id: <seq>`,
/// `event: envelope`, `data: <stream payload>`. Gap-free: it reads the journal, so a slow
/// client is never skipped ahead; a client that reconnects passes the last seq it saw.
///
/// At most [`MAX_EVENT_STREAMS`] at once (a 503 beyond); a client that stops reading is
/// closed by the server, freeing its slot (see the module docs).
///
/// The stream ends when the server begins to shut down: an answer that never completes would
/// hold the graceful shutdown for its whole grace period, and with it the ordinary requests
/// (an agent's last status reports) that the grace period is for.
async fn event_stream(
    State(state): State<ApiState>,
    shutdown: Option<Extension<Shutdown>>,
    query: Result<Query<StreamQuery>, QueryRejection>,
) -> Result<impl axum::response::IntoResponse, Failure> {
    let Query(query) =
        query.map_err(|e| Failure::invalid(format!("bad query string: {}", e.body_text())))?;
    let after = query.after.unwrap_or(0);
    let Some(slot) = state.streams.take() else {
        return Err(Failure::unavailable(
            "ERROR_TRANSIENT",
            format!(
                "the event stream is serving its maximum of {} clients; retry later",
                state.streams.max()
            ),
        ));
    };
    let cluster = state.journal.cluster().to_string();
    let events = state
        .journal
        .subscribe_in_chunks(after.saturating_add(1), STREAM_CHUNK)
        .take_while(|envelope| {
            if let Err(error) = envelope {
                tracing::error!(%error, "event stream ends: journal read failed");
            }
            std::future::ready(envelope.is_ok())
        })
        .filter_map(move |envelope| {
            let event = envelope.ok().map(|envelope| {
                let data = String::from_utf8(aurora_stream::wire::encode(&cluster, &envelope))
                    .unwrap_or_default();
                Ok(SseEvent::default()
                    .id(envelope.seq.to_string())
                    .event("envelope")
                    .data(data))
            });
            std::future::ready(event)
        });
    let events = match shutdown {
        Some(Extension(shutdown)) => events.take_until(shutdown.begun()).boxed::<'static>(),
        None => events.boxed::<'static>(),
    };
    let events: BoxStream<'static, Result<SseEvent, std::convert::Infallible>> =
        slot.hold(events).boxed();
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(10))))
}

/// `GET /api/v1/events?from=SEQ&limit=N`: committed events from `from` (default 1), at most
/// `limit` (default 100, at most 1000).
async fn events(
    State(state): State<ApiState>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Json<EventsPage>, Failure> {
    let Query(query) =
        query.map_err(|e| Failure::invalid(format!("bad query string: {}", e.body_text())))?;
    let (from, last) = query.seqs().map_err(Failure::invalid)?;
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
    use aurora_events::Envelope;
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

    /// A journal of seq 1 (the cluster's initialisation) and ten markers after it.
    async fn journal_of_eleven_events() -> MemoryJournal {
        let journal = MemoryJournal::new_initialised("devcluster", SystemClock.now());
        for n in 0..10 {
            aurora_journal::conformance::append(
                &journal,
                vec![aurora_journal::conformance::marker(1, n)],
            )
            .await
            .unwrap();
        }
        journal
    }

    #[tokio::test]
    async fn verify_reads_the_whole_journal() {
        let journal = journal_of_eleven_events().await;
        let app = router(Arc::new(journal));
        let (status, body) = get_json(app.clone(), "/api/v1/journal/verify").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["last_seq"], 11);
        assert_eq!(body["sound_through"], 11);
        assert!(body["problem"].is_null(), "{body}");
        assert_eq!(
            body["chained_from"], 2,
            "every event after the first is linked"
        );
        let (status, head) = get_json(app, "/api/v1/journal/head").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            (head["seq"].as_u64(), head["linked"].as_bool()),
            (Some(11), Some(true))
        );
        assert_eq!(head["hash"], body["head_hash"], "{head} {body}");
        assert_eq!(head["hash"].as_str().map(str::len), Some(64));
    }

    #[tokio::test]
    async fn verify_names_the_event_after_an_altered_one() {
        let inner = journal_of_eleven_events().await;
        let app = router(Arc::new(Damaged {
            inner,
            bad: 0,
            altered: 5,
        }));
        let (_, body) = get_json(app, "/api/v1/journal/verify").await;
        assert_eq!(body["problem"]["seq"], 6, "{body}");
        assert_eq!(body["sound_through"], 5, "{body}");
        assert!(
            body["problem"]["problem"]
                .as_str()
                .unwrap()
                .contains("at or before seq 5"),
            "{body}"
        );
    }

    /// Checked in parts, the journal reads as checked whole: each part goes on from the
    /// record before it, so a part that starts right after an altered record, or right after
    /// one that does not read, still names it.
    #[tokio::test]
    async fn verify_in_parts_goes_on_from_the_record_before() {
        let app = router(Arc::new(journal_of_eleven_events().await));
        let (_, whole) = get_json(app.clone(), "/api/v1/journal/verify").await;
        let mut head = None;
        for (from, through) in [(1, 4), (5, 8), (9, 11)] {
            let uri = format!("/api/v1/journal/verify?from={from}&limit=4");
            let (status, part) = get_json(app.clone(), &uri).await;
            assert_eq!(status, StatusCode::OK);
            assert!(part["problem"].is_null(), "{part}");
            assert_eq!(
                (
                    part["sound_through"].as_u64(),
                    part["checked_through"].as_u64()
                ),
                (Some(through), Some(through)),
                "{part}"
            );
            head = Some(part["head_hash"].clone());
        }
        assert_eq!(head, Some(whole["head_hash"].clone()));
        let (status, _) = get_json(app.clone(), "/api/v1/journal/verify?from=0").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = get_json(app, "/api/v1/journal/verify?limit=0").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        let altered = router(Arc::new(Damaged {
            inner: journal_of_eleven_events().await,
            bad: 0,
            altered: 5,
        }));
        let (_, part) = get_json(altered, "/api/v1/journal/verify?from=6&limit=3").await;
        assert_eq!(part["problem"]["seq"], 6, "{part}");
        let unreadable = router(Arc::new(Damaged {
            inner: journal_of_eleven_events().await,
            bad: 7,
            altered: 0,
        }));
        let (_, part) = get_json(unreadable, "/api/v1/journal/verify?from=8&limit=3").await;
        assert_eq!(part["problem"]["seq"], 7, "{part}");
        assert_eq!(part["sound_through"], 6, "{part}");
    }

    /// A journal whose record `bad` does not read, as a damaged one does not, and whose record
    /// `altered` reads with another actor (rewritten and re-checksummed).
    struct Damaged {
        inner: MemoryJournal,
        bad: Seq,
        altered: Seq,
    }

    #[async_trait::async_trait]
    impl Journal for Damaged {
        async fn append(
            &self,
            append: aurora_journal::Append,
        ) -> Result<SeqRange, aurora_journal::Error> {
            self.inner.append(append).await
        }
        async fn read(&self, range: SeqRange) -> Result<Vec<Envelope>, aurora_journal::Error> {
            if range.contains(self.bad) {
                return Err(aurora_journal::Error::Damaged(format!(
                    "checksum mismatch at seq {}",
                    self.bad
                )));
            }
            let mut envelopes = self.inner.read(range).await?;
            for envelope in &mut envelopes {
                if envelope.seq == self.altered {
                    envelope.actor = aurora_events::Actor::User("mallory".into());
                }
            }
            Ok(envelopes)
        }
        fn subscribe(&self, from: Seq) -> aurora_journal::EventStream {
            self.inner.subscribe(from)
        }
        fn last_seq(&self) -> Seq {
            self.inner.last_seq()
        }
        fn cluster(&self) -> &str {
            self.inner.cluster()
        }
        async fn seq_at(&self, at: Timestamp) -> Result<Option<Seq>, aurora_journal::Error> {
            self.inner.seq_at(at).await
        }
        fn term(&self) -> aurora_journal::Term {
            self.inner.term()
        }
        async fn claim_leadership(&self) -> Result<aurora_journal::Term, aurora_journal::Error> {
            self.inner.claim_leadership().await
        }
    }

    /// A journal that records the chunk each subscriber asked to read in.
    struct Chunks {
        inner: MemoryJournal,
        asked: std::sync::Mutex<Vec<u64>>,
    }

    #[async_trait::async_trait]
    impl Journal for Chunks {
        async fn append(
            &self,
            append: aurora_journal::Append,
        ) -> Result<SeqRange, aurora_journal::Error> {
            self.inner.append(append).await
        }
        async fn read(&self, range: SeqRange) -> Result<Vec<Envelope>, aurora_journal::Error> {
            self.inner.read(range).await
        }
        fn subscribe(&self, from: Seq) -> aurora_journal::EventStream {
            self.subscribe_in_chunks(from, u64::MAX)
        }
        fn subscribe_in_chunks(&self, from: Seq, chunk: u64) -> aurora_journal::EventStream {
            self.asked.lock().unwrap().push(chunk);
            self.inner.subscribe_in_chunks(from, chunk)
        }
        fn last_seq(&self) -> Seq {
            self.inner.last_seq()
        }
        fn cluster(&self) -> &str {
            self.inner.cluster()
        }
        async fn seq_at(&self, at: Timestamp) -> Result<Option<Seq>, aurora_journal::Error> {
            self.inner.seq_at(at).await
        }
        fn term(&self) -> aurora_journal::Term {
            self.inner.term()
        }
        async fn claim_leadership(&self) -> Result<aurora_journal::Term, aurora_journal::Error> {
            self.inner.claim_leadership().await
        }
    }

    /// Each event stream reads the journal a few envelopes at a time, so that what each of
    /// many streams holds stays small (the journal's usual 1,024 decoded envelopes, for 256
    /// clients catching up, took the scheduler from 90 MB to 500 MB); and it reads alike.
    #[tokio::test]
    async fn event_streams_read_the_journal_in_small_chunks() {
        let journal = Arc::new(Chunks {
            inner: journal_of_eleven_events().await,
            asked: std::sync::Mutex::new(Vec::new()),
        });
        let app = router(Arc::clone(&journal) as Arc<dyn Journal>);
        let response = open(&app, "/api/v1/events/stream?after=3").await;
        assert_eq!(response.status(), StatusCode::OK);
        let mut body = response.into_body().into_data_stream();
        let mut text = String::new();
        while !text.contains("id: 11\n") {
            let chunk = tokio::time::timeout(Duration::from_secs(10), body.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            text.push_str(std::str::from_utf8(&chunk).unwrap());
        }
        let ids: Vec<&str> = text.lines().filter(|l| l.starts_with("id: ")).collect();
        assert_eq!(
            ids,
            (4..=11).map(|s| format!("id: {s}")).collect::<Vec<_>>()
        );
        assert_eq!(*journal.asked.lock().unwrap(), [STREAM_CHUNK]);
    }

    #[tokio::test]
    async fn verify_names_the_first_record_that_does_not_read() {
        let inner = journal_of_eleven_events().await;
        let app = router(Arc::new(Damaged {
            inner,
            bad: 7,
            altered: 0,
        }));
        let (_, body) = get_json(app, "/api/v1/journal/verify").await;
        assert_eq!(body["sound_through"], 6, "{body}");
        assert_eq!(body["problem"]["seq"], 7, "{body}");
        assert!(
            body["problem"]["problem"]
                .as_str()
                .unwrap()
                .contains("checksum"),
            "{body}"
        );
    }

    /// One GET, answered.
    async fn open(app: &Router, uri: &str) -> axum::response::Response {
        app.clone()
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    /// Past the cap, an event stream is the API's JSON 503; a stream dropped frees its slot.
    #[tokio::test]
    async fn event_streams_past_the_cap_are_a_json_503() {
        let journal = MemoryJournal::new_initialised("devcluster", SystemClock.now());
        let app = router_with(Arc::new(journal), StreamSlots::new(2));
        let first = open(&app, "/api/v1/events/stream").await;
        let second = open(&app, "/api/v1/events/stream?after=1").await;
        assert_eq!(
            (first.status(), second.status()),
            (StatusCode::OK, StatusCode::OK)
        );

        let refused = open(&app, "/api/v1/events/stream").await;
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            refused.headers()[axum::http::header::CONTENT_TYPE],
            "application/json"
        );
        let body = axum::body::to_bytes(refused.into_body(), 1 << 20)
            .await
            .unwrap();
        let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(error["code"], "ERROR_TRANSIENT", "{error}");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("maximum of 2 clients"),
            "{error}"
        );

        drop(first);
        assert_eq!(
            open(&app, "/api/v1/events/stream").await.status(),
            StatusCode::OK
        );
    }

    /// Over a real connection: a client that stops reading is closed once nothing has gone out
    /// to it for the server's write-stall timeout, and its slot is free again, while a client
    /// that reads goes on receiving the events committed since.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_client_that_stops_reading_is_dropped_and_a_reading_one_is_not() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let journal = Arc::new(MemoryJournal::new_initialised(
            "devcluster",
            SystemClock.now(),
        ));
        // Enough to fill the stalled client's window and every buffer on the way.
        let markers = (0..20_000)
            .map(|n| aurora_journal::conformance::marker(1, n))
            .collect();
        aurora_journal::conformance::append(&*journal, markers)
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let limits = aurora_net::Limits {
            write_stall_timeout: Duration::from_millis(500),
            ..aurora_net::Limits::default()
        };
        let app = router_with(
            Arc::clone(&journal) as Arc<dyn Journal>,
            StreamSlots::new(2),
        );
        tokio::spawn(aurora_net::serve(
            listener,
            app,
            limits,
            None,
            std::future::pending(),
        ));
        let request = b"GET /api/v1/events/stream HTTP/1.1\r\nhost: x\r\n\r\n";
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut stalled = socket.connect(addr).await.unwrap();
        stalled.write_all(request).await.unwrap();
        let mut reading = tokio::net::TcpStream::connect(addr).await.unwrap();
        reading.write_all(request).await.unwrap();
        // Both are answered (each holds a slot) before anyone else asks; the stalled client
        // reads its status line and nothing more.
        for client in [&mut stalled, &mut reading] {
            let mut status_line = vec![0; 12];
            client.read_exact(&mut status_line).await.unwrap();
            assert_eq!(status_line, b"HTTP/1.1 200");
        }

        // The reader reads all along; both slots are taken until the stalled client is dropped.
        let received = Arc::new(std::sync::Mutex::new(Vec::new()));
        let reader = tokio::spawn({
            let received = Arc::clone(&received);
            async move {
                let mut buffer = vec![0; 64 * 1024];
                loop {
                    let n = reading.read(&mut buffer).await.unwrap();
                    assert!(n > 0, "the reading client was closed");
                    received.lock().unwrap().extend_from_slice(&buffer[..n]);
                }
            }
        });
        let another_stream = || async {
            let mut another = tokio::net::TcpStream::connect(addr).await.unwrap();
            another.write_all(request).await.unwrap();
            let mut status_line = vec![0; 12];
            another.read_exact(&mut status_line).await.unwrap();
            (String::from_utf8(status_line).unwrap(), another)
        };
        let (status, _refused) = another_stream().await;
        assert_eq!(status, "HTTP/1.1 503", "both slots are taken");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let _third = loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the stalled client still holds its slot"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
            match another_stream().await {
                (status, third) if status == "HTTP/1.1 200" => break third,
                _ => {}
            }
        };
        assert!(!reader.is_finished(), "the reading client is served still");

        // The reader gets what is committed from now on.
        let last = aurora_journal::conformance::append(
            &*journal,
            vec![aurora_journal::conformance::marker(2, 7)],
        )
        .await
        .unwrap()
        .last;
        let wanted = format!("id: {last}\n");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !String::from_utf8_lossy(&received.lock().unwrap()).contains(&wanted) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the reading client did not get seq {last}"
            );
            assert!(!reader.is_finished(), "the reading client was closed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        reader.abort();
        drop(stalled);
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
