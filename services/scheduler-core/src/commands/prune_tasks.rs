//! Admin `pruneTasks`: delete terminal tasks matching a query, oldest first; a job left with no
//! tasks at all is removed.

use std::collections::{BTreeMap, BTreeSet};

use aurora_events::{Event, JobKey, ScheduleStatus, TaskId};

use crate::decision::{Out, Rejection};
use crate::state::{ClusterState, Task};

pub(crate) fn decide(
    state: &ClusterState,
    out: &mut Out,
    job: Option<&JobKey>,
    statuses: Option<&BTreeSet<ScheduleStatus>>,
    limit: Option<usize>,
) -> Result<(), Rejection> {
    if let Some(statuses) = statuses
        && let Some(active) = statuses.iter().find(|s| !s.is_terminal())
    {
        return Err(Rejection::InvalidRequest(format!(
            "only terminal tasks can be pruned, not {active}"
        )));
    }
    let mut candidates: Vec<&Task> = state
        .tasks()
        .filter(|t| t.status.is_terminal())
        .filter(|t| job.is_none_or(|j| &t.job == j))
        .filter(|t| statuses.is_none_or(|s| s.contains(&t.status)))
        .collect();
    candidates.sort_by(|a, b| (a.last_change(), &a.id).cmp(&(b.last_change(), &b.id)));
    candidates.truncate(limit.unwrap_or(usize::MAX));
    delete_tasks(state, out, candidates.into_iter().map(|t| &t.id));
    Ok(())
}

/// Deletes tasks, then removes every job (not a cron job) that no longer has any task.
pub(crate) fn delete_tasks<'a>(
    state: &ClusterState,
    out: &mut Out,
    tasks: impl Iterator<Item = &'a TaskId>,
) {
    let mut deleted_per_job: BTreeMap<&JobKey, usize> = BTreeMap::new();
    for id in tasks {
        let Some(task) = state.task(id) else { continue };
        out.emit(
            Event::TaskDeleted {
                task: id.clone(),
                job: task.job.clone(),
            },
            Some(task.last_event),
        );
        *deleted_per_job.entry(&task.job).or_default() += 1;
    }
    for (job, deleted) in deleted_per_job {
        let remaining = state.tasks_of_job(job).count() - deleted;
        if remaining == 0 && state.job(job).is_some() && state.cron_job(job).is_none() {
            out.emit(Event::JobRemoved { job: job.clone() }, None);
        }
    }
}
