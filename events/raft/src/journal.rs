//! [`RaftJournal`]: the `Journal` trait over one replica of the Raft group.
//!
//! Writes go through Raft (only the leader's succeed); reads, subscriptions and the time index
//! are served from the replica's own committed journal, which holds exactly the entries Raft
//! has committed and this replica has applied.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aurora_events::{Envelope, Seq, Timestamp};
use aurora_journal::{
    Append, Checkpoint, CheckpointStore, Error as JournalError, EventStream, Journal, SeqRange,
    Term, initial_event,
};

use crate::entry::{NodeId, Outcome, Request};
use crate::local::LocalJournal;
use crate::replica::Replica;
use crate::state_machine::LOCATION;

#[derive(Debug)]
struct Inner {
    replica: Replica,
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
                local,
                cluster,
            }),
        }
    }

    /// The replica this handle writes and reads through.
    pub fn replica(&self) -> &Replica {
        &self.inner.replica
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
        // Cheap early answer for a writer that is not (or no longer) the leader. Not the
        // fence itself: leadership can change after this check, and the apply-time check
        // (see `state_machine`) is what every replica agrees on.
        if !replica.leads_in(precondition.term) {
            return Err(JournalError::NotLeader {
                term: precondition.term,
                current: replica.term(),
            });
        }
        let request = Request::Append {
            term: precondition.term,
            after: precondition.after,
            at,
            events,
        };
        match replica.write(request, precondition.term).await? {
            Outcome::Appended { first, last } => Ok(SeqRange::new(first, last)),
            Outcome::Refused(refusal) => Err(refusal.into_error(LOCATION)),
            other => Err(JournalError::Damaged(format!(
                "an append was applied as {other:?}"
            ))),
        }
    }

    async fn read(&self, range: SeqRange) -> Result<Vec<Envelope>, JournalError> {
        self.inner.local.read(range).await
    }

    fn subscribe(&self, from: Seq) -> EventStream {
        self.inner.local.subscribe(from)
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
