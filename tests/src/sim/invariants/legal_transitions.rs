//! Every state change the scheduler journaled is one the state machine allows.

use super::Observed;

pub fn check(observed: &Observed<'_>) -> Result<(), String> {
    match observed.state.illegal_transitions() {
        0 => Ok(()),
        n => Err(format!("{n} illegal transitions were journaled")),
    }
}
