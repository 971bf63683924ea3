//! The properties every simulation step must keep, one per file so that a failure names the
//! property. Each check sees the state after a commit and the envelopes that commit added.

mod legal_transitions;
mod no_agent_overcommitted;
mod one_active_task_per_instance;
mod preemption_respects_tiers;
mod production_within_quota;

use aurora_events::Envelope;
use aurora_scheduler_core::ClusterState;

type Check = fn(&ClusterState, &[Envelope]) -> Result<(), String>;

/// Every invariant, by name.
pub const ALL: [(&str, Check); 5] = [
    (
        "one active task per instance",
        one_active_task_per_instance::check,
    ),
    ("no agent over-committed", no_agent_overcommitted::check),
    ("production within quota", production_within_quota::check),
    (
        "preemption respects tiers",
        preemption_respects_tiers::check,
    ),
    ("only legal transitions applied", legal_transitions::check),
];

/// Panics naming the first invariant that does not hold.
pub fn check_all(state: &ClusterState, journal: &[Envelope]) {
    // Only the envelopes of the last commit need looking at for event-based checks; the
    // journal's tail since the previous check is at most one decision long.
    let tail_start = journal.len().saturating_sub(4096);
    for (name, check) in ALL {
        if let Err(problem) = check(state, &journal[tail_start..]) {
            panic!(
                "invariant '{name}' broken at seq {}: {problem}",
                state.last_seq()
            );
        }
    }
}
