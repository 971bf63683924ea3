//! Three `aurora-scheduler` replicas on loopback, as separate processes: the leader is killed
//! with -9 over and over under a steady write load, a follower comes back with an empty
//! directory, and a minority refuses writes. Afterwards every replica holds the same journal,
//! byte for byte, with every acknowledged write in it once. Also: membership changes through
//! `aurora-admin`, agents and the CLI across a failover, the stream mirror across leader
//! kills and a NATS restart, and a backup of the journal restored as a single scheduler. The
//! cluster and its clients are in `cluster.rs`.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown

#[path = "../support/mod.rs"]
mod support;

mod cluster;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cluster::{
    CLUSTER, Replicas, admin, client, create_job, create_job_within, created_jobs, percentile,
    running, start_writers,
};
use serde_json::Value;
use support::{Guard, http, http_text, metric, wait_for_within};

#[test]
fn the_leader_killed_twenty_times_under_load_loses_nothing() {
    let mut replicas = Replicas::new(3);
    replicas.start_all();
    replicas.wait_leader(30);

    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let ports: Vec<u16> = replicas.ports.values().copied().collect();
    let writers = start_writers(ports, 4, stop.clone(), acknowledged.clone());

    // `ops/soak-failover --kills N` runs this test with more kills.
    let kills: u64 = std::env::var("AURORA_FAILOVER_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(20);
    let mut takeovers = Vec::new();
    for round in 0..kills {
        let leader = replicas.wait_leader(30);
        // Let the load run a varying while (a fixed, seeded sequence) before the kill.
        std::thread::sleep(Duration::from_millis(200 + (round * 337) % 700));
        let before = acknowledged.lock().unwrap().len();
        let killed = Instant::now();
        replicas.kill(leader);
        // Taken over once a write through another replica is acknowledged.
        let survivor = replicas
            .ports
            .keys()
            .copied()
            .find(|id| *id != leader)
            .unwrap();
        let port = replicas.port(survivor);
        let probe = format!("probe{round}");
        // What the survivor answered meanwhile, with when it first did: the post-mortem of a
        // slow takeover.
        let mut answers: Vec<(Duration, String)> = Vec::new();
        wait_for_within(30, "a write after the leader's kill", || {
            match create_job(port, &probe) {
                Ok(()) => true,
                Err(e) => {
                    let e: String = e.chars().take(160).collect();
                    if answers.last().is_none_or(|(_, last)| *last != e) {
                        answers.push((killed.elapsed(), e));
                    }
                    false
                }
            }
        });
        takeovers.push(killed.elapsed());
        eprintln!(
            "round {round}: replica {leader} killed, a write through replica {survivor} after {:?}; before: {answers:?}",
            killed.elapsed()
        );
        acknowledged.lock().unwrap().push(probe);
        replicas.start(leader, false);
        assert!(
            acknowledged.lock().unwrap().len() > before,
            "round {round}: writes go on"
        );
    }
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.join().unwrap();
    }
    replicas.wait_all_serving();

    takeovers.sort();
    println!(
        "takeover after kill -9 of the leader ({} kills): min {:?}, p50 {:?}, p99 {:?}, max {:?}",
        takeovers.len(),
        takeovers[0],
        percentile(&takeovers, 0.5),
        percentile(&takeovers, 0.99),
        takeovers[takeovers.len() - 1]
    );
    assert!(
        percentile(&takeovers, 0.5) < Duration::from_secs(10),
        "a new leader serves writes within seconds: {takeovers:?}"
    );

    let last = replicas.wait_converged();
    let journals: BTreeMap<u64, Vec<String>> = replicas
        .running
        .keys()
        .map(|id| (*id, replicas.journal_text(*id, last)))
        .collect();
    let reference = &journals[&1];
    for (id, journal) in &journals {
        assert_eq!(journal.len() as u64, last, "replica {id}'s length");
        assert!(
            journal == reference,
            "replica {id}'s journal differs from replica 1's"
        );
    }
    for (i, text) in reference.iter().enumerate() {
        let envelope: Value = serde_json::from_str(text).unwrap();
        assert_eq!(envelope["seq"].as_u64(), Some(i as u64 + 1), "dense seqs");
    }
    let created = created_jobs(reference);
    let unique: BTreeSet<&String> = created.iter().collect();
    assert_eq!(unique.len(), created.len(), "no job created twice");
    let acknowledged = acknowledged.lock().unwrap().clone();
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|name| !unique.contains(name))
        .collect();
    println!(
        "{} acknowledged writes, {} lost, {} created twice, {} events on each of {} replicas",
        acknowledged.len(),
        missing.len(),
        created.len() - unique.len(),
        last,
        journals.len()
    );
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");

    // The write models agree where their journals do.
    let views: BTreeSet<String> = replicas
        .running
        .keys()
        .map(|id| {
            let (status, view) = http(replicas.port(*id), "GET", "/api/v1/replicas", None).unwrap();
            assert_eq!(status, 200);
            assert_eq!(view["write_model"]["seq"].as_u64(), Some(last));
            view["write_model"]["digest"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(views.len(), 1, "write-model digests differ: {views:?}");
}

#[test]
fn a_follower_restarted_with_an_empty_directory_catches_up() {
    let mut replicas = Replicas::new(3);
    replicas.start_all();
    let leader = replicas.wait_leader(30);
    for n in 0..20 {
        create_job(replicas.port(leader), &format!("early{n}")).unwrap();
    }
    let follower = replicas.follower_of(leader);
    replicas.kill(follower);
    std::fs::remove_dir_all(replicas.data(follower)).unwrap();
    for n in 0..10 {
        create_job(replicas.port(leader), &format!("late{n}")).unwrap();
    }
    // The leader's log no longer starts at the beginning: the follower can only get the
    // early history from the journal, streamed with the snapshot.
    wait_for_within(10, "the leader's log to be compacted", || {
        metric(replicas.port(leader), "aurora_raft_purged_index").is_some_and(|purged| purged > 0.0)
    });
    // Restarted the way a supervisor that always passes --init would: with the others holding
    // the journal, it joins (and votes once caught up) rather than found the cluster anew.
    replicas.start(follower, true);
    replicas.wait_all_serving();
    let last = replicas.wait_converged();
    let log = std::fs::read_to_string(replicas.dir.path().join(format!("replica-{follower}.log")))
        .unwrap();
    assert!(
        log.contains("already holds cluster") && log.contains("joins the cluster"),
        "the emptied replica started with --init joined: {log}"
    );
    assert_eq!(
        replicas.journal_text(follower, last),
        replicas.journal_text(leader, last),
        "the emptied follower holds the whole history"
    );
    // Every page says which replica served it.
    let (_, page) = http_text(replicas.port(follower), "GET", "/scheduler", None).unwrap();
    assert!(
        page.contains(&format!(
            "served by replica {follower}, a follower of replica {leader}"
        )),
        "{page}"
    );
    let (_, page) = http_text(replicas.port(leader), "GET", "/scheduler", None).unwrap();
    assert!(
        page.contains(&format!("served by replica {leader}, the leader")),
        "{page}"
    );
    // The Raft metrics, as each replica sees itself (refreshed at least every second).
    for (id, leads) in [(leader, 1), (follower, 0)] {
        wait_for_within(10, "the Raft metrics", || {
            let (_, metrics) = http_text(replicas.port(id), "GET", "/metrics", None).unwrap();
            metrics.contains(&format!("aurora_raft_is_leader {leads}"))
                && metrics.contains(&format!("aurora_raft_leader {leader}"))
                && metrics.contains("aurora_raft_commit_index")
        });
    }
}

/// A backup asked of a follower is taken by the leader, of its copy of the journal, into its
/// own backup directory; restored, it starts a single scheduler with the cluster's history.
#[test]
fn a_backup_of_a_replica_restores_as_a_single_scheduler() {
    let mut replicas = Replicas::new(3);
    let backups = replicas.dir.path().join("backups-{id}");
    replicas.extra = vec![
        "--backup-dir".into(),
        backups.display().to_string(),
        "--backup-interval-mins".into(),
        "0".into(),
    ];
    replicas.start_all();
    let leader = replicas.wait_leader(30);
    for n in 0..5 {
        create_job(replicas.port(leader), &format!("kept{n}")).unwrap();
    }
    let follower = replicas.follower_of(leader);
    let (status, taken) = http(
        replicas.port(follower),
        "POST",
        "/api/v1/admin/backups",
        Some(&serde_json::json!({})),
    )
    .unwrap();
    assert_eq!(status, 200, "{taken}");
    let name = taken["name"]
        .as_str()
        .unwrap_or_else(|| panic!("{taken}"))
        .to_string();
    let root = replicas.dir.path().to_path_buf();
    let in_dir = |id: u64| root.join(format!("backups-{id}"));
    assert!(in_dir(leader).join(&name).is_dir(), "the leader took it");
    assert!(!in_dir(follower).join(&name).exists());
    create_job(replicas.port(leader), "after").unwrap();
    let ids: Vec<u64> = replicas.ports.keys().copied().collect();
    for id in ids {
        replicas.kill(id);
    }

    let restored = replicas.dir.path().join("restored");
    let backup = in_dir(leader).join(&name);
    let (ok, said) = replicas.run_to_exit(&[
        "--restore-from",
        backup.to_str().unwrap(),
        "--data-dir",
        restored.to_str().unwrap(),
    ]);
    assert!(ok, "{said}");
    let port = support::free_port();
    let _single = support::scheduler(&["--insecure-no-auth"], &restored, port);
    let (_, jobs) = http(port, "GET", "/api/v1/jobs", None).unwrap();
    let names: BTreeSet<String> = jobs
        .as_array()
        .unwrap()
        .iter()
        .map(|job| job["job"].as_str().unwrap().to_string())
        .collect();
    let expected: BTreeSet<String> = (0..5).map(|n| format!("www/prod/kept{n}")).collect();
    assert_eq!(
        names, expected,
        "the jobs created before the backup, and only those"
    );
}

#[test]
fn a_minority_refuses_writes_and_recovers_with_nothing_lost() {
    use nix::sys::signal::{Signal, kill};
    let mut replicas = Replicas::new(3);
    replicas.start_all();
    let leader = replicas.wait_leader(30);
    create_job(replicas.port(leader), "before").unwrap();

    let stopped: Vec<u64> = replicas
        .ports
        .keys()
        .copied()
        .filter(|id| *id != leader)
        .collect();
    for id in &stopped {
        kill(replicas.pid(*id), Signal::SIGSTOP).unwrap();
    }
    // An append waits up to 10 s for a quorum (the scheduler's `Timeouts::append`); one
    // proposed before the leader noticed it was cut off waits it out (this one, or a timer's
    // that it queued behind), and the rest are refused at once.
    let asked = Instant::now();
    let refused = create_job_within(replicas.port(leader), "during", Duration::from_secs(20));
    eprintln!(
        "first write answered after {:?}: {refused:?}",
        asked.elapsed()
    );
    let resume = |replicas: &Replicas| {
        for id in &stopped {
            let _ = kill(replicas.pid(*id), Signal::SIGCONT);
        }
    };
    // By now the leader has heard from no quorum for longer than an election timeout: the
    // next write is refused without waiting out an append's timeout.
    let asked_again = Instant::now();
    let refused_again = create_job_within(replicas.port(leader), "during2", Duration::from_secs(5));
    let answered_in = asked_again.elapsed();
    // Aurora's contract: /leaderhealth is 200 only where writes can succeed.
    let leader_health = http_text(replicas.port(leader), "GET", "/leaderhealth", None);
    let refusal = match (refused, refused_again) {
        (Err(refusal), Err(again)) => {
            resume(&replicas);
            assert!(
                again.starts_with("503") && again.contains("no quorum"),
                "refused at once ({answered_in:?}), saying why: {again}"
            );
            refusal
        }
        (refused, refused_again) => {
            resume(&replicas);
            panic!(
                "a leader without a quorum acknowledged a write: {refused:?}, then \
                 {refused_again:?} after {answered_in:?}"
            );
        }
    };
    // Refused at once (503), or proposed and not confirmed in time: then it may still commit
    // once the quorum is back, and the answer says the outcome is unknown (504), so that no
    // client sends it elsewhere.
    assert!(
        refusal.starts_with("503") || refusal.starts_with("504 {\"code\":\"OUTCOME_UNKNOWN\""),
        "{refusal}"
    );
    assert!(
        refusal.contains("quorum"),
        "the refusal says why: {refusal}"
    );
    let (status, why) = leader_health.expect("the cut-off leader answers");
    assert_eq!(
        status, 503,
        "a leader without a quorum is not healthy: {why}"
    );
    assert!(why.contains("no quorum"), "{why}");

    let leader = replicas.wait_leader(30);
    wait_for_within(30, "writes after the quorum is back", || {
        create_job(replicas.port(leader), "after").is_ok()
    });
    let last = replicas.wait_converged();
    let journal = replicas.journal_text(1, last);
    let created = created_jobs(&journal);
    for name in ["before", "after"] {
        assert!(created.iter().any(|c| c == name), "{name} in {created:?}");
    }
    // Refused without being proposed: it cannot have committed later, as "during" may have.
    assert!(!created.iter().any(|c| c == "during2"), "{created:?}");
    for id in [2, 3] {
        assert_eq!(replicas.journal_text(id, last), journal);
    }
}
#[test]
fn replicas_join_and_leave_through_aurora_admin() {
    let mut replicas = Replicas::new(4);
    let three = replicas.peers_of(&[1, 2, 3]);
    // A new cluster's replicas each start with --init; replica 4, added later, without.
    for id in [1, 2, 3] {
        replicas.start_with_peers(id, true, &three);
    }
    replicas.wait_all_serving();
    let leader = replicas.wait_leader(30);
    for n in 0..5 {
        create_job(replicas.port(leader), &format!("job{n}")).unwrap();
    }

    // Refused up front, with why: a replica of another cluster name (the others would refuse
    // each of its RPCs), a replica directory started without --peers, a replica among
    // someone's files.
    let all = replicas.peers_of(&[1, 2, 3, 4]);
    let port4 = replicas.port(4).to_string();
    let stranger = replicas.dir.path().join("stranger");
    let (ok, text) = replicas.run_to_exit(&[
        "--replica-id",
        "4",
        "--peers",
        &all,
        "--cluster",
        "other",
        "--http-port",
        &port4,
        "--data-dir",
        stranger.to_str().unwrap(),
    ]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("refuses this one") && text.contains("check --cluster (other)"),
        "{text}"
    );
    let (ok, text) = replicas.run_to_exit(&["--data-dir", replicas.data(1).to_str().unwrap()]);
    assert!(!ok, "{text}");
    assert!(text.contains("holds a replica's data"), "{text}");
    std::fs::create_dir_all(&stranger).unwrap();
    std::fs::write(stranger.join("notes.txt"), "someone's").unwrap();
    let (ok, text) = replicas.run_to_exit(&[
        "--replica-id",
        "4",
        "--peers",
        &all,
        "--cluster",
        CLUSTER,
        "--http-port",
        &port4,
        "--data-dir",
        stranger.to_str().unwrap(),
    ]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("is not empty and holds no replica's data"),
        "{text}"
    );
    // Replica 4 knows everyone; the others learn of it from the membership change.
    replicas.start_with_peers(4, false, &all);
    let follower = [1, 2, 3].into_iter().find(|id| *id != leader).unwrap();
    let dir = replicas.dir.path().to_path_buf();
    let url4 = format!("http://127.0.0.1:{}", replicas.port(4));
    let (ok, text) = admin(
        &dir,
        replicas.port(follower),
        &["replicas", "add", CLUSTER, "4", &url4],
    );
    assert!(ok, "{text}");
    assert!(text.contains("Added replica 4"), "{text}");
    replicas.wait_all_serving();
    let last = replicas.wait_converged();
    assert_eq!(
        replicas.journal_text(4, last),
        replicas.journal_text(leader, last)
    );

    let (ok, text) = admin(&dir, replicas.port(4), &["replicas", "list", CLUSTER]);
    assert!(ok, "{text}");
    let voters = text.lines().filter(|l| l.contains(" yes ")).count();
    assert_eq!(voters, 4, "{text}");

    // Remove a follower other than 4 and stop it: the voters are then the leader, `follower`
    // and 4, and with `follower` stopped too, two of those three are still a quorum.
    let leaving = [1, 2, 3]
        .into_iter()
        .find(|id| *id != leader && *id != follower)
        .unwrap();
    let (ok, text) = admin(
        &dir,
        replicas.port(leader),
        &["replicas", "remove", CLUSTER, &leaving.to_string()],
    );
    assert!(ok, "{text}");
    replicas.kill(leaving);
    replicas.kill(follower);
    create_job(replicas.port(leader), "after-removal").expect("leader and 4 are a quorum of 3");
    let (ok, text) = admin(
        &dir,
        replicas.port(leader),
        &["replicas", "remove", CLUSTER, "9"],
    );
    assert!(!ok, "removing a stranger fails");
    assert!(text.contains("not a voter"), "{text}");

    // The leader removes itself: `follower` (back) and 4 elect one of them, and the removed
    // replica stops calling itself the leader (openraft keeps its old vote naming it).
    replicas.start_with_peers(follower, false, &three);
    replicas.wait_all_serving();
    let (ok, text) = admin(
        &dir,
        replicas.port(leader),
        &["replicas", "remove", CLUSTER, &leader.to_string()],
    );
    assert!(ok, "{text}");
    let mut new_leader = leader;
    wait_for_within(30, "a leader other than the removed one", || {
        new_leader = replicas.leader().unwrap_or(leader);
        new_leader != leader
    });
    assert!([follower, 4].contains(&new_leader), "{new_leader}");
    create_job(replicas.port(new_leader), "after-leader-left")
        .expect("the two remaining voters are a quorum");
    let (ok, text) = admin(&dir, replicas.port(leader), &["replicas", "list", CLUSTER]);
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!("answered by replica {leader}, which was removed")),
        "{text}"
    );
    assert!(
        !text.contains(&format!("leader {leader})")),
        "the removed replica does not name itself the leader: {text}"
    );
    let page = http_text(replicas.port(leader), "GET", "/scheduler", None)
        .expect("the removed replica serves pages");
    assert!(page.1.contains("no longer a member"), "{}", page.1);
}
#[test]
fn agents_and_the_cli_keep_working_across_a_failover() {
    support::become_subreaper();
    let mut replicas = Replicas::new(3);
    // A short agent timeout, so that the test outlives it after the failover.
    replicas.extra = vec!["--agent-timeout-secs".into(), "4".into()];
    replicas.start_all();
    let leader = replicas.wait_leader(30);
    // Every replica listed, the leader first: the agent and the client must move on by
    // themselves once it is gone.
    let mut order: Vec<u64> = vec![leader];
    order.extend(replicas.ports.keys().copied().filter(|id| *id != leader));
    let uris = order
        .iter()
        .map(|id| format!("http://127.0.0.1:{}", replicas.port(*id)))
        .collect::<Vec<_>>()
        .join(",");
    let work = replicas.dir.path().join("agent");
    std::fs::create_dir_all(&work).unwrap();
    let _agent = support::agent_at("agent-1", &work, &uris);

    let follower = order[1];
    create_job(replicas.port(follower), "before").unwrap();
    let mut before = Vec::new();
    wait_for_within(60, "the job created before to run", || {
        before = running(replicas.port(follower), "before");
        before.len() == 1
    });

    replicas.kill(leader);
    let new_leader = replicas.wait_leader(30);
    assert_ne!(new_leader, leader);
    let took_over = Instant::now();

    let config = replicas.dir.path().join("after.aurora");
    std::fs::write(
        &config,
        "jobs = [Service(cluster = 'rc', role = 'www', environment = 'prod', name = 'after',\n\
         \x20 task = Task(name = 'after', processes = [Process(name = 'work', cmdline = 'sleep 600')],\n\
         \x20   resources = Resources(cpu = 0.01, ram = 8 * MB, disk = 8 * MB)))]\n",
    )
    .unwrap();
    let (ok, text) = client(
        replicas.dir.path(),
        "aurora",
        &uris,
        &[
            "job",
            "create",
            "rc/www/prod/after",
            config.to_str().unwrap(),
            "--wait-until",
            "RUNNING",
        ],
    );
    assert!(ok, "aurora job create after the failover: {text}");
    assert_eq!(running(replicas.port(new_leader), "after").len(), 1);
    // The agent found the new leader and registered again with the task it runs: well past
    // the time its silence would have made that task LOST, it is the same RUNNING one.
    if let Some(left) = Duration::from_secs(6).checked_sub(took_over.elapsed()) {
        std::thread::sleep(left);
    }
    assert_eq!(
        running(replicas.port(new_leader), "before"),
        before,
        "still the same task"
    );
}

