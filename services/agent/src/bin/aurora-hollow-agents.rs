//! `aurora-hollow-agents`: many simulated agents in one process, for scale tests.
//!
//! `aurora-hollow-agents --scheduler http://scheduler:8081 --count 1000 --racks 20 \
//!  --script 'STARTING@0ms,RUNNING@100ms'`
//!
//! `--scheduler` may name several replicas (repeated, or comma-separated), as for
//! `aurora-agent`.
//!
//! Agent `i` (from 0) registers as `<prefix>-<i>` on host `<prefix>-<i>` with rack
//! `r<i mod racks>`, and answers launches with the script's status reports (a job may choose its
//! own with the task metadata `hollow.script`) and kills with KILLED. No processes are started.
//! Stops on SIGINT or SIGTERM; the scheduler then declares the agents lost once their
//! heartbeats stop.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use aurora_agent::client::scheduler_uris;
use aurora_agent::hollow::{self, DEFAULT_SCRIPT, FleetConfig, Script};
use aurora_events::Capacity;
use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "aurora-hollow-agents",
    version,
    about = "Simulate many aurora agents in one process"
)]
struct Args {
    /// A scheduler replica's URL; repeat it, or give a comma-separated list, for every
    /// replica of the cluster. Each agent finds the live leader among them.
    /// Each must be an http:// or https:// URL: anything else is refused at startup.
    #[arg(
        long,
        default_value = "http://127.0.0.1:8081",
        value_delimiter = ',',
        value_parser = aurora_agent::client::scheduler_url
    )]
    scheduler: Vec<String>,
    /// How many agents to simulate.
    #[arg(long, default_value_t = 100)]
    count: usize,
    /// Agents (and their hosts) are named <prefix>-<i>.
    #[arg(long, default_value = "hollow")]
    prefix: String,
    /// Cpus each agent offers.
    #[arg(long, default_value_t = 8.0)]
    cpus: f64,
    /// RAM each agent offers, in MiB.
    #[arg(long, default_value_t = 16_384)]
    ram_mb: u64,
    /// Disk each agent offers, in MiB.
    #[arg(long, default_value_t = 102_400)]
    disk_mb: u64,
    /// Ports each agent hands out to tasks, as FIRST-LAST.
    #[arg(long, default_value = "31000-32000")]
    ports: String,
    /// Agents get attribute rack:r<i mod racks>; 0 gives them no rack attribute.
    #[arg(long, default_value_t = 1)]
    racks: usize,
    /// Milliseconds between one agent's heartbeats (the agents' phases are spread over it).
    #[arg(long, default_value_t = 1000)]
    heartbeat_ms: u64,
    /// The status reports answering a launch, as STATE@DELAY[:MESSAGE],...; delays count from
    /// the launch. A job's task metadata `hollow.script` overrides it.
    #[arg(long, default_value = DEFAULT_SCRIPT)]
    script: String,
    /// Milliseconds between a kill and its KILLED report.
    #[arg(long, default_value_t = 0)]
    kill_delay_ms: u64,
    /// A file holding this agent's credential: an API token, or USER:PASSWORD (default: the
    /// AURORA_TOKEN environment variable, else ~/.netrc's entry for the first scheduler's
    /// host, else on this machine the token of `aurora-scheduler --dev`).
    #[arg(long, value_name = "FILE")]
    credential: Option<PathBuf>,
    /// HTTPS to the schedulers: the CA to trust, and the certificate to present.
    #[command(flatten)]
    tls: aurora_net::ClientTlsArgs,
}

fn parse_ports(text: &str) -> anyhow::Result<(u16, u16)> {
    let (first, last) = text
        .split_once('-')
        .context("--ports must be FIRST-LAST, e.g. 31000-32000")?;
    let (first, last): (u16, u16) = (first.trim().parse()?, last.trim().parse()?);
    anyhow::ensure!(first <= last, "--ports {first}-{last} is backwards");
    Ok((first, last))
}

/// Each agent keeps its own connections to the scheduler (one client per agent, as separate
/// hosts would), so a large fleet needs more descriptors than the usual soft limit of 1024:
/// raise it to the hard limit, which needs no privilege.
fn raise_open_files_limit(count: usize) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => {
            if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                tracing::warn!(error = %e, soft, hard, "could not raise the open files limit");
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not read the open files limit"),
    }
    if let Ok((soft, _)) = getrlimit(Resource::RLIMIT_NOFILE)
        && (count as u64).saturating_mul(2) > soft
    {
        tracing::warn!(
            count,
            limit = soft,
            "the open files limit may be too low for this many agents (about 2 per agent)"
        );
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    anyhow::ensure!(args.count > 0, "--count must be at least 1");
    let schedulers = scheduler_uris(&args.scheduler);
    anyhow::ensure!(!schedulers.is_empty(), "--scheduler needs at least one URL");
    anyhow::ensure!(
        args.cpus.is_finite() && args.cpus > 0.0,
        "--cpus must be a positive number"
    );
    let script: Script = args
        .script
        .parse()
        .with_context(|| format!("--script {:?}", args.script))?;
    let credentials = aurora_agent::credentials(args.credential.as_deref(), &schedulers)?;
    let config = FleetConfig {
        schedulers,
        count: args.count,
        prefix: args.prefix.clone(),
        capacity: Capacity {
            cpus: args.cpus,
            ram_mb: args.ram_mb,
            disk_mb: args.disk_mb,
            gpus: 0,
            port_ranges: vec![parse_ports(&args.ports)?],
        },
        racks: args.racks,
        heartbeat_interval: Duration::from_millis(args.heartbeat_ms.max(50)),
        script,
        kill_delay: Duration::from_millis(args.kill_delay_ms),
        credentials,
        tls: args
            .tls
            .load()
            .context("the schedulers' TLS (--tls-ca, --tls-client-cert)")?,
    };
    raise_open_files_limit(args.count);
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        aurora_net::signals::shutdown_signal().await;
        tracing::info!("stopping");
        let _ = stop.send(true);
    });
    hollow::run(config, shutdown).await;
    Ok(())
}
