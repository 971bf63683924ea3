//! The mirror against a real nats-server: exactness across publisher and server restarts, the
//! verifier catching deleted and altered messages, and readers from a seq on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aurora_events::{Envelope, Seq};
use aurora_journal::conformance::{append, marker};
use aurora_journal::{Clock, Journal, MemoryJournal, SeqRange, SystemClock};
use aurora_stream::mirror::{self, MirrorConfig, MirrorStatus, Source};
use aurora_stream::testing::NatsServer;
use aurora_stream::{Difference, Reader, SubjectFilter, Until, verify};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};

/// The journal as the mirror sees it, optionally forging one seq's actor on the way out.
#[derive(Clone)]
struct JournalSource {
    journal: MemoryJournal,
    forge: Option<Seq>,
}

impl Source for JournalSource {
    fn follow(&self, from: Seq) -> BoxStream<'static, Result<Envelope, String>> {
        let forge = self.forge;
        self.journal
            .subscribe(from)
            .map(move |envelope| {
                let mut envelope = envelope.map_err(|e| e.to_string())?;
                if Some(envelope.seq) == forge {
                    envelope.actor = aurora_events::Actor::User("mallory".into());
                }
                Ok(envelope)
            })
            .boxed()
    }

    fn envelope(&self, seq: Seq) -> BoxFuture<'static, Result<Option<Envelope>, String>> {
        let journal = self.journal.clone();
        async move {
            let envelopes = journal
                .read(SeqRange::new(seq, seq))
                .await
                .map_err(|e| e.to_string())?;
            Ok(envelopes.into_iter().next())
        }
        .boxed()
    }

    fn last_seq(&self) -> Seq {
        self.journal.last_seq()
    }
}

fn journal_stream(journal: &MemoryJournal) -> BoxStream<'static, Result<Envelope, String>> {
    let last = journal.last_seq();
    journal
        .subscribe(1)
        .take(last as usize)
        .map(|e| e.map_err(|e| e.to_string()))
        .boxed()
}

async fn fill(journal: &MemoryJournal, events: u32, writers: u32) {
    for chunk in 0..events / 1000 {
        let batch = (0..1000)
            .map(|i| marker(1 + (chunk * 1000 + i) % writers, chunk * 1000 + i))
            .collect();
        append(journal, batch).await.expect("append");
    }
}

