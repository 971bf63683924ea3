//! The publisher that keeps a cluster's stream an exact copy of its journal.
//!
//! ```text
//!  (re)start: get or create the stream ─► last = its last sequence
//!             ─► check the message at `last` is this journal's seq `last` (same event id)
//!  follow the journal from last+1 ─► publish seq s with Nats-Msg-Id <cluster>:<s> and
//!             Nats-Expected-Last-Sequence s-1, up to `in_flight` unacknowledged; an
//!             acknowledgement is asked for every `ack_every`th message and for the last one
//!             the journal has ready, the others are plain publishes
//!  every ack must say stream sequence s ─► `published` = s (and every seq before it)
//!  any failure (NATS down, a rejected expectation, a timeout) ─► drop what is in flight,
//!             back off, start again from the stream's last sequence
//! ```
//!
//! JetStream stores a message only when the stream's last sequence is the one expected, so
//! message `s` can only ever land at stream sequence `s`: no gap and no duplicate, whoever
//! publishes and however often the publisher, the leader or the NATS server restarts (two
//! publishers — a deposed leader not yet stopped and its successor — publish the same
//! envelopes and one of each pair is refused). The journal never waits for the mirror: the
//! publisher reads committed envelopes on its own, and its lag is `journal last - published`.
//!
//! Because message `s` is stored only right after `s - 1`, an acknowledged `s` vouches for
//! every message before it: most messages need no acknowledgement of their own (each one
//! costs JetStream a reply and the client a subscription slot, which bounded the mirror's
//! rate). A plain publish that JetStream refused or lost makes the next acknowledged one fail
//! its expectation, and the publisher starts again from the stream's last sequence.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage, stream};
use aurora_events::{Envelope, Seq};
use futures::future::BoxFuture;
use futures::stream::{BoxStream, FuturesOrdered, StreamExt};

use crate::{Error, subject, wire};

/// Where the mirror reads committed envelopes: the journal, seen through what a publisher
/// needs (so that this crate does not depend on the journal's crate).
pub trait Source: Send + Sync + 'static {
    /// Committed envelopes from `from` on, in order, without end (waiting for new commits).
    fn follow(&self, from: Seq) -> BoxStream<'static, Result<Envelope, String>>;
    /// The committed envelope at `seq`, if the journal holds it.
    fn envelope(&self, seq: Seq) -> BoxFuture<'static, Result<Option<Envelope>, String>>;
    /// The last committed seq.
    fn last_seq(&self) -> Seq;
}

/// How the mirror runs.
#[derive(Debug, Clone)]
pub struct MirrorConfig {
    /// The NATS server(s), e.g. `nats://127.0.0.1:4222` (comma-separated for several; see
    /// [`servers`]).
    pub url: String,
    pub cluster: String,
    /// Messages published and not yet acknowledged, at most.
    pub in_flight: usize,
    /// One message in this many asks JetStream for an acknowledgement (and so does the last
    /// one the journal has ready); 1 asks for every one.
    pub ack_every: u64,
    /// Longest wait between two attempts after a failure.
    pub max_backoff: Duration,
}

impl MirrorConfig {
    pub fn new(url: impl Into<String>, cluster: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            cluster: cluster.into(),
            in_flight: 1024,
            ack_every: 64,
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// What the mirror has done so far; read by the scheduler's metrics.
#[derive(Debug, Default)]
pub struct MirrorStatus {
    published: AtomicU64,
    healthy: AtomicBool,
    restarts: AtomicU64,
    /// A seq the NATS server refuses for its size (0: none), until it is published.
    blocked: AtomicU64,
}

impl MirrorStatus {
    /// The last seq the stream is known to hold (acknowledged by JetStream).
    pub fn published(&self) -> Seq {
        self.published.load(Ordering::Acquire)
    }

    /// Whether the last attempt is still going (connected, stream checked, publishing) and
    /// not held at an event the server refuses for its size.
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire) && self.blocked() == 0
    }

    /// The seq the mirror cannot publish because the NATS server refuses a message that
    /// large, if it is held at one.
    pub fn blocked(&self) -> Seq {
        self.blocked.load(Ordering::Acquire)
    }

    /// How many times the publisher started again after a failure.
    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Acquire)
    }
}

/// The stream's configuration for cluster `cluster`: file storage, everything kept, the
/// cluster's subjects only.
pub fn stream_config(cluster: &str) -> stream::Config {
    stream::Config {
        name: subject::stream_name(cluster),
        description: Some(format!(
            "aurora cluster {cluster}: every journal event, stream sequence = journal seq"
        )),
        subjects: vec![subject::stream_subjects(cluster)],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        discard: stream::DiscardPolicy::New,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    }
}

