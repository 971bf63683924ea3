//! The leader's clockwork: every [`LOOP_INTERVAL`] it ticks the timers, runs the cron round
//! (firings due and launches owed), runs a scheduling pass (bounded by a budget, skipping the
//! groups of tasks that keep not fitting while they back off), and declares lost the agents
//! that stopped heartbeating — but never for silence that the leader's own stall explains.
//! The backoff is leader-only state: it lives here and goes with the leader.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aurora_events::{Actor, AgentId};
use aurora_scheduler_core::Command;
use aurora_scheduler_core::commands::LoseAgent;
use aurora_scheduler_core::scheduling::BackoffSettings;
use tokio::sync::mpsc;

use super::{Agents, Clockwork, Context, Job, SubmitError, submit};

/// How often the timers (Tick) and the scheduling passes run.
pub const LOOP_INTERVAL: Duration = Duration::from_millis(500);

pub(super) async fn run(context: Context, queue: mpsc::Sender<Job>, agents: Arc<Agents>) {
    let mut clockwork = Clockwork::new(BackoffSettings::default(), context.clock.now());
    let mut interval = tokio::time::interval(LOOP_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut previous = Instant::now();
    loop {
        interval.tick().await;
        let began = Instant::now();
        // A round that comes far too late means this process could not run (stopped, starved,
        // swapping): agents could not have been heard either, so their silence is excused.
        if began.duration_since(previous) > stall_threshold(context.agent_timeout) {
            tracing::warn!(
                stalled_ms = began.duration_since(previous).as_millis() as u64,
                "the leader stalled; restarting every agent's heartbeat clock"
            );
            agents.excuse_silence_until(began);
        }
        previous = began;
        let tick = clockwork.tick(context.clock.now());
        match submit(&queue, Actor::Scheduler, tick).await {
            Ok(_) => {}
            Err(SubmitError::NotLeader { .. } | SubmitError::ShuttingDown) => return,
            Err(other) => tracing::error!(error = %other, "timer decision failed"),
        }
        // Without cron jobs the round would decide nothing: not queued at all.
        let has_cron_jobs = context.replica.state().cron_jobs().next().is_some();
        if has_cron_jobs {
            match submit(&queue, Actor::Scheduler, clockwork.cron_round()).await {
                Ok(_) => {}
                Err(SubmitError::NotLeader { .. } | SubmitError::ShuttingDown) => return,
                Err(other) => tracing::error!(error = %other, "cron round failed"),
            }
        }
        match submit(&queue, Actor::Scheduler, clockwork.advance_updates()).await {
            Ok(_) => {}
            Err(SubmitError::NotLeader { .. } | SubmitError::ShuttingDown) => return,
            Err(other) => tracing::error!(error = %other, "update controller failed"),
        }
        // Each pass is a single queued command, so commands and status reports interleave
        // with the passes of a round.
        for passes in 1.. {
            let now = context.clock.now();
            let pass = clockwork.pass(now, unregistered_agents(&context, &agents));
            match submit(&queue, Actor::Scheduler, pass).await {
                Ok(outcome) => {
                    if !clockwork.pass_done(now, &outcome.decision.pass, passes) {
                        break;
                    }
                }
                Err(SubmitError::NotLeader { .. } | SubmitError::ShuttingDown) => return,
                Err(other) => {
                    tracing::error!(error = %other, "scheduling pass failed");
                    break;
                }
            }
        }
        let reason = format!("no heartbeat for {} s", context.agent_timeout.as_secs());
        for agent in silent_agents(&context, &agents) {
            let command = Command::LoseAgent(LoseAgent {
                agent,
                reason: reason.clone(),
            });
            if let Err(e) = submit(&queue, Actor::Scheduler, command).await {
                tracing::error!(error = %e, "losing a silent agent failed");
            }
        }
    }
}

/// A gap between rounds longer than this is the leader's stall, not the agents'.
fn stall_threshold(agent_timeout: Duration) -> Duration {
    (agent_timeout / 3).max(LOOP_INTERVAL * 4)
}

/// Live agents that have not registered with this leader yet: the pass places nothing on
/// them (their tasks would come back LOST when they register without them).
fn unregistered_agents(context: &Context, agents: &Agents) -> BTreeSet<AgentId> {
    let state = context.replica.state();
    agents.unregistered(
        state
            .agents()
            .iter()
            .filter(|(_, agent)| !agent.lost)
            .map(|(id, _)| id),
    )
}

/// Live agents last heard from (or, if never, since this leader began) longer ago than the
/// timeout.
fn silent_agents(context: &Context, agents: &Agents) -> Vec<AgentId> {
    let live: Vec<AgentId> = context
        .replica
        .state()
        .agents()
        .iter()
        .filter(|(_, agent)| !agent.lost)
        .map(|(id, _)| id.clone())
        .collect();
    live.into_iter()
        .filter(|id| agents.last_heard(id).elapsed() > context.agent_timeout)
        .collect()
}
