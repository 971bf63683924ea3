//! An agent registers (or re-registers after a restart) with its capacity and attributes.

use aurora_events::event::Attribute;
use aurora_events::{AgentId, Capacity, Event};

use crate::decision::{Out, Rejection};
use crate::state::ClusterState;

pub(crate) fn decide(
    state: &ClusterState,
    out: &mut Out,
    agent: &AgentId,
    host: &str,
    capacity: &Capacity,
    attributes: &[Attribute],
    endpoint: &str,
) -> Result<(), Rejection> {
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
        .find(|(id, a)| a.host == host && !a.lost && *id != agent)
    {
        return Err(Rejection::InvalidRequest(format!(
            "host {host} is already served by agent {other}"
        )));
    }
    out.emit(
        Event::AgentRegistered {
            agent: agent.clone(),
            host: host.to_string(),
            capacity: capacity.clone(),
            attributes: attributes.to_vec(),
            endpoint: endpoint.to_string(),
        },
        None,
    );
    Ok(())
}
