//! Admin `pruneTasks`: delete terminal tasks matching a query, oldest first; a job left with no
//! tasks at all is removed.

use std::collections::{BTreeMap, BTreeSet};

use aurora_events::{Event, Identifier, JobKey, ScheduleStatus, TaskId, Timestamp};

use super::Decide;
use crate::decision::{Out, Rejection};
use crate::state::{ClusterState, Task};

/// Admin: delete terminal tasks matching every filter given, oldest first, at most `limit`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PruneTasks {
    pub job: Option<JobKey>,
    pub role: Option<Identifier>,
    pub environment: Option<Identifier>,
    /// Only terminal statuses may be named.
    pub statuses: Option<BTreeSet<ScheduleStatus>>,
    pub limit: Option<usize>,
}

impl PruneTasks {
    fn matches(&self, task: &Task) -> bool {
        self.job.as_ref().is_none_or(|j| *task.job == *j)
            && self.role.as_ref().is_none_or(|r| &task.job.role == r)
            && self
                .environment
                .as_ref()
                .is_none_or(|e| &task.job.environment == e)
            && self
                .statuses
                .as_ref()
                .is_none_or(|s| s.contains(&task.status))
    }
}

impl Decide for PruneTasks {
    fn decide(&self, state: &ClusterState, out: &mut Out) -> Result<(), Rejection> {
        if let Some(statuses) = &self.statuses
            && let Some(active) = statuses.iter().find(|s| !s.is_terminal())
        {
            return Err(Rejection::InvalidRequest(format!(
                "only terminal tasks can be pruned, not {active}"
            )));
        }
        // Oldest first, then by id: the order of the index of terminal tasks.
        let candidates = state
            .terminal_until(Timestamp(i64::MAX))
            .filter_map(|(_, id)| state.task(id))
            .filter(|t| self.matches(t))
            .take(self.limit.unwrap_or(usize::MAX));
        delete_tasks(state, out, candidates.map(|t| &t.id));
        Ok(())
    }
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
                job: JobKey::clone(&task.job),
            },
            Some(task.last_event),
        );
        *deleted_per_job.entry(&task.job).or_default() += 1;
    }
    for (job, deleted) in deleted_per_job {
        let remaining = state.task_count_of_job(job).saturating_sub(deleted);
        if remaining == 0 && state.job(job).is_some() && state.cron_job(job).is_none() {
            out.emit(Event::JobRemoved { job: job.clone() }, None);
        }
    }
}
