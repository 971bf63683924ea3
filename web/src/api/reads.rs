//! Read-only calls (Aurora's `ReadOnlyScheduler` surface): job summaries, tasks with or without
//! configs, config summaries, pending reasons, quota, updates, host status. They read the
//! projections (`aurora_projections::Queries`, the same views the web UI renders), which the
//! scheduler folds before it answers a command: a read after a write sees it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::path::Path;
use crate::query::Query;
use aurora_api::{
    ConfigGroup, ConfigSummary, HostStatus, JobSummary, QuotaView, TaskView, UpdateDetails,
    UpdateSummary,
};
use aurora_events::{
    InstanceId, JobKey, ScheduleStatus, TaskConfig, TaskId, UpdateKey, UpdateStatus, Uuid,
};
use aurora_projections::{Queries, ReadModel, TaskSummary, Views};
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::past::{At, views_at};
use super::{Failure, job_key};

/// What every read handler is given.
type Read = Arc<ReadModel>;

pub(super) fn router(read: Read) -> Router {
    Router::new()
        .route("/api/v1/jobs/{role}/{env}/{name}/tasks", get(job_tasks))
        .route(
            "/api/v1/jobs/{role}/{env}/{name}/config-summary",
            get(config_summary),
        )
        .route("/api/v1/jobs/{role}/{env}/{name}/updates", get(job_updates))
        .route("/api/v1/tasks", get(query_tasks))
        .route("/api/v1/tasks/{id}", get(task))
        .route("/api/v1/tasks/{id}/history", get(super::past::task_history))
        .route("/api/v1/tasks/{id}/why", get(super::why::why))
        .route("/api/v1/diff", get(super::diff::diff))
        .route("/api/v1/audit", get(super::audit::audit))
        .route("/api/v1/pending", get(pending))
        .route("/api/v1/updates", get(list_updates))
        .route("/api/v1/updates/{role}/{env}/{name}/{id}", get(update))
        .route("/api/v1/quota/{role}", get(quota))
        .route("/api/v1/maintenance", get(host_status))
        .route("/api/v1/jobs", get(list_jobs))
        .with_state(read)
}

/// `GET /api/v1/jobs?role=R`: every job known (configured, cron, or with tasks), with task
/// counts, in job key order (Aurora's `getJobSummary`). With `active=true`, only the jobs
/// Aurora's `getJobs` names: those with an active task, and cron jobs.
async fn list_jobs(
    State(read): State<Read>,
    Query(query): Query<Filter>,
    Query(scope): Query<JobsScope>,
    Query(at): Query<At>,
) -> Result<Json<Vec<JobSummary>>, Failure> {
    views_at(&read, &at, move |v| {
        listed_jobs(v, &query)
            .filter(|job| !scope.active || job.is_live())
            .map(|job| JobSummary {
                job: job.job.to_string(),
                instances: job.desired.map_or(0, |d| d.instances),
                pending: job.tasks.pending as usize,
                active: job.tasks.active as usize,
                finished: job.tasks.finished as usize,
                failed: job.tasks.failed as usize,
            })
            .collect()
    })
    .await
    .map(Json)
}

/// The jobs of every role the filter admits, in job key order.
fn listed_jobs<'a>(
    views: &'a Views,
    filter: &'a Filter,
) -> impl Iterator<Item = aurora_projections::JobSummary> + 'a {
    views
        .roles()
        .into_iter()
        .filter(|role| {
            filter
                .role
                .as_deref()
                .is_none_or(|r| r == role.role.as_str())
        })
        .filter_map(|role| views.role(role.role.as_str()))
        .flat_map(|role| role.jobs)
        .filter(|job| filter.matches(&job.job))
}

/// Which jobs a job listing names.
#[derive(Debug, Default, Deserialize)]
struct JobsScope {
    /// Only jobs with an active task, and cron jobs (Aurora's `getJobs`, which `job list`
    /// and a wildcard `job status` read); otherwise every job with tasks too.
    #[serde(default)]
    active: bool,
}

/// Narrows a listing to a role, an environment and a job name (each optional).
#[derive(Debug, Default, Deserialize)]
struct Filter {
    role: Option<String>,
    env: Option<String>,
    job: Option<String>,
}

impl Filter {
    fn matches(&self, key: &JobKey) -> bool {
        let is =
            |wanted: &Option<String>, actual: &str| wanted.as_deref().is_none_or(|w| w == actual);
        is(&self.role, key.role.as_str())
            && is(&self.env, key.environment.as_str())
            && is(&self.job, key.name.as_str())
    }
}

