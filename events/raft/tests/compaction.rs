//! Log compaction never drops history: the Raft log is purged behind snapshots, and a replica
//! that needs what was purged (a new one, one given an empty directory, one that fell too far
//! behind) receives every envelope it lacks from the leader's journal, in chunks. After a
//! restart of every process nothing is lost or applied twice.

mod support;

use std::time::Duration;

use aurora_journal::Journal;
use aurora_journal::conformance::{append, assert_dense, marker, now, read_marker};
use aurora_raft::{Compaction, Storage};

use support::{Cluster, WAIT, assert_identical, quick};

/// A snapshot every 20 entries, keeping 5 entries of log behind it.
const TIGHT: Compaction = Compaction {
    snapshot_every: 20,
    keep: 5,
};

fn markers(envelopes: &[aurora_events::Envelope]) -> Vec<(u32, u32)> {
    envelopes.iter().filter_map(read_marker).collect()
}

/// The last log index replica `id` has.
fn last_log_index(cluster: &Cluster, id: u64) -> u64 {
    let metrics = cluster.replicas[&id].raft().metrics().borrow().clone();
    metrics.last_log_index.unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_replica_joining_after_the_log_was_purged_receives_the_whole_journal() {
    let _ = tracing_subscriber::fmt::try_init();
    let mut cluster = Cluster::start_compacting(3, quick(), TIGHT).await;
    let journal = cluster.initialise("c", now()).await.expect("initialise");
    // Events of several sizes and times, so chunks hold runs of several appends.
    for n in 0..150 {
        let events = (0..=(n % 4)).map(|i| marker(1, n * 4 + i)).collect();
        append(&journal, events).await.expect("append");
    }
    let leader = journal.replica().id();
    cluster.wait_purged_past(leader, 100).await;

    cluster.storage.insert(4, Storage::new());
    cluster.restart(4).await;
    journal
        .replica()
        .add_voter(4, "", WAIT)
        .await
        .expect("replica 4 joins");
    assert!(journal.replica().voters().contains(&4));
    cluster.settle(journal.replica()).await;
    let all = assert_identical(&cluster).await;
    assert_dense(&all);
    let expected: Vec<_> = (0..150)
        .flat_map(|n| (0..=(n % 4)).map(move |i| (1, n * 4 + i)))
        .collect();
    assert_eq!(markers(&all), expected);

    // The newcomer counts in the quorum: with two of the others gone, writes still commit.
    let others: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
    cluster.stop(others[0]).await;
    append(&journal, vec![marker(2, 0)])
        .await
        .expect("the leader and replica 4 (and one more) are a quorum of four");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_on_disk_given_an_empty_directory_after_compaction_catches_up_and_all_restart() {
    let _ = tracing_subscriber::fmt::try_init();
    let mut cluster = Cluster::start_on_disk_compacting(3, quick(), TIGHT).await;
    let journal = cluster.initialise("c", now()).await.expect("initialise");
    for n in 0..60 {
        append(&journal, vec![marker(1, n)]).await.expect("append");
    }
    let leader = journal.replica().id();
    let follower = if leader == 3 { 2 } else { 3 };
    cluster.settle(journal.replica()).await;
    let away_from = last_log_index(&cluster, follower);
    drop(cluster.stop(follower).await);
    for n in 60..160 {
        append(&journal, vec![marker(1, n)]).await.expect("append");
    }
    // What the follower lacks is no longer in any log.
    cluster.wait_purged_past(leader, away_from + 10).await;

    // Its directory goes: it comes back empty.
    cluster.storage.remove(&follower);
    let dir = cluster.data_dir(follower);
    let deadline = tokio::time::Instant::now() + WAIT;
    while std::fs::remove_dir_all(&dir).is_err() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!dir.exists(), "the follower's directory is gone");
    cluster
        .reopen_storage_as(follower, aurora_raft::Origin::Joining)
        .await;
    cluster.restart(follower).await;
    cluster.settle(journal.replica()).await;
    let before = assert_identical(&cluster).await;
    assert_dense(&before);
    assert_eq!(
        markers(&before),
        (0..160).map(|n| (1, n)).collect::<Vec<_>>()
    );
    drop(journal);

    // Every process goes; each comes back from its compacted directory alone, with its
    // journal whole and nothing applied twice (each append here is "at the end", so an entry
    // applied again would show as a duplicate).
    for id in 1..=3 {
        drop(cluster.stop(id).await);
    }
    for id in 1..=3 {
        cluster.reopen_storage(id).await;
        assert_eq!(
            cluster.storage[&id].journal().map(|j| j.last_seq()),
            Some(before.len() as u64),
            "replica {id}'s journal is whole"
        );
        cluster.restart(id).await;
    }
    // A replica may come back believing it still leads an old term: that write is refused,
    // and the new leader takes it.
    let mut attempts = 0;
    let journal = loop {
        let leader = cluster.leader().await;
        let journal = cluster.journal(leader.id()).await;
        match append(&journal, vec![marker(2, 0)]).await {
            Ok(_) => break journal,
            Err(aurora_journal::Error::NotLeader { .. }) if attempts < 5 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("the restarted cluster takes writes: {e:?}"),
        }
    };
    cluster.settle(journal.replica()).await;
    let after = assert_identical(&cluster).await;
    assert_dense(&after);
    assert_eq!(after[..before.len()], before[..], "nothing lost or doubled");
    assert_eq!(markers(&after[before.len()..]), vec![(2, 0)]);
}
