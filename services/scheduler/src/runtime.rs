//! The scheduler process: a [`Replica`] (every process has one: the apply loop and both
//! models) and, while it leads, a [`Leader`] (only the leader has one). Handlers reach both
//! through a cheap [`Runtime`] handle.
//!
//! ```text
//!            ┌───────────────────────── Runtime ─────────────────────────┐
//!  API ─────►│ submit ──► Leader (queue, decide, append, timers, agents) │──► journal
//!  agents ──►│ heartbeat / work ──► Leader.agents                         │      │
//!  UI, reads►│ state(), read_model() ◄── Replica (apply loop) ◄───────────│◄─────┘
//!            └────────────────────────────────────────────────────────────┘
//! ```
//!
//! A follower has no `Leader`: it refuses commands and agents with [`SubmitError::NotLeader`]
//! and serves reads from its own replica. Leadership is claimed from the journal
//! ([`aurora_journal::Journal::claim_leadership`]); when the journal refuses an append because
//! another leader's term began, the leader steps down and its state is dropped.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, Weak};
use std::time::Duration;

use aurora_events::{Actor, AgentId, Seq, TaskId};
use aurora_journal::{CheckpointStore, Clock, Journal, Term};
use aurora_projections::{PendingReasons, ReadModel};
use aurora_scheduler_core::{ClusterState, Command, Settings, explain_pending};

use crate::leader::{self, Context, Leader};
use crate::mirror::Mirror;
use crate::replica::Replica;

pub use crate::leader::{
    APPLY_TIMEOUT, AgentWork, CoordinatorSettings, LOOP_INTERVAL, Outcome, SubmitError,
};
pub use crate::replica::{
    CHECKPOINT, CHECKPOINT_EVERY, CHECKPOINT_MIN_INTERVAL, recover, recover_at, recover_to,
};

/// Whether a process starts by leading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAs {
    /// Claim leadership from the journal at once (one process without peers).
    Leader,
    /// Apply the journal, serve reads, refuse commands.
    Follower,
}

/// Everything a runtime is started with.
#[derive(Clone)]
pub struct RuntimeConfig {
    pub journal: Arc<dyn Journal>,
    /// This replica's local cache of write-model checkpoints.
    pub checkpoints: Arc<dyn CheckpointStore>,
    /// The leader's clock: the time of every decision.
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
    /// An agent not heard from for this long is lost (its tasks become LOST).
    pub agent_timeout: Duration,
    pub start_as: StartAs,
    /// The JetStream mirror the leader runs, if the cluster has one (`--nats`).
    pub mirror: Option<Mirror>,
    /// How the leader asks SLA coordinators.
    pub coordinators: CoordinatorSettings,
}

impl std::fmt::Debug for RuntimeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeConfig")
            .field("cluster", &self.journal.cluster())
            .field("clock", &self.clock)
            .field("settings", &self.settings)
            .field("agent_timeout", &self.agent_timeout)
            .field("start_as", &self.start_as)
            .finish_non_exhaustive()
    }
}

enum Role {
    Leader(Box<Leader>),
    Follower,
}

struct Inner {
    replica: Arc<Replica>,
    clock: Arc<dyn Clock>,
    agent_timeout: Duration,
    mirror: Option<Mirror>,
    coordinators: CoordinatorSettings,
    role: RwLock<Role>,
}

/// A handle on the running scheduler. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("cluster", &self.inner.replica.journal().cluster())
            .field("leader", &self.is_leader())
            .finish()
    }
}

impl Runtime {
    /// Recovers the replica from the journal, starts its apply loop and, as told, leads.
    pub async fn start(config: RuntimeConfig) -> Result<Self, aurora_journal::Error> {
        let replica = Replica::start(
            Arc::clone(&config.journal),
            config.checkpoints,
            config.settings,
        )
        .await?;
        replica
            .read_model()
            .set_pending_reasons(Arc::new(WriteModelExplainer {
                model: replica.shared_state(),
            }));
        let runtime = Self {
            inner: Arc::new(Inner {
                replica,
                clock: config.clock,
                agent_timeout: config.agent_timeout,
                mirror: config.mirror,
                coordinators: config.coordinators,
                role: RwLock::new(Role::Follower),
            }),
        };
        if config.start_as == StartAs::Leader {
            runtime.lead().await?;
        }
        Ok(runtime)
    }

