//! The runtime around the plans: one tokio task owns every piece of state (plans, live runs,
//! process groups) and reacts to three inputs: a child exited, a `min_duration` or deadline
//! expired, a kill was requested. Each child is awaited by its own small task that reports
//! back on a channel, so the runner never blocks on one process.
//!
//! Stages (Thermos): ACTIVE runs the regular plan; CLEANING sends SIGTERM to every process
//! the task owns (remaining ephemeral/daemon runs, and whatever any run left behind, including
//! daemons that called `setsid`; see `tracking.rs`), waits up to `kill_grace`, then SIGKILLs
//! the survivors; FINALIZING runs the `final` processes within `finalization_wait_secs` (after
//! a kill too); then one terminal update. A final process's failure does not change the task's
//! outcome, which the regular plan decided (as in Thermos).
//!
//! A run that exits leaves its descendants running (a daemon it started keeps serving, and a
//! `daemon` process's next run does not kill the previous run's leftovers), until the task
//! ends: when the regular plan is over, whether it succeeded or failed, CLEANING stops them as
//! it stops the ephemeral runs, before FINALIZING. A task reports its end only once nothing it
//! started runs any more. The task's processes are found by scanning `/proc` every
//! `SCAN_EVERY` while it has any, and on every poll while stopping them.
//!
//! Health checks run in a task of their own (`checker.rs`) from the first fork until the
//! regular plan ends; their results are a fourth input, judged by `health.rs`. Healthy sends
//! `Running`; unhealthy stops the task as a kill would (lifecycle, signals, finalizers) and
//! ends it FAILED. A shell check's shell is handed over as it starts and tracked like a run
//! (its orphans are the task's: reaped while it runs, stopped when it ends); the checks are
//! stopped, and waited for, before the task's processes are.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use aurora_events::config::{Logger, Process};
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until, timeout_at};

use super::checker::{self, Checker};
use super::docker::{self, Docker};
use super::health::{CheckResult, Health, Policy, Tracker};
use super::leftovers;
use super::plan::{Outcome, Plan, ProcessSpec};
use super::process::{self, Spawned};
use super::tracking::{self, ProcessTracker};
use super::tree::Proc;
use super::{ExecutorSettings, ProcessStatus, TaskSpec, TaskUpdate, lifecycle, template};

/// How long SIGKILLed processes may take to be reaped before a run still there is LOST.
const REAP_WAIT: Duration = Duration::from_secs(2);
/// How long log pumps may drain after their child exited; descendants may hold pipes forever.
const DRAIN_WAIT: Duration = Duration::from_millis(500);
/// Timeout of one lifecycle POST.
const POST_TIMEOUT: Duration = Duration::from_secs(2);
/// Poll period while waiting for the task's processes to go.
const POLL: Duration = Duration::from_millis(50);
/// Period of the scans for the task's processes while it runs: catches descendants (and the
/// parents they came from) before their ancestors exit, and reaps adopted orphans that died.
const SCAN_EVERY: Duration = Duration::from_secs(1);
/// How long stopping the health checks may take (their task is aborted; the shell check in
/// progress, if any, is killed as it is dropped).
const CHECKS_STOP_WAIT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Regular,
    Final,
}

#[derive(Debug)]
enum Drive {
    Ended(Outcome),
    Kill(String),
    Deadline,
    /// The health check failed; the message says why.
    Unhealthy(String),
}

/// Health checks in progress: the checking task, its results and the verdict so far.
#[derive(Debug)]
struct Checks {
    handle: JoinHandle<()>,
    results: mpsc::UnboundedReceiver<CheckResult>,
    tracker: Tracker,
}

impl Drop for Checks {
    fn drop(&mut self) {
        // Also kills a shell check in progress (its guard is dropped with the task).
        self.handle.abort();
    }
}

/// A run in progress: its pid is also its process group id.
#[derive(Debug)]
struct Live {
    pid: i32,
    run: u32,
    /// The run's container, in a task with a Docker container (`pid` is its client's).
    container: Option<String>,
}

#[derive(Debug, Default, Clone)]
struct RunInfo {
    pid: Option<u32>,
    started_at: Option<SystemTime>,
    exit_code: Option<i32>,
}

