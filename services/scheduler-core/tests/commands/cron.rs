//! Cron jobs: scheduling, descheduling, starts, firings and the launch KILL_EXISTING owes.

use aurora_events::event::{CronCollisionPolicy, CronOutcome};
use aurora_events::{Event, JobKey, ScheduleStatus, TaskConfig, Timestamp};
use aurora_scheduler_core::commands::{
    CRON_KILL_MESSAGE, CronRound, DescheduleCronJob, KillTasks, ScheduleCronJob, StartCronJob,
};
use aurora_scheduler_core::{Command, Rejection};

use super::support::*;

fn batch(job: &JobKey) -> TaskConfig {
    let mut config = config(job, 0.5, 64);
    config.is_service = false;
    config
}

fn schedule(config: &TaskConfig, instances: u32, policy: CronCollisionPolicy) -> Command {
    Command::ScheduleCronJob(ScheduleCronJob {
        job: config.job.clone(),
        config: Box::new(config.clone()),
        instances,
        schedule: " */5  * * * * ".into(),
        collision_policy: policy,
    })
}

fn scheduled(config: &TaskConfig, instances: u32, policy: CronCollisionPolicy) -> Event {
    Event::CronScheduled {
        job: config.job.clone(),
        config: hash(config),
        instances,
        schedule: "*/5 * * * *".into(),
        collision_policy: policy,
    }
}

fn triggered(job: &JobKey, outcome: CronOutcome) -> Event {
    Event::CronTriggered {
        job: job.clone(),
        outcome,
    }
}

fn stored(config: &TaskConfig) -> Event {
    Event::TaskConfigStoredV2 {
        hash: hash(config),
        config: Box::new(config.clone()),
    }
}

/// A cron job of two instances under `policy`, scheduled at T0.
fn cron_job(config: &TaskConfig, policy: CronCollisionPolicy) -> Given {
    given([
        agent_registered(1),
        stored(config),
        scheduled(config, 2, policy),
    ])
}

/// Five minutes: the schedules here fire at T0 + k * FIVE (T0 is midnight).
const FIVE: i64 = 300_000;

/// The leader's cron round, for a leader that took over at T0 (schedules in UTC, the default).
fn round() -> Command {
    Command::CronRound(CronRound {
        since: Timestamp(T0),
    })
}

#[test]
fn scheduling_stores_the_template_with_its_schedule_as_written_once() {
    let job = job("nightly");
    let config = batch(&job);
    given([])
        .when(schedule(&config, 2, CronCollisionPolicy::KillExisting))
        .then_events(vec![
            stored(&config),
            scheduled(&config, 2, CronCollisionPolicy::KillExisting),
        ]);
}

#[test]
fn scheduling_refuses_services_bad_schedules_run_overlap_and_running_jobs() {
    let job = job("nightly");
    let config = batch(&job);
    let mut service = config.clone();
    service.is_service = true;
    given([])
        .when(schedule(&service, 1, CronCollisionPolicy::KillExisting))
        .then_rejects(Rejection::InvalidRequest(format!(
            "A service task may not be run on a cron schedule: {job}"
        )));

    let mut bad = schedule(&config, 1, CronCollisionPolicy::KillExisting);
    if let Command::ScheduleCronJob(command) = &mut bad {
        command.schedule = "0 0 1 * MON".into();
    }
    let Err(Rejection::InvalidRequest(message)) = given([]).when(bad).result else {
        panic!("a schedule with a day of month and a day of week is refused");
    };
    assert!(message.contains("cannot both be given"), "{message}");

    let Err(Rejection::InvalidRequest(message)) = given([])
        .when(schedule(&config, 1, CronCollisionPolicy::RunOverlap))
        .result
    else {
        panic!("RUN_OVERLAP is refused");
    };
    assert!(message.contains("RUN_OVERLAP"), "{message}");

    // A job started by `job create` does not become a cron job under its running tasks.
    let task = task_id(&job, 0);
    given(one_running(&config, &task))
        .when(schedule(&config, 1, CronCollisionPolicy::KillExisting))
        .then_rejects(Rejection::JobExists(job.clone()));
}

