//! `POST /tasks/{task}/run`: a command run in a running task's sandbox, for `aurora task run`
//! and `aurora task ssh -c` (Aurora ran them over ssh, `cd`-ing into the sandbox first).
//!
//! The command runs as the task's processes do (`executor/process.rs`): `bash -c COMMAND` with
//! the sandbox as its working directory, `.thermos_profile` sourced first when the sandbox has
//! one (`BASH_ENV`), the agent's environment otherwise, in a process group of its own, stdin
//! empty. The client expands `{{thermos.ports[...]}}`, `{{mesos.instance}}` and
//! `{{thermos.task_id}}` before sending it, as Aurora's client did.
//!
//! Bounds, so that one request cannot hold the agent:
//! - at most [`MAX_RUNS`] commands at once (then 503 `busy`);
//! - a time limit ([`DEFAULT_TIMEOUT`], or the request's `timeout_secs` up to [`MAX_TIMEOUT`]),
//!   after which the command's process group is killed and the answer says `timed_out`;
//! - the first [`MAX_OUTPUT`] bytes of stdout and of stderr are kept, the rest read and dropped
//!   (so the command never blocks on a full pipe) and the answer says `..._truncated`;
//! - a command does not outlive its request: once bash exits (or the time is up) whatever is
//!   left in its process group is killed, and output still held open by a process that left
//!   the group (`setsid`) is waited for at most [`DRAIN_GRACE`].
//!
//! The answer comes once the command is done (no streaming); output is decoded as UTF-8 with
//! invalid bytes replaced, since it is meant for a terminal.

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path as UrlPath, State};
use axum::{Extension, Json};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use super::auth::Caller;
use super::paths::validate_task_id;
use super::sandbox::Sandbox;
use super::{ObserverError, ObserverState};

/// Commands running at once on one agent.
pub const MAX_RUNS: usize = 8;
/// The longest command accepted: Linux refuses a longer single argument (`MAX_ARG_STRLEN`).
pub const MAX_COMMAND: usize = 128 * 1024;
/// Bytes of stdout, and of stderr, kept per command.
pub const MAX_OUTPUT: usize = 1024 * 1024;
/// How long a command may run when the request does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// The most a request may ask for.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// How long output is still read after bash exited, from processes that left its group.
pub const DRAIN_GRACE: Duration = Duration::from_secs(1);

/// The profile bash sources first, as it does for the task's processes.
const PROFILE: &str = ".thermos_profile";

/// `POST /tasks/{task}/run`'s body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRequest {
    /// Run as `bash -c COMMAND` in the sandbox.
    pub command: String,
    /// At most this long (default [`DEFAULT_TIMEOUT`], at most [`MAX_TIMEOUT`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
}

/// What a command did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunResult {
    pub task: String,
    /// Its exit status, when it exited.
    pub exit_code: Option<i32>,
    /// The signal that ended it, when one did (SIGKILL after `timed_out`).
    pub signal: Option<i32>,
    /// It ran out of time and was killed.
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
    /// More than [`MAX_OUTPUT`] bytes were written, and only the first were kept.
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    pub duration_ms: u64,
}

impl RunResult {
    /// Exited with status 0.
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }
}

