//! An operator unbinds an agent id from the user it is bound to (`aurora-admin agent unbind`),
//! for a host rebuilt with a new credential: the next user to register that id binds it, and
//! the host the agent served is free for another user's agent. Nothing else about the agent
//! changes; a live agent keeps running its tasks.

use aurora_events::{AgentId, Event};

use super::Decide;
use crate::decision::{Out, Rejection};
use crate::state::ClusterState;

/// Unbind `agent` from its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnbindAgent {
    pub agent: AgentId,
}

impl Decide for UnbindAgent {
    fn decide(&self, state: &ClusterState, out: &mut Out) -> Result<(), Rejection> {
        let record = state
            .agent(&self.agent)
            .ok_or_else(|| Rejection::UnknownAgent(self.agent.clone()))?;
        let Some(principal) = &record.principal else {
            return Err(Rejection::InvalidRequest(format!(
                "agent {} is not bound to any user",
                self.agent
            )));
        };
        out.emit(
            Event::AgentUnbound {
                agent: self.agent.clone(),
                principal: principal.clone(),
            },
            None,
        );
        Ok(())
    }
}
