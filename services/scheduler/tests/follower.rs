//! Replicas: a runtime in follower mode applies a journal that a leading runtime writes and
//! serves the same job pages (pending reasons included) and the same read API; it refuses
//! commands and agents. A leader deposed by a newer term steps down and keeps applying.
#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown

mod in_process;

use std::sync::Arc;
use std::time::Duration;

use aurora_events::Tier;
use aurora_journal::{MemoryCheckpoints, MemoryJournal, MemoryStore};
use aurora_scheduler::runtime::{Runtime, StartAs};
use aurora_web::WebState;
use axum::Router;
use axum::http::StatusCode;
use in_process::{call, eventually, page};
use serde_json::{Value, json};

struct Replica {
    runtime: Runtime,
    api: Router,
    web: Router,
}

fn serve(runtime: Runtime) -> Replica {
    let web = aurora_web::app(WebState {
        cluster: "test".into(),
        read: Arc::clone(runtime.read_model()),
        warning: None,
        cron_zone: jiff::tz::TimeZone::UTC,
        executor_overhead: aurora_web::DEFAULT_EXECUTOR_OVERHEAD,
    });
    Replica {
        api: in_process::insecure_api(&runtime),
        web,
        runtime,
    }
}

/// A replica on its own handle of the shared journal, with its own checkpoint cache.
async fn replica(store: &MemoryStore, start_as: StartAs) -> Replica {
    let journal = MemoryJournal::open(store.clone()).unwrap();
    let runtime = in_process::start_on(
        Arc::new(journal),
        Arc::new(MemoryCheckpoints::new()),
        start_as,
    )
    .await;
    serve(runtime)
}

fn job_config(job: &str, cpus: f64) -> Value {
    let mut config = aurora_events::samples::task_config();
    config.sla_policy = None;
    config.job = job.parse().unwrap();
    config.tier = Tier::Preemptible;
    config.resources.cpus = cpus;
    config.resources.ports.clear();
    config.constraints.clear();
    serde_json::to_value(config).unwrap()
}

const READS: [&str; 6] = [
    "/api/v1/jobs",
    "/api/v1/jobs/www-data/prod/hello/tasks?all=true",
    "/api/v1/jobs/www-data/prod/huge/tasks",
    "/api/v1/tasks?role=www-data&configs=true",
    "/api/v1/pending",
    "/api/v1/quota/www-data",
];

const PAGES: [&str; 4] = [
    "/scheduler",
    "/scheduler/www-data",
    "/scheduler/www-data/prod/hello",
    "/scheduler/www-data/prod/huge",
];

/// Everything a reader sees on `replica`, as of the journal's current end: reads and pages.
async fn everything(replica: &Replica) -> Vec<(StatusCode, String)> {
    let mut seen = Vec::new();
    for uri in READS {
        let (status, body) = call(&replica.api, "GET", uri, None).await;
        seen.push((status, body.to_string()));
    }
    for uri in PAGES {
        seen.push(page(&replica.web, uri).await);
    }
    seen
}

