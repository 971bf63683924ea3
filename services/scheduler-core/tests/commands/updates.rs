//! Rolling updates: start (diff, refusals, idempotent retry), the controller's steps (kill,
//! replace, watch, fail and roll back), pause/resume/abort/rollback, pulses and history
//! pruning.

use std::collections::BTreeMap;

use aurora_events::update::{
    InstanceConfigRanges, InstanceRange, UpdateInstructions, UpdateSettings, UpdateStrategy,
};
use aurora_events::{
    Event, InstanceUpdateAction, JobKey, ScheduleStatus, TaskConfig, TaskId, UpdateKey,
    UpdateStatus, Uuid,
};
use aurora_scheduler_core::commands::{
    AddInstances, AdvanceUpdates, CLIENT_UPDATE_ID, CoordinatorAllowed, CreateJob, KillTasks,
    PulseUpdate, RestartInstances, StartUpdate, Steer, SteerUpdate, Tick,
};
use aurora_scheduler_core::update::{
    CHECKING_SLA_MESSAGE, PULSE_TIMEOUT_MESSAGE, SLA_PASSED_MESSAGE,
};
use aurora_scheduler_core::{Command, Decision, Rejection};

use super::support::*;

const WATCH_MS: u64 = 10_000;

fn settings(group_size: u32) -> UpdateSettings {
    UpdateSettings {
        strategy: UpdateStrategy::Queue { group_size },
        max_per_instance_failures: 0,
        max_failed_instances: 0,
        min_wait_in_instance_running_ms: WATCH_MS,
        rollback_on_failure: true,
        update_only_these_instances: Vec::new(),
        block_if_no_pulses_after_ms: None,
        sla_aware: false,
    }
}

fn range(first: u32, last: u32) -> InstanceRange {
    InstanceRange { first, last }
}

/// `instances` tasks of `config` running on agent 1.
fn running_job(config: &TaskConfig, instances: u32) -> (Given, Vec<TaskId>) {
    let tasks: Vec<TaskId> = (0..instances).map(|i| task_id(&config.job, i)).collect();
    let mut events = vec![agent_registered(1)];
    events.extend(job_created(config, &tasks));
    for task in &tasks {
        events.extend(running(&config.job, task, 1));
    }
    (given(events), tasks)
}

fn start(job: &JobKey, config: &TaskConfig, instances: u32, settings: UpdateSettings) -> Command {
    Command::StartUpdate(StartUpdate {
        job: job.clone(),
        config: Box::new(config.clone()),
        instances,
        settings,
        metadata: BTreeMap::new(),
        message: None,
    })
}

fn advance() -> Command {
    Command::AdvanceUpdates(AdvanceUpdates::default())
}

fn actioned(key: &UpdateKey, instance: u32, action: InstanceUpdateAction) -> Event {
    Event::UpdateInstanceActioned {
        update: key.clone(),
        instance,
        action,
        message: None,
    }
}

fn status_changed(
    key: &UpdateKey,
    from: UpdateStatus,
    to: UpdateStatus,
    message: Option<&str>,
) -> Event {
    Event::UpdateStateChanged {
        update: key.clone(),
        from,
        to,
        message: message.map(str::to_string),
    }
}

fn update_key(decision: &Decision) -> UpdateKey {
    decision
        .update
        .clone()
        .expect("the decision names its update")
}

/// A job of `instances` running `old`, and an update to `new` started and committed.
fn started(
    instances: u32,
    settings: UpdateSettings,
) -> (Given, Vec<TaskId>, UpdateKey, TaskConfig) {
    let job = job("web");
    let old = config(&job, 1.0, 128);
    let mut new = old.clone();
    new.resources.ram_mb = 256;
    let (mut given, tasks) = running_job(&old, instances);
    let decision = given
        .when(start(&job, &new, instances, settings))
        .decision();
    let key = update_key(&decision);
    given.commit(&decision);
    (given, tasks, key, new)
}

