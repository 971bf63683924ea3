//! Jobs and tasks: create, kill, restart, add instances; job summaries, tasks, pending reasons.

use std::collections::{BTreeMap, BTreeSet};

use aurora_events::{
    ConfigHash, InstanceId, JobKey, ScheduleStatus, TaskConfig, TaskId, Timestamp,
};
use aurora_scheduler_core::Command;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::{Committed, Failure, actor};
use crate::runtime::Runtime;

pub(super) fn router(runtime: Runtime) -> Router {
    Router::new()
        .route("/api/v1/jobs", get(list_jobs).post(create_job))
        .route("/api/v1/jobs/{role}/{env}/{name}/tasks", get(job_tasks))
        .route("/api/v1/jobs/{role}/{env}/{name}/kill", post(kill))
        .route("/api/v1/jobs/{role}/{env}/{name}/restart", post(restart))
        .route("/api/v1/jobs/{role}/{env}/{name}/add", post(add_instances))
        .route("/api/v1/tasks/{id}", get(task))
        .route("/api/v1/pending", get(pending))
        .with_state(runtime)
}

fn job_key(role: &str, env: &str, name: &str) -> Result<JobKey, Failure> {
    JobKey::new(role, env, name).map_err(|e| Failure::invalid(e.to_string()))
}

/// `POST /api/v1/jobs`: create a job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateJob {
    /// `role/env/name`.
    pub job: String,
    pub config: TaskConfig,
    pub instances: u32,
}

async fn create_job(
    State(runtime): State<Runtime>,
    headers: HeaderMap,
    body: Result<Json<CreateJob>, JsonRejection>,
) -> Result<Json<Committed>, Failure> {
    let Json(request) = body?;
    let job: JobKey = request
        .job
        .parse()
        .map_err(|e: aurora_events::Error| Failure::invalid(e.to_string()))?;
    let command = Command::CreateJob {
        job,
        config: Box::new(request.config),
        instances: request.instances,
    };
    let outcome = runtime.submit(actor(&headers), command).await?;
    Ok(Json(super::committed(outcome.committed, None)))
}

#[derive(Debug, Default, Deserialize)]
struct KillRequest {
    instances: Option<BTreeSet<InstanceId>>,
    message: Option<String>,
}

async fn kill(
    State(runtime): State<Runtime>,
    Path((role, env, name)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Committed>, Failure> {
    let job = job_key(&role, &env, &name)?;
    let request: KillRequest = super::optional_json(&body)?;
    let command = Command::KillTasks {
        job,
        instances: request.instances,
        message: request.message,
    };
    let outcome = runtime.submit(actor(&headers), command).await?;
    let message = outcome
        .decision
        .events
        .is_empty()
        .then(|| "No tasks to kill.".to_string());
    Ok(Json(super::committed(outcome.committed, message)))
}

#[derive(Debug, Default, Deserialize)]
struct RestartRequest {
    instances: Option<BTreeSet<InstanceId>>,
}

async fn restart(
    State(runtime): State<Runtime>,
    Path((role, env, name)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Committed>, Failure> {
    let job = job_key(&role, &env, &name)?;
    let request: RestartRequest = super::optional_json(&body)?;
    let outcome = runtime
        .submit(
            actor(&headers),
            Command::RestartInstances {
                job,
                instances: request.instances,
            },
        )
        .await?;
    Ok(Json(super::committed(outcome.committed, None)))
}

#[derive(Debug, Deserialize)]
struct AddRequest {
    template: InstanceId,
    count: u32,
}

async fn add_instances(
    State(runtime): State<Runtime>,
    Path((role, env, name)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Result<Json<AddRequest>, JsonRejection>,
) -> Result<Json<Committed>, Failure> {
    let job = job_key(&role, &env, &name)?;
    let Json(request) = body?;
    let command = Command::AddInstances {
        job,
        template: request.template,
        count: request.count,
    };
    let outcome = runtime.submit(actor(&headers), command).await?;
    Ok(Json(super::committed(outcome.committed, None)))
}

/// One job's task counts (Aurora's `JobSummary` stats).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct JobSummary {
    pub job: String,
    pub instances: u32,
    pub pending: usize,
    pub active: usize,
    pub finished: usize,
    pub failed: usize,
}

#[derive(Debug, Deserialize)]
struct JobsQuery {
    role: Option<String>,
}

async fn list_jobs(
    State(runtime): State<Runtime>,
    Query(query): Query<JobsQuery>,
) -> Json<Vec<JobSummary>> {
    let state = runtime.state();
    let mut keys: BTreeSet<&JobKey> = state.jobs().keys().collect();
    keys.extend(state.jobs_with_tasks());
    let summaries = keys
        .into_iter()
        .filter(|key| {
            query
                .role
                .as_deref()
                .is_none_or(|role| key.role.as_str() == role)
        })
        .map(|key| {
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
        })
        .collect();
    Json(summaries)
}

/// A task as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TaskView {
    pub id: TaskId,
    pub job: String,
    pub instance: InstanceId,
    pub status: ScheduleStatus,
    pub config: ConfigHash,
    pub failure_count: u32,
    pub ancestor: Option<TaskId>,
    pub agent: Option<String>,
    pub host: Option<String>,
    pub ports: BTreeMap<String, u16>,
    /// Every state entered, with when (ms since the epoch).
    pub events: Vec<(Timestamp, ScheduleStatus)>,
    pub pending_reason: Option<String>,
}

fn view(
    state: &aurora_scheduler_core::ClusterState,
    task: &aurora_scheduler_core::state::Task,
    reasons: &BTreeMap<TaskId, String>,
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
    }
}

#[derive(Debug, Deserialize)]
struct TasksQuery {
    /// Only active tasks (the default), or every task still known.
    all: Option<bool>,
}

async fn job_tasks(
    State(runtime): State<Runtime>,
    Path((role, env, name)): Path<(String, String, String)>,
    Query(query): Query<TasksQuery>,
) -> Result<Json<Vec<TaskView>>, Failure> {
    let job = job_key(&role, &env, &name)?;
    let reasons = runtime.pending_reasons();
    let state = runtime.state();
    let all = query.all.unwrap_or(false);
    let mut tasks: Vec<TaskView> = state
        .tasks_of_job(&job)
        .filter(|t| all || t.status.is_active())
        .map(|t| view(&state, t, &reasons))
        .collect();
    tasks.sort_by(|a, b| (a.instance, &a.id).cmp(&(b.instance, &b.id)));
    Ok(Json(tasks))
}

async fn task(
    State(runtime): State<Runtime>,
    Path(id): Path<String>,
) -> Result<Json<TaskView>, Failure> {
    let reasons = runtime.pending_reasons();
    let state = runtime.state();
    let task = state
        .task(&TaskId::from_raw(id.clone()))
        .ok_or_else(|| Failure::not_found(format!("no such task: {id}")))?;
    Ok(Json(view(&state, task, &reasons)))
}

async fn pending(State(runtime): State<Runtime>) -> Json<BTreeMap<TaskId, String>> {
    Json(runtime.pending_reasons())
}
