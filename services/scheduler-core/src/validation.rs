//! Checks on a task config before anything is journaled: each failure names what is wrong.

use std::collections::BTreeSet;

use aurora_events::config::{ConstraintKind, Container, DEDICATED_ATTRIBUTE, SlaPolicy};
use aurora_events::{JobKey, TaskConfig};

use crate::decision::Rejection;
use crate::settings::Settings;

fn invalid(message: String) -> Rejection {
    Rejection::InvalidRequest(message)
}

/// Validates a job's config and instance count (Aurora's `ConfigurationManager` checks).
pub(crate) fn validate_job(
    job: &JobKey,
    config: &TaskConfig,
    instances: u32,
    settings: &Settings,
) -> Result<(), Rejection> {
    if &config.job != job {
        return Err(invalid(format!(
            "config is for job {}, not {job}",
            config.job
        )));
    }
    if instances == 0 || instances > settings.max_tasks_per_job {
        return Err(invalid(format!(
            "instance count must be between 1 and {}, not {instances}",
            settings.max_tasks_per_job
        )));
    }
    validate_config(config)?;
    validate_container(config, settings)?;
    validate_sla_policy(config, instances, settings)
}

/// A new job's environment must match the cluster's pattern (Aurora's `ConfigurationManager`,
/// `-allowed_job_environments`). Checked where a job key enters: creating a job, scheduling
/// a cron job, an update that creates its job. Jobs already running keep their environment.
pub(crate) fn validate_environment(job: &JobKey, settings: &Settings) -> Result<(), Rejection> {
    let pattern = &settings.allowed_job_environments;
    if pattern.allows(job.environment.as_str()) {
        return Ok(());
    }
    Err(invalid(format!(
        "Job environment {} doesn't match: {pattern} (the environments this cluster allows; \
         aurora-scheduler --allowed-job-environments)",
        job.environment
    )))
}

/// A container must be of an allowed type (Aurora's message), and what this scheduler's
/// agents can run: Docker images, not the Mesos containerizer's images or volumes.
fn validate_container(config: &TaskConfig, settings: &Settings) -> Result<(), Rejection> {
    let Some(container) = &config.container else {
        return Ok(());
    };
    let kind = container.kind();
    if !settings.allowed_container_types.iter().any(|t| t == kind) {
        return Err(invalid(format!(
            "The container type {kind} is not allowed: this cluster has no {} containerizer \
             (it allows {}; aurora-scheduler --allowed-container-types)",
            if kind == "DOCKER" { "Docker" } else { kind },
            settings.allowed_container_types.join(", ")
        )));
    }
    match container {
        Container::Docker { image, .. } if image.trim().is_empty() => {
            Err(invalid("a Docker container needs an image".into()))
        }
        Container::Docker { .. } => Ok(()),
        Container::Mesos { image: Some(_), .. } => Err(invalid(
            "this cluster's agents cannot provision Mesos container images; use \
             Docker(image = ...) on a cluster that allows DOCKER, or no image"
                .into(),
        )),
        Container::Mesos { volumes, .. } if !volumes.is_empty() => Err(invalid(
            "this cluster's agents cannot mount Mesos container volumes".into(),
        )),
        Container::Mesos { .. } => Ok(()),
    }
}

/// An SLA policy must be one the drainer and updater can honour (Aurora's
/// `ConfigurationManager`): on production tasks (unless non-production SLAs are checked),
/// on enough instances to be checked at all, letting at least one instance go down, and over
/// a bounded duration. A coordinator needs an http(s) URL and a key to read.
fn validate_sla_policy(
    config: &TaskConfig,
    instances: u32,
    settings: &Settings,
) -> Result<(), Rejection> {
    let Some(policy) = &config.sla_policy else {
        return Ok(());
    };
    if !config.production() && !settings.sla_aware_kill_non_prod {
        return Err(invalid(format!(
            "an SLA policy is only allowed on production tasks (tier preferred), not tier {}; \
             the scheduler checks other tiers' policies only with --sla-aware-kill-non-prod",
            config.tier
        )));
    }
    let minimum = settings.min_required_instances_for_sla_check;
    let counted = !matches!(policy, SlaPolicy::Coordinator { .. });
    if counted && (instances as usize) < minimum {
        return Err(invalid(format!(
            "an SLA policy needs at least {minimum} instances to be checked, and this job has \
             {instances} (the scheduler's --min-required-instances-for-sla-check)"
        )));
    }
    let duration_secs = match policy {
        SlaPolicy::Count {
            count,
            duration_secs,
        } => {
            if *count >= instances {
                return Err(invalid(format!(
                    "CountSlaPolicy count={count} will not allow any instance to be killed: \
                     it must be less than the instance count {instances}"
                )));
            }
            *duration_secs
        }
        SlaPolicy::Percentage {
            percentage,
            duration_secs,
        } => {
            if !(percentage.is_finite() && *percentage > 0.0 && *percentage <= 100.0) {
                return Err(invalid(format!(
                    "PercentageSlaPolicy percentage must be above 0 and at most 100, not {percentage}"
                )));
            }
            let allowed_down = ((1.0 - percentage / 100.0) * f64::from(instances)).floor();
            if allowed_down < 1.0 {
                return Err(invalid(format!(
                    "PercentageSlaPolicy percentage={percentage} will not allow any of the \
                     {instances} instances to be killed: it must be at most {:.2}",
                    (f64::from(instances) - 1.0) / f64::from(instances) * 100.0
                )));
            }
            *duration_secs
        }
        SlaPolicy::Coordinator { url, status_key } => {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(invalid(format!(
                    "CoordinatorSlaPolicy coordinator_url must be an http:// or https:// URL, \
                     not {url:?}"
                )));
            }
            if status_key.trim().is_empty() {
                return Err(invalid(
                    "CoordinatorSlaPolicy status_key must not be empty".into(),
                ));
            }
            return Ok(());
        }
    };
    if duration_secs > settings.max_sla_duration_secs {
        return Err(invalid(format!(
            "SLA policy duration_secs={duration_secs} is longer than the cluster's maximum of \
             {} s",
            settings.max_sla_duration_secs
        )));
    }
    Ok(())
}