#[derive(Debug)]
struct Exit {
    name: String,
    run: u32,
    code: Option<i32>,
    signal: Option<i32>,
}

#[derive(Debug)]
pub(crate) struct Runner {
    spec: TaskSpec,
    settings: ExecutorSettings,
    updates: mpsc::UnboundedSender<TaskUpdate>,
    kill_rx: watch::Receiver<Option<String>>,
    /// False once the kill sender is gone (then a kill is assumed once).
    kill_open: bool,
    pending_kill: Option<String>,
    statuses: Arc<Mutex<Vec<ProcessStatus>>>,
    origin: Instant,
    regular: Plan,
    finals: Plan,
    /// Rendered cmdlines by process name; filled by `prepare`.
    commands: BTreeMap<String, String>,
    loggers: BTreeMap<String, Logger>,
    live: BTreeMap<String, Live>,
    info: BTreeMap<String, RunInfo>,
    /// Every process this task started, and their descendants.
    procs: ProcessTracker,
    /// Health checks' shells as they start, for `procs` (see `checker::Tracking`).
    check_shells_tx: mpsc::UnboundedSender<Proc>,
    check_shells_rx: mpsc::UnboundedReceiver<Proc>,
    /// When `drive` scans for them next.
    next_scan: Instant,
    exits_tx: mpsc::UnboundedSender<Exit>,
    exits_rx: mpsc::UnboundedReceiver<Exit>,
    /// While set, exits are recorded as KILLED rather than success/failure.
    killing: bool,
    reported_running: bool,
    /// Why the last run of a process failed, for the task's failure message.
    notes: BTreeMap<String, String>,
    /// The prepared health check, if the task has one; filled by `prepare_commands`.
    checker: Option<Checker>,
    /// Running health checks, from the first fork until the regular plan ends.
    checks: Option<Checks>,
    /// The task's Docker container, if it has one; filled by `prepare_commands`.
    docker: Option<Docker>,
}

impl Runner {
    pub(crate) fn new(
        spec: TaskSpec,
        settings: ExecutorSettings,
        updates: mpsc::UnboundedSender<TaskUpdate>,
        kill_rx: watch::Receiver<Option<String>>,
        statuses: Arc<Mutex<Vec<ProcessStatus>>>,
    ) -> Self {
        let task = &spec.task;
        let specs = |is_final: bool| -> Vec<ProcessSpec> {
            task.processes
                .iter()
                .filter(|p| p.is_final == is_final)
                .map(ProcessSpec::from_config)
                .collect()
        };
        let regular = Plan::new(
            specs(false),
            &task.ordering,
            task.max_concurrency,
            task.max_failures,
        );
        // Final processes' failures never fail the task: no failure limit for their plan.
        let finals = Plan::new(specs(true), &task.ordering, task.max_concurrency, 0);
        let loggers = task
            .processes
            .iter()
            .map(|p| (p.name.clone(), p.logger.clone()))
            .collect();
        let (exits_tx, exits_rx) = mpsc::unbounded_channel();
        let (check_shells_tx, check_shells_rx) = mpsc::unbounded_channel();
        Self {
            spec,
            settings,
            updates,
            kill_rx,
            kill_open: true,
            pending_kill: None,
            statuses,
            origin: Instant::now(),
            regular,
            finals,
            commands: BTreeMap::new(),
            loggers,
            live: BTreeMap::new(),
            info: BTreeMap::new(),
            procs: ProcessTracker::new(),
            check_shells_tx,
            check_shells_rx,
            next_scan: Instant::now() + SCAN_EVERY,
            exits_tx,
            exits_rx,
            killing: false,
            reported_running: false,
            notes: BTreeMap::new(),
            checker: None,
            checks: None,
            docker: None,
        }
    }

