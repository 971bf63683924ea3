//! The write model's indexes (timers, pending groups, agent loads, quota usage, active
//! updates) equal what scanning its records gives. A scan costs a walk over every task, so it
//! runs in the sweep at the end of each simulated step, not after every commit.

use super::Observed;

pub fn check(observed: &Observed<'_>) -> Result<(), String> {
    if !observed.is_sweep() {
        return Ok(());
    }
    observed.state.check_indexes()
}
