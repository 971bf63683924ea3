//! The update controller's turn: every rolling update (or those of the given jobs) moves
//! along (see [`crate::update`]). The leader asks for it after commits that touched a job with
//! an active update and on every timer round (watch times, pulse timeouts).

use std::collections::BTreeSet;

use aurora_events::JobKey;

use super::Decide;
use crate::decision::{Out, Rejection};
use crate::state::ClusterState;
use crate::update::advance::advance;

/// Advance the active updates of `jobs` (every job's when `None`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AdvanceUpdates {
    pub jobs: Option<BTreeSet<JobKey>>,
}

impl Decide for AdvanceUpdates {
    fn decide(&self, state: &ClusterState, out: &mut Out) -> Result<(), Rejection> {
        match &self.jobs {
            Some(jobs) => {
                for job in jobs {
                    if let Some((key, update)) = state.active_update(job) {
                        advance(state, out, key, update, &BTreeSet::new());
                    }
                }
            }
            None => {
                for (key, update) in state.active_updates() {
                    advance(state, out, key, update, &BTreeSet::new());
                }
            }
        }
        Ok(())
    }
}
