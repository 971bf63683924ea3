//! Rolling-update settings and instructions (Aurora's `JobUpdateSettings` and
//! `JobUpdateInstructions`).

use serde::{Deserialize, Serialize};

use crate::ids::{ConfigHash, InstanceId};

/// An inclusive range of instance ids, `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct InstanceRange {
    pub first: InstanceId,
    pub last: InstanceId,
}

impl InstanceRange {
    pub fn contains(&self, instance: InstanceId) -> bool {
        self.first <= instance && instance <= self.last
    }
}

/// How many instances an update works on at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub enum UpdateStrategy {
    /// Keep up to `group_size` instances in flight continuously.
    Queue { group_size: u32 },
    /// Start a new group of `group_size` only when the previous group is done.
    Batch {
        group_size: u32,
        autopause_after_batch: bool,
    },
    /// Groups of the given sizes in order; the last size repeats.
    VariableBatch {
        group_sizes: Vec<u32>,
        autopause_after_batch: bool,
    },
}

/// Everything that governs one update's progress (DSL `UpdateConfig`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct UpdateSettings {
    pub strategy: UpdateStrategy,
    /// Failures tolerated per instance before it is FAILED (`max_per_shard_failures`).
    pub max_per_instance_failures: u32,
    /// The update fails when more instances than this have FAILED (`max_total_failures`).
    pub max_failed_instances: u32,
    /// An instance must stay RUNNING this long to count as updated (`watch_secs`).
    pub min_wait_in_instance_running_ms: u64,
    pub rollback_on_failure: bool,
    /// Only these instances are touched; empty = all.
    pub update_only_these_instances: Vec<InstanceRange>,
    /// A coordinated update blocks when no pulse arrived for this long.
    pub block_if_no_pulses_after_ms: Option<u64>,
    pub sla_aware: bool,
}

/// A task config and the instances it applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct InstanceConfigRanges {
    pub config: ConfigHash,
    pub instances: Vec<InstanceRange>,
}

/// What an update changes: the configs it replaces and the one it installs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct UpdateInstructions {
    /// The instances the update changes, grouped by their current config.
    pub initial_state: Vec<InstanceConfigRanges>,
    /// The target config and its instances; `None` when the update only removes instances.
    pub desired_state: Option<InstanceConfigRanges>,
    pub settings: UpdateSettings,
}
