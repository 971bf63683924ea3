//! Hollow agents against a real scheduler: one `aurora-hollow-agents` process simulating many
//! agents over the agents' HTTP protocol runs a 200-instance job spread over the fleet, fails a
//! job whose `hollow.script` ends in FAILED (which is rescheduled), fails a task whose script
//! does not parse, kills a job; and after the scheduler is killed with -9 and restarted, the
//! agents register again with their tasks, which stay RUNNING.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

mod support;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use support::{
    config, events_from, free_port, hollow_agents, http, init, metric, scheduler, tasks, wait_for,
    wait_for_within,
};

/// The live agents the scheduler knows.
fn live_agents(port: u16) -> Option<f64> {
    metric(port, "aurora_agents{lost=\"false\"}")
}

/// A service job's config whose tasks follow `script` on hollow agents (the default script
/// when `None`).
fn hollow_config(job: &str, script: Option<&str>) -> Value {
    let mut config = config(job, "never run by a hollow agent", true);
    if let Some(script) = script {
        config["metadata"]["hollow.script"] = json!(script);
    }
    config
}

fn create(port: u16, job: &str, config: Value, instances: u32) {
    let request = json!({"job": job, "config": config, "instances": instances});
    let (status, body) = http(port, "POST", "/api/v1/jobs", Some(&request)).unwrap();
    assert_eq!(status, 200, "{body}");
}

fn with_status(port: u16, job: &str, status: &str) -> Vec<Value> {
    tasks(port, job)
        .into_iter()
        .filter(|t| t["status"] == status)
        .collect()
}

fn ids(tasks: &[Value]) -> BTreeSet<String> {
    tasks
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn fifty_hollow_agents_run_fail_and_kill_hundreds_of_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    init(&data);
    let port = free_port();
    // Quick failures are not flapping here, so a failed task's replacement is not held back.
    let _scheduler = scheduler(
        &["--insecure-no-auth", "--flapping-task-threshold-secs", "0"],
        &data,
        port,
    );
    // 2 cpus per agent hold 5 tasks of 0.1 cpus plus the 0.25 cpus executor overhead: 200
    // instances need at least 40 of the 50 agents.
    let _hollow = hollow_agents(
        port,
        &[
            "--count",
            "50",
            "--prefix",
            "hollow",
            "--racks",
            "5",
            "--cpus",
            "2",
            "--ram-mb",
            "2048",
            "--disk-mb",
            "10000",
        ],
    );

    // Phase 1: the whole fleet registers, each agent with its own host and rack.
    wait_for("50 live agents", || live_agents(port) == Some(50.0));
    let registered: BTreeMap<String, Value> = events_from(port, 1)
        .into_iter()
        .filter_map(|e| {
            let registration = e["event"]["AgentRegistered"].clone();
            let agent = registration["agent"].as_str()?.to_string();
            Some((agent, registration))
        })
        .collect();
    assert_eq!(registered.len(), 50, "{:?}", registered.keys());
    assert_eq!(registered["hollow-7"]["host"], "hollow-7");
    assert_eq!(
        registered["hollow-7"]["attributes"],
        json!([{"name": "host", "values": ["hollow-7"]}, {"name": "rack", "values": ["r2"]}])
    );

    // Phase 2: 200 instances run, spread over the fleet.
    let service = "tester/test/hollow_service";
    create(port, service, hollow_config(service, None), 200);
    wait_for_within(90, "200 RUNNING instances", || {
        with_status(port, service, "RUNNING").len() == 200
    });
    let running = with_status(port, service, "RUNNING");
    let mut per_agent: BTreeMap<String, usize> = BTreeMap::new();
    for task in &running {
        let agent = task["agent"].as_str().unwrap().to_string();
        assert_eq!(
            task["host"],
            agent.as_str(),
            "a hollow agent's host is its id"
        );
        *per_agent.entry(agent).or_default() += 1;
    }
    assert!(per_agent.len() >= 40, "spread over {per_agent:?}");
    assert!(
        per_agent.values().all(|n| *n <= 5),
        "no agent over its capacity: {per_agent:?}"
    );
    let states: Vec<&str> = running[0]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e[1].as_str().unwrap())
        .collect();
    assert_eq!(states, ["PENDING", "ASSIGNED", "STARTING", "RUNNING"]);

    // Phase 3: a job whose script ends in FAILED is rescheduled again and again.
    let flapper = "tester/test/hollow_flapper";
    create(
        port,
        flapper,
        hollow_config(
            flapper,
            Some("STARTING@0ms,RUNNING@50ms,FAILED@200ms:exit 1"),
        ),
        2,
    );
    wait_for("a replacement that failed twice before", || {
        tasks(port, flapper)
            .iter()
            .any(|t| t["failure_count"].as_u64().unwrap() >= 2)
    });
    let history = tasks(port, flapper);
    assert!(
        with_status(port, flapper, "FAILED").len() >= 2,
        "failed tasks are kept: {history:?}"
    );
    assert!(ids(&history).len() >= 4, "new task ids: {history:?}");
    assert!(
        history.iter().any(|t| !t["ancestor"].is_null()),
        "{history:?}"
    );

    // Phase 4: a script that does not parse fails its task, and the message says why.
    let broken = "tester/test/hollow_broken_script";
    let mut broken_config = hollow_config(broken, Some("STARTING@0ms,RUNNING@soon"));
    broken_config["is_service"] = json!(false);
    broken_config["max_task_failures"] = json!(1);
    create(port, broken, broken_config, 1);
    wait_for("the broken script's task FAILED", || {
        with_status(port, broken, "FAILED").len() == 1
    });
    let failed = with_status(port, broken, "FAILED")[0]["id"].clone();
    let message = events_from(port, 1)
        .into_iter()
        .find_map(|e| {
            let change = &e["event"]["TaskStateChanged"];
            (change["task"] == failed && change["to"] == "FAILED")
                .then(|| change["message"].as_str().unwrap_or_default().to_string())
        })
        .unwrap();
    assert!(
        message.starts_with("invalid hollow.script: step 2: bad delay \"soon\""),
        "{message}"
    );

    // Phase 5: killing the service kills every one of its tasks, and nothing replaces them.
    let (status, body) = http(
        port,
        "POST",
        &format!("/api/v1/jobs/{service}/kill"),
        Some(&json!({"message": "done"})),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    wait_for("200 KILLED instances", || {
        let all = tasks(port, service);
        all.len() == 200 && all.iter().all(|t| t["status"] == "KILLED")
    });
    assert_eq!(
        ids(&tasks(port, service)),
        ids(&running),
        "the same 200 tasks"
    );
}

