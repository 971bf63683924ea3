//! Updates: every update of the cluster, and one update's page: its status, settings in
//! words, progress per instance, what it changes in the config, and its events.

use crate::path::Path;
use crate::query::Query;
use askama::Template;
use aurora_events::update::UpdateStrategy;
use aurora_events::{ConfigHash, Seq, UpdateKey, UpdateStatus, Uuid};
use aurora_projections::{Queries, UpdateSummary, UpdateView};
use axum::extract::State;
use axum::response::Response;

use super::jobs::ranges;
use super::{Layout, PageError, read, render};
use crate::WebState;
use crate::batches::Direction;
use crate::config_diff::{self, Change, DiffLine};
use crate::format;
use crate::moment::AtQuery;
use crate::progress::{self, Progress};

/// Finished updates listed on `/updates`; the rest are counted.
const FINISHED_SHOWN: usize = 500;
/// Instance events listed on an update's page (newest first); a 4,000-instance update has
/// three or more per instance, and the cells already show where each instance stands.
const INSTANCE_EVENTS_SHOWN: usize = 500;

/// The CSS class colouring an update status (the task status colours of `aurora.css`).
pub fn update_status_class(status: UpdateStatus) -> &'static str {
    match status {
        UpdateStatus::RollingForward | UpdateStatus::RollingBack => "starting",
        UpdateStatus::RollForwardPaused
        | UpdateStatus::RollBackPaused
        | UpdateStatus::RollForwardAwaitingPulse
        | UpdateStatus::RollBackAwaitingPulse
        | UpdateStatus::Aborted => "waiting",
        UpdateStatus::RolledForward => "finished",
        UpdateStatus::RolledBack => "stopping",
        UpdateStatus::Error | UpdateStatus::Failed => "failed",
    }
}

pub struct UpdateRow {
    pub role: String,
    pub env: String,
    pub name: String,
    pub id: String,
    pub user: String,
    pub status: String,
    pub class: &'static str,
    /// When it entered its status.
    pub since: String,
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
            class: update_status_class(u.status),
            since: format::time(u.status_since),
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
    finished_hidden: usize,
}

pub async fn list(
    State(state): State<WebState>,
    Query(at): Query<AtQuery>,
) -> Result<Response, PageError> {
    let (updates, moment) = read(&state, "/updates", &at, |v| v.updates()).await?;
    let (active, finished): (Vec<&UpdateSummary>, Vec<&UpdateSummary>) =
        updates.iter().partition(|u| u.status.is_active());
    render(&UpdatesPage {
        layout: moment.layout(&state, "Updates".into(), "updates"),
        active: active.into_iter().map(UpdateRow::new).collect(),
        finished_hidden: finished.len().saturating_sub(FINISHED_SHOWN),
        finished: finished
            .into_iter()
            .take(FINISHED_SHOWN)
            .map(UpdateRow::new)
            .collect(),
    })
}

/// `1 instance`, `3 instances`.
fn instances(n: u32) -> String {
    if n == 1 {
        "1 instance".into()
    } else {
        format!("{n} instances")
    }
}

/// How the strategy paces the update, in words.
fn strategy_words(strategy: &UpdateStrategy) -> String {
    let pausing = |autopause: bool| {
        if autopause {
            ", pausing after each batch until resumed"
        } else {
            ""
        }
    };
    match strategy {
        UpdateStrategy::Queue { group_size } => format!(
            "queue: up to {} at a time, the next starting as soon as one is done",
            instances(*group_size)
        ),
        UpdateStrategy::Batch {
            group_size,
            autopause_after_batch,
        } => format!(
            "batches of {}, each done before the next starts{}",
            instances(*group_size),
            pausing(*autopause_after_batch)
        ),
        UpdateStrategy::VariableBatch {
            group_sizes,
            autopause_after_batch,
        } => {
            let sizes: Vec<String> = group_sizes.iter().map(u32::to_string).collect();
            let repeated = group_sizes
                .last()
                .map(|last| format!(" (then {} at a time)", instances(*last)))
                .unwrap_or_default();
            format!(
                "batches of {}{repeated}, each done before the next starts{}",
                sizes.join(", then "),
                pausing(*autopause_after_batch)
            )
        }
    }
}