    /// Claims leadership from the journal and starts leading once this replica has applied
    /// everything committed before. Returns the new term.
    pub async fn lead(&self) -> Result<Term, aurora_journal::Error> {
        let journal = Arc::clone(self.inner.replica.journal());
        let term = journal.claim_leadership().await?;
        let caught_up = journal.last_seq();
        if let Err(e) = self
            .inner
            .replica
            .wait_applied(caught_up, APPLY_TIMEOUT)
            .await
        {
            return Err(aurora_journal::Error::Damaged(e.to_string()));
        }
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let context = Context {
            replica: Arc::clone(&self.inner.replica),
            clock: Arc::clone(&self.inner.clock),
            agent_timeout: self.inner.agent_timeout,
            mirror: self.inner.mirror.clone(),
            coordinators: self.inner.coordinators.clone(),
            step_down: Arc::new(move |term| {
                if let Some(inner) = weak.upgrade() {
                    step_down(&inner, term);
                }
            }),
        };
        let leader = Leader::start(term, context);
        *self.inner.role.write().unwrap_or_else(|e| e.into_inner()) =
            Role::Leader(Box::new(leader));
        Ok(term)
    }

    /// Stops leading (if leading): the leader's state is dropped and its tasks end.
    pub fn step_down(&self) {
        let term = self.term();
        if let Some(term) = term {
            step_down(&self.inner, term);
        }
    }

    fn role(&self) -> RwLockReadGuard<'_, Role> {
        self.inner.role.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The JetStream mirror the leader runs, if the cluster has one.
    pub fn mirror(&self) -> Option<&Mirror> {
        self.inner.mirror.as_ref()
    }

    pub fn is_leader(&self) -> bool {
        matches!(*self.role(), Role::Leader(_))
    }

    /// The term this process leads under, if it leads.
    pub fn term(&self) -> Option<Term> {
        match &*self.role() {
            Role::Leader(leader) => Some(leader.term()),
            Role::Follower => None,
        }
    }

    fn not_leader() -> SubmitError {
        SubmitError::NotLeader { leader: None }
    }

    /// The leader's agent bookkeeping, or why there is none here.
    fn agents(&self) -> Result<Arc<leader::Agents>, SubmitError> {
        match &*self.role() {
            Role::Leader(leader) => Ok(Arc::clone(leader.agents())),
            Role::Follower => Err(Self::not_leader()),
        }
    }

    /// Decides and commits `command` on behalf of `actor`; resolves once its events are
    /// applied here (write model and read model).
    pub async fn submit(&self, actor: Actor, command: Command) -> Result<Outcome, SubmitError> {
        let queue = match &*self.role() {
            Role::Leader(leader) => leader.queue(),
            Role::Follower => return Err(Self::not_leader()),
        };
        leader::submit(&queue, actor, command).await
    }

    /// Decides and commits `commands` on behalf of `actor`, queued together (so that status
    /// reports about distinct tasks share a step); each outcome, in order.
    pub async fn submit_all(
        &self,
        actor: Actor,
        commands: Vec<Command>,
    ) -> Vec<Result<Outcome, SubmitError>> {
        let queue = match &*self.role() {
            Role::Leader(leader) => leader.queue(),
            Role::Follower => return commands.iter().map(|_| Err(Self::not_leader())).collect(),
        };
        leader::submit_all(&queue, actor, commands).await
    }

