//! Measures the scheduler's write model: how fast events fold into it and how much memory it
//! takes per task (goal: about 1 KiB), for a cluster of N tasks across jobs and agents, each task
//! created, assigned and running (the common steady state).

use std::collections::BTreeMap;
use std::time::Instant;

use aurora_bench::resident_kib;
use aurora_events::event::Attribute;
use aurora_events::{
    Actor, AgentId, Capacity, Event, EventId, JobKey, PendingEvent, ScheduleStatus, TaskId,
    Timestamp,
};
use aurora_scheduler_core::{ClusterState, Settings};
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
}

fn main() {
    let args = Args::parse();
    let per_job = args.per_job.max(1);
    let mut events = Vec::new();
    events.push(Event::ClusterInitialised {
        cluster: "bench".into(),
    });
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
        config.job = job.clone();
        let hash = config.hash();
        events.push(Event::TaskConfigStored {
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
            .commit(seq, Timestamp(1_767_225_600_000 + seq as i64))
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
    std::hint::black_box(&state);
}
