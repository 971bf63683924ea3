//! SIGTERM stops an agent and its tasks as Ctrl-C does. An agent killed with SIGKILL leaves its tasks' processes running (reparented, still
//! holding their ports); started again with the same work directory, it stops them before it
//! registers. The agent is the real binary, against a stand-in scheduler on loopback
//! (`support/scheduler.rs`); the test signals only the pids it started or that its task
//! recorded, never a group.
#![allow(clippy::unwrap_used)]

#[path = "support/scheduler.rs"]
mod scheduler;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use scheduler::{StandIn, launch_spec, wait_until};

/// Longest any step of this test may take.
const WAIT: Duration = Duration::from_secs(30);

const RECORD: &str = ".aurora-executor-tag";

/// A running `aurora-agent`; SIGKILLed and reaped when dropped, unless stopped before.
struct AgentProcess {
    child: Child,
}

impl AgentProcess {
    fn start(scheduler: &str, work_dir: &Path, log: &Path) -> Self {
        let log = std::fs::File::create(log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_aurora-agent"))
            .args(["--scheduler", scheduler, "--work-dir"])
            .arg(work_dir)
            .args([
                "--agent-id",
                "a1",
                "--host",
                "h1",
                "--observer-host",
                "127.0.0.1",
                "--observer-port",
                "0",
                "--heartbeat-ms",
                "100",
                "--cpus",
                "1",
                "--ram-mb",
                "64",
                "--disk-mb",
                "64",
            ])
            .env("RUST_LOG", "info")
            // Nothing of the test's own environment decides what the agent presents.
            .env("AURORA_TOKEN", "test-token")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Self { child }
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id()).unwrap())
    }

    /// SIGKILL, as an operator's `kill -9`, and reaped.
    fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGINT (Ctrl-C), then waits (bounded) for it to exit.
    async fn stop(self) {
        self.stop_with(Signal::SIGINT).await;
    }

    /// `signal`, then waits (bounded) for the agent to exit; how it exited.
    async fn stop_with(mut self, signal: Signal) -> std::process::ExitStatus {
        kill(self.pid(), signal).unwrap();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the agent did not stop"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The task's processes, by the pids it wrote; SIGKILLed on drop if the test failed before
/// the agent stopped them (each only if it still is the process that wrote its pid: same
/// start time).
struct TaskProcesses(Vec<(i32, String)>);

impl TaskProcesses {
    fn read(sandbox: &Path, files: &[&str]) -> Self {
        Self(
            files
                .iter()
                .map(|file| {
                    let pid: i32 = read(&sandbox.join(file)).parse().unwrap();
                    (pid, start_time(pid).unwrap())
                })
                .collect(),
        )
    }

    fn alive(&self) -> Vec<i32> {
        self.0
            .iter()
            .filter(|(pid, start)| running_as(*pid, start))
            .map(|(pid, _)| *pid)
            .collect()
    }
}

impl Drop for TaskProcesses {
    fn drop(&mut self) {
        for pid in self.alive() {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// Field 22 of `/proc/<pid>/stat`, the start time; `None` once gone.
fn start_time(pid: i32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19).map(str::to_string)
}

/// Whether `pid` still is the process that started at `start`, and not a zombie.
fn running_as(pid: i32, start: &str) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return false;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields.first() != Some(&"Z") && fields.get(19) == Some(&start)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The agent's log without its colours (`ESC [ ... m`).
fn plain(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|&c| c == 'm');
        } else {
            out.push(c);
        }
    }
    out
}

async fn wait_for_file(path: PathBuf) {
    wait_until(WAIT, &format!("{}", path.display()), || {
        !read(&path).is_empty()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_agent_stops_what_its_killed_predecessor_left_running() {
    let stand_in = StandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let work_dir = dir.path().join("work");
    let task = "www-data-prod-hello-0-restart";
    let sandbox = work_dir.join("sandboxes").join(task);
    // A server and a daemon it double-forked (an orphan of the task from the start).
    stand_in.launch(launch_spec(
        task,
        "(sleep 600 & echo $! > daemon.pid); echo $$ > server.pid; exec sleep 600",
    ));

    tracing::info!("the first agent runs the task");
    let first = AgentProcess::start(&stand_in.url, &work_dir, &dir.path().join("first.log"));
    wait_for_file(sandbox.join("server.pid")).await;
    wait_for_file(sandbox.join("daemon.pid")).await;
    let processes = TaskProcesses::read(&sandbox, &["server.pid", "daemon.pid"]);
    assert!(
        sandbox.join(RECORD).exists(),
        "the executor's tag is recorded"
    );

    tracing::info!("kill -9: the task's processes live on");
    first.kill_9();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(processes.alive().len(), 2, "{:?}", processes.0);

    tracing::info!("the second agent stops them before it registers");
    let log = dir.path().join("second.log");
    let second = AgentProcess::start(&stand_in.url, &work_dir, &log);
    wait_until(WAIT, "the second registration", || {
        stand_in.registrations().len() >= 2
    })
    .await;
    assert_eq!(
        processes.alive(),
        Vec::<i32>::new(),
        "left running after the restart; the agent logged:\n{}",
        read(&log)
    );
    assert!(
        stand_in.registrations()[1].running.is_empty(),
        "it runs nothing"
    );
    assert!(!sandbox.join(RECORD).exists(), "swept once only");
    let logged = plain(&read(&log));
    assert!(
        logged.contains("stopped what a task of an earlier agent left running")
            && logged.contains(task)
            && logged.contains("processes=2"),
        "{logged}"
    );
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_agent_and_its_tasks_as_ctrl_c_does() {
    let stand_in = StandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let work_dir = dir.path().join("work");
    let task = "www-data-prod-hello-0-sigterm";
    let sandbox = work_dir.join("sandboxes").join(task);
    stand_in.launch(launch_spec(task, "echo $$ > server.pid; exec sleep 600"));
    let log = dir.path().join("agent.log");
    let agent = AgentProcess::start(&stand_in.url, &work_dir, &log);
    wait_for_file(sandbox.join("server.pid")).await;
    let processes = TaskProcesses::read(&sandbox, &["server.pid"]);

    // What `systemctl stop` and `docker stop` send: the agent kills its tasks and exits 0
    // (before, SIGTERM ended it at once and left the task running, orphaned).
    let status = agent.stop_with(Signal::SIGTERM).await;
    assert_eq!(
        status.code(),
        Some(0),
        "{status:?}; the agent logged:\n{}",
        read(&log)
    );
    assert_eq!(
        processes.alive(),
        Vec::<i32>::new(),
        "left running; the agent logged:\n{}",
        read(&log)
    );
    assert!(
        plain(&read(&log)).contains("killed at shutdown"),
        "{}",
        read(&log)
    );
}
