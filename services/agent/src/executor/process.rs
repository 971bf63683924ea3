//! Starting and signalling one run of a process.
//!
//! Every run is `bash -c <cmdline>` in the sandbox, in a process group of its own
//! (`setpgid(0, 0)` via `process_group(0)`), so signals reach everything it forked, including
//! double-forked daemons that outlive the bash process: they stay in the group unless they
//! call `setsid` themselves. If the sandbox holds `.thermos_profile`, bash sources it first
//! (`BASH_ENV`), as Thermos does before every fork.

use std::path::Path;
use std::process::Stdio;

use aurora_events::config::Logger;
use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use super::logs::{LogSink, Stream, pump};

/// The profile bash sources before every process, when present in the sandbox.
pub(crate) const PROFILE: &str = ".thermos_profile";

/// A started run: the child (to wait on), its pid (= its process group id) and the log pumps.
#[derive(Debug)]
pub(crate) struct Spawned {
    pub(crate) child: Child,
    pub(crate) pid: i32,
    pub(crate) pumps: Vec<JoinHandle<()>>,
}

/// Starts one run. The error is a message for the task's status, naming what went wrong.
pub(crate) async fn spawn(
    sandbox: &Path,
    cmdline: &str,
    logger: &Logger,
    log_dir: &Path,
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

    let mut command = Command::new("bash");
    command
        .arg("-c")
        .arg(cmdline)
        .current_dir(sandbox)
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
    let profile = sandbox.join(PROFILE);
    if profile.is_file() {
        command.env("BASH_ENV", &profile);
    } else {
        command.env_remove("BASH_ENV");
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start bash: {e}"))?;
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

/// Whether group `pgid` still has a member that is not a zombie. Orphaned descendants are
/// reparented to pid 1, which in some containers never reaps them: `killpg(pgid, 0)` would call
/// such a group alive forever, so on Linux the members are looked up in `/proc`.
pub(crate) fn group_alive(pgid: i32) -> bool {
    if !signal_group(pgid, None) {
        return false;
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return true;
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .any(|stat| matches!(parse_stat(&stat), Some((state, group)) if group == pgid && state != 'Z'))
}

/// `(state, pgrp)` from a `/proc/<pid>/stat` line; the command name may contain spaces and
/// parentheses, so fields are counted after its last `)`.
fn parse_stat(stat: &str) -> Option<(char, i32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, pgrp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat() {
        assert_eq!(
            parse_stat("16245 (sl (e) ep) Z 1 16241 1455 0 -1 422708"),
            Some(('Z', 16241))
        );
        assert_eq!(parse_stat("garbage"), None);
    }
}
