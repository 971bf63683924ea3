//! Several scheduler URIs: the agent's client skips a replica that is down (a loopback port
//! nobody listens on) or that answers 503 NOT_LEADER / ERROR_TRANSIENT, sticks to the one that
//! answered, gives up after one pass over the list, and does not move on for answers that
//! another replica would give the same way (404: register again). The daemon itself registers
//! and heartbeats through the live replica. The schedulers are small stand-ins on loopback.
#![allow(clippy::unwrap_used)]

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "support/agent_config.rs"]
mod agent_config;

use agent_config::agent_config;
use aurora_agent::client::{ClientError, SchedulerClient};
use aurora_agent::daemon::{self, AgentConfig};
use aurora_api::AgentRegistration;
use aurora_events::{AgentId, Capacity};
use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::task::JoinHandle;

/// Longest any step of these tests may take.
const WAIT: Duration = Duration::from_secs(20);

/// How a stand-in scheduler answers.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// As a leader: registrations and reports are committed, heartbeats hand out nothing.
    Leader,
    /// 503 with this code, as a follower that cannot reach a leader.
    Unavailable(&'static str),
    /// 404, as a leader that does not know the agent.
    Unknown,
}

#[derive(Debug, Clone)]
struct Stub {
    mode: Mode,
    /// `METHOD /path` of every request received, in order.
    seen: Arc<Mutex<Vec<String>>>,
}

/// A running stand-in; stops when dropped.
struct Server {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

async fn answer(State(stub): State<Stub>, method: Method, uri: Uri) -> Response {
    stub.seen
        .lock()
        .unwrap()
        .push(format!("{method} {}", uri.path()));
    match stub.mode {
        Mode::Unavailable(code) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"code": code, "message": "no leader here"})),
        )
            .into_response(),
        Mode::Unknown => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"code": "INVALID_REQUEST", "message": "register first"})),
        )
            .into_response(),
        Mode::Leader => {
            let path = uri.path();
            if path.ends_with("/heartbeat") || path.ends_with("/work") {
                if path.ends_with("/work") {
                    // A long poll with nothing to hand out, shortened.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                axum::Json(json!({"launch": [], "kill": [], "term": 1})).into_response()
            } else {
                axum::Json(json!({"first_seq": null, "last_seq": null, "message": null}))
                    .into_response()
            }
        }
    }
}

async fn serve(mode: Mode) -> Server {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let router = Router::new().fallback(answer).with_state(Stub {
        mode,
        seen: Arc::clone(&seen),
    });
    let task = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    Server { url, seen, task }
}

/// A loopback URL nobody listens on: the port is held by a socket that is bound but never
/// listens (a connection is refused at once, and no server started meanwhile can be given
/// the port); it stays open until the test binary ends.
fn dead_url() -> String {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind(std::net::SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .unwrap();
    let url = format!("http://{}", socket.local_addr().unwrap());
    std::mem::forget(socket);
    url
}

fn registration() -> AgentRegistration {
    AgentRegistration {
        agent: AgentId("a1".into()),
        host: "h1".into(),
        capacity: Capacity {
            cpus: 1.0,
            ram_mb: 64,
            disk_mb: 64,
            gpus: 0,
            port_ranges: vec![(31000, 31010)],
        },
        attributes: Vec::new(),
        endpoint: String::new(),
        running: Default::default(),
    }
}

async fn bounded<T>(call: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, call).await.unwrap()
}

#[tokio::test]
async fn a_dead_replica_is_skipped_and_the_live_one_kept() {
    let live = serve(Mode::Leader).await;
    let dead = dead_url();
    let client = SchedulerClient::new(&[dead.clone(), live.url.clone()], AgentId("a1".into()));
    assert_eq!(client.current(), dead, "starts at the first URI");
    bounded(client.register(&registration())).await.unwrap();
    assert_eq!(client.current(), live.url, "moved on to the live replica");
    let work = bounded(client.heartbeat()).await.unwrap();
    assert_eq!(work.term, 1);
    assert_eq!(client.term(), 1);
    assert_eq!(
        live.seen(),
        [
            "POST /api/v1/agents/register",
            "POST /api/v1/agents/a1/heartbeat"
        ]
    );
    assert_eq!(
        client.current(),
        live.url,
        "stays with the replica that answers"
    );
}

