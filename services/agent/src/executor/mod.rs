//! The Thermos-like executor: runs ONE task's processes in a sandbox directory.
//!
//! ```text
//!  Executor::launch ──► runner (one tokio task owns all state)
//!                         │  prepare: sandbox, templates, plans      ──► TaskUpdate::Starting
//!                         │  ACTIVE: regular plan (plan.rs decides,   ──► TaskUpdate::Running
//!                         │          process.rs forks, logs.rs pumps;     (at the first fork, or
//!                         │          checker.rs checks, health.rs judges)  once healthy)
//!                         │  CLEANING: SIGTERM → grace → SIGKILL to every process left
//!                         │            (tracking.rs finds them, setsid'd daemons too)
//!                         │  FINALIZING: `final` processes within finalization_wait
//!                         └──────────────────────────────────────────► Finished | Failed | Killed
//!  Executor::kill ───► graceful HTTP lifecycle POSTs, then CLEANING and FINALIZING → Killed
//!  Executor::processes ◄── per-process status snapshot (for the observer)
//! ```
//!
//! Vocabulary: a *process* is a named cmdline of the task; a *run* is one fork of it (retries
//! and daemon restarts make more runs); a *plan* is the set of processes scheduled together
//! (regular or final). Task-level `max_failures` is the number of permanently failed
//! processes at which the task fails (0 = never); see `plan.rs` for every rule.
//!
//! The executor never panics on a bad task: a sandbox it cannot create, an unknown template
//! variable or a process it cannot start all end the task FAILED with a message naming the
//! problem. It does not talk to the scheduler: the agent maps [`TaskUpdate`]s to Aurora states.
//!
//! With a Docker container ([`TaskSpec::container`]), each run is a `docker run` of the task's
//! image with the sandbox mounted at its own path, host networking and the same `bash -c`;
//! kills reach containers through `docker kill` and `docker rm -f` (see `docker.rs`).
//!
//! Health checks (optional, [`TaskSpec::health_check`]) start with the first fork and run
//! every `interval_secs` while the regular plan is active: the task reports `Running` only once
//! healthy, and a task that does not become healthy in time, or fails too many checks once
//! running, is stopped (HTTP lifecycle, signals, finalizers) and ends `Failed` with a message
//! starting "health check failed". See `health.rs` for the rules.
//!
//! Before any process starts, the executor records its tag (which every process of the task
//! carries in its environment) in the sandbox, `.aurora-executor-tag`, and removes it once
//! nothing the task started runs: an agent that was killed without stopping its tasks stops
//! what they left when it starts again ([`sweep_leftovers`], `leftovers.rs`).

mod checker;
mod docker;
mod health;
mod leftovers;
mod lifecycle;
mod logs;
pub mod plan;
mod process;
mod runner;
pub mod template;
mod tracking;
mod tree;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use aurora_events::config::{Container, HealthCheck, HttpLifecycle, ThermosTask};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use leftovers::{Swept, sweep_leftovers};
pub use plan::ProcessState;
pub use template::{TaskContext, TemplateError};

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSpec {
    pub task: ThermosTask,
    /// Endpoints POSTed on a graceful kill, when the task has the lifecycle's port.
    pub lifecycle: Option<HttpLifecycle>,
    /// Aurora's health check. With one, the task reports [`TaskUpdate::Running`] only after
    /// `min_consecutive_successes` consecutive passing checks, and fails (FAILED, "health check
    /// failed ...") when it is not healthy within `ceil(initial_interval_secs / interval_secs) +
    /// max_consecutive_failures + min_consecutive_successes` checks or, once healthy, after more
    /// than `max_consecutive_failures` failures in a row. Failures of the first
    /// `ceil(initial_interval_secs / interval_secs)` checks (the grace period) are ignored, and
    /// while `.healthchecksnooze` exists in the sandbox checks count as passing. An HTTP check
    /// GETs the endpoint on the task's `health` port (the task fails at once without one); a
    /// shell check runs the (templated) command with bash in the sandbox. `None`: the task is
    /// `Running` as soon as a process is forked.
    pub health_check: Option<HealthCheck>,
    pub context: TaskContext,
    /// What the processes run in (Aurora's `Job.container`): `None` (or a Mesos container with
    /// neither image nor volumes), the sandbox itself; `Docker`, one `docker run` of the image
    /// per process run, with the sandbox mounted at its own path and host networking (see
    /// `docker.rs`). Health checks and the HTTP lifecycle run on the host either way. A Mesos
    /// image or volumes fail the task.
    pub container: Option<Container>,
}

/// The `docker` CLI executors use unless told otherwise: looked up on `PATH`.
pub const DOCKER: &str = "docker";