    pub(crate) async fn run(mut self) -> TaskUpdate {
        let task = self.spec.task.name.clone();
        self.publish();
        let end = self.stages().await;
        // Whatever happened, nothing the task started may outlive it.
        if !self.live.is_empty() || !self.procs.is_empty() {
            self.terminate(false).await;
        }
        if self.live.is_empty() && !self.procs.has_live() {
            // Nothing left for an agent that restarts to stop (kept otherwise, so it tries).
            leftovers::remove_record(&self.settings.sandbox);
        }
        self.publish();
        match &end {
            TaskUpdate::Finished { message } => tracing::info!(%task, %message, "task finished"),
            TaskUpdate::Failed { message } => tracing::warn!(%task, %message, "task failed"),
            TaskUpdate::Killed { message } => tracing::info!(%task, %message, "task killed"),
            TaskUpdate::Starting | TaskUpdate::Running => {}
        }
        let _ = self.updates.send(end.clone());
        end
    }

    async fn stages(&mut self) -> TaskUpdate {
        if let Err(message) = self.prepare_sandbox().await {
            return TaskUpdate::Failed { message };
        }
        self.send(TaskUpdate::Starting);
        if let Err(message) = self.prepare_commands() {
            return TaskUpdate::Failed { message };
        }
        // Before any process starts: one started earlier could outlive an agent that died
        // before recording what would let the next agent find it.
        let record = leftovers::Record {
            tag: self.procs.tag().to_string(),
            docker: self.docker.is_some(),
        };
        if let Err(message) = leftovers::write_record(&self.settings.sandbox, &record).await {
            return TaskUpdate::Failed { message };
        }
        let active = self.drive(Which::Regular, None).await;
        self.stop_checks().await;
        match active {
            Drive::Ended(outcome) => {
                self.terminate(false).await;
                if let Some(reason) = self.finalize().await {
                    return TaskUpdate::Killed {
                        message: format!("killed during finalization: {reason}"),
                    };
                }
                match outcome {
                    Outcome::Success => TaskUpdate::Finished {
                        message: "all required processes succeeded".to_string(),
                    },
                    Outcome::Failed { message } => TaskUpdate::Failed {
                        message: self.explain(message),
                    },
                }
            }
            Drive::Kill(reason) => {
                self.terminate(true).await;
                let _ = self.finalize().await;
                TaskUpdate::Killed {
                    message: format!("killed: {reason}"),
                }
            }
            Drive::Unhealthy(message) => {
                self.terminate(true).await;
                let _ = self.finalize().await;
                TaskUpdate::Failed { message }
            }
            Drive::Deadline => TaskUpdate::Failed {
                message: "internal error: the regular plan has no deadline".to_string(),
            },
        }
    }

    async fn prepare_sandbox(&mut self) -> Result<(), String> {
        // Absolute from here on: `BASH_ENV` is read relative to the process's working directory
        // (the sandbox), and a container mounts the sandbox at its own path.
        if let Ok(absolute) = std::path::absolute(&self.settings.sandbox) {
            self.settings.sandbox = absolute;
        }
        let logs = self.settings.sandbox.join(".logs");
        tokio::fs::create_dir_all(&logs).await.map_err(|e| {
            format!(
                "cannot create sandbox {}: {e}",
                self.settings.sandbox.display()
            )
        })
    }

    /// Validates names and renders every cmdline before anything runs, so a bad task runs
    /// nothing at all.
    fn prepare_commands(&mut self) -> Result<(), String> {
        let task = &self.spec.task;
        let mut seen = BTreeSet::new();
        for p in &task.processes {
            validate_name(p)?;
            if !seen.insert(p.name.as_str()) {
                return Err(format!("process name '{}' appears twice", p.name));
            }
        }
        for name in task.ordering.iter().flatten() {
            if !seen.contains(name.as_str()) {
                return Err(format!("ordering names unknown process '{name}'"));
            }
        }
        for p in &task.processes {
            let cmdline = template::render(&p.cmdline, &self.spec.context)
                .map_err(|e| format!("process '{}': {e}", p.name))?;
            self.commands.insert(p.name.clone(), cmdline);
        }
        if let Some(config) = &self.spec.health_check {
            self.checker = Some(checker::prepare(config, &self.spec.context)?);
        }
        self.docker = docker::prepare(
            self.spec.container.as_ref(),
            &self.settings.docker,
            std::env::var_os("PATH").as_deref(),
            &self.settings.sandbox,
        )?;
        Ok(())
    }

