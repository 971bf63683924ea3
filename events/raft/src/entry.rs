//! What one Raft log entry carries, and what applying it answers.
//!
//! One entry is one append batch: the events decided together, their time and the
//! precondition they were decided under. The precondition travels inside the entry because it
//! is checked when the entry is *applied*, against the state machine's own journal, so every
//! replica decides the same way (see `state_machine`).

use std::io::Cursor;

use aurora_events::{PendingEvent, Seq, Timestamp};
use aurora_journal::{Error as JournalError, SeqRange, Term};
use serde::{Deserialize, Serialize};

/// A replica's id in the Raft group (the `N` of `--replica-id N`).
pub type NodeId = u64;

openraft::declare_raft_types!(
    /// The Raft types of the replicated journal.
    pub TypeConfig:
        D = Request,
        R = Outcome,
        NodeId = NodeId,
        Node = openraft::BasicNode,
        SnapshotData = Cursor<Vec<u8>>,
);

/// The Raft handle of one replica.
pub type Raft = openraft::Raft<TypeConfig>;

/// The application data of one Raft log entry.
///
/// Variants are only ever appended (the later HTTP transport and durable log store will
/// serialise them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Seq 1: `first` (a `ClusterInitialised`, its id chosen once so that every replica holds
    /// the same envelope) at `at`. Applied once; any later one is refused on every replica
    /// alike, so two racing initialisations cannot both win.
    Initialise {
        first: Box<PendingEvent>,
        at: Timestamp,
    },
    /// One `Journal::append`: checked at apply time, then committed as consecutive seqs.
    Append {
        /// The leader term the events were decided under: must be the term of the leader
        /// that proposed this entry.
        term: Term,
        /// The seq the events must follow (`None`: at the end, wherever it is).
        after: Option<Seq>,
        at: Timestamp,
        events: Vec<PendingEvent>,
    },
}

/// What applying one entry did: the same on every replica, because it depends only on the
/// entry and the journal before it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    /// A blank or membership entry: nothing for the journal.
    Nothing,
    /// The cluster's journal now starts with `ClusterInitialised`.
    Initialised,
    /// The events were committed as seqs `first..=last`.
    Appended { first: Seq, last: Seq },
    /// The entry was refused and nothing was written.
    Refused(Refusal),
}

/// Why an entry wrote nothing. Mirrors the journal errors an append can meet at apply time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Refusal {
    NotInitialised,
    AlreadyInitialised,
    EmptyAppend,
    NotLeader { term: Term, current: Term },
    Conflict { after: Seq, last: Seq },
    TimeWentBack { at: Timestamp, last: Timestamp },
}

impl Refusal {
    /// The journal refusal for a local check that failed, if it is one; any other error is a
    /// fault of this replica's storage, not a verdict on the entry.
    pub(crate) fn from_check(e: &JournalError) -> Option<Self> {
        match *e {
            JournalError::EmptyAppend => Some(Refusal::EmptyAppend),
            JournalError::Conflict { after, last } => Some(Refusal::Conflict { after, last }),
            JournalError::TimeWentBack { at, last } => Some(Refusal::TimeWentBack { at, last }),
            JournalError::NotLeader { term, current } => Some(Refusal::NotLeader { term, current }),
            _ => None,
        }
    }

    pub(crate) fn into_error(self, location: &str) -> JournalError {
        match self {
            Refusal::NotInitialised => JournalError::NotInitialised {
                location: location.to_string(),
            },
            Refusal::AlreadyInitialised => JournalError::AlreadyInitialised {
                location: location.to_string(),
            },
            Refusal::EmptyAppend => JournalError::EmptyAppend,
            Refusal::NotLeader { term, current } => JournalError::NotLeader { term, current },
            Refusal::Conflict { after, last } => JournalError::Conflict { after, last },
            Refusal::TimeWentBack { at, last } => JournalError::TimeWentBack { at, last },
        }
    }
}

impl Outcome {
    pub(crate) fn appended(range: SeqRange) -> Self {
        Outcome::Appended {
            first: range.first,
            last: range.last,
        }
    }
}
