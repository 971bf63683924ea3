//! Observer downloads are streamed (issue 12, item 5): a 1 GiB sparse file downloads completely
//! while the process's resident memory stays far below its size. Alone in its test binary, so
//! that no other test's allocations move the RSS it measures.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aurora_agent::observer::{MAX_TAIL, ObserverState, observer_router};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use futures::StreamExt;
use tower::ServiceExt;

const SIZE: u64 = 1 << 30;
/// Generous: a streamed body holds a few chunks; a buffered one holds the whole GiB.
const MAX_GROWTH: u64 = 200 << 20;

/// This process's resident set, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .unwrap();
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kib * 1024
}

/// Reads the body frame by frame (never holding more than one), returning its length and the
/// highest RSS seen meanwhile.
async fn drain(body: Body) -> (u64, u64) {
    let mut stream = body.into_data_stream();
    let (mut length, mut peak, mut frames) = (0u64, rss(), 0u64);
    while let Some(frame) = stream.next().await {
        length += frame.unwrap().len() as u64;
        frames += 1;
        if frames % 64 == 0 {
            peak = peak.max(rss());
        }
    }
    (length, peak.max(rss()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_sparse_file_downloads_completely_in_bounded_memory() {
    tracing::info!("given a sandbox holding a 1 GiB sparse file");
    let dir = tempfile::tempdir().unwrap();
    let sandboxes = dir.path().join("sandboxes");
    std::fs::create_dir_all(sandboxes.join("t-1")).unwrap();
    let file = std::fs::File::create(sandboxes.join("t-1/big")).unwrap();
    file.set_len(SIZE).unwrap();
    let running = Arc::new(Mutex::new(BTreeMap::new()));
    let router = observer_router(ObserverState::new(&sandboxes, running));

    for (uri, expected) in [
        ("/tasks/t-1/browse/big?download=true", SIZE),
        ("/tasks/t-1/browse/big?tail=999999999999", MAX_TAIL),
    ] {
        tracing::info!(uri, "when it is read, all of it arrives");
        let before = rss();
        let response = router
            .clone()
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{uri}");
        let declared = response.headers().get(header::CONTENT_LENGTH).cloned();
        let (length, peak) = drain(response.into_body()).await;
        assert_eq!(length, expected, "{uri}");

        tracing::info!(
            uri,
            before,
            peak,
            "and the resident set grows by far less than that"
        );
        let growth = peak.saturating_sub(before);
        assert!(
            growth < MAX_GROWTH,
            "{uri}: RSS grew by {} MiB (from {} MiB)",
            growth >> 20,
            before >> 20
        );
        // Declared up front, so a client can tell a cut-off download from a complete one.
        assert_eq!(
            declared.as_ref().and_then(|v| v.to_str().ok()),
            Some(expected.to_string().as_str()),
            "{uri}"
        );
    }
}
