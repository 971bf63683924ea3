//! The state machine's tests: apply-time checks, snapshots received and installed, restarts.
use aurora_journal::conformance::marker;
use aurora_journal::initial_event;
use openraft::CommittedLeaderId;

use super::*;

fn entry(index: u64, term: u64, request: Request) -> Entry<TypeConfig> {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(term, 1), index),
        payload: EntryPayload::Normal(request),
    }
}

fn append(term: u64, after: Option<Seq>, at: i64, n: u32) -> Request {
    Request::Append {
        term,
        after,
        at: Timestamp(at),
        events: (0..n).map(|i| marker(1, i)).collect(),
    }
}

/// Entry 1 of term 1: the cluster's journal starts at time 1,000.
fn initialise_entry() -> Entry<TypeConfig> {
    entry(
        1,
        1,
        Request::Initialise {
            first: Box::new(initial_event("c")),
            at: Timestamp(1_000),
        },
    )
}

async fn all(sm: &StateMachine) -> Vec<Envelope> {
    whole_journal(sm.journal()).await.expect("read")
}

/// The apply-time checks, in one batch: each entry is judged against the journal as the
/// entries before it left it, in memory and on disk (where the appends of a batch are
/// queued to the journal's writer together).
#[tokio::test]
async fn entries_are_judged_against_the_journal_they_follow() {
    judged_in_order(StateMachine::default()).await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let raft = RaftDb::open(dir.path(), 1, crate::Origin::Founding).expect("raft db");
    judged_in_order(StateMachine::on_disk(dir.path(), raft, None).expect("open")).await;
}

async fn judged_in_order(mut sm: StateMachine) {
    let first = Box::new(initial_event("c"));
    let outcomes = sm
        .apply([
            entry(1, 1, append(1, None, 500, 1)),
            entry(
                2,
                1,
                Request::Initialise {
                    first: first.clone(),
                    at: Timestamp(1_000),
                },
            ),
            entry(3, 1, append(1, Some(1), 2_000, 2)),
            entry(4, 1, append(1, Some(1), 2_000, 1)),
            entry(5, 1, append(0, None, 2_000, 1)),
            entry(6, 1, append(1, Some(3), 1_500, 1)),
            entry(7, 1, append(1, None, 1_500, 1)),
            entry(
                8,
                1,
                Request::Initialise {
                    first,
                    at: Timestamp(3_000),
                },
            ),
        ])
        .await
        .expect("apply");
    pretty_assertions::assert_eq!(
        outcomes,
        vec![
            Outcome::Refused(Refusal::NotInitialised),
            Outcome::Initialised,
            Outcome::Appended { first: 2, last: 3 },
            Outcome::Refused(Refusal::Conflict { after: 1, last: 3 }),
            Outcome::Refused(Refusal::NotLeader {
                term: 0,
                current: 1
            }),
            Outcome::Refused(Refusal::TimeWentBack {
                at: Timestamp(1_500),
                last: Timestamp(2_000)
            }),
            Outcome::Appended { first: 4, last: 4 },
            Outcome::Refused(Refusal::AlreadyInitialised),
        ]
    );
    let times: Vec<i64> = all(&sm).await.iter().map(|e| e.at.0).collect();
    assert_eq!(times, vec![1_000, 2_000, 2_000, 2_000]);
}

/// A `Batch` entry's appends are judged one after the other, exactly as the same appends
/// in entries of their own, and answered in order; an entry before it and one after it see
/// the journal it left. An `Encoded` entry (events carried as the journal stores them) is
/// judged alike and leaves the very same envelopes.
#[tokio::test]
async fn a_batch_is_judged_append_by_append() {
    // The same events (same ids) in every run, so that whole envelopes compare, chain links
    // included: in memory they are committed decoded, on disk framed from their bytes.
    let inputs = BatchInputs::new();
    let mut journals = Vec::new();
    for encoded in [false, true] {
        journals.push(judged_as_a_batch(StateMachine::default(), &inputs, encoded).await);
        let dir = tempfile::tempdir().expect("temporary directory");
        let raft = RaftDb::open(dir.path(), 1, crate::Origin::Founding).expect("raft db");
        let on_disk = StateMachine::on_disk(dir.path(), raft, None).expect("open");
        journals.push(judged_as_a_batch(on_disk, &inputs, encoded).await);
    }
    assert!(journals[0].iter().skip(1).all(|e| e.prev_hash.is_some()));
    for journal in &journals[1..] {
        pretty_assertions::assert_eq!(journal, &journals[0]);
    }
}

