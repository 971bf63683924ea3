//! The behaviour suite every [`Journal`] backend must pass (and the [`CheckpointStore`] it
//! carries).
//!
//! A backend provides a [`Backend`] harness (how to initialise, reopen after a restart, and open
//! an uninitialised location) and instantiates the suite with [`conformance_tests!`], which makes
//! one `#[tokio::test]` per case so that a failure names the behaviour that broke.

use std::collections::BTreeSet;

use async_trait::async_trait;
use aurora_events::{
    Actor, Envelope, Event, Identifier, PendingEvent, ResourceAggregate, Seq, Timestamp,
};

use futures::StreamExt;

use crate::{
    Append, CheckpointStore, Clock, Error, Journal, Precondition, Recovery, SeqRange, SystemClock,
    Term,
};

/// How the suite drives one backend. Each case gets a fresh harness.
#[async_trait]
pub trait Backend: Send {
    type Journal: Journal + CheckpointStore + Clone;

    /// Initialises a new journal for `cluster` at this harness's location, its first event
    /// committed at `at`.
    async fn initialise(&mut self, cluster: &str, at: Timestamp) -> Result<Self::Journal, Error>;

    /// Opens the journal at this harness's location again, as after a process restart. The
    /// suite drops every handle and stream of the previous journal first.
    async fn reopen(&mut self) -> Result<Self::Journal, Error>;

    /// Opens a location that holds no journal; must fail with [`Error::NotInitialised`].
    async fn open_uninitialised(&mut self) -> Result<Self::Journal, Error>;
}

/// A recognisable test event: writer `writer`'s `n`th event.
pub fn marker(writer: u32, n: u32) -> PendingEvent {
    let role = Identifier::new(format!("writer{writer}")).expect("valid identifier");
    PendingEvent::new(
        Actor::User(format!("writer{writer}")),
        Event::QuotaSet {
            role,
            quota: ResourceAggregate {
                cpus: 0.0,
                ram_mb: u64::from(n),
                disk_mb: 0,
            },
        },
    )
}

/// Which writer and number a [`marker`] event carries.
pub fn read_marker(envelope: &Envelope) -> Option<(u32, u32)> {
    match &envelope.event {
        Event::QuotaSet { role, quota } => {
            let writer = role.as_str().strip_prefix("writer")?.parse().ok()?;
            Some((writer, u32::try_from(quota.ram_mb).ok()?))
        }
        _ => None,
    }
}

/// Now, by the system clock.
pub fn now() -> Timestamp {
    SystemClock.now()
}

/// Appends `events` at the end of the journal, at `at`, under its current term: how a writer
/// that is not the scheduler's leader (a test, a benchmark) appends.
pub async fn append_at_end<J: Journal + ?Sized>(
    journal: &J,
    at: Timestamp,
    events: Vec<PendingEvent>,
) -> Result<SeqRange, Error> {
    let precondition = Precondition::at_end(journal.term());
    journal.append(Append::new(precondition, at, events)).await
}

/// [`append_at_end`] now.
pub async fn append<J: Journal + ?Sized>(
    journal: &J,
    events: Vec<PendingEvent>,
) -> Result<SeqRange, Error> {
    append_at_end(journal, now(), events).await
}

async fn read_all<J: Journal>(journal: &J) -> Vec<Envelope> {
    journal
        .read(SeqRange::new(1, journal.last_seq()))
        .await
        .expect("read everything")
}

/// Asserts the journal's shape: seqs dense from 1, commit times never decreasing.
pub fn assert_dense(envelopes: &[Envelope]) {
    for (i, envelope) in envelopes.iter().enumerate() {
        assert_eq!(envelope.seq, i as Seq + 1, "seqs must be dense from 1");
    }
    for pair in envelopes.windows(2) {
        assert!(
            pair[0].at <= pair[1].at,
            "commit time went backwards at seq {}",
            pair[1].seq
        );
    }
}

