//! The durable journal on RocksDB.
//!
//! Column families:
//! - `events`: big-endian seq → framed envelope ([`aurora_events::codec`]);
//! - `time_index`: big-endian commit ms → big-endian last seq committed at that ms;
//! - `checkpoints`: name, NUL, big-endian seq → opaque bytes;
//! - `meta`: `format`, `cluster` and `term` (big-endian; absent means 0).
//!
//! Group commit: one writer thread owns every append and every change of term. It takes the
//! first waiting request, then everything else already queued (up to [`MAX_BATCH_EVENTS`]),
//! checks each append's precondition in queue order against the journal as the appends before
//! it leave it (a refused append writes nothing and is answered at once), writes the accepted
//! ones as one `WriteBatch` with `sync` (one fsync), and only then answers the callers and
//! publishes the new last seq. A `WriteBatch` is atomic in RocksDB's WAL, so after a crash
//! either a whole batch is there or none of it: no torn appends, no gaps. A claim of a new term
//! is written (synced) between batches, so every append queued after it is checked against it.
//!
//! A group of appends that must be written together ([`RocksJournal::append_group_marked`],
//! a replica applying its log, the only writer there) is committed on the caller's thread
//! instead, under the same lock as the writer thread's batches: the hop to the writer thread
//! and back would cost more than the write.

use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use async_trait::async_trait;
use aurora_events::codec::{self, PreEncoded};
use aurora_events::{ChainHash, Envelope, Seq, Timestamp};
use rocksdb::{
    ColumnFamilyDescriptor, DB, Direction, IteratorMode, Options, ReadOptions, WriteBatch,
    WriteOptions,
};
use tokio::sync::{oneshot, watch};

mod backup;
pub use backup::is_journal_dir;
mod writer;

use writer::{AppendRequest, Request, Writer};

use crate::follow::{follow, follow_in_chunks};
use crate::mark::{self, Mark};
use crate::{
    Append, Checkpoint, CheckpointStore, EncodedAppend, Error, EventStream, Journal, Precondition,
    SeqRange, Term, validate_checkpoint_name, validate_new_checkpoint,
};

const CF_EVENTS: &str = "events";
const CF_TIME_INDEX: &str = "time_index";
const CF_CHECKPOINTS: &str = "checkpoints";
const CF_META: &str = "meta";
const COLUMN_FAMILIES: [&str; 4] = [CF_EVENTS, CF_TIME_INDEX, CF_CHECKPOINTS, CF_META];

const META_FORMAT: &[u8] = b"format";
const META_CLUSTER: &[u8] = b"cluster";
const META_TERM: &[u8] = b"term";
/// An opaque marker a replicated backend keeps with the appends it applies (see
/// [`RocksJournal::append_marked`]).
const META_MARKER: &[u8] = b"applied_marker";
/// On-disk layout version (the column families and key encodings above).
const LAYOUT_VERSION: &[u8] = b"1";

/// Most events one group commit carries; bounds the latency a large batch adds to its members.
pub const MAX_BATCH_EVENTS: usize = 16_384;

/// How a [`RocksJournal`] makes its batches durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Every batch is synced before it is acknowledged, and the high-water mark is kept (see
    /// [`crate::mark`]): an acknowledged append survives a power loss, and a journal that comes
    /// back shorter than it acknowledged is refused.
    #[default]
    Synced,
    /// Batches are written to the write-ahead log but not synced, and no high-water mark is
    /// kept. For a copy of a history that is durable elsewhere: a replica's journal, whose
    /// entries its Raft log holds synced (until they are purged, once the journal is synced
    /// with [`RocksJournal::sync`] or [`RocksJournal::set_marker`]). A killed process loses nothing (the
    /// operating system has the writes); a power loss may take the newest batches, always a
    /// suffix, and [`RocksJournal::marker`] then names the last entry that survived, from which
    /// the owner replays the rest.
    Replayable,
}

