//! The observer against a hostile sandbox (issue 12, items 3 and 6): special files (a FIFO, a
//! UNIX socket, a link to `/dev/null`) are refused at once without tying up any thread, and a
//! task swapping a directory for a symlink out of its sandbox never gets the outside served.
//!
//! Each test builds its own runtime and shuts it down with a timeout, so that a regression
//! (a request stuck in `open()` on a blocking thread) fails the test instead of hanging it.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::future::Future;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aurora_agent::observer::{ErrorBody, ObserverState, observer_router};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt;

/// How long any single answer may take before the test calls it a hang (not a speed bound).
const WAIT: Duration = Duration::from_secs(20);

/// Runs `test` on a fresh multi-threaded runtime whose blocking pool is small (`blocking`
/// threads), then shuts the runtime down without waiting on threads stuck in a syscall.
fn on_runtime<F: Future<Output = ()>>(blocking: usize, test: impl FnOnce() -> F) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(blocking)
        .enable_all()
        .build()
        .unwrap();
    let outcome =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runtime.block_on(test())));
    runtime.shutdown_timeout(Duration::from_secs(1));
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

fn router(sandboxes: &Path) -> Router {
    let running = Arc::new(Mutex::new(BTreeMap::new()));
    observer_router(ObserverState::new(sandboxes, running))
}

/// One request, answered within [`WAIT`] or the test fails.
async fn get(router: &Router, uri: &str) -> (StatusCode, Vec<u8>) {
    let request = Request::get(uri).body(Body::empty()).unwrap();
    let answer = async {
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, body.to_vec())
    };
    match tokio::time::timeout(WAIT, answer).await {
        Ok(answer) => answer,
        Err(_) => panic!("{uri}: no answer within {WAIT:?}"),
    }
}

