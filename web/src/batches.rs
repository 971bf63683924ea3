//! The order in which an update works its instances, and its batches: what the update page
//! draws. Pure functions of the update's instructions, tested here.
//!
//! Rolling forward, the update works the instances only in the desired state first (creates),
//! then those in both (updates), then those only in the initial state (kills), each group in
//! ascending instance order. Rolling back it works the instances it touched in exactly the
//! reverse order. Batches follow the strategy's group sizes: a queue or batch strategy cuts
//! the order every `group_size` instances (rolling back too, from the first instance rolled
//! back); a variable batch strategy uses its sizes in turn, the last repeating, and rolling
//! back replays the forward batches mirrored (Aurora's `VariableBatchStrategy`, and the
//! scheduler's `update::order`, count the rollback's sizes from the remaining instances so
//! that they line up with the forward ones).

use std::collections::BTreeSet;

use aurora_events::InstanceId;
use aurora_events::update::{InstanceRange, UpdateInstructions, UpdateStrategy};

/// Instances drawn at most: well above Aurora's 4,000 instances per job, and a bound on what
/// a damaged journal (a range of four billion instances) could make a page allocate.
pub const MAX_INSTANCES: usize = 20_000;

/// Which way an update works its instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Back,
}

/// The update's instances in the order it works them, cut into batches. `truncated` is set
/// when the instructions name more than [`MAX_INSTANCES`] instances (only the first are kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub batches: Vec<Vec<InstanceId>>,
    pub truncated: bool,
}

/// The instances the ranges name, at most `cap` of them (the lowest).
pub fn expand(ranges: &[InstanceRange], cap: usize) -> BTreeSet<InstanceId> {
    InstanceRange::expand(ranges, cap)
}

/// Sorted instances as inclusive ranges: `[0, 1, 2, 5]` → `0-2, 5`.
pub fn collapse(instances: &BTreeSet<InstanceId>) -> Vec<InstanceRange> {
    InstanceRange::collapse(instances.iter().copied())
}

/// Every instance the update touches, in the order it touches them rolling forward: creates,
/// updates, kills, each ascending. A non-empty scope (`update_only_these_instances`) keeps
/// only the instances in it.
pub fn forward_order(instructions: &UpdateInstructions) -> (Vec<InstanceId>, bool) {
    // One more than the cap, so that going past it can be told from reaching it.
    let scope = &instructions.settings.update_only_these_instances;
    let mut order: Vec<InstanceId> = instructions
        .forward_order(MAX_INSTANCES + 1)
        .into_iter()
        .filter(|i| scope.is_empty() || scope.iter().any(|r| r.contains(*i)))
        .collect();
    let truncated = order.len() > MAX_INSTANCES;
    order.truncate(MAX_INSTANCES);
    (order, truncated)
}

/// The group sizes of `strategy`, endless (the last repeats); a size of 0 (which validation
/// rejects) counts as 1, and a variable batch without sizes as one batch of everything.
fn group_sizes(strategy: &UpdateStrategy) -> impl Iterator<Item = usize> + '_ {
    let (listed, repeated): (&[u32], usize) = match strategy {
        UpdateStrategy::Queue { group_size } | UpdateStrategy::Batch { group_size, .. } => {
            (&[], *group_size as usize)
        }
        UpdateStrategy::VariableBatch { group_sizes, .. } => match group_sizes.split_last() {
            Some((last, _)) => (group_sizes.as_slice(), *last as usize),
            None => (&[], usize::MAX),
        },
    };
    listed
        .iter()
        .map(|size| *size as usize)
        .chain(std::iter::repeat(repeated))
        .map(|size| size.max(1))
}

/// Cuts `order` into consecutive batches of the given sizes.
fn cut(order: &[InstanceId], sizes: impl Iterator<Item = usize>) -> Vec<Vec<InstanceId>> {
    let mut batches = Vec::new();
    let mut rest = order;
    for size in sizes {
        if rest.is_empty() {
            break;
        }
        let (batch, after) = rest.split_at(size.min(rest.len()));
        batches.push(batch.to_vec());
        rest = after;
    }
    batches
}

