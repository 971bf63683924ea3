//! The journal's read endpoints (`/api/v1/journal`, `/journal/head`, `/journal/seq`,
//! `/api/v1/events`), served alike by the scheduler (from its journal) and by the standalone
//! read side (from what it folded off the stream), so that `aurora events tail` and
//! `aurora-admin journal` read either.

use aurora_events::{ChainHash, Envelope, Seq};
use serde::{Deserialize, Serialize};

/// `GET /api/v1/journal`: whose journal, and how far it goes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JournalInfo {
    pub cluster: String,
    /// The last committed seq (the read side: the last seq it folded).
    pub last_seq: Seq,
    /// The read side only: the stream's last seq when NATS was last reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_last_seq: Option<Seq>,
    /// The read side only: why its views are stale (a hole in the stream, NATS out of
    /// reach), if they are; what its `/health` says with its 503.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// `GET /api/v1/journal/head`: the last seq and its chain hash, for an outside auditor to
/// pin: a later `journal verify` whose chain passes through this seq with another hash means
/// the history before it was rewritten.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JournalHead {
    pub cluster: String,
    pub seq: Seq,
    pub hash: ChainHash,
    /// Whether that envelope is linked to the one before it (false only on journals written
    /// before the chain existed, until their first new event).
    pub linked: bool,
}

/// `GET /api/v1/journal/seq?at_ms=MILLIS`: where the journal stood at an instant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeqAt {
    pub at_ms: i64,
    /// The last seq committed at or before `at_ms` (0: none was).
    pub seq: Seq,
}

/// `GET /api/v1/events?from=SEQ&limit=N`: a page of envelopes, and how far the journal goes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventsPage {
    pub last_seq: Seq,
    pub events: Vec<Envelope>,
}
