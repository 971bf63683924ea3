//! The apply side: committed Raft entries, in log order, become journal envelopes.
//!
//! Every replica runs the same [`StateMachine`] over the same entries, and each entry's fate
//! depends only on the entry and on the journal before it, so every replica ends with the same
//! envelopes (same seqs, ids and times). In particular an append's precondition is checked
//! here, at apply time, not when the leader proposes it: by then the leader's view may be stale
//! (several proposals in flight), while the journal at apply time is exactly what the events
//! will follow.
//!
//! Snapshots are the journal itself, never a fold of it (see [`crate::snapshot`]): building
//! one copies nothing, and a replica that installs one has first received every envelope it
//! lacked, so log compaction never drops history.

use crate::timeline::mark;
use std::path::PathBuf;
use std::sync::Arc;

use aurora_events::{Envelope, PendingEvent, Seq, Timestamp};
use aurora_journal::{
    Append, Durability, EncodedAppend, Error as JournalError, Journal, MemoryJournal, MemoryStore,
    Precondition, RocksJournal, SeqRange,
};
use futures::future::BoxFuture;
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, Entry, EntryPayload, LogId, RaftSnapshotBuilder, SnapshotMeta, StorageError,
    StorageIOError, StoredMembership,
};
use tokio::sync::{Mutex, watch};

use crate::Error;
use crate::disk::{META_APPLIED, META_RECEIVED, META_RECEIVING, META_SNAPSHOT, RaftDb, io_error};
use crate::entry::{EncodedProposal, NodeId, Outcome, Proposed, Refusal, Request, TypeConfig};
use crate::local::LocalJournal;
use crate::snapshot::JournalSnapshot;
use crate::synced::Synced;

/// An entry being applied: answers its outcome.
type Applying = BoxFuture<'static, Result<Outcome, StorageError<NodeId>>>;

/// Where refusals say the journal is.
pub(crate) const LOCATION: &str = "replicated journal";

/// Where the committed journal is kept.
#[derive(Debug)]
enum Backing {
    Memory(MemoryStore),
    /// `journal` is the directory of the replica's `RocksJournal`; `raft` keeps the applied
    /// state of entries that write nothing to the journal.
    Disk {
        journal: PathBuf,
        raft: Arc<RaftDb>,
    },
}

/// What `applied_state` answers, as kept on disk.
type AppliedState = (Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>);

#[derive(Debug, Default)]
struct Applied {
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
    /// The last snapshot built or installed, and the journal seq it reaches: served to followers
    /// that need one (from the journal, when it is sent).
    snapshot: Option<(SnapshotMeta<NodeId, BasicNode>, Seq)>,
    snapshots_built: u64,
    /// Set while a snapshot's envelopes are being received and not yet installed: the first
    /// seq received, and the entry the snapshot reaches (kept on disk too, see `on_disk`).
    receiving: Option<(Seq, LogId<NodeId>)>,
}

#[derive(Debug)]
struct Inner {
    /// Held across a whole batch of entries, so readers of `last_applied` never see an entry
    /// half applied.
    applied: Mutex<Applied>,
    backing: Backing,
    /// `None` until the `Initialise` entry is applied; then the replica's committed journal.
    journal: watch::Sender<Option<LocalJournal>>,
    /// How far the replica's log is synced, on disk: an entry is applied only once its log
    /// entry is on this replica's disk too (see [`crate::synced`]).
    synced: Option<Synced>,
}

/// One replica's state machine: its committed journal plus Raft's bookkeeping. Cheap to clone;
/// clones share it, and it outlives the `Raft` that drives it (a simulated restart).
#[derive(Debug, Clone)]
pub struct StateMachine {
    inner: Arc<Inner>,
}

impl Default for StateMachine {
    fn default() -> Self {
        Self {
            inner: Arc::new(Inner {
                applied: Mutex::default(),
                backing: Backing::Memory(MemoryStore::new()),
                journal: watch::Sender::new(None),
                synced: None,
            }),
        }
    }
}

impl StateMachine {
    /// The replica it belongs to (0 in memory, where tests keep no id).
    fn node(&self) -> NodeId {
        match &self.inner.backing {
            Backing::Memory(_) => 0,
            Backing::Disk { raft, .. } => raft.id(),
        }
    }

