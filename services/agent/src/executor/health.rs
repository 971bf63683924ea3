//! The health verdict of a task, free of I/O (Aurora's `ThreadedHealthChecker`): fed one
//! [`CheckResult`] per attempt, it says whether the task is still proving itself
//! ([`Health::Pending`]), healthy (RUNNING), or failed its health check for good.
//!
//! Rules (`docs/reference/aurora.md` §5.5, as `health_checker.py` implements them):
//! - Checks run every `interval_secs`, the first one at once. Aurora counts *attempts*, not
//!   seconds, so that a slow checker cannot change the outcome: the initial grace period
//!   `initial_interval_secs` becomes `forgiving = ceil(initial / interval)` attempts whose
//!   failures are ignored (they still reset the consecutive-success count).
//! - The task becomes healthy after `min_consecutive_successes` consecutive passes.
//! - Before that, it has `budget = forgiving + max_consecutive_failures +
//!   min_consecutive_successes` attempts. It fails as soon as the successes it still needs
//!   outnumber the attempts left (after the budget's last attempt at the latest).
//! - Counted failures (outside the grace period) fail it once there are more than
//!   `max_consecutive_failures` in a row, before and after it became healthy; a pass resets
//!   the count.
//! - A snoozed check (`.healthchecksnooze`) is a pass; the I/O side reports it as one.
//!
//! An `interval_secs` of 0 is taken as 1 (no busy loop, no division by zero) and a
//! `min_consecutive_successes` of 0 as 1 (health needs at least one pass).

use std::time::Duration;

use aurora_events::config::HealthCheck;

/// The outcome of one health check attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CheckResult {
    pub(crate) passed: bool,
    /// What the check saw, for logs and the failure message.
    pub(crate) detail: String,
}

impl CheckResult {
    pub(crate) fn pass(detail: impl Into<String>) -> Self {
        Self {
            passed: true,
            detail: detail.into(),
        }
    }

    pub(crate) fn fail(detail: impl Into<String>) -> Self {
        Self {
            passed: false,
            detail: detail.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Health {
    /// Not healthy yet (the task stays STARTING).
    Pending,
    /// Enough consecutive passes (the task is RUNNING). Stays so until too many failures.
    Healthy,
    /// Final: the task must fail with this message.
    Unhealthy { reason: String },
}

/// The numbers of a [`HealthCheck`] that decide the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Policy {
    /// Attempts whose failures are ignored: `ceil(initial_interval / interval)`.
    pub(crate) forgiving_attempts: u32,
    pub(crate) max_consecutive_failures: u32,
    pub(crate) min_consecutive_successes: u32,
}

impl Policy {
    pub(crate) fn from_config(config: &HealthCheck) -> Self {
        let interval = config.interval_secs.max(1);
        Self {
            forgiving_attempts: config.initial_interval_secs.div_ceil(interval),
            max_consecutive_failures: config.max_consecutive_failures,
            min_consecutive_successes: config.min_consecutive_successes.max(1),
        }
    }

    /// Attempts the task has to become healthy:
    /// `ceil(initial / interval) + max_consecutive_failures + min_consecutive_successes`.
    pub(crate) fn attempts_to_running(&self) -> u32 {
        self.forgiving_attempts
            .saturating_add(self.max_consecutive_failures)
            .saturating_add(self.min_consecutive_successes)
    }
}

/// The time between two checks.
pub(crate) fn interval(config: &HealthCheck) -> Duration {
    Duration::from_secs(u64::from(config.interval_secs.max(1)))
}

/// How long one check may take.
pub(crate) fn check_timeout(config: &HealthCheck) -> Duration {
    Duration::from_secs(u64::from(config.timeout_secs.max(1)))
}

/// The verdict so far, fed one attempt at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tracker {
    policy: Policy,
    attempts: u32,
    successes: u32,
    failures: u32,
    health: Health,
}

impl Tracker {
    pub(crate) fn new(policy: Policy) -> Self {
        Self {
            policy,
            attempts: 0,
            successes: 0,
            failures: 0,
            health: Health::Pending,
        }
    }

