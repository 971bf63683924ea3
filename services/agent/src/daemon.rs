//! The agent daemon: registers with the scheduler, heartbeats, polls for work (a long poll the
//! scheduler answers the moment it queues a launch or a kill, so work arrives within
//! milliseconds rather than at the next heartbeat), launches and kills tasks as told, and
//! reports every task's status change in order, each until the scheduler has it (see
//! [`crate::reports`]).
//!
//! Before it registers, the agent stops what the tasks of an earlier agent with the same work
//! directory left running (an agent killed with SIGKILL, or the agent of a `--dev` scheduler
//! that was): see [`crate::executor::sweep_leftovers`]. Reparented to pid 1, they would hold
//! their ports against the tasks the scheduler put in their place.
//!
//! After a restart (of the agent or the scheduler) the agent registers again with the tasks it
//! still runs; the scheduler marks the ones it placed here but the agent lacks as LOST and tells
//! the agent to kill the ones it does not expect.
//!
//! The agent knows every scheduler replica ([`AgentConfig::schedulers`]); its client sticks to
//! the one that answers and moves on when that one dies or stops leading, and drops work
//! handed out by a leader older than one it has already heard from (see [`crate::client`]).
//!
//! [`serve`] also starts the observer (when [`AgentConfig::observer_addr`] is set) on the same
//! [`Running`] map, and advertises its URL as the agent's `endpoint`, so the UI can link to it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aurora_api::{AgentRegistration, Heartbeat, LaunchSpec};
use aurora_events::event::Attribute;
use aurora_events::{AgentId, Capacity, TaskId};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::client::{ClientError, SchedulerClient};
use crate::executor::{self, Executor, ExecutorSettings, TaskContext, TaskSpec};
use crate::observer::{self, ObserverAuth, ObserverState};
use crate::reports::{Forwarders, ReportRetry};

/// Everything an agent needs to know about itself.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The scheduler replicas' base URLs, tried in order; the agent sticks to the one that
    /// answers and moves on when it dies or stops leading (see [`SchedulerClient`]).
    pub schedulers: Vec<String>,
    pub agent: AgentId,
    pub host: String,
    pub capacity: Capacity,
    pub attributes: Vec<Attribute>,
    /// Sandboxes go under `<work_dir>/sandboxes/<task id>`.
    pub work_dir: PathBuf,
    pub heartbeat_interval: Duration,
    /// How long a killed task's processes get between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
    /// Where the observer listens (port 0: any free port); `None`: no observer, and the agent
    /// advertises an empty endpoint.
    pub observer_addr: Option<SocketAddr>,
    /// What the agent presents to the scheduler (`None`: nothing, for a scheduler without
    /// authentication).
    pub credentials: Option<aurora_auth::Credentials>,
    /// What the agent trusts (and presents) when its schedulers are `https://`.
    pub tls: aurora_net::ClientTls,
    /// The observer's HTTPS identity (and client-certificate policy); `None`: plain HTTP.
    pub observer_tls: Option<aurora_net::ServerTls>,
    /// Who may run commands in and copy files into sandboxes through the observer (and, with
    /// an auth config, who may read): see `observer::auth`.
    pub observer_auth: ObserverAuth,
}

/// The tasks this agent runs, by id. The daemon inserts a task at launch and removes it once
/// its executor reported the end; the observer reads it for live process states, and for whose
/// a task is (its role) and what its commands may reference (`task run`).
pub type Running = Arc<Mutex<BTreeMap<TaskId, RunningTask>>>;

/// One task the agent runs.
#[derive(Debug)]
pub struct RunningTask {
    pub executor: Executor,
    /// The role of the task's job: who may run commands in its sandbox (see the observer).
    pub role: String,
    /// The task's id, instance, host and ports, as its processes see them.
    pub context: TaskContext,
}

/// A started agent.
#[derive(Debug)]
pub struct Serving {
    /// The observer's URL as advertised to the scheduler (`http://<host>:<port>`), or empty.
    pub endpoint: String,
    /// Where the observer actually listens.
    pub observer_addr: Option<SocketAddr>,
    /// Ends once `shutdown` became true, the tasks were killed and the observer stopped.
    pub agent: JoinHandle<()>,
}

