//! The `aurora-admin` client (Aurora's `aurora_admin`): quota, task queries, pruning,
//! snapshots, host maintenance and reconciliation. Commands keep Aurora's underscore names and
//! take the cluster as a positional argument.

mod agents;
mod auth;
mod cluster_config;
mod hosts;
mod journal;
mod leader;
mod query;
mod quota;
mod replicas;
mod sla;

use std::collections::BTreeSet;

use aurora_api::Committed;
use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};

use crate::context::Context;
use crate::exit::{CliError, CliResult};

#[derive(Debug, Parser)]
#[command(
    name = "aurora-admin",
    version,
    about = "Aurora's administration client",
    disable_help_subcommand = true
)]
pub struct Admin {
    /// Verbose logging (accepted for Aurora's scripts: this client has no more detail to show
    /// than it always does).
    #[arg(short = 'v', global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

/// Hosts named on the command line or in a file (one per line).
#[derive(Debug, Clone, Args)]
pub(crate) struct HostsArgs {
    /// Comma-separated host names.
    #[arg(long, value_delimiter = ',')]
    pub(crate) hosts: Vec<String>,
    /// A file with one host name per line.
    #[arg(long)]
    pub(crate) filename: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
#[command(rename_all = "snake_case")]
enum Command {
    /// Set a role's quota: CLUSTER ROLE CPU RAM DISK (RAM and DISK with units M, G or T;
    /// a bare number is MB).
    SetQuota {
        cluster: String,
        role: String,
        cpu: String,
        ram: String,
        disk: String,
    },
    /// Add to a role's quota: CLUSTER ROLE CPU RAM DISK.
    IncreaseQuota {
        cluster: String,
        role: String,
        cpu: String,
        ram: String,
        disk: String,
    },
    /// Tasks of a role (and job name), formatted with --listformat.
    Query {
        cluster: String,
        role: Option<String>,
        job: Option<String>,
        /// Query every role (can be large).
        #[arg(long)]
        force: bool,
        /// Fields (Aurora's): %role% %environment% %name% %instanceId% %status% %taskId%
        /// %slaveHost% %slaveId% %failureCount% %ancestorId% %assignedPorts% %isService%
        /// %priority% %maxTaskFailures% %production% %tier% %contactEmail% %user%
        /// (also %env% and %host%).
        #[arg(
            short = 'l',
            long,
            default_value = "%role%/%name%/%instanceId% %status%"
        )]
        listformat: String,
        /// Instances, e.g. 0-2,5.
        #[arg(long)]
        shards: Option<String>,
        /// Comma-separated task states.
        #[arg(long, default_value = "RUNNING")]
        states: String,
    },
    /// Delete terminal tasks from the scheduler's memory.
    PruneTasks {
        cluster: String,
        /// Comma-separated terminal states (default: every terminal state).
        #[arg(long)]
        states: Option<String>,
        #[arg(long)]
        role: Option<String>,
        #[arg(long)]
        env: Option<String>,
        /// At most this many tasks.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Checkpoint the scheduler's state now.
    SchedulerSnapshot { cluster: String },
    /// Back up the scheduler's journal now, into its --backup-dir.
    SchedulerBackupNow { cluster: String },
    /// The scheduler's journal backups, oldest first.
    SchedulerListBackups { cluster: String },
    /// Put hosts in maintenance (SCHEDULED): tasks stay, new ones go elsewhere if possible.
    HostDeactivate {
        #[command(flatten)]
        hosts: HostsArgs,
        cluster: String,
    },
    /// Take hosts out of maintenance (NONE).
    HostActivate {
        #[command(flatten)]
        hosts: HostsArgs,
        cluster: String,
    },
    /// Maintenance mode of hosts.
    HostStatus {
        #[command(flatten)]
        hosts: HostsArgs,
        cluster: String,
    },
    /// Drain hosts: their tasks are moved away; waits until they are DRAINED.
    HostDrain {
        #[command(flatten)]
        hosts: HostsArgs,
        /// Seconds to wait for the hosts to drain.
        #[arg(long = "wait-secs", default_value_t = 300)]
        wait_secs: u64,
        cluster: String,
    },
    /// Drain hosts as their jobs' SLA policies allow (the scheduler drains each task only
    /// while its job stays within its policy, and forces the rest after the timeout).
    SlaHostDrain {
        #[command(flatten)]
        hosts: HostsArgs,
        /// The SLA of jobs without a policy of their own: this percentage of instances up...
        #[arg(long = "default_percentage", default_value_t = 95.0)]
        default_percentage: f64,
        /// ...for at least this long (XdYhZmWs).
        #[arg(long = "default_duration", default_value = "30m")]
        default_duration: String,
        /// Drain whatever is left after this long (XdYhZmWs).
        #[arg(long = "force_drain_timeout", default_value = "7d")]
        force_drain_timeout: String,
        cluster: String,
    },
    /// The journal: `journal verify CLUSTER [--against-stream]`.
    Journal {
        #[command(subcommand)]
        action: journal::Action,
    },
    /// Make what goes in the scheduler's --auth file: `auth new-token USER`, `auth
    /// hash-password` (reads stdin).
    Auth {
        #[command(subcommand)]
        action: auth::Action,
    },
    /// Agents' bindings to credentials: `agent unbind CLUSTER AGENT`.
    Agent {
        #[command(subcommand)]
        action: agents::Action,
    },
    /// The scheduler replicas of a replicated cluster: list them, add one, remove one.
    Replicas {
        #[command(subcommand)]
        action: replicas::Action,
    },
    /// The leading scheduler of a cluster: "Found leading scheduler at: URL".
    GetScheduler { cluster: String },
    /// The cluster's clusters.json entry, as JSON or (--sh) as shell variables.
    GetClusterConfig {
        cluster: String,
        /// Shell assignments (AURORA_CLUSTER_NAME=...) for `eval`.
        #[arg(long)]
        sh: bool,
        /// With --sh: prefix each assignment with `export`.
        #[arg(long)]
        export: bool,
    },
    /// Hosts whose tasks could be killed now without taking any production job below its
    /// SLA: PERCENTAGE of its instances up for DURATION (XdYhZmWs).
    SlaListSafeDomain {
        cluster: String,
        percentage: String,
        duration: String,
        #[command(flatten)]
        options: sla::SafeDomainArgs,
    },
    /// For each given host, every production job with tasks there and its SLA if the host
    /// went down: HOST JOB PREDICTED_SLA SAFE? PREDICTED_SAFE_IN.
    SlaProbeHosts {
        cluster: String,
        percentage: String,
        duration: String,
        #[command(flatten)]
        options: sla::ProbeArgs,
    },
    /// Ask every agent to report its tasks again, reconciling them with the scheduler.
    ReconcileTasks {
        cluster: String,
        /// Accepted for Aurora compatibility; every reconciliation is explicit here.
        #[arg(long = "type", default_value = "explicit")]
        kind: String,
    },
}

/// Parses `args` (including the program name) and runs the command; returns the exit code.
pub fn run(args: impl IntoIterator<Item = std::ffi::OsString>) -> i32 {
    let args: Vec<std::ffi::OsString> = args.into_iter().collect();
    if crate::asks_version(&args) {
        println!("{}", crate::VERSION);
        return 0;
    }
    let parsed = match Admin::try_parse_from(&args) {
        Ok(parsed) => parsed,
        Err(error) => return crate::report_usage(error),
    };
    let outcome = Context::from_process().and_then(|ctx| dispatch(&ctx, parsed.command));
    crate::finish(outcome)
}

fn dispatch(ctx: &Context, command: Command) -> CliResult {
    match command {
        Command::SetQuota {
            cluster,
            role,
            cpu,
            ram,
            disk,
        } => quota::set(ctx, &cluster, &role, [&cpu, &ram, &disk], false),
        Command::IncreaseQuota {
            cluster,
            role,
            cpu,
            ram,
            disk,
        } => quota::set(ctx, &cluster, &role, [&cpu, &ram, &disk], true),
        Command::Query {
            cluster,
            role,
            job,
            force,
            listformat,
            shards,
            states,
        } => query::query(
            ctx,
            &query::Query {
                cluster: &cluster,
                role: role.as_deref(),
                job: job.as_deref(),
                force,
                listformat: &listformat,
                shards: shards.as_deref(),
                states: &states,
            },
        ),
        Command::GetScheduler { cluster } => leader::get_scheduler(ctx, &cluster),
        Command::GetClusterConfig {
            cluster,
            sh,
            export,
        } => cluster_config::run(ctx, &cluster, sh, export),
        Command::SlaListSafeDomain {
            cluster,
            percentage,
            duration,
            options,
        } => sla::list_safe_domain(ctx, &cluster, &percentage, &duration, &options),
        Command::SlaProbeHosts {
            cluster,
            percentage,
            duration,
            options,
        } => sla::probe_hosts(ctx, &cluster, &percentage, &duration, &options),
        Command::PruneTasks {
            cluster,
            states,
            role,
            env,
            limit,
        } => {
            let statuses: Option<BTreeSet<String>> = states.map(|s| {
                s.split(',')
                    .map(|x| x.trim().to_ascii_uppercase())
                    .filter(|x| !x.is_empty())
                    .collect()
            });
            let client = ctx.client(&cluster)?;
            let answer: Committed = client.post(
                "/api/v1/admin/prune",
                &json!({"role": role, "env": env, "statuses": statuses, "limit": limit}),
            )?;
            let pruned = match (answer.first_seq, answer.last_seq) {
                (Some(first), Some(last)) => last - first + 1,
                _ => 0,
            };
            println!("Pruned: {pruned} event(s) committed");
            Ok(())
        }
        Command::SchedulerSnapshot { cluster } => {
            let client = ctx.client(&cluster)?;
            let answer: Committed = client.post("/api/v1/admin/snapshot", &json!({}))?;
            println!(
                "{}",
                answer
                    .message
                    .unwrap_or_else(|| "Scheduler snapshot taken".into())
            );
            Ok(())
        }
        Command::SchedulerBackupNow { cluster } => {
            let client = ctx.client(&cluster)?;
            let taken: Value = client.post("/api/v1/admin/backups", &json!({}))?;
            println!(
                "Backup {} taken: the journal through seq {}",
                taken["name"].as_str().unwrap_or("?"),
                taken["last_seq"]
            );
            Ok(())
        }
        Command::SchedulerListBackups { cluster } => {
            let client = ctx.client(&cluster)?;
            let listed: Value = client.get("/api/v1/admin/backups")?;
            let names: Vec<&str> = listed["backups"]
                .as_array()
                .map(|names| names.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            println!("{} available backups:", names.len());
            for name in names {
                println!("{name}");
            }
            Ok(())
        }
        Command::HostDeactivate { hosts, cluster } => hosts::change(ctx, &cluster, &hosts, "start"),
        Command::HostActivate { hosts, cluster } => hosts::change(ctx, &cluster, &hosts, "end"),
        Command::HostStatus { hosts, cluster } => hosts::status(ctx, &cluster, &hosts),
        Command::Replicas { action } => replicas::run(ctx, action),
        Command::Agent { action } => agents::run(ctx, action),
        Command::Journal { action } => journal::run(ctx, action),
        Command::Auth { action } => auth::run(action),
        Command::HostDrain {
            hosts,
            wait_secs,
            cluster,
        } => hosts::drain(ctx, &cluster, &hosts, wait_secs),
        Command::SlaHostDrain {
            hosts,
            default_percentage,
            default_duration,
            force_drain_timeout,
            cluster,
        } => hosts::sla_drain(
            ctx,
            &cluster,
            &hosts,
            default_percentage,
            &default_duration,
            &force_drain_timeout,
        ),
        Command::ReconcileTasks { cluster, kind } => {
            if kind != "explicit" && kind != "implicit" {
                return Err(CliError::invalid_parameter(format!(
                    "--type {kind:?}: use implicit or explicit"
                )));
            }
            let client = ctx.client(&cluster)?;
            let answer: Committed = client.post("/api/v1/admin/reconcile", &json!({}))?;
            println!("{}", answer.message.unwrap_or_default());
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// Every command, with the global `-v` (clap checks the whole tree here).
    #[test]
    fn every_command_is_well_formed_with_the_standard_options() {
        Admin::command().debug_assert();
    }
}