/// The entries of `judged_as_a_batch`: an initialisation, an append, the batch, an append.
struct BatchInputs {
    first: PendingEvent,
    before: Request,
    batch: Vec<Proposed>,
    after: Request,
}

impl BatchInputs {
    fn new() -> Self {
        Self {
            first: initial_event("c"),
            before: append(2, Some(1), 1_000, 1),
            batch: [
                append(2, Some(2), 2_000, 2),
                append(2, Some(2), 2_000, 1),
                append(1, None, 2_000, 1),
                append(2, Some(4), 1_500, 1),
                append(2, None, 2_500, 3),
            ]
            .into_iter()
            .map(proposed)
            .collect(),
            after: append(2, Some(7), 3_000, 1),
        }
    }
}

fn proposed(request: Request) -> Proposed {
    match request {
        Request::Append {
            term,
            after,
            at,
            events,
        } => Proposed {
            term,
            after,
            at,
            events,
        },
        other => panic!("not an append: {other:?}"),
    }
}

/// Applies `inputs` (the batch as a `Batch` entry, or `encoded`) and answers the journal it
/// leaves.
async fn judged_as_a_batch(
    mut sm: StateMachine,
    inputs: &BatchInputs,
    encoded: bool,
) -> Vec<Envelope> {
    let appends = inputs.batch.iter().cloned();
    let batch = if encoded {
        Request::Encoded(appends.map(EncodedProposal::from).collect())
    } else {
        Request::Batch(appends.collect())
    };
    let outcomes = sm
        .apply([
            entry(
                1,
                2,
                Request::Initialise {
                    first: Box::new(inputs.first.clone()),
                    at: Timestamp(1_000),
                },
            ),
            entry(2, 2, inputs.before.clone()),
            entry(3, 2, batch),
            entry(4, 2, inputs.after.clone()),
        ])
        .await
        .expect("apply");
    pretty_assertions::assert_eq!(
        outcomes,
        vec![
            Outcome::Initialised,
            Outcome::Appended { first: 2, last: 2 },
            Outcome::Batch(vec![
                Outcome::Appended { first: 3, last: 4 },
                Outcome::Refused(Refusal::Conflict { after: 2, last: 4 }),
                Outcome::Refused(Refusal::NotLeader {
                    term: 1,
                    current: 2
                }),
                Outcome::Refused(Refusal::TimeWentBack {
                    at: Timestamp(1_500),
                    last: Timestamp(2_000)
                }),
                Outcome::Appended { first: 5, last: 7 },
            ]),
            Outcome::Appended { first: 8, last: 8 },
        ]
    );
    let journal = all(&sm).await;
    let times: Vec<i64> = journal.iter().map(|e| e.at.0).collect();
    assert_eq!(
        times,
        vec![1_000, 1_000, 2_000, 2_000, 2_500, 2_500, 2_500, 3_000]
    );
    journal
}

