//! Host maintenance: start, drain, end.

use aurora_events::{Event, MaintenanceMode, ScheduleStatus};
use aurora_scheduler_core::commands::{DrainHosts, EndMaintenance, StartMaintenance};
use aurora_scheduler_core::{Command, Effect};

use super::support::*;

#[test]
fn start_and_end_maintenance_move_known_hosts_only() {
    let given = given([agent_registered(1)]);
    given
        .when(Command::StartMaintenance(StartMaintenance {
            hosts: vec![host(1), "unknown".into()],
        }))
        .then_events(vec![Event::HostMaintenanceChanged {
            host: host(1),
            from: MaintenanceMode::None,
            to: MaintenanceMode::Scheduled,
        }]);
    assert!(
        given
            .when(Command::EndMaintenance(EndMaintenance {
                hosts: vec![host(1)]
            }))
            .decision()
            .is_empty(),
        "already NONE"
    );
}

#[test]
fn draining_a_host_drains_its_tasks_and_an_empty_host_is_drained_at_once() {
    let job = job("hello");
    let config = config(&job, 1.0, 128);
    let task = task_id(&job, 0);
    let mut events = vec![agent_registered(1), agent_registered(2)];
    events.extend(job_created(&config, std::slice::from_ref(&task)));
    events.extend(running(&job, &task, 1));
    let decision = given(events)
        .when(Command::DrainHosts(DrainHosts {
            hosts: vec![host(1), host(2)],
        }))
        .then_events(vec![
            Event::HostMaintenanceChanged {
                host: host(1),
                from: MaintenanceMode::None,
                to: MaintenanceMode::Draining,
            },
            changed(
                &job,
                &task,
                ScheduleStatus::Running,
                ScheduleStatus::Draining,
                Some("Draining machine for maintenance."),
            ),
            Event::HostMaintenanceChanged {
                host: host(2),
                from: MaintenanceMode::None,
                to: MaintenanceMode::Drained,
            },
        ]);
    pretty_assertions::assert_eq!(
        decision.effects,
        vec![Effect::Kill {
            task,
            agent: agent(1)
        }]
    );
    assert_eq!(decision.events[1].cause, Some(decision.events[0].id));
}
