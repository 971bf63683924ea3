//! The Raft log and vote: in memory (clones share it, so a test can stop a replica and start
//! it again on the same log, as after a process restart) or in the replica's `raft/` database
//! (see [`crate::disk`]), where every vote is synced before openraft hears of it, and every
//! append too, except the leader's own entries, which are synced while they are replicated
//! (see [`crate::synced`]).

use crate::timeline::mark;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::RangeBounds;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Weak};

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{Entry, LogId, LogState, RaftLogReader, StorageError, Vote};
use tokio::sync::Mutex;

use crate::disk::{META_COMMITTED, META_PURGED, META_VOTE, RaftDb, io_error};
use crate::entry::{NodeId, TypeConfig};
use crate::synced::Synced;

#[derive(Debug, Default)]
struct Log {
    entries: BTreeMap<u64, Entry<TypeConfig>>,
    /// The last entry purged (behind a snapshot, see `Compaction`).
    purged: Option<LogId<NodeId>>,
    committed: Option<LogId<NodeId>>,
    vote: Option<Vote<NodeId>>,
}

#[derive(Debug, Clone)]
enum Backend {
    Memory(Arc<Mutex<Log>>),
    Disk {
        db: Arc<RaftDb>,
        /// Appends written but not yet synced wait here for the flusher (see [`flusher`]).
        unsynced: std_mpsc::Sender<Unsynced>,
        /// How far the flusher has synced.
        synced: Synced,
        /// The vote last saved: whether this replica leads, and in which term.
        vote: Arc<std::sync::Mutex<Option<Vote<NodeId>>>>,
        id: NodeId,
    },
}

/// An append written but not yet synced.
struct Unsynced {
    /// Its last entry.
    upto: LogId<NodeId>,
    /// Told once it is synced; `None` for the leader's own entries, already reported flushed.
    callback: Option<LogFlushed<TypeConfig>>,
}

/// Group commit for the log: appends are written at once (readable, as openraft requires
/// when `append` returns) and this thread syncs the write-ahead log once for every append
/// written meanwhile, then tells openraft they are durable, in order. Under load one fsync
/// covers many entries; alone, an append waits for exactly one. Ends when the log store's
/// last handle is dropped.
/// It holds the database weakly, so that it is closed (its lock released) as soon as the
/// replica's last handle goes, not whenever this thread notices.
fn flusher(db: Weak<RaftDb>, queue: std_mpsc::Receiver<Unsynced>, progress: Synced) {
    while let Ok(first) = queue.recv() {
        let mut waiting = vec![first];
        waiting.extend(queue.try_iter());
        let synced = match db.upgrade() {
            Some(db) => {
                mark!(db.id(), "log sync started");
                let synced = db.sync();
                mark!(db.id(), "log synced");
                synced
            }
            None => Err(std::io::Error::other("the Raft log is closed")),
        };
        match &synced {
            Ok(()) => {
                if let Some(upto) = waiting.iter().map(|w| w.upto).max() {
                    progress.advance(upto);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "syncing the Raft log failed");
                progress.fail(&e.to_string());
            }
        }
        for callback in waiting.into_iter().filter_map(|w| w.callback) {
            let result = match &synced {
                Ok(()) => Ok(()),
                Err(e) => Err(std::io::Error::other(e.to_string())),
            };
            callback.log_io_completed(result);
        }
    }
}

/// One replica's Raft log. Cheap to clone; clones share it.
#[derive(Debug, Clone)]
pub struct LogStore {
    backend: Backend,
}

impl Default for LogStore {
    fn default() -> Self {
        Self {
            backend: Backend::Memory(Arc::default()),
        }
    }
}

/// Runs `work` on the blocking pool (RocksDB calls block, and syncs take milliseconds).
async fn blocking<T: Send + 'static>(
    db: &Arc<RaftDb>,
    work: impl FnOnce(&RaftDb) -> Result<T, std::io::Error> + Send + 'static,
) -> Result<T, StorageError<NodeId>> {
    let db = Arc::clone(db);
    tokio::task::spawn_blocking(move || work(&db))
        .await
        .map_err(io_error)?
        .map_err(io_error)
}

