//! The `aurora update` verbs against a scripted stand-in scheduler: what they send (one retry
//! with the same client update id after a dropped connection), what they print, and their exit
//! codes for refusals, missing updates and the ends of updates. (The real scheduler is
//! exercised in `services/scheduler/tests/update_cli.rs`.)

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

mod support;

use std::path::Path;

use serde_json::{Value, json};
use support::stub::{Reply, Stub};
use support::{Cli, SERVICE, code, stderr, stdout};

fn cli(dir: &Path, port: u16) -> Cli {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_aurora"))
        .parent()
        .unwrap()
        .to_path_buf();
    Cli::new(&bin_dir, dir, port)
}

const ID: &str = "01900000-0000-7000-8000-000000000001";

fn summary(status: &str) -> Value {
    json!({
        "id": ID, "job": "tester/test/sleeper", "user": "tester", "status": status,
        "started_at": 1000, "last_modified": 2000, "last_pulse": null, "metadata": {}
    })
}

fn details(status: &str) -> Value {
    json!({
        "summary": summary(status),
        "instructions": {
            "initial_state": [],
            "desired_state": null,
            "settings": {
                "strategy": {"Queue": {"group_size": 1}},
                "max_per_instance_failures": 0, "max_failed_instances": 0,
                "min_wait_in_instance_running_ms": 1000, "rollback_on_failure": true,
                "update_only_these_instances": [], "block_if_no_pulses_after_ms": null,
                "sla_aware": false
            }
        },
        "instance_actions": {},
        "update_events": [{"status": status, "at": 1000, "user": "tester", "message": null}],
        "instance_events": []
    })
}

#[test]
fn start_retries_a_dropped_request_once_with_the_same_client_update_id() {
    let dir = tempfile::tempdir().unwrap();
    let scheduler = Stub::script(vec![
        Reply::json(200, json!({"job": "tester/test/sleeper", "groups": []})),
        Reply::Close,
        Reply::json(
            200,
            json!({"job": "tester/test/sleeper", "id": ID, "first_seq": 5, "last_seq": 6,
                   "message": null}),
        ),
    ]);
    let port = scheduler.port;
    let config = dir.path().join("sleeper.aurora");
    std::fs::write(&config, SERVICE).unwrap();
    let started = cli(dir.path(), port).aurora(&[
        "update",
        "start",
        "devcluster/tester/test/sleeper/1",
        config.to_str().unwrap(),
        "-m",
        "why not",
    ]);
    assert_eq!(code(&started), Some(0), "{}", stderr(&started));
    assert_eq!(
        stdout(&started),
        format!(
            "This job update will:\nadd instances: [1]\nJob update has started. View your update \
             progress at http://127.0.0.1:{port}/updates/tester/test/sleeper/{ID}\n"
        )
    );
    let received = scheduler.requests();
    let lines: Vec<&str> = received.iter().map(|r| r.line.as_str()).collect();
    assert_eq!(
        lines,
        [
            "GET /api/v1/jobs/tester/test/sleeper/config-summary HTTP/1.1",
            "POST /api/v1/jobs/tester/test/sleeper/update HTTP/1.1",
            "POST /api/v1/jobs/tester/test/sleeper/update HTTP/1.1",
        ]
    );
    assert_eq!(
        received[1].body, received[2].body,
        "the retry is the same request"
    );
    let request: Value = serde_json::from_str(&received[1].body).unwrap();
    assert_eq!(request["instances"], 2);
    assert_eq!(request["message"], "why not");
    assert_eq!(
        request["settings"]["update_only_these_instances"],
        json!([{"first": 1, "last": 1}])
    );
    let client_id = request["metadata"]["org.apache.aurora.client.update_id"]
        .as_str()
        .unwrap();
    assert_eq!(client_id.len(), 36, "{client_id}");
}

