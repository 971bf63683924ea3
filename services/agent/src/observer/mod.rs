//! The observer (Thermos observer equivalent): an HTTP view of the tasks on this agent, so that
//! operators and the UI can see process states, read logs and browse sandboxes without a shell
//! on the host, and, for authorised users, what Aurora's `task run`, `task ssh` and `task scp`
//! did over ssh: run a command in a task's sandbox and copy files into it. The agent advertises
//! its URL as its `endpoint` when it registers; the scheduler's task API shows it as `observer`.
//!
//! ```text
//!  GET /tasks                                   ["<task id>", ...]  (running or with a sandbox)
//!  GET /tasks/{task}                            {task, running, processes: [...]}
//!  GET /tasks/{task}/logs/{process}/{stream}    text/plain (?run=N, ?tail=BYTES, ?download=true)
//!  GET /tasks/{task}/browse[/{*path}]           a directory listing (JSON) or a file (text/plain)
//!  POST /tasks/{task}/run                       {command, timeout_secs?} -> RunResult (JSON)
//!  PUT /tasks/{task}/files/{*path}              the file's bytes (?mode=0644) -> {path, size}
//! ```
//!
//! The two writing routes serve running tasks only (the role they belong to decides who may)
//! and need a caller with the right to create the role's tasks; see `auth.rs` for the policy
//! (closed unless the agent has `--auth FILE` or `--insecure-no-auth`), `exec.rs` for how
//! commands run (bash in the sandbox, time and output bounded) and `upload.rs` for writes.
//!
//! A task owns its sandbox and may be hostile to the observer: it can plant symlinks (its logs
//! included), swap directories for symlinks while a request runs, or leave FIFOs and sockets to
//! be opened. Hence:
//! - it never writes and never reads outside `<work_dir>/sandboxes/<task>`: URL paths are
//!   checked lexically by `paths.rs` (no `..`, no absolute paths), then opened by `sandbox.rs`
//!   relative to the sandbox's directory descriptor with `openat2(RESOLVE_BENEATH)`, so the
//!   kernel refuses an escape at the moment of the open (no check-then-open race); a write
//!   goes to a new file beside its target, renamed over it, so it never follows a symlink;
//! - it reads regular files and directories only, and opens nothing that could block;
//! - its filesystem work runs on its own few threads (`pool.rs`), never on tokio's blocking pool
//!   (which the scheduler's journal uses when `aurora-scheduler --dev` embeds an agent); when
//!   they are all taken a request answers 503 rather than wait;
//! - file bodies (tails and downloads) are streamed in bounded chunks (`body.rs`).
//!
//! Commands run by `POST /run` are not confined: they run as the agent's user, as the task's
//! own processes do, which is why they need the role's permission.
//!
//! Refusals and misses answer a JSON `{code, message}` ([`ObserverError`]).
//!
//! Live process states come from the agent's [`Running`] map (shared with the daemon, which
//! removes a task once its executor reported the end); a finished task's processes are what
//! its `.logs/` directory still shows.

pub mod auth;
mod body;
pub mod exec;
mod logs;
pub mod paths;
mod pool;
mod routes;
mod sandbox;
pub mod upload;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokio::sync::watch;

use crate::daemon::Running;

pub use auth::ObserverAuth;
pub use body::CHUNK;
pub use exec::{MAX_COMMAND, MAX_OUTPUT, RunRequest, RunResult};
pub use logs::{DEFAULT_TAIL, LogStream, MAX_TAIL};
pub use paths::{relative_path, validate_process, validate_task_id};
pub use pool::{FS_SLOTS, FS_THREADS};
pub use routes::{DirEntry, DirListing, ProcessView, TaskView, observer_router};
pub use upload::{MAX_UPLOAD, Uploaded};

/// What the observer reads: the sandboxes directory and the live executors; the threads it
/// reads with; and who may do what.
#[derive(Debug, Clone)]
pub struct ObserverState {
    /// `<work_dir>/sandboxes`; task `t`'s sandbox is `sandboxes/t`.
    pub sandboxes: PathBuf,
    pub running: Running,
    /// Shared by every clone; its threads end when the last clone is dropped.
    pool: Arc<pool::FsPool>,
    auth: ObserverAuth,
    /// Commands running at once (`POST /run`), at most [`exec::MAX_RUNS`].
    runs: Arc<tokio::sync::Semaphore>,
    /// The largest file `PUT` accepts ([`MAX_UPLOAD`] unless told otherwise).
    max_upload: u64,
}

impl ObserverState {
    /// Starts the observer's [`FS_THREADS`] file threads. The auth policy is closed (reads
    /// open, commands and writes refused) until [`Self::with_auth`] says otherwise.
    pub fn new(sandboxes: impl Into<PathBuf>, running: Running) -> Self {
        Self {
            sandboxes: sandboxes.into(),
            running,
            pool: Arc::new(pool::FsPool::new(FS_THREADS, FS_SLOTS)),
            auth: ObserverAuth::closed(),
            runs: Arc::new(tokio::sync::Semaphore::new(exec::MAX_RUNS)),
            max_upload: MAX_UPLOAD,
        }
    }

    /// The same observer under the policy `auth`.
    pub fn with_auth(mut self, auth: ObserverAuth) -> Self {
        self.auth = auth;
        self
    }

    /// The same observer accepting files of at most `bytes`.
    pub fn with_max_upload(mut self, bytes: u64) -> Self {
        self.max_upload = bytes;
        self
    }
}

