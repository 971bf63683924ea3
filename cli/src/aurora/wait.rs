//! Polling a job's tasks until they reach a state, with a progress bar on stderr (hidden when
//! stderr is not a terminal). Every wait is bounded or interruptible with Ctrl-C.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use aurora_api::TaskView;
use aurora_events::{InstanceId, JobKey, ScheduleStatus};
use indicatif::{ProgressBar, ProgressStyle};

use super::WaitUntil;
use crate::client::Client;
use crate::exit::{CliError, CliResult, ExitCode};

/// How often a wait asks the scheduler.
pub(crate) const POLL: Duration = Duration::from_millis(500);

/// Every task of `job` still known (active and finished).
pub(crate) fn all_tasks(client: &Client, job: &JobKey) -> CliResult<Vec<TaskView>> {
    client.get(&format!("/api/v1/jobs/{job}/tasks?all=true"))
}

/// The newest task of each instance (by when it entered its first state).
pub(crate) fn latest_by_instance(tasks: &[TaskView]) -> BTreeMap<InstanceId, &TaskView> {
    let mut latest: BTreeMap<InstanceId, &TaskView> = BTreeMap::new();
    for task in tasks {
        let born = |t: &TaskView| t.events.first().map(|e| e.0);
        match latest.get(&task.instance) {
            Some(current) if born(current) >= born(task) => {}
            _ => {
                latest.insert(task.instance, task);
            }
        }
    }
    latest
}

/// Whether a task counts as having reached `target`.
pub(crate) fn reached(status: ScheduleStatus, target: WaitUntil) -> bool {
    match target {
        WaitUntil::Pending => true,
        WaitUntil::Running => status == ScheduleStatus::Running || status.is_terminal(),
        WaitUntil::Finished => status.is_terminal(),
    }
}

pub(crate) fn progress(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} ({elapsed})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}

/// Waits until every instance in `instances` has a newest task that reached `target`.
pub(crate) fn until(
    client: &Client,
    job: &JobKey,
    instances: &BTreeSet<InstanceId>,
    target: WaitUntil,
    timeout: Option<Duration>,
) -> CliResult {
    if target == WaitUntil::Pending || instances.is_empty() {
        return Ok(());
    }
    let word = match target {
        WaitUntil::Running => "running",
        WaitUntil::Finished | WaitUntil::Pending => "finished",
    };
    let bar = progress(instances.len() as u64, &format!("instances {word}"));
    let started = Instant::now();
    loop {
        let tasks: Vec<TaskView> =
            client.get_patiently(&format!("/api/v1/jobs/{job}/tasks?all=true"))?;
        let latest = latest_by_instance(&tasks);
        let done = instances
            .iter()
            .filter(|i| latest.get(i).is_some_and(|t| reached(t.status, target)))
            .count();
        bar.set_position(done as u64);
        if done == instances.len() {
            bar.finish_and_clear();
            return Ok(());
        }
        if timeout.is_some_and(|limit| started.elapsed() > limit) {
            bar.abandon();
            return Err(CliError::new(
                ExitCode::Timeout,
                format!(
                    "{job}: only {done} of {} instances {word} after {} s",
                    instances.len(),
                    started.elapsed().as_secs()
                ),
            ));
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, instance: InstanceId, born: i64, status: ScheduleStatus) -> TaskView {
        use aurora_events::Timestamp;
        TaskView {
            id: aurora_events::TaskId::from_raw(id.to_string()),
            job: "r/prod/j".into(),
            instance,
            status,
            config: aurora_events::samples::task_config().hash(),
            failure_count: 0,
            ancestor: None,
            agent: None,
            host: None,
            observer: None,
            ports: BTreeMap::new(),
            events: vec![
                (Timestamp(born), ScheduleStatus::Pending),
                (Timestamp(born + 1), status),
            ],
            event_messages: Vec::new(),
            pending_reason: None,
            task_config: None,
        }
    }

    #[test]
    fn the_newest_task_of_each_instance_decides() {
        let tasks = vec![
            task("a", 0, 10, ScheduleStatus::Failed),
            task("b", 0, 20, ScheduleStatus::Running),
            task("c", 1, 5, ScheduleStatus::Pending),
        ];
        let latest = latest_by_instance(&tasks);
        assert_eq!(latest[&0].id.as_str(), "b");
        assert_eq!(latest[&1].id.as_str(), "c");
        assert!(reached(ScheduleStatus::Running, WaitUntil::Running));
        assert!(reached(ScheduleStatus::Failed, WaitUntil::Running));
        assert!(!reached(ScheduleStatus::Pending, WaitUntil::Running));
        assert!(!reached(ScheduleStatus::Running, WaitUntil::Finished));
        assert!(reached(ScheduleStatus::Finished, WaitUntil::Finished));
    }
}
