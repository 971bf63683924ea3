//! Schedule: placement of pending tasks, pending reasons, preemption.

use std::collections::BTreeMap;

use aurora_events::{Capacity, Event, ScheduleStatus, Tier};
use aurora_scheduler_core::commands::Schedule;
use aurora_scheduler_core::{Command, Effect};

use super::support::*;

fn small_agent(n: u32, cpus: f64) -> Event {
    let Event::AgentRegistered {
        agent,
        host,
        attributes,
        endpoint,
        ..
    } = agent_registered(n)
    else {
        unreachable!()
    };
    Event::AgentRegistered {
        agent,
        host,
        capacity: Capacity {
            cpus,
            ram_mb: 4096,
            disk_mb: 10_000,
            gpus: 0,
            port_ranges: vec![(31000, 31009)],
        },
        attributes,
        endpoint,
    }
}

#[test]
fn pending_tasks_are_placed_first_fit_and_launched() {
    let job = job("hello");
    let config = config(&job, 1.0, 128);
    let tasks = [task_id(&job, 0), task_id(&job, 1)];
    let mut events = vec![agent_registered(1), agent_registered(2)];
    events.extend(job_created(&config, &tasks));
    let decision = given(events)
        .when(Command::Schedule(Schedule::default()))
        .then_events(vec![
            Event::TaskAssigned {
                task: tasks[0].clone(),
                job: job.clone(),
                agent: agent(1),
                host: host(1),
                ports: BTreeMap::new(),
            },
            Event::TaskAssigned {
                task: tasks[1].clone(),
                job: job.clone(),
                agent: agent(1),
                host: host(1),
                ports: BTreeMap::new(),
            },
        ]);
    pretty_assertions::assert_eq!(
        decision.effects,
        vec![
            Effect::Launch {
                task: tasks[0].clone(),
                agent: agent(1)
            },
            Effect::Launch {
                task: tasks[1].clone(),
                agent: agent(1)
            },
        ]
    );
    assert!(decision.pending.is_empty());
}

#[test]
fn nothing_is_placed_on_agents_that_have_not_registered_with_this_leader() {
    let job = job("hello");
    let config = config(&job, 1.0, 128);
    let tasks = [task_id(&job, 0), task_id(&job, 1)];
    let mut events = vec![agent_registered(1), agent_registered(2)];
    events.extend(job_created(&config, &tasks));
    let cluster = given(events);
    // Just after a failover agent 1 has not registered yet: everything goes to agent 2.
    let decision = cluster
        .when(Command::Schedule(Schedule {
            unregistered: [agent(1)].into(),
            ..Schedule::default()
        }))
        .decision();
    let hosts: Vec<_> = decision
        .facts()
        .into_iter()
        .filter_map(|e| match e {
            Event::TaskAssigned { agent, .. } => Some(agent),
            _ => None,
        })
        .collect();
    assert_eq!(hosts, [agent(2), agent(2)]);
    // Neither has: the tasks wait.
    let decision = cluster
        .when(Command::Schedule(Schedule {
            unregistered: [agent(1), agent(2)].into(),
            ..Schedule::default()
        }))
        .decision();
    assert!(decision.events.is_empty(), "{:?}", decision.facts());
    assert_eq!(decision.pending.len(), 2);
}

#[test]
fn unplaceable_tasks_stay_pending_with_a_reason() {
    let job = job("hello");
    let config = config(&job, 16.0, 128);
    let task = task_id(&job, 0);
    let none = given(job_created(&config, std::slice::from_ref(&task)))
        .when(Command::Schedule(Schedule::default()))
        .decision();
    assert_eq!(
        none.pending,
        vec![(task.clone(), "No agents registered".to_string())]
    );
    let mut events = vec![agent_registered(1)];
    events.extend(job_created(&config, std::slice::from_ref(&task)));
    let too_big = given(events)
        .when(Command::Schedule(Schedule::default()))
        .decision();
    assert!(too_big.events.is_empty());
    assert_eq!(
        too_big.pending,
        vec![(task, "Insufficient: cpus".to_string())]
    );
}

/// A 2-cpu agent full with a preemptible task, and a pending production task of another role.
fn contended(
    production_role: &str,
    victim_tier: Tier,
) -> (Given, aurora_events::TaskId, aurora_events::TaskId) {
    let low_job = job("batch");
    let mut low = config(&low_job, 1.5, 128);
    low.tier = victim_tier;
    let victim = task_id(&low_job, 0);
    let high_job: aurora_events::JobKey = format!("{production_role}/prod/web").parse().unwrap();
    let mut high = config(&high_job, 1.0, 128);
    high.tier = Tier::Preferred;
    let preemptor = task_id(&high_job, 0);
    let mut events = vec![small_agent(1, 2.0)];
    events.extend(job_created(&low, std::slice::from_ref(&victim)));
    events.extend(running(&low_job, &victim, 1));
    events.extend(job_created(&high, std::slice::from_ref(&preemptor)));
    (given(events), victim, preemptor)
}

#[test]
fn a_production_task_preempts_a_preemptible_one_after_the_delay() {
    let (given, victim, preemptor) = contended("www-data", Tier::Preemptible);
    let early = given
        .at(60_000)
        .when(Command::Schedule(Schedule::default()))
        .decision();
    assert!(
        early.events.is_empty(),
        "no preemption before the 3 minute delay"
    );
    let decision = given
        .at(3 * 60_000)
        .when(Command::Schedule(Schedule::default()))
        .then_events(vec![changed(
            &job("batch"),
            &victim,
            ScheduleStatus::Running,
            ScheduleStatus::Preempting,
            Some(&format!("Preempting in favor of {preemptor}")),
        )]);
    pretty_assertions::assert_eq!(
        decision.effects,
        vec![Effect::Kill {
            task: victim,
            agent: agent(1)
        }]
    );
    assert_eq!(
        decision.events[0].cause,
        Some(given.state.task(&preemptor).unwrap().last_event)
    );
}

#[test]
fn production_never_preempts_production_of_another_role() {
    let (given, _, _) = contended("other-team", Tier::Preferred);
    assert!(
        given
            .at(10 * 60_000)
            .when(Command::Schedule(Schedule::default()))
            .decision()
            .events
            .is_empty()
    );
}
