//! Partition awareness with real processes: a hollow agent that stops heartbeating (its
//! process is stopped with SIGSTOP) and comes back (SIGCONT). A job without a partition policy
//! loses its task at once (Aurora's default), one with `reschedule = False` and one with a long
//! delay keep theirs PARTITIONED and get them back RUNNING when the agent returns, and one with
//! a short delay loses its task once the delay has passed. `reconcile_tasks` (every agent asked
//! to register again) changes none of it.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

mod support;

use std::process::Command;

use serde_json::{Value, json};
use support::{config, free_port, hollow_agents, http, init, scheduler, tasks, wait_for_within};

fn create(port: u16, job: &str, policy: Option<Value>) {
    let mut config = config(job, "never run by a hollow agent", true);
    config["partition_policy"] = policy.unwrap_or(Value::Null);
    let request = json!({"job": job, "config": config, "instances": 1});
    let (status, body) = http(port, "POST", "/api/v1/jobs", Some(&request)).unwrap();
    assert_eq!(status, 200, "{body}");
}

/// The job's tasks as (id, status), in id order.
fn states(port: u16, job: &str) -> Vec<(String, String)> {
    let mut states: Vec<(String, String)> = tasks(port, job)
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_string(),
                t["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    states.sort();
    states
}

fn status_of(port: u16, job: &str, task: &str) -> String {
    states(port, job)
        .into_iter()
        .find(|(id, _)| id == task)
        .map(|(_, status)| status)
        .unwrap_or_default()
}

/// The id of the job's one RUNNING task, once there is one.
fn running_task(port: u16, job: &str) -> String {
    let mut found = String::new();
    wait_for_within(30, &format!("{job} running"), || {
        found = states(port, job)
            .into_iter()
            .find(|(_, status)| status == "RUNNING")
            .map(|(id, _)| id)
            .unwrap_or_default();
        !found.is_empty()
    });
    found
}

/// What `aurora-admin reconcile_tasks` asks of the scheduler.
fn reconcile(port: u16) {
    let (status, body) = http(port, "POST", "/api/v1/admin/reconcile", Some(&json!({}))).unwrap();
    assert_eq!(status, 200, "{body}");
}

fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} {pid}");
}

#[test]
fn partition_policies_keep_or_lose_a_silent_agents_tasks_as_aurora_does() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    init(&data);
    let port = free_port();
    let _scheduler = scheduler(
        &["--insecure-no-auth", "--agent-timeout-secs", "2"],
        &data,
        port,
    );
    let hollow = hollow_agents(port, &["--count", "1", "--prefix", "silent"]);
    let jobs = [
        ("www-data/prod/default", None),
        (
            "www-data/prod/kept",
            Some(json!({"reschedule": false, "delay_secs": 0})),
        ),
        (
            "www-data/prod/patient",
            Some(json!({"reschedule": true, "delay_secs": 3600})),
        ),
        (
            "www-data/prod/brief",
            Some(json!({"reschedule": true, "delay_secs": 2})),
        ),
    ];
    for (job, policy) in &jobs {
        create(port, job, policy.clone());
    }
    let before: Vec<String> = jobs
        .iter()
        .map(|(job, _)| running_task(port, job))
        .collect();

    // The agent falls silent: once it is lost, the default job's task is LOST (and replaced),
    // the others' are PARTITIONED; the short delay then runs out.
    let pid = hollow.0.id();
    signal(pid, "-STOP");
    let resume = scopeguard(pid);
    wait_for_within(30, "the default job's task lost", || {
        status_of(port, jobs[0].0, &before[0]) == "LOST"
    });
    for i in 1..4 {
        wait_for_within(10, "a task partitioned", || {
            let status = status_of(port, jobs[i].0, &before[i]);
            status == "PARTITIONED" || (i == 3 && status == "LOST")
        });
    }
    wait_for_within(30, "the brief delay running out", || {
        status_of(port, jobs[3].0, &before[3]) == "LOST"
    });
    assert_eq!(status_of(port, jobs[1].0, &before[1]), "PARTITIONED");
    assert_eq!(status_of(port, jobs[2].0, &before[2]), "PARTITIONED");
    // `aurora-admin reconcile_tasks` asks every agent to register again; a silent one cannot,
    // and its partitioned tasks keep waiting.
    reconcile(port);
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(status_of(port, jobs[1].0, &before[1]), "PARTITIONED");
    assert_eq!(status_of(port, jobs[2].0, &before[2]), "PARTITIONED");

    // It returns: the waiting tasks are RUNNING again, the same tasks; the lost ones were
    // replaced, and their replacements run.
    drop(resume);
    for i in 1..3 {
        wait_for_within(30, "a partitioned task back", || {
            status_of(port, jobs[i].0, &before[i]) == "RUNNING"
        });
    }
    for i in [0, 3] {
        let replacement = running_task(port, jobs[i].0);
        assert_ne!(replacement, before[i], "{} was replaced", jobs[i].0);
    }
    // Reconciling the returned agent leaves its tasks as they are.
    reconcile(port);
    std::thread::sleep(std::time::Duration::from_secs(1));
    for i in 1..3 {
        assert_eq!(status_of(port, jobs[i].0, &before[i]), "RUNNING");
    }
    // The reconciled tasks say so in their history.
    let (_, history) = http(port, "GET", &format!("/api/v1/tasks/{}", before[1]), None).unwrap();
    let events = history["events"].as_array().cloned().unwrap_or_default();
    // Each event is [time, status].
    let statuses: Vec<&str> = events.iter().filter_map(|e| e[1].as_str()).collect();
    assert!(statuses.ends_with(&["PARTITIONED", "RUNNING"]), "{history}");
}

/// Continues the stopped process when dropped, so that a failing test does not leave it
/// stopped (its guard then kills it).
fn scopeguard(pid: u32) -> impl Drop {
    struct Resume(u32);
    impl Drop for Resume {
        fn drop(&mut self) {
            let _ = Command::new("kill")
                .args(["-CONT", &self.0.to_string()])
                .status();
        }
    }
    Resume(pid)
}
