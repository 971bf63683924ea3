//! A job's page (instances, configs, active update, pending reasons), its history, and a
//! task's page with its lifecycle timeline.

use crate::path::Path;
use crate::query::Query;
use askama::Template;
use aurora_events::config::ConstraintKind;
use aurora_events::update::InstanceRange;
use aurora_events::{JobKey, Seq, TaskConfig, TaskId};
use aurora_projections::{JobView, Queries, TaskSummary, TaskView, Views};
use axum::extract::State;
use axum::response::Response;

use super::updates::UpdateRow;
use super::{Layout, PageError, read, render};
use crate::WebState;
use crate::format;
use crate::moment::AtQuery;
use crate::progress;
use crate::timeline::{self, Timeline, status_class};

/// Terminal tasks listed on a job page; the rest are counted.
const FINISHED_SHOWN: usize = 200;
/// Entries on a job's history page.
const HISTORY_SHOWN: usize = 1000;
/// Updates listed on a job page, most recent first (Aurora keeps ten finished ones per job).
const UPDATES_SHOWN: usize = 20;

fn job_key(role: &str, env: &str, name: &str) -> Result<JobKey, PageError> {
    JobKey::new(role, env, name)
        .map_err(|e| PageError::not_found(format!("no job {role}/{env}/{name}: {e}")))
}

/// `0-4, 7`: instance ranges as Aurora prints them.
pub fn ranges(ranges: &[InstanceRange]) -> String {
    ranges
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A task as a row of the job page, borrowing from the job view: a big job has ten thousand
/// of these per request.
pub struct TaskRow<'a> {
    pub id: &'a str,
    pub instance: u32,
    pub status: &'static str,
    pub class: &'static str,
    pub host: &'a str,
    pub since: String,
    /// Why it is pending, else its latest message.
    pub message: &'a str,
    pub failures: u32,
}

impl<'a> TaskRow<'a> {
    fn new(task: &'a TaskSummary) -> Self {
        Self {
            id: task.id.as_str(),
            instance: task.instance,
            status: task.status.into(),
            class: status_class(task.status),
            host: task.host.as_deref().unwrap_or_default(),
            since: format::time(task.last_change),
            message: task
                .pending_reason
                .as_deref()
                .or(task.last_message.as_deref())
                .unwrap_or_default(),
            failures: task.failure_count,
        }
    }
}

/// A config as the job page lists it.
pub struct ConfigLines {
    pub resources: String,
    pub tier: String,
    pub priority: i32,
    pub service: bool,
    pub max_failures: i32,
    pub owner: String,
    pub contact: String,
    pub constraints: Vec<String>,
    pub processes: Vec<(String, String)>,
    pub metadata: Vec<(String, String)>,
    pub health_check: bool,
}

impl ConfigLines {
    fn new(config: &TaskConfig) -> Self {
        let r = &config.resources;
        let mut resources = format!(
            "{} cpus, {} ram, {} disk",
            format::cpus(r.cpus),
            format::megabytes(r.ram_mb),
            format::megabytes(r.disk_mb)
        );
        if r.gpus > 0 {
            resources.push_str(&format!(", {} gpus", r.gpus));
        }
        if !r.ports.is_empty() {
            let ports: Vec<&str> = r.ports.iter().map(String::as_str).collect();
            resources.push_str(&format!(", ports {}", ports.join(", ")));
        }
        Self {
            resources,
            tier: format!("{:?}", config.tier).to_lowercase(),
            priority: config.priority,
            service: config.is_service,
            max_failures: config.max_task_failures,
            owner: config.owner.clone().unwrap_or_default(),
            contact: config.contact_email.clone().unwrap_or_default(),
            constraints: config
                .constraints
                .iter()
                .map(|c| match &c.kind {
                    ConstraintKind::Value { negated, values } => format!(
                        "{} {} {}",
                        c.name,
                        if *negated { "not in" } else { "in" },
                        values.join(", ")
                    ),
                    ConstraintKind::Limit { limit } => format!("{} limit {limit}", c.name),
                })
                .collect(),
            processes: config
                .executor
                .processes
                .iter()
                .map(|p| (p.name.clone(), p.cmdline.clone()))
                .collect(),
            metadata: config
                .metadata
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            health_check: config.health_check.is_some(),
        }
    }
}

