//! A replica that lost its data votes only once it has it back: voting at once, it could
//! elect a candidate that lacks an acknowledged write, and the write would be lost.

mod support;

use std::time::Duration;

use aurora_journal::conformance::{append, marker, now, read_marker};
use aurora_raft::{Origin, Storage};
use openraft::ServerState;

use support::{Cluster, WAIT, assert_identical, quick};

fn markers(envelopes: &[aurora_events::Envelope]) -> Vec<(u32, u32)> {
    envelopes.iter().filter_map(read_marker).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emptied_replica_cannot_elect_a_leader_that_lacks_an_acknowledged_write() {
    let _ = tracing_subscriber::fmt::try_init();
    let mut cluster = Cluster::start(3, quick()).await;
    let journal = cluster.initialise("c", now()).await.expect("initialise");
    append(&journal, vec![marker(1, 0)]).await.expect("append");
    cluster.settle(journal.replica()).await;
    let leader = journal.replica().id();
    let others: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
    let (emptied, away) = (others[0], others[1]);

    tracing::info!("replica {away} is cut off; a write commits on {leader} and {emptied}");
    cluster.router.isolate(away);
    append(&journal, vec![marker(1, 1)])
        .await
        .expect("the leader and one follower are a quorum");
    drop(journal);

    tracing::info!("{leader} goes, {emptied} comes back with no data, {away} returns");
    cluster.stop(leader).await;
    cluster.stop(emptied).await;
    cluster.storage.insert(emptied, Storage::joining());
    cluster.restart(emptied).await;
    assert!(cluster.replicas[&emptied].recovering());
    cluster.router.heal(away);

    // Replica `away` lacks the write: with the emptied replica's vote it would lead (its log
    // is longer than an empty one), and the write would be gone for good. Without that vote
    // there is no quorum: no leader, for as long as the replica that has the write is away.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while tokio::time::Instant::now() < deadline {
        for replica in cluster.replicas.values() {
            let state = replica.raft().metrics().borrow().state;
            assert_ne!(
                state,
                ServerState::Leader,
                "replica {} was elected without the acknowledged write",
                replica.id()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        cluster.replicas[&emptied].recovering(),
        "nothing to catch up from yet"
    );

    tracing::info!("{leader} returns: it leads, and the emptied replica catches up");
    cluster.restart(leader).await;
    let new_leader = cluster.leader().await;
    cluster.settle(&new_leader).await;
    let all = assert_identical(&cluster).await;
    assert_eq!(markers(&all), vec![(1, 0), (1, 1)], "the write survived");
    let deadline = tokio::time::Instant::now() + WAIT;
    while cluster.replicas[&emptied].recovering() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "replica {emptied} caught up but still does not vote"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_created_without_init_recovers_until_caught_up_even_across_restarts() {
    let _ = tracing_subscriber::fmt::try_init();
    let dir = tempfile::tempdir().expect("temporary directory");
    let joining = dir.path().join("joining");
    let storage = Storage::open(&joining, 1, Origin::Joining).expect("open");
    assert!(storage.recovering(), "created without --init");
    drop(storage);
    // Still recovering when opened again, whatever the start says about a new directory.
    let storage = Storage::open(&joining, 1, Origin::Joining).expect("reopen");
    assert!(storage.recovering(), "the flag is kept on disk");
    drop(storage);
    // A founding start (--init) on a directory that has received nothing yet founds it.
    let storage = Storage::open(&joining, 1, Origin::Founding).expect("reopen with --init");
    assert!(!storage.recovering());
    drop(storage);
    let founding = dir.path().join("founding");
    let storage = Storage::open(&founding, 1, Origin::Founding).expect("open");
    assert!(
        !storage.recovering(),
        "a new cluster's member votes at once"
    );
    drop(storage);
    let storage = Storage::open(&founding, 1, Origin::Joining).expect("reopen");
    assert!(
        !storage.recovering(),
        "an existing directory keeps what it was"
    );
}
