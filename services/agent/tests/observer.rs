//! The observer over a real executor: a task's live process states and its stdout, read through
//! the router while it runs and after it ended; and `daemon::serve` serving it on loopback.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aurora_agent::daemon::{self, AgentConfig, Running, RunningTask};
use aurora_agent::executor::{Executor, ExecutorSettings, TaskContext, TaskSpec, TaskUpdate};
use aurora_agent::observer::{ObserverState, TaskView, observer_router};
use aurora_events::config::{Logger, Process, ThermosTask};
use aurora_events::{AgentId, Capacity, TaskId};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt;

const WAIT: Duration = Duration::from_secs(20);

fn spec(cmdline: &str) -> TaskSpec {
    TaskSpec {
        task: ThermosTask {
            name: "obs".into(),
            processes: vec![Process {
                name: "hello".into(),
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
            finalization_wait_secs: 5,
        },
        lifecycle: None,
        health_check: None,
        context: TaskContext::default(),
        container: None,
    }
}

async fn get(router: &Router, uri: &str) -> (StatusCode, String) {
    let response = router
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

async fn detail(router: &Router, task: &str) -> TaskView {
    let (status, body) = get(router, &format!("/tasks/{task}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[tokio::test]
async fn a_running_task_and_then_its_sandbox_are_readable_through_the_observer() {
    tracing::info!("given a task that prints and then sleeps, launched into a shared running map");
    let dir = tempfile::tempdir().unwrap();
    let sandboxes = dir.path().join("sandboxes");
    let task = TaskId::from_raw("www-data-prod-obs-0-abc");
    let mut settings = ExecutorSettings::new(sandboxes.join(task.as_str()));
    settings.kill_grace = Duration::from_millis(500);
    let (executor, mut updates) = Executor::launch(spec("echo hello observer; sleep 60"), settings);
    let running: Running = Arc::new(Mutex::new(BTreeMap::new()));
    running.lock().unwrap().insert(
        task.clone(),
        RunningTask {
            executor,
            role: "www-data".into(),
            context: TaskContext::default(),
        },
    );
    let router = observer_router(ObserverState::new(&sandboxes, Arc::clone(&running)));
    let log = format!("/tasks/{task}/logs/hello/stdout");

    tracing::info!("when it runs, its stdout and live process state are served");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (status, body) = get(&router, &log).await;
        if status == StatusCode::OK && body == "hello observer\n" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "stdout never showed up: {status} {body:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) = get(&router, "/tasks").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, format!("[\"{task}\"]"));
    let view = detail(&router, task.as_str()).await;
    assert!(view.running);
    assert_eq!(view.processes.len(), 1, "{view:?}");
    let process = &view.processes[0];
    assert_eq!(
        (
            process.name.as_str(),
            process.state.as_deref(),
            process.runs
        ),
        ("hello", Some("RUNNING"), 1)
    );
    assert!(
        process.pid.is_some() && process.started_at.is_some(),
        "{process:?}"
    );

    tracing::info!("when it is killed and leaves the running map, its logs stay readable");
    let executor = running.lock().unwrap().remove(&task).unwrap().executor;
    executor.kill("test over");
    let end = tokio::time::timeout(WAIT, executor.wait()).await.unwrap();
    assert!(matches!(end, TaskUpdate::Killed { .. }), "{end:?}");
    while updates.try_recv().is_ok() {}
    let view = detail(&router, task.as_str()).await;
    assert!(!view.running);
    let names: Vec<(&str, u32)> = view
        .processes
        .iter()
        .map(|p| (p.name.as_str(), p.runs))
        .collect();
    assert_eq!(names, vec![("hello", 1)]);
    assert_eq!(
        get(&router, &log).await,
        (StatusCode::OK, "hello observer\n".to_string())
    );
}

#[tokio::test]
async fn serve_binds_a_free_port_and_advertises_it() {
    tracing::info!("given an agent whose scheduler is unreachable (it keeps retrying)");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("sandboxes/t-1")).unwrap();
    let config = AgentConfig {
        schedulers: vec!["http://127.0.0.1:9".into()],
        agent: AgentId("a-1".into()),
        host: "agent-host".into(),
        capacity: Capacity {
            cpus: 1.0,
            ram_mb: 128,
            disk_mb: 128,
            gpus: 0,
            port_ranges: vec![(31000, 31010)],
        },
        attributes: Vec::new(),
        work_dir: dir.path().to_path_buf(),
        heartbeat_interval: Duration::from_millis(100),
        kill_grace: Duration::from_millis(500),
        observer_addr: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))),
        credentials: None,
        tls: aurora_net::ClientTls::default(),
        observer_tls: None,
        observer_auth: aurora_agent::observer::ObserverAuth::closed(),
    };
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let serving = daemon::serve(config, shutdown).await.unwrap();

    tracing::info!("then the observer answers on the advertised loopback URL");
    let addr = serving.observer_addr.unwrap();
    assert_ne!(addr.port(), 0);
    assert_eq!(
        serving.endpoint,
        format!("http://127.0.0.1:{}", addr.port())
    );
    let client = aurora_net::ClientTls::default()
        .builder()
        .unwrap()
        .timeout(WAIT)
        .build()
        .unwrap();
    let tasks: Vec<String> = client
        .get(format!("{}/tasks", serving.endpoint))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tasks, vec!["t-1".to_string()]);

    tracing::info!("and shutdown stops both the agent and the observer");
    stop.send(true).unwrap();
    tokio::time::timeout(WAIT, serving.agent)
        .await
        .unwrap()
        .unwrap();
    assert!(
        client
            .get(format!("{}/tasks", serving.endpoint))
            .send()
            .await
            .is_err()
    );
}
