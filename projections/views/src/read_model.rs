//! [`ReadModel`]: the projections as they are shared between whoever folds events (a
//! scheduler replica's apply loop, later a JetStream consumer) and the readers (the web UI, the
//! JSON API).
//!
//! The live view is read under a shared lock for the length of one query (answers are owned
//! values). A past view is replayed from the nearest checkpoint by whoever asks, on a blocking
//! thread, because replaying can read the journal and take milliseconds. A tokio `watch` of the
//! folded seq lets a reader wait for its own write (read-your-writes) and live pages follow.
//!
//! Pending reasons are the one thing no event records: they are asked, when a page needs them,
//! of a [`PendingReasons`] explainer the process plugs in (the scheduler explains them from its
//! own write model, so any replica, leader or follower, can answer).

use crate::audit::{AuditEntry, AuditFilter, AuditLog};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use aurora_events::{Envelope, Seq, TaskId, Timestamp};
use tokio::sync::watch;

use crate::{Applied, EventSource, History, HistoryConfig, MemoryLog, Views};

/// Where a [`ReadModel`] reads past events from when it replays.
pub type BoxedSource = Box<dyn EventSource + Send + Sync>;

/// A source that already holds every event (the journal), shared between the history and the
/// readers so that replays run without holding the history's lock.
pub type SharedSource = Arc<dyn EventSource + Send + Sync>;

/// Explains why pending tasks wait. Must be cheap enough to answer a page: proportional to
/// the tasks asked about (and the cluster's agents), not to every task.
pub trait PendingReasons: Send + Sync {
    /// A reason for each of `tasks` that is waiting to be placed; tasks not waiting are left
    /// out.
    fn pending_reasons(&self, tasks: &[TaskId]) -> BTreeMap<TaskId, String>;
}

/// Says which scheduler replica serves the views and how far behind the leader it is, for a
/// replicated cluster's pages (or what is wrong with a standalone read side's views); a single
/// scheduler has none. An empty note shows nothing.
pub trait ServedBy: Send + Sync {
    fn served_by(&self) -> String;
}

/// The views, their history, and how far they have folded.
pub struct ReadModel {
    history: RwLock<History<BoxedSource>>,
    /// Set when the source is shared: past views are then replayed outside the lock, so a
    /// reader stepping through history never holds up the leader's folds for the replay.
    shared: Option<SharedSource>,
    folded: watch::Sender<Seq>,
    /// Why pending tasks wait. No event records these, so only the live view has them.
    explainer: RwLock<Option<Arc<dyn PendingReasons>>>,
    served_by: RwLock<Option<Arc<dyn ServedBy>>>,
    /// Reads run off the async threads ([`Self::live_off_thread`]) at most this many at once.
    readers: Arc<tokio::sync::Semaphore>,
    /// The audit trail of everything folded (user actions only: small beside the views).
    audit: RwLock<AuditLog>,
}

/// Reads run on blocking threads at once, at most: enough for pages and API calls in parallel,
/// few enough that a burst of big reads cannot take over the blocking pool.
const OFF_THREAD_READERS: usize = 4;

impl std::fmt::Debug for ReadModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadModel")
            .field("last_seq", &self.last_seq())
            .finish()
    }
}

impl ReadModel {
    /// A read model that keeps every folded event in memory for replays (tests, benchmarks).
    pub fn in_memory(config: HistoryConfig) -> Self {
        Self::with_source(Box::new(MemoryLog::new()), config)
    }

    /// A read model replaying past views from `source`, which keeps its own copy of every
    /// event it is handed (replays hold the lock: the source lives inside the history).
    pub fn with_source(source: BoxedSource, config: HistoryConfig) -> Self {
        Self::new(source, None, config)
    }

    /// A read model replaying past views from a source that has every event already (the
    /// journal); replays run outside the lock.
    pub fn with_shared_source(source: SharedSource, config: HistoryConfig) -> Self {
        // The history reads through the same source; nothing is recorded into it.
        Self::new(Box::new(Arc::clone(&source)), Some(source), config)
    }

    fn new(source: BoxedSource, shared: Option<SharedSource>, config: HistoryConfig) -> Self {
        Self {
            history: RwLock::new(History::with_source(source, config)),
            shared,
            folded: watch::Sender::new(0),
            explainer: RwLock::new(None),
            served_by: RwLock::new(None),
            readers: Arc::new(tokio::sync::Semaphore::new(OFF_THREAD_READERS)),
            audit: RwLock::new(AuditLog::default()),
        }
    }

