//! The replicas' network, through a [`Router`] that tests can cut (isolate a replica, take it
//! away). In process ([`Router::new`]), a replica's Raft RPCs are direct calls on the target's
//! `Raft` handle; over HTTP ([`Router::http`]), they are POSTs to the target's internal path
//! (see [`crate::http`]), which each replica's one port serves beside the API.

use crate::timeline::mark;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::error::{Fatal, RPCError, RaftError, RemoteError, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::storage::Snapshot;
use openraft::{BasicNode, Vote};

use crate::entry::{NodeId, Raft, TypeConfig};
use crate::recovery::Recovery;
use crate::snapshot::{self, Chunk, ChunkAnswer, Install};
use crate::state_machine::StateMachine;
use crate::synced::Synced;

/// A replica as its peers reach it: its Raft, and its state machine (which takes the journal
/// a snapshot streams, see [`crate::snapshot`]).
#[derive(Clone)]
pub(crate) struct Peer {
    pub(crate) raft: Raft,
    pub(crate) state: StateMachine,
    /// While it recovers its history it grants no vote (see [`crate::recovery`]).
    pub(crate) recovery: Recovery,
}

impl Peer {
    /// The target's answer to a vote request, or `Err` (why) when it is recovering and
    /// votes for nobody: the candidate counts that as no answer, not as a refusal.
    pub(crate) async fn vote(
        &self,
        rpc: VoteRequest<NodeId>,
    ) -> Result<Result<VoteResponse<NodeId>, RaftError<NodeId>>, String> {
        if self.recovery.recovering() {
            let id = self.raft.metrics().borrow().id;
            return Err(format!(
                "replica {id} is recovering its history (its data directory was created \
                 without --init) and votes for nobody until it has caught up"
            ));
        }
        Ok(self.raft.vote(rpc).await)
    }
}

#[derive(Default)]
struct Routes {
    replicas: BTreeMap<NodeId, Peer>,
    /// Over HTTP: each replica's base URL (`http://host:port`). Empty in process.
    peers: BTreeMap<NodeId, String>,
    /// Set for a network over HTTP, where replicas are reached at their peers' URLs.
    http: Option<reqwest::Client>,
    /// Replicas cut off from every other: nothing reaches them and nothing leaves them.
    isolated: BTreeSet<NodeId>,
}

impl std::fmt::Debug for Routes {
    // `Raft` is not `Debug`: show who is reachable.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routes")
            .field("replicas", &self.replicas.keys().collect::<Vec<_>>())
            .field("peers", &self.peers)
            .field("isolated", &self.isolated)
            .finish()
    }
}

/// Connects the replicas of one in-process cluster. Cheap to clone; clones share the routes.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: Arc<Mutex<Routes>>,
}

impl Router {
    pub fn new() -> Self {
        Self::default()
    }

    /// A network over HTTP for the replicas of `cluster`: replica `id` is reached at
    /// `peers[id]` (its base URL). Each call is bounded by `timeout`, an unanswered one
    /// counting as unreachable. Every call names the cluster, and a replica of another
    /// cluster refuses it (see [`crate::http::routes`]).
    pub fn http(
        cluster: &str,
        peers: BTreeMap<NodeId, String>,
        timeout: std::time::Duration,
    ) -> Self {
        Self::http_with_secret(cluster, peers, timeout, None)
    }

    /// Like [`Router::http`], presenting the replicas' shared `secret` on every call (see
    /// [`crate::http::routes_with_secret`]).
    pub fn http_with_secret(
        cluster: &str,
        peers: BTreeMap<NodeId, String>,
        timeout: std::time::Duration,
        secret: Option<&str>,
    ) -> Self {
        Self::https(
            cluster,
            peers,
            timeout,
            secret,
            &aurora_net::ClientTls::default(),
        )
    }