pub struct GroupRow {
    pub hash: String,
    pub instances: String,
    pub config: Option<ConfigLines>,
}

#[derive(Template)]
#[template(path = "job.html")]
struct JobPage<'a> {
    layout: Layout,
    role: String,
    env: String,
    name: String,
    job: &'a JobView,
    live: bool,
    /// The update that owns the job, and how far it got.
    active_update: Option<(UpdateRow, String)>,
    updates: Vec<UpdateRow>,
    updates_hidden: usize,
    cron_last: Option<String>,
    groups: Vec<GroupRow>,
    active: Vec<TaskRow<'a>>,
    finished: Vec<TaskRow<'a>>,
    finished_hidden: usize,
}

pub async fn job(
    State(state): State<WebState>,
    Path((role, env, name)): Path<(String, String, String)>,
    Query(at): Query<AtQuery>,
) -> Result<Response, PageError> {
    let key = job_key(&role, &env, &name)?;
    let path = format!("/scheduler/{key}");
    let wanted = key.clone();
    let (found, moment) = read(&state, &path, &at, move |v| {
        let job = v.job(&wanted)?;
        let progress = job
            .active_update()
            .and_then(|u| v.update(&u.key))
            .map(|update| progress::progress(&update).summary());
        Some((job, progress))
    })
    .await?;
    let (mut view, progress) = found.ok_or_else(|| {
        PageError::not_found(format!("no job {key}{}", moment.when())).during(&moment)
    })?;
    if moment.is_live() {
        let reasons = state.read.pending_reasons(&view.waiting_tasks());
        view.fill_pending_reasons(&reasons);
    }
    let active_update = view
        .active_update()
        .map(|u| (UpdateRow::new(u), progress.unwrap_or_default()));
    let groups = view
        .config_groups
        .iter()
        .map(|g| GroupRow {
            hash: g.hash.to_string().chars().take(12).collect(),
            instances: ranges(&g.instances),
            config: g.config.as_ref().map(ConfigLines::new),
        })
        .collect();
    let active = view.active.iter().map(TaskRow::new).collect();
    let finished = view
        .finished
        .iter()
        .take(FINISHED_SHOWN)
        .map(TaskRow::new)
        .collect();
    let finished_hidden = view.finished.len().saturating_sub(FINISHED_SHOWN);
    let updates = view
        .updates
        .iter()
        .take(UPDATES_SHOWN)
        .map(UpdateRow::new)
        .collect();
    let updates_hidden = view.updates.len().saturating_sub(UPDATES_SHOWN);
    let cron_last = view
        .cron
        .as_ref()
        .and_then(|c| c.last_triggered)
        .map(format::time);
    render(&JobPage {
        layout: moment.layout(&state, key.to_string(), "jobs"),
        role,
        env,
        name,
        live: moment.is_live(),
        job: &view,
        active_update,
        groups,
        updates,
        updates_hidden,
        cron_last,
        active,
        finished,
        finished_hidden,
    })
}

/// One entry of a job's history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRow {
    pub seq: Seq,
    pub time: String,
    pub actor: String,
    pub what: String,
    pub message: String,
    /// The task the entry is about, for its link.
    pub task: Option<String>,
}

/// Every task and update event of a job, newest first (at most `limit`).
pub fn job_history(views: &Views, key: &JobKey, limit: usize) -> Option<(Vec<HistoryRow>, usize)> {
    let job = views.job(key)?;
    let mut rows = Vec::new();
    for summary in job.active.iter().chain(&job.finished) {
        let Some(task) = views.task(&summary.id) else {
            continue;
        };
        for entry in &task.timeline {
            rows.push(HistoryRow {
                seq: entry.seq,
                time: format::time(entry.at),
                actor: entry.actor.to_string(),
                what: format!("instance {} → {}", task.instance, entry.status),
                message: entry.message.clone().unwrap_or_default(),
                task: Some(task.id.to_string()),
            });
        }
    }
    for summary in &job.updates {
        let Some(update) = views.update(&summary.key) else {
            continue;
        };
        let id = summary.key.id.to_string();
        for entry in &update.timeline {
            rows.push(HistoryRow {
                seq: entry.seq,
                time: format::time(entry.at),
                actor: entry.actor.to_string(),
                what: format!("update {id} → {}", entry.status),
                message: entry.message.clone().unwrap_or_default(),
                task: None,
            });
        }
        for entry in &update.instance_events {
            rows.push(HistoryRow {
                seq: entry.seq,
                time: format::time(entry.at),
                actor: entry.actor.to_string(),
                what: format!("update {id}: instance {} {}", entry.instance, entry.action),
                message: entry.message.clone().unwrap_or_default(),
                task: None,
            });
        }
    }
    rows.sort_by(|a, b| b.seq.cmp(&a.seq).then_with(|| a.what.cmp(&b.what)));
    let total = rows.len();
    rows.truncate(limit);
    Some((rows, total))
}

