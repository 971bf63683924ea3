//! Raft over HTTP: the internal routes each replica serves on its one port (beside the API and
//! the UI), and the calls a replica makes to its peers' routes. Bodies are JSON; each answer is
//! the target's own `Result`, so a refusal by the target (a stale term, say) reaches the caller
//! as the target's verdict, and only a call that got no answer counts as unreachable.

use axum::extract::{DefaultBodyLimit, State};
use axum::routing::post;
use axum::{Json, Router};
use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::entry::{NodeId, Raft, TypeConfig};

/// Where a replica takes its peers' log entries, votes and snapshots.
pub const APPEND: &str = "/internal/raft/append-entries";
pub const VOTE: &str = "/internal/raft/vote";
pub const SNAPSHOT: &str = "/internal/raft/install-snapshot";

/// Largest RPC body accepted: a batch of entries can carry thousands of events (the API's own
/// limits apply to requests from users and agents, not here).
const MAX_RPC_BODY: usize = 256 * 1024 * 1024;

/// The routes that let peers reach `raft`; merge them into the replica's HTTP router.
pub fn routes(raft: Raft) -> Router {
    Router::new()
        .route(APPEND, post(append_entries))
        .route(VOTE, post(vote))
        .route(SNAPSHOT, post(install_snapshot))
        .layer(DefaultBodyLimit::max(MAX_RPC_BODY))
        .with_state(raft)
}

async fn append_entries(
    State(raft): State<Raft>,
    Json(rpc): Json<AppendEntriesRequest<TypeConfig>>,
) -> Json<Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>> {
    Json(raft.append_entries(rpc).await)
}

async fn vote(
    State(raft): State<Raft>,
    Json(rpc): Json<VoteRequest<NodeId>>,
) -> Json<Result<VoteResponse<NodeId>, RaftError<NodeId>>> {
    Json(raft.vote(rpc).await)
}

async fn install_snapshot(
    State(raft): State<Raft>,
    Json(rpc): Json<InstallSnapshotRequest<TypeConfig>>,
) -> Json<Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>> {
    Json(raft.install_snapshot(rpc).await)
}

/// POSTs `rpc` to `base` + `path` and decodes the target's answer; `Err` (with why) when no
/// answer came back: the target is down, unreachable, or answered something else than an RPC
/// result (a proxy's error page, a replica of another version).
pub(crate) async fn call<Rpc: Serialize, Answer: DeserializeOwned>(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    rpc: &Rpc,
) -> Result<Answer, String> {
    let url = format!("{base}{path}");
    let response = client
        .post(&url)
        .json(rpc)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("{url} answered {status}"));
    }
    response
        .json::<Answer>()
        .await
        .map_err(|e| format!("{url}: unreadable answer: {e}"))
}
