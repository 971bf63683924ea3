//! `/cron`: every cron job with its schedule, collision policy, instances, next run and what
//! its last run did (Aurora's `/cron` lists the same), live or `?at=` any past moment.

use crate::query::Query;
use askama::Template;
use aurora_events::cron::CronSchedule;
use aurora_events::{JobKey, Timestamp};
use aurora_projections::{CronView, Queries};
use axum::extract::State;
use axum::response::Response;

use super::{AtQuery, Layout, PageError, json, read, render, wants_json};
use crate::WebState;

#[derive(Template)]
#[template(path = "cron.html")]
struct CronPage {
    layout: Layout,
    jobs: Vec<CronRow>,
    /// The zone schedules are read in.
    zone: String,
}

struct CronRow {
    role: String,
    env: String,
    name: String,
    schedule: String,
    policy: String,
    instances: u32,
    active: u64,
    /// When it next fires, from now (live pages only).
    next: String,
    last: String,
    outcome: String,
}

fn row(job: &JobKey, cron: &CronView, active: u64, next: Option<Timestamp>) -> CronRow {
    CronRow {
        role: job.role.to_string(),
        env: job.environment.to_string(),
        name: job.name.to_string(),
        schedule: cron.schedule.clone(),
        policy: cron.collision_policy.to_string(),
        instances: cron.instances,
        active,
        next: next.map_or_else(|| "—".to_string(), Timestamp::to_utc_string),
        last: cron
            .last_triggered
            .map_or_else(|| "never".to_string(), Timestamp::to_utc_string),
        outcome: cron
            .last_outcome
            .map_or_else(String::new, |outcome| outcome.to_string()),
    }
}

pub async fn page(
    State(state): State<WebState>,
    Query(at): Query<AtQuery>,
    headers: axum::http::HeaderMap,
) -> Result<Response, PageError> {
    if wants_json(&headers) {
        return Ok(scheduled(&state, &at)
            .await
            .unwrap_or_else(PageError::into_json));
    }
    let live = at.at.is_none();
    let zone = state.cron_zone.clone();
    let now = Timestamp::from_millis(jiff::Timestamp::now().as_millisecond());
    let (jobs, moment) = read(&state, "/cron", &at, move |views| {
        let mut jobs = Vec::new();
        for role in views.roles().into_iter().filter(|r| r.crons > 0) {
            let Some(view) = views.role(role.role.as_str()) else {
                continue;
            };
            for summary in view.jobs.iter().filter(|j| j.is_cron) {
                let Some(job) = views.job(&summary.job) else {
                    continue;
                };
                let Some(cron) = &job.cron else {
                    continue;
                };
                // A next run is a prediction from now: a past page shows what was.
                let next = live
                    .then(|| CronSchedule::parse(&cron.schedule).ok())
                    .flatten()
                    .and_then(|schedule| schedule.next_after(now, &zone));
                jobs.push(row(
                    &job.job,
                    cron,
                    job.tasks.active + job.tasks.pending,
                    next,
                ));
            }
        }
        jobs
    })
    .await?;
    render(&CronPage {
        layout: moment.layout(&state, "Cron jobs".into(), "cron"),
        jobs,
        zone: state.cron_zone.iana_name().unwrap_or("UTC").to_string(),
    })
}

/// Aurora's `/cron` JSON: `{"scheduled": {"role/env/name": "<schedule>"}}`.
async fn scheduled(state: &WebState, at: &AtQuery) -> Result<Response, PageError> {
    let (entries, _) = read(state, "/cron", at, |views| {
        let mut entries = serde_json::Map::new();
        for role in views.roles().into_iter().filter(|r| r.crons > 0) {
            let Some(view) = views.role(role.role.as_str()) else {
                continue;
            };
            for summary in view.jobs.iter().filter(|j| j.is_cron) {
                if let Some(cron) = views.job(&summary.job).and_then(|job| job.cron) {
                    entries.insert(summary.job.to_string(), cron.schedule.into());
                }
            }
        }
        entries
    })
    .await?;
    Ok(json(&serde_json::json!({ "scheduled": entries })))
}
