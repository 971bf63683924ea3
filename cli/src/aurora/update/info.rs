//! `update info KEY [ID] [--write-json]`: one update's state, state changes and instance
//! actions, in Aurora's text and JSON (`UpdateInfo` in `update.py`).

use aurora_api::UpdateDetails;
use aurora_events::{InstanceId, InstanceUpdateAction, UpdateStatus};
use serde::Serialize;

use super::lookup::{active_update, details, job_updates, parse_update_id};
use crate::context::{Context, print_json};
use crate::exit::{CliError, CliResult};
use crate::keys::ClusterJobKey;
use crate::time::iso_seconds;

pub(crate) fn info(
    ctx: &Context,
    key: &str,
    id: Option<&str>,
    json: bool,
    at: Option<&str>,
) -> CliResult {
    let key: ClusterJobKey = key.parse()?;
    let client = ctx.client(&key.cluster)?;
    let id = match id {
        Some(id) => parse_update_id(id)?,
        None => {
            // Aurora shows the active update; a finished job's newest update is more useful
            // than an error, so that is the fallback.
            let chosen = match active_update(&client, &key.job, at)? {
                Some(active) => Some(active),
                None => job_updates(&client, &key.job, &[], at)?.into_iter().next(),
            };
            chosen
                .ok_or_else(|| {
                    CliError::invalid_parameter("There is no active update for this job.")
                })?
                .id
        }
    };
    let details = details(&client, &key, id, at)?.ok_or_else(|| {
        CliError::invalid_parameter(format!("There is no update for key: {}/{id}", key.job))
    })?;
    if json {
        return print_json(&info_json(&key, &details));
    }
    for line in info_lines(&key, &details) {
        println!("{line}");
    }
    Ok(())
}

/// Aurora's text: the update, its times and status, then its state changes (with messages),
/// instance actions and metadata, each section only when it has something to show.
pub(crate) fn info_lines(key: &ClusterJobKey, details: &UpdateDetails) -> Vec<String> {
    let summary = &details.summary;
    let mut lines = vec![
        format!("Job: {key}, UpdateID: {}", summary.id),
        format!(
            "Started {}, last activity: {}",
            iso_seconds(summary.started_at),
            iso_seconds(summary.last_modified)
        ),
        format!("Current status: {}", summary.status),
    ];
    if !details.update_events.is_empty() {
        lines.push("Update events:".into());
        for event in &details.update_events {
            lines.push(format!(
                "  Status: {} at {}",
                event.status,
                iso_seconds(event.at)
            ));
            if let Some(message) = event.message.as_deref().filter(|m| !m.is_empty()) {
                // Aurora indents "  message: ..." by four more: six spaces in all.
                lines.push(format!("      message: {message}"));
            }
        }
    }
    if !details.instance_events.is_empty() {
        lines.push("Instance events:".into());
        for event in &details.instance_events {
            lines.push(format!(
                "  Instance {} at {}: {}",
                event.instance,
                iso_seconds(event.at),
                event.action
            ));
        }
    }
    if !summary.metadata.is_empty() {
        lines.push("Metadata:".into());
        for (name, value) in &summary.metadata {
            lines.push(format!("  {name}: {value}"));
        }
    }
    lines
}

/// `update info --write-json`, keys in Aurora's order. Aurora gives `started` in raw
/// milliseconds but `last_modified` as an ISO time; so do we.
#[derive(Debug, Serialize)]
pub(crate) struct InfoJson {
    #[serde(rename = "updateId")]
    update_id: String,
    job: String,
    started: i64,
    last_modified: String,
    status: UpdateStatus,
    update_events: Vec<UpdateEventJson>,
    instance_update_events: Vec<InstanceEventJson>,
    /// One `{key: value}` object per entry, sorted; absent when the update has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Vec<std::collections::BTreeMap<String, String>>>,
}

