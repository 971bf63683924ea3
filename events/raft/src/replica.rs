//! One replica: a `Raft` over a [`Storage`] (log + state machine), reachable through a
//! [`Router`].

use crate::timeline::mark;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use aurora_journal::{Error as JournalError, Term};
use openraft::error::{ClientWriteError, Fatal, InitializeError, RaftError};
use openraft::{Config, RaftMetrics, ServerState, SnapshotPolicy};

use crate::Error;
use crate::disk::RaftDb;
use crate::entry::{NodeId, Outcome, Raft, Request};
use crate::local::LocalJournal;
use crate::log_store::LogStore;
use crate::network::Router;
use crate::recovery::{Origin, Recovery};
use crate::state_machine::StateMachine;

/// How long things may take. The defaults suit replicas on one machine or a LAN.
#[derive(Debug, Clone)]
pub struct Timeouts {
    /// How often the leader reminds followers it is alive.
    pub heartbeat: Duration,
    /// A follower that hears nothing for a random time in `election` stands for election.
    pub election: (Duration, Duration),
    /// How long an append waits to be committed by a quorum before giving up (its outcome is
    /// then unknown: it may still commit later).
    pub append: Duration,
    /// How long `claim_leadership` waits for this replica to lead and catch up.
    pub claim: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_millis(50),
            election: (Duration::from_millis(150), Duration::from_millis(300)),
            append: Duration::from_secs(5),
            claim: Duration::from_secs(5),
        }
    }
}

/// How much Raft log a replica keeps. A snapshot (which names the journal, copying nothing:
/// see `snapshot`) is taken every `snapshot_every` applied entries, and the log is then purged
/// up to `keep` entries before it. A follower less than `keep` entries behind catches up from
/// the log; one further behind, or with an empty directory, receives the journal it lacks.
/// The journal itself is never shortened by this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compaction {
    pub snapshot_every: u64,
    pub keep: u64,
}

impl Default for Compaction {
    fn default() -> Self {
        Self {
            snapshot_every: 10_000,
            keep: 10_000,
        }
    }
}

/// What a replica keeps between runs: its Raft log and vote, and its state machine (the
/// committed journal). In memory ([`Storage::new`]; clones share it, so a test can stop a
/// replica and start it again on the same storage) or in a data directory ([`Storage::open`]).
#[derive(Debug, Clone, Default)]
pub struct Storage {
    log: LogStore,
    state: StateMachine,
    compaction: Compaction,
    recovery: Recovery,
}

impl Storage {
    /// The same storage, with its log compacted as `compaction` says (the default: see
    /// [`Compaction`]).
    pub fn compacting(mut self, compaction: Compaction) -> Self {
        self.compaction = compaction;
        self
    }

    /// Storage in memory for a member of a new cluster: gone with the process.
    pub fn new() -> Self {
        Self::default()
    }

    /// Storage in memory for a replica joining a cluster that has a history (added, or
    /// replacing one that lost its data): it does not vote until it has caught up (see
    /// [`Origin::Joining`]).
    pub fn joining() -> Self {
        Self {
            recovery: Recovery::in_memory(Origin::Joining),
            ..Self::default()
        }
    }

    /// Replica `id`'s storage in `dir` (created if absent, as `origin` says): `dir/raft` holds
    /// the Raft log, vote and applied state, `dir/journal` the committed journal once the
    /// cluster is initialised. Refuses a directory that belongs to another replica id. Only
    /// one process may hold it at a time (RocksDB's lock).
    pub fn open(dir: &std::path::Path, id: NodeId, origin: Origin) -> Result<Self, Error> {
        let raft = RaftDb::open(dir, id, origin)?;
        let recovering = raft.recovering().map_err(|e| Error::Open {
            path: dir.display().to_string(),
            detail: e.to_string(),
        })?;
        let recovery = Recovery::on_disk(std::sync::Arc::clone(&raft), recovering);
        let log = LogStore::on_disk(std::sync::Arc::clone(&raft), id)?;
        let state = StateMachine::on_disk(dir, raft, log.synced())?;
        Ok(Self {
            log,
            state,
            compaction: Compaction::default(),
            recovery,
        })
    }

    /// Whether this replica is still recovering its history, and so does not vote (see
    /// [`Origin::Joining`]).
    pub fn recovering(&self) -> bool {
        self.recovery.recovering()
    }

