//! Router tests: every page, live and `?at=` a past seq, over a scripted history; escaping of
//! user-supplied text; errors; live events over server-sent events.

#[path = "../../projections/views/tests/common/mod.rs"]
mod script;

use std::sync::Arc;
use std::time::Duration;

use aurora_events::{
    Actor, AgentId, Capacity, Event, Identifier, InstanceUpdateAction, JobKey, MaintenanceMode,
    ResourceAggregate, ScheduleStatus, Seq, TaskId, Tier, UpdateKey, Uuid,
};
use aurora_projections::ReadModel;
use aurora_projections::{HistoryConfig, Queries};
use aurora_web::{WebState, app};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures::StreamExt;
use script::{Script, config, job};
use tower::ServiceExt;

const XSS: &str = "<script>alert(1)</script>";

/// What the scripted history made, and the seqs worth looking at.
struct World {
    script: Script,
    key: JobKey,
    tasks: Vec<TaskId>,
    update: UpdateKey,
    /// Both instances RUNNING, before instance 1 failed.
    both_running: Seq,
    /// Instance 1 FAILED.
    failed: Seq,
}

fn world() -> World {
    let mut s = Script::new();
    s.push(Event::ClusterInitialised {
        cluster: "devcluster".into(),
    });
    s.by(Actor::User("alice".into()));
    s.push(Event::QuotaSet {
        role: Identifier::new("www").expect("role"),
        quota: ResourceAggregate {
            cpus: 10.0,
            ram_mb: 4096,
            disk_mb: 4096,
        },
    });
    let key = job("www", "prod", "web");
    let mut web = config(&key, Tier::Preferred, 1.0, 128, false);
    web.executor.processes[0].cmdline = format!("echo '{XSS}'");
    web.metadata.insert("note".into(), XSS.into());
    let (_, tasks) = s.create_job(&web, 3);
    for host in ["h1", "h2"] {
        s.by(Actor::Agent(AgentId(format!("agent-{host}"))));
        s.push(Event::AgentRegistered {
            agent: AgentId(format!("agent-{host}")),
            host: host.into(),
            capacity: Capacity {
                cpus: 8.0,
                ram_mb: 16384,
                disk_mb: 100_000,
                gpus: 0,
                port_ranges: vec![(31000, 32000)],
            },
            attributes: Vec::new(),
            endpoint: format!("http://{host}:1338"),
        });
    }
    s.after(1000).by(Actor::Scheduler);
    s.run(&tasks[0], "h1");
    s.after(1000);
    s.run(&tasks[1], "h1");
    let both_running = s.last_seq();
    s.after(5000).by(Actor::Agent(AgentId("agent-h1".into())));
    let failed = s.change(
        &tasks[1],
        ScheduleStatus::Running,
        ScheduleStatus::Failed,
        Some(&format!("{XSS} exited with status 1")),
    );
    s.after(1000)
        .by(Actor::User("<img src=x onerror=alert(2)>".into()));
    let update = UpdateKey {
        job: key.clone(),
        id: Uuid::from_u128(0xabc),
    };
    let started = aurora_events::samples::events()
        .into_iter()
        .find_map(|e| match e {
            Event::UpdateStarted {
                instructions,
                metadata,
                ..
            } => Some(Event::UpdateStarted {
                update: update.clone(),
                user: "bob".into(),
                instructions,
                metadata,
            }),
            _ => None,
        })
        .expect("the samples have an UpdateStarted");
    s.push(started);
    s.by(Actor::Scheduler);
    s.push(Event::UpdateInstanceActioned {
        update: update.clone(),
        instance: 0,
        action: InstanceUpdateAction::InstanceUpdating,
        message: None,
    });
    s.by(Actor::User("ops".into()));
    s.push(Event::HostMaintenanceChanged {
        host: "h2".into(),
        from: MaintenanceMode::None,
        to: MaintenanceMode::Draining,
    });
    World {
        script: s,
        key,
        tasks,
        update,
        both_running,
        failed,
    }
}

