//! A cluster whose `scheduler_uri` lists several replicas, against stand-in schedulers on
//! loopback: the clients skip a replica that refuses the connection or answers 503
//! NOT_LEADER, name every replica tried when none answers, and do not send a write again
//! elsewhere once a replica may have received it. (A real scheduler behind a dead replica is
//! exercised in `services/scheduler/tests/cli_replicas.rs`.)

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Cli, code, dead_urls, stderr, stdout};

/// How a stand-in answers every request.
#[derive(Clone)]
enum Reply {
    /// This status and JSON body.
    Json(u16, Value),
    /// Read the request and close the connection without answering.
    Hang,
}

/// A stand-in scheduler; stops when dropped.
struct Stub {
    url: String,
    received: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Stub {
    /// The request lines received, in order.
    fn received(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }
}

/// Serves `reply` to every request, one request per connection, until dropped (or for at
/// most a minute, so a forgotten stand-in cannot outlive the test by much).
fn stub(reply: Reply) -> Stub {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let received = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let (log, stopped) = (Arc::clone(&received), Arc::clone(&stop));
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !stopped.load(Ordering::Relaxed) && Instant::now() < deadline {
            let stream = match listener.accept() {
                Ok((stream, _)) => stream,
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            };
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut length = 0usize;
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                if header.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            log.lock().unwrap().push(line.trim().to_string());
            let mut stream = reader.into_inner();
            if let Reply::Json(status, value) = &reply {
                let text = value.to_string();
                write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{text}",
                    text.len()
                )
                .unwrap();
            }
        }
    });
    Stub {
        url,
        received,
        stop,
    }
}

fn cli(dir: &Path) -> Cli {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_aurora"))
        .parent()
        .unwrap()
        .to_path_buf();
    Cli::new(&bin_dir, dir, 1)
}

fn jobs() -> Reply {
    Reply::Json(
        200,
        json!([{"job": "tester/test/sleeper", "instances": 1, "pending": 0, "active": 1,
                "finished": 0, "failed": 0}]),
    )
}

fn not_leader() -> Reply {
    Reply::Json(
        503,
        json!({"code": "NOT_LEADER", "message": "no leader reachable"}),
    )
}

const JOB_LIST: &str = "GET /api/v1/jobs?role=tester&active=true HTTP/1.1";

#[test]
fn a_dead_replica_and_one_without_a_leader_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let follower = stub(not_leader());
    let leader = stub(jobs());
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
    let leader = stub(Reply::Json(
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
    let hangs = stub(Reply::Hang);
    let other = stub(not_leader());
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
    let other_jobs = stub(jobs());
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
    let follower = stub(not_leader());
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
    let follower = stub(not_leader());
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
    let follower = stub(not_leader());
    let leader = stub(Reply::Json(200, json!("OK")));
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
