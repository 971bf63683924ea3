//! The Raft log and vote, in memory for this step. A [`LogStore`] outlives the `Raft` that
//! uses it (clones share it), so a test can stop a replica and start it again on the same log,
//! as after a process restart. The durable (RocksDB) store comes with the multi-process step.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::RangeBounds;
use std::sync::Arc;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{Entry, LogId, LogState, RaftLogReader, StorageError, Vote};
use tokio::sync::Mutex;

use crate::entry::{NodeId, TypeConfig};

#[derive(Debug, Default)]
struct Log {
    entries: BTreeMap<u64, Entry<TypeConfig>>,
    /// Only ever set if something purges; the replicated journal never asks for a purge (its
    /// snapshot policy is `Never`), but openraft's contract needs the value kept.
    purged: Option<LogId<NodeId>>,
    committed: Option<LogId<NodeId>>,
    vote: Option<Vote<NodeId>>,
}

/// One replica's Raft log. Cheap to clone; clones share it.
#[derive(Debug, Clone, Default)]
pub struct LogStore {
    log: Arc<Mutex<Log>>,
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<NodeId>> {
        let log = self.log.lock().await;
        Ok(log.entries.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        let log = self.log.lock().await;
        let last = log
            .entries
            .last_key_value()
            .map(|(_, e)| e.log_id)
            .or(log.purged);
        Ok(LogState {
            last_purged_log_id: log.purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        self.log.lock().await.vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        Ok(self.log.lock().await.vote)
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeId>>,
    ) -> Result<(), StorageError<NodeId>> {
        self.log.lock().await.committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        Ok(self.log.lock().await.committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
    {
        let mut log = self.log.lock().await;
        for entry in entries {
            log.entries.insert(entry.log_id.index, entry);
        }
        // In memory, "flushed" is "inserted": the entries are as durable as they will get.
        callback.log_io_completed(Ok(()));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        // Uncommitted entries of a deposed leader, replaced by the new leader's.
        self.log.lock().await.entries.split_off(&log_id.index);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        let mut log = self.log.lock().await;
        let kept = log.entries.split_off(&(log_id.index + 1));
        log.entries = kept;
        log.purged = Some(log_id);
        Ok(())
    }
}