    /// The state machine kept in `dir/journal` (a `RocksJournal`, once initialised) and the
    /// applied state in `raft`: reopens what a previous run left, so that the replica resumes
    /// after the last entry it applied and never applies one twice.
    pub(crate) fn on_disk(
        dir: &std::path::Path,
        raft: Arc<RaftDb>,
        synced: Option<Synced>,
    ) -> Result<Self, Error> {
        let path = dir.join("journal");
        let failed = |detail: String| Error::Open {
            path: path.display().to_string(),
            detail,
        };
        let open = || -> Result<Option<RocksJournal>, Error> {
            if !path.join("CURRENT").is_file() {
                return Ok(None);
            }
            RocksJournal::open_durable(&path, Durability::Replayable)
                .map(Some)
                .map_err(|e| failed(e.to_string()))
        };
        let mut journal = open()?;
        let (last_applied, membership): AppliedState = raft
            .get_meta(META_APPLIED)
            .map_err(|e| failed(e.to_string()))?
            .unwrap_or_default();
        let (mut last_applied, mut membership) = (last_applied, membership);
        // The journal is written unsynced (see `Durability::Replayable`): after a power loss
        // it may hold fewer entries than the applied state (synced with the Raft log) says.
        // Its marker names the last entry whose events it does hold, so the replica resumes
        // right after it, and the log replays the rest: the log is purged only behind a
        // snapshot, whose entry the marker (synced when the snapshot is taken) or the received
        // snapshot below reaches. Entries after it that wrote nothing to the journal are
        // harmless to apply again.
        if let Some(journal) = &journal {
            let marker = journal.marker().map_err(|e| failed(e.to_string()))?;
            if let Some(bytes) = marker {
                let marked: LogId<NodeId> =
                    serde_json::from_slice(&bytes).map_err(|e| failed(e.to_string()))?;
                last_applied = Some(marked);
            }
        }
        let mut snapshot: Option<(SnapshotMeta<NodeId, BasicNode>, Seq)> = raft
            .get_meta(META_SNAPSHOT)
            .map_err(|e| failed(e.to_string()))?;
        // A snapshot received from the leader is recorded (with its envelopes synced) before
        // openraft installs it and purges the log behind it: a replica stopped in between
        // resumes from it, not from an entry the purge may have taken.
        let received: Option<(SnapshotMeta<NodeId, BasicNode>, Seq)> = raft
            .get_meta(META_RECEIVED)
            .map_err(|e| failed(e.to_string()))?;
        let holds = journal.as_ref().map_or(0, |j| j.last_seq());
        let receiving: Option<(Seq, LogId<NodeId>)> = raft
            .get_meta(META_RECEIVING)
            .map_err(|e| failed(e.to_string()))?
            .flatten();
        if let Some((meta, upto)) = received
            && holds >= upto
            && meta.last_log_id >= last_applied
        {
            last_applied = meta.last_log_id;
            if meta.last_membership.log_id() > membership.log_id() {
                membership = meta.last_membership.clone();
            }
            if snapshot
                .as_ref()
                .is_none_or(|(ours, _)| ours.last_log_id < meta.last_log_id)
            {
                snapshot = Some((meta, upto));
            }
        }
        // Stopped while receiving a snapshot (see `receive_for`): the journal holds envelopes
        // that the applied state does not account for. They go (the stream never moved the
        // journal's marker, so what stays is exactly what the applied state says), and the
        // leader streams them again.
        let forget_receiving =
            || raft.put_meta(META_RECEIVING, &None::<(Seq, LogId<NodeId>)>, true);
        // A record left by a stream that wrote nothing, or by a start that dropped what it
        // wrote and stopped before clearing it, names nothing the journal holds: it goes, so
        // that it can never be taken for a stream once the journal has grown past its seq.
        if let Some((first, _)) = receiving
            && holds < first
        {
            forget_receiving().map_err(|e| failed(e.to_string()))?;
        }
        if let Some((first, covers)) = receiving
            && holds >= first
            && last_applied < Some(covers)
        {
            let refused = |why: String| Error::Open {
                path: dir.display().to_string(),
                detail: format!(
                    "this replica stopped while receiving a snapshot (its journal holds seqs \
                     {first}..={holds} from the stream, but its applied state is at {}), and \
                     they could not be dropped ({why}): move the directory away and start the \
                     replica again; it receives the whole journal from the others",
                    last_applied.map_or("nothing".into(), |l| l.to_string())
                ),
            };
            drop(journal.take());
            if first <= 1 {
                // The stream made the journal: none of it was applied here. Moved aside in one
                // step first, so that a stop half way never leaves half a journal.
                let aside = dir.join("journal.dropped");
                let _ = std::fs::remove_dir_all(&aside);
                std::fs::rename(&path, &aside)
                    .and_then(|()| std::fs::remove_dir_all(&aside))
                    .map_err(|e| refused(e.to_string()))?;
            } else {
                RocksJournal::drop_after(&path, first - 1).map_err(|e| refused(e.to_string()))?;
                journal = open()?;
            }
            forget_receiving().map_err(|e| refused(e.to_string()))?;
            tracing::warn!(
                first,
                holds,
                "this replica stopped while receiving a snapshot: the envelopes it had received \
                 are dropped, and the leader sends them again"
            );
        }
        Ok(Self {
            inner: Arc::new(Inner {
                applied: Mutex::new(Applied {
                    last_applied,
                    membership,
                    snapshot,
                    ..Applied::default()
                }),
                backing: Backing::Disk {
                    journal: path,
                    raft,
                },
                journal: watch::Sender::new(journal.map(LocalJournal::Rocks)),
                synced,
            }),
        })
    }

