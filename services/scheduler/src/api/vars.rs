//! Aurora's `/vars` (plain text, one `name value` per line, sorted by name) and `/vars.json`
//! (one JSON object), for the dashboards and scripts written against Aurora's scheduler. Only
//! Aurora's names that have a counterpart here are served:
//!
//! | Aurora's name | Here |
//! |---|---|
//! | `jvm_uptime_secs` | seconds since this process started |
//! | `scheduler_lifecycle_<STATE>` | 1 for the current state: `ACTIVE` on the leader, `STORAGE_PREPARED` on a follower (Aurora's state while it waits to lead) |
//! | `framework_registered` | 1 on the leader (it is the one agents register with), else 0 |
//! | `task_store_<STATUS>` | tasks in each state, every state listed |
//! | `schedule_attempts_fired` | scheduling passes (`aurora_schedule_attempts_total`) |
//! | `timed_out_tasks` | tasks moved to LOST by a transient-state timeout |
//! | `scheduler_illegal_task_state_transitions` | status updates refused by the state machine |
//! | `scheduler_log_native_append_events` / `_nanos_total` | journal appends and their total time |
//! | `http_<code>_responses_events` | responses by HTTP status (behind the authentication gate) |
//!
//! Counters start at 0 in a new process, as Aurora's do; the figures are the ones `/metrics`
//! shows in Prometheus format, read back from the same recorder. Like `/metrics`, it is a read:
//! open unless reads need credentials.

use std::collections::BTreeMap;

use aurora_events::ScheduleStatus;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;
use strum::IntoEnumIterator;

/// Aurora's scheduler lifecycle states (`SchedulerLifecycle.State`), in its order.
const LIFECYCLE: [&str; 6] = [
    "IDLE",
    "PREPARING_STORAGE",
    "STORAGE_PREPARED",
    "LEADER_AWAITING_REGISTRATION",
    "ACTIVE",
    "DEAD",
];

/// Counters read from the Prometheus recorder: (Aurora's name, ours).
const COUNTERS: [(&str, &str); 4] = [
    ("schedule_attempts_fired", "aurora_schedule_attempts_total"),
    ("timed_out_tasks", "aurora_timed_out_tasks_total"),
    (
        "scheduler_illegal_task_state_transitions",
        "aurora_illegal_task_state_transitions_total",
    ),
    (
        "scheduler_log_native_append_events",
        "aurora_journal_append_seconds_count",
    ),
];

/// The recorder's counter of responses, by `code`.
pub const HTTP_RESPONSES: &str = "aurora_http_responses_total";

/// What `/vars` reports that the recorder does not hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    pub uptime_secs: u64,
    pub leading: bool,
    pub tasks: BTreeMap<ScheduleStatus, u64>,
}

/// One sample of the Prometheus text: metric name, label text (`code="200"`, or empty), value.
#[derive(Debug, Clone, PartialEq)]
struct Sample<'a> {
    name: &'a str,
    labels: &'a str,
    value: f64,
}

/// The samples of a Prometheus text exposition (comments and malformed lines skipped).
fn samples(text: &str) -> Vec<Sample<'_>> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.trim().rsplit_once(' ')?;
            let value: f64 = value.parse().ok()?;
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            Some(Sample {
                name,
                labels,
                value,
            })
        })
        .collect()
}

/// Every var, by name: `facts` and what `prometheus` (the recorder's rendering) holds.
pub fn vars(facts: &Facts, prometheus: &str) -> BTreeMap<String, Value> {
    let samples = samples(prometheus);
    let total = |name: &str| -> f64 {
        samples
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.value)
            .sum()
    };
    let mut vars: BTreeMap<String, Value> = BTreeMap::new();
    vars.insert("jvm_uptime_secs".into(), facts.uptime_secs.into());
    let current = if facts.leading {
        "ACTIVE"
    } else {
        "STORAGE_PREPARED"
    };
    for state in LIFECYCLE {
        vars.insert(
            format!("scheduler_lifecycle_{state}"),
            u8::from(state == current).into(),
        );
    }
    vars.insert(
        "framework_registered".into(),
        u8::from(facts.leading).into(),
    );
    for status in ScheduleStatus::iter() {
        let count = facts.tasks.get(&status).copied().unwrap_or(0);
        vars.insert(format!("task_store_{status}"), count.into());
    }
    for (aurora, ours) in COUNTERS {
        vars.insert(aurora.into(), whole(total(ours)).into());
    }
    vars.insert(
        "scheduler_log_native_append_nanos_total".into(),
        whole(total("aurora_journal_append_seconds_sum") * 1e9).into(),
    );
    for sample in samples.iter().filter(|s| s.name == HTTP_RESPONSES) {
        let code = sample
            .labels
            .split(',')
            .find_map(|label| label.strip_prefix("code=\""))
            .and_then(|rest| rest.strip_suffix('"'));
        if let Some(code) = code.filter(|c| c.bytes().all(|b| b.is_ascii_digit())) {
            vars.insert(
                format!("http_{code}_responses_events"),
                whole(sample.value).into(),
            );
        }
    }
    vars
}