#[test]
fn a_start_records_the_changed_instances_by_config_and_the_target() {
    let job = job("web");
    let old = config(&job, 1.0, 128);
    let mut new = old.clone();
    new.resources.ram_mb = 256;
    let (given, _) = running_job(&old, 3);
    let decision = given.when(start(&job, &new, 5, settings(2))).decision();
    let key = update_key(&decision);
    assert_eq!(key.job, job);
    assert_eq!(
        decision.facts(),
        vec![
            Event::TaskConfigStoredV2 {
                hash: hash(&new),
                config: Box::new(new.clone()),
            },
            Event::UpdateStarted {
                update: key,
                user: "alice".into(),
                instructions: UpdateInstructions {
                    initial_state: vec![InstanceConfigRanges {
                        config: hash(&old),
                        instances: vec![range(0, 2)],
                    }],
                    desired_state: Some(InstanceConfigRanges {
                        config: hash(&new),
                        instances: vec![range(0, 4)],
                    }),
                    settings: settings(2),
                },
                metadata: BTreeMap::new(),
            },
        ]
    );
}

#[test]
fn an_unchanged_job_a_batch_job_and_bad_settings_are_refused() {
    let job = job("web");
    let old = config(&job, 1.0, 128);
    let (given, _) = running_job(&old, 3);
    given
        .when(start(&job, &old, 3, settings(1)))
        .then_rejects(Rejection::UpdateUnchanged);
    assert_eq!(
        Rejection::UpdateUnchanged.to_string(),
        "Job is unchanged by proposed update."
    );
    let mut batch = old.clone();
    batch.is_service = false;
    batch.resources.ram_mb = 64;
    assert!(matches!(
        given.when(start(&job, &batch, 3, settings(1))).result,
        Err(Rejection::InvalidRequest(m)) if m.contains("not a service")
    ));
    let mut new = old.clone();
    new.resources.ram_mb = 256;
    assert!(matches!(
        given.when(start(&job, &new, 3, settings(0))).result,
        Err(Rejection::InvalidRequest(m)) if m.contains("group size")
    ));
    // A job without active tasks is updated by adding every instance (as in Aurora).
    let fresh = super::support::job("fresh");
    let mut elsewhere = new.clone();
    elsewhere.job = fresh.clone();
    let decision = given
        .when(start(&fresh, &elsewhere, 2, settings(1)))
        .decision();
    assert!(decision.facts().iter().any(|e| matches!(
        e,
        Event::UpdateStarted { instructions, .. }
            if instructions.initial_state.is_empty()
                && instructions.desired_state.as_ref().map(|d| d.instances.clone())
                    == Some(vec![range(0, 1)])
    )));
}

#[test]
fn while_an_update_is_active_the_job_refuses_other_changes_and_a_second_update() {
    let (given, _, key, new) = started(3, settings(1));
    let job = key.job.clone();
    let mut newer = new.clone();
    newer.resources.ram_mb = 512;
    given
        .when(start(&job, &newer, 3, settings(1)))
        .then_rejects(Rejection::UpdateInProgress(key.clone()));
    for command in [
        Command::KillTasks(KillTasks {
            job: job.clone(),
            instances: None,
            message: None,
        }),
        Command::RestartInstances(RestartInstances {
            job: job.clone(),
            instances: None,
        }),
        Command::AddInstances(AddInstances {
            job: job.clone(),
            template: 0,
            count: 1,
        }),
        Command::CreateJob(CreateJob {
            job: job.clone(),
            config: Box::new(newer.clone()),
            instances: 1,
        }),
    ] {
        given
            .when(command)
            .then_rejects(Rejection::JobUpdating(job.clone()));
    }
}

#[test]
fn a_retried_start_with_the_same_client_id_returns_the_first_update() {
    let job = job("web");
    let old = config(&job, 1.0, 128);
    let mut new = old.clone();
    new.resources.ram_mb = 256;
    let (mut given, _) = running_job(&old, 2);
    let request = Command::StartUpdate(StartUpdate {
        job: job.clone(),
        config: Box::new(new),
        instances: 2,
        settings: settings(1),
        metadata: BTreeMap::from([(CLIENT_UPDATE_ID.to_string(), "retry-me".to_string())]),
        message: None,
    });
    let first = given.when(request.clone()).decision();
    given.commit(&first);
    let retry = given.when(request).decision();
    assert!(retry.events.is_empty());
    assert_eq!(retry.update, first.update);
}

