//! The API behind `--auth`: anonymous requests may read and nothing else; bad credentials are
//! refused before anything runs; the principal, never `x-aurora-user`, is the actor of what a
//! request journals; a principal without the permission gets a 403 naming it; every mutating
//! route checks (an anonymous request to each one is a 401 that journals nothing); reads can
//! be closed to anonymous requests; and a reloaded config takes effect at once.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

mod in_process;

use aurora_auth::{AuthConfig, hash_password, token_digest};
use aurora_events::{Actor, Tier};
use aurora_journal::MemoryStore;
use aurora_scheduler::api;
use aurora_scheduler::auth::{AUTH_FAILED, Gate, guard};
use aurora_scheduler::runtime::Runtime;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use serde_json::{Value, json};
use tower::ServiceExt;

const ALICE_TOKEN: &str = "aurora_alice0000000000000000000000000000000000000000000000000000000";
const BOB_TOKEN: &str = "aurora_bob000000000000000000000000000000000000000000000000000000000";
const ROOT_TOKEN: &str = "aurora_root00000000000000000000000000000000000000000000000000000000";
const VM1_TOKEN: &str = "aurora_vm1000000000000000000000000000000000000000000000000000000000";
const VM2_TOKEN: &str = "aurora_vm2000000000000000000000000000000000000000000000000000000000";

/// alice owns www-data (token, and a password), bob owns another role, root administers.
fn config_text(anonymous_read: bool) -> String {
    let alice_password = hash_password("alice-password", [7; 16]).unwrap();
    format!(
        r#"
anonymous_read = {anonymous_read}

[users.alice]
password = "{alice_password}"
tokens = ["{alice}"]
groups = ["www-owners"]

[users.bob]
tokens = ["{bob}"]
permissions = ["job:*:other", "update:*:other"]

[users.root]
tokens = ["{root}"]
permissions = ["admin:*"]

[users.agent-vm1]
tokens = ["{vm1}"]
permissions = ["agent:*"]

[users.agent-vm2]
tokens = ["{vm2}"]
permissions = ["agent:*"]

[groups.www-owners]
permissions = ["job:*:www-data", "update:*:www-data"]
"#,
        alice = token_digest(ALICE_TOKEN),
        bob = token_digest(BOB_TOKEN),
        root = token_digest(ROOT_TOKEN),
        vm1 = token_digest(VM1_TOKEN),
        vm2 = token_digest(VM2_TOKEN),
    )
}

fn hello() -> Value {
    let mut config = aurora_events::samples::task_config();
    config.sla_policy = None;
    config.tier = Tier::Preemptible;
    config.resources.ports.clear();
    config.constraints.clear();
    json!({"job": "www-data/prod/hello", "config": config, "instances": 1})
}

async fn start(anonymous_read: bool) -> (Runtime, Router, Gate) {
    let store = MemoryStore::new();
    in_process::initialise(&store);
    let runtime = in_process::start_runtime(&store).await;
    let config = AuthConfig::parse(&config_text(anonymous_read)).unwrap();
    let gate = Gate::enforced(config, None);
    let app = guard(
        api::router(runtime.clone()).merge(aurora_scheduler::backups::router(None)),
        gate.clone(),
    );
    (runtime, app, gate)
}

/// One request with an optional `Authorization` value; always claims to be `mallory`.
async fn send(
    app: &Router,
    method: &str,
    uri: &str,
    authorization: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value, Option<String>) {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .header(api::USER_HEADER, "mallory");
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    let request = request
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let challenge = response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 22)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        challenge,
    )
}

