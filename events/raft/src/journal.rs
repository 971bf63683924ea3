//! [`RaftJournal`]: the `Journal` trait over one replica of the Raft group.
//!
//! Writes go through Raft (only the leader's succeed); reads, subscriptions and the time index
//! are served from the replica's own committed journal, which holds exactly the entries Raft
//! has committed and this replica has applied.

use crate::timeline::mark;
use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aurora_events::codec::PreEncoded;
use aurora_events::{Envelope, Seq, Timestamp};
use aurora_journal::{
    Append, Checkpoint, CheckpointStore, Error as JournalError, EventStream, Journal, SeqRange,
    Term, initial_event,
};

use tokio::sync::oneshot;

use crate::entry::{EncodedProposal, NodeId, Outcome, Request};
use crate::local::LocalJournal;
use crate::replica::Replica;
use crate::state_machine::LOCATION;

/// Most proposals (Raft entries) one handle has in flight at once. Appends that arrive while
/// that many are in flight wait and go together in the next one: under load one entry carries
/// many appends, while a lone append is proposed at once. One, because openraft 0.9 sends a
/// follower its next entries only once it has answered the last ones (and the follower syncs
/// them first): a second proposal in flight only splits the appends that would have shared
/// one round (three replicas on loopback over HTTP, 256 appenders: 65,000 appends/s with one,
/// 57,000 with two, 2026-12-07; with four, fewer still at 16 and 256, 2026-12-05).
const PROPOSALS_IN_FLIGHT: usize = 1;

/// Most events one proposal carries (more wait for the next): bounds an entry's size.
const MAX_PROPOSAL_EVENTS: usize = 4096;

/// An append waiting to be proposed, and where its answer goes.
#[derive(Debug)]
struct Waiting {
    proposed: EncodedProposal,
    reply: oneshot::Sender<Result<SeqRange, JournalError>>,
}

#[derive(Debug, Default)]
struct Proposals {
    waiting: VecDeque<Waiting>,
    in_flight: usize,
}

#[derive(Debug)]
struct Inner {
    replica: Replica,
    proposals: Mutex<Proposals>,
    /// This replica's committed journal. The same store for the replica's whole life: applied
    /// entries and installed snapshots are appended to it, never swapped in.
    local: LocalJournal,
    cluster: String,
}

/// A handle on the replicated journal through one replica. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RaftJournal {
    inner: Arc<Inner>,
}

impl RaftJournal {
    /// Initialises a new cluster: makes `members` the Raft group's voters (from `replica`,
    /// which must be one of them) and commits `ClusterInitialised` as seq 1 at `at`. Refused
    /// with [`JournalError::AlreadyInitialised`] if the cluster already has a journal.
    pub async fn initialise(
        replica: &Replica,
        members: BTreeSet<NodeId>,
        cluster: &str,
        at: Timestamp,
    ) -> Result<Self, JournalError> {
        if replica.local_journal().is_some() {
            return Err(JournalError::AlreadyInitialised {
                location: LOCATION.into(),
            });
        }
        replica.initialise_membership(members).await?;
        let term = replica.lead().await?;
        let first = Box::new(initial_event(cluster));
        match replica
            .write(Request::Initialise { first, at }, term)
            .await?
        {
            Outcome::Initialised => Self::open(replica),
            Outcome::Refused(refusal) => Err(refusal.into_error(LOCATION)),
            other => Err(JournalError::Damaged(format!(
                "initialising answered {other:?}"
            ))),
        }
    }

    /// Opens the journal through `replica`, which must have applied the cluster's
    /// initialisation ([`JournalError::NotInitialised`] otherwise; see [`Self::open_within`]).
    pub fn open(replica: &Replica) -> Result<Self, JournalError> {
        let local = replica
            .local_journal()
            .ok_or_else(|| JournalError::NotInitialised {
                location: LOCATION.into(),
            })?;
        Ok(Self::over(replica, local))
    }

    /// [`Self::open`], waiting up to `wait` for the initialisation to reach `replica` (a
    /// follower that has just started).
    pub async fn open_within(replica: &Replica, wait: Duration) -> Result<Self, JournalError> {
        match replica.wait_for_journal(wait).await {
            Some(local) => Ok(Self::over(replica, local)),
            None => Err(JournalError::NotInitialised {
                location: LOCATION.into(),
            }),
        }
    }

