//! The agents' side of the API: register (with reconciliation), heartbeat (liveness, and the
//! launches and kills queued for the agent), the work channel (a long poll answered the moment
//! work is queued), and task status reports. Only the leader talks to agents; a follower
//! answers 503 NOT_LEADER. Answers that hand out work carry the leader's term, so that an
//! agent can ignore a deposed leader that still answers.

use std::time::Duration;

use aurora_api::{AgentRegistration, Committed, Heartbeat, LaunchSpec, StatusReports};
use aurora_events::{Actor, AgentId};
use aurora_scheduler_core::Command;
use aurora_scheduler_core::commands::{RegisterAgent, StatusUpdate};
use aurora_web::path::Path;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;

use super::Failure;
use crate::auth::Caller;
use crate::runtime::{AgentWork, Runtime, SubmitError};
use aurora_auth::Action;

pub(super) fn router(runtime: Runtime) -> Router {
    Router::new()
        .route("/api/v1/agents/register", post(register))
        .route("/api/v1/agents/{agent}/heartbeat", post(heartbeat))
        .route("/api/v1/agents/{agent}/work", post(work))
        .route("/api/v1/agents/{agent}/status", post(status))
        .with_state(runtime)
}

/// Registers the agent and reconciles, in one decision: tasks the scheduler placed there that
/// the agent does not have are LOST (and rescheduled); tasks the agent runs that the scheduler
/// does not expect there are killed.
async fn register(
    State(runtime): State<Runtime>,
    caller: Caller,
    body: Result<Json<AgentRegistration>, JsonRejection>,
) -> Result<Json<Committed>, Failure> {
    caller.authorize(Action::AgentRegister, None)?;
    let Json(registration) = body?;
    let agent = registration.agent.clone();
    // A known agent's registration is a sign of life from the moment it arrives (only from
    // the credential it is bound to: another may not keep it alive).
    let from_its_owner = runtime.state().agent(&agent).is_some_and(|known| {
        match (known.principal.as_deref(), caller.principal()) {
            (_, None) => true,
            (Some(bound), Some(presented)) => bound == presented,
            (None, Some(_)) => false,
        }
    });
    if from_its_owner {
        runtime.note_contact(&agent);
    }
    let command = Command::RegisterAgent(RegisterAgent {
        agent: agent.clone(),
        host: registration.host,
        capacity: registration.capacity,
        attributes: registration.attributes,
        endpoint: registration.endpoint,
        running: registration.running,
        principal: caller.principal().map(str::to_owned),
    });
    let outcome = runtime.submit(Actor::Agent(agent.clone()), command).await?;
    runtime.note_registration(&agent)?;
    Ok(Json(super::committed(outcome.committed, None)))
}

/// Refuses a caller that is not the user `agent` is bound to (with authentication on): only
/// the credential that first registered an agent id may heartbeat, poll or report as it.
fn check_bound(
    record: Option<&aurora_scheduler_core::state::Agent>,
    agent: &AgentId,
    caller: &Caller,
) -> Result<(), Failure> {
    let Some(presented) = caller.principal() else {
        return Ok(());
    };
    match record.and_then(|a| a.principal.as_deref()) {
        Some(bound) if bound == presented => Ok(()),
        Some(bound) => Err(Failure(
            axum::http::StatusCode::FORBIDDEN,
            aurora_api::ApiError {
                code: crate::auth::AUTH_FAILED.into(),
                message: format!(
                    "agent {agent} is bound to user {bound}'s credential; {presented} may not act as it"
                ),
            },
        )),
        None => Err(Failure::not_found(format!(
            "agent {agent} must register with its credential first"
        ))),
    }
}

/// Refuses an agent this leader cannot hand work to: unknown, lost, acting under another
/// credential than the one it is bound to, or not registered with this leader (which must
/// reconcile it first).
fn check_known(runtime: &Runtime, agent: &AgentId, caller: &Caller) -> Result<(), Failure> {
    if !runtime.is_leader() {
        return Err(SubmitError::NotLeader { leader: None }.into());
    }
    {
        let state = runtime.state();
        match state.agent(agent) {
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
            Some(record) => check_bound(Some(record), agent, caller)?,
        }
    }
    if !runtime.has_registered(agent) {
        // This leader started after the agent registered: have it register again so that
        // what it runs is reconciled with the journal.
        return Err(Failure::not_found(format!(
            "agent {agent} must register again (the scheduler restarted)"
        )));
    }
    Ok(())
}

/// The agent's work as it is sent: each launch with the task's config and ports, under this
/// leader's term.
fn work_reply(runtime: &Runtime, work: AgentWork) -> Heartbeat {
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
    Heartbeat {
        launch,
        kill: work.kill.into_iter().collect(),
        // Agents drop work from a term below one they have heard from (a deposed leader);
        // a process that no longer leads has no term, and its 0 is below every leader's.
        term: runtime.term().unwrap_or(0),
    }
}

/// Liveness, and whatever work is queued (for agents that do not poll for work).
async fn heartbeat(
    State(runtime): State<Runtime>,
    Path(agent): Path<String>,
    caller: Caller,
) -> Result<Json<Heartbeat>, Failure> {
    caller.authorize(Action::AgentHeartbeat, None)?;
    let agent = AgentId(agent);
    check_known(&runtime, &agent, &caller)?;
    let work = runtime.heartbeat(&agent)?;
    Ok(Json(work_reply(&runtime, work)))
}

/// Longest a work poll may wait.
const MAX_WORK_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Default, Deserialize)]
struct WorkQuery {
    /// How long to wait for work, in ms (default 20 s, at most 30 s).
    wait_ms: Option<u64>,
}

/// The work channel: answers as soon as a launch or a kill is queued for the agent (or with
/// nothing after `wait_ms`), so work reaches agents within milliseconds of the decision rather
/// than at their next heartbeat.
async fn work(
    State(runtime): State<Runtime>,
    Path(agent): Path<String>,
    Query(query): Query<WorkQuery>,
    caller: Caller,
) -> Result<Json<Heartbeat>, Failure> {
    caller.authorize(Action::AgentWork, None)?;
    let agent = AgentId(agent);
    check_known(&runtime, &agent, &caller)?;
    let wait = Duration::from_millis(query.wait_ms.unwrap_or(20_000)).min(MAX_WORK_WAIT);
    let work = runtime.take_work(&agent, wait).await?;
    Ok(Json(work_reply(&runtime, work)))
}

/// One status report, or several in order (an agent's queued reports at once); answers the
/// seqs of all of them, or the first failure (reports decided before it stand).
async fn status(
    State(runtime): State<Runtime>,
    Path(agent): Path<String>,
    caller: Caller,
    body: Result<Json<StatusReports>, JsonRejection>,
) -> Result<Json<Committed>, Failure> {
    caller.authorize(Action::AgentStatus, None)?;
    let Json(reports) = body?;
    let agent = AgentId(agent);
    check_bound(runtime.state().agent(&agent), &agent, &caller)?;
    runtime.note_contact(&agent);
    let commands: Vec<Command> = reports
        .into_vec()
        .into_iter()
        .map(|report| {
            Command::StatusUpdate(StatusUpdate {
                agent: agent.clone(),
                task: report.task,
                status: report.status,
                message: report.message,
            })
        })
        .collect();
    let mut first = None;
    let mut last = None;
    for outcome in runtime.submit_all(Actor::Agent(agent), commands).await {
        if let Some(range) = outcome?.committed {
            first = first.or(Some(range.first));
            last = Some(range.last);
        }
    }
    Ok(Json(Committed {
        first_seq: first,
        last_seq: last,
        message: None,
    }))
}
