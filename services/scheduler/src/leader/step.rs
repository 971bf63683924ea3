//! The leader's step without its I/O, shared by the runtime's leader loop and the
//! deterministic simulator (`tests/src/sim`), so that both drive the core the same way:
//!
//! ```text
//!  queued commands ──► batch (joins_batch) ──► propose: decide each against one state, at
//!                                              max(clock, last commit time)
//!        runtime: append + wait applied   │    simulator: commit to its journal, apply
//!                                         ▼
//!                      settle: each command's own seqs, effects to the agents' outbox
//!
//!  after a step that moved a job with an active update: AdvanceUpdates for those jobs (the
//!  runtime gathers the steps of a few milliseconds into one turn)
//!
//!  timers, every round (Clockwork): Tick { since } ──► AdvanceUpdates (all) ──► passes with
//!  the backoff's budget and skipped groups, another at once while one ran out of budget
//!  (bounded)
//! ```

use std::collections::BTreeSet;

use aurora_events::{
    Actor, AgentId, Event, JobKey, PendingEvent, ScheduleStatus, Seq, TaskId, Timestamp,
};
use aurora_journal::SeqRange;
use aurora_scheduler_core::commands::{AdvanceUpdates, CronRound, Schedule, Tick};
use aurora_scheduler_core::scheduling::{Backoff, BackoffSettings};
use aurora_scheduler_core::{ClusterState, Command, Ctx, Decision, PassOutcome, Rejection, decide};

use super::agents::Agents;

/// Most status reports, or registrations, decided and committed together (Aurora batches
/// status reports too).
pub const MAX_BATCH: usize = 1024;

/// Most scheduling passes in one round: a backlog larger than this many passes' budget waits
/// for the next round.
pub const MAX_PASSES_PER_ROUND: usize = 20;

/// What the batch being gathered holds, for [`joins_batch`]: the tasks its status reports are
/// about, or the agents and hosts its registrations name. A batch holds one kind.
#[derive(Debug, Default)]
pub struct BatchKeys {
    tasks: BTreeSet<TaskId>,
    agents: BTreeSet<AgentId>,
    hosts: BTreeSet<String>,
}

impl BatchKeys {
    pub fn clear(&mut self) {
        self.tasks.clear();
        self.agents.clear();
        self.hosts.clear();
    }
}

/// Whether `command` may join the batch `keys` describes (which it then extends). Two kinds
/// batch, each only with its own kind:
/// - status reports about distinct tasks: deciding one never reads what another changes, so
///   they can be decided against the same state and committed with one append. A second
///   report about the same task must see the first one's effect.
/// - registrations of distinct agents on distinct hosts: each reads and reconciles only its
///   own agent's record and tasks and its host's (after a leader change every agent
///   registers at once; one append each was seconds for 2,000 agents). Not with status
///   reports: a registration may declare LOST a task a report is about.
pub fn joins_batch(keys: &mut BatchKeys, command: &Command) -> bool {
    match command {
        Command::StatusUpdate(report) => {
            keys.agents.is_empty() && keys.tasks.insert(report.task.clone())
        }
        Command::RegisterAgent(registration) => {
            if !keys.tasks.is_empty()
                || keys.agents.contains(&registration.agent)
                || keys.hosts.contains(&registration.host)
            {
                return false;
            }
            keys.agents.insert(registration.agent.clone());
            keys.hosts.insert(registration.host.clone());
            true
        }
        Command::CreateJob(_)
        | Command::AddInstances(_)
        | Command::KillTasks(_)
        | Command::RestartInstances(_)
        | Command::SetQuota(_)
        | Command::UpdateHostAttributes(_)
        | Command::LoseAgent(_)
        | Command::StartMaintenance(_)
        | Command::DrainHosts(_)
        | Command::EndMaintenance(_)
        | Command::ForceTaskState(_)
        | Command::PruneTasks(_)
        | Command::Tick(_)
        | Command::Schedule(_)
        | Command::StartUpdate(_)
        | Command::RollingRestart(_)
        | Command::SteerUpdate(_)
        | Command::CoordinatorAllowed(_)
        | Command::PulseUpdate(_)
        | Command::AdvanceUpdates(_)
        | Command::ScheduleCronJob(_)
        | Command::DescheduleCronJob(_)
        | Command::StartCronJob(_)
        | Command::CronRound(_)
        | Command::SlaDrainHosts(_)
        | Command::UnbindAgent(_) => false,
    }
}

