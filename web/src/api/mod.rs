//! The read half of the JSON API under `/api/v1` (Aurora's `ReadOnlyScheduler` surface): job
//! summaries, tasks with or without configs, config summaries, pending reasons, quota, updates,
//! host status, and the history queries (`at`, a task's history, `why`, cluster diff). It
//! answers from a [`ReadModel`] alone, so the scheduler and the standalone read side
//! (`aurora-web --nats`) serve the same answers from the same code.
//!
//! Errors are `{"code", "message"}` with a 4xx naming what was wrong, as everywhere in the API.

pub mod audit;
mod diff;
pub mod parse;
mod past;
mod reads;
mod why;

use std::sync::Arc;

use aurora_api::ApiError;
use aurora_events::{Identifier, JobKey};
use aurora_projections::ReadModel;
use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

pub use diff::ClusterDiff;
pub use why::Why;

/// Every read route, answering from `read`.
pub fn router(read: Arc<ReadModel>) -> Router {
    reads::router(read)
}

/// A read that failed: its status and the API's error body.
#[derive(Debug)]
pub struct Failure(pub StatusCode, pub ApiError);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

impl Failure {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::with(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::with(StatusCode::INTERNAL_SERVER_ERROR, "ERROR", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::with(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    /// A 503 the client may retry (`ERROR_TRANSIENT`): the server is at a limit for now.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::with(StatusCode::SERVICE_UNAVAILABLE, "ERROR_TRANSIENT", message)
    }

    fn with(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Failure(
            status,
            ApiError {
                code: code.into(),
                message: message.into(),
            },
        )
    }
}

/// The job a path names, or a 400 saying which part is not an identifier.
fn job_key(role: &str, env: &str, name: &str) -> Result<JobKey, Failure> {
    JobKey::new(role, env, name).map_err(|e| Failure::invalid(e.to_string()))
}

/// The role a path names.
fn role(role: &str) -> Result<Identifier, Failure> {
    Identifier::new(role).map_err(|e| Failure::invalid(e.to_string()))
}
