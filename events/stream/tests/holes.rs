//! Readers against a real nats-server: a stream's missing seqs are found whatever the range
//! asked for, and reading after the last possible seq neither overflows nor ends a follower.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aurora_events::{Envelope, Seq, samples};
use aurora_stream::mirror::{self, MirrorConfig, MirrorStatus};
use aurora_stream::testing::{FixedSource, NatsServer};
use aurora_stream::{Reader, SubjectFilter, Until};
use futures::StreamExt;

/// Seqs 1..=`count` of cluster `c`, published.
async fn published(nats: &NatsServer, count: usize) {
    let envelopes: Vec<Envelope> = samples::events()
        .into_iter()
        .cycle()
        .take(count)
        .zip(1..)
        .map(|(event, seq)| samples::envelope(seq, event))
        .collect();
    let status = Arc::new(MirrorStatus::default());
    let publisher = tokio::spawn(mirror::run(
        MirrorConfig::new(nats.url(), "c"),
        Arc::new(FixedSource(envelopes)),
        Arc::clone(&status),
    ));
    let deadline = Instant::now() + Duration::from_secs(30);
    while status.published() < count as Seq {
        assert!(
            Instant::now() < deadline,
            "published {}",
            status.published()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    publisher.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_messages_are_missing_within_the_range_read() {
    let nats = NatsServer::start().expect("nats-server");
    published(&nats, 12).await;
    let reader = Reader::connect(&nats.url(), "c").await.expect("reader");
    assert_eq!(reader.missing(0, None).await.expect("missing"), vec![]);

    let client = async_nats::connect(nats.url()).await.expect("connect");
    let stream = async_nats::jetstream::new(client)
        .get_stream("AURORA_c")
        .await
        .expect("stream");
    for seq in [1, 10, 11] {
        assert!(stream.delete_message(seq).await.expect("delete"));
    }
    assert_eq!(
        reader.missing(0, None).await.expect("missing"),
        vec![1..=1, 10..=11]
    );
    assert_eq!(
        reader.missing(9, None).await.expect("missing"),
        vec![10..=11]
    );
    assert_eq!(
        reader.missing(1, Some(9)).await.expect("missing"),
        vec![],
        "the holes are outside 2..=9"
    );
    assert_eq!(
        reader.missing(11, None).await.expect("missing"),
        vec![],
        "past the holes"
    );
    assert_eq!(
        reader.missing(Seq::MAX, None).await.expect("missing"),
        vec![]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_read_after_the_last_possible_seq() {
    let nats = NatsServer::start().expect("nats-server");
    published(&nats, 3).await;
    let reader = Reader::connect(&nats.url(), "c").await.expect("reader");
    for until in [Until::End, Until::Through(Seq::MAX)] {
        let read: Vec<_> = reader
            .envelopes(SubjectFilter::default(), Seq::MAX, until)
            .collect()
            .await;
        assert!(read.is_empty(), "{until:?}: {read:?}");
    }
    // A follower waits (for events that cannot come) rather than ending or failing.
    let mut follow = reader.envelopes(SubjectFilter::default(), Seq::MAX, Until::Forever);
    let next = tokio::time::timeout(Duration::from_millis(500), follow.next()).await;
    assert!(next.is_err(), "the follower waits: {next:?}");
}
