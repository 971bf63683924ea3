//! Leadership as a value. A [`Leader`] holds everything only the leader has — the command
//! queue and the loop that decides, the timers and scheduling passes, the agents' outbox,
//! heartbeats and registrations — and is dropped on step-down, which stops its tasks. A
//! follower has none of it. One process without peers is simply always the leader.
//!
//! The leader loop takes one command at a time (or a batch of status reports about distinct
//! tasks, or of registrations of distinct agents on distinct hosts, which are independent and
//! share one append):
//!
//! ```text
//!  command ──► decide on the applied write model, at max(clock, last commit time)
//!          ──► journal.append(precondition: this term, after the seq decided on)
//!                 NotLeader ──► step down        Conflict ──► catch up, decide again (bounded)
//!          ──► wait until the apply loop has applied the new seqs (read-your-writes)
//!          ──► effects (launch, kill) to the agents' outbox ──► answer the caller
//! ```

pub mod agents;
pub mod coordinators;
pub mod step;
mod timers;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aurora_events::Actor;
use aurora_journal::{Append, Clock, Precondition, Term};
use aurora_scheduler_core::commands::AdvanceUpdates;
use aurora_scheduler_core::{Command, Decision, Rejection};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::replica::{ApplyError, Replica};

pub use agents::{AgentWork, Agents};
pub use coordinators::CoordinatorSettings;
pub use step::{
    BatchKeys, Clockwork, MAX_BATCH, Outcome, Proposal, joins_batch, propose, settle,
    updates_to_advance,
};
pub use timers::LOOP_INTERVAL;

/// How many times a command is decided again when the journal moved on under it.
const MAX_ATTEMPTS: usize = 3;