#[test]
fn a_trigger_with_no_active_tasks_launches_every_instance() {
    let job = job("nightly");
    let config = batch(&job);
    let decision = cron_job(&config, CronCollisionPolicy::KillExisting)
        .at(60_000)
        .when(Command::StartCronJob(StartCronJob { job: job.clone() }))
        .decision();
    let facts = decision.facts();
    assert_eq!(facts[0], triggered(&job, CronOutcome::Launched));
    let created = created_tasks(&decision);
    assert_eq!(created.len(), 2);
    // The tasks name the launch as their cause.
    let launch = decision.events[0].id;
    assert!(decision.events[1..].iter().all(|e| e.cause == Some(launch)));
}

#[test]
fn kill_existing_kills_then_launches_exactly_once_after_the_tasks_are_gone() {
    let job = job("nightly");
    let config = batch(&job);
    // Nothing is due before the first five minutes are up.
    cron_job(&config, CronCollisionPolicy::KillExisting)
        .at(FIVE - 1)
        .when(round())
        .then_events(vec![]);
    let mut cluster = cron_job(&config, CronCollisionPolicy::KillExisting).at(FIVE);
    let first = cluster.when(round()).decision();
    cluster.commit(&first);
    let tasks = created_tasks(&first);
    for task in &tasks {
        cluster.apply(running(&job, task, 1));
    }

    // The next firing finds them running: they are killed, and a launch is owed.
    let mut cluster = cluster.at(2 * FIVE);
    let kill = cluster.when(round()).then_events(vec![
        triggered(&job, CronOutcome::KillingExisting),
        changed(
            &job,
            &tasks[0],
            ScheduleStatus::Running,
            ScheduleStatus::Killing,
            Some(CRON_KILL_MESSAGE),
        ),
        changed(
            &job,
            &tasks[1],
            ScheduleStatus::Running,
            ScheduleStatus::Killing,
            Some(CRON_KILL_MESSAGE),
        ),
    ]);
    cluster.commit(&kill);
    assert!(cluster.state.cron_job(&job).unwrap().launch_owed);

    // While one is still dying: no launch, and a further firing is skipped.
    let dying = changed(
        &job,
        &tasks[0],
        ScheduleStatus::Killing,
        ScheduleStatus::Killed,
        None,
    );
    cluster.apply([dying]);
    cluster.when(round()).then_events(vec![]);
    let mut cluster = cluster.at(3 * FIVE);
    let skip = cluster
        .when(round())
        .then_events(vec![triggered(&job, CronOutcome::Skipped)]);
    cluster.commit(&skip);
    assert!(cluster.state.cron_job(&job).unwrap().launch_owed);

    // The last one gone: the next round launches once, then nothing more is owed.
    let mut cluster = cluster.at(3 * FIVE + 500);
    cluster.apply([changed(
        &job,
        &tasks[1],
        ScheduleStatus::Killing,
        ScheduleStatus::Killed,
        None,
    )]);
    let launch = cluster.when(round()).decision();
    assert_eq!(launch.facts()[0], triggered(&job, CronOutcome::Launched));
    assert_eq!(created_tasks(&launch).len(), 2);
    cluster.commit(&launch);
    assert!(!cluster.state.cron_job(&job).unwrap().launch_owed);
    cluster.when(round()).then_events(vec![]);
}

#[test]
fn cancel_new_skips_a_run_while_tasks_are_active() {
    let job = job("nightly");
    let config = batch(&job);
    let mut cluster = cron_job(&config, CronCollisionPolicy::CancelNew).at(FIVE);
    let first = cluster.when(round()).decision();
    cluster.commit(&first);
    let cluster = cluster.at(2 * FIVE);
    cluster
        .when(round())
        .then_events(vec![triggered(&job, CronOutcome::Skipped)]);
}

