//! Indexes of the write model, so that the decisions that run all the time (ticks, scheduling
//! passes, quota checks) cost what is due or asked, not a walk over every task.
//!
//! Every index is a function of the records ([`Task`]s with their configs, updates, hosts, and
//! the `on_agent` sets). [`ClusterState::apply`](super::ClusterState::apply) keeps them so: it
//! takes a task out of the indexes before it changes the task and puts it back after, and loads
//! or unloads an agent exactly when it adds a task to or removes one from that agent's set.
//! They are serialised with the state, so a checkpoint restores them as they were and the
//! digest covers them; `check.rs` recomputes each one by scanning the records, which the tests
//! and the simulator compare against.
//!
//! Sets are keyed by (time, task id), so walking one gives tasks oldest first and, at one time,
//! in id order: the order the deciders emitted in when they scanned every task.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use aurora_events::quota::{Bucket, Exact, Usage};
use aurora_events::{
    AgentId, ConfigHash, Identifier, InstanceId, JobKey, MaintenanceMode, ScheduleStatus,
    TaskConfig, TaskId, Timestamp, UpdateKey,
};
use serde::{Deserialize, Serialize};

use super::records::Task;

/// Everything the write model indexes. Read through the accessors of
/// [`ClusterState`](super::ClusterState); written only by its fold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Indexes {
    /// Each job's updates that are not terminal (one, in a consistent journal).
    pub(super) active_updates: BTreeMap<JobKey, BTreeSet<UpdateKey>>,
    /// What each role's active tasks use, per quota bucket.
    pub(super) usage: BTreeMap<Identifier, Usage>,
    /// PENDING tasks by config: the scheduling pass's groups.
    pub(super) pending: BTreeMap<ConfigHash, PendingTasks>,
    /// THROTTLED tasks by the time their penalty ends.
    pub(super) throttled: BTreeSet<(Timestamp, TaskId)>,
    /// Tasks in a state that times out (ASSIGNED, KILLING, RESTARTING, DRAINING, PREEMPTING),
    /// by when they entered it.
    pub(super) transient: BTreeSet<(Timestamp, TaskId)>,
    /// The KILLING ones among them, whose kills are retried.
    pub(super) killing: BTreeSet<(Timestamp, TaskId)>,
    /// PARTITIONED tasks by when their agent was lost: their job's partition policy says when
    /// (if ever) they become LOST.
    pub(super) partitioned: BTreeSet<(Timestamp, TaskId)>,
    /// Terminal tasks by when they ended, for pruning by age...
    pub(super) terminal: BTreeSet<(Timestamp, TaskId)>,
    /// ...per job, for pruning beyond the per-job maximum...
    pub(super) terminal_by_job: BTreeMap<JobKey, BTreeSet<(Timestamp, TaskId)>>,
    /// ...and each job's count of them, so jobs over the maximum are found without a walk.
    pub(super) terminal_counts: BTreeMap<usize, BTreeSet<JobKey>>,
    /// What the tasks in each agent's `on_agent` set hold there.
    pub(super) agent_load: BTreeMap<AgentId, AgentLoad>,
    /// Hosts in DRAINING, which a tick marks DRAINED once their agent holds nothing.
    pub(super) draining_hosts: BTreeSet<String>,
    /// Preemption candidates per agent (tasks a pass may preempt, see [`is_victim`]).
    pub(super) victims: BTreeMap<AgentId, Victims>,
}

/// The PENDING tasks of one config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingTasks {
    /// In the order a pass tries them: by instance, then since when pending, then id.
    tasks: BTreeSet<(InstanceId, Timestamp, TaskId)>,
    /// How many became PENDING at each time: the first key is the group's oldest.
    since: BTreeMap<Timestamp, u32>,
}

impl PendingTasks {
    /// The tasks in the order a pass tries them.
    pub fn tasks(&self) -> impl Iterator<Item = &TaskId> {
        self.tasks.iter().map(|(_, _, id)| id)
    }

    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// When the longest-waiting task of the group became PENDING.
    pub fn oldest(&self) -> Timestamp {
        self.since.keys().next().copied().unwrap_or_default()
    }

    fn insert(&mut self, task: &Task) {
        let at = task.last_change();
        if self.tasks.insert((task.instance, at, task.id.clone())) {
            *self.since.entry(at).or_default() += 1;
        }
    }

    fn remove(&mut self, task: &Task) {
        let at = task.last_change();
        if self.tasks.remove(&(task.instance, at, task.id.clone()))
            && let Some(count) = self.since.get_mut(&at)
        {
            *count -= 1;
            if *count == 0 {
                self.since.remove(&at);
            }
        }
    }
}

