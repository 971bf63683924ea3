//! What every scheduler process is: a replica of the journal. One apply loop folds committed
//! envelopes, as the journal's subscription delivers them, into the write model (what
//! decisions need) and the read model (what people read), then publishes the applied seq.
//! Nothing else writes either model, so a follower that applies a journal another process
//! writes ends with exactly the leader's state, and a command's caller that waits for its seqs
//! to be applied reads its own writes on every path.
//!
//! ```text
//!  journal.subscribe(last + 1) ──► apply loop ──► write model (ClusterState)
//!                                      │     └──► read model (projections, time travel)
//!                                      └──► applied seq (watch) ──► waiting callers
//!                                      └──► every CHECKPOINT_EVERY events (a minute apart
//!                                           at most): write-model checkpoint
//! ```
//!
//! Checkpoints of the write model are this replica's local cache ([`CheckpointStore`]): a
//! restart folds the journal after the newest one instead of from seq 1.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use aurora_events::{Envelope, Seq, Timestamp};
use aurora_journal::{CheckpointStore, Journal, SeqRange};
use aurora_projections::{Applied, HistoryConfig, ReadModel};
use aurora_scheduler_core::{ClusterState, Settings};
use futures::StreamExt;
use tokio::sync::watch;

/// The checkpoint name of the write model.
pub const CHECKPOINT: &str = "write-model";

/// Applied events between two automatic write-model checkpoints...
pub const CHECKPOINT_EVERY: u64 = 100_000;

/// ...and never sooner than this after the previous one. Encoding the write model holds its
/// read lock (tens of ms at 40k tasks), pausing the apply loop, and the write competes with
/// the journal's fsyncs; replaying a minute of events at restart costs far less (the write
/// model folds over a million events a second).
pub const CHECKPOINT_MIN_INTERVAL: Duration = Duration::from_secs(60);

/// Most envelopes folded under one lock: bounds how long a decision or a read waits behind a
/// large commit (a 4,000-instance job) or a catch-up.
const APPLY_BATCH: usize = 512;

/// How far the apply loop has got, or why it stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The last seq folded into both models.
    pub seq: Seq,
    /// Set when the loop stopped on a journal it cannot read (damage): nothing more will be
    /// applied, and no decision may be taken on the stale state.
    pub fault: Option<String>,
}

/// Why a wait for an applied seq ended without it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    #[error("the journal cannot be applied: {0}")]
    Faulted(String),
    #[error("seq {seq} is committed but not yet applied (applied up to {applied})")]
    Lagging { seq: Seq, applied: Seq },
}

/// The write model and read model of one process, kept by its apply loop.
pub struct Replica {
    journal: Arc<dyn Journal>,
    checkpoints: Arc<dyn CheckpointStore>,
    model: Arc<RwLock<ClusterState>>,
    /// Commit time of the last applied envelope, stored under the model's write lock so that a
    /// reader holding the read lock sees the time that goes with the state.
    last_at: Arc<AtomicI64>,
    read: Arc<ReadModel>,
    progress: watch::Sender<Progress>,
    checkpointing: AtomicBool,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("cluster", &self.journal.cluster())
            .field("progress", &*self.progress.borrow())
            .finish()
    }
}

/// Rebuilds the write model: the latest checkpoint, if there is a readable one, plus the
/// journal after it; otherwise the whole journal.
pub async fn recover(
    journal: &dyn Journal,
    checkpoints: &dyn CheckpointStore,
    settings: Settings,
) -> Result<ClusterState, aurora_journal::Error> {
    recover_at(journal, checkpoints, settings, journal.last_seq()).await
}

/// The write model as of `last`: the newest checkpoint at or before it, plus the journal up to
/// `last`; the whole journal when no checkpoint is usable.
pub async fn recover_at(
    journal: &dyn Journal,
    checkpoints: &dyn CheckpointStore,
    settings: Settings,
    last: Seq,
) -> Result<ClusterState, aurora_journal::Error> {
    if let Some(checkpoint) = checkpoints
        .checkpoint_at_or_before(CHECKPOINT, last)
        .await?
    {
        match ClusterState::from_checkpoint(&checkpoint.bytes, settings.clone()) {
            Some(mut state) if state.last_seq() == checkpoint.seq => {
                fold(journal, &mut state, checkpoint.seq + 1, last).await?;
                return Ok(state);
            }
            Some(_) | None => {
                tracing::warn!(
                    seq = checkpoint.seq,
                    "write-model checkpoint unreadable; replaying the whole journal"
                );
            }
        }
    }
    recover_to(journal, settings, last).await
}

