//! A stand-in scheduler on a free loopback port for tests of the whole agent: it registers
//! agents, hands out the launches a test queues on the next work poll (or heartbeat), and
//! accepts status reports, or fails the next ones as a test scripts. Stops when dropped.

// Each test binary that includes this module uses part of it.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aurora_api::{AgentRegistration, LaunchSpec, StatusReports};
use aurora_events::{ScheduleStatus, TaskId};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::task::JoinHandle;

/// How the stand-in answers one status POST instead of accepting it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// 503 ERROR_TRANSIENT, as a scheduler that cannot serve now.
    Transient,
    /// 404, as a scheduler that restarted: it forgets the agent's registration too, so the
    /// agent's next work poll is answered 404 and the agent registers again.
    Restarted,
    /// 400: a report no scheduler will ever take.
    Invalid,
}

#[derive(Debug, Default)]
struct Books {
    registered: bool,
    registrations: Vec<AgentRegistration>,
    launches: Vec<LaunchSpec>,
    failures: VecDeque<Failure>,
    status_posts: usize,
    /// Every report accepted, in the order it arrived.
    reports: Vec<(TaskId, ScheduleStatus)>,
    /// How long a work poll from an agent this stand-in does not know waits for its 404 (a
    /// scheduler busy with a backlog, whose "register again" reaches the agent late).
    slow_not_found: Duration,
}

#[derive(Debug)]
pub struct StandIn {
    pub url: String,
    books: Arc<Mutex<Books>>,
    server: JoinHandle<()>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl StandIn {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let books = Arc::new(Mutex::new(Books::default()));
        let router = Router::new()
            .fallback(answer)
            .with_state(Arc::clone(&books));
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self { url, books, server }
    }

    /// Hands `spec` to the next work poll or heartbeat of a registered agent.
    pub fn launch(&self, spec: LaunchSpec) {
        self.books.lock().unwrap().launches.push(spec);
    }

    /// Answers the next status POSTs so, in order.
    pub fn fail_status(&self, failures: impl IntoIterator<Item = Failure>) {
        self.books.lock().unwrap().failures.extend(failures);
    }

    pub fn reports(&self) -> Vec<(TaskId, ScheduleStatus)> {
        self.books.lock().unwrap().reports.clone()
    }

    pub fn status_posts(&self) -> usize {
        self.books.lock().unwrap().status_posts
    }

    /// Forgets the agent's registration, as a restarted scheduler does; from now on its
    /// work polls wait `slow` before they are told to register again.
    pub fn restart(&self, slow: Duration) {
        let mut books = self.books.lock().unwrap();
        books.registered = false;
        books.slow_not_found = slow;
    }

    pub fn registrations(&self) -> Vec<AgentRegistration> {
        self.books.lock().unwrap().registrations.clone()
    }
}

fn error(status: StatusCode, code: &str) -> Response {
    (
        status,
        axum::Json(json!({"code": code, "message": "stand-in scheduler"})),
    )
        .into_response()
}

async fn answer(State(books): State<Arc<Mutex<Books>>>, uri: Uri, body: Bytes) -> Response {
    let path = uri.path();
    if path == "/api/v1/agents/register" {
        let registration: AgentRegistration = serde_json::from_slice(&body).unwrap();
        let mut books = books.lock().unwrap();
        books.registered = true;
        books.registrations.push(registration);
        return axum::Json(json!({"first_seq": 1, "last_seq": 1, "message": null})).into_response();
    }
    if path.ends_with("/status") {
        let mut books = books.lock().unwrap();
        books.status_posts += 1;
        match books.failures.pop_front() {
            Some(Failure::Transient) => {
                return error(StatusCode::SERVICE_UNAVAILABLE, "ERROR_TRANSIENT");
            }
            Some(Failure::Restarted) => {
                books.registered = false;
                return error(StatusCode::NOT_FOUND, "NOT_FOUND");
            }
            Some(Failure::Invalid) => return error(StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
            None => {}
        }
        let reports: StatusReports = serde_json::from_slice(&body).unwrap();
        books.reports.extend(
            reports
                .into_vec()
                .into_iter()
                .map(|report| (report.task, report.status)),
        );
        return axum::Json(json!({"first_seq": 1, "last_seq": 1, "message": null})).into_response();
    }
    if path.ends_with("/work") || path.ends_with("/heartbeat") {
        let (launch, slow) = {
            let mut books = books.lock().unwrap();
            (
                books
                    .registered
                    .then(|| std::mem::take(&mut books.launches)),
                books.slow_not_found,
            )
        };
        let Some(launch) = launch else {
            if path.ends_with("/work") {
                tokio::time::sleep(slow).await;
            }
            return error(StatusCode::NOT_FOUND, "NOT_FOUND");
        };
        if launch.is_empty() && path.ends_with("/work") {
            // A long poll with nothing to hand out, shortened.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        return axum::Json(json!({"launch": launch, "kill": [], "term": 1})).into_response();
    }
    error(StatusCode::NOT_FOUND, "NOT_FOUND")
}

/// A task of the sample job running `cmdline`, without health check or lifecycle.
pub fn launch_spec(task: &str, cmdline: &str) -> LaunchSpec {
    let mut config = aurora_events::samples::task_config();
    config.health_check = None;
    config.lifecycle = None;
    config.executor.processes[0].cmdline = cmdline.to_string();
    config.executor.processes[0].min_duration_secs = 0;
    config.executor.finalization_wait_secs = 1;
    LaunchSpec {
        task: TaskId::from_raw(task),
        job: config.job.to_string(),
        instance: 0,
        config,
        ports: Default::default(),
    }
}

/// Waits (bounded by `within`) until `done` holds, polling.
pub async fn wait_until(within: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
