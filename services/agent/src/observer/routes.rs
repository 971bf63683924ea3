//! The observer's HTTP routes and their JSON shapes. Every request first passes the auth
//! middleware (`auth.rs`). Handlers validate (through `paths.rs`), then hand every filesystem
//! step to the observer's own threads (`pool.rs`): opening the sandbox and what the request
//! names in it (`sandbox.rs`, `logs.rs`). Bodies are streamed (`body.rs`). The read routes are
//! here; the two that act on a sandbox are `exec.rs` (run a command) and `upload.rs` (write a
//! file).

use std::collections::BTreeSet;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aurora_events::TaskId;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::body::file_body;
use super::logs::{self, DEFAULT_TAIL, LogStream, MAX_TAIL, tail_range};
use super::paths::{relative_path, validate_process, validate_task_id};
use super::sandbox::{Kind, OpenFile, Opened, Sandbox};
use super::{ObserverError, ObserverState};
use crate::executor::{ProcessState, ProcessStatus};

/// The observer: see the module docs for the routes.
pub fn observer_router(state: ObserverState) -> Router {
    Router::new()
        .route("/tasks", get(list_tasks))
        .route("/tasks/{task}", get(task_detail))
        .route("/tasks/{task}/logs/{process}/{stream}", get(log))
        .route("/tasks/{task}/browse", get(browse_root))
        .route("/tasks/{task}/browse/", get(browse_root))
        .route("/tasks/{task}/browse/{*path}", get(browse))
        .route("/tasks/{task}/run", post(super::exec::run))
        .route("/tasks/{task}/files/{*path}", put(super::upload::put_file))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            super::auth::authenticate,
        ))
        .with_state(state)
}

/// `GET /tasks/{task}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskView {
    pub task: String,
    /// Whether the agent still runs it (its executor has not reported the end).
    pub running: bool,
    pub processes: Vec<ProcessView>,
}

/// One process. For a finished task only `name` and `runs` are known (from `.logs/`); the
/// other fields are `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessView {
    pub name: String,
    /// Thermos state: WAITING, FORKED, RUNNING, SUCCESS, FAILED, KILLED, LOST.
    pub state: Option<String>,
    /// Runs started so far; the latest run's logs are run `runs - 1`.
    pub runs: u32,
    pub pid: Option<u32>,
    /// Start of the current or last run, milliseconds since the Unix epoch.
    pub started_at: Option<u64>,
    pub exit_code: Option<i32>,
    pub is_final: Option<bool>,
}