#[tokio::test]
async fn a_replica_that_is_not_the_leader_is_skipped() {
    for code in ["NOT_LEADER", "ERROR_TRANSIENT"] {
        let follower = serve(Mode::Unavailable(code)).await;
        let leader = serve(Mode::Leader).await;
        let client = SchedulerClient::new(
            &[format!("{},{}", follower.url, leader.url)],
            AgentId("a1".into()),
        );
        bounded(client.register(&registration())).await.unwrap();
        bounded(client.heartbeat()).await.unwrap();
        assert_eq!(client.current(), leader.url, "{code}");
        assert_eq!(
            follower.seen(),
            ["POST /api/v1/agents/register"],
            "{code}: asked once, then left"
        );
        assert_eq!(leader.seen().len(), 2, "{code}");
    }
}

#[tokio::test]
async fn one_pass_over_the_list_then_the_error() {
    let follower = serve(Mode::Unavailable("NOT_LEADER")).await;
    let dead = dead_url();
    let client = SchedulerClient::new(&[follower.url.clone(), dead], AgentId("a1".into()));
    let error = bounded(client.heartbeat()).await.unwrap_err();
    assert!(
        matches!(error, ClientError::Unreachable { .. }),
        "the last replica's error: {error}"
    );
    assert_eq!(follower.seen().len(), 1, "each replica tried once per call");
    // The pass ended back at the first URI, so the next call starts a whole pass again.
    assert_eq!(client.current(), follower.url);
    let error = bounded(client.heartbeat()).await.unwrap_err();
    assert!(matches!(error, ClientError::Unreachable { .. }), "{error}");
    assert_eq!(follower.seen().len(), 2);
}

#[tokio::test]
async fn a_leader_that_does_not_know_the_agent_is_not_left() {
    // The agent must register again with that leader, not look for another.
    let leader = serve(Mode::Unknown).await;
    let other = serve(Mode::Leader).await;
    let client = SchedulerClient::new(
        &[leader.url.clone(), other.url.clone()],
        AgentId("a1".into()),
    );
    let error = bounded(client.heartbeat()).await.unwrap_err();
    assert!(matches!(error, ClientError::Unregistered(_)), "{error}");
    assert_eq!(client.current(), leader.url);
    assert!(other.seen().is_empty());
}

#[tokio::test]
async fn the_agent_registers_and_heartbeats_through_the_live_replica() {
    let follower = serve(Mode::Unavailable("NOT_LEADER")).await;
    let leader = serve(Mode::Leader).await;
    let work_dir = tempfile::tempdir().unwrap();
    let config = AgentConfig {
        capacity: registration().capacity,
        ..agent_config(
            vec![dead_url(), follower.url.clone(), leader.url.clone()],
            work_dir.path(),
        )
    };
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let serving = daemon::serve(config, shutdown).await.unwrap();
    let deadline = Instant::now() + WAIT;
    let heartbeats = |seen: &[String]| {
        seen.iter()
            .filter(|line| line.ends_with("/heartbeat"))
            .count()
    };
    while heartbeats(&leader.seen()) < 2 {
        assert!(
            Instant::now() < deadline,
            "no heartbeats through the leader; it saw {:?}",
            leader.seen()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(leader.seen()[0], "POST /api/v1/agents/register");
    assert_eq!(
        follower.seen(),
        ["POST /api/v1/agents/register"],
        "the follower is asked once, then left"
    );
    stop.send(true).unwrap();
    bounded(serving.agent).await.unwrap();
}
