//! An agent missed its heartbeats: it is lost, and every task it held becomes LOST (and is
//! rescheduled as the state machine says).

use aurora_events::{AgentId, Event, ScheduleStatus};

use crate::decision::{Out, Rejection};
use crate::lifecycle::change_state;
use crate::state::ClusterState;

pub(crate) fn decide(
    state: &ClusterState,
    out: &mut Out,
    agent: &AgentId,
    reason: &str,
) -> Result<(), Rejection> {
    let record = state
        .agent(agent)
        .ok_or_else(|| Rejection::UnknownAgent(agent.clone()))?;
    if record.lost {
        return Ok(());
    }
    let lost = out.emit(
        Event::AgentLost {
            agent: agent.clone(),
            reason: reason.to_string(),
        },
        None,
    );
    let message = format!("Agent {agent} lost: {reason}");
    for task in state.tasks_on_agent(agent) {
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
