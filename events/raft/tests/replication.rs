//! Every replica ends with the same journal, and only the leader writes.

mod support;

use std::collections::BTreeSet;

use aurora_journal::conformance::{append, assert_dense, marker, now, read_marker};
use aurora_journal::{Append, Error, Journal, Precondition};

use support::{Cluster, assert_identical, quick};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_replica_holds_identical_envelopes_after_concurrent_appends() {
    let _ = tracing_subscriber::fmt::try_init();
    let cluster = Cluster::start(3, quick()).await;
    let journal = cluster.initialise("c", now()).await.expect("initialise");

    tracing::info!("16 writers append concurrently through the leader");
    let mut writers = Vec::new();
    for writer in 0..16u32 {
        let journal = journal.clone();
        writers.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for n in 0..10u32 {
                // Batches of 1 to 3 events, so that entries and seqs do not line up.
                let events = (0..=(n % 3)).map(|i| marker(writer, n * 3 + i)).collect();
                append(&journal, events).await.expect("append");
                acknowledged.extend((0..=(n % 3)).map(|i| (writer, n * 3 + i)));
            }
            acknowledged
        }));
    }
    let mut acknowledged = BTreeSet::new();
    for writer in writers {
        acknowledged.extend(writer.await.expect("writer"));
    }

    tracing::info!("every replica applies the same envelopes");
    cluster.settle(journal.replica()).await;
    let all = assert_identical(&cluster).await;
    assert_dense(&all);
    let markers: Vec<_> = all.iter().filter_map(read_marker).collect();
    assert_eq!(markers.len(), acknowledged.len(), "no duplicates");
    assert_eq!(markers.into_iter().collect::<BTreeSet<_>>(), acknowledged);

    // Appends that wait while proposals are in flight go together: fewer Raft entries than
    // appends (160, plus the initialisation, a blank and a membership entry).
    let entries = journal.replica().raft().metrics().borrow().last_log_index;
    let entries = entries.expect("a log");
    assert!(
        entries < 160,
        "{entries} log entries for 160 concurrent appends: they were not proposed together"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_refuses_appends_and_serves_reads() {
    let cluster = Cluster::start(3, quick()).await;
    let leader = cluster.initialise("c", now()).await.expect("initialise");
    let term = leader.term();
    let range = append(&leader, vec![marker(1, 0)]).await.expect("append");
    cluster.settle(leader.replica()).await;

    let follower_id = cluster
        .replicas
        .keys()
        .copied()
        .find(|id| *id != leader.replica().id())
        .expect("a follower");
    let follower = cluster.journal(follower_id).await;
    assert_eq!(follower.cluster(), "c");
    assert_eq!(follower.last_seq(), range.last);
    assert_eq!(follower.term(), term, "followers know the leader's term");
    let refused = follower
        .append(Append::new(
            Precondition::follows(term, range.last),
            now(),
            vec![marker(2, 0)],
        ))
        .await;
    assert!(
        matches!(refused, Err(Error::NotLeader { .. })),
        "{refused:?}"
    );
    assert_eq!(leader.last_seq(), range.last, "nothing written");
}
