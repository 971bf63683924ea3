//! Every state change the scheduler journaled is one the state machine allows.

use aurora_events::Envelope;
use aurora_scheduler_core::ClusterState;

pub fn check(state: &ClusterState, _: &[Envelope]) -> Result<(), String> {
    match state.illegal_transitions() {
        0 => Ok(()),
        n => Err(format!("{n} illegal transitions were journaled")),
    }
}
