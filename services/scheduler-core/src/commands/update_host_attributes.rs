//! An agent reports new attributes for its host (e.g. an operator relabelled its rack).

use aurora_events::event::Attribute;
use aurora_events::{AgentId, Event};

use super::Decide;
use crate::decision::{Out, Rejection};
use crate::state::ClusterState;

/// An agent reported new host attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateHostAttributes {
    pub agent: AgentId,
    pub attributes: Vec<Attribute>,
}

impl Decide for UpdateHostAttributes {
    fn decide(&self, state: &ClusterState, out: &mut Out) -> Result<(), Rejection> {
        let record = state
            .agent(&self.agent)
            .ok_or_else(|| Rejection::UnknownAgent(self.agent.clone()))?;
        let unchanged = state
            .host(&record.host)
            .is_some_and(|h| h.attributes == self.attributes);
        if !unchanged {
            out.emit(
                Event::HostAttributesChanged {
                    host: record.host.clone(),
                    agent: Some(self.agent.clone()),
                    attributes: self.attributes.clone(),
                },
                None,
            );
        }
        Ok(())
    }
}
