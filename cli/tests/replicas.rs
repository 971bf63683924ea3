//! A cluster whose `scheduler_uri` lists several replicas, against stand-in schedulers on
//! loopback: the clients skip a replica that refuses the connection or answers 503
//! NOT_LEADER, name every replica tried when none answers, and do not send a write again
//! elsewhere once a replica may have received it. (A real scheduler behind a dead replica is
//! exercised in `services/scheduler/tests/cli_replicas.rs`.)

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

mod support;

use std::path::Path;

use serde_json::json;
use support::stub::{Reply, Stub};
use support::{Cli, code, dead_urls, stderr, stdout};

fn cli(dir: &Path) -> Cli {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_aurora"))
        .parent()
        .unwrap()
        .to_path_buf();
    Cli::new(&bin_dir, dir, 1)
}

fn jobs() -> Reply {
    Reply::json(
        200,
        json!([{"job": "tester/test/sleeper", "instances": 1, "pending": 0, "active": 1,
                "finished": 0, "failed": 0}]),
    )
}

fn not_leader() -> Reply {
    Reply::json(
        503,
        json!({"code": "NOT_LEADER", "message": "no leader reachable"}),
    )
}

const JOB_LIST: &str = "GET /api/v1/jobs?role=tester&active=true HTTP/1.1";

#[test]
fn a_dead_replica_and_one_without_a_leader_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let follower = Stub::always(not_leader());
    let leader = Stub::always(jobs());
    let [dead] = dead_urls();
    let cli = cli(dir.path());
    let uris = format!("{dead},{}/ , {}", follower.url, leader.url);
    cli.write_clusters(&[("replicated", &uris)]);
    let listed = cli.aurora(&["job", "list", "replicated/tester"]);
    assert_eq!(code(&listed), Some(0), "{}", stderr(&listed));
    assert_eq!(stdout(&listed), "replicated/tester/test/sleeper\n");
    assert_eq!(stderr(&listed), "");
    assert_eq!(follower.received(), [JOB_LIST]);
    assert_eq!(leader.received(), [JOB_LIST]);
}

#[test]
fn a_write_moves_on_only_from_a_replica_that_never_received_it() {
    let dir = tempfile::tempdir().unwrap();
    let leader = Stub::always(Reply::json(
        200,
        json!({"first_seq": 4, "last_seq": 4, "message": "Snapshot taken"}),
    ));
    let [dead] = dead_urls();
    let cli = cli(dir.path());
    cli.write_clusters(&[("replicated", &format!("{dead},{}", leader.url))]);
    let taken = cli.admin(&["scheduler_snapshot", "replicated"]);
    assert_eq!(code(&taken), Some(0), "{}", stderr(&taken));
    assert_eq!(stdout(&taken), "Snapshot taken\n");
    // Asked first which replica leads (the dead one cannot say), the write goes there.
    assert_eq!(
        leader.received(),
        [
            "GET /leaderhealth HTTP/1.1",
            "POST /api/v1/admin/snapshot HTTP/1.1"
        ]
    );

    // No replica says it leads: the write is tried on the one that answered, then on the one
    // that hung up on the question; that one takes the request and hangs up too, so it may
    // have carried it out, and the error says the outcome is unknown.
    let hangs = Stub::always(Reply::Close);
    let other = Stub::always(not_leader());
    cli.write_clusters(&[("replicated", &format!("{},{}", hangs.url, other.url))]);
    let lost = cli.admin(&["scheduler_snapshot", "replicated"]);
    assert_eq!(code(&lost), Some(7), "{}", stderr(&lost));
    assert_eq!(
        hangs.received(),
        [
            "GET /leaderhealth HTTP/1.1",
            "POST /api/v1/admin/snapshot HTTP/1.1"
        ]
    );
    assert_eq!(
        other.received(),
        [
            "GET /leaderhealth HTTP/1.1",
            "POST /api/v1/admin/snapshot HTTP/1.1"
        ]
    );
    let message = stderr(&lost);
    assert!(
        message.contains(&format!("{}: connection closed", hangs.url)),
        "{message}"
    );
    assert!(message.contains("outcome is unknown"), "{message}");
    // A read is sent on.
    let other_jobs = Stub::always(jobs());
    cli.write_clusters(&[("replicated", &format!("{},{}", hangs.url, other_jobs.url))]);
    let listed = cli.aurora(&["job", "list", "replicated/tester"]);
    assert_eq!(code(&listed), Some(0), "{}", stderr(&listed));
    assert_eq!(other_jobs.received(), [JOB_LIST]);
}

#[test]
fn when_no_replica_answers_the_error_names_every_one() {
    let dir = tempfile::tempdir().unwrap();
    let [first, second] = dead_urls();
    let cli = cli(dir.path());
    let follower = Stub::always(not_leader());
    cli.write_clusters(&[
        ("down", &format!("{first},{second}")),
        ("leaderless", &format!("{first},{}", follower.url)),
    ]);
    let down = cli.aurora(&["job", "list", "down/tester"]);
    assert_eq!(code(&down), Some(7), "network error");
    let message = stderr(&down);
    assert!(
        message.contains(&first) && message.contains(&second),
        "{message}"
    );

    let leaderless = cli.aurora(&["job", "list", "leaderless/tester"]);
    assert_eq!(code(&leaderless), Some(10), "the last replica's refusal");
    let message = stderr(&leaderless);
    assert!(
        message.contains(&first) && message.contains(&follower.url),
        "{message}"
    );
    assert!(message.contains("NOT_LEADER"), "{message}");
}

#[test]
fn one_replica_is_the_single_scheduler_it_always_was() {
    let dir = tempfile::tempdir().unwrap();
    let follower = Stub::always(not_leader());
    let cli = cli(dir.path());
    cli.write_clusters(&[("single", &follower.url)]);
    let refused = cli.aurora(&["job", "list", "single/tester"]);
    assert_eq!(code(&refused), Some(10));
    assert_eq!(
        stderr(&refused),
        "error: the scheduler refused /api/v1/jobs?role=tester&active=true: NOT_LEADER: no leader reachable\n"
    );
}

#[test]
fn get_scheduler_names_the_replica_that_leads() {
    let dir = tempfile::tempdir().unwrap();
    let follower = Stub::always(not_leader());
    let leader = Stub::always(Reply::json(200, json!("OK")));
    let [dead, dead2] = dead_urls();
    let cli = cli(dir.path());
    cli.write_clusters(&[
        (
            "replicated",
            &format!("{dead},{},{}", follower.url, leader.url),
        ),
        ("leaderless", &format!("{dead},{}", follower.url)),
        ("down", &format!("{dead},{dead2}")),
    ]);
    let found = cli.admin(&["get_scheduler", "replicated"]);
    assert_eq!(code(&found), Some(0), "{}", stderr(&found));
    assert_eq!(
        stdout(&found),
        format!("Found leading scheduler at: {}\n", leader.url)
    );
    assert_eq!(leader.received(), ["GET /leaderhealth HTTP/1.1"]);
    // Nobody leads: the follower is asked who does (its group), then the answer names all.
    let leaderless = cli.admin(&["get_scheduler", "leaderless"]);
    assert_eq!(code(&leaderless), Some(4), "{}", stderr(&leaderless));
    let message = stderr(&leaderless);
    assert!(
        message.contains(&dead)
            && message.contains(&format!("{}: /leaderhealth answered 503", follower.url)),
        "{message}"
    );
    let down = cli.admin(&["get_scheduler", "down"]);
    assert_eq!(code(&down), Some(7), "{}", stderr(&down));
}
