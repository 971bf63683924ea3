//! `endMaintenance`: hosts return to service (NONE).

use aurora_events::MaintenanceMode;

use super::Decide;
use super::host_mode::set_mode;
use crate::decision::{Out, Rejection};
use crate::state::ClusterState;

/// Hosts return to service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndMaintenance {
    pub hosts: Vec<String>,
}

impl Decide for EndMaintenance {
    fn decide(&self, state: &ClusterState, out: &mut Out) -> Result<(), Rejection> {
        set_mode(state, out, &self.hosts, MaintenanceMode::None);
        Ok(())
    }
}
