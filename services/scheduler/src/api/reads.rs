//! Read-only calls (Aurora's `ReadOnlyScheduler` surface): job summaries, tasks with or without
//! configs, config summaries, pending reasons, quota, updates, host status.

use std::collections::{BTreeMap, BTreeSet};

use aurora_api::{
    ConfigGroup, ConfigSummary, HostStatus, JobSummary, QuotaView, TaskView, UpdateDetails,
    UpdateSummary, instance_ranges,
};
use aurora_events::{InstanceId, JobKey, ScheduleStatus, TaskId, UpdateKey, UpdateStatus, Uuid};
use aurora_scheduler_core::ClusterState;
use aurora_scheduler_core::state::{Task, Update};
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::Failure;
use super::jobs::job_key;
use crate::runtime::Runtime;

pub(super) fn router(runtime: Runtime) -> Router {
    Router::new()
        .route("/api/v1/jobs/{role}/{env}/{name}/tasks", get(job_tasks))
        .route(
            "/api/v1/jobs/{role}/{env}/{name}/config-summary",
            get(config_summary),
        )
        .route("/api/v1/jobs/{role}/{env}/{name}/updates", get(job_updates))
        .route("/api/v1/tasks", get(query_tasks))
        .route("/api/v1/tasks/{id}", get(task))
        .route("/api/v1/pending", get(pending))
        .route("/api/v1/updates", get(list_updates))
        .route("/api/v1/updates/{role}/{env}/{name}/{id}", get(update))
        .route("/api/v1/quota/{role}", get(quota))
        .route("/api/v1/maintenance", get(host_status))
        .with_state(runtime)
}

/// `GET /api/v1/jobs?role=R`: every job known (configured or with tasks), with task counts.
pub(super) async fn list_jobs(
    State(runtime): State<Runtime>,
    Query(query): Query<Filter>,
) -> Json<Vec<JobSummary>> {
    let state = runtime.state();
    let mut keys: BTreeSet<&JobKey> = state.jobs().keys().collect();
    keys.extend(state.jobs_with_tasks());
    let summaries = keys
        .into_iter()
        .filter(|key| query.matches(key))
        .map(|key| summarise(&state, key))
        .collect();
    Json(summaries)
}

fn summarise(state: &ClusterState, key: &JobKey) -> JobSummary {
    let mut summary = JobSummary {
        job: key.to_string(),
        instances: state.job(key).map_or(0, |j| j.instances),
        pending: 0,
        active: 0,
        finished: 0,
        failed: 0,
    };
    for task in state.tasks_of_job(key) {
        match task.status {
            ScheduleStatus::Pending | ScheduleStatus::Throttled => summary.pending += 1,
            ScheduleStatus::Finished => summary.finished += 1,
            ScheduleStatus::Failed | ScheduleStatus::Lost | ScheduleStatus::Killed => {
                summary.failed += 1
            }
            ScheduleStatus::Init
            | ScheduleStatus::Assigned
            | ScheduleStatus::Starting
            | ScheduleStatus::Running
            | ScheduleStatus::Killing
            | ScheduleStatus::Preempting
            | ScheduleStatus::Restarting
            | ScheduleStatus::Draining
            | ScheduleStatus::Partitioned => summary.active += 1,
        }
    }
    summary
}

/// Narrows a listing to a role, an environment and a job name (each optional).
#[derive(Debug, Default, Deserialize)]
pub(super) struct Filter {
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

fn view(
    state: &ClusterState,
    task: &Task,
    reasons: &BTreeMap<TaskId, String>,
    with_config: bool,
) -> TaskView {
    let agent = task.assignment.as_ref().map(|a| a.agent.clone());
    TaskView {
        id: task.id.clone(),
        job: task.job.to_string(),
        instance: task.instance,
        status: task.status,
        config: task.config,
        failure_count: task.failure_count,
        ancestor: task.ancestor.clone(),
        host: agent
            .as_ref()
            .and_then(|a| state.agent(a))
            .map(|a| a.host.clone()),
        agent: agent.map(|a| a.0),
        ports: task
            .assignment
            .iter()
            .flat_map(|a| a.ports.iter().cloned())
            .collect(),
        events: task.history.iter().map(|e| (e.at, e.status)).collect(),
        pending_reason: reasons.get(&task.id).cloned(),
        task_config: if with_config {
            state.config(&task.config).cloned()
        } else {
            None
        },
    }
}

#[derive(Debug, Deserialize)]
struct JobTasksQuery {
    /// Only active tasks (the default), or every task still known.
    all: Option<bool>,
    /// Include each task's full config.
    configs: Option<bool>,
}

async fn job_tasks(
    State(runtime): State<Runtime>,
    Path((role, env, name)): Path<(String, String, String)>,
    Query(query): Query<JobTasksQuery>,
) -> Result<Json<Vec<TaskView>>, Failure> {
    let job = job_key(&role, &env, &name)?;
    let reasons = runtime.pending_reasons();
    let state = runtime.state();
    let all = query.all.unwrap_or(false);
    let with_config = query.configs.unwrap_or(false);
    let mut tasks: Vec<TaskView> = state
        .tasks_of_job(&job)
        .filter(|t| all || t.status.is_active())
        .map(|t| view(&state, t, &reasons, with_config))
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

fn parse_statuses(text: &str) -> Result<BTreeSet<ScheduleStatus>, Failure> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.to_ascii_uppercase()
                .parse::<ScheduleStatus>()
                .map_err(|_| Failure::invalid(format!("unknown task state {s:?}")))
        })
        .collect()
}