    async fn drive(&mut self, which: Which, deadline: Option<Instant>) -> Drive {
        loop {
            self.poll_kill();
            if let Some(reason) = self.pending_kill.take() {
                return Drive::Kill(reason);
            }
            let decision = self.plan(which).decide(self.origin.elapsed());
            if let Some(outcome) = decision.outcome {
                return Drive::Ended(outcome);
            }
            if !decision.start.is_empty() {
                for name in &decision.start {
                    self.start(which, name).await;
                }
                self.publish();
                // Runs that fail to start can be retried at once; let other tasks in.
                tokio::task::yield_now().await;
                continue;
            }
            let wake = decision.wake_at.map(|t| self.origin + t);
            // While checks run, their shells may be waiting in the inbox for a scan.
            let scan = (!self.procs.is_empty() || self.checks.is_some()).then_some(self.next_scan);
            tokio::select! {
                changed = self.kill_rx.changed(), if self.kill_open => {
                    self.on_kill_signal(changed.is_ok());
                }
                Some(exit) = self.exits_rx.recv() => {
                    self.on_exit(exit);
                    self.publish();
                }
                Some(result) = next_check(&mut self.checks), if which == Which::Regular => {
                    if let Some(reason) = self.on_check(&result) {
                        return Drive::Unhealthy(reason);
                    }
                }
                () = sleep_until_opt(wake) => {}
                () = sleep_until_opt(scan) => {
                    self.scan();
                    self.next_scan = Instant::now() + SCAN_EVERY;
                }
                () = sleep_until_opt(deadline) => return Drive::Deadline,
            }
        }
    }

    /// Runs the final processes; returns the reason if a kill arrived meanwhile.
    async fn finalize(&mut self) -> Option<String> {
        if self.finals.is_empty() {
            return None;
        }
        let wait = Duration::from_secs(u64::from(self.spec.task.finalization_wait_secs));
        match self.drive(Which::Final, Some(Instant::now() + wait)).await {
            // No health checks run for the final plan.
            Drive::Ended(_) | Drive::Unhealthy(_) => None,
            Drive::Deadline => {
                tracing::warn!(
                    ?wait,
                    "final processes did not finish within finalization_wait"
                );
                self.terminate(false).await;
                None
            }
            Drive::Kill(reason) => {
                self.terminate(false).await;
                Some(reason)
            }
        }
    }

    async fn start(&mut self, which: Which, name: &str) {
        let run = self.plan(which).runs(name).unwrap_or(0);
        let now = self.origin.elapsed();
        self.plan_mut(which).forked(name, now);
        let (Some(cmdline), Some(logger)) = (self.commands.get(name), self.loggers.get(name))
        else {
            self.notes
                .insert(name.to_string(), "no command prepared".to_string());
            self.plan_mut(which).exited(name, false);
            return;
        };
        let log_dir: PathBuf = self
            .settings
            .sandbox
            .join(".logs")
            .join(name)
            .join(run.to_string());
        let tag = self.procs.tag();
        let container = self.docker.as_ref().map(|_| {
            let index = self
                .spec
                .task
                .processes
                .iter()
                .position(|p| p.name == name)
                .unwrap_or(usize::MAX);
            docker::container_name(tag, index, name, run)
        });
        let docker = self.docker.as_ref().zip(container.as_deref());
        match process::spawn(
            &self.settings.sandbox,
            cmdline,
            logger,
            &log_dir,
            tag,
            docker,
        )
        .await
        {
            Ok(spawned) => {
                let pid = spawned.pid;
                tracing::info!(process = name, run, pid, ?container, "forked");
                self.plan_mut(which).running(name);
                match (tracking::started(pid), &container) {
                    (Some(root), None) => self.procs.add_root(root),
                    (Some(client), Some(_)) => self.procs.add_docker_client(client),
                    (None, _) => {}
                }
                let cleanup = self
                    .docker
                    .as_ref()
                    .map(|d| d.program.clone())
                    .zip(container.clone());
                self.live.insert(
                    name.to_string(),
                    Live {
                        pid,
                        run,
                        container,
                    },
                );
                self.info.insert(
                    name.to_string(),
                    RunInfo {
                        pid: u32::try_from(pid).ok(),
                        started_at: Some(SystemTime::now()),
                        exit_code: None,
                    },
                );
                tokio::spawn(wait_child(
                    spawned,
                    self.exits_tx.clone(),
                    name.to_string(),
                    run,
                    cleanup,
                ));
                if which == Which::Regular && !self.reported_running {
                    self.reported_running = true;
                    self.first_fork();
                }
            }
            Err(message) => {
                tracing::warn!(process = name, run, %message, "cannot start process");
                self.notes.insert(name.to_string(), message);
                self.plan_mut(which).exited(name, false);
            }
        }
    }

