//! Measures the scheduler's write model: how fast events fold into it and how much memory it
//! takes per task (goal: about 1 KiB), for a cluster of N tasks across jobs and agents, each task
//! created, assigned and running (the common steady state); then what the decisions that run
//! all the time cost at that size: one `Tick` (nothing due), one `Schedule` (nothing pending)
//! and one `CreateJob` of 100 production instances (checked against quota).
//!
//! A second cluster measures one scheduling pass over a large unplaceable backlog: services of
//! production tasks filling every agent, with thousands more waiting past the preemption delay
//! and no task anywhere they may preempt.

use std::collections::BTreeMap;
use std::time::Instant;

use aurora_bench::resident_kib;
use aurora_events::event::Attribute;
use aurora_events::{
    Actor, AgentId, Capacity, Event, EventId, JobKey, PendingEvent, ScheduleStatus, TaskId,
    Timestamp,
};
use aurora_events::{Identifier, ResourceAggregate, TaskConfig};
use aurora_scheduler_core::commands::{CreateJob, Schedule, Tick};
use aurora_scheduler_core::scheduling::Backoff;
use aurora_scheduler_core::{ClusterState, Command, Ctx, Decision, Settings, decide};
use clap::Parser;

#[derive(Debug, Parser)]
#[command(about = "Write-model fold speed and memory per task")]
struct Args {
    /// Tasks in the cluster.
    #[arg(long, default_value_t = 100_000)]
    tasks: u32,
    /// Instances per job.
    #[arg(long, default_value_t = 100)]
    per_job: u32,
    /// Agents the tasks run on.
    #[arg(long, default_value_t = 10_000)]
    agents: u32,
    /// Times each decision is measured (the median is printed).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Agents of the backlog cluster (0 skips it).
    #[arg(long, default_value_t = 1_000)]
    backlog_agents: u32,
    /// Services of the backlog cluster, each in its own role.
    #[arg(long, default_value_t = 10)]
    backlog_services: u32,
    /// Instances per service of the backlog cluster.
    #[arg(long, default_value_t = 4_000)]
    backlog_instances: u32,
    /// Tasks each backlog agent holds (the rest of the services stay pending).
    #[arg(long, default_value_t = 22)]
    backlog_per_agent: u32,
}

/// The time of the first event; the bench's events are one millisecond apart.
const T0: i64 = 1_767_225_600_000;

/// Milliseconds with three decimals, or microseconds below a millisecond.
fn ms(seconds: f64) -> String {
    if seconds < 0.001 {
        format!("{:.1} µs", seconds * 1e6)
    } else {
        format!("{:.3} ms", seconds * 1000.0)
    }
}

/// Runs `f` up to `runs` times (stopping early once 20 s are spent) and returns the median
/// wall time in seconds with the last result.
fn median_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut times = Vec::new();
    let mut spent = 0.0;
    let mut last = None;
    while times.len() < runs.max(1) && (times.is_empty() || spent < 20.0) {
        let started = Instant::now();
        let result = std::hint::black_box(f());
        let took = started.elapsed().as_secs_f64();
        spent += took;
        times.push(took);
        last = Some(result);
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    match last {
        Some(result) => (median, result),
        None => unreachable!("the loop runs at least once"),
    }
}

/// One decision of `command` at `now`, or the rejection as text.
fn decide_at(state: &ClusterState, command: &Command, now: i64) -> Result<Decision, String> {
    let ctx = Ctx {
        now: Timestamp(now),
        actor: Actor::Scheduler,
        seed: 7,
    };
    decide(state, command, &ctx).map_err(|e| e.to_string())
}

/// Folds a decision's events into `state` as the journal would commit them at `at`.
fn commit(state: &mut ClusterState, decision: &Decision, at: i64) {
    for pending in &decision.events {
        let seq = state.last_seq() + 1;
        state.apply(&pending.clone().commit(seq, Timestamp(at)));
    }
}

/// Folds plain events, one millisecond apart from `at`.
fn fold(state: &mut ClusterState, events: Vec<Event>, at: i64) {
    for (i, event) in events.into_iter().enumerate() {
        let seq = state.last_seq() + 1;
        let pending = PendingEvent {
            id: EventId::from_parts(seq, [2; 10]),
            actor: Actor::Scheduler,
            cause: None,
            event,
        };
        state.apply(&pending.commit(seq, Timestamp(at + i as i64)));
    }
}

