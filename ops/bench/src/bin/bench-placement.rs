//! Measures one placement pass at scale: 10k hollow agents (mixed machine types, racks and
//! zones, a few dedicated, draining and drained hosts, some capacity already in use) and 100k
//! pending tasks in about a thousand jobs of 1–400 instances (some mid-update with two
//! configs, many with constraints). Prints the time to build the inputs, the pass itself as
//! placements per second, the conversion of every assignment into a `TaskAssigned` event, what
//! stayed pending and why, and peak memory.
//!
//! Everything is generated from a seed, so two runs place the same tasks on the same agents.

use std::collections::{BTreeMap, BTreeSet};
use std::hint::black_box;
use std::time::Instant;

use anyhow::Context;
use aurora_events::config::{Constraint, ConstraintKind, DEDICATED_ATTRIBUTE};
use aurora_events::event::Attribute;
use aurora_events::{
    AgentId, Capacity, Event, JobKey, MaintenanceMode, Resources, TaskConfig, TaskId, Tier, samples,
};
use aurora_scheduler_core::commands::Schedule;
use aurora_scheduler_core::placement::{
    AgentSlot, Assignment, JobPresence, PendingGroup, PlacementInput, PlacementSettings, Usage,
    place,
};
use clap::Parser;

#[derive(Debug, Parser)]
#[command(about = "One placement pass over many hollow agents and pending tasks")]
struct Args {
    #[arg(long, default_value_t = 10_000)]
    agents: usize,
    #[arg(long, default_value_t = 100_000)]
    tasks: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// SplitMix64: a tiny, good-enough generator so the inputs depend on the seed only.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

const RACK_SIZE: usize = 40;
const DEDICATED: [&str; 2] = ["db/cassandra", "ml/training"];

fn attribute(name: &str, value: String) -> Attribute {
    Attribute {
        name: name.to_string(),
        values: vec![value],
    }
}

fn rack_of(agent: usize) -> String {
    format!("rack-{:03}", agent / RACK_SIZE)
}

fn agents(count: usize, rng: &mut Rng) -> Vec<AgentSlot> {
    (0..count)
        .map(|i| {
            // (share %, cpus, ram MiB, disk MiB, gpus)
            let kind = rng.range(0, 99);
            let (cpus, ram_mb, disk_mb, gpus) = match kind {
                0..50 => (16.0, 64 * 1024, 500 * 1024, 0),
                50..80 => (32.0, 128 * 1024, 1024 * 1024, 0),
                80..95 => (8.0, 32 * 1024, 250 * 1024, 0),
                _ => (32.0, 256 * 1024, 1024 * 1024, 4),
            };
            let host = format!("host-{i:05}.dc1");
            let rack = rack_of(i);
            let zone = format!("z{}", (i / RACK_SIZE) % 3);
            let mut attributes = vec![
                attribute("host", host.clone()),
                attribute("rack", rack),
                attribute("zone", zone),
            ];
            if i % 100 == 7 {
                attributes.push(attribute(
                    DEDICATED_ATTRIBUTE,
                    DEDICATED[(i / 100) % 2].to_string(),
                ));
            }
            let mode = match rng.range(0, 999) {
                0..10 => MaintenanceMode::Draining,
                10..15 => MaintenanceMode::Drained,
                15..35 => MaintenanceMode::Scheduled,
                _ => MaintenanceMode::None,
            };
            // Up to 30% of cpu and RAM already held by running tasks, with a few ports.
            let busy = rng.range(0, 30) as f64 / 100.0;
            let used_ports: BTreeSet<u16> = (0..rng.range(0, 6))
                .map(|_| 31000 + rng.range(0, 1000) as u16)
                .collect();
            AgentSlot {
                agent: AgentId(format!("agent-{i:05}")),
                host,
                capacity: Capacity {
                    cpus,
                    ram_mb,
                    disk_mb,
                    gpus,
                    port_ranges: vec![(31000, 32000)],
                },
                used: Usage {
                    cpus: (cpus * busy).floor(),
                    ram_mb: (ram_mb as f64 * busy) as u64,
                    disk_mb: disk_mb / 10,
                    gpus: 0,
                    ports: used_ports,
                },
                attributes,
                mode,
            }
        })
        .collect()
}

fn constraint(name: &str, kind: ConstraintKind) -> Constraint {
    Constraint {
        name: name.to_string(),
        kind,
    }
}

/// One job's configs (two when it is mid-update) and the number of pending tasks of each.
struct Job {
    configs: Vec<(TaskConfig, usize)>,
}

fn jobs(total_tasks: usize, agent_count: usize, rng: &mut Rng) -> anyhow::Result<Vec<Job>> {
    let template = samples::task_config();
    let racks = agent_count.div_ceil(RACK_SIZE).max(1) as u64;
    let mut out = Vec::new();
    let mut left = total_tasks;
    let mut index = 0usize;
    while left > 0 {
        let instances = if rng.chance(0.7) {
            rng.range(1, 100)
        } else {
            rng.range(100, 400)
        } as usize;
        let instances = instances.min(left);
        left -= instances;

        let dedicated = rng.chance(0.01).then(|| *rng.pick(&DEDICATED));
        let role = match dedicated {
            Some(group) => group.split('/').next().unwrap_or("db").to_string(),
            None => format!("role{:02}", index % 50),
        };
        let env = if rng.chance(0.6) { "prod" } else { "devel" };
        let key = JobKey::new(&role, env, &format!("job{index:04}"))
            .with_context(|| format!("job key for job {index}"))?;

        let mut constraints = Vec::new();
        if let Some(value) = dedicated {
            constraints.push(constraint(
                DEDICATED_ATTRIBUTE,
                ConstraintKind::Value {
                    negated: false,
                    values: vec![value.to_string()],
                },
            ));
        }
        if rng.chance(0.35) {
            constraints.push(constraint("host", ConstraintKind::Limit { limit: 1 }));
        }
        if rng.chance(0.10) {
            let limit = (instances as u64).div_ceil((racks / 2).max(1)).max(1) as u32 + 1;
            constraints.push(constraint("rack", ConstraintKind::Limit { limit }));
        }
        if rng.chance(0.08) {
            let values = (0..3)
                .map(|_| format!("rack-{:03}", rng.range(0, racks - 1)))
                .collect();
            constraints.push(constraint(
                "rack",
                ConstraintKind::Value {
                    negated: false,
                    values,
                },
            ));
        }
        if rng.chance(0.05) {
            constraints.push(constraint(
                "zone",
                ConstraintKind::Value {
                    negated: true,
                    values: vec!["z2".to_string()],
                },
            ));
        }

        let port_names = ["http", "health", "admin"];
        let ports = port_names[..rng.range(0, 3) as usize]
            .iter()
            .map(|p| p.to_string())
            .collect();
        let config = TaskConfig {
            job: key,
            tier: if env == "prod" {
                Tier::Preferred
            } else {
                Tier::Preemptible
            },
            resources: Resources {
                cpus: *rng.pick(&[0.25, 0.5, 0.5, 1.0, 1.0, 2.0, 4.0]),
                ram_mb: *rng.pick(&[256, 512, 1024, 1024, 2048, 4096, 8192]),
                disk_mb: *rng.pick(&[256, 1024, 4096]),
                gpus: u32::from(rng.chance(0.01)),
                ports,
            },
            constraints,
            ..template.clone()
        };
        // One job in ten is mid-update: part of its pending tasks have the new config.
        let configs = if instances > 1 && rng.chance(0.1) {
            let mut updated = config.clone();
            updated.resources.ram_mb *= 2;
            let old = instances / 2;
            vec![(config, old), (updated, instances - old)]
        } else {
            vec![(config, instances)]
        };
        out.push(Job { configs });
        index += 1;
    }
    Ok(out)
}

/// A few active tasks of some jobs, for their limit constraints to count.
fn presence(jobs: &[Job], agents: &[AgentSlot], rng: &mut Rng) -> JobPresence {
    let mut presence = JobPresence::new();
    for job in jobs {
        if !rng.chance(0.2) || agents.is_empty() {
            continue;
        }
        let per_agent = presence.entry(job.configs[0].0.job.clone()).or_default();
        for _ in 0..rng.range(1, 5) {
            let agent = &rng.pick(agents).agent;
            *per_agent.entry(agent.clone()).or_default() += 1;
        }
    }
    presence
}

fn task_ids(jobs: &[Job]) -> Vec<Vec<TaskId>> {
    let mut out = Vec::new();
    for job in jobs {
        let mut instance = 0usize;
        for (config, count) in &job.configs {
            out.push(
                (instance..instance + count)
                    .map(|i| {
                        TaskId::from_raw(format!(
                            "{}-{}-{}-{i}",
                            config.job.role, config.job.environment, config.job.name
                        ))
                    })
                    .collect(),
            );
            instance += count;
        }
    }
    out
}

fn ms(seconds: f64) -> String {
    format!("{:.1} ms", seconds * 1000.0)
}

/// Builds a write model holding the same agents (idle) and pending tasks, then times one
/// scheduling pass through `decide`: slots built from the state, grouping, placement, and every
/// `TaskAssigned` event with its id and cause. Returns (fold seconds, decide seconds, events).
fn full_pass(
    agents: &[AgentSlot],
    groups: &[PendingGroup<'_>],
) -> anyhow::Result<(f64, f64, usize)> {
    use aurora_events::{Actor, EventId, PendingEvent, ScheduleStatus, Timestamp};
    use aurora_scheduler_core::{ClusterState, Command, Ctx, Settings, decide};

    let started = Instant::now();
    let mut events = vec![Event::ClusterInitialised {
        cluster: "bench".into(),
    }];
    for slot in agents {
        events.push(Event::AgentRegistered {
            agent: slot.agent.clone(),
            host: slot.host.clone(),
            capacity: slot.capacity.clone(),
            attributes: slot.attributes.clone(),
            endpoint: String::new(),
        });
        if slot.mode != MaintenanceMode::None {
            events.push(Event::HostMaintenanceChanged {
                host: slot.host.clone(),
                from: MaintenanceMode::None,
                to: slot.mode,
            });
        }
    }
    let mut stored = BTreeSet::new();
    for group in groups {
        let hash = group.config.hash();
        if stored.insert(hash) {
            events.push(Event::TaskConfigStoredV2 {
                hash,
                config: Box::new(group.config.clone()),
            });
        }
        for (instance, task) in group.tasks.iter().enumerate() {
            events.push(Event::TaskCreated {
                task: task.clone(),
                job: group.config.job.clone(),
                instance: instance as u32,
                config: hash,
                status: ScheduleStatus::Pending,
                ancestor: None,
                failure_count: 0,
                penalty_ms: 0,
                message: None,
            });
        }
    }
    let mut state = ClusterState::new(Settings::default());
    for (i, event) in events.into_iter().enumerate() {
        let seq = i as u64 + 1;
        let pending = PendingEvent {
            id: EventId::from_parts(seq, [0; 10]),
            actor: Actor::Scheduler,
            cause: None,
            event,
        };
        state.apply(&pending.commit(seq, Timestamp(1_767_225_600_000)));
    }
    let fold = started.elapsed().as_secs_f64();

    let ctx = Ctx {
        now: Timestamp(1_767_225_601_000),
        actor: Actor::Scheduler,
        seed: 7,
    };
    let started = Instant::now();
    let decision = decide(&state, &Command::Schedule(Schedule::default()), &ctx)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let pass = started.elapsed().as_secs_f64();
    let assigned = decision
        .events
        .iter()
        .filter(|e| matches!(e.event, Event::TaskAssigned { .. }))
        .count();
    black_box(&decision);
    Ok((fold, pass, assigned))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut rng = Rng(args.seed);

    let started = Instant::now();
    let agents = agents(args.agents, &mut rng);
    let jobs = jobs(args.tasks, args.agents, &mut rng)?;
    let presence = presence(&jobs, &agents, &mut rng);
    let ids = task_ids(&jobs);
    let groups: Vec<PendingGroup<'_>> = jobs
        .iter()
        .flat_map(|job| job.configs.iter().map(|(config, _)| config))
        .zip(ids)
        .map(|(config, tasks)| PendingGroup { config, tasks })
        .collect();
    let build = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let placement = place(&PlacementInput {
        agents: &agents,
        groups: &groups,
        presence: &presence,
        settings: PlacementSettings::default(),
    });
    let pass = started.elapsed().as_secs_f64();

    let placed = placement.assignments.len();
    let mut pending_by_reason: BTreeMap<String, usize> = BTreeMap::new();
    for pending in &placement.pending {
        *pending_by_reason
            .entry(pending.reason.to_string())
            .or_default() += 1;
    }
    let pending = placement.pending.len();

    let started = Instant::now();
    let mut events = 0usize;
    for event in placement
        .assignments
        .into_iter()
        .map(Assignment::into_event)
    {
        if let Event::TaskAssigned { .. } = black_box(&event) {
            events += 1;
        }
    }
    let convert = started.elapsed().as_secs_f64();

    let constrained = groups
        .iter()
        .filter(|g| !g.config.constraints.is_empty())
        .count();
    println!(
        "bench-placement: {} agents, {} pending tasks in {} groups ({} jobs, {} groups with constraints), seed {}",
        agents.len(),
        groups.iter().map(|g| g.tasks.len()).sum::<usize>(),
        groups.len(),
        jobs.len(),
        constrained,
        args.seed
    );
    println!();
    println!("build inputs          {:>12}", ms(build));
    println!(
        "placement pass        {:>12}   {:.0} placements/s",
        ms(pass),
        placed as f64 / pass
    );
    println!(
        "to TaskAssigned       {:>12}   {events} events",
        ms(convert)
    );
    println!(
        "pass + events         {:>12}   {:.0} placements/s",
        ms(pass + convert),
        placed as f64 / (pass + convert)
    );
    println!();
    println!("placed  {placed}");
    println!("pending {pending}");
    for (reason, count) in &pending_by_reason {
        println!("  {count:>7}  {reason}");
    }
    println!();
    let (state_build, decide_secs, assigned) = full_pass(&agents, &groups)?;
    println!(
        "through the decider: the same agents and tasks as a write model, one Command::Schedule(Schedule::default())"
    );
    println!("fold events         {:>12}", ms(state_build));
    println!(
        "decide(Schedule)    {:>12}   {:.0} placements/s ({assigned} TaskAssigned events with ids and causes)",
        ms(decide_secs),
        assigned as f64 / decide_secs
    );
    println!();
    match aurora_bench::peak_resident_kib() {
        Some(kib) => println!("peak memory (VmHWM)   {:.1} MiB", kib as f64 / 1024.0),
        None => println!("peak memory (VmHWM)   unavailable (no /proc/self/status)"),
    }
    Ok(())
}
