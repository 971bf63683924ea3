//! The I/O of health checks: one check (an HTTP GET on the task's `health` port, or a shell
//! command in the sandbox) and the loop that runs one every interval and reports each result.
//! The verdict is `health.rs`'s business.
//!
//! A shell check is one of the task's processes as far as tracking goes (`tracking.rs`): it
//! carries the task's tag, and its shell is handed to the runner as it starts, so that what it
//! leaves behind (an orphan adopted by the agent, a zombie of one) is stopped and reaped with
//! the task's own rather than left to accumulate in the agent.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use aurora_events::config::{HealthCheck, HealthChecker};
use nix::sys::signal::Signal;
use tokio::process::Command;
use tokio::sync::mpsc;

use super::health::CheckResult;
use super::template::{self, TaskContext};
use super::tracking::{self, TAG_VAR};
use super::tree::Proc;
use super::{lifecycle, process};

/// While this file exists in the sandbox, checks are not run and count as passing.
pub(crate) const SNOOZE: &str = ".healthchecksnooze";

/// A prepared check: templates rendered, port resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Checker {
    Http {
        port: u16,
        endpoint: String,
        expected_response: String,
        /// 0 = any status.
        expected_response_code: u16,
    },
    Shell {
        command: String,
    },
}

/// Where a shell check's processes are accounted for: the task's tag, and the runner's inbox
/// for every check shell started (read while unreaped, see [`tracking::started`]).
#[derive(Debug, Clone)]
pub(crate) struct Tracking {
    pub(crate) tag: String,
    pub(crate) started: mpsc::UnboundedSender<Proc>,
}

/// Renders and resolves a health check before anything runs, so that a check that can never
/// work fails the task at once.
pub(crate) fn prepare(config: &HealthCheck, context: &TaskContext) -> Result<Checker, String> {
    match &config.checker {
        HealthChecker::Http {
            endpoint,
            expected_response,
            expected_response_code,
        } => {
            let Some(&port) = context.ports.get("health") else {
                return Err(
                    "health check failed: an HTTP health check needs a 'health' port, and the \
                     task has none"
                        .to_string(),
                );
            };
            let endpoint = if endpoint.starts_with('/') {
                endpoint.clone()
            } else {
                format!("/{endpoint}")
            };
            Ok(Checker::Http {
                port,
                endpoint,
                expected_response: expected_response.clone(),
                expected_response_code: *expected_response_code,
            })
        }
        HealthChecker::Shell { command } => {
            let command = template::render(command, context)
                .map_err(|e| format!("health check failed: shell command: {e}"))?;
            Ok(Checker::Shell { command })
        }
    }
}

/// Runs a check now, then one every `interval`, sending each result, until the receiver is
/// gone or the task running this is aborted (a shell check's process group is killed then).
pub(crate) async fn run(
    checker: Checker,
    sandbox: PathBuf,
    interval: Duration,
    timeout: Duration,
    results: mpsc::UnboundedSender<CheckResult>,
    tracking: Tracking,
) {
    loop {
        let result = if sandbox.join(SNOOZE).exists() {
            CheckResult::pass(format!("snoozed by {SNOOZE}"))
        } else {
            check(&checker, &sandbox, timeout, &tracking).await
        };
        tracing::debug!(passed = result.passed, detail = %result.detail, "health check");
        if results.send(result).is_err() {
            return;
        }
        tokio::time::sleep(interval).await;
    }
}

async fn check(
    checker: &Checker,
    sandbox: &Path,
    timeout: Duration,
    tracking: &Tracking,
) -> CheckResult {
    match checker {
        Checker::Http {
            port,
            endpoint,
            expected_response,
            expected_response_code,
        } => {
            http(
                *port,
                endpoint,
                expected_response,
                *expected_response_code,
                timeout,
            )
            .await
        }
        Checker::Shell { command } => shell(command, sandbox, timeout, tracking).await,
    }
}

async fn http(
    port: u16,
    endpoint: &str,
    expected_response: &str,
    expected_code: u16,
    timeout: Duration,
) -> CheckResult {
    match lifecycle::get(port, endpoint, timeout).await {
        Err(e) => CheckResult::fail(format!("GET http://127.0.0.1:{port}{endpoint}: {e}")),
        Ok((status, body)) => http_verdict(status, &body, expected_response, expected_code),
    }
}

/// Healthy when the trimmed body equals `expected` ignoring case and, unless
/// `expected_code` is 0, the status equals it.
pub(crate) fn http_verdict(
    status: u16,
    body: &str,
    expected: &str,
    expected_code: u16,
) -> CheckResult {
    let got = body.trim();
    let shown: String = got.chars().take(100).collect();
    if !got.eq_ignore_ascii_case(expected.trim()) {
        CheckResult::fail(format!(
            "HTTP {status}: expected response {expected:?}, got {shown:?}"
        ))
    } else if expected_code != 0 && status != expected_code {
        CheckResult::fail(format!("HTTP {status}: expected status {expected_code}"))
    } else {
        CheckResult::pass(format!("HTTP {status}: {shown:?}"))
    }
}

/// Kills a check's process group when the check ends or is abandoned.
#[derive(Debug)]
struct GroupGuard(i32);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        process::signal_group(self.0, Some(Signal::SIGKILL));
    }
}

async fn shell(
    command: &str,
    sandbox: &Path,
    timeout: Duration,
    tracking: &Tracking,
) -> CheckResult {
    let mut child = match Command::new("bash")
        .arg("-c")
        .arg(command)
        .current_dir(sandbox)
        .env(TAG_VAR, &tracking.tag)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .env_remove("BASH_ENV")
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(e) => return CheckResult::fail(format!("cannot start bash: {e}")),
    };
    let pid = child.id().and_then(|id| i32::try_from(id).ok());
    // Not awaited yet, so not reaped: its pid is still its own.
    if let Some(started) = pid.and_then(tracking::started) {
        // The runner may be gone (the task is ending); then nothing is left to track for.
        let _ = tracking.started.send(started);
    }
    let _guard = pid.map(GroupGuard);
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => match status.code() {
            Some(0) => CheckResult::pass("exit code 0"),
            Some(code) => CheckResult::fail(format!("shell check exited with code {code}")),
            None => CheckResult::fail("shell check killed by a signal"),
        },
        Ok(Err(e)) => CheckResult::fail(format!("cannot wait for the shell check: {e}")),
        Err(_) => CheckResult::fail(format!("shell check timed out after {timeout:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_verdicts() {
        assert!(http_verdict(200, " OK\n", "ok", 0).passed);
        assert!(http_verdict(500, "ok", "ok", 0).passed);
        assert!(!http_verdict(500, "ok", "ok", 200).passed);
        assert!(http_verdict(200, "ok", "ok", 200).passed);
        let bad = http_verdict(200, "not yet", "ok", 0);
        assert!(!bad.passed);
        assert!(bad.detail.contains("\"not yet\""), "{}", bad.detail);
    }
}
