//! Status reports: every task's updates reach the scheduler in the order they happened, each
//! one retried until the scheduler has it (as Aurora retries a status update until it is
//! acknowledged). A report lost while the scheduler was down would leave the task in the
//! state it has left (STARTING forever, and an update waiting on it never finishing).
//!
//! ```text
//!  executor ──TaskUpdate──► forwarder (one per task) ──POST status──► scheduler
//!                             │ failed: wait (200 ms doubling to 5 s), send the same report
//!                             │ again, through failover (the client moves to the leader) and
//!                             │ re-registration (404: the agent's loop registers again)
//!                             └ next report only once this one is delivered
//! ```
//!
//! A report is dropped (with a warning) only when sending it again can never succeed
//! ([`ClientError::is_permanent`]), or when the agent shuts down: from then on each report
//! gets one more attempt at once (a live scheduler still learns that the agent's tasks were
//! killed) and no waiting, so no forwarder keeps the agent from exiting; the daemon waits for
//! them only a bounded time at shutdown.
//!
//! Order holds per task; reports of different tasks are independent (a task's reports do not
//! wait behind another's).

use std::time::Duration;

use aurora_api::StatusReport;
use aurora_events::{ScheduleStatus, TaskId};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::client::{ClientError, SchedulerClient};
use crate::executor::TaskUpdate;

/// How a failed status report is sent again: after `first`, then after twice as long each
/// time, at most `max` apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportRetry {
    pub first: Duration,
    pub max: Duration,
}

impl Default for ReportRetry {
    /// 200 ms doubling to 5 s: quick through a failover, and a report reaches a scheduler that
    /// was down at most 5 s after it is back.
    fn default() -> Self {
        Self {
            first: Duration::from_millis(200),
            max: Duration::from_secs(5),
        }
    }
}

/// Failures of one report logged one by one; after them only every [`LOG_EVERY`]th is, so an
/// outage of hours does not flood the log (at the 5 s cap, one line every 50 s per task).
const LOG_FIRST: u32 = 3;
const LOG_EVERY: u32 = 10;

/// What became of one report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    Delivered,
    /// The scheduler refused it in a way sending it again cannot change.
    Refused,
    /// The agent is shutting down and the last attempt failed.
    ShutDown,
}

/// The forwarders of the agent's tasks.
#[derive(Debug)]
pub(crate) struct Forwarders {
    tasks: JoinSet<()>,
    retry: ReportRetry,
    shutdown: watch::Receiver<bool>,
}

impl Forwarders {
    pub(crate) fn new(retry: ReportRetry, shutdown: watch::Receiver<bool>) -> Self {
        Self {
            tasks: JoinSet::new(),
            retry,
            shutdown,
        }
    }

    /// Forwards `task`'s updates until its terminal one was delivered (or dropped), then runs
    /// `done`.
    pub(crate) fn start(
        &mut self,
        client: SchedulerClient,
        task: TaskId,
        updates: mpsc::UnboundedReceiver<TaskUpdate>,
        done: impl FnOnce() + Send + 'static,
    ) {
        let retry = self.retry;
        let shutdown = self.shutdown.clone();
        self.tasks.spawn(async move {
            forward(&client, task, updates, retry, shutdown).await;
            done();
        });
        self.reap();
    }

    /// Collects the forwarders that ended (a `JoinSet` keeps their results until then).
    pub(crate) fn reap(&mut self) {
        while let Some(ended) = self.tasks.try_join_next() {
            if let Err(e) = ended {
                tracing::error!(error = %e, "status forwarder failed");
            }
        }
    }

    /// At shutdown: waits at most `within` for the forwarders still running (each tries what
    /// it still has once), then stops the rest.
    pub(crate) async fn finish(mut self, within: Duration) {
        let all = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(within, all).await.is_err() {
            tracing::warn!(
                left = self.tasks.len(),
                ?within,
                "status reports still undelivered at shutdown; dropping them"
            );
            self.tasks.shutdown().await;
        }
    }
}

/// Reports `task`'s updates in order until the terminal one.
async fn forward(
    client: &SchedulerClient,
    task: TaskId,
    mut updates: mpsc::UnboundedReceiver<TaskUpdate>,
    retry: ReportRetry,
    mut shutdown: watch::Receiver<bool>,
) {
    while let Some(update) = updates.recv().await {
        let terminal = update.is_terminal();
        let (status, message) = status_of(update);
        let report = StatusReport {
            task: task.clone(),
            status,
            message,
        };
        deliver(client, &report, retry, &mut shutdown).await;
        if terminal {
            break;
        }
    }
}

/// Aurora's task state for an executor update.
fn status_of(update: TaskUpdate) -> (ScheduleStatus, Option<String>) {
    match update {
        TaskUpdate::Starting => (
            ScheduleStatus::Starting,
            Some("Initializing sandbox.".into()),
        ),
        TaskUpdate::Running => (ScheduleStatus::Running, None),
        TaskUpdate::Finished { message } => (ScheduleStatus::Finished, Some(message)),
        TaskUpdate::Failed { message } => (ScheduleStatus::Failed, Some(message)),
        TaskUpdate::Killed { message } => (ScheduleStatus::Killed, Some(message)),
    }
}

/// Sends `report` until the scheduler has it (see the module docs for when it gives up).
pub(crate) async fn deliver(
    client: &SchedulerClient,
    report: &StatusReport,
    retry: ReportRetry,
    shutdown: &mut watch::Receiver<bool>,
) -> Delivery {
    let began = Instant::now();
    let mut delay = retry.first;
    let mut attempt: u32 = 0;
    loop {
        attempt = attempt.saturating_add(1);
        let error = match client.status(report).await {
            Ok(()) => {
                if attempt > 1 {
                    tracing::info!(task = %report.task, status = %report.status, attempts = attempt, after = ?began.elapsed(), "status report delivered");
                }
                return Delivery::Delivered;
            }
            Err(error) => error,
        };
        if error.is_permanent() {
            tracing::warn!(task = %report.task, status = %report.status, attempt, error = %error, "status report refused; dropping it (sending it again cannot succeed)");
            return Delivery::Refused;
        }
        if stopping(shutdown) {
            tracing::warn!(task = %report.task, status = %report.status, attempt, error = %error, "status report failed while the agent shuts down; dropping it");
            return Delivery::ShutDown;
        }
        if attempt <= LOG_FIRST || attempt % LOG_EVERY == 0 {
            log_failure(report, attempt, began, delay, &error);
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            // Shutting down: one more attempt at once, then no more waiting.
            _ = shutdown.wait_for(|stop| *stop) => {}
        }
        delay = delay.saturating_mul(2).min(retry.max);
    }
}

fn log_failure(
    report: &StatusReport,
    attempt: u32,
    began: Instant,
    retry_in: Duration,
    error: &ClientError,
) {
    let (task, status, failing_for) = (&report.task, report.status, began.elapsed());
    if attempt == LOG_FIRST {
        tracing::warn!(%task, %status, attempt, ?failing_for, ?retry_in, error = %error, "status report failed; retrying (from now on every {LOG_EVERY}th failure is logged)");
    } else {
        tracing::warn!(%task, %status, attempt, ?failing_for, ?retry_in, error = %error, "status report failed; retrying");
    }
}

/// Whether the agent is shutting down: asked to, or nobody is left who could ask (the agent's
/// loop stops then too).
fn stopping(shutdown: &watch::Receiver<bool>) -> bool {
    *shutdown.borrow() || shutdown.has_changed().is_err()
}

#[cfg(test)]
#[path = "reports_tests.rs"]
mod tests;
