//! # aurora-agent
//!
//! The worker daemon on every host: registers with the leading scheduler (resources and
//! attributes such as `host`, `rack`, `dedicated`), heartbeats, launches tasks in sandboxes with a
//! Thermos-like executor (ordered, retried, daemon, ephemeral and final processes; health
//! checks; graceful kill), reports every status change, and serves the observer (process list,
//! logs, read-only sandbox browsing). A hollow mode simulates many agents in one process.
//!
//! Talks to the scheduler over its HTTP API only. Must not depend on the journal, storage
//! (`rocksdb`), the scheduler's internals, the projections or the web UI.
//!
//! [`executor`] runs one task's processes in a sandbox with Thermos semantics (plans decided
//! purely in `executor::plan`, processes in their own process groups, logs under `.logs/`).
//! The first launch makes the agent a child subreaper, so that orphaned task processes
//! (double-forked daemons) are reparented to it, where the executor tracks, kills and reaps
//! them.
//!
//! [`daemon`] is the agent itself: register, heartbeat, launch and kill, report (in order, each
//! report until the scheduler has it: [`reports`]); [`client`] its side of the scheduler's
//! HTTP API, which, given every scheduler replica's URL, finds the live leader after a
//! failover and ignores work from a deposed leader (by term). [`observer`] is the read-only
//! HTTP view of the agent's tasks (processes, logs, sandbox files) that the daemon serves
//! beside it. An agent that starts first stops what tasks of an earlier agent with the same
//! work directory left running ([`executor::sweep_leftovers`]).
//!
//! [`hollow`] is the hollow mode, for scale tests: one process (`aurora-hollow-agents`)
//! simulating N agents over the same protocol, each answering launches with a scripted sequence
//! of status reports (`STARTING@0ms,RUNNING@100ms` unless the job's `hollow.script` metadata
//! says otherwise) and kills with KILLED, without processes or sandboxes.

pub mod client;
pub mod daemon;
pub mod executor;
pub mod hollow;
pub mod observer;
pub mod reports;

/// The credential an agent presents to every one of `schedulers` (the replicas of one
/// cluster): the file given (`--credential`), or else what a client on this machine would send
/// them (see `aurora_auth::client`), which must then be the same for all of them, since one
/// credential goes to every replica. `None`: nothing, for a scheduler without authentication.
pub fn credentials(
    file: Option<&std::path::Path>,
    schedulers: &[String],
) -> Result<Option<aurora_auth::Credentials>, aurora_auth::Error> {
    if let Some(path) = file {
        return aurora_auth::client::read_credential_file(path).map(Some);
    }
    let mut found = None;
    for (i, scheduler) in schedulers.iter().enumerate() {
        let here = aurora_auth::client::discover_from_env(scheduler)?;
        if i > 0 && here != found {
            return Err(aurora_auth::Error::BadCredentialFile(format!(
                "the credentials found for {} and {scheduler} differ (a ~/.netrc entry or the dev \
                 token for one host only); give the agent its own with --credential FILE",
                schedulers[0]
            )));
        }
        found = here;
    }
    Ok(found)
}