fn web_state(envelopes: &[aurora_events::Envelope], checkpoint_every: u64) -> WebState {
    let read = Arc::new(ReadModel::in_memory(HistoryConfig {
        checkpoint_every,
        ..HistoryConfig::default()
    }));
    read.apply(envelopes);
    WebState {
        cluster: "devcluster".into(),
        read,
        warning: None,
        cron_zone: jiff::tz::TimeZone::UTC,
        executor_overhead: aurora_web::DEFAULT_EXECUTOR_OVERHEAD,
    }
}

fn state(world: &World, checkpoint_every: u64) -> WebState {
    web_state(world.script.envelopes(), checkpoint_every)
}

/// GETs `uri` as a browser does (naming HTML in `Accept`).
async fn get(state: &WebState, uri: &str) -> (StatusCode, String) {
    get_accepting(state, uri, "text/html,application/xhtml+xml,*/*;q=0.8").await
}

async fn get_accepting(state: &WebState, uri: &str, accept: &str) -> (StatusCode, String) {
    let request = Request::get(uri).header("accept", accept);
    let response = app(state.clone())
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("router answers");
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 64 << 20)
        .await
        .expect("body");
    (status, String::from_utf8(body.to_vec()).expect("utf-8"))
}

async fn page(state: &WebState, uri: &str) -> String {
    let (status, body) = get(state, uri).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    body
}

fn pages(world: &World) -> Vec<String> {
    vec![
        "/scheduler".into(),
        "/scheduler/www".into(),
        "/scheduler/www/prod".into(),
        "/scheduler/www/prod/web".into(),
        "/scheduler/www/prod/web/history".into(),
        format!("/tasks/{}", world.tasks[1]),
        "/updates".into(),
        format!("/updates/www/prod/web/{}", world.update.id),
        "/quotas".into(),
        "/maintenance".into(),
        "/events".into(),
        "/cron".into(),
        "/agents".into(),
    ]
}

/// What Aurora's `/maintenance`, `/quotas` and `/cron` answer a script (curl's `*/*`): JSON.
async fn aurora_json(state: &WebState, uri: &str) -> serde_json::Value {
    let (status, body) = get_accepting(state, uri, "*/*").await;
    assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{uri}: {e}: {body}"))
}

#[tokio::test]
async fn scripts_get_auroras_json_where_browsers_get_pages() {
    let world = world();
    let state = state(&world, 4);
    assert_eq!(
        aurora_json(&state, "/maintenance").await,
        serde_json::json!({"DRAINED": [], "SCHEDULED": [], "DRAINING": {"h2": []}})
    );
    let quota = serde_json::json!({"www": {"cpu_cores": 10.0, "ram_mb": 4096, "disk_mb": 4096}});
    assert_eq!(aurora_json(&state, "/quotas").await, quota);
    assert_eq!(aurora_json(&state, "/quotas?role=www").await, quota);
    assert_eq!(
        aurora_json(&state, "/quotas?role=nobody").await,
        serde_json::json!({})
    );
    let (_, asked) = get_accepting(&state, "/maintenance", "application/json").await;
    assert!(asked.starts_with('{'), "{asked}");
    let (_, page) = get(&state, "/maintenance").await;
    assert!(page.starts_with("<!doctype html>"), "{page}");
}

