//! The shapes of the read-only calls (job summaries, tasks, config summaries, quota, updates,
//! host status) and of job creation, shared by the scheduler and the CLIs.

use std::collections::BTreeMap;

use aurora_events::update::{InstanceRange, UpdateInstructions};
use aurora_events::{
    ConfigHash, InstanceId, InstanceUpdateAction, MaintenanceMode, ScheduleStatus, TaskConfig,
    TaskId, Timestamp, UpdateStatus, Uuid,
};
use serde::{Deserialize, Serialize};

/// `POST /api/v1/jobs`: create a job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateJob {
    /// `role/env/name`.
    pub job: String,
    pub config: TaskConfig,
    pub instances: u32,
}

/// One job's task counts (Aurora's `JobSummary` stats).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct JobSummary {
    /// `role/env/name`.
    pub job: String,
    pub instances: u32,
    pub pending: usize,
    pub active: usize,
    pub finished: usize,
    pub failed: usize,
}

/// A task as the API shows it (Aurora's `ScheduledTask`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TaskView {
    pub id: TaskId,
    /// `role/env/name`.
    pub job: String,
    pub instance: InstanceId,
    pub status: ScheduleStatus,
    pub config: ConfigHash,
    pub failure_count: u32,
    pub ancestor: Option<TaskId>,
    pub agent: Option<String>,
    pub host: Option<String>,
    /// The base URL of the observer of the agent the task was placed on (where `aurora task
    /// run/ssh/scp` go), when that agent is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observer: Option<String>,
    pub ports: BTreeMap<String, u16>,
    /// Every state entered, with when (ms since the epoch).
    pub events: Vec<(Timestamp, ScheduleStatus)>,
    /// The audit message of each of `events`, in the same order (Aurora's
    /// `TaskEvent.message`: "Killed by alice: bye", "Rescheduled", ...). Empty when a scheduler
    /// that predates it answered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_messages: Vec<Option<String>>,
    pub pending_reason: Option<String>,
    /// The task's full config, only when asked for (`configs=true`, Aurora's `getTasksStatus`
    /// as opposed to `getTasksWithoutConfigs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_config: Option<TaskConfig>,
}

/// The instances of a job sharing one config (Aurora's `ConfigGroup`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConfigGroup {
    pub hash: ConfigHash,
    pub config: TaskConfig,
    pub instances: Vec<InstanceRange>,
}

/// `GET /api/v1/jobs/{role}/{env}/{name}/config-summary` (Aurora's `getConfigSummary`): the
/// job's active instances grouped by config.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConfigSummary {
    pub job: String,
    pub groups: Vec<ConfigGroup>,
}

/// `GET /api/v1/quota/{role}` (Aurora's `GetQuotaResult`): the quota and what active tasks
/// consume, in four buckets — the projections' own view, served as is.
pub use aurora_projections::QuotaView;

/// One update as listed (Aurora's `JobUpdateSummary`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UpdateSummary {
    pub id: Uuid,
    /// `role/env/name`.
    pub job: String,
    pub user: String,
    pub status: UpdateStatus,
    pub started_at: Timestamp,
    /// Time of the update's latest event (state change or instance action).
    #[serde(default)]
    pub last_modified: Timestamp,
    pub last_pulse: Option<Timestamp>,
    /// The client's metadata (e.g. `org.apache.aurora.client.update_id`).
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// One update in full (Aurora's `JobUpdateDetails`): its instructions and what it did to each
/// instance, in order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UpdateDetails {
    pub summary: UpdateSummary,
    pub instructions: UpdateInstructions,
    pub instance_actions: BTreeMap<InstanceId, Vec<InstanceUpdateAction>>,
    /// Every state change, oldest first, starting with ROLLING_FORWARD (Aurora's
    /// `updateEvents`).
    #[serde(default)]
    pub update_events: Vec<UpdateEvent>,
    /// Every instance action, oldest first (Aurora's `instanceEvents`).
    #[serde(default)]
    pub instance_events: Vec<InstanceEvent>,
}

/// One state change of an update (Aurora's `JobUpdateEvent`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UpdateEvent {
    pub status: UpdateStatus,
    pub at: Timestamp,
    /// Who caused it (a user, or the scheduler itself).
    pub user: Option<String>,
    pub message: Option<String>,
}

/// One instance action of an update (Aurora's `JobInstanceUpdateEvent`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InstanceEvent {
    pub instance: InstanceId,
    pub at: Timestamp,
    pub action: InstanceUpdateAction,
    pub message: Option<String>,
}

/// A host's maintenance mode (Aurora's `HostStatus`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HostStatus {
    pub host: String,
    pub mode: MaintenanceMode,
}

/// Collapses sorted, distinct instance ids into inclusive ranges: `[0, 1, 2, 5]` → `0-2, 5-5`.
pub fn instance_ranges(instances: impl IntoIterator<Item = InstanceId>) -> Vec<InstanceRange> {
    InstanceRange::collapse(instances)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ranges_collapse_runs() {
        let ranges = instance_ranges([0, 1, 2, 5, 7, 8]);
        let pairs: Vec<(u32, u32)> = ranges.iter().map(|r| (r.first, r.last)).collect();
        assert_eq!(pairs, vec![(0, 2), (5, 5), (7, 8)]);
        assert!(instance_ranges([]).is_empty());
    }
}