#[test]
fn an_unchanged_job_is_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let scheduler = Stub::script(vec![
        Reply::json(200, json!({"job": "tester/test/sleeper", "groups": []})),
        Reply::json(
            200,
            json!({"job": "tester/test/sleeper", "id": null, "first_seq": null,
                   "last_seq": null, "message": "Job is unchanged by proposed update."}),
        ),
    ]);
    let config = dir.path().join("sleeper.aurora");
    std::fs::write(&config, SERVICE).unwrap();
    let started = cli(dir.path(), scheduler.port).aurora(&[
        "update",
        "start",
        "devcluster/tester/test/sleeper",
        config.to_str().unwrap(),
    ]);
    assert_eq!(code(&started), Some(0));
    assert!(
        stdout(&started).ends_with("Job is unchanged by proposed update.\n"),
        "{}",
        stdout(&started)
    );
}

#[test]
fn steering_names_the_refusal_or_the_missing_update() {
    let dir = tempfile::tempdir().unwrap();
    let scheduler = Stub::script(vec![
        Reply::json(200, json!([summary("ROLLING_FORWARD")])),
        Reply::json(400, json!({"code": "INVALID_REQUEST", "message": "Whoops"})),
        Reply::json(200, json!([])),
    ]);
    let cli = cli(dir.path(), scheduler.port);
    let refused = cli.aurora(&[
        "update",
        "pause",
        "devcluster/tester/test/sleeper",
        "-m",
        "hi",
    ]);
    assert_eq!(code(&refused), Some(10));
    assert!(
        stderr(&refused).contains("Failed to pause update due to error:\n\tWhoops"),
        "{}",
        stderr(&refused)
    );
    let none = cli.aurora(&["update", "resume", "devcluster/tester/test/sleeper"]);
    assert_eq!(code(&none), Some(6));
    assert!(stderr(&none).contains("No active update found for this job."));
    let received = scheduler.requests();
    assert!(
        received[0].line.starts_with(
            "GET /api/v1/updates?role=tester&env=test&job=sleeper&statuses=ROLLING_FORWARD,"
        ),
        "{received:?}"
    );
    assert_eq!(
        received[1].line,
        "POST /api/v1/jobs/tester/test/sleeper/update/pause HTTP/1.1"
    );
    assert_eq!(received[1].body, r#"{"message":"hi"}"#);
}

#[test]
fn wait_prints_each_state_and_exits_by_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let scheduler = Stub::script(vec![
        Reply::json(200, details("ROLLING_FORWARD")),
        Reply::json(200, details("ROLLING_FORWARD")),
        Reply::json(200, details("ROLLING_BACK")),
        Reply::json(200, details("ROLLED_BACK")),
        Reply::json(
            404,
            json!({"code": "NOT_FOUND", "message": "no such update"}),
        ),
    ]);
    let cli = cli(dir.path(), scheduler.port);
    let waited = cli.aurora(&["update", "wait", "devcluster/tester/test/sleeper", ID]);
    assert_eq!(code(&waited), Some(4), "ROLLED_BACK is Aurora's exit 4");
    assert_eq!(
        stdout(&waited),
        "Current state ROLLING_FORWARD\nCurrent state ROLLING_BACK\nCurrent state ROLLED_BACK\n"
    );
    let missing = cli.aurora(&["update", "wait", "devcluster/tester/test/sleeper", ID]);
    assert_eq!(code(&missing), Some(6));
    assert!(stderr(&missing).contains("Job update not found."));
}

