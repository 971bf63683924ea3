//! `job create | add | open` (`job kill | killall` are in `kill.rs`, `job restart` in
//! `restart.rs`).

use std::collections::BTreeSet;

use aurora_api::{Committed, CreateJob};
use aurora_events::InstanceId;
use serde_json::json;

use super::wait;
use super::{ConfigArgs, WaitUntil};
use crate::context::Context;
use crate::exit::{CliError, CliResult};
use crate::keys::{ClusterJobKey, InstanceSpec, KeyPattern};

/// The web UI's page of a job.
pub(super) fn job_url(base: &str, key: &ClusterJobKey) -> String {
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
    let job = super::selected_job(ctx, &key, config)?;
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
    if open_browser {
        println!("{url}");
    }
    let instances: BTreeSet<InstanceId> = (0..job.instances).collect();
    wait::until(&client, &key.job, &instances, wait_until, None)?;
    // On stdout once the wait is over, as Aurora's client prints it.
    println!("Job create succeeded: job url={url}");
    Ok(())
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
