//! The scheduler runtime behind its HTTP API, in process: jobs are created, placed on an agent
//! that registers and heartbeats over the API, run, and are killed; bad requests are refused
//! with a structured error and journal nothing; a restarted scheduler recovers the same state.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

mod in_process;

use aurora_events::{ScheduleStatus, Tier};
use aurora_journal::{CheckpointStore, Journal, MemoryJournal, MemoryStore};
use aurora_scheduler::api::{Heartbeat, TaskView};
use aurora_scheduler::runtime::{CHECKPOINT, Runtime, recover_at, recover_to};
use aurora_scheduler_core::Settings;
use axum::Router;
use axum::http::StatusCode;
use in_process::{call, eventually};
use serde_json::{Value, json};

fn hello_config() -> Value {
    let mut config = aurora_events::samples::task_config();
    config.sla_policy = None;
    config.tier = Tier::Preemptible;
    config.resources.ports.clear();
    config.constraints.clear();
    serde_json::to_value(config).unwrap()
}

async fn start(store: &MemoryStore) -> (Runtime, Router) {
    let runtime = in_process::start_runtime(store).await;
    let app = in_process::insecure_api(&runtime);
    (runtime, app)
}

async fn tasks(app: &Router) -> Vec<TaskView> {
    let (status, body) = call(
        app,
        "GET",
        "/api/v1/jobs/www-data/prod/hello/tasks?all=true",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_value(body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_is_placed_launched_run_and_killed_through_the_api() {
    let store = MemoryStore::new();
    in_process::initialise(&store);
    let (runtime, app) = start(&store).await;

    let (status, body) = call(
        &app,
        "POST",
        "/api/v1/jobs",
        Some(json!({"job": "www-data/prod/hello", "config": hello_config(), "instances": 2})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let created_at = body["last_seq"].as_u64().unwrap();
    assert!(
        runtime.journal().last_seq() >= created_at,
        "read-your-writes: the seq is committed"
    );
    let pending = tasks(&app).await;
    assert_eq!(pending.len(), 2);
    assert!(pending.iter().all(|t| t.status == ScheduleStatus::Pending));
    eventually("a pending reason", async || {
        tasks(&app).await[0]
            .pending_reason
            .clone()
            .filter(|r| r == "No agents registered")
    })
    .await;
    let (status, reasons) = call(&app, "GET", "/api/v1/pending", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        reasons[pending[0].id.as_str()],
        "No agents registered",
        "every pending task's reason: {reasons}"
    );

    in_process::register_agent(&app).await;
    let launched = in_process::take_launches(&app, 2).await;
    assert_eq!(launched.len(), 2);
    assert_eq!(
        launched[0].config.executor.processes[0].name, "hello",
        "the launch carries the config"
    );
    for launch in &launched {
        for state in ["STARTING", "RUNNING"] {
            in_process::report(&app, &launch.task, state, None).await;
        }
    }
    let running = tasks(&app).await;
    assert!(
        running
            .iter()
            .all(|t| t.status == ScheduleStatus::Running && t.host.as_deref() == Some("host-1")),
        "{running:?}"
    );

    let (status, body) = call(
        &app,
        "POST",
        "/api/v1/jobs/www-data/prod/hello/kill",
        Some(json!({"instances": [1], "message": "bye"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let killed = eventually("the kill handed out", async || {
        let (_, body) = call(&app, "POST", "/api/v1/agents/agent-1/heartbeat", None).await;
        let work: Heartbeat = serde_json::from_value(body).unwrap();
        work.kill.first().cloned()
    })
    .await;
    let report = json!({"task": killed, "status": "KILLED", "message": "killed"});
    call(&app, "POST", "/api/v1/agents/agent-1/status", Some(report)).await;
    let after: Vec<_> = tasks(&app)
        .await
        .into_iter()
        .map(|t| (t.instance, t.status))
        .collect();
    assert!(
        after.contains(&(0, ScheduleStatus::Running))
            && after.contains(&(1, ScheduleStatus::Killed)),
        "{after:?}"
    );

    // Explicit reconciliation: the agent must register again, and a task it no longer runs is
    // LOST.
    let (status, body) = call(&app, "POST", "/api/v1/admin/reconcile", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("1 agent"),
        "{body}"
    );
    let (status, _) = call(&app, "POST", "/api/v1/agents/agent-1/heartbeat", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "asked to re-register");
    // Registering again without the task: it is LOST.
    in_process::register_agent(&app).await;
    let lost = tasks(&app).await;
    assert!(
        lost.iter()
            .any(|t| t.instance == 0 && t.status == ScheduleStatus::Lost),
        "{lost:?}"
    );

    // Nothing to kill is not an error.
    let (status, body) = call(
        &app,
        "POST",
        "/api/v1/jobs/www-data/prod/nothing/kill",
        None,
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (StatusCode::OK, Some("No tasks to kill."))
    );

    // A restarted scheduler folds the same state out of the journal (compared at one seq, since
    // timer decisions keep committing in the background).
    let (seq, live) = {
        let state = runtime.state();
        (state.last_seq(), state.digest())
    };
    let journal = MemoryJournal::open(store.clone()).unwrap();
    let recovered = recover_to(&journal, Settings::default(), seq)
        .await
        .unwrap();
    assert_eq!(recovered.last_seq(), seq);
    assert_eq!(recovered.digest(), live);

    // With a checkpoint (admin snapshot), recovery starts there and still gives the same state.
    let (status, body) = call(&app, "POST", "/api/v1/admin/snapshot", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let checkpoint_seq = body["last_seq"].as_u64().unwrap();
    let checkpoint = journal
        .latest_checkpoint(CHECKPOINT)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(checkpoint.seq, checkpoint_seq);
    let last = journal.last_seq();
    let from_checkpoint = recover_at(&journal, &journal, Settings::default(), last)
        .await
        .unwrap();
    let from_scratch = recover_to(&journal, Settings::default(), last)
        .await
        .unwrap();
    assert_eq!(from_checkpoint.digest(), from_scratch.digest());
    // A damaged checkpoint is ignored rather than trusted.
    journal
        .put_checkpoint(CHECKPOINT, last, vec![9, 9, 9])
        .await
        .unwrap();
    let despite_damage = recover_at(&journal, &journal, Settings::default(), last)
        .await
        .unwrap();
    assert_eq!(despite_damage.digest(), from_scratch.digest());
}

/// The job keys `GET uri` lists.
async fn listed(app: &Router, uri: &str) -> Vec<String> {
    let (status, body) = call(app, "GET", uri, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array()
        .unwrap()
        .iter()
        .map(|job| job["job"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_job_lists_name_jobs_with_active_tasks_and_cron_jobs_as_get_jobs() {
    let store = MemoryStore::new();
    in_process::initialise(&store);
    let (_runtime, app) = start(&store).await;
    let with_job = |job: &str, service: bool| {
        let mut config = hello_config();
        let parts: Vec<&str> = job.split('/').collect();
        config["job"] = json!({"role": parts[0], "environment": parts[1], "name": parts[2]});
        config["is_service"] = json!(service);
        config
    };
    for name in ["running", "killed"] {
        let job = format!("www-data/prod/{name}");
        let request = json!({"job": job, "config": with_job(&job, true), "instances": 1});
        let (status, body) = call(&app, "POST", "/api/v1/jobs", Some(request)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // A pending task is killed at once: the job keeps only a KILLED task.
    let (status, body) = call(&app, "POST", "/api/v1/jobs/www-data/prod/killed/kill", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for name in ["nightly", "descheduled"] {
        let job = format!("www-data/prod/{name}");
        let request = json!({
            "job": job,
            "config": with_job(&job, false),
            "instances": 1,
            "cron_schedule": "0 3 * * *",
        });
        let (status, body) = call(&app, "POST", "/api/v1/cron", Some(request)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = call(
        &app,
        "POST",
        "/api/v1/cron/www-data/prod/descheduled/deschedule",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Every job with tasks or a template, as Aurora's getJobSummary (the role page).
    let all = listed(&app, "/api/v1/jobs?role=www-data").await;
    assert_eq!(
        all,
        [
            "www-data/prod/killed",
            "www-data/prod/nightly",
            "www-data/prod/running"
        ]
    );
    // Only jobs with an active task, and cron jobs (even between runs), as getJobs.
    let expected = ["www-data/prod/nightly", "www-data/prod/running"];
    assert_eq!(
        listed(&app, "/api/v1/jobs?role=www-data&active=true").await,
        expected
    );
    assert_eq!(listed(&app, "/api/v1/jobs?active=true").await, expected);
    assert!(
        listed(&app, "/api/v1/jobs?role=nobody&active=true")
            .await
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_named_and_journal_nothing() {
    let store = MemoryStore::new();
    in_process::initialise(&store);
    let (runtime, app) = start(&store).await;
    let (status, body) = call(&app, "GET", "/api/v1/no-such-thing", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body["code"], "NOT_FOUND",
        "unknown endpoints answer JSON: {body}"
    );
    // A query string that does not parse is the API's JSON error too, naming the field.
    let (status, body) = call(&app, "GET", "/api/v1/jobs?at=1&at=2", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "INVALID_REQUEST", "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("bad query string") && m.contains("`at`")),
        "{body}"
    );
    // So is a path segment that does not decode (it was axum's text/plain "Invalid URL"), for
    // the read half's routes and the scheduler's own, naming the parameter.
    for (method, uri, parameter) in [
        ("GET", "/api/v1/jobs/%ff%fe/prod/hello/tasks", "`role`"),
        ("GET", "/api/v1/tasks/%ff%fe", "`id`"),
        ("POST", "/api/v1/jobs/www-data/%ff%fe/hello/kill", "`env`"),
        ("POST", "/api/v1/agents/%ff%fe/heartbeat", "`agent`"),
    ] {
        let (status, body) = call(&app, method, uri, Some(json!({}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_eq!(body["code"], "INVALID_REQUEST", "{uri}: {body}");
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("bad URL path")
                    && m.contains("Invalid UTF-8")
                    && m.contains(parameter)),
            "{uri}: {body}"
        );
    }
    let mut no_processes = hello_config();
    no_processes["executor"]["processes"] = json!([]);
    let mut zero_cpu = hello_config();
    zero_cpu["resources"]["cpus"] = json!(0.0);
    let mut production = hello_config();
    production["job"] = json!({"role": "www-data", "environment": "production", "name": "hello"});
    let update_settings = |scope: Value, group_size: u32| {
        json!({
            "strategy": {"Queue": {"group_size": group_size}},
            "max_per_instance_failures": 0,
            "max_failed_instances": 0,
            "min_wait_in_instance_running_ms": 0,
            "rollback_on_failure": true,
            "update_only_these_instances": scope,
            "block_if_no_pulses_after_ms": null,
            "sla_aware": false,
        })
    };
    // A scope of four billion instances is refused before anything is expanded.
    let huge_scope = update_settings(json!([{"first": 0, "last": u32::MAX}]), 1);
    let no_group = update_settings(json!([]), 0);
    let cases = [
        (
            "POST",
            "/api/v1/jobs/www-data/prod/hello/update",
            Some(json!({"config": hello_config(), "instances": 1, "settings": huge_scope})),
            "irrelevant to the update",
        ),
        (
            "POST",
            "/api/v1/jobs/www-data/prod/hello/update",
            Some(json!({"config": hello_config(), "instances": 1, "settings": no_group})),
            "group size",
        ),
        (
            "POST",
            "/api/v1/jobs",
            Some(json!({"job": "www-data/prod/hello"})),
            "malformed request body",
        ),
        (
            "POST",
            "/api/v1/jobs",
            Some(json!({"job": "www data/prod/hello", "config": hello_config(), "instances": 1})),
            "www data",
        ),
        (
            "POST",
            "/api/v1/jobs",
            Some(json!({"job": "www-data/prod/hello", "config": no_processes, "instances": 1})),
            "has no processes",
        ),
        (
            "POST",
            "/api/v1/jobs",
            Some(json!({"job": "www-data/prod/hello", "config": zero_cpu, "instances": 1})),
            "cpu must be greater than 0",
        ),
        (
            "POST",
            "/api/v1/jobs",
            Some(json!({"job": "www-data/production/hello", "config": production, "instances": 1})),
            r"Job environment production doesn't match: ^(prod|devel|test|staging\d*)$",
        ),
        (
            "POST",
            "/api/v1/maintenance/explode",
            Some(json!({"hosts": []})),
            "unknown maintenance action",
        ),
        (
            "PUT",
            "/api/v1/quota/www-data",
            Some(json!({"cpus": -1.0, "ram_mb": 0, "disk_mb": 0})),
            "quota cpus",
        ),
    ];
    for (method, uri, body, needle) in cases {
        let before = runtime.journal().last_seq();
        let (status, answer) = call(&app, method, uri, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {answer}");
        assert_eq!(answer["code"], "INVALID_REQUEST");
        assert!(
            answer["message"].as_str().unwrap().contains(needle),
            "{uri}: {answer} should name {needle:?}"
        );
        // Timer decisions may commit in the background, but never this request's events.
        let added = runtime.journal().last_seq() - before;
        let jobs = runtime.state().jobs().len();
        assert_eq!(
            jobs, 0,
            "{uri}: nothing was created ({added} background events)"
        );
    }
    let (status, answer) = call(&app, "POST", "/api/v1/agents/nobody/heartbeat", None).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("NOT_FOUND"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_group_configs_filter_tasks_and_show_configs_only_when_asked() {
    let store = MemoryStore::new();
    in_process::initialise(&store);
    let (_runtime, app) = start(&store).await;
    let (status, body) = call(
        &app,
        "POST",
        "/api/v1/jobs",
        Some(json!({"job": "www-data/prod/hello", "config": hello_config(), "instances": 4})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = call(
        &app,
        "POST",
        "/api/v1/jobs/www-data/prod/hello/kill",
        Some(json!({"instances": [1]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Config summary: the active instances 0, 2, 3 under one config, as two ranges.
    let (status, summary) = call(
        &app,
        "GET",
        "/api/v1/jobs/www-data/prod/hello/config-summary",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    let summary: aurora_api::ConfigSummary = serde_json::from_value(summary).unwrap();
    assert_eq!(summary.groups.len(), 1);
    let ranges: Vec<(u32, u32)> = summary.groups[0]
        .instances
        .iter()
        .map(|r| (r.first, r.last))
        .collect();
    assert_eq!(ranges, vec![(0, 0), (2, 3)]);
    assert_eq!(summary.groups[0].config.executor.name, "hello");

    // Task queries: without configs by default, with them when asked; filters by state and
    // instance.
    let (_, plain) = call(&app, "GET", "/api/v1/tasks?role=www-data", None).await;
    let plain: Vec<TaskView> = serde_json::from_value(plain).unwrap();
    assert_eq!(plain.len(), 3, "the killed PENDING task was deleted");
    assert!(plain.iter().all(|t| t.task_config.is_none()));
    let (_, full) = call(
        &app,
        "GET",
        "/api/v1/tasks?role=www-data&env=prod&job=hello&statuses=pending&instances=2-3&configs=true",
        None,
    )
    .await;
    let full: Vec<TaskView> = serde_json::from_value(full).unwrap();
    assert_eq!(
        full.iter().map(|t| t.instance).collect::<Vec<_>>(),
        vec![2, 3]
    );
    assert!(full.iter().all(|t| t.task_config.is_some()));
    let (_, other_role) = call(&app, "GET", "/api/v1/tasks?role=nobody", None).await;
    assert_eq!(other_role, json!([]));
    let (status, bad) = call(&app, "GET", "/api/v1/tasks?statuses=SLEEPING", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        bad["message"].as_str().unwrap().contains("SLEEPING"),
        "{bad}"
    );
    let (status, bad) = call(&app, "GET", "/api/v1/tasks?instances=3-1", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    // A spec that would name millions of instances is refused before anything is built.
    let many: Vec<String> = (0..3300u32)
        .map(|i| format!("{}-{}", i * 100_000, i * 100_000 + 99_999))
        .collect();
    let uri = format!("/api/v1/tasks?instances={}", many.join(","));
    let (status, bad) = call(&app, "GET", &uri, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    assert!(
        bad["message"].as_str().unwrap().contains("at most"),
        "{bad}"
    );
    let (status, bad) = call(
        &app,
        "GET",
        "/api/v1/tasks?instances=0-99999,100000-100001",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");

    // Host status answers for known hosts only, as Aurora's maintenanceStatus: a host never
    // seen is left out (it used to be reported as NONE), a known one is named once.
    let (_, hosts) = call(&app, "GET", "/api/v1/maintenance?hosts=h1", None).await;
    assert_eq!(hosts, json!([]));
    in_process::register_agent(&app).await;
    let (_, hosts) = call(
        &app,
        "GET",
        "/api/v1/maintenance?hosts=h1,host-1,,host-1",
        None,
    )
    .await;
    assert_eq!(hosts, json!([{"host": "host-1", "mode": "NONE"}]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_in_the_journal_are_listed_and_shown() {
    let store = MemoryStore::new();
    let journal = in_process::initialise(&store);
    // Updates have no command yet; their events are written as the update controller will.
    let update_events: Vec<_> = aurora_events::samples::events()
        .into_iter()
        .filter(|e| {
            matches!(
                e,
                aurora_events::Event::UpdateStarted { .. }
                    | aurora_events::Event::UpdateInstanceActioned { .. }
            )
        })
        .map(|e| aurora_events::PendingEvent::new(aurora_events::Actor::User("alice".into()), e))
        .collect();
    assert_eq!(update_events.len(), 2);
    let at = aurora_journal::Clock::now(&aurora_journal::SystemClock);
    let precondition = aurora_journal::Precondition::at_end(journal.term());
    journal
        .append(aurora_journal::Append::new(precondition, at, update_events))
        .await
        .unwrap();
    drop(journal);
    let (_runtime, app) = start(&store).await;
    let key = aurora_events::samples::update_key();

    let (status, list) = call(&app, "GET", "/api/v1/updates?role=www-data", None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let list: Vec<aurora_api::UpdateSummary> = serde_json::from_value(list).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].id, key.id);
    assert_eq!(list[0].user, "alice");
    // The sample update is coordinated: the leader's controller may already have blocked it
    // for want of a pulse by the time it is listed.
    assert!(
        matches!(
            list[0].status,
            aurora_events::UpdateStatus::RollingForward
                | aurora_events::UpdateStatus::RollForwardAwaitingPulse
        ),
        "{:?}",
        list[0].status
    );
    let (_, none) = call(&app, "GET", "/api/v1/updates?statuses=ROLLED_BACK", None).await;
    assert_eq!(none, json!([]));
    let (_, for_job) = call(
        &app,
        "GET",
        "/api/v1/jobs/www-data/prod/hello/updates",
        None,
    )
    .await;
    assert_eq!(for_job.as_array().map(Vec::len), Some(1));

    let uri = format!("/api/v1/updates/www-data/prod/hello/{}", key.id);
    let (status, details) = call(&app, "GET", &uri, None).await;
    assert_eq!(status, StatusCode::OK, "{details}");
    let details: aurora_api::UpdateDetails = serde_json::from_value(details).unwrap();
    assert_eq!(details.instance_actions.len(), 1);
    let started = aurora_events::samples::events()
        .into_iter()
        .find_map(|e| match e {
            aurora_events::Event::UpdateStarted { instructions, .. } => Some(instructions),
            _ => None,
        })
        .unwrap();
    assert_eq!(details.instructions, started);
    let missing = format!(
        "/api/v1/updates/www-data/prod/hello/{}",
        aurora_events::Uuid::nil()
    );
    let (status, _) = call(&app, "GET", &missing, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Answers to agents carry the term of the leader that gave them, so that an agent can drop
/// work from a deposed leader: a new term after leading again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_to_agents_carry_the_leaders_term() {
    let store = MemoryStore::new();
    in_process::initialise(&store);
    let (runtime, app) = start(&store).await;
    in_process::register_agent(&app).await;
    let heartbeat = "/api/v1/agents/agent-1/heartbeat";
    let (status, reply) = call(&app, "POST", heartbeat, None).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["term"], 1, "{reply}");

    runtime.step_down();
    let (status, reply) = call(&app, "POST", heartbeat, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{reply}");
    assert_eq!(reply["code"], "NOT_LEADER", "{reply}");

    assert_eq!(runtime.lead().await.unwrap(), 2);
    in_process::register_agent(&app).await;
    let (status, reply) = call(&app, "POST", heartbeat, None).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["term"], 2, "{reply}");
}

/// The work channel: a poll open before anything is queued is answered as soon as the launch
/// is decided, and again as soon as a kill is; with nothing queued it answers empty after the
/// wait it asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_polls_are_answered_as_soon_as_work_is_queued() {
    let store = MemoryStore::new();
    in_process::initialise(&store);
    let (_runtime, app) = start(&store).await;
    in_process::register_agent(&app).await;

    let (status, idle) = call(&app, "POST", "/api/v1/agents/agent-1/work?wait_ms=50", None).await;
    assert_eq!(status, StatusCode::OK, "{idle}");
    assert_eq!(
        idle,
        json!({"launch": [], "kill": [], "term": 1}),
        "nothing queued yet, under the first leader's term"
    );

    // A poll that would wait 20 s, opened before the job exists.
    let poll = |app: Router| {
        tokio::spawn(async move {
            call(
                &app,
                "POST",
                "/api/v1/agents/agent-1/work?wait_ms=20000",
                None,
            )
            .await
        })
    };
    let launches = poll(app.clone());
    let (status, body) = call(
        &app,
        "POST",
        "/api/v1/jobs",
        Some(json!({"job": "www-data/prod/hello", "config": hello_config(), "instances": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, work) = tokio::time::timeout(std::time::Duration::from_secs(5), launches)
        .await
        .expect("answered once the scheduling pass queued the launch, not after 20 s")
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{work}");
    let work: Heartbeat = serde_json::from_value(work).unwrap();
    assert_eq!(work.launch.len(), 1);
    let task = work.launch[0].task.clone();

    let kills = poll(app.clone());
    let (status, body) = call(&app, "POST", "/api/v1/jobs/www-data/prod/hello/kill", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, work) = tokio::time::timeout(std::time::Duration::from_secs(5), kills)
        .await
        .expect("answered as soon as the kill was decided")
        .unwrap();
    let work: Heartbeat = serde_json::from_value(work).unwrap();
    assert_eq!(work.kill, vec![task]);

    // An agent this scheduler does not know must register first.
    let (status, _) = call(&app, "POST", "/api/v1/agents/nobody/work", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Status reports arriving together are decided and committed together (one append), and
/// each report's answer names the seqs of its own events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reports_each_get_their_own_seqs() {
    let store = MemoryStore::new();
    in_process::initialise(&store);
    let (runtime, app) = start(&store).await;
    in_process::register_agent(&app).await;
    let (status, body) = call(
        &app,
        "POST",
        "/api/v1/jobs",
        Some(json!({"job": "www-data/prod/hello", "config": hello_config(), "instances": 5})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let launched = in_process::take_launches(&app, 5).await;
    let reports: Vec<_> = launched
        .iter()
        .map(|launch| {
            let (app, task) = (app.clone(), launch.task.clone());
            tokio::spawn(async move {
                let report = json!({"task": task, "status": "STARTING", "message": null});
                let (status, body) =
                    call(&app, "POST", "/api/v1/agents/agent-1/status", Some(report)).await;
                assert_eq!(status, StatusCode::OK, "{body}");
                (task, body)
            })
        })
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    for report in reports {
        let (task, body) = report.await.unwrap();
        let (first, last) = (
            body["first_seq"].as_u64().unwrap(),
            body["last_seq"].as_u64().unwrap(),
        );
        assert_eq!(first, last, "one state change per report: {body}");
        assert!(seen.insert(first), "seq {first} answered twice");
        let events = runtime
            .journal()
            .read(aurora_journal::SeqRange::new(first, last))
            .await
            .unwrap();
        match &events[0].event {
            aurora_events::Event::TaskStateChanged {
                task: changed, to, ..
            } => {
                assert_eq!((changed, *to), (&task, ScheduleStatus::Starting));
            }
            other => panic!("seq {first} is not the report's own event: {other:?}"),
        }
    }
}

/// An agent's queued reports sent in one request, in order, are committed together: a task's
/// two reports in order (the second decided after the first), each task's events present once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_sent_together_are_committed_in_order() {
    let store = MemoryStore::new();
    in_process::initialise(&store);
    let (runtime, app) = start(&store).await;
    in_process::register_agent(&app).await;
    let (status, body) = call(
        &app,
        "POST",
        "/api/v1/jobs",
        Some(json!({"job": "www-data/prod/hello", "config": hello_config(), "instances": 3})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let launched = in_process::take_launches(&app, 3).await;
    let before = runtime.journal().last_seq();
    let mut reports = Vec::new();
    for launch in &launched {
        reports.push(json!({"task": launch.task, "status": "STARTING", "message": null}));
    }
    reports.push(json!({"task": launched[0].task, "status": "RUNNING", "message": "up"}));
    let (status, body) = call(
        &app,
        "POST",
        "/api/v1/agents/agent-1/status",
        Some(Value::Array(reports)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["first_seq"].as_u64(), Some(before + 1), "{body}");
    assert_eq!(body["last_seq"].as_u64(), Some(before + 4), "{body}");
    let events = runtime
        .journal()
        .read(aurora_journal::SeqRange::new(before + 1, before + 4))
        .await
        .unwrap();
    let changes: Vec<(String, ScheduleStatus, ScheduleStatus)> = events
        .iter()
        .filter_map(|e| match &e.event {
            aurora_events::Event::TaskStateChanged { task, from, to, .. } => {
                Some((task.to_string(), *from, *to))
            }
            _ => None,
        })
        .collect();
    let first = launched[0].task.to_string();
    assert_eq!(changes.len(), 4, "{changes:?}");
    assert_eq!(
        changes.last(),
        Some(&(first, ScheduleStatus::Starting, ScheduleStatus::Running)),
        "the task's second report follows its first: {changes:?}"
    );
    assert_eq!(runtime.state().illegal_transitions(), 0);
}

/// Every refusal of a request body is in the API's JSON error shape: too large is 413, whether
/// the route reads JSON or raw bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_refused_alike() {
    let store = MemoryStore::new();
    in_process::initialise(&store);
    let (_runtime, app) = start(&store).await;
    let huge = "x".repeat(3 << 20);
    for uri in ["/api/v1/jobs", "/api/v1/jobs/www-data/prod/hello/kill"] {
        let request = axum::http::Request::builder()
            .method("POST")
            .uri(uri)
            .header("content-type", "application/json")
            .body(axum::body::Body::from(format!("{{\"pad\": \"{huge}\"}}")))
            .unwrap();
        let response = tower::ServiceExt::oneshot(app.clone(), request)
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE, "{uri}");
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&bytes).expect("a JSON error");
        assert_eq!(body["code"], "REQUEST_TOO_LARGE", "{uri}: {body}");
    }
    // Names that are not names are refused where they enter.
    for job in ["www-data/./hello", "www-data/prod/.."] {
        let (status, body) = call(
            &app,
            "POST",
            "/api/v1/jobs",
            Some(json!({"job": job, "config": hello_config(), "instances": 1})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{job}: {body}");
    }
}
