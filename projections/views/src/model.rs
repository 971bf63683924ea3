//! The owned, serialisable shapes the [`Queries`](crate::Queries) trait returns: what the web UI
//! renders and the API serves. Each is a plain value, built on demand from the folded records,
//! so a caller can keep it, send it to another thread or serialise it without holding the view.
//!
//! Lists come in a fixed order (named on each field) so that two views of the same history give
//! equal values, whatever order their records were stored in.

use std::collections::BTreeMap;

use aurora_events::event::{Attribute, CronCollisionPolicy, CronOutcome};
use aurora_events::update::{InstanceRange, UpdateInstructions};
use aurora_events::{
    Actor, AgentId, Capacity, ConfigHash, EventKind, Identifier, InstanceId, InstanceUpdateAction,
    JobKey, MaintenanceMode, ResourceAggregate, ScheduleStatus, Seq, TaskConfig, TaskId, Timestamp,
    UpdateKey, UpdateStatus,
};
use serde::{Deserialize, Serialize};

/// Task counts in Aurora's `JobStats` grouping.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskCounts {
    /// INIT, PENDING and THROTTLED.
    pub pending: u64,
    /// Every other active state (ASSIGNED through PARTITIONED).
    pub active: u64,
    /// FINISHED and KILLED (as Aurora's `JobStats` counts them).
    pub finished: u64,
    /// FAILED and LOST.
    pub failed: u64,
}

impl TaskCounts {
    pub fn plus(self, other: Self) -> Self {
        Self {
            pending: self.pending + other.pending,
            active: self.active + other.active,
            finished: self.finished + other.finished,
            failed: self.failed + other.failed,
        }
    }

    pub fn total(&self) -> u64 {
        self.pending + self.active + self.finished + self.failed
    }
}

/// A role's quota and what its active tasks consume (Aurora's `GetQuotaResult`; the UI's Quota,
/// Quota Used, Non-Production, Production Dedicated and Non-Production Dedicated).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct QuotaView {
    /// Zero when no quota was ever set.
    pub quota: ResourceAggregate,
    /// Production, non-dedicated: the only bucket checked against the quota.
    pub prod_shared: ResourceAggregate,
    pub non_prod_shared: ResourceAggregate,
    pub prod_dedicated: ResourceAggregate,
    pub non_prod_dedicated: ResourceAggregate,
}

/// One row of the cluster home page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleSummary {
    pub role: Identifier,
    /// Jobs with a desired config, a cron template or tasks.
    pub jobs: u64,
    /// Of those, jobs with a cron template.
    pub crons: u64,
    pub tasks: TaskCounts,
    pub quota: QuotaView,
}

/// The role page: quota table and job list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleView {
    pub role: Identifier,
    pub quota: QuotaView,
    pub tasks: TaskCounts,
    /// In job key order.
    pub jobs: Vec<JobSummary>,
}

/// One job in a role's job list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSummary {
    pub job: JobKey,
    /// The desired config and instance count; `None` once the job is removed (its remaining
    /// tasks are still counted).
    pub desired: Option<DesiredState>,
    pub is_cron: bool,
    pub tasks: TaskCounts,
}

impl JobSummary {
    /// Whether Aurora's `getJobs` names the job: it has an active task (PENDING through
    /// PARTITIONED), or it is a cron job, whose template is listed even between runs. A job
    /// whose tasks all ended (FINISHED, FAILED, KILLED, LOST), or a descheduled cron job
    /// with none running, is not; the role page still lists it, as `getJobSummary` does.
    pub fn is_live(&self) -> bool {
        self.is_cron || self.tasks.pending + self.tasks.active > 0
    }
}

/// What a job should run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredState {
    pub config: ConfigHash,
    pub instances: u32,
}

/// A job's cron template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CronView {
    pub schedule: String,
    pub collision_policy: CronCollisionPolicy,
    pub config: ConfigHash,
    pub instances: u32,
    pub last_triggered: Option<Timestamp>,
    pub last_outcome: Option<CronOutcome>,
}

/// The job page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobView {
    pub job: JobKey,
    pub desired: Option<DesiredState>,
    pub cron: Option<CronView>,
    pub tasks: TaskCounts,
    /// Active tasks, by instance then task id.
    pub active: Vec<TaskSummary>,
    /// Terminal tasks, most recently changed first (then by task id).
    pub finished: Vec<TaskSummary>,
    /// Active instances grouped by config (Aurora's `getConfigSummary`), by config hash.
    pub config_groups: Vec<ConfigGroup>,
    /// The job's updates, most recently started first.
    pub updates: Vec<UpdateSummary>,
}

impl JobView {
    /// The active tasks waiting to be placed (PENDING or THROTTLED).
    pub fn waiting_tasks(&self) -> Vec<TaskId> {
        self.active
            .iter()
            .filter(|task| {
                matches!(
                    task.status,
                    ScheduleStatus::Pending | ScheduleStatus::Throttled
                )
            })
            .map(|task| task.id.clone())
            .collect()
    }

    /// The job's update that still owns it, if any (at most one is active at a time; the most
    /// recently started one is returned should a damaged journal hold more).
    pub fn active_update(&self) -> Option<&UpdateSummary> {
        self.updates.iter().find(|u| u.status.is_active())
    }

    /// Fills in why pending tasks are waiting. No event records pending reasons (they are
    /// explained from the scheduler's write model as of now), so the projection leaves them
    /// empty and the caller passes them here.
    pub fn fill_pending_reasons(&mut self, reasons: &BTreeMap<TaskId, String>) {
        for task in &mut self.active {
            if matches!(
                task.status,
                ScheduleStatus::Pending | ScheduleStatus::Throttled
            ) {
                task.pending_reason = reasons.get(&task.id).cloned();
            }
        }
    }
}

