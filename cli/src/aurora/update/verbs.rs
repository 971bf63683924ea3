//! The `aurora update` verbs as clap parses them, and the dispatch to each verb's file.

use clap::{Args, Subcommand};

use super::list::StatusFilter;
use crate::aurora::{ConfigArgs, JsonFlag};
use crate::context::Context;
use crate::exit::CliResult;

/// `-m/--message`: recorded with the update's state change (Aurora's `MESSAGE_OPTION`).
#[derive(Debug, Clone, Args)]
pub(crate) struct MessageArg {
    /// Message to include with the update state transition.
    #[arg(short = 'm', long = "message")]
    pub(crate) message: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct StartArgs {
    /// `CLUSTER/ROLE/ENV/NAME[/INSTANCES]`: with instances, only those are updated.
    pub(crate) key: String,
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    #[command(flatten)]
    pub(crate) message: MessageArg,
    /// Wait until the update completes.
    #[arg(long)]
    pub(crate) wait: bool,
    /// Refuse instances the updated job would not have.
    #[arg(long)]
    pub(crate) strict: bool,
    /// Accepted for Aurora's scripts: the update page's URL is always printed.
    #[arg(long = "open-browser")]
    pub(crate) open_browser: bool,
    /// Accepted for Aurora's scripts: the scheduler, not the client, watches instances' health.
    #[arg(long = "healthcheck-interval-seconds", default_value_t = 3)]
    pub(crate) healthcheck_interval_seconds: u64,
}

#[derive(Debug, Subcommand)]
pub(crate) enum UpdateVerb {
    /// Start a rolling update of a job to a config: `update start KEY[/INSTANCES] CONFIG`.
    Start(StartArgs),
    /// Pause the job's active update.
    Pause {
        key: String,
        #[command(flatten)]
        message: MessageArg,
    },
    /// Resume the job's paused update.
    Resume {
        key: String,
        #[command(flatten)]
        message: MessageArg,
    },
    /// Abort the job's active update, leaving the instances as they are.
    Abort {
        key: String,
        #[command(flatten)]
        message: MessageArg,
    },
    /// Roll the job's active update back.
    Rollback {
        key: String,
        #[command(flatten)]
        message: MessageArg,
        /// Wait until the update rolls back.
        #[arg(long)]
        wait: bool,
    },
    /// Tell a coordinated update (`pulse_interval_secs`) to go on: `update pulse KEY ID`.
    Pulse { key: String, id: String },
    /// Block until an update has entered a terminal state: `update wait KEY ID`.
    Wait { key: String, id: String },
    /// Summaries of updates: `update list CLUSTER[/ROLE[/ENV[/NAME]]]`.
    List {
        pattern: String,
        /// Update state to filter by: a state (ROLLING_FORWARD, ...) or a group (active, all,
        /// blocked, failed, inactive, paused, succeeded). Repeatable; any match is listed.
        #[arg(long = "status", value_parser = StatusFilter::parse)]
        status: Vec<StatusFilter>,
        /// Only updates started by this user.
        #[arg(long = "user", value_name = "username")]
        user: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// One update in detail: `update info KEY [ID]` (default: the job's active update, else
    /// its newest).
    Info {
        key: String,
        id: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
        #[command(flatten)]
        at: crate::aurora::AtFlag,
    },
}

pub(crate) fn run(ctx: &Context, verb: UpdateVerb) -> CliResult {
    use super::steer::Steer;
    match verb {
        UpdateVerb::Start(args) => super::start::start(ctx, &args),
        UpdateVerb::Pause { key, message } => {
            super::steer::steer(ctx, &key, Steer::Pause, &message)
        }
        UpdateVerb::Resume { key, message } => {
            super::steer::steer(ctx, &key, Steer::Resume, &message)
        }
        UpdateVerb::Abort { key, message } => {
            super::steer::steer(ctx, &key, Steer::Abort, &message)
        }
        UpdateVerb::Rollback { key, message, wait } => {
            super::steer::rollback(ctx, &key, &message, wait)
        }
        UpdateVerb::Pulse { key, id } => super::steer::pulse(ctx, &key, &id),
        UpdateVerb::Wait { key, id } => super::wait::wait_verb(ctx, &key, &id),
        UpdateVerb::List {
            pattern,
            status,
            user,
            json,
        } => super::list::list(ctx, &pattern, &status, user.as_deref(), json.write_json),
        UpdateVerb::Info { key, id, json, at } => {
            super::info::info(ctx, &key, id.as_deref(), json.write_json, at.at.as_deref())
        }
    }
}