/// What the tasks placed on one agent hold there: their requests (without executor overhead,
/// which is a setting and added when read) and their ports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentLoad {
    /// Tasks whose config is known: each adds one executor overhead.
    pub tasks: u32,
    /// Cpus in millionths, summed exactly (no drift as tasks come and go).
    pub micro_cpus: i64,
    pub ram_mb: u64,
    pub disk_mb: u64,
    pub gpus: u64,
    /// Port numbers held, with how many tasks hold each (one, in a consistent journal).
    pub ports: BTreeMap<u16, u32>,
}

/// Cpus in millionths, as placement counts them.
pub(crate) fn micro_cpus(cpus: f64) -> i64 {
    (cpus * 1_000_000.0).round() as i64
}

impl AgentLoad {
    fn add(&mut self, task: &Task, config: Option<&TaskConfig>) {
        if let Some(config) = config {
            let r = &config.resources;
            self.tasks = self.tasks.saturating_add(1);
            self.micro_cpus = self.micro_cpus.saturating_add(micro_cpus(r.cpus));
            self.ram_mb = self.ram_mb.saturating_add(r.ram_mb);
            self.disk_mb = self.disk_mb.saturating_add(r.disk_mb);
            self.gpus = self.gpus.saturating_add(u64::from(r.gpus));
        }
        for port in task.assignment.iter().flat_map(|a| a.port_numbers()) {
            *self.ports.entry(port).or_default() += 1;
        }
    }

    fn remove(&mut self, task: &Task, config: Option<&TaskConfig>) {
        if let Some(config) = config {
            let r = &config.resources;
            self.tasks = self.tasks.saturating_sub(1);
            self.micro_cpus = self.micro_cpus.saturating_sub(micro_cpus(r.cpus));
            self.ram_mb = self.ram_mb.saturating_sub(r.ram_mb);
            self.disk_mb = self.disk_mb.saturating_sub(r.disk_mb);
            self.gpus = self.gpus.saturating_sub(u64::from(r.gpus));
        }
        for port in task.assignment.iter().flat_map(|a| a.port_numbers()) {
            if let Some(count) = self.ports.get_mut(&port) {
                *count -= 1;
                if *count == 0 {
                    self.ports.remove(&port);
                }
            }
        }
    }

    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// The entries of one time-keyed set for one task.
fn entry(at: Timestamp, task: &Task) -> TimeKey {
    (at, task.id.clone())
}

/// When a THROTTLED task's penalty ends.
pub(crate) fn throttled_until(task: &Task) -> Timestamp {
    let penalty = i64::try_from(task.penalty_ms).unwrap_or(i64::MAX);
    Timestamp(task.created_at().0.saturating_add(penalty))
}

/// What [`Indexes::leave`] learnt about a task before it changed.
#[derive(Debug, Clone, Copy)]
pub(super) struct Before {
    active: bool,
    pub(super) victim: bool,
}

/// Whether a task is one a scheduling pass may preempt: placed and ASSIGNED, STARTING or
/// RUNNING (a task already being killed or replaced is not taken again).
pub(crate) fn is_victim(task: &Task) -> bool {
    let status = matches!(
        task.status,
        ScheduleStatus::Assigned | ScheduleStatus::Starting | ScheduleStatus::Running
    );
    status && task.assignment.is_some()
}

/// The preemption candidates on one agent, counted the way [`may_preempt`] asks: any
/// production task may preempt a preemptible-tier one; otherwise only a task of the same role,
/// the same preemptibility and a higher priority. Lets a pass skip agents where a pending
/// task could not preempt anything without looking at their tasks.
///
/// [`may_preempt`]: crate::commands::may_preempt
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Victims {
    /// Preemptible-tier candidates, of any role.
    preemptible: u32,
    /// How many candidates of each (role, preemptible tier, priority), sorted. A vector: an
    /// agent holds a few classes, and this index exists on every agent.
    classes: Vec<(Identifier, bool, i32, u32)>,
}

impl Victims {
    /// Where the class of `config` is (or would go) in `classes`.
    fn find(&self, config: &TaskConfig) -> Result<usize, usize> {
        let key = (&config.job.role, config.tier.preemptible(), config.priority);
        self.classes
            .binary_search_by(|(role, preemptible, priority, _)| {
                (role, *preemptible, *priority).cmp(&key)
            })
    }