/// A projected task, with its full config when asked for. Configs are content-addressed and
/// never change, so the views keep each once, by hash, rather than in every task view.
type Found = (aurora_projections::TaskView, Option<TaskConfig>);

/// Looks up each task's config in `views` when `with_config`.
fn with_configs(
    views: &Views,
    tasks: impl IntoIterator<Item = aurora_projections::TaskView>,
    with_config: bool,
) -> Vec<Found> {
    tasks
        .into_iter()
        .map(|task| with_config_of(views, task, with_config))
        .collect()
}

fn with_config_of(views: &Views, task: aurora_projections::TaskView, with_config: bool) -> Found {
    let config = with_config
        .then(|| views.task_config(&task.config))
        .flatten();
    (task, config)
}

fn is_waiting(status: ScheduleStatus) -> bool {
    matches!(status, ScheduleStatus::Pending | ScheduleStatus::Throttled)
}

/// A projected task as the API shows it.
fn api_task((task, task_config): Found, reasons: &BTreeMap<TaskId, String>) -> TaskView {
    TaskView {
        pending_reason: reasons.get(&task.id).cloned(),
        job: task.job.to_string(),
        instance: task.instance,
        status: task.status,
        config: task.config,
        failure_count: task.failure_count,
        ancestor: task.ancestors.first().cloned(),
        agent: task.agent.map(|a| a.0),
        host: task.host,
        observer: task.observer.filter(|o| !o.is_empty()),
        ports: task.ports,
        events: task.timeline.iter().map(|e| (e.at, e.status)).collect(),
        event_messages: task.timeline.iter().map(|e| e.message.clone()).collect(),
        task_config,
        id: task.id,
    }
}

/// Why each of `tasks` that waits to be placed does, asked once for all of them.
fn reasons_for(read: &ReadModel, tasks: &[Found]) -> BTreeMap<TaskId, String> {
    let waiting: Vec<TaskId> = tasks
        .iter()
        .map(|(t, _)| t)
        .filter(|t| is_waiting(t.status))
        .map(|t| t.id.clone())
        .collect();
    read.pending_reasons(&waiting)
}

/// Every task of the job the projections still know: active ones, and terminal ones too with
/// `all`.
fn tasks_of_job(views: &Views, job: &JobKey, all: bool) -> Vec<aurora_projections::TaskView> {
    let Some(view) = views.job(job) else {
        return Vec::new();
    };
    let terminal: &[TaskSummary] = if all { &view.finished } else { &[] };
    view.active
        .iter()
        .chain(terminal)
        .filter_map(|summary| views.task(&summary.id))
        .collect()
}

#[derive(Debug, Deserialize)]
struct JobTasksQuery {
    /// Only active tasks (the default), or every task still known.
    all: Option<bool>,
    /// Include each task's full config.
    configs: Option<bool>,
}

async fn job_tasks(
    State(read): State<Read>,
    Path((role, env, name)): Path<(String, String, String)>,
    Query(query): Query<JobTasksQuery>,
    Query(at): Query<At>,
) -> Result<Json<Vec<TaskView>>, Failure> {
    let job = job_key(&role, &env, &name)?;
    let all = query.all.unwrap_or(false);
    let with_config = query.configs.unwrap_or(false);
    let projected = views_at(&read, &at, move |v| {
        with_configs(v, tasks_of_job(v, &job, all), with_config)
    })
    .await?;
    // Why a task waits is known only now.
    let reasons = if at.is_live() {
        reasons_for(&read, &projected)
    } else {
        BTreeMap::new()
    };
    let mut tasks: Vec<TaskView> = projected
        .into_iter()
        .map(|t| api_task(t, &reasons))
        .collect();
    tasks.sort_by(|a, b| (a.instance, &a.id).cmp(&(b.instance, &b.id)));
    Ok(Json(tasks))
}

/// `GET /api/v1/tasks` (Aurora's `TaskQuery`): every filter optional.
#[derive(Debug, Default, Deserialize)]
struct TaskQuery {
    role: Option<String>,
    env: Option<String>,
    job: Option<String>,
    /// Comma-separated states, e.g. `RUNNING,PENDING`; default: every state.
    statuses: Option<String>,
    /// Instance spec, e.g. `0-2,5`.
    instances: Option<String>,
    configs: Option<bool>,
}

