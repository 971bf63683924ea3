//! The embedded dev cluster end to end, with real processes: `aurora-scheduler --dev` runs a
//! job through its in-process agent; the task's output lands in its sandbox; a running service
//! is killed on request.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A minimal HTTP/1.1 request: (status, JSON body or Null).
fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> Option<(u16, Value)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let payload = body.map(Value::to_string).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\n\
         x-aurora-user: tester\r\nContent-Length: {}\r\n\r\n{payload}",
        payload.len()
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    Some((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

struct Scheduler(Child);

impl Drop for Scheduler {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(data: &Path, port: u16) -> Scheduler {
    let child = Command::new(env!("CARGO_BIN_EXE_aurora-scheduler"))
        .args(["--dev", "--http-port", &port.to_string(), "--data-dir"])
        .arg(data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let scheduler = Scheduler(child);
    wait_for("/health", || {
        matches!(http(port, "GET", "/health", None), Some((200, _)))
    });
    scheduler
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if ready() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out after 30 s waiting for {what}");
}

fn config(job: &str, cmdline: &str, is_service: bool) -> Value {
    let mut config = aurora_events::samples::task_config();
    config.job = job.parse().unwrap();
    config.is_service = is_service;
    config.tier = aurora_events::Tier::Preemptible;
    config.resources.cpus = 0.1;
    config.resources.ram_mb = 16;
    config.resources.disk_mb = 16;
    config.resources.ports.clear();
    config.constraints.clear();
    config.health_check = None;
    config.lifecycle = None;
    config.executor.processes[0].name = "hello".into();
    config.executor.processes[0].cmdline = cmdline.into();
    config.executor.processes[0].logger.rotate = None;
    serde_json::to_value(config).unwrap()
}

fn task_states(port: u16, job: &str) -> Vec<Value> {
    let (status, body) = http(
        port,
        "GET",
        &format!("/api/v1/jobs/{job}/tasks?all=true"),
        None,
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    body.as_array().cloned().unwrap_or_default()
}

#[test]
fn a_job_runs_a_real_process_and_its_output_is_in_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("aurora-data");
    let port = free_port();
    let _scheduler = start(&data, port);
    let job = "tester/test/hello_world";
    let request =
        json!({"job": job, "config": config(job, "echo hello world", false), "instances": 1});
    let (status, body) = http(port, "POST", "/api/v1/jobs", Some(&request)).unwrap();
    assert_eq!(status, 200, "{body}");

    wait_for("the task to finish", || {
        task_states(port, job)
            .first()
            .is_some_and(|t| t["status"] == "FINISHED")
    });
    let task = &task_states(port, job)[0];
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
}

#[test]
fn a_running_service_is_killed_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("aurora-data");
    let port = free_port();
    let _scheduler = start(&data, port);
    let job = "tester/test/sleeper";
    let request = json!({"job": job, "config": config(job, "sleep 600", true), "instances": 2});
    assert_eq!(
        http(port, "POST", "/api/v1/jobs", Some(&request))
            .unwrap()
            .0,
        200
    );
    wait_for("both instances running", || {
        let tasks = task_states(port, job);
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
        task_states(port, job)
            .iter()
            .all(|t| t["status"] == "KILLED")
    });
    let active: Vec<Value> = task_states(port, job)
        .into_iter()
        .filter(|t| t["status"] != "KILLED")
        .collect();
    assert!(active.is_empty(), "no replacement after a kill: {active:?}");
}
