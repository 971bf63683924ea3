//! What a placement reads from the write model, shared by the scheduling pass and by
//! [`explain_pending`](crate::explain_pending): the PENDING groups in the order a pass serves
//! them, each live agent's slot (from the index of agent loads), the presence counts limit
//! constraints need, and the placement settings.

use std::collections::BTreeMap;

use aurora_events::config::ConstraintKind;
use aurora_events::{ConfigHash, Timestamp};

use crate::placement::{
    AgentSlot, ExecutorOverhead, JobPresence, PendingGroup, PlacementSettings, Usage,
};
use crate::state::{ClusterState, PendingTasks, micro_cpus};

pub(crate) fn placement_settings(state: &ClusterState) -> PlacementSettings {
    let overhead = state.settings().executor_overhead;
    PlacementSettings {
        executor_overhead: ExecutorOverhead {
            cpus: overhead.cpus,
            ram_mb: overhead.ram_mb,
        },
    }
}

/// The groups of PENDING tasks in the order a pass serves them: the group whose oldest task
/// has waited longest first, then by hash. Costs the number of groups, not of tasks.
pub(crate) fn ordered_groups(state: &ClusterState) -> Vec<(&ConfigHash, &PendingTasks)> {
    let mut ordered: Vec<(Timestamp, &ConfigHash, &PendingTasks)> = state
        .pending_groups()
        .map(|(hash, group)| (group.oldest(), hash, group))
        .collect();
    ordered.sort_by_key(|(oldest, hash, _)| (*oldest, **hash));
    ordered
        .into_iter()
        .map(|(_, hash, group)| (hash, group))
        .collect()
}

/// Every live agent with what its tasks hold (their requests plus executor overhead), from the
/// write model's index of each agent's load. In agent id order.
pub(crate) fn agent_slots(state: &ClusterState) -> Vec<AgentSlot> {
    let overhead = state.settings().executor_overhead;
    let overhead_cpus = micro_cpus(overhead.cpus);
    state
        .agents()
        .iter()
        .filter(|(_, agent)| !agent.lost)
        .map(|(id, agent)| {
            let used = state.agent_load(id).map_or_else(Usage::default, |load| {
                let tasks = u64::from(load.tasks);
                Usage {
                    cpus: load
                        .micro_cpus
                        .saturating_add(overhead_cpus.saturating_mul(i64::from(load.tasks)))
                        as f64
                        / 1_000_000.0,
                    ram_mb: load
                        .ram_mb
                        .saturating_add(overhead.ram_mb.saturating_mul(tasks)),
                    disk_mb: load
                        .disk_mb
                        .saturating_add(overhead.disk_mb.saturating_mul(tasks)),
                    gpus: u32::try_from(load.gpus).unwrap_or(u32::MAX),
                    ports: load.ports.keys().copied().collect(),
                }
            });
            let host = state.host(&agent.host);
            AgentSlot {
                agent: id.clone(),
                host: agent.host.clone(),
                capacity: agent.capacity.clone(),
                used,
                attributes: host.map_or_else(|| agent.attributes.clone(), |h| h.attributes.clone()),
                mode: host.map(|h| h.mode).unwrap_or_default(),
            }
        })
        .collect()
}

/// Active tasks per agent for the jobs whose pending tasks have limit constraints.
pub(crate) fn job_presence(state: &ClusterState, groups: &[PendingGroup<'_>]) -> JobPresence {
    let mut presence = JobPresence::new();
    for group in groups {
        let limited = group
            .config
            .constraints
            .iter()
            .any(|c| matches!(c.kind, ConstraintKind::Limit { .. }));
        if !limited || presence.contains_key(&group.config.job) {
            continue;
        }
        let mut per_agent = BTreeMap::new();
        for task in state.active_tasks_of_job(&group.config.job) {
            if task.status.is_on_agent()
                && let Some(assignment) = &task.assignment
            {
                *per_agent.entry(assignment.agent.clone()).or_insert(0) += 1;
            }
        }
        presence.insert(group.config.job.clone(), per_agent);
    }
    presence
}
