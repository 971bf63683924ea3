//! The agents' side of the API: register (with reconciliation), heartbeat (which hands out the
//! launches and kills queued for the agent), and task status reports. Only the leader talks to
//! agents; a follower answers 503 NOT_LEADER.

use aurora_events::{Actor, AgentId};
use aurora_scheduler_core::Command;
use aurora_scheduler_core::commands::{RegisterAgent, StatusUpdate};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};

use aurora_api::{AgentRegistration, Committed, Heartbeat, LaunchSpec, StatusReport};

use super::Failure;
use crate::runtime::{Runtime, SubmitError};

pub(super) fn router(runtime: Runtime) -> Router {
    Router::new()
        .route("/api/v1/agents/register", post(register))
        .route("/api/v1/agents/{agent}/heartbeat", post(heartbeat))
        .route("/api/v1/agents/{agent}/status", post(status))
        .with_state(runtime)
}

/// Registers the agent and reconciles, in one decision: tasks the scheduler placed there that
/// the agent does not have are LOST (and rescheduled); tasks the agent runs that the scheduler
/// does not expect there are killed.
async fn register(
    State(runtime): State<Runtime>,
    body: Result<Json<AgentRegistration>, JsonRejection>,
) -> Result<Json<Committed>, Failure> {
    let Json(registration) = body?;
    let agent = registration.agent.clone();
    let command = Command::RegisterAgent(RegisterAgent {
        agent: agent.clone(),
        host: registration.host,
        capacity: registration.capacity,
        attributes: registration.attributes,
        endpoint: registration.endpoint,
        running: registration.running,
    });
    let outcome = runtime.submit(Actor::Agent(agent.clone()), command).await?;
    runtime.note_registration(&agent)?;
    Ok(Json(super::committed(outcome.committed, None)))
}

async fn heartbeat(
    State(runtime): State<Runtime>,
    Path(agent): Path<String>,
) -> Result<Json<Heartbeat>, Failure> {
    let agent = AgentId(agent);
    if !runtime.is_leader() {
        return Err(SubmitError::NotLeader { leader: None }.into());
    }
    {
        let state = runtime.state();
        match state.agent(&agent) {
            None => {
                return Err(Failure::not_found(format!(
                    "no such agent: {agent}; register first"
                )));
            }
            Some(record) if record.lost => {
                return Err(Failure::not_found(format!(
                    "agent {agent} was declared lost; register again"
                )));
            }
            Some(_) => {}
        }
    }
    if !runtime.has_registered(&agent) {
        // This scheduler started after the agent registered: have it register again so that
        // what it runs is reconciled with the journal.
        return Err(Failure::not_found(format!(
            "agent {agent} must register again (the scheduler restarted)"
        )));
    }
    let work = runtime.heartbeat(&agent)?;
    let state = runtime.state();
    let launch = work
        .launch
        .iter()
        .filter_map(|id| {
            let task = state.task(id)?;
            let config = state.config(&task.config)?;
            Some(LaunchSpec {
                task: id.clone(),
                job: task.job.to_string(),
                instance: task.instance,
                config: config.clone(),
                ports: task
                    .assignment
                    .iter()
                    .flat_map(|a| a.ports.iter().cloned())
                    .collect(),
            })
        })
        .collect();
    Ok(Json(Heartbeat {
        launch,
        kill: work.kill.into_iter().collect(),
    }))
}

async fn status(
    State(runtime): State<Runtime>,
    Path(agent): Path<String>,
    body: Result<Json<StatusReport>, JsonRejection>,
) -> Result<Json<Committed>, Failure> {
    let Json(report) = body?;
    let agent = AgentId(agent);
    let command = Command::StatusUpdate(StatusUpdate {
        agent: agent.clone(),
        task: report.task,
        status: report.status,
        message: report.message,
    });
    let outcome = runtime.submit(Actor::Agent(agent), command).await?;
    Ok(Json(super::committed(outcome.committed, None)))
}
