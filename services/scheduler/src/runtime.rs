//! The leader loop: command → decide → journal append (durable) → apply → effects.
//!
//! One task owns every decision, so each decision sees the state left by the previous one. The
//! state is folded only from envelopes read back from the journal after commit, exactly as a
//! follower (later) folds them: "fold everywhere, act only on the leader". Effects (launch,
//! kill) are queued per agent and handed out in the agents' heartbeat replies, so the scheduler
//! never has to reach an agent.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use aurora_events::{Actor, AgentId, Envelope, Seq, TaskId, Timestamp};
use aurora_journal::{Clock, Journal, SeqRange};
use aurora_projections::HistoryConfig;
use aurora_scheduler_core::commands::{LoseAgent, Schedule, Tick};
use aurora_scheduler_core::{
    ClusterState, Command, Ctx, Decision, Effect, Rejection, Settings, decide,
};
use aurora_web::ReadModel;
use tokio::sync::{mpsc, oneshot};

/// How often the timers (Tick) and the scheduling pass run.
pub const LOOP_INTERVAL: Duration = Duration::from_millis(500);

/// Why a submitted command did not take effect.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Rejected(#[from] Rejection),
    #[error("journal: {0}")]
    Journal(#[from] aurora_journal::Error),
    #[error("the scheduler is shutting down")]
    ShuttingDown,
}

/// What a committed command did.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The seqs its events were committed at (`None` when it decided nothing).
    pub committed: Option<SeqRange>,
    pub decision: Decision,
}

/// Work the scheduler has for one agent, handed out on its next heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentWork {
    pub launch: BTreeSet<TaskId>,
    pub kill: BTreeSet<TaskId>,
}

struct Job {
    actor: Actor,
    command: Command,
    reply: oneshot::Sender<Result<Outcome, SubmitError>>,
}

struct Inner {
    journal: Arc<dyn Journal>,
    clock: Arc<dyn Clock>,
    state: RwLock<ClusterState>,
    queue: mpsc::Sender<Job>,
    outbox: Mutex<BTreeMap<AgentId, AgentWork>>,
    heartbeats: Mutex<BTreeMap<AgentId, Instant>>,
    /// Agents that registered with this scheduler process. Any other agent is asked to register
    /// again, which reconciles what it runs with what the journal says it runs.
    registered: Mutex<BTreeSet<AgentId>>,
    /// The projections behind the web UI, folded right after the write model.
    read: Arc<ReadModel>,
    agent_timeout: Duration,
    started: Instant,
}

/// A handle on the running scheduler. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("cluster", &self.inner.journal.cluster())
            .finish()
    }
}

/// The checkpoint name of the write model in the journal.
pub const CHECKPOINT: &str = "write-model";

/// Commits between two automatic write-model checkpoints.
pub const CHECKPOINT_EVERY: u64 = 10_000;

/// Rebuilds the write model at the start of every scheduler: the latest checkpoint, if there is
/// a readable one, plus the journal after it; otherwise the whole journal.
pub async fn recover(
    journal: &dyn Journal,
    settings: Settings,
) -> Result<ClusterState, aurora_journal::Error> {
    recover_at(journal, settings, journal.last_seq()).await
}