#[derive(Debug, Serialize)]
struct UpdateEventJson {
    status: UpdateStatus,
    #[serde(rename = "timestampMs")]
    timestamp_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

#[derive(Debug, Serialize)]
struct InstanceEventJson {
    instance: InstanceId,
    timestamp: i64,
    action: InstanceUpdateAction,
}

pub(crate) fn info_json(key: &ClusterJobKey, details: &UpdateDetails) -> InfoJson {
    let summary = &details.summary;
    let metadata = (!summary.metadata.is_empty()).then(|| {
        summary
            .metadata
            .iter()
            .map(|(name, value)| [(name.clone(), value.clone())].into_iter().collect())
            .collect()
    });
    InfoJson {
        update_id: summary.id.to_string(),
        job: key.to_string(),
        started: summary.started_at.as_millis(),
        last_modified: iso_seconds(summary.last_modified),
        status: summary.status,
        update_events: details
            .update_events
            .iter()
            .map(|e| UpdateEventJson {
                status: e.status,
                timestamp_ms: e.at.as_millis(),
                message: e.message.clone().filter(|m| !m.is_empty()),
            })
            .collect(),
        instance_update_events: details
            .instance_events
            .iter()
            .map(|e| InstanceEventJson {
                instance: e.instance,
                timestamp: e.at.as_millis(),
                action: e.action,
            })
            .collect(),
        metadata,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use aurora_api::{InstanceEvent, UpdateEvent, UpdateSummary};
    use aurora_events::update::{
        InstanceConfigRanges, InstanceRange, UpdateInstructions, UpdateSettings, UpdateStrategy,
    };
    use aurora_events::{Timestamp, Uuid};

    use super::*;

    pub(crate) fn settings() -> UpdateSettings {
        UpdateSettings {
            strategy: UpdateStrategy::Queue { group_size: 1 },
            max_per_instance_failures: 0,
            max_failed_instances: 0,
            min_wait_in_instance_running_ms: 45_000,
            rollback_on_failure: true,
            update_only_these_instances: Vec::new(),
            block_if_no_pulses_after_ms: None,
            sla_aware: false,
        }
    }

    /// Aurora's own `test_supdate.py` fixture: an update paused and resumed, two instances
    /// updated, three metadata entries (ours keeps one value per key).
    pub(crate) fn details() -> UpdateDetails {
        use InstanceUpdateAction::*;
        let hash = aurora_events::samples::task_config().hash();
        let instance = |instance, at, action| InstanceEvent {
            instance,
            at: Timestamp(at),
            action,
            message: None,
        };
        UpdateDetails {
            summary: UpdateSummary {
                id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0002),
                job: "bozo/test/hello".into(),
                user: "me".into(),
                status: UpdateStatus::RollingForward,
                started_at: Timestamp(1000),
                last_modified: Timestamp(2000),
                last_pulse: None,
                metadata: BTreeMap::from([
                    ("issue".to_string(), "test".to_string()),
                    ("country".to_string(), "America".to_string()),
                ]),
            },
            instructions: UpdateInstructions {
                initial_state: vec![InstanceConfigRanges {
                    config: hash,
                    instances: vec![InstanceRange { first: 1, last: 2 }],
                }],
                desired_state: Some(InstanceConfigRanges {
                    config: hash,
                    instances: vec![InstanceRange { first: 1, last: 2 }],
                }),
                settings: settings(),
            },
            instance_actions: BTreeMap::new(),
            update_events: vec![
                UpdateEvent {
                    status: UpdateStatus::RollingForward,
                    at: Timestamp(3000),
                    user: Some("me".into()),
                    message: None,
                },
                UpdateEvent {
                    status: UpdateStatus::RollForwardPaused,
                    at: Timestamp(4000),
                    user: Some("me".into()),
                    message: Some("Investigating issues".into()),
                },
                UpdateEvent {
                    status: UpdateStatus::RollingForward,
                    at: Timestamp(5000),
                    user: Some("me".into()),
                    message: Some(String::new()),
                },
            ],
            instance_events: vec![
                instance(1, 6000, InstanceUpdating),
                instance(2, 7000, InstanceUpdating),
                instance(1, 8000, InstanceUpdated),
                instance(2, 9000, InstanceUpdated),
            ],
        }
    }

    fn key() -> ClusterJobKey {
        "west/bozo/test/hello".parse().unwrap()
    }

    #[test]
    fn text_matches_aurora_line_for_line() {
        assert_eq!(
            info_lines(&key(), &details()).join("\n"),
            "\
Job: west/bozo/test/hello, UpdateID: 01900000-0000-7000-8000-000000000002
Started 1970-01-01T00:00:01, last activity: 1970-01-01T00:00:02
Current status: ROLLING_FORWARD
Update events:
  Status: ROLLING_FORWARD at 1970-01-01T00:00:03
  Status: ROLL_FORWARD_PAUSED at 1970-01-01T00:00:04
      message: Investigating issues
  Status: ROLLING_FORWARD at 1970-01-01T00:00:05
Instance events:
  Instance 1 at 1970-01-01T00:00:06: INSTANCE_UPDATING
  Instance 2 at 1970-01-01T00:00:07: INSTANCE_UPDATING
  Instance 1 at 1970-01-01T00:00:08: INSTANCE_UPDATED
  Instance 2 at 1970-01-01T00:00:09: INSTANCE_UPDATED
Metadata:
  country: America
  issue: test"
        );
    }

    #[test]
    fn text_leaves_out_empty_sections() {
        let mut bare = details();
        bare.update_events.clear();
        bare.instance_events.clear();
        bare.summary.metadata.clear();
        assert_eq!(
            info_lines(&key(), &bare),
            [
                "Job: west/bozo/test/hello, UpdateID: 01900000-0000-7000-8000-000000000002",
                "Started 1970-01-01T00:00:01, last activity: 1970-01-01T00:00:02",
                "Current status: ROLLING_FORWARD",
            ]
        );
    }

    #[test]
    fn json_matches_aurora_keys_order_and_time_formats() {
        let text = serde_json::to_string_pretty(&info_json(&key(), &details())).unwrap();
        assert_eq!(
            text,
            r#"{
  "updateId": "01900000-0000-7000-8000-000000000002",
  "job": "west/bozo/test/hello",
  "started": 1000,
  "last_modified": "1970-01-01T00:00:02",
  "status": "ROLLING_FORWARD",
  "update_events": [
    {
      "status": "ROLLING_FORWARD",
      "timestampMs": 3000
    },
    {
      "status": "ROLL_FORWARD_PAUSED",
      "timestampMs": 4000,
      "message": "Investigating issues"
    },
    {
      "status": "ROLLING_FORWARD",
      "timestampMs": 5000
    }
  ],
  "instance_update_events": [
    {
      "instance": 1,
      "timestamp": 6000,
      "action": "INSTANCE_UPDATING"
    },
    {
      "instance": 2,
      "timestamp": 7000,
      "action": "INSTANCE_UPDATING"
    },
    {
      "instance": 1,
      "timestamp": 8000,
      "action": "INSTANCE_UPDATED"
    },
    {
      "instance": 2,
      "timestamp": 9000,
      "action": "INSTANCE_UPDATED"
    }
  ],
  "metadata": [
    {
      "country": "America"
    },
    {
      "issue": "test"
    }
  ]
}"#
        );
        let mut bare = details();
        bare.summary.metadata.clear();
        bare.update_events.clear();
        bare.instance_events.clear();
        let text = serde_json::to_string(&info_json(&key(), &bare)).unwrap();
        assert_eq!(
            text,
            r#"{"updateId":"01900000-0000-7000-8000-000000000002","job":"west/bozo/test/hello","started":1000,"last_modified":"1970-01-01T00:00:02","status":"ROLLING_FORWARD","update_events":[],"instance_update_events":[]}"#
        );
    }
}