/// Binds the observer (if configured) and starts the agent; returns once both are under way.
/// Fails only when the observer's address cannot be bound.
pub async fn serve(
    config: AgentConfig,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<Serving> {
    serve_with(config, ReportRetry::default(), shutdown).await
}

/// [`serve`], sending failed status reports again as `retry` says.
pub async fn serve_with(
    config: AgentConfig,
    retry: ReportRetry,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<Serving> {
    let running: Running = Arc::new(Mutex::new(BTreeMap::new()));
    let (endpoint, observer_addr, observer) = match config.observer_addr {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr).await?;
            let bound = listener.local_addr()?;
            let state = ObserverState::new(config.work_dir.join("sandboxes"), Arc::clone(&running))
                .with_auth(config.observer_auth.clone());
            let scheme = if config.observer_tls.is_some() {
                "https"
            } else {
                "http"
            };
            let server = tokio::spawn(observer::serve(
                listener,
                state,
                config.observer_tls.clone(),
                shutdown.clone(),
            ));
            let endpoint = advertised_endpoint(scheme, &config.host, bound);
            tracing::info!(%endpoint, %bound, auth = %config.observer_auth.describe(), "observer serving");
            (endpoint, Some(bound), Some(server))
        }
        None => (String::new(), None, None),
    };
    let loop_endpoint = endpoint.clone();
    let agent = tokio::spawn(async move {
        agent_loop(config, loop_endpoint, running, retry, shutdown).await;
        if let Some(server) = observer {
            match server.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "observer failed"),
                Err(e) => tracing::warn!(error = %e, "observer task failed"),
            }
        }
    });
    Ok(Serving {
        endpoint,
        observer_addr,
        agent,
    })
}

/// Runs the agent until `shutdown` becomes true ([`serve`], then waiting for it).
pub async fn run(config: AgentConfig, shutdown: watch::Receiver<bool>) -> std::io::Result<()> {
    let serving = serve(config, shutdown).await?;
    if let Err(e) = serving.agent.await {
        tracing::warn!(error = %e, "agent task failed");
    }
    Ok(())
}

/// The observer URL others should use: the bound IP when it is a specific one (127.0.0.1 in
/// `--dev`), else the agent's host name, as Aurora links `http://<host>:1338`.
fn advertised_endpoint(scheme: &str, host: &str, bound: SocketAddr) -> String {
    if bound.ip().is_unspecified() {
        format!("{scheme}://{host}:{}", bound.port())
    } else {
        format!("{scheme}://{bound}")
    }
}

/// How long one work poll waits for the scheduler to queue something.
const WORK_WAIT: Duration = Duration::from_secs(20);

/// At shutdown, how much longer than the kill grace tasks get to stop (SIGKILL, reaping,
/// removing containers). HTTP lifecycle waits and final processes beyond that are cut short.
const SHUTDOWN_MARGIN: Duration = Duration::from_secs(5);

/// Stops what an earlier agent's tasks left, then registers, heartbeats, polls for work and
/// acts until `shutdown` becomes true. Tasks still running then are killed, and waited for (at
/// most the kill grace and [`SHUTDOWN_MARGIN`]): a task's processes are stopped by its
/// executor, not left to pid 1 when this process exits. Their last status reports get at most
/// [`SHUTDOWN_MARGIN`] more.
async fn agent_loop(
    config: AgentConfig,
    endpoint: String,
    running: Running,
    retry: ReportRetry,
    mut shutdown: watch::Receiver<bool>,
) {
    // Before registering: the scheduler must not hear of (or place tasks beside) processes
    // this agent does not run. No executor of this process exists yet, so every recorded tag
    // under the work directory is an earlier agent's.
    let sandboxes = config.work_dir.join("sandboxes");
    let docker = std::path::Path::new(executor::DOCKER);
    executor::sweep_leftovers(&sandboxes, config.kill_grace, docker).await;
    let client = SchedulerClient::with_credentials(
        &config.schedulers,
        config.agent.clone(),
        config.credentials.as_ref(),
        &config.tls,
    );
    let mut forwarders = Forwarders::new(retry, shutdown.clone());
    let mut registered = false;
    let mut backoff = config.heartbeat_interval;
    let mut next_contact = tokio::time::Instant::now();
    let mut work = client.poll_work(WORK_WAIT, Duration::ZERO);
    while !*shutdown.borrow() {
        forwarders.reap();
        tokio::select! {
            () = tokio::time::sleep_until(next_contact) => {}
            changed = shutdown.changed() => {
                if changed.is_err() {
                    break; // nobody can ask this agent to stop any more: stop now
                }
                continue;
            }
            answer = &mut work, if registered => {
                let delay = match answer {
                    Ok(reply) => {
                        act(&config, &client, &running, &mut forwarders, reply);
                        Duration::ZERO
                    }
                    Err(ClientError::Unregistered(message)) => {
                        tracing::warn!(%message, "the scheduler no longer knows this agent; registering again");
                        registered = false;
                        next_contact = tokio::time::Instant::now();
                        Duration::ZERO
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "work poll failed");
                        config.heartbeat_interval.max(Duration::from_secs(1))
                    }
                };
                work = client.poll_work(WORK_WAIT, delay);
                continue;
            }
        }
        if !registered {
            match client
                .register(&registration(&config, &endpoint, &running))
                .await
            {
                Ok(()) => {
                    tracing::info!(agent = %config.agent, scheduler = %client.current(), "registered");
                    registered = true;
                    backoff = config.heartbeat_interval;
                    work = client.poll_work(WORK_WAIT, Duration::ZERO);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "registration failed; retrying");
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        } else {
            match client.heartbeat().await {
                Ok(reply) => act(&config, &client, &running, &mut forwarders, reply),
                Err(ClientError::Unregistered(message)) => {
                    tracing::warn!(%message, "the scheduler no longer knows this agent; registering again");
                    registered = false;
                }
                Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
            }
        }
        next_contact = tokio::time::Instant::now()
            + if registered {
                config.heartbeat_interval
            } else {
                backoff
            };
    }
    let executors = std::mem::take(&mut *running.lock().unwrap_or_else(PoisonError::into_inner));
    for (task, running) in &executors {
        running.executor.kill("agent shutting down");
        tracing::info!(%task, "killed at shutdown");
    }
    let bound = config.kill_grace + SHUTDOWN_MARGIN;
    let stopped = executors.into_iter().map(|(task, running)| async move {
        match tokio::time::timeout(bound, running.executor.wait()).await {
            Ok(end) => tracing::info!(%task, ?end, "stopped at shutdown"),
            Err(_) => tracing::warn!(%task, ?bound, "task still stopping at shutdown; leaving it"),
        }
    });
    futures::future::join_all(stopped).await;
    forwarders.finish(SHUTDOWN_MARGIN).await;
}

