//! # aurora-web
//!
//! The read-only, server-rendered web UI (Aurora's "heads-up display"): axum handlers that ask
//! the projections ([`aurora_projections::Queries`]) and render askama templates. No JavaScript
//! framework; the only script is a few lines that prepend live events on `/events`.
//!
//! ```text
//! request ──► handler ──► moment (?at=) ──► ReadModel: live views | past views (replayed)
//!                                              │
//!                                              └─► Queries ──► owned views ──► template ──► HTML
//! ```
//!
//! Every page accepts `?at=<seq|RFC 3339 time>` and then shows the cluster as it was, under a
//! banner with links one and a hundred events back and forward; links on a past page keep the
//! same moment. Templates escape every value (askama's HTML escaping is on for `.html`); no
//! value is marked safe.
//!
//! Routes: `/scheduler`, `/scheduler/{role}`, `/scheduler/{role}/{env}`,
//! `/scheduler/{role}/{env}/{job}`, `/scheduler/{role}/{env}/{job}/history`, `/tasks/{id}`,
//! `/updates`, `/updates/{role}/{env}/{job}/{id}`, `/quotas`, `/maintenance`, `/events`, `/audit`, `/cron`,
//! `/agents` (`/slaves`), `/events/stream` (server-sent events), `/health`; `/` redirects to
//! `/scheduler`. Aurora's JSON endpoints for scripts: `/offers`, `/pendingtasks`, `/state`,
//! `/tiers`, and `/maintenance`, `/quotas`, `/cron` and `/agents` to a client that does not ask
//! for HTML.
//!
//! An update's page draws each instance as a cell in the order the update works them
//! (`batches.rs`, `progress.rs`) and shows what it changes as a line diff of the configs
//! (`config_diff.rs`); all three are pure and unit-tested.
//!
//! [`api`] is the read half of the JSON API (`/api/v1/...`), over the same projections, so that
//! the scheduler and the standalone read side answer reads with the same code.
//!
//! The UI reads projections only. It must not depend on the journal, the scheduler's write model,
//! storage (`rocksdb`) or messaging (`async-nats`); `ops/check-layering` enforces this.

pub mod api;
mod batches;
mod config_diff;
mod feed;
mod format;
pub mod gate;
mod moment;
mod pages;
pub mod path;
mod progress;
pub mod query;
pub mod rejected;
mod timeline;

use std::sync::Arc;

use axum::Router;
use axum::response::Redirect;
use axum::routing::get;

use aurora_projections::ReadModel;
pub use moment::{AtQuery, Requested, parse as parse_at, resolve as resolve_at};

/// What the pages need from the process serving them.
#[derive(Debug, Clone)]
pub struct WebState {
    /// The cluster's name, shown on every page.
    pub cluster: String,
    pub read: Arc<ReadModel>,
    /// A warning shown at the top of every page while it holds: the scheduler runs without
    /// authentication (`--insecure-no-auth`), say.
    pub warning: Option<String>,
    /// The zone cron schedules are read in (the scheduler's `--cron-timezone`), for next runs.
    pub cron_zone: jiff::tz::TimeZone,
    /// What each task's executor holds on its agent beside the task's own resources (the
    /// scheduler's setting): an agent's free resources are counted as placement counts them.
    pub executor_overhead: aurora_events::ResourceAggregate,
}

/// The scheduler's default executor overhead per task (Aurora's: a quarter cpu, 128 MiB),
/// for a read side that is not told the scheduler's.
pub const DEFAULT_EXECUTOR_OVERHEAD: aurora_events::ResourceAggregate =
    aurora_events::ResourceAggregate {
        cpus: 0.25,
        ram_mb: 128,
        disk_mb: 0,
    };

/// `--cron-timezone NAME` (the scheduler's and aurora-web's): GMT and UTC need no tz
/// database; other names are looked up in the system's.
pub fn cron_timezone(name: &str) -> Result<jiff::tz::TimeZone, String> {
    if ["GMT", "UTC", "Etc/GMT", "Etc/UTC"].contains(&name) {
        return Ok(jiff::tz::TimeZone::UTC);
    }
    jiff::tz::TimeZone::get(name).map_err(|e| {
        format!(
            "{name:?} is not a time zone this machine knows ({e}); try GMT or an IANA name such as Europe/London"
        )
    })
}

/// The UI's routes.
pub fn app(state: WebState) -> Router {
    use pages::{cluster, events, jobs, updates};
    Router::new()
        .route("/", get(|| async { Redirect::to("/scheduler") }))
        .route("/health", get(health))
        .route("/scheduler", get(cluster::home))
        .route("/scheduler/{role}", get(cluster::role))
        .route("/scheduler/{role}/{env}", get(cluster::environment))
        .route("/scheduler/{role}/{env}/{job}", get(jobs::job))
        .route("/scheduler/{role}/{env}/{job}/history", get(jobs::history))
        .route("/tasks/{task}", get(jobs::task))
        .route("/updates", get(updates::list))
        .route("/updates/{role}/{env}/{job}/{id}", get(updates::update))
        .route("/quotas", get(cluster::quotas))
        .route("/maintenance", get(cluster::maintenance))
        .route("/events", get(events::page))
        .route("/audit", get(pages::audit::page))
        .route("/cron", get(pages::cron::page))
        .route("/agents", get(pages::admin::agents))
        .route("/slaves", get(pages::admin::agents))
        .route("/offers", get(pages::admin::offers))
        .route("/pendingtasks", get(pages::admin::pending_tasks))
        .route("/state", get(pages::admin::state_dump))
        .route("/tiers", get(pages::admin::tiers))
        .route(
            "/events/stream",
            get(events::stream).layer(axum::Extension(Arc::new(feed::Feed::new(
                Arc::clone(&state.read),
                events::sse_frame,
            )))),
        )
        .route("/static/aurora.css", get(pages::stylesheet))
        .fallback(pages::not_found)
        .with_state(state)
}

/// Liveness, as Aurora's `/health`: 200 with body `OK` once the process serves requests.
async fn health() -> &'static str {
    "OK"
}
