//! `job status` and `job list`: jobs matching `CLUSTER[/ROLE[/ENV[/NAME]]]`, printed as
//! Aurora's client prints them (`StatusCommand` and `ListJobsCommand` in `jobs.py`), so that
//! scripts grepping the text or reading `--write-json` with `jq` keep working.

use aurora_api::{JobSummary, TaskView};
use aurora_events::JobKey;
use jiff::tz::TimeZone;
use serde::Serialize;

use super::scheduled::ScheduledTask;
use crate::client::Client;
use crate::context::{Context, print_json};
use crate::exit::{CliError, CliResult};
use crate::keys::KeyPattern;
use crate::pyfmt;

/// The jobs the scheduler knows that match `pattern`.
/// The jobs `pattern` names: a fully named job as it is (Aurora shows a finished job's tasks
/// when asked for it by name); otherwise, with `active`, Aurora's `getJobs` (jobs with an
/// active task, and cron jobs), else every job with a task.
fn matching_jobs(
    client: &Client,
    pattern: &KeyPattern,
    at: Option<&str>,
    active: bool,
) -> CliResult<Vec<JobKey>> {
    if !active
        && let (Some(role), Some(env), Some(name)) = (
            pattern.literal_role(),
            pattern.literal_environment(),
            pattern.literal_name(),
        )
        && let Ok(key) = JobKey::new(role, env, name)
    {
        return Ok(vec![key]);
    }
    let mut path = match pattern.literal_role() {
        Some(role) => format!("/api/v1/jobs?role={role}"),
        None => "/api/v1/jobs?".to_string(),
    };
    if active {
        if !path.ends_with('?') {
            path.push('&');
        }
        path.push_str("active=true");
    }
    let path = path.trim_end_matches('?').to_string();
    let path = crate::time::with_at(&path, at).map_err(CliError::invalid_parameter)?;
    let summaries: Vec<JobSummary> = client.get(&path)?;
    Ok(summaries
        .iter()
        .filter_map(|s| s.job.parse::<JobKey>().ok())
        .filter(|key| pattern.matches(key))
        .collect())
}

/// Whether `pattern` names one job, without globs.
fn names_one_job(pattern: &KeyPattern) -> bool {
    pattern.literal_role().is_some()
        && pattern.literal_environment().is_some()
        && pattern.literal_name().is_some()
}

/// One job in `job status --write-json`: `{"job", "active", "inactive"}`.
#[derive(Debug, Serialize)]
struct JobStatus {
    job: String,
    active: Vec<ScheduledTask>,
    inactive: Vec<ScheduledTask>,
}

/// A job's tasks, split as Aurora splits them: active (`ACTIVE_STATES`) and the rest, each
/// sorted by instance (stable, so an instance's older tasks keep the scheduler's order).
struct Tasks {
    job: String,
    active: Vec<TaskView>,
    inactive: Vec<TaskView>,
}

fn split(job: String, tasks: Vec<TaskView>) -> Tasks {
    let (mut active, mut inactive): (Vec<TaskView>, Vec<TaskView>) =
        tasks.into_iter().partition(|t| t.status.is_active());
    active.sort_by_key(|t| t.instance);
    inactive.sort_by_key(|t| t.instance);
    Tasks {
        job,
        active,
        inactive,
    }
}

/// The pattern with its missing parts as `*`, as Aurora names a job spec it found nothing for.
fn partial_key(pattern: &KeyPattern) -> String {
    let text = pattern.to_string();
    let mut parts: Vec<&str> = text.split('/').collect();
    parts.resize(4, "*");
    parts.join("/")
}

