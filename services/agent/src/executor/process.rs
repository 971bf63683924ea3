//! Starting and signalling one run of a process.
//!
//! Every run is `bash -c <cmdline>` in the sandbox, in a process group of its own
//! (`setpgid(0, 0)` via `process_group(0)`, so that signals meant for the agent's group, such
//! as a terminal's Ctrl-C, do not reach tasks), with the task's tag in its environment: the
//! runner finds and signals everything it forked by scanning for them (`tracking.rs`), not by
//! group, since a daemon that calls `setsid` leaves the group. If the sandbox holds
//! `.thermos_profile`, bash sources it first (`BASH_ENV`), as Thermos does before every fork.
//!
//! In a task with a Docker container, the run is instead the `docker run` client that runs
//! the same `bash -c <cmdline>` in a container (`docker.rs`); the client is started exactly
//! as bash would be (group, tag, log pipes), and the container's output reaches the logs
//! through it.

use std::path::Path;
use std::process::Stdio;

use aurora_events::config::Logger;
use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use super::docker::{self, Docker};
use super::logs::{LogSink, Stream, pump};
use super::tracking::TAG_VAR;

/// The profile bash sources before every process, when present in the sandbox.
pub(crate) const PROFILE: &str = ".thermos_profile";

/// A started run: the child (to wait on), its pid (= its process group id) and the log pumps.
#[derive(Debug)]
pub(crate) struct Spawned {
    pub(crate) child: Child,
    pub(crate) pid: i32,
    pub(crate) pumps: Vec<JoinHandle<()>>,
}

/// Starts one run, tagged with `tag` (see `tracking.rs`), in container `name` of `docker`
/// when given. The error is a message for the task's status, naming what went wrong.
pub(crate) async fn spawn(
    sandbox: &Path,
    cmdline: &str,
    logger: &Logger,
    log_dir: &Path,
    tag: &str,
    container: Option<(&Docker, &str)>,
) -> Result<Spawned, String> {
    tokio::fs::create_dir_all(log_dir)
        .await
        .map_err(|e| format!("cannot create log directory {}: {e}", log_dir.display()))?;
    let open = |stream| async move {
        LogSink::open(log_dir, stream, logger).await.map_err(|e| {
            format!(
                "cannot open {} log in {}: {e}",
                stream.file_name(),
                log_dir.display()
            )
        })
    };
    let stdout = open(Stream::Stdout).await?;
    let stderr = open(Stream::Stderr).await?;

    let profile = sandbox.join(PROFILE);
    let has_profile = profile.is_file();
    let (program, mut command) = match container {
        None => {
            let mut command = Command::new("bash");
            command.arg("-c").arg(cmdline);
            if has_profile {
                command.env("BASH_ENV", &profile);
            } else {
                command.env_remove("BASH_ENV");
            }
            ("bash".to_string(), command)
        }
        Some((docker, name)) => {
            let mut command = Command::new(&docker.program);
            command
                .args(docker::run_args(docker, name, tag, has_profile, cmdline))
                .env_remove("BASH_ENV");
            (docker.program.display().to_string(), command)
        }
    };
    command
        .current_dir(sandbox)
        .env(TAG_VAR, tag)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(if stdout.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stderr(if stderr.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        // If the runner is dropped without a kill, at least the group leader dies.
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    let pid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .ok_or_else(|| "the started process has no pid".to_string())?;
    let mut pumps = Vec::new();
    if let (Some(sink), Some(out)) = (stdout, child.stdout.take()) {
        pumps.push(pump(out, sink));
    }
    if let (Some(sink), Some(err)) = (stderr, child.stderr.take()) {
        pumps.push(pump(err, sink));
    }
    Ok(Spawned { child, pid, pumps })
}

/// Sends `signal` (None = only check) to every process in group `pgid`. Returns false when
/// the group is empty.
pub(crate) fn signal_group(pgid: i32, signal: Option<Signal>) -> bool {
    match killpg(Pid::from_raw(pgid), signal) {
        Ok(()) => true,
        Err(Errno::ESRCH) => false,
        Err(e) => {
            tracing::warn!(pgid, ?signal, error = %e, "cannot signal process group");
            true
        }
    }
}
