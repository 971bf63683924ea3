//! Snapshots are the journal itself, never a fold of it.
//!
//! Raft compacts its log behind snapshots: once a snapshot covers an entry, the entry may be
//! purged, and a follower that needs a purged entry gets the snapshot instead. Here the Raft
//! log and the journal are one history, so a snapshot holds no copy of anything:
//!
//! - **Building** one names the journal's last seq (`upto`) and the last applied entry, after
//!   making the journal durable up to there (it is written unsynced, replayable from the log,
//!   and the log before the snapshot may now go). It costs one sync, however long the journal.
//! - **Sending** one to a follower ([`send`]) asks where the follower's journal ends, then
//!   streams the envelopes it lacks, in chunks of at most [`CHUNK_EVENTS`] envelopes and about
//!   [`CHUNK_BYTES`] bytes, in the journal's own checksummed frames. A replica with an empty
//!   directory receives the whole journal from seq 1; one that fell a little too far behind
//!   receives only what it lacks. Every chunk restates the envelope the follower already ends
//!   with, which it compares with its own: committed history never diverges, and a replica whose
//!   journal did is refused rather than patched.
//! - **Installing** it ([`install`]) checks that the follower's journal reaches `upto`, makes it
//!   durable, and moves the applied state to the snapshot's entry (openraft's
//!   `install_full_snapshot`).
//!
//! Compaction therefore never drops history: the journal keeps every envelope, and only an
//! operator's retention command may ever shorten it.

use aurora_events::{Envelope, Seq, codec};
use aurora_journal::{Error as JournalError, Journal, SeqRange};
use openraft::error::{Fatal, ReplicationClosed, StreamingError};
use openraft::raft::SnapshotResponse;
use openraft::storage::Snapshot;
use openraft::{BasicNode, LogId, SnapshotMeta, StorageError, StorageIOError, Vote};
use serde::{Deserialize, Serialize};

use crate::entry::{NodeId, Raft, TypeConfig};
use crate::local::LocalJournal;
use crate::network::{Connection, unreachable};
use crate::state_machine::StateMachine;

/// At most this many envelopes go in one chunk.
pub(crate) const CHUNK_EVENTS: u64 = 1_000;
/// A chunk stops growing once its frames pass this many bytes.
pub(crate) const CHUNK_BYTES: usize = 4 * 1024 * 1024;
/// Chunks in a row that move the follower's journal no further before the stream gives up
/// (openraft tries again later).
const STALLED_CHUNKS: u32 = 3;

/// A snapshot's data: the journal up to `upto`. `journal` is the replica's own, read when the
/// snapshot is sent; `None` before the cluster is initialised here.
#[derive(Debug, Clone)]
pub struct JournalSnapshot {
    pub(crate) upto: Seq,
    pub(crate) journal: Option<LocalJournal>,
}

/// Envelopes `from..` for a follower, as journal frames (`[u32 LE length][frame]...`).
/// `frames` empty asks only where the follower's journal ends.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Chunk {
    pub(crate) vote: Vote<NodeId>,
    /// The entry the snapshot reaches.
    pub(crate) covers: Option<LogId<NodeId>>,
    pub(crate) from: Seq,
    pub(crate) frames: Vec<u8>,
}

/// A follower's answer to a [`Chunk`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum ChunkAnswer {
    /// Its journal now ends at `last` (0: not initialised yet).
    Holds { last: Seq },
    /// It has seen a newer vote than the sender's: the sender is no longer the leader.
    NewerVote(Vote<NodeId>),
}

/// The end of a stream: install the snapshot, whose envelopes the follower now holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Install {
    pub(crate) vote: Vote<NodeId>,
    pub(crate) meta: SnapshotMeta<NodeId, BasicNode>,
    pub(crate) upto: Seq,
}

/// Frames `envelopes` as the journal does, each with its length before it: the first, and the
/// next ones until the frames reach `limit` bytes.
fn encode_frames_within(envelopes: &[Envelope], limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for envelope in envelopes {
        if !out.is_empty() && out.len() >= limit {
            break;
        }
        let frame = codec::encode(envelope);
        let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&frame);
    }
    out
}

