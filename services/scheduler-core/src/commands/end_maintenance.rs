//! `endMaintenance`: hosts return to service (NONE).

use aurora_events::MaintenanceMode;

use super::host_mode::set_mode;
use crate::decision::{Out, Rejection};
use crate::state::ClusterState;

pub(crate) fn decide(
    state: &ClusterState,
    out: &mut Out,
    hosts: &[String],
) -> Result<(), Rejection> {
    set_mode(state, out, hosts, MaintenanceMode::None);
    Ok(())
}
