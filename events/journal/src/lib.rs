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
//! ```text
//!  leader: decide at time T on the state as of seq S, under term N
//!     │
//!     ▼
//!  append(Append { precondition: { term: N, after: S }, at: T, events })
//!     │  term ≠ current ──► Error::NotLeader   (nothing written; step down, redirect)
//!     │  last ≠ S       ──► Error::Conflict    (nothing written; decide again)
//!     ▼
//!  committed seqs S+1..  ──► subscribe() ──► every replica's apply loop
//! ```
//!
//! - **Appends carry a [`Precondition`]**: the leader term they were decided under and the seq
//!   they follow, so a deposed or stale writer can never append.
//! - **Times are the leader's.** An [`Append`] carries the time its events were decided at;
//!   no backend reads a clock.
//! - **Checkpoints are a replica's local cache** behind their own [`CheckpointStore`] trait, not
//!   part of the replicated history.
//! - **Errors say what to do** ([`Error::recovery`]): retry, redirect to the leader, fix the
//!   request, or stop because the journal is damaged.
//!
//! Every backend passes the one behaviour suite in [`conformance`] (feature `conformance`).
//!
//! Invariants every backend keeps: seq is dense and gap-free from 1; seq 1 is
//! `ClusterInitialised`; all events of one append are committed together and get consecutive
//! seqs and the same commit time; commit times never decrease along the journal; terms only
//! grow.
//!
//! Depends on `aurora-events` only among our crates. Must not depend on the scheduler, the
//! projections, the web UI or the CLI.

mod clock;
mod error;
mod follow;
mod mark;
mod memory;
mod rocks;

#[cfg(feature = "conformance")]
pub mod conformance;

use std::pin::Pin;

use async_trait::async_trait;
use aurora_events::codec::PreEncoded;
use aurora_events::{Envelope, PendingEvent, Seq, Timestamp};
use futures::Stream;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Error, Recovery};
pub use memory::{MemoryCheckpoints, MemoryJournal, MemoryStore};
pub use rocks::{Durability, RocksJournal, is_journal_dir};

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

/// A leader's term. Each leader decides under a term higher than every earlier one; an append
/// made under an older term is refused, so a deposed leader can never write.
pub type Term = u64;

/// What an append expects of the journal, checked before anything is written (openraft's
/// `Precondition` is the model). A mismatch is a typed error and nothing is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Precondition {
    /// The leader term the events were decided under; must be the journal's current term.
    pub term: Term,
    /// The last seq the decider had seen: the events must follow it directly. `None` appends at
    /// the end, wherever it is (independent writers such as tests and benchmarks; the scheduler
    /// always names the seq it decided on).
    pub after: Option<Seq>,
}

impl Precondition {
    /// The events were decided under `term` on the state as of `seq`.
    pub fn follows(term: Term, seq: Seq) -> Self {
        Self {
            term,
            after: Some(seq),
        }
    }

    /// Under `term`, at the end of the journal whatever it is.
    pub fn at_end(term: Term) -> Self {
        Self { term, after: None }
    }
}

/// One atomic append: events decided together, at one time, under one precondition.
#[derive(Debug, Clone, PartialEq)]
pub struct Append {
    pub precondition: Precondition,
    /// When the leader decided: the events' commit time. Backends never read a clock. With
    /// [`Precondition::after`] set, a time before the journal's last commit time is refused
    /// ([`Error::TimeWentBack`]); an append at the end commits at the later of the two, so
    /// that commit times never decrease.
    pub at: Timestamp,
    pub events: Vec<PendingEvent>,
}

impl Append {
    pub fn new(precondition: Precondition, at: Timestamp, events: Vec<PendingEvent>) -> Self {
        Self {
            precondition,
            at,
            events,
        }
    }
}

/// An [`Append`] whose events are already encoded as the journal stores them: what a
/// replicated backend's log carries, so that no replica decodes or encodes them again.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedAppend {
    pub precondition: Precondition,
    pub at: Timestamp,
    pub events: Vec<PreEncoded>,
}

impl EncodedAppend {
    /// The append with its events decoded again.
    pub fn decode(&self) -> Result<Append, Error> {
        let events = self
            .events
            .iter()
            .map(PreEncoded::decode)
            .collect::<Result<_, _>>()
            .map_err(|problem| Error::Damaged(format!("an encoded event: {problem}")))?;
        Ok(Append::new(self.precondition, self.at, events))
    }
}