/// Reads what [`encode_frames_within`] made of envelopes `from, from+1, ...`; each frame's checksum and
/// seq are checked.
pub(crate) fn decode_frames(from: Seq, mut bytes: &[u8]) -> Result<Vec<Envelope>, JournalError> {
    let mut envelopes = Vec::new();
    while !bytes.is_empty() {
        let seq = from + envelopes.len() as Seq;
        let damaged = || JournalError::Damaged(format!("snapshot chunk cut short at seq {seq}"));
        let (len, rest) = bytes.split_first_chunk::<4>().ok_or_else(damaged)?;
        let len = usize::try_from(u32::from_le_bytes(*len)).map_err(|_| damaged())?;
        let frame = rest.get(..len).ok_or_else(damaged)?;
        envelopes.push(codec::decode(seq, frame)?);
        bytes = &rest[len..];
    }
    Ok(envelopes)
}

/// The newest vote `raft` has seen.
fn current_vote(raft: &Raft) -> Vote<NodeId> {
    raft.metrics().borrow().vote
}

/// A follower takes a chunk: unless it has seen a newer leader, the envelopes it lacks go into
/// its journal, and it answers where its journal now ends.
pub(crate) async fn take_chunk(
    raft: &Raft,
    state: &StateMachine,
    chunk: &Chunk,
) -> Result<ChunkAnswer, String> {
    let mine = current_vote(raft);
    // Votes are partially ordered: one that is not at least ours (older, or incomparable)
    // is not a leader this replica follows.
    if !matches!(
        chunk.vote.partial_cmp(&mine),
        Some(std::cmp::Ordering::Greater | std::cmp::Ordering::Equal)
    ) {
        return Ok(ChunkAnswer::NewerVote(mine));
    }
    let envelopes = decode_frames(chunk.from, &chunk.frames).map_err(|e| e.to_string())?;
    let last = state
        .receive_for(&envelopes, chunk.covers)
        .await
        .map_err(|e| e.to_string())?;
    Ok(ChunkAnswer::Holds { last })
}

/// A follower installs a snapshot whose envelopes it has received.
pub(crate) async fn install(
    raft: &Raft,
    state: &StateMachine,
    install: Install,
) -> Result<SnapshotResponse<NodeId>, String> {
    // Before openraft purges this replica's log behind the snapshot, the journal must reach
    // it, durably, and the snapshot must be recorded (see `StateMachine::prepare_install`).
    state
        .prepare_install(&install.meta, install.upto)
        .await
        .map_err(|e| e.to_string())?;
    let snapshot = Snapshot {
        meta: install.meta,
        snapshot: Box::new(JournalSnapshot {
            upto: install.upto,
            journal: state.journal(),
        }),
    };
    raft.install_full_snapshot(install.vote, snapshot)
        .await
        .map_err(|e| e.to_string())
}

type Streaming = StreamingError<TypeConfig, Fatal<NodeId>>;

/// A follower that refuses a snapshot (its journal diverged, its disk is full, its Raft has
/// stopped) is retried after openraft's backoff, as an unreachable one is, not at once.
fn refused(from: NodeId, to: NodeId, why: &str) -> Streaming {
    Streaming::Unreachable(unreachable(
        from,
        to,
        &format!("it refused the snapshot: {why}"),
    ))
}