/// How long a caller waits for its committed events to be applied before it is told so.
pub const APPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a submitted command did not take effect.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Rejected(#[from] Rejection),
    #[error("journal: {0}")]
    Journal(#[from] aurora_journal::Error),
    #[error("this scheduler is not the leader{}", leader.as_deref().map(|l| format!("; the leader is {l}")).unwrap_or_default())]
    NotLeader { leader: Option<String> },
    #[error(transparent)]
    NotApplied(#[from] ApplyError),
    #[error("the scheduler is shutting down")]
    ShuttingDown,
}

pub(crate) struct Job {
    pub actor: Actor,
    pub command: Command,
    pub reply: oneshot::Sender<Result<Outcome, SubmitError>>,
}

/// Aborts a task when dropped: the leader's tasks end with the leader.
#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The leader's state. Dropping it stops the leader loop and the timers, and answers every
/// agent's waiting work poll.
#[derive(Debug)]
pub struct Leader {
    term: Term,
    queue: mpsc::Sender<Job>,
    agents: Arc<Agents>,
    _tasks: Vec<AbortOnDrop>,
}

impl Drop for Leader {
    fn drop(&mut self) {
        self.agents.close();
    }
}

/// What the leader's tasks share with the process around them.
#[derive(Clone)]
pub(crate) struct Context {
    pub replica: Arc<Replica>,
    pub clock: Arc<dyn Clock>,
    pub agent_timeout: Duration,
    /// The JetStream mirror, run while leading.
    pub mirror: Option<crate::mirror::Mirror>,
    /// How SLA coordinators are asked.
    pub coordinators: CoordinatorSettings,
    /// Called (once) when the journal says another leader took over.
    pub step_down: Arc<dyn Fn(Term) + Send + Sync>,
}

impl Leader {
    /// Starts leading under `term`: the leader loop and the timers.
    pub(crate) fn start(term: Term, context: Context) -> Self {
        let (queue, jobs) = mpsc::channel(1024);
        let agents = Arc::new(Agents::new(Instant::now()));
        let lead = tokio::spawn(lead(term, context.clone(), Arc::clone(&agents), jobs));
        let mirror = context
            .mirror
            .as_ref()
            .map(|mirror| AbortOnDrop(mirror.spawn(Arc::clone(context.replica.journal()))));
        let asker = tokio::spawn(coordinators::run(
            Arc::clone(agents.coordinator_asks()),
            queue.clone(),
            context.coordinators.clone(),
        ));
        let timers = tokio::spawn(timers::run(context, queue.clone(), Arc::clone(&agents)));
        tracing::info!(term, "leading");
        let mut tasks = vec![AbortOnDrop(lead), AbortOnDrop(timers), AbortOnDrop(asker)];
        tasks.extend(mirror);
        Self {
            term,
            queue,
            agents,
            _tasks: tasks,
        }
    }

    pub fn term(&self) -> Term {
        self.term
    }

    pub fn agents(&self) -> &Arc<Agents> {
        &self.agents
    }

    pub(crate) fn queue(&self) -> mpsc::Sender<Job> {
        self.queue.clone()
    }
}

/// Submits `command` through `queue` and waits for its outcome.
pub(crate) async fn submit(
    queue: &mpsc::Sender<Job>,
    actor: Actor,
    command: Command,
) -> Result<Outcome, SubmitError> {
    let (reply, answer) = oneshot::channel();
    let job = Job {
        actor,
        command,
        reply,
    };
    // A closed queue means the leader stepped down (or the process is stopping) meanwhile.
    let gone = || SubmitError::NotLeader { leader: None };
    queue.send(job).await.map_err(|_| gone())?;
    answer.await.map_err(|_| gone())?
}

/// Submits `commands` through `queue`, all queued before any is waited for (so that the
/// leader may decide them together), and waits for each outcome, in order.
pub(crate) async fn submit_all(
    queue: &mpsc::Sender<Job>,
    actor: Actor,
    commands: Vec<Command>,
) -> Vec<Result<Outcome, SubmitError>> {
    let gone = || SubmitError::NotLeader { leader: None };
    let mut answers = Vec::with_capacity(commands.len());
    for command in commands {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            actor: actor.clone(),
            command,
            reply,
        };
        // A closed queue means the leader stepped down (or the process is stopping).
        answers.push(match queue.send(job).await {
            Ok(()) => Some(answer),
            Err(_) => None,
        });
    }
    let mut outcomes = Vec::with_capacity(answers.len());
    for answer in answers {
        outcomes.push(match answer {
            Some(answer) => answer.await.unwrap_or_else(|_| Err(gone())),
            None => Err(gone()),
        });
    }
    outcomes
}

async fn lead(term: Term, context: Context, agents: Arc<Agents>, mut jobs: mpsc::Receiver<Job>) {
    let mut held: Option<Job> = None;
    let mut controller = ControllerTurn::default();
    loop {
        if controller.is_due(tokio::time::Instant::now()) {
            if !controller.take(term, &context, &agents).await {
                return;
            }
            continue;
        }
        let first = match held.take() {
            Some(job) => job,
            None => match controller.due {
                Some(due) => match tokio::time::timeout_at(due, jobs.recv()).await {
                    Ok(Some(job)) => job,
                    Ok(None) => return,
                    Err(_) => continue,
                },
                None => match jobs.recv().await {
                    Some(job) => job,
                    None => return,
                },
            },
        };
        let (batch, next) = batch_from(first, &mut jobs);
        held = next;
        let stepping = Instant::now();
        let results = step(term, &context, &agents, &batch).await;
        // One sample per step (a batch is one step): the sum is the leader's time.
        metrics::histogram!("aurora_leader_step_seconds", "command" => command_name(&batch[0].command))
            .record(stepping.elapsed().as_secs_f64());
        if let Some(advance) = updates_to_advance(
            &context.replica.state(),
            batch.iter().map(|job| &job.command),
            results
                .iter()
                .filter_map(|result| result.as_ref().ok())
                .map(|outcome| &outcome.decision),
        ) {
            controller.wanted(advance, tokio::time::Instant::now());
        }
        // Step down before answering: whoever hears NOT_LEADER finds this process a follower
        // already (it answered first, and a caller could still see it leading).
        let deposed = results
            .iter()
            .any(|result| matches!(result, Err(SubmitError::NotLeader { .. })));
        if deposed {
            (context.step_down)(term);
        }
        for (job, result) in batch.into_iter().zip(results) {
            let _ = job.reply.send(result);
        }
        if deposed {
            return;
        }
    }
}

/// How long the update controller's turn waits after the first step that asked for it, so that
/// the steps of that moment (the status reports of a batch of instances trickling in) are taken
/// in one turn and one append, rather than one each: an fsync per report would be most of the
/// leader's time during an update.
const CONTROLLER_DELAY: Duration = Duration::from_millis(20);

/// The update controller's next turn, for the jobs steps touched since the last one.
#[derive(Debug, Default)]
struct ControllerTurn {
    jobs: BTreeSet<aurora_events::JobKey>,
    due: Option<tokio::time::Instant>,
}

impl ControllerTurn {
    fn wanted(&mut self, advance: AdvanceUpdates, now: tokio::time::Instant) {
        self.jobs.extend(advance.jobs.into_iter().flatten());
        self.due.get_or_insert(now + CONTROLLER_DELAY);
    }

    fn is_due(&self, now: tokio::time::Instant) -> bool {
        self.due.is_some_and(|due| due <= now)
    }

    /// Decides the turn, ahead of the queue (nobody waits for its answer); false when this
    /// leader was deposed meanwhile (it has stepped down).
    async fn take(&mut self, term: Term, context: &Context, agents: &Agents) -> bool {
        self.due = None;
        let jobs = std::mem::take(&mut self.jobs);
        let (reply, _) = oneshot::channel();
        let job = Job {
            actor: Actor::Scheduler,
            command: AdvanceUpdates { jobs: Some(jobs) }.into(),
            reply,
        };
        let results = step(term, context, agents, std::slice::from_ref(&job)).await;
        if results
            .iter()
            .any(|result| matches!(result, Err(SubmitError::NotLeader { .. })))
        {
            (context.step_down)(term);
            return false;
        }
        true
    }
}

/// The commands to decide together: a status report, with every status report already queued
/// behind it about another task, or a registration with every registration queued behind it
/// of another agent on another host (up to [`MAX_BATCH`], see [`joins_batch`]); anything else
/// alone. (Agents send the reports they have queued in one request, which queues them
/// together here; after a leader change every agent registers at once.) Each batch is decided
/// against one state and committed with one append (one fsync) instead of one each. Returns
/// the batch and the job that ended it, if any.
fn batch_from(first: Job, jobs: &mut mpsc::Receiver<Job>) -> (Vec<Job>, Option<Job>) {
    let mut keys = BatchKeys::default();
    if !joins_batch(&mut keys, &first.command) {
        return (vec![first], None);
    }
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        let Ok(next) = jobs.try_recv() else {
            break;
        };
        if !joins_batch(&mut keys, &next.command) {
            return (batch, Some(next));
        }
        batch.push(next);
    }
    (batch, None)
}

