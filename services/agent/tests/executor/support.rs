//! Builders and a harness for executor tests: every wait is bounded, and `finish` kills
//! whatever the task still runs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use aurora_agent::executor::{Executor, ExecutorSettings, TaskContext, TaskSpec, TaskUpdate};
use aurora_events::config::{Logger, Process, ThermosTask};
use tokio::sync::mpsc;

/// Upper bound for any task in these tests to end.
pub const TASK_TIMEOUT: Duration = Duration::from_secs(30);

pub fn process(name: &str, cmdline: &str) -> Process {
    Process {
        name: name.to_string(),
        cmdline: cmdline.to_string(),
        max_failures: 1,
        daemon: false,
        ephemeral: false,
        min_duration_secs: 0,
        is_final: false,
        logger: Logger::default(),
    }
}

pub fn task(processes: Vec<Process>) -> ThermosTask {
    ThermosTask {
        name: "test".to_string(),
        processes,
        ordering: Vec::new(),
        max_failures: 1,
        max_concurrency: 0,
        finalization_wait_secs: 10,
    }
}

pub fn spec(task: ThermosTask) -> TaskSpec {
    TaskSpec {
        task,
        lifecycle: None,
        health_check: None,
        context: TaskContext::default(),
        container: None,
    }
}

#[derive(Debug)]
pub struct Harness {
    /// Holds the sandbox until the test ends.
    _dir: tempfile::TempDir,
    pub sandbox: PathBuf,
    pub executor: Option<Executor>,
    updates: mpsc::UnboundedReceiver<TaskUpdate>,
    pub seen: Vec<TaskUpdate>,
}

impl Harness {
    pub fn launch(spec: TaskSpec) -> Self {
        Self::launch_with(spec, |_| {})
    }

    /// `prepare` gets the sandbox before the executor starts (to drop files in it).
    pub fn launch_with(spec: TaskSpec, prepare: impl FnOnce(&Path)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let sandbox = dir.path().join("sandbox");
        std::fs::create_dir_all(&sandbox).expect("sandbox");
        prepare(&sandbox);
        let mut settings = ExecutorSettings::new(&sandbox);
        settings.kill_grace = Duration::from_millis(500);
        Self::launch_settings(dir, spec, settings)
    }

    pub fn launch_settings(
        dir: tempfile::TempDir,
        spec: TaskSpec,
        settings: ExecutorSettings,
    ) -> Self {
        let sandbox = settings.sandbox.clone();
        let (executor, updates) = Executor::launch(spec, settings);
        Self {
            _dir: dir,
            sandbox,
            executor: Some(executor),
            updates,
            seen: Vec::new(),
        }
    }

    pub fn executor(&self) -> &Executor {
        self.executor.as_ref().expect("executor still held")
    }

    /// Collects updates until the terminal one, which it returns.
    pub async fn end(&mut self) -> TaskUpdate {
        let collect = async {
            while let Some(update) = self.updates.recv().await {
                self.seen.push(update.clone());
                if update.is_terminal() {
                    return update;
                }
            }
            panic!(
                "update channel closed before a terminal update: {:?}",
                self.seen
            );
        };
        tokio::time::timeout(TASK_TIMEOUT, collect)
            .await
            .expect("the task did not end in time")
    }

    /// The next update (recorded in `seen`), waiting at most `within`.
    pub async fn next_update(&mut self, within: Duration) -> TaskUpdate {
        let update = tokio::time::timeout(within, self.updates.recv())
            .await
            .unwrap_or_else(|_| panic!("no update within {within:?} after {:?}", self.seen))
            .unwrap_or_else(|| panic!("update channel closed after {:?}", self.seen));
        self.seen.push(update.clone());
        update
    }

    /// Kills the task (a no-op if it ended) and waits for the executor to stop.
    pub async fn finish(mut self) -> TaskUpdate {
        let executor = self.executor.take().expect("executor still held");
        executor.kill("test over");
        tokio::time::timeout(TASK_TIMEOUT, executor.wait())
            .await
            .expect("the executor did not stop in time")
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.sandbox.join(relative)
    }

    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path(relative))
            .unwrap_or_else(|e| panic!("cannot read {relative}: {e}"))
    }

    /// Waits (bounded) until `relative` exists and is non-empty.
    pub async fn wait_for_file(&self, relative: &str) -> String {
        let path = self.path(relative);
        let poll = async {
            loop {
                if let Ok(text) = std::fs::read_to_string(&path) {
                    if !text.is_empty() {
                        return text;
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::time::timeout(TASK_TIMEOUT, poll)
            .await
            .unwrap_or_else(|_| panic!("{relative} never appeared"))
    }
}

pub fn finished(update: &TaskUpdate) -> bool {
    matches!(update, TaskUpdate::Finished { .. })
}

pub fn message(update: &TaskUpdate) -> &str {
    match update {
        TaskUpdate::Finished { message }
        | TaskUpdate::Failed { message }
        | TaskUpdate::Killed { message } => message,
        TaskUpdate::Starting | TaskUpdate::Running => "",
    }
}

/// A pid is gone when it no longer exists or is a zombie nobody reaps (orphans in containers
/// whose pid 1 does not reap).
pub fn dead(pid: i32) -> bool {
    use nix::errno::Errno;
    use nix::sys::signal::kill;
    use nix::unistd::Pid;
    match kill(Pid::from_raw(pid), None) {
        Err(Errno::ESRCH) => true,
        _ => std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|stat| {
                stat.rsplit_once(')')
                    .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
            })
            .unwrap_or(true),
    }
}

/// Waits (bounded) until `pid` is dead.
pub async fn wait_dead(pid: i32, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if dead(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    dead(pid)
}

/// Zombie children of this process (the subreaper) in one of the process `groups`: orphans of
/// the task that nothing reaped.
pub fn zombies_in(groups: &[i32]) -> Vec<i32> {
    let me = i32::try_from(std::process::id()).expect("pid");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let Some((_, rest)) = stat.rsplit_once(')') else {
                return false;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let field = |i: usize| fields.get(i).and_then(|f| f.parse::<i32>().ok());
            fields.first() == Some(&"Z")
                && field(1) == Some(me)
                && field(2).is_some_and(|pgrp| groups.contains(&pgrp))
        })
        .collect()
}

/// The pids in a file of one pid per line, once it has at least `count` of them (bounded).
pub async fn wait_for_pids(h: &Harness, relative: &str, count: usize) -> Vec<i32> {
    let deadline = tokio::time::Instant::now() + TASK_TIMEOUT;
    loop {
        let pids: Vec<i32> = std::fs::read_to_string(h.path(relative))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        if pids.len() >= count {
            return pids;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{relative} has {pids:?}, fewer than {count}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