/// A snapshot is the journal: an empty replica receives all of it and one that holds a
/// prefix the rest (in chunks that may restate envelopes it has), and both end with the
/// source's envelopes and applied state; a replica whose journal does not reach the
/// snapshot's seq refuses to install it.
#[tokio::test]
async fn a_snapshot_carries_the_whole_journal() {
    let mut source = StateMachine::default();
    let mut behind = StateMachine::default();
    let init = initialise_entry();
    let first_batch = entry(2, 1, append(1, None, 2_000, 3));
    behind
        .apply([init.clone(), first_batch.clone()])
        .await
        .expect("apply");
    source
        .apply([init, first_batch, entry(3, 1, append(1, None, 3_000, 2))])
        .await
        .expect("apply");

    let snapshot = source.build_snapshot().await.expect("build");
    assert_eq!(snapshot.meta.last_log_id.map(|l| l.index), Some(3));
    assert_eq!(snapshot.snapshot.upto, 6);
    let everything = all(&source).await;

    let mut incomplete = StateMachine::default();
    let refused = incomplete
        .install_snapshot(&snapshot.meta, snapshot.snapshot.clone())
        .await;
    assert!(refused.is_err(), "nothing received yet");

    for target in [&mut StateMachine::default(), &mut behind] {
        // In two chunks, the second restating the first's last envelope.
        let had = target.journal().map_or(0, |j| j.last_seq());
        let last = target.receive(&everything[..3]).await.expect("receive");
        assert_eq!(last, had.max(3));
        let last = target.receive(&everything[2..]).await.expect("receive");
        assert_eq!(last, 6);
        target
            .install_snapshot(&snapshot.meta, snapshot.snapshot.clone())
            .await
            .expect("install");
        assert_eq!(all(target).await, everything);
        let (applied, _) = target.applied_state().await.expect("applied");
        assert_eq!(applied, snapshot.meta.last_log_id);
        let current = target.get_current_snapshot().await.expect("current");
        assert_eq!(
            current.map(|s| (s.meta, s.snapshot.upto)),
            Some((snapshot.meta.clone(), 6))
        );
    }

    // A gap is not taken, and a different history is refused.
    let empty = StateMachine::default();
    assert_eq!(empty.receive(&everything[2..]).await.expect("gap"), 0);
    assert_eq!(empty.receive(&everything[..2]).await.expect("start"), 2);
    let mut forged = everything[1].clone();
    forged.actor = aurora_events::Actor::User("mallory".into());
    assert!(empty.receive(&[forged]).await.is_err(), "diverged");
    // A chunk that ends before this replica's last envelope is compared at its own last.
    let mut forged = everything[0].clone();
    forged.actor = aurora_events::Actor::User("mallory".into());
    assert!(empty.receive(&[forged]).await.is_err(), "diverged earlier");
    assert_eq!(empty.receive(&everything[..1]).await.expect("same"), 2);
    // The leader's copy of an envelope from before the hash chain has no link.
    let unlinked = aurora_events::Envelope {
        prev_hash: None,
        ..everything[1].clone()
    };
    assert_eq!(empty.receive(&[unlinked]).await.expect("unlinked"), 2);
    assert_eq!(all(&empty).await, everything[..2]);
}

/// A received snapshot is recorded, with the journal synced, before openraft may purge the
/// log behind it: a replica stopped before the install finished resumes from the
/// snapshot's entry and membership, not from an entry the purge took. One whose journal
/// does not reach the snapshot refuses it before anything is purged.
#[tokio::test]
async fn a_received_snapshot_is_where_a_replica_stopped_before_installing_it_resumes() {
    let source = StateMachine::default();
    let mut source_apply = source.clone();
    source_apply
        .apply([
            initialise_entry(),
            entry(2, 1, append(1, None, 2_000, 3)),
            entry(9, 1, append(1, None, 3_000, 2)),
        ])
        .await
        .expect("apply");
    let everything = all(&source).await;
    let membership = openraft::Membership::new(vec![[1, 2].into()], None);
    let meta = SnapshotMeta {
        last_log_id: Some(LogId::new(CommittedLeaderId::new(1, 1), 9)),
        last_membership: StoredMembership::new(
            Some(LogId::new(CommittedLeaderId::new(1, 1), 7)),
            membership,
        ),
        snapshot_id: "9-6-1".into(),
    };

    let dir = tempfile::tempdir().expect("temporary directory");
    let raft = RaftDb::open(dir.path(), 2, crate::Origin::Founding).expect("raft db");
    let follower = StateMachine::on_disk(dir.path(), Arc::clone(&raft), None).expect("open");
    follower.receive(&everything[..4]).await.expect("receive");
    let short = follower.prepare_install(&meta, 6).await;
    assert!(
        short.is_err_and(|e| e.to_string().contains("ends at seq 4")),
        "refused before all chunks arrived"
    );
    follower.receive(&everything[3..]).await.expect("receive");
    follower.prepare_install(&meta, 6).await.expect("prepared");
    drop(follower);

    // Stopped here: openraft may have purged the log up to entry 9.
    let mut reopened = StateMachine::on_disk(dir.path(), raft, None).expect("reopen");
    let (applied, stored) = reopened.applied_state().await.expect("applied");
    assert_eq!(applied, meta.last_log_id);
    assert_eq!(stored, meta.last_membership);
    assert_eq!(all(&reopened).await, everything);
    let current = reopened.get_current_snapshot().await.expect("current");
    assert_eq!(current.map(|s| (s.meta, s.snapshot.upto)), Some((meta, 6)));
}

