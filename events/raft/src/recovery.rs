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
//! caught up, which takes two things:
//! - it has applied the leader's commit index as the first leader it heard from after it
//!   started told it (`leader_commit` of that `AppendEntries`). Every write it acknowledged
//!   before it lost its data and that counted towards a commit was committed by then: the
//!   leader drops an answer that comes later than its RPC timeout (a heartbeat interval),
//!   far shorter than a process's restart;
//! - it has applied an entry of its current leader's term. A leader commits an entry of its
//!   own term only once every entry committed before it is in its log, so this covers a leader
//!   elected since, whose first commit index may lag behind what was committed before it.
//!
//! The flag is on disk, so a replica that stops half way is still recovering when it starts
//! again (and learns a new commit index to reach). A new cluster's replicas are created with
//! `--init` ([`Origin::Founding`]) and vote from the start: none of them has acknowledged
//! anything yet.
//!
//! Not covered: a recovering replica takes entries from any leader, as openraft does, so in
//! the moments before the current leader reaches it a deposed leader that can reach only it
//! could have it acknowledge entries of an older term. Closing that would need it to learn the
//! current term from a quorum before taking any entry.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use openraft::{BasicNode, LogId, RaftMetrics, ServerState};

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
    /// The commit index the first leader heard from since this process started sent
    /// ([`NOT_HEARD`] until then): what the replica must have applied to be caught up.
    first_leader_commit: AtomicU64,
}

/// [`Inner::first_leader_commit`] before any leader was heard from.
const NOT_HEARD: u64 = u64::MAX;

impl Recovery {
    /// In memory: recovering or not, as `origin` says.
    pub(crate) fn in_memory(origin: Origin) -> Self {
        Self {
            inner: Arc::new(Inner {
                recovering: AtomicBool::new(origin == Origin::Joining),
                db: None,
                first_leader_commit: AtomicU64::new(NOT_HEARD),
            }),
        }
    }

    /// As `db` records it.
    pub(crate) fn on_disk(db: Arc<RaftDb>, recovering: bool) -> Self {
        Self {
            inner: Arc::new(Inner {
                recovering: AtomicBool::new(recovering),
                db: Some(db),
                first_leader_commit: AtomicU64::new(NOT_HEARD),
            }),
        }
    }

    pub(crate) fn recovering(&self) -> bool {
        self.inner.recovering.load(Ordering::Acquire)
    }

    /// Notes the commit index an `AppendEntries` carries; the first one since this process
    /// started is the one to reach (see the module's docs).
    pub(crate) fn heard_from_leader(&self, leader_commit: Option<LogId<NodeId>>) {
        let index = leader_commit.map_or(0, |l| l.index);
        let _ = self.inner.first_leader_commit.compare_exchange(
            NOT_HEARD,
            index,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// Whether a replica with these metrics has caught up (see the module's docs).
    fn has_caught_up(&self, m: &RaftMetrics<NodeId, BasicNode>) -> bool {
        let target = self.inner.first_leader_commit.load(Ordering::Acquire);
        m.state != ServerState::Leader
            && m.current_leader.is_some_and(|leader| leader != m.id)
            && target != NOT_HEARD
            && m.last_applied.is_some_and(|applied| {
                applied.index >= target && applied.leader_id.get_term() == m.current_term
            })
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
             stands for election until it has received the cluster's history from a leader. \
             If this is the first start of a new cluster (and only then: never for a replica \
             that lost its data), start every replica of it with --init"
        );
        let recovery = self.clone();
        let raft = raft.clone();
        tokio::spawn(async move {
            let mut metrics = raft.metrics();
            loop {
                if recovery.has_caught_up(&metrics.borrow_and_update()) {
                    break;
                }
                // Metrics change as entries are applied; the periodic look covers a leader's
                // first word arriving when nothing is left to apply.
                let changed = tokio::time::timeout(Duration::from_secs(1), metrics.changed());
                // An error: the replica stopped first, still recovering.
                if let Ok(Err(_)) = changed.await {
                    return;
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::CommittedLeaderId;

    fn log_id(term: u64, index: u64) -> LogId<NodeId> {
        LogId::new(CommittedLeaderId::new(term, 2), index)
    }

    /// Replica 1 following replica 2 in term 5, having applied `applied`.
    fn following(applied: LogId<NodeId>) -> RaftMetrics<NodeId, BasicNode> {
        let mut m = RaftMetrics::new_initial(1);
        m.state = ServerState::Follower;
        m.current_leader = Some(2);
        m.current_term = 5;
        m.last_applied = Some(applied);
        m
    }

    #[test]
    fn caught_up_takes_the_first_leaders_commit_index_and_an_entry_of_the_leaders_term() {
        let recovery = Recovery::in_memory(Origin::Joining);
        assert!(recovery.recovering());
        // Nothing heard from a leader since the start: whatever was applied before may lack
        // what this replica acknowledged before it lost its data.
        assert!(!recovery.has_caught_up(&following(log_id(5, 100))));
        recovery.heard_from_leader(Some(log_id(5, 100)));
        // Later commit indexes do not move the target.
        recovery.heard_from_leader(Some(log_id(5, 500)));
        // An entry of the leader's term, but short of what was committed when it was heard.
        assert!(!recovery.has_caught_up(&following(log_id(5, 60))));
        // Far enough, but of an older term: a leader elected since may not have committed
        // everything committed before it yet.
        assert!(!recovery.has_caught_up(&following(log_id(4, 120))));
        assert!(recovery.has_caught_up(&following(log_id(5, 100))));
        let mut leading = following(log_id(5, 100));
        leading.state = ServerState::Leader;
        leading.current_leader = Some(1);
        assert!(!recovery.has_caught_up(&leading));
    }
}