    /// The committed journal this storage holds, if the cluster has been initialised here.
    pub fn journal(&self) -> Option<LocalJournal> {
        self.state.journal()
    }
}

struct Inner {
    id: NodeId,
    raft: Raft,
    state: StateMachine,
    /// Whether it is still recovering its history (and does not vote).
    recovery: Recovery,
    router: Router,
    timeouts: Timeouts,
    /// Held by a membership change from start to end: openraft checks that the configuration
    /// a change starts from is committed by its leader's commit index, which counts the
    /// leader's copy before it is synced (see `crate::synced`), while a change that has
    /// returned is applied, so synced. One at a time, each starts from a synced one.
    membership: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Inner {
    // `Raft` is not `Debug`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("id", &self.id)
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

/// A running replica. Cheap to clone; clones share it.
#[derive(Debug, Clone)]
pub struct Replica {
    inner: Arc<Inner>,
}

impl Replica {
    /// Starts replica `id` on `storage` and puts it on `router`'s network.
    pub async fn start(
        id: NodeId,
        storage: &Storage,
        router: &Router,
        timeouts: Timeouts,
    ) -> Result<Self, Error> {
        let config = Config {
            cluster_name: "aurora".into(),
            heartbeat_interval: millis(timeouts.heartbeat),
            election_timeout_min: millis(timeouts.election.0),
            election_timeout_max: millis(timeouts.election.1),
            // A snapshot names the journal and a purge drops only log entries whose events
            // the journal holds durably, so compaction never drops history (see `snapshot`).
            snapshot_policy: SnapshotPolicy::LogsSinceLast(storage.compaction.snapshot_every),
            max_in_snapshot_log_to_keep: storage.compaction.keep,
            // A replica recovering its history does not stand for election from its first
            // moment (see `recovery`).
            enable_elect: !storage.recovery.recovering(),
            ..Config::default()
        }
        .validate()
        .map_err(|e| Error::Config(Box::new(e)))?;
        let raft = Raft::new(
            id,
            Arc::new(config),
            router.connector(id, storage.log.synced()),
            storage.log.clone(),
            storage.state.clone(),
        )
        .await
        .map_err(|e| Error::Start {
            id,
            detail: e.to_string(),
        })?;
        storage.recovery.watch(id, &raft);
        router.register(
            id,
            raft.clone(),
            storage.state.clone(),
            storage.recovery.clone(),
        );
        Ok(Self {
            inner: Arc::new(Inner {
                id,
                raft,
                state: storage.state.clone(),
                recovery: storage.recovery.clone(),
                router: router.clone(),
                timeouts,
                membership: tokio::sync::Mutex::new(()),
            }),
        })
    }

    pub fn id(&self) -> NodeId {
        self.inner.id
    }

    /// This replica as its peers reach it.
    pub(crate) fn peer(&self) -> crate::network::Peer {
        crate::network::Peer {
            raft: self.inner.raft.clone(),
            state: self.inner.state.clone(),
            recovery: self.inner.recovery.clone(),
        }
    }

    /// Whether this replica is still recovering its history after starting on a directory
    /// created without `--init`: until it has caught up it neither votes nor stands for
    /// election (see [`Origin::Joining`]).
    pub fn recovering(&self) -> bool {
        self.inner.recovery.recovering()
    }

    /// The openraft handle (metrics, waits, membership).
    pub fn raft(&self) -> &Raft {
        &self.inner.raft
    }

    pub fn timeouts(&self) -> &Timeouts {
        &self.inner.timeouts
    }

    /// This replica's committed journal, once the cluster's `Initialise` entry is applied here.
    pub fn local_journal(&self) -> Option<LocalJournal> {
        self.inner.state.journal()
    }

    /// Waits up to `wait` for the cluster's journal to appear here.
    pub(crate) async fn wait_for_journal(&self, wait: Duration) -> Option<LocalJournal> {
        let mut journal = self.inner.state.watch_journal();
        let appeared = journal.wait_for(Option::is_some);
        match tokio::time::timeout(wait, appeared).await {
            Ok(Ok(journal)) => journal.clone(),
            _ => self.local_journal(),
        }
    }

    /// Takes the replica off the network and stops its Raft. Its storage stays as it was.
    pub async fn shutdown(&self) -> Result<(), Error> {
        self.inner.router.remove(self.inner.id);
        self.inner.raft.shutdown().await.map_err(|e| Error::Stop {
            id: self.inner.id,
            detail: e.to_string(),
        })
    }

    pub(crate) fn metrics(&self) -> RaftMetrics<NodeId, openraft::BasicNode> {
        self.inner.raft.metrics().borrow().clone()
    }

    /// The newest term this replica knows of.
    pub fn term(&self) -> Term {
        self.metrics().current_term
    }

    /// Whether this replica leads in `term`.
    pub(crate) fn leads_in(&self, term: Term) -> bool {
        let metrics = self.inner.raft.metrics();
        let m = metrics.borrow();
        m.state == ServerState::Leader
            && m.current_leader == Some(self.id())
            && m.current_term == term
    }

    /// How long this leader has gone without hearing from a quorum, when that is longer than
    /// the longest election timeout: by then the other replicas, if they are up and cannot
    /// hear it either, have started an election, so an append would only wait out
    /// [`Timeouts::append`] (a leader cut off with a minority), or be refused once a newer
    /// leader's entries replace it. `None` on a follower, and on a leader in touch.
    pub fn quorum_silent_for(&self) -> Option<Duration> {
        let metrics = self.inner.raft.metrics();
        let m = metrics.borrow();
        if m.state != ServerState::Leader {
            return None;
        }
        let silent = Duration::from_millis(m.millis_since_quorum_ack?);
        (silent > self.inner.timeouts.election.1).then_some(silent)
    }

    /// Waits (bounded by [`Timeouts::claim`]) until this replica leads and has applied an
    /// entry of its own term, i.e. every entry committed before its term; returns the term.
    pub(crate) async fn lead(&self) -> Result<Term, JournalError> {
        let id = self.id();
        let led = self
            .inner
            .raft
            .wait(Some(self.inner.timeouts.claim))
            .metrics(
                |m| {
                    m.state == ServerState::Leader
                        && m.current_leader == Some(id)
                        && m.last_applied.map(|l| l.leader_id.get_term()) == Some(m.current_term)
                },
                "leads and has caught up",
            )
            .await;
        match led {
            Ok(m) => Ok(m.current_term),
            Err(_) => {
                let current = self.term();
                Err(JournalError::NotLeader {
                    term: current,
                    current,
                })
            }
        }
    }

    /// Makes the cluster's voters `members` (first start of a new cluster only); a cluster that
    /// already has members is left as it is. Each member's URL, where the network knows one,
    /// goes into the membership, so replicas added later learn where the others are.
    pub(crate) async fn initialise_membership(
        &self,
        members: BTreeSet<NodeId>,
    ) -> Result<(), JournalError> {
        let nodes: std::collections::BTreeMap<NodeId, openraft::BasicNode> = members
            .into_iter()
            .map(|id| {
                let url = self.inner.router.peer(id).unwrap_or_default();
                (id, openraft::BasicNode::new(url))
            })
            .collect();
        match self.inner.raft.initialize(nodes).await {
            Ok(()) | Err(RaftError::APIError(InitializeError::NotAllowed(_))) => Ok(()),
            Err(e) => Err(JournalError::Storage(format!(
                "replica {} could not initialise the Raft group: {e}",
                self.id()
            ))),
        }
    }

    /// Proposes `request` and waits (bounded by [`Timeouts::append`]) for a quorum to commit
    /// it and for this replica to apply it; returns what applying it did. `term` is the term
    /// the request was decided under, for the error if this replica is not the leader.
    pub(crate) async fn write(
        &self,
        request: Request,
        term: Term,
    ) -> Result<Outcome, JournalError> {
        let wait = self.inner.timeouts.append;
        mark!(self.id(), "entry proposed");
        let written = tokio::time::timeout(wait, self.inner.raft.client_write(request)).await;
        let not_leader = || JournalError::NotLeader {
            term,
            current: self.term(),
        };
        match written {
            Ok(Ok(response)) => Ok(response.data),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_)))) => Err(not_leader()),
            Ok(Err(RaftError::APIError(e))) => Err(JournalError::Storage(e.to_string())),
            // A stopped replica cannot write: the caller should go to the leader.
            Ok(Err(RaftError::Fatal(Fatal::Stopped))) => Err(not_leader()),
            Ok(Err(RaftError::Fatal(fatal))) => Err(JournalError::Storage(format!(
                "replica {} failed: {fatal}",
                self.id()
            ))),
            Err(_elapsed) => Err(JournalError::Unconfirmed(format!(
                "not committed within {wait:?}: no quorum of replicas reachable from replica {}. \
                 The append may still commit later; retry it with a precondition naming the \
                 seq it follows so that it cannot commit twice",
                self.id()
            ))),
        }
    }
}