/// The update controller's turn that should follow a step: the jobs with an active update
/// for which the step decided something the controller acts on (a task of theirs started
/// running or ended, an update started, changed state or was pulsed), so that updates move as
/// soon as their tasks do rather than at the next timer round. `None` when there are none, or
/// when the step was itself the controller's (what it set in motion is looked at again when
/// the tasks move, or by the timer round).
pub fn updates_to_advance<'a>(
    state: &ClusterState,
    commands: impl IntoIterator<Item = &'a Command>,
    decisions: impl IntoIterator<Item = &'a Decision>,
) -> Option<AdvanceUpdates> {
    if commands
        .into_iter()
        .any(|command| matches!(command, Command::AdvanceUpdates(_)))
    {
        return None;
    }
    let jobs: BTreeSet<JobKey> = decisions
        .into_iter()
        .flat_map(|decision| decision.events.iter())
        .filter(|pending| moves_updates(&pending.event))
        .filter_map(|pending| pending.event.job())
        .filter(|job| state.active_update(job).is_some())
        .cloned()
        .collect();
    (!jobs.is_empty()).then_some(AdvanceUpdates { jobs: Some(jobs) })
}

/// Whether an event can change what the update controller decides: a task running (watched,
/// then updated) or ending (replaced, or counted as a failure), an update's own changes.
/// Placements and STARTING change no instance's verdict.
fn moves_updates(event: &Event) -> bool {
    match event {
        Event::TaskStateChanged { to, .. } => *to == ScheduleStatus::Running || !to.is_active(),
        Event::TaskDeleted { .. }
        | Event::UpdateStarted { .. }
        | Event::UpdateStateChanged { .. }
        | Event::UpdatePulsed { .. } => true,
        Event::ClusterInitialised { .. }
        | Event::TaskConfigStored { .. }
        | Event::TaskConfigStoredV2 { .. }
        | Event::JobCreated { .. }
        | Event::JobConfigReplaced { .. }
        | Event::JobRemoved { .. }
        | Event::TaskCreated { .. }
        | Event::TaskAssigned { .. }
        | Event::UpdateInstanceActioned { .. }
        | Event::UpdatesPruned { .. }
        | Event::QuotaSet { .. }
        | Event::HostAttributesChanged { .. }
        | Event::HostMaintenanceChanged { .. }
        | Event::CronScheduled { .. }
        | Event::CronDescheduled { .. }
        | Event::CronTriggered { .. }
        | Event::AgentRegistered { .. }
        | Event::AgentLost { .. }
        | Event::AgentBound { .. }
        | Event::AgentUnbound { .. }
        | Event::SlaDrainRequested { .. }
        | Event::JournalTruncationAccepted { .. } => false,
    }
}

/// The commands of one step, decided, before their events are committed.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    /// When they were decided: the commit time of their events.
    pub at: Timestamp,
    /// The seq of the state they were decided on: their events must follow it.
    pub after: Seq,
    /// Each command's decision, in order.
    pub decisions: Vec<Result<Decision, Rejection>>,
}

impl Proposal {
    /// Every accepted command's events, in order: one append.
    pub fn events(&self) -> Vec<PendingEvent> {
        self.decisions
            .iter()
            .flatten()
            .flat_map(|decision| decision.events.iter().cloned())
            .collect()
    }
}

/// Decides each of `commands` (actor, command, seed) against `state`. The time is the clock's
/// but never before the last commit, so commit times never go back.
pub fn propose<'a>(
    state: &ClusterState,
    last_applied_at: Timestamp,
    clock_now: Timestamp,
    commands: impl IntoIterator<Item = (&'a Actor, &'a Command, u64)>,
) -> Proposal {
    let at = clock_now.max(last_applied_at);
    let decisions = commands
        .into_iter()
        .map(|(actor, command, seed)| {
            let ctx = Ctx {
                now: at,
                actor: actor.clone(),
                seed,
            };
            decide(state, command, &ctx)
        })
        .collect();
    Proposal {
        at,
        after: state.last_seq(),
        decisions,
    }
}

