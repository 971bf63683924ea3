//! `job create | kill | killall | restart | add | open`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use aurora_api::{Committed, CreateJob};
use aurora_events::{InstanceId, ScheduleStatus, TaskId};
use serde_json::json;

use super::wait::{self, POLL};
use super::{ConfigArgs, KillArgs, RestartArgs, WaitUntil};
use crate::context::Context;
use crate::exit::{CliError, CliResult};
use crate::keys::{ClusterJobKey, InstanceSpec, KeyPattern};

/// The web UI's page of a job.
fn job_url(base: &str, key: &ClusterJobKey) -> String {
    let job = &key.job;
    format!(
        "{base}/scheduler/{}/{}/{}",
        job.role, job.environment, job.name
    )
}

pub(super) fn create(
    ctx: &Context,
    key: &str,
    config: &ConfigArgs,
    wait_until: WaitUntil,
    open_browser: bool,
) -> CliResult {
    let key: ClusterJobKey = key.parse()?;
    let loaded = ctx.load_config(&config.config, &config.bind, config.read_json)?;
    let job = loaded
        .select(
            &key.cluster,
            key.job.role.as_str(),
            key.job.environment.as_str(),
            key.job.name.as_str(),
        )
        .map_err(|e| CliError::invalid_config(e.to_string()))?;
    if job.cron_schedule.is_some() {
        return Err(CliError::failure(
            "cron jobs may only be scheduled with \"aurora cron schedule\"",
        ));
    }
    let client = ctx.client(&key.cluster)?;
    let request = CreateJob {
        job: key.job.to_string(),
        config: job.task.clone(),
        instances: job.instances,
    };
    let _: Committed = client.post("/api/v1/jobs", &request)?;
    let url = job_url(client.base(), &key);
    eprintln!("Job create succeeded: job url={url}");
    if open_browser {
        println!("{url}");
    }
    let instances: BTreeSet<InstanceId> = (0..job.instances).collect();
    wait::until(&client, &key.job, &instances, wait_until, None)
}

pub(super) fn kill(ctx: &Context, key: &str, args: &KillArgs, all: bool) -> CliResult {
    let spec: InstanceSpec = key.parse()?;
    let instances = match (&spec.instances, all) {
        (Some(_), true) => {
            return Err(CliError::invalid_parameter(format!(
                "{key}: killall takes a job key without instances; use \"job kill\" for some instances"
            )));
        }
        (None, false) => {
            return Err(CliError::invalid_parameter(format!(
                "{key}: name the instances to kill (e.g. {key}/0-2), or use \"job killall\""
            )));
        }
        (Some(instances), false) => Some(instances.clone()),
        (None, true) => None,
    };
    let client = ctx.client(&spec.key.cluster)?;
    let job = &spec.key.job;
    // The instances that have something to kill now.
    let active: BTreeSet<InstanceId> = wait::all_tasks(&client, job)?
        .iter()
        .filter(|t| t.status.is_active())
        .map(|t| t.instance)
        .filter(|i| instances.as_ref().is_none_or(|wanted| wanted.contains(i)))
        .collect();
    if active.is_empty() {
        eprintln!("No tasks to kill.");
        return Ok(());
    }
    let batch_size = if args.no_batching {
        active.len()
    } else {
        usize::try_from(args.batch_size.max(1)).unwrap_or(usize::MAX)
    };
    let targets: Vec<InstanceId> = active.into_iter().collect();
    let bar = wait::progress(targets.len() as u64, "instances killed");
    for batch in targets.chunks(batch_size) {
        let batch: BTreeSet<InstanceId> = batch.iter().copied().collect();
        let _: Committed = client.post(
            &format!("/api/v1/jobs/{job}/kill"),
            &json!({"instances": batch, "message": args.message}),
        )?;
        wait::until_dead(
            &client,
            job,
            &batch,
            Duration::from_secs(args.wait_secs),
            &bar,
        )?;
        bar.inc(batch.len() as u64);
    }
    bar.finish_and_clear();
    eprintln!("Job kill succeeded");
    Ok(())
}

