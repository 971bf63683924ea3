//! `job status` and `job list`: jobs matching `CLUSTER[/ROLE[/ENV[/NAME]]]`.

use aurora_api::{CronJob, JobSummary, TaskView};
use aurora_events::JobKey;
use serde::Serialize;

use crate::client::Client;
use crate::context::{Context, paint, print_json};
use crate::exit::{CliError, CliResult};
use crate::keys::KeyPattern;

/// The jobs the scheduler knows that match `pattern`.
fn matching_jobs(
    client: &Client,
    pattern: &KeyPattern,
    at: Option<&str>,
) -> CliResult<Vec<JobKey>> {
    let path = match pattern.literal_role() {
        Some(role) => format!("/api/v1/jobs?role={role}"),
        None => "/api/v1/jobs".to_string(),
    };
    let path = crate::time::with_at(&path, at).map_err(CliError::invalid_parameter)?;
    let summaries: Vec<JobSummary> = client.get(&path)?;
    Ok(summaries
        .iter()
        .filter_map(|s| s.job.parse::<JobKey>().ok())
        .filter(|key| pattern.matches(key))
        .collect())
}

/// One job in `job status --write-json` (Aurora's shape).
#[derive(Debug, Serialize)]
struct JobStatus {
    job: String,
    active: Vec<TaskView>,
    inactive: Vec<TaskView>,
}

pub(super) fn status(ctx: &Context, pattern: &str, json: bool, at: Option<&str>) -> CliResult {
    let pattern: KeyPattern = pattern.parse()?;
    let client = ctx.client(&pattern.cluster)?;
    let mut statuses = Vec::new();
    for job in matching_jobs(&client, &pattern, at)? {
        let path = crate::time::with_at(
            &format!("/api/v1/jobs/{job}/tasks?all=true&configs=true"),
            at,
        )
        .map_err(CliError::invalid_parameter)?;
        let tasks: Vec<TaskView> = client.get(&path)?;
        let (active, inactive) = tasks.into_iter().partition(|t| t.status.is_active());
        statuses.push(JobStatus {
            job: format!("{}/{job}", pattern.cluster),
            active,
            inactive,
        });
    }
    if json {
        return print_json(&statuses);
    }
    if statuses.is_empty() {
        println!("No jobs match {pattern}");
    }
    // Cron jobs say so, with their schedule and next run (live only: a next run is a
    // prediction from now).
    let crons: Vec<CronJob> = if at.is_none() && !statuses.is_empty() {
        client.get("/api/v1/cron")?
    } else {
        Vec::new()
    };
    for status in &statuses {
        println!("Job: {}", status.job);
        let job = status
            .job
            .split_once('/')
            .map_or(status.job.as_str(), |(_, job)| job);
        if let Some(cron) = crons.iter().find(|c| c.job == job) {
            println!("\tcron schedule: {}", cron.cron_schedule);
            println!("\tcron policy: {}", cron.cron_collision_policy);
            if let Some(next) = cron.next_run {
                println!("\tnext run: {} UTC", crate::time::format(next));
            }
        }
        print_tasks(ctx, "Active", &status.active);
        print_tasks(ctx, "Inactive", &status.inactive);
    }
    Ok(())
}

fn print_tasks(ctx: &Context, heading: &str, tasks: &[TaskView]) {
    println!("{heading} tasks ({}):", tasks.len());
    for task in tasks {
        let colour = match task.status {
            aurora_events::ScheduleStatus::Running => "32",
            aurora_events::ScheduleStatus::Failed | aurora_events::ScheduleStatus::Lost => "31",
            aurora_events::ScheduleStatus::Pending | aurora_events::ScheduleStatus::Throttled => {
                "33"
            }
            _ => "0",
        };
        let host = task
            .host
            .as_deref()
            .map(|h| format!(" on {h}"))
            .unwrap_or_default();
        println!(
            "\tTask {} instance {}: {}{host}",
            task.id,
            task.instance,
            paint(ctx.color, colour, &task.status.to_string())
        );
        if let Some(config) = &task.task_config {
            let r = &config.resources;
            println!(
                "\t  cpus: {}, ram: {} MB, disk: {} MB",
                r.cpus, r.ram_mb, r.disk_mb
            );
        }
        if !task.ports.is_empty() {
            let ports: Vec<String> = task
                .ports
                .iter()
                .map(|(n, p)| format!("{n}: {p}"))
                .collect();
            println!("\t  ports: {}", ports.join(", "));
        }
        if let Some(reason) = &task.pending_reason {
            println!("\t  pending: {reason}");
        }
        println!("\t  events:");
        for (at, state) in &task.events {
            println!("\t   {} {state}", crate::time::format(*at));
        }
    }
}

pub(super) fn list(ctx: &Context, pattern: &str, json: bool, at: Option<&str>) -> CliResult {
    let pattern: KeyPattern = pattern.parse()?;
    let client = ctx.client(&pattern.cluster)?;
    let keys: Vec<String> = matching_jobs(&client, &pattern, at)?
        .iter()
        .map(|job| format!("{}/{job}", pattern.cluster))
        .collect();
    if json {
        return print_json(&keys);
    }
    for key in keys {
        println!("{key}");
    }
    Ok(())
}