/// The write model as of `last`: the newest checkpoint at or before it, plus the journal up to
/// `last`; the whole journal when no checkpoint is usable.
pub async fn recover_at(
    journal: &dyn Journal,
    settings: Settings,
    last: Seq,
) -> Result<ClusterState, aurora_journal::Error> {
    if let Some(checkpoint) = journal.checkpoint_at_or_before(CHECKPOINT, last).await? {
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

/// Folds seqs `from..=last` into `state`.
async fn fold(
    journal: &dyn Journal,
    state: &mut ClusterState,
    from: Seq,
    last: Seq,
) -> Result<(), aurora_journal::Error> {
    for_each_chunk(journal, from, last, |envelopes| {
        for envelope in envelopes {
            state.apply(envelope);
        }
    })
    .await
}

/// Reads seqs `from..=last` in chunks (bounded memory however long the journal) and hands each
/// chunk to `visit`, in seq order.
pub async fn for_each_chunk(
    journal: &dyn Journal,
    from: Seq,
    last: Seq,
    mut visit: impl FnMut(&[Envelope]),
) -> Result<(), aurora_journal::Error> {
    const CHUNK: u64 = 10_000;
    let mut next = from;
    while next <= last {
        let envelopes = journal
            .read(SeqRange::new(next, (next + CHUNK - 1).min(last)))
            .await?;
        if envelopes.is_empty() {
            break;
        }
        visit(&envelopes);
        next += envelopes.len() as u64;
    }
    Ok(())
}

impl Runtime {
    /// Recovers the state from `journal` and starts the leader loop and the timers. Agents that
    /// the journal knows get `agent_timeout` from now to heartbeat before they are lost.
    pub async fn start(
        journal: Arc<dyn Journal>,
        clock: Arc<dyn Clock>,
        settings: Settings,
        agent_timeout: Duration,
    ) -> Result<Self, aurora_journal::Error> {
        let started_at = Instant::now();
        let state = recover(journal.as_ref(), settings).await?;
        tracing::info!(
            seq = state.last_seq(),
            tasks = state.task_count(),
            elapsed_ms = started_at.elapsed().as_millis() as u64,
            "state recovered from the journal"
        );
        let folding = Instant::now();
        let read =
            crate::read_side::build(&journal, HistoryConfig::default(), state.last_seq()).await?;
        tracing::info!(
            seq = read.last_seq(),
            elapsed_ms = folding.elapsed().as_millis() as u64,
            "read model folded from the journal"
        );
        let (queue, jobs) = mpsc::channel(1024);
        let runtime = Self {
            inner: Arc::new(Inner {
                journal,
                clock,
                state: RwLock::new(state),
                queue,
                outbox: Mutex::new(BTreeMap::new()),
                heartbeats: Mutex::new(BTreeMap::new()),
                registered: Mutex::new(BTreeSet::new()),
                read,
                agent_timeout,
                started: Instant::now(),
            }),
        };
        tokio::spawn(leader(Arc::clone(&runtime.inner), jobs));
        tokio::spawn(timers(runtime.clone()));
        Ok(runtime)
    }

    /// Decides and commits `command` on behalf of `actor`.
    pub async fn submit(&self, actor: Actor, command: Command) -> Result<Outcome, SubmitError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .queue
            .send(Job {
                actor,
                command,
                reply,
            })
            .await
            .map_err(|_| SubmitError::ShuttingDown)?;
        answer.await.map_err(|_| SubmitError::ShuttingDown)?
    }

    /// Read access to the write model (API reads until the projections serve them).
    pub fn state(&self) -> RwLockReadGuard<'_, ClusterState> {
        self.inner
            .state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn journal(&self) -> &Arc<dyn Journal> {
        &self.inner.journal
    }

    /// The projections the web UI reads (live and past views).
    pub fn read_model(&self) -> &Arc<ReadModel> {
        &self.inner.read
    }

    /// Why each pending task is pending, as of the last scheduling pass (kept by the read
    /// model, which shows them on live pages).
    pub fn pending_reasons(&self) -> BTreeMap<TaskId, String> {
        self.inner.read.pending_reasons()
    }

    /// Saves the write model as a checkpoint in the journal now; returns its seq.
    pub async fn checkpoint(&self) -> Result<Seq, aurora_journal::Error> {
        let (seq, bytes) = {
            let state = self.state();
            (state.last_seq(), state.to_checkpoint())
        };
        self.inner
            .journal
            .put_checkpoint(CHECKPOINT, seq, bytes)
            .await?;
        tracing::info!(seq, "write-model checkpoint saved");
        Ok(seq)
    }

    /// Records a heartbeat and hands over the agent's queued work.
    pub fn heartbeat(&self, agent: &AgentId) -> AgentWork {
        if let Ok(mut beats) = self.inner.heartbeats.lock() {
            beats.insert(agent.clone(), Instant::now());
        }
        self.inner
            .outbox
            .lock()
            .map(|mut outbox| outbox.remove(agent).unwrap_or_default())
            .unwrap_or_default()
    }

    /// Records that `agent` registered with this process.
    pub fn note_registration(&self, agent: &AgentId) {
        if let Ok(mut registered) = self.inner.registered.lock() {
            registered.insert(agent.clone());
        }
    }

    /// Forgets every registration, so each agent's next heartbeat asks it to register again
    /// with the tasks it runs (Aurora's explicit task reconciliation). Returns how many agents
    /// were asked.
    pub fn request_reconciliation(&self) -> usize {
        match self.inner.registered.lock() {
            Ok(mut registered) => std::mem::take(&mut *registered).len(),
            Err(_) => 0,
        }
    }

    /// Whether `agent` registered with this process (since it started).
    pub fn has_registered(&self, agent: &AgentId) -> bool {
        self.inner
            .registered
            .lock()
            .is_ok_and(|registered| registered.contains(agent))
    }

    /// Queues a kill for a task on an agent outside any decision (reconciliation of tasks the
    /// scheduler does not know).
    pub fn queue_kill(&self, agent: &AgentId, task: TaskId) {
        if let Ok(mut outbox) = self.inner.outbox.lock() {
            outbox.entry(agent.clone()).or_default().kill.insert(task);
        }
    }
}

async fn leader(inner: Arc<Inner>, mut jobs: mpsc::Receiver<Job>) {
    let mut checkpointed = inner.journal.last_seq();
    while let Some(job) = jobs.recv().await {
        let result = handle(&inner, job.actor, job.command).await;
        let _ = job.reply.send(result);
        // Encode under the same read lock that decides whether a checkpoint is due.
        let due = {
            let state = inner
                .state
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let seq = state.last_seq();
            (seq.saturating_sub(checkpointed) >= CHECKPOINT_EVERY)
                .then(|| (seq, state.to_checkpoint()))
        };
        if let Some((seq, bytes)) = due {
            match inner.journal.put_checkpoint(CHECKPOINT, seq, bytes).await {
                Ok(()) => checkpointed = seq,
                Err(e) => tracing::error!(error = %e, "write-model checkpoint failed"),
            }
        }
    }
}

async fn handle(inner: &Inner, actor: Actor, command: Command) -> Result<Outcome, SubmitError> {
    let now = inner.clock.now();
    let ctx = Ctx {
        now,
        actor,
        seed: rand::random(),
    };
    let decision = {
        let state = inner
            .state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        decide(&state, &command, &ctx)?
    };
    record_metrics(&command, &decision);
    let committed = if decision.events.is_empty() {
        None
    } else {
        let appending = Instant::now();
        let range = inner.journal.append(decision.events.clone()).await?;
        metrics::histogram!("aurora_journal_append_seconds")
            .record(appending.elapsed().as_secs_f64());
        let envelopes = inner.journal.read(range).await?;
        let mut state = inner
            .state
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for envelope in &envelopes {
            state.apply(envelope);
        }
        drop(state);
        if let aurora_projections::Applied::Gap { expected } = inner.read.apply(&envelopes) {
            // Only a journal that skipped seqs could cause this; the write model would be
            // wrong too. Say so loudly rather than show a silently stale UI.
            tracing::error!(expected, first = range.first, "read model missed events");
        }
        Some(range)
    };
    if let Ok(mut outbox) = inner.outbox.lock() {
        for effect in &decision.effects {
            match effect {
                Effect::Launch { task, agent } => {
                    outbox
                        .entry(agent.clone())
                        .or_default()
                        .launch
                        .insert(task.clone());
                }
                Effect::Kill { task, agent } => {
                    let work = outbox.entry(agent.clone()).or_default();
                    // A kill overrides a launch that has not been handed out yet.
                    work.launch.remove(task);
                    work.kill.insert(task.clone());
                }
            }
        }
    }
    for illegal in &decision.illegal {
        tracing::warn!(task = %illegal.task, from = ?illegal.from, to = %illegal.to, "illegal task state transition");
    }
    if matches!(command, Command::Schedule(_)) {
        inner
            .read
            .set_pending_reasons(decision.pending.iter().cloned().collect());
    }
    Ok(Outcome {
        committed,
        decision,
    })
}

/// Counts what a decision did, for `/metrics` (no-ops when no recorder is installed).
fn record_metrics(command: &Command, decision: &Decision) {
    use aurora_events::Event;
    if matches!(command, Command::Schedule(_)) {
        metrics::counter!("aurora_schedule_attempts_total").increment(1);
    }
    for pending in &decision.events {
        if matches!(pending.event, Event::TaskAssigned { .. }) {
            metrics::counter!("aurora_tasks_placed_total").increment(1);
        }
        if let Event::TaskStateChanged {
            message: Some(message),
            ..
        } = &pending.event
            && message == "Task timed out"
        {
            metrics::counter!("aurora_timed_out_tasks_total").increment(1);
        }
    }
    if !decision.illegal.is_empty() {
        metrics::counter!("aurora_illegal_task_state_transitions_total")
            .increment(decision.illegal.len() as u64);
    }
}

/// Ticks the timers, runs a scheduling pass, and loses agents that stopped heartbeating.
async fn timers(runtime: Runtime) {
    let mut since: Timestamp = runtime.inner.clock.now();
    let mut interval = tokio::time::interval(LOOP_INTERVAL);
    loop {
        interval.tick().await;
        let now = runtime.inner.clock.now();
        for command in [
            Command::Tick(Tick { since }),
            Command::Schedule(Schedule::default()),
        ] {
            if let Err(e) = runtime.submit(Actor::Scheduler, command).await {
                match e {
                    SubmitError::ShuttingDown => return,
                    other => tracing::error!(error = %other, "timer decision failed"),
                }
            }
        }
        since = now;
        for agent in silent_agents(&runtime) {
            let reason = format!(
                "no heartbeat for {} s",
                runtime.inner.agent_timeout.as_secs()
            );
            if let Err(e) = runtime
                .submit(
                    Actor::Scheduler,
                    Command::LoseAgent(LoseAgent { agent, reason }),
                )
                .await
            {
                tracing::error!(error = %e, "losing a silent agent failed");
            }
        }
    }
}

/// Live agents whose last heartbeat (or the scheduler's start, for agents not yet heard from)
/// is older than the timeout.
fn silent_agents(runtime: &Runtime) -> Vec<AgentId> {
    let timeout = runtime.inner.agent_timeout;
    let beats = match runtime.inner.heartbeats.lock() {
        Ok(beats) => beats.clone(),
        Err(_) => return Vec::new(),
    };
    let state = runtime.state();
    state
        .agents()
        .iter()
        .filter(|(_, agent)| !agent.lost)
        .filter(|(id, _)| {
            beats
                .get(*id)
                .copied()
                .unwrap_or(runtime.inner.started)
                .elapsed()
                > timeout
        })
        .map(|(id, _)| id.clone())
        .collect()
}
