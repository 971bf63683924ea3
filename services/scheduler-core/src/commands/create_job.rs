//! `createJob`: a new job with `instances` PENDING tasks.

use std::collections::BTreeSet;

use aurora_events::{Event, JobKey, TaskConfig};

use super::Decide;
use crate::decision::{Out, Rejection};
use crate::lifecycle::{create_pending_tasks, store_config};
use crate::quota;
use crate::state::ClusterState;
use crate::validation::{validate_environment, validate_job};

/// A new job of `instances` tasks (`createJob`).
#[derive(Debug, Clone, PartialEq)]
pub struct CreateJob {
    pub job: JobKey,
    /// Boxed: a config is large and commands are passed around by value.
    pub config: Box<TaskConfig>,
    pub instances: u32,
}

impl Decide for CreateJob {
    fn decide(&self, state: &ClusterState, out: &mut Out) -> Result<(), Rejection> {
        let Self {
            job,
            config,
            instances,
        } = self;
        validate_environment(job, state.settings())?;
        validate_job(job, config, *instances, state.settings())?;
        super::guards::refuse_while_updating(state, job)?;
        // As in Aurora, a job "exists" while it has active tasks; a finished or killed job's
        // name can be used again.
        if state.active_tasks_of_job(job).next().is_some() {
            return Err(Rejection::JobExists(job.clone()));
        }
        if state.cron_job(job).is_some() {
            return Err(Rejection::InvalidRequest(format!(
                "{job} is a cron job; use cron schedule to change it"
            )));
        }
        quota::check_addition(state, config, *instances)?;
        let hash = store_config(state, out, config);
        let created = out.emit(
            Event::JobCreated {
                job: job.clone(),
                config: hash,
                instances: *instances,
            },
            None,
        );
        let all: BTreeSet<u32> = (0..*instances).collect();
        create_pending_tasks(out, job, hash, &all, Some(created));
        Ok(())
    }
}