/// A handle on a RocksDB journal. Cheap to clone; the database closes when the last handle
/// (and every subscription stream) is dropped.
#[derive(Debug, Clone)]
pub struct RocksJournal {
    inner: Arc<Inner>,
}

struct Inner {
    db: Arc<DB>,
    path: PathBuf,
    cluster: String,
    committed: watch::Receiver<Seq>,
    term: watch::Receiver<Term>,
    /// The high-water mark found at open (the last seq the journal had acknowledged).
    acknowledged_at_open: Seq,
    requests: Mutex<Option<std_mpsc::Sender<Request>>>,
    /// The writer's state: the writer thread holds it for each batch, a group committed in
    /// place for its write.
    state: Arc<Mutex<Writer>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksJournal")
            .field("path", &self.path)
            .field("cluster", &self.cluster)
            .finish()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the request channel ends the writer thread; joining it means the database is
        // closed (its lock released) when the last handle is gone, so it can be reopened at once.
        if let Ok(mut requests) = self.requests.lock() {
            requests.take();
        }
        if let Ok(mut writer) = self.writer.lock()
            && let Some(handle) = writer.take()
        {
            let _ = handle.join();
        }
    }
}

fn db_options(create: bool) -> Options {
    let mut opts = Options::default();
    opts.create_if_missing(create);
    opts.create_missing_column_families(create);
    // RocksDB's default (point in time) stops replaying the write-ahead log at the first
    // damaged record and opens with what came before, silently dropping acknowledged events.
    // Only a torn last record (a batch never acknowledged, cut by a crash) is tolerated; any
    // other damage fails the open, and the high-water mark catches a log cut short.
    opts.set_wal_recovery_mode(rocksdb::DBRecoveryMode::TolerateCorruptedTailRecords);
    opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
    opts
}

fn descriptors() -> Vec<ColumnFamilyDescriptor> {
    COLUMN_FAMILIES
        .iter()
        .map(|name| ColumnFamilyDescriptor::new(*name, db_options(false)))
        .collect()
}

fn location(path: &Path) -> String {
    path.display().to_string()
}

/// Space a journal keeps free on its file system: a tenth of it, between 1 MiB and 256 MiB.
/// Below it, appends and checkpoints are refused (RocksDB still needs room to flush and
/// compact what it has); they resume by themselves once space is freed.
fn reserve(total: u64) -> u64 {
    (total / 10).clamp(1 << 20, 256 << 20)
}

/// Refuses when the journal's file system has less than its reserve free.
fn check_space(path: &Path) -> Result<(), Error> {
    check_space_of(path, "the journal")
}

/// Refuses when the file system holding `what` at `path` has less than its reserve free.
fn check_space_of(path: &Path, what: &str) -> Result<(), Error> {
    let Ok(fs) = nix::sys::statvfs::statvfs(path) else {
        // Cannot tell: let RocksDB try, and report what it meets.
        return Ok(());
    };
    let block = fs.fragment_size();
    let (free, total) = (
        fs.blocks_available().saturating_mul(block),
        fs.blocks().saturating_mul(block),
    );
    if total == 0 {
        // A pseudo file system (/proc, /sys): no size to judge; what is written there fails
        // for its own reason, which is then reported.
        return Ok(());
    }
    let keep = reserve(total);
    if free < keep {
        return Err(Error::Storage(format!(
            "the disk holding {what} ({}) is full: {} MiB free, {} MiB kept in reserve; \
             writes resume by themselves once space is freed",
            path.display(),
            free >> 20,
            keep >> 20
        )));
    }
    Ok(())
}