    /// Like [`Router::http_with_secret`], calling `https://` peers with `tls` (the CA that
    /// signed their certificates, and this replica's own certificate for peers that require
    /// one).
    pub fn https(
        cluster: &str,
        peers: BTreeMap<NodeId, String>,
        timeout: std::time::Duration,
        secret: Option<&str>,
        tls: &aurora_net::ClientTls,
    ) -> Self {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Ok(name) = reqwest::header::HeaderValue::from_str(cluster) {
            headers.insert(crate::http::CLUSTER_HEADER, name);
        }
        if let Some(Ok(mut value)) = secret.map(reqwest::header::HeaderValue::from_str) {
            value.set_sensitive(true);
            headers.insert(crate::http::SECRET_HEADER, value);
        }
        let client = aurora_net::client(tls, |builder| {
            builder.timeout(timeout).default_headers(headers.clone())
        });
        let router = Self::default();
        {
            let mut routes = router.lock();
            routes.peers = peers
                .into_iter()
                .map(|(id, url)| (id, url.trim_end_matches('/').to_string()))
                .collect();
            routes.http = Some(client);
        }
        router
    }

    /// Over HTTP: the base URL replica `id` is reached at, if known.
    pub fn peer(&self, id: NodeId) -> Option<String> {
        self.lock().peers.get(&id).cloned()
    }

    /// Over HTTP: where replica `id` is reached from now on (a replica added or moved).
    pub fn set_peer(&self, id: NodeId, url: &str) {
        self.lock()
            .peers
            .insert(id, url.trim_end_matches('/').to_string());
    }

    fn lock(&self) -> MutexGuard<'_, Routes> {
        // Every change is one insert or remove: a poisoned map is still whole.
        self.routes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn register(&self, id: NodeId, raft: Raft, state: StateMachine, recovery: Recovery) {
        self.lock().replicas.insert(
            id,
            Peer {
                raft,
                state,
                recovery,
            },
        );
    }

    /// Over HTTP: asks every replica other than `id` (at once, each within the network's
    /// timeout) what it holds. A replica started with `--init` looks at the survey's
    /// [`PeerSurvey::holder`] first: a cluster with a history is one it joins (and votes in
    /// once caught up), not one it founds; and every replica looks at its
    /// [`PeerSurvey::refusals`]: peers of another cluster name or secret refuse every RPC, which
    /// openraft would otherwise report only as unreachable nodes in its logs. In process, an
    /// empty survey.
    pub async fn survey_peers(&self, id: NodeId) -> PeerSurvey {
        let (client, peers) = {
            let routes = self.lock();
            match routes.http.clone() {
                Some(client) => (client, routes.peers.clone()),
                None => return PeerSurvey::default(),
            }
        };
        let asks = peers
            .into_iter()
            .filter(|(peer, _)| *peer != id)
            .map(|(peer, url)| {
                let client = client.clone();
                async move { (peer, crate::http::ask_status(&client, &url).await) }
            });
        let mut survey = PeerSurvey::default();
        for (peer, answer) in futures::future::join_all(asks).await {
            match answer {
                crate::http::PeerAnswer::Status(status) => {
                    survey.answered.push(peer);
                    if status.has_journal && survey.holder.is_none() {
                        survey.holder = Some(peer);
                    }
                }
                crate::http::PeerAnswer::Refused(why) => survey.refusals.push((peer, why)),
                crate::http::PeerAnswer::Unreachable(why) => {
                    tracing::debug!(replica = id, peer, %why, "no status from a peer");
                }
            }
        }
        survey
    }

    /// Takes replica `id` off the network, as if its process had gone.
    pub fn remove(&self, id: NodeId) {
        self.lock().replicas.remove(&id);
    }

    /// Cuts replica `id` off from all the others (a network partition around it).
    pub fn isolate(&self, id: NodeId) {
        self.lock().isolated.insert(id);
    }

    /// Reconnects an isolated replica.
    pub fn heal(&self, id: NodeId) {
        self.lock().isolated.remove(&id);
    }

    fn route(&self, from: NodeId, to: NodeId) -> Result<Target, Unreachable> {
        let routes = self.lock();
        if routes.isolated.contains(&from) || routes.isolated.contains(&to) {
            return Err(unreachable(from, to, "partitioned"));
        }
        if let Some(client) = &routes.http {
            // A replica that stopped in this process is gone, whatever its URL would answer.
            if !routes.replicas.contains_key(&from) {
                return Err(unreachable(from, to, "stopped"));
            }
            return routes
                .peers
                .get(&to)
                .map(|url| Target::Remote {
                    client: client.clone(),
                    url: url.clone(),
                })
                .ok_or_else(|| unreachable(from, to, "no URL known"));
        }
        routes
            .replicas
            .get(&to)
            .cloned()
            .map(Target::Local)
            .ok_or_else(|| unreachable(from, to, "not running"))
    }

