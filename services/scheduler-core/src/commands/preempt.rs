//! Preemption: a pending task that found no room may evict lower-tier tasks. A non-preemptible
//! (production) task may preempt preemptible-tier tasks; among tasks of the same preemptibility,
//! only tasks of the same role with a strictly lower priority. Victims go to PREEMPTING ("Preempting
//! in favor of <task>") and are killed; the preemptor is placed by a later pass once they are gone.
//!
//! The search is Aurora's, simplified: per agent in placement order, take eligible victims
//! largest first until the task would fit (checked with the placement filter itself, so
//! constraints and maintenance count), and use the first agent where that works.

use std::collections::BTreeSet;

use aurora_events::{ResourceAggregate, ScheduleStatus, TaskConfig, TaskId};

use crate::decision::Out;
use crate::lifecycle::change_state;
use crate::placement::{self, AgentSlot, JobPresence, PendingGroup, PlacementInput};
use crate::state::{ClusterState, Task};

use super::schedule::placement_settings;

/// Most preemptors served per pass, so one pass stays cheap (Aurora batches them too).
const MAX_PREEMPTORS_PER_PASS: usize = 10;

/// Whether a task of `candidate` may preempt a task of `victim`.
pub fn may_preempt(candidate: &TaskConfig, victim: &TaskConfig) -> bool {
    let (c, v) = (candidate.tier.preemptible(), victim.tier.preemptible());
    match (c, v) {
        (false, true) => true,
        (true, false) => false,
        (false, false) | (true, true) => {
            candidate.job.role == victim.job.role && candidate.priority > victim.priority
        }
    }
}

pub(crate) fn preempt_for(
    state: &ClusterState,
    out: &mut Out,
    agents: &[AgentSlot],
    unplaced: &[TaskId],
) {
    let delay = state.settings().preemption_delay_ms;
    let mut taken: BTreeSet<TaskId> = BTreeSet::new();
    let mut served = 0;
    for id in unplaced {
        if served >= MAX_PREEMPTORS_PER_PASS {
            break;
        }
        let Some(task) = state.task(id) else { continue };
        let Some(config) = state.config(&task.config) else {
            continue;
        };
        if out.now.0 - task.last_change().0 < delay {
            continue;
        }
        if let Some(victims) = find_slot(state, agents, task, config, &taken) {
            served += 1;
            let message = format!("Preempting in favor of {}", task.id);
            for victim in victims {
                if let Some(record) = state.task(&victim) {
                    change_state(
                        state,
                        out,
                        record,
                        ScheduleStatus::Preempting,
                        Some(message.clone()),
                        Some(task.last_event),
                    );
                }
                taken.insert(victim);
            }
        }
    }
}

/// The victims on the first agent where evicting them makes room for `task`.
fn find_slot(
    state: &ClusterState,
    agents: &[AgentSlot],
    task: &Task,
    config: &TaskConfig,
    taken: &BTreeSet<TaskId>,
) -> Option<Vec<TaskId>> {
    let overhead = state.settings().executor_overhead;
    for slot in agents {
        let mut eligible: Vec<(&Task, &TaskConfig)> = state
            .tasks_on_agent(&slot.agent)
            .filter(|v| {
                v.status == ScheduleStatus::Running
                    || v.status == ScheduleStatus::Starting
                    || v.status == ScheduleStatus::Assigned
            })
            .filter(|v| !taken.contains(&v.id))
            .filter_map(|v| state.config(&v.config).map(|c| (v, c)))
            .filter(|(_, c)| may_preempt(config, c))
            .collect();
        if eligible.is_empty() {
            continue;
        }
        // Largest first, so the fewest tasks are disturbed; ids break ties.
        eligible.sort_by(|(a, ac), (b, bc)| {
            let size = |c: &TaskConfig| {
                (
                    c.resources.ram_mb,
                    c.resources.disk_mb,
                    (c.resources.cpus * 1000.0) as u64,
                )
            };
            size(bc).cmp(&size(ac)).then_with(|| a.id.cmp(&b.id))
        });
        let mut trial = slot.clone();
        let mut victims = Vec::new();
        for (victim, victim_config) in eligible {
            let freed = ResourceAggregate::of(&victim_config.resources).plus(overhead);
            trial.used.cpus = (trial.used.cpus - freed.cpus).max(0.0);
            trial.used.ram_mb = trial.used.ram_mb.saturating_sub(freed.ram_mb);
            trial.used.disk_mb = trial.used.disk_mb.saturating_sub(freed.disk_mb);
            trial.used.gpus = trial.used.gpus.saturating_sub(victim_config.resources.gpus);
            if let Some(assignment) = &victim.assignment {
                for port in assignment.port_numbers() {
                    trial.used.ports.remove(&port);
                }
            }
            victims.push(victim.id.clone());
            if fits(state, &trial, task, config) {
                return Some(victims);
            }
        }
    }
    None
}

/// Whether `task` would be placed on `slot` alone (every filter of a real pass applies).
fn fits(state: &ClusterState, slot: &AgentSlot, task: &Task, config: &TaskConfig) -> bool {
    let groups = [PendingGroup {
        config,
        tasks: vec![task.id.clone()],
    }];
    let mut presence = JobPresence::new();
    let count = state
        .active_tasks_of_job(&config.job)
        .filter(|t| {
            t.assignment.as_ref().is_some_and(|a| a.agent == slot.agent) && t.status.is_on_agent()
        })
        .count() as u32;
    presence
        .entry(config.job.clone())
        .or_default()
        .insert(slot.agent.clone(), count);
    let input = PlacementInput {
        agents: std::slice::from_ref(slot),
        groups: &groups,
        presence: &presence,
        settings: placement_settings(state),
    };
    !placement::place(&input).assignments.is_empty()
}