    /// The committed journal, once the cluster has been initialised here.
    pub fn journal(&self) -> Option<LocalJournal> {
        self.inner.journal.borrow().clone()
    }

    /// Wakes whenever the journal appears (the `Initialise` entry is applied).
    pub(crate) fn watch_journal(&self) -> watch::Receiver<Option<LocalJournal>> {
        self.inner.journal.subscribe()
    }

    /// Makes the journal, starting with `first` at `at`, applied from the entry `log_id`.
    fn initialise(
        &self,
        first: PendingEvent,
        at: Timestamp,
        log_id: Option<LogId<NodeId>>,
    ) -> Result<(), JournalError> {
        let journal = match &self.inner.backing {
            Backing::Memory(store) => {
                LocalJournal::Memory(MemoryJournal::initialise_with(store.clone(), first, at)?)
            }
            Backing::Disk { journal, .. } => {
                let rocks =
                    RocksJournal::initialise_durable(journal, first, at, Durability::Replayable)?;
                if let Some(log_id) = log_id {
                    rocks.set_marker(&marker_bytes(log_id)?)?;
                }
                LocalJournal::Rocks(rocks)
            }
        };
        self.inner.journal.send_replace(Some(journal));
        Ok(())
    }

    /// Records that everything up to `applied` is applied, where the journal's marker does not
    /// already say so. `sync` for membership changes: a later entry's marker would otherwise
    /// skip them on restart.
    async fn save_applied(
        &self,
        applied: AppliedState,
        sync: bool,
    ) -> Result<(), StorageError<NodeId>> {
        self.put_meta(META_APPLIED, applied, sync).await
    }

    /// Keeps `snapshot` (its meta and the seq it reaches), so that it is still served after a
    /// restart once the log before it is purged.
    async fn save_snapshot(
        &self,
        snapshot: (SnapshotMeta<NodeId, BasicNode>, Seq),
    ) -> Result<(), StorageError<NodeId>> {
        self.put_meta(META_SNAPSHOT, snapshot, true).await
    }

