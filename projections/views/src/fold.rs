//! [`Views`]: every read model in one fold, and how each event changes it.
//!
//! The fold mirrors the scheduler's write model (`aurora_scheduler_core::state`) event for event
//! — the same task status, the same failure counting and the same quota buckets, both from the
//! rules `aurora_events` states once (`ScheduleStatus::counts_failure`, `quota`) — and adds what
//! people read but deciders do not need: each task's full timeline with actors and messages,
//! update timelines, host task lists, per-status counts and the activity feed.
//!
//! Events about records the view does not have (a state change for a task never created, an
//! update that never started) change nothing but still appear in the activity feed: a
//! consistent journal has none, and a read model must not fail on an inconsistent one.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use aurora_events::quota::{Bucket, Exact, Usage};
use aurora_events::{
    Actor, AgentId, ConfigHash, Envelope, Event, Identifier, InstanceId, JobKey, ScheduleStatus,
    Seq, TaskId, UpdateKey, UpdateStatus,
};
use serde::{Deserialize, Serialize};

use crate::Projection;
use crate::activity::{Activity, ActivityRecord, Line, describe_attributes, describe_resources};
use crate::chunk::ChunkVec;
use crate::model::DesiredState;
use crate::records::{
    AgentRec, ConfigRec, CronRec, Footprint, HostRec, InstanceEntry, JobRec, Ports, RoleRec,
    StatusCounts, TaskRec, Timeline, TimelineEntry, UpdateEntry, UpdateRec,
};
use crate::symbols::{Sym, Symbols};

/// How a [`Views`] is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewsConfig {
    /// Events the activity feed remembers (0 = none).
    pub activity_capacity: usize,
}

impl Default for ViewsConfig {
    fn default() -> Self {
        Self {
            activity_capacity: 1000,
        }
    }
}

/// Every read model, folded from envelopes in seq order. Read it through
/// [`Queries`](crate::Queries); feed it through [`Projection::apply`] (or
/// [`Folded`](crate::Folded) for idempotence).
///
/// Cloning is cheap (one pointer per chunk of 16 tasks or 64 other records, see `chunk.rs`)
/// and a clone is independent: folding more events into one leaves the other as it was.
/// Checkpoints rely on this. Clones share the symbol table (`symbols.rs`), which only grows.
#[derive(Clone)]
pub struct Views {
    pub(crate) config: ViewsConfig,
    pub(crate) symbols: Arc<Symbols>,
    /// The scheduler's actor id, looked up once: it acts in most events.
    scheduler: Sym,
    pub(crate) last_seq: Seq,
    pub(crate) cluster: Option<String>,
    pub(crate) configs: ChunkVec<Option<Arc<ConfigRec>>>,
    pub(crate) roles: ChunkVec<Option<Arc<RoleRec>>>,
    /// By role id; apart from the role record because it changes with every task start or end.
    pub(crate) usage: ChunkVec<Usage>,
    pub(crate) jobs: ChunkVec<Option<Arc<JobRec>>>,
    /// By job id; apart from the job record because it changes with every task transition.
    pub(crate) job_counts: ChunkVec<StatusCounts>,
    /// Small chunks: pruning deletes old tasks anywhere, and each deletion after a checkpoint
    /// copies the chunk (and touches the counts of the records in it).
    pub(crate) tasks: ChunkVec<Option<Arc<TaskRec>>, TASK_CHUNK>,
    pub(crate) updates: ChunkVec<Option<Arc<UpdateRec>>>,
    pub(crate) hosts: ChunkVec<Option<Arc<HostRec>>>,
    pub(crate) agents: ChunkVec<Option<Arc<AgentRec>>>,
    pub(crate) activity: Activity,
    recent: Recent,
}

/// Tasks per chunk of [`Views::tasks`].
pub(crate) const TASK_CHUNK: usize = 16;

