//! Router tests over a temporary sandboxes directory, through `oneshot` (no sockets).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::os::unix::fs::symlink;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use pretty_assertions::assert_eq;
use tower::ServiceExt;

use super::*;
use crate::observer::{ErrorBody, ObserverState};

struct Fixture {
    dir: tempfile::TempDir,
    router: Router,
}

/// `sandboxes/t-1` with a file, a subdirectory, two runs of process `web` and a symlink out of
/// the sandbox; `sandboxes/t-2` empty; a secret beside `sandboxes/`.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let sandboxes = dir.path().join("sandboxes");
    let t1 = sandboxes.join("t-1");
    std::fs::create_dir_all(t1.join("data/nested")).unwrap();
    std::fs::create_dir_all(sandboxes.join("t-2")).unwrap();
    std::fs::write(t1.join("data/hello.txt"), "hello sandbox\n").unwrap();
    for (run, text) in [(0, "first run\n"), (1, "0123456789")] {
        let logs = t1.join(format!(".logs/web/{run}"));
        std::fs::create_dir_all(&logs).unwrap();
        std::fs::write(logs.join("stdout"), text).unwrap();
        std::fs::write(logs.join("stderr"), format!("err {run}\n")).unwrap();
    }
    std::fs::write(dir.path().join("secret"), "top secret").unwrap();
    symlink(dir.path().join("secret"), t1.join("leak")).unwrap();
    // A log planted by the task as a symlink out of the sandbox.
    let planted = t1.join(".logs/evil/0");
    std::fs::create_dir_all(&planted).unwrap();
    symlink(dir.path().join("secret"), planted.join("stdout")).unwrap();
    let running = Arc::new(Mutex::new(BTreeMap::new()));
    let router = observer_router(ObserverState::new(sandboxes, running));
    Fixture { dir, router }
}

async fn get(router: &Router, uri: &str) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let response = router
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024 * 1024)
        .await
        .unwrap();
    (status, headers, body.to_vec())
}

async fn get_text(router: &Router, uri: &str) -> String {
    let (status, headers, body) = get(router, uri).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{uri}: {}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(
        headers[header::CONTENT_TYPE],
        "text/plain; charset=utf-8",
        "{uri}"
    );
    String::from_utf8(body).unwrap()
}

