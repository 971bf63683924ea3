//! The update status machine (Aurora's `JobUpdateStateMachine`): which of the 11 states may
//! follow which, and the states that pausing, resuming, blocking on pulses and rolling back
//! lead to.

use aurora_events::UpdateStatus::{self, *};

/// Whether an update may go from `from` to `to` (Aurora's table, exactly; staying in a state
/// is not a change).
pub fn may_change(from: UpdateStatus, to: UpdateStatus) -> bool {
    match from {
        RollingForward => matches!(
            to,
            RollingBack
                | RollForwardPaused
                | RollForwardAwaitingPulse
                | RolledForward
                | Aborted
                | Failed
                | Error
        ),
        RollingBack => matches!(
            to,
            RollBackPaused | RollBackAwaitingPulse | RolledBack | Aborted | Error | Failed
        ),
        RollForwardPaused => matches!(
            to,
            RollingBack | RollingForward | RollForwardAwaitingPulse | Aborted | Error
        ),
        RollBackPaused => matches!(to, RollingBack | RollBackAwaitingPulse | Aborted | Error),
        RollForwardAwaitingPulse => matches!(
            to,
            RollingBack | RollingForward | RollForwardPaused | Aborted | Error
        ),
        RollBackAwaitingPulse => matches!(to, RollingBack | RollBackPaused | Aborted | Error),
        RolledForward | RolledBack | Aborted | Error | Failed => false,
    }
}

/// Whether the update works towards the new config (as opposed to rolling back).
pub fn is_forward(status: UpdateStatus) -> bool {
    match status {
        RollingForward | RollForwardPaused | RollForwardAwaitingPulse | RolledForward => true,
        RollingBack
        | RollBackPaused
        | RollBackAwaitingPulse
        | RolledBack
        | Aborted
        | Error
        | Failed => false,
    }
}

/// The state a pause leads to from `status` (a paused update stays paused).
pub fn paused(status: UpdateStatus) -> Option<UpdateStatus> {
    match status {
        RollingForward | RollForwardAwaitingPulse | RollForwardPaused => Some(RollForwardPaused),
        RollingBack | RollBackAwaitingPulse | RollBackPaused => Some(RollBackPaused),
        RolledForward | RolledBack | Aborted | Error | Failed => None,
    }
}

/// The rolling state a paused or blocked update returns to.
pub fn rolling(status: UpdateStatus) -> Option<UpdateStatus> {
    match status {
        RollForwardPaused | RollForwardAwaitingPulse => Some(RollingForward),
        RollBackPaused | RollBackAwaitingPulse => Some(RollingBack),
        RollingForward | RollingBack | RolledForward | RolledBack | Aborted | Error | Failed => {
            None
        }
    }
}

/// The state a coordinated update blocks in when its pulses stop, from `status`.
pub fn awaiting_pulse(status: UpdateStatus) -> Option<UpdateStatus> {
    match status {
        RollingForward | RollForwardPaused => Some(RollForwardAwaitingPulse),
        RollingBack | RollBackPaused => Some(RollBackAwaitingPulse),
        RollForwardAwaitingPulse
        | RollBackAwaitingPulse
        | RolledForward
        | RolledBack
        | Aborted
        | Error
        | Failed => None,
    }
}

/// Whether the update is waiting for a pulse.
pub fn is_awaiting_pulse(status: UpdateStatus) -> bool {
    matches!(status, RollForwardAwaitingPulse | RollBackAwaitingPulse)
}

/// Whether the controller works on the update's instances in this state.
pub fn is_rolling(status: UpdateStatus) -> bool {
    matches!(status, RollingForward | RollingBack)
}
