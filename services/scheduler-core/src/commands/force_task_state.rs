//! Admin `forceTaskState`: move a task to a state by hand, still through the state machine.

use aurora_events::{Actor, ScheduleStatus, TaskId};

use crate::decision::{Out, Rejection};
use crate::lifecycle::{change_state, who};
use crate::state::ClusterState;

pub(crate) fn decide(
    state: &ClusterState,
    out: &mut Out,
    actor: &Actor,
    task_id: &TaskId,
    status: ScheduleStatus,
) -> Result<(), Rejection> {
    let task = state
        .task(task_id)
        .ok_or_else(|| Rejection::UnknownTask(task_id.clone()))?;
    let before = out.decision.events.len();
    change_state(
        state,
        out,
        task,
        status,
        Some(format!("Transition forced by {}", who(actor))),
        None,
    );
    if out.decision.events.len() == before && task.status != status {
        // The operator asked for something the state machine refuses: say so rather than
        // answering OK with nothing done.
        out.decision.illegal.clear();
        out.decision.effects.clear();
        return Err(Rejection::IllegalTransition {
            task: task_id.clone(),
            from: task.status,
            to: status,
        });
    }
    Ok(())
}