pub async fn starts_with_cluster_initialised<B: Backend>(mut backend: B) {
    let journal = backend
        .initialise("devcluster", now())
        .await
        .expect("initialise");
    assert_eq!(journal.last_seq(), 1);
    assert_eq!(journal.cluster(), "devcluster");
    let all = read_all(&journal).await;
    assert_eq!(all.len(), 1);
    assert_eq!(
        all[0].event,
        Event::ClusterInitialised {
            cluster: "devcluster".into()
        }
    );
}

pub async fn appends_get_consecutive_seqs<B: Backend>(mut backend: B) {
    let journal = backend.initialise("c", now()).await.expect("initialise");
    let first = append(&journal, vec![marker(1, 0), marker(1, 1), marker(1, 2)])
        .await
        .expect("append");
    assert_eq!(first, SeqRange::new(2, 4));
    let second = append(&journal, vec![marker(1, 3)]).await.expect("append");
    assert_eq!(second, SeqRange::new(5, 5));
    assert_eq!(journal.last_seq(), 5);
    assert!(matches!(
        append(&journal, vec![]).await,
        Err(Error::EmptyAppend)
    ));
    assert_eq!(journal.last_seq(), 5, "a rejected append changes nothing");

    let all = read_all(&journal).await;
    assert_dense(&all);
    let markers: Vec<_> = all[1..]
        .iter()
        .map(|e| read_marker(e).expect("marker"))
        .collect();
    assert_eq!(markers, vec![(1, 0), (1, 1), (1, 2), (1, 3)]);
    // One append shares one commit time; ids and actors are kept.
    assert_eq!(all[1].at, all[3].at);
    assert_eq!(all[1].actor, Actor::User("writer1".into()));
}

pub async fn the_envelope_keeps_id_actor_and_cause<B: Backend>(mut backend: B) {
    let journal = backend.initialise("c", now()).await.expect("initialise");
    let cause = marker(1, 0);
    let effect = marker(1, 1).caused_by(cause.id);
    let (cause_id, effect_id) = (cause.id, effect.id);
    append(&journal, vec![cause, effect]).await.expect("append");
    let all = read_all(&journal).await;
    assert_eq!(all[1].id, cause_id);
    assert_eq!(all[2].id, effect_id);
    assert_eq!(all[2].cause, Some(cause_id));
    assert_eq!(all[1].cause, None);
}

pub async fn concurrent_appends_stay_dense_and_whole<B: Backend>(mut backend: B) {
    let journal = backend.initialise("c", now()).await.expect("initialise");
    let writers = 32u32;
    let appends_per_writer = 10u32;
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let journal = journal.clone();
        tasks.push(tokio::spawn(async move {
            let mut ranges = Vec::new();
            let mut n = 0;
            for nth in 0..appends_per_writer {
                let size = 1 + (writer + nth) % 4;
                let events: Vec<_> = (0..size).map(|i| marker(writer, n + i)).collect();
                n += size;
                ranges.push((append(&journal, events).await.expect("append"), size));
            }
            ranges
        }));
    }
    let mut seen = BTreeSet::new();
    for task in tasks {
        for (range, size) in task.await.expect("writer task") {
            assert_eq!(
                range.len(),
                u64::from(size),
                "an append's events get consecutive seqs"
            );
            for seq in range.first..=range.last {
                assert!(seen.insert(seq), "seq {seq} handed out twice");
            }
        }
    }
    let all = read_all(&journal).await;
    assert_dense(&all);
    assert_eq!(seen, (2..=journal.last_seq()).collect::<BTreeSet<_>>());
    // Each writer's events appear in the order it appended them.
    for writer in 0..writers {
        let numbers: Vec<u32> = all
            .iter()
            .filter_map(read_marker)
            .filter(|(w, _)| *w == writer)
            .map(|(_, n)| n)
            .collect();
        assert_eq!(
            numbers,
            (0..numbers.len() as u32).collect::<Vec<_>>(),
            "writer {writer}"
        );
    }
}

