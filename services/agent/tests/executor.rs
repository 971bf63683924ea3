//! Executor behaviour with real processes: each test runs one task in a temporary sandbox and
//! bounds every wait (see `support`). Kill and lifecycle tests are in `executor/kill.rs`,
//! health checks in `executor/health.rs`, daemons that leave the task's process group in
//! `executor/daemons.rs`, Docker containers (through a fake `docker`) in `executor/docker.rs`,
//! what an agent that restarts stops (the tag's record and the sweep) in `executor/leftovers.rs`.

#![allow(clippy::unwrap_used)]

#[path = "executor/support.rs"]
mod support;

#[path = "executor/kill.rs"]
mod kill;

#[path = "executor/health.rs"]
mod health;

#[path = "executor/daemons.rs"]
mod daemons;

#[path = "executor/docker.rs"]
mod docker;

#[path = "executor/leftovers.rs"]
mod leftovers;

use std::collections::BTreeMap;
use std::time::Duration;

use aurora_agent::executor::{ExecutorSettings, ProcessState, TaskContext, TaskUpdate};
use aurora_events::config::{LogDestination, LogRotation, Logger};
use pretty_assertions::assert_eq;
use support::{Harness, finished, message, process, spec, task};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_and_exit_finishes_with_its_output_logged() {
    let mut h = Harness::launch(spec(task(vec![process(
        "hello",
        "echo hello; echo oops >&2",
    )])));
    let end = h.end().await;
    assert!(finished(&end), "{end:?}");
    assert_eq!(h.seen[..2], [TaskUpdate::Starting, TaskUpdate::Running]);
    assert_eq!(h.read(".logs/hello/0/stdout"), "hello\n");
    assert_eq!(h.read(".logs/hello/0/stderr"), "oops\n");
    let status = &h.executor().processes()[0];
    assert_eq!(
        (status.state, status.runs, status.exit_code, status.pid),
        (ProcessState::Success, 1, Some(0), None)
    );
    assert!(status.started_at.is_some());
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_process_is_retried_then_fails_the_task() {
    let mut bad = process("bad", "echo run >> runs; exit 3");
    bad.max_failures = 3;
    let mut h = Harness::launch(spec(task(vec![bad])));
    let end = h.end().await;
    assert!(matches!(end, TaskUpdate::Failed { .. }), "{end:?}");
    assert!(message(&end).contains("'bad'"), "{end:?}");
    assert!(message(&end).contains("exit code 3"), "{end:?}");
    assert_eq!(h.read("runs"), "run\nrun\nrun\n");
    let status = &h.executor().processes()[0];
    assert_eq!((status.state, status.runs), (ProcessState::Failed, 3));
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_max_failures_two_tolerates_one_failed_process() {
    let mut t = task(vec![process("bad", "exit 1"), process("good", "true")]);
    t.max_failures = 2;
    let mut h = Harness::launch(spec(t));
    let end = h.end().await;
    assert!(finished(&end), "{end:?}");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_executable_fails_the_task_naming_the_process() {
    let mut h = Harness::launch(spec(task(vec![process("ghost", "/no/such/binary")])));
    let end = h.end().await;
    assert!(matches!(end, TaskUpdate::Failed { .. }), "{end:?}");
    assert!(message(&end).contains("'ghost'"), "{end:?}");
    assert!(message(&end).contains("exit code 127"), "{end:?}");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uncreatable_sandbox_fails_the_task() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    let settings = ExecutorSettings::new(file.join("sandbox"));
    let mut h = Harness::launch_settings(dir, spec(task(vec![process("a", "true")])), settings);
    let end = h.end().await;
    assert!(message(&end).contains("cannot create sandbox"), "{end:?}");
    assert_eq!(h.seen.len(), 1, "{:?}", h.seen);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordering_starts_b_after_a_succeeded() {
    let mut t = task(vec![
        process("b", "echo b >> order"),
        process("a", "sleep 0.3; echo a >> order"),
    ]);
    t.ordering = vec![vec!["a".into(), "b".into()]];
    let mut h = Harness::launch(spec(t));
    assert!(finished(&h.end().await));
    assert_eq!(h.read("order"), "a\nb\n");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_after_a_failed_one_never_runs() {
    let mut t = task(vec![process("a", "exit 1"), process("b", "touch b-ran")]);
    t.ordering = vec![vec!["a".into(), "b".into()]];
    t.max_failures = 2;
    let mut h = Harness::launch(spec(t));
    let end = h.end().await;
    assert!(message(&end).contains("'b' can never run"), "{end:?}");
    assert!(!h.path("b-ran").exists());
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_concurrency_one_serializes() {
    let step = |n: &str| {
        process(
            n,
            &format!("echo start >> log; sleep 0.2; echo end-{n} >> log"),
        )
    };
    let mut t = task(vec![step("x"), step("y"), step("z")]);
    t.max_concurrency = 1;
    let mut h = Harness::launch(spec(t));
    assert!(finished(&h.end().await));
    assert_eq!(h.read("log"), "start\nend-x\nstart\nend-y\nstart\nend-z\n");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ephemeral_process_is_killed_when_the_main_one_ends() {
    let mut side = process("side", "echo $$ > side.pid; sleep 1000");
    side.ephemeral = true;
    let main = process("main", "while [ ! -s side.pid ]; do sleep 0.02; done");
    let mut h = Harness::launch(spec(task(vec![main, side])));
    let end = h.end().await;
    assert!(finished(&end), "{end:?}");
    let side_pid: i32 = h.read("side.pid").trim().parse().unwrap();
    assert!(support::wait_dead(side_pid, Duration::from_secs(5)).await);
    let states: Vec<_> = h.executor().processes().iter().map(|p| p.state).collect();
    assert_eq!(states, [ProcessState::Success, ProcessState::Killed]);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_is_rerun_after_success() {
    let mut d = process("d", "echo run >> d.runs");
    d.daemon = true;
    d.ephemeral = true;
    d.min_duration_secs = 1;
    let main = process("main", "sleep 2.5");
    let mut h = Harness::launch(spec(task(vec![main, d])));
    assert!(finished(&h.end().await));
    let runs = h.read("d.runs").lines().count();
    assert!((2..=4).contains(&runs), "daemon ran {runs} times");
    assert!(h.path(".logs/d/1/stdout").exists());
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_final_process_runs_after_the_main_processes() {
    let mut fin = process("fin", "echo fin >> order");
    fin.is_final = true;
    let mut h = Harness::launch(spec(task(vec![
        fin,
        process("main", "sleep 0.2; echo main >> order"),
    ])));
    assert!(finished(&h.end().await));
    assert_eq!(h.read("order"), "main\nfin\n");
    let finals: Vec<_> = h
        .executor()
        .processes()
        .into_iter()
        .map(|p| (p.name, p.is_final, p.state))
        .collect();
    assert_eq!(
        finals,
        [
            ("main".to_string(), false, ProcessState::Success),
            ("fin".to_string(), true, ProcessState::Success),
        ]
    );
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_thermos_profile_is_sourced_before_each_process() {
    let t = task(vec![process("p", "echo \"$GREETING\"")]);
    let mut h = Harness::launch_with(spec(t), |sandbox| {
        std::fs::write(
            sandbox.join(".thermos_profile"),
            "export GREETING=hi-from-profile\n",
        )
        .unwrap();
    });
    assert!(finished(&h.end().await));
    assert_eq!(h.read(".logs/p/0/stdout"), "hi-from-profile\n");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ports_task_id_instance_and_hostname_are_substituted() {
    let mut s = spec(task(vec![process(
        "p",
        "echo {{thermos.ports[http]}} {{thermos.task_id}} {{mesos.instance}} {{mesos.hostname}}",
    )]));
    s.context = TaskContext {
        task_id: "t-1".into(),
        instance: 3,
        hostname: "host-a".into(),
        ports: BTreeMap::from([("http".to_string(), 8080)]),
    };
    let mut h = Harness::launch(s);
    assert!(finished(&h.end().await));
    assert_eq!(h.read(".logs/p/0/stdout"), "8080 t-1 3 host-a\n");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_template_variable_fails_the_task_before_anything_runs() {
    let mut h = Harness::launch(spec(task(vec![
        process("a", "touch a-ran"),
        process("b", "echo {{profile.version}}"),
    ])));
    let end = h.end().await;
    assert_eq!(
        h.seen,
        [
            TaskUpdate::Starting,
            TaskUpdate::Failed {
                message: "process 'b': unknown template variable {{profile.version}}".into()
            }
        ]
    );
    assert!(matches!(end, TaskUpdate::Failed { .. }));
    assert!(!h.path("a-ran").exists());
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_rotate_keeping_the_configured_backups() {
    let mut p = process("big", "head -c 3500000 /dev/zero | tr '\\0' x");
    p.logger = Logger {
        destination: LogDestination::File,
        rotate: Some(LogRotation {
            log_size_mb: 1,
            backups: 2,
        }),
    };
    let mut h = Harness::launch(spec(task(vec![p])));
    assert!(finished(&h.end().await));
    let size = |name: &str| std::fs::metadata(h.path(name)).map(|m| m.len()).ok();
    let mb = 1024 * 1024;
    assert_eq!(size(".logs/big/0/stdout"), Some(3_500_000 - 3 * mb));
    assert_eq!(size(".logs/big/0/stdout.1"), Some(mb));
    assert_eq!(size(".logs/big/0/stdout.2"), Some(mb));
    assert_eq!(size(".logs/big/0/stdout.3"), None);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destination_none_writes_no_log_files() {
    let mut p = process("quiet", "echo hidden");
    p.logger.destination = LogDestination::None;
    let mut h = Harness::launch(spec(task(vec![p])));
    assert!(finished(&h.end().await));
    assert!(!h.path(".logs/quiet/0/stdout").exists());
    h.finish().await;
}
