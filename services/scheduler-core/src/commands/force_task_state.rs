//! Admin `forceTaskState`: move a task to a state by hand, still through the state machine.

use aurora_events::{ScheduleStatus, TaskId};

use super::Decide;
use crate::decision::{Out, Rejection};
use crate::lifecycle::{change_state, who};
use crate::state::ClusterState;

/// Admin: move a task to a state through the state machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForceTaskState {
    pub task: TaskId,
    pub status: ScheduleStatus,
}

impl Decide for ForceTaskState {
    fn decide(&self, state: &ClusterState, out: &mut Out) -> Result<(), Rejection> {
        let task = state
            .task(&self.task)
            .ok_or_else(|| Rejection::UnknownTask(self.task.clone()))?;
        let before = out.decision.events.len();
        let message = format!(
            "{} {}",
            aurora_events::status::FORCED_TRANSITION,
            who(out.actor())
        );
        change_state(state, out, task, self.status, Some(message), None);
        if out.decision.events.len() == before && task.status != self.status {
            // The operator asked for something the state machine refuses: say so rather than
            // answering OK with nothing done.
            out.decision.illegal.clear();
            out.decision.effects.clear();
            return Err(Rejection::IllegalTransition {
                task: self.task.clone(),
                from: task.status,
                to: self.status,
            });
        }
        Ok(())
    }
}