    /// The write model, read-locked (hold briefly).
    pub fn state(&self) -> RwLockReadGuard<'_, ClusterState> {
        self.inner.replica.state()
    }

    pub fn replica(&self) -> &Arc<Replica> {
        &self.inner.replica
    }

    /// The time on this scheduler's clock (the leader's decisions are stamped with it).
    pub fn now(&self) -> aurora_events::Timestamp {
        self.inner.clock.now()
    }

    pub fn journal(&self) -> &Arc<dyn Journal> {
        self.inner.replica.journal()
    }

    /// The projections behind the web UI and the read API (live and past views).
    pub fn read_model(&self) -> &Arc<ReadModel> {
        self.inner.replica.read_model()
    }

    /// Waits until this replica has applied `seq`.
    pub async fn wait_applied(&self, seq: Seq, timeout: Duration) -> Result<(), SubmitError> {
        Ok(self.inner.replica.wait_applied(seq, timeout).await?)
    }

    /// Why each waiting (PENDING or THROTTLED) task waits, explained from this replica's
    /// write model.
    pub fn pending_reasons(&self) -> BTreeMap<TaskId, String> {
        let state = self.state();
        let waiting: Vec<TaskId> = state
            .tasks()
            .filter(|t| {
                matches!(
                    t.status,
                    aurora_events::ScheduleStatus::Pending
                        | aurora_events::ScheduleStatus::Throttled
                )
            })
            .map(|t| t.id.clone())
            .collect();
        explain_pending(&state, &waiting)
    }

    /// Saves the write model as a checkpoint now; returns its seq.
    pub async fn checkpoint(&self) -> Result<Seq, aurora_journal::Error> {
        self.inner.replica.checkpoint().await
    }

    /// Records a heartbeat and hands over the agent's queued work.
    pub fn heartbeat(&self, agent: &AgentId) -> Result<AgentWork, SubmitError> {
        Ok(self.agents()?.heartbeat(agent, std::time::Instant::now()))
    }

    /// Hands over the agent's queued work, waiting up to `wait` for some.
    pub async fn take_work(
        &self,
        agent: &AgentId,
        wait: Duration,
    ) -> Result<AgentWork, SubmitError> {
        let agents = self.agents()?;
        Ok(agents.take_work(agent, wait).await)
    }

    /// Records that a request from `agent` arrived (a registration or status report about to
    /// wait its turn in the leader's queue): the agent is alive even if its request is decided
    /// only after its timeout has passed (2,000 agents re-registering at once after a leader
    /// change wait behind one another). Nothing on a follower.
    pub fn note_contact(&self, agent: &AgentId) {
        if let Ok(agents) = self.agents() {
            agents.heard_from(agent, std::time::Instant::now());
        }
    }

    /// Records that `agent` registered with this leader (which counts as hearing from it; work
    /// already queued for it waits for its next heartbeat).
    pub fn note_registration(&self, agent: &AgentId) -> Result<(), SubmitError> {
        let agents = self.agents()?;
        agents.note_registration(agent);
        agents.heard_from(agent, std::time::Instant::now());
        Ok(())
    }

    /// Forgets every registration, so each agent's next heartbeat asks it to register again
    /// with the tasks it runs (Aurora's explicit task reconciliation). Returns how many agents
    /// were asked.
    pub fn request_reconciliation(&self) -> Result<usize, SubmitError> {
        Ok(self.agents()?.forget_registrations())
    }

    /// Whether `agent` registered with this leader.
    pub fn has_registered(&self, agent: &AgentId) -> bool {
        self.agents()
            .is_ok_and(|agents| agents.has_registered(agent))
    }

    /// Queues a kill for a task on an agent outside any decision (reconciliation of tasks the
    /// scheduler does not know).
    pub fn queue_kill(&self, agent: &AgentId, task: TaskId) -> Result<(), SubmitError> {
        self.agents()?.queue_kill(agent, task);
        Ok(())
    }
}

fn step_down(inner: &Inner, term: Term) {
    let mut role = inner.role.write().unwrap_or_else(|e| e.into_inner());
    if matches!(&*role, Role::Leader(leader) if leader.term() == term) {
        tracing::warn!(term, "stepping down: leader state dropped");
        *role = Role::Follower;
    }
}

/// Pending reasons explained from this replica's write model alone
/// ([`aurora_scheduler_core::explain_pending`]): any replica can answer, leader or follower,
/// at a cost proportional to the agents and the asked tasks.
struct WriteModelExplainer {
    model: Arc<RwLock<ClusterState>>,
}

impl PendingReasons for WriteModelExplainer {
    fn pending_reasons(&self, tasks: &[TaskId]) -> BTreeMap<TaskId, String> {
        let state = self.model.read().unwrap_or_else(|e| e.into_inner());
        explain_pending(&state, tasks)
    }
}