async fn query_tasks(
    State(read): State<Read>,
    Query(query): Query<TaskQuery>,
) -> Result<Json<Vec<TaskView>>, Failure> {
    let statuses = query
        .statuses
        .as_deref()
        .map(super::parse::statuses)
        .transpose()?;
    let instances = query
        .instances
        .as_deref()
        .map(super::parse::instances)
        .transpose()?;
    let filter = Filter {
        role: query.role,
        env: query.env,
        job: query.job,
    };
    let with_config = query.configs.unwrap_or(false);
    let projected = read
        .live_off_thread(move |v| {
            let tasks = listed_jobs(v, &filter)
                .flat_map(|job| tasks_of_job(v, &job.job, true))
                .filter(|t| statuses.as_ref().is_none_or(|s| s.contains(&t.status)))
                .filter(|t| instances.as_ref().is_none_or(|i| i.contains(&t.instance)));
            with_configs(v, tasks, with_config)
        })
        .await;
    let reasons = reasons_for(&read, &projected);
    let mut tasks: Vec<TaskView> = projected
        .into_iter()
        .map(|t| api_task(t, &reasons))
        .collect();
    tasks.sort_by(|a, b| (&a.job, a.instance, &a.id).cmp(&(&b.job, b.instance, &b.id)));
    Ok(Json(tasks))
}

#[derive(Debug, Deserialize)]
struct ConfigsQuery {
    configs: Option<bool>,
}

async fn task(
    State(read): State<Read>,
    Path(id): Path<String>,
    Query(query): Query<ConfigsQuery>,
) -> Result<Json<TaskView>, Failure> {
    let wanted = TaskId::from_raw(id.clone());
    let with_config = query.configs.unwrap_or(false);
    let found = read
        .live(|v| {
            v.task(&wanted)
                .map(|task| with_config_of(v, task, with_config))
        })
        .ok_or_else(|| Failure::not_found(format!("no such task: {id}")))?;
    let reasons = reasons_for(&read, std::slice::from_ref(&found));
    Ok(Json(api_task(found, &reasons)))
}

/// `GET /api/v1/pending`: why each task waiting to be placed waits, by task id. Only the
/// jobs' task summaries are read to find the waiting ones (no task's full view is built).
async fn pending(State(read): State<Read>) -> Json<BTreeMap<TaskId, String>> {
    let waiting: Vec<TaskId> = read
        .live_off_thread(|v| {
            listed_jobs(v, &Filter::default())
                .filter_map(|job| v.job(&job.job))
                .flat_map(|job| job.active)
                .filter(|task| is_waiting(task.status))
                .map(|task| task.id)
                .collect()
        })
        .await;
    Json(read.pending_reasons(&waiting))
}

/// The job's active instances grouped by config, ordered by their first instance.
async fn config_summary(
    State(read): State<Read>,
    Path((role, env, name)): Path<(String, String, String)>,
) -> Result<Json<ConfigSummary>, Failure> {
    let job = job_key(&role, &env, &name)?;
    let projected = read
        .live(|v| v.job(&job).map(|j| j.config_groups))
        .unwrap_or_default();
    let mut groups: Vec<ConfigGroup> = projected
        .into_iter()
        .filter_map(|group| {
            Some(ConfigGroup {
                hash: group.hash,
                config: group.config?,
                instances: group.instances,
            })
        })
        .collect();
    groups.sort_by_key(|g| g.instances.first().map(|r| r.first));
    Ok(Json(ConfigSummary {
        job: job.to_string(),
        groups,
    }))
}

fn update_summary(update: &aurora_projections::UpdateSummary) -> UpdateSummary {
    UpdateSummary {
        id: update.key.id,
        job: update.key.job.to_string(),
        user: update.user.clone(),
        status: update.status,
        started_at: update.started_at,
        last_modified: update.last_modified,
        last_pulse: update.last_pulse,
        metadata: BTreeMap::new(),
    }
}

/// Who caused an update event, as Aurora's `JobUpdateEvent.user` (absent for the scheduler).
fn event_user(actor: &aurora_events::Actor) -> Option<String> {
    match actor {
        aurora_events::Actor::User(name) => Some(name.clone()),
        aurora_events::Actor::Scheduler | aurora_events::Actor::Agent(_) => None,
    }
}

/// `GET /api/v1/updates?role=&env=&job=&statuses=ROLLING_FORWARD,...&user=`, newest first.
#[derive(Debug, Default, Deserialize)]
struct UpdateQuery {
    role: Option<String>,
    env: Option<String>,
    job: Option<String>,
    statuses: Option<String>,
    user: Option<String>,
}