#[test]
fn wait_asks_again_through_a_scheduler_restart() {
    let dir = tempfile::tempdir().unwrap();
    let scheduler = Stub::script(vec![
        Reply::json(200, details("ROLLING_FORWARD")),
        // Restarting: first it cannot serve, then the connection drops.
        Reply::json(
            503,
            json!({"code": "ERROR_TRANSIENT", "message": "recovering the journal"}),
        ),
        Reply::Close,
        Reply::json(200, details("ROLLED_FORWARD")),
    ]);
    let cli = cli(dir.path(), scheduler.port);
    let waited = cli.aurora(&["update", "wait", "devcluster/tester/test/sleeper", ID]);
    assert_eq!(code(&waited), Some(0), "{}", stderr(&waited));
    assert_eq!(
        stdout(&waited),
        "Current state ROLLING_FORWARD\nCurrent state ROLLED_FORWARD\n"
    );
    let said = stderr(&waited);
    assert_eq!(
        said.matches("asking again for up to 120 s").count(),
        1,
        "said once: {said}"
    );
}

#[test]
fn ctrl_c_on_a_restart_says_it_goes_on_and_how_to_stop_it() {
    let dir = tempfile::tempdir().unwrap();
    let scheduler = Stub::new(|request| {
        if request.line.starts_with("POST") {
            Reply::json(
                200,
                json!({"job": "tester/test/sleeper", "id": ID, "first_seq": 5, "last_seq": 6, "message": null}),
            )
        } else if request.path.contains("/tasks") {
            Reply::json(200, json!([]))
        } else {
            Reply::json(200, details("ROLLING_FORWARD"))
        }
    });
    let cli = cli(dir.path(), scheduler.port);
    let polled = || {
        scheduler
            .received()
            .iter()
            .filter(|line| line.starts_with("GET /api/v1/updates/"))
            .count()
            >= 2
    };
    let interrupted = cli.aurora_interrupted(
        std::time::Duration::from_secs(30),
        &["job", "restart", "devcluster/tester/test/sleeper"],
        polled,
    );
    assert_eq!(code(&interrupted), Some(130), "{}", stderr(&interrupted));
    let said = stderr(&interrupted);
    assert!(
        said.contains(&format!(
            "Interrupted: the restart goes on at the scheduler (update {ID} of devcluster/tester/test/sleeper)"
        )) && said.contains("aurora update pause devcluster/tester/test/sleeper"),
        "{said}"
    );
}

#[test]
fn list_and_info_print_aurora_text() {
    let dir = tempfile::tempdir().unwrap();
    let scheduler = Stub::script(vec![
        Reply::json(200, json!([summary("ROLLED_FORWARD")])),
        Reply::json(200, json!([])),
        Reply::json(200, json!([summary("ROLLED_FORWARD")])),
        Reply::json(200, details("ROLLED_FORWARD")),
    ]);
    let cli = cli(dir.path(), scheduler.port);
    let listed = cli.aurora(&[
        "update",
        "list",
        "devcluster/tester",
        "--status",
        "succeeded",
        "--user",
        "tester",
    ]);
    assert_eq!(code(&listed), Some(0));
    let lines: Vec<String> = stdout(&listed).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("JOB  "));
    assert!(lines[1].starts_with(&format!(
        "devcluster/tester/test/sleeper                  {ID} ROLLED_FORWARD  tester      1970-01-01T00:00:01"
    )));
    // No active update: info shows the newest.
    let info = cli.aurora(&["update", "info", "devcluster/tester/test/sleeper"]);
    assert_eq!(code(&info), Some(0));
    assert_eq!(
        stdout(&info),
        format!(
            "Job: devcluster/tester/test/sleeper, UpdateID: {ID}\n\
             Started 1970-01-01T00:00:01, last activity: 1970-01-01T00:00:02\n\
             Current status: ROLLED_FORWARD\n\
             Update events:\n  Status: ROLLED_FORWARD at 1970-01-01T00:00:01\n"
        )
    );
    let received = scheduler.requests();
    assert_eq!(
        received[0].line,
        "GET /api/v1/updates?role=tester&statuses=ROLLED_FORWARD&user=tester HTTP/1.1"
    );
    assert_eq!(
        received[3].line,
        format!("GET /api/v1/updates/tester/test/sleeper/{ID} HTTP/1.1")
    );
}