/// Both replicas as of one seq: the follower catches up with the leader, and the journal must
/// not move while both are looked at (timers may commit; then look again).
async fn compare_at_rest(leader: &Replica, follower: &Replica) {
    let journal = Arc::clone(leader.runtime.journal());
    for _ in 0..20 {
        let seq = journal.last_seq();
        follower
            .runtime
            .wait_applied(seq, Duration::from_secs(10))
            .await
            .unwrap();
        leader
            .runtime
            .wait_applied(seq, Duration::from_secs(10))
            .await
            .unwrap();
        let on_leader = everything(leader).await;
        let on_follower = everything(follower).await;
        if journal.last_seq() != seq {
            continue;
        }
        for (i, (ours, theirs)) in on_leader.iter().zip(&on_follower).enumerate() {
            let what = READS.iter().chain(&PAGES).nth(i).unwrap();
            assert_eq!(ours.0, StatusCode::OK, "{what} on the leader");
            assert_eq!(
                ours, theirs,
                "{what}: the follower must serve what the leader serves"
            );
        }
        return;
    }
    panic!("the journal never came to rest");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_serves_what_the_leader_serves() {
    let store = MemoryStore::new();
    in_process::initialise(&store);
    let leader = replica(&store, StartAs::Leader).await;
    let follower = replica(&store, StartAs::Follower).await;
    assert!(leader.runtime.is_leader());
    assert!(!follower.runtime.is_leader());

    // Through the leader: a job that runs and a job too big for any agent.
    let (status, body) = call(
        &leader.api,
        "POST",
        "/api/v1/jobs",
        Some(json!({"job": "www-data/prod/hello", "config": job_config("www-data/prod/hello", 1.0), "instances": 2})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = call(
        &leader.api,
        "POST",
        "/api/v1/jobs",
        Some(json!({"job": "www-data/prod/huge", "config": job_config("www-data/prod/huge", 64.0), "instances": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    in_process::register_agent(&leader.api).await;
    let launched = in_process::take_launches(&leader.api, 2).await;
    in_process::report(&leader.api, &launched[0].task, "STARTING", None).await;
    in_process::report(&leader.api, &launched[0].task, "RUNNING", None).await;

    // The follower explains the pending task from its own write model.
    let huge = eventually("the follower's pending reason", async || {
        let (_, tasks) = call(
            &follower.api,
            "GET",
            "/api/v1/jobs/www-data/prod/huge/tasks",
            None,
        )
        .await;
        let reason = tasks[0]["pending_reason"].as_str()?.to_string();
        Some(reason)
    })
    .await;
    assert_eq!(huge, "Insufficient: cpus");
    let (_, page_text) = page(&follower.web, "/scheduler/www-data/prod/huge").await;
    assert!(page_text.contains("Insufficient: cpus"), "{page_text}");

    compare_at_rest(&leader, &follower).await;

    // The follower refuses writes and agents, naming why.
    let (status, body) = call(
        &follower.api,
        "POST",
        "/api/v1/jobs",
        Some(json!({"job": "www-data/prod/other", "config": job_config("www-data/prod/other", 1.0), "instances": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "NOT_LEADER", "{body}");
    let (status, body) = call(
        &follower.api,
        "POST",
        "/api/v1/agents/agent-1/heartbeat",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "NOT_LEADER", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposed_leader_steps_down_and_keeps_applying() {
    let store = MemoryStore::new();
    in_process::initialise(&store);
    let old = replica(&store, StartAs::Leader).await;
    let new = replica(&store, StartAs::Follower).await;
    let old_term = old.runtime.term().unwrap();

    // Another replica takes over under a newer term.
    let new_term = new.runtime.lead().await.unwrap();
    assert!(new_term > old_term);

    // The old leader's next write is refused by the journal: it answers NOT_LEADER, writes
    // nothing, and drops its leader state.
    let before = old.runtime.journal().last_seq();
    let (status, body) = call(
        &old.api,
        "PUT",
        "/api/v1/quota/www-data",
        Some(json!({"cpus": 4.0, "ram_mb": 4096, "disk_mb": 4096})),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "NOT_LEADER", "{body}");
    assert!(!old.runtime.is_leader(), "stepped down");
    assert_eq!(old.runtime.term(), None);

    // The new leader's writes go through, and the old one applies them as a follower.
    let (status, body) = call(
        &new.api,
        "PUT",
        "/api/v1/quota/www-data",
        Some(json!({"cpus": 4.0, "ram_mb": 4096, "disk_mb": 4096})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let seq = body["last_seq"].as_u64().unwrap();
    assert!(seq > before);
    old.runtime
        .wait_applied(seq, Duration::from_secs(10))
        .await
        .unwrap();
    let (_, quota) = call(&old.api, "GET", "/api/v1/quota/www-data", None).await;
    assert_eq!(quota["quota"]["cpus"], 4.0, "{quota}");
}
