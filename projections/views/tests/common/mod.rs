//! Scripted histories for the projection tests: envelopes with dense seqs, a clock that only
//! moves when told, and an actor per event.

#![allow(dead_code)] // each test binary uses its own part of the helpers

use std::collections::{BTreeMap, BTreeSet};

use aurora_events::config::{Constraint, ConstraintKind, DEDICATED_ATTRIBUTE};
use aurora_events::{
    Actor, AgentId, ConfigHash, Envelope, Event, EventId, JobKey, PendingEvent, ScheduleStatus,
    Seq, TaskConfig, TaskId, Tier, Timestamp, Uuid,
};
use aurora_projections::{Folded, Snapshot, Views, ViewsConfig};

pub const T0: i64 = 1_767_225_600_000;

/// Builds a history event by event.
pub struct Script {
    envelopes: Vec<Envelope>,
    now: i64,
    actor: Actor,
}

impl Default for Script {
    fn default() -> Self {
        Self::new()
    }
}

impl Script {
    /// An empty script at `T0`, acting as the scheduler.
    pub fn new() -> Self {
        Self {
            envelopes: Vec::new(),
            now: T0,
            actor: Actor::Scheduler,
        }
    }

    /// Moves the clock forward by `ms`.
    pub fn after(&mut self, ms: i64) -> &mut Self {
        self.now += ms;
        self
    }

    pub fn by(&mut self, actor: Actor) -> &mut Self {
        self.actor = actor;
        self
    }

    pub fn now(&self) -> Timestamp {
        Timestamp(self.now)
    }

    /// Appends `event` at the current time by the current actor; returns its seq.
    pub fn push(&mut self, event: Event) -> Seq {
        let seq = self.envelopes.len() as Seq + 1;
        let mut random = [0u8; 10];
        random[..8].copy_from_slice(&seq.to_le_bytes());
        let envelope = PendingEvent {
            id: EventId::from_parts(self.now as u64, random),
            actor: self.actor.clone(),
            cause: None,
            event,
        }
        .commit(seq, Timestamp(self.now));
        self.envelopes.push(envelope);
        seq
    }

    pub fn envelopes(&self) -> &[Envelope] {
        &self.envelopes
    }

    pub fn last_seq(&self) -> Seq {
        self.envelopes.len() as Seq
    }

    /// Stores `config` and creates `instances` PENDING tasks of a new job; returns the hash and
    /// the task ids.
    pub fn create_job(&mut self, config: &TaskConfig, instances: u32) -> (ConfigHash, Vec<TaskId>) {
        let hash = self.store(config);
        let job = config.job.clone();
        self.push(Event::JobCreated {
            job: job.clone(),
            config: hash,
            instances,
        });
        let tasks = (0..instances)
            .map(|i| self.create_task(&job, i, hash, None))
            .collect();
        (hash, tasks)
    }

    pub fn store(&mut self, config: &TaskConfig) -> ConfigHash {
        let hash = config.hash();
        self.push(Event::TaskConfigStoredV2 {
            hash,
            config: Box::new(config.clone()),
        });
        hash
    }

    /// A new PENDING task of `job`'s `instance`, replacing `ancestor` if given.
    pub fn create_task(
        &mut self,
        job: &JobKey,
        instance: u32,
        config: ConfigHash,
        ancestor: Option<&TaskId>,
    ) -> TaskId {
        let task = TaskId::generate(
            job,
            instance,
            Uuid::from_u128(u128::from(self.last_seq() + 1)),
        );
        self.push(Event::TaskCreated {
            task: task.clone(),
            job: job.clone(),
            instance,
            config,
            status: ScheduleStatus::Pending,
            ancestor: ancestor.cloned(),
            failure_count: 0,
            penalty_ms: 0,
            message: ancestor.map(|_| "Rescheduled".to_string()),
        });
        task
    }

    pub fn assign(&mut self, task: &TaskId, host: &str, ports: &[(&str, u16)]) -> Seq {
        self.push(Event::TaskAssigned {
            task: task.clone(),
            job: job_of(task),
            agent: AgentId(format!("agent-{host}")),
            host: host.into(),
            ports: ports.iter().map(|(n, p)| (n.to_string(), *p)).collect(),
        })
    }

    pub fn change(
        &mut self,
        task: &TaskId,
        from: ScheduleStatus,
        to: ScheduleStatus,
        message: Option<&str>,
    ) -> Seq {
        self.push(Event::TaskStateChanged {
            task: task.clone(),
            job: job_of(task),
            from,
            to,
            message: message.map(str::to_string),
        })
    }

    /// ASSIGNED on `host`, then STARTING and RUNNING reported by the host's agent.
    pub fn run(&mut self, task: &TaskId, host: &str) {
        let actor = self.actor.clone();
        self.by(Actor::Scheduler)
            .assign(task, host, &[("http", 31000)]);
        self.by(Actor::Agent(AgentId(format!("agent-{host}"))));
        self.change(
            task,
            ScheduleStatus::Assigned,
            ScheduleStatus::Starting,
            None,
        );
        self.change(
            task,
            ScheduleStatus::Starting,
            ScheduleStatus::Running,
            None,
        );
        self.by(actor);
    }
}

/// The job of a task id made by [`Script::create_task`] (`role-env-name-instance-uuid`; test
/// job names have no `-` or `.`).
pub fn job_of(task: &TaskId) -> JobKey {
    let id = task.as_str();
    // role-env-name-instance-uuid: the uuid has 5 dash-separated parts, the instance one.
    let parts: Vec<&str> = id.split('-').collect();
    let head = &parts[..parts.len() - 6];
    assert!(head.len() == 3, "test job parts must not contain '-': {id}");
    JobKey::new(head[0], head[1], head[2]).expect("valid test job")
}

pub fn job(role: &str, env: &str, name: &str) -> JobKey {
    JobKey::new(role, env, name).expect("valid test job")
}

/// A config of `job` with the given tier and resources; dedicated adds the constraint.
pub fn config(job: &JobKey, tier: Tier, cpus: f64, ram_mb: u64, dedicated: bool) -> TaskConfig {
    let mut config = aurora_events::samples::task_config();
    config.sla_policy = None;
    config.job = job.clone();
    config.tier = tier;
    config.resources.cpus = cpus;
    config.resources.ram_mb = ram_mb;
    config.resources.disk_mb = 10;
    config.resources.ports = BTreeSet::from(["http".to_string()]);
    config.constraints = if dedicated {
        vec![Constraint {
            name: DEDICATED_ATTRIBUTE.into(),
            kind: ConstraintKind::Value {
                negated: false,
                values: vec![format!("{}/db", job.role)],
            },
        }]
    } else {
        Vec::new()
    };
    config
}

/// A fresh view folded from `envelopes`.
pub fn fold(envelopes: &[Envelope], config: ViewsConfig) -> Views {
    let mut folded = Folded::new(Views::new(config));
    for envelope in envelopes {
        folded.apply(envelope);
    }
    folded.into_view()
}

pub fn snapshot(envelopes: &[Envelope]) -> Snapshot {
    fold(envelopes, ViewsConfig::default()).snapshot()
}

pub fn ports(pairs: &[(&str, u16)]) -> BTreeMap<String, u16> {
    pairs.iter().map(|(n, p)| (n.to_string(), *p)).collect()
}
