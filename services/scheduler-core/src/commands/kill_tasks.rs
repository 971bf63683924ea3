//! `killTasks`: active tasks of a job (all, or the given instances) go to KILLING; tasks that
//! never left PENDING/THROTTLED are deleted at once.

use std::collections::BTreeSet;

use aurora_events::{Actor, InstanceId, JobKey, ScheduleStatus};

use crate::decision::{Out, Rejection};
use crate::lifecycle::{change_state, who};
use crate::state::ClusterState;

/// Aurora's audit message: "Killed by <user>[: message]".
pub(crate) fn kill_message(actor: &Actor, message: Option<&str>) -> String {
    let who = who(actor);
    match message {
        Some(message) if !message.is_empty() => format!("Killed by {who}: {message}"),
        Some(_) | None => format!("Killed by {who}"),
    }
}

pub(crate) fn decide(
    state: &ClusterState,
    out: &mut Out,
    actor: &Actor,
    job: &JobKey,
    instances: Option<&BTreeSet<InstanceId>>,
    message: Option<&str>,
) -> Result<(), Rejection> {
    if state.active_update(job).is_some() {
        return Err(Rejection::JobUpdating(job.clone()));
    }
    let text = kill_message(actor, message);
    let targets: Vec<_> = state
        .active_tasks_of_job(job)
        .filter(|t| instances.is_none_or(|set| set.contains(&t.instance)))
        .collect();
    // Killing nothing is not an error (Aurora answers "No tasks to kill."): the empty decision
    // says so.
    for task in targets {
        change_state(
            state,
            out,
            task,
            ScheduleStatus::Killing,
            Some(text.clone()),
            None,
        );
    }
    Ok(())
}
