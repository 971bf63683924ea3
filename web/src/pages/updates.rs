//! Updates: every update of the cluster, and one update's progress per instance.

use askama::Template;
use aurora_events::update::UpdateStrategy;
use aurora_events::{InstanceUpdateAction, Seq, UpdateKey, Uuid};
use aurora_projections::{Queries, UpdateSummary, UpdateView};
use axum::extract::{Path, Query, State};
use axum::response::Response;

use super::jobs::ranges;
use super::{Layout, PageError, read, render};
use crate::WebState;
use crate::format;
use crate::moment::AtQuery;

pub struct UpdateRow {
    pub role: String,
    pub env: String,
    pub name: String,
    pub id: String,
    pub user: String,
    pub status: String,
    pub active: bool,
    pub started: String,
    pub modified: String,
}

impl UpdateRow {
    pub fn new(u: &UpdateSummary) -> Self {
        Self {
            role: u.key.job.role.to_string(),
            env: u.key.job.environment.to_string(),
            name: u.key.job.name.to_string(),
            id: u.key.id.to_string(),
            user: u.user.clone(),
            status: u.status.to_string(),
            active: u.status.is_active(),
            started: format::time(u.started_at),
            modified: format::time(u.last_modified),
        }
    }
}

#[derive(Template)]
#[template(path = "updates.html")]
struct UpdatesPage {
    layout: Layout,
    active: Vec<UpdateRow>,
    finished: Vec<UpdateRow>,
}

pub async fn list(
    State(state): State<WebState>,
    Query(at): Query<AtQuery>,
) -> Result<Response, PageError> {
    let (updates, moment) = read(&state, "/updates", &at, |v| v.updates()).await?;
    let (active, finished): (Vec<UpdateRow>, Vec<UpdateRow>) =
        updates.iter().map(UpdateRow::new).partition(|u| u.active);
    render(&UpdatesPage {
        layout: moment.layout(&state, "Updates".into(), "updates"),
        active,
        finished,
    })
}

/// The CSS class of an instance's latest update action.
fn action_class(action: InstanceUpdateAction) -> &'static str {
    match action {
        InstanceUpdateAction::InstanceUpdated => "finished",
        InstanceUpdateAction::InstanceRolledBack => "stopping",
        InstanceUpdateAction::InstanceUpdating | InstanceUpdateAction::InstanceRollingBack => {
            "starting"
        }
        InstanceUpdateAction::InstanceUpdateFailed
        | InstanceUpdateAction::InstanceRollbackFailed => "failed",
    }
}

pub struct EventRow {
    pub seq: Seq,
    pub time: String,
    pub actor: String,
    pub what: String,
    pub message: String,
}

#[derive(Template)]
#[template(path = "update.html")]
struct UpdatePage {
    layout: Layout,
    row: UpdateRow,
    settings: Vec<(&'static str, String)>,
    instances: Vec<(u32, String, &'static str)>,
    events: Vec<EventRow>,
}

fn settings(view: &UpdateView) -> Vec<(&'static str, String)> {
    let s = &view.instructions.settings;
    let strategy = match &s.strategy {
        UpdateStrategy::Queue { group_size } => format!("queue, {group_size} at a time"),
        UpdateStrategy::Batch {
            group_size,
            autopause_after_batch,
        } => format!(
            "batches of {group_size}{}",
            if *autopause_after_batch {
                ", pausing after each"
            } else {
                ""
            }
        ),
        UpdateStrategy::VariableBatch {
            group_sizes,
            autopause_after_batch,
        } => format!(
            "batches of {}{}",
            group_sizes
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", then "),
            if *autopause_after_batch {
                ", pausing after each"
            } else {
                ""
            }
        ),
    };
    let desired = match &view.instructions.desired_state {
        Some(d) => format!(
            "instances {} on config {}",
            ranges(&d.instances),
            d.config.to_string().chars().take(12).collect::<String>()
        ),
        None => "none (the job's instances are removed)".into(),
    };
    let mut lines = vec![
        ("Desired", desired),
        ("Strategy", strategy),
        (
            "Max failures per instance",
            s.max_per_instance_failures.to_string(),
        ),
        ("Max failed instances", s.max_failed_instances.to_string()),
        (
            "Watch (min time RUNNING)",
            format::duration_ms(s.min_wait_in_instance_running_ms as i64),
        ),
        (
            "Rollback on failure",
            if s.rollback_on_failure { "yes" } else { "no" }.into(),
        ),
    ];
    if !s.update_only_these_instances.is_empty() {
        lines.push(("Only instances", ranges(&s.update_only_these_instances)));
    }
    if let Some(ms) = s.block_if_no_pulses_after_ms {
        lines.push(("Pulse interval", format::duration_ms(ms as i64)));
    }
    lines
}

pub async fn update(
    State(state): State<WebState>,
    Path((role, env, name, id)): Path<(String, String, String, String)>,
    Query(at): Query<AtQuery>,
) -> Result<Response, PageError> {
    let job = aurora_events::JobKey::new(&role, &env, &name)
        .map_err(|e| PageError::not_found(format!("no job {role}/{env}/{name}: {e}")))?;
    let uuid: Uuid = id
        .parse()
        .map_err(|e| PageError::not_found(format!("{id:?} is not an update id: {e}")))?;
    let key = UpdateKey { job, id: uuid };
    let path = format!("/updates/{}/{}", key.job, key.id);
    let wanted = key.clone();
    let (view, moment) = read(&state, &path, &at, move |v| v.update(&wanted)).await?;
    let view = view.ok_or_else(|| {
        PageError::not_found(format!("no update {key}{}", moment.when())).during(&moment)
    })?;
    let mut events: Vec<EventRow> = view
        .timeline
        .iter()
        .map(|e| EventRow {
            seq: e.seq,
            time: format::time(e.at),
            actor: e.actor.to_string(),
            what: e.status.to_string(),
            message: e.message.clone().unwrap_or_default(),
        })
        .chain(view.instance_events.iter().map(|e| EventRow {
            seq: e.seq,
            time: format::time(e.at),
            actor: e.actor.to_string(),
            what: format!("instance {}: {}", e.instance, e.action),
            message: e.message.clone().unwrap_or_default(),
        }))
        .collect();
    events.sort_by_key(|e| e.seq);
    render(&UpdatePage {
        layout: moment.layout(&state, format!("update {}", key.id), "updates"),
        row: UpdateRow::new(&view.summary),
        settings: settings(&view),
        instances: view
            .instances
            .iter()
            .map(|(i, a)| (*i, a.to_string(), action_class(*a)))
            .collect(),
        events,
    })
}