    fn over(replica: &Replica, local: LocalJournal) -> Self {
        let cluster = local.cluster().to_string();
        Self {
            inner: Arc::new(Inner {
                replica: replica.clone(),
                proposals: Mutex::default(),
                local,
                cluster,
            }),
        }
    }

    /// The replica this handle writes and reads through.
    pub fn replica(&self) -> &Replica {
        &self.inner.replica
    }

    /// This replica's own copy of the committed journal, where it is on disk (what a backup
    /// copies); `None` in memory.
    pub fn local_rocks(&self) -> Option<aurora_journal::RocksJournal> {
        match &self.inner.local {
            LocalJournal::Rocks(journal) => Some(journal.clone()),
            LocalJournal::Memory(_) => None,
        }
    }
}

#[async_trait]
impl Journal for RaftJournal {
    async fn append(&self, append: Append) -> Result<SeqRange, JournalError> {
        let Append {
            precondition,
            at,
            events,
        } = append;
        if events.is_empty() {
            return Err(JournalError::EmptyAppend);
        }
        let replica = &self.inner.replica;
        mark!(replica.id(), "append received");
        // Cheap early answer for a writer that is not (or no longer) the leader. Not the
        // fence itself: leadership can change after this check, and the apply-time check
        // (see `state_machine`) is what every replica agrees on.
        if !replica.leads_in(precondition.term) {
            return Err(JournalError::NotLeader {
                term: precondition.term,
                current: replica.term(),
            });
        }
        // A leader cut off from its quorum refuses at once, rather than after every queued
        // append has waited out its own timeout (a minority's writes would queue for minutes).
        if let Some(cut_off) = cut_off(replica) {
            return Err(cut_off);
        }
        let (reply, answer) = oneshot::channel();
        // Encoded here, on the appender's task, once: the entry carries the bytes to every
        // replica's journal (see `Request::Encoded`).
        let proposed = EncodedProposal {
            term: precondition.term,
            after: precondition.after,
            at,
            events: events.iter().map(PreEncoded::new).collect(),
        };
        let start_proposing = {
            let mut proposals = self.inner.proposals();
            proposals.waiting.push_back(Waiting { proposed, reply });
            let start = proposals.in_flight < PROPOSALS_IN_FLIGHT;
            if start {
                proposals.in_flight += 1;
            }
            start
        };
        if start_proposing {
            tokio::spawn(propose(Arc::clone(&self.inner)));
        }
        let answered = answer.await.map_err(|_| JournalError::Closed)?;
        mark!(replica.id(), "append answered");
        answered
    }

    async fn read(&self, range: SeqRange) -> Result<Vec<Envelope>, JournalError> {
        self.inner.local.read(range).await
    }

    fn subscribe(&self, from: Seq) -> EventStream {
        self.inner.local.subscribe(from)
    }

    fn subscribe_in_chunks(&self, from: Seq, chunk: u64) -> EventStream {
        self.inner.local.subscribe_in_chunks(from, chunk)
    }

    fn last_seq(&self) -> Seq {
        self.inner.local.last_seq()
    }

    fn cluster(&self) -> &str {
        &self.inner.cluster
    }

    async fn seq_at(&self, at: Timestamp) -> Result<Option<Seq>, JournalError> {
        self.inner.local.seq_at(at).await
    }

    /// The newest Raft term this replica knows of (the term it leads in, if it leads).
    fn term(&self) -> Term {
        self.inner.replica.term()
    }

    /// Waits (bounded) until this replica leads and has applied everything committed before
    /// its term, and returns that term; [`JournalError::NotLeader`] if it does not lead by then.
    ///
    /// Unlike the single-node backends this does not *begin* a term: in Raft a term begins
    /// with an election, and openraft 0.9 ignores an election triggered on a sitting leader.
    /// Each election's winner gets a term higher than every earlier one, which is the promise
    /// that fencing needs.
    async fn claim_leadership(&self) -> Result<Term, JournalError> {
        self.inner.replica.lead().await
    }
}

