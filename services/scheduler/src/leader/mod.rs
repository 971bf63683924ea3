//! Leadership as a value. A [`Leader`] holds everything only the leader has — the command
//! queue and the loop that decides, the timers and scheduling passes, the agents' outbox,
//! heartbeats and registrations — and is dropped on step-down, which stops its tasks. A
//! follower has none of it. One process without peers is simply always the leader.
//!
//! The leader loop takes one command at a time:
//!
//! ```text
//!  command ──► decide on the applied write model, at max(clock, last commit time)
//!          ──► journal.append(precondition: this term, after the seq decided on)
//!                 NotLeader ──► step down        Conflict ──► catch up, decide again (bounded)
//!          ──► wait until the apply loop has applied the new seqs (read-your-writes)
//!          ──► effects (launch, kill) to the agents' outbox ──► answer the caller
//! ```

pub mod agents;
mod timers;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aurora_events::{Actor, Timestamp};
use aurora_journal::{Append, Clock, Precondition, SeqRange, Term};
use aurora_scheduler_core::{ClusterState, Command, Ctx, Decision, Rejection, decide};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::replica::{ApplyError, Replica};

pub use agents::{AgentWork, Agents};
pub use timers::LOOP_INTERVAL;

/// How many times a command is decided again when the journal moved on under it.
const MAX_ATTEMPTS: usize = 3;

