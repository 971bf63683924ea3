//! Tasks with a Docker container, run through a fake `docker` (`fake-docker.sh`): what the
//! executor asks of the CLI (run, then `kill --signal TERM` and `rm -f` on a kill, `rm -f`
//! after every run), that output lands in the usual logs, and that a missing CLI fails the
//! task at launch.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aurora_agent::executor::{ExecutorSettings, TaskSpec, TaskUpdate};
use aurora_events::config::{Container, DockerParameter};
use pretty_assertions::assert_eq;

use crate::support::{Harness, finished, message, process, spec, task, wait_dead};

/// A fake `docker` in a directory of its own, recording what it is asked.
#[derive(Debug)]
pub(crate) struct FakeDocker {
    _dir: tempfile::TempDir,
    pub(crate) program: PathBuf,
    pub(crate) state: PathBuf,
}

impl FakeDocker {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir_all(&state).unwrap();
        let program = dir.path().join("docker");
        let script = format!(
            "#!/bin/bash\nFAKE_DOCKER_STATE='{}'\n{}",
            state.display(),
            include_str!("fake-docker.sh")
        );
        std::fs::write(&program, script).unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        Self {
            _dir: dir,
            program,
            state,
        }
    }

    /// Every invocation so far, as its shell-quoted arguments.
    pub(crate) fn calls(&self) -> Vec<String> {
        read_lines(&self.state.join("calls"))
    }

    /// SIGTERMs the `docker run` clients got themselves.
    fn client_signals(&self) -> Vec<String> {
        read_lines(&self.state.join("client-signals"))
    }
}

fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

fn docker_spec(cmdline: &str) -> TaskSpec {
    let mut s = spec(task(vec![process("app", cmdline)]));
    s.container = Some(Container::Docker {
        image: "registry.local/app:1".into(),
        parameters: vec![DockerParameter {
            name: "env".into(),
            value: "MODE=test".into(),
        }],
    });
    s
}

fn launch(s: TaskSpec, docker: &Path, grace: Duration, prepare: impl FnOnce(&Path)) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = dir.path().join("sandbox");
    std::fs::create_dir_all(&sandbox).unwrap();
    prepare(&sandbox);
    let mut settings = ExecutorSettings::new(&sandbox);
    settings.kill_grace = grace;
    settings.docker = docker.to_path_buf();
    Harness::launch_settings(dir, s, settings)
}

