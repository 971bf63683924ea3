//! Preconditions several commands share, stated once.

use std::collections::BTreeMap;

use aurora_events::JobKey;

use crate::decision::Rejection;
use crate::state::ClusterState;

/// The guard of the commands that change a job's instances by hand (kill, restart, add
/// instances): while an update owns the job they would fight it, so they are refused.
pub(super) fn refuse_while_updating(state: &ClusterState, job: &JobKey) -> Result<(), Rejection> {
    match state.active_update(job) {
        Some(_) => Err(Rejection::JobUpdating(job.clone())),
        None => Ok(()),
    }
}

/// The longest message a user may attach to a command (`-m`). A kill's message is copied into
/// the audit entry of every task it kills: unbounded, one request of a few megabytes would
/// write gigabytes to the journal and stall the leader.
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// The most metadata an update may carry, keys and values together.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;

/// Refuses a user's message longer than [`MAX_MESSAGE_BYTES`].
pub(super) fn check_message(message: Option<&str>) -> Result<(), Rejection> {
    match message {
        Some(text) if text.len() > MAX_MESSAGE_BYTES => Err(Rejection::InvalidRequest(format!(
            "the message is {} bytes long; at most {MAX_MESSAGE_BYTES} are accepted",
            text.len()
        ))),
        _ => Ok(()),
    }
}

/// Refuses update metadata larger than [`MAX_METADATA_BYTES`] in all.
pub(super) fn check_metadata(metadata: &BTreeMap<String, String>) -> Result<(), Rejection> {
    let size: usize = metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_METADATA_BYTES {
        return Err(Rejection::InvalidRequest(format!(
            "the update's metadata is {size} bytes long; at most {MAX_METADATA_BYTES} are \
             accepted"
        )));
    }
    Ok(())
}

/// An agent's status message cut to [`MAX_MESSAGE_BYTES`] (at a character boundary, marked):
/// an agent's report is never refused for its length, since the state change it carries must
/// not be lost.
pub(super) fn bounded_message(message: Option<&String>) -> Option<String> {
    message.map(|text| {
        if text.len() <= MAX_MESSAGE_BYTES {
            return text.clone();
        }
        let mut end = MAX_MESSAGE_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}… ({} bytes cut)", &text[..end], text.len() - end)
    })
}
