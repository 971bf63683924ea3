//! The `aurora` client: Aurora's nouns and verbs (`job create`, `job status`, `quota get`, ...)
//! over the scheduler's HTTP API. [`run`] parses the arguments and returns the exit code.

mod audit;
mod config;
mod cron;
mod diff;
mod history;
mod job;
mod kill;
mod other;
mod restart;
mod scheduled;
mod sla;
mod status;
mod tail;
mod task;
mod task_scp;
mod update;
mod wait;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::context::Context;
use crate::exit::CliResult;

#[derive(Debug, Parser)]
#[command(
    name = "aurora",
    version,
    about = "Aurora's command-line client",
    disable_help_subcommand = true
)]
pub struct Aurora {
    #[command(flatten)]
    standard: StandardOptions,
    #[command(subcommand)]
    noun: Noun,
}

/// The options Aurora's client adds to every verb, accepted before or after it
/// (`aurora -v job list C`, `aurora job list C -v`).
#[derive(Debug, Clone, Args)]
struct StandardOptions {
    /// Show verbose output (accepted for Aurora's scripts: this client has no more detail to
    /// show than it always does).
    #[arg(short = 'v', long, global = true)]
    verbose: bool,
    /// Skip these client command hooks, or `all` (accepted for Aurora's scripts: this client
    /// has no command hooks, so there is nothing to skip).
    #[arg(long = "skip-hooks", value_name = "hook,hook,...", global = true)]
    skip_hooks: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Noun {
    /// Create, kill, restart, inspect and list jobs.
    #[command(subcommand)]
    Job(JobVerb),
    /// Show a role's quota and what it uses.
    #[command(subcommand)]
    Quota(QuotaVerb),
    /// Work with configuration files.
    #[command(subcommand)]
    Config(ConfigVerb),
    /// Cron jobs.
    #[command(subcommand)]
    Cron(CronVerb),
    /// A job's uptime, as SLAs measure it.
    #[command(subcommand)]
    Sla(SlaVerb),
    /// Rolling updates driven by the scheduler.
    #[command(subcommand)]
    Update(update::UpdateVerb),
    /// The cluster's history: every event, as it happened.
    #[command(subcommand)]
    Events(EventsVerb),
    /// One task.
    #[command(subcommand)]
    Task(TaskVerb),
    /// The cluster as a whole.
    #[command(subcommand)]
    Cluster(ClusterVerb),
    /// Why a task is where it is: the chain of causes behind its latest transition, each with
    /// seq, time and actor: `why [CLUSTER/]TASK_ID`.
    Why {
        task: String,
        #[command(flatten)]
        at: AtFlag,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Who did what to the cluster, newest first: every action a user took (kills, quota,
    /// forced states, maintenance, prunes, update steps, ...) and every agent bound to a
    /// credential, each with its seqs, time, actor, target and message.
    Audit {
        cluster: String,
        /// Only this user's actions.
        #[arg(long)]
        actor: Option<String>,
        /// From this seq or time (RFC 3339) on.
        #[arg(long, allow_hyphen_values = true)]
        from: Option<String>,
        /// Up to this seq or time.
        #[arg(long, allow_hyphen_values = true)]
        to: Option<String>,
        /// Only actions on this kind of thing: job, task, update, quota, host, cron, agent,
        /// cluster.
        #[arg(long)]
        kind: Option<String>,
        /// At most this many entries (default 100).
        #[arg(long)]
        limit: Option<usize>,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
enum ClusterVerb {
    /// What changed between two instants: jobs created and removed, instance counts and
    /// configs (as a config diff), quotas, hosts' maintenance, each with who did it:
    /// `cluster diff CLUSTER --from SEQ|TIME [--to SEQ|TIME] [--role ROLE]`.
    Diff {
        cluster: String,
        /// The first instant (exclusive): a seq, or a time (RFC 3339, or UTC
        /// "YYYY-MM-DD HH:MM[:SS]").
        #[arg(long, allow_hyphen_values = true)]
        from: String,
        /// The second instant (inclusive); default now.
        #[arg(long, allow_hyphen_values = true)]
        to: Option<String>,
        /// Only this role's jobs and quota.
        #[arg(long)]
        role: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
enum TaskVerb {
    /// A task's whole lifecycle, with the tasks it was rescheduled from:
    /// `task history [CLUSTER/]TASK_ID`.
    History {
        task: String,
        #[command(flatten)]
        at: AtFlag,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Run a shell command in the sandbox of every RUNNING instance, through the agents'
    /// observers: `task run CLUSTER/ROLE/ENV/NAME[/INSTANCES] CMD`.
    Run(task::RunArgs),
    /// Run a command (`-c`), or stdin's lines one by one, in one instance's sandbox:
    /// `task ssh CLUSTER/ROLE/ENV/NAME[/INSTANCE]`.
    Ssh(task::SshArgs),
    /// Copy files into or out of a sandbox: `task scp [KEY/INSTANCE:]SRC... [KEY/INSTANCE:]DEST`.
    Scp(task_scp::ScpArgs),
}

#[derive(Debug, Subcommand)]
enum EventsVerb {
    /// Events strictly after a seq or a time, one per line; --follow for live ones.
    Tail(tail::TailArgs),
}

/// `--write-json` (Aurora's spelling) or `--json`.
#[derive(Debug, Clone, Copy, Args)]
pub(crate) struct JsonFlag {
    /// Print the result as JSON.
    #[arg(long = "write-json", alias = "json")]
    pub(crate) write_json: bool,
}

/// `--at SEQ|TIME`: the state right after a past event, as the web UI's `?at=` shows it.
#[derive(Debug, Clone, Args)]
pub(crate) struct AtFlag {
    /// Show the past: right after journal seq N, or as of a time (RFC 3339, or UTC
    /// "YYYY-MM-DD HH:MM[:SS]"); `now` is the present.
    // Hyphen values allowed so that `--at -1` is told what a seq is, not taken for a flag.
    #[arg(long, value_name = "SEQ|TIME", allow_hyphen_values = true)]
    pub(crate) at: Option<String>,
}

/// A config file and how to read it.
#[derive(Debug, Clone, Args)]
pub(crate) struct ConfigArgs {
    /// The `.aurora` file (or JSON with --read-json).
    pub(crate) config: PathBuf,
    /// Bind a template variable: --bind name=value (repeatable).
    #[arg(long = "bind")]
    pub(crate) bind: Vec<String>,
    /// Read the config as a JSON job rather than as a .aurora file.
    #[arg(long = "read-json")]
    pub(crate) read_json: bool,
}

/// How far `--wait-until` waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum WaitUntil {
    Pending,
    Running,
    Finished,
}

#[derive(Debug, Subcommand)]
enum JobVerb {
    /// Create a job from a config file: `job create CLUSTER/ROLE/ENV/NAME CONFIG`.
    Create {
        key: String,
        #[command(flatten)]
        config: ConfigArgs,
        #[arg(long = "wait-until", value_enum, default_value = "PENDING")]
        wait_until: WaitUntil,
        /// Print the job's web page rather than opening a browser.
        #[arg(long = "open-browser")]
        open_browser: bool,
    },
    /// Kill instances: `job kill CLUSTER/ROLE/ENV/NAME/INSTANCES`.
    Kill {
        key: String,
        #[command(flatten)]
        kill: KillArgs,
    },
    /// Kill every instance: `job killall CLUSTER/ROLE/ENV/NAME`.
    Killall {
        key: String,
        #[command(flatten)]
        kill: KillArgs,
    },
    /// Rolling restart: `job restart CLUSTER/ROLE/ENV/NAME[/INSTANCES]`.
    Restart {
        key: String,
        #[command(flatten)]
        restart: RestartArgs,
    },
    /// Tasks of the jobs matching `CLUSTER[/ROLE[/ENV[/NAME]]]` (wildcards allowed).
    Status {
        pattern: String,
        #[command(flatten)]
        json: JsonFlag,
        #[command(flatten)]
        at: AtFlag,
    },
    /// Keys of the jobs matching `CLUSTER[/ROLE[/ENV[/NAME]]]` (wildcards allowed).
    List {
        pattern: String,
        #[command(flatten)]
        json: JsonFlag,
        #[command(flatten)]
        at: AtFlag,
    },
    /// Show the job a config defines, without contacting the scheduler.
    Inspect {
        key: String,
        #[command(flatten)]
        config: ConfigArgs,
        /// Show the task config exactly as it would be sent to the scheduler.
        #[arg(long)]
        raw: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Differences between a config and what the job runs now.
    Diff {
        key: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// The web page of a cluster, role or job.
    Open { pattern: String },
    /// Add COUNT instances copying the config of one: `job add CLUSTER/ROLE/ENV/NAME/INSTANCE COUNT`.
    Add {
        key: String,
        count: u32,
        #[arg(long = "wait-until", value_enum, default_value = "PENDING")]
        wait_until: WaitUntil,
    },
}

/// Aurora's kill options (`AbstractKillCommand`); see `kill.rs` for what they do.
#[derive(Debug, Clone, Args)]
pub(crate) struct KillArgs {
    /// Instances killed at once; each batch is waited for until its tasks are terminal.
    #[arg(long = "batch-size", default_value_t = 1)]
    pub(crate) batch_size: u32,
    /// Kill every instance in one request, then wait for them all.
    #[arg(long = "no-batching")]
    pub(crate) no_batching: bool,
    /// Batches allowed not to die in time before the kill stops (exit 4).
    #[arg(long = "max-total-failures", default_value_t = 0)]
    pub(crate) max_total_failures: u32,
    /// A message recorded with the kill.
    #[arg(short = 'm', long = "message")]
    pub(crate) message: Option<String>,
    /// `job kill`: refuse instances that are not active (exit 6).
    #[arg(long)]
    pub(crate) strict: bool,
    /// A config file defining the job: it must load and define the job (Aurora reads it
    /// for client hooks, which this client does not have).
    #[arg(long = "config", value_name = "pathname")]
    pub(crate) config: Option<PathBuf>,
    /// Bind a template variable of --config: --bind name=value (repeatable).
    #[arg(long = "bind")]
    pub(crate) bind: Vec<String>,
    /// Read --config as a JSON job rather than as a .aurora file.
    #[arg(long = "read-json")]
    pub(crate) read_json: bool,
    /// Print the job's web page when done (rather than opening a browser).
    #[arg(long = "open-browser")]
    pub(crate) open_browser: bool,
    /// Seconds to wait for a batch to die before it counts as a failure.
    #[arg(long = "wait-secs", default_value_t = 300)]
    pub(crate) wait_secs: u64,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct RestartArgs {
    /// Instances restarted at once.
    #[arg(long = "batch-size", default_value_t = 1)]
    pub(crate) batch_size: u32,
    /// Seconds a restarted instance must stay RUNNING to count as restarted.
    #[arg(long = "watch-secs", default_value_t = 30)]
    pub(crate) watch_secs: u64,
    /// Failed restarts allowed per instance.
    #[arg(long = "max-per-instance-failures", default_value_t = 0)]
    pub(crate) max_per_instance_failures: u32,
    /// Instances allowed to fail before the restart stops.
    #[arg(long = "max-total-failures", default_value_t = 0)]
    pub(crate) max_total_failures: u32,
    /// Restart the restarted instances again if the restart fails (off by default: a
    /// restart has no older config to roll back to).
    #[arg(long = "rollback-on-failure")]
    pub(crate) rollback_on_failure: bool,
    /// Accepted for Aurora's scripts: the scheduler, not the client, watches instances' health.
    #[arg(long = "healthcheck-interval-seconds", default_value_t = 3)]
    pub(crate) healthcheck_interval_seconds: u64,
    /// Refuse instances that are not active.
    #[arg(long)]
    pub(crate) strict: bool,
    /// Accepted for Aurora's scripts: there are no warnings to override.
    #[arg(long)]
    pub(crate) force: bool,
    /// A config file defining the job; checked to load (Aurora reads it for client hooks).
    #[arg(long = "config", value_name = "pathname")]
    pub(crate) config: Option<PathBuf>,
    /// Bind a template variable of --config: --bind name=value (repeatable).
    #[arg(long = "bind")]
    pub(crate) bind: Vec<String>,
    /// Read --config as a JSON job rather than as a .aurora file.
    #[arg(long = "read-json")]
    pub(crate) read_json: bool,
}

#[derive(Debug, Subcommand)]
enum QuotaVerb {
    /// `quota get CLUSTER/ROLE`.
    Get {
        key: String,
        #[command(flatten)]
        json: JsonFlag,
        #[command(flatten)]
        at: AtFlag,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigVerb {
    /// The job keys a config file defines (offline).
    List {
        #[command(flatten)]
        config: ConfigArgs,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
enum CronVerb {
    /// Create or replace a cron job's template.
    Schedule {
        key: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Remove a cron job's schedule (running tasks are left alone).
    Deschedule { key: String },
    /// Run a cron job now.
    Start { key: String },
    /// A cron job's schedule and next run.
    Show { key: String },
}

/// The job `key` names in the config file `args` gives, selected as Aurora's client selects it.
pub(crate) fn selected_job(
    ctx: &Context,
    key: &crate::keys::ClusterJobKey,
    args: &ConfigArgs,
) -> CliResult<aurora_config::JobConfig> {
    ctx.load_selected(&args.config, &args.bind, args.read_json, key)
}

#[derive(Debug, Subcommand)]
enum SlaVerb {
    /// The percentage of the job's instances up for at least each duration (XdYhZmWs).
    #[command(name = "get-task-up-count", alias = "get_task_up_count")]
    GetTaskUpCount {
        key: String,
        /// Durations to report, e.g. 1d,3h25m (default: 1m,10m,1h,12h,7d).
        #[arg(long)]
        durations: Option<String>,
    },
    /// The job's uptime at each percentile.
    #[command(name = "get-job-uptime", alias = "get_job_uptime")]
    GetJobUptime {
        key: String,
        /// Percentiles within (0, 100), e.g. 50,95.5 (default: 99,95,90,85,75,60,50,30,10).
        #[arg(long)]
        percentiles: Option<String>,
    },
}

/// Parses `args` (including the program name) and runs the command; returns the exit code.
pub fn run(args: impl IntoIterator<Item = std::ffi::OsString>) -> i32 {
    let args: Vec<std::ffi::OsString> = args.into_iter().collect();
    if crate::asks_version(&args) {
        println!("{}", crate::VERSION);
        return 0;
    }
    let parsed = match Aurora::try_parse_from(&args) {
        Ok(parsed) => parsed,
        Err(error) => return crate::report_usage(error),
    };
    let outcome = Context::from_process().and_then(|ctx| dispatch(&ctx, parsed.noun));
    crate::finish(outcome)
}

fn dispatch(ctx: &Context, noun: Noun) -> CliResult {
    match noun {
        Noun::Job(verb) => match verb {
            JobVerb::Create {
                key,
                config,
                wait_until,
                open_browser,
            } => job::create(ctx, &key, &config, wait_until, open_browser),
            JobVerb::Kill { key, kill } => kill::kill(ctx, &key, &kill, false),
            JobVerb::Killall { key, kill } => kill::kill(ctx, &key, &kill, true),
            JobVerb::Restart { key, restart } => restart::restart(ctx, &key, &restart),
            JobVerb::Status { pattern, json, at } => {
                status::status(ctx, &pattern, json.write_json, at.at.as_deref())
            }
            JobVerb::List { pattern, json, at } => {
                status::list(ctx, &pattern, json.write_json, at.at.as_deref())
            }
            JobVerb::Inspect {
                key,
                config,
                raw,
                json,
            } => config::inspect(ctx, &key, &config, raw, json.write_json),
            JobVerb::Diff { key, config } => config::diff(ctx, &key, &config),
            JobVerb::Open { pattern } => job::open(ctx, &pattern),
            JobVerb::Add {
                key,
                count,
                wait_until,
            } => job::add(ctx, &key, count, wait_until),
        },
        Noun::Quota(QuotaVerb::Get { key, json, at }) => {
            other::quota_get(ctx, &key, json.write_json, at.at.as_deref())
        }
        Noun::Config(ConfigVerb::List { config, json }) => {
            config::list(ctx, &config, json.write_json)
        }
        Noun::Sla(SlaVerb::GetTaskUpCount { key, durations }) => {
            sla::task_up_count(ctx, &key, durations.as_deref())
        }
        Noun::Sla(SlaVerb::GetJobUptime { key, percentiles }) => {
            sla::job_uptime(ctx, &key, percentiles.as_deref())
        }
        Noun::Cron(verb) => match verb {
            CronVerb::Schedule { key, config } => cron::schedule(ctx, &key, &config),
            CronVerb::Deschedule { key } => cron::deschedule(ctx, &key),
            CronVerb::Start { key } => cron::start(ctx, &key),
            CronVerb::Show { key } => cron::show(ctx, &key),
        },
        Noun::Update(verb) => update::run(ctx, verb),
        Noun::Events(EventsVerb::Tail(args)) => tail::tail(ctx, &args),
        Noun::Task(TaskVerb::History { task, at, json }) => {
            history::history(ctx, &task, at.at.as_deref(), json.write_json)
        }
        Noun::Task(TaskVerb::Run(args)) => task::run(ctx, &args),
        Noun::Task(TaskVerb::Ssh(args)) => task::ssh(ctx, &args),
        Noun::Task(TaskVerb::Scp(args)) => task_scp::scp(ctx, &args),
        Noun::Cluster(ClusterVerb::Diff {
            cluster,
            from,
            to,
            role,
            json,
        }) => diff::diff(
            ctx,
            &cluster,
            &from,
            to.as_deref(),
            role.as_deref(),
            json.write_json,
        ),
        Noun::Why { task, at, json } => history::why(ctx, &task, at.at.as_deref(), json.write_json),
        Noun::Audit {
            cluster,
            actor,
            from,
            to,
            kind,
            limit,
            json,
        } => audit::audit(
            ctx,
            &cluster,
            &audit::AuditArgs {
                actor: actor.as_deref(),
                from: from.as_deref(),
                to: to.as_deref(),
                kind: kind.as_deref(),
                limit,
            },
            json.write_json,
        ),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// Every verb, with the global options: no verb's own option takes `-v`, `--verbose` or
    /// `--skip-hooks` (clap checks the whole tree here, not only the verb a command line runs).
    #[test]
    fn every_verb_is_well_formed_with_the_standard_options() {
        Aurora::command().debug_assert();
    }
}