/// A task as a row of a job page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSummary {
    pub id: TaskId,
    pub instance: InstanceId,
    pub status: ScheduleStatus,
    pub config: ConfigHash,
    pub host: Option<String>,
    pub failure_count: u32,
    pub created_at: Timestamp,
    /// When the task entered its current state.
    pub last_change: Timestamp,
    /// The message of the latest timeline entry that had one.
    pub last_message: Option<String>,
    /// Always `None` from the projection; see [`JobView::fill_pending_reasons`].
    pub pending_reason: Option<String>,
}

/// Instances sharing one config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigGroup {
    pub hash: ConfigHash,
    pub instances: Vec<InstanceRange>,
    /// `None` only if the journal never stored the config (an inconsistent journal).
    pub config: Option<TaskConfig>,
}

/// The task page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskView {
    pub id: TaskId,
    pub job: JobKey,
    pub instance: InstanceId,
    pub status: ScheduleStatus,
    pub config: ConfigHash,
    pub failure_count: u32,
    /// The task this one replaced, then the one that one replaced, and so on, nearest first;
    /// the chain stops at the first ancestor the view no longer has (pruned), which is listed.
    pub ancestors: Vec<TaskId>,
    pub agent: Option<AgentId>,
    pub host: Option<String>,
    /// Observer base URL of the agent the task was assigned to, if it registered one.
    pub observer: Option<String>,
    pub ports: BTreeMap<String, u16>,
    /// Every state the task entered, oldest first.
    pub timeline: Vec<TaskEventView>,
}

/// One entry of a task's timeline (Aurora's `TaskEvent`, plus who and which event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskEventView {
    pub seq: Seq,
    pub at: Timestamp,
    pub actor: Actor,
    pub status: ScheduleStatus,
    pub message: Option<String>,
    /// For ASSIGNED: the host.
    pub host: Option<String>,
}

/// One update as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateSummary {
    pub key: UpdateKey,
    pub user: String,
    pub status: UpdateStatus,
    /// When the update entered `status`.
    pub status_since: Timestamp,
    pub started_at: Timestamp,
    /// Time of the update's latest event (state change or instance action).
    pub last_modified: Timestamp,
    pub last_pulse: Option<Timestamp>,
}

/// The update page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateView {
    pub summary: UpdateSummary,
    pub instructions: UpdateInstructions,
    pub metadata: BTreeMap<String, String>,
    /// The update's state changes, oldest first, starting with ROLLING_FORWARD.
    pub timeline: Vec<UpdateEventView>,
    /// Every instance action, oldest first.
    pub instance_events: Vec<InstanceEventView>,
    /// The latest action per instance (the instance overview grid).
    pub instances: BTreeMap<InstanceId, InstanceUpdateAction>,
    /// The configs the instructions name (initial and desired), by hash, for showing what the
    /// update changes; a hash the journal never stored is missing.
    pub configs: BTreeMap<ConfigHash, TaskConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateEventView {
    pub seq: Seq,
    pub at: Timestamp,
    pub actor: Actor,
    pub status: UpdateStatus,
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceEventView {
    pub seq: Seq,
    pub at: Timestamp,
    pub actor: Actor,
    pub instance: InstanceId,
    pub action: InstanceUpdateAction,
    pub message: Option<String>,
}

/// A host: what its agent reported, its maintenance mode and the tasks placed there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostView {
    pub host: String,
    pub mode: MaintenanceMode,
    pub attributes: Vec<Attribute>,
    pub agent: Option<AgentView>,
    /// Tasks holding resources on the host (assigned there, in a state placed on an agent), by
    /// task id.
    pub tasks: Vec<TaskId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentView {
    pub id: AgentId,
    pub capacity: Option<Capacity>,
    pub endpoint: Option<String>,
    pub registered_at: Option<Timestamp>,
    /// Missed its heartbeats and has not registered since.
    pub lost: bool,
}

/// One line of the cluster activity feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityEntry {
    pub seq: Seq,
    pub at: Timestamp,
    pub actor: Actor,
    pub kind: EventKind,
    /// One human-readable line, e.g. `task … RUNNING -> FINISHED`.
    pub summary: String,
}

/// Everything a view holds, for comparing two views (tests, "what changed between two
/// instants") and for dumping a whole cluster. Every list is in the order named on the
/// corresponding [`Queries`](crate::Queries) method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub last_seq: Seq,
    pub cluster: Option<String>,
    pub roles: Vec<RoleView>,
    /// Every job the view knows, by key.
    pub jobs: Vec<JobView>,
    /// Every task the view knows, by id.
    pub tasks: Vec<TaskView>,
    pub updates: Vec<UpdateView>,
    pub hosts: Vec<HostView>,
    pub activity: Vec<ActivityEntry>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(is_cron: bool, tasks: TaskCounts) -> JobSummary {
        JobSummary {
            job: "www-data/prod/hello".parse().expect("a job key"),
            desired: None,
            is_cron,
            tasks,
        }
    }

    #[test]
    fn a_job_is_live_with_an_active_task_or_a_cron_template() {
        let ended = TaskCounts {
            finished: 2,
            failed: 1,
            ..TaskCounts::default()
        };
        assert!(!summary(false, ended).is_live());
        assert!(!summary(false, TaskCounts::default()).is_live());
        assert!(summary(true, TaskCounts::default()).is_live());
        for waiting_or_active in [
            TaskCounts {
                pending: 1,
                ..ended
            },
            TaskCounts { active: 1, ..ended },
        ] {
            assert!(summary(false, waiting_or_active).is_live());
        }
    }
}
