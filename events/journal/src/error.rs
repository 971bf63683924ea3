//! The journal's errors, each with what a caller should do about it ([`Error::recovery`]):
//! fix the call, retry (perhaps after deciding again), redirect to the leader, or stop because
//! the journal is missing, foreign or damaged and an operator must act.

use aurora_events::{CodecError, Seq, Timestamp};

use crate::Term;

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error(
        "no initialised journal at {location}: initialise a new cluster explicitly \
         (aurora-scheduler --init) or point at the directory that holds the journal"
    )]
    NotInitialised { location: String },
    #[error("a journal is already initialised at {location}; refusing to initialise it again")]
    AlreadyInitialised { location: String },
    #[error(
        "{location} is not empty and holds no journal: refusing to initialise a journal among \
         other files (use an empty or new directory)"
    )]
    NotEmpty { location: String },
    #[error(
        "another process holds the journal at {location} (another scheduler running on this \
         directory?): stop it first; {detail}"
    )]
    Locked { location: String, detail: String },
    #[error(
        "the journal at {location} holds events up to seq {found}, but it acknowledged seq \
         {acknowledged}: its write-ahead log was damaged, cut short or removed, and the events \
         after seq {found} are gone. Restore the directory from a backup (or a healthy \
         replica); or, to go on without them, run `aurora-scheduler --data-dir {location} \
         --accept-truncation`, which records the loss as an event"
    )]
    Truncated {
        location: String,
        acknowledged: Seq,
        found: Seq,
    },
    #[error("an append must contain at least one event")]
    EmptyAppend,
    #[error(
        "not the leader: the events were decided under term {term}, but term {current} has \
         begun"
    )]
    NotLeader { term: Term, current: Term },
    #[error(
        "conflict: the events were decided on the state as of seq {after}, but the journal \
         ends at seq {last}; decide again on the newer state"
    )]
    Conflict { after: Seq, last: Seq },
    #[error("the events' time {at} is before the journal's last commit time {last}")]
    TimeWentBack { at: Timestamp, last: Timestamp },
    #[error("invalid seq range {first}..={last}: seqs start at 1")]
    InvalidRange { first: Seq, last: Seq },
    #[error("invalid checkpoint name {0:?}: it must be non-empty and contain no NUL byte")]
    InvalidCheckpointName(String),
    #[error("cannot checkpoint at seq {seq}: the journal ends at {last}")]
    CheckpointBeyondEnd { seq: Seq, last: Seq },
    #[error(
        "{0}: the journal is damaged; restore its directory from a backup \
         (`aurora-scheduler --restore-from BACKUP --data-dir NEW`) or a healthy replica's copy"
    )]
    Corrupt(#[from] CodecError),
    #[error("journal is damaged: {0}")]
    Damaged(String),
    #[error("storage failure: {0}")]
    Storage(String),
    /// The append was proposed but not confirmed in time: it may still be committed later, so
    /// whoever asked for it must not assume it was not (a writer that names the seq it follows
    /// cannot commit twice; a user resending a command could).
    #[error("outcome unknown: {0}")]
    Unconfirmed(String),
    #[error("the journal has been closed")]
    Closed,
}

/// What a caller should do about an [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// The call was wrong (a bug in the caller): fix it; retrying the same call fails again.
    FixRequest,
    /// Transient (storage trouble, shutting down) or stale (decide again on fresher state):
    /// the same request may succeed later.
    Retry,
    /// This writer is not the leader: send the request to the leader.
    Redirect,
    /// The journal is missing, foreign or damaged: stop serving writes; an operator must act.
    Stop,
}

impl Error {
    pub fn recovery(&self) -> Recovery {
        match self {
            Error::EmptyAppend
            | Error::TimeWentBack { .. }
            | Error::InvalidRange { .. }
            | Error::InvalidCheckpointName(_)
            | Error::CheckpointBeyondEnd { .. } => Recovery::FixRequest,
            Error::Conflict { .. } | Error::Storage(_) | Error::Unconfirmed(_) | Error::Closed => {
                Recovery::Retry
            }
            Error::NotLeader { .. } => Recovery::Redirect,
            Error::NotInitialised { .. }
            | Error::AlreadyInitialised { .. }
            | Error::NotEmpty { .. }
            | Error::Locked { .. }
            | Error::Truncated { .. }
            | Error::Corrupt(_)
            | Error::Damaged(_) => Recovery::Stop,
        }
    }
}

impl From<rocksdb::Error> for Error {
    /// RocksDB's `Corruption` (a block whose checksum does not match, say) is damage, not a
    /// passing storage failure: retrying reads the same bytes.
    fn from(e: rocksdb::Error) -> Self {
        let detail = e.into_string();
        if detail.contains("Corruption") {
            Error::Damaged(format!(
                "{detail}; restore the journal's directory from a backup (`aurora-scheduler \
                 --restore-from BACKUP --data-dir NEW`) or a healthy replica's copy"
            ))
        } else {
            Error::Storage(detail)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A damaged journal must never look like a passing hiccup: callers stop rather than retry.
    #[test]
    fn damage_says_stop_and_storage_trouble_says_retry() {
        assert_eq!(
            Error::Damaged("seq 7 is missing".into()).recovery(),
            Recovery::Stop
        );
        assert_eq!(
            Error::NotInitialised {
                location: "x".into()
            }
            .recovery(),
            Recovery::Stop
        );
        assert_eq!(
            Error::Storage("disk full".into()).recovery(),
            Recovery::Retry
        );
        assert_eq!(
            Error::Conflict { after: 1, last: 2 }.recovery(),
            Recovery::Retry
        );
        assert_eq!(
            Error::NotLeader {
                term: 1,
                current: 2
            }
            .recovery(),
            Recovery::Redirect
        );
        assert_eq!(Error::EmptyAppend.recovery(), Recovery::FixRequest);
    }
}