/// The update's instances in the order it works them in `direction`, in batches.
/// `touched` tells the instances the update has acted on: a rollback works only those (the
/// others already run the config it goes back to and take no place in a batch, as the
/// scheduler's `AdvanceUpdates` skips them), so they are cut into batches alone and the
/// untouched ones come last, in a group of their own.
pub fn plan(
    instructions: &UpdateInstructions,
    direction: Direction,
    touched: impl Fn(InstanceId) -> bool,
) -> Plan {
    let (forward, truncated) = forward_order(instructions);
    let strategy = &instructions.settings.strategy;
    let batches = match direction {
        Direction::Forward => cut(&forward, group_sizes(strategy)),
        Direction::Back => {
            let (worked, mut skipped): (Vec<InstanceId>, Vec<InstanceId>) =
                forward.iter().partition(|instance| touched(**instance));
            let mut batches = match strategy {
                UpdateStrategy::VariableBatch { .. } => {
                    let mut batches = cut(&worked, group_sizes(strategy));
                    batches.reverse();
                    for batch in &mut batches {
                        batch.reverse();
                    }
                    batches
                }
                UpdateStrategy::Queue { .. } | UpdateStrategy::Batch { .. } => {
                    let mut backward = worked;
                    backward.reverse();
                    cut(&backward, group_sizes(strategy))
                }
            };
            if !skipped.is_empty() {
                skipped.reverse();
                batches.push(skipped);
            }
            batches
        }
    };
    Plan { batches, truncated }
}

#[cfg(test)]
mod tests {
    use aurora_events::ConfigHash;
    use aurora_events::update::{InstanceConfigRanges, UpdateSettings};

    use super::*;

    fn range(first: u32, last: u32) -> InstanceRange {
        InstanceRange { first, last }
    }

    fn instructions(
        initial: &[&[InstanceRange]],
        desired: Option<&[InstanceRange]>,
        strategy: UpdateStrategy,
    ) -> UpdateInstructions {
        UpdateInstructions {
            initial_state: initial
                .iter()
                .enumerate()
                .map(|(n, ranges)| InstanceConfigRanges {
                    config: ConfigHash([n as u8; 32]),
                    instances: ranges.to_vec(),
                })
                .collect(),
            desired_state: desired.map(|ranges| InstanceConfigRanges {
                config: ConfigHash([9; 32]),
                instances: ranges.to_vec(),
            }),
            settings: UpdateSettings {
                strategy,
                max_per_instance_failures: 0,
                max_failed_instances: 0,
                min_wait_in_instance_running_ms: 0,
                rollback_on_failure: true,
                update_only_these_instances: Vec::new(),
                block_if_no_pulses_after_ms: None,
                sla_aware: false,
            },
        }
    }

    fn batch(group_size: u32) -> UpdateStrategy {
        UpdateStrategy::Batch {
            group_size,
            autopause_after_batch: false,
        }
    }

    #[test]
    fn forward_creates_then_updates_then_kills_each_ascending() {
        // Instances 0-5 had two old configs; the new config has 2-8: 6-8 are created, 2-5
        // updated, 0-1 killed.
        let update = instructions(
            &[&[range(3, 5), range(0, 1)], &[range(2, 2)]],
            Some(&[range(2, 8)]),
            batch(1),
        );
        assert_eq!(forward_order(&update).0, vec![6, 7, 8, 2, 3, 4, 5, 0, 1]);
        let back: Vec<u32> = plan(&update, Direction::Back, |_| true)
            .batches
            .concat()
            .into_iter()
            .collect();
        assert_eq!(back, vec![1, 0, 5, 4, 3, 2, 8, 7, 6], "rollback reverses");
    }

