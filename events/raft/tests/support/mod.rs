//! An in-process cluster of replicas for the tests.

#![allow(dead_code)] // Each test binary uses a part.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aurora_events::{Envelope, Timestamp};
use aurora_journal::{Error, Journal, SeqRange};
use aurora_raft::{Compaction, NodeId, Origin, RaftJournal, Replica, Router, Storage, Timeouts};

/// Long enough for an election on a loaded 2-core machine, short enough to fail fast.
pub const WAIT: Duration = Duration::from_secs(10);

pub struct Cluster {
    pub router: Router,
    pub storage: BTreeMap<NodeId, Storage>,
    pub replicas: BTreeMap<NodeId, Replica>,
    pub timeouts: Timeouts,
    /// Set for a cluster on disk: replica `id` keeps its data in `dir/<id>`.
    pub dir: Option<tempfile::TempDir>,
    /// How the replicas' storage compacts its log.
    pub compaction: Compaction,
}

impl Cluster {
    /// Starts replicas 1..=n, not yet initialised.
    pub async fn start(n: u64, timeouts: Timeouts) -> Self {
        Self::start_compacting(n, timeouts, Compaction::default()).await
    }

    /// [`Self::start`], compacting the replicas' logs as `compaction` says.
    pub async fn start_compacting(n: u64, timeouts: Timeouts, compaction: Compaction) -> Self {
        let mut cluster = Self {
            router: Router::new(),
            storage: BTreeMap::new(),
            replicas: BTreeMap::new(),
            timeouts,
            dir: None,
            compaction,
        };
        for id in 1..=n {
            cluster.storage.insert(id, Storage::new());
            cluster.restart(id).await;
        }
        cluster
    }

    /// Starts replicas 1..=n, each on its own data directory, not yet initialised.
    pub async fn start_on_disk(n: u64, timeouts: Timeouts) -> Self {
        Self::start_on_disk_compacting(n, timeouts, Compaction::default()).await
    }

    /// [`Self::start_on_disk`], compacting the replicas' logs as `compaction` says.
    pub async fn start_on_disk_compacting(
        n: u64,
        timeouts: Timeouts,
        compaction: Compaction,
    ) -> Self {
        let mut cluster = Self {
            router: Router::new(),
            storage: BTreeMap::new(),
            replicas: BTreeMap::new(),
            timeouts,
            dir: Some(tempfile::tempdir().expect("temporary directory")),
            compaction,
        };
        for id in 1..=n {
            cluster.reopen_storage(id).await;
            cluster.restart(id).await;
        }
        cluster
    }

    /// Where replica `id` of a cluster on disk keeps its data.
    pub fn data_dir(&self, id: NodeId) -> std::path::PathBuf {
        self.dir
            .as_ref()
            .expect("a cluster on disk")
            .path()
            .join(id.to_string())
    }

    /// Opens replica `id`'s data directory afresh, as a new process would (a directory
    /// created here is a founding member's, as with `--init`). The previous handles must be
    /// gone; RocksDB's lock is released when the last one is dropped, which may take a moment
    /// after a replica's shutdown.
    pub async fn reopen_storage(&mut self, id: NodeId) {
        self.reopen_storage_as(id, Origin::Founding).await;
    }

