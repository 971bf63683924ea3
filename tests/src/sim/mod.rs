//! A deterministic simulator of a whole cluster: the pure scheduler core driven by a virtual
//! clock and hollow agents that accept launches and report STARTING, RUNNING and then
//! FINISHED/FAILED (by a seeded script), or KILLED when told to kill. The simulator plays the
//! runtime's part: it decides commands, commits the events to an in-memory journal, folds them
//! into the write model and into the read model (the projections, as the scheduler does),
//! carries out the effects, and checks every invariant after every commit and once more, over
//! everything, at the end of every simulated step.
//!
//! Everything is a function of the seed: the same scenario gives the same journal.

mod agents;
pub mod invariants;

use std::collections::BTreeMap;

use aurora_events::event::Attribute;
use aurora_events::{
    Actor, AgentId, Capacity, Envelope, Event, PendingEvent, ScheduleStatus, TaskConfig, TaskId,
    Timestamp,
};
use aurora_projections::{Folded, Views};
use aurora_scheduler_core::commands::{
    CreateJob, LoseAgent, RegisterAgent, Schedule, StatusUpdate, Tick,
};
use aurora_scheduler_core::scheduling::{Backoff, BackoffSettings};
use aurora_scheduler_core::{
    ClusterState, Command, Ctx, Decision, Effect, Rejection, Settings, decide,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use agents::Script;
use agents::{HollowAgent, Report};
use invariants::Observed;

/// Simulated milliseconds between two rounds of the runtime loop (deliver reports, tick,
/// schedule).
pub const STEP_MS: i64 = 1000;

/// The simulated cluster.
pub struct Sim {
    state: ClusterState,
    /// The read model, folded from the same envelopes right after the write model.
    views: Folded<Views>,
    journal: Vec<Envelope>,
    now: Timestamp,
    last_tick: Timestamp,
    rng: ChaCha8Rng,
    agents: BTreeMap<AgentId, HollowAgent>,
    /// Reports the agents will send, by due time then send order.
    reports: BTreeMap<(Timestamp, u64), Report>,
    report_counter: u64,
    /// How each job's tasks behave once running.
    scripts: BTreeMap<aurora_events::JobKey, Script>,
    /// Decisions made (for seeds and statistics).
    decisions: u64,
    /// The leader's backoff, when passes run as a leader runs them (budget, groups skipped);
    /// `None`: every pass tries everything.
    backoff: Option<Backoff>,
    /// PENDING tasks scheduling passes have tried, in all.
    tasks_tried: usize,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("now", &self.now)
            .field("events", &self.journal.len())
            .finish()
    }
}

/// Simulation start: 2026-01-01T00:00:00Z.
pub const START_MS: i64 = 1_767_225_600_000;

impl Sim {
    pub fn new(seed: u64) -> Self {
        let mut sim = Self {
            state: ClusterState::new(Settings::default()),
            views: Folded::new(Views::default()),
            journal: Vec::new(),
            now: Timestamp(START_MS),
            last_tick: Timestamp(START_MS),
            rng: ChaCha8Rng::seed_from_u64(seed),
            agents: BTreeMap::new(),
            reports: BTreeMap::new(),
            report_counter: 0,
            scripts: BTreeMap::new(),
            decisions: 0,
            backoff: None,
            tasks_tried: 0,
        };
        let init = PendingEvent::new(
            Actor::Scheduler,
            Event::ClusterInitialised {
                cluster: "sim".into(),
            },
        );
        sim.commit(vec![PendingEvent {
            id: aurora_events::EventId::from_parts(START_MS as u64, [0; 10]),
            ..init
        }]);
        sim
    }

    pub fn state(&self) -> &ClusterState {
        &self.state
    }

    /// From now on, runs scheduling passes as the leader does: each with the budget of
    /// `settings`, skipping the groups backing off.
    pub fn use_backoff(&mut self, settings: BackoffSettings) {
        self.backoff = Some(Backoff::new(settings));
    }

    pub fn backoff(&self) -> Option<&Backoff> {
        self.backoff.as_ref()
    }

    /// PENDING tasks the scheduling passes have tried so far, in all.
    pub fn tasks_tried(&self) -> usize {
        self.tasks_tried
    }

    pub fn views(&self) -> &Views {
        self.views.view()
    }