/// Whether `path` is absent or an empty directory.
fn is_empty_or_missing(path: &Path) -> Result<bool, Error> {
    match std::fs::read_dir(path) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(Error::Storage(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// RocksDB's error on opening, named for what it means: its lock file held by another
/// process is the common case, and says so.
fn opening_error(path: &Path, e: rocksdb::Error) -> Error {
    let detail = e.into_string();
    if detail.contains("LOCK") || detail.contains("lock file") {
        Error::Locked {
            location: location(path),
            detail,
        }
    } else if detail.contains("Corruption") {
        Error::Damaged(format!(
            "the journal's files at {} are damaged ({detail}); restore the directory from a \
             backup or a replica; if the damage is in the write-ahead log and losing its \
             events is acceptable, move the damaged *.log file aside and run aurora-scheduler \
             --accept-truncation, which records the loss",
            location(path)
        ))
    } else {
        Error::Storage(detail)
    }
}

/// True when `path` holds a RocksDB database (initialised or not).
fn holds_database(path: &Path) -> bool {
    path.join("CURRENT").is_file()
}

fn cf<'a>(db: &'a DB, name: &str) -> Result<&'a rocksdb::ColumnFamily, Error> {
    db.cf_handle(name)
        .ok_or_else(|| Error::Damaged(format!("column family {name} is missing")))
}

fn seq_key(seq: Seq) -> [u8; 8] {
    seq.to_be_bytes()
}

fn decode_seq(bytes: &[u8]) -> Result<Seq, Error> {
    let array: [u8; 8] = bytes
        .try_into()
        .map_err(|_| Error::Damaged(format!("a seq is {} bytes, not 8", bytes.len())))?;
    Ok(Seq::from_be_bytes(array))
}

fn time_key(at: Timestamp) -> [u8; 8] {
    at.unsigned_millis().to_be_bytes()
}

fn checkpoint_key(name: &str, seq: Seq) -> Vec<u8> {
    let mut key = Vec::with_capacity(name.len() + 9);
    key.extend_from_slice(name.as_bytes());
    key.push(0);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

impl RocksJournal {
    /// Creates a new cluster journal at `path` (creating the directory), committing
    /// `ClusterInitialised` as seq 1. Fails if a journal is already there.
    /// `ClusterInitialised` is committed at `at`.
    pub fn initialise(path: impl AsRef<Path>, cluster: &str, at: Timestamp) -> Result<Self, Error> {
        Self::initialise_with(path, crate::initial_event(cluster), at)
    }

    /// [`Self::initialise`] with a given first event (a `ClusterInitialised`, whose cluster
    /// name the journal takes): replicas of one cluster start from the same envelope.
    pub fn initialise_with(
        path: impl AsRef<Path>,
        first: aurora_events::PendingEvent,
        at: Timestamp,
    ) -> Result<Self, Error> {
        Self::initialise_durable(path.as_ref(), first, at, Durability::Synced)
    }

    /// [`Self::initialise_with`] for a journal written with `durability` from then on (seq 1
    /// itself is always synced).
    pub fn initialise_durable(
        path: &Path,
        first: aurora_events::PendingEvent,
        at: Timestamp,
        durability: Durability,
    ) -> Result<Self, Error> {
        let aurora_events::Event::ClusterInitialised { cluster } = &first.event else {
            return Err(Error::Damaged(format!(
                "seq 1 would be {}, not cluster_initialised",
                first.event.kind()
            )));
        };
        let cluster = cluster.clone();
        let cluster = cluster.as_str();
        if holds_database(path) {
            return Err(Error::AlreadyInitialised {
                location: location(path),
            });
        }
        // A journal is only made in a new or empty directory: anything else there would be
        // left beside a half-made database if initialising failed, or mistaken for ours.
        if !is_empty_or_missing(path)? {
            return Err(Error::NotEmpty {
                location: location(path),
            });
        }
        std::fs::create_dir_all(path)
            .map_err(|e| Error::Storage(format!("cannot create {}: {e}", path.display())))?;
        let db = DB::open_cf_descriptors(&db_options(true), path, descriptors())?;
        let mut batch = WriteBatch::default();
        // Meta and seq 1 in one atomic batch: a crash leaves either a whole journal or nothing
        // recognisable as one (open then reports it as not initialised).
        batch.put_cf(cf(&db, CF_META)?, META_FORMAT, LAYOUT_VERSION);
        batch.put_cf(cf(&db, CF_META)?, META_CLUSTER, cluster.as_bytes());
        let first = first.commit(1, at);
        batch.put_cf(cf(&db, CF_EVENTS)?, seq_key(1), codec::encode(&first));
        batch.put_cf(cf(&db, CF_TIME_INDEX)?, time_key(at), seq_key(1));
        db.write_opt(batch, &synced())?;
        drop(db);
        // The identity and the mark live outside RocksDB's files, so that losing those is
        // told from a journal that is simply new or short. The mark first: a journal with an
        // identity always had a mark, so one found without it lost it.
        drop(Mark::open(path, 1)?);
        mark::write_identity(path, cluster)?;
        Self::open_durable(path, durability)
    }

    /// Opens the journal at `path`. A directory without an initialised journal is an error, never
    /// silently started empty; a journal holding fewer events than it acknowledged (a damaged,
    /// truncated or removed write-ahead log) is refused, never served shorter.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::open_checked(path.as_ref(), true, Durability::Synced)
    }

    /// [`Self::open`] for a journal written with `durability`; a [`Durability::Replayable`]
    /// journal keeps no high-water mark, so a shorter journal is opened as it is.
    pub fn open_durable(path: impl AsRef<Path>, durability: Durability) -> Result<Self, Error> {
        let refuse_losses = durability == Durability::Synced;
        Self::open_checked(path.as_ref(), refuse_losses, durability)
    }

    /// Accepts that the journal at `path` lost the acknowledged events its write-ahead log no
    /// longer holds, recording the loss as a `JournalTruncationAccepted` event (committed at
    /// `at`, the next seq) so that it stays on the record; returns the lost seqs (none when
    /// nothing was lost, and then nothing is written).
    pub fn accept_truncation(
        path: impl AsRef<Path>,
        at: Timestamp,
        reason: &str,
    ) -> Result<Option<SeqRange>, Error> {
        let journal = Self::open_checked(path.as_ref(), false, Durability::Synced)?;
        let (acknowledged, found) = (journal.inner.acknowledged_at_open, journal.last_seq());
        if acknowledged <= found {
            return Ok(None);
        }
        let event = aurora_events::PendingEvent::new(
            aurora_events::Actor::Scheduler,
            aurora_events::Event::JournalTruncationAccepted {
                acknowledged,
                found,
                reason: reason.to_string(),
            },
        );
        let precondition = Precondition::follows(journal.term(), found);
        let append = Append::new(precondition, at, vec![event]);
        futures::executor::block_on(journal.append(append))?;
        tracing::warn!(
            acknowledged,
            found,
            "journal truncation accepted and recorded"
        );
        Ok(Some(SeqRange::new(found + 1, acknowledged)))
    }

    /// Drops the envelopes after `keep` from the closed journal at `path`, with their time
    /// index entries (synced); answers how many went. For a replica's copy of a replicated
    /// journal ([`Durability::Replayable`]) that a leader was streaming envelopes into when it
    /// stopped: those were never recorded as applied, and the replica receives them again.
    /// Seq 1 always stays (it initialises the journal); nothing changes when the journal ends
    /// at or before `keep`.
    pub fn drop_after(path: impl AsRef<Path>, keep: Seq) -> Result<u64, Error> {
        let path = path.as_ref();
        let keep = keep.max(1);
        let db = DB::open_cf_descriptors(&db_options(false), path, descriptors())
            .map_err(|e| opening_error(path, e))?;
        let last = last_envelope(&db)?.map_or(0, |last| last.seq);
        if last <= keep {
            return Ok(0);
        }
        let (events, time) = (cf(&db, CF_EVENTS)?, cf(&db, CF_TIME_INDEX)?);
        let kept = db.get_cf(events, seq_key(keep))?.ok_or_else(|| {
            Error::Damaged(format!(
                "journal at {} ends at {last} but lacks seq {keep}",
                location(path)
            ))
        })?;
        let kept = codec::decode(keep, &kept)?;
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(events, seq_key(keep + 1), seq_key(Seq::MAX));
        // Times only grow with seqs: every index entry after the kept envelope's time names a
        // dropped seq, and the one at its time names it.
        batch.delete_range_cf(
            time,
            time_key(Timestamp(kept.at.0.saturating_add(1))),
            time_key(Timestamp(i64::MAX)),
        );
        batch.put_cf(time, time_key(kept.at), seq_key(keep));
        db.write_opt(batch, &synced())?;
        Ok(last - keep)
    }

    fn open_checked(
        path: &Path,
        refuse_losses: bool,
        durability: Durability,
    ) -> Result<Self, Error> {
        let identity = mark::read_identity(path)?;
        if !holds_database(path) {
            return Err(match identity {
                // The identity outlived the database: its files were removed, not never made.
                Some(cluster) => Error::Damaged(format!(
                    "{} says it holds cluster {cluster}'s journal, but its database files are \
                     gone; restore the directory from a backup or a replica",
                    location(path)
                )),
                None => Error::NotInitialised {
                    location: location(path),
                },
            });
        }
        // A RocksDB directory without our column families is someone else's database.
        let families = DB::list_cf(&Options::default(), path)?;
        if !COLUMN_FAMILIES
            .iter()
            .all(|name| families.iter().any(|f| f == name))
        {
            return Err(Error::NotInitialised {
                location: location(path),
            });
        }
        let db = DB::open_cf_descriptors(&db_options(false), path, descriptors())
            .map_err(|e| opening_error(path, e))?;
        let meta = cf(&db, CF_META)?;
        // Meta written at initialisation but missing now: the data that held it is gone.
        let missing = |what: &str| match &identity {
            Some(cluster) => Error::Damaged(format!(
                "{} holds cluster {cluster}'s journal, but its {what} is missing: the \
                 write-ahead log or data files were damaged or removed; restore the directory \
                 from a backup or a replica",
                location(path)
            )),
            None => Error::NotInitialised {
                location: location(path),
            },
        };
        match db.get_cf(meta, META_FORMAT)? {
            Some(format) if format == LAYOUT_VERSION => {}
            Some(other) => {
                return Err(Error::Damaged(format!(
                    "journal layout version {:?} is not supported by this build",
                    String::from_utf8_lossy(&other)
                )));
            }
            None => return Err(missing("layout version")),
        }
        let cluster = db
            .get_cf(meta, META_CLUSTER)?
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .ok_or_else(|| missing("cluster name"))?;
        match &identity {
            Some(named) if named != &cluster => {
                return Err(Error::Damaged(format!(
                    "{} names cluster {named} but its database holds cluster {cluster}",
                    location(path)
                )));
            }
            Some(_) => {}
            // A journal made before identities were kept: keep one from now on.
            None => mark::write_identity(path, &cluster)?,
        }
        let term = match db.get_cf(meta, META_TERM)? {
            Some(bytes) => decode_seq(&bytes)?,
            None => 0,
        };
        let last = last_envelope(&db)?.ok_or_else(|| {
            Error::Damaged(format!(
                "journal at {} has meta but no events",
                location(path)
            ))
        })?;
        // A journal made since marks were kept (it has an identity) whose mark is gone cannot
        // tell how much it acknowledged: served as it is, a write-ahead log removed with the
        // mark would lose acknowledged events without a word.
        if refuse_losses && identity.is_some() && !mark::exists(path) {
            return Err(Error::Damaged(format!(
                "{}'s acknowledgement mark ({}) is missing, so the journal cannot tell whether \
                 events it acknowledged were lost (it holds seqs up to {}). Restore the \
                 directory from a backup or a replica; or, to go on with the journal as it is, \
                 run `aurora-scheduler --data-dir {} --accept-truncation`",
                location(path),
                mark::MARK_FILE,
                last.seq,
                location(path)
            )));
        }
        let (mark, held) = Mark::open(path, last.seq)?;
        let acknowledged = held.unwrap_or(last.seq);
        if refuse_losses && acknowledged > last.seq {
            return Err(Error::Truncated {
                location: location(path),
                acknowledged,
                found: last.seq,
            });
        }

        let db = Arc::new(db);
        let (committed_tx, committed) = watch::channel(last.seq);
        let (term_tx, term_rx) = watch::channel(term);
        let (requests, queue) = std_mpsc::channel();
        let writer = Writer {
            db: Arc::clone(&db),
            path: path.to_path_buf(),
            mark,
            durability,
            last_seq: last.seq,
            last_at: last.at,
            last_hash: ChainHash::of(&last),
            term: term_tx,
            committed: committed_tx,
        };
        let state = Arc::new(Mutex::new(writer));
        let owned = Arc::clone(&state);
        let handle = std::thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || writer::run(&owned, queue))
            .map_err(|e| Error::Storage(format!("cannot start the journal writer thread: {e}")))?;
        tracing::info!(path = %path.display(), %cluster, last_seq = last.seq, term, "journal opened");
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                path: path.to_path_buf(),
                cluster,
                committed,
                term: term_rx,
                acknowledged_at_open: acknowledged,
                requests: Mutex::new(Some(requests)),
                state,
                writer: Mutex::new(Some(handle)),
            }),
        })
    }

    /// Opens the journal at `path`, initialising a new one for `cluster` if the directory is
    /// absent or empty. Anything else there that is not a journal is still an error.
    pub fn open_or_initialise(
        path: impl AsRef<Path>,
        cluster: &str,
        at: Timestamp,
    ) -> Result<Self, Error> {
        let path = path.as_ref();
        if is_empty_or_missing(path)? {
            Self::initialise(path, cluster, at)
        } else {
            Self::open(path)
        }
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn read_blocking(db: &DB, range: SeqRange) -> Result<Vec<Envelope>, Error> {
        let events = cf(db, CF_EVENTS)?;
        let mut opts = ReadOptions::default();
        if let Some(bound) = range.last.checked_add(1) {
            opts.set_iterate_upper_bound(seq_key(bound));
        }
        let mut out = Vec::new();
        let start = seq_key(range.first);
        let records =
            db.iterator_cf_opt(events, opts, IteratorMode::From(&start, Direction::Forward));
        for (expected, item) in (range.first..).zip(records) {
            let (key, value) = item?;
            let seq = decode_seq(&key)?;
            if seq != expected {
                return Err(Error::Damaged(format!(
                    "seq {expected} is missing (found {seq} after it)"
                )));
            }
            out.push(codec::decode(seq, &value)?);
        }
        Ok(out)
    }
}

