//! `addInstances`: more instances of a job, with the config of one of its active instances,
//! numbered after the highest existing instance.

use std::collections::BTreeSet;

use aurora_events::{Event, InstanceId, JobKey};

use crate::decision::{Out, Rejection};
use crate::lifecycle::create_pending_tasks;
use crate::quota;
use crate::state::ClusterState;

pub(crate) fn decide(
    state: &ClusterState,
    out: &mut Out,
    job: &JobKey,
    template: InstanceId,
    count: u32,
) -> Result<(), Rejection> {
    if count == 0 {
        return Err(Rejection::InvalidRequest("count must be at least 1".into()));
    }
    if state.active_update(job).is_some() {
        return Err(Rejection::JobUpdating(job.clone()));
    }
    let Some(source) = state.active_task(job, template) else {
        return Err(Rejection::InvalidRequest(format!(
            "instance {template} of {job} is not active"
        )));
    };
    let config = state.config(&source.config).ok_or_else(|| {
        Rejection::InvalidRequest(format!("config of {job}/{template} is unknown"))
    })?;
    let highest = state
        .tasks_of_job(job)
        .map(|t| t.instance)
        .max()
        .unwrap_or(0);
    let existing_active = state.active_tasks_of_job(job).count() as u32;
    let max = state.settings().max_tasks_per_job;
    if existing_active.saturating_add(count) > max {
        return Err(Rejection::InvalidRequest(format!(
            "a job may have at most {max} instances"
        )));
    }
    quota::check_addition(state, config, count)?;
    let first = highest + 1;
    let instances: BTreeSet<InstanceId> = (first..first + count).collect();
    let total = state
        .job(job)
        .map_or(existing_active, |j| j.instances)
        .saturating_add(count);
    let replaced = out.emit(
        Event::JobConfigReplaced {
            job: job.clone(),
            config: source.config,
            instances: total,
        },
        None,
    );
    create_pending_tasks(out, job, source.config, &instances, Some(replaced));
    Ok(())
}
