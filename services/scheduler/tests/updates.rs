//! Rolling updates against a real scheduler over the HTTP API, with hollow agents: an update
//! survives the scheduler being killed with -9 in the middle and finishes exactly once per
//! instance; a config that never becomes healthy is rolled back; pause, resume, pulses and the
//! errors a caller can get. (The `aurora` client's update verbs, with real agents, are tested
//! in `update_cli.rs`.)

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

mod support;

use std::collections::BTreeMap;

use serde_json::{Value, json};
use support::{config, free_port, hollow_agents, http, init, scheduler, tasks, wait_for_within};

fn hollow_config(job: &str, ram_mb: u64, script: Option<&str>) -> Value {
    let mut config = config(job, "never run by a hollow agent", true);
    config["resources"]["ram_mb"] = json!(ram_mb);
    if let Some(script) = script {
        config["metadata"]["hollow.script"] = json!(script);
    }
    config
}

fn settings(group_size: u32, watch_ms: u64) -> Value {
    json!({
        "strategy": {"Batch": {"group_size": group_size, "autopause_after_batch": false}},
        "max_per_instance_failures": 0,
        "max_failed_instances": 0,
        "min_wait_in_instance_running_ms": watch_ms,
        "rollback_on_failure": true,
        "update_only_these_instances": [],
        "block_if_no_pulses_after_ms": null,
        "sla_aware": false,
    })
}

fn create(port: u16, job: &str, config: Value, instances: u32) {
    let request = json!({"job": job, "config": config, "instances": instances});
    let (status, body) = http(port, "POST", "/api/v1/jobs", Some(&request)).unwrap();
    assert_eq!(status, 200, "{body}");
}

fn start(port: u16, job: &str, body: &Value) -> (u16, Value) {
    http(
        port,
        "POST",
        &format!("/api/v1/jobs/{job}/update"),
        Some(body),
    )
    .unwrap()
}

