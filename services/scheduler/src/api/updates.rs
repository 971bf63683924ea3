//! Update mutations: start, rolling restart, pause/resume/abort/rollback, pulse. The shapes
//! are `aurora_api`'s (see `services/api/src/updates.rs` for the routes).

use aurora_api::{
    PulseResult, PulseStatus, RollingRestart, StartUpdate, UNCHANGED, UpdateAction, UpdateStarted,
};
use aurora_events::{UpdateKey, Uuid};
use aurora_scheduler_core::commands::{self, PulseUpdate, Steer, SteerUpdate};
use aurora_scheduler_core::{Command, Rejection};
use aurora_web::path::Path;
use axum::extract::State;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::routing::post;
use axum::{Json, Router};

use super::jobs::job_key;
use super::{Committed, Failure};
use crate::auth::Caller;
use crate::leader::SubmitError;
use crate::runtime::Runtime;
use aurora_auth::Action;
use aurora_events::Actor;

pub(super) fn router(runtime: Runtime) -> Router {
    Router::new()
        .route("/api/v1/jobs/{role}/{env}/{name}/update", post(start))
        .route(
            "/api/v1/jobs/{role}/{env}/{name}/rolling-restart",
            post(rolling_restart),
        )
        .route(
            "/api/v1/jobs/{role}/{env}/{name}/update/{action}",
            post(steer),
        )
        .route(
            "/api/v1/updates/{role}/{env}/{name}/{id}/pulse",
            post(pulse),
        )
        .with_state(runtime)
}

async fn start(
    State(runtime): State<Runtime>,
    Path((role, env, name)): Path<(String, String, String)>,
    caller: Caller,
    body: Result<Json<StartUpdate>, JsonRejection>,
) -> Result<Json<UpdateStarted>, Failure> {
    let job = job_key(&role, &env, &name)?;
    let actor = caller.authorize(Action::UpdateStart, Some(&role))?;
    let Json(request) = body?;
    let name = job.to_string();
    let command = Command::StartUpdate(commands::StartUpdate {
        job,
        config: Box::new(request.config),
        instances: request.instances,
        settings: request.settings,
        metadata: request.metadata,
        message: request.message,
    });
    started(&runtime, actor, name, command).await
}

async fn rolling_restart(
    State(runtime): State<Runtime>,
    Path((role, env, name)): Path<(String, String, String)>,
    caller: Caller,
    body: Result<Json<RollingRestart>, JsonRejection>,
) -> Result<Json<UpdateStarted>, Failure> {
    let job = job_key(&role, &env, &name)?;
    let actor = caller.authorize(Action::UpdateStart, Some(&role))?;
    let Json(request) = body?;
    let name = job.to_string();
    let command = Command::RollingRestart(commands::RollingRestart {
        job,
        instances: request.instances,
        settings: request.settings,
        metadata: request.metadata,
        message: request.message,
    });
    started(&runtime, actor, name, command).await
}

/// Submits a start; answers the update it started (or found, for a retry), or Aurora's OK with
/// "unchanged" when there was nothing to do.
async fn started(
    runtime: &Runtime,
    actor: Actor,
    job: String,
    command: Command,
) -> Result<Json<UpdateStarted>, Failure> {
    match runtime.submit(actor, command).await {
        Ok(outcome) => Ok(Json(UpdateStarted {
            job,
            id: outcome.decision.update.map(|key| key.id),
            first_seq: outcome.committed.map(|r| r.first),
            last_seq: outcome.committed.map(|r| r.last),
            message: None,
        })),
        Err(SubmitError::Rejected(Rejection::UpdateUnchanged)) => Ok(Json(UpdateStarted {
            job,
            id: None,
            first_seq: None,
            last_seq: None,
            message: Some(UNCHANGED.into()),
        })),
        Err(other) => Err(other.into()),
    }
}

async fn steer(
    State(runtime): State<Runtime>,
    Path((role, env, name, action)): Path<(String, String, String, String)>,
    caller: Caller,
    body: Result<axum::body::Bytes, BytesRejection>,
) -> Result<Json<Committed>, Failure> {
    let job = job_key(&role, &env, &name)?;
    let (steer, permission) = match action.as_str() {
        "pause" => (Steer::Pause, Action::UpdatePause),
        "resume" => (Steer::Resume, Action::UpdateResume),
        "abort" => (Steer::Abort, Action::UpdateAbort),
        "rollback" => (Steer::Rollback, Action::UpdateRollback),
        other => {
            return Err(Failure::not_found(format!(
                "no update action {other:?}; the actions are pause, resume, abort and rollback"
            )));
        }
    };
    let actor = caller.authorize(permission, Some(&role))?;
    let request: UpdateAction = super::optional_json(&body?)?;
    let command = Command::SteerUpdate(SteerUpdate {
        job,
        steer,
        message: request.message,
    });
    let outcome = runtime.submit(actor, command).await?;
    let message = outcome
        .committed
        .is_none()
        .then(|| "The update was already in that state.".to_string());
    Ok(Json(super::committed(outcome.committed, message)))
}

async fn pulse(
    State(runtime): State<Runtime>,
    Path((role, env, name, id)): Path<(String, String, String, String)>,
    caller: Caller,
) -> Result<Json<PulseResult>, Failure> {
    let job = job_key(&role, &env, &name)?;
    let actor = caller.authorize(Action::UpdatePulse, Some(&role))?;
    let id: Uuid = id
        .parse()
        .map_err(|_| Failure::invalid(format!("invalid update id {id:?}")))?;
    let command = Command::PulseUpdate(PulseUpdate {
        update: UpdateKey { job, id },
    });
    match runtime.submit(actor, command).await {
        Ok(_) => Ok(Json(PulseResult {
            status: PulseStatus::Ok,
        })),
        Err(SubmitError::Rejected(Rejection::UpdateNotActive(_))) => Ok(Json(PulseResult {
            status: PulseStatus::Finished,
        })),
        Err(other) => Err(other.into()),
    }
}
