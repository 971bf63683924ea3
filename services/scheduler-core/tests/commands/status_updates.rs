//! Agent status updates: the state machine's side effects, rescheduling and flapping, zombies.

use aurora_events::{Event, ScheduleStatus, TaskId};
use aurora_scheduler_core::commands::StatusUpdate;
use aurora_scheduler_core::{Command, Effect};

use super::support::*;

fn running_service(
    max_task_failures: i32,
    is_service: bool,
) -> (
    Given,
    aurora_events::JobKey,
    aurora_events::TaskConfig,
    TaskId,
) {
    let job = job("hello");
    let mut config = config(&job, 1.0, 128);
    config.is_service = is_service;
    config.max_task_failures = max_task_failures;
    let task = task_id(&job, 0);
    (given(one_running(&config, &task)), job, config, task)
}

fn update(task: &TaskId, status: ScheduleStatus, message: &str) -> Command {
    Command::StatusUpdate(StatusUpdate {
        agent: agent(1),
        task: task.clone(),
        status,
        message: Some(message.into()),
    })
}

fn rescheduled(
    config: &aurora_events::TaskConfig,
    new: &TaskId,
    old: &TaskId,
    failures: u32,
    penalty_ms: u64,
) -> Event {
    let message = if penalty_ms > 0 {
        format!("Rescheduled, penalized for {penalty_ms} ms for flapping")
    } else {
        "Rescheduled".to_string()
    };
    Event::TaskCreated {
        task: new.clone(),
        job: config.job.clone(),
        instance: 0,
        config: config.hash(),
        status: if penalty_ms > 0 {
            ScheduleStatus::Throttled
        } else {
            ScheduleStatus::Pending
        },
        ancestor: Some(old.clone()),
        failure_count: failures,
        penalty_ms,
        message: Some(message),
    }
}

#[test]
fn a_service_that_fails_soon_after_starting_is_rescheduled_throttled() {
    let (given, job, config, task) = running_service(1, true);
    let decision = given
        .at(10_000)
        .when(update(&task, ScheduleStatus::Failed, "exit 1"))
        .decision();
    let new = created_tasks(&decision);
    pretty_assertions::assert_eq!(
        decision.facts(),
        vec![
            changed(
                &job,
                &task,
                ScheduleStatus::Running,
                ScheduleStatus::Failed,
                Some("exit 1")
            ),
            rescheduled(&config, &new[0], &task, 1, 30_000),
        ]
    );
    // The replacement's cause is the failure, whose cause is the task's previous state.
    assert_eq!(decision.events[1].cause, Some(decision.events[0].id));
    assert_eq!(
        decision.events[0].cause,
        Some(given.state.task(&task).unwrap().last_event)
    );
}

#[test]
fn a_service_that_ran_long_is_rescheduled_without_penalty() {
    let (given, job, config, task) = running_service(1, true);
    let decision = given
        .at(10 * 60_000)
        .when(update(&task, ScheduleStatus::Finished, "done"))
        .decision();
    let new = created_tasks(&decision);
    pretty_assertions::assert_eq!(
        decision.facts(),
        vec![
            changed(
                &job,
                &task,
                ScheduleStatus::Running,
                ScheduleStatus::Finished,
                Some("done")
            ),
            rescheduled(&config, &new[0], &task, 0, 0),
        ]
    );
}

#[test]
fn a_batch_task_out_of_failures_stays_failed() {
    let (given, job, _, task) = running_service(1, false);
    given
        .when(update(&task, ScheduleStatus::Failed, "exit 2"))
        .then_events(vec![changed(
            &job,
            &task,
            ScheduleStatus::Running,
            ScheduleStatus::Failed,
            Some("exit 2"),
        )]);
}

#[test]
fn a_batch_task_with_failures_left_is_retried_and_carries_the_count() {
    let (given, job, config, task) = running_service(3, false);
    let decision = given
        .at(10 * 60_000)
        .when(update(&task, ScheduleStatus::Failed, "exit 2"))
        .decision();
    let new = created_tasks(&decision);
    pretty_assertions::assert_eq!(
        decision.facts(),
        vec![
            changed(
                &job,
                &task,
                ScheduleStatus::Running,
                ScheduleStatus::Failed,
                Some("exit 2")
            ),
            rescheduled(&config, &new[0], &task, 1, 0),
        ]
    );
}

#[test]
fn a_killed_task_dies_without_replacement() {
    let (mut given, job, _, task) = running_service(1, true);
    given.apply([changed(
        &job,
        &task,
        ScheduleStatus::Running,
        ScheduleStatus::Killing,
        None,
    )]);
    let decision = given
        .when(update(&task, ScheduleStatus::Killed, "killed"))
        .then_events(vec![changed(
            &job,
            &task,
            ScheduleStatus::Killing,
            ScheduleStatus::Killed,
            Some("killed"),
        )]);
    assert_eq!(
        decision.events[0].cause,
        Some(given.state.task(&task).unwrap().last_event)
    );
}

#[test]
fn a_report_that_a_finished_task_runs_gets_it_killed() {
    let (mut given, job, _, task) = running_service(1, false);
    given.apply([changed(
        &job,
        &task,
        ScheduleStatus::Running,
        ScheduleStatus::Finished,
        None,
    )]);
    let decision = given
        .when(update(&task, ScheduleStatus::Running, "still here"))
        .decision();
    assert!(decision.events.is_empty());
    pretty_assertions::assert_eq!(
        decision.effects,
        vec![Effect::Kill {
            task: task.clone(),
            agent: agent(1)
        }]
    );
    assert_eq!(decision.illegal.len(), 1);
}

#[test]
fn an_unknown_running_task_is_killed() {
    let (given, _, _, _) = running_service(1, true);
    let stranger = TaskId::from_raw("someone-else-0-x");
    let decision = given
        .when(update(&stranger, ScheduleStatus::Running, ""))
        .decision();
    pretty_assertions::assert_eq!(
        decision.effects,
        vec![Effect::Kill {
            task: stranger,
            agent: agent(1)
        }]
    );
}

/// An agent's report is never refused for its message's length (the state change must not be
/// lost), but the message is cut to the bound.
#[test]
fn a_long_status_message_is_cut_not_refused() {
    let job = job("hello");
    let config = config(&job, 1.0, 128);
    let task = task_id(&job, 0);
    let mut events = vec![agent_registered(1)];
    events.extend(job_created(&config, std::slice::from_ref(&task)));
    events.extend(running(&job, &task, 1));
    let long = "é".repeat(aurora_scheduler_core::commands::MAX_MESSAGE_BYTES);
    let decision = given(events)
        .when(Command::StatusUpdate(StatusUpdate {
            agent: agent(1),
            task: task.clone(),
            status: ScheduleStatus::Failed,
            message: Some(long),
        }))
        .decision();
    let message = decision
        .events
        .iter()
        .find_map(|e| match &e.event {
            Event::TaskStateChanged { message, .. } => message.clone(),
            _ => None,
        })
        .expect("the task failed, with a message");
    assert!(message.ends_with("bytes cut)"), "{message}");
    assert!(
        message.len() < aurora_scheduler_core::commands::MAX_MESSAGE_BYTES + 64,
        "{}",
        message.len()
    );
}
