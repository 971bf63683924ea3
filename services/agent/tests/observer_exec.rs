//! The observer's privileged routes over a real executor: `POST /tasks/T/run` and
//! `PUT /tasks/T/files/PATH` run and write for the role's owners only (401 without or with bad
//! credentials, 403 for another role, `exec_disabled` without an auth config), and a write
//! never lands outside the sandbox (`..`, absolute paths, a directory or a file symlinked out),
//! never leaves a temporary file behind, and is refused past the size limit.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aurora_agent::daemon::{Running, RunningTask};
use aurora_agent::executor::{Executor, ExecutorSettings, TaskContext, TaskSpec};
use aurora_agent::observer::{ErrorBody, ObserverAuth, ObserverState, RunResult, observer_router};
use aurora_auth::AuthConfig;
use aurora_events::TaskId;
use aurora_events::config::{Logger, Process, ThermosTask};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use pretty_assertions::assert_eq;
use tower::ServiceExt;

const WAIT: Duration = Duration::from_secs(20);
const TASK: &str = "www-data-prod-exec-0-abc";

/// Alice owns role `www-data`, Bob another role; Carol logs in with a password.
fn tokens() -> (String, String) {
    (
        aurora_auth::new_token([1; 32]),
        aurora_auth::new_token([2; 32]),
    )
}

fn config(anonymous_read: bool) -> AuthConfig {
    let (alice, bob) = tokens();
    let carol = aurora_auth::hash_password("carol-pw", [3; 16]).unwrap();
    AuthConfig::parse(&format!(
        "anonymous_read = {anonymous_read}\n\
         [users.alice]\ntokens = [\"{}\"]\npermissions = [\"job:create:www-data\"]\n\
         [users.bob]\ntokens = [\"{}\"]\npermissions = [\"job:*:other\", \"update:*:www-data\"]\n\
         [users.carol]\npassword = \"{carol}\"\npermissions = [\"job:*:www-data\"]\n",
        aurora_auth::token_digest(&alice),
        aurora_auth::token_digest(&bob),
    ))
    .unwrap()
}

/// A sleeping task of role `www-data` in `dir/sandboxes`, in a running map.
struct Fixture {
    _dir: tempfile::TempDir,
    sandboxes: PathBuf,
    sandbox: PathBuf,
    outside: PathBuf,
    running: Running,
}

impl Fixture {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let sandboxes = dir.path().join("sandboxes");
        let sandbox = sandboxes.join(TASK);
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        let mut settings = ExecutorSettings::new(&sandbox);
        settings.kill_grace = Duration::from_millis(200);
        let (executor, _updates) = Executor::launch(spec("sleep 60"), settings);
        let running: Running = Arc::new(Mutex::new(BTreeMap::new()));
        running.lock().unwrap().insert(
            TaskId::from_raw(TASK),
            RunningTask {
                executor,
                role: "www-data".into(),
                context: TaskContext::default(),
            },
        );
        let deadline = tokio::time::Instant::now() + WAIT;
        while !sandbox.is_dir() {
            assert!(tokio::time::Instant::now() < deadline, "no sandbox");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self {
            _dir: dir,
            sandboxes,
            sandbox,
            outside,
            running,
        }
    }

    fn router(&self, auth: ObserverAuth) -> Router {
        observer_router(
            ObserverState::new(&self.sandboxes, Arc::clone(&self.running))
                .with_auth(auth)
                .with_max_upload(64 * 1024),
        )
    }

    /// Names of leftover temporary upload files anywhere in the sandbox.
    fn leftovers(&self) -> Vec<String> {
        fn walk(dir: &Path, found: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with(".aurora-upload-") {
                    found.push(name);
                }
                if entry.file_type().unwrap().is_dir() {
                    walk(&entry.path(), found);
                }
            }
        }
        let mut found = Vec::new();
        walk(&self.sandbox, &mut found);
        found
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for (_, task) in std::mem::take(&mut *self.running.lock().unwrap()) {
            task.executor.kill("test over");
        }
    }
}

fn spec(cmdline: &str) -> TaskSpec {
    TaskSpec {
        task: ThermosTask {
            name: "exec".into(),
            processes: vec![Process {
                name: "main".into(),
                cmdline: cmdline.into(),
                max_failures: 1,
                daemon: false,
                ephemeral: false,
                min_duration_secs: 0,
                is_final: false,
                logger: Logger::default(),
            }],
            ordering: Vec::new(),
            max_failures: 1,
            max_concurrency: 0,
            finalization_wait_secs: 1,
        },
        lifecycle: None,
        health_check: None,
        context: TaskContext::default(),
        container: None,
    }
}

fn bearer(token: &str) -> Option<String> {
    Some(format!("Bearer {token}"))
}

async fn send(
    router: &Router,
    method: &str,
    uri: &str,
    authorization: Option<String>,
    body: Body,
) -> (StatusCode, Vec<u8>) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    if method == "POST" {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    let answer = async {
        let response = router
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 4 << 20)
            .await
            .unwrap();
        (status, body.to_vec())
    };
    tokio::time::timeout(WAIT, answer)
        .await
        .expect("no answer in time")
}

