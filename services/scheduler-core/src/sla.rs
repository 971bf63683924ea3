//! SLA checks, as Aurora's SlaManager makes them, for SLA-aware drains and updates.
//!
//! A policy asks that, with a task down, at least `count` of its job's active instances — or
//! `percentage` percent of them — have been RUNNING for longer than `duration_secs`. A policy
//! that would allow no instance down is taken to allow one; jobs that are not production
//! (unless `sla_aware_kill_non_prod`) or have fewer active instances than
//! `min_required_instances_for_sla_check` are not checked. A coordinator policy asks an
//! outside service: the decider emits [`Effect::AskCoordinator`] and allows only a task whose
//! coordinator has said yes, which the runtime reports with the
//! [`CoordinatorAllowed`](crate::commands::CoordinatorAllowed) command.

use std::collections::BTreeSet;

use aurora_events::config::SlaPolicy;
use aurora_events::{ScheduleStatus, TaskConfig, TaskId, Timestamp};

use crate::decision::{Effect, Out};
use crate::state::{ClusterState, Task};

/// The preferred tier's SLA when a config names none (Aurora's default: 95% over 30 min).
pub(crate) const PREFERRED_DEFAULT: SlaPolicy = SlaPolicy::Percentage {
    percentage: 95.0,
    duration_secs: 30 * 60,
};

/// The SLA of `config`'s tasks: its own, else the preferred tier's default; none for other
/// tiers.
pub(crate) fn policy_of(config: &TaskConfig) -> Option<SlaPolicy> {
    config
        .sla_policy
        .clone()
        .or_else(|| (config.tier == aurora_events::Tier::Preferred).then_some(PREFERRED_DEFAULT))
}

/// Whether `task` may go down now under `policy`, besides the tasks in `down`: a Count or
/// Percentage policy is checked here ([`allows`]); a coordinator policy allows only a task in
/// `approved` (its coordinator said yes), and otherwise its coordinator is asked (an effect;
/// the runtime keeps from asking too often). `force_countdown_ms` is how long until the task
/// is taken down regardless, told to the coordinator.
pub(crate) fn check(
    state: &ClusterState,
    out: &mut Out,
    task: &Task,
    policy: &SlaPolicy,
    down: &BTreeSet<TaskId>,
    approved: &BTreeSet<TaskId>,
    force_countdown_ms: Option<i64>,
) -> bool {
    match policy {
        SlaPolicy::Coordinator { url, status_key } => {
            let production = state
                .config(&task.config)
                .is_some_and(aurora_events::TaskConfig::production);
            // As for the other policies, non-production jobs are not checked by default.
            if approved.contains(&task.id)
                || (!production && !state.settings().sla_aware_kill_non_prod)
            {
                return true;
            }
            let host = task
                .assignment
                .as_ref()
                .and_then(|a| state.agent(&a.agent))
                .map(|agent| agent.host.clone())
                .unwrap_or_default();
            out.effect(Effect::AskCoordinator {
                task: task.id.clone(),
                job: (*task.job).clone(),
                instance: task.instance,
                host,
                status: task.status,
                url: url.clone(),
                status_key: status_key.clone(),
                force_countdown_ms,
            });
            false
        }
        SlaPolicy::Count { .. } | SlaPolicy::Percentage { .. } => {
            allows(state, task, policy, out.now, down)
        }
    }
}

/// Whether `task`'s job keeps a Count or Percentage `policy` with `task` down, besides the
/// tasks in `down` (a coordinator policy is never allowed here: see [`check`]).
pub(crate) fn allows(
    state: &ClusterState,
    task: &Task,
    policy: &SlaPolicy,
    now: Timestamp,
    down: &BTreeSet<TaskId>,
) -> bool {
    let (needed_count, needed_percent, duration_secs) = match policy {
        SlaPolicy::Count {
            count,
            duration_secs,
        } => (Some(*count), None, *duration_secs),
        SlaPolicy::Percentage {
            percentage,
            duration_secs,
        } => (None, Some(*percentage), *duration_secs),
        SlaPolicy::Coordinator { .. } => return false,
    };
    let settings = state.settings();
    let production = state
        .config(&task.config)
        .is_some_and(aurora_events::TaskConfig::production);
    let active: Vec<&Task> = state.active_tasks_of_job(&task.job).collect();
    let total = active.len();
    if (!production && !settings.sla_aware_kill_non_prod)
        || total < settings.min_required_instances_for_sla_check
    {
        return true;
    }
    let duration_ms = i64::try_from(duration_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let up_after = active
        .iter()
        .filter(|t| t.id != task.id && !down.contains(&t.id))
        .filter(|t| {
            t.status == ScheduleStatus::Running
                && now.0.saturating_sub(t.last_change().0) > duration_ms
        })
        .count();
    match (needed_count, needed_percent) {
        (Some(count), _) => {
            // A policy that allows no instance down allows one.
            let required = (count as usize).min(total.saturating_sub(1));
            up_after >= required
        }
        (None, Some(percent)) => {
            let total_f = total as f64;
            let allowed_down = ((1.0 - percent / 100.0) * total_f).floor();
            let percent = if allowed_down < 1.0 {
                (total_f - 1.0) / total_f * 100.0
            } else {
                percent
            };
            up_after as f64 / total_f * 100.0 >= percent
        }
        (None, None) => false,
    }
}
