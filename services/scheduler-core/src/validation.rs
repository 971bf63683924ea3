//! Checks on a task config before anything is journaled: each failure names what is wrong.

use std::collections::BTreeSet;

use aurora_events::config::{ConstraintKind, DEDICATED_ATTRIBUTE};
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
    validate_config(config)
}

/// Validates one task config.
pub(crate) fn validate_config(config: &TaskConfig) -> Result<(), Rejection> {
    let resources = &config.resources;
    if !(resources.cpus.is_finite() && resources.cpus > 0.0) {
        return Err(invalid(format!(
            "cpu must be greater than 0, not {}",
            resources.cpus
        )));
    }
    if resources.ram_mb == 0 {
        return Err(invalid("ram must be greater than 0".into()));
    }
    if resources.disk_mb == 0 {
        return Err(invalid("disk must be greater than 0".into()));
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
