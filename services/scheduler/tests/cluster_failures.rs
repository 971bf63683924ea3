//! Failures across processes: a flapping service is throttled; an agent killed with -9 loses
//! its task, which runs again on another agent; a scheduler killed with -9 and restarted loses
//! nothing, reconciles with the agent that kept its tasks running, and places nothing on it
//! before it has registered again.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

mod support;

use std::collections::BTreeSet;

use serde_json::{Value, json};
use support::{
    agent, become_subreaper, config, free_port, http, init, kill_pid_file, scheduler, tasks,
    wait_for, wait_for_within,
};

fn create(port: u16, job: &str, cmdline: &str, instances: u32) {
    let request = json!({"job": job, "config": config(job, cmdline, true), "instances": instances});
    let (status, body) = http(port, "POST", "/api/v1/jobs", Some(&request)).unwrap();
    assert_eq!(status, 200, "{body}");
}

fn running(port: u16, job: &str) -> Vec<Value> {
    tasks(port, job)
        .into_iter()
        .filter(|t| t["status"] == "RUNNING")
        .collect()
}

#[test]
fn a_flapping_service_is_rescheduled_then_throttled() {
    become_subreaper();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _scheduler = scheduler(&["--dev"], &dir.path().join("data"), port);
    let job = "tester/test/crashy";
    create(port, job, "echo starting; exit 1", 1);
    wait_for("a throttled replacement", || {
        tasks(port, job)
            .iter()
            .any(|t| t["status"] == "THROTTLED" && !t["ancestor"].is_null())
    });
    let all = tasks(port, job);
    assert!(
        all.iter().any(|t| t["status"] == "FAILED"),
        "the failed ancestor is kept: {all:?}"
    );
}

#[test]
fn a_task_of_a_killed_agent_runs_again_on_another_agent() {
    become_subreaper();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    init(&data);
    let port = free_port();
    // Agents are lost after 2 s of silence; quick deaths are not treated as flapping here.
    let _scheduler = scheduler(
        &[
            "--insecure-no-auth",
            "--agent-timeout-secs",
            "2",
            "--flapping-task-threshold-secs",
            "0",
        ],
        &data,
        port,
    );
    let mut first = agent("agent-a", &dir.path().join("a"), port);
    let job = "tester/test/service";
    create(port, job, "echo $$ > task.pid; exec sleep 600", 1);
    wait_for("the task running on agent-a", || {
        running(port, job)
            .first()
            .is_some_and(|t| t["agent"] == "agent-a")
    });
    let task = running(port, job)[0]["id"].as_str().unwrap().to_string();
    let _second = agent("agent-b", &dir.path().join("b"), port);

    first.kill_now();
    wait_for("the task to be LOST", || {
        tasks(port, job)
            .iter()
            .any(|t| t["id"] == task && t["status"] == "LOST")
    });
    wait_for("the replacement running on agent-b", || {
        running(port, job)
            .first()
            .is_some_and(|t| t["agent"] == "agent-b")
    });
    let replacement = running(port, job)[0].clone();
    assert_eq!(replacement["ancestor"], task);
    // The killed agent's orphaned process, and the replacement's, must not outlive the test.
    kill_pid_file(&dir.path().join("a/sandboxes").join(&task).join("task.pid"));
    kill_pid_file(
        &dir.path()
            .join("b/sandboxes")
            .join(replacement["id"].as_str().unwrap())
            .join("task.pid"),
    );
}

#[test]
fn a_restarted_scheduler_loses_nothing_and_reconciles() {
    become_subreaper();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    init(&data);
    let port = free_port();
    let mut first = scheduler(
        &["--insecure-no-auth", "--agent-timeout-secs", "5"],
        &data,
        port,
    );
    let agent = agent("agent-a", &dir.path().join("a"), port);
    let job = "tester/test/steady";
    create(port, job, "echo $$ > task.pid; exec sleep 600", 2);
    wait_for("both instances running", || running(port, job).len() == 2);
    let before: BTreeSet<String> = running(port, job)
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    let (_, journal) = http(port, "GET", "/api/v1/journal", None).unwrap();
    let seq_before = journal["last_seq"].as_u64().unwrap();

    first.kill_now();
    // The agent is away while the new scheduler starts (stopped, so it cannot register yet).
    let agent_pid = nix::unistd::Pid::from_raw(i32::try_from(agent.0.id()).unwrap());
    nix::sys::signal::kill(agent_pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    let _second = scheduler(
        &["--insecure-no-auth", "--agent-timeout-secs", "5"],
        &data,
        port,
    );
    let (_, journal) = http(port, "GET", "/api/v1/journal", None).unwrap();
    assert!(
        journal["last_seq"].as_u64().unwrap() >= seq_before,
        "nothing acknowledged was lost"
    );
    // A job created now waits for the agent rather than being handed to an agent that has not
    // come back (whose registration would then find it missing and call it LOST).
    let later = "tester/test/later";
    create(port, later, "exec sleep 600", 1);
    std::thread::sleep(std::time::Duration::from_secs(2)); // four scheduling passes
    let waiting = tasks(port, later);
    // Let the agent go on before asserting: a failure must not leave it stopped.
    nix::sys::signal::kill(agent_pid, nix::sys::signal::Signal::SIGCONT).unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0]["status"], "PENDING", "{waiting:?}");
    wait_for_within(30, "the later job to run", || {
        running(port, later).len() == 1
    });
    assert_eq!(
        tasks(port, later).len(),
        1,
        "its one task ran; none was lost and replaced"
    );
    // The agent is asked to register again and reports the tasks it kept running.
    wait_for_within(20, "the agent to register again", || {
        let (_, page) = http(
            port,
            "GET",
            &format!("/api/v1/events?from={}&limit=1000", seq_before + 1),
            None,
        )
        .unwrap();
        page["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"]["AgentRegistered"]["agent"] == "agent-a")
    });
    let after: BTreeSet<String> = running(port, job)
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        after, before,
        "the same tasks still run; none was lost or duplicated"
    );
    assert_eq!(tasks(port, job).len(), 2, "no replacement was created");
    for id in &before {
        kill_pid_file(&dir.path().join("a/sandboxes").join(id).join("task.pid"));
    }
    drop(agent);
}