/// Streams `envelopes` into `sm` for `snapshot`, as its leader would, checks that the journal
/// then holds `everything`, and prepares the install.
async fn streamed_and_prepared(
    sm: &StateMachine,
    envelopes: &[Envelope],
    everything: &[Envelope],
    snapshot: &Snapshot<TypeConfig>,
) {
    sm.receive_for(envelopes, snapshot.meta.last_log_id)
        .await
        .expect("streamed");
    assert_eq!(all(sm).await, everything);
    sm.prepare_install(&snapshot.meta, snapshot.snapshot.upto)
        .await
        .expect("prepared");
}

/// Opens the replica in `dir` again and checks that it starts with `covers` applied.
async fn restarts_applied_to(
    dir: &std::path::Path,
    raft: Arc<RaftDb>,
    covers: Option<LogId<NodeId>>,
) {
    let mut reopened = StateMachine::on_disk(dir, raft, None).expect("starts");
    let (applied, _) = reopened.applied_state().await.expect("applied");
    assert_eq!(applied, covers);
}

/// A replica stopped between the first chunk of a snapshot and its install has a journal
/// ahead of its applied state: on its next start it drops what the stream brought (here the
/// whole journal, which the stream had made), so that it neither applies its log again over
/// those envelopes nor refuses to start; the next stream brings everything. Once a snapshot is
/// recorded it starts from it.
#[tokio::test]
async fn a_replica_stopped_while_receiving_a_snapshot_drops_what_it_received() {
    let mut source = StateMachine::default();
    source
        .apply([initialise_entry(), entry(2, 1, append(1, None, 2_000, 3))])
        .await
        .expect("apply");
    let everything = all(&source).await;
    let snapshot = source.build_snapshot().await.expect("build");
    let covers = snapshot.meta.last_log_id;

    let dir = tempfile::tempdir().expect("temporary directory");
    let raft = RaftDb::open(dir.path(), 2, crate::Origin::Founding).expect("raft db");
    let follower = StateMachine::on_disk(dir.path(), Arc::clone(&raft), None).expect("open");
    follower
        .receive_for(&everything[..2], covers)
        .await
        .expect("receive");
    assert_eq!(all(&follower).await.len(), 2);
    drop(follower);
    let restarted =
        StateMachine::on_disk(dir.path(), Arc::clone(&raft), None).expect("stopped mid-stream");
    assert!(
        restarted.journal().is_none(),
        "the streamed journal is gone"
    );
    streamed_and_prepared(&restarted, &everything, &everything, &snapshot).await;
    drop(restarted);
    let reopened = StateMachine::on_disk(dir.path(), Arc::clone(&raft), None).expect("starts");
    assert_eq!(all(&reopened).await, everything);
    drop(reopened);

    // The same, with the whole snapshot received and recorded: it starts from it.
    let dir = tempfile::tempdir().expect("temporary directory");
    let raft = RaftDb::open(dir.path(), 2, crate::Origin::Founding).expect("raft db");
    let follower = StateMachine::on_disk(dir.path(), Arc::clone(&raft), None).expect("open");
    streamed_and_prepared(&follower, &everything, &everything, &snapshot).await;
    drop(follower);
    restarts_applied_to(dir.path(), raft, covers).await;
}

