//! The write model: the minimal state the deciders need, folded from committed events by
//! [`ClusterState::apply`] and by nothing else. Replaying a journal from seq 1 into a fresh
//! state gives the same state, byte for byte ([`ClusterState::digest`]).
//!
//! Beside the records it keeps indexes (`indexes.rs`) so that the decisions made all the time
//! cost what is due, not a walk over every task: the active update of each job, each role's
//! quota usage, timers by deadline, PENDING tasks by config and each agent's load. They are
//! part of the state (serialised, digested); [`ClusterState::check_indexes`] recomputes them by
//! scanning the records.

mod check;
mod indexes;
mod records;

use std::collections::{BTreeMap, BTreeSet, btree_map};
use std::sync::Arc;

use aurora_events::event::CronOutcome;
use aurora_events::status::MaintenanceMode;
use aurora_events::{
    AgentId, ConfigHash, Envelope, Event, Identifier, InstanceId, JobKey, ResourceAggregate,
    ScheduleStatus, Seq, TaskConfig, TaskId, Timestamp, UpdateKey,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use indexes::{AgentLoad, PendingTasks, Victims};
pub(crate) use indexes::{micro_cpus, throttled_until};
pub use records::{
    Agent, CronJob, Host, Job, SlaDrain, Task, TaskAssignment, TaskEventRecord, Update,
};

use indexes::Indexes;

use crate::settings::Settings;
use crate::state_machine::{self, TaskState, Transition};

/// Format byte of [`ClusterState::to_checkpoint`]; bump it whenever a state type changes
/// shape, so an old checkpoint is ignored (and the journal replayed) rather than misread.
pub const CHECKPOINT_FORMAT: u8 = 12;

/// The scheduler's write model. Fields are read through accessors; only [`Self::apply`] writes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ClusterState {
    #[serde(skip)]
    settings: Settings,
    cluster: String,
    last_seq: Seq,
    configs: BTreeMap<ConfigHash, TaskConfig>,
    jobs: BTreeMap<JobKey, Job>,
    tasks: BTreeMap<TaskId, Task>,
    quotas: BTreeMap<Identifier, ResourceAggregate>,
    hosts: BTreeMap<String, Host>,
    agents: BTreeMap<AgentId, Agent>,
    cron: BTreeMap<JobKey, CronJob>,
    /// SLA-aware drains in progress, by host.
    sla_drains: BTreeMap<String, SlaDrain>,
    updates: BTreeMap<UpdateKey, Update>,
    /// The active task of each instance of each job (at most one, by the scheduler's invariant).
    active: BTreeMap<JobKey, BTreeMap<InstanceId, TaskId>>,
    /// Every task of each job.
    by_job: BTreeMap<Arc<JobKey>, BTreeSet<TaskId>>,
    /// Tasks holding resources on each agent (states placed on an agent).
    on_agent: BTreeMap<AgentId, BTreeSet<TaskId>>,
    /// Transitions applied that the state machine calls illegal (should stay 0).
    illegal_transitions: u64,
    indexes: Indexes,
}

impl ClusterState {
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            ..Self::default()
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    pub fn last_seq(&self) -> Seq {
        self.last_seq
    }

    pub fn configs(&self) -> &BTreeMap<ConfigHash, TaskConfig> {
        &self.configs
    }

    pub fn config(&self, hash: &ConfigHash) -> Option<&TaskConfig> {
        self.configs.get(hash)
    }

    pub fn job(&self, key: &JobKey) -> Option<&Job> {
        self.jobs.get(key)
    }

    pub fn jobs(&self) -> &BTreeMap<JobKey, Job> {
        &self.jobs
    }

    pub fn task(&self, id: &TaskId) -> Option<&Task> {
        self.tasks.get(id)
    }

    pub fn tasks(&self) -> impl Iterator<Item = &Task> {
        self.tasks.values()
    }

    pub fn task_count(&self) -> usize {
        self.tasks.len()
    }

