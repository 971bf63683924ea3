//! Rolling-update settings and instructions (Aurora's `JobUpdateSettings` and
//! `JobUpdateInstructions`).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::ids::{ConfigHash, InstanceId};

/// An inclusive range of instance ids, `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct InstanceRange {
    pub first: InstanceId,
    pub last: InstanceId,
}

/// `7`, or `0-4`: as Aurora prints an instance range.
impl std::fmt::Display for InstanceRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

impl InstanceRange {
    pub fn contains(&self, instance: InstanceId) -> bool {
        self.first <= instance && instance <= self.last
    }

    /// Ascending instance ids as inclusive ranges: `[0, 1, 2, 5]` → `0-2, 5-5` (a repeated id
    /// is ignored).
    pub fn collapse(instances: impl IntoIterator<Item = InstanceId>) -> Vec<InstanceRange> {
        let mut ranges: Vec<InstanceRange> = Vec::new();
        for instance in instances {
            match ranges.last_mut() {
                Some(range) if range.last.checked_add(1) == Some(instance) => range.last = instance,
                Some(range) if range.last == instance => {}
                _ => ranges.push(InstanceRange {
                    first: instance,
                    last: instance,
                }),
            }
        }
        ranges
    }

    /// The instances `ranges` name, at most `cap` of them (the lowest): a bound on what a
    /// range of billions of instances (a damaged record) could make a reader allocate.
    pub fn expand(ranges: &[InstanceRange], cap: usize) -> BTreeSet<InstanceId> {
        let mut sorted = ranges.to_vec();
        sorted.sort();
        let mut instances = BTreeSet::new();
        for range in sorted {
            for instance in range.first..=range.last {
                if instances.len() >= cap {
                    return instances;
                }
                instances.insert(instance);
            }
        }
        instances
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
///
/// Rolling forward, an update works first on the instances it creates (only in the desired
/// state), then on those it changes (in both), then on those it removes (only in the initial
/// state), each ascending; rolling back, in the reverse order ([`Self::forward_order`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct UpdateInstructions {
    /// The instances the update changes, grouped by their current config.
    pub initial_state: Vec<InstanceConfigRanges>,
    /// The target config and its instances; `None` when the update only removes instances.
    pub desired_state: Option<InstanceConfigRanges>,
    pub settings: UpdateSettings,
}

impl UpdateInstructions {
    /// Whether these are a rolling restart's: every replaced instance gets the config it ran
    /// (an update proper never does, as a no-op update is refused).
    pub fn is_restart(&self) -> bool {
        match &self.desired_state {
            Some(desired) => {
                !self.initial_state.is_empty()
                    && self
                        .initial_state
                        .iter()
                        .all(|group| group.config == desired.config)
            }
            None => false,
        }
    }

    /// The instances the update touches, in the order it works on them rolling forward. At
    /// most `cap`: each state's ranges are expanded up to `cap` instances (a bound for readers
    /// of a damaged record), so past `cap` the list is cut short, not exact.
    pub fn forward_order(&self, cap: usize) -> Vec<InstanceId> {
        let initial: BTreeSet<InstanceId> = self
            .initial_state
            .iter()
            .flat_map(|group| InstanceRange::expand(&group.instances, cap))
            .collect();
        let desired = self
            .desired_state
            .as_ref()
            .map(|group| InstanceRange::expand(&group.instances, cap))
            .unwrap_or_default();
        desired
            .difference(&initial)
            .chain(desired.intersection(&initial))
            .chain(initial.difference(&desired))
            .copied()
            .take(cap)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(first: InstanceId, last: InstanceId) -> InstanceRange {
        InstanceRange { first, last }
    }

    #[test]
    fn ranges_collapse_and_expand_back() {
        let ranges = InstanceRange::collapse([0, 1, 2, 2, 5, 7, 8]);
        assert_eq!(ranges, vec![range(0, 2), range(5, 5), range(7, 8)]);
        assert_eq!(
            InstanceRange::expand(&ranges, 100),
            BTreeSet::from([0, 1, 2, 5, 7, 8])
        );
        assert_eq!(InstanceRange::expand(&[range(0, u32::MAX)], 3).len(), 3);
        assert!(InstanceRange::collapse([]).is_empty());
    }

    #[test]
    fn creates_come_first_then_changes_then_removals() {
        let group = |first, last| InstanceConfigRanges {
            config: ConfigHash([1; 32]),
            instances: vec![range(first, last)],
        };
        let instructions = UpdateInstructions {
            initial_state: vec![group(0, 4)],
            desired_state: Some(group(2, 6)),
            settings: UpdateSettings {
                strategy: UpdateStrategy::Queue { group_size: 1 },
                max_per_instance_failures: 0,
                max_failed_instances: 0,
                min_wait_in_instance_running_ms: 0,
                rollback_on_failure: true,
                update_only_these_instances: Vec::new(),
                block_if_no_pulses_after_ms: None,
                sla_aware: false,
            },
        };
        assert_eq!(instructions.forward_order(100), vec![5, 6, 2, 3, 4, 0, 1]);
        let mut huge = instructions.clone();
        huge.initial_state[0].instances = vec![range(0, u32::MAX)];
        assert_eq!(huge.forward_order(10).len(), 10);
    }
}
