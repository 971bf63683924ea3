//! The shapes of the update calls: start (Aurora's `startJobUpdate`), the rolling restart that
//! is an update to the same config, pause/resume/abort/rollback of a job's active update, and
//! pulses of a coordinated update.
//!
//! Routes:
//! - `POST /api/v1/jobs/{role}/{env}/{name}/update` with [`StartUpdate`] → [`UpdateStarted`]
//! - `POST /api/v1/jobs/{role}/{env}/{name}/rolling-restart` with [`RollingRestart`] →
//!   [`UpdateStarted`]
//! - `POST /api/v1/jobs/{role}/{env}/{name}/update/{pause|resume|abort|rollback}` with
//!   [`UpdateAction`] (body optional) → [`crate::Committed`]; acts on the job's active update
//! - `POST /api/v1/updates/{role}/{env}/{name}/{id}/pulse` → [`PulseResult`]
//!
//! Reads are in `web/src/api/reads.rs`: `GET /api/v1/updates?role=&env=&job=&statuses=&user=`,
//! `GET /api/v1/jobs/{role}/{env}/{name}/updates`, `GET /api/v1/updates/{role}/{env}/{name}/{id}`.

use std::collections::{BTreeMap, BTreeSet};

use aurora_events::update::UpdateSettings;
use aurora_events::{InstanceId, TaskConfig, Uuid};
use serde::{Deserialize, Serialize};

/// The metadata key Aurora's client sets to a fresh id per `update start`, so that a retried
/// request returns the update the first attempt started instead of failing or starting another.
pub const CLIENT_UPDATE_ID: &str = "org.apache.aurora.client.update_id";

/// Aurora's answer (OK, no update) when the proposed config and instance count change nothing.
pub const UNCHANGED: &str = "Job is unchanged by proposed update.";

/// `POST /api/v1/jobs/{role}/{env}/{name}/update`: change a job's config and instance count
/// instance by instance.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StartUpdate {
    /// The config every updated instance will run.
    pub config: TaskConfig,
    /// The job's instance count once updated (instances at or beyond it are killed).
    pub instances: u32,
    /// How to roll (strategy, failures, watch time, rollback, pulses). Its
    /// `update_only_these_instances` is the scope (`KEY/0-1`); empty = every instance.
    pub settings: UpdateSettings,
    /// Client metadata, kept with the update; [`CLIENT_UPDATE_ID`] makes a retry idempotent.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Recorded on the update's first event (`aurora update start -m`).
    #[serde(default)]
    pub message: Option<String>,
}

/// `POST /api/v1/jobs/{role}/{env}/{name}/rolling-restart`: `aurora job restart` as an update
/// of the instances to the config they already run (each is killed and replaced in batches,
/// watched, and rolled back or failed as the settings say).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RollingRestart {
    /// The instances to restart; `None` = every active instance.
    #[serde(default)]
    pub instances: Option<BTreeSet<InstanceId>>,
    /// Its `update_only_these_instances` is ignored (`instances` says what to restart).
    pub settings: UpdateSettings,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// What starting an update answered.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UpdateStarted {
    /// `role/env/name`.
    pub job: String,
    /// The update started (or, for a retried request, the one the first attempt started);
    /// `None` when the job is unchanged by the proposal.
    pub id: Option<Uuid>,
    /// The seqs committed (none for a retry or an unchanged job).
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// [`UNCHANGED`] when nothing was started.
    pub message: Option<String>,
}

/// `pause`, `resume`, `abort` and `rollback`: an optional message recorded with the change.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct UpdateAction {
    #[serde(default)]
    pub message: Option<String>,
}

/// Aurora's `JobUpdatePulseStatus`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PulseStatus {
    /// The pulse was recorded (and unblocked the update if it was awaiting one).
    Ok,
    /// The update is unknown or no longer active.
    Finished,
}

/// `POST /api/v1/updates/{role}/{env}/{name}/{id}/pulse`'s answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PulseResult {
    pub status: PulseStatus,
}
