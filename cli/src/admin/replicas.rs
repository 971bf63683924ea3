//! `aurora-admin replicas list|add|remove CLUSTER ...`: the scheduler replicas of a replicated
//! cluster (`aurora-scheduler --replica-id N --peers ...`). Any replica answers; changes are
//! carried out by the leader, which a follower forwards them to.

use clap::Subcommand;
use serde::Deserialize;
use serde_json::json;

use crate::context::Context;
use crate::exit::CliResult;

#[derive(Debug, Subcommand)]
pub(crate) enum Action {
    /// Every replica: id, URL, whether it votes, leads, and (seen from the leader) how many
    /// log entries it is behind.
    List { cluster: String },
    /// Add replica ID, already started with `--replica-id ID --peers ...` and reached at URL:
    /// it receives the whole journal, then votes.
    Add {
        cluster: String,
        id: u64,
        url: String,
    },
    /// Remove replica ID from the group (stop its process afterwards).
    Remove { cluster: String, id: u64 },
}

#[derive(Debug, Deserialize)]
struct Group {
    cluster: String,
    this: u64,
    leader: Option<u64>,
    /// False on a replica removed from the group (schedulers before this field: members).
    #[serde(default = "member_by_default")]
    member: bool,
    term: u64,
    commit_index: u64,
    journal_last_seq: u64,
    replicas: Vec<Replica>,
}

#[derive(Debug, Deserialize)]
struct Replica {
    id: u64,
    url: Option<String>,
    voter: bool,
    leader: bool,
    lag: Option<u64>,
}

fn member_by_default() -> bool {
    true
}

fn print(group: &Group) {
    println!(
        "cluster {} (term {}, commit index {}, journal seq {}, answered by replica {}{}{})",
        group.cluster,
        group.term,
        group.commit_index,
        group.journal_last_seq,
        group.this,
        if group.member {
            ""
        } else {
            ", which was removed from the cluster: what follows is as of its removal"
        },
        match group.leader {
            Some(leader) => format!(", leader {leader}"),
            None => ", no leader".into(),
        }
    );
    println!("{:<4} {:<32} {:<8} {:<7} LAG", "ID", "URL", "ROLE", "VOTES");
    for r in &group.replicas {
        let role = if r.leader { "leader" } else { "follower" };
        let lag = r.lag.map_or_else(|| "-".to_string(), |l| l.to_string());
        println!(
            "{:<4} {:<32} {:<8} {:<7} {lag}",
            r.id,
            r.url.as_deref().unwrap_or("-"),
            role,
            if r.voter { "yes" } else { "no" }
        );
    }
}

pub(crate) fn run(ctx: &Context, action: Action) -> CliResult {
    let group: Group = match action {
        Action::List { cluster } => ctx.client(&cluster)?.get("/api/v1/replicas")?,
        Action::Add { cluster, id, url } => {
            let group = ctx
                .client(&cluster)?
                .post("/api/v1/replicas", &json!({ "id": id, "url": url }))?;
            println!("Added replica {id} at {url}");
            group
        }
        Action::Remove { cluster, id } => {
            let group = ctx
                .client(&cluster)?
                .post(&format!("/api/v1/replicas/{id}/remove"), &json!({}))?;
            println!("Removed replica {id}");
            group
        }
    };
    print(&group);
    Ok(())
}
