//! `sla get-task-up-count` and `sla get-job-uptime`, as Aurora's client computes and prints
//! them (`JobUpTimeSlaVector`): from the job's tasks in a live state, each instance's uptime
//! counted from when its task entered RUNNING, on this machine's clock.

use aurora_api::TaskView;
use aurora_events::ScheduleStatus;

use crate::context::Context;
use crate::exit::{CliError, CliResult};
use crate::keys::ClusterJobKey;

/// Aurora's defaults: `--durations 1m,10m,1h,12h,7d`.
const DEFAULT_DURATIONS: &str = "1m,10m,1h,12h,7d";
/// Aurora's defaults: `--percentiles 99,95,90,85,75,60,50,30,10`.
const DEFAULT_PERCENTILES: &str = "99,95,90,85,75,60,50,30,10";

/// Each live instance's uptime in whole seconds at `now_ms`, from its task's first RUNNING
/// (one per instance).
fn uptimes(tasks: &[TaskView], now_ms: i64) -> Vec<i64> {
    let mut by_instance = std::collections::BTreeMap::new();
    for (instance, uptime) in tasks.iter().filter(|t| t.status.is_live()).filter_map(|t| {
        let started = t
            .events
            .iter()
            .find(|(_, status)| *status == ScheduleStatus::Running)?
            .0;
        Some((t.instance, (now_ms - started.as_millis()).div_euclid(1000)))
    }) {
        by_instance.insert(instance, uptime);
    }
    by_instance.into_values().collect()
}

/// The percentage of `uptimes` at least `duration_secs` long (0 with none).
fn up_count(uptimes: &[i64], duration_secs: i64) -> f64 {
    if uptimes.is_empty() {
        return 0.0;
    }
    let above = uptimes.iter().filter(|u| **u >= duration_secs).count();
    100.0 * above as f64 / uptimes.len() as f64
}

/// The uptime at `percentile` (within (0, 100)): the value that `percentile` percent of the
/// instances have been up at least as long as (Aurora's indexing), 0 with none.
fn uptime_at(uptimes: &[i64], percentile: f64) -> i64 {
    let mut sorted = uptimes.to_vec();
    sorted.sort_unstable();
    let total = sorted.len() as i64;
    let value = (percentile / 100.0 * total as f64).floor() as i64;
    let index = total - value - 1;
    usize::try_from(index)
        .ok()
        .and_then(|i| sorted.get(i).copied())
        .unwrap_or(0)
}

/// A duration as Aurora's client shows it: `1 mins`, `12 hrs`, `7 days`, or in seconds when
/// it mixes units.
fn shown(text: &str, secs: u64) -> String {
    let trimmed = text.trim();
    let digits: String = trimmed.chars().take_while(char::is_ascii_digit).collect();
    match &trimmed[digits.len()..] {
        "d" => format!("{digits} days"),
        "h" => format!("{digits} hrs"),
        "m" => format!("{digits} mins"),
        _ => format!("{secs} secs"),
    }
}

fn running_tasks(ctx: &Context, key: &ClusterJobKey) -> CliResult<Vec<TaskView>> {
    let client = ctx.client(&key.cluster)?;
    client.get(&format!("/api/v1/jobs/{}/tasks", key.job))
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

pub(super) fn task_up_count(ctx: &Context, key: &str, durations: Option<&str>) -> CliResult {
    let key: ClusterJobKey = key.parse()?;
    let mut wanted = Vec::new();
    for text in durations.unwrap_or(DEFAULT_DURATIONS).split(',') {
        let secs = crate::time::parse_duration_secs(text)
            .map_err(|e| CliError::invalid_parameter(format!("--durations: {e}")))?;
        wanted.push((shown(text, secs), secs));
    }
    // Shortest first, as Aurora's client sorts them.
    wanted.sort_by_key(|(_, secs)| *secs);
    let uptimes = uptimes(&running_tasks(ctx, &key)?, now_ms());
    for (label, secs) in wanted {
        let secs = i64::try_from(secs).unwrap_or(i64::MAX);
        println!("{label}\t- {:.2} %", up_count(&uptimes, secs));
    }
    Ok(())
}

pub(super) fn job_uptime(ctx: &Context, key: &str, percentiles: Option<&str>) -> CliResult {
    let key: ClusterJobKey = key.parse()?;
    let mut wanted: Vec<f64> = Vec::new();
    for text in percentiles.unwrap_or(DEFAULT_PERCENTILES).split(',') {
        let value: f64 = text.trim().parse().map_err(|_| {
            CliError::invalid_parameter(format!("--percentiles: {text:?} is not a number"))
        })?;
        if !(value > 0.0 && value < 100.0) {
            return Err(CliError::invalid_parameter(format!(
                "--percentiles: {value} is not within (0, 100)"
            )));
        }
        wanted.push(value);
    }
    wanted.sort_by(|a, b| b.total_cmp(a));
    let uptimes = uptimes(&running_tasks(ctx, &key)?, now_ms());
    for percentile in wanted {
        // Python's str() of a float: 99.0, 95.5.
        let shown = if percentile.fract() == 0.0 {
            format!("{percentile:.1}")
        } else {
            percentile.to_string()
        };
        println!(
            "{shown} percentile\t- {} seconds",
            uptime_at(&uptimes, percentile)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(instance: u32, status: &str, events: &[(i64, &str)]) -> TaskView {
        serde_json::from_value(serde_json::json!({
            "id": format!("t-{instance}"), "job": "r/prod/j", "instance": instance,
            "status": status, "config": "0".repeat(64), "failure_count": 0,
            "ancestor": null, "agent": null, "host": "h", "ports": {},
            "events": events, "pending_reason": null,
        }))
        .expect("a task view")
    }

    #[test]
    fn uptime_runs_from_running_for_live_tasks_only() {
        let tasks = [
            task(0, "RUNNING", &[(1_000, "STARTING"), (11_000, "RUNNING")]),
            task(1, "STARTING", &[(1_000, "STARTING")]),
            task(
                2,
                "KILLING",
                &[(1_000, "STARTING"), (2_000, "RUNNING"), (50_000, "KILLING")],
            ),
            task(3, "FINISHED", &[(1_000, "RUNNING"), (5_000, "FINISHED")]),
        ];
        // Aurora's JobUpTimeSlaVector: 0 up 50 s (from RUNNING, not STARTING), 2 up 59 s;
        // 1 has not run, 3 is not live.
        assert_eq!(uptimes(&tasks, 61_000), vec![50, 59]);
    }

    #[test]
    fn up_counts_and_percentiles_follow_aurora() {
        let uptimes = [10, 20, 30, 40];
        assert_eq!(up_count(&uptimes, 25), 50.0);
        assert_eq!(up_count(&uptimes, 0), 100.0);
        assert_eq!(up_count(&[], 10), 0.0);
        // 4 instances: 50th percentile → index 4 - 2 - 1 = 1 → 20 s.
        assert_eq!(uptime_at(&uptimes, 50.0), 20);
        assert_eq!(uptime_at(&uptimes, 99.0), 10);
        assert_eq!(uptime_at(&uptimes, 10.0), 40);
        assert_eq!(uptime_at(&[], 50.0), 0);
        assert_eq!(shown("1m", 60), "1 mins");
        assert_eq!(shown("12h", 43_200), "12 hrs");
        assert_eq!(shown("7d", 604_800), "7 days");
        assert_eq!(shown("1h30m", 5_400), "5400 secs");
    }
}