#[tokio::test]
async fn auroras_operator_endpoints_answer_what_the_cluster_holds() {
    let world = world();
    let state = state(&world, 4);
    // tasks[0] runs on h1 (1 cpu, 128 MiB, 10 MiB disk, port 31000, and its executor's
    // 0.25 cpu and 128 MiB); tasks[1] ran there and failed, so it holds nothing; h2 runs
    // nothing and is draining; tasks[2] waits.
    let offers = aurora_json(&state, "/offers").await;
    let h1 = &offers[0];
    assert_eq!(h1["hostname"], "h1");
    assert_eq!(h1["agent_id"], "agent-h1");
    let resources = serde_json::json!([
        {"name": "cpus", "type": "SCALAR", "scalar": 6.75},
        {"name": "mem", "type": "SCALAR", "scalar": 16128.0},
        {"name": "disk", "type": "SCALAR", "scalar": 99990.0},
        {"name": "ports", "type": "RANGES", "ranges": [{"begin": 31001, "end": 32000}]},
    ]);
    assert_eq!(h1["resources"], resources);
    assert_eq!(offers[1]["resources"][0]["scalar"], 8.0, "{offers}");
    assert_eq!(offers.as_array().map(Vec::len), Some(2), "{offers}");

    let agents = aurora_json(&state, "/slaves").await;
    assert_eq!(agents[0]["tasks"], 1, "{agents}");
    assert_eq!(agents[1]["mode"], "DRAINING", "{agents}");
    let (_, page) = get(&state, "/agents").await;
    assert!(
        page.contains("agent-h2") && page.contains("6.75 cpus"),
        "{page}"
    );

    let pending = aurora_json(&state, "/pendingtasks").await;
    assert_eq!(
        pending,
        serde_json::json!([{
            "name": "www/prod/web",
            "taskIds": [world.tasks[2].to_string()],
            "reason": null,
        }])
    );

    let dump = aurora_json(&state, "/state").await;
    let hash = dump["agents"]["agent-h1"]["tasks"][world.tasks[0].to_string()]
        .as_str()
        .unwrap_or_else(|| panic!("h1 holds tasks[0]: {dump}"))
        .to_string();
    assert_eq!(dump["configs"][&hash]["resources"]["ram_mb"], 128, "{dump}");
    assert_eq!(dump["agents"]["agent-h2"]["tasks"], serde_json::json!({}));

    // Errors are JSON too, for a script; media types are case-insensitive.
    for uri in [
        "/agents?at=abc",
        "/offers?at=abc",
        "/state?at=abc",
        "/maintenance?at=abc",
        "/pendingtasks?at=1",
    ] {
        let (status, body) = get_accepting(&state, uri, "*/*").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        let error: serde_json::Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{uri}: {e}: {body}"));
        assert_eq!(error["code"], "INVALID_REQUEST", "{uri}: {body}");
    }
    let (_, page) = get_accepting(&state, "/agents", "TEXT/HTML").await;
    assert!(page.starts_with("<!doctype html>"), "{page}");

    assert_eq!(
        aurora_json(&state, "/tiers").await,
        serde_json::json!({
            "default": "preemptible",
            "tiers": {
                "preferred": {"revocable": false, "preemptible": false},
                "preemptible": {"revocable": false, "preemptible": true},
                "revocable": {"revocable": true, "preemptible": true},
            },
        })
    );
}

#[tokio::test]
async fn every_page_renders_now_and_at_a_past_seq() {
    let world = world();
    let state = state(&world, 4);
    let last = world.script.last_seq();
    for uri in pages(&world) {
        let body = page(&state, &uri).await;
        assert!(body.starts_with("<!doctype html>"), "{uri}");
        assert!(body.contains("devcluster"), "{uri} names the cluster");
        assert!(
            !body.contains("id=\"time-travel\""),
            "{uri} live has no banner"
        );
        let past = page(&state, &format!("{uri}?at={last}")).await;
        assert!(
            past.contains("id=\"time-travel\""),
            "{uri}?at= has the banner"
        );
        assert!(past.contains(&format!("seq {last}</strong>")), "{uri}");
        assert!(
            past.contains(&format!("href=\"{uri}?at={}\"", last - 1)),
            "{uri}?at= links one event back: {past}"
        );
        assert!(
            past.contains(&format!("href=\"{uri}\" class=\"now\"")),
            "{uri}"
        );
    }
    assert_eq!(get(&state, "/health").await, (StatusCode::OK, "OK".into()));
    let (status, css) = get(&state, "/static/aurora.css").await;
    assert_eq!(status, StatusCode::OK);
    assert!(css.contains(".banner"));
}