    // A poisoned lock means a fold panicked half-way; the views are still the best answer
    // there is, and refusing every page would hide the cluster from its operators.
    fn read(&self) -> RwLockReadGuard<'_, History<BoxedSource>> {
        self.history.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, History<BoxedSource>> {
        self.history.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Folds committed envelopes, in seq order. Already-folded envelopes are skipped; a gap
    /// stops the fold and is returned so the feeder can re-read from the expected seq.
    pub fn apply(&self, envelopes: &[Envelope]) -> Applied {
        let (applied, last) = {
            let mut history = self.write();
            let before = history.last_seq();
            let applied = history.apply_all(envelopes);
            let last = history.last_seq();
            // Under the history's lock, so that the trail and the views never disagree on
            // what was folded.
            let mut audit = self.audit.write().unwrap_or_else(|e| e.into_inner());
            for envelope in envelopes.iter().filter(|e| e.seq > before && e.seq <= last) {
                audit.record(envelope);
            }
            (applied, last)
        };
        self.folded.send_replace(last);
        applied
    }

    /// The audit trail entries `filter` wants, newest first.
    pub fn audit(&self, filter: &AuditFilter) -> Vec<AuditEntry> {
        self.audit
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .query(filter)
    }

    /// The seq of the last folded event.
    pub fn last_seq(&self) -> Seq {
        *self.folded.borrow()
    }

    /// Runs `query` against the live views. The query runs on a snapshot taken under the lock
    /// (a clone shares every chunk, so it costs a pointer per chunk), not under the lock
    /// itself: a long read — a 4,000-task job page — never holds up the folds, nor the reads
    /// queued behind a waiting fold.
    pub fn live<R>(&self, query: impl FnOnce(&Views) -> R) -> R {
        let snapshot = self.read().current().clone();
        query(&snapshot)
    }

    /// Runs `query` against the live views on a blocking thread (a snapshot taken here, so no
    /// lock is held while it runs): a big read — a 4,000-task job, every task of a role — never
    /// occupies the async threads that serve heartbeats and commands. At most
    /// `OFF_THREAD_READERS` run at once; more wait their turn.
    pub async fn live_off_thread<R, F>(&self, query: F) -> R
    where
        F: FnOnce(&Views) -> R + Send + 'static,
        R: Send + 'static,
    {
        // The semaphore is never closed, so acquiring only waits.
        let permit = Arc::clone(&self.readers).acquire_owned().await.ok();
        let snapshot = self.read().current().clone();
        let answer = tokio::task::spawn_blocking(move || {
            let answer = query(&snapshot);
            drop(permit);
            answer
        })
        .await;
        match answer {
            Ok(answer) => answer,
            // The query panicked: fail this request as it would have inline.
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    /// The views as of `seq` (at most the last folded seq). Blocks while it replays: call it
    /// from a blocking thread.
    pub fn past(&self, seq: Seq) -> Result<Views, crate::Error> {
        match &self.shared {
            Some(source) => {
                // Only the (cheap) checkpoint clone happens under the lock.
                let rewind = self.read().rewind(seq)?;
                rewind.replay(source.as_ref())
            }
            None => self.read().at(seq),
        }
    }

    /// The folded envelopes with seqs `from..=to` (at most the last folded seq), read back from
    /// the source past views replay from. Blocks while it reads: call it from a blocking thread.
    pub fn events(&self, from: Seq, to: Seq) -> Result<Vec<Envelope>, crate::SourceError> {
        let to = to.min(self.last_seq());
        if from > to {
            return Ok(Vec::new());
        }
        match &self.shared {
            Some(source) => source.read(from, to),
            None => self.read().source().read(from, to),
        }
    }

    /// The last seq committed at or before `time` (0 before the first event).
    pub fn seq_at(&self, time: Timestamp) -> Seq {
        self.read().seq_at(time)
    }

    /// Follows the folded seq (live pages, server-sent events).
    pub fn subscribe(&self) -> watch::Receiver<Seq> {
        self.folded.subscribe()
    }

    /// Waits until the views include `seq` (read-your-writes after a command). Returns how far
    /// they got: `Ok` once `seq` is folded, `Err` on timeout.
    pub async fn wait_for(&self, seq: Seq, timeout: Duration) -> Result<Seq, Seq> {
        let mut folded = self.subscribe();
        let reached = match tokio::time::timeout(timeout, folded.wait_for(|s| *s >= seq)).await {
            Ok(Ok(reached)) => Some(*reached),
            _ => None,
        };
        reached.ok_or_else(|| *folded.borrow())
    }

    /// Plugs in what explains pending tasks (the scheduler's write model).
    pub fn set_pending_reasons(&self, explainer: Arc<dyn PendingReasons>) {
        *self.explainer.write().unwrap_or_else(|e| e.into_inner()) = Some(explainer);
    }

    /// Names the replica serving these views (a replicated cluster).
    pub fn set_served_by(&self, served_by: Arc<dyn ServedBy>) {
        *self.served_by.write().unwrap_or_else(|e| e.into_inner()) = Some(served_by);
    }

    /// Which replica serves these views and how far behind the leader, if replicated (or
    /// what is wrong with them); `None` when there is nothing to say (an empty note).
    pub fn served_by(&self) -> Option<String> {
        let served_by = self
            .served_by
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        served_by
            .map(|s| s.served_by())
            .filter(|note| !note.is_empty())
    }

    /// Why each of `tasks` that is pending waits, as of now; empty without an explainer.
    pub fn pending_reasons(&self, tasks: &[TaskId]) -> BTreeMap<TaskId, String> {
        let explainer = self
            .explainer
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        match explainer {
            Some(explainer) if !tasks.is_empty() => explainer.pending_reasons(tasks),
            _ => BTreeMap::new(),
        }
    }

    pub fn pending_reason(&self, task: &TaskId) -> Option<String> {
        self.pending_reasons(std::slice::from_ref(task))
            .remove(task)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Queries;
    use aurora_events::samples;

    fn envelopes(n: usize) -> Vec<Envelope> {
        samples::events()
            .into_iter()
            .take(n)
            .enumerate()
            .map(|(i, e)| samples::envelope(i as u64 + 1, e))
            .collect()
    }

    #[tokio::test]
    async fn waiters_wake_when_their_seq_is_folded() {
        let model = std::sync::Arc::new(ReadModel::in_memory(HistoryConfig::default()));
        let events = envelopes(3);
        let waiter = {
            let model = std::sync::Arc::clone(&model);
            tokio::spawn(async move { model.wait_for(3, Duration::from_secs(5)).await })
        };
        model.apply(&events[..2]);
        assert_eq!(
            model.wait_for(3, Duration::from_millis(20)).await,
            Err(2),
            "seq 3 is not folded yet"
        );
        model.apply(&events);
        assert_eq!(waiter.await.expect("waiter"), Ok(3));
        assert_eq!(model.last_seq(), 3);
        assert_eq!(model.live(|v| v.last_seq()), 3);
    }

    /// Every event, shared: the way the scheduler hands the journal over.
    #[derive(Default)]
    struct Events(Vec<Envelope>);

    impl EventSource for Events {
        fn read(&self, from: Seq, to: Seq) -> Result<Vec<Envelope>, crate::SourceError> {
            Ok(self.0[(from - 1) as usize..to as usize].to_vec())
        }
    }

    #[test]
    fn a_shared_source_serves_the_same_past_views() {
        let events = envelopes(6);
        let source: SharedSource = Arc::new(Events(events.clone()));
        let model = ReadModel::with_shared_source(
            source,
            HistoryConfig {
                checkpoint_every: 4,
                ..HistoryConfig::default()
            },
        );
        model.apply(&events);
        let memory = ReadModel::in_memory(HistoryConfig::default());
        memory.apply(&events);
        for seq in 0..=6 {
            let past = model.past(seq).expect("past view").snapshot();
            assert_eq!(
                past,
                memory.past(seq).expect("memory").snapshot(),
                "seq {seq}"
            );
        }
        assert!(model.past(7).is_err());
    }

    #[test]
    fn past_views_are_replayed_and_the_future_is_refused() {
        let model = ReadModel::in_memory(HistoryConfig {
            checkpoint_every: 2,
            ..HistoryConfig::default()
        });
        model.apply(&envelopes(5));
        assert_eq!(model.past(3).expect("seq 3").last_seq(), 3);
        assert!(model.past(6).is_err());
    }
}

#[cfg(test)]
mod off_thread {
    use super::*;
    use crate::Queries;

    /// A slow read leaves the async threads free: on a one-thread runtime, a ticker keeps
    /// ticking while the read runs (inline, it would wait for the read to end).
    #[tokio::test(flavor = "current_thread")]
    async fn a_slow_read_does_not_hold_the_async_thread() {
        let model = Arc::new(ReadModel::in_memory(HistoryConfig::default()));
        let reading = {
            let model = Arc::clone(&model);
            tokio::spawn(async move {
                model
                    .live_off_thread(|views| {
                        std::thread::sleep(Duration::from_millis(400));
                        views.last_seq()
                    })
                    .await
            })
        };
        let mut ticks = 0;
        while !reading.is_finished() {
            tokio::time::sleep(Duration::from_millis(20)).await;
            ticks += 1;
        }
        assert_eq!(reading.await.expect("read"), 0);
        assert!(
            ticks >= 5,
            "the runtime kept running during the read: {ticks} ticks"
        );
    }
}

#[cfg(test)]
mod pending {
    use super::*;

    struct Fixed;

    impl PendingReasons for Fixed {
        fn pending_reasons(&self, tasks: &[TaskId]) -> BTreeMap<TaskId, String> {
            tasks
                .iter()
                .filter(|t| t.as_str().ends_with("-0"))
                .map(|t| (t.clone(), "Insufficient CPU".to_string()))
                .collect()
        }
    }

    #[test]
    fn reasons_are_asked_of_the_explainer() {
        let model = ReadModel::in_memory(HistoryConfig::default());
        let waiting = TaskId::from_raw("a-0");
        assert_eq!(
            model.pending_reason(&waiting),
            None,
            "no explainer, no reason"
        );
        model.set_pending_reasons(Arc::new(Fixed));
        assert_eq!(
            model.pending_reason(&waiting).as_deref(),
            Some("Insufficient CPU")
        );
        let reasons = model.pending_reasons(&[waiting.clone(), TaskId::from_raw("a-1")]);
        assert_eq!(reasons.keys().collect::<Vec<_>>(), vec![&waiting]);
    }
}
