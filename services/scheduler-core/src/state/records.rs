//! The records the write model keeps per job, task, host, agent, cron job and update.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use aurora_events::config::SlaPolicy;
use aurora_events::event::{Attribute, CronCollisionPolicy};
use aurora_events::update::UpdateInstructions;
use aurora_events::{
    AgentId, Capacity, ConfigHash, EventId, InstanceId, InstanceUpdateAction, JobKey,
    MaintenanceMode, ScheduleStatus, TaskConfig, TaskId, Timestamp, UpdateStatus,
};
use serde::{Deserialize, Serialize};

use crate::state_machine::TransitionFacts;

/// A job's desired config and instance count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub config: ConfigHash,
    pub instances: u32,
}

/// One task: what the deciders need, no more (messages live in the projections).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub id: TaskId,
    /// Shared by every task of the job (one allocation per job, not per task).
    pub job: Arc<JobKey>,
    pub instance: InstanceId,
    pub config: ConfigHash,
    pub status: ScheduleStatus,
    pub failure_count: u32,
    pub ancestor: Option<TaskId>,
    pub assignment: Option<TaskAssignment>,
    /// Every state the task entered, with when.
    pub history: Vec<TaskEventRecord>,
    /// THROTTLED for this long after creation.
    pub penalty_ms: u64,
    /// The event that put the task in its current state: the cause of what happens next to it.
    pub last_event: EventId,
}

/// Where a task was placed. The host is the agent's (see [`Agent::host`]); ports are a sorted
/// list rather than a map because most tasks have one or two, and a map's node is far larger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskAssignment {
    pub agent: AgentId,
    pub ports: Vec<(String, u16)>,
}

impl TaskAssignment {
    pub fn port_numbers(&self) -> impl Iterator<Item = u16> + '_ {
        self.ports.iter().map(|(_, port)| *port)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskEventRecord {
    pub at: Timestamp,
    pub status: ScheduleStatus,
}

impl Task {
    pub fn created_at(&self) -> Timestamp {
        self.history.first().map(|e| e.at).unwrap_or_default()
    }

    /// When the task entered its current state.
    pub fn last_change(&self) -> Timestamp {
        self.history.last().map(|e| e.at).unwrap_or_default()
    }

    pub fn ever_was(&self, status: ScheduleStatus) -> bool {
        self.history.iter().any(|e| e.status == status)
    }

    /// What the transition table needs to know about this task. A task whose config is missing
    /// (cannot happen in a consistent journal) counts as a batch task with one allowed failure.
    pub fn transition_facts(&self, configs: &BTreeMap<ConfigHash, TaskConfig>) -> TransitionFacts {
        let config = configs.get(&self.config);
        TransitionFacts {
            is_service: config.is_some_and(|c| c.is_service),
            failure_count: self.failure_count,
            max_task_failures: config.map_or(1, |c| c.max_task_failures),
            was_killing: self.ever_was(ScheduleStatus::Killing),
        }
    }
}

/// An SLA-aware drain in progress on a host (`Event::SlaDrainRequested`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlaDrain {
    /// The policy of tasks whose config has none.
    pub default_sla: SlaPolicy,
    /// After this long from `requested_at`, the rest are drained regardless.
    pub timeout_secs: u64,
    pub requested_at: Timestamp,
    /// The request's event: the cause of every task the drain moves (`aurora why` on a
    /// drained task names the operator's request, not the task's own last step).
    pub request: EventId,
}

/// A host's attributes, maintenance mode and agent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Host {
    pub attributes: Vec<Attribute>,
    pub mode: MaintenanceMode,
    pub agent: Option<AgentId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    pub host: String,
    pub capacity: Capacity,
    pub attributes: Vec<Attribute>,
    pub endpoint: String,
    pub registered_at: Timestamp,
    /// Missed its heartbeats; nothing is placed on it until it registers again.
    pub lost: bool,
    /// The user the agent id is bound to (see `Event::AgentBound`): only it may act as this
    /// agent. `None` for an agent registered without authentication.
    pub principal: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CronJob {
    pub config: ConfigHash,
    pub instances: u32,
    pub schedule: String,
    pub collision_policy: CronCollisionPolicy,
    /// When its schedule was set (first scheduled, or replaced with another schedule): no
    /// firing due before it is made.
    pub scheduled_at: Timestamp,
    /// When it last fired or was started (whatever the outcome).
    pub last_triggered: Option<Timestamp>,
    /// A KILL_EXISTING trigger killed the job's tasks and launches once they are all gone;
    /// triggers meanwhile are skipped.
    pub launch_owed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Update {
    /// Who started it.
    pub user: String,
    pub status: UpdateStatus,
    pub instructions: UpdateInstructions,
    /// The client's metadata (a retried start is recognised by it).
    pub metadata: BTreeMap<String, String>,
    pub started_at: Timestamp,
    /// When it entered its current status.
    pub status_since: Timestamp,
    /// When it began rolling back: the rollback's failures are counted from here.
    pub rollback_started: Option<Timestamp>,
    pub last_pulse: Option<Timestamp>,
    /// Every action recorded for each instance, in order.
    pub instance_actions: BTreeMap<InstanceId, Vec<InstanceUpdateAction>>,
    /// How many instances had been worked on rolling forward when it last paused: an
    /// auto-pausing update pauses once at each batch boundary, and a pause there (by the
    /// controller or by hand) counts as that boundary's.
    pub paused_at_started: Option<usize>,
    /// The `UpdateStarted` event: the cause of the update's instance actions.
    pub started_event: EventId,
    /// Each instance's latest action event: the cause of what the update does to it next.
    pub action_events: BTreeMap<InstanceId, EventId>,
    /// Instances whose latest action says an SLA-aware kill waits for its SLA ("Checking SLA
    /// before continuing."): said once per wait, not every turn.
    pub sla_checking: BTreeSet<InstanceId>,
}

impl Update {
    /// How many instances have an action recorded in the given direction.
    pub fn started(&self, forward: bool) -> usize {
        self.instance_actions
            .values()
            .filter(|actions| actions.iter().any(|a| a.is_forward() == forward))
            .count()
    }

    /// The latest action recorded for `instance` in the given direction.
    pub fn latest_action(
        &self,
        instance: InstanceId,
        forward: bool,
    ) -> Option<InstanceUpdateAction> {
        self.instance_actions
            .get(&instance)?
            .iter()
            .rev()
            .find(|a| a.is_forward() == forward)
            .copied()
    }

    /// When the update ended, if it has: a terminal update's status does not change again.
    pub fn ended_at(&self) -> Option<Timestamp> {
        self.status.is_terminal().then_some(self.status_since)
    }
}
