//! An agent registers (or re-registers after a restart) with its capacity and attributes, and
//! the tasks it runs. Registering reconciles them with the journal in the same decision, so
//! that nothing placed in between can be mistaken for a missing task: tasks the scheduler put
//! on the agent that it does not run are LOST (and rescheduled), and tasks it runs that the
//! scheduler does not expect there are killed.

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
        } = self;
        if host.is_empty() {
            return Err(Rejection::InvalidRequest(
                "an agent must name its host".into(),
            ));
        }
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
        if let Some((other, _)) = state
            .agents()
            .iter()
            .find(|(id, a)| &a.host == host && !a.lost && *id != agent)
        {
            return Err(Rejection::InvalidRequest(format!(
                "host {host} is already served by agent {other}"
            )));
        }
        out.emit(
            Event::AgentRegistered {
                agent: agent.clone(),
                host: host.clone(),
                capacity: capacity.clone(),
                attributes: attributes.clone(),
                endpoint: endpoint.clone(),
            },
            None,
        );
        let expected: Vec<_> = state.tasks_on_agent(agent).collect();
        for task in &expected {
            if !running.contains(&task.id) {
                change_state(
                    state,
                    out,
                    task,
                    ScheduleStatus::Lost,
                    Some(NOT_FOUND_ON_AGENT.to_string()),
                    Some(task.last_event),
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
