//! `update list CLUSTER[/ROLE[/ENV[/NAME]]] [--status S ...] [--user U] [--write-json]`, with
//! Aurora's fixed-width table, its JSON and its status groups (`ListUpdates` in `update.py`).

use std::collections::BTreeSet;

use aurora_api::UpdateSummary;
use aurora_events::UpdateStatus;
use serde::Serialize;

use crate::context::{Context, print_json};
use crate::exit::CliResult;
use crate::keys::KeyPattern;
use crate::time::iso_seconds;

/// Every update state, in Aurora's thrift order.
pub(crate) const ALL_STATUSES: [UpdateStatus; 11] = [
    UpdateStatus::RollingForward,
    UpdateStatus::RollingBack,
    UpdateStatus::RollForwardPaused,
    UpdateStatus::RollBackPaused,
    UpdateStatus::RolledForward,
    UpdateStatus::RolledBack,
    UpdateStatus::Aborted,
    UpdateStatus::Error,
    UpdateStatus::Failed,
    UpdateStatus::RollForwardAwaitingPulse,
    UpdateStatus::RollBackAwaitingPulse,
];

/// Aurora's `ACTIVE_JOB_UPDATE_STATES`: the update still owns its job.
pub(crate) const ACTIVE_STATUSES: [UpdateStatus; 6] = [
    UpdateStatus::RollingForward,
    UpdateStatus::RollingBack,
    UpdateStatus::RollForwardPaused,
    UpdateStatus::RollBackPaused,
    UpdateStatus::RollForwardAwaitingPulse,
    UpdateStatus::RollBackAwaitingPulse,
];

/// One `--status` value: a state's name or one of Aurora's groups, expanded to states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StatusFilter(pub(crate) BTreeSet<UpdateStatus>);

impl StatusFilter {
    /// Aurora's `STATUS_GROUPS`: `active`, `all`, `blocked`, `failed`, `inactive`, `paused`,
    /// `succeeded`, or any state name (`ROLLED_BACK`; case does not matter).
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        use UpdateStatus::*;
        let group: Vec<UpdateStatus> =
            match text.to_ascii_lowercase().as_str() {
                "active" => ACTIVE_STATUSES.to_vec(),
                "all" => ALL_STATUSES.to_vec(),
                "blocked" => vec![RollForwardAwaitingPulse, RollBackAwaitingPulse],
                "failed" => vec![Error, Failed, RolledBack],
                "inactive" => ALL_STATUSES
                    .into_iter()
                    .filter(|s| !ACTIVE_STATUSES.contains(s))
                    .collect(),
                "paused" => vec![RollForwardPaused, RollBackPaused],
                "succeeded" => vec![RolledForward],
                _ => {
                    let status = text.to_ascii_uppercase().parse::<UpdateStatus>().map_err(|_| {
                    format!(
                        "{text:?} is neither an update state nor one of active, all, blocked, \
                         failed, inactive, paused, succeeded"
                    )
                })?;
                    vec![status]
                }
            };
        Ok(Self(group.into_iter().collect()))
    }
}

/// The union of the filters; empty means no filter.
pub(crate) fn expand(filters: &[StatusFilter]) -> BTreeSet<UpdateStatus> {
    filters.iter().flat_map(|f| f.0.iter().copied()).collect()
}

pub(crate) fn list(
    ctx: &Context,
    pattern: &str,
    filters: &[StatusFilter],
    user: Option<&str>,
    json: bool,
) -> CliResult {
    let pattern: KeyPattern = pattern.parse()?;
    let client = ctx.client(&pattern.cluster)?;
    let statuses = expand(filters);
    let mut query: Vec<String> = Vec::new();
    let literal = [
        ("role", pattern.literal_role()),
        ("env", pattern.literal_environment()),
        ("job", pattern.literal_name()),
    ];
    for (name, value) in literal {
        if let Some(value) = value {
            query.push(format!("{name}={value}"));
        }
    }
    if !statuses.is_empty() {
        let names: Vec<String> = statuses.iter().map(ToString::to_string).collect();
        query.push(format!("statuses={}", names.join(",")));
    }
    if let Some(user) = user {
        query.push(format!("user={user}"));
    }
    let updates: Vec<UpdateSummary> =
        client.get(&format!("/api/v1/updates?{}", query.join("&")))?;
    // Wildcards are matched here; the scheduler filtered on the literal parts only.
    let updates: Vec<UpdateSummary> = updates
        .into_iter()
        .filter(|u| u.job.parse().is_ok_and(|job| pattern.matches(&job)))
        .collect();
    if json {
        return print_json(&list_json(&pattern.cluster, &updates));
    }
    for line in list_lines(&pattern.cluster, &updates) {
        println!("{line}");
    }
    Ok(())
}

/// One row of `update list --write-json`, keys in Aurora's order.
#[derive(Debug, Serialize)]
pub(crate) struct ListedUpdate {
    job: String,
    id: String,
    user: String,
    started: String,
    last_modified: String,
    status: UpdateStatus,
}

