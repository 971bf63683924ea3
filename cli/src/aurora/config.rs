//! Commands that read a config file: `job inspect` and `config list` (offline), `job diff`
//! (against what the job runs).

use aurora_api::ConfigSummary;
use aurora_config::JobConfig;

use super::ConfigArgs;
use crate::context::{Context, print_json};
use crate::exit::{CliError, CliResult};
use crate::keys::ClusterJobKey;
use crate::pyfmt;

pub(super) fn inspect(
    ctx: &Context,
    key: &str,
    config: &ConfigArgs,
    raw: bool,
    json: bool,
) -> CliResult {
    let key: ClusterJobKey = key.parse()?;
    let job = &ctx.load_selected(&config.config, &config.bind, config.read_json, &key)?;
    if raw {
        return print_json(&job.task);
    }
    if json {
        return print_json(&job.to_json());
    }
    print!("{}", describe(job));
    Ok(())
}

/// Aurora's `job inspect` text (`_render_config_pretty` in `jobs.py`), line for line: the
/// job, the task and each process, every section ending in a blank line; values as Python
/// prints them (`'quoted'`, `True`). What Aurora does not show comes last in its section,
/// so that Aurora's lines keep their order: the job's environment and tier, the task's
/// resources and each process's max failures.
fn describe(job: &JobConfig) -> String {
    use std::fmt::Write as _;
    let task = &job.task;
    let executor = &task.executor;
    let mut out = String::new();
    let _ = writeln!(out, "Job level information");
    let _ = writeln!(out, "  name:       '{}'", job.key.name);
    let _ = writeln!(out, "  role:       '{}'", job.key.role);
    if let Some(contact) = &task.contact_email {
        let _ = writeln!(out, "  contact:    '{contact}'");
    }
    let _ = writeln!(out, "  cluster:    '{}'", job.cluster);
    let _ = writeln!(out, "  instances:  '{}'", job.instances);
    if let Some(schedule) = &job.cron_schedule {
        let policy = job
            .cron_collision_policy
            .as_deref()
            .unwrap_or("KILL_EXISTING");
        let _ = writeln!(out, "  cron:");
        let _ = writeln!(out, "    schedule: '{schedule}'");
        let _ = writeln!(out, "    policy:   '{policy}'");
    }
    if !task.constraints.is_empty() {
        let _ = writeln!(out, "  constraints:");
        for constraint in &task.constraints {
            let _ = writeln!(
                out,
                "    '{}': '{}'",
                constraint.name,
                aurora_config::constraint_spec(&constraint.kind)
            );
        }
    }
    if let Some(policy) = &task.partition_policy {
        let _ = writeln!(out, "  partition_policy:");
        let _ = writeln!(out, "    reschedule: {}", pyfmt::boolean(policy.reschedule));
        let _ = writeln!(out, "    delay_secs: '{}'", policy.delay_secs);
    }
    let _ = writeln!(out, "  service:    {}", pyfmt::boolean(task.is_service));
    let _ = writeln!(out, "  production: {}", pyfmt::boolean(task.production()));
    let _ = writeln!(out, "  environment: '{}'", job.key.environment);
    let _ = writeln!(out, "  tier:       '{}'", task.tier);
    let _ = writeln!(out);

    let _ = writeln!(out, "Task level information");
    let _ = writeln!(out, "  name: '{}'", executor.name);
    if !executor.ordering.is_empty() {
        // Aurora indents the orders as deep as their heading.
        let _ = writeln!(out, "  constraints:");
        for order in &executor.ordering {
            let _ = writeln!(out, "  {}", order.join(" < "));
        }
    }
    let r = &task.resources;
    let _ = writeln!(
        out,
        "  resources: cpus {}, ram {} MB, disk {} MB",
        pyfmt::float(r.cpus),
        r.ram_mb,
        r.disk_mb
    );
    let _ = writeln!(out);

    for process in &executor.processes {
        let _ = writeln!(out, "Process '{}':", process.name);
        for (on, flag) in [
            (process.daemon, "daemon"),
            (process.ephemeral, "ephemeral"),
            (process.is_final, "final"),
        ] {
            if on {
                let _ = writeln!(out, "  {flag}");
            }
        }
        let _ = writeln!(out, "  cmdline:");
        for line in process.cmdline.lines() {
            let _ = writeln!(out, "    {line}");
        }
        let _ = writeln!(out, "  max failures: {}", process.max_failures);
        let _ = writeln!(out);
    }
    out
}

pub(super) fn list(ctx: &Context, config: &ConfigArgs, json: bool) -> CliResult {
    let keys = ctx.config_keys(&config.config, &config.bind, config.read_json)?;
    if json {
        return print_json(&keys);
    }
    println!("jobs=[{}]", keys.join(", "));
    Ok(())
}

pub(super) fn diff(ctx: &Context, key: &str, config: &ConfigArgs) -> CliResult {
    let key: ClusterJobKey = key.parse()?;
    let job = &ctx.load_selected(&config.config, &config.bind, config.read_json, &key)?;
    let client = ctx.client(&key.cluster)?;
    let summary: ConfigSummary = client.get(&format!("/api/v1/jobs/{}/config-summary", key.job))?;
    let local = pretty(&job.task)?;
    let mut differences = 0;
    let running: u32 = summary
        .groups
        .iter()
        .flat_map(|g| &g.instances)
        .map(|r| r.last - r.first + 1)
        .sum();
    if running != job.instances {
        differences += 1;
        println!(
            "instances: {running} running, {} in the config",
            job.instances
        );
    }
    for group in &summary.groups {
        let remote = pretty(&group.config)?;
        if remote == local {
            continue;
        }
        differences += 1;
        let ranges: Vec<String> = group
            .instances
            .iter()
            .map(|r| format!("{}-{}", r.first, r.last))
            .collect();
        let patch = similar::TextDiff::from_lines(&remote, &local)
            .unified_diff()
            .header(
                &format!("running (instances {})", ranges.join(",")),
                &format!("{}", config.config.display()),
            )
            .to_string();
        print!("{patch}");
    }
    if differences == 0 {
        println!("No differences between the config and the running job.");
    }
    Ok(())
}

fn pretty(value: &impl serde::Serialize) -> CliResult<String> {
    serde_json::to_string_pretty(value)
        .map(|text| text + "\n")
        .map_err(|e| CliError::failure(format!("cannot render JSON: {e}")))
}
