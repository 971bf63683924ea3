//! The web UI in a real browser: headless Chromium (Debian's `chromium`, which `./ops/test`
//! installs) loads the home, role, job, task, updates and update pages of a running
//! `aurora-scheduler --dev` with a live service job being updated, and each page must answer
//! 200 with no console error. Screenshots
//! go to `$AURORA_SCREENSHOTS`, else `$CARGO_TARGET_DIR/aurora-screenshots` (the target
//! directory beside the scheduler binary when that variable is unset); their paths are printed
//! (`cargo test -p aurora-scheduler --test browser -- --nocapture` shows them).
//!
//! A self-test first shows that the harness can fail: against a tiny server of its own it must
//! flag a `console.error`, an uncaught exception, a missing image and a 500, and pass a clean
//! page.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

#[path = "support/browser.rs"]
mod browser;
mod support;

use std::path::PathBuf;

use axum::Router;
use axum::http::StatusCode;
use axum::response::Html;
use axum::routing::get;
use browser::{Browser, assert_png};
use serde_json::json;
use support::{become_subreaper, config, free_port, http, scheduler, tasks, wait_for};

/// Where screenshots are saved (created if missing).
fn screenshot_dir() -> PathBuf {
    let dir = std::env::var_os("AURORA_SCREENSHOTS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR")
                .map(|target| PathBuf::from(target).join("aurora-screenshots"))
        })
        .unwrap_or_else(|| {
            // target/<profile>/aurora-scheduler
            let binary = support::scheduler_binary();
            let target = binary.ancestors().nth(2).unwrap().to_path_buf();
            target.join("aurora-screenshots")
        });
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A self-test page. It names an empty icon, as the UI's base template does: otherwise Chromium
/// asks for /favicon.ico, and that 404 is a console error like any other failed load.
fn page(body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html><head><title>self-test</title><link rel=\"icon\" href=\"data:,\">\
         </head><body>{body}</body></html>"
    ))
}

#[test]
fn the_harness_flags_console_errors_and_bad_statuses_and_passes_a_clean_page() {
    let server = tokio::runtime::Runtime::new().unwrap();
    let listener = server
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new()
        .route("/clean", get(|| async { page("<h1>All is well</h1>") }))
        .route(
            "/console-error",
            get(|| async { page("<h1>Boom</h1><script>console.error(\"boom\")</script>") }),
        )
        .route(
            "/exception",
            get(|| async { page("<h1>Kaboom</h1><script>throw new Error(\"kaboom\")</script>") }),
        )
        .route(
            "/missing-image",
            get(|| async { page("<img src=\"/no-such.png\" alt=\"gone\">") }),
        )
        .route(
            "/broken",
            get(|| async {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    page("<h1>Internal error</h1>"),
                )
            }),
        );
    server.spawn(async move { axum::serve(listener, app).await });

    let shots = screenshot_dir().join("harness");
    let mut browser = Browser::launch().unwrap();
    let mut visit = |name: &str| {
        let url = format!("http://127.0.0.1:{port}/{name}");
        let visit = browser
            .visit(&url, &shots.join(format!("{name}.png")))
            .unwrap();
        println!(
            "{name}: {:?} -> {}",
            visit.problems(),
            visit.screenshot.display()
        );
        assert_png(&visit.screenshot);
        visit
    };

    let clean = visit("clean");
    assert_eq!(clean.status, Some(200));
    assert!(clean.problems().is_empty(), "{:?}", clean.problems());
    clean.assert_clean();

    let console = visit("console-error");
    assert_eq!(console.status, Some(200));
    assert!(
        console.console_errors.iter().any(|e| e.contains("boom")),
        "{console:?}"
    );
    assert!(!console.problems().is_empty());

    let exception = visit("exception");
    assert!(
        exception
            .console_errors
            .iter()
            .any(|e| e.contains("kaboom")),
        "{exception:?}"
    );

    let image = visit("missing-image");
    assert_eq!(image.status, Some(200));
    assert!(
        image.console_errors.iter().any(|e| e.contains("404")),
        "a failed subresource load is a console error: {image:?}"
    );

    let broken = visit("broken");
    assert_eq!(broken.status, Some(500), "{broken:?}");
    assert!(
        broken.problems().iter().any(|p| p.contains("500")),
        "{broken:?}"
    );

    // The clean page again: nothing from the earlier pages carries over.
    visit("clean").assert_clean();
}

#[test]
fn the_web_ui_pages_of_a_dev_cluster_load_without_errors() {
    become_subreaper();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("aurora-data");
    let port = free_port();
    let _scheduler = scheduler(&["--dev"], &data, port);

    let (role, env, name) = ("www-data", "prod", "hello");
    let job = format!("{role}/{env}/{name}");
    let request = json!({"job": job, "config": config(&job, "sleep 600", true), "instances": 1});
    let (status, body) = http(port, "POST", "/api/v1/jobs", Some(&request)).unwrap();
    assert_eq!(status, 200, "{body}");
    wait_for("the task to be RUNNING", || {
        tasks(port, &job)
            .first()
            .is_some_and(|t| t["status"] == "RUNNING")
    });
    let task_id = tasks(port, &job)[0]["id"].as_str().unwrap().to_string();
    // An update to a changed command line, so the update pages have something to draw.
    let update = json!({
        "config": config(&job, "sleep 601", true),
        "instances": 1,
        "settings": {
            "strategy": {"Queue": {"group_size": 1}},
            "max_per_instance_failures": 0,
            "max_failed_instances": 0,
            "min_wait_in_instance_running_ms": 1000,
            "rollback_on_failure": true,
            "update_only_these_instances": [],
            "block_if_no_pulses_after_ms": null,
            "sla_aware": false,
        },
    });
    let (status, body) = http(
        port,
        "POST",
        &format!("/api/v1/jobs/{job}/update"),
        Some(&update),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let update_id = body["id"].as_str().unwrap().to_string();

    let shots = screenshot_dir();
    let mut browser = Browser::launch().unwrap();
    let pages = [
        ("home", "/scheduler".to_string()),
        ("role", format!("/scheduler/{role}")),
        ("job", format!("/scheduler/{role}/{env}/{name}")),
        ("task", format!("/tasks/{task_id}")),
        ("updates", "/updates".to_string()),
        (
            "update",
            format!("/updates/{role}/{env}/{name}/{update_id}"),
        ),
        ("cron", "/cron".to_string()),
        ("audit", "/audit".to_string()),
    ];
    let mut problems = Vec::new();
    for (page, path) in pages {
        let url = format!("http://127.0.0.1:{port}{path}");
        let visit = browser
            .visit(&url, &shots.join(format!("{page}.png")))
            .unwrap();
        println!(
            "{page:>7} {path}: status {:?}, screenshot {}",
            visit.status,
            visit.screenshot.display()
        );
        assert_png(&visit.screenshot);
        problems.extend(visit.problems().into_iter().map(|p| format!("{path}: {p}")));
    }
    assert!(
        problems.is_empty(),
        "pages with problems (screenshots in {}):\n  {}",
        shots.display(),
        problems.join("\n  ")
    );
}
