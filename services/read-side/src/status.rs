//! How fresh the read side's views are, and what it answers on `/health` and in every page's
//! "served by" note because of it.
//!
//! Two things make the views stale while the process itself is fine, and a load balancer or
//! an operator must hear of both (a plain liveness `OK` hid them):
//!
//! - a hole in the stream (a message deleted from it): the views fold in seq order, so the
//!   follower stops before the hole and applies nothing past it ([`Freshness::stalled`]);
//! - NATS out of reach for longer than [`GRACE`] (the watcher below polls the stream).
//!
//! Either one turns `/health` into a 503 whose body says what is wrong, since when and what to
//! do; the note at the top of every page says the same in a line.
//!
//! A process that has just started is not ready either: until it has folded the stream as far
//! as it reached when NATS first answered, its pages show an older cluster (an empty one at
//! first), and a load balancer must not send users there. `/health` answers 503 "CATCHING UP"
//! until then; a lag afterwards is normal operation, shown on the pages, not a failure.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aurora_events::{Seq, Timestamp};
use aurora_projections::{ReadModel, ServedBy};
use aurora_stream::Reader;
use axum::extract::{self, Request};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// How long NATS may be out of reach before the views count as stale: a server restart or a
/// reconnect takes a few seconds and is no news for the operator.
pub const GRACE: Duration = Duration::from_secs(5);

/// How often the watcher asks the stream for its extent (and so notices NATS going away).
const POLL: Duration = Duration::from_secs(1);

/// How long one poll may take before it counts as a failure to reach NATS: the client queues
/// requests while disconnected rather than failing them.
const POLL_TIMEOUT: Duration = Duration::from_secs(2);

/// The read side's freshness, shared by the follower, the watcher and the handlers.
#[derive(Debug)]
pub struct Freshness {
    cluster: String,
    stream: String,
    nats: String,
    read: Arc<ReadModel>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    hole: Option<Hole>,
    outage: Option<Outage>,
    /// The stream's last seq when NATS was last reached.
    stream_last: Option<Seq>,
    /// What to fold before serving (the stream's last seq when NATS first answered), until
    /// it is folded; then `None` for good.
    catching_up: CatchingUp,
}

/// Where the process is in folding the stream it found at start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum CatchingUp {
    /// NATS has not answered yet: how far the stream goes is not known.
    #[default]
    Unknown,
    /// The stream ended at this seq when NATS first answered.
    To(Seq),
    /// That far has been folded once.
    Done,
}

/// A seq missing from the stream, with the message that follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hole {
    missing: Seq,
    next: Seq,
}

/// NATS out of reach since `since` (the first failed poll in a row).
#[derive(Debug)]
struct Outage {
    since: Instant,
    at: Timestamp,
    error: String,
    /// Logged already (once past the grace).
    reported: bool,
}

fn now() -> Timestamp {
    Timestamp::from_millis(jiff::Timestamp::now().as_millisecond())
}