/// Parses `0-2,5` into instance ids.
fn parse_instances(text: &str) -> Result<BTreeSet<InstanceId>, Failure> {
    let bad = || Failure::invalid(format!("invalid instance spec {text:?}: use e.g. 0-2,5"));
    let mut instances = BTreeSet::new();
    for part in text.split(',').map(str::trim) {
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?),
            None => {
                let one: InstanceId = part.parse().map_err(|_| bad())?;
                (one, one)
            }
        };
        if first > last || last - first > 100_000 {
            return Err(bad());
        }
        instances.extend(first..=last);
    }
    Ok(instances)
}

async fn query_tasks(
    State(runtime): State<Runtime>,
    Query(query): Query<TaskQuery>,
) -> Result<Json<Vec<TaskView>>, Failure> {
    let statuses = query.statuses.as_deref().map(parse_statuses).transpose()?;
    let instances = query
        .instances
        .as_deref()
        .map(parse_instances)
        .transpose()?;
    let filter = Filter {
        role: query.role,
        env: query.env,
        job: query.job,
    };
    let reasons = runtime.pending_reasons();
    let state = runtime.state();
    let with_config = query.configs.unwrap_or(false);
    let mut tasks: Vec<TaskView> = state
        .tasks()
        .filter(|t| filter.matches(&t.job))
        .filter(|t| statuses.as_ref().is_none_or(|s| s.contains(&t.status)))
        .filter(|t| instances.as_ref().is_none_or(|i| i.contains(&t.instance)))
        .map(|t| view(&state, t, &reasons, with_config))
        .collect();
    tasks.sort_by(|a, b| (&a.job, a.instance, &a.id).cmp(&(&b.job, b.instance, &b.id)));
    Ok(Json(tasks))
}

#[derive(Debug, Deserialize)]
struct ConfigsQuery {
    configs: Option<bool>,
}

async fn task(
    State(runtime): State<Runtime>,
    Path(id): Path<String>,
    Query(query): Query<ConfigsQuery>,
) -> Result<Json<TaskView>, Failure> {
    let reasons = runtime.pending_reasons();
    let state = runtime.state();
    let task = state
        .task(&TaskId::from_raw(id.clone()))
        .ok_or_else(|| Failure::not_found(format!("no such task: {id}")))?;
    let with_config = query.configs.unwrap_or(false);
    Ok(Json(view(&state, task, &reasons, with_config)))
}

async fn pending(State(runtime): State<Runtime>) -> Json<BTreeMap<TaskId, String>> {
    Json(runtime.pending_reasons())
}

/// The job's active instances grouped by config, ordered by their first instance.
async fn config_summary(
    State(runtime): State<Runtime>,
    Path((role, env, name)): Path<(String, String, String)>,
) -> Result<Json<ConfigSummary>, Failure> {
    let job = job_key(&role, &env, &name)?;
    let state = runtime.state();
    let mut by_config: BTreeMap<_, BTreeSet<InstanceId>> = BTreeMap::new();
    for task in state.active_tasks_of_job(&job) {
        by_config
            .entry(task.config)
            .or_default()
            .insert(task.instance);
    }
    let mut groups: Vec<ConfigGroup> = by_config
        .into_iter()
        .filter_map(|(hash, instances)| {
            Some(ConfigGroup {
                hash,
                config: state.config(&hash)?.clone(),
                instances: instance_ranges(instances),
            })
        })
        .collect();
    groups.sort_by_key(|g| g.instances.first().map(|r| r.first));
    Ok(Json(ConfigSummary {
        job: job.to_string(),
        groups,
    }))
}

