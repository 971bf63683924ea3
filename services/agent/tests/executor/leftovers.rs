//! What a task leaves for an agent that restarts: the executor records its tag in the sandbox
//! before any process starts (and removes it once nothing runs), and the sweep stops the
//! processes and containers recorded under one work directory only. The "leftovers" here are
//! children of the test carrying a recorded tag, as orphans of a killed agent would; each is
//! reaped by its pid.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aurora_agent::executor::{Swept, sweep_leftovers};
use nix::errno::Errno;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use pretty_assertions::assert_eq;

use crate::docker::FakeDocker;
use crate::support::{Harness, dead, finished, process, spec, task, wait_dead};

const RECORD: &str = ".aurora-executor-tag";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tag_is_recorded_before_the_first_process_and_removed_at_the_end() {
    let mut h = Harness::launch(spec(task(vec![process(
        "look",
        &format!("cat {RECORD} > recorded; echo \"$AURORA_EXECUTOR_TAG\" > tag"),
    )])));
    let end = h.end().await;
    assert!(finished(&end), "{end:?}");
    assert_eq!(
        h.read("recorded"),
        h.read("tag"),
        "the record names the tag"
    );
    assert!(!h.read("tag").trim().is_empty());
    assert!(
        !h.path(RECORD).exists(),
        "nothing runs any more: nothing for a sweep"
    );
    h.finish().await;
}

