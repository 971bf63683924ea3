//! Cron jobs: schedule (or replace), deschedule, start now, and the list with next runs.
//!
//! The list is served from the write model because a next run depends on the scheduler's
//! `--cron-timezone`, which only the scheduler knows.

use aurora_api::{CronJob, ScheduleCron};
use aurora_auth::Action;
use aurora_scheduler_core::Command;
use aurora_scheduler_core::commands::{DescheduleCronJob, ScheduleCronJob, StartCronJob};
use aurora_scheduler_core::cron::CronSchedule;
use aurora_web::path::Path;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::routing::post;
use axum::{Json, Router};

use super::jobs::job_key;
use super::{Committed, Failure};
use crate::auth::Caller;
use crate::runtime::Runtime;

pub(super) fn router(runtime: Runtime) -> Router {
    Router::new()
        .route("/api/v1/cron", post(schedule).get(list))
        .route(
            "/api/v1/cron/{role}/{env}/{name}/deschedule",
            post(deschedule),
        )
        .route("/api/v1/cron/{role}/{env}/{name}/start", post(start))
        .with_state(runtime)
}

async fn schedule(
    State(runtime): State<Runtime>,
    caller: Caller,
    body: Result<Json<ScheduleCron>, JsonRejection>,
) -> Result<Json<Committed>, Failure> {
    let Json(request) = body?;
    let job = super::jobs::parse_job_key(&request.job)?;
    let actor = caller.authorize(Action::JobScheduleCron, Some(job.role.as_str()))?;
    let command = Command::ScheduleCronJob(ScheduleCronJob {
        job,
        config: Box::new(request.config),
        instances: request.instances,
        schedule: request.cron_schedule,
        collision_policy: request.cron_collision_policy,
    });
    let outcome = runtime.submit(actor, command).await?;
    Ok(Json(super::committed(outcome.committed, None)))
}

async fn deschedule(
    State(runtime): State<Runtime>,
    Path((role, env, name)): Path<(String, String, String)>,
    caller: Caller,
) -> Result<Json<Committed>, Failure> {
    let job = job_key(&role, &env, &name)?;
    let actor = caller.authorize(Action::JobDescheduleCron, Some(&role))?;
    let outcome = runtime
        .submit(actor, Command::DescheduleCronJob(DescheduleCronJob { job }))
        .await?;
    Ok(Json(super::committed(outcome.committed, None)))
}

async fn start(
    State(runtime): State<Runtime>,
    Path((role, env, name)): Path<(String, String, String)>,
    caller: Caller,
) -> Result<Json<Committed>, Failure> {
    let job = job_key(&role, &env, &name)?;
    let actor = caller.authorize(Action::JobStartCron, Some(&role))?;
    let outcome = runtime
        .submit(actor, Command::StartCronJob(StartCronJob { job }))
        .await?;
    // A run its collision policy cancelled is a success that did nothing: say so.
    let skipped = outcome.decision.events.iter().any(|pending| {
        matches!(
            pending.event,
            aurora_events::Event::CronTriggered {
                outcome: aurora_events::event::CronOutcome::Skipped,
                ..
            }
        )
    });
    let message = skipped.then(|| {
        "Skipped: the job's previous run is still active and its cron_collision_policy is \
         CANCEL_NEW"
            .to_string()
    });
    Ok(Json(super::committed(outcome.committed, message)))
}

/// Every cron job, in job-key order, with when it next runs on this scheduler's clock.
async fn list(State(runtime): State<Runtime>) -> Json<Vec<CronJob>> {
    let now = runtime.now();
    let state = runtime.state();
    let zone = &state.settings().cron_zone;
    let timezone = zone.iana_name().unwrap_or("UTC").to_string();
    let jobs = state
        .cron_jobs()
        .map(|(job, record)| CronJob {
            job: job.to_string(),
            cron_schedule: record.schedule.clone(),
            cron_collision_policy: record.collision_policy,
            instances: record.instances,
            config: record.config.to_string(),
            timezone: timezone.clone(),
            next_run: CronSchedule::parse(&record.schedule)
                .ok()
                .and_then(|schedule| schedule.next_after(now, zone)),
            last_run: record.last_triggered,
            launch_owed: record.launch_owed,
            active: state.active_tasks_of_job(job).count(),
        })
        .collect();
    Json(jobs)
}
