//! Pause, resume, abort and roll back a job's active update (`pauseJobUpdate`,
//! `resumeJobUpdate`, `abortJobUpdate`, `rollbackJobUpdate`).

use aurora_events::{Event, JobKey, UpdateStatus};

use super::Decide;
use super::guards::check_message;
use crate::decision::{Out, Rejection};
use crate::state::ClusterState;
use crate::update::machine::{self, may_change};

/// What to do with the update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Steer {
    Pause,
    Resume,
    Abort,
    Rollback,
}

/// Steer the job's active update, with an optional message for its history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SteerUpdate {
    pub job: JobKey,
    pub steer: Steer,
    pub message: Option<String>,
}

impl Decide for SteerUpdate {
    fn decide(&self, state: &ClusterState, out: &mut Out) -> Result<(), Rejection> {
        let job = &self.job;
        check_message(self.message.as_deref())?;
        let (key, update) = state
            .active_update(job)
            .ok_or_else(|| Rejection::NoActiveUpdate(job.clone()))?;
        let from = update.status;
        let to = match self.steer {
            Steer::Pause => machine::paused(from),
            Steer::Resume => match machine::rolling(from) {
                Some(rolling) if !machine::is_awaiting_pulse(from) => {
                    // A coordinated update whose pulses stopped while it was paused resumes
                    // into waiting for one.
                    let coordinated = update
                        .instructions
                        .settings
                        .block_if_no_pulses_after_ms
                        .filter(|ms| *ms > 0);
                    let expired = coordinated.is_some_and(|timeout| {
                        update.last_pulse.is_none_or(|at| {
                            out.now.0.saturating_sub(at.0)
                                >= i64::try_from(timeout).unwrap_or(i64::MAX)
                        })
                    });
                    if expired {
                        machine::awaiting_pulse(rolling)
                    } else {
                        Some(rolling)
                    }
                }
                _ => None,
            },
            Steer::Abort => Some(UpdateStatus::Aborted),
            Steer::Rollback => Some(UpdateStatus::RollingBack),
        };
        let Some(to) = to else {
            return Err(refused(self.steer, from));
        };
        if to == from && self.steer == Steer::Pause {
            // Pausing a paused update changes nothing (Aurora: idempotent).
            return Ok(());
        }
        if !may_change(from, to) {
            return Err(refused(self.steer, from));
        }
        out.emit(
            Event::UpdateStateChanged {
                update: key.clone(),
                from,
                to,
                message: self.message.clone().filter(|m| !m.is_empty()),
            },
            None,
        );
        Ok(())
    }
}

impl Steer {
    fn verb(self) -> &'static str {
        match self {
            Steer::Pause => "be paused",
            Steer::Resume => "be resumed",
            Steer::Abort => "be aborted",
            Steer::Rollback => "be rolled back",
        }
    }
}

fn refused(steer: Steer, from: UpdateStatus) -> Rejection {
    Rejection::InvalidRequest(format!(
        "Update is in state {from} and cannot {}",
        steer.verb()
    ))
}
