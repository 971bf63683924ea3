//! An agent missed its heartbeats: it is lost, and every task it held becomes LOST (and is
//! rescheduled as the state machine says).

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
            change_state(
                state,
                out,
                task,
                ScheduleStatus::Lost,
                Some(message.clone()),
                Some(lost),
            );
        }
        Ok(())
    }
}