/// How to run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutorSettings {
    /// Created if missing; processes run here and logs go to `.logs/` inside it.
    pub sandbox: PathBuf,
    /// How long processes get between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
    /// The `docker` CLI for tasks with a Docker container: a name looked up on `PATH` when the
    /// task launches, or a path. `docker` by default; a task that needs it and cannot find it
    /// fails ("this agent has no docker: ...").
    pub docker: PathBuf,
}

impl ExecutorSettings {
    pub fn new(sandbox: impl Into<PathBuf>) -> Self {
        Self {
            sandbox: sandbox.into(),
            kill_grace: Duration::from_secs(10),
            docker: PathBuf::from(DOCKER),
        }
    }
}

/// The task's lifecycle as the executor reports it, in this order: `Starting`, `Running`
/// (once, when the first process is forked, or with a health check once it is healthy; a task
/// may end without it), then exactly one terminal update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskUpdate {
    /// The sandbox is set up.
    Starting,
    /// Processes are being forked (and, with a health check, the task is healthy).
    Running,
    /// Every required process succeeded (finalizers have run).
    Finished { message: String },
    /// The task failed; the message names the process or the problem.
    Failed { message: String },
    /// Killed on request.
    Killed { message: String },
}

impl TaskUpdate {
    pub fn is_terminal(&self) -> bool {
        match self {
            TaskUpdate::Starting | TaskUpdate::Running => false,
            TaskUpdate::Finished { .. } | TaskUpdate::Failed { .. } | TaskUpdate::Killed { .. } => {
                true
            }
        }
    }
}

/// One process of the task, as of now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessStatus {
    pub name: String,
    pub state: ProcessState,
    /// Runs started so far; the current or last run's logs are under `.logs/<name>/<runs - 1>`.
    pub runs: u32,
    /// Pid (= process group id) of the current run, while one is active.
    pub pid: Option<u32>,
    /// Start of the current or last run.
    pub started_at: Option<SystemTime>,
    /// Exit code of the last finished run; `None` if it has not exited or died of a signal.
    pub exit_code: Option<i32>,
    pub is_final: bool,
}

/// A running task. Dropping it kills the task (as `kill` would); `wait` does not.
#[derive(Debug)]
pub struct Executor {
    statuses: Arc<Mutex<Vec<ProcessStatus>>>,
    kill: watch::Sender<Option<String>>,
    handle: JoinHandle<TaskUpdate>,
}

impl Executor {
    /// Starts running `spec` on the current tokio runtime. Updates, ending with a terminal
    /// one, arrive on the returned receiver.
    ///
    /// ```no_run
    /// # async fn demo(task: aurora_events::config::ThermosTask) {
    /// use aurora_agent::executor::{Executor, ExecutorSettings, TaskContext, TaskSpec};
    /// let spec = TaskSpec {
    ///     task,
    ///     lifecycle: None,
    ///     health_check: None,
    ///     context: TaskContext::default(),
    ///     container: None,
    /// };
    /// let (executor, mut updates) = Executor::launch(spec, ExecutorSettings::new("/var/sandbox/t-1"));
    /// while let Some(update) = updates.recv().await {
    ///     if update.is_terminal() { break; }
    /// }
    /// let last = executor.wait().await;
    /// # }
    /// ```
    pub fn launch(
        spec: TaskSpec,
        settings: ExecutorSettings,
    ) -> (Self, mpsc::UnboundedReceiver<TaskUpdate>) {
        let (updates_tx, updates_rx) = mpsc::unbounded_channel();
        let (kill_tx, kill_rx) = watch::channel(None);
        let statuses = Arc::new(Mutex::new(Vec::new()));
        let runner = runner::Runner::new(spec, settings, updates_tx, kill_rx, statuses.clone());
        let handle = tokio::spawn(runner.run());
        (
            Self {
                statuses,
                kill: kill_tx,
                handle,
            },
            updates_rx,
        )
    }

    /// Every process of the task (regular first, then final), in declaration order.
    pub fn processes(&self) -> Vec<ProcessStatus> {
        self.statuses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Requests a kill: graceful HTTP lifecycle, SIGTERM, SIGKILL, then finalizers. Returns at
    /// once; the task ends with [`TaskUpdate::Killed`] unless it had already ended.
    pub fn kill(&self, reason: impl Into<String>) {
        self.kill.send_replace(Some(reason.into()));
    }

    /// Waits for the task to end and returns its terminal update.
    pub async fn wait(self) -> TaskUpdate {
        let Self { kill, handle, .. } = self;
        let end = handle.await;
        drop(kill);
        end.unwrap_or_else(|e| TaskUpdate::Failed {
            message: format!("executor crashed: {e}"),
        })
    }
}