#[test]
fn a_firing_already_recorded_is_not_repeated_and_a_descheduled_job_does_not_fire() {
    let job = job("nightly");
    let config = batch(&job);
    let mut cluster = cron_job(&config, CronCollisionPolicy::KillExisting).at(FIVE);
    let first = cluster.when(round()).decision();
    cluster.commit(&first);
    // The round again, or a new leader's (which took over a moment ago): nothing.
    cluster.when(round()).then_events(vec![]);
    cluster
        .at(FIVE + 1_000)
        .when(Command::CronRound(CronRound {
            since: Timestamp(T0 + FIVE - 2_000),
        }))
        .then_events(vec![]);
    // A leader that took over after a due time missed it: no catch-up.
    cron_job(&config, CronCollisionPolicy::KillExisting)
        .at(FIVE + 1_000)
        .when(Command::CronRound(CronRound {
            since: Timestamp(T0 + FIVE + 500),
        }))
        .then_events(vec![]);

    let gone = cluster
        .when(Command::DescheduleCronJob(DescheduleCronJob {
            job: job.clone(),
        }))
        .then_events(vec![Event::CronDescheduled { job: job.clone() }]);
    cluster.commit(&gone);
    // Its tasks are left alone; it no longer fires, and starting it is an error.
    assert_eq!(cluster.state.active_tasks_of_job(&job).count(), 2);
    cluster.at(2 * FIVE).when(round()).then_events(vec![]);
    cluster
        .when(Command::StartCronJob(StartCronJob { job: job.clone() }))
        .then_rejects(Rejection::InvalidRequest(format!(
            "{job} is not a cron job"
        )));
}

#[test]
fn killing_a_cron_jobs_tasks_does_not_deschedule_it_and_a_replaced_template_keeps_its_history() {
    let job = job("nightly");
    let config = batch(&job);
    let mut cluster = cron_job(&config, CronCollisionPolicy::KillExisting).at(FIVE);
    let first = cluster.when(round()).decision();
    cluster.commit(&first);
    let kill = cluster
        .when(Command::KillTasks(KillTasks {
            job: job.clone(),
            instances: None,
            message: None,
        }))
        .decision();
    cluster.commit(&kill);
    assert!(cluster.state.cron_job(&job).is_some());

    let mut bigger = config.clone();
    bigger.resources.ram_mb = 128;
    let replaced = cluster
        .when(schedule(&bigger, 3, CronCollisionPolicy::CancelNew))
        .decision();
    cluster.commit(&replaced);
    let record = cluster.state.cron_job(&job).unwrap();
    assert_eq!(record.instances, 3);
    assert_eq!(record.config, hash(&bigger));
    assert_eq!(record.last_triggered, Some(Timestamp(T0 + FIVE)));
    // So the firing already made is still not repeated.
    cluster.when(round()).then_events(vec![]);
}

#[test]
fn a_job_scheduled_late_does_not_fire_for_times_before_it_existed() {
    let job = job("nightly");
    let config = batch(&job);
    // The leader began at T0; the job is scheduled seven minutes later, after the */5 due
    // time at five.
    let mut cluster = given([agent_registered(1)]).at(7 * 60_000);
    cluster.apply([
        stored(&config),
        scheduled(&config, 2, CronCollisionPolicy::KillExisting),
    ]);
    assert_eq!(
        cluster.state.cron_job(&job).unwrap().scheduled_at,
        Timestamp(T0 + 7 * 60_000)
    );
    cluster
        .at(7 * 60_000 + 1_000)
        .when(round())
        .then_events(vec![]);
    let fired = cluster.at(2 * FIVE).when(round()).decision();
    assert_eq!(fired.facts()[0], triggered(&job, CronOutcome::Launched));

    // Replaced with the same schedule, it keeps counting from before; with another, from
    // the replacement.
    let mut later = cluster.at(9 * 60_000);
    later.apply([scheduled(&config, 3, CronCollisionPolicy::KillExisting)]);
    assert_eq!(
        later.state.cron_job(&job).unwrap().scheduled_at,
        Timestamp(T0 + 7 * 60_000)
    );
    later.apply([Event::CronScheduled {
        job: job.clone(),
        config: hash(&config),
        instances: 3,
        schedule: "* * * * *".into(),
        collision_policy: CronCollisionPolicy::KillExisting,
    }]);
    assert_eq!(
        later.state.cron_job(&job).unwrap().scheduled_at,
        Timestamp(T0 + 9 * 60_000)
    );
}

