//! In which order an update works on its instances, and how many it starts at once (Aurora's
//! `UpdateOrdering` and `Queue`/`Batch`/`VariableBatch` strategies).

use aurora_events::InstanceId;
use aurora_events::update::{UpdateInstructions, UpdateStrategy};

/// The update's instances in the order they are worked on (see
/// [`UpdateInstructions::forward_order`]); rolling back, the reverse. The instructions are the
/// core's own (validated at the start), so they are not capped.
pub fn work_order(instructions: &UpdateInstructions, forward: bool) -> Vec<InstanceId> {
    let mut order = instructions.forward_order(usize::MAX);
    if !forward {
        order.reverse();
    }
    order
}

/// How many more instances the strategy lets the update start now, with `working` instances in
/// flight, `started` already worked on in this direction and `idle` still to do.
pub fn room(
    strategy: &UpdateStrategy,
    forward: bool,
    working: usize,
    started: usize,
    idle: usize,
) -> usize {
    match strategy {
        UpdateStrategy::Queue { group_size } => (*group_size as usize).saturating_sub(working),
        UpdateStrategy::Batch { group_size, .. } => {
            if working == 0 {
                *group_size as usize
            } else {
                0
            }
        }
        UpdateStrategy::VariableBatch { group_sizes, .. } => {
            if working == 0 {
                variable_group(group_sizes, forward, started, idle)
            } else {
                0
            }
        }
    }
}

/// The size of the next group of a variable-batch update. Rolling forward: the size of the
/// group the `started`th instance falls in (the last size repeats). Rolling back, the groups
/// are replayed in reverse from what is left (`idle`), so that the instances of each forward
/// group are rolled back together.
fn variable_group(sizes: &[u32], forward: bool, started: usize, idle: usize) -> usize {
    let sizes: Vec<usize> = sizes.iter().map(|s| (*s as usize).max(1)).collect();
    let Some(&last) = sizes.last() else {
        return 1;
    };
    if forward {
        let mut sum = 0usize;
        for size in &sizes {
            sum += size;
            if sum > started {
                return *size;
            }
        }
        return last;
    }
    let mut left = idle;
    for size in &sizes {
        if left <= *size {
            return left.max(1);
        }
        left -= size;
    }
    match left % last {
        0 => last,
        partial => partial,
    }
}

/// Whether the strategy pauses the update after each batch.
pub fn autopauses(strategy: &UpdateStrategy) -> bool {
    match strategy {
        UpdateStrategy::Queue { .. } => false,
        UpdateStrategy::Batch {
            autopause_after_batch,
            ..
        }
        | UpdateStrategy::VariableBatch {
            autopause_after_batch,
            ..
        } => *autopause_after_batch,
    }
}

#[cfg(test)]
mod tests {
    use aurora_events::ConfigHash;
    use aurora_events::update::{InstanceConfigRanges, InstanceRange, UpdateSettings};

    use super::*;

    fn group(first: u32, last: u32) -> InstanceConfigRanges {
        InstanceConfigRanges {
            config: ConfigHash([1; 32]),
            instances: vec![InstanceRange { first, last }],
        }
    }

    fn instructions(
        initial: Option<(u32, u32)>,
        desired: Option<(u32, u32)>,
    ) -> UpdateInstructions {
        UpdateInstructions {
            initial_state: initial.map(|(a, b)| group(a, b)).into_iter().collect(),
            desired_state: desired.map(|(a, b)| group(a, b)),
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
        }
    }

    #[test]
    fn creates_come_first_then_changes_then_kills_and_rollback_reverses() {
        // 0-2 changed, 3-4 created: creates, then changes.
        let grow = instructions(Some((0, 2)), Some((0, 4)));
        assert_eq!(work_order(&grow, true), vec![3, 4, 0, 1, 2]);
        assert_eq!(work_order(&grow, false), vec![2, 1, 0, 4, 3]);
        // 0-1 changed, 2-4 killed: changes, then kills.
        let shrink = instructions(Some((0, 4)), Some((0, 1)));
        assert_eq!(work_order(&shrink, true), vec![0, 1, 2, 3, 4]);
        let kill_only = instructions(Some((1, 2)), None);
        assert_eq!(work_order(&kill_only, true), vec![1, 2]);
    }

    #[test]
    fn queue_fills_up_and_batch_waits_for_the_group() {
        let queue = UpdateStrategy::Queue { group_size: 3 };
        assert_eq!(room(&queue, true, 0, 0, 9), 3);
        assert_eq!(room(&queue, true, 2, 2, 7), 1);
        let batch = UpdateStrategy::Batch {
            group_size: 3,
            autopause_after_batch: false,
        };
        assert_eq!(room(&batch, true, 0, 3, 6), 3);
        assert_eq!(room(&batch, true, 1, 3, 6), 0);
    }

    #[test]
    fn variable_batches_go_by_size_and_roll_back_in_the_same_groups() {
        let sizes = [1, 2, 3];
        // Forward over 9: (1)(2)(3)(3).
        assert_eq!(variable_group(&sizes, true, 0, 9), 1);
        assert_eq!(variable_group(&sizes, true, 1, 8), 2);
        assert_eq!(variable_group(&sizes, true, 3, 6), 3);
        assert_eq!(variable_group(&sizes, true, 6, 3), 3);
        // Back from 9 updated: the last forward group (3) first, ..., the first (1) last.
        assert_eq!(variable_group(&sizes, false, 0, 9), 3);
        assert_eq!(variable_group(&sizes, false, 3, 6), 3);
        assert_eq!(variable_group(&sizes, false, 6, 3), 2);
        assert_eq!(variable_group(&sizes, false, 8, 1), 1);
        // 4 updated with sizes [2, 3] when it failed: back in 2 then 2.
        assert_eq!(variable_group(&[2, 3], false, 0, 4), 2);
        assert_eq!(variable_group(&[2, 3], false, 2, 2), 2);
    }
}
