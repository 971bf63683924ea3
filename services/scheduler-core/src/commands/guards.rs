//! Preconditions several commands share, stated once.

use aurora_events::JobKey;

use crate::decision::Rejection;
use crate::state::ClusterState;

/// The guard of the commands that change a job's instances by hand (kill, restart, add
/// instances): while an update owns the job they would fight it, so they are refused.
pub(super) fn refuse_while_updating(state: &ClusterState, job: &JobKey) -> Result<(), Rejection> {
    match state.active_update(job) {
        Some(_) => Err(Rejection::JobUpdating(job.clone())),
        None => Ok(()),
    }
}
