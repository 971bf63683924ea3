//! Admin calls: set quota, maintenance, force task state, prune, snapshot, reconcile, unbind
//! an agent.

use std::collections::BTreeSet;

use aurora_events::config::SlaPolicy;
use aurora_events::{AgentId, Identifier, JobKey, ResourceAggregate, ScheduleStatus, TaskId};
use aurora_scheduler_core::Command;
use aurora_scheduler_core::commands::{
    DrainHosts, EndMaintenance, ForceTaskState, PruneTasks, SetQuota, SlaDrainHosts,
    StartMaintenance, UnbindAgent,
};
use aurora_web::path::Path;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::routing::{post, put};
use axum::{Json, Router};
use serde::Deserialize;

use super::{Committed, Failure};
use crate::auth::Caller;
use crate::runtime::Runtime;
use aurora_auth::Action;

pub(super) fn router(runtime: Runtime) -> Router {
    Router::new()
        .route("/api/v1/quota/{role}", put(set_quota))
        .route("/api/v1/maintenance/sla_drain", post(sla_drain))
        .route("/api/v1/maintenance/{action}", post(maintenance))
        .route("/api/v1/admin/tasks/{id}/force", post(force_state))
        .route("/api/v1/admin/prune", post(prune))
        .route("/api/v1/admin/snapshot", post(snapshot))
        .route("/api/v1/admin/reconcile", post(reconcile))
        .route("/api/v1/agents/{agent}/unbind", post(unbind_agent))
        .with_state(runtime)
}

pub(super) fn role(role: &str) -> Result<Identifier, Failure> {
    Identifier::new(role).map_err(|e| Failure::invalid(e.to_string()))
}

async fn set_quota(
    State(runtime): State<Runtime>,
    Path(name): Path<String>,
    caller: Caller,
    body: Result<Json<ResourceAggregate>, JsonRejection>,
) -> Result<Json<Committed>, Failure> {
    let role = role(&name)?;
    let actor = caller.authorize(Action::QuotaSet, Some(role.as_str()))?;
    let Json(quota) = body?;
    let outcome = runtime
        .submit(actor, Command::SetQuota(SetQuota { role, quota }))
        .await?;
    Ok(Json(super::committed(outcome.committed, None)))
}

#[derive(Debug, Deserialize)]
struct Hosts {
    hosts: Vec<String>,
}

async fn maintenance(
    State(runtime): State<Runtime>,
    Path(action): Path<String>,
    caller: Caller,
    body: Result<Json<Hosts>, JsonRejection>,
) -> Result<Json<Committed>, Failure> {
    let (permission, command): (Action, fn(Vec<String>) -> Command) = match action.as_str() {
        "start" => (Action::MaintenanceStart, |hosts| {
            Command::StartMaintenance(StartMaintenance { hosts })
        }),
        "drain" => (Action::MaintenanceDrain, |hosts| {
            Command::DrainHosts(DrainHosts { hosts })
        }),
        "end" => (Action::MaintenanceEnd, |hosts| {
            Command::EndMaintenance(EndMaintenance { hosts })
        }),
        other => {
            return Err(Failure::invalid(format!(
                "unknown maintenance action {other:?}: use start, drain or end"
            )));
        }
    };
    let actor = caller.authorize(permission, None)?;
    let Json(Hosts { hosts }) = body?;
    let command = command(hosts);
    let outcome = runtime.submit(actor, command).await?;
    Ok(Json(super::committed(outcome.committed, None)))
}

/// `POST /api/v1/maintenance/sla_drain`: Aurora's `slaDrainHosts`.
#[derive(Debug, Deserialize)]
struct SlaDrainRequest {
    hosts: Vec<String>,
    /// The SLA of jobs without a policy of their own: this percentage of instances...
    #[serde(default = "default_percentage")]
    default_percentage: f64,
    /// ...up for this long.
    #[serde(default = "default_duration_secs")]
    default_duration_secs: u64,
    /// After this long, the rest are drained regardless.
    #[serde(default = "default_timeout_secs")]
    timeout_secs: u64,
}

fn default_percentage() -> f64 {
    95.0
}

fn default_duration_secs() -> u64 {
    30 * 60
}

fn default_timeout_secs() -> u64 {
    7 * 24 * 3600
}

