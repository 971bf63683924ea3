//! `aurora-agent`: the worker daemon for one host.
//!
//! `aurora-agent --scheduler http://scheduler:8081 --work-dir /var/lib/aurora-agent \
//!  --attribute rack:r1 --attribute dedicated:db_team/redis`
//!
//! With a replicated scheduler, name every replica: `--scheduler http://s1:8081,http://s2:8081`
//! (or `--scheduler` once per replica). The agent uses the first that answers as the leader,
//! and moves on to the next when it cannot be reached or answers that it is not the leader
//! (503 `NOT_LEADER` / `ERROR_TRANSIENT`), so a failover needs no operator.
//!
//! The observer (process states, logs, sandbox browsing) listens on all interfaces on
//! `--observer-port` (Aurora's 1338) and is advertised to the scheduler as
//! `http://<host>:<port>`. It runs commands in sandboxes and accepts files into them (`aurora
//! task run/ssh/scp`) only for users of `--auth FILE` (the scheduler's users file) holding
//! `job:create` on the task's role, or for anyone with `--insecure-no-auth`; without either,
//! for nobody.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use aurora_agent::client::scheduler_uris;
use aurora_agent::daemon::{self, AgentConfig};
use aurora_agent::observer::ObserverAuth;
use aurora_events::AgentId;
use aurora_events::event::Attribute;
use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "aurora-agent", version, about = "The aurora worker daemon")]
struct Args {
    /// A scheduler replica's URL; repeat it, or give a comma-separated list, for every
    /// replica of the cluster. The agent finds the live leader among them.
    /// Each must be an http:// or https:// URL: anything else is refused at startup.
    #[arg(
        long,
        default_value = "http://127.0.0.1:8081",
        value_delimiter = ',',
        value_parser = aurora_agent::client::scheduler_url
    )]
    scheduler: Vec<String>,
    /// This agent's id (default: the host name).
    #[arg(long)]
    agent_id: Option<String>,
    /// The host name the agent reports (default: this machine's).
    #[arg(long)]
    host: Option<String>,
    /// Where sandboxes live.
    #[arg(long, default_value = "./aurora-agent")]
    work_dir: PathBuf,
    /// Cpus offered (default: all cores).
    #[arg(long)]
    cpus: Option<f64>,
    /// RAM offered in MiB (default: all memory).
    #[arg(long)]
    ram_mb: Option<u64>,
    /// Disk offered in MiB (default: free space of the work directory).
    #[arg(long)]
    disk_mb: Option<u64>,
    /// Ports handed out to tasks, as FIRST-LAST.
    #[arg(long, default_value = "31000-32000")]
    ports: String,
    /// A host attribute NAME:VALUE (repeatable), e.g. rack:r1, dedicated:db_team/redis.
    #[arg(long = "attribute")]
    attributes: Vec<String>,
    /// Milliseconds between heartbeats.
    #[arg(long, default_value_t = 1000)]
    heartbeat_ms: u64,
    /// The observer's port (0: any free port).
    #[arg(long, default_value_t = 1338)]
    observer_port: u16,
    /// The address the observer listens on (all interfaces by default).
    #[arg(long, default_value = "0.0.0.0")]
    observer_host: std::net::IpAddr,
    /// A file holding this agent's credential: an API token, or USER:PASSWORD (default: the
    /// AURORA_TOKEN environment variable, else ~/.netrc's entry for the first scheduler's
    /// host, else on this machine the token of `aurora-scheduler --dev`).
    #[arg(long, value_name = "FILE")]
    credential: Option<PathBuf>,
    /// The scheduler's users file (TOML; reloaded on SIGHUP): `aurora task run/ssh/scp` may
    /// run commands in and copy files into a task's sandbox for a user holding `job:create`
    /// on its role; reads follow its `anonymous_read`. Without it (and without
    /// --insecure-no-auth) the observer only serves reads.
    #[arg(long, value_name = "FILE", conflicts_with = "insecure_no_auth")]
    auth: Option<PathBuf>,
    /// Let anyone who reaches the observer run commands in sandboxes and copy files into them.
    /// For a trusted network or a test only.
    #[arg(long)]
    insecure_no_auth: bool,
    /// HTTPS to the schedulers (`--scheduler https://...`): the CA to trust, and the
    /// certificate to present where they require one.
    #[command(flatten)]
    tls: aurora_net::ClientTlsArgs,
    /// HTTPS for the observer: its certificate and key, and the CA whose client certificates
    /// it requires (if any).
    #[command(flatten)]
    observer_tls: aurora_net::ServerTlsArgs,
}

