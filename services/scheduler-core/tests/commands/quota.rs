//! setQuota, forceTaskState, pruneTasks.

use std::collections::BTreeSet;

use aurora_events::{Actor, Event, Identifier, ResourceAggregate, ScheduleStatus, Tier};
use aurora_scheduler_core::commands::{ForceTaskState, PruneTasks, SetQuota};
use aurora_scheduler_core::{Command, Rejection};

use super::support::*;

#[test]
fn set_quota_records_it_and_refuses_bad_values() {
    let role: aurora_events::Identifier = aurora_events::Identifier::new("www-data").unwrap();
    let quota = ResourceAggregate {
        cpus: 10.0,
        ram_mb: 10_240,
        disk_mb: 10_240,
    };
    given([])
        .when(Command::SetQuota(SetQuota {
            role: role.clone(),
            quota,
        }))
        .then_events(vec![Event::QuotaSet {
            role: role.clone(),
            quota,
        }]);
    let negative = ResourceAggregate {
        cpus: -1.0,
        ..quota
    };
    assert!(matches!(
        given([])
            .when(Command::SetQuota(SetQuota {
                role: role.clone(),
                quota: negative
            }))
            .result,
        Err(Rejection::InvalidRequest(_))
    ));

    // Below what production tasks already use.
    let job = job("hello");
    let mut config = config(&job, 4.0, 1024);
    config.tier = Tier::Preferred;
    let mut events = vec![Event::QuotaSet {
        role: role.clone(),
        quota,
    }];
    events.extend(job_created(&config, &[task_id(&job, 0), task_id(&job, 1)]));
    let small = ResourceAggregate { cpus: 7.0, ..quota };
    let result = given(events)
        .when(Command::SetQuota(SetQuota { role, quota: small }))
        .result;
    assert!(matches!(result, Err(Rejection::InsufficientQuota(m)) if m.contains("already uses")),);
}

/// Quota values are bounded as a task's resources are (cpus 0 to 1e6, sizes up to 1 PiB), and
/// the refusal names the field and the bound; 0 and the bounds themselves are accepted.
#[test]
fn set_quota_bounds_each_value_and_names_the_field() {
    let role = Identifier::new("www-data").unwrap();
    let set = |quota: ResourceAggregate| {
        given([])
            .when(Command::SetQuota(SetQuota {
                role: role.clone(),
                quota,
            }))
            .result
            .map(|_| ())
    };
    for accepted in [
        ResourceAggregate::ZERO,
        ResourceAggregate {
            cpus: 1_000_000.0,
            ram_mb: 1 << 30,
            disk_mb: 1 << 30,
        },
    ] {
        assert_eq!(set(accepted), Ok(()), "{accepted:?}");
    }
    let fine = ResourceAggregate {
        cpus: 1.0,
        ram_mb: 1024,
        disk_mb: 1024,
    };
    for (quota, expected) in [
        (
            ResourceAggregate {
                ram_mb: u64::MAX,
                ..fine
            },
            "quota ram_mb must be at most 1073741824 MB (1 PiB), not 18446744073709551615",
        ),
        (
            ResourceAggregate {
                disk_mb: (1 << 30) + 1,
                ..fine
            },
            "quota disk_mb must be at most 1073741824 MB (1 PiB), not 1073741825",
        ),
        (
            ResourceAggregate {
                cpus: 1e300,
                ..fine
            },
            "quota cpus must be between 0 and 1000000, not 1e300",
        ),
        (
            ResourceAggregate {
                cpus: f64::INFINITY,
                ..fine
            },
            "quota cpus must be between 0 and 1000000, not inf",
        ),
        (
            ResourceAggregate { cpus: -1.0, ..fine },
            "quota cpus must be between 0 and 1000000, not -1.0",
        ),
    ] {
        assert_eq!(
            set(quota),
            Err(Rejection::InvalidRequest(expected.into())),
            "{quota:?}"
        );
    }
}

#[test]
fn force_task_state_goes_through_the_state_machine() {
    let job = job("hello");
    let config = config(&job, 1.0, 128);
    let task = task_id(&job, 0);
    let given = given(one_running(&config, &task)).by(Actor::User("root".into()));
    let decision = given
        .when(Command::ForceTaskState(ForceTaskState {
            task: task.clone(),
            status: ScheduleStatus::Finished,
        }))
        .decision();
    assert_eq!(
        decision.facts()[0],
        changed(
            &job,
            &task,
            ScheduleStatus::Running,
            ScheduleStatus::Finished,
            Some("Transition forced by root")
        )
    );
    given
        .when(Command::ForceTaskState(ForceTaskState {
            task: task.clone(),
            status: ScheduleStatus::Pending,
        }))
        .then_rejects(Rejection::IllegalTransition {
            task,
            from: ScheduleStatus::Running,
            to: ScheduleStatus::Pending,
        });
}

#[test]
fn prune_deletes_only_terminal_tasks() {
    let job = job("hello");
    let config = config(&job, 1.0, 128);
    let (done, live) = (task_id(&job, 0), task_id(&job, 1));
    let mut events = job_created(&config, &[done.clone(), live.clone()]);
    events.push(changed(
        &job,
        &done,
        ScheduleStatus::Pending,
        ScheduleStatus::Killing,
        None,
    ));
    events.push(changed(
        &job,
        &done,
        ScheduleStatus::Killing,
        ScheduleStatus::Killed,
        None,
    ));
    let given = given(events);
    given
        .when(Command::PruneTasks(PruneTasks {
            job: None,
            role: Some(job.role.clone()),
            environment: Some(Identifier::new("staging").unwrap()),
            statuses: None,
            limit: None,
        }))
        .then_events(vec![]);
    given
        .when(Command::PruneTasks(PruneTasks {
            job: Some(job.clone()),
            role: Some(job.role.clone()),
            environment: None,
            statuses: None,
            limit: None,
        }))
        .then_events(vec![Event::TaskDeleted {
            task: done,
            job: job.clone(),
        }]);
    let result = given
        .when(Command::PruneTasks(PruneTasks {
            job: None,
            role: None,
            environment: None,
            statuses: Some(BTreeSet::from([ScheduleStatus::Running])),
            limit: None,
        }))
        .result;
    assert!(matches!(result, Err(Rejection::InvalidRequest(m)) if m.contains("RUNNING")));
}