/// The leader streams `snapshot` over `connection` (see the module's docs), giving up when
/// `cancel` resolves (replication to the follower ended). The route is looked up for every
/// call, so a follower that goes away mid-stream is not written to.
pub(crate) async fn send(
    connection: &Connection,
    vote: Vote<NodeId>,
    snapshot: Snapshot<TypeConfig>,
    cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
) -> Result<SnapshotResponse<NodeId>, Streaming> {
    let (from, to) = connection.ends();
    let mut cancel = std::pin::pin!(cancel);
    let JournalSnapshot { upto, journal } = *snapshot.snapshot;
    let signature = snapshot.meta.signature();
    let unanswered = |why: String| Streaming::Unreachable(unreachable(from, to, &why));
    let covers = snapshot.meta.last_log_id;
    let mut chunk = Chunk {
        vote,
        covers,
        from: 0,
        frames: Vec::new(),
    };
    // Whether the follower has compared an envelope of ours with its own: even a follower
    // whose journal already reaches `upto` must show that its history is the leader's.
    let mut compared = false;
    let mut stalled = 0;
    let mut before = 0;
    loop {
        let target = connection.target().map_err(Streaming::Unreachable)?;
        let answer = tokio::select! {
            closed = &mut cancel => return Err(closed.into()),
            answer = target.snapshot_chunk(&chunk) => answer,
        };
        let last = match answer {
            Err(why) => return Err(unanswered(why)),
            Ok(Err(why)) => return Err(refused(from, to, &why)),
            Ok(Ok(ChunkAnswer::NewerVote(vote))) => return Ok(SnapshotResponse { vote }),
            Ok(Ok(ChunkAnswer::Holds { last })) => last,
        };
        compared |= !chunk.frames.is_empty() && chunk.from <= last;
        if !chunk.frames.is_empty() && last <= before {
            stalled += 1;
            if stalled >= STALLED_CHUNKS {
                let why = format!(
                    "its journal stays at seq {last} (chunks from seq {})",
                    chunk.from
                );
                return Err(refused(from, to, &why));
            }
        } else {
            stalled = 0;
        }
        before = last;
        let Some(journal) = journal.as_ref().filter(|_| upto > 0) else {
            break;
        };
        if last >= upto && compared {
            break;
        }
        // From the follower's last envelope (or ours at `upto`, if it holds more), which it
        // checks against its own.
        let first = last.min(upto).max(1);
        let range = SeqRange::new(first, upto.min(first + CHUNK_EVENTS - 1));
        let envelopes = journal.read(range).await.map_err(|e| {
            Streaming::StorageError(StorageError::from(StorageIOError::read_snapshot(
                Some(signature.clone()),
                &e,
            )))
        })?;
        chunk = Chunk {
            vote,
            covers,
            from: first,
            frames: encode_frames_within(&envelopes, CHUNK_BYTES),
        };
    }
    let install = Install {
        vote,
        meta: snapshot.meta,
        upto,
    };
    let target = connection.target().map_err(Streaming::Unreachable)?;
    let installed = tokio::select! {
        closed = &mut cancel => return Err(closed.into()),
        answer = target.install_snapshot(&install) => answer,
    };
    match installed {
        Err(why) => Err(unanswered(why)),
        Ok(Err(why)) => Err(refused(from, to, &why)),
        Ok(Ok(response)) => Ok(response),
    }
}

#[cfg(test)]
mod tests {
    use aurora_events::Timestamp;
    use aurora_journal::conformance::marker;
    use aurora_journal::{Append, MemoryJournal, Precondition};

    use super::*;

    #[tokio::test]
    async fn frames_round_trip_from_any_seq_and_refuse_a_cut() {
        let journal =
            MemoryJournal::initialise(aurora_journal::MemoryStore::new(), "c", Timestamp(1))
                .expect("initialise");
        journal
            .append(Append::new(
                Precondition::at_end(0),
                Timestamp(2),
                (0..5).map(|i| marker(1, i)).collect(),
            ))
            .await
            .expect("append");
        let tail = journal.read(SeqRange::new(3, 6)).await.expect("read");
        let bytes = encode_frames_within(&tail, usize::MAX);
        assert_eq!(decode_frames(3, &bytes).expect("decode"), tail);
        assert!(decode_frames(3, &bytes[..bytes.len() - 1]).is_err(), "cut");
        assert!(decode_frames(4, &bytes).is_err(), "a frame names its seq");
        assert_eq!(decode_frames(9, &[]).expect("empty"), Vec::new());
        let one = encode_frames_within(&tail, 1);
        assert_eq!(
            decode_frames(3, &one).expect("decode"),
            tail[..1],
            "at least one"
        );
    }
}