pub async fn read_clips_to_the_end_and_rejects_seq_zero<B: Backend>(mut backend: B) {
    let journal = backend.initialise("c", now()).await.expect("initialise");
    append(&journal, (0..5).map(|n| marker(0, n)).collect())
        .await
        .expect("append");
    let middle = journal.read(SeqRange::new(3, 4)).await.expect("read");
    assert_eq!(middle.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![3, 4]);
    let past_end = journal.read(SeqRange::new(5, 100)).await.expect("read");
    assert_eq!(
        past_end.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![5, 6]
    );
    assert!(
        journal
            .read(SeqRange::new(7, 9))
            .await
            .expect("read")
            .is_empty()
    );
    assert!(
        journal
            .read(SeqRange::new(4, 3))
            .await
            .expect("read")
            .is_empty()
    );
    assert!(matches!(
        journal.read(SeqRange::new(0, 3)).await,
        Err(Error::InvalidRange { .. })
    ));
}

async fn next_seq(stream: &mut crate::EventStream) -> Seq {
    tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
        .await
        .expect("an event within 10 s")
        .expect("stream open")
        .expect("no error")
        .seq
}

pub async fn subscribe_catches_up_then_follows<B: Backend>(mut backend: B) {
    let journal = backend.initialise("c", now()).await.expect("initialise");
    append(&journal, (0..3).map(|n| marker(0, n)).collect())
        .await
        .expect("append");
    let mut from_start = journal.subscribe(0);
    let mut from_middle = journal.subscribe(3);
    let mut from_future = journal.subscribe(7);
    // Read a seq at a time, it reads the same.
    let mut in_ones = journal.subscribe_in_chunks(2, 1);

    for expected in 1..=4 {
        assert_eq!(next_seq(&mut from_start).await, expected);
    }
    assert_eq!(next_seq(&mut from_middle).await, 3);
    assert_eq!(next_seq(&mut from_middle).await, 4);
    for expected in 2..=4 {
        assert_eq!(next_seq(&mut in_ones).await, expected);
    }

    // Live: appended after the subscribers caught up.
    let writer = journal.clone();
    let appender = tokio::spawn(async move {
        for n in 3..8 {
            append(&writer, vec![marker(0, n)]).await.expect("append");
        }
    });
    for expected in 5..=9 {
        assert_eq!(next_seq(&mut from_start).await, expected);
        assert_eq!(next_seq(&mut from_middle).await, expected);
        assert_eq!(next_seq(&mut in_ones).await, expected);
    }
    for expected in 7..=9 {
        assert_eq!(next_seq(&mut from_future).await, expected);
    }
    appender.await.expect("appender");
    // Nothing beyond the end arrives.
    let idle = tokio::time::timeout(std::time::Duration::from_millis(200), from_start.next()).await;
    assert!(idle.is_err(), "no event after the last commit");
}

pub async fn restart_keeps_everything<B: Backend>(mut backend: B) {
    let journal = backend
        .initialise("prod-west", Timestamp(1_000))
        .await
        .expect("initialise");
    let term = journal.claim_leadership().await.expect("claim");
    for n in 0..10 {
        append_at_end(
            &journal,
            Timestamp(1_010 + 10 * i64::from(n)),
            vec![marker(0, 2 * n), marker(0, 2 * n + 1)],
        )
        .await
        .expect("append");
    }
    journal
        .put_checkpoint("write-model", 7, b"state@7".to_vec())
        .await
        .expect("checkpoint");
    let before = read_all(&journal).await;
    drop(journal);

    let journal = backend.reopen().await.expect("reopen");
    assert_eq!(journal.cluster(), "prod-west");
    assert_eq!(journal.last_seq(), 21);
    assert_eq!(journal.term(), term, "the term is kept across a restart");
    assert_eq!(read_all(&journal).await, before);
    assert_eq!(
        journal
            .latest_checkpoint("write-model")
            .await
            .expect("checkpoint")
            .map(|c| (c.seq, c.bytes)),
        Some((7, b"state@7".to_vec()))
    );
    assert_eq!(
        journal.seq_at(Timestamp(1_055)).await.expect("seq_at"),
        Some(11)
    );
    // An append at the end with an earlier time than the last commit (a clock that went
    // backwards over the restart) is committed at the last commit time: time never goes back.
    let range = append_at_end(&journal, Timestamp(500), vec![marker(0, 20)])
        .await
        .expect("append after restart");
    assert_eq!(range, SeqRange::new(22, 22));
    let last = journal.read(SeqRange::new(21, 22)).await.expect("read");
    assert_eq!(last[1].at, last[0].at);
    assert!(
        journal.claim_leadership().await.expect("claim") > term,
        "a new term is higher than every earlier one, restarts included"
    );
}