impl LogStore {
    pub(crate) fn on_disk(db: Arc<RaftDb>, id: NodeId) -> Result<Self, crate::Error> {
        let failed = |detail: String| crate::Error::Open {
            path: "raft".into(),
            detail,
        };
        // What a restarted replica finds in its log is on disk (all of it purged, possibly).
        let last = db.last_entry().map_err(|e| failed(e.to_string()))?;
        let purged: Option<LogId<NodeId>> = db
            .get_meta(META_PURGED)
            .map_err(|e| failed(e.to_string()))?;
        let vote = db
            .get_meta(META_VOTE)
            .map_err(|e| failed(e.to_string()))?
            .map(|vote| restarted(vote, id));
        let synced = Synced::starting_at(last.map(|e| e.log_id).max(purged));
        let (unsynced, queue) = std_mpsc::channel();
        let flushed = Arc::downgrade(&db);
        let progress = synced.clone();
        std::thread::Builder::new()
            .name("raft-log-sync".into())
            .spawn(move || flusher(flushed, queue, progress))
            .map_err(|e| failed(format!("cannot start the log's sync thread: {e}")))?;
        Ok(Self {
            backend: Backend::Disk {
                db,
                unsynced,
                synced,
                vote: Arc::new(std::sync::Mutex::new(vote)),
                id,
            },
        })
    }

