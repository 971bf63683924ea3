//! A scheduling pass over a large backlog stays bounded: preemption is searched once per group
//! rather than once per task, agents without anything to preempt are skipped unseen, and the
//! leader's budget (tasks tried, victim searches) and backoff (groups skipped) are honoured.
//! Work is counted in `Decision.pass.work`, not timed (`ops/bench-state` times it).

use std::collections::{BTreeMap, BTreeSet};

use aurora_events::event::Attribute;
use aurora_events::{
    Capacity, ConfigHash, Event, Identifier, JobKey, ResourceAggregate, ScheduleStatus, TaskId,
    Tier,
};
use aurora_scheduler_core::commands::Schedule;
use aurora_scheduler_core::{Command, Decision, PassOutcome};

use super::support::*;

const AGENTS: u32 = 100;
/// Tasks of 1 cpu each agent has room for (with executor overhead).
const PER_AGENT: u32 = 22;
const SERVICES: u32 = 5;
const INSTANCES: u32 = 800;
/// Past the 3-minute preemption delay.
const LATER: i64 = 5 * 60_000;

fn agent_with_room(n: u32) -> Event {
    Event::AgentRegistered {
        agent: agent(n),
        host: host(n),
        capacity: Capacity {
            cpus: f64::from(PER_AGENT) * 1.25,
            ram_mb: 1_000_000,
            disk_mb: 1_000_000,
            gpus: 0,
            port_ranges: vec![(31000, 31999)],
        },
        attributes: vec![Attribute {
            name: "rack".into(),
            values: vec![format!("r{}", n % 4)],
        }],
        endpoint: String::new(),
    }
}

/// A production service in its own role (so no service may preempt another), with quota.
fn service(k: u32) -> (Event, aurora_events::TaskConfig, Vec<TaskId>) {
    let key: JobKey = format!("svc{k}/prod/service").parse().unwrap();
    let mut config = config(&key, 1.0, 128);
    config.tier = Tier::Preferred;
    let quota = Event::QuotaSet {
        role: Identifier::new(format!("svc{k}")).unwrap(),
        quota: ResourceAggregate {
            cpus: 1e6,
            ram_mb: 1 << 40,
            disk_mb: 1 << 40,
        },
    };
    let tasks = (0..INSTANCES).map(|i| task_id(&key, i)).collect();
    (quota, config, tasks)
}

/// Every agent full of running service tasks, 1,800 more waiting; with `filler`, a
/// preemptible job's 100 tasks were placed first, on the first agents.
fn backlog(filler: bool) -> Given {
    let mut cluster = given((0..AGENTS).map(agent_with_room));
    if filler {
        let key = job("filler");
        let config = config(&key, 1.0, 128);
        let tasks: Vec<TaskId> = (0..AGENTS).map(|i| task_id(&key, i)).collect();
        cluster.apply(job_created(&config, &tasks));
        run_a_pass(&mut cluster);
    }
    for k in 0..SERVICES {
        let (quota, config, tasks) = service(k);
        cluster.apply([quota]);
        cluster.apply(job_created(&config, &tasks));
    }
    cluster = cluster.at(1_000);
    run_a_pass(&mut cluster);
    cluster.at(LATER)
}

/// Runs a pass and commits it; the placed tasks start and run.
fn run_a_pass(cluster: &mut Given) {
    let decision = cluster
        .when(Command::Schedule(Schedule::default()))
        .decision();
    cluster.commit(&decision);
    for event in decision.facts() {
        if let Event::TaskAssigned { task, job, .. } = event {
            cluster.apply([
                changed(
                    &job,
                    &task,
                    ScheduleStatus::Assigned,
                    ScheduleStatus::Starting,
                    None,
                ),
                changed(
                    &job,
                    &task,
                    ScheduleStatus::Starting,
                    ScheduleStatus::Running,
                    None,
                ),
            ]);
        }
    }
}

fn pass(cluster: &Given, schedule: Schedule) -> Decision {
    cluster.when(Command::Schedule(schedule)).decision()
}