#[tokio::test]
async fn pages_show_what_the_history_says() {
    let world = world();
    let state = state(&world, 1000);
    let home = page(&state, "/scheduler").await;
    assert!(home.contains("href=\"/scheduler/www\""), "{home}");

    let job = page(&state, "/scheduler/www/prod/web").await;
    assert!(job.contains("RUNNING"), "{job}");
    assert!(job.contains("FAILED"), "{job}");
    assert!(job.contains("PENDING"), "{job}");
    assert!(job.contains(&format!("href=\"/tasks/{}\"", world.tasks[0])));
    assert!(
        job.contains("id=\"active-update\""),
        "the active update is shown"
    );
    assert!(job.contains("1 cpus, 128 MiB ram"), "{job}");

    let task = page(&state, &format!("/tasks/{}", world.tasks[1])).await;
    assert!(task.contains("<svg"), "the lifecycle is drawn");
    for status in ["PENDING", "ASSIGNED", "STARTING", "RUNNING", "FAILED"] {
        assert!(
            task.contains(&format!(">{status}</text>")),
            "{status} step: {task}"
        );
    }
    assert!(task.contains("agent:agent-h1"), "actors are shown");
    assert!(task.contains("http://h1:1338/tasks/"), "observer link");
    assert!(
        task.contains("/scheduler/www/prod/web/history"),
        "links to history"
    );

    let maintenance = page(&state, "/maintenance").await;
    let draining = maintenance.find("DRAINING").expect("draining section");
    let none = maintenance.find(">NONE").expect("in-service section");
    let h2 = maintenance.find(">h2<").expect("h2 listed");
    assert!(draining < h2 && h2 < none, "h2 is listed as draining");

    let update = page(
        &state,
        &format!("/updates/www/prod/web/{}", world.update.id),
    )
    .await;
    assert!(update.contains("INSTANCE_UPDATING"), "{update}");
    assert!(update.contains("batches of 1, then 2, then 3"), "{update}");

    let history = page(&state, "/scheduler/www/prod/web/history").await;
    assert!(
        history.contains(&format!("?at={}", world.failed)),
        "{history}"
    );
}

#[tokio::test]
async fn user_text_is_escaped_everywhere() {
    let world = world();
    let state = state(&world, 1000);
    let mut uris = pages(&world);
    uris.push(format!("/tasks/{}?at={}", world.tasks[1], world.failed));
    for uri in &uris {
        let body = page(&state, uri).await;
        assert!(
            !body.contains("<script>alert"),
            "{uri} has a raw <script>: {body}"
        );
        assert!(!body.contains("<img src=x"), "{uri} has a raw <img>");
    }
    let job = page(&state, "/scheduler/www/prod/web").await;
    assert!(
        job.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "cmdline shown escaped: {job}"
    );
    let task = page(&state, &format!("/tasks/{}", world.tasks[1])).await;
    assert!(
        task.contains("&#60;script&#62;alert(1)&#60;/script&#62; exited"),
        "{task}"
    );
    let events = page(&state, "/events").await;
    assert!(
        events.contains("&#60;img src=x onerror=alert(2)&#62;"),
        "actor escaped: {events}"
    );
    // A name in the path is echoed escaped on the 404 page.
    let (status, body) = get(&state, "/scheduler/%3Cscript%3Ealert(1)%3C%2Fscript%3E").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!body.contains("<script>alert"), "{body}");
    assert!(body.contains("&#60;script&#62;"), "{body}");
}

#[tokio::test]
async fn at_shows_the_job_as_it_was() {
    let world = world();
    let state = state(&world, 3);
    let before = page(
        &state,
        &format!("/scheduler/www/prod/web?at={}", world.both_running),
    )
    .await;
    assert!(!before.contains("FAILED"), "not failed yet: {before}");
    assert!(!before.contains("id=\"active-update\""), "no update yet");
    let after = page(
        &state,
        &format!("/scheduler/www/prod/web?at={}", world.failed),
    )
    .await;
    assert!(after.contains("FAILED"));
    // Links on a past page stay in the past.
    assert!(after.contains(&format!(
        "href=\"/tasks/{}?at={}\"",
        world.tasks[0], world.failed
    )));
    // Before the job existed: 404, not an empty page.
    let (status, body) = get(&state, "/scheduler/www/prod/web?at=2").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body.contains("no job www/prod/web as of seq 2"), "{body}");
    assert!(
        body.contains("href=\"/scheduler/www/prod/web?at=3\""),
        "the missing past page still steps forward: {body}"
    );
    // By time: the last event at or before it.
    let at = world.script.envelopes()[world.failed as usize - 1].at;
    let instant = jiff::Timestamp::from_millisecond(at.0).expect("time");
    let by_time = page(&state, &format!("/scheduler/www/prod/web?at={instant}")).await;
    assert!(
        by_time.contains(&format!("seq {}</strong>", world.failed)),
        "{by_time}"
    );
}