#[test]
fn the_controller_kills_a_group_replaces_each_task_and_marks_it_updated_after_the_watch() {
    let (mut given, tasks, key, new) = started(3, settings(2));
    let job = key.job.clone();
    let killed = format!("Killed for job update {}", key.id);
    let first = given.when(advance()).then_events(vec![
        actioned(&key, 0, InstanceUpdateAction::InstanceUpdating),
        changed(
            &job,
            &tasks[0],
            ScheduleStatus::Running,
            ScheduleStatus::Killing,
            Some(&killed),
        ),
        actioned(&key, 1, InstanceUpdateAction::InstanceUpdating),
        changed(
            &job,
            &tasks[1],
            ScheduleStatus::Running,
            ScheduleStatus::Killing,
            Some(&killed),
        ),
    ]);
    given.commit(&first);
    // Nothing changed: nothing to do.
    given.when(advance()).then_events(vec![]);
    given.apply([changed(
        &job,
        &tasks[0],
        ScheduleStatus::Killing,
        ScheduleStatus::Killed,
        None,
    )]);
    let replaced = given.when(advance()).decision();
    let created = created_tasks(&replaced);
    assert_eq!(created.len(), 1);
    assert!(matches!(
        &replaced.facts()[..],
        [Event::TaskCreated { instance: 0, config, status: ScheduleStatus::Pending, ancestor: None, .. }] if *config == hash(&new)
    ));
    given.commit(&replaced);
    given.apply(running(&job, &created[0], 1));
    // Running, but not for the watch time yet.
    given
        .at(WATCH_MS as i64 - 1)
        .when(advance())
        .then_events(vec![]);
    // Watched long enough: updated, and the freed slot goes to instance 2.
    let later = given.at(WATCH_MS as i64);
    later.when(advance()).then_events(vec![
        actioned(&key, 0, InstanceUpdateAction::InstanceUpdated),
        actioned(&key, 2, InstanceUpdateAction::InstanceUpdating),
        changed(
            &job,
            &tasks[2],
            ScheduleStatus::Running,
            ScheduleStatus::Killing,
            Some(&killed),
        ),
    ]);
}

/// Instance 0 of an update started and its replacement failed once.
fn failed_once(rollback: bool) -> (Given, UpdateKey) {
    let mut settings = settings(1);
    settings.rollback_on_failure = rollback;
    let (mut given, tasks, key, _) = started(2, settings);
    let job = key.job.clone();
    let first = given.when(advance()).decision();
    given.commit(&first);
    given.apply([changed(
        &job,
        &tasks[0],
        ScheduleStatus::Killing,
        ScheduleStatus::Killed,
        None,
    )]);
    let replaced = given.when(advance()).decision();
    given.commit(&replaced);
    let new_task = created_tasks(&replaced)[0].clone();
    let mut events = running(&job, &new_task, 1);
    events.truncate(2); // ASSIGNED, STARTING
    given.apply(events);
    // The health check fails: FAILED, and the scheduler reschedules the service.
    let failed = given
        .when(Command::StatusUpdate(
            aurora_scheduler_core::commands::StatusUpdate {
                agent: agent(1),
                task: new_task,
                status: ScheduleStatus::Failed,
                message: Some("Failed health check".into()),
            },
        ))
        .decision();
    given.commit(&failed);
    (given, key)
}

#[test]
fn a_failure_beyond_tolerance_rolls_the_update_back_or_fails_it() {
    let (given, key) = failed_once(true);
    given.when(advance()).then_events(vec![
        actioned(&key, 0, InstanceUpdateAction::InstanceUpdateFailed),
        status_changed(
            &key,
            UpdateStatus::RollingForward,
            UpdateStatus::RollingBack,
            Some("Latest failure: instance 0 exited."),
        ),
    ]);
    let (given, key) = failed_once(false);
    given.when(advance()).then_events(vec![
        actioned(&key, 0, InstanceUpdateAction::InstanceUpdateFailed),
        status_changed(
            &key,
            UpdateStatus::RollingForward,
            UpdateStatus::Failed,
            Some("Latest failure: instance 0 exited."),
        ),
    ]);
}

fn steer(job: &JobKey, steer: Steer, message: Option<&str>) -> Command {
    Command::SteerUpdate(SteerUpdate {
        job: job.clone(),
        steer,
        message: message.map(str::to_string),
    })
}

