//! A job with a Docker container end to end: `aurora-scheduler --dev --allowed-container-types
//! MESOS,DOCKER`, whose embedded agent finds a fake `docker` first on the PATH it inherits
//! (the agent crate's `tests/executor/fake-docker.sh`; there is no Docker daemon here). The
//! task runs through `docker run`, its output lands in the sandbox's usual logs, and stopping
//! the scheduler stops the container (`docker kill --signal TERM`) before the process exits.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::json;
use support::{Guard, config, free_port, http, kill_pid_file, scheduler_binary, tasks, wait_for};

/// Writes the fake `docker` into `dir`; returns its state directory (where `calls` is).
fn fake_docker(dir: &Path) -> PathBuf {
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    let program = dir.join("docker");
    let script = format!(
        "#!/bin/bash\nFAKE_DOCKER_STATE='{}'\n{}",
        state.display(),
        include_str!("../../agent/tests/executor/fake-docker.sh")
    );
    std::fs::write(&program, script).unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    state
}

fn calls(state: &Path) -> Vec<String> {
    std::fs::read_to_string(state.join("calls"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

/// Whether `pid` is gone (or a zombie nobody reaped yet).
fn dead(pid: i32) -> bool {
    kill(Pid::from_raw(pid), None).is_err()
        || std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|stat| {
                stat.rsplit_once(')')
                    .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
            })
            .unwrap_or(true)
}

#[test]
fn a_docker_job_runs_through_the_docker_cli_and_is_stopped_with_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let state = fake_docker(&bin);
    let path = std::env::join_paths(std::iter::once(bin.clone()).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();

    tracing::info!("given a dev cluster that allows Docker, with a docker CLI on its PATH");
    let port = free_port();
    let mut scheduler = Guard(
        Command::new(scheduler_binary())
            .args(["--dev", "--allowed-container-types", "MESOS,DOCKER"])
            .args(["--http-port", &port.to_string(), "--data-dir"])
            .arg(&data)
            .env("USER", "tester")
            .env("PATH", &path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("/health", || {
        matches!(http(port, "GET", "/health", None), Some((200, _)))
    });

    tracing::info!("when a job with a Docker container is created");
    let job = "tester/test/docker_hello";
    let mut task_config = config(
        job,
        "echo $$ > container.pid; echo \"hello from $MESOS_SANDBOX\"; sleep 60",
        true,
    );
    task_config["container"] = json!({"Docker": {"image": "busybox:test", "parameters": []}});
    let request = json!({"job": job, "config": task_config, "instances": 1});
    let (status, body) = http(port, "POST", "/api/v1/jobs", Some(&request)).unwrap();
    assert_eq!(status, 200, "{body}");

    tracing::info!("then its task runs through docker run and logs in its sandbox");
    let mut sandbox = PathBuf::new();
    wait_for("the task RUNNING with its container up", || {
        let Some(task) = tasks(port, job)
            .into_iter()
            .find(|t| t["status"] == "RUNNING")
        else {
            return false;
        };
        sandbox = data
            .join("agent/sandboxes")
            .join(task["id"].as_str().unwrap());
        sandbox.join("container.pid").exists()
    });
    let pid_file = sandbox.join("container.pid");
    let stdout = sandbox.join(".logs/hello/0/stdout");
    wait_for("the container's stdout", || {
        std::fs::read_to_string(&stdout).is_ok_and(|s| !s.is_empty())
    });
    assert_eq!(
        std::fs::read_to_string(&stdout).unwrap(),
        format!("hello from {}\n", sandbox.display())
    );
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let run = calls(&state)
        .into_iter()
        .find(|c| c.starts_with("run "))
        .unwrap();
    assert!(
        run.contains(" --network host ") && run.contains(" --entrypoint bash busybox:test -c "),
        "{run}"
    );
    let name = run.split(' ').nth(3).unwrap().to_string();

    tracing::info!("when the scheduler stops, its agent stops the container before exiting");
    let child = i32::try_from(scheduler.0.id()).unwrap();
    kill(Pid::from_raw(child), Signal::SIGINT).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while scheduler.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the scheduler did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    let alive = !dead(pid);
    // Whatever the outcome, leave nothing behind.
    kill_pid_file(&pid_file);
    assert!(!alive, "the container's process {pid} outlived the agent");
    let calls = calls(&state);
    assert!(
        calls.contains(&format!("kill --signal TERM {name}")),
        "{calls:#?}"
    );
    assert!(calls.contains(&format!("rm -f {name}")), "{calls:#?}");
}
