//! Daemons that leave the task's process group: a process that double-forks a child calling
//! `setsid` (or clearing its environment) must still be stopped with the task, SIGTERM first
//! and SIGKILL after the grace, and reaped by this process, a child subreaper once an executor
//! ran. Every daemon here ends on its own after a minute at most, and `Leftovers` kills the
//! ones a failing test leaves behind.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aurora_agent::executor::{ProcessState, TaskUpdate};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;
use pretty_assertions::assert_eq;

use crate::support::{Harness, finished, process, spec, task, wait_for_pids, zombies_in};

/// Bash for a daemon writing its pid to `pid_file`, running in a session of its own after a
/// double fork (its parent subshell exits at once), for at most 60 s. `on_term` is its
/// SIGTERM trap.
fn setsid_daemon(pid_file: &str, on_term: &str) -> String {
    format!(
        "( setsid bash -c 'trap \"{on_term}\" TERM; echo $$ > {pid_file}; \
         while [ $SECONDS -lt 60 ]; do sleep 0.1; done' >/dev/null 2>&1 & )"
    )
}

/// A SIGTERM trap that leaves a mark in the sandbox and exits.
const MARK_TERM: &str = "echo TERM >> got_term; exit 0";

/// `(ppid, pgrp, session, start time)` of a running process, from `/proc/<pid>/stat`.
fn stat(pid: i32) -> Option<(i32, i32, i32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    Some((
        fields.get(1)?.parse().ok()?,
        fields.get(2)?.parse().ok()?,
        fields.get(3)?.parse().ok()?,
        fields.get(19)?.parse().ok()?,
    ))
}

fn me() -> i32 {
    i32::try_from(std::process::id()).unwrap()
}

/// Processes (not zombies: those have no working directory) working in `dir`.
fn working_in(dir: &Path) -> Vec<i32> {
    let Ok(dir) = std::fs::canonicalize(dir) else {
        return Vec::new();
    };
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(&dir))
        })
        .collect()
}

/// Processes the test saw, to SIGKILL and reap when it ends, however it ends, if the same
/// process (pid and start time) is still there.
#[derive(Debug, Default)]
struct Leftovers(Vec<(i32, Option<u64>)>);

impl Leftovers {
    /// Reads a pid file (waiting for it), remembers the process (its start time, or that it
    /// was already gone) and returns its pid.
    async fn watch(&mut self, h: &Harness, pid_file: &str) -> i32 {
        let pid: i32 = h.wait_for_file(pid_file).await.trim().parse().unwrap();
        self.0.push((pid, stat(pid).map(|s| s.3)));
        pid
    }

    /// Whether the process seen as `pid` is gone and reaped (its pid may name another one).
    fn gone(&self, pid: i32) -> bool {
        match self.0.iter().find(|(p, _)| *p == pid) {
            Some((_, Some(start))) => stat(pid).map(|s| s.3) != Some(*start),
            Some((_, None)) => true,
            None => panic!("{pid} is not watched"),
        }
    }

    /// Waits (bounded) until the process seen as `pid` is gone and reaped.
    async fn wait_gone(&self, pid: i32, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.gone(pid) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.gone(pid)
    }
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        for &(pid, start) in &self.0 {
            if start.is_none() || stat(pid).map(|s| s.3) != start {
                continue;
            }
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            let deadline = Instant::now() + Duration::from_secs(2);
            // Ours to reap only if it was reparented here; ECHILD otherwise.
            while Instant::now() < deadline {
                match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
                    Ok(nix::sys::wait::WaitStatus::StillAlive) => {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    _ => break,
                }
            }
        }
    }
}

