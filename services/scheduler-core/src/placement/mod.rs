//! Placement: matching pending tasks to agents (first fit), with the reason every task left
//! over stays pending. Pure: plain data in ([`PlacementInput`]), assignments and reasons out
//! ([`Placement`]); no I/O, no clock, no randomness, no hash-map iteration in any decision.
//!
//! # Pipeline
//!
//! ```text
//!  AgentSlot[] ──sort (mode, host, agent id)──▶ Cluster: working copy of free resources,
//!       │                                       interned attributes, attribute index, fit tree
//!  JobPresence ──▶ limit counts (job, attribute, value) → active tasks
//!  PendingGroup[] ──compile──▶ Group: request (+ executor overhead), constraint checks, candidates
//!       │
//!       └─ for each group, in the given order; for each task of the group, in order:
//!            first agent in cluster order that passes every filter ─▶ Assignment (ports picked
//!            from an offset hashed from the task id; usage and limit counts updated so later
//!            tasks see them)
//!            none ─▶ the group's nearest fit names the reason; it and every later task of the
//!                    group stay pending with that reason
//! ```
//!
//! # Filters (Aurora's `SchedulingFilterImpl`; the first failing step wins)
//!
//! 1. The host has a `dedicated` attribute and the task has no `dedicated` constraint:
//!    "Host is dedicated". (A task with a `dedicated` constraint is held to it by step 3, like
//!    any value constraint, so it only lands on hosts whose `dedicated` value matches.)
//! 2. The host is DRAINING or DRAINED: "Host draining|drained for maintenance". SCHEDULED hosts
//!    stay usable but come after every NONE host in the order.
//! 3. Value constraints in config order ("Constraint not satisfied: <name>"), then limit
//!    constraints ("Limit not satisfied: <name>"; a host lacking the attribute gets
//!    "Constraint not satisfied: <name>", as in Aurora's `ConstraintMatcher`). A host that
//!    reports no `host` attribute gets one from its host name ([`HOST_ATTRIBUTE`]).
//! 4. Resources, the request plus [`ExecutorOverhead`] against what is free: "Insufficient:
//!    cpus, ram, disk, ports, gpus" (every short resource, in that order).
//!
//! # Why it is fast (100k tasks on 10k agents in one pass)
//!
//! Within one pass nothing is ever freed: free resources only shrink and limit counts only
//! grow. So an agent that vetoes a task vetoes every later task of the same group (identical
//! config, same job) too — dynamic limit vetoes included. Each group therefore keeps a cursor
//! into the agent order that only moves forward, and first fit from the cursor is still first
//! fit over the whole order. On top of that:
//!
//! - Groups without a usable value constraint search a segment tree over the agent order that
//!   holds, per subtree, the largest free amount of each resource (`tree.rs`). Whole runs of
//!   full (or too small) agents are skipped in O(log n) instead of being visited one by one.
//!   Dedicated and draining hosts, which such a group can never use, are not in the tree.
//! - Groups with a (non-negated) value constraint, `dedicated` included, walk only the agents
//!   an index says carry one of the wanted values (`cluster.rs`): a rack-pinned job looks at its
//!   racks, a dedicated job at its hosts.
//! - Once a group finds no agent, its remaining tasks stay pending without another search;
//!   the reason comes from one full scan of the agents per failed group (`filter::nearest`).
//!
//! # Glossary
//!
//! - Group: pending tasks with an identical [`TaskConfig`] (Aurora's `TaskGroupKey`).
//! - Slot: an agent as placement sees it: capacity, what is already used, attributes, mode.
//! - Presence: how many active tasks of a job each agent runs; the start for limit counts.
//! - Nearest fit: the agent with the fewest vetoes (then the lowest score: how far short the
//!   resources are; then the earliest in the agent order), whose vetoes become the pending
//!   reason (Aurora's `NearestFit`).
//!
//! Tiers do not change matching here: revocable resources are not modelled, so revocable-tier
//! tasks are matched against the agents' ordinary resources.

mod amounts;
mod cluster;
mod filter;
mod group;
mod ports;
mod reason;
mod tree;

use std::collections::{BTreeMap, BTreeSet};

