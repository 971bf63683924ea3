//! `aurora-scheduler`: the scheduler process.
//!
//! - `aurora-scheduler --dev`: everything in one process, journal in `./aurora-data` (created on
//!   first use), HTTP on 127.0.0.1:8081.
//! - `aurora-scheduler --init --data-dir DIR --cluster NAME`: initialise a new cluster's journal
//!   explicitly, then exit.
//! - `aurora-scheduler --data-dir DIR`: serve an initialised journal; refuses an empty directory,
//!   and a journal that holds fewer events than it acknowledged (a damaged write-ahead log).
//! - `aurora-scheduler --accept-truncation --data-dir DIR`: record such a loss as an event, so
//!   that the scheduler can start again on what is left.
//! - `aurora-scheduler --replica-id N --peers 1=URL,2=URL,3=URL --cluster NAME --data-dir DIR`:
//!   one replica of a replicated cluster (see `replicated`); `--init` on one replica at the
//!   first start of a new cluster initialises it once a quorum is up, then serves.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use aurora_journal::{CheckpointStore, Journal, RocksJournal, SystemClock};
use aurora_scheduler::runtime::{Runtime, RuntimeConfig, StartAs};
use aurora_scheduler_core::Settings;
use clap::Parser;

mod replica_main;

#[derive(Debug, Parser)]
#[command(name = "aurora-scheduler", version, about = "The aurora scheduler")]
struct Args {
    /// Run the embedded single-node cluster: create the journal on first use.
    #[arg(long)]
    dev: bool,
    /// Initialise a new cluster's journal in --data-dir, then exit. With --peers: initialise
    /// the new replicated cluster from this replica once a quorum of replicas is up, then
    /// serve (give it to one replica, at the cluster's first start only).
    #[arg(long, conflicts_with = "dev")]
    init: bool,
    /// Accept that the journal in --data-dir lost acknowledged events to a damaged
    /// write-ahead log (the scheduler refuses to start on it, naming the lost seqs): record the
    /// loss as an event, then exit. Restoring from a backup or a replica loses nothing; use this
    /// only when neither exists.
    #[arg(long, conflicts_with_all = ["dev", "init"])]
    accept_truncation: bool,
    /// Where the journal lives.
    #[arg(long, default_value = "./aurora-data")]
    data_dir: PathBuf,
    /// The cluster's name (used when initialising; devcluster if not given). With --peers it
    /// is required, and a replica refuses data or peers of another cluster.
    #[arg(long)]
    cluster: Option<String>,
    /// This replica's id in the replicated cluster (with --peers).
    #[arg(long, requires = "peers")]
    replica_id: Option<u64>,
    /// Every replica of the cluster, this one included, as ID=URL pairs:
    /// `1=http://h1:8081,2=http://h2:8081,3=http://h3:8081`. Each replica's one HTTP port
    /// serves the API, the UI and replication.
    #[arg(long, requires = "replica_id", conflicts_with_all = ["dev", "accept_truncation"])]
    peers: Option<String>,
    /// HTTP port for the API and the web UI.
    #[arg(long, default_value_t = 8081)]
    http_port: u16,
    /// Address to bind the HTTP server to.
    #[arg(long, default_value = "127.0.0.1")]
    http_host: std::net::IpAddr,
    /// An agent that has not sent a heartbeat for this long is lost (its tasks become LOST).
    #[arg(long, default_value_t = 15)]
    agent_timeout_secs: u64,
    /// A task that ends within this long of becoming active flapped: its replacement is held
    /// back (THROTTLED). Aurora's `-flapping_task_threshold`.
    #[arg(long, default_value_t = 300)]
    flapping_task_threshold_secs: u64,
    /// Tasks stuck this long in ASSIGNED, KILLING, RESTARTING, DRAINING or PREEMPTING are LOST.
    /// Aurora's `-transient_task_state_timeout`.
    #[arg(long, default_value_t = 300)]
    transient_task_state_timeout_secs: u64,
    /// Most HTTP connections served at once; more are answered 503 and closed.
    #[arg(long, default_value_t = 4096)]
    max_connections: usize,
    /// A connection that does not send a whole request head within this long is closed
    /// (idle sockets, slow senders).
    #[arg(long, default_value_t = 10)]
    header_read_timeout_secs: u64,
    /// A pending production task may preempt lower tiers once it has waited this long.
    /// Aurora's `-preemption_delay`.
    #[arg(long, default_value_t = 180)]
    preemption_delay_secs: u64,
    /// Mirror every committed event to NATS JetStream at this URL (`nats://HOST:4222`;
    /// comma-separated for several servers): stream `AURORA_<cluster>`, subjects
    /// `aurora.<cluster>.<aggregate>.<role>.<env>.<job>`, stream sequence = journal seq. Only
    /// the leader publishes; commits never wait for NATS. Needs nats-server 2.9 or newer.
    #[arg(long, value_name = "URL")]
    nats: Option<String>,
}

