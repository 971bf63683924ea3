//! `addInstances`: more instances of a job, with the config of one of its active instances,
//! numbered after the highest existing instance.

use std::collections::BTreeSet;

use aurora_events::{Event, InstanceId, JobKey};

use super::Decide;
use super::guards::refuse_while_updating;
use crate::decision::{Out, Rejection};
use crate::lifecycle::create_pending_tasks;
use crate::quota;
use crate::state::ClusterState;

/// `count` more instances with the config of active instance `template` (`addInstances`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddInstances {
    pub job: JobKey,
    pub template: InstanceId,
    pub count: u32,
}

impl Decide for AddInstances {
    fn decide(&self, state: &ClusterState, out: &mut Out) -> Result<(), Rejection> {
        let job = &self.job;
        if self.count == 0 {
            return Err(Rejection::InvalidRequest("count must be at least 1".into()));
        }
        refuse_while_updating(state, job)?;
        let Some(source) = state.active_task(job, self.template) else {
            return Err(Rejection::InvalidRequest(format!(
                "instance {} of {job} is not active",
                self.template
            )));
        };
        let config = state.config(&source.config).ok_or_else(|| {
            Rejection::InvalidRequest(format!("config of {job}/{} is unknown", self.template))
        })?;
        let highest = state
            .tasks_of_job(job)
            .map(|t| t.instance)
            .max()
            .unwrap_or(0);
        let existing_active = state.active_tasks_of_job(job).count() as u32;
        let max = state.settings().max_tasks_per_job;
        if existing_active.saturating_add(self.count) > max {
            return Err(Rejection::InvalidRequest(format!(
                "a job may have at most {max} instances"
            )));
        }
        quota::check_addition(state, config, self.count)?;
        let first = highest + 1;
        let instances: BTreeSet<InstanceId> = (first..first + self.count).collect();
        let total = state
            .job(job)
            .map_or(existing_active, |j| j.instances)
            .saturating_add(self.count);
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
}