/// A batch of commands, decided, committed (one append), applied and carried out; one result
/// per command, in order.
async fn step(
    term: Term,
    context: &Context,
    agents: &Agents,
    batch: &[Job],
) -> Vec<Result<Outcome, SubmitError>> {
    let replica = &context.replica;
    let journal = replica.journal();
    let every = |error: SubmitError| batch.iter().map(|_| Err(error.clone())).collect();
    for _ in 0..MAX_ATTEMPTS {
        if let Some(fault) = replica.progress().fault {
            return every(ApplyError::Faulted(fault).into());
        }
        // A newer term means another leader: stop before deciding, not only when an append
        // is refused (a command that decides nothing would never find out).
        let current = journal.term();
        if current != term {
            tracing::warn!(term, current, "another leader took over; stepping down");
            return every(SubmitError::NotLeader { leader: None });
        }
        let proposal = {
            let state = replica.state();
            let deciding = Instant::now();
            let proposal = propose(
                &state,
                replica.last_applied_at(),
                context.clock.now(),
                batch
                    .iter()
                    .map(|job| (&job.actor, &job.command, rand::random())),
            );
            let each = deciding.elapsed() / batch.len().max(1) as u32;
            for (job, decision) in batch.iter().zip(&proposal.decisions) {
                if let Ok(decision) = decision {
                    record_metrics(&job.command, decision, each);
                }
            }
            proposal
        };
        let events = proposal.events();
        let committed = if events.is_empty() {
            None
        } else {
            let appending = Instant::now();
            let after = proposal.after;
            let append = Append::new(Precondition::follows(term, after), proposal.at, events);
            match journal.append(append).await {
                Ok(range) => {
                    metrics::histogram!("aurora_journal_append_seconds")
                        .record(appending.elapsed().as_secs_f64());
                    if let Err(e) = replica.wait_applied(range.last, APPLY_TIMEOUT).await {
                        return every(e.into());
                    }
                    Some(range)
                }
                Err(aurora_journal::Error::Conflict { last, .. }) => {
                    // Someone else wrote since we decided (a stale state): catch up, decide
                    // again.
                    tracing::warn!(after, last, "the journal moved on; deciding again");
                    if let Err(e) = replica.wait_applied(last, APPLY_TIMEOUT).await {
                        return every(e.into());
                    }
                    continue;
                }
                Err(aurora_journal::Error::NotLeader { current, .. }) => {
                    tracing::warn!(term, current, "another leader took over; stepping down");
                    return every(SubmitError::NotLeader { leader: None });
                }
                Err(other) => {
                    // A full disk, a damaged journal, a lost quorum: every write fails until
                    // it is fixed, while /health stays up. Counted, so that monitoring sees it.
                    metrics::counter!("aurora_journal_append_failures_total").increment(1);
                    return every(other.into());
                }
            }
        };
        return settle(agents, proposal, committed)
            .into_iter()
            .map(|outcome| outcome.map_err(SubmitError::from))
            .collect();
    }
    every(
        aurora_journal::Error::Conflict {
            after: replica.state().last_seq(),
            last: journal.last_seq(),
        }
        .into(),
    )
}

