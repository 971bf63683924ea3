//! `job kill KEY/INSTANCES` and `job killall KEY`, with Aurora's semantics
//! (`AbstractKillCommand` in `jobs.py`): the client kills the active instances in batches of
//! `--batch-size` (default 1), waiting for each batch's tasks to be terminal before the next;
//! a batch that is not dead in time counts as a failure, and more than `--max-total-failures`
//! (default 0) of them stop the kill (exit 4). `--no-batching` kills every named instance in
//! one request and waits for them once (exit 9 if they do not die in time).
//!
//! The wait asks the scheduler right after the kill and then with a backoff from 50 ms to
//! 500 ms, so a batch that dies quickly (PENDING tasks are deleted at once) costs milliseconds,
//! not Aurora's 2-second first poll.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use aurora_api::{Committed, TaskView};
use aurora_events::config::SlaPolicy;
use aurora_events::{InstanceId, JobKey};
use serde_json::json;

use super::KillArgs;
use super::wait::latest_by_instance;
use crate::client::Client;
use crate::context::Context;
use crate::exit::{CliError, CliResult, ExitCode};
use crate::keys::{ClusterJobKey, InstanceSpec};
use crate::pyfmt;

/// The first pause between two looks at a dying batch, doubled up to [`MAX_POLL`].
const FIRST_POLL: Duration = Duration::from_millis(50);
const MAX_POLL: Duration = Duration::from_millis(500);

pub(super) fn kill(ctx: &Context, key: &str, args: &KillArgs, all: bool) -> CliResult {
    let spec: InstanceSpec = key.parse()?;
    let requested: Option<BTreeSet<InstanceId>> = match (&spec.instances, all) {
        (Some(_), true) => {
            return Err(CliError::invalid_parameter(format!(
                "{key}: killall takes a job key without instances; use \"job kill\" for some instances"
            )));
        }
        (None, false) => {
            return Err(CliError::invalid_parameter(
                "The instances list cannot be omitted in a kill command!; use killall to kill all instances",
            ));
        }
        (Some(instances), false) => Some(instances.iter().copied().collect()),
        (None, true) => None,
    };
    if args.batch_size == 0 && !args.no_batching {
        return Err(CliError::invalid_parameter(
            "--batch-size must be at least 1",
        ));
    }
    let key = &spec.key;
    let client = ctx.client(&key.cluster)?;
    let job = &key.job;
    // `job kill` warns about SLA policies counting instances, so it needs the configs.
    let active = active_tasks(&client, job, !all)?;
    let active_instances: BTreeSet<InstanceId> = active.iter().map(|t| t.instance).collect();
    if !all && active.iter().any(counts_instances) {
        println!("WARNING: Killing instances without updating SlaPolicy.");
    }
    if let Some(wanted) = requested.as_ref().filter(|_| args.strict) {
        let unknown: Vec<InstanceId> = wanted.difference(&active_instances).copied().collect();
        if !unknown.is_empty() {
            return Err(CliError::invalid_parameter(format!(
                "Invalid instance parameter: {}",
                pyfmt::list(unknown)
            )));
        }
    }
    if let Some(path) = &args.config {
        // Aurora loads it for its client hooks; here it must load and define the job.
        let config = super::ConfigArgs {
            config: path.clone(),
            bind: args.bind.clone(),
            read_json: args.read_json,
        };
        super::selected_job(ctx, key, &config).map_err(|e| {
            CliError::invalid_config(format!("Error loading configuration: {}", e.message))
        })?;
    }
    let wait = Duration::from_secs(args.wait_secs);
    if args.no_batching {
        let named = match &requested {
            Some(wanted) => wanted.clone(),
            None => active_instances,
        };
        kill_request(&client, key, requested.as_ref(), args, "Command failure:")?;
        if !wait_terminal(&client, job, &named, wait)? {
            return Err(CliError::new(
                ExitCode::Timeout,
                format!("Instances {} were not killed in time", pyfmt::list(&named)),
            ));
        }
    } else {
        kill_in_batches(
            &client,
            key,
            &active_instances,
            requested.as_ref(),
            args,
            wait,
        )?;
    }
    if args.open_browser {
        println!("{}", super::job::job_url(client.base(), key));
    }
    println!("Job {} succeeded", if all { "killall" } else { "kill" });
    Ok(())
}