    fn add(&mut self, config: &TaskConfig) {
        if config.tier.preemptible() {
            self.preemptible += 1;
        }
        match self.find(config) {
            Ok(at) => self.classes[at].3 += 1,
            Err(at) => self.classes.insert(
                at,
                (
                    config.job.role.clone(),
                    config.tier.preemptible(),
                    config.priority,
                    1,
                ),
            ),
        }
    }

    fn remove(&mut self, config: &TaskConfig) {
        if config.tier.preemptible() {
            self.preemptible = self.preemptible.saturating_sub(1);
        }
        if let Ok(at) = self.find(config) {
            self.classes[at].3 -= 1;
            if self.classes[at].3 == 0 {
                self.classes.remove(at);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.preemptible == 0 && self.classes.is_empty()
    }

    /// Whether a task of `candidate` may preempt at least one of these.
    pub fn any_for(&self, candidate: &TaskConfig) -> bool {
        let lower_in_role = |tier_preemptible: bool| {
            self.classes.iter().any(|(role, preemptible, priority, _)| {
                role == &candidate.job.role
                    && *preemptible == tier_preemptible
                    && *priority < candidate.priority
            })
        };
        if candidate.tier.preemptible() {
            lower_in_role(true)
        } else {
            self.preemptible > 0 || lower_in_role(false)
        }
    }
}

/// A key of the sets of tasks by time.
type TimeKey = (Timestamp, TaskId);

/// Keys of a time-keyed set from `from` (inclusive) to `to` (exclusive): every task id sorts
/// after the empty one, so `(t, "")` is the first key at time `t`.
pub(crate) fn times(from: i64, to: i64) -> (Bound<TimeKey>, Bound<TimeKey>) {
    let first = |t: i64| (Timestamp(t), TaskId::from_raw(""));
    if from >= to {
        // An empty range that BTreeSet::range accepts (it panics on a reversed one).
        return (Bound::Included(first(to)), Bound::Excluded(first(to)));
    }
    (Bound::Included(first(from)), Bound::Excluded(first(to)))
}

impl Indexes {
    /// Puts `task` in every index its state calls for. `config` is its config, if stored.
    pub(super) fn add_task(&mut self, task: &Task, config: Option<&TaskConfig>) {
        self.sets(task, true);
        if task.status.is_active() {
            self.count_usage(task, config, true);
        }
        if is_victim(task) {
            self.victim(task, config, true);
        }
    }

    /// Takes `task` out of every index, as [`Self::add_task`] put it in. Call before changing
    /// the task, with the config it was added with.
    pub(super) fn remove_task(&mut self, task: &Task, config: Option<&TaskConfig>) {
        self.sets(task, false);
        if task.status.is_active() {
            self.count_usage(task, config, false);
        }
        if is_victim(task) {
            self.victim(task, config, false);
        }
    }

    /// Takes `task` out of the indexes of its state, before the state changes; returns what
    /// [`Self::entered`] needs to finish the move. The fold's common path: a state change
    /// touches the sets of the two states, and its role's usage or its agent's preemption
    /// candidates only when it starts or stops counting there.
    pub(super) fn leave(&mut self, task: &Task) -> Before {
        self.sets(task, false);
        Before {
            active: task.status.is_active(),
            victim: is_victim(task),
        }
    }

    /// Puts `task` in the indexes of its new state, after a change from `before`.
    pub(super) fn entered(&mut self, task: &Task, config: Option<&TaskConfig>, before: Before) {
        self.sets(task, true);
        let active = task.status.is_active();
        if active != before.active {
            self.count_usage(task, config, active);
        }
        let victim = is_victim(task);
        if victim != before.victim {
            self.victim(task, config, victim);
        }
    }

    /// Counts `task` as a preemption candidate on its agent, or stops counting it.
    pub(super) fn victim(&mut self, task: &Task, config: Option<&TaskConfig>, add: bool) {
        let (Some(assignment), Some(config)) = (&task.assignment, config) else {
            return;
        };
        let agent = &assignment.agent;
        if add {
            match self.victims.get_mut(agent) {
                Some(victims) => victims.add(config),
                None => {
                    let mut victims = Victims::default();
                    victims.add(config);
                    self.victims.insert(agent.clone(), victims);
                }
            }
        } else if let Some(victims) = self.victims.get_mut(agent) {
            victims.remove(config);
            if victims.is_empty() {
                self.victims.remove(agent);
            }
        }
    }

    /// Adds `task` to (or removes it from) the set its state is indexed in, if any.
    fn sets(&mut self, task: &Task, add: bool) {
        let edit = |set: &mut BTreeSet<TimeKey>, key: TimeKey| {
            if add {
                set.insert(key);
            } else {
                set.remove(&key);
            }
        };
        match task.status {
            ScheduleStatus::Pending => {
                let group = self.pending.entry(task.config).or_default();
                if add {
                    group.insert(task);
                } else {
                    group.remove(task);
                    if group.is_empty() {
                        self.pending.remove(&task.config);
                    }
                }
            }
            ScheduleStatus::Throttled => {
                edit(&mut self.throttled, entry(throttled_until(task), task));
            }
            ScheduleStatus::Assigned
            | ScheduleStatus::Killing
            | ScheduleStatus::Restarting
            | ScheduleStatus::Draining
            | ScheduleStatus::Preempting => {
                edit(&mut self.transient, entry(task.last_change(), task));
                if task.status == ScheduleStatus::Killing {
                    edit(&mut self.killing, entry(task.last_change(), task));
                }
            }
            ScheduleStatus::Finished
            | ScheduleStatus::Failed
            | ScheduleStatus::Killed
            | ScheduleStatus::Lost => {
                let key = entry(task.last_change(), task);
                edit(&mut self.terminal, key.clone());
                self.terminal_of_job(task, key, add);
            }
            ScheduleStatus::Partitioned => {
                edit(&mut self.partitioned, entry(task.last_change(), task));
            }
            ScheduleStatus::Init | ScheduleStatus::Starting | ScheduleStatus::Running => {}
        }
    }

    /// Adds what `task` uses to its role's usage, or takes it away.
    fn count_usage(&mut self, task: &Task, config: Option<&TaskConfig>, add: bool) {
        let Some(config) = config else {
            return;
        };
        let usage = self.usage.entry(task.job.role.clone()).or_default();
        if add {
            usage.add(Bucket::of(config), Exact::of_config(config));
        } else {
            usage.sub(Bucket::of(config), Exact::of_config(config));
            if usage.is_zero() {
                self.usage.remove(&task.job.role);
            }
        }
    }

    fn terminal_of_job(&mut self, task: &Task, key: TimeKey, add: bool) {
        let set = self
            .terminal_by_job
            .entry(JobKey::clone(&task.job))
            .or_default();
        let before = set.len();
        let changed = if add {
            set.insert(key)
        } else {
            set.remove(&key)
        };
        if !changed {
            if set.is_empty() {
                self.terminal_by_job.remove(&task.job);
            }
            return;
        }
        let after = set.len();
        if after == 0 {
            self.terminal_by_job.remove(&task.job);
        }
        if let Some(jobs) = self.terminal_counts.get_mut(&before) {
            jobs.remove(&task.job);
            if jobs.is_empty() {
                self.terminal_counts.remove(&before);
            }
        }
        if after > 0 {
            self.terminal_counts
                .entry(after)
                .or_default()
                .insert(JobKey::clone(&task.job));
        }
    }

    /// `task` joined `agent`'s set of tasks holding resources there.
    pub(super) fn load(&mut self, agent: &AgentId, task: &Task, config: Option<&TaskConfig>) {
        // Looked up before inserting: agent ids are strings, and `entry` would copy one for
        // every task placed.
        match self.agent_load.get_mut(agent) {
            Some(load) => load.add(task, config),
            None => {
                let mut load = AgentLoad::default();
                load.add(task, config);
                self.agent_load.insert(agent.clone(), load);
            }
        }
    }

    /// `task` left `agent`'s set; its config and assignment are as when it joined.
    pub(super) fn unload(&mut self, agent: &AgentId, task: &Task, config: Option<&TaskConfig>) {
        if let Some(load) = self.agent_load.get_mut(agent) {
            load.remove(task, config);
            if load.is_empty() {
                self.agent_load.remove(agent);
            }
        }
    }

    /// Records whether `update` of its job is active now.
    pub(super) fn update_status(&mut self, update: &UpdateKey, active: bool) {
        if active {
            self.active_updates
                .entry(update.job.clone())
                .or_default()
                .insert(update.clone());
        } else if let Some(updates) = self.active_updates.get_mut(&update.job) {
            updates.remove(update);
            if updates.is_empty() {
                self.active_updates.remove(&update.job);
            }
        }
    }

    pub(super) fn host_mode(&mut self, host: &str, mode: MaintenanceMode) {
        match mode {
            MaintenanceMode::Draining => {
                self.draining_hosts.insert(host.to_string());
            }
            MaintenanceMode::None | MaintenanceMode::Scheduled | MaintenanceMode::Drained => {
                self.draining_hosts.remove(host);
            }
        }
    }
}
