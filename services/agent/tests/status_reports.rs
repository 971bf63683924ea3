//! The whole agent against a stand-in scheduler (`support/scheduler.rs`) whose status POSTs
//! fail as scripted: a task's reports each reach the scheduler, in order, however long the
//! scheduler is down or forgets the agent; only a report it can never take is dropped; and a
//! scheduler down at shutdown does not keep the agent from exiting. The retries are shortened
//! (`serve_with`), so that many failures take milliseconds rather than the 5 s apart the agent
//! waits at most.
#![allow(clippy::unwrap_used)]

#[path = "support/agent_config.rs"]
mod agent_config;
#[path = "support/scheduler.rs"]
mod scheduler;

use std::time::Duration;

use agent_config::agent_config;
use aurora_agent::daemon::{self, Serving};
use aurora_agent::reports::ReportRetry;
use aurora_events::{ScheduleStatus, TaskId};
use pretty_assertions::assert_eq;
use scheduler::{Failure, StandIn, launch_spec, wait_until};
use tokio::sync::watch;

/// Longest any step of these tests may take.
const WAIT: Duration = Duration::from_secs(30);

const FAST: ReportRetry = ReportRetry {
    first: Duration::from_millis(5),
    max: Duration::from_millis(20),
};

struct Agent {
    serving: Serving,
    stop: watch::Sender<bool>,
    _work_dir: tempfile::TempDir,
}

impl Agent {
    async fn start(stand_in: &StandIn) -> Self {
        let work_dir = tempfile::tempdir().unwrap();
        let config = agent_config(vec![stand_in.url.clone()], work_dir.path());
        let (stop, shutdown) = watch::channel(false);
        let serving = daemon::serve_with(config, FAST, shutdown).await.unwrap();
        Self {
            serving,
            stop,
            _work_dir: work_dir,
        }
    }

    /// Shuts the agent down and waits (bounded) for it to end; returns how long that took.
    async fn stop(self) -> Duration {
        let began = tokio::time::Instant::now();
        self.stop.send(true).unwrap();
        tokio::time::timeout(WAIT, self.serving.agent)
            .await
            .unwrap()
            .unwrap();
        began.elapsed()
    }
}

fn task() -> TaskId {
    TaskId::from_raw("t-1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_lost_while_the_scheduler_was_down_arrive_in_order_once_it_is_back() {
    let stand_in = StandIn::start().await;
    // More failures than the five attempts a report used to get: down, then restarted (it
    // forgets the agent, which registers again), then down again.
    stand_in.fail_status([
        Failure::Transient,
        Failure::Transient,
        Failure::Transient,
        Failure::Restarted,
        Failure::Restarted,
        Failure::Transient,
        Failure::Transient,
        Failure::Transient,
    ]);
    stand_in.launch(launch_spec("t-1", "echo hello"));
    let agent = Agent::start(&stand_in).await;

    wait_until(WAIT, "the task's last report", || {
        stand_in.reports().len() >= 3
    })
    .await;
    assert_eq!(
        stand_in.reports(),
        [
            (task(), ScheduleStatus::Starting),
            (task(), ScheduleStatus::Running),
            (task(), ScheduleStatus::Finished),
        ]
    );
    assert_eq!(stand_in.status_posts(), 8 + 3);
    wait_until(WAIT, "registering again after the restart", || {
        stand_in.registrations().len() >= 2
    })
    .await;
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_report_the_scheduler_can_never_take_is_dropped() {
    let stand_in = StandIn::start().await;
    stand_in.fail_status([Failure::Invalid]);
    stand_in.launch(launch_spec("t-1", "echo hello"));
    let agent = Agent::start(&stand_in).await;

    wait_until(WAIT, "the task's last report", || {
        stand_in.reports().len() >= 2
    })
    .await;
    assert_eq!(
        stand_in.reports(),
        [
            (task(), ScheduleStatus::Running),
            (task(), ScheduleStatus::Finished),
        ],
        "STARTING refused (400) and not sent again; the next ones go on"
    );
    assert_eq!(stand_in.status_posts(), 3);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduler_down_at_shutdown_does_not_keep_the_agent_from_exiting() {
    let stand_in = StandIn::start().await;
    stand_in.launch(launch_spec("t-1", "exec sleep 600"));
    let agent = Agent::start(&stand_in).await;
    wait_until(WAIT, "the task running", || stand_in.reports().len() >= 2).await;
    stand_in.fail_status(vec![Failure::Transient; 100_000]);

    let took = agent.stop().await;
    // The task is killed at once (`sleep` ends on SIGTERM); its KILLED report gets one
    // attempt and is dropped, where retrying it would hold the agent for the whole margin.
    assert!(took < Duration::from_secs(4), "shutdown took {took:?}");
    assert_eq!(
        stand_in.status_posts(),
        3,
        "STARTING, RUNNING, then KILLED tried once"
    );
    assert_eq!(stand_in.reports().len(), 2);
}
