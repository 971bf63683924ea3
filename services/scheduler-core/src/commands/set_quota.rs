//! `setQuota`: overwrite a role's quota.

use aurora_events::{Event, Identifier, ResourceAggregate};

use crate::decision::{Out, Rejection};
use crate::quota::check_new_quota;
use crate::state::ClusterState;

pub(crate) fn decide(
    state: &ClusterState,
    out: &mut Out,
    role: &Identifier,
    quota: &ResourceAggregate,
) -> Result<(), Rejection> {
    check_new_quota(state, role, quota)?;
    out.emit(
        Event::QuotaSet {
            role: role.clone(),
            quota: *quota,
        },
        None,
    );
    Ok(())
}