/// The event journal: the replicated history. See the crate docs for the invariants every
/// implementation keeps. Checkpoints are not part of it (see [`CheckpointStore`]).
#[async_trait]
pub trait Journal: Send + Sync + 'static {
    /// Checks `append.precondition`, then commits the events atomically, in order, and returns
    /// the seqs they were given. Resolves only once they are durable (for a replicated journal:
    /// committed by a quorum). An empty list is refused. A refused append writes nothing.
    async fn append(&self, append: Append) -> Result<SeqRange, Error>;

    /// The committed envelopes in `range`, clipped to the last committed seq (so a range past the
    /// end gives fewer, or no, envelopes). Seq 0 does not exist.
    async fn read(&self, range: SeqRange) -> Result<Vec<Envelope>, Error>;

    /// Every committed envelope from `from` on: first the stored ones, then live ones as they are
    /// committed. `from` 0 is treated as 1.
    fn subscribe(&self, from: Seq) -> EventStream;

    /// [`Journal::subscribe`], reading (and holding) at most `chunk` envelopes at a time while
    /// it catches up: for subscribers many of which may run at once, each for a client (the
    /// API's server-sent event stream), where what each one holds adds up. The default reads
    /// as `subscribe` does.
    fn subscribe_in_chunks(&self, from: Seq, chunk: u64) -> EventStream {
        let _ = chunk;
        self.subscribe(from)
    }

    /// The last committed seq (≥ 1 once initialised).
    fn last_seq(&self) -> Seq;

    /// The name the cluster was initialised with.
    fn cluster(&self) -> &str;

    /// The last seq committed at or before `at`, or `None` if `at` is before the first event.
    async fn seq_at(&self, at: Timestamp) -> Result<Option<Seq>, Error>;

    /// The current leader term (0 until a leader first claims one).
    fn term(&self) -> Term;

    /// Begins a new term, higher than every earlier one, and returns it: from then on appends
    /// under an older term are refused with [`Error::NotLeader`]. A single-node backend grants
    /// it at once (and keeps it durably); a replicated one would hold an election.
    async fn claim_leadership(&self) -> Result<Term, Error>;
}

/// A replica's local cache of folds of the journal (the write model, projections), saved at a
/// seq so that a restart can start there. Not replicated and not part of the history: losing
/// it costs a longer replay, nothing else.
#[async_trait]
pub trait CheckpointStore: Send + Sync + 'static {
    /// Saves `bytes` as checkpoint `name` at `seq`. Names must not contain NUL. A later put at
    /// the same name and seq replaces the earlier one.
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

/// Reads seqs `from..=last` in chunks (bounded memory however long the journal) and hands each
/// chunk to `visit`, in seq order. A journal that returns fewer events than it committed is
/// damaged, and says so.
pub async fn for_each_chunk(
    journal: &dyn Journal,
    from: Seq,
    last: Seq,
    mut visit: impl FnMut(&[Envelope]),
) -> Result<(), Error> {
    const CHUNK: u64 = 10_000;
    let mut next = from.max(1);
    while next <= last {
        let range = SeqRange::new(next, (next + CHUNK - 1).min(last));
        let envelopes = journal.read(range).await?;
        if envelopes.len() as u64 != range.len() {
            return Err(Error::Damaged(format!(
                "read of committed seqs {}..={} returned {} events",
                range.first,
                range.last,
                envelopes.len()
            )));
        }
        visit(&envelopes);
        next = range.last + 1;
    }
    Ok(())
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

/// Checks an append of `events` events at `at` under `precondition` against a journal whose
/// current term is `term` and whose last commit is `last_seq` at `last_at`, and returns the
/// commit time to give the events. Shared by every backend so that they refuse exactly the
/// same appends.
fn check_append(
    precondition: Precondition,
    at: Timestamp,
    events: usize,
    term: Term,
    (last_seq, last_at): (Seq, Timestamp),
) -> Result<Timestamp, Error> {
    if events == 0 {
        return Err(Error::EmptyAppend);
    }
    if precondition.term != term {
        return Err(Error::NotLeader {
            term: precondition.term,
            current: term,
        });
    }
    match precondition.after {
        Some(after) if after != last_seq => Err(Error::Conflict {
            after,
            last: last_seq,
        }),
        Some(_) if at < last_at => Err(Error::TimeWentBack { at, last: last_at }),
        Some(_) => Ok(at),
        None => Ok(at.max(last_at)),
    }
}

fn validate_checkpoint_name(name: &str) -> Result<(), Error> {
    if name.is_empty() || name.contains('\0') {
        return Err(Error::InvalidCheckpointName(name.to_string()));
    }
    Ok(())
}

/// Checks a checkpoint to be put beside a journal: a valid name, at a committed seq (1..=last).
fn validate_new_checkpoint(name: &str, seq: Seq, last: Seq) -> Result<(), Error> {
    validate_checkpoint_name(name)?;
    if seq == 0 || seq > last {
        return Err(Error::CheckpointBeyondEnd { seq, last });
    }
    Ok(())
}
