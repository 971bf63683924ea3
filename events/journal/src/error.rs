//! The journal's errors, by how a caller should handle them: a wrong request (fix the call),
//! a missing or foreign journal (operator action), damage or storage failure (stop and alert).

use aurora_events::{CodecError, Seq};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "no initialised journal at {location}: initialise a new cluster explicitly \
         (aurora-scheduler --init) or point at the directory that holds the journal"
    )]
    NotInitialised { location: String },
    #[error("a journal is already initialised at {location}; refusing to initialise it again")]
    AlreadyInitialised { location: String },
    #[error("an append must contain at least one event")]
    EmptyAppend,
    #[error("invalid seq range {first}..={last}: seqs start at 1")]
    InvalidRange { first: Seq, last: Seq },
    #[error("invalid checkpoint name {0:?}: it must be non-empty and contain no NUL byte")]
    InvalidCheckpointName(String),
    #[error("cannot checkpoint at seq {seq}: the journal ends at {last}")]
    CheckpointBeyondEnd { seq: Seq, last: Seq },
    #[error(transparent)]
    Corrupt(#[from] CodecError),
    #[error("journal is damaged: {0}")]
    Damaged(String),
    #[error("storage failure: {0}")]
    Storage(String),
    #[error("the journal has been closed")]
    Closed,
}

impl From<rocksdb::Error> for Error {
    fn from(e: rocksdb::Error) -> Self {
        Error::Storage(e.into_string())
    }
}