#[test]
fn special_files_are_refused_at_once_and_leave_the_blocking_pool_free() {
    tracing::info!("given a sandbox holding a FIFO, a UNIX socket and links to them and /dev/null");
    let dir = tempfile::tempdir().unwrap();
    let sandboxes = dir.path().join("sandboxes");
    let sandbox = sandboxes.join("t-1");
    std::fs::create_dir_all(sandbox.join(".logs/web/0")).unwrap();
    nix::unistd::mkfifo(&sandbox.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    // A task can make its own log a FIFO too; the log route must refuse it the same way.
    nix::unistd::mkfifo(
        &sandbox.join(".logs/web/0/stdout"),
        nix::sys::stat::Mode::S_IRWXU,
    )
    .unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(sandbox.join("socket")).unwrap();
    symlink("fifo", sandbox.join("fifo-link")).unwrap();
    symlink("/dev/null", sandbox.join("devnull")).unwrap();
    let router = router(&sandboxes);

    on_runtime(8, || async move {
        tracing::info!("when each is requested once, it is refused with a 403 naming it");
        let cases = [
            ("/tasks/t-1/browse/fifo", "not_a_regular_file", "FIFO"),
            (
                "/tasks/t-1/browse/fifo?download=true",
                "not_a_regular_file",
                "FIFO",
            ),
            ("/tasks/t-1/browse/fifo-link", "not_a_regular_file", "FIFO"),
            ("/tasks/t-1/logs/web/stdout", "not_a_regular_file", "FIFO"),
            ("/tasks/t-1/browse/socket", "not_a_regular_file", "socket"),
            ("/tasks/t-1/browse/devnull", "escapes_sandbox", "outside"),
        ];
        for (uri, code, named) in cases {
            let (status, body) = get(&router, uri).await;
            let error: ErrorBody = serde_json::from_slice(&body)
                .unwrap_or_else(|_| panic!("{uri}: {status} {:?}", String::from_utf8_lossy(&body)));
            assert_eq!(
                (status, error.code.as_str()),
                (StatusCode::FORBIDDEN, code),
                "{uri}: {}",
                error.message
            );
            assert!(error.message.contains(named), "{uri}: {}", error.message);
        }

        tracing::info!("when 200 requests for the FIFO arrive together, every one is answered");
        let mut requests = tokio::task::JoinSet::new();
        for i in 0..200 {
            let router = router.clone();
            let uri = if i % 2 == 0 {
                "/tasks/t-1/browse/fifo"
            } else {
                "/tasks/t-1/logs/web/stdout?download=true"
            };
            requests.spawn(async move { get(&router, uri).await.0 });
        }

        tracing::info!("and meanwhile an unrelated blocking job still gets a thread");
        let probe = tokio::time::timeout(WAIT, tokio::task::spawn_blocking(|| 42)).await;
        assert_eq!(
            probe.map(Result::ok),
            Ok(Some(42)),
            "the blocking pool is exhausted"
        );

        let mut statuses = BTreeMap::new();
        while let Some(status) = requests.join_next().await {
            *statuses.entry(status.unwrap()).or_insert(0) += 1;
        }
        // Refused, or (should the observer's own threads all be busy) told to retry: never a
        // hang, never a 200.
        assert!(
            statuses
                .keys()
                .all(|s| *s == StatusCode::FORBIDDEN || *s == StatusCode::SERVICE_UNAVAILABLE),
            "{statuses:?}"
        );
        assert!(
            statuses.contains_key(&StatusCode::FORBIDDEN),
            "{statuses:?}"
        );
    });
}

#[test]
fn a_directory_swapped_for_a_symlink_out_of_the_sandbox_never_serves_the_outside() {
    const SECRET: &str = "TOP SECRET, outside the sandbox";
    const REQUESTS: usize = 4_000;
    const CONCURRENCY: usize = 16;

    tracing::info!("given a sandbox whose `sub` is swapped with a symlink to an outside directory");
    let dir = tempfile::tempdir().unwrap();
    let sandboxes = dir.path().join("sandboxes");
    let sandbox = sandboxes.join("t-1");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(sandbox.join("sub")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(sandbox.join("sub/secret"), "inside").unwrap();
    std::fs::write(outside.join("secret"), SECRET).unwrap();
    symlink(&outside, sandbox.join("swap")).unwrap();
    let router = router(&sandboxes);

    // The task's side: atomically exchange the directory and the symlink, as fast as it can.
    let stop = Arc::new(AtomicBool::new(false));
    let swaps = Arc::new(AtomicU64::new(0));
    let swapper = {
        let (stop, swaps) = (Arc::clone(&stop), Arc::clone(&swaps));
        let sandbox = std::fs::File::open(&sandbox).unwrap();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                nix::fcntl::renameat2(
                    &sandbox,
                    "sub",
                    &sandbox,
                    "swap",
                    nix::fcntl::RenameFlags::RENAME_EXCHANGE,
                )
                .unwrap();
                swaps.fetch_add(1, Ordering::Relaxed);
            }
        })
    };

    let mut statuses = BTreeMap::new();
    let mut leaks = 0;
    on_runtime(8, || async {
        tracing::info!("when a few thousand requests read sub/secret meanwhile");
        for _ in 0..REQUESTS / CONCURRENCY {
            let mut batch = tokio::task::JoinSet::new();
            for _ in 0..CONCURRENCY {
                let router = router.clone();
                batch.spawn(async move { get(&router, "/tasks/t-1/browse/sub/secret").await });
            }
            while let Some(answer) = batch.join_next().await {
                let (status, body) = answer.unwrap();
                if String::from_utf8_lossy(&body).contains(SECRET) {
                    leaks += 1;
                }
                *statuses.entry(status).or_insert(0) += 1;
            }
        }
    });
    stop.store(true, Ordering::Relaxed);
    swapper.join().unwrap();

    tracing::info!("then not one response holds the secret");
    assert_eq!(
        leaks, 0,
        "{leaks} of {REQUESTS} leaked; statuses {statuses:?}"
    );
    // Both sides of the swap were seen, so the race was really run.
    assert!(swaps.load(Ordering::Relaxed) > 0);
    assert!(statuses.contains_key(&StatusCode::OK), "{statuses:?}");
    assert!(
        statuses.contains_key(&StatusCode::FORBIDDEN),
        "{statuses:?}"
    );
}
