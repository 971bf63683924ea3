//! The properties every simulation step must keep, one per file so that a failure names the
//! property. Each check sees what the simulator holds right after a commit: the write model,
//! the read model folded from the same envelopes, and the envelopes that commit added.

mod indexes_match_scan;
mod legal_transitions;
mod no_agent_overcommitted;
mod one_active_task_per_instance;
mod preemption_respects_tiers;
mod production_within_quota;
pub mod read_model_agrees;

use aurora_events::Envelope;
use aurora_projections::Views;
use aurora_scheduler_core::ClusterState;

/// What an invariant looks at.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    /// The write model after the commit.
    pub state: &'a ClusterState,
    /// The read model after the same commit.
    pub views: &'a Views,
    /// The envelopes of the commit; empty for a sweep between commits, which checks
    /// everything rather than what changed.
    pub recent: &'a [Envelope],
}

impl Observed<'_> {
    /// A sweep: no commit to narrow the checks to.
    pub fn is_sweep(&self) -> bool {
        self.recent.is_empty()
    }
}

type Check = fn(&Observed<'_>) -> Result<(), String>;

/// Every invariant, by name.
pub const ALL: [(&str, Check); 7] = [
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
    (
        "read model agrees with write model",
        read_model_agrees::check,
    ),
    ("indexes match a scan", indexes_match_scan::check),
];

/// Panics naming the first invariant that does not hold.
pub fn check_all(observed: &Observed<'_>) {
    for (name, check) in ALL {
        if let Err(problem) = check(observed) {
            panic!(
                "invariant '{name}' broken at seq {}: {problem}",
                observed.state.last_seq()
            );
        }
    }
}