    /// Every task of `job`, active or not, in id order.
    pub fn tasks_of_job<'a>(&'a self, job: &'a JobKey) -> impl Iterator<Item = &'a Task> + 'a {
        self.by_job
            .get(job)
            .into_iter()
            .flatten()
            .filter_map(|id| self.tasks.get(id))
    }

    /// Jobs that have at least one task, in key order.
    pub fn jobs_with_tasks(&self) -> impl Iterator<Item = &JobKey> {
        self.by_job.keys().map(|key| &**key)
    }

    /// The active task of each instance of `job`, by instance.
    pub fn active_tasks_of_job<'a>(
        &'a self,
        job: &'a JobKey,
    ) -> impl Iterator<Item = &'a Task> + 'a {
        self.active
            .get(job)
            .into_iter()
            .flatten()
            .filter_map(|(_, id)| self.tasks.get(id))
    }

    pub fn active_task(&self, job: &JobKey, instance: InstanceId) -> Option<&Task> {
        self.active
            .get(job)
            .and_then(|instances| instances.get(&instance))
            .and_then(|id| self.tasks.get(id))
    }

    pub fn quota(&self, role: &Identifier) -> ResourceAggregate {
        self.quotas
            .get(role)
            .copied()
            .unwrap_or(ResourceAggregate::ZERO)
    }

    pub fn host(&self, host: &str) -> Option<&Host> {
        self.hosts.get(host)
    }

    pub fn hosts(&self) -> &BTreeMap<String, Host> {
        &self.hosts
    }

    pub fn agent(&self, agent: &AgentId) -> Option<&Agent> {
        self.agents.get(agent)
    }

    pub fn agents(&self) -> &BTreeMap<AgentId, Agent> {
        &self.agents
    }

    /// Tasks currently holding resources on `agent`.
    pub fn tasks_on_agent(&self, agent: &AgentId) -> impl Iterator<Item = &Task> {
        self.on_agent
            .get(agent)
            .into_iter()
            .flatten()
            .filter_map(|id| self.tasks.get(id))
    }

    pub fn cron_job(&self, job: &JobKey) -> Option<&CronJob> {
        self.cron.get(job)
    }

    /// SLA-aware drains in progress, by host.
    pub fn sla_drains(&self) -> impl Iterator<Item = (&str, &SlaDrain)> {
        self.sla_drains
            .iter()
            .map(|(host, drain)| (host.as_str(), drain))
    }

    /// Every cron job, in job-key order.
    pub fn cron_jobs(&self) -> impl Iterator<Item = (&JobKey, &CronJob)> {
        self.cron.iter()
    }

    pub fn update(&self, key: &UpdateKey) -> Option<&Update> {
        self.updates.get(key)
    }

    pub fn updates(&self) -> &BTreeMap<UpdateKey, Update> {
        &self.updates
    }

    /// Every update that is not yet terminal (one per job at most), by job.
    pub fn active_updates(&self) -> impl Iterator<Item = (&UpdateKey, &Update)> {
        self.indexes
            .active_updates
            .values()
            .filter_map(|keys| keys.iter().next())
            .filter_map(|key| self.updates.get_key_value(key))
    }

    /// Every update of `job` the scheduler keeps, by id (UUID v7: oldest first).
    pub fn updates_of_job<'a>(
        &'a self,
        job: &JobKey,
    ) -> impl DoubleEndedIterator<Item = (&'a UpdateKey, &'a Update)> + 'a {
        let from = UpdateKey {
            job: job.clone(),
            id: aurora_events::Uuid::nil(),
        };
        let to = UpdateKey {
            job: job.clone(),
            id: aurora_events::Uuid::max(),
        };
        self.updates.range(from..=to)
    }

    /// The job's update that is not yet terminal, if any (at most one; should a damaged
    /// journal hold more, the first by key).
    pub fn active_update(&self, job: &JobKey) -> Option<(&UpdateKey, &Update)> {
        let key = self.indexes.active_updates.get(job)?.iter().next()?;
        self.updates.get_key_value(key)
    }

    /// What the role's active tasks use, per quota bucket, exactly.
    pub fn role_usage(&self, role: &Identifier) -> aurora_events::quota::Usage {
        self.indexes.usage.get(role).copied().unwrap_or_default()
    }

    /// PENDING tasks grouped by config, by config hash.
    pub fn pending_groups(&self) -> impl Iterator<Item = (&ConfigHash, &PendingTasks)> {
        self.indexes.pending.iter()
    }

    /// The PENDING tasks of one config.
    pub fn pending_group(&self, config: &ConfigHash) -> Option<&PendingTasks> {
        self.indexes.pending.get(config)
    }

    /// What the tasks placed on `agent` hold there (executor overhead not included).
    pub fn agent_load(&self, agent: &AgentId) -> Option<&AgentLoad> {
        self.indexes.agent_load.get(agent)
    }

    /// THROTTLED tasks whose penalty ends at or before `at`, soonest first.
    pub fn throttled_until(&self, at: Timestamp) -> impl Iterator<Item = &TaskId> {
        self.indexes
            .throttled
            .range(indexes::times(i64::MIN, at.0.saturating_add(1)))
            .map(|(_, id)| id)
    }

    /// Tasks in a state that times out (ASSIGNED, KILLING, RESTARTING, DRAINING, PREEMPTING)
    /// that entered it at or before `at`, earliest first.
    pub fn transient_since(&self, at: Timestamp) -> impl Iterator<Item = &TaskId> {
        self.indexes
            .transient
            .range(indexes::times(i64::MIN, at.0.saturating_add(1)))
            .map(|(_, id)| id)
    }

    /// PARTITIONED tasks, by when their agent was lost (earliest first).
    pub fn partitioned(&self) -> impl Iterator<Item = (Timestamp, &TaskId)> {
        self.indexes
            .partitioned
            .iter()
            .map(|(since, id)| (*since, id))
    }

    /// KILLING tasks that entered KILLING in `[from, to)`, earliest first.
    pub fn killing_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> impl Iterator<Item = (Timestamp, &TaskId)> {
        self.indexes
            .killing
            .range(indexes::times(from.0, to.0))
            .map(|(at, id)| (*at, id))
    }

    /// Terminal tasks that ended at or before `at`, earliest first.
    pub fn terminal_until(&self, at: Timestamp) -> impl Iterator<Item = (Timestamp, &TaskId)> {
        self.indexes
            .terminal
            .range(indexes::times(i64::MIN, at.0.saturating_add(1)))
            .map(|(at, id)| (*at, id))
    }

    /// A job's terminal tasks, by when they ended then id.
    pub fn terminal_of_job(
        &self,
        job: &JobKey,
    ) -> impl DoubleEndedIterator<Item = (Timestamp, &TaskId)> {
        self.indexes
            .terminal_by_job
            .get(job)
            .into_iter()
            .flatten()
            .map(|(at, id)| (*at, id))
    }

    /// Jobs with more than `count` terminal tasks, fewest first (then by key).
    pub fn jobs_with_terminal_over(&self, count: usize) -> impl Iterator<Item = &JobKey> {
        self.indexes
            .terminal_counts
            .range(count.saturating_add(1)..)
            .flat_map(|(_, jobs)| jobs)
    }

    /// The preemption candidates on `agent`, counted by tier, role and priority.
    pub fn victims(&self, agent: &AgentId) -> Option<&Victims> {
        self.indexes.victims.get(agent)
    }

    /// Hosts in DRAINING, by name.
    pub fn draining_hosts(&self) -> impl Iterator<Item = &str> {
        self.indexes.draining_hosts.iter().map(String::as_str)
    }

    /// How many tasks (of any state) `job` has.
    pub fn task_count_of_job(&self, job: &JobKey) -> usize {
        self.by_job.get(job).map_or(0, BTreeSet::len)
    }

    pub fn illegal_transitions(&self) -> u64 {
        self.illegal_transitions
    }

    /// The state as checkpoint bytes: a format byte, then the canonical encoding. Settings are
    /// not included (they are configuration, not history).
    pub fn to_checkpoint(&self) -> Vec<u8> {
        let mut bytes = vec![CHECKPOINT_FORMAT];
        bytes.extend(aurora_events::codec::encode_value(self));
        bytes
    }

    /// A state from [`Self::to_checkpoint`] bytes, with `settings`; `None` if the bytes are of
    /// another format or damaged (the caller then replays the journal instead).
    pub fn from_checkpoint(bytes: &[u8], settings: Settings) -> Option<Self> {
        let (&format, payload) = bytes.split_first()?;
        if format != CHECKPOINT_FORMAT {
            return None;
        }
        let mut state: Self = aurora_events::codec::decode_value(payload).ok()?;
        state.settings = settings;
        // Decoding gives every task its own copy of its job's key: share them again.
        for task in state.tasks.values_mut() {
            if let Some((key, _)) = state.by_job.get_key_value(&*task.job) {
                task.job = Arc::clone(key);
            }
        }
        Some(state)
    }

    /// SHA-256 over the canonical encoding of the whole state: equal digests, equal states.
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(aurora_events::codec::encode_value(self)).into()
    }

    /// Folds one committed envelope into the state.
    pub fn apply(&mut self, envelope: &Envelope) {
        self.last_seq = envelope.seq;
        let at = envelope.at;
        match &envelope.event {
            Event::ClusterInitialised { cluster } => self.cluster = cluster.clone(),
            Event::TaskConfigStored { hash, config } => {
                self.configs
                    .insert(*hash, TaskConfig::from((**config).clone()));
            }
            Event::TaskConfigStoredV2 { hash, config } => {
                self.configs.insert(*hash, (**config).clone());
            }
            Event::JobCreated {
                job,
                config,
                instances,
            }
            | Event::JobConfigReplaced {
                job,
                config,
                instances,
            } => {
                self.jobs.insert(
                    job.clone(),
                    Job {
                        config: *config,
                        instances: *instances,
                    },
                );
            }
            Event::JobRemoved { job } => {
                self.jobs.remove(job);
            }
            Event::TaskCreated {
                task,
                job,
                instance,
                config,
                status,
                ancestor,
                failure_count,
                penalty_ms,
                ..
            } => {
                self.active
                    .entry(job.clone())
                    .or_default()
                    .insert(*instance, task.clone());
                // The job's tasks share one key: the one `by_job` holds, once there is one.
                let shared = match self.by_job.get_key_value(job) {
                    Some((key, _)) => Arc::clone(key),
                    None => Arc::new(job.clone()),
                };
                self.by_job
                    .entry(Arc::clone(&shared))
                    .or_default()
                    .insert(task.clone());
                let record = Task {
                    id: task.clone(),
                    job: shared,
                    instance: *instance,
                    config: *config,
                    status: *status,
                    failure_count: *failure_count,
                    ancestor: ancestor.clone(),
                    assignment: None,
                    history: vec![TaskEventRecord {
                        at,
                        status: *status,
                    }],
                    penalty_ms: *penalty_ms,
                    last_event: envelope.id,
                };
                self.indexes
                    .add_task(&record, self.configs.get(&record.config));
                match self.tasks.entry(task.clone()) {
                    btree_map::Entry::Vacant(slot) => {
                        slot.insert(record);
                    }
                    // The same id created again replaces the task (a consistent journal never
                    // does this): the old record leaves the indexes, and the new one goes in
                    // again in case the two shared an entry.
                    btree_map::Entry::Occupied(mut slot) => {
                        let old = slot.insert(record);
                        self.indexes
                            .remove_task(&old, self.configs.get(&old.config));
                        let record = slot.get();
                        self.indexes
                            .add_task(record, self.configs.get(&record.config));
                    }
                }
            }
            Event::TaskAssigned {
                task, agent, ports, ..
            } => {
                if let Some(record) = self.tasks.get_mut(task) {
                    let config = self.configs.get(&record.config);
                    let mut before = self.indexes.leave(record);
                    if before.victim {
                        // Placed again (never in a consistent journal): no longer a candidate
                        // on the agent it was on.
                        self.indexes.victim(record, config, false);
                        before.victim = false;
                    }
                    record.status = ScheduleStatus::Assigned;
                    record.history.push(TaskEventRecord {
                        at,
                        status: ScheduleStatus::Assigned,
                    });
                    record.last_event = envelope.id;
                    record.assignment = Some(TaskAssignment {
                        agent: agent.clone(),
                        ports: ports
                            .iter()
                            .map(|(name, port)| (name.clone(), *port))
                            .collect(),
                    });
                    self.indexes.entered(record, config, before);
                    if self
                        .on_agent
                        .entry(agent.clone())
                        .or_default()
                        .insert(task.clone())
                    {
                        self.indexes.load(agent, record, config);
                    }
                }
            }
            Event::TaskStateChanged { task, from, to, .. } => {
                self.apply_state_change(task, *from, *to, at, envelope.id)
            }
            Event::TaskDeleted { task, .. } => self.remove_task(task),
            Event::UpdateStarted {
                update,
                user,
                instructions,
                metadata,
            } => {
                self.updates.insert(
                    update.clone(),
                    Update {
                        user: user.clone(),
                        status: aurora_events::UpdateStatus::RollingForward,
                        instructions: instructions.clone(),
                        metadata: metadata.clone(),
                        started_at: at,
                        status_since: at,
                        rollback_started: None,
                        last_pulse: None,
                        instance_actions: BTreeMap::new(),
                        paused_at_started: None,
                        started_event: envelope.id,
                        action_events: BTreeMap::new(),
                        sla_checking: BTreeSet::new(),
                    },
                );
                let status = aurora_events::UpdateStatus::RollingForward;
                self.indexes.update_status(update, status.is_active());
            }
            Event::UpdateStateChanged { update, to, .. } => {
                if let Some(record) = self.updates.get_mut(update) {
                    record.status = *to;
                    record.status_since = at;
                    match to {
                        aurora_events::UpdateStatus::RollingBack => {
                            record.rollback_started.get_or_insert(at);
                        }
                        aurora_events::UpdateStatus::RollForwardPaused => {
                            record.paused_at_started = Some(record.started(true));
                        }
                        _ => {}
                    }
                    self.indexes.update_status(update, to.is_active());
                }
            }
            Event::UpdateInstanceActioned {
                update,
                instance,
                action,
                message,
            } => {
                if let Some(record) = self.updates.get_mut(update) {
                    record
                        .instance_actions
                        .entry(*instance)
                        .or_default()
                        .push(*action);
                    record.action_events.insert(*instance, envelope.id);
                    if message.as_deref() == Some(crate::update::CHECKING_SLA_MESSAGE) {
                        record.sla_checking.insert(*instance);
                    } else {
                        record.sla_checking.remove(instance);
                    }
                }
            }
            Event::UpdatePulsed { update } => {
                if let Some(record) = self.updates.get_mut(update) {
                    record.last_pulse = Some(at);
                }
            }
            Event::QuotaSet { role, quota } => {
                self.quotas.insert(role.clone(), *quota);
            }
            Event::HostAttributesChanged {
                host,
                agent,
                attributes,
            } => {
                let record = self.hosts.entry(host.clone()).or_default();
                record.attributes = attributes.clone();
                if agent.is_some() {
                    record.agent = agent.clone();
                }
            }
            Event::HostMaintenanceChanged { host, to, .. } => {
                self.hosts.entry(host.clone()).or_default().mode = *to;
                self.indexes.host_mode(host, *to);
                // Drained, or moved out of DRAINING otherwise: an SLA-aware drain is over.
                if *to != MaintenanceMode::Draining {
                    self.sla_drains.remove(host);
                }
            }
            Event::SlaDrainRequested {
                host,
                default_sla,
                timeout_secs,
            } => {
                self.sla_drains.insert(
                    host.clone(),
                    SlaDrain {
                        default_sla: default_sla.clone(),
                        timeout_secs: *timeout_secs,
                        requested_at: at,
                        request: envelope.id,
                    },
                );
            }
            Event::CronScheduled {
                job,
                config,
                instances,
                schedule,
                collision_policy,
            } => {
                // A replaced template keeps its history: when it last fired, and a launch a
                // KILL_EXISTING run still owes.
                let previous = self.cron.get(job);
                // A new schedule counts from now; the same one keeps counting from before.
                let scheduled_at = previous
                    .filter(|p| p.schedule == *schedule)
                    .map_or(at, |p| p.scheduled_at);
                let record = CronJob {
                    scheduled_at,
                    config: *config,
                    instances: *instances,
                    schedule: schedule.clone(),
                    collision_policy: *collision_policy,
                    last_triggered: previous.and_then(|p| p.last_triggered),
                    launch_owed: previous.is_some_and(|p| p.launch_owed),
                };
                self.cron.insert(job.clone(), record);
            }
            Event::CronDescheduled { job } => {
                self.cron.remove(job);
            }
            Event::CronTriggered { job, outcome } => {
                if let Some(record) = self.cron.get_mut(job) {
                    record.last_triggered = Some(at);
                    match outcome {
                        CronOutcome::KillingExisting => record.launch_owed = true,
                        CronOutcome::Launched => record.launch_owed = false,
                        CronOutcome::Skipped => {}
                    }
                }
            }
            Event::AgentRegistered {
                agent,
                host,
                capacity,
                attributes,
                endpoint,
            } => {
                // A binding outlives re-registrations: it is the agent id's, not the session's.
                let principal = self.agents.get(agent).and_then(|a| a.principal.clone());
                self.agents.insert(
                    agent.clone(),
                    Agent {
                        host: host.clone(),
                        capacity: capacity.clone(),
                        attributes: attributes.clone(),
                        endpoint: endpoint.clone(),
                        registered_at: at,
                        lost: false,
                        principal,
                    },
                );
                let record = self.hosts.entry(host.clone()).or_default();
                record.attributes = attributes.clone();
                record.agent = Some(agent.clone());
            }
            Event::AgentLost { agent, .. } => {
                if let Some(record) = self.agents.get_mut(agent) {
                    record.lost = true;
                }
            }
            Event::AgentBound { agent, principal } => {
                // Emitted right after the agent's first AgentRegistered.
                if let Some(record) = self.agents.get_mut(agent) {
                    record.principal = Some(principal.clone());
                }
            }
            Event::AgentUnbound { agent, .. } => {
                if let Some(record) = self.agents.get_mut(agent) {
                    record.principal = None;
                }
            }
            Event::UpdatesPruned { job, updates } => {
                for id in updates {
                    let key = UpdateKey {
                        job: job.clone(),
                        id: *id,
                    };
                    if self.updates.remove(&key).is_some() {
                        self.indexes.update_status(&key, false);
                    }
                }
            }
            // A record for people: the state is what the journal holds, lost events and all.
            Event::JournalTruncationAccepted { .. } => {}
        }
    }

    fn apply_state_change(
        &mut self,
        id: &TaskId,
        from: ScheduleStatus,
        to: ScheduleStatus,
        at: aurora_events::Timestamp,
        event: aurora_events::EventId,
    ) {
        let Some(task) = self.tasks.get_mut(id) else {
            return;
        };
        let config = self.configs.get(&task.config);
        let before = self.indexes.leave(task);
        let facts = task.transition_facts(&self.configs);
        match state_machine::transition(TaskState::Status(from), TaskState::Status(to), &facts) {
            Transition::Legal(_) => {}
            Transition::Noop | Transition::Illegal { .. } => self.illegal_transitions += 1,
        }
        // Failure accounting is the one side effect that lives in the task record itself (the
        // others are events or effects of their own). It follows the event's `from` by the
        // rule the read side uses too, so both count the same failures.
        if ScheduleStatus::counts_failure(from, to) {
            task.failure_count = task.failure_count.saturating_add(1);
        }
        task.status = to;
        task.history.push(TaskEventRecord { at, status: to });
        task.last_event = event;
        self.indexes.entered(task, config, before);
        if !to.is_active() {
            Self::deactivate(&mut self.active, &task.job, task.instance, id);
        }
        if !to.is_on_agent()
            && let Some(assignment) = &task.assignment
            && let Some(tasks) = self.on_agent.get_mut(&assignment.agent)
        {
            if tasks.remove(id) {
                self.indexes.unload(&assignment.agent, task, config);
            }
            if tasks.is_empty() {
                self.on_agent.remove(&assignment.agent);
            }
        }
    }

    /// Forgets `id` as the active task of its instance (if it still is).
    fn deactivate(
        active: &mut BTreeMap<JobKey, BTreeMap<InstanceId, TaskId>>,
        job: &JobKey,
        instance: InstanceId,
        id: &TaskId,
    ) {
        if let Some(instances) = active.get_mut(job)
            && instances.get(&instance) == Some(id)
        {
            instances.remove(&instance);
            if instances.is_empty() {
                active.remove(job);
            }
        }
    }

    fn remove_task(&mut self, id: &TaskId) {
        let Some(task) = self.tasks.remove(id) else {
            return;
        };
        let config = self.configs.get(&task.config);
        self.indexes.remove_task(&task, config);
        if let Some(tasks) = self.by_job.get_mut(&task.job) {
            tasks.remove(id);
            if tasks.is_empty() {
                self.by_job.remove(&task.job);
            }
        }
        Self::deactivate(&mut self.active, &task.job, task.instance, id);
        if let Some(assignment) = &task.assignment
            && let Some(tasks) = self.on_agent.get_mut(&assignment.agent)
        {
            if tasks.remove(id) {
                self.indexes.unload(&assignment.agent, &task, config);
            }
            if tasks.is_empty() {
                self.on_agent.remove(&assignment.agent);
            }
        }
    }
}
