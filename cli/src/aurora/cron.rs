//! `cron schedule | deschedule | start | show`, as Aurora's client has them.

use aurora_api::{Committed, CronJob, ScheduleCron};
use aurora_events::JobKey;
use aurora_events::event::CronCollisionPolicy;

use super::ConfigArgs;
use super::job::job_url;
use crate::client::Refusal;
use crate::context::Context;
use crate::exit::{CliError, CliResult};
use crate::keys::ClusterJobKey;

pub(super) fn schedule(ctx: &Context, key: &str, config: &ConfigArgs) -> CliResult {
    let key: ClusterJobKey = key.parse()?;
    let job = super::selected_job(ctx, &key, config)?;
    let Some(cron_schedule) = job.cron_schedule.clone() else {
        return Err(CliError::invalid_config(format!(
            "{key} has no cron_schedule in {}: a job without one is started with \"aurora job create\"",
            config.config.display()
        )));
    };
    let policy = job
        .cron_collision_policy
        .as_deref()
        .unwrap_or("KILL_EXISTING");
    let cron_collision_policy: CronCollisionPolicy = policy.parse().map_err(|_| {
        CliError::invalid_config(format!(
            "invalid cron_collision_policy {policy:?}: use KILL_EXISTING or CANCEL_NEW"
        ))
    })?;
    let client = ctx.client(&key.cluster)?;
    let request = ScheduleCron {
        job: key.job.to_string(),
        config: job.task.clone(),
        instances: job.instances,
        cron_schedule,
        cron_collision_policy,
    };
    let _: Committed = client.post("/api/v1/cron", &request)?;
    eprintln!(
        "Cron job scheduled, status can be viewed at {}",
        job_url(client.base(), &key)
    );
    Ok(())
}

/// Aurora's `cron deschedule`: a job that has no cron schedule (never had one, or was
/// descheduled already) is descheduled all the same, so teardown scripts can run it twice.
pub(super) fn deschedule(ctx: &Context, key: &str) -> CliResult {
    let key: ClusterJobKey = key.parse()?;
    let client = ctx.client(&key.cluster)?;
    crate::log_info(&format!("Removing cron schedule for job {key}"));
    let answer: Result<Committed, Refusal> = client.try_post(
        &format!("/api/v1/cron/{}/deschedule", key.job),
        &serde_json::json!({}),
    )?;
    match answer {
        Ok(committed) => crate::log_success_message(committed.message.as_deref()),
        // Aurora's scheduler answers OK with this message; this one refuses.
        Err(refusal) if refuses_as_not_cron(&refusal, &key.job) => {
            crate::log_info(&format!("Job {} is not scheduled with cron", key.job));
        }
        Err(refusal) => {
            return Err(refusal.aurora_error(&format!("Error descheduling cron job {key}:")));
        }
    }
    println!("Cron descheduling succeeded.");
    Ok(())
}

/// Whether `refusal` is the scheduler's "`job` is not a cron job" (400 `INVALID_REQUEST`),
/// and nothing else: any other refusal (authorisation, an update holding the job, a
/// malformed key) is still an error.
fn refuses_as_not_cron(refusal: &Refusal, job: &JobKey) -> bool {
    refusal.http_status == 400
        && refusal.code() == Some("INVALID_REQUEST")
        // (The scheduler prefixes its rejections' messages: "invalid request: ...".)
        && refusal.message().ends_with(&format!("{job} is not a cron job"))
}

/// Aurora's `cron start` prints nothing of its own on success: only what its API layer logs.
pub(super) fn start(ctx: &Context, key: &str) -> CliResult {
    let key: ClusterJobKey = key.parse()?;
    let client = ctx.client(&key.cluster)?;
    crate::log_info(&format!("Starting cron job: {key}"));
    let committed: Committed = client
        .try_post(
            &format!("/api/v1/cron/{}/start", key.job),
            &serde_json::json!({}),
        )?
        .map_err(|refusal| refusal.aurora_error(&format!("Error starting cron job {key}:")))?;
    crate::log_success_message(committed.message.as_deref());
    Ok(())
}

/// Aurora's line (`KEY\t SCHEDULE\t POLICY`) on standard output, for scripts; when it next
/// runs on standard error, for people.
pub(super) fn show(ctx: &Context, key: &str) -> CliResult {
    let key: ClusterJobKey = key.parse()?;
    let client = ctx.client(&key.cluster)?;
    let jobs: Vec<CronJob> = client.get("/api/v1/cron")?;
    let wanted = key.job.to_string();
    let Some(job) = jobs.into_iter().find(|j| j.job == wanted) else {
        // Aurora's words and exit code (6) for a job without a cron schedule, or none at all.
        return Err(CliError::invalid_parameter(format!(
            "No cron entry found for job {key}"
        )));
    };
    println!(
        "{key}\t {}\t {}",
        job.cron_schedule, job.cron_collision_policy
    );
    match job.next_run {
        Some(at) => eprintln!(
            "next run: {} UTC (the schedule is read in {} on the scheduler)",
            crate::time::format(at),
            job.timezone
        ),
        None => eprintln!("next run: never (the schedule names no date that exists)"),
    }
    Ok(())
}