use aurora_events::event::Attribute;
use aurora_events::{AgentId, Capacity, Event, JobKey, MaintenanceMode, TaskConfig, TaskId};

pub use ports::port_seed;
pub use reason::{PendingReason, ResourceKind};

use cluster::Cluster;
use group::{Candidates, Group};

/// Host attribute that [`place`] supplies from [`AgentSlot::host`] when an agent does not
/// report one itself, so `host: limit:1` and `host: x` constraints work on every agent.
pub const HOST_ATTRIBUTE: &str = "host";

/// Everything one placement pass looks at.
#[derive(Debug, Clone, Copy)]
pub struct PlacementInput<'a> {
    /// Every known agent, in any order, including draining and drained ones (they feed the
    /// pending reasons and the attributes of hosts the presence counts refer to). Agent ids are
    /// expected to be unique; for a repeated id, presence is counted on the first slot.
    pub agents: &'a [AgentSlot],
    /// Pending tasks grouped by identical config, in the order they are to be served.
    pub groups: &'a [PendingGroup<'a>],
    /// Active tasks per job per agent, for limit constraints. Only jobs that have a pending
    /// group with a limit constraint are looked at; others may be left out.
    pub presence: &'a JobPresence,
    pub settings: PlacementSettings,
}

/// An agent as placement sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSlot {
    pub agent: AgentId,
    pub host: String,
    /// Everything the agent offers, including the port ranges it may hand out.
    pub capacity: Capacity,
    /// What active tasks on it already hold (their requests plus executor overhead).
    pub used: Usage,
    pub attributes: Vec<Attribute>,
    pub mode: MaintenanceMode,
}

/// Resources already taken on an agent. Amounts beyond the capacity are allowed (the agent is
/// then simply full); used ports outside the agent's ranges are ignored.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Usage {
    pub cpus: f64,
    pub ram_mb: u64,
    pub disk_mb: u64,
    pub gpus: u32,
    pub ports: BTreeSet<u16>,
}

/// Pending tasks sharing one config. A task id should appear in one group only.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingGroup<'a> {
    pub config: &'a TaskConfig,
    /// Tried in this order (usually by instance number).
    pub tasks: Vec<TaskId>,
}

/// Active tasks of each job on each agent (Aurora's `AttributeAggregate` is derived from this
/// and the agents' attributes).
pub type JobPresence = BTreeMap<JobKey, BTreeMap<AgentId, u32>>;

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PlacementSettings {
    pub executor_overhead: ExecutorOverhead,
}

/// Added to every task's request when matching (not for quota): the executor runs beside the
/// task. Aurora's `-thermos_executor_cpu` and `-thermos_executor_ram`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExecutorOverhead {
    pub cpus: f64,
    pub ram_mb: u64,
}

impl Default for ExecutorOverhead {
    fn default() -> Self {
        Self {
            cpus: 0.25,
            ram_mb: 128,
        }
    }
}

/// The result of one pass: every task of every group is in exactly one of the two lists.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Placement {
    /// In placement order (group order, then task order).
    pub assignments: Vec<Assignment>,
    /// In group order, then task order.
    pub pending: Vec<Pending>,
}

/// A task placed on an agent, with the port numbers picked for its named ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub task: TaskId,
    pub job: JobKey,
    pub agent: AgentId,
    pub host: String,
    /// Each named port of the task's request → a free port of the agent, given out in name
    /// order from where the task's [`port_seed`] points (spread, as Aurora's random pick, but
    /// deterministic).
    pub ports: BTreeMap<String, u16>,
}

impl Assignment {
    /// The PENDING → ASSIGNED fact to journal.
    pub fn into_event(self) -> Event {
        Event::TaskAssigned {
            task: self.task,
            job: self.job,
            agent: self.agent,
            host: self.host,
            ports: self.ports,
        }
    }
}

/// A task no agent could take in this pass, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub task: TaskId,
    pub reason: PendingReason,
}

