//! A realistic, seeded cluster history for read-side benchmarks: agents register, roles get
//! quota, jobs are created in bursts of tasks that go PENDING → ASSIGNED → STARTING → RUNNING
//! and end FINISHED, FAILED or LOST; services and failed batch tasks are rescheduled (some
//! THROTTLED first), jobs are updated instance by instance and killed, hosts go through
//! maintenance with their tasks drained, and old terminal tasks are pruned.
//!
//! The same seed gives the same envelopes, byte for byte. Commit times advance a few
//! milliseconds per step and every event of one step shares its time, as one journal append
//! would.

use std::collections::{BTreeMap, VecDeque};

use aurora_events::config::{Constraint, ConstraintKind, DEDICATED_ATTRIBUTE};
use aurora_events::event::Attribute;
use aurora_events::update::{
    InstanceConfigRanges, InstanceRange, UpdateInstructions, UpdateSettings, UpdateStrategy,
};
use aurora_events::{
    Actor, AgentId, Capacity, ConfigHash, Envelope, Event, EventId, Identifier,
    InstanceUpdateAction, JobKey, MaintenanceMode, PendingEvent, ResourceAggregate, ScheduleStatus,
    TaskConfig, TaskId, Tier, Timestamp, UpdateKey, UpdateStatus, Uuid, samples,
};
use rand::{Rng as _, SeedableRng};
use rand_chacha::ChaCha8Rng;

use ScheduleStatus::*;

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub events: usize,
    pub seed: u64,
    pub hosts: usize,
    pub roles: usize,
    /// Jobs alive at once, at most.
    pub jobs: usize,
    /// Terminal tasks kept per job before the oldest is pruned (Aurora keeps 100; fewer keeps
    /// the generated cluster's size steady over a long history).
    pub keep_terminal: usize,
}

impl Default for Shape {
    fn default() -> Self {
        Self {
            events: 1_000_000,
            seed: 1,
            hosts: 500,
            roles: 40,
            jobs: 1_500,
            keep_terminal: 20,
        }
    }
}

/// Figures about what was generated.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub jobs_created: u64,
    pub tasks_created: u64,
    pub updates: u64,
    pub kills: u64,
    pub drains: u64,
    pub pruned: u64,
}

struct Task {
    id: TaskId,
    job: usize,
    instance: u32,
    status: ScheduleStatus,
    host: usize,
    failures: u32,
}

struct Job {
    key: JobKey,
    config: ConfigHash,
    service: bool,
    instances: u32,
    /// The active task of each instance.
    active: BTreeMap<u32, usize>,
    terminal: VecDeque<usize>,
    alive: bool,
}

struct Generator {
    shape: Shape,
    rng: ChaCha8Rng,
    now: i64,
    out: Vec<Envelope>,
    batch: Vec<(Actor, Event)>,
    tasks: Vec<Task>,
    jobs: Vec<Job>,
    live_jobs: Vec<usize>,
    /// Candidate tasks per status; entries whose task has moved on are skipped when drawn.
    queues: BTreeMap<ScheduleStatus, Vec<usize>>,
    host_mode: Vec<MaintenanceMode>,
    stats: Stats,
}

fn ident(s: &str) -> Identifier {
    match Identifier::new(s) {
        Ok(id) => id,
        Err(e) => unreachable!("generated identifiers are valid: {e}"),
    }
}

fn host_name(host: usize) -> String {
    format!("host-{host:04}.example.com")
}

fn agent_id(host: usize) -> AgentId {
    AgentId(format!("agent-{host:04}"))
}