async fn run(
    router: &Router,
    authorization: Option<String>,
    command: &str,
) -> (StatusCode, Vec<u8>) {
    let body = serde_json::json!({ "command": command }).to_string();
    send(
        router,
        "POST",
        &format!("/tasks/{TASK}/run"),
        authorization,
        Body::from(body),
    )
    .await
}

async fn put(
    router: &Router,
    authorization: Option<String>,
    path: &str,
    bytes: &[u8],
) -> (StatusCode, Vec<u8>) {
    let uri = format!("/tasks/{TASK}/files/{path}");
    send(
        router,
        "PUT",
        &uri,
        authorization,
        Body::from(bytes.to_vec()),
    )
    .await
}

fn code(body: &[u8]) -> String {
    serde_json::from_slice::<ErrorBody>(body)
        .map(|e| e.code)
        .unwrap_or_else(|_| String::from_utf8_lossy(body).into_owned())
}

fn message(body: &[u8]) -> String {
    serde_json::from_slice::<ErrorBody>(body).unwrap().message
}

/// Two `Authorization` headers are refused, whichever comes first: honouring one of them
/// (the first, as before) could run a command as a user the client did not mean.
#[tokio::test]
async fn two_authorization_headers_are_a_bad_request() {
    let fixture = Fixture::new().await;
    let router = fixture.router(ObserverAuth::enforced(config(true), None));
    let (alice, bob) = tokens();
    for (first, second) in [(&alice, &bob), (&bob, &alice)] {
        let request = Request::post(format!("/tasks/{TASK}/run"))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, format!("Bearer {first}"))
            .header(header::AUTHORIZATION, format!("Bearer {second}"))
            .body(Body::from(r#"{"command": "touch ran"}"#))
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        assert_eq!(
            (status, code(&body)),
            (StatusCode::BAD_REQUEST, "bad_request".into())
        );
        assert!(
            message(&body).contains("more than one Authorization header"),
            "{}",
            message(&body)
        );
    }
    assert!(!fixture.sandbox.join("ran").exists());
}

#[tokio::test]
async fn commands_run_in_the_sandbox_for_the_roles_owners_only() {
    tracing::info!("given a running task of role www-data behind an observer with an auth config");
    let fixture = Fixture::new().await;
    let router = fixture.router(ObserverAuth::enforced(config(true), None));
    let (alice, bob) = tokens();

    tracing::info!("when nobody, a bad token or another role's owner asks, it is refused");
    let (status, body) = run(&router, None, "touch ran").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthenticated".into())
    );
    let (status, body) = run(&router, bearer("aurora_not-a-token"), "touch ran").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthenticated".into())
    );
    let (status, body) = run(&router, bearer(&bob), "touch ran").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "forbidden".into())
    );
    assert!(
        message(&body).contains("job:create:www-data"),
        "{}",
        message(&body)
    );
    assert!(!fixture.sandbox.join("ran").exists());

    tracing::info!(
        "then the role's owner runs a command in the sandbox, with its status and streams"
    );
    let (status, body) = run(&router, bearer(&alice), "pwd; echo oops >&2; exit 7").await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let result: RunResult = serde_json::from_slice(&body).unwrap();
    let pwd = fixture.sandbox.canonicalize().unwrap();
    assert_eq!(result.task, TASK);
    assert_eq!(result.stdout, format!("{}\n", pwd.display()));
    assert_eq!(result.stderr, "oops\n");
    assert_eq!((result.exit_code, result.timed_out), (Some(7), false));

    tracing::info!("and a password login works too (checked on the observer's threads)");
    let basic = aurora_auth::Credentials::Basic {
        user: "carol".into(),
        password: "carol-pw".into(),
    }
    .authorization_header();
    let (status, body) = run(&router, Some(basic), "echo hi").await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));

    tracing::info!("and bad requests are named");
    let (status, body) = run(&router, bearer(&alice), "  ").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "bad_request".into())
    );
    let long = "x".repeat(aurora_agent::observer::MAX_COMMAND + 1);
    let (status, body) = run(&router, bearer(&alice), &long).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "bad_request".into())
    );
    let (status, body) = send(
        &router,
        "POST",
        "/tasks/no-such-task/run",
        bearer(&alice),
        Body::from(r#"{"command": "true"}"#),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "not_running".into())
    );
}