/// Kills the requested active instances a batch at a time, ascending, each batch waited for.
fn kill_in_batches(
    client: &Client,
    key: &ClusterJobKey,
    active: &BTreeSet<InstanceId>,
    requested: Option<&BTreeSet<InstanceId>>,
    args: &KillArgs,
    wait: Duration,
) -> CliResult {
    if active.is_empty() {
        // Aurora says so and still reports success (exit 0).
        eprintln!("No tasks to kill found for job {key}");
        return Ok(());
    }
    let targets: Vec<InstanceId> = active
        .iter()
        .copied()
        .filter(|i| requested.is_none_or(|wanted| wanted.contains(i)))
        .collect();
    let size = usize::try_from(args.batch_size)
        .unwrap_or(usize::MAX)
        .max(1);
    let mut failures: u32 = 0;
    for batch in targets.chunks(size) {
        let batch: BTreeSet<InstanceId> = batch.iter().copied().collect();
        let shown = pyfmt::list(&batch);
        kill_request(
            client,
            key,
            Some(&batch),
            args,
            &format!("Kill of instances {shown} failed with error:"),
        )?;
        if wait_terminal(client, &key.job, &batch, wait)? {
            println!("Successfully killed instances {shown}");
            continue;
        }
        eprintln!("Instances {shown} were not killed in time");
        failures += 1;
        if failures > args.max_total_failures {
            return Err(CliError::failure(
                "Exceeded maximum number of errors while killing instances",
            ));
        }
    }
    if failures > 0 {
        return Err(CliError::failure("Errors occurred while killing instances"));
    }
    Ok(())
}

/// The job's active tasks (with their configs when asked).
fn active_tasks(client: &Client, job: &JobKey, configs: bool) -> CliResult<Vec<TaskView>> {
    let query = if configs { "?configs=true" } else { "" };
    let tasks: Vec<TaskView> = client.get(&format!("/api/v1/jobs/{job}/tasks{query}"))?;
    Ok(tasks.into_iter().filter(|t| t.status.is_active()).collect())
}

/// Whether the task's SLA policy counts instances (Aurora warns that killing some changes
/// what its count or percentage means).
fn counts_instances(task: &TaskView) -> bool {
    task.task_config.as_ref().is_some_and(|c| {
        matches!(
            c.sla_policy,
            Some(SlaPolicy::Count { .. } | SlaPolicy::Percentage { .. })
        )
    })
}

/// One kill request (`instances: None` = every instance), logged as Aurora's `kill_job`
/// logs it (the job, then the instances named); a refusal is worded as Aurora's
/// `log_response_and_raise` words it, under `headline`, and the scheduler's note on success
/// ("No tasks to kill." when the instances were dead already) is logged as it logs it.
fn kill_request(
    client: &Client,
    key: &ClusterJobKey,
    instances: Option<&BTreeSet<InstanceId>>,
    args: &KillArgs,
    headline: &str,
) -> CliResult {
    crate::log_info(&format!("Killing tasks for job: {key}"));
    if let Some(instances) = instances {
        crate::log_info(&format!(
            "Instances to be killed: {}",
            pyfmt::list(instances)
        ));
    }
    let body = json!({"instances": instances, "message": args.message});
    let committed: Committed = client
        .try_post(&format!("/api/v1/jobs/{}/kill", key.job), &body)?
        .map_err(|refusal| refusal.aurora_error(headline))?;
    crate::log_success_message(committed.message.as_deref());
    Ok(())
}

/// Waits until the newest task of each of `instances` is terminal (Aurora's
/// `JobMonitor.terminal`; an instance without tasks has nothing left to wait for). `false`
/// when `timeout` passed first.
fn wait_terminal(
    client: &Client,
    job: &JobKey,
    instances: &BTreeSet<InstanceId>,
    timeout: Duration,
) -> CliResult<bool> {
    let started = Instant::now();
    let mut pause = FIRST_POLL;
    loop {
        let tasks: Vec<TaskView> =
            client.get_patiently(&format!("/api/v1/jobs/{job}/tasks?all=true"))?;
        let latest = latest_by_instance(&tasks);
        let alive = instances
            .iter()
            .filter_map(|i| latest.get(i))
            .any(|t| !t.status.is_terminal());
        if !alive {
            return Ok(true);
        }
        let elapsed = started.elapsed();
        if elapsed >= timeout {
            return Ok(false);
        }
        std::thread::sleep(pause.min(timeout - elapsed));
        pause = (pause * 2).min(MAX_POLL);
    }
}
