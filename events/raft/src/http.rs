//! Raft over HTTP: the internal routes each replica serves on its one port (beside the API and
//! the UI), and the calls a replica makes to its peers' routes. Bodies are binary (see
//! `entry::encode`: JSON cost more than all the rest of replication); each answer is
//! the target's own `Result`, so a refusal by the target (a stale term, say) reaches the caller
//! as the target's verdict, and only a call that got no answer counts as unreachable.

use crate::timeline::mark;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use openraft::raft::{AppendEntriesRequest, VoteRequest};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Replica;
use crate::entry::{NodeId, TypeConfig};
use crate::network::Peer;
use crate::snapshot::{Chunk, Install};

/// Where a replica takes its peers' log entries, votes and snapshots (a snapshot arrives as
/// chunks of the journal, then an install: see [`crate::snapshot`]).
pub const APPEND: &str = "/internal/raft/append-entries";
pub const VOTE: &str = "/internal/raft/vote";
pub const SNAPSHOT_CHUNK: &str = "/internal/raft/snapshot-chunk";
pub const SNAPSHOT_INSTALL: &str = "/internal/raft/snapshot-install";
/// Whether the replica holds the cluster's journal (see [`Status`]).
pub const STATUS: &str = "/internal/raft/status";
/// The cluster a Raft RPC is meant for; a replica refuses RPCs for another cluster, so that a
/// replica started with another cluster's peers can neither vote here nor take entries.
pub const CLUSTER_HEADER: &str = "x-aurora-cluster";
/// The replication secret a Raft RPC carries when the replicas share one (see
/// [`routes_with_secret`]): with authentication on, only a peer that knows it may vote or send
/// entries, so nobody who merely reaches the port can rewrite the journal.
pub const SECRET_HEADER: &str = "x-aurora-replication-secret";

/// Largest RPC body accepted: a batch of entries can carry thousands of events (the API's own
/// limits apply to requests from users and agents, not here).
const MAX_RPC_BODY: usize = 256 * 1024 * 1024;

/// The routes that let peers reach `replica`, a replica of `cluster`; merge them into the
/// replica's HTTP router.
pub fn routes(replica: &Replica, cluster: &str) -> Router {
    routes_with_secret(replica, cluster, None)
}

/// Like [`routes`], refusing (401) every RPC that does not carry `secret` in
/// [`SECRET_HEADER`] when one is given.
pub fn routes_with_secret(replica: &Replica, cluster: &str, secret: Option<&str>) -> Router {
    let cluster = cluster.to_string();
    let secret: Option<std::sync::Arc<[u8]>> = secret.map(|s| s.as_bytes().into());
    Router::new()
        .route(APPEND, post(append_entries))
        .route(VOTE, post(vote))
        .route(SNAPSHOT_CHUNK, post(snapshot_chunk))
        .route(SNAPSHOT_INSTALL, post(install_snapshot))
        .route(STATUS, axum::routing::get(status))
        .layer(DefaultBodyLimit::max(MAX_RPC_BODY))
        .layer(axum::middleware::from_fn(move |request, next| {
            same_cluster(cluster.clone(), request, next)
        }))
        .layer(axum::middleware::from_fn(move |request, next| {
            knows_secret(secret.clone(), request, next)
        }))
        .with_state(replica.peer())
}

/// Refuses (401) an RPC without the replication secret, when the replicas share one.
async fn knows_secret(
    secret: Option<std::sync::Arc<[u8]>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(secret) = secret {
        use subtle::ConstantTimeEq;
        let presented = request
            .headers()
            .get(SECRET_HEADER)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if !bool::from(presented.ct_eq(&secret)) {
            tracing::warn!(
                path = %request.uri().path(),
                "refused a Raft RPC without the replication secret"
            );
            let message = "this replica takes Raft RPCs only from peers that present the \
                           cluster's replication secret (--replication-secret)";
            return (StatusCode::UNAUTHORIZED, message).into_response();
        }
    }
    next.run(request).await
}