pub async fn commit_times_never_go_backwards<B: Backend>(mut backend: B) {
    let journal = backend
        .initialise("c", Timestamp(10_000))
        .await
        .expect("initialise");
    append_at_end(&journal, Timestamp(10_000), vec![marker(0, 0)])
        .await
        .expect("append");
    append_at_end(&journal, Timestamp(5_000), vec![marker(0, 1)])
        .await
        .expect("append");
    append_at_end(&journal, Timestamp(12_000), vec![marker(0, 2)])
        .await
        .expect("append");
    let times: Vec<i64> = read_all(&journal).await.iter().map(|e| e.at.0).collect();
    assert_eq!(times, vec![10_000, 10_000, 10_000, 12_000]);
    // A leader that names the seq it follows knows the last time too: an earlier one is a
    // mistake, refused, and nothing is written.
    let refused = journal
        .append(Append::new(
            Precondition::follows(journal.term(), 4),
            Timestamp(11_999),
            vec![marker(0, 3)],
        ))
        .await;
    assert!(
        matches!(
            refused,
            Err(Error::TimeWentBack {
                at: Timestamp(11_999),
                last: Timestamp(12_000)
            })
        ),
        "{refused:?}"
    );
    assert_eq!(journal.last_seq(), 4, "a refused append writes nothing");
}

pub async fn time_index_finds_the_seq_at_a_time<B: Backend>(mut backend: B) {
    let journal = backend
        .initialise("c", Timestamp(1_000))
        .await
        .expect("initialise");
    // seq 1 at 1000; seqs 2-3 at 2000; seq 4 at 2000; seq 5 at 4000.
    append_at_end(&journal, Timestamp(2_000), vec![marker(0, 0), marker(0, 1)])
        .await
        .expect("append");
    append_at_end(&journal, Timestamp(2_000), vec![marker(0, 2)])
        .await
        .expect("append");
    append_at_end(&journal, Timestamp(4_000), vec![marker(0, 3)])
        .await
        .expect("append");
    let cases = [
        (999, None),
        (1_000, Some(1)),
        (1_999, Some(1)),
        (2_000, Some(4)),
        (3_999, Some(4)),
        (4_000, Some(5)),
        (i64::MAX, Some(5)),
        (-5, None),
    ];
    for (at, expected) in cases {
        assert_eq!(
            journal.seq_at(Timestamp(at)).await.expect("seq_at"),
            expected,
            "seq_at({at})"
        );
    }
}

pub async fn the_time_index_agrees_with_concurrent_appends<B: Backend>(mut backend: B) {
    let journal = backend
        .initialise("c", Timestamp(1_000))
        .await
        .expect("initialise");
    // Writers racing into the same group commits, each at its own (rising) times.
    let mut tasks = Vec::new();
    for writer in 0..16u32 {
        let journal = journal.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..8u32 {
                let at = Timestamp(2_000 + i64::from(n * 16 + writer));
                append_at_end(&journal, at, vec![marker(writer, n)])
                    .await
                    .expect("append");
            }
        }));
    }
    for task in tasks {
        task.await.expect("writer");
    }
    let all = read_all(&journal).await;
    assert_dense(&all);
    let times: BTreeSet<i64> = all.iter().map(|e| e.at.0).collect();
    for t in times.iter().flat_map(|t| [*t - 1, *t]) {
        let expected = all.iter().filter(|e| e.at.0 <= t).map(|e| e.seq).max();
        assert_eq!(
            journal.seq_at(Timestamp(t)).await.expect("seq_at"),
            expected,
            "seq_at({t})"
        );
    }
}

