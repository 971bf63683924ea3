//! SLA-aware drains: a host goes DRAINING at once, its tasks one at a time while their job's
//! SLA allows it, and the rest when the drain times out.

use aurora_events::config::SlaPolicy;
use aurora_events::{Event, MaintenanceMode, ScheduleStatus, TaskConfig, TaskId, Timestamp};
use aurora_scheduler_core::commands::{
    COORDINATOR_DRAIN_MESSAGE, CoordinatorAllowed, FORCED_DRAIN_MESSAGE, SLA_DRAIN_MESSAGE,
    SlaDrainHosts, StatusUpdate, Tick,
};
use aurora_scheduler_core::{Command, Decision, Effect, Settings};

use super::support::*;

const MINUTE: i64 = 60_000;

/// Settings under which a two-instance, non-production job's SLA is checked (Aurora skips
/// jobs under 20 instances, and non-production ones, by default).
fn checked() -> Settings {
    Settings {
        min_required_instances_for_sla_check: 1,
        sla_aware_kill_non_prod: true,
        ..Settings::default()
    }
}

/// A two-instance job under `policy`, both instances RUNNING on agent 1 since T0.
fn two_on_one_host(policy: Option<SlaPolicy>) -> (Given, TaskConfig, [TaskId; 2]) {
    two_on_one_host_with(checked(), policy)
}

fn two_on_one_host_with(
    settings: Settings,
    policy: Option<SlaPolicy>,
) -> (Given, TaskConfig, [TaskId; 2]) {
    let job = job("web");
    let mut config = config(&job, 1.0, 128);
    config.sla_policy = policy;
    let tasks = [task_id(&job, 0), task_id(&job, 1)];
    let mut events = vec![agent_registered(1), agent_registered(2)];
    events.extend(job_created(&config, &tasks));
    for task in &tasks {
        events.extend(running(&job, task, 1));
    }
    (given_with(settings, events), config, tasks)
}

fn drain(default_sla: SlaPolicy, timeout_secs: u64) -> Command {
    Command::SlaDrainHosts(SlaDrainHosts {
        hosts: vec![host(1), "never-seen".into()],
        default_sla,
        timeout_secs,
    })
}

fn tick(cluster: &Given) -> Decision {
    cluster
        .when(Command::Tick(Tick {
            since: Timestamp(T0),
        }))
        .decision()
}

/// The tasks a decision moved to DRAINING, with the message.
fn drained(decision: &Decision) -> Vec<(TaskId, String)> {
    decision
        .facts()
        .into_iter()
        .filter_map(|e| match e {
            Event::TaskStateChanged {
                task,
                to: ScheduleStatus::Draining,
                message,
                ..
            } => Some((task, message.unwrap_or_default())),
            _ => None,
        })
        .collect()
}

const KEEP_ONE: SlaPolicy = SlaPolicy::Count {
    count: 1,
    duration_secs: 60,
};

#[test]
fn the_request_is_recorded_and_the_host_drains_without_touching_tasks_yet() {
    let (cluster, _, _) = two_on_one_host(Some(KEEP_ONE));
    let decision = cluster
        .at(10 * MINUTE)
        .when(drain(KEEP_ONE, 3600))
        .then_events(vec![
            Event::SlaDrainRequested {
                host: host(1),
                default_sla: KEEP_ONE,
                timeout_secs: 3600,
            },
            Event::HostMaintenanceChanged {
                host: host(1),
                from: MaintenanceMode::None,
                to: MaintenanceMode::Draining,
            },
        ]);
    assert!(drained(&decision).is_empty());
}

#[test]
fn tasks_drain_one_at_a_time_while_the_job_keeps_its_sla() {
    let (cluster, config, tasks) = two_on_one_host(Some(KEEP_ONE));
    let job = config.job.clone();
    let mut cluster = cluster.at(10 * MINUTE);
    let request = cluster.when(drain(KEEP_ONE, 3600)).decision();
    cluster.commit(&request);

    // One may go (the other stays up); the second would leave none.
    let first = tick(&cluster);
    assert_eq!(
        drained(&first),
        vec![(tasks[0].clone(), SLA_DRAIN_MESSAGE.to_string())]
    );
    let draining = first
        .events
        .iter()
        .find(|e| matches!(e.event, Event::TaskStateChanged { .. }))
        .expect("the drained task's event");
    assert_eq!(
        draining.cause,
        Some(request.events[0].id),
        "a drained task is caused by the operator's request (what `aurora why` shows)"
    );
    cluster.commit(&first);
    assert!(drained(&tick(&cluster.at(11 * MINUTE))).is_empty());

    // The first dies; its replacement runs on agent 2; a minute later the second may go.
    let mut cluster = cluster.at(12 * MINUTE);
    let died = cluster
        .when(Command::StatusUpdate(StatusUpdate {
            agent: agent(1),
            task: tasks[0].clone(),
            status: ScheduleStatus::Killed,
            message: None,
        }))
        .decision();
    cluster.commit(&died);
    let replacement = created_tasks(&died)
        .pop()
        .expect("the drained instance is replaced");
    cluster.apply(running(&job, &replacement, 2));
    assert!(
        drained(&tick(&cluster.at(12 * MINUTE + 30_000))).is_empty(),
        "the replacement has not run for a minute yet"
    );
    assert_eq!(
        drained(&tick(&cluster.at(13 * MINUTE + 1_000))),
        vec![(tasks[1].clone(), SLA_DRAIN_MESSAGE.to_string())]
    );
}