/// `GET /tasks/{task}/browse/{dir}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirListing {
    /// The directory, relative to the sandbox (`""` for the sandbox itself).
    pub path: String,
    /// Sorted by name.
    pub entries: Vec<DirEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirEntry {
    pub name: String,
    /// Symlinks count as what they point to inside the sandbox; one that dangles or leads out
    /// as a file of size 0 with no time (nothing outside is looked at).
    pub is_dir: bool,
    pub size: u64,
    /// Last modification, milliseconds since the Unix epoch.
    pub modified: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct ReadParams {
    run: Option<u32>,
    tail: Option<u64>,
    #[serde(default)]
    download: bool,
}

async fn list_tasks(
    State(state): State<ObserverState>,
) -> Result<Json<Vec<String>>, ObserverError> {
    let mut tasks: BTreeSet<String> = state
        .running
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .keys()
        .map(|task| task.as_str().to_string())
        .collect();
    let sandboxes = state.sandboxes.clone();
    tasks.extend(state.pool.run(move || sandbox_names(&sandboxes)).await?);
    Ok(Json(tasks.into_iter().collect()))
}

/// The names of the real directories directly under `sandboxes/` (the agent's own directory;
/// a sandbox replaced by a symlink is not listed).
fn sandbox_names(sandboxes: &Path) -> Result<Vec<String>, ObserverError> {
    let mut names = Vec::new();
    match std::fs::read_dir(sandboxes) {
        Ok(entries) => {
            for entry in entries.flatten() {
                let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                if let (true, Ok(name)) = (is_dir, entry.file_name().into_string())
                    && validate_task_id(&name).is_ok()
                {
                    names.push(name);
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(ObserverError::Io(format!(
                "listing {}: {e}",
                sandboxes.display()
            )));
        }
    }
    Ok(names)
}

async fn task_detail(
    State(state): State<ObserverState>,
    UrlPath(task): UrlPath<String>,
) -> Result<Json<TaskView>, ObserverError> {
    validate_task_id(&task)?;
    let live = live_processes(&state, &task);
    let processes = match &live {
        Some(processes) => processes.iter().map(process_view).collect(),
        None => {
            let missing = missing_sandbox(&state, &task, false);
            let (sandboxes, name) = (state.sandboxes.clone(), task.clone());
            let from_logs = state
                .pool
                .run(move || logs::processes_from_logs(&open_sandbox(&sandboxes, &name, missing)?))
                .await?;
            from_logs
                .into_iter()
                .map(|(name, runs)| ProcessView {
                    name,
                    state: None,
                    runs,
                    pid: None,
                    started_at: None,
                    exit_code: None,
                    is_final: None,
                })
                .collect()
        }
    };
    Ok(Json(TaskView {
        task,
        running: live.is_some(),
        processes,
    }))
}

async fn log(
    State(state): State<ObserverState>,
    UrlPath((task, process, stream)): UrlPath<(String, String, String)>,
    Query(params): Query<ReadParams>,
) -> Result<Response, ObserverError> {
    validate_task_id(&task)?;
    validate_process(&process)?;
    let stream = LogStream::parse(&stream)?;
    let missing = missing_sandbox(&state, &task, true);
    let (sandboxes, name, wanted) = (state.sandboxes.clone(), task.clone(), process.clone());
    let (run, file) = state
        .pool
        .run(move || {
            let sandbox = open_sandbox(&sandboxes, &name, missing)?;
            logs::log_file(&sandbox, &wanted, stream, params.run)
        })
        .await?;
    let download = format!("{task}-{process}-{run}-{}.log", stream.file_name());
    file_response(&state, file, &params, &download)
}

async fn browse_root(
    State(state): State<ObserverState>,
    UrlPath(task): UrlPath<String>,
    Query(params): Query<ReadParams>,
) -> Result<Response, ObserverError> {
    browse_path(&state, &task, "", &params).await
}

async fn browse(
    State(state): State<ObserverState>,
    UrlPath((task, path)): UrlPath<(String, String)>,
    Query(params): Query<ReadParams>,
) -> Result<Response, ObserverError> {
    browse_path(&state, &task, &path, &params).await
}

/// What a browsed path turned out to be.
enum Browsed {
    Listing(DirListing),
    File(OpenFile),
}

async fn browse_path(
    state: &ObserverState,
    task: &str,
    raw: &str,
    params: &ReadParams,
) -> Result<Response, ObserverError> {
    validate_task_id(task)?;
    let relative = relative_path(raw)?;
    let missing = missing_sandbox(state, task, true);
    let (sandboxes, name, path) = (state.sandboxes.clone(), task.to_string(), relative.clone());
    let browsed = state
        .pool
        .run(move || {
            let sandbox = open_sandbox(&sandboxes, &name, missing)?;
            match sandbox.open_entry(&path)? {
                Opened::Dir(dir) => Ok(Browsed::Listing(list_dir(&sandbox, dir, &path)?)),
                Opened::File(file) => Ok(Browsed::File(file)),
            }
        })
        .await?;
    match browsed {
        Browsed::Listing(listing) => Ok(Json(listing).into_response()),
        Browsed::File(file) => {
            let name = relative
                .file_name()
                .map_or_else(|| task.to_string(), |n| n.to_string_lossy().into_owned());
            file_response(state, file, params, &name)
        }
    }
}

/// What a request answers when `task` has no sandbox: [`ObserverError::UnknownTask`], or, when
/// `missing_is_empty` and the task is running (its sandbox not made yet),
/// [`ObserverError::NotFound`].
fn missing_sandbox(state: &ObserverState, task: &str, missing_is_empty: bool) -> ObserverError {
    if missing_is_empty && is_running(state, task) {
        ObserverError::NotFound(".".to_string())
    } else {
        ObserverError::UnknownTask(task.to_string())
    }
}

/// `task`'s sandbox, opened (see [`Sandbox::open`]), or `missing` when it has none.
fn open_sandbox(
    sandboxes: &Path,
    task: &str,
    missing: ObserverError,
) -> Result<Sandbox, ObserverError> {
    Sandbox::open(sandboxes, task)?.ok_or(missing)
}

fn is_running(state: &ObserverState, task: &str) -> bool {
    state
        .running
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .contains_key(&TaskId::from_raw(task))
}

fn live_processes(state: &ObserverState, task: &str) -> Option<Vec<ProcessStatus>> {
    state
        .running
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&TaskId::from_raw(task))
        .map(|running| running.executor.processes())
}

fn process_view(status: &ProcessStatus) -> ProcessView {
    ProcessView {
        name: status.name.clone(),
        state: Some(state_name(status.state).to_string()),
        runs: status.runs,
        pid: status.pid,
        started_at: status.started_at.and_then(unix_millis),
        exit_code: status.exit_code,
        is_final: Some(status.is_final),
    }
}

fn state_name(state: ProcessState) -> &'static str {
    match state {
        ProcessState::Waiting => "WAITING",
        ProcessState::Forked => "FORKED",
        ProcessState::Running => "RUNNING",
        ProcessState::Success => "SUCCESS",
        ProcessState::Failed => "FAILED",
        ProcessState::Killed => "KILLED",
        ProcessState::Lost => "LOST",
    }
}

fn unix_millis(time: SystemTime) -> Option<u64> {
    let since = time.duration_since(UNIX_EPOCH).ok()?;
    u64::try_from(since.as_millis()).ok()
}

fn list_dir(sandbox: &Sandbox, dir: OwnedFd, relative: &Path) -> Result<DirListing, ObserverError> {
    let mut entries: Vec<DirEntry> = sandbox
        .list(dir, relative)?
        .into_iter()
        .map(|entry| DirEntry {
            name: entry.name.to_string_lossy().into_owned(),
            is_dir: entry.kind == Some(Kind::Dir),
            size: entry.size,
            modified: entry.modified,
        })
        .collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(DirListing {
        path: relative.to_string_lossy().into_owned(),
        entries,
    })
}

/// A file as `text/plain`: its last `?tail=` bytes (default [`DEFAULT_TAIL`], at most
/// [`MAX_TAIL`]), or with `?download=true` all of it as an attachment named `download_name`;
/// streamed either way, with the length it had when opened.
fn file_response(
    state: &ObserverState,
    file: OpenFile,
    params: &ReadParams,
    download_name: &str,
) -> Result<Response, ObserverError> {
    const TEXT: &str = "text/plain; charset=utf-8";
    let range = if params.download {
        0..file.len
    } else {
        tail_range(file.len, params.tail.unwrap_or(DEFAULT_TAIL).min(MAX_TAIL))
    };
    let len = range.end - range.start;
    let body = file_body(Arc::clone(&state.pool), file.file, range.start, len);
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(TEXT));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if params.download {
        let disposition = format!("attachment; filename=\"{}\"", header_safe(download_name));
        let disposition = HeaderValue::from_str(&disposition)
            .map_err(|e| ObserverError::Io(format!("content-disposition {disposition:?}: {e}")))?;
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    Ok(response)
}

/// A file name fit for a quoted header value.
fn header_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
#[path = "routes_tests.rs"]
mod tests;
