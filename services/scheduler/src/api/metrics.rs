//! `GET /metrics` in Prometheus text format: the counters and histograms the runtime records
//! (schedule attempts, placements, timed-out tasks, illegal transitions, journal append
//! latency), plus gauges read from the write model at scrape time (tasks by state, agents) and,
//! on a leader with `--nats`, the JetStream mirror's progress and lag.

use std::collections::BTreeMap;
use std::time::Instant;

use aurora_events::ScheduleStatus;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use strum::IntoEnumIterator;

use crate::runtime::Runtime;

#[derive(Clone)]
struct MetricsState {
    runtime: Runtime,
    handle: PrometheusHandle,
    /// When the routes were made, at startup: `jvm_uptime_secs` counts from here.
    started: Instant,
}

/// The `/metrics` route, rendering what `handle`'s recorder collected, and Aurora's `/vars`
/// and `/vars.json` (see `vars.rs`) from the same figures.
pub fn router(runtime: Runtime, handle: PrometheusHandle) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .route("/vars", get(vars_text))
        .route("/vars.json", get(vars_json))
        .with_state(MetricsState {
            runtime,
            handle,
            started: Instant::now(),
        })
}

/// Aurora's vars, from the recorder and the write model.
fn current_vars(metrics: &MetricsState) -> BTreeMap<String, serde_json::Value> {
    let state = metrics.runtime.state();
    let mut tasks: BTreeMap<ScheduleStatus, u64> = BTreeMap::new();
    for task in state.tasks() {
        *tasks.entry(task.status).or_default() += 1;
    }
    let facts = super::vars::Facts {
        uptime_secs: metrics.started.elapsed().as_secs(),
        leading: metrics.runtime.is_leader(),
        tasks,
    };
    super::vars::vars(&facts, &metrics.handle.render())
}

async fn vars_text(State(metrics): State<MetricsState>) -> impl IntoResponse {
    let text = super::vars::text(&current_vars(&metrics));
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text)
}

async fn vars_json(State(metrics): State<MetricsState>) -> impl IntoResponse {
    axum::Json(current_vars(&metrics))
}

async fn render(State(metrics): State<MetricsState>) -> impl IntoResponse {
    let mut text = metrics.handle.render();
    let state = metrics.runtime.state();
    let mut by_state: BTreeMap<ScheduleStatus, u64> =
        ScheduleStatus::iter().map(|s| (s, 0)).collect();
    for task in state.tasks() {
        *by_state.entry(task.status).or_default() += 1;
    }
    text.push_str("# TYPE aurora_tasks gauge\n");
    for (status, count) in by_state {
        text.push_str(&format!("aurora_tasks{{state=\"{status}\"}} {count}\n"));
    }
    let lost = state.agents().values().filter(|a| a.lost).count();
    text.push_str("# TYPE aurora_agents gauge\n");
    text.push_str(&format!(
        "aurora_agents{{lost=\"false\"}} {}\n",
        state.agents().len() - lost
    ));
    text.push_str(&format!("aurora_agents{{lost=\"true\"}} {lost}\n"));
    let journal_last = metrics.runtime.journal().last_seq();
    text.push_str("# TYPE aurora_journal_last_seq gauge\n");
    text.push_str(&format!("aurora_journal_last_seq {journal_last}\n"));
    // Only the leader publishes; elsewhere these figures would be stale.
    if let Some(mirror) = metrics.runtime.mirror()
        && metrics.runtime.is_leader()
    {
        mirror.render_metrics(journal_last, &mut text);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}