impl Inner {
    fn proposals(&self) -> std::sync::MutexGuard<'_, Proposals> {
        // The queue stays consistent whatever panicked while holding it (every change is one
        // push, pop or count).
        self.proposals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The waiting appends for the next proposal (at least one, if any wait), or `None` and
    /// one proposer fewer.
    fn next_proposal(&self) -> Option<Vec<Waiting>> {
        let mut proposals = self.proposals();
        if proposals.waiting.is_empty() {
            proposals.in_flight -= 1;
            return None;
        }
        let mut batch = Vec::new();
        let mut events = 0;
        while let Some(next) = proposals.waiting.front() {
            let size = next.proposed.events.len();
            if !batch.is_empty() && events + size > MAX_PROPOSAL_EVENTS {
                break;
            }
            events += size;
            batch.extend(proposals.waiting.pop_front());
        }
        Some(batch)
    }
}

/// A running proposer's slot. If the proposer ends without giving it back (it panicked, or
/// its task was cancelled), the drop passes the slot to a new proposer when appends still wait
/// (so they are not stranded behind a count that never comes down), or gives it back.
struct Slot {
    inner: Arc<Inner>,
    given_back: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.given_back {
            return;
        }
        let waiting = !self.inner.proposals().waiting.is_empty();
        if waiting && let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(propose(Arc::clone(&self.inner)));
            return;
        }
        let mut proposals = self.inner.proposals();
        proposals.in_flight -= 1;
        // No proposer can take them: their callers learn it now rather than never.
        proposals.waiting.clear();
    }
}

/// One proposer: proposes the waiting appends, one entry at a time, until none wait.
async fn propose(inner: Arc<Inner>) {
    let mut slot = Slot {
        inner: Arc::clone(&inner),
        given_back: false,
    };
    loop {
        let Some(batch) = inner.next_proposal() else {
            // `next_proposal` gave the slot back.
            slot.given_back = true;
            return;
        };
        let (proposed, replies): (Vec<EncodedProposal>, Vec<_>) =
            batch.into_iter().map(|w| (w.proposed, w.reply)).unzip();
        let count = proposed.len();
        // Appends that queued behind one that waited out its timeout are refused as a new one
        // would be, not proposed to wait out theirs.
        if let Some(cut_off) = cut_off(&inner.replica) {
            for reply in replies {
                let _ = reply.send(Err(cut_off.clone()));
            }
            continue;
        }
        match write_together(&inner.replica, proposed).await {
            Ok(outcomes) if outcomes.len() == count => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(answer(outcome));
                }
            }
            Ok(outcomes) => {
                let damaged = JournalError::Damaged(format!(
                    "{count} appends proposed together were applied as {outcomes:?}"
                ));
                for reply in replies {
                    let _ = reply.send(Err(damaged.clone()));
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// The refusal of a leader that has heard from no quorum for longer than an election timeout
/// (see [`Replica::quorum_silent_for`]); `None` when it may propose.
fn cut_off(replica: &Replica) -> Option<JournalError> {
    let silent = replica.quorum_silent_for()?;
    Some(JournalError::Storage(format!(
        "no quorum: replica {} has heard from no quorum of replicas for {} ms; the append was \
         not proposed, retry it once a quorum is reachable",
        replica.id(),
        silent.as_millis()
    )))
}

/// Proposes `proposed` (not empty) as one entry; answers each one's outcome.
async fn write_together(
    replica: &Replica,
    proposed: Vec<EncodedProposal>,
) -> Result<Vec<Outcome>, JournalError> {
    let term = proposed.first().map_or(0, |p| p.term);
    match replica.write(Request::Encoded(proposed), term).await? {
        Outcome::Batch(outcomes) => Ok(outcomes),
        other => Ok(vec![other]),
    }
}

/// What one append's outcome answers its caller.
fn answer(outcome: Outcome) -> Result<SeqRange, JournalError> {
    match outcome {
        Outcome::Appended { first, last } => Ok(SeqRange::new(first, last)),
        Outcome::Refused(refusal) => Err(refusal.into_error(LOCATION)),
        other => Err(JournalError::Damaged(format!(
            "an append was applied as {other:?}"
        ))),
    }
}

/// Checkpoints are a replica's local cache, not replicated: they live beside its copy of the
/// journal.
#[async_trait]
impl CheckpointStore for RaftJournal {
    async fn put_checkpoint(
        &self,
        name: &str,
        seq: Seq,
        bytes: Vec<u8>,
    ) -> Result<(), JournalError> {
        self.inner.local.put_checkpoint(name, seq, bytes).await
    }

    async fn checkpoint_at_or_before(
        &self,
        name: &str,
        seq: Seq,
    ) -> Result<Option<Checkpoint>, JournalError> {
        self.inner.local.checkpoint_at_or_before(name, seq).await
    }
}
