//! A client following the live event stream (`/api/v1/events/stream`, what `aurora events
//! tail --follow` reads) does not hold up the scheduler's shutdown: the stream ends when
//! shutdown begins, so SIGTERM stops `aurora-scheduler --dev` in moments rather than after the
//! whole grace period (in which the embedded agent's last reports would be refused).

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{dev_authorization, free_port, scheduler};

/// Well under the server's 10 s grace period, and over what a shutdown with nothing in flight
/// takes (the embedded agent stops, the journal closes).
const STOPS_WITHIN: Duration = Duration::from_secs(5);

/// Opens `path` on the scheduler at `port` and reads until `until` has been received; the
/// connection and what it has read so far.
fn open(port: u16, path: &str, until: &str) -> (TcpStream, Vec<u8>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nx-aurora-user: tester\r\n{}\r\n",
        dev_authorization()
    )
    .unwrap();
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains(until) {
        let n = stream.read(&mut buffer).unwrap();
        assert!(
            n > 0,
            "{path} ended early: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buffer[..n]);
    }
    assert!(
        String::from_utf8_lossy(&seen).starts_with("HTTP/1.1 200"),
        "{path}: {}",
        String::from_utf8_lossy(&seen)
    );
    (stream, seen)
}

#[test]
fn an_open_event_stream_ends_at_shutdown_instead_of_holding_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let mut scheduler = scheduler(&["--dev"], &data, port);

    // The API's stream (its head and first event) and the web UI's live feed (its head: it
    // sends only what is folded from now on), both open and being served.
    let (mut stream, mut seen) = open(port, "/api/v1/events/stream?after=0", "event: envelope");
    let (mut page, mut page_seen) = open(port, "/events/stream", "\r\n\r\n");

    let pid = nix::unistd::Pid::from_raw(i32::try_from(scheduler.0.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let signalled = Instant::now();
    let status = loop {
        if let Some(status) = scheduler.0.try_wait().unwrap() {
            break Some(status);
        }
        if signalled.elapsed() > STOPS_WITHIN {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = signalled.elapsed();
    // Still running: the guard kills it when dropped; the test fails either way.
    assert!(
        status.is_some(),
        "the scheduler was still running {took:?} after SIGTERM with an event stream open"
    );
    assert!(
        status.is_some_and(|s| s.success()),
        "exit status {status:?}"
    );

    // The stream was ended, not cut off by the process's exit alone: the chunked body is
    // complete (its last chunk, `0`, then an empty line).
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    seen.extend_from_slice(&rest);
    assert!(
        String::from_utf8_lossy(&seen).ends_with("\r\n0\r\n\r\n"),
        "the event stream did not end cleanly: ...{:?}",
        String::from_utf8_lossy(&seen[seen.len().saturating_sub(200)..])
    );
    let mut rest = Vec::new();
    let _ = page.read_to_end(&mut rest);
    page_seen.extend_from_slice(&rest);
    assert!(
        String::from_utf8_lossy(&page_seen).ends_with("\r\n0\r\n\r\n"),
        "the web UI's feed did not end cleanly: ...{:?}",
        String::from_utf8_lossy(&page_seen[page_seen.len().saturating_sub(200)..])
    );
}
