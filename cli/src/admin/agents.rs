//! `aurora-admin agent unbind CLUSTER AGENT`: under authentication an agent id, and the host it
//! serves, are bound to the user whose credential first registered it; after a host is rebuilt
//! with a new credential, an operator unbinds the old id so that the new agent may register.

use aurora_api::Committed;
use clap::Subcommand;
use serde_json::json;

use crate::context::Context;
use crate::exit::{CliError, CliResult};

#[derive(Debug, Subcommand)]
pub(crate) enum Action {
    /// Unbind AGENT (an agent id, as the host page shows it) from its user: the next user to
    /// register it, or another agent on its host, binds it again.
    Unbind { cluster: String, agent: String },
}

pub(crate) fn run(ctx: &Context, action: Action) -> CliResult {
    match action {
        Action::Unbind { cluster, agent } => {
            // Agent ids are letters, digits and a little punctuation; anything else would
            // change the request's path.
            if agent.is_empty()
                || !agent
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
            {
                return Err(CliError::invalid_parameter(format!(
                    "{agent:?} is not an agent id (letters, digits, '-', '_', '.', ':')"
                )));
            }
            let path = format!("/api/v1/agents/{agent}/unbind");
            let _: Committed = ctx.client(&cluster)?.post(&path, &json!({}))?;
            println!("Agent {agent} unbound");
            Ok(())
        }
    }
}
