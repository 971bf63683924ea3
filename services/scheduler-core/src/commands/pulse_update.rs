//! `pulseJobUpdate`: an external service says a coordinated update may go on.

use aurora_events::{Event, UpdateKey};

use super::Decide;
use crate::decision::{Out, Rejection};
use crate::state::ClusterState;
use crate::update::machine;

/// A pulse for `update`: recorded, and an update blocked for want of one is unblocked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PulseUpdate {
    pub update: UpdateKey,
}

impl Decide for PulseUpdate {
    fn decide(&self, state: &ClusterState, out: &mut Out) -> Result<(), Rejection> {
        let key = &self.update;
        let Some(update) = state.update(key).filter(|u| u.status.is_active()) else {
            return Err(Rejection::UpdateNotActive(key.clone()));
        };
        let pulsed = out.emit(
            Event::UpdatePulsed {
                update: key.clone(),
            },
            None,
        );
        if machine::is_awaiting_pulse(update.status)
            && let Some(rolling) = machine::rolling(update.status)
        {
            out.emit(
                Event::UpdateStateChanged {
                    update: key.clone(),
                    from: update.status,
                    to: rolling,
                    message: None,
                },
                Some(pulsed),
            );
        }
        Ok(())
    }
}