    /// [`Self::reopen_storage`], a directory created here being `origin`'s (an emptied
    /// replica's is [`Origin::Joining`], as without `--init`).
    pub async fn reopen_storage_as(&mut self, id: NodeId, origin: Origin) {
        self.storage.remove(&id);
        let dir = self.data_dir(id);
        let deadline = tokio::time::Instant::now() + WAIT;
        let storage = loop {
            match Storage::open(&dir, id, origin) {
                Ok(storage) => break storage,
                Err(e) => {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "cannot reopen replica {id}'s storage: {e}"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        self.storage.insert(id, storage);
    }

    pub fn members(&self) -> BTreeSet<NodeId> {
        self.storage.keys().copied().collect()
    }

    /// Starts (again) replica `id` on its storage.
    pub async fn restart(&mut self, id: NodeId) {
        let storage = self.storage[&id].clone().compacting(self.compaction);
        let replica = Replica::start(id, &storage, &self.router, self.timeouts.clone())
            .await
            .expect("start replica");
        self.replicas.insert(id, replica);
    }

    /// Stops replica `id` as if its process died; its storage is kept.
    pub async fn stop(&mut self, id: NodeId) -> Replica {
        let replica = self.replicas.remove(&id).expect("running replica");
        replica.shutdown().await.expect("shutdown");
        replica
    }

    /// Initialises the cluster through replica 1 and returns its handle.
    pub async fn initialise(&self, cluster: &str, at: Timestamp) -> Result<RaftJournal, Error> {
        RaftJournal::initialise(&self.replicas[&1], self.members(), cluster, at).await
    }

    /// The running replica that leads (and has caught up), waiting for an election if needed.
    pub async fn leader(&self) -> Replica {
        self.leader_except(&[]).await
    }

    /// [`Self::leader`] among the replicas not in `except` (e.g. a deposed leader that is cut
    /// off and may still believe it leads).
    pub async fn leader_except(&self, except: &[NodeId]) -> Replica {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            for replica in self.replicas.values() {
                if except.contains(&replica.id()) {
                    continue;
                }
                let journal = RaftJournal::open(replica);
                if let Ok(journal) = journal
                    && replica_leads(replica)
                    && journal.claim_leadership().await.is_ok()
                {
                    return replica.clone();
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no leader within {WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A handle through replica `id`, once the initialisation has reached it.
    pub async fn journal(&self, id: NodeId) -> RaftJournal {
        RaftJournal::open_within(&self.replicas[&id], WAIT)
            .await
            .expect("open replica's journal")
    }

    /// Waits until replica `id`'s Raft log has been purged past entry `index` (compacted
    /// behind a snapshot).
    pub async fn wait_purged_past(&self, id: NodeId, index: u64) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let purged = self.replicas[&id].raft().metrics().borrow().purged;
            if purged.is_some_and(|p| p.index > index) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "replica {id}'s log was not purged past {index} within {WAIT:?} (purged: {purged:?})"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until every running replica's journal is as long as `leader`'s. (The journal,
    /// not Raft's metrics: an append resolves once applied, possibly before the metrics say so.)
    pub async fn settle(&self, leader: &Replica) {
        let target = leader.local_journal().map_or(0, |j| j.last_seq());
        let deadline = tokio::time::Instant::now() + WAIT;
        for replica in self.replicas.values() {
            while replica.local_journal().map_or(0, |j| j.last_seq()) < target {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "replica {} did not catch up with seq {target} within {WAIT:?}",
                    replica.id()
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

fn replica_leads(replica: &Replica) -> bool {
    let m = replica.raft().metrics().borrow().clone();
    m.current_leader == Some(replica.id())
}

/// Everything a handle's replica has committed.
pub async fn read_all(journal: &RaftJournal) -> Vec<Envelope> {
    journal
        .read(SeqRange::new(1, journal.last_seq()))
        .await
        .expect("read")
}

/// Short timeouts so that the tests fail fast where an answer must not come.
pub fn quick() -> Timeouts {
    Timeouts {
        append: Duration::from_secs(2),
        ..Timeouts::default()
    }
}

/// Asserts that every running replica holds the same envelopes, byte for byte in the journal's
/// record format, and returns them.
pub async fn assert_identical(cluster: &Cluster) -> Vec<Envelope> {
    let mut reference: Option<(NodeId, Vec<Envelope>)> = None;
    for id in cluster.replicas.keys() {
        let envelopes = read_all(&cluster.journal(*id).await).await;
        if let Some((first, expected)) = &reference {
            let bytes = |all: &[Envelope]| -> Vec<Vec<u8>> {
                all.iter().map(aurora_events::codec::encode).collect()
            };
            assert_eq!(
                bytes(&envelopes),
                bytes(expected),
                "replica {id}'s journal differs from replica {first}'s"
            );
        } else {
            reference = Some((*id, envelopes));
        }
    }
    reference
        .map(|(_, envelopes)| envelopes)
        .unwrap_or_default()
}