/// The page without its time-travel banner and with the moment's `?at=` dropped from links.
fn without_moment(page: &str, seq: Seq) -> String {
    let page = match (page.find("<div class=\"banner\""), page.find("<main>")) {
        (Some(from), Some(to)) => format!("{}{}", &page[..from], &page[to..]),
        _ => page.to_string(),
    };
    page.replace(&format!("?at={seq}\""), "\"")
        .replace(PAST_ONLY_NOTE, "")
}

/// The one line a past job page has that the live one does not.
const PAST_ONLY_NOTE: &str =
    "<p class=\"meta\">Pending reasons are not kept in the journal; the live page shows them.</p>";

#[tokio::test]
async fn past_job_pages_match_fresh_folds_of_the_prefix() {
    let world = world();
    let state = state(&world, 4);
    let envelopes = world.script.envelopes();
    let uri = "/scheduler/www/prod/web";
    let mut compared = 0;
    for seq in 1..=world.script.last_seq() {
        // A model that only ever saw events 1..=seq, read live.
        let prefix = web_state(&envelopes[..seq as usize], 1000);
        let fresh = prefix.read.live(|v| v.job(&world.key));
        let past = state.read.past(seq).expect("past view").job(&world.key);
        assert_eq!(past, fresh, "job view at seq {seq}");
        let (status, past_page) = get(&state, &format!("{uri}?at={seq}")).await;
        let (fresh_status, fresh_page) = get(&prefix, uri).await;
        assert_eq!(status, fresh_status, "seq {seq}");
        if status == StatusCode::OK {
            assert_eq!(
                without_moment(&past_page, seq),
                fresh_page,
                "job page at seq {seq}"
            );
            compared += 1;
        }
    }
    assert!(compared >= 10, "the job exists for most of the history");
}

#[tokio::test]
async fn the_audit_trail_at_a_past_seq_stops_there() {
    let world = world();
    let state = state(&world, 1000);
    // seq 2: alice's quota; the job she created comes after it.
    let now = page(&state, "/audit").await;
    assert!(
        now.contains("quota set") && now.contains("job create"),
        "{now}"
    );
    let past = page(&state, "/audit?at=2").await;
    assert!(past.contains("quota set"), "{past}");
    assert!(!past.contains("job create"), "nothing after seq 2: {past}");
    assert!(past.contains("seq 2"), "the past's banner: {past}");
    let api = aurora_web::api::router(Arc::clone(&state.read));
    let response = api
        .oneshot(
            Request::get("/api/v1/audit?at=2&to=9999")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("answer");
    assert_eq!(
        response.status(),
        StatusCode::BAD_REQUEST,
        "to=9999 is past the end"
    );
    let api = aurora_web::api::router(Arc::clone(&state.read));
    let response = api
        .oneshot(
            Request::get("/api/v1/audit?at=2")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("answer");
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    let audit: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(actions, ["quota set"], "{audit}");
}

#[tokio::test]
async fn bad_moments_and_unknown_things_are_clear_errors() {
    let world = world();
    let state = state(&world, 1000);
    let last = world.script.last_seq();
    let (status, body) = get(&state, "/scheduler?at=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("RFC 3339"), "{body}");
    let (status, body) = get(&state, &format!("/scheduler?at={}", last + 1)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains(&format!("seq {last}")), "{body}");
    // A query string that does not parse: the error page to a browser, JSON to a script.
    let (status, body) = get(&state, "/scheduler?at=1&at=2").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("<html") && body.contains("bad query string") && body.contains("`at`"),
        "{body}"
    );
    // A path segment that does not decode: the error page to a browser (axum's text/plain
    // "Invalid URL" before), JSON to a script, each naming the parameter.
    let (status, body) = get(&state, "/scheduler/%ff%fe").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("<html") && body.contains("Invalid UTF-8 in `role`"),
        "{body}"
    );
    let (status, body) = get_accepting(&state, "/scheduler/www/%ff%fe/web", "*/*").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let error: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(error["code"], "INVALID_REQUEST", "{body}");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("Invalid UTF-8 in `env`")),
        "{body}"
    );
    let (status, body) = get_accepting(&state, "/quotas?role=a&role=b", "*/*").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let error: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(error["code"], "INVALID_REQUEST", "{body}");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("`role`")),
        "{body}"
    );
    for uri in [
        "/scheduler/nobody",
        "/scheduler/www/staging",
        "/scheduler/www/prod/nothing",
        "/tasks/no-such-task",
        "/updates/www/prod/web/not-a-uuid",
        "/nowhere",
    ] {
        let (status, body) = get(&state, uri).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}: {body}");
    }
    let response = app(state.clone())
        .oneshot(Request::get("/").body(Body::empty()).expect("request"))
        .await
        .expect("answer");
    assert!(response.status().is_redirection());
    assert_eq!(response.headers()["location"], "/scheduler");
}

