//! The working copy one pass mutates: agents in placement order with what they have free,
//! their attributes as interned ids, an index from attribute value to agents, the fit tree,
//! and the limit counts.
//!
//! Hash maps here are lookup indexes only; nothing iterates them, so their order never reaches
//! a decision. Positions (`pos`) are indexes into the placement order, which is NONE hosts
//! before SCHEDULED before DRAINING before DRAINED, then by host name, then by agent id.

use std::collections::{BTreeMap, HashMap};

use aurora_events::config::DEDICATED_ATTRIBUTE;
use aurora_events::{AgentId, JobKey, MaintenanceMode, TaskId};

use super::amounts::{self, Amounts, ResourceKind};
use super::group::Group;
use super::ports::{PortPool, port_seed};
use super::tree::FitTree;
use super::{AgentSlot, HOST_ATTRIBUTE, JobPresence};

/// An interned attribute name.
pub(super) type NameId = u32;
/// An interned attribute value (shared by all names: `rack: a` and `zone: a` have the same id).
pub(super) type ValueId = u32;
/// An interned job among the jobs of the pending groups.
pub(super) type JobId = u32;

#[derive(Debug)]
pub(super) struct AgentState<'a> {
    pub(super) slot: &'a AgentSlot,
    /// Free amounts; the ports slot mirrors `ports.free()`.
    pub(super) free: Amounts,
    /// The host carries a `dedicated` attribute (whatever its values).
    pub(super) dedicated: bool,
    /// Sorted by name; values sorted and unique; repeated attribute names merged.
    attributes: Vec<(NameId, Vec<ValueId>)>,
    ports: PortPool,
    /// Usable by groups that search the tree: not dedicated, not draining or drained.
    in_tree: bool,
}

impl AgentState<'_> {
    /// The agent's values of an attribute; `None` when it lacks the attribute.
    pub(super) fn values(&self, name: NameId) -> Option<&[ValueId]> {
        self.attributes
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, values)| values.as_slice())
    }
}

#[derive(Debug)]
pub(super) struct Cluster<'a> {
    agents: Vec<AgentState<'a>>,
    by_id: HashMap<&'a AgentId, usize>,
    names: HashMap<&'a str, NameId>,
    values: HashMap<&'a str, ValueId>,
    /// (attribute, value) → positions of the agents having it, ascending.
    index: HashMap<(NameId, ValueId), Vec<u32>>,
    /// How many agents are in the tree.
    tree_members: usize,
    tree: FitTree,
    jobs: HashMap<&'a JobKey, JobId>,
    /// Per job, the attributes its groups' limit constraints name: placing any task of the job
    /// bumps the job's count for the host's values of each.
    limit_attributes: Vec<Vec<NameId>>,
    /// (job, attribute, value) → active tasks of the job on hosts with that value.
    limit_counts: HashMap<(JobId, NameId, ValueId), u32>,
}

fn mode_rank(mode: MaintenanceMode) -> u8 {
    match mode {
        MaintenanceMode::None => 0,
        MaintenanceMode::Scheduled => 1,
        MaintenanceMode::Draining => 2,
        MaintenanceMode::Drained => 3,
    }
}

fn intern<'a>(table: &mut HashMap<&'a str, u32>, text: &'a str) -> u32 {
    let next = u32::try_from(table.len()).unwrap_or(u32::MAX);
    *table.entry(text).or_insert(next)
}

impl<'a> Cluster<'a> {
    pub(super) fn new(slots: &'a [AgentSlot]) -> Self {
        let mut order: Vec<&'a AgentSlot> = slots.iter().collect();
        order.sort_by_key(|slot| (mode_rank(slot.mode), &slot.host, &slot.agent));

        let mut names = HashMap::new();
        let mut values = HashMap::new();
        let mut index: HashMap<(NameId, ValueId), Vec<u32>> = HashMap::new();
        let mut by_id = HashMap::with_capacity(order.len());
        let mut agents = Vec::with_capacity(order.len());
        for (pos, slot) in order.into_iter().enumerate() {
            by_id.entry(&slot.agent).or_insert(pos);
            let attributes = interned_attributes(slot, &mut names, &mut values);
            for (name, vals) in &attributes {
                for value in vals {
                    index.entry((*name, *value)).or_default().push(pos as u32);
                }
            }
            let dedicated = slot
                .attributes
                .iter()
                .any(|a| a.name == DEDICATED_ATTRIBUTE);
            let schedulable = match slot.mode {
                MaintenanceMode::None | MaintenanceMode::Scheduled => true,
                MaintenanceMode::Draining | MaintenanceMode::Drained => false,
            };
            let ports = PortPool::new(&slot.capacity.port_ranges, &slot.used.ports);
            let mut free = amounts::free_scalars(&slot.capacity, &slot.used);
            free[ResourceKind::Ports.index()] = ports.free();
            agents.push(AgentState {
                slot,
                free,
                dedicated,
                attributes,
                ports,
                in_tree: schedulable && !dedicated,
            });
        }
        let tree_members = agents.iter().filter(|a| a.in_tree).count();
        let tree = FitTree::new(agents.iter().map(|a| a.in_tree.then_some(a.free)));
        Self {
            agents,
            by_id,
            names,
            values,
            index,
            tree_members,
            tree,
            jobs: HashMap::new(),
            limit_attributes: Vec::new(),
            limit_counts: HashMap::new(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.agents.len()
    }

    pub(super) fn agent(&self, pos: usize) -> &AgentState<'a> {
        &self.agents[pos]
    }

    pub(super) fn slot(&self, pos: usize) -> &'a AgentSlot {
        self.agents[pos].slot
    }

