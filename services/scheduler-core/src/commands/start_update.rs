//! `startJobUpdate`: a rolling update of a job to a new config and instance count, and the
//! rolling restart that is an update of instances to the config they already run.

use std::collections::{BTreeMap, BTreeSet};

use aurora_events::quota::{Bucket, Exact};
use aurora_events::update::{UpdateInstructions, UpdateSettings, UpdateStrategy};
use aurora_events::{ConfigHash, Event, InstanceId, JobKey, TaskConfig, UpdateKey, UpdateStatus};

use super::Decide;
use super::guards::{check_message, check_metadata};
use crate::decision::{Out, Rejection};
use crate::lifecycle::{store_config, who};
use crate::state::ClusterState;
use crate::update::machine::awaiting_pulse;
use crate::update::{START_MESSAGE_KEY, diff};
use crate::validation::{validate_environment, validate_job};

/// The metadata key Aurora's client sets to a fresh id per start: a retried start with the
/// same id returns the update the first attempt started.
pub const CLIENT_UPDATE_ID: &str = "org.apache.aurora.client.update_id";

/// Most failures an update may tolerate over all its instances together
/// (`max_per_instance_failures × instances`, Aurora's `-max_update_instance_failures`).
pub const MAX_UPDATE_INSTANCE_FAILURES: u64 = 20_000;

/// Update `job` to `config` × `instances`, instance by instance (`startJobUpdate`).
#[derive(Debug, Clone, PartialEq)]
pub struct StartUpdate {
    pub job: JobKey,
    pub config: Box<TaskConfig>,
    pub instances: u32,
    pub settings: UpdateSettings,
    pub metadata: BTreeMap<String, String>,
    pub message: Option<String>,
}

/// Restart `instances` of `job` (all active ones when `None`) as an update to the config they
/// run: each is killed and replaced in batches, watched, and the restart rolled back or failed
/// as the settings say (`aurora job restart`).
#[derive(Debug, Clone, PartialEq)]
pub struct RollingRestart {
    pub job: JobKey,
    pub instances: Option<BTreeSet<InstanceId>>,
    pub settings: UpdateSettings,
    pub metadata: BTreeMap<String, String>,
    pub message: Option<String>,
}

impl Decide for StartUpdate {
    fn decide(&self, state: &ClusterState, out: &mut Out) -> Result<(), Rejection> {
        let job = &self.job;
        check_message(self.message.as_deref())?;
        check_metadata(&self.metadata)?;
        if let Some(key) = retried(state, job, &self.metadata) {
            out.decision.update = Some(key);
            return Ok(());
        }
        validate_job(job, &self.config, self.instances, state.settings())?;
        if !self.config.is_service {
            return Err(Rejection::InvalidRequest(format!(
                "{job} is not a service; only services can be updated (kill and create it again)"
            )));
        }
        common_checks(state, job, &self.settings, self.instances)?;
        check_sla_aware(state, job, &self.settings, Some(&self.config))?;
        // As in Aurora, a job without active tasks may be updated: every instance is added.
        let current = diff::current_instances(state, job);
        if current.is_empty() {
            // This update creates the job: its key enters the cluster here.
            validate_environment(job, state.settings())?;
        }
        let hash = self.config.hash();
        let instructions = diff::instructions(&current, hash, self.instances, &self.settings)?;
        check_quota(state, &self.config, &current, &instructions)?;
        store_config(state, out, &self.config);
        start(
            state,
            out,
            job,
            instructions,
            &self.metadata,
            self.message.as_deref(),
        );
        Ok(())
    }
}

impl Decide for RollingRestart {
    fn decide(&self, state: &ClusterState, out: &mut Out) -> Result<(), Rejection> {
        let job = &self.job;
        check_message(self.message.as_deref())?;
        check_metadata(&self.metadata)?;
        if let Some(key) = retried(state, job, &self.metadata) {
            out.decision.update = Some(key);
            return Ok(());
        }
        let current = diff::current_instances(state, job);
        if current.is_empty() {
            return Err(Rejection::UnknownJob(job.clone()));
        }
        let instructions =
            diff::restart_instructions(&current, job, self.instances.as_ref(), &self.settings)?;
        let count = current.len() as u32;
        common_checks(state, job, &instructions.settings, count)?;
        check_sla_aware(state, job, &instructions.settings, None)?;
        let services = instructions
            .initial_state
            .iter()
            .all(|group| state.config(&group.config).is_some_and(|c| c.is_service));
        if !services {
            return Err(Rejection::InvalidRequest(format!(
                "{job} is not a service; only services can be restarted by the updater"
            )));
        }
        start(
            state,
            out,
            job,
            instructions,
            &self.metadata,
            self.message.as_deref(),
        );
        Ok(())
    }
}

/// The update a retried start (same client update id) already started, if any.
fn retried(
    state: &ClusterState,
    job: &JobKey,
    metadata: &BTreeMap<String, String>,
) -> Option<UpdateKey> {
    let id = metadata.get(CLIENT_UPDATE_ID)?;
    state
        .updates_of_job(job)
        .rev()
        .find(|(_, update)| update.metadata.get(CLIENT_UPDATE_ID) == Some(id))
        .map(|(key, _)| key.clone())
}