impl Generator {
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.rng.random_range(0..items.len())]
    }

    fn emit(&mut self, actor: Actor, event: Event) {
        self.batch.push((actor, event));
    }

    /// Commits the step's events at one time, then moves the clock.
    fn commit(&mut self) {
        for (actor, event) in self.batch.drain(..) {
            let seq = self.out.len() as u64 + 1;
            let mut random = [0u8; 10];
            random[..8].copy_from_slice(&seq.to_le_bytes());
            self.out.push(
                PendingEvent {
                    id: EventId::from_parts(self.now as u64, random),
                    actor,
                    cause: None,
                    event,
                }
                .commit(seq, Timestamp(self.now)),
            );
        }
        self.now += self.rng.random_range(0..20);
    }

    fn queue(&mut self, status: ScheduleStatus, task: usize) {
        self.queues.entry(status).or_default().push(task);
    }

    /// A random task currently in `status`, taken off its queue.
    fn draw(&mut self, status: ScheduleStatus) -> Option<usize> {
        loop {
            let queue = self.queues.get_mut(&status)?;
            if queue.is_empty() {
                return None;
            }
            let i = self.rng.random_range(0..queue.len());
            let task = queue.swap_remove(i);
            if self.tasks[task].status == status && self.jobs[self.tasks[task].job].alive {
                return Some(task);
            }
        }
    }

    fn config(&mut self, key: &JobKey, service: bool) -> TaskConfig {
        let mut config = samples::task_config();
        config.sla_policy = None;
        config.job = key.clone();
        config.is_service = service;
        config.tier = match self.rng.random_range(0..10) {
            0..6 => Tier::Preferred,
            6..9 => Tier::Preemptible,
            _ => Tier::Revocable,
        };
        config.resources.cpus = f64::from(self.rng.random_range(1..=40u32)) / 10.0;
        config.resources.ram_mb = 128 * self.rng.random_range(1..=32u64);
        config.resources.disk_mb = 1024 * self.rng.random_range(1..=8u64);
        config.constraints = if self.rng.random_bool(0.1) {
            vec![Constraint {
                name: DEDICATED_ATTRIBUTE.into(),
                kind: ConstraintKind::Value {
                    negated: false,
                    values: vec![format!("{}/dedicated", key.role)],
                },
            }]
        } else {
            Vec::new()
        };
        config.executor.processes[0].cmdline =
            format!("run {} --port {{{{thermos.ports[http]}}}}", key.name);
        config
    }

    fn store(&mut self, config: TaskConfig) -> ConfigHash {
        let hash = config.hash();
        self.emit(
            Actor::Scheduler,
            Event::TaskConfigStoredV2 {
                hash,
                config: Box::new(config),
            },
        );
        hash
    }

    fn new_task(
        &mut self,
        job: usize,
        instance: u32,
        ancestor: Option<usize>,
        throttled: bool,
    ) -> usize {
        let key = self.jobs[job].key.clone();
        let id = TaskId::generate(&key, instance, Uuid::from_u128(self.rng.random()));
        let failures = ancestor.map_or(0, |a| self.tasks[a].failures);
        let status = if throttled { Throttled } else { Pending };
        let message = match (ancestor, throttled) {
            (None, _) => None,
            (Some(_), false) => Some("Rescheduled".to_string()),
            (Some(_), true) => Some("Rescheduled, penalized for 30000 ms for flapping".to_string()),
        };
        self.emit(
            Actor::Scheduler,
            Event::TaskCreated {
                task: id.clone(),
                job: key,
                instance,
                config: self.jobs[job].config,
                status,
                ancestor: ancestor.map(|a| self.tasks[a].id.clone()),
                failure_count: failures,
                penalty_ms: if throttled { 30_000 } else { 0 },
                message,
            },
        );
        let task = self.tasks.len();
        self.tasks.push(Task {
            id,
            job,
            instance,
            status,
            host: 0,
            failures,
        });
        self.jobs[job].active.insert(instance, task);
        self.queue(status, task);
        self.stats.tasks_created += 1;
        task
    }

    fn change(&mut self, actor: Actor, task: usize, to: ScheduleStatus, message: Option<&str>) {
        let from = self.tasks[task].status;
        let job = self.tasks[task].job;
        self.emit(
            actor,
            Event::TaskStateChanged {
                task: self.tasks[task].id.clone(),
                job: self.jobs[job].key.clone(),
                from,
                to,
                message: message.map(str::to_string),
            },
        );
        self.tasks[task].status = to;
        if !to.is_active() {
            let instance = self.tasks[task].instance;
            if self.jobs[job].active.get(&instance) == Some(&task) {
                self.jobs[job].active.remove(&instance);
            }
            self.retire(task);
        } else {
            self.queue(to, task);
        }
    }

    /// Remembers a terminal task and prunes the job's oldest beyond the limit.
    fn retire(&mut self, task: usize) {
        let job = self.tasks[task].job;
        self.jobs[job].terminal.push_back(task);
        while self.jobs[job].terminal.len() > self.shape.keep_terminal {
            if let Some(old) = self.jobs[job].terminal.pop_front() {
                self.delete(old);
            }
        }
    }

    fn delete(&mut self, task: usize) {
        let job = self.tasks[task].job;
        self.emit(
            Actor::Scheduler,
            Event::TaskDeleted {
                task: self.tasks[task].id.clone(),
                job: self.jobs[job].key.clone(),
            },
        );
        self.stats.pruned += 1;
    }

    fn create_job(&mut self) {
        let n = self.jobs.len();
        let role = format!("role{:02}", self.rng.random_range(0..self.shape.roles));
        let env = self.pick(&["prod", "prod", "staging", "devel"]);
        let key = match JobKey::new(&role, env, &format!("job{n:05}")) {
            Ok(key) => key,
            Err(e) => unreachable!("generated job keys are valid: {e}"),
        };
        let service = self.rng.random_bool(0.7);
        // Mostly small jobs, a few large ones.
        let instances = if self.rng.random_bool(0.9) {
            self.rng.random_range(1..=10)
        } else {
            self.rng.random_range(10..=80)
        };
        let config = self.config(&key, service);
        let hash = self.store(config);
        let user = Actor::User(format!("user-{role}"));
        self.emit(
            user,
            Event::JobCreated {
                job: key.clone(),
                config: hash,
                instances,
            },
        );
        self.jobs.push(Job {
            key,
            config: hash,
            service,
            instances,
            active: BTreeMap::new(),
            terminal: VecDeque::new(),
            alive: true,
        });
        self.live_jobs.push(n);
        for instance in 0..instances {
            self.new_task(n, instance, None, false);
        }
        self.stats.jobs_created += 1;
    }

    fn schedulable_host(&mut self) -> usize {
        for _ in 0..8 {
            let host = self.rng.random_range(0..self.shape.hosts);
            if matches!(
                self.host_mode[host],
                MaintenanceMode::None | MaintenanceMode::Scheduled
            ) {
                return host;
            }
        }
        0
    }

    fn assign(&mut self) -> bool {
        let Some(task) = self.draw(Pending) else {
            return false;
        };
        let host = self.schedulable_host();
        let job = self.tasks[task].job;
        let ports = BTreeMap::from([
            ("http".to_string(), 31_000 + self.rng.random_range(0..1000)),
            (
                "health".to_string(),
                32_000 + self.rng.random_range(0..1000),
            ),
        ]);
        self.emit(
            Actor::Scheduler,
            Event::TaskAssigned {
                task: self.tasks[task].id.clone(),
                job: self.jobs[job].key.clone(),
                agent: agent_id(host),
                host: host_name(host),
                ports,
            },
        );
        self.tasks[task].status = Assigned;
        self.tasks[task].host = host;
        self.queue(Assigned, task);
        true
    }

    fn advance(&mut self, from: ScheduleStatus, to: ScheduleStatus) -> bool {
        let Some(task) = self.draw(from) else {
            return false;
        };
        let agent = Actor::Agent(agent_id(self.tasks[task].host));
        self.change(agent, task, to, None);
        true
    }

    fn unthrottle(&mut self) -> bool {
        let Some(task) = self.draw(Throttled) else {
            return false;
        };
        self.change(Actor::Scheduler, task, Pending, None);
        true
    }

    /// A running task ends on its own; services and retriable batch tasks are replaced.
    fn end(&mut self) -> bool {
        let Some(task) = self.draw(Running) else {
            return false;
        };
        let agent = Actor::Agent(agent_id(self.tasks[task].host));
        let (to, message) = match self.rng.random_range(0..100) {
            0..40 => (Finished, None),
            40..85 => (Failed, Some("Process exited with status 1")),
            _ => (Lost, Some("Agent lost")),
        };
        if to == Failed {
            self.tasks[task].failures += 1;
        }
        self.change(agent, task, to, message);
        let job = self.tasks[task].job;
        let replace = match to {
            Finished => self.jobs[job].service,
            Failed => self.jobs[job].service || self.tasks[task].failures < 3,
            _ => true,
        };
        if replace {
            let throttled = self.rng.random_bool(0.2);
            let instance = self.tasks[task].instance;
            self.new_task(job, instance, Some(task), throttled);
        }
        true
    }

    fn kill_job(&mut self) {
        if self.live_jobs.len() < 2 {
            return;
        }
        let i = self.rng.random_range(0..self.live_jobs.len());
        let job = self.live_jobs.swap_remove(i);
        let user = Actor::User(format!("user-{}", self.jobs[job].key.role));
        let active: Vec<usize> = self.jobs[job].active.values().copied().collect();
        for task in active {
            match self.tasks[task].status {
                Pending | Throttled => {
                    self.tasks[task].status = Killed;
                    self.delete(task);
                }
                _ => {
                    self.change(user.clone(), task, Killing, Some("Killed by user"));
                    let agent = Actor::Agent(agent_id(self.tasks[task].host));
                    self.change(agent, task, Killed, None);
                }
            }
        }
        let remaining: Vec<usize> = self.jobs[job].terminal.drain(..).collect();
        for task in remaining {
            self.delete(task);
        }
        self.jobs[job].alive = false;
        self.jobs[job].active.clear();
        let key = self.jobs[job].key.clone();
        self.emit(user, Event::JobRemoved { job: key });
        self.stats.kills += 1;
    }

    /// Rolls a new config over every instance: one step per instance, then done.
    fn update_job(&mut self) {
        let Some(&job) = self
            .live_jobs
            .get(self.rng.random_range(0..self.live_jobs.len().max(1)))
        else {
            return;
        };
        let key = self.jobs[job].key.clone();
        let user = Actor::User(format!("user-{}", key.role));
        let old = self.jobs[job].config;
        let service = self.jobs[job].service;
        let config = self.config(&key, service);
        let new = self.store(config);
        let instances = self.jobs[job].instances;
        let all = vec![InstanceRange {
            first: 0,
            last: instances.saturating_sub(1),
        }];
        let update = UpdateKey {
            job: key.clone(),
            id: Uuid::from_u128(self.rng.random()),
        };
        self.emit(
            user.clone(),
            Event::UpdateStarted {
                update: update.clone(),
                user: format!("user-{}", key.role),
                instructions: UpdateInstructions {
                    initial_state: vec![InstanceConfigRanges {
                        config: old,
                        instances: all.clone(),
                    }],
                    desired_state: Some(InstanceConfigRanges {
                        config: new,
                        instances: all,
                    }),
                    settings: UpdateSettings {
                        strategy: UpdateStrategy::Batch {
                            group_size: 5,
                            autopause_after_batch: false,
                        },
                        max_per_instance_failures: 1,
                        max_failed_instances: 1,
                        min_wait_in_instance_running_ms: 30_000,
                        rollback_on_failure: true,
                        update_only_these_instances: Vec::new(),
                        block_if_no_pulses_after_ms: None,
                        sla_aware: false,
                    },
                },
                metadata: BTreeMap::new(),
            },
        );
        self.jobs[job].config = new;
        for instance in 0..instances {
            let action = |a| Event::UpdateInstanceActioned {
                update: update.clone(),
                instance,
                action: a,
                message: None,
            };
            self.emit(
                Actor::Scheduler,
                action(InstanceUpdateAction::InstanceUpdating),
            );
            let message = format!("Killed for job update {}", update.id);
            if let Some(&task) = self.jobs[job].active.get(&instance) {
                match self.tasks[task].status {
                    Pending | Throttled => {
                        self.tasks[task].status = Killed;
                        self.jobs[job].active.remove(&instance);
                        self.delete(task);
                    }
                    _ => {
                        self.change(Actor::Scheduler, task, Killing, Some(&message));
                        let agent = Actor::Agent(agent_id(self.tasks[task].host));
                        self.change(agent, task, Killed, None);
                    }
                }
            }
            self.new_task(job, instance, None, false);
            self.emit(
                Actor::Scheduler,
                action(InstanceUpdateAction::InstanceUpdated),
            );
        }
        self.emit(
            Actor::Scheduler,
            Event::UpdateStateChanged {
                update,
                from: UpdateStatus::RollingForward,
                to: UpdateStatus::RolledForward,
                message: None,
            },
        );
        self.emit(
            Actor::Scheduler,
            Event::JobConfigReplaced {
                job: key,
                config: new,
                instances,
            },
        );
        self.stats.updates += 1;
    }

    /// Moves one host a step through maintenance: NONE → SCHEDULED → DRAINING (its tasks
    /// drained and replaced) → DRAINED → NONE.
    fn maintain(&mut self) {
        let host = self.rng.random_range(0..self.shape.hosts);
        let from = self.host_mode[host];
        let admin = Actor::User("admin".into());
        let to = match from {
            MaintenanceMode::None => MaintenanceMode::Scheduled,
            MaintenanceMode::Scheduled => MaintenanceMode::Draining,
            MaintenanceMode::Draining => MaintenanceMode::Drained,
            MaintenanceMode::Drained => MaintenanceMode::None,
        };
        self.emit(
            admin,
            Event::HostMaintenanceChanged {
                host: host_name(host),
                from,
                to,
            },
        );
        self.host_mode[host] = to;
        if to == MaintenanceMode::Draining {
            let on_host: Vec<usize> = self
                .live_jobs
                .iter()
                .flat_map(|j| self.jobs[*j].active.values().copied())
                .filter(|t| self.tasks[*t].host == host && self.tasks[*t].status.is_on_agent())
                .collect();
            for task in on_host {
                self.change(
                    Actor::Scheduler,
                    task,
                    Draining,
                    Some("Draining machine for maintenance."),
                );
                let agent = Actor::Agent(agent_id(host));
                self.change(agent, task, Killed, None);
                let (job, instance) = (self.tasks[task].job, self.tasks[task].instance);
                self.new_task(job, instance, Some(task), false);
            }
            self.stats.drains += 1;
        }
    }

    fn set_quota(&mut self) {
        let role = format!("role{:02}", self.rng.random_range(0..self.shape.roles));
        let cpus = f64::from(self.rng.random_range(100..2_000u32));
        self.emit(
            Actor::User("admin".into()),
            Event::QuotaSet {
                role: ident(&role),
                quota: ResourceAggregate {
                    cpus,
                    ram_mb: (cpus as u64) * 4096,
                    disk_mb: (cpus as u64) * 16_384,
                },
            },
        );
    }

    fn start(&mut self) {
        self.emit(
            Actor::Scheduler,
            Event::ClusterInitialised {
                cluster: "bench".into(),
            },
        );
        for host in 0..self.shape.hosts {
            self.emit(
                Actor::Agent(agent_id(host)),
                Event::AgentRegistered {
                    agent: agent_id(host),
                    host: host_name(host),
                    capacity: Capacity {
                        cpus: 32.0,
                        ram_mb: 131_072,
                        disk_mb: 1_000_000,
                        gpus: 0,
                        port_ranges: vec![(31_000, 33_000)],
                    },
                    attributes: vec![
                        Attribute {
                            name: "rack".into(),
                            values: vec![format!("rack-{:03}", host / 40)],
                        },
                        Attribute {
                            name: "zone".into(),
                            values: vec![format!("zone-{}", host % 3)],
                        },
                    ],
                    endpoint: format!("http://{}:1338", host_name(host)),
                },
            );
        }
        for _ in 0..self.shape.roles {
            self.set_quota();
        }
        self.commit();
    }

    /// One step: one decision of the cluster, committed as one batch.
    fn step(&mut self) {
        let roll = self.rng.random_range(0..1000);
        let acted = match roll {
            0..30 if self.live_jobs.len() < self.shape.jobs => {
                self.create_job();
                true
            }
            0..300 => self.assign(),
            300..520 => self.advance(Assigned, Starting),
            520..740 => self.advance(Starting, Running),
            740..760 => self.unthrottle(),
            760..975 => self.end(),
            975..988 => {
                self.update_job();
                true
            }
            988..994 => {
                self.kill_job();
                true
            }
            994..998 => {
                self.maintain();
                true
            }
            _ => {
                self.set_quota();
                true
            }
        };
        // Nothing to do in the chosen lane (e.g. no pending task): make work instead.
        if !acted && self.live_jobs.len() < self.shape.jobs {
            self.create_job();
        }
        self.commit();
    }
}

/// Generates `shape.events` envelopes (the last step is cut to fit exactly).
pub fn generate(shape: Shape) -> (Vec<Envelope>, Stats) {
    let mut generator = Generator {
        shape,
        rng: ChaCha8Rng::seed_from_u64(shape.seed),
        now: 1_767_225_600_000,
        out: Vec::with_capacity(shape.events + 1024),
        batch: Vec::new(),
        tasks: Vec::new(),
        jobs: Vec::new(),
        live_jobs: Vec::new(),
        queues: BTreeMap::new(),
        host_mode: vec![MaintenanceMode::None; shape.hosts.max(1)],
        stats: Stats::default(),
    };
    generator.start();
    while generator.out.len() < shape.events {
        generator.step();
    }
    generator.out.truncate(shape.events);
    (generator.out, generator.stats)
}