#[tokio::test]
async fn a_closed_observer_runs_nothing_and_an_insecure_one_runs_for_anyone() {
    let fixture = Fixture::new().await;
    let (alice, _) = tokens();

    tracing::info!("without an auth config, reads are open and commands and writes refused");
    let closed = fixture.router(ObserverAuth::closed());
    let (status, _) = send(&closed, "GET", "/tasks", None, Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = run(&closed, bearer(&alice), "touch ran").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "exec_disabled".into())
    );
    assert!(message(&body).contains("--auth FILE"), "{}", message(&body));
    let (status, body) = put(&closed, None, "file", b"x").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "exec_disabled".into())
    );
    assert!(!fixture.sandbox.join("ran").exists() && !fixture.sandbox.join("file").exists());

    tracing::info!("told --insecure-no-auth, it runs for anyone");
    let open = fixture.router(ObserverAuth::insecure());
    let (status, body) = run(&open, None, "echo open").await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
}

#[tokio::test]
async fn reads_need_credentials_when_the_config_says_so() {
    let fixture = Fixture::new().await;
    let router = fixture.router(ObserverAuth::enforced(config(false), None));
    let (alice, _) = tokens();
    let (status, body) = send(&router, "GET", "/tasks", None, Body::empty()).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthenticated".into())
    );
    let (status, _) = send(&router, "GET", "/tasks", bearer(&alice), Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    // Bad credentials are refused even where none are needed.
    let open = fixture.router(ObserverAuth::enforced(config(true), None));
    let (status, _) = send(&open, "GET", "/tasks", bearer("aurora_bad"), Body::empty()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn files_are_written_inside_the_sandbox_only() {
    tracing::info!("given a running task and its owner");
    let fixture = Fixture::new().await;
    let router = fixture.router(ObserverAuth::enforced(config(true), None));
    let (alice, bob) = tokens();
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let small = &bytes[..50_000];

    tracing::info!("when the owner sends a file, it lands in the sandbox with its mode");
    let (status, body) = put(&router, bearer(&alice), "data.bin", small).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        std::fs::read(fixture.sandbox.join("data.bin")).unwrap(),
        small
    );
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&fixture.sandbox.join("data.bin")), 0o644);
    let uri = format!("/tasks/{TASK}/files/run.sh?mode=0755");
    let (status, _) = send(&router, "PUT", &uri, bearer(&alice), Body::from("echo hi")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mode(&fixture.sandbox.join("run.sh")), 0o755);
    // Replacing a file replaces it whole.
    let (status, _) = put(&router, bearer(&alice), "data.bin", b"short").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        std::fs::read(fixture.sandbox.join("data.bin")).unwrap(),
        b"short"
    );

    tracing::info!("into a directory that exists only");
    let (status, body) = put(&router, bearer(&alice), "sub/data.bin", b"x").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "not_found".into())
    );
    std::fs::create_dir(fixture.sandbox.join("sub")).unwrap();
    let (status, _) = put(&router, bearer(&alice), "sub/data.bin", b"x").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = put(&router, bearer(&alice), "sub", b"x").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "is_a_directory".into())
    );

    tracing::info!("but never outside the sandbox: .. and absolute paths are refused");
    for path in ["../escaped", "sub/../../escaped", "%2e%2e/escaped"] {
        let (status, body) = put(&router, bearer(&alice), path, b"x").await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::BAD_REQUEST, "parent_component".into()),
            "{path}"
        );
    }
    let (status, _) = put(&router, bearer(&alice), "/etc/escaped", b"x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(!fixture.sandboxes.join("escaped").exists());

    tracing::info!(
        "nor through a directory symlinked out, and a symlinked file is replaced, not followed"
    );
    symlink(&fixture.outside, fixture.sandbox.join("out")).unwrap();
    let (status, body) = put(&router, bearer(&alice), "out/planted", b"x").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "escapes_sandbox".into())
    );
    symlink("../../outside", fixture.sandbox.join("up")).unwrap();
    let (status, body) = put(&router, bearer(&alice), "up/planted", b"x").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "escapes_sandbox".into())
    );
    assert!(!fixture.outside.join("planted").exists());
    std::fs::write(fixture.outside.join("target"), "original").unwrap();
    symlink(fixture.outside.join("target"), fixture.sandbox.join("link")).unwrap();
    let (status, _) = put(&router, bearer(&alice), "link", b"replaced").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        std::fs::read_to_string(fixture.outside.join("target")).unwrap(),
        "original"
    );
    let link = std::fs::symlink_metadata(fixture.sandbox.join("link")).unwrap();
    assert!(link.file_type().is_file());

    tracing::info!("nor for someone else, nor past the size limit, and nothing is left behind");
    let (status, _) = put(&router, None, "anon", b"x").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = put(&router, bearer(&bob), "bob", b"x").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = put(&router, bearer(&alice), "big", &bytes).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large".into())
    );
    // Without a Content-Length the limit is found while streaming.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(10_000).map(|c| Ok(c.to_vec())).collect();
    let streamed = Body::from_stream(futures::stream::iter(chunks));
    let uri = format!("/tasks/{TASK}/files/streamed");
    let (status, _) = send(&router, "PUT", &uri, bearer(&alice), streamed).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    for name in ["anon", "bob", "big", "streamed"] {
        assert!(!fixture.sandbox.join(name).exists(), "{name}");
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    while !fixture.leftovers().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            fixture.leftovers()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