/// Checks shared by updates and restarts: no other active update, not a cron job, valid
/// settings.
fn common_checks(
    state: &ClusterState,
    job: &JobKey,
    settings: &UpdateSettings,
    instances: u32,
) -> Result<(), Rejection> {
    if let Some((key, _)) = state.active_update(job) {
        return Err(Rejection::UpdateInProgress(key.clone()));
    }
    if state.cron_job(job).is_some() {
        return Err(Rejection::InvalidRequest(format!(
            "{job} is a cron job; use cron schedule to change it"
        )));
    }
    validate_settings(settings, instances)
}

/// An sla_aware update needs an SLA to keep: the new config's policy (for a restart, the
/// running configs'), or the preferred tier's default. A coordinator policy is kept by asking
/// the coordinator before each kill.
fn check_sla_aware(
    state: &ClusterState,
    job: &JobKey,
    settings: &UpdateSettings,
    new: Option<&TaskConfig>,
) -> Result<(), Rejection> {
    if !settings.sla_aware {
        return Ok(());
    }
    let running: Vec<&TaskConfig> = state
        .active_tasks_of_job(job)
        .filter_map(|task| state.config(&task.config))
        .collect();
    let judged: Vec<&TaskConfig> = match new {
        Some(config) => vec![config],
        None => running.clone(),
    };
    if judged
        .iter()
        .any(|config| crate::sla::policy_of(config).is_none())
    {
        return Err(Rejection::InvalidRequest(
            "an sla_aware update needs an SLA policy to keep: give the job an sla_policy, or run \
             it in the preferred tier (whose default is 95% over 30 minutes)"
                .into(),
        ));
    }
    Ok(())
}

/// Aurora's checks on `JobUpdateSettings`.
fn validate_settings(settings: &UpdateSettings, instances: u32) -> Result<(), Rejection> {
    let invalid = |message: String| Err(Rejection::InvalidRequest(message));
    match &settings.strategy {
        UpdateStrategy::Queue { group_size } | UpdateStrategy::Batch { group_size, .. } => {
            if *group_size == 0 {
                return invalid("Update group size(s) must be positive.".into());
            }
        }
        UpdateStrategy::VariableBatch { group_sizes, .. } => {
            if group_sizes.is_empty() || group_sizes.contains(&0) {
                return invalid("Update group size(s) must be positive.".into());
            }
        }
    }
    let total = u64::from(settings.max_per_instance_failures) * u64::from(instances);
    if total > MAX_UPDATE_INSTANCE_FAILURES {
        return invalid(format!(
            "max_per_instance_failures × instances ({total}) exceeds the limit of {MAX_UPDATE_INSTANCE_FAILURES}"
        ));
    }
    Ok(())
}

/// Quota for an update in flight: each changed instance holds the larger of its old and new
/// configs, each added one its new config (Aurora's rule); only production configs count.
fn check_quota(
    state: &ClusterState,
    config: &TaskConfig,
    current: &BTreeMap<InstanceId, ConfigHash>,
    instructions: &UpdateInstructions,
) -> Result<(), Rejection> {
    if !Bucket::of(config).counts_against_quota() {
        return Ok(());
    }
    let Some(desired) = &instructions.desired_state else {
        return Ok(());
    };
    let new = Exact::of_config(config);
    let mut extra = Exact::ZERO;
    for range in &desired.instances {
        for instance in range.first..=range.last {
            let old = current
                .get(&instance)
                .and_then(|hash| state.config(hash))
                .filter(|old| Bucket::of(old).counts_against_quota())
                .map(Exact::of_config)
                .unwrap_or(Exact::ZERO);
            extra = extra.plus(old.max_each(new).minus(old));
        }
    }
    let role = &config.job.role;
    let quota = state.quota(role);
    let wanted = crate::quota::prod_consumption(state, role, Some(&config.job)).plus(extra);
    if wanted.fits_within(&Exact::of(&quota)) {
        Ok(())
    } else {
        let used = wanted.aggregate();
        Err(Rejection::InsufficientQuota(format!(
            "role {role} would use cpus {}, ram {} MiB, disk {} MiB during the update but its quota is cpus {}, ram {} MiB, disk {} MiB",
            used.cpus, used.ram_mb, used.disk_mb, quota.cpus, quota.ram_mb, quota.disk_mb
        )))
    }
}

/// Emits the update's start (and, for a coordinated update, its wait for the first pulse).
fn start(
    _state: &ClusterState,
    out: &mut Out,
    job: &JobKey,
    instructions: UpdateInstructions,
    metadata: &BTreeMap<String, String>,
    message: Option<&str>,
) {
    let key = UpdateKey {
        job: job.clone(),
        id: out.ids().update_id(),
    };
    let mut metadata = metadata.clone();
    if let Some(message) = message.filter(|m| !m.is_empty()) {
        metadata.insert(START_MESSAGE_KEY.into(), message.into());
    }
    let coordinated = instructions
        .settings
        .block_if_no_pulses_after_ms
        .is_some_and(|ms| ms > 0);
    let user = who(out.actor());
    let started = out.emit(
        Event::UpdateStarted {
            update: key.clone(),
            user,
            instructions,
            metadata,
        },
        None,
    );
    if coordinated && let Some(blocked) = awaiting_pulse(UpdateStatus::RollingForward) {
        out.emit(
            Event::UpdateStateChanged {
                update: key.clone(),
                from: UpdateStatus::RollingForward,
                to: blocked,
                message: None,
            },
            Some(started),
        );
    }
    out.decision.update = Some(key);
}
