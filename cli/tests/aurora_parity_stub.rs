//! What Aurora's client prints and exits with where scripts depend on it, against a stand-in
//! scheduler that answers each request by its method and path: `cron deschedule` of a job
//! without a schedule, `cron show` and `cron start`, what `job kill` logs, `host_status` of
//! unknown hosts, and the standard options every verb takes. (The real scheduler is
//! exercised in `services/scheduler/tests/cron_cli.rs` and `cli_parity.rs`.)

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

mod support;

use std::path::Path;

use aurora_api::TaskView;
use aurora_events::{ScheduleStatus, TaskId, Timestamp};
use serde_json::{Value, json};
use support::stub::{Reply, Request, Stub};
use support::{Cli, code, stderr, stdout};

fn cli(dir: &Path, port: u16) -> Cli {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_aurora"))
        .parent()
        .unwrap()
        .to_path_buf();
    Cli::new(&bin_dir, dir, port)
}

/// The scheduler's refusal: an `ApiError` with this HTTP status, code and message.
fn refusal(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(status, json!({"code": code, "message": message}))
}

/// A mutation carried out (`Committed`), with the scheduler's note if any.
fn committed(message: Option<&str>) -> Reply {
    Reply::json(
        200,
        json!({"first_seq": 7, "last_seq": 7, "message": message}),
    )
}

const KEY: &str = "devcluster/tester/test/sleeper";

