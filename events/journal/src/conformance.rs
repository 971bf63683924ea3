//! The behaviour suite every [`Journal`] backend must pass.
//!
//! A backend provides a [`Backend`] harness (how to initialise, reopen after a restart, and open
//! an uninitialised location) and instantiates the suite with [`conformance_tests!`], which makes
//! one `#[tokio::test]` per case so that a failure names the behaviour that broke.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use aurora_events::{
    Actor, Envelope, Event, Identifier, PendingEvent, ResourceAggregate, Seq, Timestamp,
};
use futures::StreamExt;

use crate::{Clock, Error, Journal, ManualClock, SeqRange, SystemClock};

/// How the suite drives one backend. Each case gets a fresh harness.
#[async_trait]
pub trait Backend: Send {
    type Journal: Journal + Clone;

    /// Initialises a new journal for `cluster` at this harness's location.
    async fn initialise(
        &mut self,
        cluster: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Self::Journal, Error>;

    /// Opens the journal at this harness's location again, as after a process restart. The
    /// suite drops every handle and stream of the previous journal first.
    async fn reopen(&mut self, clock: Arc<dyn Clock>) -> Result<Self::Journal, Error>;

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

fn system() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
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
        .initialise("devcluster", system())
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
    let journal = backend.initialise("c", system()).await.expect("initialise");
    let first = journal
        .append(vec![marker(1, 0), marker(1, 1), marker(1, 2)])
        .await
        .expect("append");
    assert_eq!(first, SeqRange::new(2, 4));
    let second = journal.append(vec![marker(1, 3)]).await.expect("append");
    assert_eq!(second, SeqRange::new(5, 5));
    assert_eq!(journal.last_seq(), 5);
    assert!(matches!(
        journal.append(vec![]).await,
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
    let journal = backend.initialise("c", system()).await.expect("initialise");
    let cause = marker(1, 0);
    let effect = marker(1, 1).caused_by(cause.id);
    let (cause_id, effect_id) = (cause.id, effect.id);
    journal.append(vec![cause, effect]).await.expect("append");
    let all = read_all(&journal).await;
    assert_eq!(all[1].id, cause_id);
    assert_eq!(all[2].id, effect_id);
    assert_eq!(all[2].cause, Some(cause_id));
    assert_eq!(all[1].cause, None);
}

pub async fn concurrent_appends_stay_dense_and_whole<B: Backend>(mut backend: B) {
    let journal = backend.initialise("c", system()).await.expect("initialise");
    let writers = 32u32;
    let appends_per_writer = 10u32;
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let journal = journal.clone();
        tasks.push(tokio::spawn(async move {
            let mut ranges = Vec::new();
            let mut n = 0;
            for append in 0..appends_per_writer {
                let size = 1 + (writer + append) % 4;
                let events: Vec<_> = (0..size).map(|i| marker(writer, n + i)).collect();
                n += size;
                ranges.push((journal.append(events).await.expect("append"), size));
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
    let journal = backend.initialise("c", system()).await.expect("initialise");
    journal
        .append((0..5).map(|n| marker(0, n)).collect())
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
    let journal = backend.initialise("c", system()).await.expect("initialise");
    journal
        .append((0..3).map(|n| marker(0, n)).collect())
        .await
        .expect("append");
    let mut from_start = journal.subscribe(0);
    let mut from_middle = journal.subscribe(3);
    let mut from_future = journal.subscribe(7);

    for expected in 1..=4 {
        assert_eq!(next_seq(&mut from_start).await, expected);
    }
    assert_eq!(next_seq(&mut from_middle).await, 3);
    assert_eq!(next_seq(&mut from_middle).await, 4);

    // Live: appended after the subscribers caught up.
    let writer = journal.clone();
    let appender = tokio::spawn(async move {
        for n in 3..8 {
            writer.append(vec![marker(0, n)]).await.expect("append");
        }
    });
    for expected in 5..=9 {
        assert_eq!(next_seq(&mut from_start).await, expected);
        assert_eq!(next_seq(&mut from_middle).await, expected);
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
    let clock = ManualClock::new(Timestamp(1_000));
    let journal = backend
        .initialise("prod-west", Arc::new(clock.clone()))
        .await
        .expect("initialise");
    for n in 0..10 {
        clock.advance(10);
        journal
            .append(vec![marker(0, 2 * n), marker(0, 2 * n + 1)])
            .await
            .expect("append");
    }
    journal
        .put_checkpoint("write-model", 7, b"state@7".to_vec())
        .await
        .expect("checkpoint");
    let before = read_all(&journal).await;
    drop(journal);

    let journal = backend
        .reopen(Arc::new(clock.clone()))
        .await
        .expect("reopen");
    assert_eq!(journal.cluster(), "prod-west");
    assert_eq!(journal.last_seq(), 21);
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
    // The clock went backwards over the restart: commit time still does not.
    clock.set(Timestamp(500));
    let range = journal
        .append(vec![marker(0, 20)])
        .await
        .expect("append after restart");
    assert_eq!(range, SeqRange::new(22, 22));
    let last = journal.read(SeqRange::new(21, 22)).await.expect("read");
    assert_eq!(last[1].at, last[0].at);
}

pub async fn commit_times_never_go_backwards<B: Backend>(mut backend: B) {
    let clock = ManualClock::new(Timestamp(10_000));
    let journal = backend
        .initialise("c", Arc::new(clock.clone()))
        .await
        .expect("initialise");
    journal.append(vec![marker(0, 0)]).await.expect("append");
    clock.set(Timestamp(5_000));
    journal.append(vec![marker(0, 1)]).await.expect("append");
    clock.set(Timestamp(12_000));
    journal.append(vec![marker(0, 2)]).await.expect("append");
    let times: Vec<i64> = read_all(&journal).await.iter().map(|e| e.at.0).collect();
    assert_eq!(times, vec![10_000, 10_000, 10_000, 12_000]);
}

pub async fn time_index_finds_the_seq_at_a_time<B: Backend>(mut backend: B) {
    let clock = ManualClock::new(Timestamp(1_000));
    let journal = backend
        .initialise("c", Arc::new(clock.clone()))
        .await
        .expect("initialise");
    // seq 1 at 1000; seqs 2-3 at 2000; seq 4 at 2000; seq 5 at 4000.
    clock.set(Timestamp(2_000));
    journal
        .append(vec![marker(0, 0), marker(0, 1)])
        .await
        .expect("append");
    journal.append(vec![marker(0, 2)]).await.expect("append");
    clock.set(Timestamp(4_000));
    journal.append(vec![marker(0, 3)]).await.expect("append");
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

pub async fn checkpoints_are_found_at_or_before_a_seq<B: Backend>(mut backend: B) {
    let journal = backend.initialise("c", system()).await.expect("initialise");
    journal
        .append((0..20).map(|n| marker(0, n)).collect())
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
    let journal = backend.initialise("c", system()).await.expect("initialise");
    drop(journal);
    match backend.initialise("c", system()).await {
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
