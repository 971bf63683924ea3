//! An agent registers (or re-registers after a restart) with its capacity and attributes, and
//! the tasks it runs. Registering reconciles them with the journal in the same decision, so
//! that nothing placed in between can be mistaken for a missing task: tasks the scheduler put
//! on the agent that it does not run are LOST (and rescheduled), tasks it runs that the
//! scheduler does not expect there are killed, and tasks it runs that are on their way out
//! (KILLING, RESTARTING, PREEMPTING, DRAINING) are told to die again: a kill queued before the
//! agent (or the leader) restarted is not kept anywhere else.
//!
//! The agent's observer endpoint is shown to operators as a link, so only an http(s) URL (or
//! none) is accepted.

use std::collections::BTreeSet;

use aurora_events::event::Attribute;
use aurora_events::{AgentId, Capacity, Event, ScheduleStatus, TaskId};

use super::Decide;
use crate::decision::{Effect, Out, Rejection};
use crate::lifecycle::change_state;
use crate::state::ClusterState;

/// The message of a task the agent no longer has when it registers.
pub const NOT_FOUND_ON_AGENT: &str = "Task not found on the agent after it re-registered";

/// An agent registered, running `running` (reconciled in the same decision).
#[derive(Debug, Clone, PartialEq)]
pub struct RegisterAgent {
    pub agent: AgentId,
    pub host: String,
    pub capacity: Capacity,
    pub attributes: Vec<Attribute>,
    /// Where the agent serves its observer pages.
    pub endpoint: String,
    /// The tasks the agent runs now.
    pub running: BTreeSet<TaskId>,
    /// The authenticated user registering it (`None` without authentication). The first
    /// one binds the agent id; another is refused.
    pub principal: Option<String>,
}

impl Decide for RegisterAgent {
    fn decide(&self, state: &ClusterState, out: &mut Out) -> Result<(), Rejection> {
        let Self {
            agent,
            host,
            capacity,
            attributes,
            endpoint,
            running,
            principal,
        } = self;
        let bound = state.agent(agent).and_then(|a| a.principal.as_ref());
        if let (Some(bound), Some(presented)) = (bound, principal)
            && bound != presented
        {
            return Err(Rejection::AgentBoundElsewhere {
                agent: agent.clone(),
                bound: bound.clone(),
                presented: presented.clone(),
            });
        }
        // The agent that last served this host, if another one and still there (an index
        // lookup: thousands of agents register at once after a leader change).
        let serving = state
            .host(host)
            .and_then(|h| h.agent.as_ref())
            .filter(|id| *id != agent)
            .and_then(|id| Some((id, state.agent(id).filter(|a| &a.host == host)?)));
        // The host is bound too: a new id for a host whose agent is bound to another user
        // would otherwise be a way around the agent id's binding.
        if let Some(presented) = principal
            && let Some((other, bound)) =
                serving.and_then(|(id, a)| Some((id, a.principal.as_ref()?)))
            && bound != presented
        {
            return Err(Rejection::HostBoundElsewhere {
                host: host.clone(),
                agent: other.clone(),
                bound: bound.clone(),
                presented: presented.clone(),
            });
        }
        if host.is_empty() {
            return Err(Rejection::InvalidRequest(
                "an agent must name its host".into(),
            ));
        }
        check_name("agent id", &agent.0)?;
        check_name("host", host)?;
        check_endpoint(endpoint)?;
        if !(capacity.cpus.is_finite() && capacity.cpus >= 0.0) {
            return Err(Rejection::InvalidRequest(format!(
                "agent cpus must be 0 or more, not {}",
                capacity.cpus
            )));
        }
        if let Some(bad) = capacity.port_ranges.iter().find(|(low, high)| low > high) {
            return Err(Rejection::InvalidRequest(format!(
                "port range {}-{} is backwards",
                bad.0, bad.1
            )));
        }
        // Another live agent already serving this host would double-count its resources.
        // (Only the host's last agent can be live: each one registered while the one before
        // it was lost.)
        if let Some((other, _)) = serving.filter(|(_, a)| !a.lost) {
            return Err(Rejection::InvalidRequest(format!(
                "host {host} is already served by agent {other}"
            )));
        }
        // The reconciliation below follows from this registration: it is the cause of every
        // change it makes (`aurora why` on a task LOST here names the agent's return, not
        // whatever the task did last).
        let registered = out.emit(
            Event::AgentRegistered {
                agent: agent.clone(),
                host: host.clone(),
                capacity: capacity.clone(),
                attributes: attributes.clone(),
                endpoint: endpoint.clone(),
            },
            None,
        );
        if let (None, Some(principal)) = (bound, principal) {
            out.emit(
                Event::AgentBound {
                    agent: agent.clone(),
                    principal: principal.clone(),
                },
                None,
            );
        }
        let expected: Vec<_> = state.tasks_on_agent(agent).collect();
        for task in &expected {
            if !running.contains(&task.id) {
                change_state(
                    state,
                    out,
                    task,
                    ScheduleStatus::Lost,
                    Some(NOT_FOUND_ON_AGENT.to_string()),
                    Some(registered),
                );
            } else if being_killed(task.status) {
                out.effect(Effect::Kill {
                    task: task.id.clone(),
                    agent: agent.clone(),
                });
            } else if task.status == ScheduleStatus::Partitioned {
                // Its agent is back and still runs it: the partition is over.
                change_state(
                    state,
                    out,
                    task,
                    ScheduleStatus::Running,
                    Some(RECONCILED.to_string()),
                    Some(registered),
                );
            }
        }
        let expected: BTreeSet<&TaskId> = expected.iter().map(|t| &t.id).collect();
        for stranger in running.iter().filter(|t| !expected.contains(t)) {
            out.effect(Effect::Kill {
                task: stranger.clone(),
                agent: agent.clone(),
            });
        }
        Ok(())
    }
}