/// The update's settings, each as a label and a sentence.
fn settings(view: &UpdateView) -> Vec<(&'static str, String)> {
    let s = &view.instructions.settings;
    let per_instance = match s.max_per_instance_failures {
        0 => "none: an instance that fails once is failed".to_string(),
        n => format!(
            "{n}: an instance is failed at its failure number {}",
            u64::from(n) + 1
        ),
    };
    let failed_instances = match s.max_failed_instances {
        0 => "none: the first failed instance fails the update".to_string(),
        n => format!(
            "{n}: the update fails when more than {} have failed",
            instances(n)
        ),
    };
    let watch = match s.min_wait_in_instance_running_ms {
        0 => "none: an instance counts as updated once it is RUNNING".to_string(),
        ms => format!(
            "{}: an instance counts as updated once it has been RUNNING this long",
            format::duration_ms(i64::try_from(ms).unwrap_or(i64::MAX))
        ),
    };
    let rollback = if s.rollback_on_failure {
        "yes: a failed update rolls the instances back to their old config"
    } else {
        "no: a failed update stops where it is (FAILED)"
    };
    let scope = if s.update_only_these_instances.is_empty() {
        "every instance the update changes".to_string()
    } else {
        format!("only instances {}", ranges(&s.update_only_these_instances))
    };
    let mut lines = vec![
        ("Strategy", strategy_words(&s.strategy)),
        ("Failures tolerated per instance", per_instance),
        ("Failed instances tolerated", failed_instances),
        ("Watch time", watch),
        ("Rollback on failure", rollback.to_string()),
        ("Scope", scope),
    ];
    if let Some(ms) = s.block_if_no_pulses_after_ms {
        let last = view
            .summary
            .last_pulse
            .map(|at| format!("last pulse {}", format::time(at)))
            .unwrap_or_else(|| "no pulse yet".into());
        lines.push((
            "Pulses",
            format!(
                "required every {} (a coordinated update waits without them); {last}",
                format::duration_ms(i64::try_from(ms).unwrap_or(i64::MAX))
            ),
        ));
    }
    if s.sla_aware {
        lines.push((
            "SLA aware",
            "yes: kills wait until the job's SLA policy allows them".into(),
        ));
    }
    lines
}

/// One config change as the page shows it: a sentence and, for a replacement or a creation,
/// the config's lines.
pub struct ChangeRow {
    pub sentence: String,
    pub lines: Vec<DiffLine>,
}

fn change_rows(view: &UpdateView) -> Vec<ChangeRow> {
    let short = |hash: &ConfigHash| hash.short();
    config_diff::changes(&view.instructions, &view.configs)
        .into_iter()
        .map(|change| {
            let on = ranges(&change.instances);
            match change.change {
                Change::Replaced { from, to, lines } => ChangeRow {
                    sentence: format!(
                        "updates instances {on} from config {} to {}",
                        short(&from),
                        short(&to)
                    ),
                    lines,
                },
                Change::Restarted { config } => ChangeRow {
                    sentence: format!(
                        "instances {on}: restart: same config {}",
                        short(&config)
                    ),
                    lines: Vec::new(),
                },
                Change::Killed { config } => ChangeRow {
                    sentence: format!(
                        "kills instances {on} (config {}): no desired config for them",
                        short(&config)
                    ),
                    lines: Vec::new(),
                },
                Change::Created { config, lines } => ChangeRow {
                    sentence: match lines {
                        Some(_) => format!("creates instances {on} with config {}", short(&config)),
                        None => format!(
                            "creates instances {on} with config {}, which the journal does not have",
                            short(&config)
                        ),
                    },
                    lines: lines.unwrap_or_default(),
                },
                Change::Unknown { from, to, missing } => ChangeRow {
                    sentence: format!(
                        "updates instances {on} from config {} to {}; the journal has no \
                         config {}, so the difference cannot be shown",
                        short(&from),
                        short(&to),
                        short(&missing)
                    ),
                    lines: Vec::new(),
                },
            }
        })
        .collect()
}

pub struct StateRow {
    pub seq: Seq,
    pub time: String,
    pub status: String,
    pub class: &'static str,
    pub actor: String,
    pub message: String,
}