pub(super) fn status(ctx: &Context, pattern: &str, json: bool, at: Option<&str>) -> CliResult {
    let pattern: KeyPattern = pattern.parse()?;
    let client = ctx.client(&pattern.cluster)?;
    let mut jobs = Vec::new();
    // A wildcard lists what Aurora's getJobs does (active and cron jobs); a job named in full
    // is shown whatever its tasks' states.
    for job in matching_jobs(&client, &pattern, at, !names_one_job(&pattern))? {
        let path = crate::time::with_at(
            &format!("/api/v1/jobs/{job}/tasks?all=true&configs=true"),
            at,
        )
        .map_err(CliError::invalid_parameter)?;
        let tasks: Vec<TaskView> = client.get(&path)?;
        // A job without tasks (a cron template between runs) is left out, as Aurora does.
        if !tasks.is_empty() {
            jobs.push(split(format!("{}/{job}", pattern.cluster), tasks));
        }
    }
    if jobs.is_empty() {
        let spec = partial_key(&pattern);
        if json {
            // A script reading JSON gets an answer it can parse, and exit 0 (as Aurora).
            println!(
                "{}",
                serde_json::json!({"jobspec": spec, "error": "No matching jobs found"})
            );
            return Ok(());
        }
        return Err(CliError::invalid_parameter(format!(
            "Found no jobs matching {spec}"
        )));
    }
    if json {
        let statuses: Vec<JobStatus> = jobs
            .iter()
            .map(|job| JobStatus {
                job: job.job.clone(),
                active: job.active.iter().map(ScheduledTask::from_view).collect(),
                inactive: job.inactive.iter().map(ScheduledTask::from_view).collect(),
            })
            .collect();
        return print_json(&statuses);
    }
    let zone = TimeZone::system();
    let text: String = jobs
        .iter()
        .map(|job| render_job(&job.active, &job.inactive, &zone))
        .collect();
    // Aurora prints the text with one more newline: a blank line closes the output.
    println!("{text}");
    Ok(())
}

/// Aurora's text for one job (it names no job: with several, their blocks follow each other).
fn render_job(active: &[TaskView], inactive: &[TaskView], zone: &TimeZone) -> String {
    let mut out = format!("Active tasks ({}):\n", active.len());
    for task in active {
        out.push_str(&render_task(task, zone));
    }
    out.push_str(&format!("Inactive tasks ({}):\n", inactive.len()));
    for task in inactive {
        out.push_str(&render_task(task, zone));
    }
    out
}

/// One task, every line ending in a newline. The "failure count" line only follows assigned
/// ports, as in Aurora's client.
fn render_task(task: &TaskView, zone: &TimeZone) -> String {
    let (role, env, name) = split_job(&task.job);
    let mut lines = vec![format!(
        "\tTask role: {role}, env: {env}, name: {name}, instance: {}, status: {} on {}",
        task.instance,
        task.status,
        pyfmt::or_none(task.host.as_deref())
    )];
    if let Some(config) = &task.task_config {
        let r = &config.resources;
        let mut resources = vec![
            format!("CPU: {} core(s)", pyfmt::float(r.cpus)),
            format!("RAM: {} MB", r.ram_mb),
            format!("Disk: {} MB", r.disk_mb),
        ];
        resources.extend(r.ports.iter().map(|port| format!("Port: {port}")));
        if r.gpus > 0 {
            resources.push(format!("GPU: {} GPU(s)", r.gpus));
        }
        lines.push(format!("\t  {}", resources.join(", ")));
    }
    if !task.ports.is_empty() {
        lines.push(format!("\t  assigned ports: {}", pyfmt::dict(&task.ports)));
        let max = task
            .task_config
            .as_ref()
            .map_or_else(|| "None".to_string(), |c| c.max_task_failures.to_string());
        lines.push(format!(
            "\t  failure count: {} (max {max})",
            task.failure_count
        ));
    }
    lines.push("\t  events:".into());
    let mut events: Vec<(
        usize,
        &(aurora_events::Timestamp, aurora_events::ScheduleStatus),
    )> = task.events.iter().enumerate().collect();
    events.sort_by_key(|(_, (at, _))| *at);
    for (i, (at, status)) in events {
        let message = task.event_messages.get(i).cloned().flatten();
        lines.push(format!(
            "\t   {} {status}: {}",
            crate::time::local_seconds(*at, zone),
            pyfmt::or_none(message.as_deref())
        ));
    }
    if let Some(config) = task.task_config.as_ref().filter(|c| !c.metadata.is_empty()) {
        lines.push("\t  metadata:".into());
        for (key, value) in &config.metadata {
            lines.push(format!("\t\t  (key: '{key}', value: '{value}')"));
        }
    }
    lines.into_iter().map(|line| line + "\n").collect()
}

/// `role/env/name` into its parts.
fn split_job(job: &str) -> (&str, &str, &str) {
    let mut parts = job.splitn(3, '/');
    (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    )
}