/// States in which the task has been told to die and the scheduler waits for it to.
fn being_killed(status: ScheduleStatus) -> bool {
    match status {
        ScheduleStatus::Killing
        | ScheduleStatus::Restarting
        | ScheduleStatus::Preempting
        | ScheduleStatus::Draining => true,
        ScheduleStatus::Init
        | ScheduleStatus::Pending
        | ScheduleStatus::Throttled
        | ScheduleStatus::Assigned
        | ScheduleStatus::Starting
        | ScheduleStatus::Running
        | ScheduleStatus::Finished
        | ScheduleStatus::Failed
        | ScheduleStatus::Killed
        | ScheduleStatus::Lost
        | ScheduleStatus::Partitioned => false,
    }
}

/// The message on a PARTITIONED task its returning agent still runs.
pub const RECONCILED: &str = "Reconciled: its agent is back and still runs it";

/// Longest agent id or host name accepted (a DNS name's limit).
const MAX_NAME_LEN: usize = 253;

/// An agent id or host name: 1 to [`MAX_NAME_LEN`] letters, digits and `.-_:` (host names,
/// IP addresses, Mesos-style ids). Both appear in URLs, pages and every event about the
/// agent, so `../x`, markup or a 100 kB id are refused here rather than carried everywhere.
fn check_name(what: &str, name: &str) -> Result<(), Rejection> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':');
    if name.is_empty() || name.len() > MAX_NAME_LEN || !name.chars().all(allowed) {
        let shown: String = name.chars().take(64).collect();
        return Err(Rejection::InvalidRequest(format!(
            "invalid {what} {shown:?}: it must be 1 to {MAX_NAME_LEN} letters, digits, '.', \
             '-', '_' or ':'"
        )));
    }
    Ok(())
}

/// Longest observer endpoint accepted.
const MAX_ENDPOINT_LEN: usize = 2048;

/// An endpoint is empty (no observer) or an `http://` / `https://` URL with a host and no
/// whitespace or control characters: it becomes a link on task pages, so anything else
/// (`javascript:…`) is refused.
pub fn check_endpoint(endpoint: &str) -> Result<(), Rejection> {
    if endpoint.is_empty() {
        return Ok(());
    }
    let bad = |why: &str| {
        Err(Rejection::InvalidRequest(format!(
            "invalid agent endpoint {endpoint:?}: {why}"
        )))
    };
    if endpoint.len() > MAX_ENDPOINT_LEN {
        return bad("longer than 2048 bytes");
    }
    if endpoint
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return bad("it must not contain spaces or control characters");
    }
    let lower = endpoint.to_ascii_lowercase();
    let Some(rest) = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"))
    else {
        return bad("it must be an http:// or https:// URL");
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.contains('@') {
        return bad("it must name a host (and no user)");
    }
    Ok(())
}
