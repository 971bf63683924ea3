//! An agent registers (or re-registers after a restart) with its capacity and attributes.

use aurora_events::event::Attribute;
use aurora_events::{AgentId, Capacity, Event};

use super::Decide;
use crate::decision::{Out, Rejection};
use crate::state::ClusterState;

/// An agent registered.
#[derive(Debug, Clone, PartialEq)]
pub struct RegisterAgent {
    pub agent: AgentId,
    pub host: String,
    pub capacity: Capacity,
    pub attributes: Vec<Attribute>,
    /// Where the agent serves its observer pages.
    pub endpoint: String,
}

impl Decide for RegisterAgent {
    fn decide(&self, state: &ClusterState, out: &mut Out) -> Result<(), Rejection> {
        let Self {
            agent,
            host,
            capacity,
            attributes,
            endpoint,
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
        Ok(())
    }
}
