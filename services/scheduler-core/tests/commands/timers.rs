//! Tick: throttle expiry, transient timeouts, kill retries, drained hosts, history pruning.

use aurora_events::{Event, MaintenanceMode, ScheduleStatus, Timestamp};
use aurora_scheduler_core::commands::Tick;
use aurora_scheduler_core::{Command, Effect};

use super::support::*;

fn tick(since_ms_after_t0: i64) -> Command {
    Command::Tick(Tick {
        since: Timestamp(T0 + since_ms_after_t0),
    })
}

#[test]
fn a_throttled_task_becomes_pending_when_its_penalty_is_over() {
    let job = job("hello");
    let config = config(&job, 1.0, 128);
    let task = task_id(&job, 0);
    let mut events = job_created(&config, &[]);
    events.push(Event::TaskCreated {
        task: task.clone(),
        job: job.clone(),
        instance: 0,
        config: config.hash(),
        status: ScheduleStatus::Throttled,
        ancestor: None,
        failure_count: 1,
        penalty_ms: 30_000,
        message: None,
    });
    let given = given(events);
    assert!(
        given.when(tick(0)).decision().is_empty(),
        "not before the penalty is over"
    );
    given.at(30_000).when(tick(0)).then_events(vec![changed(
        &job,
        &task,
        ScheduleStatus::Throttled,
        ScheduleStatus::Pending,
        None,
    )]);
}

#[test]
fn a_task_stuck_in_assigned_is_lost_rescheduled_and_killed() {
    let job = job("hello");
    let config = config(&job, 1.0, 128);
    let task = task_id(&job, 0);
    let mut events = vec![agent_registered(1)];
    events.extend(job_created(&config, std::slice::from_ref(&task)));
    events.push(assigned(&job, &task, 1));
    let given = given(events);
    assert!(given.at(4 * 60_000).when(tick(0)).decision().is_empty());
    let decision = given.at(5 * 60_000).when(tick(4 * 60_000)).decision();
    let facts = decision.facts();
    assert_eq!(
        facts[0],
        changed(
            &job,
            &task,
            ScheduleStatus::Assigned,
            ScheduleStatus::Lost,
            Some("Task timed out")
        )
    );
    assert!(matches!(&facts[1], Event::TaskCreated { ancestor: Some(a), .. } if a == &task));
    assert_eq!(facts.len(), 2);
    pretty_assertions::assert_eq!(
        decision.effects,
        vec![Effect::Kill {
            task,
            agent: agent(1)
        }]
    );
}

#[test]
fn kills_are_retried_with_backoff() {
    let job = job("hello");
    let config = config(&job, 1.0, 128);
    let task = task_id(&job, 0);
    let mut events = one_running(&config, &task);
    events.push(changed(
        &job,
        &task,
        ScheduleStatus::Running,
        ScheduleStatus::Killing,
        None,
    ));
    let given = given(events);
    let kill = vec![Effect::Kill {
        task: task.clone(),
        agent: agent(1),
    }];
    // Retries at 15 s, 45 s, 105 s after the kill; each tick fires those in (since, now].
    for (since, now, fires) in [
        (0, 10_000, false),
        (10_000, 15_000, true),
        (15_000, 40_000, false),
        (40_000, 50_000, true),
        (50_000, 104_000, false),
        (104_000, 106_000, true),
    ] {
        let decision = given.at(now).when(tick(since)).decision();
        assert!(decision.events.is_empty());
        assert_eq!(decision.effects == kill, fires, "tick ({since}, {now}]");
    }
}

#[test]
fn an_emptied_draining_host_becomes_drained() {
    let given = given([
        agent_registered(1),
        Event::HostMaintenanceChanged {
            host: host(1),
            from: MaintenanceMode::None,
            to: MaintenanceMode::Draining,
        },
    ]);
    given
        .when(tick(0))
        .then_events(vec![Event::HostMaintenanceChanged {
            host: host(1),
            from: MaintenanceMode::Draining,
            to: MaintenanceMode::Drained,
        }]);
}

#[test]
fn old_terminal_tasks_are_pruned_and_an_empty_job_removed() {
    let job = job("hello");
    let config = config(&job, 1.0, 128);
    let task = task_id(&job, 0);
    let mut events = job_created(&config, std::slice::from_ref(&task));
    events.push(changed(
        &job,
        &task,
        ScheduleStatus::Pending,
        ScheduleStatus::Killing,
        None,
    ));
    events.push(changed(
        &job,
        &task,
        ScheduleStatus::Killing,
        ScheduleStatus::Killed,
        None,
    ));
    let given = given(events);
    assert!(
        given.at(60 * 60_000).when(tick(0)).decision().is_empty(),
        "kept for two days"
    );
    given
        .at(2 * 24 * 60 * 60_000)
        .when(tick(0))
        .then_events(vec![
            Event::TaskDeleted {
                task,
                job: job.clone(),
            },
            Event::JobRemoved { job },
        ]);
}