#[tokio::test]
async fn the_event_stream_sends_what_is_folded_after_connecting() {
    let world = world();
    let all = world.script.envelopes();
    // Fold all but the last two events, connect, then fold them.
    let state = web_state(&all[..all.len() - 2], 1000);
    let response = app(state.clone())
        .oneshot(
            Request::get("/events/stream")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("answer");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut frames = response.into_body().into_data_stream();
    state.read.apply(all);
    let mut received = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let last = all.len();
    while !received.contains(&format!("id: {last}")) {
        let frame = tokio::time::timeout_at(deadline, frames.next())
            .await
            .expect("the stream sends the new events within 5 s")
            .expect("stream open")
            .expect("frame");
        received.push_str(&String::from_utf8_lossy(&frame));
    }
    assert!(received.contains("event: activity"), "{received}");
    assert!(
        received.contains(&format!("id: {}", last - 1)),
        "{received}"
    );
    assert!(
        !received.contains(&format!("id: {}\n", last - 2)),
        "events folded before connecting are not re-sent: {received}"
    );
}

/// An observer link is only ever an http(s) URL: an endpoint journaled as anything else (the
/// scheduler now refuses such registrations) is not rendered as a link.
#[tokio::test]
async fn only_http_observer_endpoints_become_links() {
    let mut s = Script::new();
    s.push(Event::ClusterInitialised {
        cluster: "devcluster".into(),
    });
    let key = job("www", "prod", "web");
    let (_, tasks) = s.create_job(&config(&key, Tier::Preemptible, 1.0, 128, false), 2);
    for (host, endpoint) in [
        ("evil", "javascript:alert(document.domain)//x"),
        ("good", "http://good:1338"),
    ] {
        s.push(Event::AgentRegistered {
            agent: AgentId(format!("agent-{host}")),
            host: host.into(),
            capacity: Capacity {
                cpus: 8.0,
                ram_mb: 16384,
                disk_mb: 100_000,
                gpus: 0,
                port_ranges: vec![(31000, 32000)],
            },
            attributes: Vec::new(),
            endpoint: endpoint.into(),
        });
    }
    s.run(&tasks[0], "evil");
    s.run(&tasks[1], "good");
    let state = web_state(s.envelopes(), 1000);
    let evil = page(&state, &format!("/tasks/{}", tasks[0])).await;
    assert!(!evil.contains("javascript:"), "{evil}");
    assert!(!evil.contains("Sandbox"), "no observer link: {evil}");
    let good = page(&state, &format!("/tasks/{}", tasks[1])).await;
    assert!(
        good.contains(&format!("href=\"http://good:1338/tasks/{}\"", tasks[1])),
        "{good}"
    );
}

/// The live stream is one shared feed: clients beyond the cap are refused (and let in again
/// when one leaves), and a client that does not read is dropped once it falls too far behind,
/// never waited for.
#[tokio::test]
async fn the_event_stream_caps_clients_and_drops_the_slow() {
    let mut world = world();
    let state = web_state(world.script.envelopes(), 1000);
    let router = app(state.clone());
    let connect = || {
        router.clone().oneshot(
            Request::get("/events/stream")
                .body(Body::empty())
                .expect("request"),
        )
    };
    let mut open = Vec::new();
    for _ in 0..256 {
        let response = connect().await.expect("answer");
        assert_eq!(response.status(), StatusCode::OK);
        open.push(response);
    }
    let refused = connect().await.expect("answer");
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let slow = open.pop().expect("a client").into_body();
    drop(open);
    assert_eq!(connect().await.expect("answer").status(), StatusCode::OK);

    // More batches than a client may lag behind (16, a batch per 100 ms at most), while the
    // slow client reads nothing.
    let s = &mut world.script;
    let first_new = s.last_seq() + 1;
    for n in 0..24u64 {
        s.push(Event::QuotaSet {
            role: Identifier::new("www").expect("role"),
            quota: ResourceAggregate {
                cpus: 1.0,
                ram_mb: n,
                disk_mb: 1,
            },
        });
    }
    for envelope in &s.envelopes()[first_new as usize - 1..] {
        state.read.apply(std::slice::from_ref(envelope));
        tokio::time::sleep(Duration::from_millis(120)).await;
    }
    let mut frames = slow.into_data_stream();
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(frame) = frames.next().await {
            frame.expect("frame");
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the slow client's stream ends instead of waiting for it"
    );
}

#[tokio::test]
async fn the_cron_page_lists_schedules_next_runs_and_last_outcomes() {
    use aurora_events::event::{CronCollisionPolicy, CronOutcome};
    let mut s = Script::new();
    s.push(Event::ClusterInitialised {
        cluster: "devcluster".into(),
    });
    let empty = page(&web_state(s.envelopes(), 4), "/cron").await;
    assert!(empty.contains("id=\"cron-empty\""), "{empty}");
    assert_eq!(
        aurora_json(&web_state(s.envelopes(), 4), "/cron").await,
        serde_json::json!({"scheduled": {}})
    );

    s.by(Actor::User("alice".into()));
    let key = job("www", "prod", "nightly");
    let nightly = config(&key, Tier::Preemptible, 0.5, 64, false);
    s.push(Event::CronScheduled {
        job: key.clone(),
        config: nightly.hash(),
        instances: 2,
        schedule: "0 3 * * *".into(),
        collision_policy: CronCollisionPolicy::CancelNew,
    });
    let scheduled = s.last_seq();
    assert_eq!(
        aurora_json(&web_state(s.envelopes(), 4), "/cron").await,
        serde_json::json!({"scheduled": {"www/prod/nightly": "0 3 * * *"}})
    );
    s.by(Actor::Scheduler);
    s.push(Event::CronTriggered {
        job: key.clone(),
        outcome: CronOutcome::Launched,
    });
    let state = web_state(s.envelopes(), 4);

    let live = page(&state, "/cron").await;
    assert!(
        live.contains("href=\"/scheduler/www/prod/nightly\""),
        "{live}"
    );
    assert!(live.contains("<code>0 3 * * *</code>"), "{live}");
    assert!(live.contains("CANCEL_NEW"), "{live}");
    assert!(live.contains("launched"), "{live}");
    assert!(live.contains("Schedules are read in UTC"), "{live}");
    // Live, the next run is a 03:00 UTC to come.
    assert!(live.contains(" 03:00:00"), "{live}");
    assert!(live.contains("class=\"current\">Cron</a>"), "{live}");

    // Before the trigger: scheduled, never run, and no prediction on a past page.
    let past = page(&state, &format!("/cron?at={scheduled}")).await;
    assert!(past.contains("<code>0 3 * * *</code>"), "{past}");
    assert!(past.contains("never"), "{past}");
    assert!(!past.contains(" 03:00:00"), "{past}");
}
