//! How far a replica's Raft log is synced to disk, for the leader that replicates its own
//! entries before syncing them.
//!
//! openraft 0.9 waits for the leader's log write to be flushed before it replicates an entry,
//! so one fsync on the leader and one on each follower would run one after the other. The
//! leader's log store therefore reports its own entries flushed once written (see
//! `LogStore::append`) and syncs them in the background, so that the two fsyncs overlap, as
//! the Raft paper allows (section 10.2.1). openraft then counts the leader in a quorum before
//! its copy is durable, so nothing may treat an entry as committed until the leader has
//! synced it too:
//! - the leader's state machine applies an entry (and so answers its appender) only once
//!   the leader's log is synced up to it ([`Synced::reach`], in `StateMachine::apply`);
//! - followers learn a commit index only once the leader's log is synced up to it (the
//!   network waits for it before sending an `AppendEntries`).
//!
//! Followers still sync before they acknowledge. So whatever is applied anywhere is on the
//! disks of the leader and of a quorum's followers: a majority, as without this.
//!
//! Progress is a [`LogId`], compared in Raft's order (term first): a replica writes its log
//! in increasing log id order, even across truncations (a new leader's entries carry a higher
//! term), and the log's syncs are in write order, so reaching a log id means everything
//! written before it is on disk.

use std::sync::Arc;

use openraft::LogId;
use tokio::sync::watch;

use crate::entry::NodeId;

#[derive(Debug, Clone, Default, PartialEq)]
struct Progress {
    /// The newest entry written and then synced.
    upto: Option<LogId<NodeId>>,
    /// Set when a sync failed: nothing after it can be counted on.
    failed: Option<String>,
}

/// The sync progress of one replica's log on disk. Cheap to clone; clones share it.
#[derive(Debug, Clone)]
pub(crate) struct Synced {
    progress: Arc<watch::Sender<Progress>>,
}

impl Synced {
    /// Starts at `upto`: what a restarted replica finds in its log is on disk.
    pub(crate) fn starting_at(upto: Option<LogId<NodeId>>) -> Self {
        Self {
            progress: Arc::new(watch::Sender::new(Progress { upto, failed: None })),
        }
    }

    /// Records that everything written up to `upto` is on disk.
    pub(crate) fn advance(&self, upto: LogId<NodeId>) {
        self.progress.send_if_modified(|progress| {
            let newer = progress.upto < Some(upto);
            if newer {
                progress.upto = Some(upto);
            }
            newer
        });
    }

    /// Records that a sync failed: every wait from now on fails.
    pub(crate) fn fail(&self, why: &str) {
        self.progress.send_modify(|progress| {
            progress.failed.get_or_insert_with(|| why.to_string());
        });
    }

    /// Waits until the log is synced up to `log_id`; the reason if a sync failed. Not
    /// bounded in time: a disk that stops answering holds the entries back as a synced write
    /// would (openraft bounds each RPC by itself, and a replica stopped over a slow disk would
    /// need an operator to start again).
    pub(crate) async fn reach(&self, log_id: LogId<NodeId>) -> Result<(), String> {
        let mut progress = self.progress.subscribe();
        let reached = progress
            .wait_for(|p| p.failed.is_some() || p.upto >= Some(log_id))
            .await;
        match reached {
            Ok(progress) => match &progress.failed {
                Some(why) => Err(format!("the Raft log could not be synced: {why}")),
                None => Ok(()),
            },
            // The sender lives in `self`: it cannot have gone.
            Err(_) => Err("the Raft log's sync progress is gone".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::CommittedLeaderId;

    fn id(term: u64, index: u64) -> LogId<NodeId> {
        LogId::new(CommittedLeaderId::new(term, 1), index)
    }

    #[tokio::test]
    async fn a_wait_ends_once_the_log_is_synced_that_far() {
        let synced = Synced::starting_at(Some(id(1, 3)));
        assert_eq!(synced.reach(id(1, 2)).await, Ok(()));
        let waiting = tokio::spawn({
            let synced = synced.clone();
            async move { synced.reach(id(2, 5)).await }
        });
        synced.advance(id(2, 4));
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "synced to 4 is not synced to 5");
        synced.advance(id(2, 6));
        assert_eq!(waiting.await.ok(), Some(Ok(())));
    }

    #[tokio::test]
    async fn a_later_term_reaches_further_than_a_higher_index_of_an_earlier_one() {
        // A truncated entry of term 2 at index 9 does not vouch for term 3's entry at 7.
        let synced = Synced::starting_at(Some(id(2, 9)));
        let waiting = tokio::spawn({
            let synced = synced.clone();
            async move { synced.reach(id(3, 7)).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        synced.advance(id(3, 7));
        assert_eq!(waiting.await.ok(), Some(Ok(())));
    }

    #[tokio::test]
    async fn a_failed_sync_fails_every_wait() {
        let synced = Synced::starting_at(None);
        synced.fail("disk gone");
        let waited = synced.reach(id(1, 1)).await;
        assert!(waited.is_err_and(|why| why.contains("disk gone")));
    }
}
