//! `slaDrainHosts` (`aurora-admin sla_host_drain`): hosts go to DRAINING at once, but their
//! tasks are drained one by one by the tick, each only while its job's SLA policy stays
//! satisfied; when the request's timeout passes, the rest are drained regardless.
//!
//! Each task is judged by its config's SLA policy, else the request's default (see
//! `crate::sla` for how a policy is checked).

use std::collections::BTreeSet;

use aurora_events::config::SlaPolicy;
use aurora_events::{Event, MaintenanceMode, ScheduleStatus, TaskId, Timestamp};

use super::Decide;
use crate::decision::{Out, Rejection};
use crate::lifecycle::change_state;
use crate::state::{ClusterState, Task};

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
            // A DRAINED host goes back to DRAINING too (as in Aurora): the tick finds it empty
            // and marks it DRAINED again, which ends the request.
            if record.mode != MaintenanceMode::Draining {
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
    // Tasks this tick already moved (timed out to LOST, say): not moved twice.
    let moved: BTreeSet<TaskId> = out
        .decision
        .events
        .iter()
        .filter_map(|e| e.event.task().cloned())
        .collect();
    for (host, drain) in state.sla_drains() {
        // Only a host still DRAINING is drained (maintenance may have moved it since).
        let Some(record) = state
            .host(host)
            .filter(|h| h.mode == MaintenanceMode::Draining)
        else {
            continue;
        };
        let Some(agent) = record.agent.as_ref() else {
            continue;
        };
        let timeout_ms = i64::try_from(drain.timeout_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        let forced = now.0 >= drain.requested_at.0.saturating_add(timeout_ms);
        let candidates: Vec<&Task> = state
            .tasks_on_agent(agent)
            .filter(|t| {
                matches!(
                    t.status,
                    ScheduleStatus::Assigned
                        | ScheduleStatus::Starting
                        | ScheduleStatus::Running
                        | ScheduleStatus::Partitioned
                ) && !moved.contains(&t.id)
            })
            .collect();
        for task in candidates {
            let (allowed, message) = if forced {
                (true, FORCED_DRAIN_MESSAGE)
            } else {
                let own = state
                    .config(&task.config)
                    .and_then(|config| config.sla_policy.as_ref());
                let policy = own.unwrap_or(&drain.default_sla);
                (
                    crate::sla::allows(state, task, policy, now, &down),
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