    pub fn journal(&self) -> &[Envelope] {
        &self.journal
    }

    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Registers `count` more agents `agent-<i>` on hosts `host-<i>` (numbered on from the
    /// agents already there) spread over `racks` racks.
    pub fn add_agents(&mut self, count: u32, racks: u32, capacity: &Capacity) {
        let first = self.agents.len() as u32;
        for i in first..first + count {
            let agent = AgentId(format!("agent-{i:04}"));
            let host = format!("host-{i:04}");
            let attributes = vec![
                Attribute {
                    name: "host".into(),
                    values: vec![host.clone()],
                },
                Attribute {
                    name: "rack".into(),
                    values: vec![format!("rack-{}", i % racks.max(1))],
                },
            ];
            self.submit(
                Actor::Agent(agent.clone()),
                Command::RegisterAgent(RegisterAgent {
                    agent: agent.clone(),
                    host: host.clone(),
                    capacity: capacity.clone(),
                    attributes,
                    endpoint: format!("http://{host}:1338"),
                }),
            )
            .expect("agent registration is valid");
            self.agents.insert(agent, HollowAgent::default());
        }
    }

    /// Creates a job whose tasks behave per `script`.
    pub fn create_job(
        &mut self,
        config: TaskConfig,
        instances: u32,
        script: Script,
    ) -> Result<Decision, Rejection> {
        let job = config.job.clone();
        self.scripts.insert(job.clone(), script);
        self.submit(
            Actor::User("alice".into()),
            Command::CreateJob(CreateJob {
                job,
                config: Box::new(config),
                instances,
            }),
        )
    }

    /// The agent stops answering: the runtime declares it lost; its reports are never sent.
    pub fn lose_agent(&mut self, agent: &AgentId) -> Result<Decision, Rejection> {
        if let Some(hollow) = self.agents.get_mut(agent) {
            hollow.alive = false;
        }
        self.reports.retain(|_, report| &report.agent != agent);
        self.submit(
            Actor::Scheduler,
            Command::LoseAgent(LoseAgent {
                agent: agent.clone(),
                reason: "missed heartbeats".into(),
            }),
        )
    }

    /// Decides `command` at the current time and, if accepted, commits and carries it out.
    pub fn submit(&mut self, actor: Actor, command: Command) -> Result<Decision, Rejection> {
        self.decisions += 1;
        let seed = self.rng.random::<u64>();
        let ctx = Ctx {
            now: self.now,
            actor,
            seed,
        };
        let decision = decide(&self.state, &command, &ctx)?;
        if !decision.events.is_empty() {
            self.commit(decision.events.clone());
        }
        for effect in &decision.effects {
            self.carry_out(effect);
        }
        Ok(decision)
    }

    fn commit(&mut self, events: Vec<PendingEvent>) {
        let first = self.journal.len();
        for pending in events {
            let envelope = pending.commit(self.journal.len() as u64 + 1, self.now);
            self.state.apply(&envelope);
            self.views.apply(&envelope);
            self.journal.push(envelope);
        }
        invariants::check_all(&Observed {
            state: &self.state,
            views: self.views.view(),
            recent: &self.journal[first..],
        });
    }

    /// Checks every invariant over everything, not only what the last commit touched.
    pub fn sweep(&self) {
        invariants::check_all(&Observed {
            state: &self.state,
            views: self.views.view(),
            recent: &[],
        });
    }

    fn carry_out(&mut self, effect: &Effect) {
        match effect {
            Effect::Launch { task, agent } => {
                let Some(script) = self.script_of(task) else {
                    return;
                };
                let alive = self.agents.get(agent).is_some_and(|a| a.alive);
                if !alive {
                    return;
                }
                let plan = script.plan(&mut self.rng);
                let mut at = self.now.0;
                for (delay, status, message) in plan {
                    at += delay;
                    self.schedule_report(Timestamp(at), agent, task, status, message);
                }
            }
            Effect::Kill { task, agent } => {
                if !self.agents.get(agent).is_some_and(|a| a.alive) {
                    return;
                }
                // Whatever the task was going to do, it now dies.
                self.reports.retain(|_, r| &r.task != task);
                let at = Timestamp(self.now.0 + 500);
                self.schedule_report(at, agent, task, ScheduleStatus::Killed, "killed".into());
            }
        }
    }

    fn script_of(&self, task: &TaskId) -> Option<Script> {
        let job = &self.state.task(task)?.job;
        Some(self.scripts.get(job).cloned().unwrap_or_default())
    }

    fn schedule_report(
        &mut self,
        at: Timestamp,
        agent: &AgentId,
        task: &TaskId,
        status: ScheduleStatus,
        message: String,
    ) {
        self.report_counter += 1;
        self.reports.insert(
            (at, self.report_counter),
            Report {
                agent: agent.clone(),
                task: task.clone(),
                status,
                message,
            },
        );
    }

    /// Runs the runtime loop for `ms` of simulated time: each step delivers the reports that
    /// fell due, ticks the timers and runs a scheduling pass.
    pub fn run_for(&mut self, ms: i64) {
        let end = self.now.0 + ms;
        while self.now.0 < end {
            self.now = Timestamp(self.now.0 + STEP_MS);
            let due: Vec<_> = self
                .reports
                .range(..=(self.now, u64::MAX))
                .map(|(k, _)| *k)
                .collect();
            for key in due {
                if let Some(report) = self.reports.remove(&key) {
                    let command = Command::StatusUpdate(StatusUpdate {
                        agent: report.agent.clone(),
                        task: report.task.clone(),
                        status: report.status,
                        message: Some(report.message.clone()),
                    });
                    // A report about a task the scheduler no longer tracks is answered with a
                    // kill effect, which is fine; a rejection here would be a simulator bug.
                    self.submit(Actor::Agent(report.agent), command)
                        .expect("status updates are accepted");
                }
            }
            let since = self.last_tick;
            self.submit(Actor::Scheduler, Command::Tick(Tick { since }))
                .expect("ticks are accepted");
            self.last_tick = self.now;
            let schedule = match &self.backoff {
                Some(backoff) => backoff.next_pass(self.now),
                None => Schedule::default(),
            };
            let pass = self
                .submit(Actor::Scheduler, Command::Schedule(schedule))
                .expect("scheduling passes are accepted");
            self.tasks_tried += pass.pass.work.tasks_tried;
            if let Some(backoff) = &mut self.backoff {
                backoff.after_pass(self.now, &pass.pass);
            }
            self.sweep();
        }
    }

    /// How many tasks are in each state.
    pub fn census(&self) -> BTreeMap<ScheduleStatus, usize> {
        let mut census = BTreeMap::new();
        for task in self.state.tasks() {
            *census.entry(task.status).or_default() += 1;
        }
        census
    }

    pub fn count(&self, status: ScheduleStatus) -> usize {
        self.state.tasks().filter(|t| t.status == status).count()
    }

    /// The digest of a state folded from this simulation's journal, from seq 1.
    pub fn replayed_digest(&self) -> [u8; 32] {
        let mut replayed = ClusterState::new(Settings::default());
        for envelope in &self.journal {
            replayed.apply(envelope);
        }
        replayed.digest()
    }

    pub fn decisions(&self) -> u64 {
        self.decisions
    }
}