/// Serves the observer on `listener` until `shutdown` becomes true: HTTPS with `tls`, and
/// with the same connection cap and header-read timeout as the scheduler.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ObserverState,
    tls: Option<aurora_net::ServerTls>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    aurora_net::serve(
        listener,
        observer_router(state),
        aurora_net::Limits {
            // `aurora task scp` uploads files of any size into sandboxes, which may take
            // longer than any fixed bound; uploads need an authorised caller.
            body_read_timeout: None,
            ..aurora_net::Limits::default()
        },
        tls,
        async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        },
    )
    .await;
    Ok(())
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
    #[error("path {0:?} goes through a symlink loop or a /proc magic link")]
    UnresolvableLink(String),
    #[error("{path:?} is {kind}; the observer serves regular files and directories only")]
    NotRegular { path: String, kind: &'static str },
    #[error("no task {0:?} on this agent")]
    UnknownTask(String),
    #[error("{0:?} not found in the sandbox")]
    NotFound(String),
    /// Every observer file thread is taken: retry shortly.
    #[error("the observer is busy reading other sandboxes; retry shortly")]
    Busy,
    /// Without `openat2` the observer cannot open a path race-free, so it reads no sandbox.
    #[error(
        "this kernel lacks openat2 (Linux 5.6 or later); the observer does not read sandboxes \
         without it, since paths could not be kept inside them safely"
    )]
    NoSafeOpen,
    /// No or bad credentials where they are needed.
    #[error("{0}")]
    Unauthenticated(String),
    /// Authenticated, without the permission.
    #[error("{0}")]
    Forbidden(String),
    /// Neither `--auth` nor `--insecure-no-auth`: the observer runs and writes nothing.
    #[error(
        "this agent does not run commands or accept files (task run/ssh/scp): start it with \
         --auth FILE (the scheduler's users file) or, on a trusted network, --insecure-no-auth"
    )]
    ExecDisabled,
    /// Commands run and files are written only in a running task's sandbox.
    #[error(
        "task {0:?} is not running on this agent: commands run, and files are copied in, only \
         while a task runs (a finished task's sandbox can still be read)"
    )]
    NotRunning(String),
    /// A malformed request body or parameter.
    #[error("{0}")]
    BadRequest(String),
    #[error("the body is larger than the {max} bytes this observer accepts")]
    TooLarge { max: u64 },
    #[error("{0:?} is a directory")]
    IsDirectory(String),
    /// Every command slot is taken: retry shortly.
    #[error("the observer is running as many commands as it may; retry shortly")]
    RunsBusy,
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
            | ObserverError::AbsolutePath(_)
            | ObserverError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ObserverError::EscapesSandbox(_)
            | ObserverError::UnresolvableLink(_)
            | ObserverError::NotRegular { .. }
            | ObserverError::Forbidden(_)
            | ObserverError::ExecDisabled => StatusCode::FORBIDDEN,
            ObserverError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ObserverError::UnknownTask(_) | ObserverError::NotFound(_) => StatusCode::NOT_FOUND,
            ObserverError::NotRunning(_) | ObserverError::IsDirectory(_) => StatusCode::CONFLICT,
            ObserverError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ObserverError::Busy | ObserverError::RunsBusy => StatusCode::SERVICE_UNAVAILABLE,
            ObserverError::NoSafeOpen => StatusCode::NOT_IMPLEMENTED,
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
            ObserverError::UnresolvableLink(_) => "unresolvable_link",
            ObserverError::NotRegular { .. } => "not_a_regular_file",
            ObserverError::UnknownTask(_) => "unknown_task",
            ObserverError::NotFound(_) => "not_found",
            ObserverError::Busy | ObserverError::RunsBusy => "busy",
            ObserverError::NoSafeOpen => "no_safe_open",
            ObserverError::Unauthenticated(_) => "unauthenticated",
            ObserverError::Forbidden(_) => "forbidden",
            ObserverError::ExecDisabled => "exec_disabled",
            ObserverError::NotRunning(_) => "not_running",
            ObserverError::BadRequest(_) => "bad_request",
            ObserverError::TooLarge { .. } => "too_large",
            ObserverError::IsDirectory(_) => "is_a_directory",
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
            ObserverError::NoSafeOpen => {
                tracing::error!("observer: openat2 is unavailable; refusing to read sandboxes");
                self.to_string()
            }
            ObserverError::InvalidTaskId(_)
            | ObserverError::InvalidProcess(_)
            | ObserverError::InvalidStream(_)
            | ObserverError::InvalidPath(_)
            | ObserverError::ParentComponent(_)
            | ObserverError::AbsolutePath(_)
            | ObserverError::EscapesSandbox(_)
            | ObserverError::UnresolvableLink(_)
            | ObserverError::NotRegular { .. }
            | ObserverError::UnknownTask(_)
            | ObserverError::NotFound(_)
            | ObserverError::Busy
            | ObserverError::RunsBusy
            | ObserverError::Unauthenticated(_)
            | ObserverError::Forbidden(_)
            | ObserverError::ExecDisabled
            | ObserverError::NotRunning(_)
            | ObserverError::BadRequest(_)
            | ObserverError::TooLarge { .. }
            | ObserverError::IsDirectory(_) => self.to_string(),
        };
        let body = ErrorBody {
            code: self.code().to_string(),
            message,
        };
        let mut response = (self.status(), Json(body)).into_response();
        if matches!(self, ObserverError::Busy | ObserverError::RunsBusy) {
            // The pool frees up within a job's time; a second is a polite floor.
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        response
    }
}