pub(crate) fn list_json(cluster: &str, updates: &[UpdateSummary]) -> Vec<ListedUpdate> {
    updates
        .iter()
        .map(|u| ListedUpdate {
            job: format!("{cluster}/{}", u.job),
            id: u.id.to_string(),
            user: u.user.clone(),
            started: iso_seconds(u.started_at),
            last_modified: iso_seconds(u.last_modified),
            status: u.status,
        })
        .collect()
}

/// Aurora's columns and widths; values are padded, never cut, as Python's `format` does.
const COLUMNS: [(&str, usize); 6] = [
    ("JOB", 47),
    ("UPDATE ID", 36),
    ("STATUS", 15),
    ("CREATED BY", 11),
    ("STARTED", 19),
    ("LAST MODIFIED", 19),
];

fn row(values: [&str; 6]) -> String {
    COLUMNS
        .iter()
        .zip(values)
        .map(|((_, width), value)| format!("{value:<width$}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The table: a header, then one line per update; nothing at all when there are none.
pub(crate) fn list_lines(cluster: &str, updates: &[UpdateSummary]) -> Vec<String> {
    if updates.is_empty() {
        return Vec::new();
    }
    let mut lines = vec![row(COLUMNS.map(|(title, _)| title))];
    for u in updates {
        let job = format!("{cluster}/{}", u.job);
        let id = u.id.to_string();
        let status = u.status.to_string();
        let started = iso_seconds(u.started_at);
        let modified = iso_seconds(u.last_modified);
        lines.push(row([&job, &id, &status, &u.user, &started, &modified]));
    }
    lines
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use aurora_events::{Timestamp, Uuid};

    use super::*;

    fn summary(status: UpdateStatus) -> UpdateSummary {
        UpdateSummary {
            id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001),
            job: "bozo/test/hello".into(),
            user: "me".into(),
            status,
            started_at: Timestamp(1_400_604_000),
            last_modified: Timestamp(14_026_456_000),
            last_pulse: None,
            metadata: BTreeMap::new(),
        }
    }

    #[test]
    fn the_table_has_aurora_widths_and_iso_times() {
        let lines = list_lines("west", &[summary(UpdateStatus::RolledForward)]);
        assert_eq!(
            lines,
            [
                "JOB                                             UPDATE ID                            STATUS          CREATED BY  STARTED             LAST MODIFIED      ",
                "west/bozo/test/hello                            01900000-0000-7000-8000-000000000001 ROLLED_FORWARD  me          1970-01-17T05:03:24 1970-06-12T08:14:16",
            ]
        );
        assert!(
            list_lines("west", &[]).is_empty(),
            "no header without updates"
        );
    }

    #[test]
    fn json_rows_have_aurora_keys_in_order() {
        let rows = list_json("west", &[summary(UpdateStatus::RollingBack)]);
        let text = serde_json::to_string_pretty(&rows).unwrap();
        assert_eq!(
            text,
            r#"[
  {
    "job": "west/bozo/test/hello",
    "id": "01900000-0000-7000-8000-000000000001",
    "user": "me",
    "started": "1970-01-17T05:03:24",
    "last_modified": "1970-06-12T08:14:16",
    "status": "ROLLING_BACK"
  }
]"#
        );
    }

    #[test]
    fn status_groups_expand_like_aurora() {
        use UpdateStatus::*;
        let set = |names: &[&str]| {
            let filters: Vec<StatusFilter> = names
                .iter()
                .map(|n| StatusFilter::parse(n).unwrap())
                .collect();
            expand(&filters).into_iter().collect::<Vec<_>>()
        };
        assert_eq!(
            set(&["active"]),
            [
                RollingForward,
                RollingBack,
                RollForwardPaused,
                RollBackPaused,
                RollForwardAwaitingPulse,
                RollBackAwaitingPulse
            ]
        );
        assert_eq!(
            set(&["inactive"]),
            [RolledForward, RolledBack, Aborted, Error, Failed]
        );
        assert_eq!(set(&["failed"]), [RolledBack, Error, Failed]);
        assert_eq!(
            set(&["blocked"]),
            [RollForwardAwaitingPulse, RollBackAwaitingPulse]
        );
        assert_eq!(set(&["paused"]), [RollForwardPaused, RollBackPaused]);
        assert_eq!(set(&["succeeded"]), [RolledForward]);
        assert_eq!(set(&["all"]).len(), 11);
        assert_eq!(
            set(&["paused", "ROLLED_BACK"]),
            [RollForwardPaused, RollBackPaused, RolledBack]
        );
        assert_eq!(set(&["aborted"]), [Aborted], "state names in any case");
        assert!(set(&[]).is_empty());
        let unknown = StatusFilter::parse("sideways").unwrap_err();
        assert!(
            unknown.contains("sideways") && unknown.contains("succeeded"),
            "{unknown}"
        );
    }

    #[test]
    fn active_and_all_agree_with_the_state_machine() {
        for status in ALL_STATUSES {
            assert_eq!(
                ACTIVE_STATUSES.contains(&status),
                status.is_active(),
                "{status}"
            );
        }
        let distinct: BTreeSet<UpdateStatus> = ALL_STATUSES.into_iter().collect();
        assert_eq!(distinct.len(), ALL_STATUSES.len());
    }
}
