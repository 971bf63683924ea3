//! An agent reports new attributes for its host (e.g. an operator relabelled its rack).

use aurora_events::event::Attribute;
use aurora_events::{AgentId, Event};

use crate::decision::{Out, Rejection};
use crate::state::ClusterState;

pub(crate) fn decide(
    state: &ClusterState,
    out: &mut Out,
    agent: &AgentId,
    attributes: &[Attribute],
) -> Result<(), Rejection> {
    let record = state
        .agent(agent)
        .ok_or_else(|| Rejection::UnknownAgent(agent.clone()))?;
    let unchanged = state
        .host(&record.host)
        .is_some_and(|h| h.attributes == attributes);
    if !unchanged {
        out.emit(
            Event::HostAttributesChanged {
                host: record.host.clone(),
                agent: Some(agent.clone()),
                attributes: attributes.to_vec(),
            },
            None,
        );
    }
    Ok(())
}