/// The servers `url` names: one NATS URL, or several comma-separated (`nats://` is assumed
/// when no scheme is given, port 4222 when no port). Checked before anything starts, so a
/// typo is an error at once rather than a mirror that never runs.
pub fn servers(url: &str) -> Result<Vec<async_nats::ServerAddr>, Error> {
    let bad = |reason: String| Error::BadUrl {
        url: url.to_string(),
        reason,
    };
    let servers = url
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.parse::<async_nats::ServerAddr>()
                .map_err(|e| bad(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if servers.is_empty() {
        return Err(bad("it names no server".into()));
    }
    Ok(servers)
}

/// Connects to NATS; the client keeps reconnecting on its own after this.
pub async fn connect(url: &str) -> Result<async_nats::Client, Error> {
    async_nats::ConnectOptions::new()
        .name("aurora")
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(2))
        .connect(servers(url)?)
        .await
        .map_err(|e| Error::Connect {
            url: url.to_string(),
            reason: e.to_string(),
        })
}

/// Mirrors `source` into the cluster's stream until the source ends (the process stops) or
/// the task is dropped. Never returns an error: failures are logged, counted and retried.
pub async fn run(config: MirrorConfig, source: Arc<dyn Source>, status: Arc<MirrorStatus>) {
    let client = match connect(&config.url).await {
        Ok(client) => client,
        Err(e) => {
            // Only an invalid URL gets here (retry_on_initial_connect waits for a server).
            tracing::error!(error = %e, "the stream mirror cannot start");
            return;
        }
    };
    let context = jetstream::new(client);
    let mut backoff = Duration::from_millis(100);
    loop {
        let before = status.published();
        match mirror_once(&config, &context, &*source, &status).await {
            Ok(()) => {
                status.healthy.store(false, Ordering::Release);
                return;
            }
            Err(e) => {
                status.healthy.store(false, Ordering::Release);
                status.restarts.fetch_add(1, Ordering::AcqRel);
                if status.published() > before {
                    backoff = Duration::from_millis(100);
                }
                if let Error::TooLarge { seq, .. } = &e {
                    // Retried like any failure (the server's limit may be raised meanwhile),
                    // but reported unhealthy until it goes through: the stream stops here.
                    if status.blocked.swap(*seq, Ordering::AcqRel) != *seq {
                        tracing::error!(error = %e, "the stream mirror cannot publish an event");
                    }
                }
                tracing::warn!(
                    error = %e,
                    published = status.published(),
                    retry_in_ms = backoff.as_millis() as u64,
                    "the stream mirror stopped; starting again from the stream's last sequence"
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(config.max_backoff);
            }
        }
    }
}

/// One attempt: check the stream, then publish until something fails.
async fn mirror_once(
    config: &MirrorConfig,
    context: &jetstream::Context,
    source: &dyn Source,
    status: &MirrorStatus,
) -> Result<(), Error> {
    let cluster = config.cluster.as_str();
    let stream = context
        .get_or_create_stream(stream_config(cluster))
        .await
        .map_err(Error::jetstream)?;
    // Fetched by the get or create just now.
    let info = stream.cached_info();
    let expected = subject::stream_subjects(cluster);
    if info.config.subjects != [expected.clone()] {
        return Err(Error::ForeignStream {
            stream: info.config.name.clone(),
            problem: format!("it captures {:?}, not {expected:?}", info.config.subjects),
        });
    }
    let last = info.state.last_sequence;
    check_last_message(cluster, &stream, source, last).await?;
    status.published.store(last, Ordering::Release);
    status.healthy.store(true, Ordering::Release);
    tracing::info!(stream = %info.config.name, last, "the stream mirror resumes");

    let mut envelopes = source.follow(last + 1).peekable();
    let mut acks = FuturesOrdered::new();
    let mut next = last + 1;
    // The last seq acknowledged, and how many plain publishes since the last ask.
    let mut acknowledged = last;
    let mut unasked = 0;
    let in_flight = config.in_flight.max(1) as u64;
    // The server's limit on one message, read once per attempt (not per message: the server
    // info is cloned on each read); a server restarted with another limit ends the attempt.
    let max_payload = context.client().server_info().max_payload;
    loop {
        tokio::select! {
            biased;
            Some((seq, ack)) = acks.next(), if !acks.is_empty() => {
                let ack: Result<jetstream::publish::PublishAck, jetstream::context::PublishError> = ack;
                let ack = ack.map_err(|e| Error::Publish { seq, reason: e.to_string() })?;
                if ack.sequence != seq {
                    return Err(Error::Publish {
                        seq,
                        reason: format!("JetStream stored it at stream sequence {}", ack.sequence),
                    });
                }
                acknowledged = seq;
                status.published.store(seq, Ordering::Release);
                if status.blocked() != 0 && status.blocked() <= seq {
                    status.blocked.store(0, Ordering::Release);
                }
            }
            envelope = envelopes.next(), if next - 1 - acknowledged < in_flight => {
                let Some(envelope) = envelope else {
                    // The journal is closing: wait for what is in flight, then stop.
                    while let Some((seq, ack)) = acks.next().await {
                        if let Ok(ack) = ack
                            && ack.sequence == seq
                        {
                            status.published.store(seq, Ordering::Release);
                        }
                    }
                    return Ok(());
                };
                let envelope = envelope.map_err(Error::Source)?;
                if envelope.seq != next {
                    return Err(Error::Source(format!(
                        "the journal gave seq {} where {next} was due",
                        envelope.seq
                    )));
                }
                next += 1;
                let seq = envelope.seq;
                let subject = subject::subject(cluster, &envelope.event);
                let payload = wire::encode(cluster, &envelope);
                // The server closes the connection on a message over its limit (and the
                // publisher would try it again forever without saying why).
                if max_payload > 0 && payload.len() > max_payload {
                    return Err(Error::TooLarge { seq, size: payload.len(), max: max_payload });
                }
                // Asked for every `ack_every`th message, where the window would otherwise fill
                // without one, and where nothing else is ready to go (so that at a light load
                // every message is acknowledged at once).
                let nothing_ready = futures::FutureExt::now_or_never(
                    std::pin::Pin::new(&mut envelopes).peek(),
                )
                .is_none();
                unasked += 1;
                if nothing_ready
                    || unasked >= config.ack_every.max(1)
                    || next - 1 - acknowledged >= in_flight
                {
                    unasked = 0;
                    let message = PublishMessage::build()
                        .payload(payload.into())
                        .message_id(wire::message_id(cluster, seq))
                        .expected_last_sequence(seq - 1);
                    let ack = context
                        .send_publish(subject, message)
                        .await
                        .map_err(|e| Error::Publish { seq, reason: e.to_string() })?;
                    acks.push_back(async move { (seq, ack.await) });
                } else {
                    let mut headers = async_nats::HeaderMap::new();
                    headers.insert(
                        async_nats::header::NATS_MESSAGE_ID,
                        wire::message_id(cluster, seq).as_str(),
                    );
                    headers.insert(
                        async_nats::header::NATS_EXPECTED_LAST_SEQUENCE,
                        (seq - 1).to_string().as_str(),
                    );
                    context
                        .client()
                        .publish_with_headers(subject, headers, payload.into())
                        .await
                        .map_err(|e| Error::Publish { seq, reason: e.to_string() })?;
                }
            }
        }
    }
}

/// The stream's last message must be this journal's: its id header names the seq, and its
/// envelope has the journal's event id there (a cluster initialised again under the same name
/// has other ids). A stream ahead of the journal is refused too.
async fn check_last_message(
    cluster: &str,
    stream: &stream::Stream,
    source: &dyn Source,
    last: Seq,
) -> Result<(), Error> {
    if last == 0 {
        return Ok(());
    }
    let foreign = |problem: String| Error::ForeignStream {
        stream: subject::stream_name(cluster),
        problem,
    };
    let message = stream
        .get_raw_message(last)
        .await
        .map_err(Error::jetstream)?;
    let id = message
        .headers
        .get(async_nats::header::NATS_MESSAGE_ID)
        .map(|v| v.as_str().to_string())
        .unwrap_or_default();
    if id != wire::message_id(cluster, last) {
        return Err(foreign(format!(
            "its message {last} has id {id:?}, not {:?}",
            wire::message_id(cluster, last)
        )));
    }
    let decoded =
        wire::decode(&message.payload).map_err(|e| foreign(format!("message {last}: {e}")))?;
    match source.envelope(last).await.map_err(Error::Source)? {
        Some(ours) if ours.id == decoded.envelope.id => Ok(()),
        Some(ours) => Err(foreign(format!(
            "its message {last} is event {}, but the journal's seq {last} is event {}",
            decoded.envelope.id, ours.id
        ))),
        None => Err(foreign(format!(
            "it holds {last} messages, more than the journal's {} events",
            source.last_seq()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::servers;

    #[test]
    fn server_urls_are_checked_before_anything_starts() {
        assert_eq!(servers("nats://127.0.0.1:4222").unwrap().len(), 1);
        assert_eq!(servers("nats://a:4222, nats://b:4222,").unwrap().len(), 2);
        assert_eq!(servers("localhost").unwrap().len(), 1, "nats:// is assumed");
        for bad in ["", " , ", "http://a:4222", "nats://a:notaport"] {
            let error = servers(bad).unwrap_err().to_string();
            assert!(error.contains("is not a NATS server URL"), "{bad}: {error}");
        }
    }
}