    pub(super) fn tree_members(&self) -> usize {
        self.tree_members
    }

    /// The id of an attribute name some agent has; `None` when no agent has it.
    pub(super) fn name_id(&self, name: &str) -> Option<NameId> {
        self.names.get(name).copied()
    }

    /// The id of an attribute value some agent has; `None` when no agent has it.
    pub(super) fn value_id(&self, value: &str) -> Option<ValueId> {
        self.values.get(value).copied()
    }

    /// Positions of the agents whose attribute `name` has `value`, ascending.
    pub(super) fn with_value(&self, name: NameId, value: ValueId) -> &[u32] {
        self.index
            .get(&(name, value))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The first tree member at or after `from` with at least `request` free.
    pub(super) fn first_with_room(&self, from: usize, request: &Amounts) -> Option<usize> {
        self.tree.first_fit(from, request)
    }

    /// Interns a job of a pending group.
    pub(super) fn job_id(&mut self, job: &'a JobKey) -> JobId {
        let next = u32::try_from(self.jobs.len()).unwrap_or(u32::MAX);
        let id = *self.jobs.entry(job).or_insert(next);
        if self.limit_attributes.len() <= id as usize {
            self.limit_attributes.push(Vec::new());
        }
        id
    }

    /// Notes that a group of `job` has a limit constraint on `name`.
    pub(super) fn track_limit(&mut self, job: JobId, name: NameId) {
        let names = &mut self.limit_attributes[job as usize];
        if !names.contains(&name) {
            names.push(name);
        }
    }

    /// Seeds the limit counts from the tasks already active, for the attributes tracked so far
    /// (call after compiling every group). Agents unknown to the pass are skipped: without
    /// their attributes their tasks cannot be counted against any value.
    pub(super) fn count_presence(&mut self, presence: &JobPresence) {
        for (job, per_agent) in presence {
            let Some(&job) = self.jobs.get(job) else {
                continue;
            };
            for (agent, &count) in per_agent {
                let Some(&pos) = self.by_id.get(agent) else {
                    continue;
                };
                self.bump_limits(job, pos, count);
            }
        }
    }

    fn bump_limits(&mut self, job: JobId, pos: usize, by: u32) {
        let agent = &self.agents[pos];
        for &name in &self.limit_attributes[job as usize] {
            for &value in agent.values(name).unwrap_or_default() {
                *self.limit_counts.entry((job, name, value)).or_insert(0) += by;
            }
        }
    }

    /// Active tasks of `job` on hosts whose attribute `name` has `value`.
    pub(super) fn limit_count(&self, job: JobId, name: NameId, value: ValueId) -> u32 {
        self.limit_counts
            .get(&(job, name, value))
            .copied()
            .unwrap_or(0)
    }

    /// Places `task` of `group` on the agent at `pos` (which passed every filter): takes its
    /// resources and ports (from where the task's [`port_seed`] points) and counts it for
    /// limits. Returns its named ports.
    pub(super) fn commit(
        &mut self,
        pos: usize,
        group: &Group<'_>,
        task: &TaskId,
    ) -> BTreeMap<String, u16> {
        let agent = &mut self.agents[pos];
        for kind in ResourceKind::ALL {
            let i = kind.index();
            agent.free[i] = agent.free[i].saturating_sub(group.request[i]);
        }
        let names = &group.pending.config.resources.ports;
        // Most tasks name no port: they skip hashing their id.
        let numbers = if names.is_empty() {
            Vec::new()
        } else {
            agent.ports.take(names.len(), port_seed(task))
        };
        agent.free[ResourceKind::Ports.index()] = agent.ports.free();
        let ports = names.iter().cloned().zip(numbers).collect();
        if agent.in_tree {
            self.tree.update(pos, &agent.free);
        }
        self.bump_limits(group.job, pos, 1);
        ports
    }
}

/// A slot's attributes as ids, plus `host: <host>` when it does not report a `host` itself.
fn interned_attributes<'a>(
    slot: &'a AgentSlot,
    names: &mut HashMap<&'a str, NameId>,
    values: &mut HashMap<&'a str, ValueId>,
) -> Vec<(NameId, Vec<ValueId>)> {
    let mut attributes: Vec<(NameId, Vec<ValueId>)> = Vec::with_capacity(slot.attributes.len() + 1);
    let mut add = |name: &'a str, vals: &mut dyn Iterator<Item = &'a str>| {
        let name = intern(names, name);
        let ids = vals.map(|v| intern(values, v));
        match attributes.iter_mut().find(|(n, _)| *n == name) {
            Some((_, existing)) => existing.extend(ids),
            None => attributes.push((name, ids.collect())),
        }
    };
    for attribute in &slot.attributes {
        add(
            &attribute.name,
            &mut attribute.values.iter().map(String::as_str),
        );
    }
    if !slot.attributes.iter().any(|a| a.name == HOST_ATTRIBUTE) {
        add(HOST_ATTRIBUTE, &mut std::iter::once(slot.host.as_str()));
    }
    for (_, vals) in &mut attributes {
        vals.sort_unstable();
        vals.dedup();
    }
    attributes.sort_unstable_by_key(|(name, _)| *name);
    attributes
}