#[test]
fn the_default_policy_applies_without_one_and_the_timeout_forces_the_rest() {
    // No policy of its own; the request's default needs the other instance up for an hour,
    // and they have run for ten minutes: nothing may go.
    let (cluster, _, tasks) = two_on_one_host(None);
    let mut cluster = cluster.at(10 * MINUTE);
    let an_hour_up = SlaPolicy::Percentage {
        percentage: 50.0,
        duration_secs: 3600,
    };
    let request = cluster.when(drain(an_hour_up, 600)).decision();
    cluster.commit(&request);
    assert!(drained(&tick(&cluster.at(19 * MINUTE))).is_empty());
    // Ten minutes after the request: both are drained regardless.
    let forced = tick(&cluster.at(20 * MINUTE));
    assert_eq!(
        drained(&forced),
        vec![
            (tasks[0].clone(), FORCED_DRAIN_MESSAGE.to_string()),
            (tasks[1].clone(), FORCED_DRAIN_MESSAGE.to_string()),
        ]
    );
}

fn coordinated() -> SlaPolicy {
    SlaPolicy::Coordinator {
        url: "http://coordinator.invalid/drain".into(),
        status_key: "drain".into(),
    }
}

/// What a decision asked coordinators, by task, with the countdown to the forced drain.
fn asked(decision: &Decision) -> Vec<(TaskId, Option<i64>)> {
    decision
        .effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::AskCoordinator {
                task,
                url,
                status_key,
                force_countdown_ms,
                host: asked_host,
                ..
            } => {
                assert_eq!(url, "http://coordinator.invalid/drain");
                assert_eq!(status_key, "drain");
                assert_eq!(asked_host, &host(1));
                Some((task.clone(), *force_countdown_ms))
            }
            Effect::Launch { .. } | Effect::Kill { .. } => None,
        })
        .collect()
}

#[test]
fn a_coordinated_task_drains_once_its_coordinator_says_yes_and_late_answers_do_nothing() {
    let (cluster, _, tasks) = two_on_one_host(Some(coordinated()));
    let mut cluster = cluster.at(10 * MINUTE);
    let request = cluster.when(drain(KEEP_ONE, 600)).decision();
    cluster.commit(&request);

    // Each tick asks the coordinators of both tasks, telling them when the drain is forced;
    // nothing drains until one says yes.
    let waiting = tick(&cluster.at(11 * MINUTE));
    assert!(drained(&waiting).is_empty());
    assert_eq!(
        asked(&waiting),
        vec![
            (tasks[0].clone(), Some(9 * MINUTE)),
            (tasks[1].clone(), Some(9 * MINUTE))
        ]
    );

    // A yes for the second task drains it, with its own message.
    let yes = cluster
        .at(12 * MINUTE)
        .when(Command::CoordinatorAllowed(CoordinatorAllowed {
            task: tasks[1].clone(),
        }))
        .decision();
    assert_eq!(
        drained(&yes),
        vec![(tasks[1].clone(), COORDINATOR_DRAIN_MESSAGE.to_string())]
    );
    cluster.commit(&yes);
    // Only the first is still asked about; a second yes for the drained task does nothing.
    assert_eq!(
        asked(&tick(&cluster.at(13 * MINUTE))),
        vec![(tasks[0].clone(), Some(7 * MINUTE))]
    );
    let late = cluster
        .at(13 * MINUTE)
        .when(Command::CoordinatorAllowed(CoordinatorAllowed {
            task: tasks[1].clone(),
        }))
        .decision();
    assert!(late.is_empty(), "{late:?}");

    // After the timeout the rest is forced, and nobody is asked any more.
    let forced = tick(&cluster.at(21 * MINUTE));
    assert_eq!(
        drained(&forced),
        vec![(tasks[0].clone(), FORCED_DRAIN_MESSAGE.to_string())]
    );
    assert!(asked(&forced).is_empty());
}

#[test]
fn a_coordinated_drain_ends_with_maintenance_and_then_a_yes_does_nothing() {
    let (cluster, _, tasks) = two_on_one_host(Some(coordinated()));
    let mut cluster = cluster.at(10 * MINUTE);
    let request = cluster.when(drain(KEEP_ONE, 600)).decision();
    cluster.commit(&request);
    cluster.apply([Event::HostMaintenanceChanged {
        host: host(1),
        from: MaintenanceMode::Draining,
        to: MaintenanceMode::None,
    }]);
    assert_eq!(cluster.state.sla_drains().count(), 0);
    let after = tick(&cluster.at(30 * MINUTE));
    assert!(drained(&after).is_empty() && asked(&after).is_empty());
    let yes = cluster
        .when(Command::CoordinatorAllowed(CoordinatorAllowed {
            task: tasks[0].clone(),
        }))
        .decision();
    assert!(yes.is_empty(), "{yes:?}");
}