/// The handler.
pub async fn run(
    State(state): State<ObserverState>,
    Extension(caller): Extension<Caller>,
    UrlPath(task): UrlPath<String>,
    body: Result<Json<RunRequest>, JsonRejection>,
) -> Result<Json<RunResult>, ObserverError> {
    validate_task_id(&task)?;
    let Json(request) =
        body.map_err(|e| ObserverError::BadRequest(format!("expected {{\"command\": ...}}: {e}")))?;
    if request.command.trim().is_empty() {
        return Err(ObserverError::BadRequest("the command is empty".into()));
    }
    if request.command.len() > MAX_COMMAND || request.command.contains('\0') {
        return Err(ObserverError::BadRequest(format!(
            "the command must be at most {MAX_COMMAND} bytes, without NUL"
        )));
    }
    let role = role_of(&state, &task)?;
    let user = caller.authorize_task(&role)?;
    let _slot = Arc::clone(&state.runs)
        .try_acquire_owned()
        .map_err(|_| ObserverError::RunsBusy)?;
    // Refuses a sandbox that is missing or was replaced by a symlink, as every read does.
    let (sandboxes, name) = (state.sandboxes.clone(), task.clone());
    state
        .pool
        .run(move || {
            Sandbox::open(&sandboxes, &name)?
                .map(drop)
                .ok_or_else(|| ObserverError::NotFound(".".into()))
        })
        .await?;
    let timeout = request
        .timeout_secs
        .map_or(DEFAULT_TIMEOUT, Duration::from_secs)
        .min(MAX_TIMEOUT);
    tracing::info!(%user, %task, %role, command = %shown(&request.command), "observer: running a command in a sandbox");
    let result = execute(&state.sandboxes.join(&task), &request.command, timeout).await?;
    tracing::info!(
        %user, %task, exit_code = ?result.exit_code, signal = ?result.signal,
        timed_out = result.timed_out, duration_ms = result.duration_ms,
        "observer: command done"
    );
    Ok(Json(RunResult { task, ..result }))
}

/// The role of a task this agent runs, or [`ObserverError::NotRunning`].
pub(super) fn role_of(state: &ObserverState, task: &str) -> Result<String, ObserverError> {
    state
        .running
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&aurora_events::TaskId::from_raw(task))
        .map(|running| running.role.clone())
        .ok_or_else(|| ObserverError::NotRunning(task.to_string()))
}

/// A command for the log: its first 200 characters.
fn shown(command: &str) -> String {
    let mut shown: String = command.chars().take(200).collect();
    if shown.len() < command.len() {
        shown.push('…');
    }
    shown
}

/// Runs `command` with bash in `sandbox` for at most `timeout` (see the module docs). `task`
/// is left empty for the caller to fill.
pub async fn execute(
    sandbox: &std::path::Path,
    command: &str,
    timeout: Duration,
) -> Result<RunResult, ObserverError> {
    let started = Instant::now();
    let mut bash = Command::new("bash");
    bash.arg("-c")
        .arg(command)
        .current_dir(sandbox)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Should the request be dropped (the client went away, the agent stops), at least
        // bash dies.
        .kill_on_drop(true);
    let profile = sandbox.join(PROFILE);
    if profile.is_file() {
        bash.env("BASH_ENV", &profile);
    } else {
        bash.env_remove("BASH_ENV");
    }
    let mut child = bash.spawn().map_err(|e| {
        ObserverError::Io(format!("cannot start bash in {}: {e}", sandbox.display()))
    })?;
    let group = child.id().and_then(|id| i32::try_from(id).ok());
    let stdout = Arc::new(Mutex::new(Captured::default()));
    let stderr = Arc::new(Mutex::new(Captured::default()));
    let readers = [
        child
            .stdout
            .take()
            .map(|out| capture(out, Arc::clone(&stdout))),
        child
            .stderr
            .take()
            .map(|err| capture(err, Arc::clone(&stderr))),
    ];
    let (status, timed_out) = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(status) => (status, false),
        Err(_) => {
            kill_group(group);
            // Should the group be gone already, bash itself.
            let _ = child.start_kill();
            (child.wait().await, true)
        }
    };
    let status = status.map_err(|e| ObserverError::Io(format!("waiting for bash: {e}")))?;
    // Background processes left in the group would keep the pipes open (and run on).
    kill_group(group);
    for reader in readers.into_iter().flatten() {
        let abort = reader.abort_handle();
        if tokio::time::timeout(DRAIN_GRACE, reader).await.is_err() {
            abort.abort();
        }
    }
    let (stdout, stdout_truncated) = take(&stdout);
    let (stderr, stderr_truncated) = take(&stderr);
    Ok(RunResult {
        task: String::new(),
        exit_code: status.code(),
        signal: status.signal(),
        timed_out,
        stdout,
        stderr,
        stdout_truncated,
        stderr_truncated,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

/// SIGKILL to the command's process group, if it still has members.
fn kill_group(group: Option<i32>) {
    if let Some(group) = group.filter(|g| *g > 1) {
        match killpg(Pid::from_raw(group), Signal::SIGKILL) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
            Err(e) => {
                tracing::warn!(group, error = %e, "observer: cannot kill a command's process group")
            }
        }
    }
}

/// One stream's output so far.
#[derive(Debug, Default)]
struct Captured {
    bytes: Vec<u8>,
    truncated: bool,
}

/// Reads `pipe` to its end into `into`, keeping the first [`MAX_OUTPUT`] bytes.
fn capture(
    mut pipe: impl AsyncRead + Unpin + Send + 'static,
    into: Arc<Mutex<Captured>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut chunk = vec![0; 16 * 1024];
        loop {
            let read = match pipe.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(read) => read,
            };
            let mut captured = into.lock().unwrap_or_else(PoisonError::into_inner);
            let room = MAX_OUTPUT.saturating_sub(captured.bytes.len());
            let kept = read.min(room);
            captured.bytes.extend_from_slice(&chunk[..kept]);
            captured.truncated |= kept < read;
        }
    })
}

