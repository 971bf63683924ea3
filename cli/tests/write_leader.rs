//! A write to a cluster of several replicas goes to the leader, found by asking every replica
//! `/leaderhealth` first: a replica that accepts connections and never answers (a hung
//! process) costs a short probe, not the write's whole timeout. A write that a replica may
//! have received and not answered says its outcome is unknown and names the replicas it was
//! not sent to. (Reads, and the rest of the replica handling, are in `replicas.rs`.)

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{Cli, code, dead_urls, stderr, stdout};

/// How a stand-in treats a connection.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Accept it and never read or answer, as a stopped (SIGSTOP) process's kernel does.
    Silent,
    /// Read the request and close the connection without answering.
    HangUp,
    /// Answer `/leaderhealth` with this status, anything else 200 with [`SNAPSHOT_TAKEN`].
    Answer(u16),
}

const SNAPSHOT_TAKEN: &str = r#"{"first_seq": 4, "last_seq": 4, "message": "Snapshot taken"}"#;
const PROBE: &str = "GET /leaderhealth HTTP/1.1";
const SNAPSHOT: &str = "POST /api/v1/admin/snapshot HTTP/1.1";

/// A stand-in scheduler on loopback; stops when dropped (or after a minute at most).
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
    fn received(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }
}

fn stub(behaviour: Behaviour) -> Stub {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let received = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let (log, stopped) = (Arc::clone(&received), Arc::clone(&stop));
    std::thread::spawn(move || {
        // Connections a silent stand-in holds open without a word.
        let mut held: Vec<TcpStream> = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !stopped.load(Ordering::Relaxed) && Instant::now() < deadline {
            let Ok((stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            match behaviour {
                Behaviour::Silent => held.push(stream),
                Behaviour::HangUp | Behaviour::Answer(_) => {
                    let (line, mut stream) = read_request(stream);
                    log.lock().unwrap().push(line.clone());
                    if let Behaviour::Answer(leader_status) = behaviour {
                        let (status, body) = if line.starts_with("GET /leaderhealth ") {
                            (leader_status, "\"OK\"")
                        } else {
                            (200, SNAPSHOT_TAKEN)
                        };
                        write!(
                            stream,
                            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\
                             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        )
                        .unwrap();
                    }
                }
            }
        }
    });
    Stub {
        url,
        received,
        stop,
    }
}

/// Reads one request from `stream`: its request line, and the stream to answer on.
fn read_request(stream: TcpStream) -> (String, TcpStream) {
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
    (line.trim().to_string(), reader.into_inner())
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
    let hung = stub(Behaviour::Silent);
    let follower = stub(Behaviour::Answer(503));
    let leader = stub(Behaviour::Answer(200));
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
    let first = stub(Behaviour::HangUp);
    let second = stub(Behaviour::HangUp);
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