#[test]
fn small_or_non_production_jobs_are_not_checked_unless_the_settings_say_so() {
    // Aurora's defaults: a two-instance job is under the 20 instances SLA checks need (and
    // this one is not production either): both go at once.
    let (cluster, _, tasks) = two_on_one_host_with(Settings::default(), Some(KEEP_ONE));
    let mut cluster = cluster.at(10 * MINUTE);
    let request = cluster.when(drain(KEEP_ONE, 3600)).decision();
    cluster.commit(&request);
    assert_eq!(
        drained(&tick(&cluster)),
        vec![
            (tasks[0].clone(), SLA_DRAIN_MESSAGE.to_string()),
            (tasks[1].clone(), SLA_DRAIN_MESSAGE.to_string()),
        ]
    );
}

#[test]
fn a_policy_that_allows_no_instance_down_allows_one() {
    // Count 2 of 2 would keep both forever: as in Aurora, it is taken as 1 of 2.
    let keep_all = SlaPolicy::Count {
        count: 2,
        duration_secs: 0,
    };
    let (cluster, _, tasks) = two_on_one_host(Some(keep_all.clone()));
    let mut cluster = cluster.at(10 * MINUTE);
    let request = cluster.when(drain(keep_all, 3600)).decision();
    cluster.commit(&request);
    assert_eq!(
        drained(&tick(&cluster)),
        vec![(tasks[0].clone(), SLA_DRAIN_MESSAGE.to_string())]
    );
}

#[test]
fn a_host_moved_out_of_draining_is_no_longer_drained_and_partitioned_tasks_are_forced_too() {
    // Maintenance moved back to SCHEDULED: the request ends, nothing more is drained.
    let (cluster, _, _) = two_on_one_host(Some(KEEP_ONE));
    let mut cluster = cluster.at(10 * MINUTE);
    let request = cluster.when(drain(KEEP_ONE, 600)).decision();
    cluster.commit(&request);
    cluster.apply([Event::HostMaintenanceChanged {
        host: host(1),
        from: MaintenanceMode::Draining,
        to: MaintenanceMode::Scheduled,
    }]);
    assert_eq!(cluster.state.sla_drains().count(), 0);
    assert!(drained(&tick(&cluster.at(30 * MINUTE))).is_empty());

    // A PARTITIONED task on a draining host is drained when the drain times out; one whose
    // partition policy makes it LOST in the same tick is not also drained.
    let (cluster, config, tasks) = two_on_one_host(Some(KEEP_ONE));
    assert_eq!(
        config
            .partition_policy
            .map(|p| (p.reschedule, p.delay_secs)),
        Some((true, 0)),
        "the sample's policy: LOST at the first tick"
    );
    let mut cluster = cluster.at(10 * MINUTE);
    let request = cluster.when(drain(KEEP_ONE, 600)).decision();
    cluster.commit(&request);
    cluster.apply([changed(
        &config.job,
        &tasks[1],
        ScheduleStatus::Running,
        ScheduleStatus::Partitioned,
        None,
    )]);
    let forced = tick(&cluster.at(21 * MINUTE));
    let moves: Vec<_> = forced
        .facts()
        .into_iter()
        .filter(|e| matches!(e, Event::TaskStateChanged { task, .. } if *task == tasks[1]))
        .collect();
    assert_eq!(moves.len(), 1, "moved once, to LOST: {moves:?}");
    assert_eq!(
        drained(&forced),
        vec![(tasks[0].clone(), FORCED_DRAIN_MESSAGE.to_string())]
    );
}

#[test]
fn a_partitioned_task_that_waits_for_its_agent_is_drained_at_the_timeout() {
    let job = job("web");
    let mut config = config(&job, 1.0, 128);
    config.sla_policy = Some(KEEP_ONE);
    config.partition_policy = Some(aurora_events::config::PartitionPolicy {
        reschedule: false,
        delay_secs: 0,
    });
    let tasks = [task_id(&job, 0), task_id(&job, 1)];
    let mut events = vec![agent_registered(1)];
    events.extend(job_created(&config, &tasks));
    for task in &tasks {
        events.extend(running(&job, task, 1));
    }
    events.push(changed(
        &job,
        &tasks[1],
        ScheduleStatus::Running,
        ScheduleStatus::Partitioned,
        None,
    ));
    let mut cluster = given_with(checked(), events).at(10 * MINUTE);
    let request = cluster.when(drain(KEEP_ONE, 600)).decision();
    cluster.commit(&request);
    let forced = tick(&cluster.at(21 * MINUTE));
    assert!(
        drained(&forced).contains(&(tasks[1].clone(), FORCED_DRAIN_MESSAGE.to_string())),
        "{:?}",
        forced.facts()
    );
}
