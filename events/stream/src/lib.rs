//! # aurora-stream
//!
//! The journal's exact mirror on NATS JetStream, and the ways to read it back. This crate is
//! the only one that speaks NATS; the journal stays the truth, the stream is fan-out.
//!
//! - [`subject`]: the cluster's stream (`AURORA_<cluster>`) and each event's subject,
//!   `aurora.<cluster>.<aggregate>.<role>.<env>.<job>`, so consumers filter by job or kind.
//! - [`wire`]: the versioned JSON payload (format 1) every message carries.
//! - [`mirror`]: the leader's publisher. Stream sequence == journal seq, with no gap and no
//!   duplicate across publisher, leader and NATS restarts (`Nats-Msg-Id` = `<cluster>:<seq>`
//!   and an expected last sequence on every message); the journal never waits for it.
//! - [`read`]: reading from a seq on, filtered, to the end or following live messages.
//! - [`verify`]: comparing the stream with the journal, naming the first differing seq.
//!
//! Works against nats-server 2.9 or newer (Debian bookworm's): it uses publish headers,
//! stream info, direct message gets and ordered push consumers with one filter subject.

pub mod mirror;
pub mod read;
pub mod subject;
#[cfg(feature = "testing")]
pub mod testing;
pub mod verify;
pub mod wire;

pub use mirror::{MirrorConfig, MirrorStatus, Source, servers};
pub use read::{Reader, StreamEntry, Until};
pub use subject::SubjectFilter;
pub use verify::{Difference, Verdict};

/// What went wrong talking to NATS or reading the stream.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "{url:?} is not a NATS server URL (nats://HOST:PORT, comma-separated for several): {reason}"
    )]
    BadUrl { url: String, reason: String },
    #[error("cannot connect to NATS at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("JetStream: {0}")]
    JetStream(String),
    #[error(
        "there is no stream {stream} (has the scheduler's mirror run? `aurora-scheduler --nats URL`): {reason}"
    )]
    NoStream { stream: String, reason: String },
    #[error("stream {stream} is not this cluster's mirror: {problem}")]
    ForeignStream { stream: String, problem: String },
    #[error(
        "seq {seq} is {size} bytes in the stream's format, more than the NATS server takes in \
         one message (max_payload {max}): raise max_payload in nats-server's configuration \
         (up to 64 MB); the mirror waits at this seq until then"
    )]
    TooLarge {
        seq: aurora_events::Seq,
        size: usize,
        max: usize,
    },
    #[error("publishing seq {seq}: {reason}")]
    Publish {
        seq: aurora_events::Seq,
        reason: String,
    },
    #[error("the stream's message {seq} does not decode: {reason}")]
    Undecodable {
        seq: aurora_events::Seq,
        reason: String,
    },
    #[error("the stream's message {stream_seq} holds the event of seq {event_seq}")]
    Misplaced {
        stream_seq: aurora_events::Seq,
        event_seq: aurora_events::Seq,
    },
    #[error("reading the journal: {0}")]
    Source(String),
}

impl Error {
    fn jetstream(error: impl std::fmt::Display) -> Self {
        Error::JetStream(error.to_string())
    }
}