#[derive(Template)]
#[template(path = "job_history.html")]
struct JobHistoryPage {
    layout: Layout,
    role: String,
    env: String,
    name: String,
    rows: Vec<HistoryRow>,
    hidden: usize,
}

pub async fn history(
    State(state): State<WebState>,
    Path((role, env, name)): Path<(String, String, String)>,
    Query(at): Query<AtQuery>,
) -> Result<Response, PageError> {
    let key = job_key(&role, &env, &name)?;
    let path = format!("/scheduler/{key}/history");
    let wanted = key.clone();
    let (found, moment) = read(&state, &path, &at, move |v| {
        job_history(v, &wanted, HISTORY_SHOWN)
    })
    .await?;
    let (rows, total) = found.ok_or_else(|| {
        PageError::not_found(format!("no job {key}{}", moment.when())).during(&moment)
    })?;
    render(&JobHistoryPage {
        layout: moment.layout(&state, format!("{key} history"), "jobs"),
        role,
        env,
        name,
        hidden: total - rows.len(),
        rows,
    })
}

/// One timeline entry as a table row.
pub struct EntryRow {
    pub seq: Seq,
    pub time: String,
    pub status: String,
    pub class: &'static str,
    pub actor: String,
    pub message: String,
    pub host: String,
}

#[derive(Template)]
#[template(path = "task.html")]
struct TaskPage {
    layout: Layout,
    task: TaskView,
    role: String,
    env: String,
    name: String,
    status_class: &'static str,
    observer: Option<String>,
    timeline: Timeline,
    entries: Vec<EntryRow>,
}

pub async fn task(
    State(state): State<WebState>,
    Path(id): Path<String>,
    Query(at): Query<AtQuery>,
) -> Result<Response, PageError> {
    let path = format!("/tasks/{id}");
    let wanted = TaskId::from_raw(id.as_str());
    let (view, moment) = read(&state, &path, &at, move |v| v.task(&wanted)).await?;
    let task = view.ok_or_else(|| {
        PageError::not_found(format!(
            "no task {id:?}{} (it may not exist yet, never have existed, or have been pruned)",
            moment.when()
        ))
        .during(&moment)
    })?;
    // Only an http(s) URL becomes a link, whatever the journal holds (an agent registered
    // before endpoints were checked could have sent anything).
    let observer = task
        .observer
        .as_ref()
        .filter(|base| {
            let base = base.to_ascii_lowercase();
            base.starts_with("http://") || base.starts_with("https://")
        })
        .map(|base| format!("{}/tasks/{}", base.trim_end_matches('/'), task.id));
    let entries = task
        .timeline
        .iter()
        .map(|e| EntryRow {
            seq: e.seq,
            time: format::time(e.at),
            status: e.status.to_string(),
            class: status_class(e.status),
            actor: e.actor.to_string(),
            message: e.message.clone().unwrap_or_default(),
            host: e.host.clone().unwrap_or_default(),
        })
        .collect();
    render(&TaskPage {
        layout: moment.layout(&state, format!("task {}", task.id), "jobs"),
        role: task.job.role.to_string(),
        env: task.job.environment.to_string(),
        name: task.job.name.to_string(),
        status_class: status_class(task.status),
        observer,
        timeline: timeline::layout(&task.timeline),
        entries,
        task,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ranges_read_like_aurora() {
        let r = |first, last| InstanceRange { first, last };
        assert_eq!(ranges(&[r(0, 4), r(7, 7), r(9, 10)]), "0-4, 7, 9-10");
        assert_eq!(ranges(&[]), "");
    }
}