    /// Writes `value` under `key` in the replica's `raft/` database (nothing in memory).
    async fn put_meta<T: serde::Serialize + Send + 'static>(
        &self,
        key: &'static [u8],
        value: T,
        sync: bool,
    ) -> Result<(), StorageError<NodeId>> {
        let Backing::Disk { raft, .. } = &self.inner.backing else {
            return Ok(());
        };
        let raft = Arc::clone(raft);
        tokio::task::spawn_blocking(move || raft.put_meta(key, &value, sync))
            .await
            .map_err(io_error)?
            .map_err(io_error)
    }

    /// Makes every envelope in the journal durable, recording that they hold the events of
    /// every entry up to `applied` (a synced write; it syncs the unsynced batches before it).
    async fn make_durable(
        journal: &LocalJournal,
        applied: LogId<NodeId>,
    ) -> Result<(), JournalError> {
        let marker = marker_bytes(applied)?;
        let journal = journal.clone();
        tokio::task::spawn_blocking(move || journal.set_marker(&marker))
            .await
            .map_err(|e| JournalError::Storage(e.to_string()))?
    }

    /// Takes envelopes streamed from the leader's snapshot (see [`crate::snapshot`]) into the
    /// journal, between the entries this replica applies; answers where the journal now ends.
    /// `covers`: the entry the snapshot reaches.
    ///
    /// The envelopes go into the journal without moving its marker, so until the snapshot is
    /// installed the journal is ahead of the applied state. Applying this replica's own log
    /// entries meanwhile is harmless (an entry naming the seq it follows is refused; the
    /// stream brings its events), but a replica stopped in that state would apply them again
    /// on restart, and could then be sent log entries whose events the cut-short stream did
    /// not bring. So the first envelope written is recorded on disk beforehand, and such a
    /// replica drops the envelopes received from it on when it starts again (see `on_disk`),
    /// to be streamed them anew, rather than diverge. (An entry appended "at the
    /// end", which tests and benchmarks use, applied while a stream is under way can also be
    /// written twice.)
    pub(crate) async fn receive_for(
        &self,
        envelopes: &[Envelope],
        covers: Option<LogId<NodeId>>,
    ) -> Result<Seq, JournalError> {
        let mut applied = self.inner.applied.lock().await;
        let holds = self.journal().map_or(0, |journal| journal.last_seq());
        let writes = envelopes.last().is_some_and(|last| last.seq > holds);
        // Recorded at the first write of a stream, and again if a later stream reaches further.
        let record = match (writes, covers, applied.receiving) {
            (true, Some(covers), None) => Some((holds + 1, covers)),
            (true, Some(covers), Some((first, before))) if covers > before => Some((first, covers)),
            _ => None,
        };
        if let Some(receiving) = record {
            self.put_meta(META_RECEIVING, Some(receiving), true)
                .await
                .map_err(|e| JournalError::Storage(e.to_string()))?;
            applied.receiving = Some(receiving);
        }
        self.catch_up_to(envelopes).await?;
        Ok(self.journal().map_or(0, |journal| journal.last_seq()))
    }

    /// [`Self::receive_for`] a snapshot not named (tests).
    #[cfg(test)]
    pub(crate) async fn receive(&self, envelopes: &[Envelope]) -> Result<Seq, JournalError> {
        self.receive_for(envelopes, None).await
    }

    /// Before a received snapshot is handed to openraft (which purges the log behind it as it
    /// installs it): checks that the journal reaches the snapshot's seq, makes the journal
    /// durable, and records the snapshot, so that a replica stopped at any point after resumes
    /// from it (see `on_disk`). Refused, nothing is installed and nothing purged.
    pub(crate) async fn prepare_install(
        &self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        upto: Seq,
    ) -> Result<(), JournalError> {
        let _applying = self.inner.applied.lock().await;
        let journal = self.journal();
        let holds = journal.as_ref().map_or(0, |journal| journal.last_seq());
        if holds < upto {
            return Err(JournalError::Damaged(format!(
                "the snapshot reaches seq {upto}, but this replica's journal ends at seq {holds}: \
                 not every chunk arrived"
            )));
        }
        let Backing::Disk { raft, .. } = &self.inner.backing else {
            return Ok(());
        };
        let (raft, received) = (Arc::clone(raft), (meta.clone(), upto));
        tokio::task::spawn_blocking(move || {
            if let Some(journal) = journal {
                journal.sync()?;
            }
            raft.put_meta(META_RECEIVED, &received, true)
                .map_err(|e| JournalError::Storage(e.to_string()))
        })
        .await
        .map_err(|e| JournalError::Storage(e.to_string()))?
    }

    async fn apply_request(
        &self,
        log_id: LogId<NodeId>,
        request: Request,
    ) -> Result<Outcome, StorageError<NodeId>> {
        let fault = |e: &JournalError| StorageError::from(StorageIOError::apply(log_id, e));
        match request {
            Request::Initialise { first, at } => {
                if self.journal().is_some() {
                    return Ok(Outcome::Refused(Refusal::AlreadyInitialised));
                }
                self.initialise(*first, at, Some(log_id))
                    .map_err(|e| fault(&e))?;
                Ok(Outcome::Initialised)
            }
            append @ (Request::Append { .. } | Request::Batch(_) | Request::Encoded(_)) => {
                self.start_append(log_id, append).await
            }
        }
    }

    /// Starts applying an `Append`, `Batch` or `Encoded` entry; the returned future answers its
    /// outcome.
    /// The journal's single writer takes appends in the order these futures are first polled
    /// and checks each against the journal as the ones before it leave it, so several entries
    /// can be queued at once and share one group commit, with the same outcomes as one by one.
    fn start_append(&self, log_id: LogId<NodeId>, request: Request) -> Applying {
        let decided = |outcome| -> Applying { Box::pin(async move { Ok(outcome) }) };
        let (proposed, batch) = match request {
            Request::Append {
                term,
                after,
                at,
                events,
            } => (
                vec![EncodedProposal::from(Proposed {
                    term,
                    after,
                    at,
                    events,
                })],
                false,
            ),
            // Entries written before `Encoded` existed.
            Request::Batch(proposed) => (proposed.into_iter().map(Into::into).collect(), true),
            Request::Encoded(proposed) => (proposed, true),
            Request::Initialise { .. } => return decided(Outcome::Nothing),
        };
        // An `Append` entry answers its one outcome, the others one per append.
        let answer = move |mut outcomes: Vec<Outcome>| match outcomes.len() {
            1 if !batch => outcomes.remove(0),
            _ => Outcome::Batch(outcomes),
        };
        let Some(journal) = self.journal() else {
            let refused = proposed
                .iter()
                .map(|_| Outcome::Refused(Refusal::NotInitialised))
                .collect();
            return decided(answer(refused));
        };
        // Fencing: the events must have been decided under the term of the leader that
        // proposed them. Raft orders every entry of a term before every entry of a later one,
        // so once a later term has begun no entry of this one follows it.
        let current = log_id.leader_id.get_term();
        let mut fenced = Vec::with_capacity(proposed.len());
        let mut appends = Vec::with_capacity(proposed.len());
        for EncodedProposal {
            term,
            after,
            at,
            events,
        } in proposed
        {
            if term == current {
                fenced.push(None);
                // The local journal checks `after` and the time exactly as the single-node
                // backends do; its own term is never claimed (always 0), Raft's is checked
                // above.
                let local = Precondition {
                    term: journal.term(),
                    after,
                };
                appends.push(EncodedAppend {
                    precondition: local,
                    at,
                    events,
                });
            } else {
                fenced.push(Some(Outcome::Refused(Refusal::NotLeader { term, current })));
            }
        }
        Box::pin(async move {
            let marker = marker_bytes(log_id).map_err(io_error)?;
            let mut written = if appends.is_empty() {
                Vec::new()
            } else {
                journal.append_group_marked(appends, marker).await
            }
            .into_iter();
            let mut outcomes = Vec::with_capacity(fenced.len());
            for fence in fenced {
                let fault = |e: &JournalError| StorageError::from(StorageIOError::apply(log_id, e));
                let outcome = match fence {
                    Some(refused) => refused,
                    None => match written.next() {
                        Some(Ok(range)) => Outcome::appended(range),
                        Some(Err(e)) => match Refusal::from_check(&e) {
                            Some(refusal) => Outcome::Refused(refusal),
                            None => return Err(fault(&e)),
                        },
                        None => {
                            let short = "the journal answered fewer appends than it was given";
                            return Err(fault(&JournalError::Damaged(short.into())));
                        }
                    },
                };
                outcomes.push(outcome);
            }
            Ok(answer(outcomes))
        })
    }

    /// Appends `envelopes` (consecutive seqs, from a snapshot) that follow the journal's last
    /// one, keeping their seqs, ids and times. The envelope the journal ends with, if among them,
    /// must be the same (committed history never diverges). Envelopes that would leave a gap
    /// are not taken: the sender starts again after the journal's last seq. Seq 1 initialises
    /// an empty replica.
    async fn catch_up_to(&self, envelopes: &[Envelope]) -> Result<(), JournalError> {
        let Some(first) = envelopes.first() else {
            return Ok(());
        };
        let journal = match self.journal() {
            Some(journal) => journal,
            None if first.seq == 1 => {
                self.initialise(pending(first), first.at, None)?;
                self.journal()
                    .ok_or_else(|| JournalError::Damaged("the journal vanished".into()))?
            }
            None => return Ok(()),
        };
        let last = journal.last_seq();
        if first.seq > last + 1 {
            return Ok(());
        }
        // The newest envelope sent that this replica already holds: its last, or the chunk's
        // last if it holds more.
        let restated = usize::try_from(last.saturating_sub(first.seq))
            .ok()
            .map(|i| i.min(envelopes.len() - 1))
            .and_then(|i| envelopes.get(i))
            .filter(|_| last >= first.seq);
        if let Some(theirs) = restated {
            let ours = journal.read(SeqRange::new(theirs.seq, theirs.seq)).await?;
            // An envelope journaled before the hash chain has no link on the leader, while
            // this replica's writer linked its copy: the link is then not compared.
            let same = ours.first().is_some_and(|ours| {
                ours == theirs
                    || (theirs.prev_hash.is_none()
                        && Envelope {
                            prev_hash: None,
                            ..ours.clone()
                        } == *theirs)
            });
            if !same {
                return Err(JournalError::Damaged(format!(
                    "this replica's seq {} is not the leader's: its journal diverged from the \
                     cluster's history; move its data directory away and let it catch up from \
                     empty",
                    theirs.seq
                )));
            }
        }
        // Runs of envelopes at one time go in one append (an append has one time). Indexes,
        // not iterator adaptors, so that no closure is held across an await.
        let mut next = envelopes.partition_point(|e| e.seq <= last);
        let mut after = last;
        while let Some(head) = envelopes.get(next) {
            let run = envelopes[next..]
                .iter()
                .take_while(|e| e.at == head.at)
                .count();
            let events: Vec<PendingEvent> =
                envelopes[next..next + run].iter().map(pending).collect();
            let precondition = Precondition::follows(journal.term(), after);
            journal
                .append(Append::new(precondition, head.at, events))
                .await?;
            after += run as Seq;
            next += run;
        }
        Ok(())
    }
}

