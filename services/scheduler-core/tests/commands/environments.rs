//! `-allowed_job_environments`: a job key enters the cluster (create, cron schedule, an update
//! that creates its job) only in an environment the cluster allows.

use std::collections::BTreeMap;

use aurora_events::event::CronCollisionPolicy;
use aurora_events::update::{UpdateSettings, UpdateStrategy};
use aurora_events::{JobKey, TaskConfig};
use aurora_scheduler_core::commands::{CreateJob, ScheduleCronJob, StartUpdate};
use aurora_scheduler_core::{Command, Decision, EnvironmentPattern, Rejection, Settings};

use super::support::*;

fn key(environment: &str) -> JobKey {
    format!("www-data/{environment}/b5").parse().unwrap()
}

fn create(job: &JobKey) -> Command {
    Command::CreateJob(CreateJob {
        job: job.clone(),
        config: Box::new(config(job, 0.5, 64)),
        instances: 1,
    })
}

fn schedule(job: &JobKey) -> Command {
    let mut config = config(job, 0.5, 64);
    config.is_service = false;
    Command::ScheduleCronJob(ScheduleCronJob {
        job: job.clone(),
        config: Box::new(config),
        instances: 1,
        schedule: "*/5 * * * *".into(),
        collision_policy: CronCollisionPolicy::KillExisting,
    })
}

fn update(config: &TaskConfig) -> Command {
    Command::StartUpdate(StartUpdate {
        job: config.job.clone(),
        config: Box::new(config.clone()),
        instances: 1,
        settings: UpdateSettings {
            strategy: UpdateStrategy::Queue { group_size: 1 },
            max_per_instance_failures: 0,
            max_failed_instances: 0,
            min_wait_in_instance_running_ms: 1000,
            rollback_on_failure: true,
            update_only_these_instances: Vec::new(),
            block_if_no_pulses_after_ms: None,
            sla_aware: false,
        },
        metadata: BTreeMap::new(),
        message: None,
    })
}

fn refusal(result: Result<Decision, Rejection>) -> String {
    match result {
        Err(Rejection::InvalidRequest(message)) => message,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_new_job_outside_the_allowed_environments_is_refused_naming_both() {
    let production = key("production");
    for command in [
        create(&production),
        schedule(&production),
        update(&config(&production, 0.5, 64)),
    ] {
        let message = refusal(given([]).when(command.clone()).result);
        assert!(
            message.starts_with(
                r"Job environment production doesn't match: ^(prod|devel|test|staging\d*)$"
            ),
            "{command:?}: {message}"
        );
    }
}

#[test]
fn auroras_environments_are_allowed_by_default() {
    for environment in ["prod", "devel", "test", "staging", "staging2"] {
        let job = key(environment);
        for command in [create(&job), schedule(&job), update(&config(&job, 0.5, 64))] {
            let result = given([]).when(command.clone()).result;
            assert!(result.is_ok(), "{command:?}: {result:?}");
        }
    }
}

#[test]
fn the_pattern_is_the_operators_and_is_matched_whole() {
    let settings = Settings {
        allowed_job_environments: EnvironmentPattern::new("production|qa").unwrap(),
        ..Settings::default()
    };
    assert!(
        given_with(settings.clone(), [])
            .when(create(&key("production")))
            .result
            .is_ok()
    );
    // Not a prefix or substring match: Java's `matches`.
    let message = refusal(
        given_with(settings.clone(), [])
            .when(create(&key("qa2")))
            .result,
    );
    assert!(
        message.starts_with("Job environment qa2 doesn't match: production|qa"),
        "{message}"
    );
    assert!(
        given_with(settings, [])
            .when(create(&key("prod")))
            .result
            .is_err()
    );
}

#[test]
fn a_job_already_running_in_an_environment_no_longer_allowed_can_still_be_updated() {
    // Created under another pattern; the job is there, so its key does not enter anew.
    let job = key("production");
    let old = config(&job, 0.5, 64);
    let mut events = vec![agent_registered(1)];
    events.extend(job_created(&old, &[task_id(&job, 0)]));
    events.extend(running(&job, &task_id(&job, 0), 1));
    let new = config(&job, 0.5, 128);
    let result = given(events).when(update(&new)).result;
    assert!(result.is_ok(), "{result:?}");
}