/// The applied state is written after the events (and not synced); the journal's marker,
/// written with them, is what a restart trusts when the two disagree, so an entry whose
/// events are on disk is never applied again.
#[tokio::test]
async fn a_restart_resumes_after_the_last_entry_whose_events_are_on_disk() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let raft = RaftDb::open(dir.path(), 1, crate::Origin::Founding).expect("raft db");
    let mut sm = StateMachine::on_disk(dir.path(), Arc::clone(&raft), None).expect("open");
    let init = initialise_entry();
    sm.apply([init, entry(2, 1, append(1, None, 2_000, 3))])
        .await
        .expect("apply");
    let written = all(&sm).await;
    assert_eq!(written.len(), 4);
    // As if the process died before the applied state reached the disk.
    raft.put_meta(META_APPLIED, &AppliedState::default(), true)
        .expect("forget the applied state");
    drop(sm);

    let mut reopened = StateMachine::on_disk(dir.path(), raft, None).expect("reopen");
    let (applied, _) = reopened.applied_state().await.expect("applied");
    assert_eq!(
        applied.map(|l| l.index),
        Some(2),
        "from the journal's marker"
    );
    assert_eq!(all(&reopened).await, written);
}

/// A state machine on disk (in a directory gone with the first value), whose log's sync
/// progress the test moves.
fn on_disk_syncing() -> (tempfile::TempDir, Synced, StateMachine) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let raft = RaftDb::open(dir.path(), 1, crate::Origin::Founding).expect("raft db");
    let synced = Synced::starting_at(None);
    let sm = StateMachine::on_disk(dir.path(), raft, Some(synced.clone())).expect("open");
    (dir, synced, sm)
}

/// On disk, an entry is applied (and its appender answered) only once this replica's log is
/// synced up to it: the leader's own entries are replicated before they are synced.
#[tokio::test]
async fn an_entry_is_applied_only_once_the_log_is_synced_up_to_it() {
    let (_dir, synced, mut sm) = on_disk_syncing();
    let applying = tokio::spawn(async move {
        let outcomes = sm
            .apply([
                initialise_entry(),
                entry(2, 1, append(1, Some(1), 2_000, 2)),
            ])
            .await
            .expect("apply");
        (sm, outcomes)
    });
    synced.advance(LogId::new(CommittedLeaderId::new(1, 1), 1));
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(!applying.is_finished(), "entry 2 is not synced yet");
    synced.advance(LogId::new(CommittedLeaderId::new(1, 1), 2));
    let (sm, outcomes) = applying.await.expect("applied");
    assert_eq!(
        outcomes,
        vec![Outcome::Initialised, Outcome::appended(SeqRange::new(2, 3))]
    );
    assert_eq!(all(&sm).await.len(), 3);
}

/// A failed sync of the log fails the apply (openraft then stops the replica) instead of
/// answering appends whose entries may not be on disk.
#[tokio::test]
async fn a_failed_sync_fails_the_apply() {
    let (_dir, synced, mut sm) = on_disk_syncing();
    synced.fail("the disk went away");
    let applied = sm.apply([initialise_entry()]).await;
    assert!(applied.is_err_and(|e| e.to_string().contains("the disk went away")));
    assert!(sm.journal().is_none(), "nothing was applied");
}

