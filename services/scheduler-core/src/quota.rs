//! Quota: per-role limits on cpu, RAM and disk for production, non-dedicated tasks, and the
//! consumption of a role in Aurora's four buckets.

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
    config.production() && !config.is_dedicated()
}

/// Cpus in thousandths, so that sums of fractional cpus are exact: adding 1.3 cpus ten times
/// must give exactly what 10 × 1.3 gives, or a check and a later sum could disagree.
fn millicpus(cpus: f64) -> i64 {
    (cpus * 1000.0).round() as i64
}

/// An aggregate summed in exact units.
#[derive(Debug, Clone, Copy, Default)]
struct Exact {
    millicpus: i64,
    ram_mb: u64,
    disk_mb: u64,
}

impl Exact {
    fn of(aggregate: &ResourceAggregate) -> Self {
        Self {
            millicpus: millicpus(aggregate.cpus),
            ram_mb: aggregate.ram_mb,
            disk_mb: aggregate.disk_mb,
        }
    }

    fn add(&mut self, other: Self, times: u64) {
        self.millicpus = self
            .millicpus
            .saturating_add(other.millicpus.saturating_mul(times as i64));
        self.ram_mb = self
            .ram_mb
            .saturating_add(other.ram_mb.saturating_mul(times));
        self.disk_mb = self
            .disk_mb
            .saturating_add(other.disk_mb.saturating_mul(times));
    }

    fn fits_within(&self, limit: &Self) -> bool {
        self.millicpus <= limit.millicpus
            && self.ram_mb <= limit.ram_mb
            && self.disk_mb <= limit.disk_mb
    }

    fn aggregate(self) -> ResourceAggregate {
        ResourceAggregate {
            cpus: self.millicpus as f64 / 1000.0,
            ram_mb: self.ram_mb,
            disk_mb: self.disk_mb,
        }
    }
}

/// The role's quota and consumption, from its active tasks.
pub fn usage(state: &ClusterState, role: &Identifier) -> QuotaUsage {
    let mut buckets = [Exact::default(); 4];
    for task in state
        .tasks()
        .filter(|t| &t.job.role == role && t.status.is_active())
    {
        let Some(config) = state.config(&task.config) else {
            continue;
        };
        let bucket = match (config.production(), config.is_dedicated()) {
            (true, false) => 0,
            (false, false) => 1,
            (true, true) => 2,
            (false, true) => 3,
        };
        buckets[bucket].add(Exact::of(&ResourceAggregate::of(&config.resources)), 1);
    }
    QuotaUsage {
        quota: state.quota(role),
        prod_shared: buckets[0].aggregate(),
        non_prod_shared: buckets[1].aggregate(),
        prod_dedicated: buckets[2].aggregate(),
        non_prod_dedicated: buckets[3].aggregate(),
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
    let mut exact = Exact::of(&usage.prod_shared);
    exact.add(
        Exact::of(&ResourceAggregate::of(&config.resources)),
        u64::from(count),
    );
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