/// The last job, config, update and port names looked up, with their ids. Events come in runs
/// about one job (a job's tasks created together, an update's instances one after another),
/// and comparing a key is cheaper than hashing it and searching the shared table. Ids never
/// change meaning, so a stale entry is only a miss.
#[derive(Debug, Clone, Default)]
struct Recent {
    job: Option<(JobKey, Sym)>,
    config: Option<(ConfigHash, Sym)>,
    update: Option<(UpdateKey, Sym)>,
    /// Port names are a handful cluster-wide (`http`, `health`, …).
    ports: Vec<(String, Sym)>,
}

/// Port names [`Recent`] remembers; past that, lookups go to the table.
const RECENT_PORTS: usize = 16;

impl fmt::Debug for Views {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The records can number in the millions: show the shape, not the contents.
        f.debug_struct("Views")
            .field("last_seq", &self.last_seq)
            .field("cluster", &self.cluster)
            .field("jobs", &self.jobs.iter().flatten().count())
            .field("tasks", &self.tasks.iter().flatten().count())
            .field("updates", &self.updates.iter().flatten().count())
            .field("hosts", &self.hosts.iter().flatten().count())
            .finish_non_exhaustive()
    }
}

impl Default for Views {
    fn default() -> Self {
        Self::new(ViewsConfig::default())
    }
}

/// The record at `id`, if the view has it.
pub(crate) fn rec<T, const N: usize>(records: &ChunkVec<Option<Arc<T>>, N>, id: Sym) -> Option<&T>
where
    T: Clone,
{
    records.get(id).and_then(|slot| slot.as_deref())
}

/// The record at `id` for writing (copied first if a checkpoint shares it), if the view has it.
fn rec_mut<T: Clone, const N: usize>(
    records: &mut ChunkVec<Option<Arc<T>>, N>,
    id: Sym,
) -> Option<&mut T> {
    records.slot_if_present(id)?.as_mut().map(Arc::make_mut)
}

impl Views {
    pub fn new(config: ViewsConfig) -> Self {
        Self::with_symbols(config, Arc::default())
    }

    /// An empty view sharing `symbols` (History's checkpoints and replays share one table).
    pub(crate) fn with_symbols(config: ViewsConfig, symbols: Arc<Symbols>) -> Self {
        Self {
            config,
            scheduler: symbols.actor(&Actor::Scheduler),
            symbols,
            last_seq: 0,
            cluster: None,
            configs: ChunkVec::default(),
            roles: ChunkVec::default(),
            usage: ChunkVec::default(),
            jobs: ChunkVec::default(),
            job_counts: ChunkVec::default(),
            tasks: ChunkVec::default(),
            updates: ChunkVec::default(),
            hosts: ChunkVec::default(),
            agents: ChunkVec::default(),
            activity: Activity::new(config.activity_capacity),
            recent: Recent::default(),
        }
    }

    pub fn config(&self) -> ViewsConfig {
        self.config
    }

    fn ensure_role(&mut self, name: &Identifier) -> Sym {
        let id = self.symbols.role(name);
        let slot = self.roles.slot(id);
        if slot.is_none() {
            *slot = Some(Arc::new(RoleRec {
                name: name.clone(),
                quota: None,
                jobs: Default::default(),
            }));
        }
        id
    }

    /// The job's id, creating its record (and its role's) on first mention.
    fn ensure_job(&mut self, key: &JobKey) -> Sym {
        let id = match &self.recent.job {
            Some((recent, id)) if recent == key => *id,
            _ => {
                let id = self.symbols.job(key);
                self.recent.job = Some((key.clone(), id));
                id
            }
        };
        if rec(&self.jobs, id).is_none() {
            let role = self.ensure_role(&key.role);
            *self.jobs.slot(id) = Some(Arc::new(JobRec {
                key: key.clone(),
                role,
                desired: None,
                cron: None,
                tasks: Vec::new(),
                updates: Vec::new(),
                pruned_updates: Vec::new(),
            }));
            if let Some(role) = rec_mut(&mut self.roles, role) {
                role.jobs.insert(id);
            }
        }
        id
    }

    fn ensure_host(&mut self, name: &str) -> Sym {
        let id = self.symbols.host(name);
        let slot = self.hosts.slot(id);
        if slot.is_none() {
            *slot = Some(Arc::new(HostRec {
                name: Arc::from(name),
                mode: Default::default(),
                attributes: Arc::default(),
                agent: None,
                tasks: Default::default(),
            }));
        }
        id
    }

