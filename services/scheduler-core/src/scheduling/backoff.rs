//! Per-group backoff for PENDING tasks that do not fit (Aurora's `TaskGroups` with its
//! truncated exponential backoff): a group tried and left unplaced waits `initial` before it
//! is tried again, then twice as long after each further unplaced try, up to `max`; a group
//! that places a task, or finds victims to preempt, starts over. So a backlog that cannot fit
//! costs a pass a few groups now and then rather than every group every time, while a group
//! that starts fitting is back within `max`.
//!
//! Pure and leader-only: the leader keeps one, asks it which groups to skip before a pass and
//! tells it the pass's outcome after. A new leader starts with an empty one (everything is
//! tried at once), which is harmless.

use std::collections::{BTreeMap, BTreeSet};

use aurora_events::{ConfigHash, Timestamp};

use crate::commands::Schedule;
use crate::decision::PassOutcome;

/// The backoff's tunables, with Aurora's defaults, and the budget of each pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffSettings {
    /// Wait after a group's first unplaced try (`-initial_schedule_penalty`, 1 s).
    pub initial_penalty_ms: i64,
    /// The longest wait (`-max_schedule_penalty`, 60 s).
    pub max_penalty_ms: i64,
    /// Tasks one pass tries at most ([`Schedule::max_tasks`]).
    pub max_tasks_per_pass: usize,
    /// Victim searches one pass makes at most ([`Schedule::max_preemption_searches`]).
    pub max_preemption_searches_per_pass: usize,
}

impl Default for BackoffSettings {
    fn default() -> Self {
        Self {
            initial_penalty_ms: 1_000,
            max_penalty_ms: 60_000,
            max_tasks_per_pass: 1_000,
            max_preemption_searches_per_pass: 50,
        }
    }
}

/// One group's current penalty and when it may be tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Penalty {
    ms: i64,
    until: Timestamp,
}

/// Which groups of PENDING tasks are backing off, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Backoff {
    settings: BackoffSettings,
    groups: BTreeMap<ConfigHash, Penalty>,
}

impl Backoff {
    pub fn new(settings: BackoffSettings) -> Self {
        Self {
            settings,
            groups: BTreeMap::new(),
        }
    }

    pub fn settings(&self) -> &BackoffSettings {
        &self.settings
    }

    /// Groups not to try at `now`: their penalty has not run out.
    pub fn skipped(&self, now: Timestamp) -> BTreeSet<ConfigHash> {
        self.groups
            .iter()
            .filter(|(_, penalty)| penalty.until > now)
            .map(|(hash, _)| *hash)
            .collect()
    }

    /// The pass to run at `now`: the settings' budget, the groups backing off skipped.
    pub fn next_pass(&self, now: Timestamp) -> Schedule {
        Schedule {
            max_tasks: Some(self.settings.max_tasks_per_pass),
            skip: self.skipped(now),
            max_preemption_searches: Some(self.settings.max_preemption_searches_per_pass),
            unregistered: BTreeSet::new(),
        }
    }

    /// Takes in the outcome of the pass run at `now` (with [`Self::skipped`]`(now)` skipped):
    /// placed and preempting groups start over, unplaced ones back off longer, deferred ones
    /// keep their penalty. A group whose penalty had run out but that the pass did not mention
    /// has no PENDING task any more and is forgotten.
    pub fn after_pass(&mut self, now: Timestamp, outcome: &PassOutcome) {
        let settings = self.settings;
        self.groups.retain(|hash, penalty| {
            penalty.until > now
                || outcome.deferred.contains(hash)
                || outcome.unplaced.contains(hash)
        });
        for hash in outcome.placed.iter().chain(&outcome.preempting) {
            self.groups.remove(hash);
        }
        for hash in &outcome.unplaced {
            let ms = match self.groups.get(hash) {
                Some(penalty) => penalty.ms.saturating_mul(2),
                None => settings.initial_penalty_ms,
            }
            .min(settings.max_penalty_ms)
            .max(0);
            let until = Timestamp(now.0.saturating_add(ms));
            self.groups.insert(*hash, Penalty { ms, until });
        }
    }

    /// How many groups are backing off or remembered.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn hash(n: u8) -> ConfigHash {
        ConfigHash([n; 32])
    }

    fn outcome(placed: &[u8], unplaced: &[u8], deferred: &[u8]) -> PassOutcome {
        let set = |ns: &[u8]| ns.iter().map(|n| hash(*n)).collect();
        PassOutcome {
            placed: set(placed),
            unplaced: set(unplaced),
            deferred: set(deferred),
            ..PassOutcome::default()
        }
    }

    #[test]
    fn unplaced_groups_wait_doubling_from_one_second_to_a_minute() {
        let mut backoff = Backoff::default();
        let mut now = 0;
        let mut waits = Vec::new();
        for _ in 0..9 {
            backoff.after_pass(Timestamp(now), &outcome(&[], &[1], &[]));
            let mut wait = 0;
            while backoff.skipped(Timestamp(now + wait)).contains(&hash(1)) {
                wait += 500;
            }
            waits.push(wait);
            now += wait;
        }
        assert_eq!(
            waits,
            vec![
                1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000
            ]
        );
    }

    #[test]
    fn placing_starts_over_and_deferred_or_vanished_groups_are_handled() {
        let mut backoff = Backoff::default();
        backoff.after_pass(Timestamp(0), &outcome(&[], &[1, 2, 3], &[]));
        backoff.after_pass(Timestamp(1_000), &outcome(&[], &[1, 2, 3], &[]));
        assert_eq!(
            backoff.skipped(Timestamp(2_500)),
            BTreeSet::from([hash(1), hash(2), hash(3)])
        );
        // At 3 s all are due again: 1 places a task, 2 is left for a later pass by the budget,
        // 3 has no pending task any more (not mentioned).
        backoff.after_pass(Timestamp(3_000), &outcome(&[1], &[], &[2]));
        assert_eq!(backoff.len(), 1, "only the deferred group is remembered");
        assert!(backoff.skipped(Timestamp(3_000)).is_empty());
        // Group 2 kept its 2 s penalty: its next unplaced try backs off 4 s.
        backoff.after_pass(Timestamp(3_500), &outcome(&[], &[2], &[]));
        assert!(backoff.skipped(Timestamp(7_000)).contains(&hash(2)));
        assert!(!backoff.skipped(Timestamp(7_500)).contains(&hash(2)));
        // A group backing off that the pass did not try (skipped) keeps its penalty.
        backoff.after_pass(Timestamp(4_000), &outcome(&[], &[], &[]));
        assert!(backoff.skipped(Timestamp(7_000)).contains(&hash(2)));
    }

    #[test]
    fn the_next_pass_carries_the_budget_and_the_skipped_groups() {
        let mut backoff = Backoff::default();
        backoff.after_pass(Timestamp(0), &outcome(&[], &[7], &[]));
        let pass = backoff.next_pass(Timestamp(10));
        assert_eq!(pass.skip, BTreeSet::from([hash(7)]));
        assert_eq!(pass.max_tasks, Some(1_000));
        assert_eq!(pass.max_preemption_searches, Some(50));
        assert!(backoff.next_pass(Timestamp(1_000)).skip.is_empty());
    }
}
