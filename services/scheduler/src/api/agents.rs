//! The agents' side of the API: register (with reconciliation), heartbeat (which hands out the
//! launches and kills queued for the agent), and task status reports.

use std::collections::BTreeSet;

use aurora_events::{Actor, AgentId, ScheduleStatus, TaskId};
use aurora_scheduler_core::Command;
use aurora_scheduler_core::commands::{RegisterAgent, StatusUpdate};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};

use aurora_api::{AgentRegistration, Committed, Heartbeat, LaunchSpec, StatusReport};

use super::Failure;
use crate::runtime::Runtime;

pub(super) fn router(runtime: Runtime) -> Router {
    Router::new()
        .route("/api/v1/agents/register", post(register))
        .route("/api/v1/agents/{agent}/heartbeat", post(heartbeat))
        .route("/api/v1/agents/{agent}/status", post(status))
        .with_state(runtime)
}

/// Registers the agent, then reconciles: tasks the scheduler placed there that the agent does
/// not have are LOST (and rescheduled); tasks the agent runs that the scheduler does not expect
/// there are killed.
async fn register(
    State(runtime): State<Runtime>,
    body: Result<Json<AgentRegistration>, JsonRejection>,
) -> Result<Json<Committed>, Failure> {
    let Json(registration) = body?;
    let agent = registration.agent.clone();
    let actor = Actor::Agent(agent.clone());
    let command = Command::RegisterAgent(RegisterAgent {
        agent: agent.clone(),
        host: registration.host,
        capacity: registration.capacity,
        attributes: registration.attributes,
        endpoint: registration.endpoint,
    });
    let outcome = runtime.submit(actor.clone(), command).await?;
    runtime.note_registration(&agent);
    runtime.heartbeat(&agent);
    let expected: BTreeSet<TaskId> = runtime
        .state()
        .tasks_on_agent(&agent)
        .map(|t| t.id.clone())
        .collect();
    for missing in expected.difference(&registration.running) {
        let report = Command::StatusUpdate(StatusUpdate {
            agent: agent.clone(),
            task: missing.clone(),
            status: ScheduleStatus::Lost,
            message: Some("Task not found on the agent after it re-registered".into()),
        });
        runtime.submit(actor.clone(), report).await?;
    }
    for stranger in registration.running.difference(&expected) {
        runtime.queue_kill(&agent, stranger.clone());
    }
    Ok(Json(super::committed(outcome.committed, None)))
}

async fn heartbeat(
    State(runtime): State<Runtime>,
    Path(agent): Path<String>,
) -> Result<Json<Heartbeat>, Failure> {
    let agent = AgentId(agent);
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
    let work = runtime.heartbeat(&agent);
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
