//! A replica's data directory: `raft/` (a RocksDB holding the Raft log, the vote and the
//! applied state) beside `journal/` (the committed journal, a [`aurora_journal::RocksJournal`]
//! that appears when the cluster's `Initialise` entry is applied here).
//!
//! Column families of `raft/`:
//! - `log`: big-endian log index → the entry (binary, see `entry::encode`; JSON from
//!   earlier versions still reads);
//! - `meta`: `replica` (the id this directory belongs to), `vote`, `committed`, `purged`,
//!   `applied` (last applied log id and membership), `snapshot` (the last snapshot's meta
//!   and the journal seq it reaches), `received` (the same, of the last snapshot received
//!   from a leader, recorded before it is installed) and `receiving` (the first seq of a
//!   snapshot being received, and the entry it reaches), each JSON; and `recovering` (`true`
//!   while a replica whose directory was created without `--init` has not yet caught up: it
//!   does not vote, see [`crate::recovery`]).
//!
//! Votes and followers' log appends are written with `sync` before openraft is told they are
//! durable: an entry counts towards a quorum only once it is on this replica's disk. The
//! leader's own appends are synced while they are replicated; nothing counts them committed
//! before that sync (see [`crate::synced`]).

use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::{Entry, StorageError, StorageIOError};

/// What the database calls fail with; [`io_error`] turns it into openraft's error.
type Fault = std::io::Error;
use rocksdb::{
    ColumnFamilyDescriptor, DB, Direction, IteratorMode, Options, WriteBatch, WriteOptions,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::entry::{NodeId, TypeConfig};
use crate::recovery::Origin;

const CF_LOG: &str = "log";
const CF_META: &str = "meta";

pub(crate) const META_REPLICA: &[u8] = b"replica";
pub(crate) const META_VOTE: &[u8] = b"vote";
pub(crate) const META_COMMITTED: &[u8] = b"committed";
pub(crate) const META_PURGED: &[u8] = b"purged";
pub(crate) const META_APPLIED: &[u8] = b"applied";
pub(crate) const META_SNAPSHOT: &[u8] = b"snapshot";
pub(crate) const META_RECEIVED: &[u8] = b"received";
pub(crate) const META_RECEIVING: &[u8] = b"receiving";
pub(crate) const META_RECOVERING: &[u8] = b"recovering";

/// The `raft/` database of one replica. Cheap to share.
pub(crate) struct RaftDb {
    db: DB,
    path: PathBuf,
    id: NodeId,
}

impl std::fmt::Debug for RaftDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftDb").field("path", &self.path).finish()
    }
}

fn options() -> Options {
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    // As the journal: only a torn last record (never acknowledged) may be dropped on recovery.
    opts.set_wal_recovery_mode(rocksdb::DBRecoveryMode::TolerateCorruptedTailRecords);
    opts
}

fn synced() -> WriteOptions {
    let mut opts = WriteOptions::default();
    opts.set_sync(true);
    opts
}

fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

/// A storage fault as openraft wants it (it stops the replica rather than go on unsure).
pub(crate) fn io_error(e: impl std::fmt::Display) -> StorageError<NodeId> {
    StorageError::from(StorageIOError::write(&std::io::Error::other(e.to_string())))
}

fn fault(e: impl std::fmt::Display) -> Fault {
    std::io::Error::other(e.to_string())
}

/// Refuses a data directory that is neither new, empty nor a replica's: creating `raft/` in
/// a single scheduler's journal directory, or among unrelated files (a mistyped
/// `--data-dir $HOME`), would start a replica with no history beside data it then ignores.
fn refuse_foreign_directory(dir: &Path) -> Result<(), Error> {
    let shown = || dir.display().to_string();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(Error::Open {
                path: shown(),
                detail: e.to_string(),
            });
        }
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::Open {
            path: shown(),
            detail: e.to_string(),
        })?;
        names.push(entry.file_name());
    }
    if names.is_empty() || names.iter().any(|name| name == "raft") {
        return Ok(());
    }
    // RocksDB's marker file: the journal of a scheduler started without --peers.
    if names.iter().any(|name| name == "CURRENT") {
        return Err(Error::SingleSchedulerDirectory { path: shown() });
    }
    Err(Error::NotEmpty { path: shown() })
}

impl RaftDb {
    /// Opens (creating) `dir/raft` for replica `id`; refuses a directory that belongs to
    /// another replica id. A directory created here is recovering if `origin` is
    /// [`Origin::Joining`]; a founding member's start (`--init`) on a directory that is still
    /// recovering but has received nothing yet makes it a founding one.
    pub(crate) fn open(dir: &Path, id: NodeId, origin: Origin) -> Result<Arc<Self>, Error> {
        let path = dir.join("raft");
        let shown = path.display().to_string();
        let failed = |detail: String| Error::Open {
            path: shown.clone(),
            detail,
        };
        refuse_foreign_directory(dir)?;
        std::fs::create_dir_all(&path).map_err(|e| failed(e.to_string()))?;
        let descriptors = [CF_LOG, CF_META]
            .into_iter()
            .map(|name| ColumnFamilyDescriptor::new(name, Options::default()));
        let db = DB::open_cf_descriptors(&options(), &path, descriptors).map_err(|e| {
            let detail = e.into_string();
            if detail.contains("LOCK") || detail.contains("lock file") {
                failed(format!(
                    "another process holds this replica's data (another aurora-scheduler on \
                     this directory?): stop it first ({detail})"
                ))
            } else {
                failed(detail)
            }
        })?;
        let db = Arc::new(Self { db, path, id });
        match db
            .get_meta::<NodeId>(META_REPLICA)
            .map_err(|e| failed(e.to_string()))?
        {
            Some(found) if found != id => {
                return Err(Error::WrongReplica {
                    path: dir.display().to_string(),
                    found,
                    given: id,
                });
            }
            Some(_) => {
                if origin == Origin::Founding
                    && db.recovering().map_err(|e| failed(e.to_string()))?
                    && db.untouched().map_err(|e| failed(e.to_string()))?
                {
                    db.set_recovering(false)
                        .map_err(|e| failed(e.to_string()))?;
                }
            }
            None => {
                // The flag first: a crash between the two writes leaves a directory that is
                // created again next time, never one that votes without having recovered.
                db.set_recovering(origin == Origin::Joining)
                    .map_err(|e| failed(e.to_string()))?;
                db.put_meta(META_REPLICA, &id, true)
                    .map_err(|e| failed(e.to_string()))?;
            }
        }
        Ok(db)
    }

