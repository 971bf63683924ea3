//! `aurora-admin query CLUSTER [ROLE [JOB]]`: tasks printed one per line through
//! `--listformat`, as Aurora's `admin.py query` prints them. Aurora fills `%key%` from the
//! task's thrift fields flattened into one namespace (`%taskId%`, `%slaveHost%`,
//! `%instanceId%`, `%status%`, `%role%`, `%environment%`, `%name%`, ...); an unknown key is
//! an error listing the known ones.

use std::collections::BTreeMap;

use aurora_api::TaskView;
use aurora_events::ScheduleStatus;

use crate::context::Context;
use crate::exit::{CliError, CliResult};
use crate::pyfmt;

/// What `query` was asked.
pub(super) struct Query<'a> {
    pub(super) cluster: &'a str,
    pub(super) role: Option<&'a str>,
    pub(super) job: Option<&'a str>,
    pub(super) force: bool,
    pub(super) listformat: &'a str,
    pub(super) shards: Option<&'a str>,
    pub(super) states: &'a str,
}

/// Keys taken from the task's config: asked for only when the format uses one.
const CONFIG_KEYS: [&str; 7] = [
    "isService",
    "priority",
    "maxTaskFailures",
    "production",
    "tier",
    "contactEmail",
    "user",
];

pub(super) fn query(ctx: &Context, q: &Query<'_>) -> CliResult {
    for state in q.states.split(',') {
        if state.parse::<ScheduleStatus>().is_err() {
            let valid: Vec<String> = <ScheduleStatus as strum::IntoEnumIterator>::iter()
                .map(|s| s.to_string())
                .collect();
            return Err(CliError::invalid_parameter(format!(
                "Unknown state '{state}' specified.  Valid states are:\n{}",
                valid.join(",")
            )));
        }
    }
    if q.role.is_none() && q.job.is_none() && !q.force {
        return Err(CliError::invalid_parameter(
            "--force is required for expensive queries (no role specified)",
        ));
    }
    let keys = format_keys(q.listformat);
    let mut path = format!("/api/v1/tasks?statuses={}", q.states);
    for (name, value) in [("role", q.role), ("job", q.job), ("instances", q.shards)] {
        if let Some(value) = value {
            path.push_str(&format!("&{name}={value}"));
        }
    }
    if keys.iter().any(|k| CONFIG_KEYS.contains(&k.as_str())) {
        path.push_str("&configs=true");
    }
    let client = ctx.client(q.cluster)?;
    let tasks: Vec<TaskView> = client.get(&path)?;
    for task in &tasks {
        println!("{}", format_task(q.listformat, task)?);
    }
    Ok(())
}

/// The `%key%` names in `format` (Python's `%(\w+)%`).
fn format_keys(format: &str) -> Vec<String> {
    let mut keys = Vec::new();
    // Every key gets a value here, so the substitution cannot fail.
    let _ = substitute(format, |key| {
        keys.push(key.to_string());
        Some(String::new())
    });
    keys
}