/// The name a command's leader time is recorded under (`/metrics`).
pub fn command_name(command: &Command) -> &'static str {
    match command {
        Command::CreateJob(_) => "create_job",
        Command::AddInstances(_) => "add_instances",
        Command::KillTasks(_) => "kill_tasks",
        Command::RestartInstances(_) => "restart_instances",
        Command::SetQuota(_) => "set_quota",
        Command::RegisterAgent(_) => "register_agent",
        Command::UpdateHostAttributes(_) => "update_host_attributes",
        Command::LoseAgent(_) => "lose_agent",
        Command::StatusUpdate(_) => "status_update",
        Command::StartMaintenance(_) => "start_maintenance",
        Command::DrainHosts(_) => "drain_hosts",
        Command::EndMaintenance(_) => "end_maintenance",
        Command::ForceTaskState(_) => "force_task_state",
        Command::PruneTasks(_) => "prune_tasks",
        Command::Tick(_) => "tick",
        Command::Schedule(_) => "schedule",
        Command::StartUpdate(_) => "start_update",
        Command::RollingRestart(_) => "rolling_restart",
        Command::SteerUpdate(_) => "steer_update",
        Command::PulseUpdate(_) => "pulse_update",
        Command::AdvanceUpdates(_) => "advance_updates",
        Command::ScheduleCronJob(_) => "schedule_cron_job",
        Command::DescheduleCronJob(_) => "deschedule_cron_job",
        Command::StartCronJob(_) => "start_cron_job",
        Command::CronRound(_) => "cron_round",
        Command::SlaDrainHosts(_) => "sla_drain_hosts",
        Command::CoordinatorAllowed(_) => "coordinator_allowed",
        Command::UnbindAgent(_) => "unbind_agent",
    }
}