fn details(port: u16, job: &str, id: &str) -> Value {
    let (status, body) = http(port, "GET", &format!("/api/v1/updates/{job}/{id}"), None).unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

fn update_status(port: u16, job: &str, id: &str) -> String {
    details(port, job, id)["summary"]["status"]
        .as_str()
        .unwrap()
        .to_string()
}

fn running_rams(port: u16, job: &str) -> BTreeMap<u64, usize> {
    let (_, body) = http(
        port,
        "GET",
        &format!(
            "/api/v1/tasks?role=tester&env=test&job={}&configs=true",
            job.rsplit('/').next().unwrap()
        ),
        None,
    )
    .unwrap();
    let mut rams = BTreeMap::new();
    for task in body.as_array().unwrap() {
        if task["status"] == "RUNNING" {
            *rams
                .entry(task["task_config"]["resources"]["ram_mb"].as_u64().unwrap())
                .or_default() += 1;
        }
    }
    rams
}

fn running_count(port: u16, job: &str) -> usize {
    tasks(port, job)
        .iter()
        .filter(|t| t["status"] == "RUNNING")
        .count()
}

#[test]
fn an_update_survives_a_scheduler_killed_mid_way_and_a_bad_one_is_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    init(&data);
    let port = free_port();
    let flags = ["--insecure-no-auth", "--flapping-task-threshold-secs", "0"];
    let mut first = scheduler(&flags, &data, port);
    let _hollow = hollow_agents(
        port,
        &[
            "--count", "10", "--prefix", "hollow", "--cpus", "4", "--ram-mb", "8192",
        ],
    );
    let job = "tester/test/rolling";
    create(port, job, hollow_config(job, 16, None), 8);
    wait_for_within(60, "8 RUNNING instances", || running_count(port, job) == 8);

    // Errors a caller can get: an unchanged job, a bad group size, no active update.
    let unchanged = json!({"config": hollow_config(job, 16, None), "instances": 8, "settings": settings(2, 1000)});
    let (status, body) = start(port, job, &unchanged);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], Value::Null);
    assert_eq!(body["message"], "Job is unchanged by proposed update.");
    let zero = json!({"config": hollow_config(job, 32, None), "instances": 8, "settings": settings(0, 1000)});
    let (status, body) = start(port, job, &zero);
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("INVALID_REQUEST")),
        "{body}"
    );
    let (status, body) = http(
        port,
        "POST",
        &format!("/api/v1/jobs/{job}/update/pause"),
        None,
    )
    .unwrap();
    assert_eq!(status, 400, "{body}");

    // A good update in batches of 2, each instance watched for 2 s.
    let request = json!({
        "config": hollow_config(job, 32, None),
        "instances": 8,
        "settings": settings(2, 2000),
        "metadata": {"org.apache.aurora.client.update_id": "first-try"},
    });
    let (status, body) = start(port, job, &request);
    assert_eq!(status, 200, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    // A retry of the same request returns the same update.
    let (_, retried) = start(port, job, &request);
    assert_eq!(retried["id"], id.as_str());
    // While it runs, the job refuses kills with Aurora's error.
    let (status, body) = http(port, "POST", &format!("/api/v1/jobs/{job}/kill"), None).unwrap();
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("JOB_UPDATING_ERROR")),
        "{body}"
    );

    wait_for_within(60, "two instances updated", || {
        let d = details(port, job, &id);
        d["instance_events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "INSTANCE_UPDATED")
            .count()
            >= 2
    });
    assert_eq!(update_status(port, job, &id), "ROLLING_FORWARD");
    first.kill_now();
    let _second = scheduler(&flags, &data, port);
    wait_for_within(120, "the update to finish after the restart", || {
        update_status(port, job, &id) == "ROLLED_FORWARD"
    });
    let finished = details(port, job, &id);
    let mut updated: BTreeMap<u64, usize> = BTreeMap::new();
    for event in finished["instance_events"].as_array().unwrap() {
        if event["action"] == "INSTANCE_UPDATED" {
            *updated
                .entry(event["instance"].as_u64().unwrap())
                .or_default() += 1;
        }
    }
    assert_eq!(
        updated,
        (0..8).map(|i| (i, 1)).collect(),
        "each instance updated exactly once"
    );
    wait_for_within(30, "8 instances of the new config running", || {
        running_rams(port, job) == BTreeMap::from([(32, 8)])
    });

    // A config that never becomes healthy: the first instance fails, the update rolls back.
    let bad = json!({
        "config": hollow_config(job, 64, Some("STARTING@0ms,FAILED@300ms:health check failed")),
        "instances": 8,
        "settings": settings(2, 1000),
    });
    let (status, body) = start(port, job, &bad);
    assert_eq!(status, 200, "{body}");
    let bad_id = body["id"].as_str().unwrap().to_string();
    wait_for_within(120, "the bad update to be rolled back", || {
        update_status(port, job, &bad_id) == "ROLLED_BACK"
    });
    let rolled = details(port, job, &bad_id);
    let statuses: Vec<&str> = rolled["update_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["ROLLING_FORWARD", "ROLLING_BACK", "ROLLED_BACK"]);
    wait_for_within(30, "the old config running everywhere again", || {
        running_rams(port, job) == BTreeMap::from([(32, 8)])
    });

    // Pause with a message, resume, finish; a pulse for a finished update says FINISHED.
    let next = json!({"config": hollow_config(job, 48, None), "instances": 8, "settings": settings(1, 3000)});
    let (_, body) = start(port, job, &next);
    let next_id = body["id"].as_str().unwrap().to_string();
    let (status, body) = http(
        port,
        "POST",
        &format!("/api/v1/jobs/{job}/update/pause"),
        Some(&json!({"message": "waiting for the canary"})),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let paused = details(port, job, &next_id);
    assert_eq!(paused["summary"]["status"], "ROLL_FORWARD_PAUSED");
    let last = paused["update_events"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["message"], "waiting for the canary");
    assert_eq!(last["user"], "tester");
    let (status, _) = http(
        port,
        "POST",
        &format!("/api/v1/jobs/{job}/update/resume"),
        None,
    )
    .unwrap();
    assert_eq!(status, 200);
    wait_for_within(120, "the resumed update to finish", || {
        update_status(port, job, &next_id) == "ROLLED_FORWARD"
    });
    let (status, body) = http(
        port,
        "POST",
        &format!("/api/v1/updates/{job}/{next_id}/pulse"),
        None,
    )
    .unwrap();
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("FINISHED")),
        "{body}"
    );
}
