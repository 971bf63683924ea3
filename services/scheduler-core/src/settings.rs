//! The scheduler's tunables, with Aurora's defaults. Part of the write model's configuration,
//! never folded from events: applying events does not read them, deciding does.

use std::fmt;
use std::str::FromStr;

use aurora_events::ResourceAggregate;
use regex::Regex;

use crate::error::Error;

/// Durations are milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// ASSIGNED, KILLING, RESTARTING, DRAINING and PREEMPTING tasks are LOST after this long in
    /// the same state (`-transient_task_state_timeout`).
    pub transient_task_state_timeout_ms: i64,
    /// First kill retry for a KILLING task; doubles up to the transient timeout.
    pub initial_task_kill_retry_interval_ms: i64,
    /// A task that ends within this long of becoming active flapped.
    pub flapping_task_threshold_ms: i64,
    pub initial_flapping_task_delay_ms: u64,
    pub max_flapping_task_delay_ms: u64,
    /// Pending production tasks become preemptors only after waiting this long.
    pub preemption_delay_ms: i64,
    /// Upper bound on a job's instance count (`-max_tasks_per_job`).
    pub max_tasks_per_job: u32,
    /// Added to every task's request for matching (not for quota).
    pub executor_overhead: ResourceAggregate,
    /// Terminal tasks are pruned after this long (`-history_prune_threshold`)...
    pub history_prune_threshold_ms: i64,
    /// ...but never sooner than this (`-history_min_retention_threshold`)...
    pub history_min_retention_ms: i64,
    /// ...and at most this many terminal tasks are kept per job (`-history_max_per_job_threshold`).
    pub history_max_per_job: usize,
    /// Terminal updates are pruned after this long (`-job_update_history_pruning_threshold`)...
    pub update_history_prune_threshold_ms: i64,
    /// ...and at most this many terminal updates are kept per job
    /// (`-job_update_history_per_job_threshold`)...
    pub update_history_max_per_job: usize,
    /// ...checked this often (`-job_update_history_pruning_interval`).
    pub update_history_pruning_interval_ms: i64,
    /// The zone cron schedules are read in (`-cron_timezone`, GMT by default).
    pub cron_zone: jiff::tz::TimeZone,
    /// Jobs with fewer active instances skip SLA checks (`-min_required_instances_for_sla_check`).
    pub min_required_instances_for_sla_check: usize,
    /// Whether non-production jobs' SLA policies are checked too (`-sla_aware_kill_non_prod`).
    pub sla_aware_kill_non_prod: bool,
    /// The longest `duration_secs` a Count or Percentage SLA policy may ask for
    /// (`-max_sla_duration_secs`, 2 h).
    pub max_sla_duration_secs: u64,
    /// The container types jobs may ask for (`-allowed_container_types`, `MESOS` only by
    /// default): `DOCKER` is allowed where agents run Docker.
    pub allowed_container_types: Vec<String>,
    /// The environments a new job may be created in (`-allowed_job_environments`).
    pub allowed_job_environments: EnvironmentPattern,
}

impl Default for Settings {
    fn default() -> Self {
        const SECOND: i64 = 1000;
        const MINUTE: i64 = 60 * SECOND;
        Self {
            transient_task_state_timeout_ms: 5 * MINUTE,
            initial_task_kill_retry_interval_ms: 15 * SECOND,
            flapping_task_threshold_ms: 5 * MINUTE,
            initial_flapping_task_delay_ms: 30_000,
            max_flapping_task_delay_ms: 300_000,
            preemption_delay_ms: 3 * MINUTE,
            max_tasks_per_job: 4000,
            executor_overhead: ResourceAggregate {
                cpus: 0.25,
                ram_mb: 128,
                disk_mb: 0,
            },
            history_prune_threshold_ms: 2 * 24 * 60 * MINUTE,
            history_min_retention_ms: 60 * MINUTE,
            history_max_per_job: 100,
            update_history_prune_threshold_ms: 30 * 24 * 60 * MINUTE,
            update_history_max_per_job: 10,
            update_history_pruning_interval_ms: 15 * MINUTE,
            cron_zone: jiff::tz::TimeZone::UTC,
            min_required_instances_for_sla_check: 20,
            sla_aware_kill_non_prod: false,
            max_sla_duration_secs: 2 * 60 * 60,
            allowed_container_types: vec!["MESOS".into()],
            allowed_job_environments: EnvironmentPattern::default(),
        }
    }
}

/// Aurora's `-allowed_job_environments` default.
pub const DEFAULT_ALLOWED_JOB_ENVIRONMENTS: &str = r"^(prod|devel|test|staging\d*)$";

/// A regular expression a job's whole environment must match, as Java's `Matcher.matches`
/// (the pattern need not be anchored to be matched whole). Compiled once, when the settings
/// are made, so deciding never compiles; two patterns are equal when their text is.
#[derive(Debug, Clone)]
pub struct EnvironmentPattern {
    source: String,
    whole: Regex,
}

impl EnvironmentPattern {
    pub fn new(pattern: &str) -> Result<Self, Error> {
        let refused = |e: regex::Error| Error::EnvironmentPattern {
            pattern: pattern.to_string(),
            reason: e.to_string(),
        };
        // Checked as written first, so that an error points into what the operator wrote.
        Regex::new(pattern).map_err(refused)?;
        let whole = Regex::new(&format!("^(?:{pattern})$")).map_err(refused)?;
        Ok(Self {
            source: pattern.to_string(),
            whole,
        })
    }

    /// Whether `environment`, whole, matches.
    pub fn allows(&self, environment: &str) -> bool {
        self.whole.is_match(environment)
    }

    /// The pattern as the operator wrote it.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl Default for EnvironmentPattern {
    fn default() -> Self {
        Self::new(DEFAULT_ALLOWED_JOB_ENVIRONMENTS).expect("Aurora's default pattern compiles")
    }
}

impl PartialEq for EnvironmentPattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl FromStr for EnvironmentPattern {
    type Err = Error;

    fn from_str(pattern: &str) -> Result<Self, Error> {
        Self::new(pattern)
    }
}

impl fmt::Display for EnvironmentPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_allows_auroras_environments_only() {
        let pattern = EnvironmentPattern::default();
        for allowed in ["prod", "devel", "test", "staging", "staging2", "staging10"] {
            assert!(pattern.allows(allowed), "{allowed}");
        }
        for refused in [
            "production",
            "dev",
            "Prod",
            "staging-2",
            "prod1",
            "testing",
            "",
        ] {
            assert!(!pattern.allows(refused), "{refused}");
        }
    }

    #[test]
    fn a_pattern_is_matched_whole_as_java_matches() {
        let pattern = EnvironmentPattern::new("prod|qa").unwrap();
        assert!(pattern.allows("qa"));
        assert!(!pattern.allows("production"));
        assert!(!pattern.allows("xqa"));
        assert_eq!(pattern.to_string(), "prod|qa");
    }

    #[test]
    fn a_bad_pattern_is_refused_naming_it() {
        let error = EnvironmentPattern::new("(prod").unwrap_err().to_string();
        assert!(error.contains("(prod"), "{error}");
    }
}
