//! `startMaintenance`: hosts go to SCHEDULED (still used, offered last). Unknown hosts are
//! ignored, as in Aurora.

use aurora_events::MaintenanceMode;

use super::Decide;
use super::host_mode::set_mode;
use crate::decision::{Out, Rejection};
use crate::state::ClusterState;

/// Hosts enter maintenance (SCHEDULED).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartMaintenance {
    pub hosts: Vec<String>,
}

impl Decide for StartMaintenance {
    fn decide(&self, state: &ClusterState, out: &mut Out) -> Result<(), Rejection> {
        set_mode(state, out, &self.hosts, MaintenanceMode::Scheduled);
        Ok(())
    }
}
