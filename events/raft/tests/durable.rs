//! Replicas on disk: the history survives every replica's process going, a replica given an
//! empty directory receives all of it, and a directory belongs to one replica id.

mod support;

use std::time::Duration;

use aurora_journal::conformance::{append, assert_dense, marker, now, read_marker};
use aurora_journal::{Append, Journal, Precondition};
use aurora_raft::{Error, RaftJournal, Storage};

use support::{Cluster, assert_identical, quick, read_all};

fn markers(envelopes: &[aurora_events::Envelope]) -> Vec<(u32, u32)> {
    envelopes.iter().filter_map(read_marker).collect()
}

async fn leader_journal(cluster: &Cluster) -> RaftJournal {
    let leader = cluster.leader().await;
    cluster.journal(leader.id()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_cluster_restarts_from_its_directories_with_nothing_lost_or_doubled() {
    let _ = tracing_subscriber::fmt::try_init();
    let mut cluster = Cluster::start_on_disk(3, quick()).await;
    let journal = cluster.initialise("c", now()).await.expect("initialise");
    let mut acknowledged = Vec::new();
    for n in 0..30 {
        let events = (0..=(n % 3)).map(|i| marker(1, n * 3 + i)).collect();
        append(&journal, events).await.expect("append");
        acknowledged.extend((0..=(n % 3)).map(|i| (1, n * 3 + i)));
    }
    cluster.settle(journal.replica()).await;
    let before = assert_identical(&cluster).await;
    drop(journal);

    // Every process goes; each comes back from its directory alone.
    for id in 1..=3 {
        drop(cluster.stop(id).await);
    }
    for id in 1..=3 {
        cluster.reopen_storage(id).await;
        assert_eq!(
            cluster.storage[&id].journal().map(|j| j.last_seq()),
            Some(before.len() as u64),
            "replica {id}'s journal is back before Raft starts"
        );
        cluster.restart(id).await;
    }
    let journal = leader_journal(&cluster).await;
    // Re-applying any entry would append its events again (its precondition is "at the end").
    assert_eq!(read_all(&journal).await, before, "nothing applied twice");

    let last = journal.last_seq();
    let term = journal.claim_leadership().await.expect("claim");
    journal
        .append(Append::new(
            Precondition::follows(term, last),
            now(),
            vec![marker(2, 0)],
        ))
        .await
        .expect("the restarted cluster takes writes");
    acknowledged.push((2, 0));
    cluster.settle(journal.replica()).await;
    let after = assert_identical(&cluster).await;
    assert_dense(&after);
    assert_eq!(markers(&after), acknowledged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_given_an_empty_directory_receives_the_whole_history() {
    let _ = tracing_subscriber::fmt::try_init();
    let mut cluster = Cluster::start_on_disk(3, quick()).await;
    let journal = cluster.initialise("c", now()).await.expect("initialise");
    for n in 0..20 {
        append(&journal, vec![marker(1, n)]).await.expect("append");
    }
    let leader = journal.replica().id();
    let follower = if leader == 3 { 2 } else { 3 };
    drop(cluster.stop(follower).await);
    // Written while the follower is away, so it has something to catch up on either way.
    for n in 20..40 {
        append(&journal, vec![marker(1, n)]).await.expect("append");
    }
    cluster.storage.remove(&follower);
    let dir = cluster.data_dir(follower);
    // Its handles may take a moment to let go of the directory.
    let deadline = tokio::time::Instant::now() + support::WAIT;
    while std::fs::remove_dir_all(&dir).is_err() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!dir.exists(), "the follower's directory is gone");
    cluster.reopen_storage(follower).await;
    assert!(cluster.storage[&follower].journal().is_none(), "empty");
    cluster.restart(follower).await;
    cluster.settle(journal.replica()).await;
    let all = assert_identical(&cluster).await;
    assert_dense(&all);
    assert_eq!(markers(&all), (0..40).map(|n| (1, n)).collect::<Vec<_>>());
}

#[test]
fn a_directory_belongs_to_one_replica() {
    let dir = tempfile::tempdir().expect("temporary directory");
    drop(Storage::open(dir.path(), 1).expect("open as replica 1"));
    let refused = Storage::open(dir.path(), 2).expect_err("replica 2 must not take it");
    assert!(
        matches!(
            refused,
            Error::WrongReplica {
                found: 1,
                given: 2,
                ..
            }
        ),
        "{refused:?}"
    );
    assert!(refused.to_string().contains("--replica-id 1"), "{refused}");
    drop(Storage::open(dir.path(), 1).expect("replica 1 opens it again"));
}