async fn sla_drain(
    State(runtime): State<Runtime>,
    caller: Caller,
    body: Result<Json<SlaDrainRequest>, JsonRejection>,
) -> Result<Json<Committed>, Failure> {
    let actor = caller.authorize(Action::MaintenanceDrain, None)?;
    let Json(request) = body?;
    let command = Command::SlaDrainHosts(SlaDrainHosts {
        hosts: request.hosts,
        default_sla: SlaPolicy::Percentage {
            percentage: request.default_percentage,
            duration_secs: request.default_duration_secs,
        },
        timeout_secs: request.timeout_secs,
    });
    let outcome = runtime.submit(actor, command).await?;
    Ok(Json(super::committed(outcome.committed, None)))
}

/// `POST /api/v1/agents/AGENT/unbind`: the agent id (and its host) no longer bound to the user
/// that first registered it.
async fn unbind_agent(
    State(runtime): State<Runtime>,
    Path(agent): Path<String>,
    caller: Caller,
) -> Result<Json<Committed>, Failure> {
    let actor = caller.authorize(Action::AdminAgentUnbind, None)?;
    let command = Command::UnbindAgent(UnbindAgent {
        agent: AgentId(agent),
    });
    let outcome = runtime.submit(actor, command).await?;
    Ok(Json(super::committed(outcome.committed, None)))
}

#[derive(Debug, Deserialize)]
struct Force {
    status: ScheduleStatus,
}

async fn force_state(
    State(runtime): State<Runtime>,
    Path(id): Path<String>,
    caller: Caller,
    body: Result<Json<Force>, JsonRejection>,
) -> Result<Json<Committed>, Failure> {
    let actor = caller.authorize(Action::AdminForceState, None)?;
    let Json(Force { status }) = body?;
    let command = Command::ForceTaskState(ForceTaskState {
        task: TaskId::from_raw(id),
        status,
    });
    let outcome = runtime.submit(actor, command).await?;
    Ok(Json(super::committed(outcome.committed, None)))
}

#[derive(Debug, Default, Deserialize)]
struct Prune {
    job: Option<String>,
    role: Option<String>,
    env: Option<String>,
    statuses: Option<BTreeSet<ScheduleStatus>>,
    limit: Option<usize>,
}

async fn prune(
    State(runtime): State<Runtime>,
    caller: Caller,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<Committed>, Failure> {
    let actor = caller.authorize(Action::AdminPrune, None)?;
    let request: Prune = super::optional_json(&body?)?;
    let job = match request.job {
        Some(text) => Some(
            text.parse::<JobKey>()
                .map_err(|e| Failure::invalid(e.to_string()))?,
        ),
        None => None,
    };
    let identifier = |text: Option<String>| {
        text.map(|t| Identifier::new(&t).map_err(|e| Failure::invalid(e.to_string())))
            .transpose()
    };
    let command = Command::PruneTasks(PruneTasks {
        job,
        role: identifier(request.role)?,
        environment: identifier(request.env)?,
        statuses: request.statuses,
        limit: request.limit,
    });
    let outcome = runtime.submit(actor, command).await?;
    Ok(Json(super::committed(outcome.committed, None)))
}

/// Admin `snapshot`: checkpoint the write model now, so a restart replays only what follows.
async fn snapshot(
    State(runtime): State<Runtime>,
    caller: Caller,
) -> Result<Json<Committed>, Failure> {
    caller.authorize(Action::AdminSnapshot, None)?;
    let seq = runtime.checkpoint().await?;
    Ok(Json(Committed {
        first_seq: None,
        last_seq: Some(seq),
        message: Some(format!("checkpoint at seq {seq}")),
    }))
}

/// Admin `reconcile_tasks`: every agent is asked to register again with the tasks it runs, which
/// reconciles them as after a scheduler restart (missing tasks become LOST, strangers are killed).
async fn reconcile(
    State(runtime): State<Runtime>,
    caller: Caller,
) -> Result<Json<Committed>, Failure> {
    caller.authorize(Action::AdminReconcile, None)?;
    let agents = runtime.request_reconciliation()?;
    Ok(Json(Committed {
        first_seq: None,
        last_seq: None,
        message: Some(format!(
            "asked {agents} agent(s) to re-register and report their tasks"
        )),
    }))
}
