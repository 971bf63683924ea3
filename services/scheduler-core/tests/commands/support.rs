//! Given/when/then for deciders: `given(events).when(command).then_events([...])`.

use std::collections::BTreeMap;

use aurora_events::event::Attribute;
use aurora_events::{
    Actor, AgentId, Capacity, ConfigHash, Event, EventId, JobKey, PendingEvent, ScheduleStatus,
    TaskConfig, TaskId, Timestamp,
};
use aurora_scheduler_core::commands::RegisterAgent;
use aurora_scheduler_core::{ClusterState, Command, Ctx, Decision, Rejection, Settings, decide};
use pretty_assertions::assert_eq;

pub const T0: i64 = 1_767_225_600_000;

pub fn alice() -> Actor {
    Actor::User("alice".into())
}

pub fn job(name: &str) -> JobKey {
    format!("www-data/prod/{name}").parse().unwrap()
}

/// A service config for `job` asking for `cpus` and `ram_mb`.
pub fn config(job: &JobKey, cpus: f64, ram_mb: u64) -> TaskConfig {
    let mut config = aurora_events::samples::task_config();
    config.job = job.clone();
    config.resources.cpus = cpus;
    config.resources.ram_mb = ram_mb;
    config.resources.ports.clear();
    config.constraints.clear();
    // SLA policies are set by the tests about them.
    config.sla_policy = None;
    // Not production, so that quota only matters where a test sets it up.
    config.tier = aurora_events::Tier::Preemptible;
    config
}

pub fn agent(n: u32) -> AgentId {
    AgentId(format!("agent-{n}"))
}

pub fn host(n: u32) -> String {
    format!("host-{n}")
}

pub fn agent_registered(n: u32) -> Event {
    Event::AgentRegistered {
        agent: agent(n),
        host: host(n),
        capacity: Capacity {
            cpus: 8.0,
            ram_mb: 16_384,
            disk_mb: 100_000,
            gpus: 0,
            port_ranges: vec![(31000, 31999)],
        },
        attributes: vec![Attribute {
            name: "rack".into(),
            values: vec![format!("r{}", n % 2)],
        }],
        endpoint: format!("http://host-{n}:1338"),
    }
}

/// What agent `n` sends to register as [`agent_registered`] records it, running nothing and
/// without a principal; tests change the fields they are about.
pub fn registration(n: u32) -> RegisterAgent {
    let Event::AgentRegistered {
        agent,
        host,
        capacity,
        attributes,
        endpoint,
    } = agent_registered(n)
    else {
        unreachable!("agent_registered makes an AgentRegistered")
    };
    RegisterAgent {
        agent,
        host,
        capacity,
        attributes,
        endpoint,
        running: Default::default(),
        principal: None,
    }
}

/// The events that create `job` with `instances` PENDING tasks with the given ids.
pub fn job_created(config: &TaskConfig, tasks: &[TaskId]) -> Vec<Event> {
    let hash = config.hash();
    let mut events = vec![
        Event::TaskConfigStoredV2 {
            hash,
            config: Box::new(config.clone()),
        },
        Event::JobCreated {
            job: config.job.clone(),
            config: hash,
            instances: tasks.len() as u32,
        },
    ];
    for (instance, task) in tasks.iter().enumerate() {
        events.push(task_created(config, task, instance as u32));
    }
    events
}

pub fn task_created(config: &TaskConfig, task: &TaskId, instance: u32) -> Event {
    Event::TaskCreated {
        task: task.clone(),
        job: config.job.clone(),
        instance,
        config: config.hash(),
        status: ScheduleStatus::Pending,
        ancestor: None,
        failure_count: 0,
        penalty_ms: 0,
        message: None,
    }
}

pub fn task_id(job: &JobKey, instance: u32) -> TaskId {
    TaskId::from_raw(format!(
        "{}-{}-{}-{instance}-fixed",
        job.role, job.environment, job.name
    ))
}

pub fn assigned(job: &JobKey, task: &TaskId, on: u32) -> Event {
    Event::TaskAssigned {
        task: task.clone(),
        job: job.clone(),
        agent: agent(on),
        host: host(on),
        ports: BTreeMap::new(),
    }
}

