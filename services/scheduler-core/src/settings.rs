//! The scheduler's tunables, with Aurora's defaults. Part of the write model's configuration,
//! never folded from events: applying events does not read them, deciding does.

use aurora_events::ResourceAggregate;

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
        }
    }
}
