//! Resources a task asks for (and an agent offers), and the aggregate a quota is counted in.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// What one task requests: cpus (fractional), RAM and disk in MiB, GPUs, and named ports whose
/// numbers the scheduler picks at placement (`{{thermos.ports[http]}}`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct Resources {
    #[cfg_attr(
        feature = "arbitrary",
        proptest(strategy = "crate::arbitrary::amount()")
    )]
    pub cpus: f64,
    pub ram_mb: u64,
    pub disk_mb: u64,
    pub gpus: u32,
    #[cfg_attr(
        feature = "arbitrary",
        proptest(strategy = "crate::arbitrary::names()")
    )]
    pub ports: BTreeSet<String>,
}

/// What an agent offers to the cluster: scalar capacity and the port range it hands out.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct Capacity {
    #[cfg_attr(
        feature = "arbitrary",
        proptest(strategy = "crate::arbitrary::amount()")
    )]
    pub cpus: f64,
    pub ram_mb: u64,
    pub disk_mb: u64,
    pub gpus: u32,
    /// Inclusive ranges of port numbers the agent may assign, e.g. `[(31000, 32000)]`.
    pub port_ranges: Vec<(u16, u16)>,
}

/// The resources counted against a role's quota (Aurora's `ResourceAggregate`): only cpu, RAM
/// and disk; ports and GPUs are not quota resources.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct ResourceAggregate {
    #[cfg_attr(
        feature = "arbitrary",
        proptest(strategy = "crate::arbitrary::amount()")
    )]
    pub cpus: f64,
    pub ram_mb: u64,
    pub disk_mb: u64,
}

impl ResourceAggregate {
    pub const ZERO: Self = Self {
        cpus: 0.0,
        ram_mb: 0,
        disk_mb: 0,
    };

    /// The quota-relevant part of one task's resources.
    pub fn of(resources: &Resources) -> Self {
        Self {
            cpus: resources.cpus,
            ram_mb: resources.ram_mb,
            disk_mb: resources.disk_mb,
        }
    }

    /// `self` scaled by a count of instances.
    pub fn times(self, count: u32) -> Self {
        Self {
            cpus: self.cpus * f64::from(count),
            ram_mb: self.ram_mb.saturating_mul(u64::from(count)),
            disk_mb: self.disk_mb.saturating_mul(u64::from(count)),
        }
    }

    pub fn plus(self, other: Self) -> Self {
        Self {
            cpus: self.cpus + other.cpus,
            ram_mb: self.ram_mb.saturating_add(other.ram_mb),
            disk_mb: self.disk_mb.saturating_add(other.disk_mb),
        }
    }

    /// True when every dimension of `self` is at most the same dimension of `limit`.
    pub fn fits_within(&self, limit: &Self) -> bool {
        self.cpus <= limit.cpus && self.ram_mb <= limit.ram_mb && self.disk_mb <= limit.disk_mb
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregate_arithmetic() {
        let one = ResourceAggregate {
            cpus: 0.5,
            ram_mb: 128,
            disk_mb: 256,
        };
        let three = one.times(3);
        assert_eq!(
            three,
            ResourceAggregate {
                cpus: 1.5,
                ram_mb: 384,
                disk_mb: 768
            }
        );
        assert!(three.fits_within(&three));
        assert!(!three.plus(one).fits_within(&three));
        assert!(ResourceAggregate::ZERO.fits_within(&one));
    }
}