pub(super) fn restart(ctx: &Context, key: &str, args: &RestartArgs) -> CliResult {
    let spec: InstanceSpec = key.parse()?;
    let client = ctx.client(&spec.key.cluster)?;
    let job = &spec.key.job;
    let tasks = wait::all_tasks(&client, job)?;
    let active: BTreeSet<InstanceId> = tasks
        .iter()
        .filter(|t| t.status.is_active())
        .map(|t| t.instance)
        .filter(|i| {
            spec.instances
                .as_ref()
                .is_none_or(|wanted| wanted.contains(i))
        })
        .collect();
    if active.is_empty() {
        return Err(CliError::failure(format!(
            "{}: no active instances to restart",
            spec.key
        )));
    }
    let targets: Vec<InstanceId> = active.into_iter().collect();
    let batch_size = usize::try_from(args.batch_size.max(1)).unwrap_or(usize::MAX);
    let bar = wait::progress(targets.len() as u64, "instances restarted");
    let mut failed_instances = 0u32;
    for batch in targets.chunks(batch_size) {
        for &instance in batch {
            let mut failures = 0u32;
            loop {
                match restart_one(&client, job, instance, args)? {
                    Ok(()) => break,
                    Err(why) => {
                        failures += 1;
                        bar.println(format!("instance {instance}: {why}"));
                        if failures > args.max_per_instance_failures {
                            failed_instances += 1;
                            break;
                        }
                    }
                }
            }
            if failed_instances > args.max_total_failures {
                bar.abandon();
                return Err(CliError::failure(format!(
                    "{}: restart stopped: {failed_instances} instance(s) failed",
                    spec.key
                )));
            }
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    eprintln!("Job restart succeeded");
    Ok(())
}

/// Restarts one instance and watches its new task: `Ok(Ok)` when it stayed RUNNING for the
/// watch time, `Ok(Err(why))` when it did not.
fn restart_one(
    client: &crate::client::Client,
    job: &aurora_events::JobKey,
    instance: InstanceId,
    args: &RestartArgs,
) -> CliResult<Result<(), String>> {
    let before: BTreeSet<TaskId> = wait::all_tasks(client, job)?
        .into_iter()
        .filter(|t| t.instance == instance)
        .map(|t| t.id)
        .collect();
    let _: Committed = client.post(
        &format!("/api/v1/jobs/{job}/restart"),
        &json!({"instances": [instance]}),
    )?;
    // Aurora checks restarted instances every --healthcheck-interval-seconds; never busier
    // than one poll, never so slow that a short --watch-secs is overshot by much.
    let interval = Duration::from_secs(args.healthcheck_interval_seconds).clamp(POLL, POLL * 6);
    let deadline = Instant::now() + Duration::from_secs(300 + args.watch_secs);
    let mut running_since: Option<Instant> = None;
    loop {
        let tasks = wait::all_tasks(client, job)?;
        let replacement = tasks
            .iter()
            .filter(|t| t.instance == instance && !before.contains(&t.id))
            .max_by_key(|t| t.events.first().map(|e| e.0));
        match replacement.map(|t| t.status) {
            Some(ScheduleStatus::Running) => {
                let since = *running_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= Duration::from_secs(args.watch_secs) {
                    return Ok(Ok(()));
                }
            }
            Some(status) if status.is_terminal() => {
                return Ok(Err(format!("the restarted task ended {status}")));
            }
            _ => running_since = None,
        }
        if Instant::now() > deadline {
            return Ok(Err("the restarted task did not stay RUNNING in time".into()));
        }
        std::thread::sleep(interval);
    }
}

pub(super) fn add(ctx: &Context, key: &str, count: u32, wait_until: WaitUntil) -> CliResult {
    let spec: InstanceSpec = key.parse()?;
    let template = match spec
        .instances
        .as_ref()
        .map(|set| set.iter().copied().collect::<Vec<_>>())
    {
        Some(one) if one.len() == 1 => one[0],
        _ => {
            return Err(CliError::invalid_parameter(format!(
                "{key}: expected CLUSTER/ROLE/ENV/NAME/INSTANCE naming one instance to copy"
            )));
        }
    };
    if count == 0 {
        return Err(CliError::invalid_parameter("COUNT must be at least 1"));
    }
    let client = ctx.client(&spec.key.cluster)?;
    let job = &spec.key.job;
    let existing: BTreeSet<InstanceId> = wait::all_tasks(&client, job)?
        .iter()
        .filter(|t| t.status.is_active())
        .map(|t| t.instance)
        .collect();
    let _: Committed = client.post(
        &format!("/api/v1/jobs/{job}/add"),
        &json!({"template": template, "count": count}),
    )?;
    let added: BTreeSet<InstanceId> = wait::all_tasks(&client, job)?
        .iter()
        .filter(|t| t.status.is_active() && !existing.contains(&t.instance))
        .map(|t| t.instance)
        .collect();
    eprintln!("Added {count} instance(s) to {}", spec.key);
    wait::until(&client, job, &added, wait_until, None)
}

pub(super) fn open(ctx: &Context, pattern: &str) -> CliResult {
    let pattern: KeyPattern = pattern.parse()?;
    let base = ctx.clusters.scheduler_uri(&pattern.cluster)?;
    let rest: String = pattern
        .to_string()
        .split('/')
        .skip(1)
        .collect::<Vec<_>>()
        .join("/");
    let url = if rest.is_empty() {
        format!("{base}/scheduler")
    } else {
        format!("{base}/scheduler/{rest}")
    };
    println!("{url}");
    Ok(())
}