/// `job list`: one `CLUSTER/ROLE/ENV/NAME` per line.
pub(super) fn list(ctx: &Context, pattern: &str, json: bool, at: Option<&str>) -> CliResult {
    let pattern: KeyPattern = pattern.parse()?;
    let client = ctx.client(&pattern.cluster)?;
    // Aurora's job list is its getJobs: jobs with an active task, and cron jobs.
    let keys: Vec<String> = matching_jobs(&client, &pattern, at, true)?
        .iter()
        .map(|job| format!("{}/{job}", pattern.cluster))
        .collect();
    if json {
        return print_json(&keys);
    }
    for key in keys {
        println!("{key}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use aurora_events::{ScheduleStatus, TaskId, Timestamp};

    use super::*;

    /// Instance 0 RUNNING with ports, metadata and messages; instance 1 PENDING; an older
    /// instance-0 task KILLED. Times are 2020-02-21 10:11:12 UTC and on.
    fn tasks() -> (Vec<TaskView>, Vec<TaskView>) {
        let mut config = aurora_events::samples::task_config();
        config.job = "www-data/prod/hello".parse().unwrap();
        config.resources.cpus = 0.5;
        config.resources.ram_mb = 128;
        config.resources.disk_mb = 256;
        config.resources.ports = BTreeSet::from(["http".to_string(), "health".to_string()]);
        config.resources.gpus = 0;
        config.max_task_failures = 1;
        config.metadata = BTreeMap::from([("owner".to_string(), "web".to_string())]);
        let t0 = 1_582_279_872_000;
        let view =
            |id: &str, instance, status, events: Vec<(i64, ScheduleStatus, Option<&str>)>| {
                TaskView {
                    id: TaskId::from_raw(id.to_string()),
                    job: "www-data/prod/hello".into(),
                    instance,
                    status,
                    config: config.hash(),
                    failure_count: 0,
                    ancestor: None,
                    agent: None,
                    host: None,
                    observer: None,
                    ports: BTreeMap::new(),
                    events: events
                        .iter()
                        .map(|(at, s, _)| (Timestamp(t0 + at), *s))
                        .collect(),
                    event_messages: events
                        .iter()
                        .map(|(_, _, m)| m.map(str::to_string))
                        .collect(),
                    pending_reason: None,
                    task_config: Some(config.clone()),
                }
            };
        let mut running = view(
            "www-data-prod-hello-0-b",
            0,
            ScheduleStatus::Running,
            vec![
                (1_000, ScheduleStatus::Pending, Some("Rescheduled")),
                (2_000, ScheduleStatus::Assigned, None),
                (3_500, ScheduleStatus::Running, None),
            ],
        );
        running.agent = Some("agent-1".into());
        running.host = Some("host1".into());
        running.ports = BTreeMap::from([("http".to_string(), 31000), ("health".into(), 31001)]);
        running.ancestor = Some(TaskId::from_raw("www-data-prod-hello-0-a".to_string()));
        let pending = view(
            "www-data-prod-hello-1-c",
            1,
            ScheduleStatus::Pending,
            vec![(0, ScheduleStatus::Pending, None)],
        );
        let mut killed = view(
            "www-data-prod-hello-0-a",
            0,
            ScheduleStatus::Killed,
            vec![
                (0, ScheduleStatus::Pending, None),
                (500, ScheduleStatus::Killing, Some("Killed by alice: bye")),
                (900, ScheduleStatus::Killed, None),
            ],
        );
        killed.host = Some("host1".into());
        killed.agent = Some("agent-1".into());
        let all = split(
            "west/www-data/prod/hello".into(),
            vec![pending, killed, running],
        );
        (all.active, all.inactive)
    }

    #[test]
    fn text_matches_aurora_line_for_line() {
        let (active, inactive) = tasks();
        let text = render_job(&active, &inactive, &TimeZone::UTC);
        assert_eq!(
            text,
            "\
Active tasks (2):
\tTask role: www-data, env: prod, name: hello, instance: 0, status: RUNNING on host1
\t  CPU: 0.5 core(s), RAM: 128 MB, Disk: 256 MB, Port: health, Port: http
\t  assigned ports: {'health': 31001, 'http': 31000}
\t  failure count: 0 (max 1)
\t  events:
\t   2020-02-21 10:11:13 PENDING: Rescheduled
\t   2020-02-21 10:11:14 ASSIGNED: None
\t   2020-02-21 10:11:15 RUNNING: None
\t  metadata:
\t\t  (key: 'owner', value: 'web')
\tTask role: www-data, env: prod, name: hello, instance: 1, status: PENDING on None
\t  CPU: 0.5 core(s), RAM: 128 MB, Disk: 256 MB, Port: health, Port: http
\t  events:
\t   2020-02-21 10:11:12 PENDING: None
\t  metadata:
\t\t  (key: 'owner', value: 'web')
Inactive tasks (1):
\tTask role: www-data, env: prod, name: hello, instance: 0, status: KILLED on host1
\t  CPU: 0.5 core(s), RAM: 128 MB, Disk: 256 MB, Port: health, Port: http
\t  events:
\t   2020-02-21 10:11:12 PENDING: None
\t   2020-02-21 10:11:12 KILLING: Killed by alice: bye
\t   2020-02-21 10:11:12 KILLED: None
\t  metadata:
\t\t  (key: 'owner', value: 'web')
"
        );
        // Local time, as Python's datetime.fromtimestamp.
        let plus_one = TimeZone::fixed(jiff::tz::Offset::constant(1));
        assert!(
            render_job(&active, &[], &plus_one)
                .contains("\t   2020-02-21 11:11:15 RUNNING: None\n")
        );
    }

    #[test]
    fn json_has_aurora_scheduled_task_fields() {
        let (active, inactive) = tasks();
        let status = JobStatus {
            job: "west/www-data/prod/hello".into(),
            active: active.iter().map(ScheduledTask::from_view).collect(),
            inactive: inactive.iter().map(ScheduledTask::from_view).collect(),
        };
        let json = serde_json::to_value([&status]).unwrap();
        let first = &json[0]["active"][0];
        assert_eq!(json[0]["job"], "west/www-data/prod/hello");
        assert_eq!(first["status"], "RUNNING");
        let assigned = &first["assignedTask"];
        assert_eq!(assigned["instanceId"], 0);
        assert_eq!(assigned["slaveHost"], "host1");
        assert_eq!(assigned["slaveId"], "agent-1");
        assert_eq!(assigned["taskId"], "www-data-prod-hello-0-b");
        assert_eq!(assigned["assignedPorts"]["http"], 31000);
        assert_eq!(first["ancestorId"], "www-data-prod-hello-0-a");
        assert_eq!(first["timesPartitioned"], 0);
        assert_eq!(first["taskEvents"][0]["message"], "Rescheduled");
        assert_eq!(first["taskEvents"][0]["timestamp"], 1_582_279_873_000_i64);
        assert!(first["taskEvents"][1].get("message").is_none());
        let pending = &json[0]["active"][1];
        assert!(pending["assignedTask"].get("slaveHost").is_none());
        assert_eq!(json[0]["inactive"][0]["status"], "KILLED");
        // The whole config of one task, field for field, in thrift's field-id order.
        let config = active[0].task_config.clone().unwrap();
        let data =
            serde_json::to_string(&serde_json::to_string(&config.executor).unwrap()).unwrap();
        let text = serde_json::to_string_pretty(&status.active[0].assigned_task.task).unwrap();
        assert_eq!(
            text,
            r#"{
  "isService": true,
  "priority": 0,
  "maxTaskFailures": 1,
  "owner": {
    "user": "www-data"
  },
  "production": true,
  "constraints": [
    {
      "name": "rack",
      "constraint": {
        "value": {
          "negated": true,
          "values": [
            "r1",
            "r2"
          ]
        }
      }
    },
    {
      "name": "host",
      "constraint": {
        "limit": {
          "limit": 1
        }
      }
    }
  ],
  "contactEmail": "team@example.com",
  "executorConfig": {
    "name": "AuroraExecutor",
    "data": DATA
  },
  "metadata": [
    {
      "key": "owner",
      "value": "web"
    }
  ],
  "job": {
    "role": "www-data",
    "environment": "prod",
    "name": "hello"
  },
  "tier": "preferred",
  "resources": [
    {
      "numCpus": 0.5
    },
    {
      "ramMb": 128
    },
    {
      "diskMb": 256
    },
    {
      "namedPort": "health"
    },
    {
      "namedPort": "http"
    }
  ],
  "partitionPolicy": {
    "reschedule": true,
    "delaySecs": 0
  },
  "slaPolicy": {
    "percentageSlaPolicy": {
      "percentage": 95.0,
      "durationSecs": 1800
    }
  }
}"#
            .replace("DATA", &data)
        );
    }

    #[test]
    fn a_partial_key_is_padded_with_wildcards() {
        let pattern: KeyPattern = "west/www-data".parse().unwrap();
        assert_eq!(partial_key(&pattern), "west/www-data/*/*");
        let pattern: KeyPattern = "west/r/e/n".parse().unwrap();
        assert_eq!(partial_key(&pattern), "west/r/e/n");
    }
}