#[test]
fn pause_resume_rollback_and_abort_follow_the_machine() {
    let (mut given, _, key, _) = started(2, settings(1));
    let job = key.job.clone();
    let paused = given
        .when(steer(&job, Steer::Pause, Some("lunch")))
        .then_events(vec![status_changed(
            &key,
            UpdateStatus::RollingForward,
            UpdateStatus::RollForwardPaused,
            Some("lunch"),
        )]);
    given.commit(&paused);
    // Paused: pausing again changes nothing, and the controller leaves it alone.
    given
        .when(steer(&job, Steer::Pause, None))
        .then_events(vec![]);
    given.when(advance()).then_events(vec![]);
    let resumed = given
        .when(steer(&job, Steer::Resume, None))
        .then_events(vec![status_changed(
            &key,
            UpdateStatus::RollForwardPaused,
            UpdateStatus::RollingForward,
            None,
        )]);
    given.commit(&resumed);
    assert!(matches!(
        given.when(steer(&job, Steer::Resume, None)).result,
        Err(Rejection::InvalidRequest(m)) if m.contains("ROLLING_FORWARD")
    ));
    let back = given
        .when(steer(&job, Steer::Rollback, None))
        .then_events(vec![status_changed(
            &key,
            UpdateStatus::RollingForward,
            UpdateStatus::RollingBack,
            None,
        )]);
    given.commit(&back);
    assert!(matches!(
        given.when(steer(&job, Steer::Rollback, None)).result,
        Err(Rejection::InvalidRequest(_))
    ));
    let aborted = given
        .when(steer(&job, Steer::Abort, Some("enough")))
        .then_events(vec![status_changed(
            &key,
            UpdateStatus::RollingBack,
            UpdateStatus::Aborted,
            Some("enough"),
        )]);
    given.commit(&aborted);
    given
        .when(steer(&job, Steer::Pause, None))
        .then_rejects(Rejection::NoActiveUpdate(job.clone()));
}

#[test]
fn a_coordinated_update_waits_for_pulses_and_blocks_when_they_stop() {
    let mut coordinated = settings(1);
    coordinated.block_if_no_pulses_after_ms = Some(60_000);
    let (mut given, _, key, _) = started(2, coordinated);
    // It started waiting for its first pulse: the controller does nothing.
    given.when(advance()).then_events(vec![]);
    let pulse = Command::PulseUpdate(PulseUpdate {
        update: key.clone(),
    });
    let pulsed = given.when(pulse.clone()).then_events(vec![
        Event::UpdatePulsed {
            update: key.clone(),
        },
        status_changed(
            &key,
            UpdateStatus::RollForwardAwaitingPulse,
            UpdateStatus::RollingForward,
            None,
        ),
    ]);
    given.commit(&pulsed);
    assert!(!given.when(advance()).decision().events.is_empty());
    // A minute without pulses: blocked again.
    given
        .at(60_000)
        .when(advance())
        .then_events(vec![status_changed(
            &key,
            UpdateStatus::RollingForward,
            UpdateStatus::RollForwardAwaitingPulse,
            Some(PULSE_TIMEOUT_MESSAGE),
        )]);
    let unknown = UpdateKey {
        job: key.job.clone(),
        id: Uuid::nil(),
    };
    given
        .when(Command::PulseUpdate(PulseUpdate {
            update: unknown.clone(),
        }))
        .then_rejects(Rejection::UpdateNotActive(unknown));
}

#[test]
fn finished_updates_beyond_ten_per_job_are_pruned_oldest_first() {
    let job = job("web");
    let old = config(&job, 1.0, 128);
    let (mut given, _) = running_job(&old, 1);
    let instructions = UpdateInstructions {
        initial_state: Vec::new(),
        desired_state: None,
        settings: settings(1),
    };
    let ids: Vec<Uuid> = (1..=12u128).map(|n| Uuid::from_u128(n << 80)).collect();
    for id in &ids {
        let key = UpdateKey {
            job: job.clone(),
            id: *id,
        };
        given.apply([
            Event::UpdateStarted {
                update: key.clone(),
                user: "alice".into(),
                instructions: instructions.clone(),
                metadata: BTreeMap::new(),
            },
            status_changed(
                &key,
                UpdateStatus::RollingForward,
                UpdateStatus::Aborted,
                None,
            ),
        ]);
    }
    // Within one pruning interval: nothing.
    given
        .at(1_000)
        .when(Command::Tick(Tick {
            since: aurora_events::Timestamp(T0),
        }))
        .then_events(vec![]);
    // Across an interval boundary: the two oldest go.
    let interval = 15 * 60 * 1000;
    let boundary = interval - T0.rem_euclid(interval);
    given
        .at(boundary)
        .when(Command::Tick(Tick {
            since: aurora_events::Timestamp(T0),
        }))
        .then_events(vec![Event::UpdatesPruned {
            job: job.clone(),
            updates: ids[..2].to_vec(),
        }]);
}