pub struct InstanceRow {
    pub seq: Seq,
    pub time: String,
    pub instance: u32,
    pub action: String,
    pub actor: String,
    pub message: String,
}

#[derive(Template)]
#[template(path = "update.html")]
struct UpdatePage {
    layout: Layout,
    row: UpdateRow,
    /// The latest state change's message, if it had one.
    status_message: String,
    desired: String,
    metadata: Vec<(String, String)>,
    settings: Vec<(&'static str, String)>,
    progress: Progress,
    rolling_back: bool,
    changes: Vec<ChangeRow>,
    /// Newest first, as on the job's history page.
    states: Vec<StateRow>,
    instance_events: Vec<InstanceRow>,
    instance_events_hidden: usize,
}

/// The update, or the seq it was pruned at (if it was).
type Found = Result<UpdateView, Option<Seq>>;

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
    let (found, moment) = read(&state, &path, &at, move |v| -> Found {
        v.update(&wanted).ok_or_else(|| v.pruned_update(&wanted))
    })
    .await?;
    let view = found.map_err(|pruned| match pruned {
        Some(seq) => PageError::not_found(format!(
            "update {} of {} was pruned from the history at seq {seq}{} (finished updates \
             are kept for a while, then pruned); the journal still shows it as it was before",
            key.id,
            key.job,
            moment.when()
        ))
        .with_link(
            format!("{path}?at={}", seq.saturating_sub(1)),
            format!("the update as of seq {}", seq.saturating_sub(1)),
        )
        .during(&moment),
        None => PageError::not_found(format!(
            "no update {} of {}{} (it may not have started yet, or never existed)",
            key.id,
            key.job,
            moment.when()
        ))
        .during(&moment),
    })?;
    let states: Vec<StateRow> = view
        .timeline
        .iter()
        .rev()
        .map(|e| StateRow {
            seq: e.seq,
            time: format::time(e.at),
            status: e.status.to_string(),
            class: update_status_class(e.status),
            actor: e.actor.to_string(),
            message: e.message.clone().unwrap_or_default(),
        })
        .collect();
    let instance_events = view
        .instance_events
        .iter()
        .rev()
        .take(INSTANCE_EVENTS_SHOWN)
        .map(|e| InstanceRow {
            seq: e.seq,
            time: format::time(e.at),
            instance: e.instance,
            action: e.action.to_string(),
            actor: e.actor.to_string(),
            message: e.message.clone().unwrap_or_default(),
        })
        .collect();
    let desired = match &view.instructions.desired_state {
        // `aurora job restart`: each instance replaced by a task of the config it runs.
        Some(d) if view.instructions.is_restart() => format!(
            "a rolling restart of instances {} (config {}, unchanged)",
            ranges(&d.instances),
            d.config.short()
        ),
        Some(d) => format!(
            "instances {} on config {}",
            ranges(&d.instances),
            d.config.short()
        ),
        None => "none: the update only kills instances".into(),
    };
    let progress = progress::progress(&view);
    render(&UpdatePage {
        layout: moment.layout(&state, format!("update {}", key.id), "updates"),
        row: UpdateRow::new(&view.summary),
        status_message: view
            .timeline
            .last()
            .and_then(|e| e.message.clone())
            .unwrap_or_default(),
        desired,
        metadata: view
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        settings: settings(&view),
        rolling_back: progress.direction == Direction::Back,
        progress,
        changes: change_rows(&view),
        states,
        instance_events_hidden: view
            .instance_events
            .len()
            .saturating_sub(INSTANCE_EVENTS_SHOWN),
        instance_events,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies_read_as_sentences() {
        assert_eq!(
            strategy_words(&UpdateStrategy::Queue { group_size: 1 }),
            "queue: up to 1 instance at a time, the next starting as soon as one is done"
        );
        assert_eq!(
            strategy_words(&UpdateStrategy::Batch {
                group_size: 3,
                autopause_after_batch: true
            }),
            "batches of 3 instances, each done before the next starts, pausing after each \
             batch until resumed"
        );
        assert_eq!(
            strategy_words(&UpdateStrategy::VariableBatch {
                group_sizes: vec![1, 2, 3],
                autopause_after_batch: false
            }),
            "batches of 1, then 2, then 3 (then 3 instances at a time), each done before the \
             next starts"
        );
    }
}