/// Folds the journal from seq 1 to `last` into a fresh write model.
pub async fn recover_to(
    journal: &dyn Journal,
    settings: Settings,
    last: Seq,
) -> Result<ClusterState, aurora_journal::Error> {
    let mut state = ClusterState::new(settings);
    fold(journal, &mut state, 1, last).await?;
    Ok(state)
}

async fn fold(
    journal: &dyn Journal,
    state: &mut ClusterState,
    from: Seq,
    last: Seq,
) -> Result<(), aurora_journal::Error> {
    aurora_journal::for_each_chunk(journal, from, last, |envelopes| {
        for envelope in envelopes {
            state.apply(envelope);
        }
    })
    .await
}

impl Replica {
    /// Recovers both models from the journal (the write model from the newest checkpoint) and
    /// starts the apply loop after the last committed seq.
    pub async fn start(
        journal: Arc<dyn Journal>,
        checkpoints: Arc<dyn CheckpointStore>,
        settings: Settings,
    ) -> Result<Arc<Self>, aurora_journal::Error> {
        let started = Instant::now();
        let state = recover(journal.as_ref(), checkpoints.as_ref(), settings).await?;
        let last = state.last_seq();
        tracing::info!(
            seq = last,
            tasks = state.task_count(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "write model recovered from the journal"
        );
        let folding = Instant::now();
        let read = crate::read_side::build(&journal, HistoryConfig::default(), last).await?;
        tracing::info!(
            seq = read.last_seq(),
            elapsed_ms = folding.elapsed().as_millis() as u64,
            "read model folded from the journal"
        );
        let last_at = match journal.read(SeqRange::new(last, last)).await?.first() {
            Some(envelope) => envelope.at,
            None => Timestamp::default(),
        };
        let replica = Arc::new(Self {
            journal: Arc::clone(&journal),
            checkpoints,
            model: Arc::new(RwLock::new(state)),
            last_at: Arc::new(AtomicI64::new(last_at.0)),
            read,
            progress: watch::Sender::new(Progress {
                seq: last,
                fault: None,
            }),
            checkpointing: AtomicBool::new(false),
        });
        tokio::spawn(apply_loop(Arc::clone(&replica), last));
        Ok(replica)
    }

    pub fn journal(&self) -> &Arc<dyn Journal> {
        &self.journal
    }

    /// The write model, read-locked. Hold it briefly: the apply loop waits for it.
    pub fn state(&self) -> RwLockReadGuard<'_, ClusterState> {
        // A poisoned lock means a fold panicked half-way; the state is still the best answer
        // there is, and the apply loop records the fault.
        self.model.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The shared write model, for explainers that outlive a request.
    pub fn shared_state(&self) -> Arc<RwLock<ClusterState>> {
        Arc::clone(&self.model)
    }

    /// The commit time of the last applied envelope. Read it while holding [`Self::state`] to
    /// get the time that goes with that state.
    pub fn last_applied_at(&self) -> Timestamp {
        Timestamp(self.last_at.load(Ordering::Acquire))
    }

    pub fn read_model(&self) -> &Arc<ReadModel> {
        &self.read
    }

    /// How far the apply loop has got.
    pub fn progress(&self) -> Progress {
        self.progress.borrow().clone()
    }

    /// Follows the apply loop's progress.
    pub fn subscribe(&self) -> watch::Receiver<Progress> {
        self.progress.subscribe()
    }

    /// Waits until `seq` is applied to both models, the loop stops on a fault, or `timeout`
    /// passes.
    pub async fn wait_applied(&self, seq: Seq, timeout: Duration) -> Result<(), ApplyError> {
        let mut progress = self.progress.subscribe();
        let waited = tokio::time::timeout(
            timeout,
            progress.wait_for(|p| p.seq >= seq || p.fault.is_some()),
        )
        .await;
        let now = self.progress();
        match (waited, now.fault) {
            (_, Some(fault)) if now.seq < seq => Err(ApplyError::Faulted(fault)),
            _ if now.seq >= seq => Ok(()),
            _ => Err(ApplyError::Lagging {
                seq,
                applied: now.seq,
            }),
        }
    }

    /// Saves the write model as a checkpoint now; returns its seq.
    pub async fn checkpoint(&self) -> Result<Seq, aurora_journal::Error> {
        let encoding = Instant::now();
        let (seq, bytes) = {
            let state = self.state();
            (state.last_seq(), state.to_checkpoint())
        };
        metrics::histogram!("aurora_checkpoint_encode_seconds")
            .record(encoding.elapsed().as_secs_f64());
        self.checkpoints
            .put_checkpoint(CHECKPOINT, seq, bytes)
            .await?;
        tracing::info!(seq, "write-model checkpoint saved");
        Ok(seq)
    }

    /// Folds `envelopes` (in seq order, possibly overlapping what is applied) into both models
    /// and publishes the new applied seq.
    fn apply(&self, envelopes: &[Envelope]) -> Result<Seq, String> {
        let last = {
            let mut state = self.model.write().unwrap_or_else(|e| e.into_inner());
            for envelope in envelopes {
                let expected = state.last_seq() + 1;
                if envelope.seq < expected {
                    continue;
                }
                if envelope.seq > expected {
                    return Err(format!(
                        "the journal skipped from seq {} to {}",
                        expected - 1,
                        envelope.seq
                    ));
                }
                state.apply(envelope);
                self.last_at.store(envelope.at.0, Ordering::Release);
            }
            state.last_seq()
        };
        if let Applied::Gap { expected } = self.read.apply(envelopes) {
            return Err(format!(
                "the read model expected seq {expected} next, but was handed seq {}",
                envelopes.first().map_or(0, |e| e.seq)
            ));
        }
        self.progress.send_modify(|p| p.seq = last);
        Ok(last)
    }

    fn fail(&self, fault: String) {
        tracing::error!(%fault, "the apply loop stopped: no more events will be applied");
        self.progress.send_modify(|p| p.fault = Some(fault));
    }

    /// Starts a write-model checkpoint in the background if one is due and none is running.
    fn checkpoint_if_due(self: &Arc<Self>, checkpointed: &mut (Seq, Instant), applied: Seq) {
        if applied.saturating_sub(checkpointed.0) < CHECKPOINT_EVERY
            || checkpointed.1.elapsed() < CHECKPOINT_MIN_INTERVAL
            || self.checkpointing.swap(true, Ordering::AcqRel)
        {
            return;
        }
        *checkpointed = (applied, Instant::now());
        let replica = Arc::clone(self);
        tokio::spawn(async move {
            if let Err(e) = replica.checkpoint().await {
                tracing::error!(error = %e, "write-model checkpoint failed");
            }
            replica.checkpointing.store(false, Ordering::Release);
        });
    }
}

/// Folds every envelope committed after `last`, in batches of whatever has arrived, until the
/// journal ends or cannot be read.
async fn apply_loop(replica: Arc<Replica>, last: Seq) {
    let mut checkpointed = (last, Instant::now());
    let mut batches = replica
        .journal
        .subscribe(last + 1)
        .ready_chunks(APPLY_BATCH);
    while let Some(batch) = batches.next().await {
        let mut envelopes = Vec::with_capacity(batch.len());
        let mut failure = None;
        for item in batch {
            match item {
                Ok(envelope) => envelopes.push(envelope),
                Err(e) => {
                    failure = Some(e.to_string());
                    break;
                }
            }
        }
        if !envelopes.is_empty() {
            let applying = Instant::now();
            let applied = replica.apply(&envelopes);
            metrics::histogram!("aurora_apply_seconds").record(applying.elapsed().as_secs_f64());
            match applied {
                Ok(applied) => replica.checkpoint_if_due(&mut checkpointed, applied),
                Err(fault) => failure = Some(fault),
            }
        }
        if let Some(fault) = failure {
            replica.fail(fault);
            return;
        }
    }
    tracing::info!("the journal closed; the apply loop ends");
}
