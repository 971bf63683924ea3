//! Admin `pruneTasks`: delete terminal tasks matching a query, oldest first; a job left with no
//! tasks at all is removed.

use std::collections::{BTreeMap, BTreeSet};

use aurora_events::{Event, Identifier, JobKey, ScheduleStatus, TaskId};

use crate::decision::{Out, Rejection};
use crate::state::{ClusterState, Task};

/// Which tasks to prune: those matching every filter given.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Filter<'a> {
    pub(crate) job: Option<&'a JobKey>,
    pub(crate) role: Option<&'a Identifier>,
    pub(crate) environment: Option<&'a Identifier>,
    pub(crate) statuses: Option<&'a BTreeSet<ScheduleStatus>>,
}

impl Filter<'_> {
    fn matches(&self, task: &Task) -> bool {
        self.job.is_none_or(|j| &task.job == j)
            && self.role.is_none_or(|r| &task.job.role == r)
            && self.environment.is_none_or(|e| &task.job.environment == e)
            && self.statuses.is_none_or(|s| s.contains(&task.status))
    }
}

pub(crate) fn decide(
    state: &ClusterState,
    out: &mut Out,
    filter: &Filter<'_>,
    limit: Option<usize>,
) -> Result<(), Rejection> {
    if let Some(statuses) = filter.statuses
        && let Some(active) = statuses.iter().find(|s| !s.is_terminal())
    {
        return Err(Rejection::InvalidRequest(format!(
            "only terminal tasks can be pruned, not {active}"
        )));
    }
    let mut candidates: Vec<&Task> = state
        .tasks()
        .filter(|t| t.status.is_terminal() && filter.matches(t))
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
