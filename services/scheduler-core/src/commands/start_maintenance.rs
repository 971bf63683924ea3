//! `startMaintenance`: hosts go to SCHEDULED (still used, offered last). Unknown hosts are
//! ignored, as in Aurora.

use aurora_events::MaintenanceMode;

use super::host_mode::set_mode;
use crate::decision::{Out, Rejection};
use crate::state::ClusterState;

pub(crate) fn decide(
    state: &ClusterState,
    out: &mut Out,
    hosts: &[String],
) -> Result<(), Rejection> {
    set_mode(state, out, hosts, MaintenanceMode::Scheduled);
    Ok(())
}