    fn port(&mut self, name: &str) -> Sym {
        if let Some((_, id)) = self.recent.ports.iter().find(|(n, _)| n == name) {
            return *id;
        }
        let id = self.symbols.port(name);
        if self.recent.ports.len() < RECENT_PORTS {
            self.recent.ports.push((name.to_string(), id));
        }
        id
    }

    fn update_id(&mut self, key: &UpdateKey) -> Sym {
        match &self.recent.update {
            Some((recent, id)) if recent == key => *id,
            _ => {
                let id = self.symbols.update(key);
                self.recent.update = Some((key.clone(), id));
                id
            }
        }
    }

    fn message(&self, message: &Option<String>) -> Option<Sym> {
        message.as_deref().map(|m| self.symbols.message(m))
    }

    /// Moves a task's contribution to the aggregates from `before` to `after` (`None` = the
    /// task does not exist): job counts, role usage while active, host task lists.
    fn account(
        &mut self,
        task: Sym,
        owner: (Sym, Sym, Option<(Bucket, Exact)>),
        before: Option<Footprint>,
        after: Option<Footprint>,
    ) {
        let (job, role, quota) = owner;
        let status = |f: Option<Footprint>| f.map(|f| f.status);
        if status(before) != status(after) {
            let counts = self.job_counts.slot(job);
            if let Some(before) = before {
                counts.dec(before.status);
            }
            if let Some(after) = after {
                counts.inc(after.status);
            }
            let was_active = before.is_some_and(|f| f.status.is_active());
            let is_active = after.is_some_and(|f| f.status.is_active());
            if was_active != is_active
                && let Some((bucket, amount)) = quota
            {
                let usage = self.usage.slot(role);
                if is_active {
                    usage.add(bucket, amount);
                } else {
                    usage.sub(bucket, amount);
                }
            }
        }
        let was_on = before.and_then(|f| f.on_host());
        let is_on = after.and_then(|f| f.on_host());
        if was_on != is_on {
            if let Some(host) = was_on.and_then(|h| rec_mut(&mut self.hosts, h))
                && let Ok(at) = host.tasks.binary_search(&task)
            {
                host.tasks.remove(at);
            }
            if let Some(host) = is_on.and_then(|h| rec_mut(&mut self.hosts, h))
                && let Err(at) = host.tasks.binary_search(&task)
            {
                host.tasks.insert(at, task);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn create_task(
        &mut self,
        envelope: &Envelope,
        actor: Sym,
        task: &TaskId,
        job: &JobKey,
        instance: InstanceId,
        config: &ConfigHash,
        status: ScheduleStatus,
        ancestor: &Option<TaskId>,
        failure_count: u32,
        message: &Option<String>,
        known: Option<Sym>,
    ) -> Line {
        let message = self.message(message);
        // Symbols never change meaning, so an id resolved ahead is the one interning would give.
        let id = known.unwrap_or_else(|| self.symbols.new_task(task));
        let ancestor_id = ancestor.as_ref().map(|a| self.symbols.task(a));
        // The same id created again replaces the task (the write model overwrites it too).
        self.delete_task(id);
        let job_id = self.ensure_job(job);
        let role = rec(&self.jobs, job_id).map_or(0, |j| j.role);
        let config_id = match self.recent.config {
            Some((recent, id)) if recent == *config => id,
            _ => {
                let id = self.symbols.config(config);
                self.recent.config = Some((*config, id));
                id
            }
        };
        let quota = rec(&self.configs, config_id).map(|c| (c.bucket, c.amount));
        let mut record = TaskRec {
            job: job_id,
            role,
            instance,
            config: config_id,
            quota,
            status,
            failure_count,
            ancestor: ancestor_id,
            agent: None,
            host: None,
            ports: Ports::default(),
            timeline: Timeline::default(),
        };
        record.timeline.push(TimelineEntry {
            seq: envelope.seq,
            at: envelope.at,
            actor,
            status,
            message,
        });
        let footprint = record.footprint();
        *self.tasks.slot(id) = Some(Arc::new(record));
        self.account(id, (job_id, role, quota), None, Some(footprint));
        if let Some(job) = rec_mut(&mut self.jobs, job_id)
            && let Err(at) = job.tasks.binary_search(&id)
        {
            job.tasks.insert(at, id);
        }
        Line::TaskCreated {
            task: id,
            status,
            ancestor: ancestor_id,
            message,
        }
    }

    fn delete_task(&mut self, id: Sym) {
        let Some(record) = self.tasks.slot_if_present(id).and_then(Option::take) else {
            return;
        };
        self.account(
            id,
            (record.job, record.role, record.quota),
            Some(record.footprint()),
            None,
        );
        if let Some(job) = rec_mut(&mut self.jobs, record.job)
            && let Ok(at) = job.tasks.binary_search(&id)
        {
            job.tasks.remove(at);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn assign_task(
        &mut self,
        envelope: &Envelope,
        actor: Sym,
        task: &TaskId,
        agent: &AgentId,
        host: &str,
        ports: &BTreeMap<String, u16>,
        known: Option<Sym>,
    ) -> Line {
        let host_id = self.ensure_host(host);
        let id = known.unwrap_or_else(|| self.symbols.task(task));
        let line = Line::TaskAssigned {
            task: id,
            host: host_id,
        };
        let agent_id = self.symbols.agent(agent);
        let ports = Ports::new(ports.iter().map(|(name, port)| (self.port(name), *port)));
        let Some(record) = rec_mut(&mut self.tasks, id) else {
            return line;
        };
        let before = record.footprint();
        // The write model sets ASSIGNED whatever the task was in; so does the view.
        record.status = ScheduleStatus::Assigned;
        record.host = Some(host_id);
        record.agent = Some(agent_id);
        record.ports = ports;
        record.timeline.push(TimelineEntry {
            seq: envelope.seq,
            at: envelope.at,
            actor,
            status: ScheduleStatus::Assigned,
            message: None,
        });
        let after = record.footprint();
        let owner = (record.job, record.role, record.quota);
        self.account(id, owner, Some(before), Some(after));
        line
    }

    #[allow(clippy::too_many_arguments)]
    fn change_task_state(
        &mut self,
        envelope: &Envelope,
        actor: Sym,
        task: &TaskId,
        from: ScheduleStatus,
        to: ScheduleStatus,
        message: &Option<String>,
        known: Option<Sym>,
    ) -> Line {
        let message = self.message(message);
        let id = known.unwrap_or_else(|| self.symbols.task(task));
        if let Some(record) = rec_mut(&mut self.tasks, id) {
            let before = record.footprint();
            record.status = to;
            // The state machine's INCREMENT_FAILURES, by the one rule the write model also
            // counts with (from the event's `from`), so their counts agree.
            if ScheduleStatus::counts_failure(from, to) {
                record.failure_count = record.failure_count.saturating_add(1);
            }
            record.timeline.push(TimelineEntry {
                seq: envelope.seq,
                at: envelope.at,
                actor,
                status: to,
                message,
            });
            let after = record.footprint();
            let owner = (record.job, record.role, record.quota);
            self.account(id, owner, Some(before), Some(after));
        }
        Line::TaskStateChanged {
            task: id,
            from,
            to,
            message,
        }
    }

    /// Folds one event; returns its activity line. One arm per event kind, no wildcard: a new
    /// kind does not compile until it is handled here. `known` is the symbol of the event's
    /// task if it was resolved ahead ([`Self::look_ahead`]); `None` means look it up here.
    fn fold(&mut self, envelope: &Envelope, actor: Sym, known: Option<Sym>) -> Line {
        let at = envelope.at;
        match &envelope.event {
            Event::ClusterInitialised { cluster } => {
                self.cluster = Some(cluster.clone());
                Line::text(format!("cluster {cluster} initialised"))
            }
            Event::TaskConfigStored { .. } | Event::TaskConfigStoredV2 { .. } => {
                let Some((hash, config)) = envelope.event.stored_config() else {
                    return Line::text(String::new());
                };
                let id = self.symbols.config(&hash);
                let slot = self.configs.slot(id);
                let line = Line::text(format!(
                    "task config {} stored for {}",
                    hash.short(),
                    config.job
                ));
                // Content-addressed: a hash stored again is the same config.
                if slot.is_none() {
                    *slot = Some(Arc::new(ConfigRec {
                        bucket: Bucket::of(&config),
                        amount: Exact::of_config(&config),
                        config: Arc::new(config),
                    }));
                }
                line
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
            } => Line::JobDesired {
                job: self.set_desired(job, *config, *instances),
                config: self.symbols.config(config),
                instances: *instances,
                created: matches!(envelope.event, Event::JobCreated { .. }),
            },
            Event::JobRemoved { job } => {
                if let Some(id) = self.symbols.find_job(job)
                    && let Some(record) = rec_mut(&mut self.jobs, id)
                {
                    record.desired = None;
                }
                Line::text(format!("job {job} removed"))
            }
            Event::TaskCreated {
                task,
                job,
                instance,
                config,
                status,
                ancestor,
                failure_count,
                penalty_ms: _,
                message,
            } => self.create_task(
                envelope,
                actor,
                task,
                job,
                *instance,
                config,
                *status,
                ancestor,
                *failure_count,
                message,
                known,
            ),
            Event::TaskAssigned {
                task,
                job: _,
                agent,
                host,
                ports,
            } => self.assign_task(envelope, actor, task, agent, host, ports, known),
            Event::TaskStateChanged {
                task,
                job: _,
                from,
                to,
                message,
            } => self.change_task_state(envelope, actor, task, *from, *to, message, known),
            Event::TaskDeleted { task, job: _ } => {
                let id = known.unwrap_or_else(|| self.symbols.task(task));
                self.delete_task(id);
                Line::TaskDeleted { task: id }
            }
            Event::UpdateStarted {
                update,
                user,
                instructions,
                metadata,
            } => {
                let id = self.update_id(update);
                let job = self.ensure_job(&update.job);
                let restarted = rec(&self.updates, id).is_some();
                *self.updates.slot(id) = Some(Arc::new(UpdateRec {
                    key: update.clone(),
                    user: user.clone(),
                    status: UpdateStatus::RollingForward,
                    instructions: Arc::new(instructions.clone()),
                    metadata: Arc::new(metadata.clone()),
                    started_at: at,
                    last_modified: at,
                    last_pulse: None,
                    timeline: vec![UpdateEntry {
                        seq: envelope.seq,
                        at,
                        actor,
                        status: UpdateStatus::RollingForward,
                        message: None,
                    }],
                    instance_events: Vec::new(),
                    latest: BTreeMap::new(),
                }));
                if !restarted && let Some(job) = rec_mut(&mut self.jobs, job) {
                    job.updates.push(id);
                }
                Line::text(format!(
                    "update {} of {} started by {user}",
                    update.id, update.job
                ))
            }
            Event::UpdateStateChanged {
                update,
                from,
                to,
                message,
            } => {
                let message = self.message(message);
                let id = self.update_id(update);
                if let Some(record) = rec_mut(&mut self.updates, id) {
                    record.status = *to;
                    record.last_modified = at;
                    record.timeline.push(UpdateEntry {
                        seq: envelope.seq,
                        at,
                        actor,
                        status: *to,
                        message,
                    });
                }
                Line::UpdateStateChanged {
                    update: id,
                    from: *from,
                    to: *to,
                    message,
                }
            }
            Event::UpdateInstanceActioned {
                update,
                instance,
                action,
                message,
            } => {
                let message = self.message(message);
                let id = self.update_id(update);
                if let Some(record) = rec_mut(&mut self.updates, id) {
                    record.last_modified = at;
                    record.latest.insert(*instance, *action);
                    record.instance_events.push(InstanceEntry {
                        seq: envelope.seq,
                        at,
                        actor,
                        instance: *instance,
                        action: *action,
                        message,
                    });
                }
                Line::UpdateInstanceActioned {
                    update: id,
                    instance: *instance,
                    action: *action,
                    message,
                }
            }
            Event::UpdatePulsed { update } => {
                if let Some(id) = self.symbols.find_update(update)
                    && let Some(record) = rec_mut(&mut self.updates, id)
                {
                    record.last_pulse = Some(at);
                }
                Line::text(format!("update {} of {} pulsed", update.id, update.job))
            }
            Event::UpdatesPruned { job, updates } => {
                let mut pruned = Vec::new();
                for id in updates {
                    let key = UpdateKey {
                        job: job.clone(),
                        id: *id,
                    };
                    if let Some(sym) = self.symbols.find_update(&key)
                        && self.updates.slot(sym).take().is_some()
                    {
                        pruned.push((sym, *id));
                    }
                }
                if let Some(sym) = self.symbols.find_job(job)
                    && let Some(record) = rec_mut(&mut self.jobs, sym)
                {
                    record
                        .updates
                        .retain(|u| !pruned.iter().any(|(sym, _)| sym == u));
                    record
                        .pruned_updates
                        .extend(pruned.iter().map(|(_, id)| (*id, envelope.seq)));
                }
                Line::text(format!(
                    "{} finished update(s) of {job} pruned from history",
                    updates.len()
                ))
            }
            Event::QuotaSet { role, quota } => {
                let id = self.ensure_role(role);
                if let Some(record) = rec_mut(&mut self.roles, id) {
                    record.quota = Some(*quota);
                }
                Line::text(format!(
                    "quota of {role} set to {}",
                    describe_resources(quota)
                ))
            }
            Event::HostAttributesChanged {
                host,
                agent,
                attributes,
            } => {
                let id = self.ensure_host(host);
                let agent = agent.as_ref().map(|a| self.symbols.agent(a));
                if let Some(record) = rec_mut(&mut self.hosts, id) {
                    record.attributes = Arc::new(attributes.clone());
                    if agent.is_some() {
                        record.agent = agent;
                    }
                }
                Line::text(format!(
                    "host {host} attributes: {}",
                    describe_attributes(attributes)
                ))
            }
            Event::HostMaintenanceChanged { host, from, to } => {
                let id = self.ensure_host(host);
                if let Some(record) = rec_mut(&mut self.hosts, id) {
                    record.mode = *to;
                }
                Line::text(format!("host {host} maintenance {from} -> {to}"))
            }
            Event::CronScheduled {
                job,
                config,
                instances,
                schedule,
                collision_policy,
            } => {
                let id = self.ensure_job(job);
                let config_id = self.symbols.config(config);
                let template_usage = rec(&self.configs, config_id)
                    .map(|c| (c.bucket, c.amount.times(u64::from(*instances))));
                if let Some(record) = rec_mut(&mut self.jobs, id) {
                    record.cron = Some(CronRec {
                        schedule: schedule.clone(),
                        collision_policy: *collision_policy,
                        config: *config,
                        instances: *instances,
                        template_usage,
                        last_triggered: None,
                        last_outcome: None,
                    });
                }
                Line::text(format!(
                    "cron job {job} scheduled '{schedule}' ({collision_policy}), {instances} instances"
                ))
            }
            Event::CronDescheduled { job } => {
                if let Some(id) = self.symbols.find_job(job)
                    && let Some(record) = rec_mut(&mut self.jobs, id)
                {
                    record.cron = None;
                }
                Line::text(format!("cron job {job} descheduled"))
            }
            Event::CronTriggered { job, outcome } => {
                if let Some(id) = self.symbols.find_job(job)
                    && let Some(record) = rec_mut(&mut self.jobs, id)
                    && let Some(cron) = &mut record.cron
                {
                    cron.last_triggered = Some(at);
                    cron.last_outcome = Some(*outcome);
                }
                Line::text(format!("cron job {job} triggered: {outcome}"))
            }
            Event::AgentRegistered {
                agent,
                host,
                capacity,
                attributes,
                endpoint,
            } => {
                let host_id = self.ensure_host(host);
                let id = self.symbols.agent(agent);
                *self.agents.slot(id) = Some(Arc::new(AgentRec {
                    id: agent.clone(),
                    capacity: capacity.clone(),
                    endpoint: endpoint.clone(),
                    registered_at: at,
                    lost: false,
                }));
                if let Some(record) = rec_mut(&mut self.hosts, host_id) {
                    record.attributes = Arc::new(attributes.clone());
                    record.agent = Some(id);
                }
                Line::text(format!(
                    "agent {agent} registered on {host}: {} cpus, {} MiB RAM, {} MiB disk",
                    capacity.cpus, capacity.ram_mb, capacity.disk_mb
                ))
            }
            Event::AgentLost { agent, reason } => {
                if let Some(id) = self.symbols.find_agent(agent)
                    && let Some(record) = rec_mut(&mut self.agents, id)
                {
                    record.lost = true;
                }
                Line::text(format!("agent {agent} lost: {reason}"))
            }
            Event::AgentBound { agent, principal } => Line::text(format!(
                "agent {agent} bound to user {principal}: only that user may act as it"
            )),
            Event::AgentUnbound { agent, principal } => Line::text(format!(
                "agent {agent} unbound from user {principal}: the next user to register it binds it"
            )),
            Event::SlaDrainRequested {
                host, timeout_secs, ..
            } => Line::text(format!(
                "host {host}: SLA-aware drain requested (the rest forced after {timeout_secs} s)"
            )),
            Event::JournalTruncationAccepted {
                acknowledged,
                found,
                reason,
            } => Line::text(format!(
                "journal truncation accepted: seqs {}..={acknowledged} were lost ({reason})",
                found + 1
            )),
        }
    }

    fn set_desired(&mut self, job: &JobKey, config: ConfigHash, instances: u32) -> Sym {
        let id = self.ensure_job(job);
        if let Some(record) = rec_mut(&mut self.jobs, id) {
            record.desired = Some(DesiredState { config, instances });
        }
        id
    }
}

/// Envelopes a batched fold resolves ahead ([`Views::look_ahead`]): enough independent lookups
/// for their cache misses to overlap, few enough that what they bring in is still cached when
/// the envelopes are folded.
pub(crate) const LOOKAHEAD: usize = 32;

impl Views {
    /// Resolves the task symbols of a window of envelopes about to be folded, one per envelope
    /// in `known` (`None`: no task, or an id not interned yet, which the fold then interns as
    /// usual), and reads a little of each task's record so that its cache lines arrive
    /// together. Reads only: a symbol never changes meaning once handed out, so a symbol
    /// resolved here is right whatever the window's events create or delete before their turn.
    pub(crate) fn look_ahead(&self, window: &[&Envelope], known: &mut Vec<Option<Sym>>) {
        known.clear();
        self.symbols
            .find_tasks(window.iter().map(|e| e.event.task()), known);
        // The lines the fold reads first: the chunk's and the record's reference counts (the
        // copy-on-write checks), the record's status, the timeline slot it pushes to and the
        // job's counts.
        let mut touched = 0usize;
        for &id in known.iter().flatten() {
            touched ^= self.tasks.sharing(id);
            if let Some(Some(record)) = self.tasks.get(id) {
                touched ^= Arc::strong_count(record);
                touched ^= record.status as usize;
                touched ^= usize::from(record.timeline.next_slot_taken());
                touched ^= self.job_counts.sharing(record.job);
                if let Some(counts) = self.job_counts.get(record.job) {
                    touched ^= counts.first() as usize;
                }
            }
        }
        // The values do not matter, only that the loads happen now rather than in the fold.
        std::hint::black_box(touched);
    }

    /// [`Projection::apply`] with the task's symbol possibly resolved ahead.
    pub(crate) fn apply_known(&mut self, envelope: &Envelope, known: Option<Sym>) {
        let actor = match &envelope.actor {
            Actor::Scheduler => self.scheduler,
            other => self.symbols.actor(other),
        };
        let line = self.fold(envelope, actor, known);
        self.last_seq = envelope.seq;
        self.activity.push(ActivityRecord {
            seq: envelope.seq,
            at: envelope.at,
            actor,
            kind: envelope.event.kind(),
            line,
        });
    }
}

impl Projection for Views {
    fn apply(&mut self, envelope: &Envelope) {
        self.apply_known(envelope, None);
    }
}