    /// How far the log is synced, on disk; `None` in memory, where everything is as durable
    /// as it will get once written.
    pub(crate) fn synced(&self) -> Option<Synced> {
        match &self.backend {
            Backend::Memory(_) => None,
            Backend::Disk { synced, .. } => Some(synced.clone()),
        }
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<NodeId>> {
        match &self.backend {
            Backend::Memory(log) => {
                let log = log.lock().await;
                Ok(log.entries.range(range).map(|(_, e)| e.clone()).collect())
            }
            Backend::Disk { db, .. } => {
                // Inline too: openraft reads at most `max_payload_entries` (300) at a time,
                // and the entries a follower lacks are nearly always the newest, still in
                // the memtable.
                let bounds = (range.start_bound().cloned(), range.end_bound().cloned());
                db.entries(bounds).map_err(io_error)
            }
        }
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        let (last, purged) = match &self.backend {
            Backend::Memory(log) => {
                let log = log.lock().await;
                let last = log.entries.last_key_value().map(|(_, e)| e.log_id);
                (last, log.purged)
            }
            Backend::Disk { db, .. } => {
                blocking(db, |db| {
                    let last = db.last_entry()?.map(|e| e.log_id);
                    Ok((last, db.get_meta(META_PURGED)?))
                })
                .await?
            }
        };
        Ok(LogState {
            last_purged_log_id: purged,
            last_log_id: last.or(purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        match &self.backend {
            Backend::Memory(log) => log.lock().await.vote = Some(*vote),
            Backend::Disk {
                db, vote: saved, ..
            } => {
                let vote = *vote;
                blocking(db, move |db| db.put_meta(META_VOTE, &vote, true)).await?;
                *saved
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(vote);
            }
        }
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        match &self.backend {
            Backend::Memory(log) => Ok(log.lock().await.vote),
            // Read from disk when the store opened (see `restarted`), kept with every save.
            Backend::Disk { vote, .. } => Ok(*vote
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)),
        }
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeId>>,
    ) -> Result<(), StorageError<NodeId>> {
        match &self.backend {
            Backend::Memory(log) => log.lock().await.committed = committed,
            // Not synced: a lost value only means re-learning the commit index from the leader.
            // Inline, as appends are (an unsynced write takes microseconds): openraft applies
            // newly committed entries only once this returns.
            Backend::Disk { db, .. } => {
                db.put_meta(META_COMMITTED, &committed, false)
                    .map_err(io_error)?;
            }
        }
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        match &self.backend {
            Backend::Memory(log) => Ok(log.lock().await.committed),
            Backend::Disk { db, .. } => {
                blocking(db, |db| Ok(db.get_meta(META_COMMITTED)?.flatten())).await
            }
        }
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
    {
        match &self.backend {
            Backend::Memory(log) => {
                let mut log = log.lock().await;
                for entry in entries {
                    log.entries.insert(entry.log_id.index, entry);
                }
                // In memory, "flushed" is "inserted": as durable as it will get.
                callback.log_io_completed(Ok(()));
            }
            Backend::Disk {
                db,
                unsynced,
                vote,
                id,
                ..
            } => {
                let entries: Vec<_> = entries.into_iter().collect();
                let Some(upto) = entries.last().map(|e| e.log_id) else {
                    callback.log_io_completed(Ok(()));
                    return Ok(());
                };
                let vote = *vote
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let own = own_entries(vote, *id, &entries);
                // Inline, not on the blocking pool: an unsynced write only reaches the
                // memtable and the operating system's cache (microseconds), while a hop to
                // another thread and back delays every append by a scheduling round.
                let written = db.append(&entries).map_err(io_error);
                if own {
                    mark!(*id, "log written (own entries: synced in the background)");
                } else {
                    mark!(*id, "log written (sent entries: synced before the answer)");
                }
                match written {
                    // The leader's own entries are reported flushed at once and synced while
                    // they are replicated (see `crate::synced`).
                    Ok(()) if own => {
                        callback.log_io_completed(Ok(()));
                        if unsynced
                            .send(Unsynced {
                                upto,
                                callback: None,
                            })
                            .is_err()
                        {
                            return Err(io_error("the log's sync thread stopped"));
                        }
                    }
                    // Anyone else's: synced before the callback, for only then may the entry
                    // count towards a quorum.
                    Ok(()) => {
                        let queued = Unsynced {
                            upto,
                            callback: Some(callback),
                        };
                        if let Err(std_mpsc::SendError(queued)) = unsynced.send(queued)
                            && let Some(callback) = queued.callback
                        {
                            let stopped = std::io::Error::other("the log's sync thread stopped");
                            callback.log_io_completed(Err(stopped));
                        }
                    }
                    Err(e) => {
                        callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                        return Err(e);
                    }
                }
            }
        }
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        // Uncommitted entries of a deposed leader, replaced by the new leader's.
        match &self.backend {
            Backend::Memory(log) => {
                log.lock().await.entries.split_off(&log_id.index);
            }
            Backend::Disk { db, .. } => {
                blocking(db, move |db| db.remove(log_id.index, u64::MAX)).await?;
            }
        }
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        match &self.backend {
            Backend::Memory(log) => {
                let mut log = log.lock().await;
                let kept = log.entries.split_off(&(log_id.index + 1));
                log.entries = kept;
                log.purged = Some(log_id);
            }
            Backend::Disk { db, .. } => {
                blocking(db, move |db| {
                    // The purge point first: a crash between the two leaves entries that are
                    // only ignored, never a hole openraft does not know about.
                    db.put_meta(META_PURGED, &Some(log_id), true)?;
                    db.remove(0, log_id.index + 1)
                })
                .await?;
            }
        }
        Ok(())
    }
}

/// The vote a replica restarts with. openraft 0.9 resumes leading at once, in the same term,
/// when its saved vote is an election it won; but a leader's own entries may have been lost
/// unsynced (see `crate::synced`) while followers hold them, and leading on in that term
/// would give new entries the very log ids of the lost ones, which followers would take for
/// the ones they hold. As a candidate of that term it stands for election again instead, in a
/// higher term.
fn restarted(vote: Vote<NodeId>, id: NodeId) -> Vote<NodeId> {
    if won_by(vote, id) {
        Vote::new(vote.leader_id().term, id)
    } else {
        vote
    }
}

/// Whether `vote` is an election replica `id` won.
fn won_by(vote: Vote<NodeId>, id: NodeId) -> bool {
    vote.is_committed() && vote.leader_id().voted_for() == Some(id)
}

/// Whether `entries` are this replica's own, appended as the leader of their term: its last
/// saved vote is a committed one (an election won) for itself, in the entries' term.
fn own_entries(vote: Option<Vote<NodeId>>, id: NodeId, entries: &[Entry<TypeConfig>]) -> bool {
    let Some(vote) = vote else {
        return false;
    };
    won_by(vote, id)
        && entries.iter().all(|e| {
            e.log_id.leader_id.node_id == id && e.log_id.leader_id.term == vote.leader_id().term
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{CommittedLeaderId, EntryPayload};

    fn entry(term: u64, by: NodeId, index: u64) -> Entry<TypeConfig> {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(term, by), index),
            payload: EntryPayload::Blank,
        }
    }

    fn elected(term: u64, leader: NodeId) -> Option<Vote<NodeId>> {
        Some(Vote::new_committed(term, leader))
    }

    #[test]
    fn a_leader_restarts_as_a_candidate_of_its_term() {
        assert_eq!(restarted(Vote::new_committed(5, 1), 1), Vote::new(5, 1));
        // Anyone else's vote is kept as it was.
        assert_eq!(
            restarted(Vote::new_committed(5, 2), 1),
            Vote::new_committed(5, 2)
        );
        assert_eq!(restarted(Vote::new(5, 1), 1), Vote::new(5, 1));
    }

    #[test]
    fn only_a_sitting_leader_s_entries_of_its_term_are_its_own() {
        let mine = [entry(3, 1, 7), entry(3, 1, 8)];
        assert!(own_entries(elected(3, 1), 1, &mine));
        // Another replica leads: entries it sends are synced before they are acknowledged.
        assert!(!own_entries(elected(3, 2), 1, &[entry(3, 2, 7)]));
        // A candidate's vote for itself is not an election won.
        assert!(!own_entries(Some(Vote::new(3, 1)), 1, &mine));
        assert!(!own_entries(None, 1, &mine));
        // Its entries of an earlier term, sent back by a later leader after a crash took them.
        assert!(!own_entries(elected(4, 2), 1, &mine));
        assert!(!own_entries(elected(4, 1), 1, &mine));
        // A mix is not its own.
        assert!(!own_entries(
            elected(3, 1),
            1,
            &[entry(2, 2, 6), entry(3, 1, 7)]
        ));
    }
}