    /// The first regular process is running: report `Running`, or start the health checks
    /// that will.
    fn first_fork(&mut self) {
        let (Some(checker), Some(config)) = (self.checker.clone(), &self.spec.health_check) else {
            self.send(TaskUpdate::Running);
            return;
        };
        let policy = Policy::from_config(config);
        tracing::info!(
            ?checker,
            budget = policy.attempts_to_running(),
            "starting health checks"
        );
        let (tx, results) = mpsc::unbounded_channel();
        let handle = tokio::spawn(checker::run(
            checker,
            self.settings.sandbox.clone(),
            super::health::interval(config),
            super::health::check_timeout(config),
            tx,
            checker::Tracking {
                tag: self.procs.tag().to_string(),
                started: self.check_shells_tx.clone(),
            },
        ));
        self.checks = Some(Checks {
            handle,
            results,
            tracker: Tracker::new(policy),
        });
    }

    /// Stops the health checks and waits (bounded) until their task is gone, so that a shell
    /// check in progress has been killed and its shell handed over before the task's
    /// processes are stopped and reaped for the last time.
    async fn stop_checks(&mut self) {
        let Some(mut checks) = self.checks.take() else {
            return;
        };
        checks.handle.abort();
        if timeout_at(Instant::now() + CHECKS_STOP_WAIT, &mut checks.handle)
            .await
            .is_err()
        {
            tracing::warn!("health checks did not stop in time");
        }
    }

    /// Judges one health check; returns the failure message once the task is unhealthy.
    fn on_check(&mut self, result: &CheckResult) -> Option<String> {
        let checks = self.checks.as_mut()?;
        let before = checks.tracker.health().clone();
        let after = checks.tracker.record(result).clone();
        match (&before, &after) {
            (Health::Pending, Health::Healthy) => {
                tracing::info!(detail = %result.detail, "task is healthy");
                self.send(TaskUpdate::Running);
                None
            }
            (_, Health::Unhealthy { reason }) => {
                tracing::warn!(%reason, "task is unhealthy");
                Some(reason.clone())
            }
            (_, Health::Pending | Health::Healthy) => {
                if !result.passed {
                    tracing::info!(detail = %result.detail, "health check failed");
                }
                None
            }
        }
    }

    fn on_exit(&mut self, exit: Exit) {
        match self.live.get(&exit.name) {
            Some(live) if live.run == exit.run => {}
            _ => return,
        }
        self.live.remove(&exit.name);
        let info = self.info.entry(exit.name.clone()).or_default();
        info.pid = None;
        info.exit_code = exit.code;
        let success = exit.code == Some(0);
        tracing::info!(process = %exit.name, run = exit.run, code = ?exit.code, signal = ?exit.signal, "exited");
        if !success {
            let note = match (exit.code, exit.signal) {
                (Some(code), _) => format!("exit code {code}"),
                (None, Some(signal)) => format!("killed by signal {signal}"),
                (None, None) => "exit status unknown".to_string(),
            };
            self.notes.insert(exit.name.clone(), note);
        }
        let which = if self.regular.contains(&exit.name) {
            Which::Regular
        } else {
            Which::Final
        };
        if self.killing {
            self.plan_mut(which).killed(&exit.name);
        } else {
            self.plan_mut(which).exited(&exit.name, success);
        }
    }