async fn wait_published(status: &MirrorStatus, seq: Seq, within: Duration) {
    let deadline = Instant::now() + within;
    while status.published() < seq {
        assert!(
            Instant::now() < deadline,
            "the mirror reached only {} of {seq} in {within:?} (restarts: {})",
            status.published(),
            status.restarts()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn start_mirror(
    url: &str,
    cluster: &str,
    source: JournalSource,
    status: &Arc<MirrorStatus>,
) -> tokio::task::JoinHandle<()> {
    let mut config = MirrorConfig::new(url, cluster);
    config.max_backoff = Duration::from_millis(500);
    tokio::spawn(mirror::run(config, Arc::new(source), Arc::clone(status)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_equals_the_journal_across_publisher_and_server_restarts() {
    let mut nats = NatsServer::start().expect("nats-server");
    let journal = MemoryJournal::new_initialised("c", SystemClock.now());
    fill(&journal, 50_000, 3).await;
    let source = JournalSource {
        journal: journal.clone(),
        forge: None,
    };
    let status = Arc::new(MirrorStatus::default());

    let publisher = start_mirror(&nats.url(), "c", source.clone(), &status);
    wait_published(&status, 20_000, Duration::from_secs(60)).await;
    publisher.abort(); // the publisher dies mid-way, acks in flight
    let _ = publisher.await;
    let status = Arc::new(MirrorStatus::default());
    let publisher = start_mirror(&nats.url(), "c", source.clone(), &status);
    fill(&journal, 40_000, 3).await; // live commits while it catches up
    wait_published(&status, 60_000, Duration::from_secs(60)).await;
    // The server goes while commits go on (they never wait for NATS), so the mirror has
    // something to publish into the outage whether or not it had caught up before it.
    nats.stop();
    fill(&journal, 10_000, 3).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while status.restarts() == 0 {
        assert!(
            Instant::now() < deadline,
            "the mirror never noticed the server had gone (published {})",
            status.published()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    nats.resume().expect("nats-server starts again");
    let last = journal.last_seq();
    assert_eq!(last, 100_001);
    wait_published(&status, last, Duration::from_secs(90)).await;

    let reader = Reader::connect(&nats.url(), "c").await.expect("reader");
    assert_eq!(
        reader.extent().await.expect("extent"),
        (last, last),
        "no gap, no duplicate"
    );
    let verdict = verify::verify(&reader, journal_stream(&journal))
        .await
        .expect("verify");
    assert_eq!(verdict.difference, None);
    assert_eq!(verdict.equal_through, last);

    // Publishing again from scratch adds nothing: every message is refused or a duplicate.
    publisher.abort();
    let status = Arc::new(MirrorStatus::default());
    let again = start_mirror(&nats.url(), "c", source, &status);
    wait_published(&status, last, Duration::from_secs(10)).await;
    again.abort();
    assert_eq!(reader.extent().await.expect("extent").0, last);

    // A deleted message is named.
    let context =
        async_nats::jetstream::new(async_nats::connect(nats.url()).await.expect("connect"));
    let stream = context
        .get_stream(aurora_stream::subject::stream_name("c"))
        .await
        .expect("stream");
    assert!(stream.delete_message(4242).await.expect("delete"));
    let verdict = verify::verify(&reader, journal_stream(&journal))
        .await
        .expect("verify");
    assert_eq!(verdict.difference, Some(Difference::Missing { seq: 4242 }));
    assert_eq!(verdict.equal_through, 4241);
}

/// Two publishers at once (a deposed leader not yet stopped and its successor), each
/// acknowledging only some of its messages: whatever one stores, the other's copy is refused
/// (its plain publishes silently, then its next acknowledged one fails and it starts again
/// from the stream's last sequence), and the stream ends exactly the journal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_publishers_at_once_leave_exactly_the_journal() {
    let nats = NatsServer::start().expect("nats-server");
    let journal = MemoryJournal::new_initialised("c", SystemClock.now());
    fill(&journal, 30_000, 2).await;
    let source = JournalSource {
        journal: journal.clone(),
        forge: None,
    };
    let (first, second) = (
        Arc::new(MirrorStatus::default()),
        Arc::new(MirrorStatus::default()),
    );
    let a = start_mirror(&nats.url(), "c", source.clone(), &first);
    let b = start_mirror(&nats.url(), "c", source, &second);
    fill(&journal, 30_000, 2).await;
    let last = journal.last_seq();
    wait_published(&first, last, Duration::from_secs(90)).await;
    wait_published(&second, last, Duration::from_secs(90)).await;
    a.abort();
    b.abort();
    let reader = Reader::connect(&nats.url(), "c").await.expect("reader");
    assert_eq!(reader.extent().await.expect("extent"), (last, last));
    let verdict = verify::verify(&reader, journal_stream(&journal))
        .await
        .expect("verify");
    assert_eq!(verdict.difference, None);
    assert_eq!(verdict.equal_through, last);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_altered_message_and_an_extra_one_are_named() {
    let nats = NatsServer::start().expect("nats-server");
    let journal = MemoryJournal::new_initialised("forged", SystemClock.now());
    fill(&journal, 1000, 2).await;
    let status = Arc::new(MirrorStatus::default());
    let forger = JournalSource {
        journal: journal.clone(),
        forge: Some(500),
    };
    let publisher = start_mirror(&nats.url(), "forged", forger, &status);
    wait_published(&status, journal.last_seq(), Duration::from_secs(30)).await;
    publisher.abort();

    let reader = Reader::connect(&nats.url(), "forged")
        .await
        .expect("reader");
    let verdict = verify::verify(&reader, journal_stream(&journal))
        .await
        .expect("verify");
    let difference = verdict.difference.expect("the forged actor is seen");
    assert_eq!(difference.seq(), 500, "{difference}");
    assert!(difference.to_string().contains("actor"), "{difference}");
    assert_eq!(verdict.equal_through, 499);

    // A message published behind the mirror's back, past the journal's end.
    let client = async_nats::connect(nats.url()).await.expect("connect");
    let context = async_nats::jetstream::new(client);
    context
        .publish("aurora.forged.quota.x.%.%", "{}".into())
        .await
        .expect("publish")
        .await
        .expect("ack");
    let status = Arc::new(MirrorStatus::default());
    let source = JournalSource {
        journal: journal.clone(),
        forge: None,
    };
    let publisher = start_mirror(&nats.url(), "forged", source, &status);
    let deadline = Instant::now() + Duration::from_secs(10);
    while status.restarts() == 0 {
        assert!(
            Instant::now() < deadline,
            "the mirror must refuse the stream"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        status.published(),
        0,
        "nothing published onto a stream that is not the journal's"
    );
    assert!(!status.healthy());
    publisher.abort();
}

/// A cluster initialised again under the same name has the same seqs but other event ids:
/// its mirror refuses the old stream rather than extending another history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_of_an_earlier_cluster_of_the_same_name_is_refused() {
    let nats = NatsServer::start().expect("nats-server");
    let earlier = MemoryJournal::new_initialised("c", SystemClock.now());
    fill(&earlier, 1000, 1).await;
    let status = Arc::new(MirrorStatus::default());
    let source = JournalSource {
        journal: earlier.clone(),
        forge: None,
    };
    let publisher = start_mirror(&nats.url(), "c", source, &status);
    wait_published(&status, earlier.last_seq(), Duration::from_secs(30)).await;
    publisher.abort();

    let again = MemoryJournal::new_initialised("c", SystemClock.now());
    fill(&again, 2000, 1).await;
    let status = Arc::new(MirrorStatus::default());
    let source = JournalSource {
        journal: again,
        forge: None,
    };
    let publisher = start_mirror(&nats.url(), "c", source, &status);
    let deadline = Instant::now() + Duration::from_secs(10);
    while status.restarts() == 0 {
        assert!(
            Instant::now() < deadline,
            "the mirror must refuse the stream"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    publisher.abort();
    assert_eq!(status.published(), 0);
    let reader = Reader::connect(&nats.url(), "c").await.expect("reader");
    assert_eq!(reader.extent().await.expect("extent").0, earlier.last_seq());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_start_strictly_after_a_seq_filter_and_follow_a_server_restart() {
    let mut nats = NatsServer::start().expect("nats-server");
    let journal = MemoryJournal::new_initialised("c", SystemClock.now());
    fill(&journal, 2000, 2).await;
    let status = Arc::new(MirrorStatus::default());
    let source = JournalSource {
        journal: journal.clone(),
        forge: None,
    };
    let _publisher = start_mirror(&nats.url(), "c", source, &status);
    wait_published(&status, journal.last_seq(), Duration::from_secs(30)).await;

    let reader = Reader::connect(&nats.url(), "c").await.expect("reader");
    let to_end: Vec<Seq> = reader
        .envelopes(SubjectFilter::default(), 1990, Until::End)
        .map(|e| e.expect("envelope").seq)
        .collect()
        .await;
    assert_eq!(
        to_end,
        (1991..=2001).collect::<Vec<_>>(),
        "strictly after 1990, to the end"
    );

    let writer2 = SubjectFilter {
        role: Some("writer2".into()),
        ..SubjectFilter::default()
    };
    let filtered: Vec<Envelope> = reader
        .envelopes(writer2.clone(), 0, Until::End)
        .map(|e| e.expect("envelope"))
        .collect()
        .await;
    assert_eq!(filtered.len(), 1000);
    assert!(
        filtered
            .iter()
            .all(|e| e.actor == aurora_events::Actor::User("writer2".into()))
    );

    let nothing: Vec<_> = reader
        .envelopes(
            SubjectFilter {
                role: Some("nobody".into()),
                ..SubjectFilter::default()
            },
            0,
            Until::End,
        )
        .collect()
        .await;
    assert!(nothing.is_empty(), "a filter matching nothing ends at once");

    // Following: live events, then the server restarts, then more live events.
    let mut follow = reader.envelopes(SubjectFilter::default(), 1995, Until::Forever);
    let mut seen = Vec::new();
    seen.extend(take(&mut follow, 6).await);
    fill(&journal, 1000, 2).await;
    seen.extend(take(&mut follow, 500).await);
    nats.restart().expect("restart");
    fill(&journal, 1000, 2).await;
    let remaining = (journal.last_seq() - 1995) as usize - seen.len();
    seen.extend(take(&mut follow, remaining).await);
    assert_eq!(
        seen,
        (1996..=journal.last_seq()).collect::<Vec<_>>(),
        "no gap, no repeat"
    );
}

async fn take(
    follow: &mut BoxStream<'static, Result<Envelope, aurora_stream::Error>>,
    n: usize,
) -> Vec<Seq> {
    let mut out = Vec::new();
    while out.len() < n {
        let next = tokio::time::timeout(Duration::from_secs(30), follow.next())
            .await
            .expect("the follower delivers within 30 s")
            .expect("the follow goes on")
            .expect("envelope");
        out.push(next.seq);
    }
    out
}

/// An event larger than the server takes in one message holds the mirror at its seq, reported
/// unhealthy with the seq (not retried silently while "healthy"), until the server's limit is
/// raised; then the stream goes on with nothing skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_over_the_servers_limit_holds_the_mirror_and_says_so() {
    let mut nats = NatsServer::start_with_max_payload(Some(4096)).expect("nats-server");
    let journal = MemoryJournal::new_initialised("c", SystemClock.now());
    append(&journal, vec![marker(1, 0)]).await.expect("append");
    let mut big = marker(1, 1);
    big.actor = aurora_events::Actor::User("x".repeat(8192));
    append(&journal, vec![big]).await.expect("append");
    append(&journal, vec![marker(1, 2)]).await.expect("append");
    let source = JournalSource {
        journal: journal.clone(),
        forge: None,
    };
    let status = Arc::new(MirrorStatus::default());
    let publisher = start_mirror(&nats.url(), "c", source, &status);
    let deadline = Instant::now() + Duration::from_secs(30);
    while status.blocked() != 3 {
        assert!(
            Instant::now() < deadline,
            "the mirror never reported seq 3 too large (published {}, restarts {})",
            status.published(),
            status.restarts()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(status.published(), 2, "nothing after the held seq");
    assert!(
        !status.healthy(),
        "held at seq 3, the mirror is not healthy"
    );

    nats.restart_with_max_payload(64 * 1024)
        .expect("nats-server with a larger limit");
    wait_published(&status, 4, Duration::from_secs(30)).await;
    assert_eq!(status.blocked(), 0);
    let reader = Reader::connect(&nats.url(), "c").await.expect("reader");
    assert_eq!(reader.extent().await.expect("extent"), (4, 4));
    publisher.abort();
}
