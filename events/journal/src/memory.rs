//! An in-memory journal for tests and simulations. It keeps every invariant of the durable
//! backends; "durable" here means "in the [`MemoryStore`]", which outlives journal handles so
//! that a restart can be simulated by opening the same store again.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use aurora_events::{Envelope, Event, PendingEvent, Seq, Timestamp};
use tokio::sync::watch;

use crate::follow::follow;
use crate::{
    Checkpoint, Clock, Error, EventStream, Journal, SeqRange, validate_checkpoint_name,
    validate_new_checkpoint,
};

#[derive(Debug, Default)]
struct StoreState {
    events: Vec<Envelope>,
    checkpoints: BTreeMap<(String, Seq), Vec<u8>>,
}

/// The storage behind [`MemoryJournal`]s: clones share it.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore(Arc<Mutex<StoreState>>);

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, StoreState> {
        // A panic while holding the lock cannot leave the state half-written: every mutation
        // below is a single push or insert. So a poisoned lock is still safe to use.
        self.0
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
    clock: Arc<dyn Clock>,
    cluster: String,
    committed: watch::Sender<Seq>,
}

impl MemoryJournal {
    /// Initialises a new cluster journal in an empty store.
    pub fn initialise(
        store: MemoryStore,
        cluster: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, Error> {
        {
            let mut state = store.lock();
            if !state.events.is_empty() {
                return Err(Error::AlreadyInitialised {
                    location: "memory store".into(),
                });
            }
            let at = clock.now();
            state
                .events
                .push(crate::initial_event(cluster).commit(1, at));
        }
        Self::open(store, clock)
    }

    /// Opens the journal held in `store`, which must have been initialised.
    pub fn open(store: MemoryStore, clock: Arc<dyn Clock>) -> Result<Self, Error> {
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
        let (committed, _) = watch::channel(last);
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                clock,
                cluster,
                committed,
            }),
        })
    }

    /// A fresh store with an initialised journal: the usual start of a test.
    pub fn new_initialised(cluster: &str, clock: Arc<dyn Clock>) -> Self {
        match Self::initialise(MemoryStore::new(), cluster, clock) {
            Ok(journal) => journal,
            Err(e) => unreachable!("a new store is always empty: {e}"),
        }
    }
}

#[async_trait]
impl Journal for MemoryJournal {
    async fn append(&self, events: Vec<PendingEvent>) -> Result<SeqRange, Error> {
        if events.is_empty() {
            return Err(Error::EmptyAppend);
        }
        let range = {
            let mut state = self.inner.store.lock();
            let last_at = state.events.last().map(|e| e.at).unwrap_or_default();
            let at = self.inner.clock.now().max(last_at);
            let first = state.events.len() as Seq + 1;
            for (i, pending) in events.into_iter().enumerate() {
                state.events.push(pending.commit(first + i as Seq, at));
            }
            SeqRange::new(first, state.events.len() as Seq)
        };
        self.inner.committed.send_replace(range.last);
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
        follow(self.clone(), self.inner.committed.subscribe(), from)
    }

    fn last_seq(&self) -> Seq {
        *self.inner.committed.borrow()
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
        let state = self.inner.store.lock();
        let found = state
            .checkpoints
            .range((name.to_string(), 0)..=(name.to_string(), seq))
            .next_back()
            .map(|((name, seq), bytes)| Checkpoint {
                name: name.clone(),
                seq: *seq,
                bytes: bytes.clone(),
            });
        Ok(found)
    }
}
