//! Quota: per-role limits on cpu, RAM and disk for production, non-dedicated tasks, and the
//! consumption of a role in Aurora's four buckets. The buckets and the exact arithmetic are
//! `aurora_events::quota`'s, shared with the read side; the write model keeps each role's
//! usage as an index ([`ClusterState::role_usage`]), so a check costs no walk over tasks. This
//! module applies them and words the rejections.
//!
//! As in Aurora, a cron job's template (its instances × resources) counts while the job has no
//! active tasks: it will run. When it runs, its tasks count instead.

use aurora_events::quota::{Bucket, Exact, Usage};
use aurora_events::{Identifier, JobKey, ResourceAggregate, TaskConfig};
use serde::Serialize;

use crate::decision::Rejection;
use crate::state::ClusterState;
use crate::validation::{MAX_CPUS, MAX_MB};

/// A role's quota and what its active tasks consume (Aurora's `GetQuotaResult`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct QuotaUsage {
    pub quota: ResourceAggregate,
    /// Production, non-dedicated: the only bucket checked against the quota.
    pub prod_shared: ResourceAggregate,
    pub non_prod_shared: ResourceAggregate,
    pub prod_dedicated: ResourceAggregate,
    pub non_prod_dedicated: ResourceAggregate,
}

/// Whether a config's tasks count against quota.
pub fn counts_against_quota(config: &TaskConfig) -> bool {
    Bucket::of(config).counts_against_quota()
}

/// The role's quota and consumption, from its active tasks and idle cron templates.
pub fn usage(state: &ClusterState, role: &Identifier) -> QuotaUsage {
    let usage = consumption(state, role, None);
    QuotaUsage {
        quota: state.quota(role),
        prod_shared: usage.bucket(Bucket::ProdShared),
        non_prod_shared: usage.bucket(Bucket::NonProdShared),
        prod_dedicated: usage.bucket(Bucket::ProdDedicated),
        non_prod_dedicated: usage.bucket(Bucket::NonProdDedicated),
    }
}

/// What `role` consumes: its active tasks (an index), plus the templates of its cron jobs that
/// have no active task, except `excluding`'s (a job whose tasks are being judged in its place).
/// Cron jobs are few: they are walked.
fn consumption(state: &ClusterState, role: &Identifier, excluding: Option<&JobKey>) -> Usage {
    let mut usage = state.role_usage(role);
    let idle_templates = state
        .cron_jobs()
        .filter(|(job, _)| &job.role == role && Some(*job) != excluding)
        .filter(|(job, _)| state.active_tasks_of_job(job).next().is_none());
    for (_, cron) in idle_templates {
        if let Some(config) = state.config(&cron.config) {
            let amount = Exact::of_config(config).times(u64::from(cron.instances));
            usage.add(Bucket::of(config), amount);
        }
    }
    usage
}

/// The role's production shared consumption, as quota checks judge it (see [`consumption`]).
pub(crate) fn prod_consumption(
    state: &ClusterState,
    role: &Identifier,
    excluding: Option<&JobKey>,
) -> Exact {
    consumption(state, role, excluding).exact(Bucket::ProdShared)
}

fn describe(a: &ResourceAggregate) -> String {
    format!(
        "cpus {}, ram {} MiB, disk {} MiB",
        a.cpus, a.ram_mb, a.disk_mb
    )
}

/// Refuses adding `count` tasks of `config` when that would take the role's production shared
/// consumption over its quota.
pub(crate) fn check_addition(
    state: &ClusterState,
    config: &TaskConfig,
    count: u32,
) -> Result<(), Rejection> {
    if !counts_against_quota(config) {
        return Ok(());
    }
    let role = &config.job.role;
    let quota = state.quota(role);
    let wanted = prod_consumption(state, role, Some(&config.job))
        .plus(Exact::of_config(config).times(u64::from(count)));
    if wanted.fits_within(&Exact::of(&quota)) {
        Ok(())
    } else {
        Err(Rejection::InsufficientQuota(format!(
            "role {role} would use {} but its quota is {}",
            describe(&wanted.aggregate()),
            describe(&quota)
        )))
    }
}

/// Refuses a cron template of `instances` tasks of `config` (new or replacing another) when
/// its launch would take the role's production shared consumption over its quota: the role's
/// usage without this job's active tasks (a KILL_EXISTING launch replaces them), plus the
/// template's tasks.
pub(crate) fn check_cron_template(
    state: &ClusterState,
    config: &TaskConfig,
    instances: u32,
) -> Result<(), Rejection> {
    if !counts_against_quota(config) {
        return Ok(());
    }
    let role = &config.job.role;
    let own = state
        .active_tasks_of_job(&config.job)
        .filter_map(|task| state.config(&task.config))
        .filter(|running| counts_against_quota(running))
        .fold(Exact::ZERO, |sum, running| {
            sum.plus(Exact::of_config(running))
        });
    let quota = state.quota(role);
    let wanted = prod_consumption(state, role, Some(&config.job))
        .minus(own)
        .plus(Exact::of_config(config).times(u64::from(instances)));
    if wanted.fits_within(&Exact::of(&quota)) {
        Ok(())
    } else {
        Err(Rejection::InsufficientQuota(format!(
            "role {role} would use {} once the cron job runs but its quota is {}",
            describe(&wanted.aggregate()),
            describe(&quota)
        )))
    }
}

/// Refuses a quota that is negative, not finite, past the bounds of a task's resources, or
/// below what the role already consumes. A quota may be 0 (the role may run no production
/// task). The bounds are a task's ([`MAX_CPUS`], [`MAX_MB`]): far past any cluster, and
/// `u64::MAX` MB was accepted and shown as 17592186044416.0 TiB.
pub(crate) fn check_new_quota(
    state: &ClusterState,
    role: &Identifier,
    quota: &ResourceAggregate,
) -> Result<(), Rejection> {
    if !(quota.cpus.is_finite() && (0.0..=MAX_CPUS).contains(&quota.cpus)) {
        return Err(Rejection::InvalidRequest(format!(
            // Debug: 1e300 rather than its 301 digits.
            "quota cpus must be between 0 and {MAX_CPUS}, not {:?}",
            quota.cpus
        )));
    }
    for (field, mb) in [("ram_mb", quota.ram_mb), ("disk_mb", quota.disk_mb)] {
        if mb > MAX_MB {
            return Err(Rejection::InvalidRequest(format!(
                "quota {field} must be at most {MAX_MB} MB (1 PiB), not {mb}"
            )));
        }
    }
    let used = prod_consumption(state, role, None);
    if !used.fits_within(&Exact::of(quota)) {
        return Err(Rejection::InsufficientQuota(format!(
            "role {role} already uses {}, more than the requested quota {}",
            describe(&used.aggregate()),
            describe(quota)
        )));
    }
    Ok(())
}
