//! Unit tests of `reports.rs` against a stand-in scheduler on a loopback port that answers the
//! status POSTs as scripted: failures in order, then acceptance.

#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use aurora_events::AgentId;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pretty_assertions::assert_eq;
use serde_json::json;

use super::*;

/// Longest any step of these tests may take.
const WAIT: Duration = Duration::from_secs(20);

/// Short enough that many failures take milliseconds.
const FAST: ReportRetry = ReportRetry {
    first: Duration::from_millis(1),
    max: Duration::from_millis(5),
};

/// How the stand-in answers one status POST.
#[derive(Debug, Clone, Copy)]
enum Answer {
    /// 503 ERROR_TRANSIENT: a scheduler that cannot serve now (or a follower).
    Transient,
    /// 404: a scheduler that does not know the agent (it restarted, or declared it lost).
    Unknown,
    /// 400: a report the scheduler can never take.
    Invalid,
}

#[derive(Debug, Default)]
struct Script {
    /// Answers to the next POSTs, then acceptance.
    failures: VecDeque<Answer>,
    posts: usize,
    /// `<task> <status>` of every accepted report, in order.
    accepted: Vec<String>,
}

struct StandIn {
    client: SchedulerClient,
    script: Arc<Mutex<Script>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl StandIn {
    async fn start(failures: impl IntoIterator<Item = Answer>) -> Self {
        let script = Arc::new(Mutex::new(Script {
            failures: failures.into_iter().collect(),
            ..Script::default()
        }));
        let state = Arc::clone(&script);
        let answer = move |body: axum::body::Bytes| {
            let state = Arc::clone(&state);
            async move { answer(&state, &body) }
        };
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let router = axum::Router::new().fallback(answer);
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self {
            client: SchedulerClient::new(&[url], AgentId("a1".into())),
            script,
            server,
        }
    }

    fn posts(&self) -> usize {
        self.script.lock().unwrap().posts
    }

    fn accepted(&self) -> Vec<String> {
        self.script.lock().unwrap().accepted.clone()
    }
}

fn answer(script: &Mutex<Script>, body: &[u8]) -> Response {
    let mut script = script.lock().unwrap();
    script.posts += 1;
    let error = |status: StatusCode, code: &str| {
        (
            status,
            axum::Json(json!({"code": code, "message": "scripted"})),
        )
            .into_response()
    };
    match script.failures.pop_front() {
        Some(Answer::Transient) => error(StatusCode::SERVICE_UNAVAILABLE, "ERROR_TRANSIENT"),
        Some(Answer::Unknown) => error(StatusCode::NOT_FOUND, "NOT_FOUND"),
        Some(Answer::Invalid) => error(StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
        None => {
            let report: StatusReport = serde_json::from_slice(body).unwrap();
            script
                .accepted
                .push(format!("{} {}", report.task, report.status));
            axum::Json(json!({"first_seq": 1, "last_seq": 1, "message": null})).into_response()
        }
    }
}

fn report(status: ScheduleStatus) -> StatusReport {
    StatusReport {
        task: TaskId::from_raw("t-1"),
        status,
        message: None,
    }
}

/// Delivers a RUNNING report to `stand_in` with fast retries, never shut down.
async fn deliver_running(stand_in: &StandIn) -> Delivery {
    let (_stop, mut shutdown) = watch::channel(false);
    tokio::time::timeout(
        WAIT,
        deliver(
            &stand_in.client,
            &report(ScheduleStatus::Running),
            FAST,
            &mut shutdown,
        ),
    )
    .await
    .expect("delivered within the wait")
}

#[tokio::test]
async fn a_report_is_sent_until_the_scheduler_has_it() {
    // More failures than the five attempts that used to be all a report got, through an
    // outage (503) and a scheduler that forgot the agent (404) alike.
    let mut script = vec![Answer::Transient; 6];
    script.extend([Answer::Unknown, Answer::Unknown, Answer::Transient]);
    let stand_in = StandIn::start(script).await;
    let delivery = deliver_running(&stand_in).await;
    assert_eq!(delivery, Delivery::Delivered);
    assert_eq!(stand_in.posts(), 10, "nine failures, then the one accepted");
    assert_eq!(stand_in.accepted(), ["t-1 RUNNING"]);
}

#[tokio::test]
async fn a_report_the_scheduler_can_never_take_is_dropped_at_once() {
    let stand_in = StandIn::start([Answer::Invalid]).await;
    let delivery = deliver_running(&stand_in).await;
    assert_eq!(delivery, Delivery::Refused);
    assert_eq!(stand_in.posts(), 1, "not sent again");
    assert!(stand_in.accepted().is_empty());
}

#[tokio::test]
async fn shutdown_cuts_the_wait_short_and_allows_one_last_attempt() {
    let stand_in = StandIn::start(vec![Answer::Transient; 1000]).await;
    let (stop, mut shutdown) = watch::channel(false);
    // A wait far beyond the test's bound: only the shutdown can end it in time.
    let slow = ReportRetry {
        first: Duration::from_secs(3600),
        max: Duration::from_secs(3600),
    };
    let report = report(ScheduleStatus::Killed);
    let delivering = deliver(&stand_in.client, &report, slow, &mut shutdown);
    tokio::pin!(delivering);
    let waiting = tokio::time::timeout(Duration::from_millis(300), &mut delivering).await;
    assert!(waiting.is_err(), "still retrying: {waiting:?}");
    assert_eq!(stand_in.posts(), 1);
    stop.send(true).unwrap();
    let delivery = tokio::time::timeout(WAIT, delivering).await.unwrap();
    assert_eq!(delivery, Delivery::ShutDown);
    assert_eq!(stand_in.posts(), 2, "one more attempt once shutting down");
}

#[tokio::test]
async fn a_tasks_reports_arrive_in_order_each_after_its_failures() {
    // Every report fails a few times in its own way; the next one waits for it.
    let stand_in = StandIn::start([
        Answer::Transient,
        Answer::Transient,
        Answer::Transient,
        Answer::Transient,
        Answer::Transient,
        Answer::Transient,
    ])
    .await;
    let (_stop, shutdown) = watch::channel(false);
    let (updates_tx, updates) = mpsc::unbounded_channel();
    for update in [
        TaskUpdate::Starting,
        TaskUpdate::Running,
        TaskUpdate::Finished {
            message: "done".into(),
        },
    ] {
        updates_tx.send(update).unwrap();
    }
    let mut forwarders = Forwarders::new(FAST, shutdown);
    let (done_tx, done) = tokio::sync::oneshot::channel();
    forwarders.start(
        stand_in.client.clone(),
        TaskId::from_raw("t-1"),
        updates,
        move || {
            let _ = done_tx.send(());
        },
    );
    tokio::time::timeout(WAIT, done).await.unwrap().unwrap();
    assert_eq!(
        stand_in.accepted(),
        ["t-1 STARTING", "t-1 RUNNING", "t-1 FINISHED"]
    );
    assert_eq!(stand_in.posts(), 9);
    forwarders.finish(WAIT).await;
}