/// Test support: edits a closed journal's files as someone with access to the disk could.
#[cfg(any(test, feature = "conformance"))]
impl RocksJournal {
    /// Rewrites the record at `seq` of the closed journal at `path` with `alter` applied,
    /// re-framed with a valid checksum: only the hash chain can tell.
    pub fn rewrite_record(
        path: impl AsRef<Path>,
        seq: Seq,
        alter: impl FnOnce(&mut Envelope),
    ) -> Result<(), Error> {
        let path = path.as_ref();
        let db = DB::open_cf_descriptors(&db_options(false), path, descriptors())
            .map_err(|e| opening_error(path, e))?;
        let events = cf(&db, CF_EVENTS)?;
        let stored = db
            .get_cf(events, seq_key(seq))?
            .ok_or_else(|| Error::Damaged(format!("seq {seq} is not in the journal")))?;
        let mut envelope = codec::decode(seq, &stored)?;
        alter(&mut envelope);
        db.put_cf_opt(events, seq_key(seq), codec::encode(&envelope), &synced())?;
        Ok(())
    }
}

fn synced() -> WriteOptions {
    let mut opts = WriteOptions::default();
    opts.set_sync(true);
    opts
}

fn last_envelope(db: &DB) -> Result<Option<Envelope>, Error> {
    let events = cf(db, CF_EVENTS)?;
    match db.iterator_cf(events, IteratorMode::End).next() {
        Some(item) => {
            let (key, value) = item?;
            let seq = decode_seq(&key)?;
            Ok(Some(codec::decode(seq, &value)?))
        }
        None => Ok(None),
    }
}

