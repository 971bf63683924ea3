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
//!   one replica of a replicated cluster (see `replicated`); `--init` on each replica at the
//!   first start of a new cluster (the first up to form a quorum initialises it), then serves.
//!   A replica whose directory is created without `--init` (added later, or restarted after
//!   losing its data) votes only once it has received the cluster's history.

/// mimalloc rather than the system allocator: with many small allocations per event (envelopes,
/// entries, projections) glibc's malloc took a fifth of the replicated journal's CPU, and
/// appends/s at 256 appenders rose by 18 % with it (`ops/bench-journal --replicas 3`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use aurora_journal::{CheckpointStore, Journal, RocksJournal, SystemClock};
use aurora_scheduler::auth::Gate;
use aurora_scheduler::backups::Backups;
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
    /// Initialise a new cluster's journal in --data-dir, then exit. With --peers: this replica
    /// founds a new replicated cluster (give it to every replica at the cluster's first start
    /// only, never to one that lost its data): it votes at once and initialises the cluster
    /// once a quorum is up, then serves. Without it, a replica whose data directory is empty
    /// joins a cluster that has a history and votes only once it has received it.
    #[arg(long, conflicts_with = "dev")]
    init: bool,
    /// Accept that the journal in --data-dir lost acknowledged events to a damaged
    /// write-ahead log (the scheduler refuses to start on it, naming the lost seqs): record the
    /// loss as an event, then exit. Restoring from a backup or a replica loses nothing; use this
    /// only when neither exists.
    #[arg(long, conflicts_with_all = ["dev", "init"])]
    accept_truncation: bool,
    /// Restore the journal backup BACKUP (a `scheduler-backup-*` directory) into --data-dir,
    /// which must be new or empty, then exit: the cluster as it was when the backup was taken,
    /// history included. Start the scheduler on it as usual afterwards.
    #[arg(long, value_name = "BACKUP", conflicts_with_all = ["dev", "init", "accept_truncation", "peers"])]
    restore_from: Option<PathBuf>,
    /// Keep backups of the journal in this directory (Aurora's `-backup_dir`): one every
    /// --backup-interval-mins, and on `aurora-admin scheduler_backup_now` (which the leader
    /// takes, of its copy). Best on another disk than --data-dir (on the same file system a
    /// backup costs almost no space, but shares the disk's fate). With --peers each replica
    /// backs up its own copy of the journal.
    #[arg(long, value_name = "DIR")]
    backup_dir: Option<PathBuf>,
    /// Minutes between backups with --backup-dir (Aurora's `-backup_interval`, 1 hour); 0
    /// takes them only on request.
    #[arg(long, default_value_t = 60, requires = "backup_dir")]
    backup_interval_mins: u64,
    /// Backups kept with --backup-dir, the oldest removed first (Aurora's
    /// `-max_saved_backups`).
    #[arg(long, default_value_t = 48, requires = "backup_dir",
          value_parser = clap::value_parser!(u64).range(1..))]
    max_saved_backups: u64,
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
    /// Most HTTP connections served at once; more are answered 503 and closed. Each agent
    /// holds two (its calls and its work poll), so 16,384 leaves room for 5,000 agents and
    /// their users. Lowered, with a warning, to what the process's open-file limit allows.
    #[arg(long, default_value_t = 16_384)]
    max_connections: usize,
    /// A connection that does not send a whole request head within this long is closed
    /// (idle sockets, slow senders).
    #[arg(long, default_value_t = 10)]
    header_read_timeout_secs: u64,
    /// A pending production task may preempt lower tiers once it has waited this long.
    /// Aurora's `-preemption_delay`.
    #[arg(long, default_value_t = 180)]
    preemption_delay_secs: u64,
    /// The time zone cron schedules are read in: GMT (Aurora's default), or an IANA name
    /// such as America/New_York (from the system's tz database).
    #[arg(long, default_value = "GMT", value_parser = aurora_web::cron_timezone)]
    cron_timezone: jiff::tz::TimeZone,
    /// SLA-aware drains skip the SLA check of jobs with fewer active instances than this
    /// (Aurora's `-min_required_instances_for_sla_check`).
    #[arg(long, default_value_t = 20)]
    min_required_instances_for_sla_check: usize,
    /// Check the SLA policies of non-production jobs too (Aurora's `-sla_aware_kill_non_prod`).
    #[arg(long)]
    sla_aware_kill_non_prod: bool,
    /// The longest duration a Count or Percentage SLA policy may ask for, in seconds
    /// (Aurora's `-max_sla_duration_secs`).
    #[arg(long, default_value_t = 2 * 60 * 60)]
    max_sla_duration_secs: u64,
    /// The container types jobs may ask for, comma-separated (Aurora's
    /// `-allowed_container_types`): MESOS (a plain sandbox), and DOCKER where agents run Docker.
    #[arg(long, value_delimiter = ',', default_value = "MESOS", value_parser = container_type)]
    allowed_container_types: Vec<String>,
    /// A regular expression a new job's environment must match, whole (Aurora's
    /// `-allowed_job_environments`); creating a job, scheduling a cron job or an update that
    /// creates its job elsewhere is refused.
    #[arg(long, value_name = "REGEX", default_value = aurora_scheduler_core::settings::DEFAULT_ALLOWED_JOB_ENVIRONMENTS)]
    allowed_job_environments: aurora_scheduler_core::EnvironmentPattern,
    /// How long a request to an SLA coordinator may take, in seconds (Aurora's
    /// `-sla_coordinator_timeout`).
    #[arg(long, default_value_t = 60)]
    sla_coordinator_timeout_secs: u64,
    /// How long before a task whose SLA coordinator did not say yes is asked again, in seconds
    /// (Aurora polls every minute).
    #[arg(long, default_value_t = 60)]
    sla_coordinator_interval_secs: u64,
    /// Requests to SLA coordinators in flight at once (Aurora's
    /// `-max_parallel_coordinated_maintenance`).
    #[arg(long, default_value_t = 10)]
    max_parallel_coordinated_maintenance: usize,
    /// Mirror every committed event to NATS JetStream at this URL (`nats://HOST:4222`;
    /// comma-separated for several servers): stream `AURORA_<cluster>`, subjects
    /// `aurora.<cluster>.<aggregate>.<role>.<env>.<job>`, stream sequence = journal seq. Only
    /// the leader publishes; commits never wait for NATS. Needs nats-server 2.9 or newer.
    #[arg(long, value_name = "URL")]
    nats: Option<String>,
    /// Users, groups, API tokens and permissions (TOML; see the README's "Authentication").
    /// Writes need a user with the permission; reads are open unless the file says
    /// `anonymous_read = false`. Reloaded on SIGHUP. Without it the scheduler refuses to start
    /// (except with --dev, which makes a credential for the local user).
    #[arg(long, value_name = "FILE", conflicts_with = "insecure_no_auth")]
    auth: Option<PathBuf>,
    /// Serve without authentication: anyone who can reach the port may do anything, as any
    /// user they claim (every UI page says so). For a trusted network or a test only.
    #[arg(long)]
    insecure_no_auth: bool,
    /// With --peers: a file holding the secret every replica of the cluster shares (one
    /// line, 16 characters or more). Raft RPCs carry it, and a replica refuses those that do
    /// not, so that nobody who merely reaches the port can vote or rewrite the journal.
    /// Required with --auth.
    #[arg(long, value_name = "FILE", requires = "peers")]
    replication_secret: Option<PathBuf>,
    /// With --peers: take a Raft snapshot every ENTRIES applied log entries, after which the
    /// log behind it may be purged. A snapshot copies nothing (it names the journal), and the
    /// journal keeps every event: a replica that needs purged entries receives the journal it
    /// lacks instead.
    #[arg(long, value_name = "ENTRIES", default_value_t = 10_000, requires = "peers",
          value_parser = clap::value_parser!(u64).range(1..))]
    raft_snapshot_every: u64,
    /// With --peers: Raft log entries kept behind the last snapshot, so that a replica that
    /// was away briefly catches up from the log rather than from the journal.
    #[arg(
        long,
        value_name = "ENTRIES",
        default_value_t = 10_000,
        requires = "peers"
    )]
    raft_log_keep: u64,
    /// HTTPS for this scheduler's port (API, UI and, with --peers, replication): its
    /// certificate and key, and the CA whose client certificates it requires (if any).
    #[command(flatten)]
    tls: aurora_net::ServerTlsArgs,
    /// The CA this scheduler trusts when it calls other replicas (`https://` peers) and, with
    /// --dev, its own embedded agent (default: the system's roots; with --dev and no CA, its
    /// own --tls-cert). It presents its own certificate to peers that require one, so with
    /// --tls-client-ca that certificate must allow client authentication too (an extended
    /// key usage of both serverAuth and clientAuth, or none).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_ca: Option<PathBuf>,
}