    #[test]
    fn batches_follow_the_group_size_both_ways() {
        let update = instructions(&[&[range(0, 8)]], Some(&[range(0, 8)]), batch(4));
        let forward = plan(&update, Direction::Forward, |_| false);
        assert_eq!(
            forward.batches,
            vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8]]
        );
        assert!(!forward.truncated);
        assert_eq!(
            plan(&update, Direction::Back, |_| true).batches,
            vec![vec![8, 7, 6, 5], vec![4, 3, 2, 1], vec![0]]
        );
        // Instances 0-5 touched before the rollback: only they are rolled back.
        assert_eq!(
            plan(&update, Direction::Back, |i| i <= 5).batches,
            vec![vec![5, 4, 3, 2], vec![1, 0], vec![8, 7, 6]]
        );
        let queue = instructions(
            &[&[range(0, 4)]],
            Some(&[range(0, 4)]),
            UpdateStrategy::Queue { group_size: 2 },
        );
        assert_eq!(
            plan(&queue, Direction::Forward, |_| false).batches,
            vec![vec![0, 1], vec![2, 3], vec![4]]
        );
    }

    #[test]
    fn variable_batches_repeat_the_last_size_and_roll_back_mirrored() {
        let update = instructions(
            &[&[range(0, 9)]],
            Some(&[range(0, 9)]),
            UpdateStrategy::VariableBatch {
                group_sizes: vec![1, 2, 3],
                autopause_after_batch: true,
            },
        );
        assert_eq!(
            plan(&update, Direction::Forward, |_| false).batches,
            vec![vec![0], vec![1, 2], vec![3, 4, 5], vec![6, 7, 8], vec![9]]
        );
        assert_eq!(
            plan(&update, Direction::Back, |_| true).batches,
            vec![vec![9], vec![8, 7, 6], vec![5, 4, 3], vec![2, 1], vec![0]]
        );
        assert_eq!(
            plan(&update, Direction::Back, |i| i <= 5).batches,
            vec![vec![5, 4, 3], vec![2, 1], vec![0], vec![9, 8, 7, 6]],
            "the forward batches that ran, mirrored; the untouched last"
        );
    }

    #[test]
    fn kills_alone_and_creates_alone() {
        let kill = instructions(&[&[range(3, 5)]], None, batch(2));
        assert_eq!(
            plan(&kill, Direction::Forward, |_| false).batches,
            vec![vec![3, 4], vec![5]]
        );
        let add = instructions(&[], Some(&[range(3, 5)]), batch(10));
        assert_eq!(
            plan(&add, Direction::Forward, |_| false).batches,
            vec![vec![3, 4, 5]]
        );
        let nothing = instructions(&[], None, batch(1));
        assert!(
            plan(&nothing, Direction::Forward, |_| false)
                .batches
                .is_empty()
        );
    }

    #[test]
    fn instance_sets_collapse_into_ranges() {
        let set = BTreeSet::from([0, 1, 2, 5, 7, 8]);
        assert_eq!(collapse(&set), vec![range(0, 2), range(5, 5), range(7, 8)]);
        assert_eq!(expand(&collapse(&set), 100), set);
        assert_eq!(expand(&[range(3, 9)], 2), BTreeSet::from([3, 4]));
        assert!(collapse(&BTreeSet::new()).is_empty());
    }

    #[test]
    fn the_scope_limits_the_instances() {
        let mut update = instructions(&[&[range(0, 5)]], Some(&[range(0, 7)]), batch(1));
        update.settings.update_only_these_instances = vec![range(1, 2), range(7, 7)];
        assert_eq!(forward_order(&update).0, vec![7, 1, 2]);
    }

    #[test]
    fn invalid_sizes_and_huge_ranges_are_bounded() {
        let zero = instructions(&[&[range(0, 2)]], Some(&[range(0, 2)]), batch(0));
        assert_eq!(
            plan(&zero, Direction::Forward, |_| false).batches,
            vec![vec![0], vec![1], vec![2]]
        );
        let no_sizes = instructions(
            &[&[range(0, 2)]],
            Some(&[range(0, 2)]),
            UpdateStrategy::VariableBatch {
                group_sizes: Vec::new(),
                autopause_after_batch: false,
            },
        );
        assert_eq!(
            plan(&no_sizes, Direction::Back, |_| true).batches,
            vec![vec![2, 1, 0]]
        );
        let huge = instructions(
            &[&[range(0, u32::MAX)]],
            Some(&[range(0, u32::MAX)]),
            batch(1),
        );
        let drawn = plan(&huge, Direction::Forward, |_| false);
        assert!(drawn.truncated);
        assert_eq!(drawn.batches.len(), MAX_INSTANCES);
        let exact = instructions(
            &[],
            Some(&[range(0, MAX_INSTANCES as u32 - 1)]),
            batch(MAX_INSTANCES as u32),
        );
        assert!(!plan(&exact, Direction::Forward, |_| false).truncated);
    }
}
