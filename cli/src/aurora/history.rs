//! `aurora task history [CLUSTER/]TASK_ID` (the task's whole lifecycle, with the tasks it was
//! rescheduled from) and `aurora why [CLUSTER/]TASK_ID` (the chain of causes behind its latest
//! transition), both with `--at` for the past. The cluster defaults to devcluster.

use aurora_events::{Envelope, EventId, Seq, Timestamp};
use serde::{Deserialize, Serialize};

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

pub(super) fn history(ctx: &Context, spec: &str, at: Option<&str>, json: bool) -> CliResult {
    let (cluster, task) = split_task(spec)?;
    let client = ctx.client(cluster)?;
    let path = with_at(&format!("/api/v1/tasks/{task}/history"), at)
        .map_err(CliError::invalid_parameter)?;
    let mut chain: Vec<TaskHistory> = client.get(&path)?;
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
    let path =
        with_at(&format!("/api/v1/tasks/{task}/why"), at).map_err(CliError::invalid_parameter)?;
    let why: Why = client.get(&path)?;
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
    use super::split_task;

    #[test]
    fn task_specs_may_name_their_cluster() {
        assert_eq!(split_task("prod/t-1").unwrap(), ("prod", "t-1"));
        assert_eq!(split_task("t-1").unwrap(), ("devcluster", "t-1"));
        assert!(split_task("a/b/c").is_err());
        assert!(split_task("/t").is_err());
    }
}
