//! `Tick`: the passage of time. Releases THROTTLED tasks whose penalty is over, times out tasks
//! stuck in transient states, re-sends kills to KILLING tasks with exponential backoff, marks
//! emptied DRAINING hosts DRAINED, and prunes task history.
//!
//! Ticks come every half second, so a tick reads only what is due: every timer is an index of
//! the write model keyed by its deadline (or by the time it started, the deadline being a
//! setting away), and pruning finds old terminal tasks and jobs over the per-job maximum
//! without a walk. Its cost is the due work plus a few index lookups, whatever the task count.
//! What is due is emitted in task-id order, as when every task was visited in id order.

use std::collections::{BTreeMap, BTreeSet};

use aurora_events::{AgentId, Event, JobKey, MaintenanceMode, ScheduleStatus, TaskId, Timestamp};

use super::Decide;
use super::prune_tasks::delete_tasks;
use crate::decision::{Effect, Out, Rejection};
use crate::lifecycle::change_state;
use crate::state::ClusterState;

/// Time passed since the previous tick: fire the timers that fell due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// The time of the previous tick: timers that fell due in `(since, now]` fire.
    pub since: Timestamp,
}

/// Kill retries considered at most, a bound on the loop over retry times should the settings
/// be absurd (with Aurora's, a task times out after its 4th retry).
const MAX_KILL_RETRIES: u32 = 62;

impl Decide for Tick {
    fn decide(&self, state: &ClusterState, out: &mut Out) -> Result<(), Rejection> {
        let now = out.now;
        let timeout = state.settings().transient_task_state_timeout_ms;
        // Kills first: the runtime re-sends them while the events below are committed.
        for (task, agent) in kill_retries(state, self.since, now) {
            out.effect(Effect::Kill { task, agent });
        }
        let expired: BTreeSet<&TaskId> = state.throttled_until(now).collect();
        for task in expired.into_iter().filter_map(|id| state.task(id)) {
            let cause = Some(task.last_event);
            change_state(state, out, task, ScheduleStatus::Pending, None, cause);
        }
        let stuck = Timestamp(now.0.saturating_sub(timeout));
        let timed_out: BTreeSet<&TaskId> = state.transient_since(stuck).collect();
        for task in timed_out.into_iter().filter_map(|id| state.task(id)) {
            change_state(
                state,
                out,
                task,
                ScheduleStatus::Lost,
                Some("Task timed out".into()),
                Some(task.last_event),
            );
        }
        partitions_expired(state, out, now);
        super::sla_drain_hosts::sla_drains(state, out, now);
        drain_completed_hosts(state, out);
        prune_history(state, out);
        let interval = state.settings().update_history_pruning_interval_ms.max(1);
        if self.since.0.div_euclid(interval) != now.0.div_euclid(interval) {
            prune_update_history(state, out);
        }
        Ok(())
    }
}

/// KILLING tasks (not yet timed out) with a kill retry due in `(since, now]`, by task id, with
/// their agents. Retries fire at `entered + initial × (2^k − 1)` for k = 1, 2, ...: 15 s, 45 s,
/// 105 s... after the kill with Aurora's defaults (truncated exponential backoff). So for each
/// k, the tasks due are those that entered KILLING in `(since − offset_k, now − offset_k]`: a
/// range of the index of KILLING tasks by entry time.
fn kill_retries(state: &ClusterState, since: Timestamp, now: Timestamp) -> Vec<(TaskId, AgentId)> {
    let settings = state.settings();
    let timeout = settings.transient_task_state_timeout_ms;
    // Entered after this, the task has not timed out (it would be LOST instead).
    let alive_from = now.0.saturating_sub(timeout).saturating_add(1);
    let mut interval = settings.initial_task_kill_retry_interval_ms.max(1);
    let mut offset = interval;
    let mut due: BTreeSet<&TaskId> = BTreeSet::new();
    // A retry `offset` after entering is only reached by a task that has not timed out while
    // `offset < timeout`.
    for _ in 0..MAX_KILL_RETRIES {
        if offset >= timeout {
            break;
        }
        let from = since
            .0
            .saturating_sub(offset)
            .saturating_add(1)
            .max(alive_from);
        let to = now.0.saturating_sub(offset).saturating_add(1);
        due.extend(
            state
                .killing_between(Timestamp(from), Timestamp(to))
                .map(|(_, id)| id),
        );
        interval = interval.saturating_mul(2);
        offset = offset.saturating_add(interval);
    }
    due.into_iter()
        .filter_map(|id| state.task(id))
        .filter_map(|task| {
            let agent = task.assignment.as_ref()?.agent.clone();
            Some((task.id.clone(), agent))
        })
        .collect()
}

