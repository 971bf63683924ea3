//! What a decider returns: the events to journal and the effects for the runtime to carry out
//! once they are committed, or a rejection saying why nothing happened.

use std::collections::BTreeSet;

use aurora_events::Event;
use aurora_events::{
    Actor, AgentId, ConfigHash, EventId, JobKey, PendingEvent, ScheduleStatus, TaskId, Timestamp,
    UpdateKey,
};

use crate::Ctx;
use crate::ids::IdGen;

/// An action on the world, carried out by the runtime after the decision's events are committed
/// (and only by the leader). Effects are not journaled: the events say what was decided.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Effect {
    /// Launch the task (its config and ports are in the state once the events are applied).
    Launch { task: TaskId, agent: AgentId },
    /// Kill the task on the agent.
    Kill { task: TaskId, agent: AgentId },
    /// Ask the SLA coordinator at `url` whether `task` may go down (an HTTP POST of the task;
    /// it may when the answer's `status_key` is true). A yes comes back as the
    /// `CoordinatorAllowed` command; a no, or no answer, leaves the task up.
    AskCoordinator {
        task: TaskId,
        job: JobKey,
        instance: u32,
        host: String,
        status: ScheduleStatus,
        url: String,
        status_key: String,
        /// For a drain: how long until the task is drained regardless.
        force_countdown_ms: Option<i64>,
    },
}

/// A transition the state machine refused; counted by the runtime, never an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IllegalTransition {
    pub task: TaskId,
    pub from: Option<ScheduleStatus>,
    pub to: ScheduleStatus,
}

/// The outcome of one decision.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decision {
    pub events: Vec<PendingEvent>,
    pub effects: Vec<Effect>,
    pub illegal: Vec<IllegalTransition>,
    /// For a scheduling pass: each task it tried and left pending, with why (shown to users).
    pub pending: Vec<(TaskId, String)>,
    /// For a scheduling pass: what became of each group of PENDING tasks, and the work done;
    /// empty for other commands.
    pub pass: PassOutcome,
    /// For an update start: the update started, or the one a retried start had started.
    pub update: Option<UpdateKey>,
}

/// What a scheduling pass did with the groups of PENDING tasks (tasks sharing a config), for
/// the leader to back off the groups that keep not fitting ([`Backoff`]). Every group with
/// PENDING tasks is in at most one set; a group asked to be skipped is in none.
///
/// [`Backoff`]: crate::scheduling::Backoff
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PassOutcome {
    /// Groups with at least one task placed.
    pub placed: BTreeSet<ConfigHash>,
    /// Groups tried with none placed, for which victims were found to preempt: they will fit
    /// once the victims are gone, so they are making progress.
    pub preempting: BTreeSet<ConfigHash>,
    /// Groups tried with none placed and nothing to preempt for them.
    pub unplaced: BTreeSet<ConfigHash>,
    /// Groups not tried because the pass's task budget ran out first.
    pub deferred: BTreeSet<ConfigHash>,
    pub work: PassWork,
}

/// How much a scheduling pass did, in units that bound its cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PassWork {
    /// PENDING tasks handed to placement.
    pub tasks_tried: usize,
    /// Searches for victims (one per preemptor tried; a group whose search fails is not
    /// searched again in the pass).
    pub preemption_searches: usize,
    /// Agents whose tasks a preemption search looked at (agents without a candidate the
    /// preemptor may preempt are skipped through the write model's index, unseen).
    pub agents_examined: usize,
}

impl Decision {
    /// The events alone, without ids, actors or causes: what most tests compare.
    pub fn facts(&self) -> Vec<Event> {
        self.events.iter().map(|e| e.event.clone()).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.effects.is_empty() && self.illegal.is_empty()
    }
}

