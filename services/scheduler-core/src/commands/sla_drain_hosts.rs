//! `slaDrainHosts` (`aurora-admin sla_host_drain`): hosts go to DRAINING at once, but their
//! tasks are drained one by one by the tick, each only while its job's SLA policy stays
//! satisfied; when the request's timeout passes, the rest are drained regardless.
//!
//! An SLA policy (the task's config's, else the request's default) asks that, with the task
//! down, at least `count` of its job's active instances — or `percentage` percent of them —
//! have been RUNNING for longer than `duration_secs`, as Aurora's SlaManager judges it: a
//! policy that would allow no instance down is taken to allow one, and jobs that are not
//! production (unless `sla_aware_kill_non_prod`) or have fewer active instances than
//! `min_required_instances_for_sla_check` are not checked at all. A coordinator policy asks
//! an outside service, which this scheduler does not call yet: such tasks wait for the
//! timeout.

use std::collections::BTreeSet;

use aurora_events::config::SlaPolicy;
use aurora_events::{Event, MaintenanceMode, ScheduleStatus, TaskId, Timestamp};

use super::Decide;
use crate::decision::{Out, Rejection};
use crate::lifecycle::change_state;
use crate::state::{ClusterState, SlaDrain, Task};

/// The message on a task an SLA-aware drain drains while its SLA allows it.
pub const SLA_DRAIN_MESSAGE: &str = "Draining machine for maintenance (its job's SLA allows it).";
/// The message on a task drained because the SLA-aware drain timed out.
pub const FORCED_DRAIN_MESSAGE: &str =
    "Draining machine for maintenance (the SLA-aware drain timed out).";

/// Drain `hosts`, respecting SLA policies until `timeout_secs` have passed.
#[derive(Debug, Clone, PartialEq)]
pub struct SlaDrainHosts {
    pub hosts: Vec<String>,
    /// For tasks whose config has no SLA policy of its own.
    pub default_sla: SlaPolicy,
    pub timeout_secs: u64,
}

impl Decide for SlaDrainHosts {
    fn decide(&self, state: &ClusterState, out: &mut Out) -> Result<(), Rejection> {
        if let SlaPolicy::Percentage { percentage, .. } = self.default_sla
            && !(0.0..=100.0).contains(&percentage)
        {
            return Err(Rejection::InvalidRequest(format!(
                "the default SLA percentage {percentage} is not between 0 and 100"
            )));
        }
        // As in Aurora, hosts the scheduler has never seen are ignored.
        for host in &self.hosts {
            let Some(record) = state.host(host) else {
                continue;
            };
            let cause = out.emit(
                Event::SlaDrainRequested {
                    host: host.clone(),
                    default_sla: self.default_sla.clone(),
                    timeout_secs: self.timeout_secs,
                },
                None,
            );
            if !matches!(
                record.mode,
                MaintenanceMode::Draining | MaintenanceMode::Drained
            ) {
                out.emit(
                    Event::HostMaintenanceChanged {
                        host: host.clone(),
                        from: record.mode,
                        to: MaintenanceMode::Draining,
                    },
                    Some(cause),
                );
            }
        }
        Ok(())
    }
}

/// The tick's turn: for each host under an SLA-aware drain, drains the tasks whose SLA allows
/// it (one at a time per job, each judged with the ones drained before it already down), or
/// every task once the drain has timed out.
pub(crate) fn sla_drains(state: &ClusterState, out: &mut Out, now: Timestamp) {
    let mut down: BTreeSet<TaskId> = BTreeSet::new();
    for (host, drain) in state.sla_drains() {
        let Some(agent) = state.host(host).and_then(|h| h.agent.as_ref()) else {
            continue;
        };
        let timeout_ms = i64::try_from(drain.timeout_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        let forced = now.0 >= drain.requested_at.0.saturating_add(timeout_ms);
        let candidates: Vec<&Task> = state
            .tasks_on_agent(agent)
            .filter(|t| {
                matches!(
                    t.status,
                    ScheduleStatus::Assigned | ScheduleStatus::Starting | ScheduleStatus::Running
                )
            })
            .collect();
        for task in candidates {
            let (allowed, message) = if forced {
                (true, FORCED_DRAIN_MESSAGE)
            } else {
                (
                    sla_allows(state, task, drain, now, &down),
                    SLA_DRAIN_MESSAGE,
                )
            };
            if allowed {
                down.insert(task.id.clone());
                change_state(
                    state,
                    out,
                    task,
                    ScheduleStatus::Draining,
                    Some(message.to_string()),
                    Some(task.last_event),
                );
            }
        }
    }
}

/// Whether `task`'s job keeps its SLA with `task` down, besides the tasks in `down`.
fn sla_allows(
    state: &ClusterState,
    task: &Task,
    drain: &SlaDrain,
    now: Timestamp,
    down: &BTreeSet<TaskId>,
) -> bool {
    let policy = state
        .config(&task.config)
        .and_then(|config| config.sla_policy.as_ref())
        .unwrap_or(&drain.default_sla);
    let (needed_count, needed_percent, duration_secs) = match policy {
        SlaPolicy::Count {
            count,
            duration_secs,
        } => (Some(*count), None, *duration_secs),
        SlaPolicy::Percentage {
            percentage,
            duration_secs,
        } => (None, Some(*percentage), *duration_secs),
        // Not called yet: the task waits for the drain's timeout.
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