    /// The connection factory for replica `from`.
    /// `synced`: how far `from`'s log is synced on disk (`None` in memory).
    pub(crate) fn connector(&self, from: NodeId, synced: Option<Synced>) -> Connector {
        Connector {
            from,
            router: self.clone(),
            synced,
        }
    }
}

/// Whether two replica URLs lead to the same place: the same scheme, host (names compare
/// without case) and port (`http://h` is `http://h:80`), and path.
pub fn same_url(a: &str, b: &str) -> bool {
    let place = |url: &str| {
        reqwest::Url::parse(url.trim()).ok().map(|u| {
            (
                u.scheme().to_string(),
                u.host_str().map(str::to_ascii_lowercase),
                u.port_or_known_default(),
                u.path().trim_end_matches('/').to_string(),
            )
        })
    };
    match (place(a), place(b)) {
        (Some(a), Some(b)) => a == b,
        _ => a.trim().trim_end_matches('/') == b.trim().trim_end_matches('/'),
    }
}

/// Where a replica's RPCs go.
pub(crate) enum Target {
    /// A replica in this process.
    Local(Peer),
    /// A replica at a base URL.
    Remote {
        client: reqwest::Client,
        url: String,
    },
}

pub(crate) fn unreachable(from: NodeId, to: NodeId, why: &str) -> Unreachable {
    let e = std::io::Error::new(
        std::io::ErrorKind::NotConnected,
        format!("replica {to} unreachable from {from}: {why}"),
    );
    Unreachable::new(&e)
}

/// What a snapshot call got: `Err` (with why) when no answer came back, else the target's
/// own verdict (`Err` with why when it refused).
pub(crate) type Answered<T> = Result<Result<T, String>, String>;

impl Target {
    pub(crate) async fn snapshot_chunk(&self, chunk: &Chunk) -> Answered<ChunkAnswer> {
        match self {
            Target::Local(peer) => Ok(snapshot::take_chunk(&peer.raft, &peer.state, chunk).await),
            Target::Remote { client, url } => {
                crate::http::call(client, url, crate::http::SNAPSHOT_CHUNK, chunk).await
            }
        }
    }

    pub(crate) async fn install_snapshot(
        &self,
        install: &Install,
    ) -> Answered<SnapshotResponse<NodeId>> {
        match self {
            Target::Local(peer) => {
                Ok(snapshot::install(&peer.raft, &peer.state, install.clone()).await)
            }
            Target::Remote { client, url } => {
                crate::http::call(client, url, crate::http::SNAPSHOT_INSTALL, install).await
            }
        }
    }
}

/// Opens [`Connection`]s from one replica.
#[derive(Debug, Clone)]
pub(crate) struct Connector {
    from: NodeId,
    router: Router,
    synced: Option<Synced>,
}