/// Waits for the queued appends (first polled in queue order, so the journal's writer takes
/// them in log order) and puts each outcome in its place.
async fn settle(
    queued: &mut Vec<(usize, Applying)>,
    outcomes: &mut [Outcome],
) -> Result<(), StorageError<NodeId>> {
    let (places, futures): (Vec<usize>, Vec<_>) = std::mem::take(queued).into_iter().unzip();
    for (place, outcome) in places
        .into_iter()
        .zip(futures::future::join_all(futures).await)
    {
        outcomes[place] = outcome?;
    }
    Ok(())
}

/// How a journal marker names a log entry.
fn marker_bytes(log_id: LogId<NodeId>) -> Result<Vec<u8>, JournalError> {
    serde_json::to_vec(&log_id).map_err(|e| JournalError::Storage(e.to_string()))
}

fn pending(envelope: &Envelope) -> PendingEvent {
    PendingEvent {
        id: envelope.id,
        actor: envelope.actor.clone(),
        cause: envelope.cause,
        event: envelope.event.clone(),
    }
}

#[cfg(test)]
async fn whole_journal(journal: Option<LocalJournal>) -> Result<Vec<Envelope>, JournalError> {
    match journal {
        Some(journal) => journal.read(SeqRange::new(1, journal.last_seq())).await,
        None => Ok(Vec::new()),
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    /// Names the journal as it stands: under the lock, so its last seq matches `last_applied`
    /// exactly. Nothing is copied.
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let mut applied = self.inner.applied.lock().await;
        let journal = self.journal();
        let upto = journal.as_ref().map_or(0, |journal| journal.last_seq());
        // The log before this snapshot may be purged once it exists: the journal, written
        // unsynced and replayable from that log, must first hold its events durably.
        if let (Some(journal), Some(last)) = (&journal, applied.last_applied) {
            Self::make_durable(journal, last)
                .await
                .map_err(|e| StorageError::from(StorageIOError::read_state_machine(&e)))?;
        }
        applied.snapshots_built += 1;
        let meta = SnapshotMeta {
            last_log_id: applied.last_applied,
            last_membership: applied.membership.clone(),
            snapshot_id: format!(
                "{}-{upto}-{}",
                applied.last_applied.map_or(0, |l| l.index),
                applied.snapshots_built
            ),
        };
        self.save_snapshot((meta.clone(), upto)).await?;
        applied.snapshot = Some((meta.clone(), upto));
        Ok(Snapshot {
            meta,
            snapshot: Box::new(JournalSnapshot { upto, journal }),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>), StorageError<NodeId>>
    {
        let applied = self.inner.applied.lock().await;
        Ok((applied.last_applied, applied.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Outcome>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
    {
        let entries: Vec<_> = entries.into_iter().collect();
        if let (Some(synced), Some(last)) = (&self.inner.synced, entries.last()) {
            let log_id = last.log_id;
            synced
                .reach(log_id)
                .await
                .map_err(|why| StorageError::from(StorageIOError::apply(log_id, &io_error(why))))?;
        }
        mark!(self.node(), "apply started");
        let mut applied = self.inner.applied.lock().await;
        let mut outcomes = Vec::new();
        // Appends queued together (see `start_append`), with their places in `outcomes`.
        let mut queued = Vec::new();
        // Whether the last entry applied is an append, whose journal write carries its own
        // marker (see `start_append`).
        let mut marked = false;
        for entry in entries {
            if let EntryPayload::Normal(
                request @ (Request::Append { .. } | Request::Batch(_) | Request::Encoded(_)),
            ) = entry.payload
            {
                queued.push((outcomes.len(), self.start_append(entry.log_id, request)));
                outcomes.push(Outcome::Nothing);
                applied.last_applied = Some(entry.log_id);
                marked = true;
                continue;
            }
            // Anything else sees the journal as every entry before it left it.
            settle(&mut queued, &mut outcomes).await?;
            let outcome = match entry.payload {
                EntryPayload::Blank => Outcome::Nothing,
                EntryPayload::Membership(membership) => {
                    applied.membership = StoredMembership::new(Some(entry.log_id), membership);
                    let state = (Some(entry.log_id), applied.membership.clone());
                    self.save_applied(state, true).await?;
                    Outcome::Nothing
                }
                EntryPayload::Normal(request) => self.apply_request(entry.log_id, request).await?,
            };
            applied.last_applied = Some(entry.log_id);
            outcomes.push(outcome);
            marked = false;
        }
        settle(&mut queued, &mut outcomes).await?;
        // An append's journal write carries its own marker, which a restart resumes from (see
        // `on_disk`). Otherwise unsynced: entries that write nothing are harmless to apply
        // again after a crash.
        if !marked {
            let state = (applied.last_applied, applied.membership.clone());
            self.save_applied(state, false).await?;
        }
        mark!(self.node(), "apply done");
        Ok(outcomes)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    /// Unused by the transport (snapshots are streamed by [`crate::snapshot`]); what a
    /// receiver would start from: this replica's own journal.
    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<JournalSnapshot>, StorageError<NodeId>> {
        let journal = self.journal();
        let upto = journal.as_ref().map_or(0, |journal| journal.last_seq());
        Ok(Box::new(JournalSnapshot { upto, journal }))
    }

    /// The snapshot's envelopes have been received into the journal (see
    /// [`crate::snapshot::take_chunk`]): checks that they are all there, makes them durable
    /// (the log this replica lacks is not here to replay them), and moves the applied state.
    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<JournalSnapshot>,
    ) -> Result<(), StorageError<NodeId>> {
        let signature = || Some(meta.signature());
        let write_failed =
            |e: &JournalError| StorageError::from(StorageIOError::write_snapshot(signature(), e));
        let mut applied = self.inner.applied.lock().await;
        let journal = self.journal();
        let holds = journal.as_ref().map_or(0, |journal| journal.last_seq());
        if holds < snapshot.upto {
            return Err(write_failed(&JournalError::Damaged(format!(
                "the snapshot reaches seq {}, but this replica's journal ends at seq {holds}",
                snapshot.upto
            ))));
        }
        applied.last_applied = meta.last_log_id;
        applied.membership = meta.last_membership.clone();
        let state = (applied.last_applied, applied.membership.clone());
        self.save_applied(state, true).await?;
        if let (Some(journal), Some(last)) = (&journal, meta.last_log_id) {
            Self::make_durable(journal, last)
                .await
                .map_err(|e| write_failed(&e))?;
        }
        self.save_snapshot((meta.clone(), snapshot.upto)).await?;
        applied.snapshot = Some((meta.clone(), snapshot.upto));
        if applied.receiving.take().is_some() {
            let none: Option<(Seq, LogId<NodeId>)> = None;
            self.put_meta(META_RECEIVING, none, false).await?;
        }
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        let applied = self.inner.applied.lock().await;
        Ok(applied.snapshot.as_ref().map(|(meta, upto)| Snapshot {
            meta: meta.clone(),
            snapshot: Box::new(JournalSnapshot {
                upto: *upto,
                journal: self.journal(),
            }),
        }))
    }
}

#[cfg(test)]
#[path = "state_machine_tests.rs"]
mod tests;
