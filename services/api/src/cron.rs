//! Cron jobs: `POST /api/v1/cron` (schedule or replace), `.../deschedule`, `.../start`, and
//! `GET /api/v1/cron` (every cron job with its next run).

use aurora_events::event::CronCollisionPolicy;
use aurora_events::{TaskConfig, Timestamp};
use serde::{Deserialize, Serialize};

/// `POST /api/v1/cron`: create or replace a cron job's template (Aurora's `scheduleCronJob` /
/// `replaceCronTemplate`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScheduleCron {
    /// `role/env/name`.
    pub job: String,
    pub config: TaskConfig,
    pub instances: u32,
    /// Five crontab fields, e.g. `0 3 * * *`.
    pub cron_schedule: String,
    /// KILL_EXISTING (the default) or CANCEL_NEW.
    #[serde(default)]
    pub cron_collision_policy: CronCollisionPolicy,
}

/// One cron job, as `GET /api/v1/cron` lists them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CronJob {
    /// `role/env/name`.
    pub job: String,
    pub cron_schedule: String,
    pub cron_collision_policy: CronCollisionPolicy,
    pub instances: u32,
    /// The template's config hash.
    pub config: String,
    /// The scheduler's zone the schedule is read in (`--cron-timezone`).
    pub timezone: String,
    /// When it next fires (milliseconds since the epoch), if ever.
    pub next_run: Option<Timestamp>,
    /// When it last fired or was started.
    pub last_run: Option<Timestamp>,
    /// A KILL_EXISTING run is waiting for the job's tasks to be gone before it launches.
    pub launch_owed: bool,
    /// Active tasks of the job now.
    pub active: usize,
}
