//! The observer's HTTP routes and their JSON shapes. Handlers only validate, resolve (through
//! `paths.rs`) and read (through `logs.rs`); they never write.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use aurora_events::TaskId;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::logs::{self, DEFAULT_TAIL, LogStream, MAX_TAIL};
use super::paths::{relative_path, resolve, validate_process, validate_task_id};
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
    /// Symlinks count as what they point to; a dangling one as a file of size 0.
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
    match std::fs::read_dir(&state.sandboxes) {
        Ok(entries) => {
            for entry in entries.flatten() {
                let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                if let (true, Ok(name)) = (is_dir, entry.file_name().into_string())
                    && validate_task_id(&name).is_ok()
                {
                    tasks.insert(name);
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(ObserverError::Io(format!(
                "listing {}: {e}",
                state.sandboxes.display()
            )));
        }
    }
    Ok(Json(tasks.into_iter().collect()))
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
            let sandbox = sandbox_root(&state, &task, false)?;
            logs::processes_from_logs(&sandbox)?
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
    let sandbox = sandbox_root(&state, &task, true)?;
    let (run, path) = logs::log_file(&sandbox, &process, stream, params.run)?;
    let download = format!("{task}-{process}-{run}-{}.log", stream.file_name());
    file_response(&path, &params, &download).await
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

async fn browse_path(
    state: &ObserverState,
    task: &str,
    raw: &str,
    params: &ReadParams,
) -> Result<Response, ObserverError> {
    validate_task_id(task)?;
    let relative = relative_path(raw)?;
    let sandbox = sandbox_root(state, task, true)?;
    let resolved = resolve(&sandbox, &relative)?;
    if resolved.is_dir() {
        return Ok(Json(list_dir(&resolved, &relative)?).into_response());
    }
    let name = relative
        .file_name()
        .map_or_else(|| task.to_string(), |n| n.to_string_lossy().into_owned());
    file_response(&resolved, params, &name).await
}

/// The real location of `task`'s sandbox. Refused when it is not a real directory directly
/// under `sandboxes/`: a task can replace its sandbox with a symlink to `/`, and everything
/// would then be "inside". `missing_is_empty`: a running task whose sandbox does not exist yet
/// answers [`ObserverError::NotFound`] rather than [`ObserverError::UnknownTask`].
fn sandbox_root(
    state: &ObserverState,
    task: &str,
    missing_is_empty: bool,
) -> Result<PathBuf, ObserverError> {
    let unknown = || ObserverError::UnknownTask(task.to_string());
    let path = state.sandboxes.join(task);
    let real = match std::fs::canonicalize(&path) {
        Ok(real) => real,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let running = is_running(state, task);
            return Err(if running && missing_is_empty {
                ObserverError::NotFound(".".to_string())
            } else {
                unknown()
            });
        }
        Err(e) => {
            return Err(ObserverError::Io(format!(
                "resolving {}: {e}",
                path.display()
            )));
        }
    };
    let sandboxes = std::fs::canonicalize(&state.sandboxes).map_err(|_| unknown())?;
    if real == sandboxes.join(task) && real.is_dir() {
        Ok(real)
    } else {
        Err(ObserverError::EscapesSandbox(".".to_string()))
    }
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
        .map(crate::executor::Executor::processes)
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

fn list_dir(dir: &Path, relative: &Path) -> Result<DirListing, ObserverError> {
    let io = |e: std::io::Error| ObserverError::Io(format!("listing {}: {e}", dir.display()));
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        // Follows symlinks for type and size; only names are shown for ones that escape, and
        // reading them is refused by `resolve`.
        let metadata = std::fs::metadata(entry.path()).ok();
        entries.push(DirEntry {
            name,
            is_dir: metadata.as_ref().is_some_and(std::fs::Metadata::is_dir),
            size: metadata.as_ref().map_or(0, std::fs::Metadata::len),
            modified: metadata
                .and_then(|m| m.modified().ok())
                .and_then(unix_millis),
        });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(DirListing {
        path: relative.to_string_lossy().into_owned(),
        entries,
    })
}

/// A file as `text/plain`: its last `?tail=` bytes (default [`DEFAULT_TAIL`], at most
/// [`MAX_TAIL`]), or with `?download=true` all of it as an attachment named `download_name`.
async fn file_response(
    path: &Path,
    params: &ReadParams,
    download_name: &str,
) -> Result<Response, ObserverError> {
    const TEXT: &str = "text/plain; charset=utf-8";
    if params.download {
        let bytes = logs::read_all(path).await?;
        let disposition = format!("attachment; filename=\"{}\"", header_safe(download_name));
        return Ok((
            [
                (header::CONTENT_TYPE, TEXT.to_string()),
                (header::CONTENT_DISPOSITION, disposition),
            ],
            bytes,
        )
            .into_response());
    }
    let tail = params.tail.unwrap_or(DEFAULT_TAIL).min(MAX_TAIL);
    let bytes = logs::read_tail(path, tail).await?;
    Ok(([(header::CONTENT_TYPE, TEXT)], bytes).into_response())
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
