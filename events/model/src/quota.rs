//! Quota accounting that the scheduler's write model and the read side must agree on: which of
//! Aurora's four buckets a task's resources count in, and exact sums of those resources.
//!
//! Both folds call these, so a task counts in the same bucket and a role's usage is the same
//! number on every page and in every quota check. None of it is in an event: the buckets and
//! sums are derived from configs and task states. (The scheduler's checkpoints do store sums.)

use serde::{Deserialize, Serialize};

use crate::config::TaskConfig;
use crate::resources::ResourceAggregate;

/// Aurora's four consumption buckets (`GetQuotaResult`): production or not (the tier's
/// `production()`), dedicated or not (a `dedicated` constraint). Only [`Bucket::ProdShared`]
/// is checked against a role's quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bucket {
    ProdShared,
    NonProdShared,
    ProdDedicated,
    NonProdDedicated,
}

impl Bucket {
    pub const ALL: [Bucket; 4] = [
        Bucket::ProdShared,
        Bucket::NonProdShared,
        Bucket::ProdDedicated,
        Bucket::NonProdDedicated,
    ];

    /// The bucket every task of `config` counts in.
    pub fn of(config: &TaskConfig) -> Self {
        match (config.production(), config.is_dedicated()) {
            (true, false) => Bucket::ProdShared,
            (false, false) => Bucket::NonProdShared,
            (true, true) => Bucket::ProdDedicated,
            (false, true) => Bucket::NonProdDedicated,
        }
    }

    /// Whether tasks of this bucket are limited by the role's quota.
    pub fn counts_against_quota(self) -> bool {
        match self {
            Bucket::ProdShared => true,
            Bucket::NonProdShared | Bucket::ProdDedicated | Bucket::NonProdDedicated => false,
        }
    }

    fn index(self) -> usize {
        match self {
            Bucket::ProdShared => 0,
            Bucket::NonProdShared => 1,
            Bucket::ProdDedicated => 2,
            Bucket::NonProdDedicated => 3,
        }
    }
}

/// Cpus in thousandths, so that sums of fractional cpus are exact: ten tasks of 1.3 cpus use
/// exactly what `10 × 1.3` gives, and adding then removing a task leaves a sum where it was.
/// Each amount is rounded on its own, before any sum.
fn millicpus(cpus: f64) -> i64 {
    (cpus * 1000.0).round() as i64
}

/// A [`ResourceAggregate`] in exact units (millicpus, MiB). Arithmetic saturates rather than
/// wraps, so absurd requests cannot make a sum small again.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Exact {
    millicpus: i64,
    ram_mb: u64,
    disk_mb: u64,
}

impl Exact {
    pub const ZERO: Self = Self {
        millicpus: 0,
        ram_mb: 0,
        disk_mb: 0,
    };

    pub fn of(aggregate: &ResourceAggregate) -> Self {
        Self {
            millicpus: millicpus(aggregate.cpus),
            ram_mb: aggregate.ram_mb,
            disk_mb: aggregate.disk_mb,
        }
    }

    /// What one task of `config` counts against quota (its cpus, RAM and disk).
    pub fn of_config(config: &TaskConfig) -> Self {
        Self::of(&ResourceAggregate::of(&config.resources))
    }

    pub fn plus(self, other: Self) -> Self {
        Self {
            millicpus: self.millicpus.saturating_add(other.millicpus),
            ram_mb: self.ram_mb.saturating_add(other.ram_mb),
            disk_mb: self.disk_mb.saturating_add(other.disk_mb),
        }
    }

    /// `self` less `other`, each dimension floored at what saturation allows (RAM and disk
    /// at zero).
    pub fn minus(self, other: Self) -> Self {
        Self {
            millicpus: self.millicpus.saturating_sub(other.millicpus),
            ram_mb: self.ram_mb.saturating_sub(other.ram_mb),
            disk_mb: self.disk_mb.saturating_sub(other.disk_mb),
        }
    }

