//! An in-process network: each replica's Raft RPCs are direct calls on the target's `Raft`
//! handle, through a [`Router`] that tests can cut (isolate a replica, take it away). The
//! HTTP transport, one internal path on each replica's port, comes with the multi-process step.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::BasicNode;
use openraft::error::{InstallSnapshotError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

use crate::entry::{NodeId, Raft, TypeConfig};

#[derive(Default)]
struct Routes {
    replicas: BTreeMap<NodeId, Raft>,
    /// Replicas cut off from every other: nothing reaches them and nothing leaves them.
    isolated: BTreeSet<NodeId>,
}

impl std::fmt::Debug for Routes {
    // `Raft` is not `Debug`: show who is reachable.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routes")
            .field("replicas", &self.replicas.keys().collect::<Vec<_>>())
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

    fn lock(&self) -> MutexGuard<'_, Routes> {
        // Every change is one insert or remove: a poisoned map is still whole.
        self.routes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn register(&self, id: NodeId, raft: Raft) {
        self.lock().replicas.insert(id, raft);
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

    fn route(&self, from: NodeId, to: NodeId) -> Result<Raft, Unreachable> {
        let routes = self.lock();
        if routes.isolated.contains(&from) || routes.isolated.contains(&to) {
            return Err(unreachable(from, to, "partitioned"));
        }
        routes
            .replicas
            .get(&to)
            .cloned()
            .ok_or_else(|| unreachable(from, to, "not running"))
    }

    /// The connection factory for replica `from`.
    pub(crate) fn connector(&self, from: NodeId) -> Connector {
        Connector {
            from,
            router: self.clone(),
        }
    }
}

fn unreachable(from: NodeId, to: NodeId, why: &str) -> Unreachable {
    let e = std::io::Error::new(
        std::io::ErrorKind::NotConnected,
        format!("replica {to} unreachable from {from}: {why}"),
    );
    Unreachable::new(&e)
}

/// Opens [`Connection`]s from one replica.
#[derive(Debug, Clone)]
pub(crate) struct Connector {
    from: NodeId,
    router: Router,
}

impl RaftNetworkFactory<TypeConfig> for Connector {
    type Network = Connection;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> Connection {
        // Routes are looked up per call, so a replica that comes back is reached again.
        Connection {
            from: self.from,
            to: target,
            router: self.router.clone(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Connection {
    from: NodeId,
    to: NodeId,
    router: Router,
}

type RpcError<E = openraft::error::Infallible> = RPCError<NodeId, BasicNode, RaftError<NodeId, E>>;

impl Connection {
    fn target(&self) -> Result<Raft, Unreachable> {
        self.router.route(self.from, self.to)
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
        let target = self.target().map_err(RPCError::Unreachable)?;
        self.answer(target.append_entries(rpc).await)
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RpcError<InstallSnapshotError>> {
        let target = self.target().map_err(RPCError::Unreachable)?;
        self.answer(target.install_snapshot(rpc).await)
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RpcError> {
        let target = self.target().map_err(RPCError::Unreachable)?;
        self.answer(target.vote(rpc).await)
    }
}
