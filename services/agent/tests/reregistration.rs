//! After a scheduler restart an agent registers again exactly once. A work poll that reached
//! the restarted scheduler before the agent's new registration carries a "register again"
//! answered while the scheduler did not know the agent yet; arriving after that registration,
//! it must not make the agent register a second time (each registration is an event in the
//! journal: a restart with thousands of agents wrote duplicates).
#![allow(clippy::unwrap_used)]

#[path = "support/agent_config.rs"]
mod agent_config;
#[path = "support/scheduler.rs"]
mod scheduler;

use std::time::Duration;

use agent_config::{agent_config, small_capacity};
use aurora_agent::daemon::{self, AgentConfig};
use aurora_agent::hollow::{self, DEFAULT_SCRIPT, FleetConfig};
use aurora_agent::reports::ReportRetry;
use scheduler::{StandIn, wait_until};
use tokio::sync::watch;

/// Longest any step of these tests may take.
const WAIT: Duration = Duration::from_secs(30);

/// The agent's heartbeat: the heartbeat is what finds out first that the scheduler restarted.
const HEARTBEAT: Duration = Duration::from_millis(300);

/// How long the restarted stand-in holds a work poll's "register again": longer than a
/// heartbeat, so that the agent has registered again before that answer reaches it.
const SLOW_NOT_FOUND: Duration = Duration::from_millis(600);

/// Restarts the stand-in once the agent has registered, then checks that it registers again
/// once, and only once, in the next few heartbeats and held polls.
async fn registers_again_once(stand_in: &StandIn) {
    wait_until(WAIT, "the first registration", || {
        stand_in.registrations().len() == 1
    })
    .await;
    // Let a work poll be in flight.
    tokio::time::sleep(Duration::from_millis(150)).await;
    stand_in.restart(SLOW_NOT_FOUND);
    wait_until(WAIT, "the registration after the restart", || {
        stand_in.registrations().len() >= 2
    })
    .await;
    // Every poll held before the new registration has been answered by now.
    tokio::time::sleep(SLOW_NOT_FOUND * 3).await;
    assert_eq!(
        stand_in.registrations().len(),
        2,
        "the agent registered more than once after one restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hollow_agent_registers_once_after_a_scheduler_restart() {
    let stand_in = StandIn::start().await;
    let config = FleetConfig {
        schedulers: vec![stand_in.url.clone()],
        count: 1,
        prefix: "hollow".into(),
        capacity: small_capacity(),
        racks: 0,
        heartbeat_interval: HEARTBEAT,
        script: DEFAULT_SCRIPT.parse().unwrap(),
        kill_delay: Duration::ZERO,
        credentials: None,
        tls: aurora_net::ClientTls::default(),
    };
    let (stop, shutdown) = watch::channel(false);
    let fleet = tokio::spawn(hollow::run(config, shutdown));
    registers_again_once(&stand_in).await;
    stop.send(true).unwrap();
    tokio::time::timeout(WAIT, fleet).await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_registers_once_after_a_scheduler_restart() {
    let stand_in = StandIn::start().await;
    let work_dir = tempfile::tempdir().unwrap();
    let config = AgentConfig {
        heartbeat_interval: HEARTBEAT,
        ..agent_config(vec![stand_in.url.clone()], work_dir.path())
    };
    let (stop, shutdown) = watch::channel(false);
    let retry = ReportRetry {
        first: Duration::from_millis(5),
        max: Duration::from_millis(20),
    };
    let serving = daemon::serve_with(config, retry, shutdown).await.unwrap();
    registers_again_once(&stand_in).await;
    stop.send(true).unwrap();
    tokio::time::timeout(WAIT, serving.agent)
        .await
        .unwrap()
        .unwrap();
}
