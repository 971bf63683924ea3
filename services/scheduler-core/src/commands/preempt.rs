//! Preemption: a pending task that found no room may evict lower-tier tasks. A non-preemptible
//! (production) task may preempt preemptible-tier tasks; among tasks of the same preemptibility,
//! only tasks of the same role with a strictly lower priority. Victims go to PREEMPTING ("Preempting
//! in favor of <task>") and are killed; the preemptor is placed by a later pass once they are gone.
//!
//! The search is Aurora's, simplified: per agent in agent-id order, take eligible victims
//! largest first until the task would fit (checked with the placement filter itself, so
//! constraints and maintenance count), and use the first agent where that works.
//!
//! What keeps a pass cheap however large the backlog:
//!
//! - Searched per group. Tasks of a group share their config, so they get the same answer: once
//!   a search for one fails, the rest of the group is not searched in this pass (victims taken
//!   by other preemptors only make it fail more). After a success, the group's next search
//!   starts at the agent that worked, since every agent before it failed with fewer victims
//!   taken (the slot cache of Aurora's preemptor, within a pass).
//! - Agents without a task the preemptor may preempt are skipped through the write model's
//!   index of preemption candidates ([`ClusterState::victims`]); only the others have their
//!   tasks looked at.
//! - A budget: at most [`MAX_PREEMPTORS_PER_PASS`] preemptors served, and at most as many
//!   searches as the pass allows.

use std::collections::BTreeSet;

use aurora_events::{ConfigHash, ResourceAggregate, ScheduleStatus, TaskConfig, TaskId};

use crate::decision::{Out, PassWork};
use crate::lifecycle::change_state;
use crate::placement::{self, AgentSlot, JobPresence, PendingGroup, PlacementInput};
use crate::scheduling::inputs::placement_settings;
use crate::state::{ClusterState, Task};

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

/// A group's tasks the pass left pending, in the order they were tried.
#[derive(Debug)]
pub(crate) struct Unplaced<'a> {
    pub(crate) hash: ConfigHash,
    pub(crate) config: &'a TaskConfig,
    pub(crate) tasks: &'a [TaskId],
}

/// Preempts for the pending tasks of `groups` (in pass order) that have waited long enough,
/// within `max_searches`; counts its work in `work`. Returns the groups victims were found for.
pub(crate) fn preempt_for(
    state: &ClusterState,
    out: &mut Out,
    agents: &[AgentSlot],
    groups: &[Unplaced<'_>],
    max_searches: Option<usize>,
    work: &mut PassWork,
) -> BTreeSet<ConfigHash> {
    let delay = state.settings().preemption_delay_ms;
    let max_searches = max_searches.unwrap_or(usize::MAX);
    let mut taken: BTreeSet<TaskId> = BTreeSet::new();
    let mut served = 0;
    let mut found = BTreeSet::new();
    'groups: for group in groups {
        // Agents before this one failed for the group earlier in the pass.
        let mut from = 0;
        for id in group.tasks {
            if served >= MAX_PREEMPTORS_PER_PASS || work.preemption_searches >= max_searches {
                break 'groups;
            }
            let Some(task) = state.task(id) else { continue };
            if out.now.0 - task.last_change().0 < delay {
                continue;
            }
            work.preemption_searches += 1;
            let Some((at, victims)) =
                find_slot(state, agents, from, task, group.config, &taken, work)
            else {
                // The group's other tasks would fail too.
                continue 'groups;
            };
            from = at;
            served += 1;
            found.insert(group.hash);
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
    found
}

/// The first agent at or after position `from` where evicting victims makes room for `task`,
/// with those victims.
fn find_slot(
    state: &ClusterState,
    agents: &[AgentSlot],
    from: usize,
    task: &Task,
    config: &TaskConfig,
    taken: &BTreeSet<TaskId>,
    work: &mut PassWork,
) -> Option<(usize, Vec<TaskId>)> {
    let overhead = state.settings().executor_overhead;
    for (at, slot) in agents.iter().enumerate().skip(from) {
        if !state
            .victims(&slot.agent)
            .is_some_and(|victims| victims.any_for(config))
        {
            continue;
        }
        work.agents_examined += 1;
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
                return Some((at, victims));
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
