//! Quota: per-role limits on cpu, RAM and disk for production, non-dedicated tasks, and the
//! consumption of a role in Aurora's four buckets. The buckets and the exact arithmetic are
//! `aurora_events::quota`'s, shared with the read side; this module applies them to the write
//! model and words the rejections.

use aurora_events::quota::{Bucket, Exact};
use aurora_events::{Identifier, ResourceAggregate, TaskConfig};
use serde::Serialize;

use crate::decision::Rejection;
use crate::state::ClusterState;

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

/// The role's quota and consumption, from its active tasks.
pub fn usage(state: &ClusterState, role: &Identifier) -> QuotaUsage {
    let mut usage = aurora_events::quota::Usage::default();
    for task in state
        .tasks()
        .filter(|t| &t.job.role == role && t.status.is_active())
    {
        let Some(config) = state.config(&task.config) else {
            continue;
        };
        usage.add(Bucket::of(config), Exact::of_config(config));
    }
    QuotaUsage {
        quota: state.quota(role),
        prod_shared: usage.bucket(Bucket::ProdShared),
        non_prod_shared: usage.bucket(Bucket::NonProdShared),
        prod_dedicated: usage.bucket(Bucket::ProdDedicated),
        non_prod_dedicated: usage.bucket(Bucket::NonProdDedicated),
    }
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
    let usage = usage(state, &config.job.role);
    let exact =
        Exact::of(&usage.prod_shared).plus(Exact::of_config(config).times(u64::from(count)));
    let wanted = exact.aggregate();
    if exact.fits_within(&Exact::of(&usage.quota)) {
        Ok(())
    } else {
        Err(Rejection::InsufficientQuota(format!(
            "role {} would use {} but its quota is {}",
            config.job.role,
            describe(&wanted),
            describe(&usage.quota)
        )))
    }
}

/// Refuses a quota that is negative, not finite, or below what the role already consumes.
pub(crate) fn check_new_quota(
    state: &ClusterState,
    role: &Identifier,
    quota: &ResourceAggregate,
) -> Result<(), Rejection> {
    if !quota.cpus.is_finite() || quota.cpus < 0.0 {
        return Err(Rejection::InvalidRequest(format!(
            "quota cpus must be 0 or more, not {}",
            quota.cpus
        )));
    }
    let used = usage(state, role).prod_shared;
    if !Exact::of(&used).fits_within(&Exact::of(quota)) {
        return Err(Rejection::InsufficientQuota(format!(
            "role {role} already uses {}, more than the requested quota {}",
            describe(&used),
            describe(quota)
        )));
    }
    Ok(())
}