/// Why a command was refused. Nothing was decided; the caller may fix the request and retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("job {0} already exists")]
    JobExists(JobKey),
    #[error("no such job: {0}")]
    UnknownJob(JobKey),
    #[error("no such task: {0}")]
    UnknownTask(TaskId),
    #[error("no such agent: {0}")]
    UnknownAgent(AgentId),
    #[error("Insufficient resource quota: {0}")]
    InsufficientQuota(String),
    #[error("job {0} has an update in progress")]
    JobUpdating(JobKey),
    /// Aurora answers OK with this message and starts nothing.
    #[error("Job is unchanged by proposed update.")]
    UpdateUnchanged,
    /// A second update while one is active (Aurora's `UpdateInProgressException`).
    #[error(
        "An active update {0} already exists for this job, please terminate it before starting another. Active updates are those in states ROLLING_FORWARD, ROLLING_BACK, ROLL_FORWARD_PAUSED, ROLL_BACK_PAUSED, ROLL_FORWARD_AWAITING_PULSE, ROLL_BACK_AWAITING_PULSE"
    )]
    UpdateInProgress(UpdateKey),
    /// Pause, resume, abort or rollback of a job without an active update.
    #[error("No active update found for {0}")]
    NoActiveUpdate(JobKey),
    /// A pulse for an update that is unknown or no longer active (Aurora's FINISHED).
    #[error("update {0} is not active")]
    UpdateNotActive(UpdateKey),
    /// An agent id bound to one user (its first registration under authentication), presented
    /// by another.
    #[error(
        "agent {agent} is bound to user {bound}'s credential; {presented} may not act as it \
         (give each agent its own credential and id)"
    )]
    AgentBoundElsewhere {
        agent: AgentId,
        bound: String,
        presented: String,
    },
    /// A host whose agent (live or lost) is bound to one user, claimed by another user's
    /// agent under a new id: refused, or any `agent:*` credential could take over a host whose
    /// agent went away.
    #[error(
        "host {host} is served by agent {agent}, bound to user {bound}'s credential; {presented} \
         may not register another agent for it (run the agent with {bound}'s credential, or \
         unbind {agent} with `aurora-admin agent unbind` if the host was rebuilt)"
    )]
    HostBoundElsewhere {
        host: String,
        agent: AgentId,
        bound: String,
        presented: String,
    },
    #[error("task {task} cannot go from {from} to {to}")]
    IllegalTransition {
        task: TaskId,
        from: ScheduleStatus,
        to: ScheduleStatus,
    },
}

/// One decision under construction: collects its events (stamping each with the actor and a
/// fresh id), effects and notes. Handed to [`Decide::decide`](crate::commands::Decide); only
/// this crate can build or fill one, so every decision goes through [`decide`](crate::decide).
#[derive(Debug)]
pub struct Out {
    ids: IdGen,
    actor: Actor,
    pub(crate) now: Timestamp,
    pub(crate) decision: Decision,
}

impl Out {
    pub(crate) fn new(ctx: &Ctx) -> Self {
        Self {
            ids: IdGen::new(ctx.seed, ctx.now),
            actor: ctx.actor.clone(),
            now: ctx.now,
            decision: Decision::default(),
        }
    }

    /// Records an event and returns its id, for later events to name as their cause.
    pub(crate) fn emit(&mut self, event: Event, cause: Option<EventId>) -> EventId {
        let id = self.ids.event_id();
        self.decision.events.push(PendingEvent {
            id,
            actor: self.actor.clone(),
            cause,
            event,
        });
        id
    }

    pub(crate) fn effect(&mut self, effect: Effect) {
        self.decision.effects.push(effect);
    }

    pub(crate) fn illegal(
        &mut self,
        task: TaskId,
        from: Option<ScheduleStatus>,
        to: ScheduleStatus,
    ) {
        self.decision
            .illegal
            .push(IllegalTransition { task, from, to });
    }

    /// Who asked for the decision.
    pub(crate) fn actor(&self) -> &Actor {
        &self.actor
    }

    pub(crate) fn ids(&mut self) -> &mut IdGen {
        &mut self.ids
    }

    pub(crate) fn finish(self) -> Decision {
        self.decision
    }
}
