//! `update pause | resume | abort | rollback [--wait]` on a job's active update, and `update
//! pulse` of a coordinated one. Messages and exit codes are Aurora's `UpdateController`'s.

use aurora_api::{Committed, PulseResult, PulseStatus, UpdateAction};

use super::lookup::{active_update, parse_update_id};
use super::verbs::MessageArg;
use super::wait::{Goal, wait_printing_states};
use crate::context::Context;
use crate::exit::{CliError, CliResult};
use crate::keys::ClusterJobKey;

/// What to do to the active update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Steer {
    Pause,
    Resume,
    Abort,
    Rollback,
}

impl Steer {
    /// The last segment of `/api/v1/jobs/{job}/update/{action}`.
    fn action(self) -> &'static str {
        match self {
            Steer::Pause => "pause",
            Steer::Resume => "resume",
            Steer::Abort => "abort",
            Steer::Rollback => "rollback",
        }
    }

    /// Aurora's words on success (stdout).
    pub(crate) fn done(self) -> &'static str {
        match self {
            Steer::Pause => "Update has been paused.",
            Steer::Resume => "Update has been resumed.",
            Steer::Abort => "Update has been aborted.",
            Steer::Rollback => "Update rollback has started.",
        }
    }

    /// Aurora's headline when the scheduler refuses (stderr, exit 10).
    pub(crate) fn refused(self) -> String {
        format!("Failed to {} update due to error:", self.action())
    }
}

/// Applies `steer` to the job's active update and returns the update's id. No active update is
/// Aurora's exit 6 with "No active update found for this job.".
fn apply(
    client: &crate::client::Client,
    key: &ClusterJobKey,
    steer: Steer,
    message: &MessageArg,
) -> CliResult<aurora_events::Uuid> {
    let Some(update) = active_update(client, &key.job, None)? else {
        return Err(CliError::invalid_parameter(
            "No active update found for this job.",
        ));
    };
    let body = UpdateAction {
        message: message.message.clone(),
    };
    let path = format!("/api/v1/jobs/{}/update/{}", key.job, steer.action());
    match client.try_post::<Committed>(&path, &body)? {
        Ok(_) => {
            println!("{}", steer.done());
            Ok(update.id)
        }
        Err(refusal) => Err(refusal.aurora_error(&steer.refused())),
    }
}

pub(crate) fn steer(ctx: &Context, key: &str, steer: Steer, message: &MessageArg) -> CliResult {
    let key: ClusterJobKey = key.parse()?;
    let client = ctx.client(&key.cluster)?;
    apply(&client, &key, steer, message).map(|_| ())
}

/// `update rollback [--wait]`: with `--wait`, success is ROLLED_BACK.
pub(crate) fn rollback(ctx: &Context, key: &str, message: &MessageArg, wait: bool) -> CliResult {
    let key: ClusterJobKey = key.parse()?;
    let client = ctx.client(&key.cluster)?;
    let id = apply(&client, &key, Steer::Rollback, message)?;
    if wait {
        return wait_printing_states(&client, &key, id, Goal::RollBack);
    }
    Ok(())
}

/// `update pulse KEY ID`. Aurora's client has no such verb (coordinators call
/// `pulseJobUpdate` themselves); this one says what the scheduler answered: OK (exit 0), or
/// FINISHED — the update is over or unknown, so the caller should stop pulsing (exit 4).
pub(crate) fn pulse(ctx: &Context, key: &str, id: &str) -> CliResult {
    let key: ClusterJobKey = key.parse()?;
    let id = parse_update_id(id)?;
    let client = ctx.client(&key.cluster)?;
    let path = format!("/api/v1/updates/{}/{id}/pulse", key.job);
    let result = match client.try_post::<PulseResult>(&path, &UpdateAction::default())? {
        Ok(result) => result,
        Err(refusal) => return Err(refusal.aurora_error("Failed to pulse update due to error:")),
    };
    println!("{}", pulse_line(id, result.status));
    match result.status {
        PulseStatus::Ok => Ok(()),
        PulseStatus::Finished => Err(CliError::failure(format!(
            "update {id} of {key} is not active: pulses are no longer needed"
        ))),
    }
}

pub(crate) fn pulse_line(id: aurora_events::Uuid, status: PulseStatus) -> String {
    match status {
        PulseStatus::Ok => format!("Pulse sent to update {id}: OK"),
        PulseStatus::Finished => format!("Pulse sent to update {id}: FINISHED"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_aurora_words() {
        let done: Vec<&str> = [Steer::Pause, Steer::Resume, Steer::Abort, Steer::Rollback]
            .into_iter()
            .map(Steer::done)
            .collect();
        assert_eq!(
            done,
            [
                "Update has been paused.",
                "Update has been resumed.",
                "Update has been aborted.",
                "Update rollback has started."
            ]
        );
        assert_eq!(
            Steer::Rollback.refused(),
            "Failed to rollback update due to error:"
        );
        assert_eq!(
            Steer::Pause.refused(),
            "Failed to pause update due to error:"
        );
        let id = aurora_events::Uuid::from_u128(7);
        assert_eq!(
            pulse_line(id, PulseStatus::Finished),
            "Pulse sent to update 00000000-0000-0000-0000-000000000007: FINISHED"
        );
    }
}
