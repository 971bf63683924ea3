//! The crate's errors. Folding never fails (a read model takes the journal as it is); only
//! time travel can, when the requested past is not available.

use aurora_events::Seq;

/// Why a past view could not be built. [`Error::NotYetFolded`] is the caller's to handle
/// (wait, or ask for an earlier seq); the others are faults of the event source, to be logged.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The seq is beyond what has been folded so far.
    #[error("seq {requested} is not folded yet: the last folded seq is {last}")]
    NotYetFolded { requested: Seq, last: Seq },
    /// The seq is before the oldest checkpoint (a history resumed from a later point).
    #[error("seq {requested} is before the history's first checkpoint, seq {first}")]
    BeforeHistory { requested: Seq, first: Seq },
    #[error("reading seqs {from}..={to} from the event source failed: {source}")]
    Source {
        from: Seq,
        to: Seq,
        #[source]
        source: SourceError,
    },
    #[error("the event source gave seq {got} where seq {expected} was due")]
    SourceOutOfOrder { expected: Seq, got: Seq },
    #[error("the event source ended at seq {last}, short of seq {wanted}")]
    SourceShort { last: Seq, wanted: Seq },
}

/// An [`EventSource`](crate::EventSource) failure, described by the source (e.g. a journal's
/// I/O or decoding error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SourceError {
    pub message: String,
}

impl SourceError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}
