//! The web UI inside the scheduler: pages read the read model the leader folds after each
//! commit; `?at=` pages replay from the journal and equal the same page rendered from a model
//! folded independently from the journal's prefix; a restarted scheduler serves the same past.
#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown

mod in_process;

use std::sync::Arc;

use aurora_events::{Seq, Tier};
use aurora_journal::{Journal, MemoryStore, SeqRange};
use aurora_projections::HistoryConfig;
use aurora_projections::ReadModel;
use aurora_scheduler::runtime::Runtime;
use aurora_web::WebState;
use axum::Router;
use axum::http::StatusCode;
use in_process::{call, eventually, page};
use serde_json::json;

const JOB_PAGE: &str = "/scheduler/www-data/prod/hello";

async fn start(store: &MemoryStore) -> (Runtime, Router, Router) {
    let runtime = in_process::start_runtime(store).await;
    let web = aurora_web::app(WebState {
        cluster: "test".into(),
        read: Arc::clone(runtime.read_model()),
        warning: None,
        cron_zone: jiff::tz::TimeZone::UTC,
        executor_overhead: aurora_web::DEFAULT_EXECUTOR_OVERHEAD,
    });
    (runtime.clone(), in_process::insecure_api(&runtime), web)
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
        warning: None,
        cron_zone: jiff::tz::TimeZone::UTC,
        executor_overhead: aurora_web::DEFAULT_EXECUTOR_OVERHEAD,
    });
    page(&web, JOB_PAGE).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_follow_commits_and_past_pages_match_the_journal() {
    let store = MemoryStore::new();
    in_process::initialise(&store);
    let (runtime, api, web) = start(&store).await;

    let mut config = aurora_events::samples::task_config();

    config.sla_policy = None;
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

    in_process::register_agent(&api).await;
    let launched = in_process::take_launches(&api, 2).await;
    for launch in &launched {
        for state in ["STARTING", "RUNNING"] {
            in_process::report(&api, &launch.task, state, Some("<b>up</b>")).await;
        }
    }
    in_process::report(&api, &launched[1].task, "FAILED", Some("exit 1")).await;
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