fn sandbox(h: &Harness) -> PathBuf {
    std::fs::canonicalize(&h.sandbox).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_reaches_a_double_forked_setsid_daemon_with_sigterm() {
    let main = process(
        "main",
        &format!(
            "{}; echo $$ > main.pid; sleep 60",
            setsid_daemon("daemon.pid", MARK_TERM)
        ),
    );
    let mut h = Harness::launch(spec(task(vec![main])));
    let mut seen = Leftovers::default();
    let daemon = seen.watch(&h, "daemon.pid").await;
    let main = seen.watch(&h, "main.pid").await;
    assert!(!seen.gone(daemon) && !seen.gone(main));
    // The setup is what it claims: the daemon left the task's group and session, and its
    // parent exited, so it was reparented to this process (the subreaper).
    let (_, pgrp, session, _) = stat(daemon).unwrap();
    assert_eq!((pgrp, session), (daemon, daemon));
    let deadline = Instant::now() + Duration::from_secs(5);
    while stat(daemon).is_some_and(|s| s.0 != me()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stat(daemon).map(|s| s.0), Some(me()), "not reparented here");

    h.executor().kill("operator request");
    let end = h.end().await;
    assert_eq!(
        end,
        TaskUpdate::Killed {
            message: "killed: operator request".into()
        }
    );
    // The task reports its end only once nothing it started runs.
    assert_eq!(working_in(&sandbox(&h)), Vec::<i32>::new());
    assert_eq!(h.read("got_term"), "TERM\n");
    assert!(
        seen.wait_gone(daemon, Duration::from_secs(5)).await,
        "{daemon} not reaped"
    );
    assert!(
        seen.wait_gone(main, Duration::from_secs(5)).await,
        "{main} not reaped"
    );
    assert_eq!(h.executor().processes()[0].state, ProcessState::Killed);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_setsid_daemon_ignoring_sigterm_is_sigkilled_after_the_grace() {
    let main = process(
        "main",
        &format!("{}; sleep 60", setsid_daemon("daemon.pid", "")),
    );
    let mut h = Harness::launch(spec(task(vec![main])));
    let mut seen = Leftovers::default();
    let daemon = seen.watch(&h, "daemon.pid").await;
    assert!(!seen.gone(daemon));

    let killed_at = Instant::now();
    h.executor().kill("stop");
    let end = h.end().await;
    assert!(matches!(end, TaskUpdate::Killed { .. }), "{end:?}");
    // Only the SIGKILL after the 500 ms grace could end it.
    assert!(
        killed_at.elapsed() >= Duration::from_millis(450),
        "ended after {:?}",
        killed_at.elapsed()
    );
    assert_eq!(working_in(&sandbox(&h)), Vec::<i32>::new());
    assert!(
        seen.wait_gone(daemon, Duration::from_secs(5)).await,
        "{daemon} survived"
    );
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_setsid_child_that_cleared_its_environment_is_found_through_its_parent() {
    // Not orphaned, but in a session of its own and without the task's tag: the scan at the
    // kill finds it as its parent's child.
    let main = process(
        "main",
        "setsid env -i bash -c 'trap \"echo TERM >> got_term; exit 0\" TERM; \
         echo $$ > child.pid; while [ $SECONDS -lt 60 ]; do sleep 0.1; done' \
         >/dev/null 2>&1 & sleep 60",
    );
    let mut h = Harness::launch(spec(task(vec![main])));
    let mut seen = Leftovers::default();
    let child = seen.watch(&h, "child.pid").await;
    assert!(!seen.gone(child));
    assert_eq!(
        stat(child).map(|s| s.2),
        Some(child),
        "not in its own session"
    );

    h.executor().kill("stop");
    assert!(matches!(h.end().await, TaskUpdate::Killed { .. }));
    assert_eq!(working_in(&sandbox(&h)), Vec::<i32>::new());
    assert_eq!(h.read("got_term"), "TERM\n");
    assert!(
        seen.wait_gone(child, Duration::from_secs(5)).await,
        "{child} survived"
    );
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_kill_the_final_process_runs_once_an_ephemeral_daemon_is_gone() {
    let mut side = process(
        "side",
        &format!("{}; sleep 60", setsid_daemon("daemon.pid", MARK_TERM)),
    );
    side.ephemeral = true;
    // The final process reports whether the daemon still existed (even as a zombie) when it
    // ran, and leaves a daemon of its own, which the task's end must stop as well.
    let mut fin = process(
        "fin",
        &format!(
            "if [ -e /proc/$(cat daemon.pid) ]; then echo alive; else echo gone; fi > fin.out; \
             {}; while [ ! -s fin_daemon.pid ]; do sleep 0.02; done",
            setsid_daemon("fin_daemon.pid", "echo TERM >> fin_got_term; exit 0")
        ),
    );
    fin.is_final = true;
    let mut h = Harness::launch(spec(task(vec![process("main", "sleep 60"), side, fin])));
    let mut seen = Leftovers::default();
    let daemon = seen.watch(&h, "daemon.pid").await;
    assert!(!seen.gone(daemon));

    h.executor().kill("stop");
    // It may be stopped already: the task ends once its final process has.
    let fin_daemon = seen.watch(&h, "fin_daemon.pid").await;
    let end = h.end().await;
    assert!(matches!(end, TaskUpdate::Killed { .. }), "{end:?}");
    assert_eq!(h.read("got_term"), "TERM\n");
    assert_eq!(h.read("fin.out"), "gone\n");
    assert_eq!(h.read("fin_got_term"), "TERM\n");
    assert_eq!(working_in(&sandbox(&h)), Vec::<i32>::new());
    assert!(seen.wait_gone(daemon, Duration::from_secs(5)).await);
    assert!(seen.wait_gone(fin_daemon, Duration::from_secs(5)).await);
    let states: Vec<_> = h.executor().processes().iter().map(|p| p.state).collect();
    assert_eq!(
        states,
        [
            ProcessState::Killed,
            ProcessState::Killed,
            ProcessState::Success
        ]
    );
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_left_by_a_finished_process_runs_until_the_task_ends_then_is_stopped() {
    // `starter` daemonizes and exits at once; `main` keeps the task active until `stop`.
    let starter = process(
        "starter",
        &format!(
            "{}; while [ ! -s daemon.pid ]; do sleep 0.02; done",
            setsid_daemon("daemon.pid", MARK_TERM)
        ),
    );
    let main = process(
        "main",
        "while [ ! -f stop ] && [ $SECONDS -lt 60 ]; do sleep 0.05; done",
    );
    let mut h = Harness::launch(spec(task(vec![starter, main])));
    let mut seen = Leftovers::default();
    let daemon = seen.watch(&h, "daemon.pid").await;
    assert!(!seen.gone(daemon));
    let deadline = Instant::now() + Duration::from_secs(10);
    while h.executor().processes()[0].state != ProcessState::Success {
        assert!(Instant::now() < deadline, "{:?}", h.executor().processes());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Longer than a scan period: the task is active, so its daemon keeps running.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!seen.gone(daemon), "stopped while the task was active");
    assert!(!h.path("got_term").exists());

    std::fs::write(h.path("stop"), "").unwrap();
    let end = h.end().await;
    assert!(finished(&end), "{end:?}");
    assert_eq!(h.read("got_term"), "TERM\n");
    assert_eq!(working_in(&sandbox(&h)), Vec::<i32>::new());
    assert!(
        seen.wait_gone(daemon, Duration::from_secs(5)).await,
        "{daemon} survived"
    );
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_lived_orphans_of_short_runs_are_reaped_while_the_task_runs() {
    // Every run of `d` exits at once and leaves an orphan in its process group that dies
    // 0.1 s later, between two scans: only the run's group, recorded when it was forked, says
    // that the zombie is the task's.
    let mut d = process("d", "echo $$ >> d.pids; sh -c 'sleep 0.1 &'");
    d.daemon = true;
    d.ephemeral = true;
    d.min_duration_secs = 1;
    let main = process(
        "main",
        "while [ ! -f stop ] && [ $SECONDS -lt 60 ]; do sleep 0.05; done",
    );
    let mut h = Harness::launch(spec(task(vec![main, d])));
    let runs = wait_for_pids(&h, "d.pids", 4).await;
    let zombies = zombies_in(&runs);
    assert!(zombies.len() <= 2, "zombies of {runs:?}: {zombies:?}");

    std::fs::write(h.path("stop"), "").unwrap();
    let end = h.end().await;
    assert!(finished(&end), "{end:?}");
    let runs = wait_for_pids(&h, "d.pids", runs.len()).await;
    assert_eq!(zombies_in(&runs), Vec::<i32>::new(), "runs {runs:?}");
    h.finish().await;
}