/// PARTITIONED tasks whose job's partition policy reschedules them and whose delay has passed
/// become LOST (and are rescheduled); a policy with `reschedule = false` waits for the agent
/// forever. The delay counts from when the agent was lost, as journaled, so a new leader
/// neither restarts nor skips it.
fn partitions_expired(state: &ClusterState, out: &mut Out, now: Timestamp) {
    let expired: Vec<(&TaskId, u64)> = state
        .partitioned()
        .filter_map(|(since, id)| {
            let task = state.task(id)?;
            let policy = state.config(&task.config)?.partition_policy?;
            let delay_ms =
                i64::try_from(policy.delay_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
            (policy.reschedule && since.0.saturating_add(delay_ms) <= now.0)
                .then_some((id, policy.delay_secs))
        })
        .collect();
    for (id, delay_secs) in expired {
        if let Some(task) = state.task(id) {
            change_state(
                state,
                out,
                task,
                ScheduleStatus::Lost,
                Some(format!(
                    "Partitioned for {delay_secs} s: rescheduled as its partition policy says"
                )),
                Some(task.last_event),
            );
        }
    }
}

/// A DRAINING host whose agent holds no more tasks is DRAINED.
fn drain_completed_hosts(state: &ClusterState, out: &mut Out) {
    for host in state.draining_hosts() {
        let busy = state
            .host(host)
            .and_then(|record| record.agent.as_ref())
            .is_some_and(|agent| state.tasks_on_agent(agent).next().is_some());
        if !busy {
            out.emit(
                Event::HostMaintenanceChanged {
                    host: host.to_string(),
                    from: MaintenanceMode::Draining,
                    to: MaintenanceMode::Drained,
                },
                None,
            );
        }
    }
}

/// Forgets terminal updates as Aurora's pruner does: those that ended longer ago than the
/// threshold, those of jobs with no tasks left, and per job the oldest started beyond the
/// per-job maximum. One event per job; the journal keeps the updates' own events.
fn prune_update_history(state: &ClusterState, out: &mut Out) {
    let settings = state.settings();
    let cutoff = out
        .now
        .0
        .saturating_sub(settings.update_history_prune_threshold_ms);
    let mut by_job: BTreeMap<&JobKey, Vec<(&aurora_events::UpdateKey, Timestamp)>> =
        BTreeMap::new();
    for (key, update) in state.updates() {
        if let Some(ended) = update.ended_at() {
            by_job.entry(&key.job).or_default().push((key, ended));
        }
    }
    for (job, terminal) in by_job {
        let orphaned = state.task_count_of_job(job) == 0;
        // Update ids are UUID v7, so key order is start order: the oldest come first.
        let beyond = terminal
            .len()
            .saturating_sub(settings.update_history_max_per_job);
        let pruned: Vec<aurora_events::Uuid> = terminal
            .iter()
            .enumerate()
            .filter(|(index, (_, ended))| orphaned || *index < beyond || ended.0 <= cutoff)
            .map(|(_, (key, _))| key.id)
            .collect();
        if !pruned.is_empty() {
            out.emit(
                Event::UpdatesPruned {
                    job: job.clone(),
                    updates: pruned,
                },
                None,
            );
        }
    }
}

/// Deletes terminal tasks older than the prune threshold, and per job the oldest beyond the
/// per-job maximum; never one younger than the minimum retention. Emitted by job, each job's
/// newest first.
fn prune_history(state: &ClusterState, out: &mut Out) {
    let settings = state.settings();
    let now = out.now.0;
    let old_enough =
        |ended: Timestamp| now.saturating_sub(ended.0) >= settings.history_min_retention_ms;
    let mut doomed: BTreeMap<&JobKey, BTreeSet<(Timestamp, &TaskId)>> = BTreeMap::new();
    let cutoff = now.saturating_sub(
        settings
            .history_prune_threshold_ms
            .max(settings.history_min_retention_ms),
    );
    for (ended, id) in state.terminal_until(Timestamp(cutoff)) {
        if let Some(task) = state.task(id) {
            doomed.entry(&task.job).or_default().insert((ended, id));
        }
    }
    let keep = settings.history_max_per_job;
    for job in state.jobs_with_terminal_over(keep) {
        let beyond = state
            .terminal_of_job(job)
            .rev()
            .skip(keep)
            .filter(|(ended, _)| old_enough(*ended));
        doomed.entry(job).or_default().extend(beyond);
    }
    let tasks = doomed
        .values()
        .flat_map(|tasks| tasks.iter().rev().map(|(_, id)| *id));
    delete_tasks(state, out, tasks);
}
