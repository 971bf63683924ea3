//! An agent reports a task's status. Legal changes go through the state machine; a report about
//! a task the scheduler considers gone, or does not know, or placed elsewhere, gets the task
//! killed on the reporting agent (a zombie).

use aurora_events::{AgentId, ScheduleStatus, TaskId};

use super::Decide;
use super::guards::bounded_message;
use crate::decision::{Effect, Out, Rejection};
use crate::lifecycle::change_state;
use crate::state::ClusterState;

/// An agent reported a task's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusUpdate {
    pub agent: AgentId,
    pub task: TaskId,
    pub status: ScheduleStatus,
    pub message: Option<String>,
}

impl Decide for StatusUpdate {
    fn decide(&self, state: &ClusterState, out: &mut Out) -> Result<(), Rejection> {
        let Self {
            agent,
            task: task_id,
            status,
            message,
        } = self;
        let status = *status;
        if state.agent(agent).is_none() {
            return Err(Rejection::UnknownAgent(agent.clone()));
        }
        let alive = matches!(
            status,
            ScheduleStatus::Assigned | ScheduleStatus::Starting | ScheduleStatus::Running
        );
        let Some(task) = state.task(task_id) else {
            // Unknown (or already deleted) task: if it is running, it must not be.
            out.illegal(task_id.clone(), None, status);
            if alive {
                out.effect(Effect::Kill {
                    task: task_id.clone(),
                    agent: agent.clone(),
                });
            }
            return Ok(());
        };
        let placed_here = task.assignment.as_ref().is_some_and(|a| &a.agent == agent);
        if !placed_here {
            out.illegal(task_id.clone(), Some(task.status), status);
            if alive {
                out.effect(Effect::Kill {
                    task: task_id.clone(),
                    agent: agent.clone(),
                });
            }
            return Ok(());
        }
        change_state(
            state,
            out,
            task,
            status,
            bounded_message(message.as_ref()),
            Some(task.last_event),
        );
        Ok(())
    }
}