/// How this process authenticates requests.
struct Access {
    gate: Gate,
    /// What the start-up banner says about it.
    shown: String,
    /// `--dev`'s own credential, for its embedded agent.
    local: Option<aurora_auth::Credentials>,
}

/// The cluster name when none is given (the single-node cases only).
const DEFAULT_CLUSTER: &str = "devcluster";

impl Args {
    /// The backups `--backup-dir` asks for, of `journal` (this process's copy on disk),
    /// taken every `--backup-interval-mins` from now on.
    fn backups(&self, journal: Option<RocksJournal>) -> anyhow::Result<Option<Arc<Backups>>> {
        let Some(dir) = &self.backup_dir else {
            return Ok(None);
        };
        let journal = journal.context("--backup-dir: this journal is not on disk")?;
        let keep = usize::try_from(self.max_saved_backups).unwrap_or(usize::MAX);
        let backups = Arc::new(Backups::new(dir.clone(), keep, journal, &self.data_dir)?);
        if self.backup_interval_mins > 0 {
            Arc::clone(&backups).every(Duration::from_secs(self.backup_interval_mins * 60));
        }
        Ok(Some(backups))
    }

    fn cluster(&self) -> &str {
        self.cluster.as_deref().unwrap_or(DEFAULT_CLUSTER)
    }