/// A quota no bench job reaches.
fn ample_quota() -> ResourceAggregate {
    ResourceAggregate {
        cpus: 1e9,
        ram_mb: u64::MAX / 4,
        disk_mb: u64::MAX / 4,
    }
}

fn role(name: &str) -> Identifier {
    match Identifier::new(name) {
        Ok(role) => role,
        Err(e) => panic!("bench role {name}: {e}"),
    }
}

fn main() {
    let args = Args::parse();
    let per_job = args.per_job.max(1);
    let mut events = Vec::new();
    events.push(Event::ClusterInitialised {
        cluster: "bench".into(),
    });
    for r in 0..100 {
        events.push(Event::QuotaSet {
            role: role(&format!("role{r}")),
            quota: ample_quota(),
        });
    }
    for a in 0..args.agents {
        events.push(Event::AgentRegistered {
            agent: AgentId(format!("agent-{a:05}")),
            host: format!("host-{a:05}.example.com"),
            capacity: Capacity {
                cpus: 32.0,
                ram_mb: 131_072,
                disk_mb: 1_000_000,
                gpus: 0,
                port_ranges: vec![(31000, 32000)],
            },
            attributes: vec![Attribute {
                name: "rack".into(),
                values: vec![format!("rack-{}", a % 50)],
            }],
            endpoint: format!("http://host-{a:05}.example.com:1338"),
        });
    }
    let jobs = args.tasks.div_ceil(per_job);
    for j in 0..jobs {
        let job: JobKey = format!("role{}/prod/job{j:05}", j % 100)
            .parse()
            .expect("valid key");
        let mut config = aurora_events::samples::task_config();
        config.sla_policy = None;
        config.job = job.clone();
        let hash = config.hash();
        events.push(Event::TaskConfigStoredV2 {
            hash,
            config: Box::new(config),
        });
        let instances = per_job.min(args.tasks - j * per_job);
        events.push(Event::JobCreated {
            job: job.clone(),
            config: hash,
            instances,
        });
        for i in 0..instances {
            let n = j * per_job + i;
            let task = TaskId::generate(
                &job,
                i,
                aurora_events::Uuid::from_u128(u128::from(n) << 64 | 0x4000_8000),
            );
            events.push(Event::TaskCreated {
                task: task.clone(),
                job: job.clone(),
                instance: i,
                config: hash,
                status: ScheduleStatus::Pending,
                ancestor: None,
                failure_count: 0,
                penalty_ms: 0,
                message: None,
            });
            let a = n % args.agents.max(1);
            events.push(Event::TaskAssigned {
                task: task.clone(),
                job: job.clone(),
                agent: AgentId(format!("agent-{a:05}")),
                host: format!("host-{a:05}.example.com"),
                ports: BTreeMap::from([("http".to_string(), 31000 + (n % 1000) as u16)]),
            });
            for (from, to) in [
                (ScheduleStatus::Assigned, ScheduleStatus::Starting),
                (ScheduleStatus::Starting, ScheduleStatus::Running),
            ] {
                events.push(Event::TaskStateChanged {
                    task: task.clone(),
                    job: job.clone(),
                    from,
                    to,
                    message: None,
                });
            }
        }
    }
    let envelopes: Vec<_> = events
        .into_iter()
        .enumerate()
        .map(|(i, event)| {
            let seq = i as u64 + 1;
            PendingEvent {
                id: EventId::from_parts(seq, [1; 10]),
                actor: Actor::Scheduler,
                cause: None,
                event,
            }
            .commit(seq, Timestamp(T0 + seq as i64))
        })
        .collect();

    let before = resident_kib();
    let started = Instant::now();
    let mut state = ClusterState::new(Settings::default());
    for envelope in &envelopes {
        state.apply(envelope);
    }
    let elapsed = started.elapsed();
    let after = resident_kib();
    let running = state
        .tasks()
        .filter(|t| t.status == ScheduleStatus::Running)
        .count();
    println!(
        "bench-state: {} tasks ({running} running) in {jobs} jobs on {} agents",
        args.tasks, args.agents
    );
    println!("events folded:        {}", envelopes.len());
    println!(
        "fold speed:           {:.0} events/s ({:.3} s)",
        envelopes.len() as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    match (before, after) {
        (Some(before), Some(after)) => {
            let bytes = after.saturating_sub(before) * 1024;
            println!(
                "write model memory:   {:.1} MiB resident growth",
                bytes as f64 / 1_048_576.0
            );
            println!(
                "per task:             {:.0} bytes (agents and configs included)",
                bytes as f64 / f64::from(args.tasks.max(1))
            );
        }
        _ => println!("write model memory:   unavailable (no /proc/self/status)"),
    }

    let now = T0 + envelopes.len() as i64 + 1_000;
    println!();
    println!(
        "decisions at {} tasks (median of {}):",
        state.task_count(),
        args.runs
    );
    let tick = Command::Tick(Tick {
        since: Timestamp(now - 500),
    });
    let (took, decision) = median_of(args.runs, || decide_at(&state, &tick, now));
    println!(
        "  Tick (nothing due)              {:>12}   {} events",
        ms(took),
        events_of(&decision)
    );
    let (took, decision) = median_of(args.runs, || {
        decide_at(&state, &Command::Schedule(Schedule::default()), now)
    });
    println!(
        "  Schedule (nothing pending)      {:>12}   {} events",
        ms(took),
        events_of(&decision)
    );
    let mut config = aurora_events::samples::task_config();
    config.sla_policy = None;
    config.job = "role0/prod/bench-new".parse().expect("valid key");
    let create = Command::CreateJob(CreateJob {
        job: config.job.clone(),
        config: Box::new(config),
        instances: 100,
    });
    let (took, decision) = median_of(args.runs, || decide_at(&state, &create, now));
    println!(
        "  CreateJob (100 instances)       {:>12}   {} events",
        ms(took),
        events_of(&decision)
    );
    std::hint::black_box(&state);
    drop(state);
    drop(envelopes);

    if args.backlog_agents > 0 {
        println!();
        backlog(&args);
    }
}

fn events_of(decision: &Result<Decision, String>) -> String {
    match decision {
        Ok(decision) => decision.events.len().to_string(),
        Err(rejection) => format!("rejected: {rejection}"),
    }
}

/// A production service of `instances` tasks of 1 cpu and 1 GiB, without constraints.
fn service(index: u32) -> TaskConfig {
    let mut config = aurora_events::samples::task_config();
    config.sla_policy = None;
    config.job = format!("svc{index}/prod/service")
        .parse()
        .expect("valid key");
    config.resources.cpus = 1.0;
    config.resources.ram_mb = 1024;
    config.resources.disk_mb = 1024;
    config.constraints.clear();
    config
}

/// Services fill every agent; the rest of their tasks wait past the preemption delay, with
/// nothing they may preempt (every running task is production in another role). Times one
/// `Schedule` decision over that backlog.
fn backlog(args: &Args) {
    let overhead = Settings::default().executor_overhead;
    let per_agent = args.backlog_per_agent;
    // Room for exactly `per_agent` tasks of 1 cpu (plus overhead) on each agent.
    let cpus = f64::from(per_agent) * (1.0 + overhead.cpus);
    let mut state = ClusterState::new(Settings::default());
    let mut events = vec![Event::ClusterInitialised {
        cluster: "backlog".into(),
    }];
    for a in 0..args.backlog_agents {
        let host = format!("host-{a:05}.example.com");
        events.push(Event::AgentRegistered {
            agent: AgentId(format!("agent-{a:05}")),
            host: host.clone(),
            capacity: Capacity {
                cpus,
                ram_mb: u64::from(per_agent) * 2048,
                disk_mb: 10_000_000,
                gpus: 0,
                port_ranges: vec![(31000, 32000)],
            },
            attributes: vec![Attribute {
                name: "host".into(),
                values: vec![host],
            }],
            endpoint: String::new(),
        });
    }
    for s in 0..args.backlog_services {
        let config = service(s);
        events.push(Event::QuotaSet {
            role: config.job.role.clone(),
            quota: ample_quota(),
        });
        let hash = config.hash();
        let job = config.job.clone();
        events.push(Event::TaskConfigStoredV2 {
            hash,
            config: Box::new(config),
        });
        events.push(Event::JobCreated {
            job: job.clone(),
            config: hash,
            instances: args.backlog_instances,
        });
        for i in 0..args.backlog_instances {
            let n = u128::from(s) << 32 | u128::from(i);
            events.push(Event::TaskCreated {
                task: TaskId::generate(
                    &job,
                    i,
                    aurora_events::Uuid::from_u128(n << 64 | 0x4000_8000),
                ),
                job: job.clone(),
                instance: i,
                config: hash,
                status: ScheduleStatus::Pending,
                ancestor: None,
                failure_count: 0,
                penalty_ms: 0,
                message: None,
            });
        }
    }
    fold(&mut state, events, T0);

    // The first pass fills the agents; the placed tasks start and run.
    let mut at = T0 + 60_000;
    let started = Instant::now();
    let first = match decide_at(&state, &Command::Schedule(Schedule::default()), at) {
        Ok(decision) => decision,
        Err(rejection) => panic!("the first pass is accepted: {rejection}"),
    };
    let first_took = started.elapsed().as_secs_f64();
    commit(&mut state, &first, at);
    let placed: Vec<(TaskId, JobKey)> = first
        .events
        .iter()
        .filter_map(|e| match &e.event {
            Event::TaskAssigned { task, job, .. } => Some((task.clone(), job.clone())),
            _ => None,
        })
        .collect();
    at += 1_000;
    let mut running = Vec::with_capacity(placed.len() * 2);
    for (task, job) in &placed {
        for (from, to) in [
            (ScheduleStatus::Assigned, ScheduleStatus::Starting),
            (ScheduleStatus::Starting, ScheduleStatus::Running),
        ] {
            running.push(Event::TaskStateChanged {
                task: task.clone(),
                job: job.clone(),
                from,
                to,
                message: None,
            });
        }
    }
    fold(&mut state, running, at);

    let pending = state
        .tasks()
        .filter(|t| t.status == ScheduleStatus::Pending)
        .count();
    println!(
        "backlog: {} tasks of {} services on {} agents: {} running, {pending} pending",
        state.task_count(),
        args.backlog_services,
        args.backlog_agents,
        placed.len()
    );
    println!(
        "  first pass (places {})         {:>12}",
        placed.len(),
        ms(first_took)
    );
    // Past the preemption delay, so every waiting task is a preemptor candidate.
    let now = at + Settings::default().preemption_delay_ms + 60_000;
    let unlimited = Command::Schedule(Schedule::default());
    let (took, decision) = median_of(args.runs, || decide_at(&state, &unlimited, now));
    print_pass("Schedule, no budget", took, &decision);
    // The leader's pass: its budget, and (once the backlog's groups failed) its backoff.
    let mut backoff = Backoff::default();
    let budgeted = Command::Schedule(backoff.next_pass(Timestamp(now)));
    let (took, decision) = median_of(args.runs, || decide_at(&state, &budgeted, now));
    print_pass("Schedule, leader's budget", took, &decision);
    // The leader's passes every 500 ms go through the groups the budget deferred; once each
    // was tried and left unplaced, every group is backing off.
    let mut at = now;
    let mut pass = decision;
    while let Ok(decision) = &pass {
        backoff.after_pass(Timestamp(at), &decision.pass);
        if decision.pass.deferred.is_empty() {
            break;
        }
        at += 500;
        pass = decide_at(
            &state,
            &Command::Schedule(backoff.next_pass(Timestamp(at))),
            at,
        );
    }
    at += 500;
    let backing_off = Command::Schedule(backoff.next_pass(Timestamp(at)));
    let (took, decision) = median_of(args.runs, || decide_at(&state, &backing_off, at));
    print_pass("Schedule, all backing off", took, &decision);
}

/// One line for a timed pass: time, placements, preemptions and the work it reports.
fn print_pass(name: &str, took: f64, decision: &Result<Decision, String>) {
    let (assigned, preempting) = match decision {
        Ok(decision) => (
            decision
                .events
                .iter()
                .filter(|e| matches!(e.event, Event::TaskAssigned { .. }))
                .count(),
            decision
                .events
                .iter()
                .filter(|e| {
                    matches!(
                        e.event,
                        Event::TaskStateChanged {
                            to: ScheduleStatus::Preempting,
                            ..
                        }
                    )
                })
                .count(),
        ),
        Err(_) => (0, 0),
    };
    let work = match decision {
        Ok(decision) => format!(
            "{} tasks tried, {} victim searches, {} agents examined",
            decision.pass.work.tasks_tried,
            decision.pass.work.preemption_searches,
            decision.pass.work.agents_examined
        ),
        Err(rejection) => format!("rejected: {rejection}"),
    };
    println!(
        "  {name:<31} {:>12}   {assigned} placed, {preempting} preempted; {work}",
        ms(took)
    );
}
