//! `aurora task history [CLUSTER/]TASK_ID` (the task's whole lifecycle, with the tasks it was
//! rescheduled from) and `aurora why [CLUSTER/]TASK_ID` (the chain of causes behind its latest
//! transition), both with `--at` for the past. The cluster defaults to devcluster.

use aurora_events::{Envelope, EventId, Seq, Timestamp};
use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::context::{Context, paint, print_json};
use crate::exit::{CliError, CliResult};
use crate::time::with_at;

/// The task history the scheduler answers: each task as the read side sees it.
#[derive(Debug, Serialize, Deserialize)]
struct TaskHistory {
    id: String,
    job: aurora_events::JobKey,
    instance: u32,
    status: aurora_events::ScheduleStatus,
    host: Option<String>,
    timeline: Vec<Step>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Step {
    seq: Seq,
    at: Timestamp,
    actor: aurora_events::Actor,
    status: aurora_events::ScheduleStatus,
    message: Option<String>,
    host: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Why {
    task: String,
    chain: Vec<Envelope>,
    missing_cause: Option<EventId>,
}

/// `[CLUSTER/]TASK_ID`.
fn split_task(spec: &str) -> CliResult<(&str, &str)> {
    let (cluster, task) = spec.split_once('/').unwrap_or(("devcluster", spec));
    if cluster.is_empty() || task.is_empty() || task.contains('/') {
        return Err(CliError::invalid_parameter(format!(
            "{spec:?} is not [CLUSTER/]TASK_ID"
        )));
    }
    Ok((cluster, task))
}

/// `/api/v1/tasks/{task}/{what}`, with `--at`; the task id is one path segment whatever it
/// holds.
fn task_path(task: &str, what: &str, at: Option<&str>) -> CliResult<String> {
    with_at(
        &format!("/api/v1/tasks/{}/{what}", crate::percent::encode(task)),
        at,
    )
    .map_err(CliError::invalid_parameter)
}

/// GETs `task_path`. A task unknown at `--at` but known now was created after that point:
/// said so, rather than the scheduler's "it may never have existed, or have been pruned".
fn task_get<T: serde::de::DeserializeOwned>(
    client: &Client,
    task: &str,
    what: &str,
    at: Option<&str>,
) -> CliResult<T> {
    let path = task_path(task, what, at)?;
    let refusal = match client.try_get(&path)? {
        Ok(answer) => return Ok(answer),
        Err(refusal) => refusal,
    };
    let refused = CliError::new(
        refusal.exit_code(),
        format!("the scheduler refused {path}: {refusal}"),
    );
    let Some(at) = at.filter(|_| refusal.is_not_found()) else {
        return Err(refused);
    };
    if path == task_path(task, what, None)? {
        return Err(refused); // --at now
    }
    match client.try_get::<serde_json::Value>(&task_path(task, what, None)?)? {
        Ok(_) => Err(CliError::new(
            refusal.exit_code(),
            format!(
                "task {task} did not exist yet at --at {}: it was created later",
                at.trim()
            ),
        )),
        Err(_) => Err(refused),
    }
}

pub(super) fn history(ctx: &Context, spec: &str, at: Option<&str>, json: bool) -> CliResult {
    let (cluster, task) = split_task(spec)?;
    let client = ctx.client(cluster)?;
    let mut chain: Vec<TaskHistory> = task_get(&client, task, "history", at)?;
    // Oldest first: the lifecycle reads in the order it happened.
    chain.reverse();
    if json {
        return print_json(&chain);
    }
    for (i, task) in chain.iter().enumerate() {
        let heading = if i + 1 == chain.len() {
            "Task"
        } else {
            "Rescheduled from"
        };
        println!(
            "{heading} {} ({}/{}, instance {}): {}",
            paint(ctx.color, "1", &task.id),
            cluster,
            task.job,
            task.instance,
            task.status
        );
        for step in &task.timeline {
            let mut line = format!(
                "  {:>8}  {}  {:<11}  {:<16}",
                step.seq,
                step.at.to_utc_string(),
                step.status.to_string(),
                step.actor.to_string()
            );
            if let Some(host) = &step.host {
                line.push_str(&format!("  on {host}"));
            }
            if let Some(message) = &step.message {
                line.push_str(&format!("  ({message})"));
            }
            println!("{}", line.trim_end());
        }
    }
    Ok(())
}

pub(super) fn why(ctx: &Context, spec: &str, at: Option<&str>, json: bool) -> CliResult {
    let (cluster, task) = split_task(spec)?;
    let client = ctx.client(cluster)?;
    let why: Why = task_get(&client, task, "why", at)?;
    if json {
        return print_json(&why);
    }
    let Some(effect) = why.chain.first() else {
        return Ok(());
    };
    println!(
        "Why task {} is where it is (seq {}), first cause first:",
        why.task, effect.seq
    );
    if let Some(missing) = why.missing_cause {
        println!("  (the earliest cause, event {missing}, is no longer in the journal's reach)");
    }
    for envelope in why.chain.iter().rev() {
        println!("{}", crate::events::line(envelope, ctx.color));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{split_task, task_path};

    #[test]
    fn task_ids_are_one_path_segment() {
        assert_eq!(
            task_path("a b?c#d", "history", None).unwrap(),
            "/api/v1/tasks/a%20b%3Fc%23d/history"
        );
        assert_eq!(
            task_path("T?at=31", "why", Some("5")).unwrap(),
            "/api/v1/tasks/T%3Fat%3D31/why?at=5"
        );
        assert_eq!(
            task_path("www-prod-web-0-1a2b", "history", Some(" now ")).unwrap(),
            "/api/v1/tasks/www-prod-web-0-1a2b/history"
        );
        assert!(task_path("t", "history", Some("-1")).is_err());
    }

    #[test]
    fn task_specs_may_name_their_cluster() {
        assert_eq!(split_task("prod/t-1").unwrap(), ("prod", "t-1"));
        assert_eq!(split_task("t-1").unwrap(), ("devcluster", "t-1"));
        assert!(split_task("a/b/c").is_err());
        assert!(split_task("/t").is_err());
    }
}