#[test]
fn quota_counts_the_larger_of_old_and_new_for_each_instance_in_flight() {
    let job = job("web");
    let mut old = config(&job, 2.0, 1024);
    old.tier = aurora_events::Tier::Preferred;
    let with_quota = |cpus: f64, ram_mb: u64| {
        let (mut given, _) = running_job(&old, 2);
        given.apply([Event::QuotaSet {
            role: job.role.clone(),
            quota: aurora_events::ResourceAggregate {
                cpus,
                ram_mb,
                disk_mb: 1_000_000,
            },
        }]);
        given
    };
    // 3 cpus and 512 MiB each: once done the job needs 6 cpus and 1 GiB, but in flight each
    // instance holds max(2, 3) cpus and max(1024, 512) MiB: 6 cpus and 2 GiB.
    let mut new = old.clone();
    new.resources.cpus = 3.0;
    new.resources.ram_mb = 512;
    assert!(matches!(
        with_quota(6.0, 1536).when(start(&job, &new, 2, settings(1))).result,
        Err(Rejection::InsufficientQuota(m)) if m.contains("during the update")
    ));
    assert!(
        with_quota(6.0, 2048)
            .when(start(&job, &new, 2, settings(1)))
            .result
            .is_ok()
    );
    // A third instance needs its whole config on top.
    assert!(matches!(
        with_quota(6.0, 2048)
            .when(start(&job, &old, 3, settings(1)))
            .result,
        Err(Rejection::InsufficientQuota(_))
    ));
    assert!(
        with_quota(6.0, 3072)
            .when(start(&job, &old, 3, settings(1)))
            .result
            .is_ok()
    );
}

#[test]
fn an_sla_aware_update_kills_only_while_the_job_keeps_its_sla() {
    // Two instances running for ten minutes; the new config keeps one instance up for a
    // minute. Checked for a two-instance, non-production job as the settings allow.
    let job = job("hello");
    let mut old = config(&job, 1.0, 128);
    old.sla_policy = Some(aurora_events::config::SlaPolicy::Count {
        count: 1,
        duration_secs: 60,
    });
    let tasks: Vec<TaskId> = (0..2).map(|i| task_id(&job, i)).collect();
    let mut events = vec![agent_registered(1)];
    events.extend(job_created(&old, &tasks));
    for task in &tasks {
        events.extend(running(&job, task, 1));
    }
    let settings_checked = aurora_scheduler_core::Settings {
        min_required_instances_for_sla_check: 1,
        sla_aware_kill_non_prod: true,
        ..aurora_scheduler_core::Settings::default()
    };
    let mut cluster = given_with(settings_checked, events).at(10 * 60_000);
    let mut new = old.clone();
    new.resources.ram_mb = 256;
    let mut both_at_once = settings(2);
    both_at_once.sla_aware = true;
    let started = cluster.when(start(&job, &new, 2, both_at_once)).decision();
    cluster.commit(&started);
    // Both instances start, but only one task is killed: the other keeps the SLA.
    let first = cluster.when(advance()).decision();
    let killing: Vec<_> = first
        .facts()
        .into_iter()
        .filter(|e| {
            matches!(
                e,
                Event::TaskStateChanged {
                    to: ScheduleStatus::Killing,
                    ..
                }
            )
        })
        .collect();
    assert_eq!(killing.len(), 1, "{:?}", first.facts());
    cluster.commit(&first);
    // While the first is replaced and its replacement has not run for a minute, no more.
    assert!(
        cluster
            .at(11 * 60_000)
            .when(advance())
            .decision()
            .facts()
            .iter()
            .all(|e| !matches!(
                e,
                Event::TaskStateChanged {
                    to: ScheduleStatus::Killing,
                    ..
                }
            )),
    );
}

