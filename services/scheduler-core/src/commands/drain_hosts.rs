//! `drainHosts`: hosts go to DRAINING and every active task on them to DRAINING (killed, then
//! replaced elsewhere); a host with no tasks goes straight to DRAINED.

use aurora_events::{Event, MaintenanceMode, ScheduleStatus};

use super::Decide;
use crate::decision::{Out, Rejection};
use crate::lifecycle::change_state;
use crate::state::ClusterState;

/// Hosts are drained of tasks (DRAINING, then DRAINED).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrainHosts {
    pub hosts: Vec<String>,
}

impl Decide for DrainHosts {
    fn decide(&self, state: &ClusterState, out: &mut Out) -> Result<(), Rejection> {
        for host in &self.hosts {
            let Some(record) = state.host(host) else {
                continue;
            };
            let tasks: Vec<_> = record
                .agent
                .iter()
                .flat_map(|agent| state.tasks_on_agent(agent))
                .collect();
            let to = if tasks.is_empty() {
                MaintenanceMode::Drained
            } else {
                MaintenanceMode::Draining
            };
            let cause = (record.mode != to).then(|| {
                out.emit(
                    Event::HostMaintenanceChanged {
                        host: host.clone(),
                        from: record.mode,
                        to,
                    },
                    None,
                )
            });
            for task in tasks {
                let message = Some("Draining machine for maintenance.".to_string());
                change_state(state, out, task, ScheduleStatus::Draining, message, cause);
            }
        }
        Ok(())
    }
}