#[test]
fn descheduling_a_job_without_a_cron_schedule_succeeds_as_with_aurora() {
    let dir = tempfile::tempdir().unwrap();
    // The scheduler refuses; Aurora's answers OK with "Job ... is not scheduled with cron".
    let scheduler = Stub::always(refusal(
        400,
        "INVALID_REQUEST",
        "tester/test/sleeper is not a cron job",
    ));
    let out = cli(dir.path(), scheduler.port).aurora(&["cron", "deschedule", KEY]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Cron descheduling succeeded.\n");
    assert_eq!(
        stderr(&out),
        format!(
            " INFO] Removing cron schedule for job {KEY}\n \
             INFO] Job tester/test/sleeper is not scheduled with cron\n"
        )
    );
    assert_eq!(
        scheduler.received(),
        ["POST /api/v1/cron/tester/test/sleeper/deschedule HTTP/1.1"]
    );

    // A cron job: descheduled, with nothing more to say.
    let scheduler = Stub::always(committed(None));
    let out = cli(dir.path(), scheduler.port).aurora(&["cron", "deschedule", KEY]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Cron descheduling succeeded.\n");
    assert_eq!(
        stderr(&out),
        format!(" INFO] Removing cron schedule for job {KEY}\n")
    );
}

#[test]
fn other_refusals_of_a_deschedule_are_still_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (answer, exit, says) in [
        // The job is another's: not this one's refusal.
        (
            refusal(
                400,
                "INVALID_REQUEST",
                "tester/test/other is not a cron job",
            ),
            10,
            "tester/test/other is not a cron job",
        ),
        (
            refusal(
                409,
                "JOB_UPDATING_ERROR",
                "an update holds tester/test/sleeper",
            ),
            10,
            "Run 'aurora update abort'",
        ),
        // The same words, from the gate: not allowed is not descheduled.
        (
            refusal(403, "AUTH_FAILED", "tester/test/sleeper is not a cron job"),
            30,
            "tester/test/sleeper is not a cron job",
        ),
    ] {
        let scheduler = Stub::always(answer);
        let out = cli(dir.path(), scheduler.port).aurora(&["cron", "deschedule", KEY]);
        assert_eq!(code(&out), Some(exit), "{}", stderr(&out));
        assert_eq!(stdout(&out), "");
        assert!(
            stderr(&out).contains(&format!("error: Error descheduling cron job {KEY}:\n\t"))
                && stderr(&out).contains(says),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn cron_show_of_a_job_without_a_schedule_is_aurora_s_invalid_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let scheduler = Stub::always(Reply::json(200, json!([])));
    let out = cli(dir.path(), scheduler.port).aurora(&["cron", "show", KEY]);
    assert_eq!(code(&out), Some(6), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        format!("error: No cron entry found for job {KEY}\n")
    );
}

#[test]
fn cron_start_prints_only_what_aurora_logs() {
    let dir = tempfile::tempdir().unwrap();
    let scheduler = Stub::always(committed(None));
    let out = cli(dir.path(), scheduler.port).aurora(&["cron", "start", KEY]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert_eq!(stderr(&out), format!(" INFO] Starting cron job: {KEY}\n"));
    assert_eq!(
        scheduler.received(),
        ["POST /api/v1/cron/tester/test/sleeper/start HTTP/1.1"]
    );
    let scheduler = Stub::always(refusal(
        400,
        "INVALID_REQUEST",
        "tester/test/sleeper is not a cron job",
    ));
    let out = cli(dir.path(), scheduler.port).aurora(&["cron", "start", KEY]);
    assert_eq!(code(&out), Some(10), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "error: Error starting cron job {KEY}:\n\ttester/test/sleeper is not a cron job"
        )),
        "{}",
        stderr(&out)
    );
}

fn task(id: &str, instance: u32, status: ScheduleStatus) -> Value {
    let view = TaskView {
        id: TaskId::from_raw(id.to_string()),
        job: "tester/test/sleeper".into(),
        instance,
        status,
        config: aurora_events::samples::task_config().hash(),
        failure_count: 0,
        ancestor: None,
        agent: None,
        host: None,
        observer: None,
        ports: Default::default(),
        events: vec![
            (Timestamp(1000), ScheduleStatus::Pending),
            (Timestamp(2000), status),
        ],
        event_messages: Vec::new(),
        pending_reason: None,
        task_config: None,
    };
    serde_json::to_value(view).unwrap()
}

/// A stand-in scheduler of a job whose instance 0 is RUNNING until killed (then KILLED) and
/// instance 1 KILLED long ago; a kill of instance 1 alone kills nothing ("No tasks to kill.").
fn job_with_a_dead_instance() -> Stub {
    let mut killed = false;
    Stub::new(move |request: &Request| {
        let path = request.path.as_str();
        if request.method == "POST" && path.ends_with("/kill") {
            let body: Value = serde_json::from_str(&request.body).unwrap();
            if body["instances"] == json!([1]) {
                return committed(Some("No tasks to kill."));
            }
            killed = true;
            return committed(None);
        }
        let zero = if killed {
            ScheduleStatus::Killed
        } else {
            ScheduleStatus::Running
        };
        if path.starts_with("/api/v1/jobs/tester/test/sleeper/tasks") {
            return Reply::json(
                200,
                json!([task("a", 0, zero), task("b", 1, ScheduleStatus::Killed)]),
            );
        }
        refusal(404, "NOT_FOUND", path)
    })
}

#[test]
fn kill_logs_the_job_and_instances_it_asks_to_kill_as_aurora_does() {
    let dir = tempfile::tempdir().unwrap();

    // An active instance: Aurora's api logs the job and the instances, then the batch.
    let scheduler = job_with_a_dead_instance();
    let out = cli(dir.path(), scheduler.port).aurora(&["job", "kill", &format!("{KEY}/0")]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "Successfully killed instances [0]\nJob kill succeeded\n"
    );
    assert_eq!(
        stderr(&out),
        format!(" INFO] Killing tasks for job: {KEY}\n INFO] Instances to be killed: [0]\n")
    );

    // A dead instance, batched (the default): as with Aurora, no batch holds it, so nothing
    // is asked of the scheduler and nothing logged.
    let scheduler = job_with_a_dead_instance();
    let out = cli(dir.path(), scheduler.port).aurora(&["job", "kill", &format!("{KEY}/1")]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Job kill succeeded\n");
    assert_eq!(stderr(&out), "");
    assert!(
        scheduler.received().iter().all(|l| !l.starts_with("POST")),
        "{:?}",
        scheduler.received()
    );

    // A dead instance without batching: the kill is sent; the instances line and the
    // scheduler's note say what came of it.
    let scheduler = job_with_a_dead_instance();
    let out = cli(dir.path(), scheduler.port).aurora(&[
        "job",
        "kill",
        &format!("{KEY}/1"),
        "--no-batching",
    ]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Job kill succeeded\n");
    assert_eq!(
        stderr(&out),
        format!(
            " INFO] Killing tasks for job: {KEY}\n INFO] Instances to be killed: [1]\n \
             INFO] No tasks to kill.\n"
        )
    );
}

#[test]
fn host_status_ignores_hosts_the_scheduler_does_not_know() {
    let dir = tempfile::tempdir().unwrap();
    // As the scheduler answers: asked for named hosts, a mode for each (NONE for those it
    // does not know); asked for all, every host it knows.
    let scheduler = Stub::new(|request| {
        let known = [("agent-1", "NONE"), ("agent-2", "DRAINED")];
        let statuses: Vec<Value> = match request.path.strip_prefix("/api/v1/maintenance?hosts=") {
            Some(named) => named
                .split(',')
                .map(|host| {
                    let mode = known
                        .iter()
                        .find(|(h, _)| *h == host)
                        .map_or("NONE", |k| k.1);
                    json!({"host": host, "mode": mode})
                })
                .collect(),
            None => known
                .iter()
                .map(|(host, mode)| json!({"host": host, "mode": mode}))
                .collect(),
        };
        Reply::json(200, Value::from(statuses))
    });
    let cli = cli(dir.path(), scheduler.port);
    let out = cli.admin(&[
        "host_status",
        "--hosts",
        "nosuchhost,agent-2,agent-1",
        "devcluster",
    ]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        " INFO] agent-2 is in state: DRAINED\n INFO] agent-1 is in state: NONE\n"
    );
    assert_eq!(scheduler.received(), ["GET /api/v1/maintenance HTTP/1.1"]);
    let out = cli.admin(&["host_status", "--hosts", "nosuchhost", "devcluster"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
}

#[test]
fn every_verb_takes_aurora_s_standard_options() {
    let dir = tempfile::tempdir().unwrap();
    let scheduler = Stub::always(Reply::json(200, json!([])));
    let cli = cli(dir.path(), scheduler.port);
    for args in [
        &["job", "list", "devcluster", "-v"][..],
        &["-v", "job", "list", "devcluster"],
        &["job", "list", "devcluster", "--verbose"],
        &["--skip-hooks", "all", "job", "list", "devcluster"],
        &[
            "job",
            "list",
            "devcluster",
            "--skip-hooks=hook_a,hook_b",
            "-v",
        ],
    ] {
        let out = cli.aurora(args);
        assert_eq!(code(&out), Some(0), "{args:?}: {}", stderr(&out));
    }
    for args in [
        &["-v", "host_status", "--hosts", "a", "devcluster"][..],
        &["host_status", "--hosts", "a", "devcluster", "-v"],
    ] {
        let out = cli.admin(args);
        assert_eq!(code(&out), Some(0), "{args:?}: {}", stderr(&out));
    }
    // Aurora's --skip-hooks takes the hooks to skip.
    let out = cli.aurora(&["job", "list", "devcluster", "--skip-hooks"]);
    assert_eq!(code(&out), Some(5), "{}", stderr(&out));
}
