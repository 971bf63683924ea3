//! `Schedule`: one scheduling pass. Pending tasks are grouped by identical config (oldest group
//! first), placed first-fit on the live agents, and launched; tasks that still find no room
//! and have waited long enough may preempt lower tiers ([`super::preempt`]).
//!
//! A pass does what the leader allows: at most `max_tasks` tasks tried, groups the leader is
//! backing off skipped, at most `max_preemption_searches` searches for victims. The decision's
//! [`PassOutcome`] says which groups were placed, are preempting, stayed unplaced or were left
//! for a later pass, so the leader can back off the ones that keep not fitting.
//! [`Schedule::default`] has no limit and skips nothing.

use std::collections::BTreeSet;

use aurora_events::{AgentId, ConfigHash, TaskId};

use super::Decide;
use super::preempt::{self, Unplaced};
use crate::decision::{Effect, Out, PassOutcome, Rejection};
use crate::placement::{self, PendingGroup, PlacementInput};
use crate::scheduling::inputs::{agent_slots, job_presence, ordered_groups, placement_settings};
use crate::state::ClusterState;

/// One scheduling pass: place pending tasks, preempting where they may.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Schedule {
    /// Most PENDING tasks the pass tries to place, taken group by group in serving order (a
    /// group may be cut short); `None`: all of them.
    pub max_tasks: Option<usize>,
    /// Groups (by config) the leader is backing off: not tried, not reported.
    pub skip: BTreeSet<ConfigHash>,
    /// Most searches for victims to preempt; `None`: as many as there are preemptors.
    pub max_preemption_searches: Option<usize>,
    /// Agents the journal knows that have not registered with this leader yet (just after a
    /// failover or restart): nothing is placed on them, nor taken from them by preemption,
    /// until they do. Aurora places only against offers of agents that are there; a task
    /// handed to an agent still away would come back LOST when it registers without it.
    pub unregistered: BTreeSet<AgentId>,
}

impl Decide for Schedule {
    fn decide(&self, state: &ClusterState, out: &mut Out) -> Result<(), Rejection> {
        let mut pass = PassOutcome::default();
        let mut budget = self.max_tasks.unwrap_or(usize::MAX);
        let mut hashes: Vec<ConfigHash> = Vec::new();
        let mut groups: Vec<PendingGroup<'_>> = Vec::new();
        for (hash, pending) in ordered_groups(state) {
            if self.skip.contains(hash) {
                continue;
            }
            // A group whose config was never stored (an inconsistent journal) cannot be placed.
            let Some(config) = state.config(hash) else {
                continue;
            };
            if budget == 0 {
                pass.deferred.insert(*hash);
                continue;
            }
            let tasks: Vec<TaskId> = pending.tasks().take(budget).cloned().collect();
            budget -= tasks.len();
            hashes.push(*hash);
            groups.push(PendingGroup { config, tasks });
        }
        pass.work.tasks_tried = groups.iter().map(|g| g.tasks.len()).sum();
        if groups.is_empty() {
            out.decision.pass = pass;
            return Ok(());
        }
        let mut agents = agent_slots(state);
        agents.retain(|slot| !self.unregistered.contains(&slot.agent));
        let presence = job_presence(state, &groups);
        let input = PlacementInput {
            agents: &agents,
            groups: &groups,
            presence: &presence,
            settings: placement_settings(state),
        };
        let placement = placement::place(&input);
        // Each group's placed tasks are a prefix of its list, in group order (first fit stops a
        // group at its first task that fits nowhere), so they are counted walking both.
        let mut placed = vec![0usize; groups.len()];
        let mut next = placement.assignments.iter().peekable();
        for (group, count) in groups.iter().zip(placed.iter_mut()) {
            while next
                .peek()
                .is_some_and(|a| group.tasks.get(*count) == Some(&a.task))
            {
                next.next();
                *count += 1;
            }
        }
        for assignment in placement.assignments {
            let launch = Effect::Launch {
                task: assignment.task.clone(),
                agent: assignment.agent.clone(),
            };
            let cause = state.task(&assignment.task).map(|t| t.last_event);
            out.emit(assignment.into_event(), cause);
            out.effect(launch);
        }
        out.decision.pending = placement
            .pending
            .into_iter()
            .map(|p| (p.task, p.reason.to_string()))
            .collect();
        let unplaced: Vec<Unplaced<'_>> = groups
            .iter()
            .zip(&hashes)
            .zip(&placed)
            .filter(|((group, _), count)| **count < group.tasks.len())
            .map(|((group, hash), count)| Unplaced {
                hash: *hash,
                config: group.config,
                tasks: &group.tasks[*count..],
            })
            .collect();
        let preempting = preempt::preempt_for(
            state,
            out,
            &agents,
            &unplaced,
            self.max_preemption_searches,
            &mut pass.work,
        );
        for (hash, count) in hashes.iter().zip(&placed) {
            let set = if *count > 0 {
                &mut pass.placed
            } else if preempting.contains(hash) {
                &mut pass.preempting
            } else {
                &mut pass.unplaced
            };
            set.insert(*hash);
        }
        out.decision.pass = pass;
        Ok(())
    }
}
