//! The agent daemon: registers with the scheduler, heartbeats, launches and kills tasks as the
//! heartbeat replies say, and reports every task's status change in order.
//!
//! After a restart (of the agent or the scheduler) the agent registers again with the tasks it
//! still runs; the scheduler marks the ones it placed here but the agent lacks as LOST and tells
//! the agent to kill the ones it does not expect.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aurora_api::{AgentRegistration, LaunchSpec, StatusReport};
use aurora_events::event::Attribute;
use aurora_events::{AgentId, Capacity, ScheduleStatus, TaskId};
use tokio::sync::watch;

use crate::client::{ClientError, SchedulerClient};
use crate::executor::{Executor, ExecutorSettings, TaskContext, TaskSpec, TaskUpdate};

/// Everything an agent needs to know about itself.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The scheduler's base URL.
    pub scheduler: String,
    pub agent: AgentId,
    pub host: String,
    pub capacity: Capacity,
    pub attributes: Vec<Attribute>,
    /// Sandboxes go under `<work_dir>/sandboxes/<task id>`.
    pub work_dir: PathBuf,
    pub heartbeat_interval: Duration,
    /// How long a killed task's processes get between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
    /// Where the agent's observer is served (advertised to the scheduler and the UI).
    pub endpoint: String,
}

type Running = Arc<Mutex<BTreeMap<TaskId, Executor>>>;

/// Runs the agent until `shutdown` becomes true. Tasks still running then are killed.
pub async fn run(config: AgentConfig, mut shutdown: watch::Receiver<bool>) {
    let client = SchedulerClient::new(&config.scheduler, config.agent.clone());
    let running: Running = Arc::new(Mutex::new(BTreeMap::new()));
    let mut registered = false;
    let mut backoff = config.heartbeat_interval;
    loop {
        if *shutdown.borrow() {
            break;
        }
        if !registered {
            match client.register(&registration(&config, &running)).await {
                Ok(()) => {
                    tracing::info!(agent = %config.agent, scheduler = %config.scheduler, "registered");
                    registered = true;
                    backoff = config.heartbeat_interval;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "registration failed; retrying");
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        } else {
            match client.heartbeat().await {
                Ok(work) => {
                    for task in work.kill {
                        kill(&running, &task);
                    }
                    for spec in work.launch {
                        launch(&config, &client, &running, spec);
                    }
                }
                Err(ClientError::Unregistered(message)) => {
                    tracing::warn!(%message, "the scheduler no longer knows this agent; registering again");
                    registered = false;
                }
                Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
            }
        }
        let pause = if registered {
            config.heartbeat_interval
        } else {
            backoff
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.changed() => {}
        }
    }
    let executors = std::mem::take(&mut *running.lock().unwrap_or_else(PoisonError::into_inner));
    for (task, executor) in executors {
        executor.kill("agent shutting down");
        tracing::info!(%task, "killed at shutdown");
    }
}

fn registration(config: &AgentConfig, running: &Running) -> AgentRegistration {
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
        endpoint: config.endpoint.clone(),
        running: tasks,
    }
}

fn kill(running: &Running, task: &TaskId) {
    let guard = running.lock().unwrap_or_else(PoisonError::into_inner);
    match guard.get(task) {
        Some(executor) => executor.kill("Killed by the scheduler"),
        None => tracing::debug!(%task, "kill for a task this agent does not run"),
    }
}

/// Starts a task and a forwarder that reports its updates, in order, until it ends.
fn launch(config: &AgentConfig, client: &SchedulerClient, running: &Running, spec: LaunchSpec) {
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
    let task_spec = TaskSpec {
        task: spec.config.executor.clone(),
        lifecycle: spec.config.lifecycle.clone(),
        context: TaskContext {
            task_id: task.to_string(),
            instance: spec.instance,
            hostname: config.host.clone(),
            ports: spec.ports.clone(),
        },
    };
    let (executor, mut updates) = Executor::launch(task_spec, settings);
    running
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(task.clone(), executor);
    let client = client.clone();
    let running = Arc::clone(running);
    tokio::spawn(async move {
        while let Some(update) = updates.recv().await {
            let terminal = update.is_terminal();
            let (status, message) = status_of(update);
            report(
                &client,
                StatusReport {
                    task: task.clone(),
                    status,
                    message,
                },
            )
            .await;
            if terminal {
                break;
            }
        }
        running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&task);
    });
}

/// Aurora's task state for an executor update.
fn status_of(update: TaskUpdate) -> (ScheduleStatus, Option<String>) {
    match update {
        TaskUpdate::Starting => (
            ScheduleStatus::Starting,
            Some("Initializing sandbox.".into()),
        ),
        TaskUpdate::Running => (ScheduleStatus::Running, None),
        TaskUpdate::Finished { message } => (ScheduleStatus::Finished, Some(message)),
        TaskUpdate::Failed { message } => (ScheduleStatus::Failed, Some(message)),
        TaskUpdate::Killed { message } => (ScheduleStatus::Killed, Some(message)),
    }
}

/// Sends a report, retrying a few times: a lost report would leave the scheduler waiting for a
/// state the task has left (its transient timeout eventually repairs that).
async fn report(client: &SchedulerClient, report: StatusReport) {
    let mut delay = Duration::from_millis(200);
    for attempt in 1..=5 {
        match client.status(&report).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(task = %report.task, status = %report.status, attempt, error = %e, "status report failed");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
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
