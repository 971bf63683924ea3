//! A deterministic simulator of a whole cluster: the pure scheduler core driven by a virtual
//! clock and hollow agents that accept launches and report STARTING, RUNNING and then
//! FINISHED/FAILED (by a seeded script), or KILLED when told to kill. The simulator plays the
//! runtime's part with the runtime's own leader step (`aurora_scheduler::leader::step`): it
//! batches status reports as the leader does, proposes (decides) commands, commits the events
//! to an in-memory journal, folds them into the write model and into the read model (the
//! projections, as the scheduler does), settles the outcomes into the leader's agents' outbox,
//! and has each live agent take its work from there, as a work poll would. The timers run as
//! the leader's [`Clockwork`] runs them. Every invariant is checked after every commit and
//! once more, over everything, at the end of every simulated step.
//!
//! Everything is a function of the seed: the same scenario gives the same journal.

mod agents;
pub mod invariants;

use std::collections::{BTreeMap, BTreeSet};

use aurora_events::event::{Attribute, CronCollisionPolicy};
use aurora_events::{
    Actor, AgentId, Capacity, ConfigHash, Envelope, Event, InstanceId, PendingEvent,
    ScheduleStatus, TaskConfig, TaskId, Timestamp,
};
use aurora_journal::SeqRange;
use aurora_projections::{Folded, Views};
use aurora_scheduler::leader::{
    Agents, BatchKeys, Clockwork, MAX_BATCH, joins_batch, propose, settle, updates_to_advance,
};
use aurora_scheduler_core::commands::{
    CreateJob, LoseAgent, RegisterAgent, ScheduleCronJob, StatusUpdate,
};
use aurora_scheduler_core::scheduling::{Backoff, BackoffSettings};
use aurora_scheduler_core::{ClusterState, Command, Decision, Rejection, Settings};
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
    rng: ChaCha8Rng,
    /// The leader's agents' outbox, which the effects go to and the agents take work from.
    desk: Agents,
    /// The leader's timer round, with the leader's budget and backoff.
    clockwork: Clockwork,
    agents: BTreeMap<AgentId, HollowAgent>,
    /// Reports the agents will send, by due time then send order.
    reports: BTreeMap<(Timestamp, u64), Report>,
    report_counter: u64,
    /// How each job's tasks behave once running.
    scripts: BTreeMap<aurora_events::JobKey, Script>,
    /// How the tasks of one config behave (of one instance, or of all when `None`), ahead of
    /// their job's script: an update's new config may behave differently.
    config_scripts: BTreeMap<(ConfigHash, Option<InstanceId>), Script>,
    /// How long a killed task takes to die.
    kill_delay_ms: i64,
    /// Decisions made (for seeds and statistics).
    decisions: u64,
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
            rng: ChaCha8Rng::seed_from_u64(seed),
            desk: Agents::new(std::time::Instant::now()),
            clockwork: Clockwork::new(BackoffSettings::default(), Timestamp(START_MS)),
            agents: BTreeMap::new(),
            reports: BTreeMap::new(),
            report_counter: 0,
            scripts: BTreeMap::new(),
            config_scripts: BTreeMap::new(),
            kill_delay_ms: 500,
            decisions: 0,
            tasks_tried: 0,
        };
        let init = PendingEvent::new(
            Actor::Scheduler,
            Event::ClusterInitialised {
                cluster: "sim".into(),
            },
        );
        sim.commit(
            Timestamp(START_MS),
            vec![PendingEvent {
                id: aurora_events::EventId::from_parts(START_MS as u64, [0; 10]),
                ..init
            }],
        );
        sim
    }

    pub fn state(&self) -> &ClusterState {
        &self.state
    }

    /// From now on, runs scheduling passes with the budget and backoff of `settings` (by
    /// default, the leader's: [`BackoffSettings::default`]).
    pub fn use_backoff(&mut self, settings: BackoffSettings) {
        self.clockwork = Clockwork::new(settings, self.now);
    }

    /// The leader's backoff: the groups of PENDING tasks it is holding back.
    pub fn backoff(&self) -> &Backoff {
        self.clockwork.backoff()
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
                    running: Default::default(),
                    principal: None,
                }),
            )
            .expect("agent registration is valid");
            // As the API's register handler notes it: the passes place on it from now on.
            self.desk.note_registration(&agent);
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

    /// Schedules `config`'s job as a cron job of `instances` tasks behaving per `script`.
    pub fn schedule_cron(
        &mut self,
        config: TaskConfig,
        instances: u32,
        schedule: &str,
        collision_policy: CronCollisionPolicy,
        script: Script,
    ) -> Result<Decision, Rejection> {
        let job = config.job.clone();
        self.scripts.insert(job.clone(), script);
        self.submit(
            Actor::User("alice".into()),
            Command::ScheduleCronJob(ScheduleCronJob {
                job,
                config: Box::new(config),
                instances,
                schedule: schedule.into(),
                collision_policy,
            }),
        )
    }

    /// From now on, killed tasks take `ms` to die (500 ms by default).
    pub fn set_kill_delay(&mut self, ms: i64) {
        self.kill_delay_ms = ms;
    }

    /// The leader process restarts (or another takes over): its write model is folded again
    /// from the journal and its clockwork (timers, backoff, when it began leading) starts
    /// afresh, as of now. Agents and their tasks carry on. (The agents' desk is kept: between
    /// steps it holds nothing, as every agent has taken its work.)
    pub fn restart_leader(&mut self) {
        let mut state = ClusterState::new(self.state.settings().clone());
        for envelope in &self.journal {
            state.apply(envelope);
        }
        self.state = state;
        let settings = *self.clockwork.backoff().settings();
        self.clockwork = Clockwork::new(settings, self.now);
    }

    /// Tasks of `config` (only of `instance`, if given) behave per `script` from their next
    /// launch on, whatever their job's script says.
    pub fn script_config(
        &mut self,
        config: ConfigHash,
        instance: Option<InstanceId>,
        script: Script,
    ) {
        self.config_scripts.insert((config, instance), script);
    }

    /// The agent stops answering: the runtime declares it lost; its reports are never sent.
    pub fn lose_agent(&mut self, agent: &AgentId) -> Result<Decision, Rejection> {
        let running: BTreeSet<TaskId> = self
            .state
            .tasks_on_agent(agent)
            .filter(|t| t.status == ScheduleStatus::Running)
            .map(|t| t.id.clone())
            .collect();
        if let Some(hollow) = self.agents.get_mut(agent) {
            hollow.alive = false;
            hollow.running_when_lost = running;
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

    /// A lost agent answers again: it registers anew, reporting the tasks it was running when
    /// it went silent (their scripts' remaining reports are gone: they run on).
    pub fn revive_agent(&mut self, agent: &AgentId) -> Result<Decision, Rejection> {
        let record = self
            .state
            .agent(agent)
            .expect("only a known agent comes back")
            .clone();
        let running = self
            .agents
            .get_mut(agent)
            .map(|hollow| {
                hollow.alive = true;
                std::mem::take(&mut hollow.running_when_lost)
            })
            .unwrap_or_default();
        self.submit(
            Actor::Agent(agent.clone()),
            Command::RegisterAgent(RegisterAgent {
                agent: agent.clone(),
                host: record.host,
                capacity: record.capacity,
                attributes: record.attributes,
                endpoint: record.endpoint,
                running,
                principal: None,
            }),
        )
    }

    /// Decides `command` at the current time and, if accepted, commits and carries it out.
    pub fn submit(&mut self, actor: Actor, command: Command) -> Result<Decision, Rejection> {
        let mut outcomes = self.step(&[(actor, command)]);
        outcomes
            .pop()
            .expect("one outcome per command")
            .map(|outcome| outcome.decision)
    }

    /// The leader's step for a batch of commands: propose, commit, settle; then every live
    /// agent takes the work queued for it.
    fn step(
        &mut self,
        batch: &[(Actor, Command)],
    ) -> Vec<Result<aurora_scheduler::leader::Outcome, Rejection>> {
        self.decisions += batch.len() as u64;
        let seeded: Vec<(&Actor, &Command, u64)> = batch
            .iter()
            .map(|(actor, command)| (actor, command, self.rng.random::<u64>()))
            .collect();
        let last_at = self.journal.last().map(|e| e.at).unwrap_or_default();
        let proposal = propose(&self.state, last_at, self.now, seeded);
        let events = proposal.events();
        let committed = (!events.is_empty()).then(|| self.commit(proposal.at, events));
        let outcomes = settle(&self.desk, proposal, committed);
        self.take_work();
        // As the leader does: the update controller's turn for the jobs the step touched.
        let follow_up = updates_to_advance(
            &self.state,
            batch.iter().map(|(_, command)| command),
            outcomes
                .iter()
                .filter_map(|outcome| outcome.as_ref().ok())
                .map(|outcome| &outcome.decision),
        );
        if let Some(advance) = follow_up {
            for outcome in self.step(&[(Actor::Scheduler, advance.into())]) {
                outcome.expect("the update controller's turns are accepted");
            }
        }
        outcomes
    }

    fn commit(&mut self, at: Timestamp, events: Vec<PendingEvent>) -> SeqRange {
        let first = self.journal.len();
        for pending in events {
            let envelope = pending.commit(self.journal.len() as u64 + 1, at);
            self.state.apply(&envelope);
            self.views.apply(&envelope);
            self.journal.push(envelope);
        }
        invariants::check_all(&Observed {
            state: &self.state,
            views: self.views.view(),
            recent: &self.journal[first..],
        });
        SeqRange::new(first as u64 + 1, self.journal.len() as u64)
    }

    /// Checks every invariant over everything, not only what the last commit touched.
    pub fn sweep(&self) {
        invariants::check_all(&Observed {
            state: &self.state,
            views: self.views.view(),
            recent: &[],
        });
    }

    /// Every live agent takes the work the leader queued for it (kills first, as the agent
    /// does); a lost agent never asks, so its work stays queued.
    fn take_work(&mut self) {
        let live: Vec<AgentId> = self
            .agents
            .iter()
            .filter(|(_, agent)| agent.alive)
            .map(|(id, _)| id.clone())
            .collect();
        for agent in live {
            let work = self.desk.take_queued(&agent);
            for task in &work.kill {
                self.kill(&agent, task);
            }
            for task in &work.launch {
                self.launch(&agent, task);
            }
        }
    }

    fn launch(&mut self, agent: &AgentId, task: &TaskId) {
        let Some(script) = self.script_of(task) else {
            return;
        };
        let plan = script.plan(&mut self.rng);
        let mut at = self.now.0;
        for (delay, status, message) in plan {
            at += delay;
            self.schedule_report(Timestamp(at), agent, task, status, message);
        }
    }

    fn kill(&mut self, agent: &AgentId, task: &TaskId) {
        // A task already dying dies when it was going to: the scheduler's kill retries do not
        // put its death off.
        if self
            .reports
            .values()
            .any(|r| &r.task == task && r.status == ScheduleStatus::Killed)
        {
            return;
        }
        // Whatever the task was going to do, it now dies.
        self.reports.retain(|_, r| &r.task != task);
        let at = Timestamp(self.now.0 + self.kill_delay_ms);
        self.schedule_report(at, agent, task, ScheduleStatus::Killed, "killed".into());
    }

    fn script_of(&self, task: &TaskId) -> Option<Script> {
        let task = self.state.task(task)?;
        let by_config = self
            .config_scripts
            .get(&(task.config, Some(task.instance)))
            .or_else(|| self.config_scripts.get(&(task.config, None)));
        Some(
            by_config
                .or_else(|| self.scripts.get(&*task.job))
                .cloned()
                .unwrap_or_default(),
        )
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
    /// fell due (batched as the leader batches them), then runs the leader's timer round: a
    /// tick and the scheduling passes.
    pub fn run_for(&mut self, ms: i64) {
        let end = self.now.0 + ms;
        while self.now.0 < end {
            self.now = Timestamp(self.now.0 + STEP_MS);
            let due: Vec<_> = self
                .reports
                .range(..=(self.now, u64::MAX))
                .map(|(k, _)| *k)
                .collect();
            let reports: Vec<(Actor, Command)> = due
                .into_iter()
                .filter_map(|key| self.reports.remove(&key))
                .map(|report| {
                    let command = Command::StatusUpdate(StatusUpdate {
                        agent: report.agent.clone(),
                        task: report.task.clone(),
                        status: report.status,
                        message: Some(report.message.clone()),
                    });
                    (Actor::Agent(report.agent), command)
                })
                .collect();
            for batch in batches(reports) {
                for outcome in self.step(&batch) {
                    // A report about a task the scheduler no longer tracks is answered with a
                    // kill effect, which is fine; a rejection here would be a simulator bug.
                    outcome.expect("status updates are accepted");
                }
            }
            let tick = self.clockwork.tick(self.now);
            self.submit(Actor::Scheduler, tick)
                .expect("ticks are accepted");
            let cron = self.clockwork.cron_round();
            self.submit(Actor::Scheduler, cron)
                .expect("cron rounds are accepted");
            let advance = self.clockwork.advance_updates();
            self.submit(Actor::Scheduler, advance)
                .expect("the update controller's turns are accepted");
            for passes in 1.. {
                let unregistered = self.desk.unregistered(
                    self.state
                        .agents()
                        .iter()
                        .filter(|(_, agent)| !agent.lost)
                        .map(|(id, _)| id),
                );
                let pass = self.clockwork.pass(self.now, unregistered);
                let decision = self
                    .submit(Actor::Scheduler, pass)
                    .expect("scheduling passes are accepted");
                self.tasks_tried += decision.pass.work.tasks_tried;
                if !self.clockwork.pass_done(self.now, &decision.pass, passes) {
                    break;
                }
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

/// Splits commands, in order, into the batches the leader would decide together.
fn batches(commands: Vec<(Actor, Command)>) -> Vec<Vec<(Actor, Command)>> {
    let mut batches: Vec<Vec<(Actor, Command)>> = Vec::new();
    let mut keys = BatchKeys::default();
    // Whether the last batch takes more (it started with a command that batches, and has
    // room).
    let mut open = false;
    for (actor, command) in commands {
        let full = batches.last().is_none_or(|b| b.len() >= MAX_BATCH);
        if !open || full || !joins_batch(&mut keys, &command) {
            keys.clear();
            open = joins_batch(&mut keys, &command);
            batches.push(Vec::new());
        }
        if let Some(batch) = batches.last_mut() {
            batch.push((actor, command));
        }
    }
    batches
}
