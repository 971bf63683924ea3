//! Why PENDING tasks wait, from the write model alone, so any replica can answer (the pending
//! reasons of a scheduling pass exist only on the leader that ran it, and only for the tasks
//! it tried).
//!
//! The answer is a dry run of a pass over just the asked tasks: grouped and ordered as a pass
//! orders them, placed first fit over the agents' current slots, each task left over getting
//! the nearest fit's vetoes in a pass's words ("Insufficient: cpus", "Limit not satisfied:
//! host"...). A task the dry run places would fit now: it waits for the next pass (or for its
//! group's backoff). A THROTTLED task waits for its flapping penalty to end. Costs the agents
//! plus the asked tasks, not the cluster's tasks.

use std::collections::BTreeMap;

use aurora_events::{ConfigHash, InstanceId, ScheduleStatus, TaskId, Timestamp};

use crate::placement::{self, PendingGroup, PlacementInput};
use crate::scheduling::inputs::{agent_slots, job_presence, placement_settings};
use crate::state::{ClusterState, throttled_until};

/// The reason of a PENDING task that would be placed if a pass ran now.
pub const WAITING_FOR_PASS: &str = "Waiting for the next scheduling pass";

/// Why each of `tasks` that is PENDING or THROTTLED is waiting; tasks in other states, and
/// unknown ones, are left out.
pub fn explain_pending(state: &ClusterState, tasks: &[TaskId]) -> BTreeMap<TaskId, String> {
    let mut reasons = BTreeMap::new();
    let mut asked: BTreeMap<ConfigHash, Vec<(InstanceId, Timestamp, TaskId)>> = BTreeMap::new();
    for task in tasks.iter().filter_map(|id| state.task(id)) {
        match task.status {
            ScheduleStatus::Pending => asked.entry(task.config).or_default().push((
                task.instance,
                task.last_change(),
                task.id.clone(),
            )),
            ScheduleStatus::Throttled => {
                let until = throttled_until(task).to_utc_string();
                reasons.insert(
                    task.id.clone(),
                    format!("Throttled for flapping until {until}"),
                );
            }
            ScheduleStatus::Init
            | ScheduleStatus::Assigned
            | ScheduleStatus::Starting
            | ScheduleStatus::Running
            | ScheduleStatus::Finished
            | ScheduleStatus::Failed
            | ScheduleStatus::Killing
            | ScheduleStatus::Killed
            | ScheduleStatus::Lost
            | ScheduleStatus::Preempting
            | ScheduleStatus::Restarting
            | ScheduleStatus::Draining
            | ScheduleStatus::Partitioned => {}
        }
    }
    // A pass serves groups by their oldest task (of the whole group, asked or not), then hash;
    // within a group by instance.
    let mut ordered: Vec<(Timestamp, ConfigHash, Vec<TaskId>)> = asked
        .into_iter()
        .map(|(hash, mut tasks)| {
            tasks.sort();
            tasks.dedup();
            let oldest = state
                .pending_group(&hash)
                .map_or_else(Timestamp::default, |group| group.oldest());
            (
                oldest,
                hash,
                tasks.into_iter().map(|(_, _, id)| id).collect(),
            )
        })
        .collect();
    ordered.sort_by_key(|(oldest, hash, _)| (*oldest, *hash));
    let groups: Vec<PendingGroup<'_>> = ordered
        .into_iter()
        .filter_map(|(_, hash, tasks)| {
            state
                .config(&hash)
                .map(|config| PendingGroup { config, tasks })
        })
        .collect();
    if groups.is_empty() {
        return reasons;
    }
    let agents = agent_slots(state);
    let presence = job_presence(state, &groups);
    let placement = placement::place(&PlacementInput {
        agents: &agents,
        groups: &groups,
        presence: &presence,
        settings: placement_settings(state),
    });
    for fits in placement.assignments {
        reasons.insert(fits.task, WAITING_FOR_PASS.to_string());
    }
    for pending in placement.pending {
        reasons.insert(pending.task, pending.reason.to_string());
    }
    reasons
}
