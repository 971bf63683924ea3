//! killTasks.

use std::collections::BTreeSet;

use aurora_events::{Event, ScheduleStatus};
use aurora_scheduler_core::commands::KillTasks;
use aurora_scheduler_core::{Command, Effect};

use super::support::*;

#[test]
fn kill_deletes_pending_tasks_and_kills_running_ones() {
    let job = job("hello");
    let config = config(&job, 1.0, 128);
    let (pending, running_task) = (task_id(&job, 0), task_id(&job, 1));
    let mut events = vec![agent_registered(1)];
    events.extend(job_created(
        &config,
        &[pending.clone(), running_task.clone()],
    ));
    events.extend(running(&job, &running_task, 1));
    let decision = given(events)
        .when(Command::KillTasks(KillTasks {
            job: job.clone(),
            instances: None,
            message: Some("maintenance".into()),
        }))
        .then_events(vec![
            Event::TaskDeleted {
                task: pending,
                job: job.clone(),
            },
            changed(
                &job,
                &running_task,
                ScheduleStatus::Running,
                ScheduleStatus::Killing,
                Some("Killed by alice: maintenance"),
            ),
        ]);
    pretty_assertions::assert_eq!(
        decision.effects,
        vec![Effect::Kill {
            task: running_task,
            agent: agent(1)
        }]
    );
}

#[test]
fn kill_only_touches_the_given_instances_and_nothing_to_kill_is_empty() {
    let job = job("hello");
    let config = config(&job, 1.0, 128);
    let tasks = [task_id(&job, 0), task_id(&job, 1), task_id(&job, 2)];
    let given = given(job_created(&config, &tasks));
    given
        .when(Command::KillTasks(KillTasks {
            job: job.clone(),
            instances: Some(BTreeSet::from([0, 2])),
            message: None,
        }))
        .then_events(vec![
            Event::TaskDeleted {
                task: tasks[0].clone(),
                job: job.clone(),
            },
            Event::TaskDeleted {
                task: tasks[2].clone(),
                job: job.clone(),
            },
        ]);
    let nothing = given
        .when(Command::KillTasks(KillTasks {
            job: job.clone(),
            instances: Some(BTreeSet::from([9])),
            message: None,
        }))
        .decision();
    assert!(nothing.is_empty());
}

/// A kill's message goes into every killed task's audit entry: a long one is refused before
/// anything is decided, so one request cannot write megabytes per task.
#[test]
fn a_kill_message_longer_than_the_bound_is_refused() {
    let job = job("hello");
    let config = config(&job, 1.0, 128);
    let tasks = [task_id(&job, 0), task_id(&job, 1)];
    let given = given(job_created(&config, &tasks));
    let long = "m".repeat(aurora_scheduler_core::commands::MAX_MESSAGE_BYTES + 1);
    let result = given
        .when(Command::KillTasks(KillTasks {
            job: job.clone(),
            instances: None,
            message: Some(long),
        }))
        .result;
    assert!(
        matches!(&result, Err(aurora_scheduler_core::Rejection::InvalidRequest(m)) if m.contains("at most 4096")),
        "{result:?}"
    );
    let fits = "m".repeat(aurora_scheduler_core::commands::MAX_MESSAGE_BYTES);
    let decision = given
        .when(Command::KillTasks(KillTasks {
            job,
            instances: None,
            message: Some(fits),
        }))
        .decision();
    assert_eq!(decision.events.len(), 2, "both pending tasks deleted");
}
