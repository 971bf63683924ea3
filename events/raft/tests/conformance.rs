//! The journal's behaviour suite against the leader of a 3-replica in-process cluster.

mod support;

use async_trait::async_trait;
use aurora_events::Timestamp;
use aurora_journal::Error;
use aurora_journal::conformance::Backend;
use aurora_raft::{Compaction, RaftJournal};

use support::{Cluster, quick};

/// One fresh cluster per case, in memory or on disk.
#[derive(Default)]
struct ThreeReplicas {
    cluster: Option<Cluster>,
    on_disk: bool,
}

impl ThreeReplicas {
    fn on_disk() -> Self {
        Self {
            cluster: None,
            on_disk: true,
        }
    }

    async fn cluster(&mut self) -> &Cluster {
        if self.cluster.is_none() {
            // On disk the logs are compacted often, so the suite also runs with snapshots
            // taken and the log purged under it.
            let compacting = Compaction {
                snapshot_every: 4,
                keep: 1,
            };
            self.cluster = Some(if self.on_disk {
                Cluster::start_on_disk_compacting(3, quick(), compacting).await
            } else {
                Cluster::start(3, quick()).await
            });
        }
        self.cluster.as_ref().expect("just started")
    }
}

#[async_trait]
impl Backend for ThreeReplicas {
    type Journal = RaftJournal;

    async fn initialise(&mut self, cluster: &str, at: Timestamp) -> Result<RaftJournal, Error> {
        self.cluster().await.initialise(cluster, at).await
    }

    async fn reopen(&mut self) -> Result<RaftJournal, Error> {
        // Only the skipped cases reopen; see below.
        Err(Error::Storage(
            "restarting a whole cluster is tested in durable.rs, not by this suite".into(),
        ))
    }

    async fn open_uninitialised(&mut self) -> Result<RaftJournal, Error> {
        let cluster = self.cluster().await;
        RaftJournal::open(&cluster.replicas[&1])
    }
}

// Every case but two:
// - `restart_keeps_everything` asserts that the term is the same after a restart. A Raft
//   cluster that restarts holds an election, so its term grows; the history surviving a
//   replica's restart is tested in `failover.rs` instead.
// - `a_deposed_leader_cannot_append` deposes a leader by claiming leadership again on the same
//   handle. In Raft a term begins only with an election (openraft 0.9 ignores one triggered on
//   a sitting leader), so `claim_leadership` returns the sitting leader's term; the same
//   fencing, by a real election, is `failover.rs`'s
//   `a_new_leader_takes_over_and_the_deposed_one_is_fenced`.
aurora_journal::conformance_tests!(@cases ThreeReplicas::default;
    starts_with_cluster_initialised,
    appends_get_consecutive_seqs,
    the_envelope_keeps_id_actor_and_cause,
    concurrent_appends_stay_dense_and_whole,
    read_clips_to_the_end_and_rejects_seq_zero,
    subscribe_catches_up_then_follows,
    commit_times_never_go_backwards,
    time_index_finds_the_seq_at_a_time,
    the_time_index_agrees_with_concurrent_appends,
    a_stale_writer_cannot_append,
    checkpoints_are_found_at_or_before_a_seq,
    uninitialised_locations_are_refused,
);

/// The same cases with every replica on its own RocksDB directory.
mod on_disk {
    use super::*;

    aurora_journal::conformance_tests!(@cases ThreeReplicas::on_disk;
            starts_with_cluster_initialised,
            appends_get_consecutive_seqs,
            the_envelope_keeps_id_actor_and_cause,
            concurrent_appends_stay_dense_and_whole,
            read_clips_to_the_end_and_rejects_seq_zero,
            subscribe_catches_up_then_follows,
            commit_times_never_go_backwards,
            time_index_finds_the_seq_at_a_time,
            the_time_index_agrees_with_concurrent_appends,
            a_stale_writer_cannot_append,
            checkpoints_are_found_at_or_before_a_seq,
            uninitialised_locations_are_refused,
    );
}