    /// Stops everything the task started: the HTTP lifecycle first when `graceful`, then
    /// SIGTERM to every process the task owns (and `docker kill --signal TERM` to its live
    /// containers), up to `kill_grace` for them to go, then `docker rm -f` of the containers
    /// left and SIGKILL to the surviving processes. Both sweeps also reach processes forked
    /// meanwhile.
    async fn terminate(&mut self, graceful: bool) {
        self.killing = true;
        if graceful {
            self.lifecycle_shutdown().await;
        }
        self.signal_all(Signal::SIGTERM);
        self.docker_all(|name| docker::kill_args(name, "TERM"))
            .await;
        self.wait_quiet(self.settings.kill_grace, Some(Signal::SIGTERM))
            .await;
        self.docker_all(docker::remove_args).await;
        self.signal_all(Signal::SIGKILL);
        self.wait_quiet(REAP_WAIT, Some(Signal::SIGKILL)).await;
        if self.procs.has_live() {
            tracing::error!("processes of the task did not exit after SIGKILL");
        }
        for (name, live) in std::mem::take(&mut self.live) {
            tracing::error!(process = %name, pid = live.pid, "process did not exit after SIGKILL");
            let which = if self.regular.contains(&name) {
                Which::Regular
            } else {
                Which::Final
            };
            self.plan_mut(which).lost(&name);
        }
        self.killing = false;
        self.publish();
    }

    async fn lifecycle_shutdown(&mut self) {
        let Some(lc) = self.spec.lifecycle.clone() else {
            return;
        };
        let Some(&port) = self.spec.context.ports.get(&lc.port) else {
            tracing::debug!(port = %lc.port, "no such port: skipping the HTTP lifecycle");
            return;
        };
        for (endpoint, wait) in [
            (
                &lc.graceful_shutdown_endpoint,
                lc.graceful_shutdown_wait_secs,
            ),
            (&lc.shutdown_endpoint, lc.shutdown_wait_secs),
        ] {
            if self.live.is_empty() {
                return;
            }
            match lifecycle::post(port, endpoint, POST_TIMEOUT).await {
                Ok(status) => tracing::info!(port, %endpoint, status, "lifecycle POST"),
                Err(e) => tracing::warn!(port, %endpoint, error = %e, "lifecycle POST failed"),
            }
            self.wait_quiet(Duration::from_secs(u64::from(wait)), None)
                .await;
        }
    }

    /// Runs one docker command (bounded, concurrently) for the container of every live run
    /// that has one; `args` gives its arguments from the container's name.
    async fn docker_all(&self, args: impl Fn(&str) -> Vec<String>) {
        let Some(docker) = &self.docker else {
            return;
        };
        let commands = self
            .live
            .values()
            .filter_map(|live| live.container.as_deref())
            .map(|name| {
                let args = args(name);
                async move { docker::command(&docker.program, &args).await }
            });
        futures::future::join_all(commands).await;
    }

    /// Sends `signal` to every process the task owns, as a fresh scan finds them. Should
    /// the scan find none while runs are live (no `/proc`), the runs' own pids are signalled,
    /// as before tracking: a run's pid stays its own until tokio reaps it, which is at most
    /// `DRAIN_WAIT` before the runner hears of its exit. Docker clients get SIGKILL only.
    fn signal_all(&mut self, signal: Signal) {
        self.scan();
        self.procs.signal(signal);
        if self.procs.is_empty() {
            let spared = |live: &&Live| live.container.is_some() && signal != Signal::SIGKILL;
            for live in self.live.values().filter(|l| !spared(l)) {
                match kill(Pid::from_raw(live.pid), signal) {
                    Ok(()) | Err(Errno::ESRCH) => {}
                    Err(e) => tracing::warn!(pid = live.pid, error = %e, "cannot signal"),
                }
            }
        }
    }