/// One placement pass: first fit of every pending task, group by group, in the given order.
///
/// ```
/// use aurora_events::event::Attribute;
/// use aurora_events::{AgentId, Capacity, MaintenanceMode, TaskId, samples};
/// use aurora_scheduler_core::placement::*;
///
/// let agents = vec![AgentSlot {
///     agent: AgentId("agent-1".into()),
///     host: "host-1".into(),
///     capacity: Capacity { cpus: 4.0, ram_mb: 8192, disk_mb: 10_000, gpus: 0,
///                          port_ranges: vec![(31000, 32000)] },
///     used: Usage::default(),
///     attributes: vec![Attribute { name: "rack".into(), values: vec!["r1".into()] }],
///     mode: MaintenanceMode::None,
/// }];
/// // The sample asks for 1 cpu, 128 MiB, ports `health` and `http`, not rack r1 or r2,
/// // and at most one task per host.
/// let mut config = samples::task_config();
/// config.constraints.remove(0);
/// let groups = vec![PendingGroup {
///     config: &config,
///     tasks: vec![samples::task_id(0), samples::task_id(1)],
/// }];
/// let placement = place(&PlacementInput {
///     agents: &agents,
///     groups: &groups,
///     presence: &JobPresence::new(),
///     settings: PlacementSettings::default(),
/// });
/// assert_eq!(placement.assignments.len(), 1);
/// // Its ports come from the agent's range, from where its id's hash points.
/// let ports = &placement.assignments[0].ports;
/// assert!(ports.values().all(|port| (31000..=32000).contains(port)));
/// assert_ne!(ports["health"], ports["http"]);
/// assert_eq!(placement.pending[0].reason.to_string(), "Limit not satisfied: host");
/// ```
pub fn place(input: &PlacementInput<'_>) -> Placement {
    let mut out = Placement::default();
    if input.agents.is_empty() {
        for group in input.groups {
            for task in &group.tasks {
                out.pending.push(Pending {
                    task: task.clone(),
                    reason: PendingReason::NoAgents,
                });
            }
        }
        return out;
    }

    let mut cluster = Cluster::new(input.agents);
    let groups: Vec<Group<'_>> = input
        .groups
        .iter()
        .map(|pending| Group::compile(pending, &mut cluster, &input.settings.executor_overhead))
        .collect();
    cluster.count_presence(input.presence);

    for group in &groups {
        // Invariant: every agent before the cursor (in the group's candidate sequence) vetoes
        // this group, and keeps doing so for the rest of the pass (see the module docs).
        let mut cursor = 0;
        let mut tasks = group.pending.tasks.iter();
        while let Some(task) = tasks.next() {
            match next_fit(&cluster, group, &mut cursor) {
                Some(pos) => {
                    let ports = cluster.commit(pos, group, task);
                    let slot = cluster.slot(pos);
                    out.assignments.push(Assignment {
                        task: task.clone(),
                        job: group.pending.config.job.clone(),
                        agent: slot.agent.clone(),
                        host: slot.host.clone(),
                        ports,
                    });
                }
                None => {
                    let reason = filter::nearest(&cluster, group);
                    out.pending.push(Pending {
                        task: task.clone(),
                        reason: reason.clone(),
                    });
                    // Nothing frees up within a pass: the group's later tasks cannot fit either.
                    out.pending.extend(tasks.by_ref().map(|task| Pending {
                        task: task.clone(),
                        reason: reason.clone(),
                    }));
                }
            }
        }
    }
    out
}

/// The first agent at or after `cursor` (a position in the group's candidate sequence) that
/// passes every filter; moves `cursor` onto it, or to the end when there is none.
fn next_fit(cluster: &Cluster<'_>, group: &Group<'_>, cursor: &mut usize) -> Option<usize> {
    match &group.candidates {
        Candidates::Tree => loop {
            // The tree only finds agents with enough of every resource; the full filter then
            // settles constraints. Positions in the tree are positions in the cluster order.
            let pos = cluster.first_with_room(*cursor, &group.request)?;
            if filter::veto(cluster, group, pos).is_none() {
                *cursor = pos;
                return Some(pos);
            }
            *cursor = pos + 1;
        },
        Candidates::List(positions) => {
            while let Some(&pos) = positions.get(*cursor) {
                let pos = pos as usize;
                if filter::veto(cluster, group, pos).is_none() {
                    return Some(pos);
                }
                *cursor += 1;
            }
            None
        }
    }
}
