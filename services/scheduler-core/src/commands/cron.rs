//! Cron jobs: `scheduleCronJob`/`replaceCronTemplate`, `descheduleCronJob`, `startCronJob`,
//! and the leader's round that fires schedules and makes the launch a KILL_EXISTING firing
//! owes once the job's tasks are gone.
//!
//! A trigger (a firing or a start) launches every instance when the job has no active tasks.
//! Otherwise KILL_EXISTING kills them ("Killed by cronScheduler") and owes a launch, made by
//! the next [`CronRound`] once they are all gone; triggers meanwhile change nothing but are
//! recorded as skipped. CANCEL_NEW skips the run. Each outcome is a `CronTriggered` event, the
//! cause of the kills or tasks it brings, so a replay and a new leader see what was done.

use std::collections::BTreeSet;

use aurora_events::event::{CronCollisionPolicy, CronOutcome};
use aurora_events::{Event, JobKey, ScheduleStatus, TaskConfig, Timestamp};

use super::Decide;
use super::guards::refuse_while_updating;
use crate::cron::CronSchedule;
use crate::decision::{Out, Rejection};
use crate::lifecycle::{change_state, create_pending_tasks, store_config};
use crate::quota;
use crate::state::ClusterState;
use crate::validation::{validate_environment, validate_job};

/// The message on tasks a KILL_EXISTING trigger kills, as Aurora's.
pub const CRON_KILL_MESSAGE: &str = "Killed by cronScheduler";

/// Create or replace a cron job's template (`scheduleCronJob`, `replaceCronTemplate`).
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleCronJob {
    pub job: JobKey,
    /// Boxed: a config is large and commands are passed around by value.
    pub config: Box<TaskConfig>,
    pub instances: u32,
    pub schedule: String,
    pub collision_policy: CronCollisionPolicy,
}

impl Decide for ScheduleCronJob {
    fn decide(&self, state: &ClusterState, out: &mut Out) -> Result<(), Rejection> {
        let Self {
            job,
            config,
            instances,
            schedule,
            collision_policy,
        } = self;
        validate_environment(job, state.settings())?;
        validate_job(job, config, *instances, state.settings())?;
        if config.is_service {
            return Err(Rejection::InvalidRequest(format!(
                "A service task may not be run on a cron schedule: {job}"
            )));
        }
        let schedule =
            CronSchedule::parse(schedule).map_err(|e| Rejection::InvalidRequest(e.to_string()))?;
        if *collision_policy == CronCollisionPolicy::RunOverlap {
            return Err(Rejection::InvalidRequest(
                "The RUN_OVERLAP collision policy has been removed; use KILL_EXISTING or CANCEL_NEW"
                    .into(),
            ));
        }
        refuse_while_updating(state, job)?;
        let existing = state.cron_job(job);
        // A job started by `job create` is not turned into a cron job under its tasks' feet.
        if existing.is_none() && state.active_tasks_of_job(job).next().is_some() {
            return Err(Rejection::JobExists(job.clone()));
        }
        // A template, new or replaced, must fit the role's quota once it runs.
        quota::check_cron_template(state, config, *instances)?;
        let hash = store_config(state, out, config);
        out.emit(
            Event::CronScheduled {
                job: job.clone(),
                config: hash,
                instances: *instances,
                schedule: schedule.as_str().to_string(),
                collision_policy: *collision_policy,
            },
            None,
        );
        Ok(())
    }
}

/// Remove a cron job's template (`descheduleCronJob`); its running tasks are left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescheduleCronJob {
    pub job: JobKey,
}

impl Decide for DescheduleCronJob {
    fn decide(&self, state: &ClusterState, out: &mut Out) -> Result<(), Rejection> {
        not_cron(state, &self.job)?;
        out.emit(
            Event::CronDescheduled {
                job: self.job.clone(),
            },
            None,
        );
        Ok(())
    }
}

/// Run a cron job now (`startCronJob`), as if its schedule had fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartCronJob {
    pub job: JobKey,
}

impl Decide for StartCronJob {
    fn decide(&self, state: &ClusterState, out: &mut Out) -> Result<(), Rejection> {
        not_cron(state, &self.job)?;
        trigger(state, out, &self.job);
        Ok(())
    }
}