impl RocksJournal {
    /// Appends like [`Journal::append`] and, if the append is accepted, stores `marker` in the
    /// same atomic write: after a crash the marker and the events are both there or neither.
    /// A replicated backend records there which log entry the events came from, so that it
    /// never applies an entry twice.
    pub async fn append_marked(&self, append: Append, marker: Vec<u8>) -> Result<SeqRange, Error> {
        self.append_with(append, Some(marker)).await
    }

    /// Appends every one of `appends` as [`Self::append_marked`] would, one after the other,
    /// all in one atomic write with `marker` (where any is accepted): a replicated backend's
    /// log entry that carries several appends is in the journal whole or not at all. Each
    /// append gets its own answer, in order.
    ///
    /// The events come encoded ([`EncodedAppend`]): a replicated backend's log carries them so.
    pub async fn append_group_marked(
        &self,
        appends: Vec<EncodedAppend>,
        marker: Vec<u8>,
    ) -> Vec<Result<SeqRange, Error>> {
        let mut answers = Vec::with_capacity(appends.len());
        let mut group = Vec::with_capacity(appends.len());
        for append in appends {
            let (reply, answer) = oneshot::channel();
            if append.events.is_empty() {
                let _ = reply.send(Err(Error::EmptyAppend));
            } else {
                group.push(AppendRequest {
                    precondition: append.precondition,
                    at: append.at,
                    events: append.events,
                    marker: Some(marker.clone()),
                    reply,
                });
            }
            answers.push(answer);
        }
        if !group.is_empty() {
            match self.inner.state.lock() {
                // Answers every append of the group before it returns.
                Ok(mut writer) => writer.commit(group),
                Err(_) => return answers.iter().map(|_| Err(Error::Closed)).collect(),
            }
        }
        answers
            .into_iter()
            .map(|mut answer| answer.try_recv().unwrap_or(Err(Error::Closed)))
            .collect()
    }

