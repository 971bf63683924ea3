//! Finding updates: a job's active update (what pause, resume, abort, rollback and `info`
//! without an id act on), one update's details, and where its web page is.

use aurora_api::{UpdateDetails, UpdateSummary};
use aurora_events::{JobKey, Uuid};

use super::list::ACTIVE_STATUSES;
use crate::client::Client;
use crate::exit::{CliError, CliResult, ExitCode};
use crate::keys::ClusterJobKey;

/// The update's page in the scheduler's web UI.
pub(crate) fn update_url(base: &str, job: &JobKey, id: Uuid) -> String {
    format!("{base}/updates/{job}/{id}")
}

/// An update id as typed on the command line.
pub(crate) fn parse_update_id(text: &str) -> CliResult<Uuid> {
    text.trim()
        .parse()
        .map_err(|_| CliError::invalid_parameter(format!("{text:?} is not an update id")))
}

/// The job's updates in `statuses` (empty = all), newest first.
pub(crate) fn job_updates(
    client: &Client,
    job: &JobKey,
    statuses: &[aurora_events::UpdateStatus],
    at: Option<&str>,
) -> CliResult<Vec<UpdateSummary>> {
    let mut path = format!(
        "/api/v1/updates?role={}&env={}&job={}",
        job.role, job.environment, job.name
    );
    if !statuses.is_empty() {
        let names: Vec<String> = statuses.iter().map(ToString::to_string).collect();
        path.push_str(&format!("&statuses={}", names.join(",")));
    }
    client.get(&crate::time::with_at(&path, at).map_err(CliError::invalid_parameter)?)
}

/// The job's active update, if any (Aurora's `UpdateController.get_update_key`). The scheduler
/// allows one per job; more than one is the scheduler's fault (exit 10).
pub(crate) fn active_update(
    client: &Client,
    job: &JobKey,
    at: Option<&str>,
) -> CliResult<Option<UpdateSummary>> {
    let mut active = job_updates(client, job, &ACTIVE_STATUSES, at)?;
    match active.len() {
        0 | 1 => Ok(active.pop()),
        _ => Err(CliError::new(
            ExitCode::ApiError,
            "The scheduler returned multiple active updates for this job.",
        )),
    }
}

/// [`details`] for the polls of a wait, asking again through a scheduler restart or
/// failover (see [`Client::try_get_patiently`]).
pub(crate) fn details_while_waiting(
    client: &Client,
    key: &ClusterJobKey,
    id: Uuid,
) -> CliResult<Option<UpdateDetails>> {
    match client.try_get_patiently(&format!("/api/v1/updates/{}/{id}", key.job))? {
        Ok(details) => Ok(Some(details)),
        Err(refusal) if refusal.is_not_found() => Ok(None),
        Err(refusal) => Err(refusal.aurora_error("Command failure:")),
    }
}

/// One update in full; `Ok(None)` when the scheduler does not know it.
pub(crate) fn details(
    client: &Client,
    key: &ClusterJobKey,
    id: Uuid,
    at: Option<&str>,
) -> CliResult<Option<UpdateDetails>> {
    let path = crate::time::with_at(&format!("/api/v1/updates/{}/{id}", key.job), at)
        .map_err(CliError::invalid_parameter)?;
    match client.try_get(&path)? {
        Ok(details) => Ok(Some(details)),
        Err(refusal) if refusal.is_not_found() => Ok(None),
        Err(refusal) => Err(refusal.aurora_error("Command failure:")),
    }
}