/// The groups still waiting (the first pass placed whole groups, then part of one).
fn waiting_groups(cluster: &Given) -> BTreeSet<ConfigHash> {
    cluster
        .state
        .pending_groups()
        .map(|(hash, _)| *hash)
        .collect()
}

fn preempted(decision: &Decision) -> usize {
    decision
        .facts()
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::TaskStateChanged {
                    to: ScheduleStatus::Preempting,
                    ..
                }
            )
        })
        .count()
}

#[test]
fn a_pass_over_an_unplaceable_backlog_searches_once_per_group() {
    let cluster = backlog(false);
    let waiting = (SERVICES * INSTANCES - AGENTS * PER_AGENT) as usize;
    assert_eq!(
        cluster
            .state
            .pending_groups()
            .map(|(_, g)| g.len())
            .sum::<usize>(),
        waiting
    );

    let groups = waiting_groups(&cluster);
    assert!(groups.len() >= 2, "{groups:?}");
    let decision = pass(&cluster, Schedule::default());
    assert!(decision.events.is_empty() && decision.effects.is_empty());
    assert_eq!(decision.pending.len(), waiting);
    assert_eq!(
        decision.pass,
        PassOutcome {
            unplaced: groups.clone(),
            work: aurora_scheduler_core::PassWork {
                tasks_tried: waiting,
                // One failed search per group, not one per waiting task (1,800 before), and
                // no agent looked at: none holds a task these may preempt.
                preemption_searches: groups.len(),
                agents_examined: 0,
            },
            ..PassOutcome::default()
        }
    );
}

#[test]
fn the_leader_budget_and_backoff_bound_a_pass() {
    let cluster = backlog(false);
    let budgeted = pass(
        &cluster,
        Schedule {
            max_tasks: Some(100),
            ..Schedule::default()
        },
    );
    assert_eq!(budgeted.pass.work.tasks_tried, 100);
    assert_eq!(budgeted.pending.len(), 100);
    assert_eq!(
        budgeted.pass.unplaced.len(),
        1,
        "the first group took the budget"
    );
    assert_eq!(
        budgeted.pass.deferred.len(),
        waiting_groups(&cluster).len() - 1
    );
    assert!(budgeted.pass.work.preemption_searches <= 1);

    let everything = pass(
        &cluster,
        Schedule {
            skip: waiting_groups(&cluster),
            ..Schedule::default()
        },
    );
    assert_eq!(everything.pass, PassOutcome::default(), "all backing off");
    assert!(everything.pending.is_empty());
}

#[test]
fn preemption_searches_stay_within_the_budget() {
    let cluster = backlog(true);
    // Ten preemptors at most per pass, each finding a filler task on the first agents.
    let unlimited = pass(&cluster, Schedule::default());
    assert_eq!(preempted(&unlimited), 10);
    assert_eq!(unlimited.pass.work.preemption_searches, 10);
    let candidate = service(0).1;
    let filler_agents = cluster
        .state
        .agents()
        .keys()
        .filter(|a| {
            cluster
                .state
                .victims(a)
                .is_some_and(|v| v.any_for(&candidate))
        })
        .count();
    assert!(filler_agents < AGENTS as usize);
    assert!(
        unlimited.pass.work.agents_examined <= 10 * filler_agents,
        "{:?}",
        unlimited.pass.work
    );
    assert!(!unlimited.pass.preempting.is_empty());

    let budgeted = pass(
        &cluster,
        Schedule {
            max_preemption_searches: Some(3),
            ..Schedule::default()
        },
    );
    assert_eq!(budgeted.pass.work.preemption_searches, 3);
    assert_eq!(preempted(&budgeted), 3);
    let victims: BTreeMap<_, _> = budgeted
        .facts()
        .into_iter()
        .filter_map(|e| match e {
            Event::TaskStateChanged { task, message, .. } => Some((task, message)),
            _ => None,
        })
        .collect();
    assert_eq!(victims.len(), 3, "three distinct victims: {victims:?}");
}