/// Carries out what the scheduler handed over: kills first, then launches.
fn act(
    config: &AgentConfig,
    client: &SchedulerClient,
    running: &Running,
    forwarders: &mut Forwarders,
    reply: Heartbeat,
) {
    for task in reply.kill {
        kill(running, &task);
    }
    for spec in reply.launch {
        launch(config, client, running, forwarders, spec);
    }
}

fn registration(config: &AgentConfig, endpoint: &str, running: &Running) -> AgentRegistration {
    let tasks: BTreeSet<TaskId> = running
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .keys()
        .cloned()
        .collect();
    AgentRegistration {
        agent: config.agent.clone(),
        host: config.host.clone(),
        capacity: config.capacity.clone(),
        attributes: config.attributes.clone(),
        endpoint: endpoint.to_string(),
        running: tasks,
    }
}

fn kill(running: &Running, task: &TaskId) {
    let guard = running.lock().unwrap_or_else(PoisonError::into_inner);
    match guard.get(task) {
        Some(running) => running.executor.kill("Killed by the scheduler"),
        None => tracing::debug!(%task, "kill for a task this agent does not run"),
    }
}

/// Starts a task and a forwarder that reports its updates, in order, until it ends.
fn launch(
    config: &AgentConfig,
    client: &SchedulerClient,
    running: &Running,
    forwarders: &mut Forwarders,
    spec: LaunchSpec,
) {
    let task = spec.task.clone();
    if running
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .contains_key(&task)
    {
        return; // already launched (a repeated launch must not start it twice)
    }
    let sandbox = config.work_dir.join("sandboxes").join(task.as_str());
    let mut settings = ExecutorSettings::new(sandbox);
    settings.kill_grace = config.kill_grace;
    let context = TaskContext {
        task_id: task.to_string(),
        instance: spec.instance,
        hostname: config.host.clone(),
        ports: spec.ports.clone(),
    };
    let task_spec = TaskSpec {
        task: spec.config.executor.clone(),
        lifecycle: spec.config.lifecycle.clone(),
        health_check: spec.config.health_check.clone(),
        context: context.clone(),
        container: spec.config.container.clone(),
    };
    let (executor, updates) = Executor::launch(task_spec, settings);
    running
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(
            task.clone(),
            RunningTask {
                executor,
                role: spec.config.job.role.to_string(),
                context,
            },
        );
    // The task stays in `running` (and in what a registration reports) until its terminal
    // report is delivered: removed earlier, a registration meanwhile would have the scheduler
    // mark it LOST, and the report that follows would arrive as an illegal transition.
    let running = Arc::clone(running);
    let done_task = task.clone();
    forwarders.start(client.clone(), task, updates, move || {
        running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&done_task);
    });
}

/// This machine's resources, for an agent that is not told them: all cores, the memory the
/// kernel reports, and the free space of the work directory's file system.
pub fn detect_capacity(work_dir: &std::path::Path) -> Capacity {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get() as f64)
        .unwrap_or(1.0);
    let ram_mb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(1024, |kib| kib / 1024);
    let disk_mb = nix::sys::statvfs::statvfs(work_dir)
        .map(|fs| fs.blocks_available() * fs.fragment_size() / (1024 * 1024))
        .unwrap_or(10_240);
    Capacity {
        cpus,
        ram_mb,
        disk_mb,
        gpus: 0,
        port_ranges: vec![(31000, 32000)],
    }
}

/// This machine's host name.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|name| name.into_string().ok())
        .unwrap_or_else(|| "localhost".to_string())
}