async fn get_error(router: &Router, uri: &str) -> (StatusCode, ErrorBody) {
    let (status, headers, body) = get(router, uri).await;
    assert_eq!(headers[header::CONTENT_TYPE], "application/json", "{uri}");
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn lists_the_tasks_with_sandboxes() {
    let f = fixture();
    let (status, _, body) = get(&f.router, "/tasks").await;
    assert_eq!(status, StatusCode::OK);
    let tasks: Vec<String> = serde_json::from_slice(&body).unwrap();
    assert_eq!(tasks, vec!["t-1".to_string(), "t-2".to_string()]);
}

#[tokio::test]
async fn a_finished_task_shows_the_processes_its_logs_name() {
    let f = fixture();
    let (status, _, body) = get(&f.router, "/tasks/t-1").await;
    assert_eq!(status, StatusCode::OK);
    let view: TaskView = serde_json::from_slice(&body).unwrap();
    let process = |name: &str, runs| ProcessView {
        name: name.to_string(),
        state: None,
        runs,
        pid: None,
        started_at: None,
        exit_code: None,
        is_final: None,
    };
    assert_eq!(
        view,
        TaskView {
            task: "t-1".into(),
            running: false,
            processes: vec![process("evil", 1), process("web", 2)],
        }
    );
}

#[tokio::test]
async fn logs_default_to_the_latest_run_and_take_run_and_tail() {
    let f = fixture();
    assert_eq!(
        get_text(&f.router, "/tasks/t-1/logs/web/stdout").await,
        "0123456789"
    );
    assert_eq!(
        get_text(&f.router, "/tasks/t-1/logs/web/stdout?run=0").await,
        "first run\n"
    );
    assert_eq!(
        get_text(&f.router, "/tasks/t-1/logs/web/stdout?tail=3").await,
        "789"
    );
    assert_eq!(
        get_text(&f.router, "/tasks/t-1/logs/web/stderr").await,
        "err 1\n"
    );
}

#[tokio::test]
async fn download_returns_the_whole_file_as_an_attachment() {
    let f = fixture();
    let (status, headers, body) =
        get(&f.router, "/tasks/t-1/logs/web/stdout?download=true&tail=2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers[header::CONTENT_DISPOSITION],
        "attachment; filename=\"t-1-web-1-stdout.log\""
    );
    assert_eq!(body, b"0123456789");
}

#[tokio::test]
async fn browse_lists_directories_and_serves_files() {
    let f = fixture();
    let (status, _, body) = get(&f.router, "/tasks/t-1/browse/data").await;
    assert_eq!(status, StatusCode::OK);
    let listing: DirListing = serde_json::from_slice(&body).unwrap();
    let shape: Vec<(String, bool, u64, bool)> = listing
        .entries
        .iter()
        .map(|e| (e.name.clone(), e.is_dir, e.size, e.modified.is_some()))
        .collect();
    assert_eq!(listing.path, "data");
    assert_eq!(
        shape,
        vec![
            ("hello.txt".to_string(), false, 14, true),
            ("nested".to_string(), true, shape[1].2, true),
        ]
    );

    let (status, _, body) = get(&f.router, "/tasks/t-1/browse").await;
    assert_eq!(status, StatusCode::OK);
    let root: DirListing = serde_json::from_slice(&body).unwrap();
    let names: Vec<&str> = root.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(root.path, "");
    assert_eq!(names, vec![".logs", "data", "leak"]);

    assert_eq!(
        get_text(&f.router, "/tasks/t-1/browse/data/hello.txt").await,
        "hello sandbox\n"
    );
    assert_eq!(
        get_text(&f.router, "/tasks/t-1/browse/data/hello.txt?tail=8").await,
        "sandbox\n"
    );
    assert_eq!(
        get_text(&f.router, "/tasks/t-1/browse/.logs/web/0/stdout").await,
        "first run\n"
    );
}

#[tokio::test]
async fn unknown_tasks_processes_runs_and_paths_are_404_with_a_json_error() {
    let f = fixture();
    let cases = [
        ("/tasks/nope", "unknown_task"),
        ("/tasks/nope/browse/x", "unknown_task"),
        ("/tasks/nope/logs/web/stdout", "unknown_task"),
        ("/tasks/t-1/browse/missing.txt", "not_found"),
        ("/tasks/t-1/logs/db/stdout", "not_found"),
        ("/tasks/t-1/logs/web/stdout?run=7", "not_found"),
        ("/tasks/t-2/logs/web/stdout", "not_found"),
    ];
    for (uri, code) in cases {
        let (status, error) = get_error(&f.router, uri).await;
        assert_eq!(
            (status, error.code.as_str()),
            (StatusCode::NOT_FOUND, code),
            "{uri}: {}",
            error.message
        );
    }
}

#[tokio::test]
async fn paths_leaving_the_sandbox_are_refused_with_a_json_error() {
    let f = fixture();
    let cases = [
        (
            "/tasks/t-1/browse/../secret",
            StatusCode::BAD_REQUEST,
            "parent_component",
        ),
        (
            "/tasks/t-1/browse/data/../../secret",
            StatusCode::BAD_REQUEST,
            "parent_component",
        ),
        // Axum percent-decodes the path before the handler: `%2e%2e` is `..`, `%2f` is `/`.
        (
            "/tasks/t-1/browse/%2e%2e/secret",
            StatusCode::BAD_REQUEST,
            "parent_component",
        ),
        (
            "/tasks/t-1/browse/data%2f%2E%2E%2f%2e%2e%2fsecret",
            StatusCode::BAD_REQUEST,
            "parent_component",
        ),
        (
            "/tasks/t-1/browse//etc/passwd",
            StatusCode::BAD_REQUEST,
            "absolute_path",
        ),
        (
            "/tasks/t-1/browse/%2fetc%2fpasswd",
            StatusCode::BAD_REQUEST,
            "absolute_path",
        ),
        (
            "/tasks/t-1/browse/leak",
            StatusCode::FORBIDDEN,
            "escapes_sandbox",
        ),
        (
            "/tasks/t-1/logs/evil/stdout",
            StatusCode::FORBIDDEN,
            "escapes_sandbox",
        ),
        ("/tasks/..", StatusCode::BAD_REQUEST, "invalid_task_id"),
        (
            "/tasks/%2e%2e/browse/secret",
            StatusCode::BAD_REQUEST,
            "invalid_task_id",
        ),
        (
            "/tasks/t-1%2f..%2f..%2f/browse/secret",
            StatusCode::BAD_REQUEST,
            "invalid_task_id",
        ),
        (
            "/tasks/t-1/logs/%2e%2e/stdout",
            StatusCode::BAD_REQUEST,
            "invalid_process",
        ),
        (
            "/tasks/t-1/logs/web/environ",
            StatusCode::BAD_REQUEST,
            "invalid_stream",
        ),
    ];
    for (uri, expected_status, code) in cases {
        let (status, error) = get_error(&f.router, uri).await;
        assert_eq!(
            (status, error.code.as_str()),
            (expected_status, code),
            "{uri}: {}",
            error.message
        );
        assert!(!error.message.contains("top secret"), "{uri}");
    }
    // The secret exists: the refusals above are not misses.
    assert!(f.dir.path().join("secret").exists());
}

#[tokio::test]
async fn a_sandbox_replaced_by_a_symlink_is_refused() {
    let f = fixture();
    let sandboxes = f.dir.path().join("sandboxes");
    symlink(f.dir.path(), sandboxes.join("t-3")).unwrap();
    let (status, error) = get_error(&f.router, "/tasks/t-3/browse/secret").await;
    assert_eq!(
        (status, error.code.as_str()),
        (StatusCode::FORBIDDEN, "escapes_sandbox")
    );
}

#[tokio::test]
async fn a_busy_observer_answers_503_and_says_when_to_retry() {
    let response = ObserverError::Busy.into_response();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let error: ErrorBody = serde_json::from_slice(&body).unwrap();
    assert_eq!(error.code, "busy");
}
