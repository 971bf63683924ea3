//! `Schedule`: one scheduling pass. Pending tasks are grouped by identical config (oldest group
//! first), placed first-fit on the live agents, and launched; production tasks that still find
//! no room and have waited long enough may preempt lower tiers ([`super::preempt`]).

use std::collections::BTreeMap;

use aurora_events::config::ConstraintKind;
use aurora_events::{ConfigHash, TaskId, Timestamp};

use super::Decide;
use crate::decision::{Effect, Out, Rejection};
use crate::placement::{
    self, AgentSlot, ExecutorOverhead, JobPresence, PendingGroup, PlacementInput,
    PlacementSettings, Usage,
};
use crate::state::{ClusterState, PendingTasks, micro_cpus};

use super::preempt;

/// One scheduling pass: place pending tasks, preempting where production tasks must.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Schedule {}

impl Decide for Schedule {
    fn decide(&self, state: &ClusterState, out: &mut Out) -> Result<(), Rejection> {
        decide(state, out)
    }
}

fn decide(state: &ClusterState, out: &mut Out) -> Result<(), Rejection> {
    let groups = pending_groups(state);
    if groups.is_empty() {
        return Ok(());
    }
    let agents = agent_slots(state);
    let pending_groups: Vec<PendingGroup<'_>> = groups
        .iter()
        .filter_map(|(hash, tasks)| {
            state.config(hash).map(|config| PendingGroup {
                config,
                tasks: tasks.clone(),
            })
        })
        .collect();
    let presence = job_presence(state, &pending_groups);
    let input = PlacementInput {
        agents: &agents,
        groups: &pending_groups,
        presence: &presence,
        settings: placement_settings(state),
    };
    let placement = placement::place(&input);
    for assignment in placement.assignments {
        let launch = Effect::Launch {
            task: assignment.task.clone(),
            agent: assignment.agent.clone(),
        };
        let cause = state.task(&assignment.task).map(|t| t.last_event);
        out.emit(assignment.into_event(), cause);
        out.effect(launch);
    }
    let unplaced: Vec<TaskId> = placement.pending.iter().map(|p| p.task.clone()).collect();
    out.decision.pending = placement
        .pending
        .into_iter()
        .map(|p| (p.task, p.reason.to_string()))
        .collect();
    preempt::preempt_for(state, out, &agents, &unplaced);
    Ok(())
}

pub(crate) fn placement_settings(state: &ClusterState) -> PlacementSettings {
    let overhead = state.settings().executor_overhead;
    PlacementSettings {
        executor_overhead: ExecutorOverhead {
            cpus: overhead.cpus,
            ram_mb: overhead.ram_mb,
        },
    }
}

/// PENDING tasks by config, the group whose oldest task has waited longest first (then by
/// hash); tasks within a group by instance. Read from the write model's index of PENDING tasks.
fn pending_groups(state: &ClusterState) -> Vec<(ConfigHash, Vec<TaskId>)> {
    let mut ordered: Vec<(Timestamp, &ConfigHash, &PendingTasks)> = state
        .pending_groups()
        .map(|(hash, group)| (group.oldest(), hash, group))
        .collect();
    ordered.sort_by_key(|(oldest, hash, _)| (*oldest, **hash));
    ordered
        .into_iter()
        .map(|(_, hash, group)| (*hash, group.tasks().cloned().collect()))
        .collect()
}

/// Every live agent with what its tasks hold (their requests plus executor overhead), from the
/// write model's index of each agent's load.
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
fn job_presence(state: &ClusterState, groups: &[PendingGroup<'_>]) -> JobPresence {
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