fn take(captured: &Mutex<Captured>) -> (String, bool) {
    let captured = std::mem::take(&mut *captured.lock().unwrap_or_else(PoisonError::into_inner));
    (
        String::from_utf8_lossy(&captured.bytes).into_owned(),
        captured.truncated,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use pretty_assertions::assert_eq;

    use super::*;

    #[tokio::test]
    async fn a_command_runs_in_the_sandbox_with_its_status_and_both_streams() {
        let dir = tempfile::tempdir().unwrap();
        let result = execute(
            dir.path(),
            "echo out; echo err >&2; pwd; exit 3",
            Duration::from_secs(20),
        )
        .await
        .unwrap();
        let pwd = dir.path().canonicalize().unwrap();
        assert_eq!(result.stdout, format!("out\n{}\n", pwd.display()));
        assert_eq!(result.stderr, "err\n");
        assert_eq!(
            (result.exit_code, result.signal, result.timed_out),
            (Some(3), None, false)
        );
        assert!(!result.succeeded());
    }

    #[tokio::test]
    async fn the_sandbox_profile_is_sourced_first() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(PROFILE), "export GREETING=hello\n").unwrap();
        let result = execute(dir.path(), "echo $GREETING", Duration::from_secs(20))
            .await
            .unwrap();
        assert_eq!(result.stdout, "hello\n");
        assert!(result.succeeded());
    }

    #[tokio::test]
    async fn a_command_past_its_time_is_killed_with_its_group() {
        let dir = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let result = execute(
            dir.path(),
            "sleep 60 & echo started; wait",
            Duration::from_millis(500),
        )
        .await
        .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert!(result.timed_out);
        assert_eq!(result.signal, Some(9));
        assert_eq!(result.stdout, "started\n");
    }

    #[tokio::test]
    async fn a_background_process_does_not_hold_the_answer() {
        let dir = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let result = execute(
            dir.path(),
            "sleep 60 & echo $! > pid; echo done",
            Duration::from_secs(30),
        )
        .await
        .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(result.stdout, "done\n");
        assert!(result.succeeded());
        // The sleep was killed with the group once bash exited.
        let pid: i32 = std::fs::read_to_string(dir.path().join("pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while nix::sys::signal::kill(Pid::from_raw(pid), None).is_ok()
            && std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|stat| !stat.contains(") Z "))
        {
            assert!(
                Instant::now() < deadline,
                "sleep {pid} outlived its command"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    #[tokio::test]
    async fn output_past_the_limit_is_cut_and_said_to_be() {
        let dir = tempfile::tempdir().unwrap();
        let result = execute(
            dir.path(),
            &format!("head -c {} /dev/zero | tr '\\0' x", MAX_OUTPUT + 4096),
            Duration::from_secs(30),
        )
        .await
        .unwrap();
        assert_eq!(result.stdout.len(), MAX_OUTPUT);
        assert!(result.stdout_truncated);
        assert!(!result.stderr_truncated);
        assert!(result.succeeded());
    }
}