/// A child of the test in a process group of its own, carrying `tag` as a task's processes do.
fn leftover(cmdline: &str, tag: &str, dir: &Path) -> Child {
    Command::new("bash")
        .arg("-c")
        .arg(cmdline)
        .current_dir(dir)
        .env("AURORA_EXECUTOR_TAG", tag)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

/// A sandbox under `work_dir` holding a record of `tag` (and `docker` for a container).
fn sandbox(work_dir: &Path, task: &str, record: &str) -> PathBuf {
    let sandbox = work_dir.join("sandboxes").join(task);
    std::fs::create_dir_all(&sandbox).unwrap();
    std::fs::write(sandbox.join(RECORD), record).unwrap();
    sandbox
}

/// Reaps a child of the test, waiting (bounded) for it to be dead.
fn reap(child: &mut Child) {
    let pid = i32::try_from(child.id()).unwrap();
    for _ in 0..200 {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("leftover {pid} did not exit");
}

/// Reaps `pid` if it became a zombie child of the test (which is a child subreaper once an
/// executor ran in this binary, so orphans of its children come here); a no-op otherwise.
fn reap_orphan(pid: i32) {
    for _ in 0..200 {
        match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => std::thread::sleep(Duration::from_millis(25)),
            Ok(_) | Err(Errno::ECHILD) => return,
            Err(e) => panic!("waitpid {pid}: {e}"),
        }
    }
    panic!("orphan {pid} did not exit");
}

/// Waits (bounded) for `file` in `dir` to hold something, and returns it trimmed.
async fn wait_for(dir: &Path, file: &str) -> String {
    let path = dir.join(file);
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(text) = std::fs::read_to_string(&path) {
                if !text.trim().is_empty() {
                    return text.trim().to_string();
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{} never appeared", path.display()))
}

/// Stops (SIGKILL, its own pid) and reaps a child the test still runs, even when an assertion
/// failed before.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_stops_what_its_work_dirs_tasks_left_and_nothing_else() {
    let mine = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let served = sandbox(mine.path(), "t-serving", "100.0.1\n");
    // Ignores SIGTERM (as `sleep` does, which inherits the ignored signal): SIGKILL after the
    // grace.
    let stubborn = sandbox(mine.path(), "t-stubborn", "100.1.2\n");
    let finished_task = sandbox(mine.path(), "t-gone", "100.2.3\n");
    let others = sandbox(other.path(), "t-other", "200.0.1\n");

    // A double fork: the orphan outlives the subshell that started it, as a daemon does.
    let mut serving = Reaped(leftover(
        "(sleep 600 & echo $! > orphan.pid); echo up > ready; exec sleep 600",
        "100.0.1",
        &served,
    ));
    let mut stubborn_child = Reaped(leftover(
        "trap '' TERM; sleep 600 & echo up > ready; wait",
        "100.1.2",
        &stubborn,
    ));
    let mut untouched = Reaped(leftover("exec sleep 600", "200.0.1", &others));
    let orphan: i32 = wait_for(&served, "orphan.pid").await.parse().unwrap();
    wait_for(&served, "ready").await;
    wait_for(&stubborn, "ready").await;
    assert!(!dead(orphan));

    let grace = Duration::from_millis(500);
    let swept = tokio::time::timeout(
        Duration::from_secs(20),
        sweep_leftovers(&mine.path().join("sandboxes"), grace, Path::new("docker")),
    )
    .await
    .unwrap();
    let swept_task = |task: &str, killed: usize| Swept {
        task: task.to_string(),
        killed,
        survivors: 0,
        containers: 0,
    };
    assert_eq!(
        swept,
        [
            swept_task("t-gone", 0),
            swept_task("t-serving", 2),
            swept_task("t-stubborn", 2),
        ]
    );
    reap(&mut serving.0);
    reap(&mut stubborn_child.0);
    assert!(
        wait_dead(orphan, Duration::from_secs(5)).await,
        "the task's orphan {orphan} is gone too"
    );
    reap_orphan(orphan);
    for sandbox in [&served, &stubborn, &finished_task] {
        assert!(!sandbox.join(RECORD).exists(), "{}", sandbox.display());
    }

    let untouched_pid = i32::try_from(untouched.0.id()).unwrap();
    assert!(
        !dead(untouched_pid),
        "another work dir's task is not this agent's"
    );
    assert!(others.join(RECORD).exists());
    assert!(
        untouched.0.try_wait().unwrap().is_none(),
        "still running after the sweep"
    );

    // Nothing is recorded any more: a second start sweeps nothing.
    let again = sweep_leftovers(&mine.path().join("sandboxes"), grace, Path::new("docker")).await;
    assert_eq!(again, []);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_stops_the_containers_of_a_recorded_docker_task() {
    let docker = FakeDocker::new();
    let work = tempfile::tempdir().unwrap();
    sandbox(work.path(), "t-docker", "300.0.1\ndocker\n");
    // Two "containers" as the fake knows them: this task's, and another task's whose name
    // contains this one's prefix only further in. Neither carries a tag: only docker stops
    // them.
    let mut ours = Reaped(leftover("exec sleep 600", "", work.path()));
    let theirs = Reaped(leftover("exec sleep 600", "", work.path()));
    let ours_name = "aurora-300.0.1-0-app-0";
    let theirs_name = "x-aurora-300.0.1-0-app-0";
    std::fs::write(
        docker.state.join(format!("{ours_name}.pid")),
        ours.0.id().to_string(),
    )
    .unwrap();
    std::fs::write(
        docker.state.join(format!("{theirs_name}.pid")),
        theirs.0.id().to_string(),
    )
    .unwrap();

    let swept = tokio::time::timeout(
        Duration::from_secs(20),
        sweep_leftovers(
            &work.path().join("sandboxes"),
            Duration::from_millis(500),
            &docker.program,
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        swept,
        [Swept {
            task: "t-docker".into(),
            killed: 0,
            survivors: 0,
            containers: 1,
        }]
    );
    reap(&mut ours.0);
    assert_eq!(
        docker.calls(),
        [
            r"ps --all --filter name=aurora-300.0.1- --format \{\{.Names\}\}".to_string(),
            format!("stop -t 1 {ours_name}"),
            format!("rm -f {ours_name}"),
        ]
    );
    let theirs_pid = i32::try_from(theirs.0.id()).unwrap();
    assert!(!dead(theirs_pid), "another task's container is left alone");
    drop(theirs);
    assert!(!work.path().join("sandboxes/t-docker").join(RECORD).exists());
}