#[test]
fn an_sla_aware_update_of_a_coordinated_job_kills_what_its_coordinator_allows() {
    let job = job("web");
    let mut old = config(&job, 1.0, 128);
    old.sla_policy = Some(aurora_events::config::SlaPolicy::Coordinator {
        url: "http://coordinator.invalid/".into(),
        status_key: "drain".into(),
    });
    let tasks: Vec<TaskId> = (0..2).map(|i| task_id(&job, i)).collect();
    let mut events = vec![agent_registered(1)];
    events.extend(job_created(&old, &tasks));
    for task in &tasks {
        events.extend(running(&job, task, 1));
    }
    // A non-production job, checked as the settings allow.
    let checked = aurora_scheduler_core::Settings {
        sla_aware_kill_non_prod: true,
        ..aurora_scheduler_core::Settings::default()
    };
    let mut cluster = given_with(checked, events).at(10 * 60_000);
    let mut new = old.clone();
    new.resources.ram_mb = 256;
    let mut both_at_once = settings(2);
    both_at_once.sla_aware = true;
    let started = cluster.when(start(&job, &new, 2, both_at_once)).decision();
    cluster.commit(&started);

    // Both instances start; neither task is killed, and both coordinators are asked.
    let first = cluster.when(advance()).decision();
    assert!(killed(&first).is_empty(), "{:?}", first.facts());
    let asked: Vec<&TaskId> = first
        .effects
        .iter()
        .filter_map(|effect| match effect {
            aurora_scheduler_core::Effect::AskCoordinator { task, .. } => Some(task),
            _ => None,
        })
        .collect();
    assert_eq!(asked, tasks.iter().collect::<Vec<_>>());
    // Each waiting instance says so once, as Aurora's instance events do.
    assert_eq!(
        sla_messages(&first),
        [(0, CHECKING_SLA_MESSAGE), (1, CHECKING_SLA_MESSAGE)]
    );
    cluster.commit(&first);
    let again = cluster.when(advance()).decision();
    assert!(sla_messages(&again).is_empty(), "{:?}", again.facts());

    // The coordinator allows the second: the update kills it, and only it.
    let yes = cluster
        .when(Command::CoordinatorAllowed(CoordinatorAllowed {
            task: tasks[1].clone(),
        }))
        .decision();
    assert_eq!(killed(&yes), vec![tasks[1].clone()]);
    assert_eq!(sla_messages(&yes), [(1, SLA_PASSED_MESSAGE)]);
    cluster.commit(&yes);
    // Its later turns still wait for the first one's coordinator.
    assert!(killed(&cluster.when(advance()).decision()).is_empty());
}

/// The SLA instance events of a decision: instance and message.
fn sla_messages(decision: &Decision) -> Vec<(u32, &'static str)> {
    decision
        .facts()
        .into_iter()
        .filter_map(|e| match e {
            Event::UpdateInstanceActioned {
                instance,
                message: Some(message),
                ..
            } => [CHECKING_SLA_MESSAGE, SLA_PASSED_MESSAGE]
                .into_iter()
                .find(|m| *m == message)
                .map(|m| (instance, m)),
            _ => None,
        })
        .collect()
}

/// The tasks a decision moved to KILLING.
fn killed(decision: &Decision) -> Vec<TaskId> {
    decision
        .facts()
        .into_iter()
        .filter_map(|e| match e {
            Event::TaskStateChanged {
                task,
                to: ScheduleStatus::Killing,
                ..
            } => Some(task),
            _ => None,
        })
        .collect()
}

#[test]
fn an_sla_aware_update_needs_an_sla() {
    // Not preferred, no policy: nothing to keep.
    let job = job("web");
    let mut old = config(&job, 1.0, 128);
    old.sla_policy = None;
    let (given, _) = running_job(&old, 2);
    let mut new = old.clone();
    new.resources.ram_mb = 256;
    let mut sla_aware = settings(1);
    sla_aware.sla_aware = true;
    let Err(Rejection::InvalidRequest(message)) =
        given.when(start(&job, &new, 2, sla_aware)).result
    else {
        panic!("refused");
    };
    assert!(message.contains("needs an SLA policy"), "{message}");
}
