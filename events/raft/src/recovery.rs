//! A replica that lost its data does not vote until it has it back.
//!
//! Raft's safety rests on every voter remembering what it acknowledged: an entry committed by
//! a quorum is on at least one member of any other quorum, so no candidate lacking it can be
//! elected. A replica restarted with an empty directory has forgotten what it acknowledged
//! (and whom it voted for). If it voted at once, a candidate lacking a committed entry could win
//! with its vote, and the entry would be gone: write W committed by replicas 1 and 2 while 3
//! was away; 1 dies, 2 is restarted empty, 3 returns; 3 and the emptied 2 elect 3, and W is
//! lost (and 1, when it returns, is told to drop it).
//!
//! So, as with Apache Aurora's replicated log (a replica whose log is empty takes no part in
//! elections until it has recovered the log from the others, and a new cluster's replicas are
//! each initialised explicitly), a directory created without `--init` ([`Origin::Joining`])
//! is *recovering*: the replica neither stands for election nor grants its vote until it has
//! applied an entry of the term of a leader it follows. A leader commits an entry of its own
//! term only once every entry committed before it is in its log, so by then this replica holds
//! all of them again. The flag is on disk, so a replica that stops half way is still
//! recovering when it starts again. A new cluster's replicas are created with `--init`
//! ([`Origin::Founding`]) and vote from the start: none of them has acknowledged anything yet.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use openraft::ServerState;

use crate::disk::RaftDb;
use crate::entry::{NodeId, Raft};

/// How a replica's data directory came to be, when it is created (ignored for a directory
/// that exists: it keeps what it was created as, until it has caught up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A member of a new cluster, started with `--init`: it may vote at once.
    Founding,
    /// A replica joining a cluster that has a history: a new one being added, or one that
    /// lost its data. It votes once it has received that history (see the module's docs).
    Joining,
}

/// Whether a replica is still recovering its history. Cheap to clone; clones share it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Recovery {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    recovering: AtomicBool,
    /// Where the flag is kept (`None` in memory).
    db: Option<Arc<RaftDb>>,
}

impl Recovery {
    /// In memory: recovering or not, as `origin` says.
    pub(crate) fn in_memory(origin: Origin) -> Self {
        Self {
            inner: Arc::new(Inner {
                recovering: AtomicBool::new(origin == Origin::Joining),
                db: None,
            }),
        }
    }

    /// As `db` records it.
    pub(crate) fn on_disk(db: Arc<RaftDb>, recovering: bool) -> Self {
        Self {
            inner: Arc::new(Inner {
                recovering: AtomicBool::new(recovering),
                db: Some(db),
            }),
        }
    }

    pub(crate) fn recovering(&self) -> bool {
        self.inner.recovering.load(Ordering::Acquire)
    }

    /// Records (synced) that the replica has caught up; it votes from now on.
    fn caught_up(&self) -> Result<(), std::io::Error> {
        if let Some(db) = &self.inner.db {
            db.set_recovering(false)?;
        }
        self.inner.recovering.store(false, Ordering::Release);
        Ok(())
    }

    /// Keeps replica `id` out of elections while it recovers, and lets it in once it has
    /// caught up (see the module's docs). Nothing to do for a replica that is not recovering.
    pub(crate) fn watch(&self, id: NodeId, raft: &Raft) {
        if !self.recovering() {
            return;
        }
        raft.runtime_config().elect(false);
        tracing::warn!(
            replica = id,
            "this replica's data directory was created without --init: it neither votes nor \
             stands for election until it has received the cluster's history from a leader \
             (if this is the first start of a new cluster, stop it, empty its data directory \
             and start it with --init, as every replica of a new cluster is)"
        );
        let recovery = self.clone();
        let raft = raft.clone();
        tokio::spawn(async move {
            let mut metrics = raft.metrics();
            let caught_up = metrics.wait_for(|m| {
                m.state != ServerState::Leader
                    && m.current_leader.is_some_and(|leader| leader != m.id)
                    && m.last_applied
                        .is_some_and(|applied| applied.leader_id.get_term() == m.current_term)
            });
            // An error: the replica stopped first, still recovering.
            if caught_up.await.is_err() {
                return;
            }
            match recovery.caught_up() {
                Ok(()) => {
                    raft.runtime_config().elect(true);
                    tracing::info!(
                        replica = id,
                        "caught up with the cluster's history: this replica votes from now on"
                    );
                }
                Err(e) => tracing::error!(
                    replica = id,
                    error = %e,
                    "caught up, but could not record it: this replica still does not vote"
                ),
            }
        });
    }
}
