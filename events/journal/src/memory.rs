//! An in-memory journal for tests and simulations. It keeps every invariant of the durable
//! backends; "durable" here means "in the [`MemoryStore`]", which outlives journal handles so
//! that a restart can be simulated by opening the same store again. Handles on one store see
//! each other's commits and share its term, like replicas of one replicated journal: a handle
//! that claims leadership deposes the others.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use aurora_events::{ChainHash, Envelope, Event, PendingEvent, Seq, Timestamp};
use tokio::sync::watch;

use crate::follow::{follow, follow_in_chunks};
use crate::{
    Append, Checkpoint, CheckpointStore, Error, EventStream, Journal, SeqRange, Term, check_append,
    validate_checkpoint_name, validate_new_checkpoint,
};

/// Checkpoint bytes by name and seq.
type Checkpoints = BTreeMap<(String, Seq), Vec<u8>>;

#[derive(Debug, Default)]
struct StoreState {
    events: Vec<Envelope>,
    term: Term,
    checkpoints: Checkpoints,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<StoreState>,
    /// The last committed seq, for every handle's subscribers.
    committed: watch::Sender<Seq>,
}

/// The storage behind [`MemoryJournal`]s: clones share it.
#[derive(Debug, Clone)]
pub struct MemoryStore(Arc<Shared>);

