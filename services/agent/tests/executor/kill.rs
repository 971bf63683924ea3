//! Killing a task from outside: process groups, the HTTP lifecycle, finalizers after a kill.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aurora_agent::executor::{ProcessState, TaskUpdate};
use aurora_events::config::HttpLifecycle;
use pretty_assertions::assert_eq;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::{Harness, message, process, spec, task, wait_dead};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_leaves_no_process_of_a_double_forking_group_alive() {
    let daemon = process(
        "daemon",
        "( (sleep 1000 & echo $! > grandchild.pid) & ); echo $$ > leader.pid; sleep 1000",
    );
    let mut h = Harness::launch(spec(task(vec![daemon])));
    let grandchild: i32 = h
        .wait_for_file("grandchild.pid")
        .await
        .trim()
        .parse()
        .unwrap();
    let leader: i32 = h.wait_for_file("leader.pid").await.trim().parse().unwrap();
    assert!(!crate::support::dead(grandchild));

    tracing::info!("kill");
    h.executor().kill("operator request");
    let end = h.end().await;
    assert_eq!(
        end,
        TaskUpdate::Killed {
            message: "killed: operator request".into()
        }
    );
    assert!(
        wait_dead(leader, Duration::from_secs(5)).await,
        "leader {leader} alive"
    );
    assert!(
        wait_dead(grandchild, Duration::from_secs(5)).await,
        "grandchild {grandchild} alive"
    );
    assert_eq!(h.executor().processes()[0].state, ProcessState::Killed);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_final_process_runs_after_a_kill() {
    let mut fin = process("fin", "echo cleaned > fin.out");
    fin.is_final = true;
    let mut h = Harness::launch(spec(task(vec![
        process("main", "echo up > up; sleep 1000"),
        fin,
    ])));
    h.wait_for_file("up").await;
    h.executor().kill("stop");
    let end = h.end().await;
    assert!(matches!(end, TaskUpdate::Killed { .. }), "{end:?}");
    assert_eq!(h.read("fin.out"), "cleaned\n");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_final_process_exceeding_finalization_wait_is_killed() {
    let mut fin = process("fin", "sleep 1000");
    fin.is_final = true;
    let mut t = task(vec![process("main", "true"), fin]);
    t.finalization_wait_secs = 1;
    let mut h = Harness::launch(spec(t));
    let end = h.end().await;
    assert!(matches!(end, TaskUpdate::Finished { .. }), "{end:?}");
    assert_eq!(h.executor().processes()[1].state, ProcessState::Killed);
    h.finish().await;
}

/// Records request lines; creates `quit` in the sandbox on POST /quitquitquit, which is what
/// the test's process waits for.
async fn lifecycle_server(sandbox: std::path::PathBuf) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = vec![0u8; 1024];
            let n = socket.read(&mut buf).await.unwrap_or(0);
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            let line = text.lines().next().unwrap_or("").to_string();
            if line.starts_with("POST /quitquitquit ") {
                std::fs::write(sandbox.join("quit"), "").unwrap();
            }
            seen.lock().unwrap().push(line);
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                .await;
        }
    });
    (port, requests)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_kill_posts_quitquitquit_and_the_process_exits_before_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = dir.path().join("sandbox");
    std::fs::create_dir_all(&sandbox).unwrap();
    let (port, requests) = lifecycle_server(sandbox.clone()).await;
    let server = process(
        "server",
        "trap 'echo term >> signals' TERM; echo up > up; \
         while [ ! -f quit ]; do sleep 0.05; done; echo graceful > exited",
    );
    let mut s = spec(task(vec![server]));
    s.lifecycle = Some(HttpLifecycle {
        port: "health".into(),
        graceful_shutdown_endpoint: "/quitquitquit".into(),
        graceful_shutdown_wait_secs: 5,
        shutdown_endpoint: "/abortabortabort".into(),
        shutdown_wait_secs: 5,
    });
    s.context.ports.insert("health".into(), port);
    let mut settings = aurora_agent::executor::ExecutorSettings::new(&sandbox);
    settings.kill_grace = Duration::from_secs(5);
    let mut h = Harness::launch_settings(dir, s, settings);
    h.wait_for_file("up").await;

    let started = Instant::now();
    h.executor().kill("update");
    let end = h.end().await;
    assert!(
        matches!(end, TaskUpdate::Killed { .. }),
        "{}",
        message(&end)
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "waited the whole graceful period"
    );
    assert_eq!(h.read("exited"), "graceful\n");
    assert!(!h.path("signals").exists(), "the process got SIGTERM");
    assert_eq!(
        requests.lock().unwrap().clone(),
        ["POST /quitquitquit HTTP/1.1".to_string()]
    );
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_ignores_sigterm_is_sigkilled_after_the_grace() {
    let stubborn = process(
        "stubborn",
        "trap '' TERM; echo $$ > stubborn.pid; while true; do sleep 0.1; done",
    );
    let mut h = Harness::launch(spec(task(vec![stubborn])));
    let pid: i32 = h
        .wait_for_file("stubborn.pid")
        .await
        .trim()
        .parse()
        .unwrap();
    let killed_at = Instant::now();
    h.executor().kill("stop");
    let end = h.end().await;
    assert_eq!(
        end,
        TaskUpdate::Killed {
            message: "killed: stop".into()
        }
    );
    assert!(
        wait_dead(pid, Duration::from_secs(5)).await,
        "{pid} survived SIGKILL"
    );
    // It outlived SIGTERM: only the SIGKILL after the 500 ms grace ended it.
    assert!(
        killed_at.elapsed() >= Duration::from_millis(450),
        "ended after {:?}",
        killed_at.elapsed()
    );
    h.finish().await;
}
