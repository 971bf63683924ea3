//! Replicas join and leave a running group: a new one receives the whole journal before it
//! votes, and the quorum follows the membership.

mod support;

use std::time::Duration;

use aurora_journal::conformance::{append, marker, now, read_marker};
use aurora_raft::Storage;

use support::{Cluster, assert_identical, quick};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_added_then_another_removed_the_quorum_follows() {
    let _ = tracing_subscriber::fmt::try_init();
    let mut cluster = Cluster::start(3, quick()).await;
    let journal = cluster.initialise("c", now()).await.expect("initialise");
    for n in 0..10 {
        append(&journal, vec![marker(1, n)]).await.expect("append");
    }
    let leader = journal.replica().clone();

    cluster.storage.insert(4, Storage::new());
    cluster.restart(4).await;
    leader
        .add_voter(4, "", Duration::from_secs(10))
        .await
        .expect("add replica 4");
    assert_eq!(
        leader.voters().into_iter().collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    cluster.settle(&leader).await;
    assert_eq!(assert_identical(&cluster).await.len(), 11, "4 has it all");

    let leaving = if leader.id() == 2 { 3 } else { 2 };
    leader.remove_voter(leaving).await.expect("remove");
    assert!(!leader.voters().contains(&leaving));
    drop(cluster.stop(leaving).await);
    let third = if leader.id() == 1 { 3 } else { 1 };
    let third = if third == leaving { 4 } else { third };
    drop(cluster.stop(third).await);
    // Voters are now three (the leader, `third` and one more); with `third` stopped, two of
    // three still make a quorum.
    append(&journal, vec![marker(2, 0)])
        .await
        .expect("a quorum of the new membership commits");
    let removed = leader.remove_voter(leaving).await;
    assert!(removed.is_err(), "not a voter any more: {removed:?}");
    cluster.settle(&leader).await;
    let all = assert_identical(&cluster).await;
    assert_eq!(all.iter().rev().find_map(read_marker), Some((2, 0)));
}