/// A counter's value as a whole number (the recorder renders every value as a float).
fn whole(value: f64) -> u64 {
    if value.is_finite() && value > 0.0 {
        // Saturates above u64::MAX, which no counter reaches.
        value.round() as u64
    } else {
        0
    }
}

/// `/vars`: `name value` lines.
pub fn text(vars: &BTreeMap<String, Value>) -> String {
    vars.iter()
        .map(|(name, value)| format!("{name} {value}\n"))
        .collect()
}

/// Middleware counting every response by status, for `http_<code>_responses_events`.
pub async fn count_responses(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    metrics::counter!(HTTP_RESPONSES, "code" => response.status().as_str().to_owned()).increment(1);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROMETHEUS: &str = "\
# TYPE aurora_schedule_attempts_total counter
aurora_schedule_attempts_total 42
# TYPE aurora_journal_append_seconds summary
aurora_journal_append_seconds{quantile=\"0.5\"} 0.001
aurora_journal_append_seconds_sum 0.0125
aurora_journal_append_seconds_count 5
aurora_http_responses_total{code=\"200\"} 17
aurora_http_responses_total{code=\"404\"} 2
aurora_tasks{state=\"RUNNING\"} 3
";

    #[test]
    fn vars_use_aurora_names_and_values() {
        let facts = Facts {
            uptime_secs: 93,
            leading: true,
            tasks: BTreeMap::from([(ScheduleStatus::Running, 3), (ScheduleStatus::Pending, 1)]),
        };
        let text = text(&vars(&facts, PROMETHEUS));
        let expected_lines = [
            "framework_registered 1",
            "http_200_responses_events 17",
            "http_404_responses_events 2",
            "jvm_uptime_secs 93",
            "schedule_attempts_fired 42",
            "scheduler_illegal_task_state_transitions 0",
            "scheduler_lifecycle_ACTIVE 1",
            "scheduler_lifecycle_STORAGE_PREPARED 0",
            "scheduler_log_native_append_events 5",
            "scheduler_log_native_append_nanos_total 12500000",
            "task_store_KILLED 0",
            "task_store_PENDING 1",
            "task_store_RUNNING 3",
            "timed_out_tasks 0",
        ];
        for line in expected_lines {
            assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
        }
        let names: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split_once(' ').map(|(n, _)| n))
            .collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted, "sorted by name");
        assert_eq!(
            names
                .iter()
                .filter(|n| n.starts_with("task_store_"))
                .count(),
            ScheduleStatus::iter().count(),
            "every state, even empty ones"
        );
        assert_eq!(
            names.len(),
            1 + LIFECYCLE.len() + 1 + ScheduleStatus::iter().count() + COUNTERS.len() + 1 + 2
        );
    }

    #[test]
    fn a_follower_is_not_active_and_not_registered() {
        let facts = Facts {
            uptime_secs: 0,
            leading: false,
            tasks: BTreeMap::new(),
        };
        let vars = vars(&facts, "");
        assert_eq!(vars["scheduler_lifecycle_ACTIVE"], 0);
        assert_eq!(vars["scheduler_lifecycle_STORAGE_PREPARED"], 1);
        assert_eq!(vars["framework_registered"], 0);
        assert_eq!(vars["scheduler_log_native_append_nanos_total"], 0);
        assert!(!vars.keys().any(|k| k.starts_with("http_")));
    }
}