/// A replica that was behind, stopped while receiving the envelopes it lacked, keeps exactly
/// the journal its applied state accounts for (its marker's), and the stream resumes after it.
#[tokio::test]
async fn a_replica_behind_stopped_mid_stream_keeps_what_it_had_applied() {
    let mut source = StateMachine::default();
    let (init, first_append) = (initialise_entry(), entry(2, 1, append(1, None, 2_000, 1)));
    source
        .apply([
            init.clone(),
            first_append.clone(),
            entry(3, 1, append(1, None, 3_000, 2)),
            entry(4, 1, append(1, None, 4_000, 2)),
        ])
        .await
        .expect("apply");
    let everything = all(&source).await;
    assert_eq!(everything.len(), 6);
    let snapshot = source.build_snapshot().await.expect("build");
    let covers = snapshot.meta.last_log_id;

    let dir = tempfile::tempdir().expect("temporary directory");
    let raft = RaftDb::open(dir.path(), 2, crate::Origin::Founding).expect("raft db");
    let mut follower = StateMachine::on_disk(dir.path(), Arc::clone(&raft), None).expect("open");
    follower.apply([init, first_append]).await.expect("apply");
    assert_eq!(all(&follower).await, everything[..2]);
    // Seqs 3 and 4 arrive (after seq 2, restated), then the replica stops.
    follower
        .receive_for(&everything[1..4], covers)
        .await
        .expect("receive");
    assert_eq!(all(&follower).await.len(), 4);
    drop(follower);

    let restarted =
        StateMachine::on_disk(dir.path(), Arc::clone(&raft), None).expect("stopped mid-stream");
    assert_eq!(
        all(&restarted).await,
        everything[..2],
        "back to what it had applied"
    );
    let marked = LogId::new(CommittedLeaderId::new(1, 1), 2);
    let mut restarted = restarted;
    let (applied, _) = restarted.applied_state().await.expect("applied");
    assert_eq!(applied, Some(marked));
    // The time index no longer names the dropped seqs.
    let journal = restarted.journal().expect("journal");
    assert_eq!(
        journal.seq_at(Timestamp(3_500)).await.expect("seq at"),
        Some(2)
    );
    drop(journal);
    // Streamed again from where it ends, the rest follows and the snapshot installs.
    streamed_and_prepared(&restarted, &everything[1..], &everything, &snapshot).await;
    drop(restarted);
    restarts_applied_to(dir.path(), raft, covers).await;
}

/// A record of a stream that no envelope of the journal comes from any more (a start that
/// dropped them stopped before clearing it) is forgotten at the next start: the envelopes the
/// replica applies afterwards past that seq are never taken for streamed ones and dropped.
#[tokio::test]
async fn a_stale_stream_record_never_drops_envelopes_applied_later() {
    let mut source = StateMachine::default();
    let init = initialise_entry();
    source
        .apply([
            init.clone(),
            entry(2, 1, append(1, None, 2_000, 3)),
            entry(3, 1, append(1, None, 3_000, 1)),
        ])
        .await
        .expect("apply");
    let everything = all(&source).await;
    let covers = source
        .build_snapshot()
        .await
        .expect("build")
        .meta
        .last_log_id;

    let dir = tempfile::tempdir().expect("temporary directory");
    let raft = RaftDb::open(dir.path(), 2, crate::Origin::Founding).expect("raft db");
    let mut follower = StateMachine::on_disk(dir.path(), Arc::clone(&raft), None).expect("open");
    follower.apply([init]).await.expect("apply");
    follower
        .receive_for(&everything[..3], covers)
        .await
        .expect("receive");
    drop(follower);
    // As if a start had dropped them and stopped before it cleared the record.
    RocksJournal::drop_after(dir.path().join("journal"), 1).expect("drop");
    let mut follower = StateMachine::on_disk(dir.path(), Arc::clone(&raft), None).expect("open");
    // Its own log brings the same events as an entry before the snapshot's.
    follower
        .apply([entry(2, 1, append(1, None, 2_000, 3))])
        .await
        .expect("apply");
    let applied = all(&follower).await;
    assert_eq!(applied.len(), 4);
    drop(follower);
    let reopened = StateMachine::on_disk(dir.path(), raft, None).expect("starts");
    assert_eq!(all(&reopened).await, applied, "nothing applied is dropped");
}
