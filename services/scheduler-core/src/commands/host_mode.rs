//! Moving hosts between maintenance modes, shared by the maintenance commands.

use aurora_events::{Event, MaintenanceMode};

use crate::decision::Out;
use crate::state::ClusterState;

/// Puts each known host in `to`; unknown hosts are ignored (as in Aurora) and hosts already in
/// `to` produce no event.
pub(super) fn set_mode(state: &ClusterState, out: &mut Out, hosts: &[String], to: MaintenanceMode) {
    for host in hosts {
        let Some(record) = state.host(host) else {
            continue;
        };
        if record.mode != to {
            out.emit(
                Event::HostMaintenanceChanged {
                    host: host.clone(),
                    from: record.mode,
                    to,
                },
                None,
            );
        }
    }
}