/// alice creates www-data/prod/hello (one instance).
async fn create_hello_as_alice(app: &Router) {
    let (status, body, _) = send(
        app,
        "POST",
        "/api/v1/jobs",
        Some(&bearer(ALICE_TOKEN)),
        Some(hello()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn basic(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

/// The last envelope in the journal.
async fn last_envelope(runtime: &Runtime) -> aurora_events::Envelope {
    let journal = runtime.journal();
    let last = journal.last_seq();
    let range = aurora_journal::SeqRange { first: last, last };
    journal.read(range).await.unwrap().remove(0)
}

/// The actor of the last event in the journal.
async fn last_actor(runtime: &Runtime) -> Actor {
    last_envelope(runtime).await.actor
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_reads_pass_and_anonymous_writes_are_refused() {
    let (runtime, app, _) = start(true).await;
    let (status, _, _) = send(&app, "GET", "/api/v1/jobs", None, None).await;
    assert_eq!(status, StatusCode::OK);

    let before = runtime.journal().last_seq();
    let (status, body, challenge) = send(&app, "POST", "/api/v1/jobs", None, Some(hello())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], AUTH_FAILED);
    assert!(
        body["message"].as_str().unwrap().contains("netrc"),
        "says how to log in: {body}"
    );
    assert!(challenge.is_none(), "only the gate's own 401s challenge");
    assert_eq!(runtime.journal().last_seq(), before, "nothing journaled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_principal_is_the_actor_whatever_the_header_claims() {
    let (runtime, app, _) = start(true).await;
    create_hello_as_alice(&app).await;
    assert_eq!(last_actor(&runtime).await, Actor::User("alice".into()));

    // Basic with the password (argon2), then again (remembered): alice both times.
    for _ in 0..2 {
        let (status, body, _) = send(
            &app,
            "POST",
            "/api/v1/jobs/www-data/prod/hello/restart",
            Some(&basic("alice", "alice-password")),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // A token works as a Basic password too (a ~/.netrc holding a token).
    let (status, body, _) = send(
        &app,
        "POST",
        "/api/v1/jobs/www-data/prod/hello/kill",
        Some(&basic("alice", ALICE_TOKEN)),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(last_actor(&runtime).await, Actor::User("alice".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_are_refused_even_for_reads() {
    let (runtime, app, _) = start(true).await;
    let before = runtime.journal().last_seq();
    for authorization in [
        bearer("aurora_not-a-known-token"),
        basic("alice", "wrong"),
        basic("nobody", "alice-password"),
        "Digest abc".to_string(),
    ] {
        for (method, uri, body) in [
            ("GET", "/api/v1/jobs", None),
            ("POST", "/api/v1/jobs", Some(hello())),
        ] {
            let (status, body, challenge) =
                send(&app, method, uri, Some(&authorization), body).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {uri} with {authorization}: {body}"
            );
            assert_eq!(body["code"], AUTH_FAILED);
            assert!(
                body["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("authentication failed"),
                "{body}"
            );
            assert!(
                challenge.unwrap().starts_with("Basic"),
                "a browser is asked to log in"
            );
        }
    }
    assert_eq!(runtime.journal().last_seq(), before, "nothing journaled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_roles_owner_is_forbidden_and_told_the_missing_permission() {
    let (runtime, app, _) = start(true).await;
    create_hello_as_alice(&app).await;
    let before = runtime.journal().last_seq();
    let (status, body, _) = send(
        &app,
        "POST",
        "/api/v1/jobs/www-data/prod/hello/kill",
        Some(&bearer(BOB_TOKEN)),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], AUTH_FAILED);
    assert_eq!(body["message"], "bob lacks permission job:kill:www-data");
    // Setting a quota is an administrator's, even for the role's owner.
    let (status, body, _) = send(
        &app,
        "PUT",
        "/api/v1/quota/www-data",
        Some(&bearer(ALICE_TOKEN)),
        Some(json!({"num_cpus": 1.0, "ram_mb": 1, "disk_mb": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["message"], "alice lacks permission quota:set:www-data");
    // An administrator may not act as an agent.
    let (status, body, _) = send(
        &app,
        "POST",
        "/api/v1/agents/host-1/heartbeat",
        Some(&bearer(ROOT_TOKEN)),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(runtime.journal().last_seq(), before, "nothing journaled");
    // The administrator may kill.
    let (status, body, _) = send(
        &app,
        "POST",
        "/api/v1/jobs/www-data/prod/hello/kill",
        Some(&bearer(ROOT_TOKEN)),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(last_actor(&runtime).await, Actor::User("root".into()));

    // The audit trail (open to anonymous readers) has both actions, and none of the refused.
    let (status, audit, _) = send(&app, "GET", "/api/v1/audit", None, None).await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    let entries: Vec<(String, String, String)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_string(),
                e["action"].as_str().unwrap().to_string(),
                e["target"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let hello = "www-data/prod/hello".to_string();
    assert_eq!(
        entries,
        vec![
            // Its one task was still PENDING, so the kill deleted it.
            ("user:root".into(), "task delete".into(), hello.clone()),
            ("user:alice".into(), "job create".into(), hello),
        ]
    );
    let (status, only_root, _) =
        send(&app, "GET", "/api/v1/audit?user=root&kind=job", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        only_root["entries"].as_array().unwrap().len(),
        1,
        "{only_root}"
    );
    let (status, bad, _) = send(&app, "GET", "/api/v1/audit?kind=everything", None, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    assert!(
        bad["message"].as_str().unwrap().contains("quota"),
        "lists the kinds: {bad}"
    );
}

/// Every mutating route, with a body it would accept: none may run for an anonymous caller.
fn mutations() -> Vec<(&'static str, &'static str, Option<Value>)> {
    let update = json!({"config": aurora_events::samples::task_config()});
    vec![
        ("POST", "/api/v1/jobs", Some(hello())),
        ("POST", "/api/v1/jobs/www-data/prod/hello/kill", None),
        ("POST", "/api/v1/jobs/www-data/prod/hello/restart", None),
        (
            "POST",
            "/api/v1/jobs/www-data/prod/hello/add",
            Some(json!({"template": 0, "count": 1})),
        ),
        (
            "POST",
            "/api/v1/cron",
            Some(json!({
                "job": "www-data/prod/nightly",
                "config": aurora_events::samples::task_config(),
                "instances": 1,
                "cron_schedule": "0 3 * * *",
            })),
        ),
        ("POST", "/api/v1/cron/www-data/prod/hello/deschedule", None),
        ("POST", "/api/v1/cron/www-data/prod/hello/start", None),
        (
            "POST",
            "/api/v1/jobs/www-data/prod/hello/update",
            Some(update),
        ),
        (
            "POST",
            "/api/v1/jobs/www-data/prod/hello/rolling-restart",
            Some(json!({})),
        ),
        (
            "POST",
            "/api/v1/jobs/www-data/prod/hello/update/pause",
            None,
        ),
        (
            "POST",
            "/api/v1/jobs/www-data/prod/hello/update/resume",
            None,
        ),
        (
            "POST",
            "/api/v1/jobs/www-data/prod/hello/update/abort",
            None,
        ),
        (
            "POST",
            "/api/v1/jobs/www-data/prod/hello/update/rollback",
            None,
        ),
        (
            "POST",
            "/api/v1/updates/www-data/prod/hello/0190b4a0-0000-7000-8000-000000000000/pulse",
            None,
        ),
        (
            "PUT",
            "/api/v1/quota/www-data",
            Some(json!({"num_cpus": 1.0, "ram_mb": 1, "disk_mb": 1})),
        ),
        (
            "POST",
            "/api/v1/maintenance/start",
            Some(json!({"hosts": ["h"]})),
        ),
        (
            "POST",
            "/api/v1/maintenance/drain",
            Some(json!({"hosts": ["h"]})),
        ),
        (
            "POST",
            "/api/v1/maintenance/sla_drain",
            Some(json!({"hosts": ["host-1"]})),
        ),
        (
            "POST",
            "/api/v1/maintenance/end",
            Some(json!({"hosts": ["h"]})),
        ),
        (
            "POST",
            "/api/v1/admin/tasks/some-task/force",
            Some(json!({"status": "LOST"})),
        ),
        ("POST", "/api/v1/admin/prune", None),
        ("POST", "/api/v1/admin/snapshot", None),
        ("POST", "/api/v1/admin/backups", None),
        ("POST", "/api/v1/admin/reconcile", None),
        (
            "POST",
            "/api/v1/agents/register",
            Some(json!({
                "agent": "host-1", "host": "host-1",
                "capacity": {"cpus": 4.0, "ram_mb": 4096, "disk_mb": 4096, "gpus": 0, "port_ranges": []},
                "attributes": [], "endpoint": "", "running": []
            })),
        ),
        ("POST", "/api/v1/agents/host-1/heartbeat", None),
        ("POST", "/api/v1/agents/host-1/work?wait_ms=0", None),
        ("POST", "/api/v1/agents/host-1/unbind", None),
        (
            "POST",
            "/api/v1/agents/host-1/status",
            Some(json!({"task": "t", "status": "RUNNING"})),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mutating_route_refuses_an_anonymous_caller() {
    let (runtime, app, _) = start(true).await;
    create_hello_as_alice(&app).await;
    let before = runtime.journal().last_seq();
    let routes = mutations();
    assert_eq!(
        routes.len(),
        aurora_auth::Action::ALL.len() - 3 + 2,
        "one route per action, but for reads and the replicated cluster's two replica routes \
         (tested with replicas), two for update:start (an update, a rolling restart) and two \
         for maintenance:drain (a drain, an SLA-aware drain)"
    );
    for (method, uri, body) in routes {
        let (status, answer, _) = send(&app, method, uri, None, body).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {uri} ran for an anonymous caller: {answer}"
        );
    }
    assert_eq!(runtime.journal().last_seq(), before, "nothing journaled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_can_need_credentials_but_health_never_does() {
    let (_runtime, app, _) = start(false).await;
    let (status, body, challenge) = send(&app, "GET", "/api/v1/jobs", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(challenge.is_some());
    let (status, _, _) = send(&app, "GET", "/api/v1/jobs", Some(&bearer(BOB_TOKEN)), None).await;
    assert_eq!(status, StatusCode::OK, "any principal may read");
    let (status, _, _) = send(&app, "GET", "/leaderhealth", None, None).await;
    assert_eq!(status, StatusCode::OK, "the leader check stays open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reloaded_config_takes_effect_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.toml");
    std::fs::write(&path, config_text(true)).unwrap();
    let store = MemoryStore::new();
    in_process::initialise(&store);
    let runtime = in_process::start_runtime(&store).await;
    let gate = Gate::enforced(AuthConfig::load(&path).unwrap(), Some(path.clone()));
    let app = guard(
        api::router(runtime.clone()).merge(aurora_scheduler::backups::router(None)),
        gate.clone(),
    );
    let bob = bearer(BOB_TOKEN);
    let create = || send(&app, "POST", "/api/v1/jobs", Some(&bob), Some(hello()));
    assert_eq!(create().await.0, StatusCode::FORBIDDEN);

    // bob is given www-data's jobs; a broken file afterwards leaves that config in place.
    let granted = config_text(true).replace(
        r#"permissions = ["job:*:other", "update:*:other"]"#,
        r#"permissions = ["job:*:www-data"]"#,
    );
    std::fs::write(&path, granted).unwrap();
    assert_eq!(gate.reload().unwrap(), 5);
    std::fs::write(&path, "[users.x]\npermissions = [").unwrap();
    let error = gate.reload().unwrap_err().to_string();
    assert!(error.contains("auth.toml"), "{error}");
    let (status, body, _) = create().await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(last_actor(&runtime).await, Actor::User("bob".into()));
}

/// Revoking a user's last token is a reload like any other: the user stays in the file with
/// no credential (disabled) and its old token is refused from the next request on. (The
/// reload used to be refused, "neither a password nor a token", and the token kept working.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_users_last_token_refuses_it_from_the_reload_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.toml");
    std::fs::write(&path, config_text(true)).unwrap();
    let store = MemoryStore::new();
    in_process::initialise(&store);
    let runtime = in_process::start_runtime(&store).await;
    let gate = Gate::enforced(AuthConfig::load(&path).unwrap(), Some(path.clone()));
    let app = guard(api::router(runtime.clone()), gate.clone());
    let bob = bearer(BOB_TOKEN);
    let (status, body, _) = send(&app, "GET", "/api/v1/jobs", Some(&bob), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let revoked = config_text(true).replace(
        &format!(r#"tokens = ["{}"]"#, token_digest(BOB_TOKEN)),
        "tokens = []",
    );
    assert_ne!(revoked, config_text(true));
    std::fs::write(&path, revoked).unwrap();
    assert_eq!(gate.reload().unwrap(), 5, "bob stays, disabled");

    let (status, body, _) = send(&app, "GET", "/api/v1/jobs", Some(&bob), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], AUTH_FAILED);
    let (status, _, _) = send(&app, "POST", "/api/v1/jobs", Some(&bob), Some(hello())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// Two `Authorization` headers are a 400 naming them, whichever order they come in: the first
/// used to win silently, so a request acted as whoever a proxy or client happened to put first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_authorization_headers_are_a_bad_request() {
    let (runtime, app, _) = start(true).await;
    let before = runtime.journal().last_seq();
    for (first, second) in [(ALICE_TOKEN, BOB_TOKEN), (BOB_TOKEN, ALICE_TOKEN)] {
        for (method, uri, body) in [
            ("GET", "/api/v1/jobs", None),
            ("POST", "/api/v1/jobs", Some(hello())),
        ] {
            let request = Request::builder()
                .method(method)
                .uri(uri)
                .header("content-type", "application/json")
                .header(header::AUTHORIZATION, bearer(first))
                .header(header::AUTHORIZATION, bearer(second))
                .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
                .unwrap();
            let response = app.clone().oneshot(request).await.unwrap();
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap();
            let body: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {uri}: {body}");
            assert_eq!(body["code"], "INVALID_REQUEST");
            assert!(
                body["message"]
                    .as_str()
                    .unwrap()
                    .contains("more than one Authorization header"),
                "{body}"
            );
        }
    }
    assert_eq!(
        runtime.journal().last_seq(),
        before,
        "nothing was journaled"
    );
}

/// What agent `id` on host `id` sends to register.
fn registration(id: &str) -> Value {
    json!({
        "agent": id, "host": id,
        "capacity": {"cpus": 8.0, "ram_mb": 16384, "disk_mb": 100000, "gpus": 0, "port_ranges": [[31000, 31100]]},
        "attributes": [], "endpoint": "http://127.0.0.1:1", "running": []
    })
}

async fn task_status(app: &Router) -> String {
    let (status, tasks, _) = send(
        app,
        "GET",
        "/api/v1/jobs/www-data/prod/hello/tasks?all=true",
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    tasks[0]["status"].as_str().unwrap().to_string()
}

/// An agent id belongs to the credential that first registered it: another agent's
/// credential can neither register as it, heartbeat, poll nor report for it; and reporting
/// another agent's task from one's own id changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_cannot_act_as_another_or_report_its_tasks() {
    let (runtime, app, _) = start(true).await;
    let (vm1, vm2) = (bearer(VM1_TOKEN), bearer(VM2_TOKEN));
    let post = |uri: &'static str, who: &'static str, body: Option<Value>| {
        let app = app.clone();
        async move {
            let authorization = bearer(who);
            send(&app, "POST", uri, Some(&authorization), body).await
        }
    };
    create_hello_as_alice(&app).await;
    let (status, body, _) = send(
        &app,
        "POST",
        "/api/v1/agents/register",
        Some(&vm1),
        Some(registration("host-1")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        last_envelope(&runtime).await.event,
        aurora_events::Event::AgentBound {
            agent: aurora_events::AgentId("host-1".into()),
            principal: "agent-vm1".into(),
        },
        "the first registration binds the id"
    );

    // vm2's credential, presented as host-1, is refused everywhere.
    let before = runtime.journal().last_seq();
    for (uri, body) in [
        ("/api/v1/agents/register", Some(registration("host-1"))),
        ("/api/v1/agents/host-1/heartbeat", None),
        ("/api/v1/agents/host-1/work?wait_ms=0", None),
        (
            "/api/v1/agents/host-1/status",
            Some(json!({"task": "any", "status": "FAILED"})),
        ),
    ] {
        let (status, answer, _) = post(uri, VM2_TOKEN, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{uri}: {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains("agent-vm1"),
            "names the bound user: {answer}"
        );
    }
    assert_eq!(runtime.journal().last_seq(), before, "nothing journaled");

    // host-1 runs the task.
    let mut launched = Vec::new();
    in_process::eventually("the launch handed to host-1", async || {
        let (status, work, _) = post("/api/v1/agents/host-1/heartbeat", VM1_TOKEN, None).await;
        assert_eq!(status, StatusCode::OK, "{work}");
        launched.extend(work["launch"].as_array().unwrap().iter().cloned());
        (!launched.is_empty()).then_some(())
    })
    .await;
    let task = launched[0]["task"].clone();
    for state in ["STARTING", "RUNNING"] {
        let (status, body, _) = post(
            "/api/v1/agents/host-1/status",
            VM1_TOKEN,
            Some(json!({"task": task, "status": state})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert_eq!(task_status(&app).await, "RUNNING");

    // vm2 registers as itself and reports host-1's task FAILED from there: not its task.
    let (status, body, _) = send(
        &app,
        "POST",
        "/api/v1/agents/register",
        Some(&vm2),
        Some(registration("host-2")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body, _) = post(
        "/api/v1/agents/host-2/status",
        VM2_TOKEN,
        Some(json!({"task": task, "status": "FAILED", "message": "forged"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        task_status(&app).await,
        "RUNNING",
        "a forged report changed the task"
    );
}

/// The host is bound with its agent id: another agent credential cannot register a new id
/// for it. Only an admin may unbind; after that, another credential may register the id and
/// binds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_stays_bound_until_an_admin_unbinds_its_agent() {
    let (runtime, app, _) = start(true).await;
    let register = |who: &'static str, agent: &'static str| {
        let app = app.clone();
        async move {
            let mut body = registration("host-1");
            body["agent"] = json!(agent);
            send(
                &app,
                "POST",
                "/api/v1/agents/register",
                Some(&bearer(who)),
                Some(body),
            )
            .await
        }
    };
    let (status, body, _) = register(VM1_TOKEN, "host-1").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let before = runtime.journal().last_seq();
    let (status, answer, _) = register(VM2_TOKEN, "impostor").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    let message = answer["message"].as_str().unwrap();
    assert!(
        message.contains("host host-1") && message.contains("agent-vm1"),
        "{message}"
    );
    assert_eq!(runtime.journal().last_seq(), before, "nothing journaled");

    let unbind = |who: &'static str| {
        let app = app.clone();
        async move {
            let authorization = bearer(who);
            send(
                &app,
                "POST",
                "/api/v1/agents/host-1/unbind",
                Some(&authorization),
                None,
            )
            .await
        }
    };
    let (status, answer, _) = unbind(ALICE_TOKEN).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("admin:agent_unbind"),
        "{answer}"
    );
    let (status, answer, _) = unbind(ROOT_TOKEN).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let unbound = last_envelope(&runtime).await;
    assert_eq!(
        unbound.event,
        aurora_events::Event::AgentUnbound {
            agent: aurora_events::AgentId("host-1".into()),
            principal: "agent-vm1".into(),
        }
    );
    assert_eq!(unbound.actor, Actor::User("root".into()));

    let (status, body, _) = register(VM2_TOKEN, "host-1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        last_envelope(&runtime).await.event,
        aurora_events::Event::AgentBound {
            agent: aurora_events::AgentId("host-1".into()),
            principal: "agent-vm2".into(),
        }
    );
}