    /// Whether nothing has reached this directory since it was created: no log entry, no
    /// vote, nothing applied, purged or received in a snapshot.
    fn untouched(&self) -> Result<bool, Fault> {
        if self.last_entry()?.is_some() {
            return Ok(false);
        }
        for key in [
            META_VOTE,
            META_COMMITTED,
            META_PURGED,
            META_APPLIED,
            META_SNAPSHOT,
            META_RECEIVED,
            META_RECEIVING,
        ] {
            // (openraft saves some as `null` before anything happened.)
            if self
                .get_meta::<serde_json::Value>(key)?
                .is_some_and(|value| !value.is_null())
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Whether this replica is still recovering its history (see [`crate::recovery`]).
    pub(crate) fn recovering(&self) -> Result<bool, Fault> {
        Ok(self.get_meta::<bool>(META_RECOVERING)?.unwrap_or(false))
    }

    /// Records (synced) whether this replica is recovering its history.
    pub(crate) fn set_recovering(&self, recovering: bool) -> Result<(), Fault> {
        self.put_meta(META_RECOVERING, &recovering, true)
    }

    fn cf(&self, name: &str) -> Result<&rocksdb::ColumnFamily, Fault> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| fault(format!("column family {name} is missing")))
    }

    pub(crate) fn get_meta<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, Fault> {
        match self.db.get_cf(self.cf(CF_META)?, key).map_err(fault)? {
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(fault),
            None => Ok(None),
        }
    }

    pub(crate) fn put_meta<T: Serialize>(
        &self,
        key: &[u8],
        value: &T,
        sync: bool,
    ) -> Result<(), Fault> {
        let bytes = serde_json::to_vec(value).map_err(fault)?;
        let opts = if sync {
            synced()
        } else {
            WriteOptions::default()
        };
        self.db
            .put_cf_opt(self.cf(CF_META)?, key, bytes, &opts)
            .map_err(fault)
    }

    /// Writes `entries` in one batch, not yet synced (readable at once; durable after the
    /// next [`Self::sync`]).
    pub(crate) fn append(&self, entries: &[Entry<TypeConfig>]) -> Result<(), Fault> {
        let log = self.cf(CF_LOG)?;
        let mut batch = WriteBatch::default();
        for entry in entries {
            let bytes = crate::entry::encode(entry).map_err(fault)?;
            batch.put_cf(log, index_key(entry.log_id.index), bytes);
        }
        self.db
            .write_opt(batch, &WriteOptions::default())
            .map_err(fault)
    }

    /// The replica this log belongs to.
    pub(crate) fn id(&self) -> NodeId {
        self.id
    }

    /// Syncs everything written so far (one fsync of the write-ahead log).
    pub(crate) fn sync(&self) -> Result<(), Fault> {
        self.db.flush_wal(true).map_err(fault)
    }

    /// The entries whose indexes fall in `range`, in order.
    pub(crate) fn entries(
        &self,
        range: impl RangeBounds<u64>,
    ) -> Result<Vec<Entry<TypeConfig>>, Fault> {
        let start = match range.start_bound() {
            Bound::Included(&i) => i,
            Bound::Excluded(&i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let key = index_key(start);
        let mut out = Vec::new();
        for item in self.db.iterator_cf(
            self.cf(CF_LOG)?,
            IteratorMode::From(&key, Direction::Forward),
        ) {
            let (key, value) = item.map_err(fault)?;
            let index = u64::from_be_bytes(
                key.as_ref()
                    .try_into()
                    .map_err(|_| fault("a log key is not 8 bytes"))?,
            );
            if !range.contains(&index) {
                break;
            }
            out.push(crate::entry::decode(&value).map_err(fault)?);
        }
        Ok(out)
    }

    pub(crate) fn last_entry(&self) -> Result<Option<Entry<TypeConfig>>, Fault> {
        match self
            .db
            .iterator_cf(self.cf(CF_LOG)?, IteratorMode::End)
            .next()
        {
            Some(item) => {
                let (_, value) = item.map_err(fault)?;
                crate::entry::decode(&value).map(Some).map_err(fault)
            }
            None => Ok(None),
        }
    }

    /// Removes the entries with indexes in `from..to` (synced).
    pub(crate) fn remove(&self, from: u64, to: u64) -> Result<(), Fault> {
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(self.cf(CF_LOG)?, index_key(from), index_key(to));
        self.db.write_opt(batch, &synced()).map_err(fault)
    }
}