    /// Waits until no run is live or `limit` passed. With `sweep`, also until none of the
    /// task's processes runs, scanning on every poll: newly found ones get `sweep`, and
    /// adopted zombies are reaped.
    async fn wait_quiet(&mut self, limit: Duration, sweep: Option<Signal>) {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(signal) = sweep {
                self.scan();
                self.procs.signal(signal);
            }
            if self.live.is_empty() && (sweep.is_none() || !self.procs.has_live()) {
                return;
            }
            if Instant::now() >= deadline {
                return;
            }
            let tick = (Instant::now() + POLL).min(deadline);
            tokio::select! {
                Some(exit) = self.exits_rx.recv() => self.on_exit(exit),
                () = sleep_until(tick) => {}
            }
        }
    }

    /// Takes in the health checks' shells started since the last scan, then scans.
    fn scan(&mut self) {
        while let Ok(shell) = self.check_shells_rx.try_recv() {
            self.procs.add_root(shell);
        }
        self.procs.scan();
    }

    fn poll_kill(&mut self) {
        if !self.kill_open {
            return;
        }
        // Only a new value is a new request: the first kill's reason stays in the channel
        // while the finalizers run.
        match self.kill_rx.has_changed() {
            Ok(false) => {}
            Ok(true) => self.on_kill_signal(true),
            Err(_) => self.on_kill_signal(false),
        }
    }

    /// A new kill value arrived (`open`), or the kill sender is gone.
    fn on_kill_signal(&mut self, open: bool) {
        if open {
            if let Some(reason) = self.kill_rx.borrow_and_update().clone() {
                self.pending_kill = Some(reason);
            }
        } else {
            self.kill_open = false;
            self.pending_kill = Some("the executor handle was dropped".to_string());
        }
    }

    /// Adds why each failed process failed to a plan's failure message.
    fn explain(&self, message: String) -> String {
        let details: Vec<String> = self
            .regular
            .failed()
            .into_iter()
            .map(|name| {
                let runs = self.regular.failures(&name).unwrap_or(0);
                let why = self.notes.get(&name).map_or("", String::as_str);
                format!("'{name}' failed {runs} run(s), last: {why}")
            })
            .collect();
        if details.is_empty() {
            message
        } else {
            format!("{message}: {}", details.join("; "))
        }
    }

    fn publish(&self) {
        let status = |plan: &Plan, is_final: bool| -> Vec<ProcessStatus> {
            plan.processes()
                .map(|(name, state, runs)| {
                    let info = self.info.get(name).cloned().unwrap_or_default();
                    ProcessStatus {
                        name: name.to_string(),
                        state,
                        runs,
                        pid: info.pid,
                        started_at: info.started_at,
                        exit_code: info.exit_code,
                        is_final,
                    }
                })
                .collect()
        };
        let mut all = status(&self.regular, false);
        all.extend(status(&self.finals, true));
        *self.statuses.lock().unwrap_or_else(PoisonError::into_inner) = all;
    }

    fn send(&self, update: TaskUpdate) {
        // The receiver may be gone; the executor still runs the task to its end.
        let _ = self.updates.send(update);
    }

    fn plan(&self, which: Which) -> &Plan {
        match which {
            Which::Regular => &self.regular,
            Which::Final => &self.finals,
        }
    }

    fn plan_mut(&mut self, which: Which) -> &mut Plan {
        match which {
            Which::Regular => &mut self.regular,
            Which::Final => &mut self.finals,
        }
    }
}

/// Process names become directory names under `.logs/`.
fn validate_name(p: &Process) -> Result<(), String> {
    let name = p.name.as_str();
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(format!("invalid process name {name:?}"));
    }
    Ok(())
}

/// Awaits one run, drains its logs, and (in a task with a Docker container) removes its
/// container, `cleanup` = (docker CLI, container name), before reporting the exit: a client
/// that was killed leaves its container running, and `--rm` alone would not remove it.
async fn wait_child(
    spawned: Spawned,
    exits: mpsc::UnboundedSender<Exit>,
    name: String,
    run: u32,
    cleanup: Option<(PathBuf, String)>,
) {
    let Spawned {
        mut child, pumps, ..
    } = spawned;
    let (code, signal) = match child.wait().await {
        Ok(status) => (status.code(), status.signal()),
        Err(e) => {
            tracing::warn!(process = %name, error = %e, "cannot wait for process");
            (None, None)
        }
    };
    let drained_by = Instant::now() + DRAIN_WAIT;
    for mut pump in pumps {
        let _ = timeout_at(drained_by, &mut pump).await;
    }
    if let Some((program, container)) = cleanup {
        docker::command(&program, &docker::remove_args(&container)).await;
    }
    let _ = exits.send(Exit {
        name,
        run,
        code,
        signal,
    });
}

/// The next health check result, or never when no checks run.
async fn next_check(checks: &mut Option<Checks>) -> Option<CheckResult> {
    match checks {
        Some(checks) => checks.results.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}
