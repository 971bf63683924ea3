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
    let mut journal = leader_journal(&cluster).await;
    // Re-applying any entry would append its events again (its precondition is "at the end").
    assert_eq!(read_all(&journal).await, before, "nothing applied twice");

    // A replica may come back believing it still leads its old term while the others elect
    // a new leader: that write is refused (NotLeader), and the new leader takes it.
    let mut attempts = 0;
    loop {
        let last = journal.last_seq();
        // Leadership may move between finding the leader and claiming it, too.
        let written = match journal.claim_leadership().await {
            Ok(term) => {
                journal
                    .append(Append::new(
                        Precondition::follows(term, last),
                        now(),
                        vec![marker(2, 0)],
                    ))
                    .await
            }
            Err(e) => Err(e),
        };
        match written {
            Ok(_) => break,
            Err(aurora_journal::Error::NotLeader { .. }) if attempts < 5 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
                journal = leader_journal(&cluster).await;
            }
            Err(e) => panic!("the restarted cluster takes writes: {e:?}"),
        }
    }
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
    cluster
        .reopen_storage_as(follower, aurora_raft::Origin::Joining)
        .await;
    assert!(cluster.storage[&follower].journal().is_none(), "empty");
    assert!(
        cluster.storage[&follower].recovering(),
        "votes only once caught up"
    );
    cluster.restart(follower).await;
    cluster.settle(journal.replica()).await;
    let all = assert_identical(&cluster).await;
    assert_dense(&all);
    assert_eq!(markers(&all), (0..40).map(|n| (1, n)).collect::<Vec<_>>());
}

/// Stops replica `id` and waits until its directory is closed (a new open succeeds), so its
/// files can be copied as a power loss would leave them.
async fn stop_and_close(cluster: &mut Cluster, id: u64) {
    drop(cluster.stop(id).await);
    cluster.reopen_storage(id).await;
    cluster.storage.remove(&id);
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("create the copy");
    for entry in std::fs::read_dir(from).expect("read the directory") {
        let entry = entry.expect("directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a file");
        }
    }
}

/// A replica's journal is written unsynced (its Raft log is the synced copy): a power loss may
/// take the journal's newest batches while the Raft log and applied state survive. Simulated
/// by putting back an older copy of the journal's directory: the replica must replay the lost
/// entries from its log, not skip them because its applied state is further on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_that_lost_its_unsynced_tail_is_replayed_from_the_raft_log() {
    let _ = tracing_subscriber::fmt::try_init();
    let mut cluster = Cluster::start_on_disk(3, quick()).await;
    let journal = cluster.initialise("c", now()).await.expect("initialise");
    for n in 0..10 {
        append(&journal, vec![marker(1, n)]).await.expect("append");
    }
    cluster.settle(journal.replica()).await;
    let follower = if journal.replica().id() == 3 { 2 } else { 3 };
    stop_and_close(&mut cluster, follower).await;
    let saved = tempfile::tempdir().expect("temporary directory");
    let journal_dir = cluster.data_dir(follower).join("journal");
    copy_dir(&journal_dir, saved.path());
    let short = 1 + 10;

    cluster.reopen_storage(follower).await;
    cluster.restart(follower).await;
    for n in 10..25 {
        append(&journal, vec![marker(1, n)]).await.expect("append");
    }
    cluster.settle(journal.replica()).await;
    assert_identical(&cluster).await;

    // The power loss: the journal's last 15 batches are gone, the Raft log is whole.
    stop_and_close(&mut cluster, follower).await;
    std::fs::remove_dir_all(&journal_dir).expect("remove the journal");
    copy_dir(saved.path(), &journal_dir);
    cluster.reopen_storage(follower).await;
    assert_eq!(
        cluster.storage[&follower].journal().map(|j| j.last_seq()),
        Some(short),
        "the follower's journal is back to its older copy"
    );
    cluster.restart(follower).await;
    cluster.settle(journal.replica()).await;
    let all = assert_identical(&cluster).await;
    assert_dense(&all);
    assert_eq!(markers(&all), (0..25).map(|n| (1, n)).collect::<Vec<_>>());
}

#[test]
fn a_directory_belongs_to_one_replica() {
    let dir = tempfile::tempdir().expect("temporary directory");
    drop(Storage::open(dir.path(), 1, aurora_raft::Origin::Founding).expect("open as replica 1"));
    let refused = Storage::open(dir.path(), 2, aurora_raft::Origin::Founding)
        .expect_err("replica 2 must not take it");
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
    let held = Storage::open(dir.path(), 1, aurora_raft::Origin::Founding)
        .expect("replica 1 opens it again");
    let refused = Storage::open(dir.path(), 1, aurora_raft::Origin::Founding)
        .expect_err("one process at a time");
    assert!(
        refused.to_string().contains("another process holds"),
        "{refused}"
    );
    drop(held);
}

#[test]
fn a_replica_is_made_only_in_a_new_or_empty_directory() {
    let root = tempfile::tempdir().expect("temporary directory");
    let missing = root.path().join("new");
    drop(Storage::open(&missing, 1, aurora_raft::Origin::Founding).expect("a new directory"));
    let empty = root.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    drop(Storage::open(&empty, 1, aurora_raft::Origin::Founding).expect("an empty directory"));

    let single = root.path().join("single");
    drop(
        aurora_journal::RocksJournal::initialise(&single, "test", now())
            .expect("a single scheduler's journal"),
    );
    let refused = Storage::open(&single, 1, aurora_raft::Origin::Founding)
        .expect_err("a single scheduler's journal is not a replica's directory");
    assert!(
        matches!(refused, Error::SingleSchedulerDirectory { .. }),
        "{refused:?}"
    );
    assert!(!single.join("raft").exists(), "nothing written beside it");

    let other = root.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "someone's files").unwrap();
    let refused =
        Storage::open(&other, 1, aurora_raft::Origin::Joining).expect_err("not among other files");
    assert!(matches!(refused, Error::NotEmpty { .. }), "{refused:?}");
    assert_eq!(
        std::fs::read_dir(&other).unwrap().count(),
        1,
        "nothing written"
    );
}
