//! # aurora-raft
//!
//! The quorum-replicated journal: [`aurora_journal::Journal`] over a Raft group
//! ([openraft](https://docs.rs/openraft/0.9) 0.9), so that the cluster's history survives the
//! loss of any minority of its scheduler replicas.
//!
//! ```text
//!  leader's RaftJournal::append(Append { precondition: {term, after}, at, events })
//!     │  not the leader in `term`        ──► Error::NotLeader (nothing proposed)
//!     ▼
//!     │  queued while a proposal is in flight; the queue goes together into the next one
//!     ▼
//!  Raft log entry = Request::Encoded([{ term, after, at, events }, ..]) (in queue order;
//!                    each event encoded once, here, as the journal stores it)
//!     │  replicated; committed once a quorum has it
//!     ▼
//!  every replica's StateMachine::apply, in log order:
//!     │  term ≠ the entry's leader term  ──► Refused(NotLeader)  (nothing written)
//!     │  after ≠ last seq / time went back ► Refused(Conflict / TimeWentBack)
//!     ▼
//!  envelopes seq last+1.. in the replica's local journal ──► read / subscribe / seq_at
//!     │
//!     ▼
//!  the leader's append resolves with the seqs its own apply assigned
//! ```
//!
//! - **One history.** Committed entries become envelopes with the same dense seqs, ids and
//!   times on every replica, because each entry's fate depends only on the entry and the
//!   journal before it. Seq 1 is a `ClusterInitialised` whose id the initialising leader picks.
//! - **Preconditions are checked at apply time**, against the state machine's own journal and
//!   the entry's Raft term, so all replicas agree; the leader's early check is only a shortcut.
//! - **Terms are Raft terms.** A deposed leader's appends fail with `NotLeader`: its handle is
//!   no longer the leader, and an entry decided under an older term is refused when applied.
//! - **No history is dropped.** The log is compacted behind snapshots ([`Compaction`]), and a
//!   snapshot is the journal itself: a replica that needs one receives every envelope it lacks,
//!   streamed in chunks from the leader's journal (see `snapshot`).
//! - **Checkpoints stay local** to each replica, as the `CheckpointStore` contract says.
//!
//! The network is in process ([`Router::new`]) or HTTP ([`Router::http`], the peers' internal
//! routes in [`http`]). Storage is in memory or in a data directory ([`Storage::open`]: the
//! Raft log in its own RocksDB, synced before an entry counts towards a quorum (the leader
//! syncs its own entries while they are replicated, see `synced`), and the
//! committed journal as a `RocksJournal` that records with each batch which log entry it came
//! from, so that a restarted replica never applies an entry twice). The journal is written
//! unsynced (`Durability::Replayable`): the synced Raft log holds every entry, and after a power
//! loss that took the journal's newest batches the replica resumes after the last entry the
//! journal still names, replaying the rest from its log; a snapshot syncs the journal before the
//! log behind it may be purged. One fsync per replica per append round, the log's. An append that a
//! quorum does not commit within [`Timeouts::append`] fails with `Error::Storage` although it
//! may still commit later; writers that name the seq they follow cannot commit it twice. A
//! leader that has heard from no quorum for longer than the longest election timeout refuses
//! appends at once, unproposed (their outcome is known: nothing), rather than queue them to
//! wait out that timeout one after another.
//!
//! Depends on `aurora-events` and `aurora-journal` only among our crates.

mod disk;
mod entry;
pub mod http;
mod journal;
mod local;
mod log_store;
mod network;
mod recovery;
mod replica;
mod snapshot;
mod state_machine;
mod synced;
pub mod timeline;

pub use entry::{EncodedProposal, NodeId, Outcome, Proposed, Raft, Refusal, Request, TypeConfig};
pub use journal::RaftJournal;
pub use local::LocalJournal;
pub use network::{PeerSurvey, Router, same_url};
pub use recovery::Origin;
pub use replica::{Compaction, Replica, Storage, Timeouts};

/// Starting and stopping replicas. Journal operations answer with [`aurora_journal::Error`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid Raft configuration: {0}")]
    Config(Box<openraft::ConfigError>),
    #[error("replica {id} could not start: {detail}")]
    Start { id: NodeId, detail: String },
    #[error("replica {id} did not stop cleanly: {detail}")]
    Stop { id: NodeId, detail: String },
    #[error("cannot change replica {id}'s membership: {detail}")]
    Membership { id: NodeId, detail: String },
    /// Refused before anything changed: the group is as it was.
    #[error("cannot add replica {id}: {detail}")]
    AddRefused { id: NodeId, detail: String },
    #[error("cannot open the replica's storage at {path}: {detail}")]
    Open { path: String, detail: String },
    #[error(
        "{path} belongs to replica {found}, not {given}: give each replica its own data \
         directory, or start it with --replica-id {found}"
    )]
    WrongReplica {
        path: String,
        found: NodeId,
        given: NodeId,
    },
    #[error(
        "{path} holds a single scheduler's journal (one started without --peers), not a \
         replica's data (raft/ and journal/): point --data-dir at a new or empty directory, \
         or start this one without --peers"
    )]
    SingleSchedulerDirectory { path: String },
    #[error(
        "{path} is not empty and holds no replica's data (raft/ and journal/): refusing to \
         create a replica among other files (use a new or empty directory)"
    )]
    NotEmpty { path: String },
}
