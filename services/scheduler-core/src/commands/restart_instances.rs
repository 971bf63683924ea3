//! `restartShards`: active instances go to RESTARTING (killed); a replacement is created when
//! each one dies. Every requested instance must be active.

use std::collections::BTreeSet;

use aurora_events::{InstanceId, JobKey, ScheduleStatus};

use super::Decide;
use super::guards::refuse_while_updating;
use crate::decision::{Out, Rejection};
use crate::lifecycle::{change_state, who};
use crate::state::ClusterState;

/// Restart a job's active instances: all, or these (`restartShards`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartInstances {
    pub job: JobKey,
    /// `None`: every active instance.
    pub instances: Option<BTreeSet<InstanceId>>,
}

impl Decide for RestartInstances {
    fn decide(&self, state: &ClusterState, out: &mut Out) -> Result<(), Rejection> {
        let job = &self.job;
        refuse_while_updating(state, job)?;
        let active: Vec<_> = state.active_tasks_of_job(job).collect();
        if active.is_empty() {
            return Err(Rejection::UnknownJob(job.clone()));
        }
        if let Some(requested) = &self.instances {
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
        let message = format!("Restarted by {}", who(out.actor()));
        for task in active.into_iter().filter(|t| {
            self.instances
                .as_ref()
                .is_none_or(|set| set.contains(&t.instance))
        }) {
            change_state(
                state,
                out,
                task,
                ScheduleStatus::Restarting,
                Some(message.clone()),
                None,
            );
        }
        Ok(())
    }
}
