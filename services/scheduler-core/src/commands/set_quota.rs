//! `setQuota`: overwrite a role's quota.

use aurora_events::{Event, Identifier, ResourceAggregate};

use super::Decide;
use crate::decision::{Out, Rejection};
use crate::quota::check_new_quota;
use crate::state::ClusterState;

/// Overwrite a role's quota (`setQuota`).
#[derive(Debug, Clone, PartialEq)]
pub struct SetQuota {
    pub role: Identifier,
    pub quota: ResourceAggregate,
}

impl Decide for SetQuota {
    fn decide(&self, state: &ClusterState, out: &mut Out) -> Result<(), Rejection> {
        check_new_quota(state, &self.role, &self.quota)?;
        out.emit(
            Event::QuotaSet {
                role: self.role.clone(),
                quota: self.quota,
            },
            None,
        );
        Ok(())
    }
}