/// The leader's cron round, every few hundred milliseconds: fires each job whose schedule
/// came due since it last fired (but not before `since`, when this leader took over: firings
/// missed while no leader ran are not caught up, as in Aurora), and launches the jobs whose
/// KILL_EXISTING run owes a launch once their tasks are all gone.
///
/// The time a job last fired is in the write model (`CronTriggered`), so a round repeated, a
/// driver restarted or a new leader never fires the same due time twice. A job whose firings
/// fell due several times since is fired once. A launch is made at the first round after the
/// last killed task is gone, rather than on Aurora's 5 s to 1 min retries (which exist there
/// because Quartz re-runs the whole trigger).
/// Schedules are read in the settings' zone (`--cron-timezone`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronRound {
    /// When this leader began: nothing due before it fires.
    pub since: Timestamp,
}

impl Decide for CronRound {
    fn decide(&self, state: &ClusterState, out: &mut Out) -> Result<(), Rejection> {
        let now = out.now;
        let mut launched = BTreeSet::new();
        for (job, record) in state.cron_jobs() {
            if record.launch_owed && state.active_tasks_of_job(job).next().is_none() {
                launch(state, out, job);
                launched.insert(job.clone());
            }
        }
        for (job, record) in state.cron_jobs() {
            if launched.contains(job) {
                continue;
            }
            // Stored schedules were checked when scheduled; one that no longer parses (a
            // journal from a laxer version) never fires rather than failing every round.
            let Ok(schedule) = CronSchedule::parse(&record.schedule) else {
                continue;
            };
            // Due times before the schedule was set, before it last fired, or before this
            // leader began are never made up.
            let from = record
                .last_triggered
                .unwrap_or(record.scheduled_at)
                .max(record.scheduled_at)
                .max(self.since);
            if schedule
                .next_after(from, &state.settings().cron_zone)
                .is_some_and(|due| due <= now)
            {
                trigger(state, out, job);
            }
        }
        Ok(())
    }
}

fn not_cron(state: &ClusterState, job: &JobKey) -> Result<(), Rejection> {
    match state.cron_job(job) {
        Some(_) => Ok(()),
        None => Err(Rejection::InvalidRequest(format!(
            "{job} is not a cron job"
        ))),
    }
}

/// What a trigger does, by the job's tasks and collision policy (see the module's docs).
fn trigger(state: &ClusterState, out: &mut Out, job: &JobKey) {
    let Some(record) = state.cron_job(job) else {
        return;
    };
    let active: Vec<_> = state.active_tasks_of_job(job).collect();
    if record.launch_owed {
        // A KILL_EXISTING run is still waiting for its victims: this trigger is dropped.
        out.emit(skipped(job), None);
        return;
    }
    if active.is_empty() {
        launch(state, out, job);
        return;
    }
    match record.collision_policy {
        CronCollisionPolicy::KillExisting => {
            let cause = out.emit(
                Event::CronTriggered {
                    job: job.clone(),
                    outcome: CronOutcome::KillingExisting,
                },
                None,
            );
            for task in active {
                // Tasks already KILLING are on their way out; the rest are asked to go.
                if task.status != ScheduleStatus::Killing {
                    change_state(
                        state,
                        out,
                        task,
                        ScheduleStatus::Killing,
                        Some(CRON_KILL_MESSAGE.to_string()),
                        Some(cause),
                    );
                }
            }
        }
        CronCollisionPolicy::CancelNew | CronCollisionPolicy::RunOverlap => {
            out.emit(skipped(job), None);
        }
    }
}

fn skipped(job: &JobKey) -> Event {
    Event::CronTriggered {
        job: job.clone(),
        outcome: CronOutcome::Skipped,
    }
}

/// New PENDING tasks for every instance of the template, caused by the launch's event.
fn launch(state: &ClusterState, out: &mut Out, job: &JobKey) {
    let Some(record) = state.cron_job(job) else {
        return;
    };
    let cause = out.emit(
        Event::CronTriggered {
            job: job.clone(),
            outcome: CronOutcome::Launched,
        },
        None,
    );
    let instances: BTreeSet<u32> = (0..record.instances).collect();
    create_pending_tasks(out, job, record.config, &instances, Some(cause));
}
