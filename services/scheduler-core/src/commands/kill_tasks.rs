//! `killTasks`: active tasks of a job (all, or the given instances) go to KILLING; tasks that
//! never left PENDING/THROTTLED are deleted at once.

use std::collections::BTreeSet;

use aurora_events::{Actor, InstanceId, JobKey, ScheduleStatus};

use super::Decide;
use super::guards::{check_message, refuse_while_updating};
use crate::decision::{Out, Rejection};
use crate::lifecycle::{change_state, who};
use crate::state::ClusterState;

/// Kill a job's active tasks: all, or these instances (`killTasks`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KillTasks {
    pub job: JobKey,
    /// `None`: every active instance.
    pub instances: Option<BTreeSet<InstanceId>>,
    /// Appended to the audit message.
    pub message: Option<String>,
}

/// Aurora's audit message: "Killed by <user>[: message]".
pub(crate) fn kill_message(actor: &Actor, message: Option<&str>) -> String {
    let who = who(actor);
    match message {
        Some(message) if !message.is_empty() => format!("Killed by {who}: {message}"),
        Some(_) | None => format!("Killed by {who}"),
    }
}

impl Decide for KillTasks {
    fn decide(&self, state: &ClusterState, out: &mut Out) -> Result<(), Rejection> {
        check_message(self.message.as_deref())?;
        refuse_while_updating(state, &self.job)?;
        let text = kill_message(out.actor(), self.message.as_deref());
        let targets: Vec<_> = state
            .active_tasks_of_job(&self.job)
            .filter(|t| {
                self.instances
                    .as_ref()
                    .is_none_or(|set| set.contains(&t.instance))
            })
            .collect();
        // Killing nothing is not an error (Aurora answers "No tasks to kill."): the empty
        // decision says so.
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
}