/// Counts what a decision did and how long deciding took, for `/metrics` (no-ops when no
/// recorder is installed).
fn record_metrics(command: &Command, decision: &Decision, deciding: Duration) {
    use aurora_events::Event;
    metrics::histogram!("aurora_leader_decide_seconds", "command" => command_name(command))
        .record(deciding.as_secs_f64());
    if matches!(command, Command::Schedule(_)) {
        metrics::counter!("aurora_schedule_attempts_total").increment(1);
    }
    for pending in &decision.events {
        if matches!(pending.event, Event::AgentLost { .. }) {
            metrics::counter!("aurora_agents_lost_total").increment(1);
        }
        if matches!(pending.event, Event::TaskAssigned { .. }) {
            metrics::counter!("aurora_tasks_placed_total").increment(1);
        }
        if let Event::TaskStateChanged {
            message: Some(message),
            ..
        } = &pending.event
            && message == "Task timed out"
        {
            metrics::counter!("aurora_timed_out_tasks_total").increment(1);
        }
    }
    if !decision.illegal.is_empty() {
        metrics::counter!("aurora_illegal_task_state_transitions_total")
            .increment(decision.illegal.len() as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aurora_events::{AgentId, ScheduleStatus, TaskId, Timestamp};
    use aurora_journal::SeqRange;
    use aurora_scheduler_core::commands::{StatusUpdate, Tick};

    fn job(command: Command) -> Job {
        let (reply, _) = oneshot::channel();
        Job {
            actor: Actor::Scheduler,
            command,
            reply,
        }
    }

    fn report(task: &str) -> Job {
        job(Command::StatusUpdate(StatusUpdate {
            agent: AgentId("a1".into()),
            task: TaskId::from_raw(task),
            status: ScheduleStatus::Running,
            message: None,
        }))
    }

    fn registration(agent: &str, host: &str) -> Job {
        job(Command::RegisterAgent(
            aurora_scheduler_core::commands::RegisterAgent {
                agent: AgentId(agent.into()),
                host: host.into(),
                capacity: Default::default(),
                attributes: vec![],
                endpoint: String::new(),
                running: Default::default(),
                principal: None,
            },
        ))
    }

    fn tasks(batch: &[Job]) -> Vec<String> {
        batch
            .iter()
            .map(|job| match &job.command {
                Command::StatusUpdate(report) => report.task.to_string(),
                Command::RegisterAgent(r) => format!("{}@{}", r.agent, r.host),
                other => command_name(other).to_string(),
            })
            .collect()
    }

    /// A leading runtime on a memory journal with `agents` registered (agent `aN` on host
    /// `hN`, each with room for `per_agent` tasks of the sample config) and a job of
    /// `instances` of it scheduled; its assigned tasks; and the leader loop's context.
    async fn scheduled(
        agents: usize,
        per_agent: f64,
        instances: u32,
    ) -> (crate::runtime::Runtime, Vec<TaskId>, Context) {
        use aurora_events::{Capacity, Tier};
        use aurora_journal::{Clock, MemoryJournal, SystemClock};
        use aurora_scheduler_core::commands::{CreateJob, RegisterAgent, Schedule};

        use crate::runtime::{Runtime, RuntimeConfig, StartAs};

        let journal = MemoryJournal::new_initialised("test", SystemClock.now());
        let runtime = Runtime::start(RuntimeConfig {
            journal: Arc::new(journal.clone()),
            checkpoints: Arc::new(journal),
            clock: Arc::new(SystemClock),
            settings: Default::default(),
            agent_timeout: Duration::from_secs(60),
            start_as: StartAs::Leader,
            mirror: None,
            coordinators: Default::default(),
        })
        .await
        .expect("start");
        let user = Actor::User("alice".into());
        let mut config = aurora_events::samples::task_config();
        for n in 1..=agents {
            let register = RegisterAgent {
                agent: AgentId(format!("a{n}")),
                host: format!("h{n}"),
                capacity: Capacity {
                    cpus: config.resources.cpus * per_agent,
                    ram_mb: 65_536,
                    disk_mb: 1_000_000,
                    gpus: 0,
                    port_ranges: vec![(31000, 32000)],
                },
                attributes: vec![],
                endpoint: String::new(),
                running: Default::default(),
                principal: None,
            };
            runtime
                .submit(user.clone(), register.into())
                .await
                .expect("register");
        }
        config.sla_policy = None;
        config.tier = Tier::Preemptible;
        config.constraints.clear();
        config.resources.ports.clear();
        let create = CreateJob {
            job: config.job.clone(),
            config: Box::new(config),
            instances,
        };
        runtime.submit(user, create.into()).await.expect("create");
        runtime
            .submit(Actor::Scheduler, Schedule::default().into())
            .await
            .expect("schedule");
        let assigned: Vec<TaskId> = runtime
            .state()
            .tasks()
            .filter(|t| t.status == ScheduleStatus::Assigned)
            .map(|t| t.id.clone())
            .collect();
        assert_eq!(assigned.len(), instances as usize);
        let context = Context {
            replica: Arc::clone(runtime.replica()),
            clock: Arc::new(aurora_journal::SystemClock),
            agent_timeout: Duration::from_secs(60),
            mirror: None,
            coordinators: CoordinatorSettings::default(),
            step_down: Arc::new(|_| {}),
        };
        (runtime, assigned, context)
    }

    /// A batch of reports shares one append, and each report's outcome names its own events.
    #[tokio::test]
    async fn a_batch_commits_once_and_each_outcome_names_its_own_seqs() {
        use aurora_events::Event;

        let (runtime, assigned, context) = scheduled(1, 8.0, 3).await;
        let agents = Agents::new(Instant::now());
        let batch: Vec<Job> = assigned.iter().map(|t| report(t.as_str())).collect();
        let before = runtime.journal().last_seq();
        let term = runtime.term().expect("leads");
        let outcomes = step(term, &context, &agents, &batch).await;
        let ranges: Vec<SeqRange> = outcomes
            .iter()
            .map(|o| o.as_ref().expect("accepted").committed.expect("committed"))
            .collect();
        assert_eq!(ranges.len(), 3);
        assert_eq!(
            ranges[0].first,
            before + 1,
            "one append, right after the last"
        );
        for pair in ranges.windows(2) {
            assert_eq!(pair[1].first, pair[0].last + 1, "consecutive: {ranges:?}");
        }
        for (task, range) in assigned.iter().zip(&ranges) {
            let events = runtime.journal().read(*range).await.expect("read");
            assert!(
                events.iter().all(|e| matches!(&e.event,
                    Event::TaskStateChanged { task: changed, .. } if changed == task)),
                "{range:?} holds only {task}'s events: {events:?}"
            );
        }
    }

    /// Agents re-registering together after a leader change: one batch, and each agent's
    /// registration reconciles its own tasks only (a task it no longer runs is LOST).
    #[tokio::test]
    async fn a_batch_of_registrations_reconciles_each_agent() {
        use aurora_events::Event;
        use aurora_scheduler_core::commands::NOT_FOUND_ON_AGENT;

        // Two agents with room for one task each, one task on each.
        let (runtime, assigned, context) = scheduled(2, 1.5, 2).await;
        let (on_a1, on_a2) = {
            let state = runtime.state();
            let on = |agent: &str| -> TaskId {
                state
                    .tasks()
                    .find(|t| t.assignment.as_ref().is_some_and(|a| a.agent.0 == agent))
                    .map(|t| t.id.clone())
                    .expect("a task on the agent")
            };
            (on("a1"), on("a2"))
        };
        assert!(assigned.contains(&on_a1) && assigned.contains(&on_a2));
        // a1 comes back without its task, a2 still runs its own, a3 is new.
        let mut a2 = registration("a2", "h2");
        if let Command::RegisterAgent(r) = &mut a2.command {
            r.running.insert(on_a2.clone());
        }
        let batch = vec![registration("a1", "h1"), a2, registration("a3", "h3")];
        let mut keys = BatchKeys::default();
        assert!(batch.iter().all(|job| joins_batch(&mut keys, &job.command)));
        let term = runtime.term().expect("leads");
        let before = runtime.journal().last_seq();
        let outcomes = step(term, &context, &Agents::new(Instant::now()), &batch).await;
        let ranges: Vec<SeqRange> = outcomes
            .iter()
            .map(|o| o.as_ref().expect("accepted").committed.expect("committed"))
            .collect();
        assert_eq!(ranges[0].first, before + 1);
        let events = |range: SeqRange| {
            let journal = runtime.journal();
            async move { journal.read(range).await.expect("read") }
        };
        let first = events(ranges[0]).await;
        assert!(
            first.iter().any(|e| matches!(&e.event,
                Event::TaskStateChanged { task, to: ScheduleStatus::Lost, message: Some(m), .. }
                    if *task == on_a1 && m == NOT_FOUND_ON_AGENT)),
            "a1's task is LOST: {first:?}"
        );
        for range in &ranges[1..] {
            let theirs = events(*range).await;
            assert!(
                theirs
                    .iter()
                    .all(|e| matches!(e.event, Event::AgentRegistered { .. })),
                "a2 keeps its task, a3 has none: {theirs:?}"
            );
        }
        let state = runtime.state();
        let status = |task: &TaskId| state.task(task).map(|t| t.status);
        assert_eq!(status(&on_a1), Some(ScheduleStatus::Lost));
        assert_eq!(status(&on_a2), Some(ScheduleStatus::Assigned));
        assert!(state.agent(&AgentId("a3".into())).is_some());
    }

    #[test]
    fn queued_reports_about_distinct_tasks_are_decided_together() {
        let (queue, mut jobs) = mpsc::channel(16);
        for task in ["t2", "t3"] {
            queue.try_send(report(task)).expect("room");
        }
        // A second report about t2 must see the first one's effect: it ends the batch.
        queue.try_send(report("t2")).expect("room");
        queue.try_send(report("t4")).expect("room");
        let (batch, held) = batch_from(report("t1"), &mut jobs);
        assert_eq!(tasks(&batch), ["t1", "t2", "t3"]);
        let held = held.expect("the repeated report is held for the next step");
        assert_eq!(tasks(&[held]), ["t2"]);

        // Anything that is not a status report is decided alone, and ends a batch.
        queue
            .try_send(job(Command::Tick(Tick {
                since: Timestamp(0),
            })))
            .expect("room");
        let (batch, held) = batch_from(report("t5"), &mut jobs);
        assert_eq!(tasks(&batch), ["t5", "t4"]);
        assert_eq!(tasks(&[held.expect("the tick")]), ["tick"]);
        let (batch, held) = batch_from(
            job(Command::Tick(Tick {
                since: Timestamp(0),
            })),
            &mut jobs,
        );
        assert_eq!(tasks(&batch), ["tick"]);
        assert!(held.is_none());
    }

    #[test]
    fn queued_registrations_of_distinct_agents_and_hosts_are_decided_together() {
        let (queue, mut jobs) = mpsc::channel(16);
        queue.try_send(registration("a2", "h2")).expect("room");
        queue.try_send(registration("a3", "h3")).expect("room");
        // Another agent on a host of the batch must see the first one registered there.
        queue.try_send(registration("a4", "h2")).expect("room");
        let (batch, held) = batch_from(registration("a1", "h1"), &mut jobs);
        assert_eq!(tasks(&batch), ["a1@h1", "a2@h2", "a3@h3"]);
        assert_eq!(tasks(&[held.expect("held")]), ["a4@h2"]);

        // The same agent again ends a batch too.
        queue.try_send(registration("a5", "h5")).expect("room");
        queue.try_send(registration("a5", "h6")).expect("room");
        let (batch, held) = batch_from(registration("a4", "h4"), &mut jobs);
        assert_eq!(tasks(&batch), ["a4@h4", "a5@h5"]);
        assert_eq!(tasks(&[held.expect("held")]), ["a5@h6"]);

        // Registrations and status reports never share a batch: a registration may declare
        // LOST a task a report is about.
        queue.try_send(report("t1")).expect("room");
        let (batch, held) = batch_from(registration("a6", "h6"), &mut jobs);
        assert_eq!(tasks(&batch), ["a6@h6"]);
        assert_eq!(tasks(&[held.expect("held")]), ["t1"]);
        queue.try_send(registration("a7", "h7")).expect("room");
        let (batch, held) = batch_from(report("t2"), &mut jobs);
        assert_eq!(tasks(&batch), ["t2"]);
        assert_eq!(tasks(&[held.expect("held")]), ["a7@h7"]);
    }
}