    /// `self` scaled by a count of tasks.
    pub fn times(self, count: u64) -> Self {
        Self {
            millicpus: self
                .millicpus
                .saturating_mul(i64::try_from(count).unwrap_or(i64::MAX)),
            ram_mb: self.ram_mb.saturating_mul(count),
            disk_mb: self.disk_mb.saturating_mul(count),
        }
    }

    /// True when every dimension of `self` is at most the same dimension of `limit`.
    /// The larger of the two, resource by resource (an update in flight holds, per instance,
    /// the larger of its old and new configs).
    pub fn max_each(self, other: Self) -> Self {
        Self {
            millicpus: self.millicpus.max(other.millicpus),
            ram_mb: self.ram_mb.max(other.ram_mb),
            disk_mb: self.disk_mb.max(other.disk_mb),
        }
    }

    pub fn fits_within(&self, limit: &Self) -> bool {
        self.millicpus <= limit.millicpus
            && self.ram_mb <= limit.ram_mb
            && self.disk_mb <= limit.disk_mb
    }

    pub fn aggregate(self) -> ResourceAggregate {
        ResourceAggregate {
            cpus: self.millicpus as f64 / 1000.0,
            ram_mb: self.ram_mb,
            disk_mb: self.disk_mb,
        }
    }
}

/// What a role's active tasks use, per [`Bucket`], in exact units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Usage([Exact; 4]);

impl Usage {
    pub fn add(&mut self, bucket: Bucket, amount: Exact) {
        let slot = &mut self.0[bucket.index()];
        *slot = slot.plus(amount);
    }

    pub fn sub(&mut self, bucket: Bucket, amount: Exact) {
        let slot = &mut self.0[bucket.index()];
        *slot = slot.minus(amount);
    }

    pub fn exact(&self, bucket: Bucket) -> Exact {
        self.0[bucket.index()]
    }

    pub fn bucket(&self, bucket: Bucket) -> ResourceAggregate {
        self.exact(bucket).aggregate()
    }

    pub fn is_zero(&self) -> bool {
        self.0.iter().all(|e| *e == Exact::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Constraint, ConstraintKind, DEDICATED_ATTRIBUTE, Tier};

    #[test]
    fn exact_sums_do_not_drift() {
        let task = Exact::of(&ResourceAggregate {
            cpus: 1.3,
            ram_mb: 10,
            disk_mb: 1,
        });
        let mut usage = Usage::default();
        for _ in 0..10 {
            usage.add(Bucket::ProdShared, task);
        }
        assert_eq!(usage.bucket(Bucket::ProdShared).cpus, 13.0);
        assert_eq!(usage.exact(Bucket::ProdShared), task.times(10));
        for _ in 0..10 {
            usage.sub(Bucket::ProdShared, task);
        }
        assert_eq!(usage, Usage::default());
        assert!(usage.is_zero());
    }

    #[test]
    fn fits_within_compares_every_dimension() {
        let one = Exact::of(&ResourceAggregate {
            cpus: 0.5,
            ram_mb: 128,
            disk_mb: 256,
        });
        let three = one.times(3);
        assert!(three.fits_within(&three));
        assert!(!three.plus(one).fits_within(&three));
        assert!(Exact::ZERO.fits_within(&one));
        assert_eq!(three.minus(one), one.times(2));
        assert_eq!(one.minus(three).aggregate().ram_mb, 0);
    }

    #[test]
    fn buckets_follow_tier_and_dedication() {
        let mut config = crate::samples::task_config();
        config.tier = Tier::Preferred;
        assert_eq!(Bucket::of(&config), Bucket::ProdShared);
        assert!(Bucket::of(&config).counts_against_quota());
        config.tier = Tier::Preemptible;
        assert_eq!(Bucket::of(&config), Bucket::NonProdShared);
        config.constraints.push(Constraint {
            name: DEDICATED_ATTRIBUTE.into(),
            kind: ConstraintKind::Value {
                negated: false,
                values: vec!["www-data/hello".into()],
            },
        });
        assert_eq!(Bucket::of(&config), Bucket::NonProdDedicated);
        config.tier = Tier::Preferred;
        assert_eq!(Bucket::of(&config), Bucket::ProdDedicated);
        assert!(!Bucket::of(&config).counts_against_quota());
    }
}