/// Appends `n` markers under `term`, following `after`, at `at`.
async fn propose<J: Journal>(
    journal: &J,
    term: Term,
    after: Seq,
    at: i64,
    n: u32,
) -> Result<SeqRange, Error> {
    let events = (0..n).map(|i| marker(9, i)).collect();
    journal
        .append(Append::new(
            Precondition::follows(term, after),
            Timestamp(at),
            events,
        ))
        .await
}

pub async fn a_deposed_leader_cannot_append<B: Backend>(mut backend: B) {
    let journal = backend
        .initialise("c", Timestamp(1_000))
        .await
        .expect("initialise");
    let first = journal.claim_leadership().await.expect("claim");
    assert_eq!(journal.term(), first);
    propose(&journal, first, 1, 2_000, 2)
        .await
        .expect("the leader appends under its term");
    let second = journal.claim_leadership().await.expect("claim again");
    assert!(second > first, "terms only grow: {first} then {second}");
    let stale = propose(&journal, first, 3, 3_000, 1).await;
    match &stale {
        Err(e @ Error::NotLeader { term, current }) => {
            assert_eq!((*term, *current), (first, second));
            assert_eq!(e.recovery(), Recovery::Redirect);
        }
        other => panic!("expected NotLeader, got {other:?}"),
    }
    // An append at the end is fenced by the term just the same.
    let stale_at_end = journal
        .append(Append::new(
            Precondition::at_end(first),
            Timestamp(3_000),
            vec![marker(9, 9)],
        ))
        .await;
    assert!(matches!(stale_at_end, Err(Error::NotLeader { .. })));
    assert_eq!(
        journal.last_seq(),
        3,
        "nothing written by the deposed leader"
    );
    assert_eq!(read_all(&journal).await.len(), 3);
    // The new leader's appends go through.
    assert_eq!(
        propose(&journal, second, 3, 3_000, 1)
            .await
            .expect("append"),
        SeqRange::new(4, 4)
    );
    drop(journal);
    let journal = backend.reopen().await.expect("reopen");
    assert!(
        matches!(
            propose(&journal, first, 4, 4_000, 1).await,
            Err(Error::NotLeader { .. })
        ),
        "a restart does not bring an old term back"
    );
}