    fn mirror(&self, cluster: &str) -> Option<aurora_scheduler::mirror::Mirror> {
        self.nats
            .as_deref()
            .map(|url| aurora_scheduler::mirror::Mirror::new(url, cluster))
    }

    /// How the leader asks SLA coordinators: over HTTPS it trusts `--tls-ca` when given, else
    /// the system's roots, and presents no certificate.
    fn coordinators(&self) -> anyhow::Result<aurora_scheduler::runtime::CoordinatorSettings> {
        let tls = aurora_net::ClientTls::from_parts(self.tls_ca.clone(), None, None)?;
        tls.config().context("--tls-ca")?;
        Ok(aurora_scheduler::runtime::CoordinatorSettings {
            timeout: Duration::from_secs(self.sla_coordinator_timeout_secs.max(1)),
            interval: Duration::from_secs(self.sla_coordinator_interval_secs.max(1)),
            max_parallel: self.max_parallel_coordinated_maintenance.max(1),
            client: aurora_net::client(&tls, |builder| builder),
        })
    }

    /// What this scheduler trusts and presents when it calls a peer (or, with --dev, itself).
    fn client_tls(&self) -> anyhow::Result<aurora_net::ClientTls> {
        let ca_file = self.tls_ca.clone().or_else(|| {
            // A self-signed --dev certificate is its own CA.
            self.dev.then(|| self.tls.tls_cert.clone()).flatten()
        });
        let tls = aurora_net::ClientTls::from_parts(
            ca_file,
            self.tls.tls_cert.clone(),
            self.tls.tls_key.clone(),
        )?;
        tls.config().context("--tls-ca")?;
        Ok(tls)
    }

    fn limits(&self) -> aurora_scheduler::serve::Limits {
        aurora_scheduler::serve::Limits {
            max_connections: connections_allowed(self.max_connections),
            header_read_timeout: Duration::from_secs(self.header_read_timeout_secs.max(1)),
            ..aurora_scheduler::serve::Limits::default()
        }
    }

