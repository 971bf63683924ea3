//! # aurora-journal
//!
//! The journal is the truth: an append-only, numbered sequence of [`Envelope`]s. This crate
//! defines the [`Journal`] trait and its backends:
//!
//! - [`MemoryJournal`]: in-process, for tests and simulations;
//! - [`RocksJournal`]: durable, on RocksDB, with group commit (appends arriving while a write
//!   is in flight share the next `WriteBatch` and its single fsync).
//!
//! A later, quorum-replicated backend fits behind the same trait: `append` resolves only once the
//! events are committed (durable on a quorum), and readers only ever see committed events.
//!
//! Every backend passes the one behaviour suite in [`conformance`] (feature `conformance`).
//!
//! Invariants every backend keeps: seq is dense and gap-free from 1; seq 1 is
//! `ClusterInitialised`; all events of one append are committed together and get consecutive
//! seqs and the same commit time; commit times never decrease along the journal.
//!
//! Depends on `aurora-events` only among our crates. Must not depend on the scheduler, the
//! projections, the web UI or the CLI.

mod clock;
mod error;
mod follow;
mod memory;
mod rocks;

#[cfg(feature = "conformance")]
pub mod conformance;

use std::pin::Pin;

use async_trait::async_trait;
use aurora_events::{Envelope, PendingEvent, Seq, Timestamp};
use futures::Stream;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::Error;
pub use memory::{MemoryJournal, MemoryStore};
pub use rocks::RocksJournal;

/// A live stream of committed envelopes: first those already in the journal from the requested
/// seq, then each new one as it is committed. It ends only if the journal fails.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<Envelope, Error>> + Send>>;

/// An inclusive range of seqs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqRange {
    pub first: Seq,
    pub last: Seq,
}

impl SeqRange {
    pub fn new(first: Seq, last: Seq) -> Self {
        Self { first, last }
    }

    pub fn len(&self) -> u64 {
        if self.last < self.first {
            0
        } else {
            self.last - self.first + 1
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, seq: Seq) -> bool {
        self.first <= seq && seq <= self.last
    }
}

/// Opaque bytes saved at a journal position: a snapshot of some fold of the events up to and
/// including `seq` (the write model, a projection), so that readers can start there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub name: String,
    pub seq: Seq,
    pub bytes: Vec<u8>,
}

/// The event journal. See the crate docs for the invariants every implementation keeps.
#[async_trait]
pub trait Journal: Send + Sync + 'static {
    /// Commits `events` atomically, in order, and returns the seqs they were given. Resolves only
    /// once they are durable (for a replicated journal: committed by a quorum). An empty list is
    /// rejected.
    async fn append(&self, events: Vec<PendingEvent>) -> Result<SeqRange, Error>;

    /// The committed envelopes in `range`, clipped to the last committed seq (so a range past the
    /// end gives fewer, or no, envelopes). Seq 0 does not exist.
    async fn read(&self, range: SeqRange) -> Result<Vec<Envelope>, Error>;

    /// Every committed envelope from `from` on: first the stored ones, then live ones as they are
    /// committed. `from` 0 is treated as 1.
    fn subscribe(&self, from: Seq) -> EventStream;

    /// The last committed seq (≥ 1 once initialised).
    fn last_seq(&self) -> Seq;

    /// The name the cluster was initialised with.
    fn cluster(&self) -> &str;

    /// The last seq committed at or before `at`, or `None` if `at` is before the first event.
    async fn seq_at(&self, at: Timestamp) -> Result<Option<Seq>, Error>;

    /// Saves `bytes` as checkpoint `name` at `seq` (which must be committed). Names must not
    /// contain NUL. A later put at the same name and seq replaces the earlier one.
    async fn put_checkpoint(&self, name: &str, seq: Seq, bytes: Vec<u8>) -> Result<(), Error>;

    /// The checkpoint `name` with the greatest seq ≤ `seq`.
    async fn checkpoint_at_or_before(
        &self,
        name: &str,
        seq: Seq,
    ) -> Result<Option<Checkpoint>, Error>;

    /// The newest checkpoint `name`.
    async fn latest_checkpoint(&self, name: &str) -> Result<Option<Checkpoint>, Error> {
        self.checkpoint_at_or_before(name, Seq::MAX).await
    }
}

/// The event a new cluster's journal starts with.
pub fn initial_event(cluster: &str) -> PendingEvent {
    PendingEvent::new(
        aurora_events::Actor::Scheduler,
        aurora_events::Event::ClusterInitialised {
            cluster: cluster.to_string(),
        },
    )
}

fn validate_checkpoint_name(name: &str) -> Result<(), Error> {
    if name.is_empty() || name.contains('\0') {
        return Err(Error::InvalidCheckpointName(name.to_string()));
    }
    Ok(())
}

/// Checks a checkpoint to be put: a valid name, at a committed seq (1..=last).
fn validate_new_checkpoint(name: &str, seq: Seq, last: Seq) -> Result<(), Error> {
    validate_checkpoint_name(name)?;
    if seq == 0 || seq > last {
        return Err(Error::CheckpointBeyondEnd { seq, last });
    }
    Ok(())
}
