//! `slaDrainHosts` (`aurora-admin sla_host_drain`): hosts go to DRAINING at once, but their
//! tasks are drained one by one by the tick, each only while its job's SLA policy stays
//! satisfied; when the request's timeout passes, the rest are drained regardless.
//!
//! Each task is judged by its config's SLA policy, else the request's default (see
//! `crate::sla` for how a policy is checked).

use std::collections::BTreeSet;

use aurora_events::config::SlaPolicy;
use aurora_events::{Event, EventId, MaintenanceMode, ScheduleStatus, TaskId, Timestamp};

use super::Decide;
use crate::decision::{Out, Rejection};
use crate::lifecycle::change_state;
use crate::state::{ClusterState, SlaDrain, Task};

/// The message on a task an SLA-aware drain drains while its SLA allows it.
pub const SLA_DRAIN_MESSAGE: &str = "Draining machine for maintenance (its job's SLA allows it).";
/// The message on a task an SLA-aware drain drains once its SLA coordinator allowed it.
pub const COORDINATOR_DRAIN_MESSAGE: &str =
    "Draining machine for maintenance (its SLA coordinator allowed it).";
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
/// every task once the drain has timed out. Tasks under a coordinator policy have their
/// coordinator asked (see [`CoordinatorAllowed`] for its yes).
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
        let deadline = drain_deadline(drain);
        let forced = now.0 >= deadline.0;
        for task in drain_candidates(state, host).filter(|t| !moved.contains(&t.id)) {
            let (allowed, message) = if forced {
                (true, FORCED_DRAIN_MESSAGE)
            } else {
                let policy = policy_of(state, task, drain);
                let countdown = Some(deadline.0.saturating_sub(now.0));
                let allowed =
                    crate::sla::check(state, out, task, policy, &down, &BTreeSet::new(), countdown);
                (allowed, SLA_DRAIN_MESSAGE)
            };
            if allowed {
                down.insert(task.id.clone());
                drain_task(state, out, task, message, drain.request);
            }
        }
    }
}

/// When `drain` stops waiting for SLAs.
fn drain_deadline(drain: &SlaDrain) -> Timestamp {
    let timeout_ms = i64::try_from(drain.timeout_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    Timestamp(drain.requested_at.0.saturating_add(timeout_ms))
}

/// The tasks an SLA-aware drain of `host` still has to move: none unless the host is still
/// DRAINING (maintenance may have moved it since).
fn drain_candidates<'a>(state: &'a ClusterState, host: &str) -> impl Iterator<Item = &'a Task> {
    let agent = state
        .host(host)
        .filter(|h| h.mode == MaintenanceMode::Draining)
        .and_then(|h| h.agent.as_ref());
    agent
        .into_iter()
        .flat_map(|agent| state.tasks_on_agent(agent))
        .filter(|t| {
            matches!(
                t.status,
                ScheduleStatus::Assigned
                    | ScheduleStatus::Starting
                    | ScheduleStatus::Running
                    | ScheduleStatus::Partitioned
            )
        })
}

/// A task's own SLA policy, else the drain's default.
fn policy_of<'a>(state: &'a ClusterState, task: &Task, drain: &'a SlaDrain) -> &'a SlaPolicy {
    state
        .config(&task.config)
        .and_then(|config| config.sla_policy.as_ref())
        .unwrap_or(&drain.default_sla)
}

fn drain_task(state: &ClusterState, out: &mut Out, task: &Task, message: &str, request: EventId) {
    change_state(
        state,
        out,
        task,
        ScheduleStatus::Draining,
        Some(message.to_string()),
        Some(request),
    );
}

/// An SLA coordinator said `task` may go down. If an SLA-aware drain still waits on it, it is
/// drained; if its job's SLA-aware update waits to kill it, the update goes on with it. Either
/// way the step is an event caused by the task's latest one. An answer that comes too late
/// (the task moved, the drain ended or was forced, the update went on) decides nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordinatorAllowed {
    pub task: TaskId,
}

impl Decide for CoordinatorAllowed {
    fn decide(&self, state: &ClusterState, out: &mut Out) -> Result<(), Rejection> {
        let task = state
            .task(&self.task)
            .ok_or_else(|| Rejection::UnknownTask(self.task.clone()))?;
        let now = out.now;
        let drained_host = state.sla_drains().find(|(host, drain)| {
            now.0 < drain_deadline(drain).0
                && matches!(policy_of(state, task, drain), SlaPolicy::Coordinator { .. })
                && drain_candidates(state, host).any(|t| t.id == task.id)
        });
        if let Some((_, drain)) = drained_host {
            drain_task(state, out, task, COORDINATOR_DRAIN_MESSAGE, drain.request);
            return Ok(());
        }
        if let Some((key, update)) = state.active_update(&task.job)
            && update.instructions.settings.sla_aware
        {
            crate::update::advance::advance(
                state,
                out,
                key,
                update,
                &BTreeSet::from([task.id.clone()]),
            );
        }
        Ok(())
    }
}
