//! `endMaintenance`: hosts return to service (NONE).

use aurora_events::{Event, MaintenanceMode};

use crate::decision::{Out, Rejection};
use crate::state::ClusterState;

pub(crate) fn decide(
    state: &ClusterState,
    out: &mut Out,
    hosts: &[String],
) -> Result<(), Rejection> {
    for host in hosts {
        let Some(record) = state.host(host) else {
            continue;
        };
        if record.mode != MaintenanceMode::None {
            out.emit(
                Event::HostMaintenanceChanged {
                    host: host.clone(),
                    from: record.mode,
                    to: MaintenanceMode::None,
                },
                None,
            );
        }
    }
    Ok(())
}
