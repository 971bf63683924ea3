//! Resource amounts as exact integers, one slot per [`ResourceKind`].
//!
//! CPUs arrive as `f64`; they are counted in millionths of a CPU so that taking and comparing
//! never suffers from rounding drift (0.1 + 0.2 fits in 0.3 here).

use aurora_events::{Capacity, Resources};

use super::{ExecutorOverhead, Usage};

/// The resources placement checks, in the order a pending reason lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceKind {
    Cpus,
    Ram,
    Disk,
    Ports,
    Gpus,
}

impl ResourceKind {
    pub const ALL: [ResourceKind; 5] = [
        ResourceKind::Cpus,
        ResourceKind::Ram,
        ResourceKind::Disk,
        ResourceKind::Ports,
        ResourceKind::Gpus,
    ];

    /// The name in "Insufficient: ..." (Aurora's resource names).
    pub fn name(self) -> &'static str {
        match self {
            ResourceKind::Cpus => "cpus",
            ResourceKind::Ram => "ram",
            ResourceKind::Disk => "disk",
            ResourceKind::Ports => "ports",
            ResourceKind::Gpus => "gpus",
        }
    }

    /// The slot of this resource in [`Amounts`].
    pub(super) fn index(self) -> usize {
        match self {
            ResourceKind::Cpus => 0,
            ResourceKind::Ram => 1,
            ResourceKind::Disk => 2,
            ResourceKind::Ports => 3,
            ResourceKind::Gpus => 4,
        }
    }
}

/// cpus (µCPU), RAM MiB, disk MiB, port count, GPUs — indexed by [`ResourceKind::index`].
pub(super) type Amounts = [u64; 5];

const MICROS_PER_CPU: f64 = 1_000_000.0;

/// CPUs in millionths, rounded; negative and NaN count as zero (`as` saturates).
pub(super) fn micro_cpus(cpus: f64) -> u64 {
    (cpus * MICROS_PER_CPU).round() as u64
}

/// What one task of a config asks for when matching: its resources plus executor overhead.
pub(super) fn request(resources: &Resources, overhead: &ExecutorOverhead) -> Amounts {
    [
        micro_cpus(resources.cpus).saturating_add(micro_cpus(overhead.cpus)),
        resources.ram_mb.saturating_add(overhead.ram_mb),
        resources.disk_mb,
        resources.ports.len() as u64,
        u64::from(resources.gpus),
    ]
}

/// What an agent has free, ports excepted (the port pool counts those). Over-used resources
/// are simply zero.
pub(super) fn free_scalars(capacity: &Capacity, used: &Usage) -> Amounts {
    [
        micro_cpus(capacity.cpus).saturating_sub(micro_cpus(used.cpus)),
        capacity.ram_mb.saturating_sub(used.ram_mb),
        capacity.disk_mb.saturating_sub(used.disk_mb),
        0,
        u64::from(capacity.gpus.saturating_sub(used.gpus)),
    ]
}

/// Bit `index()` set for every resource where `free` falls short of `request`.
pub(super) fn shortfall_mask(request: &Amounts, free: &Amounts) -> u8 {
    let mut mask = 0u8;
    for kind in ResourceKind::ALL {
        let i = kind.index();
        if free[i] < request[i] {
            mask |= 1 << i;
        }
    }
    mask
}
