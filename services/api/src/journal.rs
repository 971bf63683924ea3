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

/// Most events one `/api/v1/events` call returns.
pub const MAX_EVENTS_PER_PAGE: u64 = 1000;

/// `GET /api/v1/events?from=SEQ&limit=N`: from `from` (default 1), at most `limit` (default
/// 100, at most [`MAX_EVENTS_PER_PAGE`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EventsQuery {
    pub from: Option<Seq>,
    pub limit: Option<u64>,
}

impl EventsQuery {
    /// The seqs asked for, `(first, last)` (`last` may lie past the journal's end), or what is
    /// wrong with the query.
    pub fn seqs(&self) -> Result<(Seq, Seq), String> {
        let from = first_seq(self.from)?;
        let limit = self.limit.unwrap_or(100);
        if limit == 0 || limit > MAX_EVENTS_PER_PAGE {
            return Err(format!(
                "limit must be between 1 and {MAX_EVENTS_PER_PAGE}, not {limit}"
            ));
        }
        Ok((from, from.saturating_add(limit - 1)))
    }
}

/// A `from=SEQ` (default 1), or what is wrong with it.
pub fn first_seq(from: Option<Seq>) -> Result<Seq, String> {
    match from.unwrap_or(1) {
        0 => Err("from must be at least 1 (seqs start at 1)".into()),
        from => Ok(from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_events_query_names_its_seqs_or_what_is_wrong() {
        let query = |from, limit| EventsQuery { from, limit }.seqs();
        assert_eq!(query(None, None), Ok((1, 100)));
        assert_eq!(query(Some(7), Some(3)), Ok((7, 9)));
        assert_eq!(query(Some(u64::MAX), Some(1000)), Ok((u64::MAX, u64::MAX)));
        assert!(query(Some(0), None).unwrap_err().contains("at least 1"));
        assert!(
            query(None, Some(0))
                .unwrap_err()
                .contains("between 1 and 1000")
        );
        assert!(query(None, Some(1001)).unwrap_err().contains("not 1001"));
    }
}