/// With `--nats`, only the leader mirrors the journal; each new leader resumes from the
/// stream's last sequence, and the NATS server restarting mid-way changes nothing: the stream
/// ends up equal to the journal, event for event.
#[test]
fn the_stream_mirror_survives_leader_kills_and_a_nats_restart() {
    support::become_subreaper();
    let mut nats = aurora_stream::testing::NatsServer::start().expect("nats-server");
    let mut replicas = Replicas::new(3);
    replicas.extra = vec!["--nats".into(), nats.url()];
    replicas.start_all();
    replicas.wait_leader(30);
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let ports: Vec<u16> = replicas.ports.values().copied().collect();
    let writers = start_writers(ports, 2, stop.clone(), acknowledged.clone());
    let published = |port: u16| support::metric(port, "aurora_stream_published_seq");
    // `aurora events tail --follow` from the replicas' event streams, across every failover.
    let uris = replicas
        .ports
        .values()
        .map(|port| format!("http://127.0.0.1:{port}"))
        .collect::<Vec<_>>()
        .join(",");
    let etc = replicas.dir.path().join("etc-tail");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(
        etc.join("clusters.json"),
        format!(r#"[{{"name": "{CLUSTER}", "scheduler_uri": "{uris}"}}]"#),
    )
    .unwrap();
    let mut tail = Command::new(support::workspace_binary("aurora-cli", "aurora"))
        .args([
            "events",
            "tail",
            CLUSTER,
            "--follow",
            "--from",
            "0",
            "--source",
            "scheduler",
        ])
        .env("AURORA_CONFIG_ROOT", &etc)
        .env("HOME", replicas.dir.path())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let tail_out = tail.stdout.take().unwrap();
    let _tail = Guard(tail);
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(tail_out)
            .lines()
            .map_while(Result::ok)
        {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    // What the current leader (looked up each time: leadership may move) has published.
    let leader_published = |replicas: &Replicas| {
        replicas
            .leader()
            .and_then(|id| published(replicas.port(id)))
    };
    for round in 0..3 {
        wait_for_within(60, "a leader to publish", || {
            leader_published(&replicas).is_some_and(|seq| seq > 0.0)
        });
        if round == 1 {
            nats.restart().expect("nats-server restarts");
        }
        std::thread::sleep(Duration::from_millis(700));
        let leader = replicas.wait_leader(30);
        replicas.kill(leader);
        let next = replicas.wait_leader(30);
        assert_ne!(next, leader);
        replicas.start(leader, false);
        replicas.wait_all_serving();
    }
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.join().unwrap();
    }
    assert!(
        acknowledged.lock().unwrap().len() > 3,
        "the writers got through"
    );
    let last = replicas.wait_converged();
    wait_for_within(60, "the mirror to reach the journal's end", || {
        leader_published(&replicas).is_some_and(|seq| seq as u64 >= last)
    });
    // Only the leader publishes, and only it reports the mirror's figures.
    let reporting: Vec<u64> = (1..=3)
        .filter(|id| published(replicas.port(*id)).is_some())
        .collect();
    assert_eq!(reporting, vec![replicas.wait_leader(30)]);

    let mut seen = Vec::new();
    while seen.last().is_none_or(|seq| *seq < last) {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("the tail stopped after {:?}", seen.last()));
        seen.push(
            line.split_whitespace()
                .next()
                .unwrap()
                .parse::<u64>()
                .unwrap(),
        );
    }
    assert_eq!(
        seen,
        (1..=last).collect::<Vec<_>>(),
        "the tail skipped or repeated"
    );
    let url = nats.url();
    let (ok, text) = client(
        replicas.dir.path(),
        "aurora-admin",
        &uris,
        &[
            "journal",
            "verify",
            CLUSTER,
            "--against-stream",
            "--nats",
            &url,
        ],
    );
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!("holds exactly the journal's {last} events")),
        "{text}"
    );
}