fn update_summary(key: &UpdateKey, update: &Update) -> UpdateSummary {
    UpdateSummary {
        id: key.id,
        job: key.job.to_string(),
        user: update.user.clone(),
        status: update.status,
        started_at: update.started_at,
        last_pulse: update.last_pulse,
    }
}

/// `GET /api/v1/updates?role=&env=&job=&statuses=ROLLING_FORWARD,...`, newest first.
#[derive(Debug, Default, Deserialize)]
struct UpdateQuery {
    role: Option<String>,
    env: Option<String>,
    job: Option<String>,
    statuses: Option<String>,
}

fn parse_update_statuses(text: &str) -> Result<BTreeSet<UpdateStatus>, Failure> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.to_ascii_uppercase()
                .parse::<UpdateStatus>()
                .map_err(|_| Failure::invalid(format!("unknown update state {s:?}")))
        })
        .collect()
}

fn updates_matching(
    state: &ClusterState,
    filter: &Filter,
    statuses: Option<&BTreeSet<UpdateStatus>>,
) -> Vec<UpdateSummary> {
    let mut updates: Vec<UpdateSummary> = state
        .updates()
        .iter()
        .filter(|(key, _)| filter.matches(&key.job))
        .filter(|(_, u)| statuses.is_none_or(|s| s.contains(&u.status)))
        .map(|(key, update)| update_summary(key, update))
        .collect();
    // Update ids are UUID v7, so the id breaks ties between updates started in the same ms.
    updates.sort_by_key(|u| std::cmp::Reverse((u.started_at, u.id)));
    updates
}

async fn list_updates(
    State(runtime): State<Runtime>,
    Query(query): Query<UpdateQuery>,
) -> Result<Json<Vec<UpdateSummary>>, Failure> {
    let statuses = query
        .statuses
        .as_deref()
        .map(parse_update_statuses)
        .transpose()?;
    let filter = Filter {
        role: query.role,
        env: query.env,
        job: query.job,
    };
    let state = runtime.state();
    Ok(Json(updates_matching(&state, &filter, statuses.as_ref())))
}

async fn job_updates(
    State(runtime): State<Runtime>,
    Path((role, env, name)): Path<(String, String, String)>,
) -> Result<Json<Vec<UpdateSummary>>, Failure> {
    job_key(&role, &env, &name)?;
    let filter = Filter {
        role: Some(role),
        env: Some(env),
        job: Some(name),
    };
    Ok(Json(updates_matching(&runtime.state(), &filter, None)))
}

async fn update(
    State(runtime): State<Runtime>,
    Path((role, env, name, id)): Path<(String, String, String, String)>,
) -> Result<Json<UpdateDetails>, Failure> {
    let job = job_key(&role, &env, &name)?;
    let id: Uuid = id
        .parse()
        .map_err(|_| Failure::invalid(format!("invalid update id {id:?}")))?;
    let key = UpdateKey { job, id };
    let state = runtime.state();
    let update = state
        .update(&key)
        .ok_or_else(|| Failure::not_found(format!("no such update: {key}")))?;
    Ok(Json(UpdateDetails {
        summary: update_summary(&key, update),
        instructions: update.instructions.clone(),
        instance_actions: update.instance_actions.clone(),
    }))
}

async fn quota(
    State(runtime): State<Runtime>,
    Path(name): Path<String>,
) -> Result<Json<QuotaView>, Failure> {
    let role = super::admin::role(&name)?;
    let usage = aurora_scheduler_core::quota::usage(&runtime.state(), &role);
    Ok(Json(QuotaView {
        quota: usage.quota,
        prod_shared: usage.prod_shared,
        non_prod_shared: usage.non_prod_shared,
        prod_dedicated: usage.prod_dedicated,
        non_prod_dedicated: usage.non_prod_dedicated,
    }))
}

#[derive(Debug, Deserialize)]
struct HostsQuery {
    /// Comma-separated host names; default: every host known.
    hosts: Option<String>,
}

/// `GET /api/v1/maintenance?hosts=a,b` (Aurora's `maintenanceStatus`). A host the scheduler
/// never saw is in mode NONE, as in Aurora.
async fn host_status(
    State(runtime): State<Runtime>,
    Query(query): Query<HostsQuery>,
) -> Json<Vec<HostStatus>> {
    let state = runtime.state();
    let statuses = match query.hosts {
        Some(hosts) => hosts
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(|host| HostStatus {
                host: host.to_string(),
                mode: state.host(host).map(|h| h.mode).unwrap_or_default(),
            })
            .collect(),
        None => state
            .hosts()
            .iter()
            .map(|(host, record)| HostStatus {
                host: host.clone(),
                mode: record.mode,
            })
            .collect(),
    };
    Json(statuses)
}
