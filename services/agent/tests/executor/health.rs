//! Health checks with real processes: an HTTP server on the task's `health` port (served by
//! the test, answering from what the task's process left in the sandbox) and shell checks.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aurora_agent::executor::{TaskContext, TaskSpec, TaskUpdate};
use aurora_events::config::{HealthCheck, HealthChecker};
use pretty_assertions::assert_eq;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::support::{Harness, message, process, spec, task, wait_dead, wait_for_pids, zombies_in};

/// Long enough for several 1 s check intervals.
const WAIT: Duration = Duration::from_secs(20);

fn check(
    checker: HealthChecker,
    initial: u32,
    max_failures: u32,
    min_successes: u32,
) -> HealthCheck {
    HealthCheck {
        checker,
        initial_interval_secs: initial,
        interval_secs: 1,
        max_consecutive_failures: max_failures,
        min_consecutive_successes: min_successes,
        timeout_secs: 1,
    }
}

fn http(expected_code: u16) -> HealthChecker {
    HealthChecker::Http {
        endpoint: "/health".into(),
        expected_response: "ok".into(),
        expected_response_code: expected_code,
    }
}

fn shell(command: &str) -> HealthChecker {
    HealthChecker::Shell {
        command: command.into(),
    }
}

fn with_health(mut s: TaskSpec, health: HealthCheck, ports: &[(&str, u16)]) -> TaskSpec {
    s.health_check = Some(health);
    s.context = TaskContext {
        ports: ports
            .iter()
            .map(|(name, port)| (name.to_string(), *port))
            .collect::<BTreeMap<_, _>>(),
        ..TaskContext::default()
    };
    s
}

/// A tiny HTTP server on a free loopback port: answers `OK` once `ready` exists in the
/// sandbox, `answer` before. Records `(request line, body sent)` per request.
struct Server {
    port: u16,
    listener: Option<TcpListener>,
    served: Arc<Mutex<Vec<(String, String)>>>,
    handle: Option<JoinHandle<()>>,
}

impl Server {
    async fn bind() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self {
            port: listener.local_addr().unwrap().port(),
            listener: Some(listener),
            served: Arc::default(),
            handle: None,
        }
    }

    fn serve(&mut self, sandbox: PathBuf, answer: &'static str) {
        let listener = self.listener.take().unwrap();
        let served = self.served.clone();
        self.handle = Some(tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&request)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string();
                let body = if sandbox.join("ready").exists() {
                    "OK\n"
                } else {
                    answer
                };
                served.lock().unwrap().push((line, body.to_string()));
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            }
        }));
    }

    fn served(&self) -> Vec<(String, String)> {
        self.served.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(handle) = &self.handle {
            handle.abort();
        }
    }
}