    /// Who may do what: `--auth FILE`, `--insecure-no-auth`, or with `--dev` a token for the
    /// local user in `~/.aurora/dev-token` (made on first use; the clients find it there).
    fn gate(&self) -> anyhow::Result<Access> {
        if let Some(path) = &self.auth {
            let config = aurora_auth::AuthConfig::load(path)?;
            let users = config.users().count();
            let gate = Gate::enforced(config, Some(path.clone()));
            gate.reload_on_hangup();
            return Ok(Access {
                gate,
                shown: format!("{} ({users} users; kill -HUP reloads it)", path.display()),
                local: None,
            });
        }
        if self.insecure_no_auth {
            tracing::warn!(
                "serving without authentication (--insecure-no-auth): anyone who reaches the \
                 port can act as any user"
            );
            return Ok(Access {
                gate: Gate::insecure(),
                shown: "none (--insecure-no-auth)".into(),
                local: None,
            });
        }
        if !self.dev {
            bail!(
                "refusing to serve without authentication: give --auth FILE (users, tokens and \
                 permissions; see the README's \"Authentication\"), or --insecure-no-auth on a \
                 trusted network"
            );
        }
        let Some(home) = std::env::var_os("HOME").map(PathBuf::from) else {
            bail!(
                "--dev keeps the local user's token under $HOME, which is not set; set HOME, or give --auth FILE or --insecure-no-auth"
            );
        };
        let user = std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "dev".into());
        let token = aurora_auth::client::dev_token(&home, rand::random())
            .context("making the dev credential")?;
        let gate = Gate::enforced(aurora_auth::AuthConfig::dev(&user, &token), None);
        let path = aurora_auth::client::dev_token_path(&home);
        Ok(Access {
            gate,
            shown: format!(
                "user {user}, token in {} (the aurora CLIs send it to this machine's schedulers)",
                path.display()
            ),
            local: Some(aurora_auth::Credentials::Token(token)),
        })
    }

    fn settings(&self) -> Settings {
        let ms = |secs: u64| i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        Settings {
            flapping_task_threshold_ms: ms(self.flapping_task_threshold_secs),
            transient_task_state_timeout_ms: ms(self.transient_task_state_timeout_secs),
            preemption_delay_ms: ms(self.preemption_delay_secs),
            cron_zone: self.cron_timezone.clone(),
            min_required_instances_for_sla_check: self.min_required_instances_for_sla_check,
            sla_aware_kill_non_prod: self.sla_aware_kill_non_prod,
            max_sla_duration_secs: self.max_sla_duration_secs,
            allowed_container_types: self.allowed_container_types.clone(),
            allowed_job_environments: self.allowed_job_environments.clone(),
            ..Settings::default()
        }
    }
}