/// What a command's step came to once its events are committed and applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The seqs its events were committed at (`None` when it decided nothing).
    pub committed: Option<SeqRange>,
    pub decision: Decision,
}

/// After the proposal's events were committed at `committed` (and applied): each command's
/// outcome, naming its own seqs (they are consecutive, in command order), and the effects of
/// each accepted decision handed to the agents' outbox. Refused transitions are logged.
pub fn settle(
    agents: &Agents,
    proposal: Proposal,
    committed: Option<SeqRange>,
) -> Vec<Result<Outcome, Rejection>> {
    let mut next = committed.map_or(0, |range| range.first);
    proposal
        .decisions
        .into_iter()
        .map(|decision| {
            let decision = decision?;
            agents.queue_effects(&decision.effects);
            for illegal in &decision.illegal {
                // An agent reporting the end of a task already ended here (a LOST task its
                // returning agent then killed) is routine: after a mass loss, hundreds of
                // them would bury the warnings that matter. (Counted in /vars either way.)
                let late_end = illegal.from.is_some_and(|from| from.is_terminal())
                    && illegal.to.is_terminal();
                if late_end {
                    tracing::debug!(task = %illegal.task, from = ?illegal.from, to = %illegal.to, "report of an end after the task ended");
                } else {
                    tracing::warn!(task = %illegal.task, from = ?illegal.from, to = %illegal.to, "illegal task state transition");
                }
            }
            let count = decision.events.len() as u64;
            let own = (count > 0).then(|| SeqRange::new(next, next + count - 1));
            next += count;
            Ok(Outcome {
                committed: own,
                decision,
            })
        })
        .collect()
}

/// The leader's timer round without its I/O: a Tick for the time since the last round, then
/// scheduling passes with the backoff's budget, skipping the groups backing off. Leader-only
/// state: a new leader starts with a fresh one.
#[derive(Debug, Clone)]
pub struct Clockwork {
    backoff: Backoff,
    since: Timestamp,
    /// When this leader began: cron firings due before it are not made up.
    leading_since: Timestamp,
}

impl Clockwork {
    pub fn new(settings: BackoffSettings, now: Timestamp) -> Self {
        Self {
            backoff: Backoff::new(settings),
            since: now,
            leading_since: now,
        }
    }

    /// The round's first command: fire the timers that fell due since the last round.
    pub fn tick(&mut self, now: Timestamp) -> Command {
        let since = std::mem::replace(&mut self.since, now);
        Tick { since }.into()
    }

    /// The round's cron turn, after the tick: fire the schedules that came due, launch what
    /// KILL_EXISTING runs owe.
    pub fn cron_round(&self) -> Command {
        CronRound {
            since: self.leading_since,
        }
        .into()
    }

    /// The round's update controller turn, after the tick: watch times and pulse timeouts
    /// fall due with time, not with task changes.
    pub fn advance_updates(&self) -> Command {
        AdvanceUpdates::default().into()
    }

    /// The round's next scheduling pass, placing nothing on the `unregistered` agents (known
    /// to the journal, not yet registered with this leader).
    pub fn pass(&self, now: Timestamp, unregistered: BTreeSet<AgentId>) -> Command {
        Schedule {
            unregistered,
            ..self.backoff.next_pass(now)
        }
        .into()
    }

    /// Takes in the outcome of the round's `passes`th pass, run at `now`; whether another
    /// should follow at once (this one ran out of budget with groups left, and the round has
    /// room for more).
    pub fn pass_done(&mut self, now: Timestamp, outcome: &PassOutcome, passes: usize) -> bool {
        self.backoff.after_pass(now, outcome);
        !outcome.deferred.is_empty() && passes < MAX_PASSES_PER_ROUND
    }

    pub fn backoff(&self) -> &Backoff {
        &self.backoff
    }
}
