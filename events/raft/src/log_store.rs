//! The Raft log and vote: in memory (clones share it, so a test can stop a replica and start
//! it again on the same log, as after a process restart) or in the replica's `raft/` database
//! (see [`crate::disk`]), where every append and vote is synced before openraft hears of it.

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
        unsynced: std_mpsc::Sender<LogFlushed<TypeConfig>>,
    },
}

/// Group commit for the log: appends are written at once (readable, as openraft requires
/// when `append` returns) and this thread syncs the write-ahead log once for every append
/// written meanwhile, then tells openraft they are durable, in order. Under load one fsync
/// covers many entries; alone, an append waits for exactly one. Ends when the log store's
/// last handle is dropped.
/// It holds the database weakly, so that it is closed (its lock released) as soon as the
/// replica's last handle goes, not whenever this thread notices.
fn flusher(db: Weak<RaftDb>, queue: std_mpsc::Receiver<LogFlushed<TypeConfig>>) {
    while let Ok(first) = queue.recv() {
        let mut waiting = vec![first];
        waiting.extend(queue.try_iter());
        let synced = match db.upgrade() {
            Some(db) => db.sync(),
            None => Err(std::io::Error::other("the Raft log is closed")),
        };
        if let Err(e) = &synced {
            tracing::error!(error = %e, "syncing the Raft log failed");
        }
        for callback in waiting {
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
    pub(crate) fn on_disk(db: Arc<RaftDb>) -> Result<Self, crate::Error> {
        let (unsynced, queue) = std_mpsc::channel();
        let flushed = Arc::downgrade(&db);
        std::thread::Builder::new()
            .name("raft-log-sync".into())
            .spawn(move || flusher(flushed, queue))
            .map_err(|e| crate::Error::Open {
                path: "raft".into(),
                detail: format!("cannot start the log's sync thread: {e}"),
            })?;
        Ok(Self {
            backend: Backend::Disk { db, unsynced },
        })
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
            Backend::Disk { db, .. } => {
                let vote = *vote;
                blocking(db, move |db| db.put_meta(META_VOTE, &vote, true)).await?;
            }
        }
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        match &self.backend {
            Backend::Memory(log) => Ok(log.lock().await.vote),
            Backend::Disk { db, .. } => blocking(db, |db| db.get_meta(META_VOTE)).await,
        }
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeId>>,
    ) -> Result<(), StorageError<NodeId>> {
        match &self.backend {
            Backend::Memory(log) => log.lock().await.committed = committed,
            // Not synced: a lost value only means re-learning the commit index from the leader.
            Backend::Disk { db, .. } => {
                blocking(db, move |db| db.put_meta(META_COMMITTED, &committed, false)).await?;
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
            Backend::Disk { db, unsynced } => {
                let entries: Vec<_> = entries.into_iter().collect();
                // Inline, not on the blocking pool: an unsynced write only reaches the
                // memtable and the operating system's cache (microseconds), while a hop to
                // another thread and back delays every append by a scheduling round.
                let written = db.append(&entries).map_err(io_error);
                match written {
                    // Synced before the callback: only then may the entry count towards a
                    // quorum.
                    Ok(()) => {
                        if let Err(std_mpsc::SendError(callback)) = unsynced.send(callback) {
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