#[test]
fn a_template_must_fit_the_quota_once_it_runs_counting_its_own_tasks_once() {
    let job = job("nightly");
    let mut config = batch(&job);
    config.tier = aurora_events::Tier::Preferred;
    let quota = aurora_events::ResourceAggregate {
        cpus: 1.0,
        ram_mb: 128,
        disk_mb: 10_000,
    };
    let mut cluster = given([Event::QuotaSet {
        role: job.role.clone(),
        quota,
    }]);
    // Two instances of 0.5 cpu and 64 MiB fit exactly; three do not.
    let fits = cluster
        .when(schedule(&config, 2, CronCollisionPolicy::KillExisting))
        .decision();
    cluster.commit(&fits);
    let Err(Rejection::InsufficientQuota(message)) = cluster
        .when(schedule(&config, 3, CronCollisionPolicy::KillExisting))
        .result
    else {
        panic!("a template over quota is refused");
    };
    assert!(message.contains("once the cron job runs"), "{message}");
    // Its own running tasks are not counted twice: replacing it at the same size fits while
    // they run.
    let started = cluster
        .at(60_000)
        .when(Command::StartCronJob(StartCronJob { job: job.clone() }))
        .decision();
    cluster.commit(&started);
    assert_eq!(cluster.state.active_tasks_of_job(&job).count(), 2);
    cluster
        .when(schedule(&config, 2, CronCollisionPolicy::CancelNew))
        .decision();
}

#[test]
fn an_idle_template_counts_against_quota_and_its_running_tasks_count_instead() {
    let job = job("nightly");
    let mut config = batch(&job);
    config.tier = aurora_events::Tier::Preferred;
    let role = job.role.clone();
    let quota = aurora_events::ResourceAggregate {
        cpus: 1.5,
        ram_mb: 512,
        disk_mb: 10_000,
    };
    let mut cluster = given([Event::QuotaSet {
        role: role.clone(),
        quota,
    }]);
    let fits = cluster
        .when(schedule(&config, 2, CronCollisionPolicy::KillExisting))
        .decision();
    cluster.commit(&fits);
    // Idle, the template's two instances of 0.5 cpu are the role's consumption.
    let usage = aurora_scheduler_core::quota::usage(&cluster.state, &role);
    assert_eq!(usage.prod_shared.cpus, 1.0);
    // So another production job of 1 cpu no longer fits; one of 0.5 does.
    let other = super::support::job("web");
    let mut web = batch(&other);
    web.tier = aurora_events::Tier::Preferred;
    let create = |instances| {
        Command::CreateJob(aurora_scheduler_core::commands::CreateJob {
            job: other.clone(),
            config: Box::new(web.clone()),
            instances,
        })
    };
    let Err(Rejection::InsufficientQuota(_)) = cluster.when(create(2)).result else {
        panic!("the idle template's resources are taken");
    };
    assert!(cluster.when(create(1)).result.is_ok());
    // Running, its tasks count once, not twice.
    let started = cluster
        .at(60_000)
        .when(Command::StartCronJob(StartCronJob { job: job.clone() }))
        .decision();
    cluster.commit(&started);
    let usage = aurora_scheduler_core::quota::usage(&cluster.state, &role);
    assert_eq!(usage.prod_shared.cpus, 1.0);
    // Lowering the quota below the template is refused, as below running tasks.
    let Err(Rejection::InsufficientQuota(_)) = cluster
        .when(Command::SetQuota(
            aurora_scheduler_core::commands::SetQuota {
                role: role.clone(),
                quota: aurora_events::ResourceAggregate {
                    cpus: 0.5,
                    ram_mb: 512,
                    disk_mb: 10_000,
                },
            },
        ))
        .result
    else {
        panic!("a quota below the template is refused");
    };
}
