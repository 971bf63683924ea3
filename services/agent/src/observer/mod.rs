//! The observer (Thermos observer equivalent): a read-only HTTP view of the tasks on this agent,
//! so that operators and the UI can see process states, read logs and browse sandboxes without
//! a shell on the host. The agent advertises its URL as its `endpoint` when it registers.
//!
//! ```text
//!  GET /tasks                                   ["<task id>", ...]  (running or with a sandbox)
//!  GET /tasks/{task}                            {task, running, processes: [...]}
//!  GET /tasks/{task}/logs/{process}/{stream}    text/plain (?run=N, ?tail=BYTES, ?download=true)
//!  GET /tasks/{task}/browse[/{*path}]           a directory listing (JSON) or a file (text/plain)
//! ```
//!
//! It never writes and never reads outside `<work_dir>/sandboxes/<task>`: every path (log files
//! included, since a task can replace its own logs with symlinks) is resolved by `paths.rs`,
//! which refuses `..`, absolute paths and symlinks whose real location is outside the sandbox.
//! Refusals and misses answer a JSON `{code, message}` ([`ObserverError`]).
//!
//! Live process states come from the agent's [`Running`] map (shared with the daemon, which
//! removes a task once its executor reported the end); a finished task's processes are what
//! its `.logs/` directory still shows.

mod logs;
mod paths;
mod routes;

use std::path::PathBuf;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokio::sync::watch;

use crate::daemon::Running;

pub use logs::{DEFAULT_TAIL, LogStream, MAX_TAIL};
pub use paths::{contained, relative_path, resolve, validate_process, validate_task_id};
pub use routes::{DirEntry, DirListing, ProcessView, TaskView, observer_router};

/// What the observer reads: the sandboxes directory and the live executors.
#[derive(Debug, Clone)]
pub struct ObserverState {
    /// `<work_dir>/sandboxes`; task `t`'s sandbox is `sandboxes/t`.
    pub sandboxes: PathBuf,
    pub running: Running,
}

impl ObserverState {
    pub fn new(sandboxes: impl Into<PathBuf>, running: Running) -> Self {
        Self {
            sandboxes: sandboxes.into(),
            running,
        }
    }
}

/// Serves the observer on `listener` until `shutdown` becomes true.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ObserverState,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    axum::serve(listener, observer_router(state))
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await
}

/// Why a request was refused or found nothing. Rejections (4xx) name the offending input;
/// internal faults (5xx) are logged and answered with a generic message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObserverError {
    #[error("task id {0:?} must be one path component (no '/', not '.' or '..')")]
    InvalidTaskId(String),
    #[error("process name {0:?} must be one path component (no '/', not '.' or '..')")]
    InvalidProcess(String),
    #[error("log stream {0:?} must be 'stdout' or 'stderr'")]
    InvalidStream(String),
    #[error("path {0:?} is not a valid sandbox path")]
    InvalidPath(String),
    #[error("path {0:?} has a '..' component; paths must stay inside the sandbox")]
    ParentComponent(String),
    #[error("path {0:?} is absolute; paths are relative to the sandbox")]
    AbsolutePath(String),
    #[error("path {0:?} resolves (through a symlink) outside the sandbox")]
    EscapesSandbox(String),
    #[error("no task {0:?} on this agent")]
    UnknownTask(String),
    #[error("{0:?} not found in the sandbox")]
    NotFound(String),
    /// The detail is logged, not sent.
    #[error("internal error: {0}")]
    Io(String),
}

/// The JSON body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ErrorBody {
    /// Stable and machine-readable, e.g. `parent_component`, `escapes_sandbox`, `not_found`.
    pub code: String,
    pub message: String,
}

impl ObserverError {
    pub fn status(&self) -> StatusCode {
        match self {
            ObserverError::InvalidTaskId(_)
            | ObserverError::InvalidProcess(_)
            | ObserverError::InvalidStream(_)
            | ObserverError::InvalidPath(_)
            | ObserverError::ParentComponent(_)
            | ObserverError::AbsolutePath(_) => StatusCode::BAD_REQUEST,
            ObserverError::EscapesSandbox(_) => StatusCode::FORBIDDEN,
            ObserverError::UnknownTask(_) | ObserverError::NotFound(_) => StatusCode::NOT_FOUND,
            ObserverError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ObserverError::InvalidTaskId(_) => "invalid_task_id",
            ObserverError::InvalidProcess(_) => "invalid_process",
            ObserverError::InvalidStream(_) => "invalid_stream",
            ObserverError::InvalidPath(_) => "invalid_path",
            ObserverError::ParentComponent(_) => "parent_component",
            ObserverError::AbsolutePath(_) => "absolute_path",
            ObserverError::EscapesSandbox(_) => "escapes_sandbox",
            ObserverError::UnknownTask(_) => "unknown_task",
            ObserverError::NotFound(_) => "not_found",
            ObserverError::Io(_) => "internal",
        }
    }
}

impl IntoResponse for ObserverError {
    fn into_response(self) -> Response {
        let message = match &self {
            ObserverError::Io(detail) => {
                tracing::warn!(%detail, "observer request failed");
                "internal error reading the sandbox (see the agent's log)".to_string()
            }
            ObserverError::InvalidTaskId(_)
            | ObserverError::InvalidProcess(_)
            | ObserverError::InvalidStream(_)
            | ObserverError::InvalidPath(_)
            | ObserverError::ParentComponent(_)
            | ObserverError::AbsolutePath(_)
            | ObserverError::EscapesSandbox(_)
            | ObserverError::UnknownTask(_)
            | ObserverError::NotFound(_) => self.to_string(),
        };
        let body = ErrorBody {
            code: self.code().to_string(),
            message,
        };
        (self.status(), Json(body)).into_response()
    }
}
