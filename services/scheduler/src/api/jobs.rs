//! Job mutations: create, kill, restart, add instances.

use std::collections::BTreeSet;

use aurora_api::CreateJob;
use aurora_events::{InstanceId, JobKey};
use aurora_scheduler_core::Command;
use aurora_scheduler_core::commands::{self, AddInstances, KillTasks, RestartInstances};
use aurora_web::path::Path;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;

use super::{Committed, Failure};
use crate::auth::Caller;
use crate::runtime::Runtime;
use aurora_auth::Action;

pub(super) fn router(runtime: Runtime) -> Router {
    Router::new()
        .route("/api/v1/jobs", post(create_job))
        .route("/api/v1/jobs/{role}/{env}/{name}/kill", post(kill))
        .route("/api/v1/jobs/{role}/{env}/{name}/restart", post(restart))
        .route("/api/v1/jobs/{role}/{env}/{name}/add", post(add_instances))
        .with_state(runtime)
}

/// A `role/env/name` from a request body, or a 400 naming what is wrong with it.
pub(super) fn parse_job_key(text: &str) -> Result<JobKey, Failure> {
    text.parse()
        .map_err(|e: aurora_events::Error| Failure::invalid(e.to_string()))
}

pub(super) fn job_key(role: &str, env: &str, name: &str) -> Result<JobKey, Failure> {
    JobKey::new(role, env, name).map_err(|e| Failure::invalid(e.to_string()))
}

async fn create_job(
    State(runtime): State<Runtime>,
    caller: Caller,
    body: Result<Json<CreateJob>, JsonRejection>,
) -> Result<Json<Committed>, Failure> {
    let Json(request) = body?;
    let job = parse_job_key(&request.job)?;
    let actor = caller.authorize(Action::JobCreate, Some(job.role.as_str()))?;
    let command = Command::CreateJob(commands::CreateJob {
        job,
        config: Box::new(request.config),
        instances: request.instances,
    });
    let outcome = runtime.submit(actor, command).await?;
    Ok(Json(super::committed(outcome.committed, None)))
}

#[derive(Debug, Default, Deserialize)]
struct KillRequest {
    instances: Option<BTreeSet<InstanceId>>,
    message: Option<String>,
}

async fn kill(
    State(runtime): State<Runtime>,
    Path((role, env, name)): Path<(String, String, String)>,
    caller: Caller,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<Committed>, Failure> {
    let job = job_key(&role, &env, &name)?;
    let actor = caller.authorize(Action::JobKill, Some(&role))?;
    let request: KillRequest = super::optional_json(&body?)?;
    let command = Command::KillTasks(KillTasks {
        job,
        instances: request.instances,
        message: request.message,
    });
    let outcome = runtime.submit(actor, command).await?;
    let message = outcome
        .decision
        .events
        .is_empty()
        .then(|| "No tasks to kill.".to_string());
    Ok(Json(super::committed(outcome.committed, message)))
}

#[derive(Debug, Default, Deserialize)]
struct RestartRequest {
    instances: Option<BTreeSet<InstanceId>>,
}

async fn restart(
    State(runtime): State<Runtime>,
    Path((role, env, name)): Path<(String, String, String)>,
    caller: Caller,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<Committed>, Failure> {
    let job = job_key(&role, &env, &name)?;
    let actor = caller.authorize(Action::JobRestart, Some(&role))?;
    let request: RestartRequest = super::optional_json(&body?)?;
    let outcome = runtime
        .submit(
            actor,
            Command::RestartInstances(RestartInstances {
                job,
                instances: request.instances,
            }),
        )
        .await?;
    Ok(Json(super::committed(outcome.committed, None)))
}

#[derive(Debug, Deserialize)]
struct AddRequest {
    template: InstanceId,
    count: u32,
}

async fn add_instances(
    State(runtime): State<Runtime>,
    Path((role, env, name)): Path<(String, String, String)>,
    caller: Caller,
    body: Result<Json<AddRequest>, JsonRejection>,
) -> Result<Json<Committed>, Failure> {
    let job = job_key(&role, &env, &name)?;
    let actor = caller.authorize(Action::JobAddInstances, Some(&role))?;
    let Json(request) = body?;
    let command = Command::AddInstances(AddInstances {
        job,
        template: request.template,
        count: request.count,
    });
    let outcome = runtime.submit(actor, command).await?;
    Ok(Json(super::committed(outcome.committed, None)))
}