impl Freshness {
    pub fn new(cluster: &str, nats: &str, read: Arc<ReadModel>) -> Self {
        Self {
            cluster: cluster.to_string(),
            stream: aurora_stream::subject::stream_name(cluster),
            nats: nats.to_string(),
            read,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a few plain fields, each written whole: a panic elsewhere leaves them
        // consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The follower found `missing` absent from the stream, whose next message is `next`.
    /// Logs the hole the first time it is seen (the follower looks again now and then).
    pub fn stalled(&self, missing: Seq, next: Seq) {
        let hole = Hole { missing, next };
        let mut state = self.state();
        if state.hole == Some(hole) {
            return;
        }
        state.hole = Some(hole);
        drop(state);
        tracing::error!(
            stream = %self.stream,
            missing,
            next,
            stalled_at = missing - 1,
            "{}",
            self.hole_text(hole)
        );
    }

    /// The follower folded events again: a hole it had found is filled (the stream was
    /// mirrored again, say).
    pub fn progressed(&self) {
        if let Some(hole) = self.state().hole.take() {
            tracing::info!(
                stream = %self.stream,
                missing = hole.missing,
                folded = self.read.last_seq(),
                "seq {} is in the stream again; folding resumed",
                hole.missing
            );
        }
    }

    /// The watcher reached NATS: the stream ends at `last`.
    fn reached(&self, last: Seq) {
        let mut state = self.state();
        state.stream_last = Some(last);
        if state.catching_up == CatchingUp::Unknown {
            state.catching_up = CatchingUp::To(last);
        }
        if let Some(outage) = state.outage.take()
            && outage.reported
        {
            tracing::info!(
                nats = %self.nats,
                down_for = ?outage.since.elapsed(),
                "NATS is reachable again; following the stream"
            );
        }
    }

    /// The watcher could not reach NATS.
    fn unreachable(&self, error: String) {
        let mut state = self.state();
        let outage = state.outage.get_or_insert_with(|| Outage {
            since: Instant::now(),
            at: now(),
            error: String::new(),
            reported: false,
        });
        outage.error = error;
        if !outage.reported && outage.since.elapsed() >= GRACE {
            outage.reported = true;
            tracing::error!(
                nats = %self.nats,
                since = %outage.at.to_utc_string(),
                error = %outage.error,
                folded = self.read.last_seq(),
                "cannot reach NATS: the views are stale; /health answers 503 until it is back"
            );
        }
    }

    fn hole_text(&self, hole: Hole) -> String {
        format!(
            "seq {missing} is missing from stream {stream} (its next message is seq {next}): \
             the read side is stalled at seq {stalled} and applies nothing past it, as the views \
             fold in seq order. Compare the stream with the journal \
             (`aurora-admin journal verify {cluster} --against-stream`), then mirror the stream \
             again (delete it; the leader's mirror publishes it again from seq 1); aurora-web \
             resumes by itself once seq {missing} is there",
            missing = hole.missing,
            next = hole.next,
            stalled = hole.missing - 1,
            stream = self.stream,
            cluster = self.cluster,
        )
    }

    /// What makes the views stale, if anything: a hole first (it does not go away by itself),
    /// then NATS out of reach past the grace, then the stream found at start not folded yet.
    pub fn problem(&self) -> Option<String> {
        let mut state = self.state();
        if let Some(hole) = state.hole {
            return Some(format!("STALLED: {}", self.hole_text(hole)));
        }
        if let Some(outage) = self.outage_text(&state) {
            return Some(outage);
        }
        let folded = self.read.last_seq();
        match state.catching_up {
            CatchingUp::Done => None,
            CatchingUp::To(target) if folded >= target => {
                state.catching_up = CatchingUp::Done;
                drop(state);
                tracing::info!(
                    stream = %self.stream,
                    folded,
                    "caught up with the stream found at start; /health answers OK"
                );
                None
            }
            CatchingUp::To(target) => Some(format!(
                "CATCHING UP: folding stream {} from the start; at seq {folded} of the {target} \
                 it held when this process started. Until then the pages show the cluster as \
                 it was at seq {folded}",
                self.stream
            )),
            CatchingUp::Unknown => Some(format!(
                "STARTING: NATS at {} has not answered yet, so how far stream {} goes is not \
                 known; the views are at seq {folded}",
                self.nats, self.stream
            )),
        }
    }

    /// NATS out of reach past the grace, said for `/health`.
    fn outage_text(&self, state: &State) -> Option<String> {
        let outage = state
            .outage
            .as_ref()
            .filter(|o| o.since.elapsed() >= GRACE)?;
        let folded = self.read.last_seq();
        let behind = match state.stream_last {
            Some(last) if last > folded => format!(
                "; {} events behind the stream as it was when last reached (seq {last})",
                last - folded
            ),
            _ => String::new(),
        };
        Some(format!(
            "STALE: cannot reach NATS at {} since {} ({} s): {}. The views are at seq {folded}{behind}",
            self.nats,
            outage.at.to_utc_string(),
            outage.since.elapsed().as_secs(),
            outage.error
        ))
    }

    /// The stream's last seq when NATS was last reached.
    pub fn stream_last(&self) -> Option<Seq> {
        self.state().stream_last
    }
}

impl ServedBy for Freshness {
    fn served_by(&self) -> String {
        let folded = self.read.last_seq();
        let state = self.state();
        if let Some(hole) = state.hole {
            return format!(
                "served by aurora-web from stream {}: stalled at seq {}, seq {} is missing from \
                 the stream (see /health)",
                self.stream,
                hole.missing - 1,
                hole.missing
            );
        }
        let behind = state
            .stream_last
            .filter(|last| *last > folded)
            .map(|last| format!(", {} behind the stream", last - folded))
            .unwrap_or_default();
        match state.outage.as_ref().filter(|o| o.since.elapsed() >= GRACE) {
            Some(outage) => format!(
                "served by aurora-web from stream {}: stale since {}, NATS is out of reach; at \
                 seq {folded}{behind}",
                self.stream,
                outage.at.to_utc_string()
            ),
            // Caught up and in touch: nothing to warn of, and the page is the scheduler's.
            None if behind.is_empty() => String::new(),
            None => format!(
                "served by aurora-web from stream {}, at seq {folded}{behind}",
                self.stream
            ),
        }
    }
}

/// Polls the stream's extent forever, so that NATS going away is noticed even while the
/// follower waits quietly for live messages (its reader retries on its own, silently).
pub async fn watch(reader: Reader, freshness: Arc<Freshness>) {
    loop {
        match tokio::time::timeout(POLL_TIMEOUT, reader.extent()).await {
            Ok(Ok((last, _))) => freshness.reached(last),
            Ok(Err(error)) => freshness.unreachable(error.to_string()),
            Err(_) => freshness.unreachable(format!("no answer within {POLL_TIMEOUT:?}")),
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `/health` for the read side: `OK` while the views follow the stream, else a 503 saying
/// why. It answers in front of the web library's liveness-only `/health`.
pub async fn health(
    extract::State(freshness): extract::State<Arc<Freshness>>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path() != "/health" || !matches!(*request.method(), Method::GET | Method::HEAD)
    {
        return next.run(request).await;
    }
    match freshness.problem() {
        None => "OK".into_response(),
        Some(problem) => (StatusCode::SERVICE_UNAVAILABLE, problem).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aurora_projections::HistoryConfig;

    fn freshness() -> Freshness {
        Freshness::new(
            "c",
            "nats://x:4222",
            Arc::new(ReadModel::in_memory(HistoryConfig::default())),
        )
    }

    /// A process that found an empty stream at start, so has nothing to catch up with.
    fn started_on_an_empty_stream() -> Freshness {
        let f = freshness();
        f.reached(0);
        assert_eq!(f.problem(), None);
        f
    }

    #[test]
    fn a_new_process_is_not_ready_until_it_folded_the_stream_found_at_start() {
        let f = freshness();
        let problem = f.problem().unwrap();
        assert!(
            problem.starts_with("STARTING: NATS at nats://x:4222"),
            "{problem}"
        );
        f.reached(3);
        let problem = f.problem().unwrap();
        assert!(
            problem.starts_with("CATCHING UP: folding stream")
                && problem.contains("at seq 0 of the 3"),
            "{problem}"
        );
        let quota = |seq| {
            aurora_events::samples::envelope(
                seq,
                aurora_events::Event::QuotaSet {
                    role: aurora_events::Identifier::new("www").unwrap(),
                    quota: Default::default(),
                },
            )
        };
        f.read.apply(&[quota(1), quota(2)]);
        let problem = f.problem().unwrap();
        assert!(problem.contains("at seq 2 of the 3"), "{problem}");
        f.read.apply(&[quota(3)]);
        assert_eq!(f.problem(), None);
        // Once caught up, falling behind again is normal operation (shown on the pages).
        f.reached(50);
        assert_eq!(f.problem(), None);
        assert!(
            f.served_by().contains("47 behind the stream"),
            "{}",
            f.served_by()
        );
    }

    #[test]
    fn a_hole_is_a_problem_until_folding_resumes() {
        let f = started_on_an_empty_stream();
        f.stalled(10, 11);
        let problem = f.problem().unwrap();
        assert!(problem.contains("seq 10 is missing"), "{problem}");
        assert!(problem.contains("stalled at seq 9"), "{problem}");
        assert!(
            problem.contains("aurora-admin journal verify c --against-stream"),
            "{problem}"
        );
        assert!(
            f.served_by().contains("stalled at seq 9"),
            "{}",
            f.served_by()
        );
        f.progressed();
        assert_eq!(f.problem(), None);
    }

    #[test]
    fn an_outage_counts_only_past_the_grace() {
        let f = started_on_an_empty_stream();
        f.reached(40);
        assert!(
            f.served_by().contains("40 behind the stream"),
            "{}",
            f.served_by()
        );
        f.unreachable("connection refused".into());
        assert_eq!(f.problem(), None, "within the grace");
        if let Some(outage) = f.state().outage.as_mut() {
            outage.since -= GRACE;
        }
        let problem = f.problem().unwrap();
        assert!(problem.starts_with("STALE: cannot reach NATS"), "{problem}");
        assert!(problem.contains("40 events behind"), "{problem}");
        assert!(f.served_by().contains("stale since"), "{}", f.served_by());
        f.reached(41);
        assert_eq!(f.problem(), None);
    }
}
