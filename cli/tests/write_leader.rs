//! A write to a cluster of several replicas goes to the leader, found by asking every replica
//! `/leaderhealth` first: a replica that accepts connections and never answers (a hung
//! process) costs a short probe, not the write's whole timeout. A write that a replica may
//! have received and not answered says its outcome is unknown and names the replicas it was
//! not sent to. (Reads, and the rest of the replica handling, are in `replicas.rs`.)

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::stub::{Reply, Stub};
use support::{Cli, code, dead_urls, stderr, stdout};

const SNAPSHOT_TAKEN: &str = r#"{"first_seq": 4, "last_seq": 4, "message": "Snapshot taken"}"#;
const PROBE: &str = "GET /leaderhealth HTTP/1.1";
const SNAPSHOT: &str = "POST /api/v1/admin/snapshot HTTP/1.1";

/// A replica that accepts connections and never answers, as a stopped (SIGSTOP) process's
/// kernel does.
fn silent() -> Stub {
    Stub::always(Reply::Hang)
}

/// A replica that reads each request and closes the connection without answering.
fn hangs_up() -> Stub {
    Stub::always(Reply::Close)
}

/// A replica answering `/leaderhealth` with `leader_status`, anything else 200 with
/// [`SNAPSHOT_TAKEN`].
fn answers(leader_status: u16) -> Stub {
    Stub::new(move |request| {
        if request.method == "GET" && request.path == "/leaderhealth" {
            Reply::raw(leader_status, "\"OK\"")
        } else {
            Reply::raw(200, SNAPSHOT_TAKEN)
        }
    })
}

fn cli(dir: &Path) -> Cli {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_aurora-admin"))
        .parent()
        .unwrap()
        .to_path_buf();
    Cli::new(&bin_dir, dir, 1)
}

#[test]
fn a_write_skips_a_hung_replica_and_goes_to_the_leader() {
    let dir = tempfile::tempdir().unwrap();
    let hung = silent();
    let follower = answers(503);
    let leader = answers(200);
    let cli = cli(dir.path());
    cli.write_clusters(&[(
        "replicated",
        &format!("{},{},{}", hung.url, follower.url, leader.url),
    )]);
    let started = Instant::now();
    let taken = cli.admin(&["scheduler_snapshot", "replicated"]);
    let took = started.elapsed();
    assert_eq!(code(&taken), Some(0), "{}", stderr(&taken));
    assert_eq!(stdout(&taken), "Snapshot taken\n");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(follower.received(), [PROBE], "the write is not sent there");
    assert_eq!(leader.received(), [PROBE, SNAPSHOT]);
}

#[test]
fn a_write_that_may_have_been_received_says_its_outcome_is_unknown() {
    let dir = tempfile::tempdir().unwrap();
    // Nobody leads: the write goes to the replicas in order, and the first one that took it
    // hangs up. It is not sent on to the second.
    let first = hangs_up();
    let second = hangs_up();
    let [dead] = dead_urls();
    let cli = cli(dir.path());
    cli.write_clusters(&[(
        "leaderless",
        &format!("{},{},{dead}", first.url, second.url),
    )]);
    let lost = cli.admin(&["scheduler_snapshot", "leaderless"]);
    assert_eq!(code(&lost), Some(7), "{}", stderr(&lost));
    let message = stderr(&lost);
    assert!(message.contains("outcome is unknown"), "{message}");
    // A refused connection is tried before a replica that did not answer the probe: only
    // the first hung one received the write.
    assert!(
        message.contains(&dead) && message.contains(&first.url),
        "{message}"
    );
    assert!(
        message.contains(&format!("not sent to {}", second.url)),
        "{message}"
    );
    assert_eq!(first.received(), [PROBE, SNAPSHOT]);
    assert_eq!(second.received(), [PROBE]);
}
