//! Losing the leader, or a quorum: nothing acknowledged is lost, a deposed leader cannot
//! write, and a minority cannot write at all.

mod support;

use std::time::{Duration, Instant};

use aurora_journal::conformance::{append, marker, now, read_marker};
use aurora_journal::{Append, Error, Journal, Precondition, Recovery};
use aurora_raft::RaftJournal;

use support::{Cluster, WAIT, assert_identical, quick, read_all};

/// Appends `count` one-event batches by `writer` through `journal`; returns their markers.
async fn acknowledged_appends(journal: &RaftJournal, writer: u32, count: u32) -> Vec<(u32, u32)> {
    let mut acknowledged = Vec::new();
    for n in 0..count {
        append(journal, vec![marker(writer, n)])
            .await
            .expect("append");
        acknowledged.push((writer, n));
    }
    acknowledged
}

fn markers(envelopes: &[aurora_events::Envelope]) -> Vec<(u32, u32)> {
    envelopes.iter().filter_map(read_marker).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_takes_over_and_the_deposed_one_is_fenced() {
    let _ = tracing_subscriber::fmt::try_init();
    let mut cluster = Cluster::start(3, quick()).await;
    let old = cluster.initialise("c", now()).await.expect("initialise");
    let old_id = old.replica().id();
    let old_term = old.claim_leadership().await.expect("claim");
    let mut acknowledged = acknowledged_appends(&old, 1, 20).await;

    tracing::info!("the leader is cut off from the others");
    cluster.router.isolate(old_id);
    let cut = Instant::now();
    let new_replica = cluster.leader_except(&[old_id]).await;
    let takeover = cut.elapsed();
    println!("takeover after the leader was cut off: {takeover:?}");
    assert!(takeover < WAIT);
    let new = cluster.journal(new_replica.id()).await;
    let new_term = new.claim_leadership().await.expect("claim");
    assert!(new_term > old_term, "{new_term} > {old_term}");
    assert_eq!(
        markers(&read_all(&new).await),
        acknowledged,
        "every acknowledged append is on the new leader"
    );

    tracing::info!("the cut-off leader cannot commit");
    let last = old.last_seq();
    let cut_off = old
        .append(Append::new(
            Precondition::follows(old_term, last),
            now(),
            vec![marker(2, 0)],
        ))
        .await;
    assert!(cut_off.is_err(), "{cut_off:?}");

    tracing::info!("the new leader appends");
    acknowledged.extend(acknowledged_appends(&new, 3, 5).await);

    tracing::info!("the old leader comes back: it learns the new term and is fenced");
    cluster.router.heal(old_id);
    old.replica()
        .raft()
        .wait(Some(WAIT))
        .metrics(|m| m.current_term >= new_term, "learns the new term")
        .await
        .expect("the old leader hears of the new term");
    for precondition in [
        Precondition::follows(old_term, old.last_seq()),
        Precondition::at_end(old_term),
    ] {
        let fenced = old
            .append(Append::new(precondition, now(), vec![marker(4, 0)]))
            .await;
        match fenced {
            Err(e @ Error::NotLeader { term, current }) => {
                assert_eq!(term, old_term);
                assert!(current >= new_term);
                assert_eq!(e.recovery(), Recovery::Redirect);
            }
            other => panic!("expected NotLeader, got {other:?}"),
        }
    }
    // Even under the new term, the old handle's replica is not the leader.
    let not_leader = old
        .append(Append::new(
            Precondition::at_end(new_term),
            now(),
            vec![marker(4, 1)],
        ))
        .await;
    assert!(
        matches!(not_leader, Err(Error::NotLeader { .. })),
        "{not_leader:?}"
    );

    tracing::info!("every replica holds exactly the acknowledged appends");
    cluster.settle(&new_replica).await;
    let all = assert_identical(&cluster).await;
    assert_eq!(markers(&all), acknowledged);
    let _ = cluster.stop(old_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_leader_is_replaced_and_catches_up_when_restarted() {
    let _ = tracing_subscriber::fmt::try_init();
    let mut cluster = Cluster::start(3, quick()).await;
    let old = cluster.initialise("c", now()).await.expect("initialise");
    let old_id = old.replica().id();
    let old_term = old.term();
    let mut acknowledged = acknowledged_appends(&old, 1, 10).await;

    tracing::info!("the leader stops");
    cluster.stop(old_id).await;
    let stopped = Instant::now();
    let new_replica = cluster.leader().await;
    println!("takeover after the leader stopped: {:?}", stopped.elapsed());
    let new = cluster.journal(new_replica.id()).await;
    assert_eq!(markers(&read_all(&new).await), acknowledged);
    acknowledged.extend(acknowledged_appends(&new, 2, 10).await);

    let stale = append(&old, vec![marker(3, 0)]).await;
    assert!(
        matches!(stale, Err(Error::NotLeader { .. })),
        "a stopped replica's handle cannot append: {stale:?}"
    );
    let stale = old
        .append(Append::new(
            Precondition::at_end(old_term),
            now(),
            vec![marker(3, 1)],
        ))
        .await;
    assert!(matches!(stale, Err(Error::NotLeader { .. })), "{stale:?}");

    tracing::info!("the old leader restarts on its storage and catches up");
    cluster.restart(old_id).await;
    cluster.settle(&new_replica).await;
    let all = assert_identical(&cluster).await;
    assert_eq!(markers(&all), acknowledged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minority_refuses_appends() {
    let _ = tracing_subscriber::fmt::try_init();
    let mut cluster = Cluster::start(3, quick()).await;
    let leader = cluster.initialise("c", now()).await.expect("initialise");
    let leader_id = leader.replica().id();
    let term = leader.term();
    let acknowledged = acknowledged_appends(&leader, 1, 5).await;
    let last = leader.last_seq();

    tracing::info!("two of three replicas stop");
    let followers: Vec<_> = cluster
        .replicas
        .keys()
        .copied()
        .filter(|id| *id != leader_id)
        .collect();
    for id in &followers {
        cluster.stop(*id).await;
    }
    let started = Instant::now();
    let refused = leader
        .append(Append::new(
            Precondition::follows(term, last),
            now(),
            vec![marker(2, 0)],
        ))
        .await;
    let waited = started.elapsed();
    assert!(
        refused.is_err(),
        "a minority must not acknowledge: {refused:?}"
    );
    println!("refused after {waited:?}: {refused:?}");
    assert!(
        waited < quick().append + Duration::from_secs(2),
        "bounded wait: {waited:?}"
    );
    assert_eq!(leader.last_seq(), last, "nothing committed");
    assert_eq!(markers(&read_all(&leader).await), acknowledged);

    tracing::info!("cut off for longer than an election timeout: refused at once");
    let started = Instant::now();
    let attempts = (1..=3).map(|i| {
        leader.append(Append::new(
            Precondition::follows(term, last),
            now(),
            vec![marker(2, i)],
        ))
    });
    for refused in futures::future::join_all(attempts).await {
        assert!(
            matches!(&refused, Err(Error::Storage(why)) if why.contains("no quorum") && why.contains("not proposed")),
            "{refused:?}"
        );
    }
    let waited = started.elapsed();
    assert!(
        waited < quick().append / 2,
        "three appends refused without waiting out the append timeout: {waited:?}"
    );
    assert_eq!(leader.last_seq(), last, "nothing committed");

    tracing::info!("the quorum returns: nothing acknowledged is lost, nothing is doubled");
    for id in followers {
        cluster.restart(id).await;
    }
    let leader = cluster.leader().await;
    cluster.settle(&leader).await;
    let all = assert_identical(&cluster).await;
    let after = markers(&all);
    // The refused append's outcome was unknown: its entry may commit once the quorum is back,
    // but at most once, and only right after `last` (its precondition).
    assert_eq!(after[..acknowledged.len()], acknowledged[..]);
    assert!(after.len() <= acknowledged.len() + 1, "{after:?}");
    // The replicas just came back: an election may still move the lead between the claim
    // and the append (NotLeader); the next leader takes it.
    let mut attempts = 0;
    loop {
        let leader = cluster.leader().await;
        let journal = cluster.journal(leader.id()).await;
        journal.claim_leadership().await.expect("claim");
        match append(&journal, vec![marker(3, 0)]).await {
            Ok(_) => break,
            Err(Error::NotLeader { .. }) if attempts < 5 => attempts += 1,
            // Until the returning followers' first answers reach the leader, it still counts
            // itself cut off.
            Err(Error::Storage(why)) if why.contains("no quorum") && attempts < 50 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the restored quorum accepts appends: {e:?}"),
        }
    }
}