/// `format` with each `%key%` replaced by `value(key)`; `Err(key)` for the first key it has
/// no value for. A `%` that does not open a key stays as it is.
fn substitute(
    format: &str,
    mut value: impl FnMut(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(format.len());
    let mut rest = format;
    while let Some(start) = rest.find('%') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let word = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        if word > 0 && after[word..].starts_with('%') {
            let key = &after[..word];
            out.push_str(&value(key).ok_or_else(|| key.to_string())?);
            rest = &after[word + 1..];
        } else {
            out.push('%');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Every key a task offers, with its value as Python's `%s` prints it.
fn task_fields(task: &TaskView) -> BTreeMap<&'static str, String> {
    let mut parts = task.job.splitn(3, '/');
    let (role, env, name) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let none = || "None".to_string();
    let host = task.host.clone().unwrap_or_else(none);
    let mut fields = BTreeMap::from([
        ("role", role.to_string()),
        ("environment", env.to_string()),
        ("name", name.to_string()),
        ("instanceId", task.instance.to_string()),
        ("status", task.status.to_string()),
        ("taskId", task.id.to_string()),
        ("slaveHost", host.clone()),
        ("slaveId", task.agent.clone().unwrap_or_else(none)),
        ("failureCount", task.failure_count.to_string()),
        (
            "ancestorId",
            task.ancestor
                .as_ref()
                .map_or_else(none, ToString::to_string),
        ),
        (
            "timesPartitioned",
            task.events
                .iter()
                .filter(|(_, s)| *s == ScheduleStatus::Partitioned)
                .count()
                .to_string(),
        ),
        ("assignedPorts", pyfmt::dict(&task.ports)),
        // This client's own short names, kept for its earlier users.
        ("env", env.to_string()),
        ("host", task.host.clone().unwrap_or_else(|| "-".to_string())),
    ]);
    if let Some(config) = &task.task_config {
        fields.extend([
            ("isService", pyfmt::boolean(config.is_service).to_string()),
            ("priority", config.priority.to_string()),
            ("maxTaskFailures", config.max_task_failures.to_string()),
            (
                "production",
                pyfmt::boolean(config.production()).to_string(),
            ),
            ("tier", config.tier.to_string()),
            (
                "contactEmail",
                pyfmt::or_none(config.contact_email.as_deref()).to_string(),
            ),
            (
                "user",
                config.owner.clone().unwrap_or_else(|| role.to_string()),
            ),
        ]);
    }
    fields
}

/// Fills Aurora's `--listformat` for one task.
fn format_task(format: &str, task: &TaskView) -> CliResult<String> {
    let fields = task_fields(task);
    substitute(format, |key| fields.get(key).cloned()).map_err(|key| {
        let mut known: Vec<&str> = fields.keys().copied().collect();
        known.extend(CONFIG_KEYS.iter().filter(|k| !fields.contains_key(*k)));
        known.sort_unstable();
        CliError::invalid_parameter(format!(
            "Unknown key in format string: %{key}%.  Valid keys are:\n{}",
            known.join(",")
        ))
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn task() -> TaskView {
        serde_json::from_value(json!({
            "id": "www-data-prod-hello-3-abc", "job": "www-data/prod/hello", "instance": 3,
            "status": "RUNNING", "config": aurora_events::samples::task_config().hash(),
            "failure_count": 2, "ancestor": null, "agent": "agent-1", "host": "h1",
            "ports": {"http": 31000}, "events": [], "pending_reason": null,
            "task_config": aurora_events::samples::task_config()
        }))
        .unwrap()
    }

    #[test]
    fn listformat_fills_aurora_keys() {
        let task = task();
        assert_eq!(
            format_task("%role%/%name%/%instanceId% %status%", &task).unwrap(),
            "www-data/hello/3 RUNNING"
        );
        assert_eq!(
            format_task("%taskId%", &task).unwrap(),
            "www-data-prod-hello-3-abc"
        );
        assert_eq!(
            format_task(
                "%environment% %slaveHost% %slaveId% %failureCount% %ancestorId% %assignedPorts%",
                &task
            )
            .unwrap(),
            "prod h1 agent-1 2 None {'http': 31000}"
        );
        assert_eq!(
            format_task(
                "%isService% %production% %tier% %user% %maxTaskFailures%",
                &task
            )
            .unwrap(),
            "True True preferred www-data 1"
        );
        assert_eq!(
            format_task("%env%/%host% 100% done %", &task).unwrap(),
            "prod/h1 100% done %"
        );
    }

    #[test]
    fn an_unknown_key_names_the_known_ones() {
        let error = format_task("%nope%", &task()).unwrap_err();
        assert_eq!(error.code, crate::exit::ExitCode::InvalidParameter);
        assert!(
            error
                .message
                .starts_with("Unknown key in format string: %nope%.")
                && error.message.contains("slaveHost")
                && error.message.contains("taskId"),
            "{error}"
        );
        assert_eq!(
            format_keys("%role%/%name% %x"),
            ["role".to_string(), "name".to_string()]
        );
    }
}