#[test]
fn hollow_tasks_survive_a_scheduler_killed_and_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    init(&data);
    let port = free_port();
    let args = ["--insecure-no-auth", "--agent-timeout-secs", "5"];
    let mut first = scheduler(&args, &data, port);
    let _hollow = hollow_agents(port, &["--count", "10", "--cpus", "2"]);
    wait_for("10 live agents", || live_agents(port) == Some(10.0));
    let job = "tester/test/hollow_steady";
    create(port, job, hollow_config(job, None), 30);
    wait_for("30 RUNNING instances", || {
        with_status(port, job, "RUNNING").len() == 30
    });
    let before = ids(&with_status(port, job, "RUNNING"));
    let (_, journal) = http(port, "GET", "/api/v1/journal", None).unwrap();
    let seq_before = journal["last_seq"].as_u64().unwrap();

    first.kill_now();
    let _second = scheduler(&args, &data, port);
    // The restarted scheduler answers heartbeats with 404; every agent registers again with
    // the tasks it has.
    wait_for_within(20, "all 10 agents to register again", || {
        let again: BTreeSet<String> = events_from(port, seq_before + 1)
            .iter()
            .filter_map(|e| e["event"]["AgentRegistered"]["agent"].as_str())
            .map(str::to_string)
            .collect();
        again.len() == 10
    });
    // Reconciliation runs right after each registration is committed: keep checking for a
    // while that it lost nothing.
    let settle = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while std::time::Instant::now() < settle {
        let all = tasks(port, job);
        let lost: Vec<&Value> = all
            .iter()
            .filter(|t| t["status"] == "LOST")
            .map(|t| &t["id"])
            .collect();
        assert!(lost.is_empty(), "no task was lost: {lost:?}");
        assert_eq!(all.len(), 30, "no replacement was created: {:?}", ids(&all));
        assert_eq!(
            ids(&with_status(port, job, "RUNNING")),
            before,
            "the same tasks still run"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