/// Refuses (409) an RPC that names another cluster or none.
async fn same_cluster(cluster: String, request: Request, next: Next) -> Response {
    let theirs = request
        .headers()
        .get(CLUSTER_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if theirs != cluster {
        tracing::warn!(ours = %cluster, theirs, "refused a Raft RPC from another cluster");
        let message = format!(
            "this replica belongs to cluster {cluster:?}; the caller's is {theirs:?}: check \
             --cluster and --peers"
        );
        return (StatusCode::CONFLICT, message).into_response();
    }
    next.run(request).await
}

/// The media type of Raft RPC bodies (see [`crate::entry::encode`]).
const RPC_MEDIA_TYPE: &str = "application/x-aurora-raft";

/// Answers an RPC body that does not decode: 400, with why.
fn undecodable(e: String) -> Response {
    let message = format!("the Raft RPC does not decode: {e}");
    (StatusCode::BAD_REQUEST, message).into_response()
}

/// Encodes the target's verdict as the answer.
fn answer<T: Serialize>(verdict: &T) -> Response {
    match crate::entry::encode(verdict) {
        Ok(bytes) => ([(CONTENT_TYPE, RPC_MEDIA_TYPE)], bytes).into_response(),
        Err(e) => {
            let message = format!("the answer does not encode: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, message).into_response()
        }
    }
}

async fn append_entries(State(peer): State<Peer>, body: Bytes) -> Response {
    let rpc = match crate::entry::decode::<AppendEntriesRequest<TypeConfig>>(&body) {
        Ok(rpc) => rpc,
        Err(e) => return undecodable(e),
    };
    // (A mark's fields are evaluated only when something records it.)
    mark!(
        peer.raft.metrics().borrow().id,
        "append-entries RPC received"
    );
    match crate::entry::check_events(&rpc.entries) {
        Ok(()) => {
            peer.recovery.heard_from_leader(rpc.leader_commit);
            let handled = peer.raft.append_entries(rpc).await;
            mark!(
                peer.raft.metrics().borrow().id,
                "append-entries RPC handled"
            );
            answer(&handled)
        }
        Err(e) => {
            tracing::warn!(error = %e, "refused entries whose events do not decode");
            undecodable(e)
        }
    }
}

/// What a replica says of itself to a peer that starts: whether the cluster has a history
/// (see `Router::holder_of_history`).
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct Status {
    /// This replica holds the cluster's journal (its initialisation was applied here).
    pub has_journal: bool,
}

async fn status(State(peer): State<Peer>) -> Response {
    answer(&Status {
        has_journal: peer.state.journal().is_some(),
    })
}

async fn vote(State(peer): State<Peer>, body: Bytes) -> Response {
    match crate::entry::decode::<VoteRequest<NodeId>>(&body) {
        Ok(rpc) => match peer.vote(rpc).await {
            Ok(verdict) => answer(&verdict),
            // No verdict at all: the candidate counts it as an unreachable voter.
            Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why).into_response(),
        },
        Err(e) => undecodable(e),
    }
}

async fn snapshot_chunk(State(peer): State<Peer>, body: Bytes) -> Response {
    match crate::entry::decode::<Chunk>(&body) {
        Ok(chunk) => answer(&crate::snapshot::take_chunk(&peer.raft, &peer.state, &chunk).await),
        Err(e) => undecodable(e),
    }
}

async fn install_snapshot(State(peer): State<Peer>, body: Bytes) -> Response {
    match crate::entry::decode::<Install>(&body) {
        Ok(install) => answer(&crate::snapshot::install(&peer.raft, &peer.state, install).await),
        Err(e) => undecodable(e),
    }
}

/// What a peer answered `GET` [`STATUS`].
pub(crate) enum PeerAnswer {
    Status(Status),
    /// It refused this replica (409: another cluster; 401: another replication secret),
    /// with the reason it gave.
    Refused(String),
    /// No usable answer (down, unreachable, something else than a replica).
    Unreachable(String),
}

/// Asks the replica at `base` for its [`Status`].
pub(crate) async fn ask_status(client: &reqwest::Client, base: &str) -> PeerAnswer {
    let url = format!("{base}{STATUS}");
    let response = match client.get(&url).send().await {
        Ok(response) => response,
        Err(e) => return PeerAnswer::Unreachable(format!("{url}: {e}")),
    };
    let code = response.status();
    if code == StatusCode::CONFLICT || code == StatusCode::UNAUTHORIZED {
        let why = response.text().await.unwrap_or_default();
        return PeerAnswer::Refused(format!("{base} answered {code}: {}", why.trim()));
    }
    if !code.is_success() {
        return PeerAnswer::Unreachable(format!("{url} answered {code}"));
    }
    match response.bytes().await {
        Ok(bytes) => match crate::entry::decode(&bytes) {
            Ok(status) => PeerAnswer::Status(status),
            Err(e) => PeerAnswer::Unreachable(format!("{url}: unreadable answer: {e}")),
        },
        Err(e) => PeerAnswer::Unreachable(format!("{url}: answer cut short: {e}")),
    }
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
    let body =
        crate::entry::encode(rpc).map_err(|e| format!("{url}: the RPC does not encode: {e}"))?;
    let response = client
        .post(&url)
        .header(CONTENT_TYPE, RPC_MEDIA_TYPE)
        .body(body)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = response.status();
    if !status.is_success() {
        // The target says why (another cluster, no replication secret): pass it on.
        let why = response.text().await.unwrap_or_default();
        let why: String = why.chars().take(300).collect();
        return Err(format!("{url} answered {status}: {why}"));
    }
    let bytes = response
        .bytes()
        .await
        .map_err(|e| format!("{url}: answer cut short: {e}"))?;
    crate::entry::decode(&bytes).map_err(|e| format!("{url}: unreadable answer: {e}"))
}