pub fn changed(
    job: &JobKey,
    task: &TaskId,
    from: ScheduleStatus,
    to: ScheduleStatus,
    message: Option<&str>,
) -> Event {
    Event::TaskStateChanged {
        task: task.clone(),
        job: job.clone(),
        from,
        to,
        message: message.map(str::to_string),
    }
}

/// Assigned to agent `on`, then STARTING and RUNNING.
pub fn running(job: &JobKey, task: &TaskId, on: u32) -> Vec<Event> {
    vec![
        assigned(job, task, on),
        changed(
            job,
            task,
            ScheduleStatus::Assigned,
            ScheduleStatus::Starting,
            None,
        ),
        changed(
            job,
            task,
            ScheduleStatus::Starting,
            ScheduleStatus::Running,
            None,
        ),
    ]
}

/// Agent 1 registered and `config`'s job with one task, `task`, running on it.
pub fn one_running(config: &TaskConfig, task: &TaskId) -> Vec<Event> {
    let mut events = vec![agent_registered(1)];
    events.extend(job_created(config, std::slice::from_ref(task)));
    events.extend(running(&config.job, task, 1));
    events
}

#[derive(Clone)]
pub struct Given {
    pub state: ClusterState,
    seq: u64,
    now: Timestamp,
    actor: Actor,
}

/// A cluster that saw `events`, all at `T0`.
pub fn given(events: impl IntoIterator<Item = Event>) -> Given {
    given_with(Settings::default(), events)
}

/// [`given`], with the scheduler's `settings`.
pub fn given_with(settings: Settings, events: impl IntoIterator<Item = Event>) -> Given {
    let mut given = Given {
        state: ClusterState::new(settings),
        seq: 0,
        now: Timestamp(T0),
        actor: alice(),
    };
    given.apply(
        std::iter::once(Event::ClusterInitialised {
            cluster: "test".into(),
        })
        .chain(events),
    );
    given
}

impl Given {
    /// Applies more events at the current time.
    pub fn apply(&mut self, events: impl IntoIterator<Item = Event>) {
        for event in events {
            self.seq += 1;
            let id = EventId::from_parts(self.now.unsigned_millis(), [self.seq as u8; 10]);
            let pending = PendingEvent {
                id,
                actor: Actor::Scheduler,
                cause: None,
                event,
            };
            self.state.apply(&pending.commit(self.seq, self.now));
        }
    }

    /// Applies a decision's events at the current time, as if the journal committed them.
    pub fn commit(&mut self, decision: &Decision) {
        // As the journal does: each event keeps its id, actor and cause.
        for pending in &decision.events {
            self.seq += 1;
            self.state
                .apply(&pending.clone().commit(self.seq, self.now));
        }
    }

    /// The same cluster with the clock at `ms_after_t0` (later events and decisions see it).
    pub fn at(&self, ms_after_t0: i64) -> Self {
        let mut moved = self.clone();
        moved.now = Timestamp(T0 + ms_after_t0);
        moved
    }

    pub fn by(mut self, actor: Actor) -> Self {
        self.actor = actor;
        self
    }

    pub fn when(&self, command: Command) -> Then {
        let ctx = Ctx {
            now: self.now,
            actor: self.actor.clone(),
            seed: 42,
        };
        Then {
            result: decide(&self.state, &command, &ctx),
        }
    }
}

pub struct Then {
    pub result: Result<Decision, Rejection>,
}

impl Then {
    pub fn decision(self) -> Decision {
        match self.result {
            Ok(decision) => decision,
            Err(rejection) => panic!("expected a decision, got the rejection: {rejection}"),
        }
    }

    /// Asserts the exact list of events (facts only) and returns the decision.
    pub fn then_events(self, expected: Vec<Event>) -> Decision {
        let decision = self.decision();
        assert_eq!(decision.facts(), expected);
        decision
    }

    pub fn then_rejects(self, expected: Rejection) {
        match self.result {
            Ok(decision) => panic!("expected {expected}, got events {:#?}", decision.facts()),
            Err(rejection) => assert_eq!(rejection, expected),
        }
    }
}

/// The ids of the tasks a decision created, in order.
pub fn created_tasks(decision: &Decision) -> Vec<TaskId> {
    decision
        .events
        .iter()
        .filter_map(|e| match &e.event {
            Event::TaskCreated { task, .. } => Some(task.clone()),
            _ => None,
        })
        .collect()
}

pub fn hash(config: &TaskConfig) -> ConfigHash {
    config.hash()
}