/// The cluster name when none is given (the single-node cases only).
const DEFAULT_CLUSTER: &str = "devcluster";

impl Args {
    fn cluster(&self) -> &str {
        self.cluster.as_deref().unwrap_or(DEFAULT_CLUSTER)
    }

    fn mirror(&self, cluster: &str) -> Option<aurora_scheduler::mirror::Mirror> {
        self.nats
            .as_deref()
            .map(|url| aurora_scheduler::mirror::Mirror::new(url, cluster))
    }

    fn limits(&self) -> aurora_scheduler::serve::Limits {
        aurora_scheduler::serve::Limits {
            max_connections: self.max_connections,
            header_read_timeout: Duration::from_secs(self.header_read_timeout_secs.max(1)),
            ..aurora_scheduler::serve::Limits::default()
        }
    }

    fn settings(&self) -> Settings {
        let ms = |secs: u64| i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        Settings {
            flapping_task_threshold_ms: ms(self.flapping_task_threshold_secs),
            transient_task_state_timeout_ms: ms(self.transient_task_state_timeout_secs),
            preemption_delay_ms: ms(self.preemption_delay_secs),
            ..Settings::default()
        }
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
    if let Some(url) = &args.nats {
        // A mistyped URL is an error now, not a mirror that silently never runs.
        aurora_stream::servers(url).context("--nats")?;
    }
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;
    let clock: Arc<dyn aurora_journal::Clock> = Arc::new(SystemClock);

    if args.peers.is_some() {
        return replica_main::run(&args, metrics, clock).await;
    }

    if args.init {
        let journal = RocksJournal::initialise(&args.data_dir, args.cluster(), clock.now())
            .with_context(|| format!("initialising a journal in {}", args.data_dir.display()))?;
        println!(
            "initialised cluster {} in {}",
            journal.cluster(),
            args.data_dir.display()
        );
        return Ok(());
    }

    if args.accept_truncation {
        let lost = RocksJournal::accept_truncation(
            &args.data_dir,
            clock.now(),
            "accepted by the operator with aurora-scheduler --accept-truncation",
        )
        .with_context(|| {
            format!(
                "accepting the journal's losses in {}",
                args.data_dir.display()
            )
        })?;
        match lost {
            Some(range) => println!(
                "recorded the loss of seqs {}..={} in {}; the scheduler starts again on it",
                range.first,
                range.last,
                args.data_dir.display()
            ),
            None => println!(
                "the journal in {} lost no acknowledged event; nothing recorded",
                args.data_dir.display()
            ),
        }
        return Ok(());
    }

    let journal = if args.dev {
        RocksJournal::open_or_initialise(&args.data_dir, args.cluster(), clock.now())
    } else {
        RocksJournal::open(&args.data_dir)
    }
    .with_context(|| format!("opening the journal in {}", args.data_dir.display()))?;
    let cluster = journal.cluster().to_string();
    let last_seq = journal.last_seq();
    // One process without peers: it is its own replica and always the leader. Its write-model
    // checkpoints live beside the journal, in the same database.
    let checkpoints: Arc<dyn CheckpointStore> = Arc::new(journal.clone());
    let journal: Arc<dyn Journal> = Arc::new(journal);
    let runtime = Runtime::start(RuntimeConfig {
        journal,
        checkpoints,
        clock: Arc::clone(&clock),
        settings: args.settings(),
        agent_timeout: Duration::from_secs(args.agent_timeout_secs),
        start_as: StartAs::Leader,
        mirror: args.mirror(&cluster),
    })
    .await
    .context("recovering the scheduler's state from the journal")?;

    let app = app(&cluster, &runtime, metrics);
    let addr = SocketAddr::new(args.http_host, args.http_port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let base = format!("http://{addr}");
    println!(
        "aurora-scheduler{} serving cluster {cluster}",
        if args.dev { " (dev)" } else { "" }
    );
    println!(
        "  journal: {} (last seq {last_seq})",
        args.data_dir.display()
    );
    println!("  web UI:  {base}/scheduler");
    println!("  health:  {base}/health");
    println!("  events:  {base}/api/v1/events?from=1");
    println!("  jobs:    {base}/api/v1/jobs");
    println!("  metrics: {base}/metrics");
    if let Some(url) = &args.nats {
        println!(
            "  stream:  {} on {url} (subjects {})",
            aurora_stream::subject::stream_name(&cluster),
            aurora_stream::subject::stream_subjects(&cluster)
        );
    }
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let agent = if args.dev {
        let port = listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or(args.http_port);
        let config = dev_agent(&args, port)?;
        let (agent, host, work_dir) = (
            config.agent.clone(),
            config.host.clone(),
            config.work_dir.clone(),
        );
        let serving = aurora_agent::daemon::serve(config, stopping.clone())
            .await
            .context("starting the dev agent's observer")?;
        println!(
            "  agent:   {agent} on {host} (sandboxes in {})",
            work_dir.display()
        );
        println!("  observer: {}/tasks", serving.endpoint);
        println!("Submit the hello-world example (the `aurora` client is in this workspace):");
        println!(
            "  cargo run --bin aurora -- job create devcluster/$USER/test/hello_world examples/hello_world.aurora --wait-until FINISHED"
        );
        if port != 8081 {
            println!(
                "  (devcluster means http://127.0.0.1:8081; for port {port} add it to ~/.aurora/clusters.json)"
            );
        }
        Some(serving.agent)
    } else {
        None
    };
    let mut server_stopping = stopping;
    let server = tokio::spawn(aurora_scheduler::serve::serve(
        listener,
        app,
        args.limits(),
        async move {
            let _ = server_stopping.wait_for(|stop| *stop).await;
        },
    ));
    shutdown_signal().await;
    tracing::info!("shutting down");
    // Stop leading first: no new decisions, and the agents' work polls (long requests) are
    // answered now rather than holding the server's graceful shutdown for their full wait.
    runtime.step_down();
    let _ = stop.send(true);
    if let Some(agent) = agent {
        // The embedded agent kills its tasks as it stops.
        let _ = agent.await;
    }
    server.await.context("joining the HTTP server")?;
    Ok(())
}

/// What a scheduler's port serves: the web UI, the API and the metrics.
pub(crate) fn app(
    cluster: &str,
    runtime: &Runtime,
    metrics: metrics_exporter_prometheus::PrometheusHandle,
) -> axum::Router {
    aurora_web::app(aurora_web::WebState {
        cluster: cluster.to_string(),
        read: Arc::clone(runtime.read_model()),
    })
    .merge(aurora_scheduler::api::router(runtime.clone()))
    .merge(aurora_scheduler::api::metrics::router(
        runtime.clone(),
        metrics,
    ))
}

/// The one agent `--dev` runs in process, on this machine, talking to this scheduler over
/// loopback like any other agent. Its sandboxes live under the data directory; its observer
/// listens on a free loopback port.
fn dev_agent(args: &Args, port: u16) -> anyhow::Result<aurora_agent::daemon::AgentConfig> {
    use aurora_agent::daemon;
    let work_dir = args.data_dir.join("agent");
    std::fs::create_dir_all(&work_dir)
        .with_context(|| format!("creating {}", work_dir.display()))?;
    let host = daemon::hostname();
    let base = format!("http://127.0.0.1:{port}");
    Ok(daemon::AgentConfig {
        schedulers: vec![base],
        agent: aurora_events::AgentId(format!("dev-{host}")),
        capacity: daemon::detect_capacity(&work_dir),
        attributes: vec![aurora_events::event::Attribute {
            name: "host".into(),
            values: vec![host.clone()],
        }],
        host,
        work_dir,
        heartbeat_interval: Duration::from_millis(250),
        kill_grace: Duration::from_secs(10),
        observer_addr: Some(SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0))),
    })
}

pub(crate) async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