impl Replica {
    /// The group's voters, as this replica knows them.
    pub fn voters(&self) -> BTreeSet<NodeId> {
        self.metrics()
            .membership_config
            .membership()
            .voter_ids()
            .collect()
    }

    /// Adds replica `id`, reached at `url`, as a voter: it first joins as a learner and
    /// receives the whole journal (waiting up to `catch_up` for it to hold every entry the
    /// leader had when it joined), then the quorum grows to include it. Only the leader can;
    /// an id already voting at that URL is left as it is. Refused, changing nothing, when
    /// `url` is another member's (one process answering for two ids would vote twice) or `id`
    /// is a member reached elsewhere (remove it first to move it).
    pub async fn add_voter(&self, id: NodeId, url: &str, catch_up: Duration) -> Result<(), Error> {
        let failed = |detail: String| Error::Membership { id, detail };
        let refused = |detail: String| Error::AddRefused { id, detail };
        let _one_at_a_time = self.inner.membership.lock().await;
        let url = url.trim_end_matches('/');
        let membership = self.metrics().membership_config.membership().clone();
        let known = |member: NodeId| {
            membership
                .get_node(&member)
                .map(|node| node.addr.trim_end_matches('/').to_string())
                .filter(|addr| !addr.is_empty())
                .or_else(|| self.inner.router.peer(member))
        };
        for (member, _) in membership.nodes() {
            if *member != id && known(*member).is_some_and(|there| crate::same_url(&there, url)) {
                return Err(refused(format!(
                    "{url} is replica {member}'s URL; each replica has its own"
                )));
            }
        }
        if membership.get_node(&id).is_some()
            && let Some(there) = known(id)
            && !crate::same_url(&there, url)
        {
            return Err(refused(format!(
                "replica {id} is already a member, reached at {there}; to move it, remove it \
                 and add it again"
            )));
        }
        let mut voters = self.voters();
        if voters.contains(&id) {
            return Ok(());
        }
        self.inner.router.set_peer(id, url);
        let node = openraft::BasicNode::new(url);
        let not_caught_up = || {
            failed(format!(
                "it has not received the journal within {catch_up:?} (is it running, started \
                 with --replica-id {id}, and does {url} reach it?); it stays a learner (no vote) \
                 and keeps receiving the journal: run the command again once it has caught up, \
                 or remove it"
            ))
        };
        let deadline = tokio::time::Instant::now() + catch_up;
        match tokio::time::timeout_at(deadline, self.inner.raft.add_learner(id, node, true)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(failed(e.to_string())),
            Err(_) => return Err(not_caught_up()),
        }
        // openraft counts a learner as caught up while it lags by fewer than
        // `replication_lag_threshold` (5,000) entries, which in a young cluster is every
        // learner, even one that was never reached: wait until it holds what the leader held.
        let target = self.metrics().last_log_index;
        let mut metrics = self.inner.raft.metrics();
        let holds_it = metrics.wait_for(|m| {
            m.replication
                .as_ref()
                .and_then(|r| r.get(&id))
                .is_some_and(|matched| matched.map(|l| l.index) >= target)
        });
        match tokio::time::timeout_at(deadline, holds_it).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => return Err(failed("this replica stopped".into())),
            Err(_) => return Err(not_caught_up()),
        }
        voters.insert(id);
        self.inner
            .raft
            .change_membership(voters, false)
            .await
            .map(|_| ())
            .map_err(|e| failed(e.to_string()))
    }

    /// Removes replica `id` from the group (the quorum shrinks with it). Only the leader can;
    /// the last voter cannot be removed.
    pub async fn remove_voter(&self, id: NodeId) -> Result<(), Error> {
        let failed = |detail: String| Error::Membership { id, detail };
        let _one_at_a_time = self.inner.membership.lock().await;
        let mut voters = self.voters();
        if !voters.remove(&id) {
            return Err(failed("it is not a voter of this group".into()));
        }
        if voters.is_empty() {
            return Err(failed("it is the last voter; a group needs one".into()));
        }
        self.inner
            .raft
            .change_membership(voters, false)
            .await
            .map(|_| ())
            .map_err(|e| failed(e.to_string()))
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
