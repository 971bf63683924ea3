//! The web UI inside the scheduler: pages read the read model the leader folds after each
//! commit; `?at=` pages replay from the journal and equal the same page rendered from a model
//! folded independently from the journal's prefix; a restarted scheduler serves the same past.
#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown

use std::sync::Arc;
use std::time::{Duration, Instant};

use aurora_events::{Capacity, Seq, Tier};
use aurora_journal::{Journal, MemoryJournal, MemoryStore, SeqRange, SystemClock};
use aurora_projections::HistoryConfig;
use aurora_scheduler::api::{self, AgentRegistration, Heartbeat};
use aurora_scheduler::runtime::Runtime;
use aurora_scheduler_core::Settings;
use aurora_web::{ReadModel, WebState};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

const JOB_PAGE: &str = "/scheduler/www-data/prod/hello";

async fn start(store: &MemoryStore) -> (Runtime, Router, Router) {
    let journal: Arc<dyn Journal> =
        Arc::new(MemoryJournal::open(store.clone(), Arc::new(SystemClock)).unwrap());
    let runtime = Runtime::start(
        journal,
        Arc::new(SystemClock),
        Settings::default(),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    let web = aurora_web::app(WebState {
        cluster: "test".into(),
        read: Arc::clone(runtime.read_model()),
    });
    (runtime.clone(), api::router(runtime), web)
}

async fn call(app: &Router, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
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

async fn page(web: &Router, uri: &str) -> (StatusCode, String) {
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
async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The page without its time-travel banner, the moment's `?at=` on links, and the note only
/// past job pages carry.
fn without_moment(page: &str, seq: Seq) -> String {
    let page = match (page.find("<div class=\"banner\""), page.find("<main>")) {
        (Some(from), Some(to)) => format!("{}{}", &page[..from], &page[to..]),
        _ => page.to_string(),
    };
    page.replace(&format!("?at={seq}\""), "\"").replace(
        "<p class=\"meta\">Pending reasons are not kept in the journal; the live page shows them.</p>",
        "",
    )
}

/// The job page as a model folded only from the journal's seqs 1..=seq renders it live.
async fn independent_page(journal: &Arc<dyn Journal>, seq: Seq) -> (StatusCode, String) {
    let envelopes = journal.read(SeqRange::new(1, seq)).await.unwrap();
    assert_eq!(envelopes.len() as Seq, seq);
    let read = Arc::new(ReadModel::in_memory(HistoryConfig::default()));
    read.apply(&envelopes);
    let web = aurora_web::app(WebState {
        cluster: "test".into(),
        read,
    });
    page(&web, JOB_PAGE).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_follow_commits_and_past_pages_match_the_journal() {
    let store = MemoryStore::new();
    MemoryJournal::initialise(store.clone(), "test", Arc::new(SystemClock)).unwrap();
    let (runtime, api, web) = start(&store).await;

    let mut config = aurora_events::samples::task_config();
    config.tier = Tier::Preemptible;
    config.resources.ports.clear();
    config.constraints.clear();
    let (status, body) = call(
        &api,
        "POST",
        "/api/v1/jobs",
        Some(json!({"job": "www-data/prod/hello", "config": config, "instances": 2})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Read-your-writes: once the API answers, the page shows the job.
    let (status, job) = page(&web, JOB_PAGE).await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert!(job.contains("PENDING"), "{job}");
    // The live page carries the runtime's pending reasons.
    eventually("the pending reason on the page", async || {
        let (_, job) = page(&web, JOB_PAGE).await;
        job.contains("No agents registered").then_some(())
    })
    .await;

    let registration = AgentRegistration {
        agent: aurora_events::AgentId("agent-1".into()),
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
        &api,
        "POST",
        "/api/v1/agents/register",
        Some(serde_json::to_value(&registration).unwrap()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut launched = Vec::new();
    eventually("both launches handed out", async || {
        let (_, body) = call(&api, "POST", "/api/v1/agents/agent-1/heartbeat", None).await;
        let work: Heartbeat = serde_json::from_value(body).unwrap();
        launched.extend(work.launch);
        (launched.len() == 2).then_some(())
    })
    .await;
    for launch in &launched {
        for state in ["STARTING", "RUNNING"] {
            let report = json!({"task": launch.task, "status": state, "message": "<b>up</b>"});
            let (status, body) =
                call(&api, "POST", "/api/v1/agents/agent-1/status", Some(report)).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    }
    let report = json!({"task": launched[1].task, "status": "FAILED", "message": "exit 1"});
    call(&api, "POST", "/api/v1/agents/agent-1/status", Some(report)).await;
    let (_, job) = page(&web, JOB_PAGE).await;
    assert!(job.contains("FAILED") && job.contains("RUNNING"), "{job}");
    assert!(!job.contains("<b>up</b>"), "agent messages are escaped");
    let (status, task) = page(&web, &format!("/tasks/{}", launched[0].task)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        task.contains("agent:agent-1") && task.contains("host-1"),
        "{task}"
    );

    // Every past job page equals the page of a model folded independently from the journal.
    let journal = Arc::clone(runtime.journal());
    let last = journal.last_seq();
    let mut compared = 0;
    let mut past_pages = Vec::new();
    for seq in 1..=last {
        let (status, past) = page(&web, &format!("{JOB_PAGE}?at={seq}")).await;
        let (fresh_status, fresh) = independent_page(&journal, seq).await;
        assert_eq!(status, fresh_status, "seq {seq}: {past}");
        if status == StatusCode::OK {
            assert_eq!(without_moment(&past, seq), fresh, "job page at seq {seq}");
            compared += 1;
            past_pages.push((seq, past));
        }
    }
    assert!(compared >= 8, "the job exists for most of the journal");

    // A restarted scheduler rebuilds the read model from the journal: same past pages.
    drop((runtime, api, web));
    let (_runtime, _api, web) = start(&store).await;
    for (seq, before) in past_pages.iter().step_by(3) {
        let (status, after) = page(&web, &format!("{JOB_PAGE}?at={seq}")).await;
        assert_eq!(status, StatusCode::OK);
        // The banner names how far the journal got, which moved on with the timers.
        assert_eq!(
            without_moment(&after, *seq),
            without_moment(before, *seq),
            "seq {seq} after restart"
        );
    }
}