impl RaftNetworkFactory<TypeConfig> for Connector {
    type Network = Connection;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Connection {
        // A replica added to the group after this one started is known by the URL its
        // membership entry carries.
        if !node.addr.is_empty() && self.router.peer(target).is_none() {
            self.router.set_peer(target, &node.addr);
        }
        // Routes are looked up per call, so a replica that comes back is reached again.
        Connection {
            from: self.from,
            to: target,
            router: self.router.clone(),
            synced: self.synced.clone(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Connection {
    from: NodeId,
    to: NodeId,
    router: Router,
    /// How far the calling replica's log is synced (see [`crate::synced`]).
    synced: Option<Synced>,
}

type RpcError<E = openraft::error::Infallible> = RPCError<NodeId, BasicNode, RaftError<NodeId, E>>;

impl Connection {
    pub(crate) fn target(&self) -> Result<Target, Unreachable> {
        self.router.route(self.from, self.to)
    }

    /// The replica calling, and the one called.
    pub(crate) fn ends(&self) -> (NodeId, NodeId) {
        (self.from, self.to)
    }

    /// A call that got no answer is an unreachable replica (retried with backoff).
    #[allow(clippy::result_large_err)]
    fn remote<T, E: std::error::Error>(
        &self,
        answer: Result<Result<T, RaftError<NodeId, E>>, String>,
    ) -> Result<Result<T, RaftError<NodeId, E>>, RpcError<E>> {
        answer.map_err(|why| RPCError::Unreachable(unreachable(self.from, self.to, &why)))
    }

    /// A stopped replica is as good as gone: unreachable (retried with backoff), not a remote
    /// verdict. The error type is the one `RaftNetwork` returns, large or not.
    #[allow(clippy::result_large_err)]
    fn answer<T, E: std::error::Error>(
        &self,
        result: Result<T, RaftError<NodeId, E>>,
    ) -> Result<T, RpcError<E>> {
        match result {
            Ok(answer) => Ok(answer),
            Err(RaftError::Fatal(fatal)) => Err(RPCError::Unreachable(Unreachable::new(&fatal))),
            Err(e) => Err(RPCError::RemoteError(RemoteError::new(self.to, e))),
        }
    }
}

impl RaftNetwork<TypeConfig> for Connection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcError> {
        // A follower learns a commit index only once the leader's own copy of the entries is
        // on disk: until then openraft's quorum counted a copy that a crash could take.
        if let (Some(synced), Some(committed)) = (&self.synced, rpc.leader_commit) {
            synced
                .reach(committed)
                .await
                .map_err(|why| RPCError::Unreachable(unreachable(self.from, self.to, &why)))?;
        }
        match self.target().map_err(RPCError::Unreachable)? {
            Target::Local(peer) => {
                peer.recovery.heard_from_leader(rpc.leader_commit);
                self.answer(peer.raft.append_entries(rpc).await)
            }
            Target::Remote { client, url } => {
                if rpc.entries.is_empty() {
                    mark!(self.to, "append-entries RPC sent (no entries)");
                } else {
                    mark!(self.to, "append-entries RPC sent (entries)");
                }
                let answer = crate::http::call(&client, &url, crate::http::APPEND, &rpc).await;
                mark!(self.to, "append-entries RPC answered");
                self.answer(self.remote(answer)?)
            }
        }
    }

    /// Streams the journal the target lacks, then has it install the snapshot (see
    /// [`crate::snapshot`]).
    async fn full_snapshot(
        &mut self,
        vote: Vote<NodeId>,
        snapshot: Snapshot<TypeConfig>,
        cancel: impl Future<Output = openraft::error::ReplicationClosed> + Send + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<NodeId>, StreamingError<TypeConfig, Fatal<NodeId>>> {
        snapshot::send(self, vote, snapshot, cancel).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RpcError> {
        match self.target().map_err(RPCError::Unreachable)? {
            Target::Local(peer) => self.answer(self.remote(peer.vote(rpc).await)?),
            Target::Remote { client, url } => {
                let answer = crate::http::call(&client, &url, crate::http::VOTE, &rpc).await;
                self.answer(self.remote(answer)?)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::same_url;

    #[test]
    fn urls_of_one_place_are_the_same_whatever_their_spelling() {
        assert!(same_url("http://H1:8081", "http://h1:8081/"));
        assert!(same_url("http://h1", "http://h1:80"));
        assert!(same_url("https://h1/", "https://h1:443"));
        assert!(!same_url("http://h1:8081", "https://h1:8081"));
        assert!(!same_url("http://h1:8081", "http://h1:8082"));
        assert!(!same_url("http://h1:8081", "http://h2:8081"));
    }
}

/// What the other replicas answered a starting replica (see [`Router::survey_peers`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerSurvey {
    /// A replica that holds the cluster's journal, if one answered that it does.
    pub holder: Option<NodeId>,
    /// The replicas that answered with their status.
    pub answered: Vec<NodeId>,
    /// The replicas that refused to talk to this one (another cluster name, or another
    /// replication secret), each with the reason it gave.
    pub refusals: Vec<(NodeId, String)>,
}
