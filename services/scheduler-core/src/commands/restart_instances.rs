//! `restartShards`: active instances go to RESTARTING (killed); a replacement is created when
//! each one dies. Every requested instance must be active.

use std::collections::BTreeSet;

use aurora_events::{Actor, InstanceId, JobKey, ScheduleStatus};

use crate::decision::{Out, Rejection};
use crate::lifecycle::{change_state, who};
use crate::state::ClusterState;

pub(crate) fn decide(
    state: &ClusterState,
    out: &mut Out,
    actor: &Actor,
    job: &JobKey,
    instances: Option<&BTreeSet<InstanceId>>,
) -> Result<(), Rejection> {
    if state.active_update(job).is_some() {
        return Err(Rejection::JobUpdating(job.clone()));
    }
    let active: Vec<_> = state.active_tasks_of_job(job).collect();
    if active.is_empty() {
        return Err(Rejection::UnknownJob(job.clone()));
    }
    if let Some(requested) = instances {
        let missing: Vec<String> = requested
            .iter()
            .filter(|i| !active.iter().any(|t| t.instance == **i))
            .map(u32::to_string)
            .collect();
        if !missing.is_empty() {
            return Err(Rejection::InvalidRequest(format!(
                "instances {} of {job} are not active",
                missing.join(",")
            )));
        }
    }
    let who = who(actor);
    for task in active
        .into_iter()
        .filter(|t| instances.is_none_or(|set| set.contains(&t.instance)))
    {
        change_state(
            state,
            out,
            task,
            ScheduleStatus::Restarting,
            Some(format!("Restarted by {who}")),
            None,
        );
    }
    Ok(())
}
