//! `Tick`: the passage of time. Releases THROTTLED tasks whose penalty is over, times out tasks
//! stuck in transient states, re-sends kills to KILLING tasks with exponential backoff, marks
//! emptied DRAINING hosts DRAINED, and prunes task history.

use aurora_events::{Event, MaintenanceMode, ScheduleStatus, Timestamp};

use super::Decide;
use crate::decision::{Effect, Out, Rejection};
use crate::lifecycle::change_state;
use crate::state::{ClusterState, Task};

use super::prune_tasks::delete_tasks;

/// Time passed since the previous tick: fire the timers that fell due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// The time of the previous tick: timers that fell due in `(since, now]` fire.
    pub since: Timestamp,
}

impl Decide for Tick {
    fn decide(&self, state: &ClusterState, out: &mut Out) -> Result<(), Rejection> {
        decide(state, out, self.since)
    }
}

fn decide(state: &ClusterState, out: &mut Out, since: Timestamp) -> Result<(), Rejection> {
    let now = out.now;
    let settings = state.settings().clone();
    let mut expired: Vec<&Task> = Vec::new();
    let mut timed_out: Vec<&Task> = Vec::new();
    for task in state.tasks() {
        match task.status {
            ScheduleStatus::Throttled => {
                let until = task
                    .created_at()
                    .0
                    .saturating_add(i64::try_from(task.penalty_ms).unwrap_or(i64::MAX));
                if until <= now.0 {
                    expired.push(task);
                }
            }
            ScheduleStatus::Assigned
            | ScheduleStatus::Killing
            | ScheduleStatus::Restarting
            | ScheduleStatus::Draining
            | ScheduleStatus::Preempting => {
                let entered = task.last_change().0;
                if now.0 - entered >= settings.transient_task_state_timeout_ms {
                    timed_out.push(task);
                } else if task.status == ScheduleStatus::Killing
                    && kill_retry_due(
                        entered,
                        since.0,
                        now.0,
                        settings.initial_task_kill_retry_interval_ms,
                    )
                    && let Some(assignment) = &task.assignment
                {
                    out.effect(Effect::Kill {
                        task: task.id.clone(),
                        agent: assignment.agent.clone(),
                    });
                }
            }
            ScheduleStatus::Init
            | ScheduleStatus::Pending
            | ScheduleStatus::Starting
            | ScheduleStatus::Running
            | ScheduleStatus::Finished
            | ScheduleStatus::Failed
            | ScheduleStatus::Killed
            | ScheduleStatus::Lost
            | ScheduleStatus::Partitioned => {}
        }
    }
    for task in expired {
        change_state(
            state,
            out,
            task,
            ScheduleStatus::Pending,
            None,
            Some(task.last_event),
        );
    }
    for task in timed_out {
        change_state(
            state,
            out,
            task,
            ScheduleStatus::Lost,
            Some("Task timed out".into()),
            Some(task.last_event),
        );
    }
    drain_completed_hosts(state, out);
    prune_history(state, out);
    Ok(())
}

/// Kill retries fire at `entered + initial × (2^k − 1)` for k = 1, 2, ...: 15 s, 45 s, 105 s...
/// after the kill with Aurora's defaults (truncated exponential backoff).
fn kill_retry_due(entered: i64, since: i64, now: i64, initial: i64) -> bool {
    let mut interval = initial.max(1);
    let mut at = entered.saturating_add(interval);
    while at <= now {
        if at > since {
            return true;
        }
        interval = interval.saturating_mul(2);
        at = at.saturating_add(interval);
    }
    false
}

/// A DRAINING host whose agent holds no more tasks is DRAINED.
fn drain_completed_hosts(state: &ClusterState, out: &mut Out) {
    for (host, record) in state.hosts() {
        if record.mode != MaintenanceMode::Draining {
            continue;
        }
        let busy = record
            .agent
            .as_ref()
            .is_some_and(|agent| state.tasks_on_agent(agent).next().is_some());
        if !busy {
            out.emit(
                Event::HostMaintenanceChanged {
                    host: host.clone(),
                    from: MaintenanceMode::Draining,
                    to: MaintenanceMode::Drained,
                },
                None,
            );
        }
    }
}

/// Deletes terminal tasks older than the prune threshold, and per job the oldest beyond the
/// per-job maximum; never one younger than the minimum retention.
fn prune_history(state: &ClusterState, out: &mut Out) {
    let settings = state.settings();
    let now = out.now.0;
    let mut doomed = Vec::new();
    for job in state.jobs_with_tasks() {
        let mut terminal: Vec<&Task> = state
            .tasks_of_job(job)
            .filter(|t| t.status.is_terminal())
            .collect();
        terminal.sort_by(|a, b| (b.last_change(), &b.id).cmp(&(a.last_change(), &a.id)));
        for (newest_first, task) in terminal.into_iter().enumerate() {
            let age = now - task.last_change().0;
            if age < settings.history_min_retention_ms {
                continue;
            }
            if age >= settings.history_prune_threshold_ms
                || newest_first >= settings.history_max_per_job
            {
                doomed.push(task.id.clone());
            }
        }
    }
    delete_tasks(state, out, doomed.iter());
}