    /// The marker stored by the last accepted [`Self::append_marked`] (or [`Self::set_marker`]).
    pub fn marker(&self) -> Result<Option<Vec<u8>>, Error> {
        Ok(self
            .inner
            .db
            .get_cf(cf(&self.inner.db, CF_META)?, META_MARKER)?)
    }

    /// Syncs every batch written so far to disk (under [`Durability::Replayable`] they are
    /// written unsynced).
    pub fn sync(&self) -> Result<(), Error> {
        self.inner.db.flush_wal(true)?;
        Ok(())
    }

    /// Stores `marker` on its own, synced (which also syncs every unsynced batch before it):
    /// for entries that append nothing, or events appended without a marker.
    pub fn set_marker(&self, marker: &[u8]) -> Result<(), Error> {
        let db = &self.inner.db;
        db.put_cf_opt(cf(db, CF_META)?, META_MARKER, marker, &synced())?;
        Ok(())
    }

    async fn append_with(
        &self,
        append: Append,
        marker: Option<Vec<u8>>,
    ) -> Result<SeqRange, Error> {
        if append.events.is_empty() {
            return Err(Error::EmptyAppend);
        }
        let events = append.events.iter().map(PreEncoded::new).collect();
        let (reply, answer) = oneshot::channel();
        self.send(Request::Append(AppendRequest {
            precondition: append.precondition,
            at: append.at,
            events,
            marker,
            reply,
        }))?;
        answer.await.map_err(|_| Error::Closed)?
    }