    pub(crate) fn health(&self) -> &Health {
        &self.health
    }

    /// Records one attempt and returns the verdict after it. Once unhealthy, nothing changes.
    pub(crate) fn record(&mut self, result: &CheckResult) -> &Health {
        let healthy = match &self.health {
            Health::Unhealthy { .. } => return &self.health,
            Health::Pending => false,
            Health::Healthy => true,
        };
        self.attempts = self.attempts.saturating_add(1);
        let budget = self.policy.attempts_to_running();
        if result.passed {
            self.successes = self.successes.saturating_add(1);
            self.failures = 0;
            if !healthy && self.successes >= self.policy.min_consecutive_successes {
                self.health = Health::Healthy;
                return &self.health;
            }
        } else {
            self.successes = 0;
            if self.attempts > self.policy.forgiving_attempts {
                self.failures = self.failures.saturating_add(1);
                if self.failures > self.policy.max_consecutive_failures {
                    self.health = Health::Unhealthy {
                        reason: format!(
                            "health check failed {} consecutive time(s) (max_consecutive_failures \
                             {}); last check: {}",
                            self.failures, self.policy.max_consecutive_failures, result.detail
                        ),
                    };
                    return &self.health;
                }
            }
        }
        if !healthy {
            let left = budget.saturating_sub(self.attempts);
            let needed = self
                .policy
                .min_consecutive_successes
                .saturating_sub(self.successes);
            if needed > left {
                self.health = Health::Unhealthy {
                    reason: format!(
                        "health check failed: not healthy within {budget} attempt(s) \
                         ({} consecutive successes needed, {} attempt(s) made); last check: {}",
                        self.policy.min_consecutive_successes, self.attempts, result.detail
                    ),
                };
            }
        }
        &self.health
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aurora_events::config::HealthChecker;
    use pretty_assertions::assert_eq;

    fn config(initial: u32, interval: u32, max_failures: u32, min_successes: u32) -> HealthCheck {
        HealthCheck {
            checker: HealthChecker::Shell {
                command: "true".into(),
            },
            initial_interval_secs: initial,
            interval_secs: interval,
            max_consecutive_failures: max_failures,
            min_consecutive_successes: min_successes,
            timeout_secs: 1,
        }
    }

    fn tracker(initial: u32, interval: u32, max_failures: u32, min_successes: u32) -> Tracker {
        Tracker::new(Policy::from_config(&config(
            initial,
            interval,
            max_failures,
            min_successes,
        )))
    }

    /// Feeds `pattern` ('+' pass, '-' fail) and returns the verdict after each attempt, as
    /// 'P' pending, 'H' healthy, 'U' unhealthy.
    fn run(t: &mut Tracker, pattern: &str) -> String {
        pattern
            .chars()
            .map(|c| {
                let result = if c == '+' {
                    CheckResult::pass("ok")
                } else {
                    CheckResult::fail(format!("bad {}", t.attempts + 1))
                };
                match t.record(&result) {
                    Health::Pending => 'P',
                    Health::Healthy => 'H',
                    Health::Unhealthy { .. } => 'U',
                }
            })
            .collect()
    }

    fn reason(t: &Tracker) -> &str {
        match t.health() {
            Health::Unhealthy { reason } => reason,
            Health::Pending | Health::Healthy => "",
        }
    }

    #[test]
    fn the_budget_is_ceil_initial_over_interval_plus_failures_plus_successes() {
        let budget = |i, n, f, s| Policy::from_config(&config(i, n, f, s)).attempts_to_running();
        // Aurora's defaults: ceil(15 / 10) + 0 + 1.
        assert_eq!(budget(15, 10, 0, 1), 3);
        assert_eq!(budget(20, 10, 0, 1), 3);
        assert_eq!(budget(21, 10, 2, 3), 3 + 2 + 3);
        assert_eq!(budget(0, 10, 0, 1), 1);
        // Degenerate values are clamped rather than dividing by zero or needing no pass.
        assert_eq!(budget(5, 0, 0, 0), 5 + 1);
        assert_eq!(
            Policy::from_config(&config(1, 1, 0, 1)).forgiving_attempts,
            1
        );
    }

    #[test]
    fn healthy_after_min_consecutive_successes() {
        let mut t = tracker(0, 1, 1, 3);
        assert_eq!(run(&mut t, "+++"), "PPH");
        // A failure (forgiven in the grace period) resets the consecutive passes.
        let mut t = tracker(2, 1, 0, 3);
        assert_eq!(run(&mut t, "+-+++"), "PPPPH");
        // Outside the grace period: after "++-", 3 passes are needed with 1 attempt left.
        let mut t = tracker(0, 1, 1, 3);
        assert_eq!(run(&mut t, "++-"), "PPU");
    }

    #[test]
    fn failures_in_the_grace_period_are_ignored() {
        // initial 30 s, interval 10 s: three forgiven attempts, budget 3 + 0 + 1 = 4.
        let mut t = tracker(30, 10, 0, 1);
        assert_eq!(run(&mut t, "---+"), "PPPH");
        // The fourth failure is outside the grace period and max_consecutive_failures is 0.
        let mut t = tracker(30, 10, 0, 1);
        assert_eq!(run(&mut t, "----"), "PPPU");
        assert!(reason(&t).contains("health check failed"), "{}", reason(&t));
        assert!(reason(&t).contains("last check: bad 4"), "{}", reason(&t));
    }

    #[test]
    fn not_healthy_within_the_budget_fails() {
        // forgiving 1, max failures 2, min successes 2: budget 5.
        let mut t = tracker(1, 1, 2, 2);
        // Flapping never breaches max_consecutive_failures but never reaches 2 passes either.
        assert_eq!(run(&mut t, "-+-+-"), "PPPPU");
        assert!(reason(&t).contains("within 5 attempt(s)"), "{}", reason(&t));
        assert!(reason(&t).contains("last check: bad 5"), "{}", reason(&t));
        // The same start, then two passes in time.
        let mut t = tracker(1, 1, 2, 2);
        assert_eq!(run(&mut t, "-+-++"), "PPPPH");
        // It fails as soon as the passes it needs outnumber the attempts left.
        let mut t = tracker(1, 1, 2, 2);
        assert_eq!(run(&mut t, "-+-+"), "PPPP");
        let mut t = tracker(0, 1, 5, 3);
        // Budget 8: after six attempts ending in a failure, 3 passes cannot fit in 2.
        assert_eq!(run(&mut t, "-+-+--"), "PPPPPU");
    }

    #[test]
    fn once_healthy_more_than_max_consecutive_failures_fail_it() {
        let mut t = tracker(0, 1, 2, 1);
        assert_eq!(run(&mut t, "+"), "H");
        // Two failures are tolerated, a pass resets the count, the third in a row is not.
        assert_eq!(run(&mut t, "--+--"), "HHHHH");
        assert_eq!(run(&mut t, "-"), "U");
        assert!(
            reason(&t).contains("failed 3 consecutive time(s)"),
            "{}",
            reason(&t)
        );
        // Unhealthy is final.
        assert_eq!(run(&mut t, "+++"), "UUU");
        // With the default max_consecutive_failures of 0, one failure is enough.
        let mut t = tracker(0, 1, 0, 1);
        assert_eq!(run(&mut t, "++-"), "HHU");
    }

    #[test]
    fn a_healthy_task_has_no_attempt_budget() {
        let mut t = tracker(0, 1, 1, 1);
        let pattern = "+-".repeat(50);
        assert!(run(&mut t, &pattern).chars().all(|c| c == 'H'));
    }
}
