//! The scheduler's HTTP server against idle and slow clients (issue 12, 8): connections past
//! the cap are answered 503 at once, sockets that send no request head are closed after the
//! header-read timeout, a sender dripping its headers too, and `/health` answers again as soon
//! as they are gone.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{free_port, http_text, init, scheduler};

fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    stream
}

/// Reads until the server closes the connection; what it sent, and how long that took.
fn read_to_close(stream: &mut TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut received = Vec::new();
    let _ = stream.read_to_end(&mut received);
    (
        String::from_utf8_lossy(&received).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn idle_and_slow_connections_cannot_shut_the_scheduler_out() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    init(&data);
    let port = free_port();
    let _scheduler = scheduler(
        &[
            "--insecure-no-auth",
            "--max-connections",
            "20",
            "--header-read-timeout-secs",
            "2",
        ],
        &data,
        port,
    );

    // Twenty sockets that never send anything take every slot...
    let idle: Vec<TcpStream> = (0..20).map(|_| connect(port)).collect();
    std::thread::sleep(Duration::from_millis(300));
    // ...so the next connection is told so at once rather than left hanging.
    let mut extra = connect(port);
    let (answer, took) = read_to_close(&mut extra);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("too many connections"), "{answer}");
    assert!(took < Duration::from_secs(2), "answered at once: {took:?}");

    // The idle sockets are closed after the header-read timeout, and /health answers again.
    for mut socket in idle {
        let (answer, took) = read_to_close(&mut socket);
        assert!(
            took < Duration::from_secs(10),
            "closed after the timeout: {took:?}"
        );
        assert!(!answer.contains("200 OK"), "{answer}");
    }
    assert_eq!(
        http_text(port, "GET", "/health", None),
        Some((200, "OK".to_string()))
    );

    // A client dripping its request head one byte at a time is cut off too.
    let mut slow = connect(port);
    slow.write_all(b"GET /health HTTP/1.1\r\n").unwrap();
    let started = Instant::now();
    let mut cut = false;
    while started.elapsed() < Duration::from_secs(10) {
        if slow.write_all(b"X").is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        let mut probe = [0u8; 1];
        slow.set_nonblocking(true).unwrap();
        let closed = matches!(slow.read(&mut probe), Ok(0));
        slow.set_nonblocking(false).unwrap();
        if closed {
            cut = true;
            break;
        }
    }
    assert!(cut, "a slow sender is not kept forever");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}