    fn send(&self, request: Request) -> Result<(), Error> {
        let requests = self.inner.requests.lock().map_err(|_| Error::Closed)?;
        let sender = requests.as_ref().ok_or(Error::Closed)?;
        sender.send(request).map_err(|_| Error::Closed)
    }
}

#[async_trait]
impl Journal for RocksJournal {
    async fn append(&self, append: Append) -> Result<SeqRange, Error> {
        self.append_with(append, None).await
    }

    async fn read(&self, range: SeqRange) -> Result<Vec<Envelope>, Error> {
        if range.first == 0 {
            return Err(Error::InvalidRange {
                first: range.first,
                last: range.last,
            });
        }
        // Only committed seqs are visible, even if a batch is being written right now.
        let last = range.last.min(self.last_seq());
        if last < range.first {
            return Ok(Vec::new());
        }
        let db = Arc::clone(&self.inner.db);
        tokio::task::spawn_blocking(move || {
            Self::read_blocking(&db, SeqRange::new(range.first, last))
        })
        .await
        .map_err(|e| Error::Storage(format!("read task failed: {e}")))?
    }

    fn subscribe(&self, from: Seq) -> EventStream {
        follow(self.clone(), self.inner.committed.clone(), from)
    }

    fn subscribe_in_chunks(&self, from: Seq, chunk: u64) -> EventStream {
        follow_in_chunks(self.clone(), self.inner.committed.clone(), from, chunk)
    }

