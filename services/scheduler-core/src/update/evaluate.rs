//! One instance's evaluation (Aurora's `InstanceUpdater`): given the config the instance should
//! run (none when the update removes it) and its task now, what to do next.

use aurora_events::{ConfigHash, InstanceId, JobKey, ScheduleStatus, TaskId, Timestamp};

use crate::state::{ClusterState, Task};

/// What an instance needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// It is where the update wants it (running the target config long enough, or gone).
    Succeeded,
    /// Its target config failed more often than the update tolerates.
    Failed { status: ScheduleStatus },
    /// Its task runs the wrong config (or must go): kill it.
    Kill(TaskId),
    /// It has no task and should: create one of the target config.
    Replace(ConfigHash),
    /// Something is under way (a kill, a start, the watch time): look again later.
    Wait,
}

/// What an instance's evaluation is measured against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target {
    /// The config it should run; `None` when the update removes it.
    pub config: Option<ConfigHash>,
    /// When this direction of the update began: failures count from here, and (for a
    /// restart) only tasks created since are the replacement.
    pub since: Timestamp,
    /// A restart rolling forward: a task of the target config created before `since` is the
    /// one to replace, not the replacement.
    pub replace_older: bool,
    pub max_failures: u32,
    pub min_running_ms: u64,
    pub now: Timestamp,
}

/// Evaluates `instance` of `job` against `target`.
pub(crate) fn evaluate(
    state: &ClusterState,
    job: &JobKey,
    instance: InstanceId,
    target: &Target,
) -> Verdict {
    let task = state.active_task(job, instance);
    let Some(config) = target.config else {
        return match task {
            Some(task) if killable(task) => Verdict::Kill(task.id.clone()),
            Some(_) => Verdict::Wait,
            None => Verdict::Succeeded,
        };
    };
    let Some(task) = task else {
        // Gone (killed by the update, or deleted before it ever ran): add the replacement.
        return Verdict::Replace(config);
    };
    let is_target =
        task.config == config && !(target.replace_older && task.created_at() < target.since);
    if !is_target {
        return if killable(task) {
            Verdict::Kill(task.id.clone())
        } else {
            Verdict::Wait
        };
    }
    if let Some(status) = failed_beyond_tolerance(state, task, config, target) {
        return Verdict::Failed { status };
    }
    let stable = task.status == ScheduleStatus::Running
        && target.now.0.saturating_sub(task.last_change().0)
            >= i64::try_from(target.min_running_ms).unwrap_or(i64::MAX);
    if stable {
        Verdict::Succeeded
    } else {
        Verdict::Wait
    }
}

/// Whether the update may kill the task: it is active and not already being killed.
fn killable(task: &Task) -> bool {
    task.status.is_active() && task.status != ScheduleStatus::Killing
}

/// When the target config's tasks of this instance ended more than `max_failures` times since
/// the direction began, the state the last of them ended in. The scheduler replaces a failed
/// service task by a new one naming it as ancestor, so the failures are the chain of ancestors
/// of the active task that ran the target config and were created since.
fn failed_beyond_tolerance(
    state: &ClusterState,
    active: &Task,
    config: ConfigHash,
    target: &Target,
) -> Option<ScheduleStatus> {
    let mut failures = 0u32;
    let mut latest = None;
    let mut next = active.ancestor.as_ref();
    // Bounded: a chain is never longer than the number of tasks.
    for _ in 0..state.task_count() {
        let Some(task) = next.and_then(|id| state.task(id)) else {
            break;
        };
        if task.config != config || task.created_at() < target.since {
            break;
        }
        if task.status.is_terminal() {
            failures += 1;
            latest.get_or_insert(task.status);
        }
        next = task.ancestor.as_ref();
    }
    (failures > target.max_failures).then(|| latest.unwrap_or(ScheduleStatus::Failed))
}