impl Default for MemoryStore {
    fn default() -> Self {
        Self(Arc::new(Shared {
            state: Mutex::default(),
            committed: watch::Sender::new(0),
        }))
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, StoreState> {
        // A panic while holding the lock cannot leave the state half-written: every mutation
        // below is a single push, insert or assignment. So a poisoned lock is still safe to use.
        self.0
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A handle on an in-memory journal. Cheap to clone; clones share the journal.
#[derive(Debug, Clone)]
pub struct MemoryJournal {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: MemoryStore,
    cluster: String,
}

impl MemoryJournal {
    /// Initialises a new cluster journal in an empty store; `ClusterInitialised` is committed
    /// at `at`.
    pub fn initialise(store: MemoryStore, cluster: &str, at: Timestamp) -> Result<Self, Error> {
        Self::initialise_with(store, crate::initial_event(cluster), at)
    }

    /// Initialises a new cluster journal in an empty store with the given first event, which
    /// must be `ClusterInitialised`. The replicated journal needs this: every replica must hold
    /// the same seq 1, id included, so the id is chosen once, by the leader.
    pub fn initialise_with(
        store: MemoryStore,
        first: PendingEvent,
        at: Timestamp,
    ) -> Result<Self, Error> {
        if !matches!(first.event, Event::ClusterInitialised { .. }) {
            return Err(Error::Damaged(format!(
                "seq 1 would be {}, not cluster_initialised",
                first.event.kind()
            )));
        }
        {
            let mut state = store.lock();
            if !state.events.is_empty() {
                return Err(Error::AlreadyInitialised {
                    location: "memory store".into(),
                });
            }
            state.events.push(first.commit(1, at));
        }
        Self::open(store)
    }

    /// Opens the journal held in `store`, which must have been initialised.
    pub fn open(store: MemoryStore) -> Result<Self, Error> {
        let (cluster, last) = {
            let state = store.lock();
            let cluster = match state.events.first() {
                Some(Envelope {
                    event: Event::ClusterInitialised { cluster },
                    ..
                }) => cluster.clone(),
                Some(other) => {
                    return Err(Error::Damaged(format!(
                        "seq 1 is {}, not cluster_initialised",
                        other.event.kind()
                    )));
                }
                None => {
                    return Err(Error::NotInitialised {
                        location: "memory store".into(),
                    });
                }
            };
            (cluster, state.events.len() as Seq)
        };
        store.0.committed.send_replace(last);
        Ok(Self {
            inner: Arc::new(Inner { store, cluster }),
        })
    }

    /// A fresh store with an initialised journal: the usual start of a test.
    pub fn new_initialised(cluster: &str, at: Timestamp) -> Self {
        match Self::initialise(MemoryStore::new(), cluster, at) {
            Ok(journal) => journal,
            Err(e) => unreachable!("a new store is always empty: {e}"),
        }
    }
}

#[async_trait]
impl Journal for MemoryJournal {
    async fn append(&self, append: Append) -> Result<SeqRange, Error> {
        let range = {
            let mut state = self.inner.store.lock();
            let last_seq = state.events.len() as Seq;
            let last_at = state.events.last().map(|e| e.at).unwrap_or_default();
            let at = check_append(
                append.precondition,
                append.at,
                append.events.len(),
                state.term,
                (last_seq, last_at),
            )?;
            let first = last_seq + 1;
            for (i, pending) in append.events.into_iter().enumerate() {
                let prev_hash = state.events.last().map(ChainHash::of);
                state
                    .events
                    .push(pending.commit_linked(first + i as Seq, at, prev_hash));
            }
            let range = SeqRange::new(first, state.events.len() as Seq);
            // Published under the lock, so the watch never goes backwards between appends.
            self.inner.store.0.committed.send_replace(range.last);
            range
        };
        Ok(range)
    }

    async fn read(&self, range: SeqRange) -> Result<Vec<Envelope>, Error> {
        if range.first == 0 {
            return Err(Error::InvalidRange {
                first: range.first,
                last: range.last,
            });
        }
        let state = self.inner.store.lock();
        let end = usize::try_from(range.last.min(state.events.len() as Seq)).unwrap_or(usize::MAX);
        let start = usize::try_from(range.first - 1).unwrap_or(usize::MAX);
        Ok(state
            .events
            .get(start..end)
            .map(<[Envelope]>::to_vec)
            .unwrap_or_default())
    }

    fn subscribe(&self, from: Seq) -> EventStream {
        follow(self.clone(), self.inner.store.0.committed.subscribe(), from)
    }

    fn subscribe_in_chunks(&self, from: Seq, chunk: u64) -> EventStream {
        follow_in_chunks(
            self.clone(),
            self.inner.store.0.committed.subscribe(),
            from,
            chunk,
        )
    }

    fn last_seq(&self) -> Seq {
        *self.inner.store.0.committed.borrow()
    }

    fn cluster(&self) -> &str {
        &self.inner.cluster
    }

    async fn seq_at(&self, at: Timestamp) -> Result<Option<Seq>, Error> {
        let state = self.inner.store.lock();
        // Commit times never decrease, so the events at or before `at` are a prefix.
        let count = state.events.partition_point(|e| e.at <= at);
        Ok((count > 0).then_some(count as Seq))
    }

    fn term(&self) -> Term {
        self.inner.store.lock().term
    }

    async fn claim_leadership(&self) -> Result<Term, Error> {
        let mut state = self.inner.store.lock();
        state.term += 1;
        Ok(state.term)
    }
}

#[async_trait]
impl CheckpointStore for MemoryJournal {
    async fn put_checkpoint(&self, name: &str, seq: Seq, bytes: Vec<u8>) -> Result<(), Error> {
        let mut state = self.inner.store.lock();
        validate_new_checkpoint(name, seq, state.events.len() as Seq)?;
        state.checkpoints.insert((name.to_string(), seq), bytes);
        Ok(())
    }

    async fn checkpoint_at_or_before(
        &self,
        name: &str,
        seq: Seq,
    ) -> Result<Option<Checkpoint>, Error> {
        validate_checkpoint_name(name)?;
        Ok(find_checkpoint(
            &self.inner.store.lock().checkpoints,
            name,
            seq,
        ))
    }
}

fn find_checkpoint(checkpoints: &Checkpoints, name: &str, seq: Seq) -> Option<Checkpoint> {
    checkpoints
        .range((name.to_string(), 0)..=(name.to_string(), seq))
        .next_back()
        .map(|((name, seq), bytes)| Checkpoint {
            name: name.clone(),
            seq: *seq,
            bytes: bytes.clone(),
        })
}

/// Checkpoints kept in memory on their own, apart from any journal: a replica's cache that
/// starts empty (a follower reading a journal it does not store, a test).
#[derive(Debug, Clone, Default)]
pub struct MemoryCheckpoints(Arc<Mutex<Checkpoints>>);

impl MemoryCheckpoints {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Checkpoints> {
        // Each mutation is a single insert: a poisoned map is still whole.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl CheckpointStore for MemoryCheckpoints {
    async fn put_checkpoint(&self, name: &str, seq: Seq, bytes: Vec<u8>) -> Result<(), Error> {
        validate_checkpoint_name(name)?;
        if seq == 0 {
            return Err(Error::CheckpointBeyondEnd { seq, last: 0 });
        }
        self.lock().insert((name.to_string(), seq), bytes);
        Ok(())
    }

    async fn checkpoint_at_or_before(
        &self,
        name: &str,
        seq: Seq,
    ) -> Result<Option<Checkpoint>, Error> {
        validate_checkpoint_name(name)?;
        Ok(find_checkpoint(&self.lock(), name, seq))
    }
}