    fn last_seq(&self) -> Seq {
        *self.inner.committed.borrow()
    }

    fn cluster(&self) -> &str {
        &self.inner.cluster
    }

    async fn seq_at(&self, at: Timestamp) -> Result<Option<Seq>, Error> {
        if at.0 < 0 {
            return Ok(None);
        }
        let db = Arc::clone(&self.inner.db);
        tokio::task::spawn_blocking(move || -> Result<Option<Seq>, Error> {
            let index = cf(&db, CF_TIME_INDEX)?;
            let key = time_key(at);
            match db
                .iterator_cf(index, IteratorMode::From(&key, Direction::Reverse))
                .next()
            {
                Some(item) => {
                    let (_, value) = item?;
                    Ok(Some(decode_seq(&value)?))
                }
                None => Ok(None),
            }
        })
        .await
        .map_err(|e| Error::Storage(format!("time index task failed: {e}")))?
    }

    fn term(&self) -> Term {
        *self.inner.term.borrow()
    }

    async fn claim_leadership(&self) -> Result<Term, Error> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::ClaimTerm(reply))?;
        answer.await.map_err(|_| Error::Closed)?
    }
}

/// The checkpoints live in the journal's database (their own column family) for convenience,
/// but are not part of the journal: a replicated backend would not replicate them.
#[async_trait]
impl CheckpointStore for RocksJournal {
    async fn put_checkpoint(&self, name: &str, seq: Seq, bytes: Vec<u8>) -> Result<(), Error> {
        validate_new_checkpoint(name, seq, self.last_seq())?;
        check_space(&self.inner.path)?;
        let db = Arc::clone(&self.inner.db);
        let key = checkpoint_key(name, seq);
        tokio::task::spawn_blocking(move || -> Result<(), Error> {
            db.put_cf_opt(cf(&db, CF_CHECKPOINTS)?, key, bytes, &synced())?;
            Ok(())
        })
        .await
        .map_err(|e| Error::Storage(format!("checkpoint task failed: {e}")))?
    }

    async fn checkpoint_at_or_before(
        &self,
        name: &str,
        seq: Seq,
    ) -> Result<Option<Checkpoint>, Error> {
        validate_checkpoint_name(name)?;
        let db = Arc::clone(&self.inner.db);
        let name = name.to_string();
        tokio::task::spawn_blocking(move || -> Result<Option<Checkpoint>, Error> {
            let checkpoints = cf(&db, CF_CHECKPOINTS)?;
            let key = checkpoint_key(&name, seq);
            let prefix_len = name.len() + 1;
            match db
                .iterator_cf(checkpoints, IteratorMode::From(&key, Direction::Reverse))
                .next()
            {
                Some(item) => {
                    let (found, bytes) = item?;
                    if found.len() != prefix_len + 8 || found[..prefix_len] != key[..prefix_len] {
                        return Ok(None);
                    }
                    let seq = decode_seq(&found[prefix_len..])?;
                    Ok(Some(Checkpoint {
                        name,
                        seq,
                        bytes: bytes.into_vec(),
                    }))
                }
                None => Ok(None),
            }
        })
        .await
        .map_err(|e| Error::Storage(format!("checkpoint task failed: {e}")))?
    }
}