async fn pid(h: &Harness, file: &str) -> i32 {
    h.wait_for_file(file).await.trim().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_checked_task_is_running_only_once_its_server_answers_ok() {
    let mut server = Server::bind().await;
    // Grace of 10 checks: the "not yet" answers before `ready` are forgiven.
    let s = with_health(
        spec(task(vec![process(
            "app",
            "echo $$ > app.pid; sleep 2; touch ready; sleep 1000",
        )])),
        check(http(200), 10, 0, 2),
        &[("health", server.port)],
    );
    let mut h = Harness::launch(s);
    server.serve(h.sandbox.clone(), "not yet");
    assert_eq!(h.next_update(WAIT).await, TaskUpdate::Starting);
    assert_eq!(h.next_update(WAIT).await, TaskUpdate::Running);
    assert!(
        h.path("ready").exists(),
        "running before the server said ok"
    );
    let served = server.served();
    assert!(
        served.iter().any(|(_, body)| body == "not yet"),
        "{served:?}"
    );
    assert!(
        served.iter().filter(|(_, body)| body == "OK\n").count() >= 2,
        "min_consecutive_successes is 2: {served:?}"
    );
    assert!(
        served
            .iter()
            .all(|(line, _)| line == "GET /health HTTP/1.1"),
        "{served:?}"
    );
    let app = pid(&h, "app.pid").await;
    h.executor().kill("test over");
    assert!(matches!(h.end().await, TaskUpdate::Killed { .. }));
    assert!(wait_dead(app, Duration::from_secs(5)).await);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_whose_http_check_never_passes_fails_naming_the_health_check() {
    let mut server = Server::bind().await;
    // Budget ceil(1 / 1) + 0 + 1 = 2 checks: the first is forgiven, the second fails it.
    let s = with_health(
        spec(task(vec![process("app", "echo $$ > app.pid; sleep 1000")])),
        check(http(0), 1, 0, 1),
        &[("health", server.port)],
    );
    let mut h = Harness::launch(s);
    server.serve(h.sandbox.clone(), "still warming up");
    let end = h.end().await;
    assert!(matches!(end, TaskUpdate::Failed { .. }), "{end:?}");
    assert!(message(&end).starts_with("health check failed"), "{end:?}");
    assert!(message(&end).contains("still warming up"), "{end:?}");
    assert_eq!(h.seen[..1], [TaskUpdate::Starting]);
    assert!(!h.seen.contains(&TaskUpdate::Running), "{:?}", h.seen);
    assert_eq!(server.served().len(), 2, "{:?}", server.served());
    let app = pid(&h, "app.pid").await;
    assert!(wait_dead(app, Duration::from_secs(5)).await, "{app} alive");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_check_without_a_health_port_fails_the_task_before_anything_runs() {
    let s = with_health(
        spec(task(vec![process("app", "touch app-ran; sleep 1000")])),
        check(http(0), 1, 0, 1),
        &[("http", 1)],
    );
    let mut h = Harness::launch(s);
    let end = h.end().await;
    assert!(message(&end).contains("'health' port"), "{end:?}");
    assert!(!h.path("app-ran").exists());
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passing_shell_check_makes_the_task_running_and_a_failing_one_fails_it() {
    // Templated like a cmdline; runs in the sandbox.
    let s = with_health(
        spec(task(vec![process(
            "app",
            "echo $$ > app.pid; sleep 1; touch up.4242; sleep 1000",
        )])),
        check(shell("test -f up.{{thermos.ports[x]}}"), 5, 0, 1),
        &[("x", 4242)],
    );
    let mut h = Harness::launch(s);
    assert_eq!(h.next_update(WAIT).await, TaskUpdate::Starting);
    assert_eq!(h.next_update(WAIT).await, TaskUpdate::Running);
    assert!(h.path("up.4242").exists());
    // Once running, max_consecutive_failures 0: the first failed check fails the task.
    std::fs::remove_file(h.path("up.4242")).unwrap();
    let end = h.end().await;
    assert!(matches!(end, TaskUpdate::Failed { .. }), "{end:?}");
    assert!(message(&end).starts_with("health check failed"), "{end:?}");
    assert!(message(&end).contains("exited with code 1"), "{end:?}");
    let app = pid(&h, "app.pid").await;
    assert!(wait_dead(app, Duration::from_secs(5)).await, "{app} alive");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthchecksnooze_makes_checks_pass_until_it_is_removed() {
    let s = with_health(
        spec(task(vec![process("app", "sleep 1000")])),
        check(shell("exit 1"), 0, 0, 1),
        &[],
    );
    let mut h = Harness::launch_with(s, |sandbox| {
        std::fs::write(sandbox.join(".healthchecksnooze"), "").unwrap();
    });
    assert_eq!(h.next_update(WAIT).await, TaskUpdate::Starting);
    assert_eq!(h.next_update(WAIT).await, TaskUpdate::Running);
    // Still running a few checks later.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(h.seen, [TaskUpdate::Starting, TaskUpdate::Running]);
    std::fs::remove_file(h.path(".healthchecksnooze")).unwrap();
    let end = h.end().await;
    assert!(message(&end).contains("health check failed"), "{end:?}");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shell_check_that_hangs_is_killed_after_its_timeout() {
    let s = with_health(
        spec(task(vec![process("app", "sleep 1000")])),
        check(shell("echo $$ >> check.pids; sleep 1000"), 0, 0, 1),
        &[],
    );
    let mut h = Harness::launch(s);
    let end = h.end().await;
    assert!(message(&end).contains("timed out"), "{end:?}");
    let pids: Vec<i32> = h
        .read("check.pids")
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 1, "{pids:?}");
    assert!(wait_dead(pids[0], Duration::from_secs(5)).await);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphans_of_shell_checks_do_not_accumulate_as_zombies() {
    // Each check's shell leads a process group and leaves an orphan in it, which this process
    // (the subreaper) adopts and which dies soon (killed with the check's group, or after
    // 0.2 s): a zombie here unless the task's tracker reaps it.
    let s = with_health(
        spec(task(vec![process("app", "sleep 1000")])),
        check(shell("echo $$ >> check.pids; sh -c 'sleep 0.2 &'"), 0, 0, 1),
        &[],
    );
    let mut h = Harness::launch(s);
    assert_eq!(h.next_update(WAIT).await, TaskUpdate::Starting);
    assert_eq!(h.next_update(WAIT).await, TaskUpdate::Running);
    let checks = wait_for_pids(&h, "check.pids", 4).await;
    // Scans reap every second: at most the orphans of the latest checks are still waiting.
    let zombies = zombies_in(&checks);
    assert!(zombies.len() <= 2, "zombies of {checks:?}: {zombies:?}");

    tracing::info!("kill");
    h.executor().kill("test over");
    assert!(matches!(h.end().await, TaskUpdate::Killed { .. }));
    let checks = wait_for_pids(&h, "check.pids", checks.len()).await;
    assert_eq!(zombies_in(&checks), Vec::<i32>::new(), "checks {checks:?}");
    h.finish().await;
}