/// How long a caller waits for its committed events to be applied before it is told so.
pub const APPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a submitted command did not take effect.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Rejected(#[from] Rejection),
    #[error("journal: {0}")]
    Journal(#[from] aurora_journal::Error),
    #[error("this scheduler is not the leader{}", leader.as_deref().map(|l| format!("; the leader is {l}")).unwrap_or_default())]
    NotLeader { leader: Option<String> },
    #[error(transparent)]
    NotApplied(#[from] ApplyError),
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

pub(crate) struct Job {
    pub actor: Actor,
    pub command: Command,
    pub reply: oneshot::Sender<Result<Outcome, SubmitError>>,
}

/// Aborts a task when dropped: the leader's tasks end with the leader.
#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The leader's state. Dropping it stops the leader loop and the timers, and answers every
/// agent's waiting work poll.
#[derive(Debug)]
pub struct Leader {
    term: Term,
    queue: mpsc::Sender<Job>,
    agents: Arc<Agents>,
    _tasks: Vec<AbortOnDrop>,
}

impl Drop for Leader {
    fn drop(&mut self) {
        self.agents.close();
    }
}

/// What the leader's tasks share with the process around them.
#[derive(Clone)]
pub(crate) struct Context {
    pub replica: Arc<Replica>,
    pub clock: Arc<dyn Clock>,
    pub agent_timeout: Duration,
    /// Called (once) when the journal says another leader took over.
    pub step_down: Arc<dyn Fn(Term) + Send + Sync>,
}

impl Leader {
    /// Starts leading under `term`: the leader loop and the timers.
    pub(crate) fn start(term: Term, context: Context) -> Self {
        let (queue, jobs) = mpsc::channel(1024);
        let agents = Arc::new(Agents::new(Instant::now()));
        let lead = tokio::spawn(lead(term, context.clone(), Arc::clone(&agents), jobs));
        let timers = tokio::spawn(timers::run(context, queue.clone(), Arc::clone(&agents)));
        tracing::info!(term, "leading");
        Self {
            term,
            queue,
            agents,
            _tasks: vec![AbortOnDrop(lead), AbortOnDrop(timers)],
        }
    }

    pub fn term(&self) -> Term {
        self.term
    }

    pub fn agents(&self) -> &Arc<Agents> {
        &self.agents
    }

    pub(crate) fn queue(&self) -> mpsc::Sender<Job> {
        self.queue.clone()
    }
}

/// Submits `command` through `queue` and waits for its outcome.
pub(crate) async fn submit(
    queue: &mpsc::Sender<Job>,
    actor: Actor,
    command: Command,
) -> Result<Outcome, SubmitError> {
    let (reply, answer) = oneshot::channel();
    let job = Job {
        actor,
        command,
        reply,
    };
    // A closed queue means the leader stepped down (or the process is stopping) meanwhile.
    let gone = || SubmitError::NotLeader { leader: None };
    queue.send(job).await.map_err(|_| gone())?;
    answer.await.map_err(|_| gone())?
}

/// The context of one decision: the time is the clock's, but never before the last commit
/// (commit times never decrease), and the seed is fresh for each decision.
pub fn decision_context(
    clock_now: Timestamp,
    last_applied_at: Timestamp,
    actor: Actor,
    seed: u64,
) -> Ctx {
    Ctx {
        now: clock_now.max(last_applied_at),
        actor,
        seed,
    }
}

/// Decides `command` on `state` (the pure part of a leader step).
pub fn decide_step(
    state: &ClusterState,
    command: &Command,
    ctx: &Ctx,
) -> Result<Decision, Rejection> {
    decide(state, command, ctx)
}

async fn lead(term: Term, context: Context, agents: Arc<Agents>, mut jobs: mpsc::Receiver<Job>) {
    while let Some(job) = jobs.recv().await {
        let result = step(term, &context, &agents, job.actor, &job.command).await;
        let deposed = matches!(&result, Err(SubmitError::NotLeader { .. }));
        let _ = job.reply.send(result);
        if deposed {
            (context.step_down)(term);
            return;
        }
    }
}

/// One command, decided, committed, applied and carried out.
async fn step(
    term: Term,
    context: &Context,
    agents: &Agents,
    actor: Actor,
    command: &Command,
) -> Result<Outcome, SubmitError> {
    let replica = &context.replica;
    let journal = replica.journal();
    for _ in 0..MAX_ATTEMPTS {
        if let Some(fault) = replica.progress().fault {
            return Err(ApplyError::Faulted(fault).into());
        }
        // A newer term means another leader: stop before deciding, not only when an append
        // is refused (a command that decides nothing would never find out).
        let current = journal.term();
        if current != term {
            tracing::warn!(term, current, "another leader took over; stepping down");
            return Err(SubmitError::NotLeader { leader: None });
        }
        let (after, ctx, decision) = {
            let state = replica.state();
            let ctx = decision_context(
                context.clock.now(),
                replica.last_applied_at(),
                actor.clone(),
                rand::random(),
            );
            let decision = decide_step(&state, command, &ctx)?;
            (state.last_seq(), ctx, decision)
        };
        record_metrics(command, &decision);
        if decision.events.is_empty() {
            finish(agents, &decision);
            return Ok(Outcome {
                committed: None,
                decision,
            });
        }
        let appending = Instant::now();
        let append = Append::new(
            Precondition::follows(term, after),
            ctx.now,
            decision.events.clone(),
        );
        match journal.append(append).await {
            Ok(range) => {
                metrics::histogram!("aurora_journal_append_seconds")
                    .record(appending.elapsed().as_secs_f64());
                replica.wait_applied(range.last, APPLY_TIMEOUT).await?;
                finish(agents, &decision);
                return Ok(Outcome {
                    committed: Some(range),
                    decision,
                });
            }
            Err(aurora_journal::Error::Conflict { last, .. }) => {
                // Someone else wrote since we decided (a stale state): catch up, decide again.
                tracing::warn!(after, last, "the journal moved on; deciding again");
                replica.wait_applied(last, APPLY_TIMEOUT).await?;
            }
            Err(aurora_journal::Error::NotLeader { current, .. }) => {
                tracing::warn!(term, current, "another leader took over; stepping down");
                return Err(SubmitError::NotLeader { leader: None });
            }
            Err(other) => return Err(other.into()),
        }
    }
    Err(aurora_journal::Error::Conflict {
        after: replica.state().last_seq(),
        last: journal.last_seq(),
    }
    .into())
}

/// What happens after a decision is committed and applied: its effects go to the agents, and
/// refused transitions are logged.
pub fn finish(agents: &Agents, decision: &Decision) {
    agents.queue_effects(&decision.effects);
    for illegal in &decision.illegal {
        tracing::warn!(task = %illegal.task, from = ?illegal.from, to = %illegal.to, "illegal task state transition");
    }
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