/// The smallest share of a core a task may ask for (Mesos' resolution).
pub const MIN_CPUS: f64 = 0.001;
/// The most cores a task may ask for.
pub const MAX_CPUS: f64 = 1_000_000.0;
/// The most RAM or disk a task may ask for, in MB (1 PiB).
pub const MAX_MB: u64 = 1 << 30;

/// The largest task config accepted, as JSON (the form the API, the event stream and the
/// read side carry it in). A config is stored in one event: NATS refuses a message over its
/// `max_payload` (1 MiB by default), so a larger one would hold the JetStream mirror at its
/// seq; and every replica and read side keeps every config. 256 KiB holds a long inline
/// script many times over.
pub const MAX_CONFIG_BYTES: usize = 256 * 1024;

/// Validates one task config.
pub(crate) fn validate_config(config: &TaskConfig) -> Result<(), Rejection> {
    let size = serde_json::to_vec(config).map_or(usize::MAX, |json| json.len());
    if size > MAX_CONFIG_BYTES {
        return Err(invalid(format!(
            "the task config is {size} bytes as JSON; at most {MAX_CONFIG_BYTES} are accepted \
             (look for a large cmdline, metadata or environment in the config)"
        )));
    }
    let resources = &config.resources;
    if !(resources.cpus.is_finite() && resources.cpus > 0.0) {
        return Err(invalid(format!(
            "cpu must be greater than 0, not {}",
            resources.cpus
        )));
    }
    // Bounds no machine comes near, so that quota sums over thousands of tasks neither
    // saturate nor lose a task's share to rounding (1e308 cpus, u64::MAX MB were accepted).
    if !(MIN_CPUS..=MAX_CPUS).contains(&resources.cpus) {
        return Err(invalid(format!(
            "cpu must be between {MIN_CPUS} and {MAX_CPUS}, not {}",
            resources.cpus
        )));
    }
    if resources.ram_mb == 0 {
        return Err(invalid("ram must be greater than 0".into()));
    }
    if resources.disk_mb == 0 {
        return Err(invalid("disk must be greater than 0".into()));
    }
    for (what, mb) in [("ram", resources.ram_mb), ("disk", resources.disk_mb)] {
        if mb > MAX_MB {
            return Err(invalid(format!(
                "{what} must be at most {MAX_MB} MB (1 PiB), not {mb} MB"
            )));
        }
    }
    if config.max_task_failures < -1 {
        return Err(invalid(format!(
            "max_task_failures must be -1 or more, not {}",
            config.max_task_failures
        )));
    }
    let task = &config.executor;
    if task.processes.is_empty() {
        return Err(invalid(format!("task {:?} has no processes", task.name)));
    }
    let mut names = BTreeSet::new();
    for process in &task.processes {
        if process.name.is_empty() {
            return Err(invalid("a process has no name".into()));
        }
        if !names.insert(process.name.as_str()) {
            return Err(invalid(format!(
                "duplicate process name {:?}",
                process.name
            )));
        }
        if process.cmdline.trim().is_empty() {
            return Err(invalid(format!(
                "process {:?} has no cmdline",
                process.name
            )));
        }
    }
    for order in &task.ordering {
        for name in order {
            if !names.contains(name.as_str()) {
                return Err(invalid(format!(
                    "ordering constraint names unknown process {name:?}"
                )));
            }
        }
    }
    for constraint in &config.constraints {
        if constraint.name.is_empty() {
            return Err(invalid("a constraint has no attribute name".into()));
        }
        match &constraint.kind {
            ConstraintKind::Value { values, .. } if values.is_empty() => {
                return Err(invalid(format!(
                    "constraint on {:?} has no values",
                    constraint.name
                )));
            }
            ConstraintKind::Limit { limit: 0 } => {
                return Err(invalid(format!(
                    "limit constraint on {:?} must be at least 1",
                    constraint.name
                )));
            }
            ConstraintKind::Value { .. } | ConstraintKind::Limit { .. } => {}
        }
        if constraint.name == DEDICATED_ATTRIBUTE {
            validate_dedicated(config, &constraint.kind)?;
        }
    }
    Ok(())
}

/// A dedicated constraint is a single, non-negated value `role/anything` whose role is the
/// job's role or `*`.
fn validate_dedicated(config: &TaskConfig, kind: &ConstraintKind) -> Result<(), Rejection> {
    let value = match kind {
        ConstraintKind::Value {
            negated: false,
            values,
        } if values.len() == 1 => &values[0],
        ConstraintKind::Value { .. } | ConstraintKind::Limit { .. } => {
            return Err(invalid(
                "a dedicated constraint must be a single value, e.g. 'role/name'".into(),
            ));
        }
    };
    let role = value.split_once('/').map(|(role, _)| role);
    match role {
        Some(role) if role == "*" || role == config.job.role.as_str() => Ok(()),
        Some(_) | None => Err(invalid(format!(
            "dedicated constraint {value:?} must be of the form '{}/...' or '*/...'",
            config.job.role
        ))),
    }
}
