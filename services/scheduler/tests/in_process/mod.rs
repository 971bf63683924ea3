//! Helpers for the tests that run the scheduler runtime in this process (no HTTP server):
//! requests through the API router, bounded polling, and an agent that registers, takes its
//! launches and reports them running.

#![allow(dead_code)] // each test binary uses its own part of the helpers
#![allow(clippy::unwrap_used)] // a helper that unwraps fails the test with the value shown

use std::sync::Arc;
use std::time::{Duration, Instant};

use aurora_events::{AgentId, Capacity};
use aurora_journal::{CheckpointStore, Journal, MemoryJournal, MemoryStore, SystemClock};
use aurora_scheduler::api::{self, AgentRegistration, Heartbeat, LaunchSpec};
use aurora_scheduler::runtime::{Runtime, RuntimeConfig, StartAs};
use aurora_scheduler_core::Settings;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

/// Starts a leading runtime over the journal in `store` (initialised beforehand).
pub async fn start_runtime(store: &MemoryStore) -> Runtime {
    let journal = MemoryJournal::open(store.clone()).unwrap();
    start_on(
        Arc::new(journal.clone()),
        Arc::new(journal),
        StartAs::Leader,
    )
    .await
}

/// Starts a runtime over `journal`, with its write-model checkpoints in `checkpoints`.
pub async fn start_on(
    journal: Arc<dyn Journal>,
    checkpoints: Arc<dyn CheckpointStore>,
    start_as: StartAs,
) -> Runtime {
    Runtime::start(RuntimeConfig {
        journal,
        checkpoints,
        clock: Arc::new(SystemClock),
        settings: Settings::default(),
        agent_timeout: Duration::from_secs(30),
        start_as,
        mirror: None,
        coordinators: Default::default(),
    })
    .await
    .unwrap()
}

/// Initialises a new journal in `store`, now.
pub fn initialise(store: &MemoryStore) -> MemoryJournal {
    use aurora_journal::Clock;
    MemoryJournal::initialise(store.clone(), "test", SystemClock.now()).unwrap()
}

/// The API as a scheduler without authentication serves it (`--insecure-no-auth`): the
/// actor is whoever `x-aurora-user` names.
pub fn insecure_api(runtime: &Runtime) -> Router {
    aurora_scheduler::auth::guard(
        aurora_scheduler::api::router(runtime.clone()),
        aurora_scheduler::auth::Gate::insecure(),
    )
}

/// One API request as user `alice`; the answer's status and JSON body (`Null` if none).
pub async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .header(api::USER_HEADER, "alice")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 22)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A web UI page: its status and HTML.
pub async fn page(web: &Router, uri: &str) -> (StatusCode, String) {
    let response = web
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 24)
        .await
        .unwrap();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

/// Polls `check` every 50 ms for up to 10 s.
pub async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Registers agent `agent-1` on `host-1` (8 cpus, 16 GiB, ports 31000-31100).
pub async fn register_agent(app: &Router) {
    let registration = AgentRegistration {
        agent: AgentId("agent-1".into()),
        host: "host-1".into(),
        capacity: Capacity {
            cpus: 8.0,
            ram_mb: 16_384,
            disk_mb: 100_000,
            gpus: 0,
            port_ranges: vec![(31000, 31100)],
        },
        attributes: vec![],
        endpoint: "http://127.0.0.1:1".into(),
        running: Default::default(),
    };
    let (status, body) = call(
        app,
        "POST",
        "/api/v1/agents/register",
        Some(serde_json::to_value(&registration).unwrap()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Heartbeats as `agent-1` until it has been handed `count` launches.
pub async fn take_launches(app: &Router, count: usize) -> Vec<LaunchSpec> {
    let mut launched = Vec::new();
    eventually("the launches handed out", async || {
        let (status, body) = call(app, "POST", "/api/v1/agents/agent-1/heartbeat", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let work: Heartbeat = serde_json::from_value(body).unwrap();
        launched.extend(work.launch);
        (launched.len() >= count).then_some(())
    })
    .await;
    launched
}

/// Reports `status` (e.g. `"RUNNING"`) for `task` as `agent-1`.
pub async fn report(
    app: &Router,
    task: &impl serde::Serialize,
    status: &str,
    message: Option<&str>,
) {
    let report = json!({"task": task, "status": status, "message": message});
    let (code, body) = call(app, "POST", "/api/v1/agents/agent-1/status", Some(report)).await;
    assert_eq!(code, StatusCode::OK, "{body}");
}