/// The container name `docker run` was given.
fn run_name(call: &str) -> &str {
    call.split(' ')
        .skip_while(|arg| *arg != "--name")
        .nth(1)
        .unwrap_or_else(|| panic!("no --name in {call}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_docker_task_runs_its_cmdline_in_the_image_and_logs_as_usual() {
    let docker = FakeDocker::new();
    let s = docker_spec("echo \"in $MESOS_SANDBOX $GREETING\"; echo oops >&2");
    let mut h = launch(s, &docker.program, Duration::from_millis(500), |sandbox| {
        std::fs::write(sandbox.join(".thermos_profile"), "export GREETING=hi\n").unwrap();
    });
    let end = h.end().await;
    assert!(finished(&end), "{end:?}");
    let sandbox = h.sandbox.display().to_string();
    assert_eq!(h.read(".logs/app/0/stdout"), format!("in {sandbox} hi\n"));
    assert_eq!(h.read(".logs/app/0/stderr"), "oops\n");

    let calls = docker.calls();
    assert_eq!(calls.len(), 2, "{calls:#?}");
    let name = run_name(&calls[0]).to_string();
    assert!(
        name.starts_with("aurora-") && name.ends_with("-0-app-0"),
        "{name}"
    );
    let expected = format!(
        "run --rm --name {name} --network host --init --sig-proxy=false -v {sandbox}:{sandbox} \
         -w {sandbox} -e AURORA_EXECUTOR_TAG="
    );
    assert!(calls[0].starts_with(&expected), "{}", calls[0]);
    let tail = format!(
        "-e MESOS_SANDBOX={sandbox} -e BASH_ENV={sandbox}/.thermos_profile --env=MODE=test \
         --entrypoint bash registry.local/app:1 -c"
    );
    assert!(calls[0].contains(&tail), "{}", calls[0]);
    // The run's container is removed once its client exited, whatever `--rm` did.
    assert_eq!(calls[1], format!("rm -f {name}"));
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_stops_the_container_with_docker_kill_then_docker_rm() {
    let docker = FakeDocker::new();
    let s = docker_spec("trap '' TERM; echo $$ > app.pid; while true; do sleep 0.1; done");
    let mut h = launch(s, &docker.program, Duration::from_millis(500), |_| {});
    let pid: i32 = h.wait_for_file("app.pid").await.trim().parse().unwrap();

    tracing::info!("kill");
    let killed_at = Instant::now();
    h.executor().kill("operator request");
    let end = h.end().await;
    assert_eq!(
        end,
        TaskUpdate::Killed {
            message: "killed: operator request".into()
        }
    );
    assert!(
        wait_dead(pid, Duration::from_secs(5)).await,
        "container process {pid} alive"
    );
    // It ignored TERM: only the removal after the 500 ms grace ended it.
    assert!(killed_at.elapsed() >= Duration::from_millis(450));
    let calls = docker.calls();
    let name = run_name(&calls[0]).to_string();
    let stops: Vec<&str> = calls[1..].iter().map(String::as_str).collect();
    let (term, rm) = (
        format!("kill --signal TERM {name}"),
        format!("rm -f {name}"),
    );
    assert_eq!(stops.first(), Some(&term.as_str()), "{calls:#?}");
    assert!(
        stops.len() >= 2 && stops[1..].iter().all(|c| *c == rm),
        "{calls:#?}"
    );
    // The client was never sent SIGTERM: its container got it through `docker kill`.
    assert_eq!(docker.client_signals(), Vec::<String>::new());
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_that_exits_on_term_ends_the_run_within_the_grace() {
    let docker = FakeDocker::new();
    let s = docker_spec(
        "trap 'echo TERM >> got_term; exit 0' TERM; echo up > up; \
         while true; do sleep 0.1; done",
    );
    let mut h = launch(s, &docker.program, Duration::from_secs(10), |_| {});
    h.wait_for_file("up").await;
    let killed_at = Instant::now();
    h.executor().kill("stop");
    let end = h.end().await;
    assert!(matches!(end, TaskUpdate::Killed { .. }), "{end:?}");
    assert!(
        killed_at.elapsed() < Duration::from_secs(5),
        "waited for the grace: {:?}",
        killed_at.elapsed()
    );
    assert!(h.read("got_term").starts_with("TERM\n"));
    let calls = docker.calls();
    let name = run_name(&calls[0]).to_string();
    // The fake's "container" is a child of its client, so the task's own SIGTERM sweep may
    // reach it first and the run's `rm -f` come before the `docker kill` (a real container
    // is no descendant of the client): the kill is asked for, in whatever order.
    let kill = format!("kill --signal TERM {name}");
    assert!(calls[1..].contains(&kill), "{calls:#?}");
    assert_eq!(docker.client_signals(), Vec::<String>::new());
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_docker_on_the_path_a_docker_task_fails_at_launch() {
    let s = docker_spec("touch ran");
    let mut h = launch(
        s,
        Path::new("aurora-test-no-such-docker"),
        Duration::from_millis(500),
        |_| {},
    );
    let end = h.end().await;
    assert!(matches!(end, TaskUpdate::Failed { .. }), "{end:?}");
    assert!(
        message(&end).starts_with("this agent has no docker: "),
        "{end:?}"
    );
    assert!(message(&end).contains("registry.local/app:1"), "{end:?}");
    assert_eq!(h.seen.len(), 2, "{:?}", h.seen);
    assert!(!h.path("ran").exists());
    h.finish().await;
}