fn parse_ports(text: &str) -> anyhow::Result<(u16, u16)> {
    let (first, last) = text
        .split_once('-')
        .context("--ports must be FIRST-LAST, e.g. 31000-32000")?;
    let (first, last): (u16, u16) = (first.trim().parse()?, last.trim().parse()?);
    anyhow::ensure!(first <= last, "--ports {first}-{last} is backwards");
    Ok((first, last))
}

fn parse_attributes(specs: &[String], host: &str) -> anyhow::Result<Vec<Attribute>> {
    let mut attributes = vec![Attribute {
        name: "host".into(),
        values: vec![host.to_string()],
    }];
    for spec in specs {
        let (name, value) = spec
            .split_once(':')
            .with_context(|| format!("--attribute {spec:?} must be NAME:VALUE"))?;
        anyhow::ensure!(
            !name.is_empty() && !value.is_empty(),
            "--attribute {spec:?} must be NAME:VALUE"
        );
        match attributes.iter_mut().find(|a| a.name == name) {
            Some(attribute) => attribute.values.push(value.to_string()),
            None => attributes.push(Attribute {
                name: name.to_string(),
                values: vec![value.to_string()],
            }),
        }
    }
    Ok(attributes)
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
    std::fs::create_dir_all(&args.work_dir)
        .with_context(|| format!("creating {}", args.work_dir.display()))?;
    let schedulers = scheduler_uris(&args.scheduler);
    anyhow::ensure!(!schedulers.is_empty(), "--scheduler needs at least one URL");
    let host = args.host.clone().unwrap_or_else(daemon::hostname);
    let mut capacity = daemon::detect_capacity(&args.work_dir);
    capacity.cpus = args.cpus.unwrap_or(capacity.cpus);
    capacity.ram_mb = args.ram_mb.unwrap_or(capacity.ram_mb);
    capacity.disk_mb = args.disk_mb.unwrap_or(capacity.disk_mb);
    capacity.port_ranges = vec![parse_ports(&args.ports)?];
    let credentials = aurora_agent::credentials(args.credential.as_deref(), &schedulers)?;
    let observer_auth = match (&args.auth, args.insecure_no_auth) {
        (Some(path), _) => ObserverAuth::load(path)?,
        (None, true) => {
            tracing::warn!(
                "observer without authentication (--insecure-no-auth): anyone who reaches it \
                 can run commands in this agent's sandboxes"
            );
            ObserverAuth::insecure()
        }
        (None, false) => ObserverAuth::closed(),
    };
    let config = AgentConfig {
        schedulers,
        agent: AgentId(args.agent_id.clone().unwrap_or_else(|| host.clone())),
        attributes: parse_attributes(&args.attributes, &host)?,
        host,
        capacity,
        work_dir: args.work_dir.clone(),
        heartbeat_interval: Duration::from_millis(args.heartbeat_ms.max(50)),
        kill_grace: Duration::from_secs(10),
        observer_addr: Some(SocketAddr::new(args.observer_host, args.observer_port)),
        credentials,
        tls: args
            .tls
            .load()
            .context("the schedulers' TLS (--tls-ca, --tls-client-cert)")?,
        observer_tls: args
            .observer_tls
            .load()
            .context("the observer's TLS (--tls-cert, --tls-key, --tls-client-ca)")?,
        observer_auth: observer_auth.clone(),
    };
    observer_auth.reload_on_hangup();
    if let Some(tls) = &config.observer_tls {
        tls.reload_on_hangup("observer");
    }
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        aurora_net::signals::shutdown_signal().await;
        tracing::info!("stopping: killing this agent's tasks first");
        let _ = stop.send(true);
    });
    let serving = daemon::serve(config, shutdown)
        .await
        .with_context(|| format!("binding the observer on port {}", args.observer_port))?;
    eprintln!("observer: {}", serving.endpoint);
    serving.agent.await.context("the agent task failed")?;
    Ok(())
}