/// `MESOS` or `DOCKER`, in any case.
fn container_type(text: &str) -> Result<String, String> {
    let upper = text.trim().to_ascii_uppercase();
    match upper.as_str() {
        "MESOS" | "DOCKER" => Ok(upper),
        _ => Err(format!(
            "unknown container type {text:?}: use MESOS or DOCKER"
        )),
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
    // Counters an operator alerts on are there at 0 from the start: an alert rule sees "0",
    // not "absent", until the first agent is lost or the first append fails.
    for counter in [
        "aurora_agents_lost_total",
        "aurora_journal_append_failures_total",
        "aurora_backup_failed_total",
        "aurora_backup_success_total",
    ] {
        metrics::counter!(counter).increment(0);
    }
    let clock: Arc<dyn aurora_journal::Clock> = Arc::new(SystemClock);

    if args.peers.is_some() {
        return replica_main::run(&args, metrics, clock).await;
    }
    if args.data_dir.join("raft").is_dir() {
        // Else initialising says "not empty" and opening "no journal", neither of which tells
        // the operator that the flags, not the directory, are what is missing.
        bail!(
            "{} holds a replica's data (raft/ and journal/): start it as a replica, with \
             --replica-id, --peers and --cluster as before",
            args.data_dir.display()
        );
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

    if let Some(backup) = &args.restore_from {
        let (cluster, last_seq) =
            RocksJournal::restore(backup, &args.data_dir).with_context(|| {
                format!(
                    "restoring {} into {}",
                    backup.display(),
                    args.data_dir.display()
                )
            })?;
        println!(
            "restored cluster {cluster}'s journal (seqs 1..={last_seq}) from {} into {}; start \
             the scheduler on it with --data-dir {}",
            backup.display(),
            args.data_dir.display(),
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

    let access = args.gate()?;
    let gate = access.gate.clone();
    // Before anything starts: a credential the embedded agent cannot use is a refusal to start
    // now, not an agent retrying anonymously behind a healthy-looking banner.
    let dev_agent_credentials = if args.dev {
        Some(dev_agent_credentials(&args, access.local.as_ref())?)
    } else {
        None
    };
    let tls = args
        .tls
        .load()
        .context("--tls-cert, --tls-key, --tls-client-ca")?;
    if let Some(tls) = &tls {
        tls.reload_on_hangup("scheduler");
    }
    let client_tls = args.client_tls()?;
    let journal = if args.dev {
        RocksJournal::open_or_initialise(&args.data_dir, args.cluster(), clock.now())
    } else {
        RocksJournal::open(&args.data_dir)
    }
    .with_context(|| format!("opening the journal in {}", args.data_dir.display()))?;
    let cluster = journal.cluster().to_string();
    let last_seq = journal.last_seq();
    let backups = args.backups(Some(journal.clone()))?;
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
        coordinators: args.coordinators()?,
    })
    .await
    .context("recovering the scheduler's state from the journal")?;

    let app = aurora_scheduler::auth::guard(
        app(&cluster, &runtime, metrics, &gate)
            .merge(aurora_scheduler::backups::router(backups.clone())),
        gate.clone(),
    );
    let addr = SocketAddr::new(args.http_host, args.http_port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let base = format!("{}://{addr}", args.tls.scheme());
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
    println!("  auth:    {}", access.shown);
    if let Some(backups) = &backups {
        let every = match args.backup_interval_mins {
            0 => "on request only".to_string(),
            minutes => format!("every {minutes} min"),
        };
        println!(
            "  backups: {} ({every}, {} kept)",
            backups.dir().display(),
            args.max_saved_backups
        );
    }
    println!("  tls:     {}", tls_shown(&args.tls));
    if let Some(url) = &args.nats {
        println!(
            "  stream:  {} on {url} (subjects {})",
            aurora_stream::subject::stream_name(&cluster),
            aurora_stream::subject::stream_subjects(&cluster)
        );
    }
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let agent = if let Some(credentials) = dev_agent_credentials {
        let port = listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or(args.http_port);
        let mut config = dev_agent(&args, port, credentials.credentials, client_tls)?;
        config.observer_auth = dev_observer_auth(&args, access.local.as_ref())?;
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
        if let Some(warning) = &credentials.warning {
            tracing::warn!("{warning}");
            println!("  WARNING: {warning}");
        }
        println!(
            "  observer: {}/tasks (task run/ssh/scp: {})",
            serving.endpoint,
            config_auth_shown(&args)
        );
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
        tls,
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

/// What a scheduler's port serves: the web UI, the API and the metrics. Put it behind the
/// gate (`auth::guard`) once every route is merged: a route served without it refuses all.
pub(crate) fn app(
    cluster: &str,
    runtime: &Runtime,
    metrics: metrics_exporter_prometheus::PrometheusHandle,
    gate: &Gate,
) -> axum::Router {
    aurora_web::app(aurora_web::WebState {
        cluster: cluster.to_string(),
        read: Arc::clone(runtime.read_model()),
        warning: gate.is_insecure().then(|| {
            "This scheduler runs without authentication (--insecure-no-auth): anyone who can \
             reach it can act as any user."
                .to_string()
        }),
        cron_zone: runtime.state().settings().cron_zone.clone(),
        executor_overhead: runtime.state().settings().executor_overhead,
    })
    .merge(aurora_scheduler::api::router(runtime.clone()))
    .merge(aurora_scheduler::api::metrics::router(
        runtime.clone(),
        metrics,
    ))
    // Responses by status, for Aurora's `http_<code>_responses_events` in /vars.
    .layer(axum::middleware::from_fn(
        aurora_scheduler::api::vars::count_responses,
    ))
}

/// The credential the embedded agent of `--dev` presents, and what is wrong with it.
struct DevAgentCredentials {
    credentials: Option<aurora_auth::Credentials>,
    /// Why the agent will not be able to register, for the banner and the log.
    warning: Option<String>,
}

/// The embedded agent's credential: `--dev`'s own, else (with `--auth FILE` or
/// `--insecure-no-auth`) what the local user's client would send this machine
/// (`AURORA_TOKEN`, `~/.netrc`). One that cannot be sent in a header is an error naming where
/// it was found; with `--auth`, none, or one that is not a user of the file holding `agent:*`,
/// is a warning saying what to do.
fn dev_agent_credentials(
    args: &Args,
    local: Option<&aurora_auth::Credentials>,
) -> anyhow::Result<DevAgentCredentials> {
    if let Some(local) = local {
        return Ok(DevAgentCredentials {
            credentials: Some(local.clone()),
            warning: None,
        });
    }
    let base = format!("{}://127.0.0.1:{}", args.tls.scheme(), args.http_port);
    let found = aurora_auth::client::discover_from_env_with_source(&base)
        .context("the embedded agent's credential (what the aurora clients would send here)")?;
    let warning = match &args.auth {
        Some(path) => {
            let config = aurora_auth::AuthConfig::load(path)?;
            agent_credential_problem(&config, found.as_ref(), path)
        }
        None => None,
    };
    Ok(DevAgentCredentials {
        credentials: found.map(|(credentials, _)| credentials),
        warning,
    })
}

/// Why the embedded agent, presenting `found` (the credential and where it came from), cannot
/// register with a scheduler using `config` (read from `file`): none at all, not a user's, or
/// a user's without `agent:*`. `None` when it can.
fn agent_credential_problem(
    config: &aurora_auth::AuthConfig,
    found: Option<&(aurora_auth::Credentials, String)>,
    file: &std::path::Path,
) -> Option<String> {
    let advice = format!(
        "set AURORA_TOKEN (or give ~/.netrc an entry for 127.0.0.1) to the credential of a \
         user of {} with agent:*, then restart",
        file.display()
    );
    let Some((credentials, origin)) = found else {
        return Some(format!(
            "the embedded agent has no credential, so it cannot register and no task will run: \
             {advice}"
        ));
    };
    match config.authenticate(credentials) {
        Err(_) => Some(format!(
            "the embedded agent's credential (from {origin}) is no user's of {}, so it cannot \
             register and no task will run: {advice}",
            file.display()
        )),
        Ok(principal) => config
            .authorize(Some(&principal), aurora_auth::Action::AgentRegister, None)
            .err()
            .map(|denied| {
                format!(
                    "the embedded agent's credential (from {origin}) is user {}'s, who may not \
                     act as an agent ({denied}), so no task will run: {advice}",
                    principal.name()
                )
            }),
    }
}

/// The one agent `--dev` runs in process, on this machine, talking to this scheduler over
/// loopback like any other agent. Its sandboxes live under the data directory; its observer
/// listens on a free loopback port.
fn dev_agent(
    args: &Args,
    port: u16,
    credentials: Option<aurora_auth::Credentials>,
    tls: aurora_net::ClientTls,
) -> anyhow::Result<aurora_agent::daemon::AgentConfig> {
    use aurora_agent::daemon;
    let work_dir = args.data_dir.join("agent");
    std::fs::create_dir_all(&work_dir)
        .with_context(|| format!("creating {}", work_dir.display()))?;
    let host = daemon::hostname();
    let base = format!("{}://127.0.0.1:{port}", args.tls.scheme());
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
        credentials,
        tls,
        observer_tls: None,
        // Set by the caller (`dev_observer_auth`).
        observer_auth: aurora_agent::observer::ObserverAuth::closed(),
    })
}

/// Who the embedded agent's observer runs commands for and accepts files from (`aurora task
/// run/ssh/scp`): the users of `--auth FILE` (reloaded on SIGHUP, as the scheduler's), else
/// the dev credential. With `--insecure-no-auth` too it asks for the dev token (made if need
/// be): a scheduler without authentication does not make its agent a shell for anyone who
/// reaches it. Without a home for the token, it runs nothing.
fn dev_observer_auth(
    args: &Args,
    local: Option<&aurora_auth::Credentials>,
) -> anyhow::Result<aurora_agent::observer::ObserverAuth> {
    use aurora_agent::observer::ObserverAuth;
    if let Some(path) = &args.auth {
        let auth = ObserverAuth::load(path)?;
        auth.reload_on_hangup();
        return Ok(auth);
    }
    let token = match local {
        Some(aurora_auth::Credentials::Token(token)) => token.clone(),
        _ => {
            let Some(home) = std::env::var_os("HOME").map(PathBuf::from) else {
                return Ok(ObserverAuth::closed());
            };
            aurora_auth::client::dev_token(&home, rand::random())
                .context("making the dev credential for the embedded agent's observer")?
        }
    };
    let user = std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "dev".into());
    Ok(ObserverAuth::enforced(
        aurora_auth::AuthConfig::dev(&user, &token),
        None,
    ))
}

/// What the banner says about who may use `task run/ssh/scp` on the embedded agent.
fn config_auth_shown(args: &Args) -> &'static str {
    if args.auth.is_some() {
        "users of --auth with job:create on the role"
    } else {
        "the dev token"
    }
}

/// What the start-up banner says about TLS.
pub(crate) fn tls_shown(tls: &aurora_net::ServerTlsArgs) -> String {
    match (&tls.tls_cert, &tls.tls_client_ca) {
        (None, _) => "none (plain HTTP; give --tls-cert and --tls-key for HTTPS)".into(),
        (Some(cert), None) => format!(
            "{} (clients trust its CA: AURORA_CA_FILE, or --tls-ca for agents)",
            cert.display()
        ),
        (Some(cert), Some(ca)) => format!(
            "{}, client certificates signed by {} required",
            cert.display(),
            ca.display()
        ),
    }
}

pub(crate) async fn shutdown_signal() {
    aurora_net::signals::shutdown_signal().await;
}

/// Descriptors kept for what is not a client connection: the journal's files, the agent's
/// tasks in `--dev`, outgoing calls.
const RESERVED_DESCRIPTORS: u64 = 1024;

/// `wanted` connections, or fewer if the open-file limit cannot hold them once raised as far
/// as allowed (soft to hard): past it, accepting fails and every client, `/health` included,
/// is turned away without an answer.
fn connections_allowed(wanted: usize) -> usize {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return wanted;
    };
    let limit = if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        hard
    } else {
        soft
    };
    let fits = usize::try_from(limit.saturating_sub(RESERVED_DESCRIPTORS)).unwrap_or(usize::MAX);
    if wanted > fits {
        tracing::warn!(
            wanted,
            allowed = fits.max(1),
            open_file_limit = limit,
            "--max-connections lowered to what the open-file limit allows (raise it with \
             ulimit -n or LimitNOFILE=)"
        );
        return fits.max(1);
    }
    wanted
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use aurora_auth::{AuthConfig, Credentials, token_digest};

    #[test]
    fn the_embedded_agents_credential_must_be_an_agents() {
        let agent = aurora_auth::new_token([1; 32]);
        let ops = aurora_auth::new_token([2; 32]);
        let config = AuthConfig::parse(&format!(
            "[users.vm]\ntokens = [\"{}\"]\npermissions = [\"agent:*\"]\n\
             [users.ops]\ntokens = [\"{}\"]\npermissions = [\"admin:*\"]\n",
            token_digest(&agent),
            token_digest(&ops),
        ))
        .unwrap();
        let file = std::path::Path::new("auth.toml");
        let found = |token: &str| Some((Credentials::Token(token.into()), "AURORA_TOKEN".into()));
        assert_eq!(
            agent_credential_problem(&config, found(&agent).as_ref(), file),
            None
        );

        let none = agent_credential_problem(&config, None, file).unwrap();
        assert!(
            none.starts_with("the embedded agent has no credential")
                && none.contains("AURORA_TOKEN")
                && none.contains("auth.toml with agent:*"),
            "{none}"
        );
        let stranger = aurora_auth::new_token([3; 32]);
        let unknown = agent_credential_problem(&config, found(&stranger).as_ref(), file).unwrap();
        assert!(
            unknown.contains("(from AURORA_TOKEN) is no user's of auth.toml"),
            "{unknown}"
        );
        let admin = agent_credential_problem(&config, found(&ops).as_ref(), file).unwrap();
        assert!(
            admin.contains("is user ops's, who may not act as an agent"),
            "{admin}"
        );
    }
}
