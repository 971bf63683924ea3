//! The embedded dev cluster end to end, with real processes: `aurora-scheduler --dev` runs a
//! job through its in-process agent; the task's output lands in its sandbox; a running service
//! is killed on request; a health-checked task is RUNNING only once healthy, and a task that
//! never gets healthy fails.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

mod support;

use serde_json::json;
use support::{become_subreaper, config, free_port, http, http_text, scheduler, tasks, wait_for};

#[test]
fn a_job_runs_a_real_process_and_its_output_is_in_the_sandbox() {
    become_subreaper();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("aurora-data");
    let port = free_port();
    let _scheduler = scheduler(&["--dev"], &data, port);
    let job = "tester/test/hello_world";
    let request =
        json!({"job": job, "config": config(job, "echo hello world", false), "instances": 1});
    let (status, body) = http(port, "POST", "/api/v1/jobs", Some(&request)).unwrap();
    assert_eq!(status, 200, "{body}");

    wait_for("the task to finish", || {
        tasks(port, job)
            .first()
            .is_some_and(|t| t["status"] == "FINISHED")
    });
    let task = &tasks(port, job)[0];
    let states: Vec<&str> = task["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e[1].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        ["PENDING", "ASSIGNED", "STARTING", "RUNNING", "FINISHED"]
    );
    let id = task["id"].as_str().unwrap();
    let stdout = data
        .join("agent/sandboxes")
        .join(id)
        .join(".logs/hello/0/stdout");
    assert_eq!(std::fs::read_to_string(&stdout).unwrap(), "hello world\n");

    // The same output through the agent's observer, found at the endpoint it registered.
    let (_, page) = http(port, "GET", "/api/v1/events?from=1&limit=100", None).unwrap();
    let endpoint = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|e| e["event"]["AgentRegistered"]["endpoint"].as_str())
        .unwrap()
        .to_string();
    let observer_port: u16 = endpoint.rsplit(':').next().unwrap().parse().unwrap();
    let (status, text) = http_text(
        observer_port,
        "GET",
        &format!("/tasks/{id}/logs/hello/stdout"),
        None,
    )
    .unwrap();
    assert_eq!((status, text.as_str()), (200, "hello world\n"));
    let (status, refusal) = http(
        observer_port,
        "GET",
        &format!("/tasks/{id}/browse/../../x"),
        None,
    )
    .unwrap();
    assert!(
        status == 400 || status == 403 || status == 404,
        "{status} {refusal}"
    );
}

#[test]
fn a_running_service_is_killed_on_request() {
    become_subreaper();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("aurora-data");
    let port = free_port();
    let _scheduler = scheduler(&["--dev"], &data, port);
    let job = "tester/test/sleeper";
    let request = json!({"job": job, "config": config(job, "sleep 600", true), "instances": 2});
    assert_eq!(
        http(port, "POST", "/api/v1/jobs", Some(&request))
            .unwrap()
            .0,
        200
    );
    wait_for("both instances running", || {
        let tasks = tasks(port, job);
        tasks.len() == 2 && tasks.iter().all(|t| t["status"] == "RUNNING")
    });
    let (status, body) = http(
        port,
        "POST",
        &format!("/api/v1/jobs/{job}/kill"),
        Some(&json!({"message": "done"})),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    wait_for("both instances killed", || {
        tasks(port, job).iter().all(|t| t["status"] == "KILLED")
    });
    let active: Vec<serde_json::Value> = tasks(port, job)
        .into_iter()
        .filter(|t| t["status"] != "KILLED")
        .collect();
    assert!(active.is_empty(), "no replacement after a kill: {active:?}");
}

/// A shell health check (run in the sandbox) over the test's timings: checks every second, the
/// first `grace_secs` seconds forgiven, one success needed, one counted failure tolerated.
fn with_health_check(
    mut config: serde_json::Value,
    command: &str,
    grace_secs: u32,
) -> serde_json::Value {
    config["health_check"] = json!({
        "checker": {"Shell": {"command": command}},
        "initial_interval_secs": grace_secs,
        "interval_secs": 1,
        "max_consecutive_failures": 1,
        "min_consecutive_successes": 1,
        "timeout_secs": 5,
    });
    config
}

#[test]
fn health_checks_gate_running_and_a_task_that_never_gets_healthy_fails() {
    become_subreaper();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("aurora-data");
    let port = free_port();
    let _scheduler = scheduler(&["--dev"], &data, port);

    // Healthy only once its process created `healthy` in the sandbox, 2 s after starting.
    let slow = "tester/test/slow_start";
    let cmdline = "sleep 2 && touch healthy && exec sleep 600";
    let slow_config = with_health_check(config(slow, cmdline, true), "test -f healthy", 10);
    let request = json!({"job": slow, "config": slow_config, "instances": 1});
    assert_eq!(
        http(port, "POST", "/api/v1/jobs", Some(&request))
            .unwrap()
            .0,
        200
    );
    wait_for("the slow starter to be STARTING", || {
        tasks(port, slow)
            .first()
            .is_some_and(|t| t["status"] == "STARTING")
    });
    wait_for("the slow starter to be healthy", || {
        tasks(port, slow)
            .first()
            .is_some_and(|t| t["status"] == "RUNNING")
    });
    let events = tasks(port, slow)[0]["events"].as_array().unwrap().clone();
    let entered = |state: &str| {
        events
            .iter()
            .find(|e| e[1] == state)
            .and_then(|e| e[0].as_u64())
            .unwrap()
    };
    let starting_ms = entered("RUNNING") - entered("STARTING");
    assert!(
        starting_ms >= 1_500,
        "RUNNING only after the file appeared, {starting_ms} ms after STARTING"
    );

    // Never healthy: no grace, one failure tolerated, so it fails by its second check.
    let sick = "tester/test/never_healthy";
    let mut sick_config = with_health_check(config(sick, "exec sleep 600", false), "false", 0);
    sick_config["max_task_failures"] = json!(1);
    let request = json!({"job": sick, "config": sick_config, "instances": 1});
    assert_eq!(
        http(port, "POST", "/api/v1/jobs", Some(&request))
            .unwrap()
            .0,
        200
    );
    wait_for("the sick task to fail", || {
        tasks(port, sick)
            .first()
            .is_some_and(|t| t["status"] == "FAILED")
    });
    let (_, page) = http(port, "GET", "/api/v1/events?from=1&limit=1000", None).unwrap();
    let message = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["event"]["TaskStateChanged"].as_object())
        .find(|change| change["to"] == "FAILED")
        .and_then(|change| change["message"].as_str())
        .unwrap_or_default()
        .to_string();
    assert!(
        message.to_lowercase().contains("health"),
        "the failure names the health check: {message:?}"
    );
    assert_eq!(
        tasks(port, slow)[0]["status"],
        "RUNNING",
        "the healthy task is unaffected"
    );
}