fn updates_matching(
    views: &Views,
    filter: &Filter,
    statuses: Option<&BTreeSet<UpdateStatus>>,
    user: Option<&str>,
) -> Vec<UpdateSummary> {
    let mut updates: Vec<UpdateSummary> = views
        .updates()
        .iter()
        .filter(|u| filter.matches(&u.key.job))
        .filter(|u| statuses.is_none_or(|s| s.contains(&u.status)))
        .filter(|u| user.is_none_or(|name| u.user == name))
        .map(update_summary)
        .collect();
    // Update ids are UUID v7, so the id breaks ties between updates started in the same ms.
    updates.sort_by_key(|u| std::cmp::Reverse((u.started_at, u.id)));
    updates
}

async fn list_updates(
    State(read): State<Read>,
    Query(query): Query<UpdateQuery>,
    Query(at): Query<At>,
) -> Result<Json<Vec<UpdateSummary>>, Failure> {
    let statuses = query
        .statuses
        .as_deref()
        .map(super::parse::update_statuses)
        .transpose()?;
    let filter = Filter {
        role: query.role,
        env: query.env,
        job: query.job,
    };
    views_at(&read, &at, move |v| {
        updates_matching(v, &filter, statuses.as_ref(), query.user.as_deref())
    })
    .await
    .map(Json)
}

async fn job_updates(
    State(read): State<Read>,
    Path((role, env, name)): Path<(String, String, String)>,
) -> Result<Json<Vec<UpdateSummary>>, Failure> {
    job_key(&role, &env, &name)?;
    let filter = Filter {
        role: Some(role),
        env: Some(env),
        job: Some(name),
    };
    Ok(Json(
        read.live(|v| updates_matching(v, &filter, None, None)),
    ))
}

async fn update(
    State(read): State<Read>,
    Path((role, env, name, id)): Path<(String, String, String, String)>,
    Query(at): Query<At>,
) -> Result<Json<UpdateDetails>, Failure> {
    let job = job_key(&role, &env, &name)?;
    let id: Uuid = id
        .parse()
        .map_err(|_| Failure::invalid(format!("invalid update id {id:?}")))?;
    let key = UpdateKey { job, id };
    let wanted = key.clone();
    let update = views_at(&read, &at, move |v| v.update(&wanted))
        .await?
        .ok_or_else(|| Failure::not_found(format!("no such update: {key}")))?;
    let mut instance_actions: BTreeMap<InstanceId, Vec<_>> = BTreeMap::new();
    for event in &update.instance_events {
        instance_actions
            .entry(event.instance)
            .or_default()
            .push(event.action);
    }
    let mut summary = update_summary(&update.summary);
    summary.metadata = update.metadata.clone();
    Ok(Json(UpdateDetails {
        summary,
        instructions: update.instructions,
        instance_actions,
        update_events: update
            .timeline
            .iter()
            .map(|e| aurora_api::UpdateEvent {
                status: e.status,
                at: e.at,
                user: event_user(&e.actor),
                message: e.message.clone(),
            })
            .collect(),
        instance_events: update
            .instance_events
            .iter()
            .map(|e| aurora_api::InstanceEvent {
                instance: e.instance,
                at: e.at,
                action: e.action,
                message: e.message.clone(),
            })
            .collect(),
    }))
}

async fn quota(
    State(read): State<Read>,
    Path(name): Path<String>,
    Query(at): Query<At>,
) -> Result<Json<QuotaView>, Failure> {
    let role = super::role(&name)?;
    // A role with neither quota nor jobs has zero everywhere, as in Aurora.
    Ok(Json(
        views_at(&read, &at, move |v| v.role(role.as_str()).map(|r| r.quota))
            .await?
            .unwrap_or_default(),
    ))
}

#[derive(Debug, Deserialize)]
struct HostsQuery {
    /// Comma-separated host names; default: every host known.
    hosts: Option<String>,
}

/// `GET /api/v1/maintenance?hosts=a,b` (Aurora's `maintenanceStatus`): the named hosts the
/// scheduler knows, each once, in the order asked. As in Aurora (`MaintenanceController.
/// getStatus` filters the known hosts' attributes), a host it never saw is left out rather
/// than reported in mode NONE, which would read as a host ready for work.
async fn host_status(
    State(read): State<Read>,
    Query(query): Query<HostsQuery>,
) -> Json<Vec<HostStatus>> {
    let statuses = read.live(|v| match query.hosts {
        Some(hosts) => {
            let mut seen = BTreeSet::new();
            hosts
                .split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty() && seen.insert(*h))
                .filter_map(|host| {
                    v.host(host).map(|known| HostStatus {
                        host: host.to_string(),
                        mode: known.mode,
                    })
                })
                .collect()
        }
        None => v
            .hosts()
            .into_iter()
            .map(|h| HostStatus {
                host: h.host,
                mode: h.mode,
            })
            .collect(),
    });
    Json(statuses)
}
