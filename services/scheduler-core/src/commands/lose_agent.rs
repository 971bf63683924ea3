//! An agent missed its heartbeats: it is lost, and every task it held becomes LOST (and is
//! rescheduled as the state machine says) — or, for a job with a partition policy, PARTITIONED:
//! the agent may come back, and the policy says how long to wait for it (see the tick).

use aurora_events::{AgentId, Event, ScheduleStatus};

use super::Decide;
use crate::decision::{Out, Rejection};
use crate::lifecycle::change_state;
use crate::state::ClusterState;

/// An agent missed its heartbeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoseAgent {
    pub agent: AgentId,
    pub reason: String,
}

impl Decide for LoseAgent {
    fn decide(&self, state: &ClusterState, out: &mut Out) -> Result<(), Rejection> {
        let record = state
            .agent(&self.agent)
            .ok_or_else(|| Rejection::UnknownAgent(self.agent.clone()))?;
        if record.lost {
            return Ok(());
        }
        let lost = out.emit(
            Event::AgentLost {
                agent: self.agent.clone(),
                reason: self.reason.clone(),
            },
            None,
        );
        let message = format!("Agent {} lost: {}", self.agent, self.reason);
        for task in state.tasks_on_agent(&self.agent) {
            // Only a task that got as far as STARTING can be partitioned (Aurora's table); a
            // kill-like one becomes LOST at once all the same, by the state machine. A policy
            // that reschedules with no delay leaves nothing to wait for: LOST now.
            let partition_aware = state
                .config(&task.config)
                .and_then(|config| config.partition_policy)
                .is_some_and(|policy| !policy.reschedule || policy.delay_secs > 0);
            let to = if partition_aware
                && matches!(
                    task.status,
                    ScheduleStatus::Starting
                        | ScheduleStatus::Running
                        | ScheduleStatus::Killing
                        | ScheduleStatus::Restarting
                        | ScheduleStatus::Draining
                        | ScheduleStatus::Preempting
                ) {
                ScheduleStatus::Partitioned
            } else {
                ScheduleStatus::Lost
            };
            change_state(state, out, task, to, Some(message.clone()), Some(lost));
        }
        Ok(())
    }
}