pub async fn a_stale_writer_cannot_append<B: Backend>(mut backend: B) {
    let journal = backend
        .initialise("c", Timestamp(1_000))
        .await
        .expect("initialise");
    let term = journal.claim_leadership().await.expect("claim");
    propose(&journal, term, 1, 2_000, 3).await.expect("append");
    // Decided on the state as of seq 1, but seqs 2-4 have been committed since.
    let stale = propose(&journal, term, 1, 2_500, 1).await;
    match &stale {
        Err(e @ Error::Conflict { after, last }) => {
            assert_eq!((*after, *last), (1, 4));
            assert_eq!(e.recovery(), Recovery::Retry);
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    // Naming a seq that does not exist yet is no better.
    assert!(matches!(
        propose(&journal, term, 9, 2_500, 1).await,
        Err(Error::Conflict { after: 9, last: 4 })
    ));
    assert_eq!(journal.last_seq(), 4, "nothing written by a stale writer");

    // Several writers that all decided on seq 4, at once: exactly one wins, the others are
    // refused whole, and the journal holds the winner's events only.
    let mut tasks = Vec::new();
    for writer in 0..8u32 {
        let journal = journal.clone();
        tasks.push(tokio::spawn(async move {
            let events = (0..3).map(|i| marker(writer, i)).collect();
            journal
                .append(Append::new(
                    Precondition::follows(term, 4),
                    Timestamp(3_000),
                    events,
                ))
                .await
                .map(|range| (writer, range))
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.expect("writer task") {
            Ok(won) => winners.push(won),
            Err(Error::Conflict { after: 4, .. }) => {}
            Err(other) => panic!("expected Conflict, got {other}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one of the racing appends wins");
    let (winner, range) = winners[0];
    assert_eq!(range, SeqRange::new(5, 7));
    let all = read_all(&journal).await;
    assert_dense(&all);
    assert_eq!(all.len(), 7);
    assert!(
        all[4..]
            .iter()
            .all(|e| read_marker(e).is_some_and(|(w, _)| w == winner)),
        "only the winner's events"
    );
}

pub async fn checkpoints_are_found_at_or_before_a_seq<B: Backend>(mut backend: B) {
    let journal = backend.initialise("c", now()).await.expect("initialise");
    append(&journal, (0..20).map(|n| marker(0, n)).collect())
        .await
        .expect("append");
    for seq in [5, 10, 15] {
        journal
            .put_checkpoint("views", seq, format!("views@{seq}").into_bytes())
            .await
            .expect("put");
    }
    journal
        .put_checkpoint("views-extra", 12, b"other".to_vec())
        .await
        .expect("put");
    journal
        .put_checkpoint("view", 3, b"prefix".to_vec())
        .await
        .expect("put");
    let at = |seq| {
        let journal = journal.clone();
        async move {
            journal
                .checkpoint_at_or_before("views", seq)
                .await
                .expect("get")
                .map(|c| c.seq)
        }
    };
    assert_eq!(at(4).await, None);
    assert_eq!(at(5).await, Some(5));
    assert_eq!(at(14).await, Some(10));
    assert_eq!(at(100).await, Some(15));
    let latest = journal
        .latest_checkpoint("views")
        .await
        .expect("latest")
        .expect("some");
    assert_eq!(
        (latest.name.as_str(), latest.seq, latest.bytes.as_slice()),
        ("views", 15, &b"views@15"[..])
    );
    assert_eq!(
        journal
            .latest_checkpoint("view")
            .await
            .expect("latest")
            .map(|c| c.bytes),
        Some(b"prefix".to_vec())
    );
    assert_eq!(
        journal.latest_checkpoint("absent").await.expect("latest"),
        None
    );
    // Replacing at the same seq.
    journal
        .put_checkpoint("views", 15, b"again".to_vec())
        .await
        .expect("put");
    assert_eq!(
        journal
            .latest_checkpoint("views")
            .await
            .expect("latest")
            .map(|c| c.bytes),
        Some(b"again".to_vec())
    );
    assert!(matches!(
        journal.put_checkpoint("views", 22, vec![]).await,
        Err(Error::CheckpointBeyondEnd { seq: 22, last: 21 })
    ));
    assert!(matches!(
        journal.put_checkpoint("bad\0name", 2, vec![]).await,
        Err(Error::InvalidCheckpointName(_))
    ));
    assert!(matches!(
        journal.put_checkpoint("", 2, vec![]).await,
        Err(Error::InvalidCheckpointName(_))
    ));
}

pub async fn uninitialised_locations_are_refused<B: Backend>(mut backend: B) {
    match backend.open_uninitialised().await {
        Err(Error::NotInitialised { .. }) => {}
        Err(other) => panic!("expected NotInitialised, got {other}"),
        Ok(_) => panic!("an uninitialised location must not open as an empty journal"),
    }
    let journal = backend.initialise("c", now()).await.expect("initialise");
    drop(journal);
    match backend.initialise("c", now()).await {
        Err(Error::AlreadyInitialised { .. }) => {}
        Err(other) => panic!("expected AlreadyInitialised, got {other}"),
        Ok(_) => panic!("initialising over an existing journal must fail"),
    }
}

/// Instantiates the whole suite for a backend: `conformance_tests!(|| MyHarness::new());`
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@cases $make;
            starts_with_cluster_initialised,
            appends_get_consecutive_seqs,
            the_envelope_keeps_id_actor_and_cause,
            concurrent_appends_stay_dense_and_whole,
            read_clips_to_the_end_and_rejects_seq_zero,
            subscribe_catches_up_then_follows,
            restart_keeps_everything,
            commit_times_never_go_backwards,
            time_index_finds_the_seq_at_a_time,
            the_time_index_agrees_with_concurrent_appends,
            a_deposed_leader_cannot_append,
            a_stale_writer_cannot_append,
            checkpoints_are_found_at_or_before_a_seq,
            uninitialised_locations_are_refused,
        );
    };
    (@cases $make:expr; $($case:ident,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::conformance::$case(($make)()).await;
            }
        )*
    };
}
