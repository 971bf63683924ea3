//! Starts the real `aurora-scheduler` binary: `--dev` creates its journal and answers `/health`;
//! without `--dev` an empty data directory is refused; `--init` then makes it servable.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A minimal HTTP/1.1 GET: (status, body).
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

struct Scheduler(Child);

impl Drop for Scheduler {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(args: &[&str], data_dir: &Path, port: u16) -> Scheduler {
    let child = Command::new(env!("CARGO_BIN_EXE_aurora-scheduler"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--http-port")
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start aurora-scheduler");
    Scheduler(child)
}

fn wait_healthy(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some((200, body)) = http_get(port, "/health") {
            assert_eq!(body, "OK");
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("/health did not answer 200 within 30 s");
}

fn run(args: &[&str], data_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aurora-scheduler"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap()
}

#[test]
fn dev_mode_creates_its_journal_and_serves_health() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("aurora-data");
    let port = free_port();
    {
        let _scheduler = start(&["--dev"], &data, port);
        wait_healthy(port);
        let (status, body) = http_get(port, "/api/v1/journal").unwrap();
        assert_eq!(status, 200);
        assert!(body.contains("\"cluster\":\"devcluster\""), "{body}");
        // Seq 1 is the cluster's initialisation; the embedded agent's registration follows.
        assert!(body.contains("\"last_seq\":"), "{body}");
        assert!(!body.contains("\"last_seq\":0"), "{body}");
        // Prometheus metrics: gauges from the state, counters from the timers' passes.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, metrics) = http_get(port, "/metrics").unwrap();
            assert_eq!(status, 200);
            assert!(
                metrics.contains("aurora_tasks{state=\"RUNNING\"} 0"),
                "{metrics}"
            );
            if metrics.contains("aurora_schedule_attempts_total") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no schedule attempt counted: {metrics}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    // The journal it created is a real, initialised one: a non-dev start serves it.
    let port = free_port();
    let _scheduler = start(&[], &data, port);
    wait_healthy(port);
}

#[test]
fn an_uninitialised_directory_is_refused_until_init() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("empty");
    let refused = run(&[], &data);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("no initialised journal"), "{stderr}");
    assert!(!data.exists(), "a refused start must not create anything");

    let init = run(&["--init", "--cluster", "west"], &data);
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let again = run(&["--init"], &data);
    assert!(!again.status.success(), "initialising twice must fail");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already initialised"));

    let port = free_port();
    let _scheduler = start(&[], &data, port);
    wait_healthy(port);
    let (_, body) = http_get(port, "/api/v1/journal").unwrap();
    assert!(body.contains("\"cluster\":\"west\""), "{body}");
}
