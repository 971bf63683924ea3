//! `aurora update ...` and `aurora job restart` end to end against `aurora-scheduler --dev`: an
//! update rolled forward with `--wait`, an unchanged config, an update whose health check never
//! passes rolled back (and `update wait` exiting non-zero), a paused and resumed update with
//! its message, and a rolling restart replacing every task; and an update that finishes, each
//! instance updated once, after the scheduler (with its embedded agent) is killed with -9
//! mid-way and started again. Every command that waits is bounded.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

#[path = "../../../cli/tests/support/mod.rs"]
mod cli_support;
mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use cli_support::{Cli, code, stderr, stdout};
use serde_json::Value;
use support::{become_subreaper, free_port, scheduler, tasks, wait_for_within, workspace_binary};

const KEY: &str = "devcluster/tester/test/rolling";
const JOB: &str = "tester/test/rolling";

/// The longest any waiting command here may take: updates of three instances watched for a
/// second or a few, on a loaded two-core machine.
const LIMIT: Duration = Duration::from_secs(180);

/// A three-instance service whose command line carries `version` (so each version is a
/// different config), with the given `UpdateConfig` arguments and optional extra job fields.
fn service(version: &str, update: &str, extra: &str) -> String {
    format!(
        "\
work = Process(name = 'work', cmdline = 'while true; do sleep 1; done # {version}')
jobs = [Service(
  cluster = 'devcluster', role = 'tester', environment = 'test', name = 'rolling',
  instances = 3,
  update_config = UpdateConfig({update}),
  {extra}
  task = Task(name = 'rolling', processes = [work],
              resources = Resources(cpu = 0.01, ram = 8 * MB, disk = 8 * MB)))]
"
    )
}

/// A shell health check that never passes: no grace, checked every second, one failure
/// tolerated, so the task fails within a few seconds of starting.
const NEVER_HEALTHY: &str = "health_check_config = HealthCheckConfig(
    health_checker = HealthCheckerConfig(shell = ShellHealthChecker(shell_command = 'false')),
    initial_interval_secs = 0, interval_secs = 1, max_consecutive_failures = 1),";

/// The update id at the end of "View your update progress at .../updates/ROLE/ENV/NAME/ID".
fn started_id(output: &std::process::Output) -> String {
    let text = stdout(output);
    let line = text
        .lines()
        .find(|l| l.starts_with("Job update has started. View your update progress at "))
        .unwrap_or_else(|| panic!("no update page in {text:?}"));
    assert!(line.contains(&format!("/updates/{JOB}/")), "{line}");
    line.rsplit('/').next().unwrap().to_string()
}

fn json(output: &std::process::Output) -> Value {
    assert_eq!(code(output), Some(0), "{}", stderr(output));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn running_ids(port: u16) -> BTreeSet<String> {
    tasks(port, JOB)
        .iter()
        .filter(|t| t["status"] == "RUNNING")
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn updates_roll_forward_roll_back_pause_resume_and_restart_through_the_cli() {
    become_subreaper();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _scheduler = scheduler(&["--dev"], &dir.path().join("aurora-data"), port);
    let aurora = workspace_binary("aurora-cli", "aurora");
    let cli = Cli::new(aurora.parent().unwrap(), dir.path(), port);
    let write = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let quick = "batch_size = 2, watch_secs = 1";

    // Phase 1: a running job, updated to a new command line and waited for.
    let v1 = write("v1.aurora", service("v1", quick, ""));
    let created = cli.aurora_within(
        LIMIT,
        &["job", "create", KEY, &v1, "--wait-until", "RUNNING"],
    );
    assert_eq!(code(&created), Some(0));
    let v2 = write("v2.aurora", service("v2", quick, ""));
    let updated = cli.aurora_within(LIMIT, &["update", "start", KEY, &v2, "--wait"]);
    assert_eq!(code(&updated), Some(0), "{}", stderr(&updated));
    let text = stdout(&updated);
    assert!(
        text.starts_with("This job update will:\nupdate instances: [0-2]\n"),
        "{text}"
    );
    assert!(text.ends_with("Current state ROLLED_FORWARD\n"), "{text}");
    let forward_id = started_id(&updated);

    let listed = json(&cli.aurora(&["update", "list", KEY, "--write-json"]));
    assert_eq!(listed[0]["id"], forward_id.as_str(), "{listed}");
    assert_eq!(listed[0]["job"], KEY);
    assert_eq!(listed[0]["status"], "ROLLED_FORWARD");
    assert_eq!(listed[0]["user"], "tester");
    let info = json(&cli.aurora(&["update", "info", KEY, &forward_id, "--write-json"]));
    assert_eq!(info["status"], "ROLLED_FORWARD");
    assert_eq!(info["update_events"][0]["status"], "ROLLING_FORWARD");
    let updated_instances: BTreeSet<u64> = info["instance_update_events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "INSTANCE_UPDATED")
        .map(|e| e["instance"].as_u64().unwrap())
        .collect();
    assert_eq!(updated_instances, BTreeSet::from([0, 1, 2]), "{info}");
    assert!(info["metadata"][0]["org.apache.aurora.client.update_id"].is_string());
    let text = stdout(&cli.aurora(&["update", "info", KEY]));
    assert!(
        text.contains(
            "Current status: ROLLED_FORWARD\nUpdate events:\n  Status: ROLLING_FORWARD at "
        ),
        "{text}"
    );

    // Phase 2: the same config again changes nothing, and is no error.
    let unchanged = cli.aurora_within(LIMIT, &["update", "start", KEY, &v2]);
    assert_eq!(code(&unchanged), Some(0));
    assert!(
        stdout(&unchanged).ends_with("Job is unchanged by proposed update.\n"),
        "{}",
        stdout(&unchanged)
    );

    // Phase 3: a config whose health check never passes is rolled back; `update wait` says so.
    let sick = write("sick.aurora", service("sick", quick, NEVER_HEALTHY));
    let started = cli.aurora_within(LIMIT, &["update", "start", KEY, &sick]);
    assert_eq!(code(&started), Some(0), "{}", stderr(&started));
    let sick_id = started_id(&started);
    let waited = cli.aurora_within(LIMIT, &["update", "wait", KEY, &sick_id]);
    assert_eq!(code(&waited), Some(4), "ROLLED_BACK is Aurora's exit 4");
    assert!(
        stdout(&waited).ends_with("Current state ROLLED_BACK\n"),
        "{}",
        stdout(&waited)
    );
    let failed = json(&cli.aurora(&[
        "update",
        "list",
        "devcluster/tester",
        "--status",
        "failed",
        "--write-json",
    ]));
    let failed_ids: Vec<&str> = failed
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert_eq!(failed_ids, [sick_id.as_str()]);
    let info = json(&cli.aurora(&["update", "info", KEY, &sick_id, "--write-json"]));
    let actions: BTreeSet<&str> = info["instance_update_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains("INSTANCE_UPDATE_FAILED"), "{info}");

    // Phase 4: a slow update paused with a message, shown paused, resumed and finished.
    let slow = write(
        "v3.aurora",
        service("v3", "batch_size = 1, watch_secs = 4", ""),
    );
    let started = cli.aurora_within(LIMIT, &["update", "start", KEY, &slow]);
    let slow_id = started_id(&started);
    let paused = cli.aurora(&["update", "pause", KEY, "-m", "because"]);
    assert_eq!(code(&paused), Some(0), "{}", stderr(&paused));
    assert_eq!(stdout(&paused), "Update has been paused.\n");
    let info = json(&cli.aurora(&["update", "info", KEY, "--write-json"]));
    assert_eq!(info["updateId"], slow_id.as_str(), "the active update");
    assert_eq!(info["status"], "ROLL_FORWARD_PAUSED");
    let pause_event = info["update_events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["status"] == "ROLL_FORWARD_PAUSED")
        .cloned()
        .unwrap();
    assert_eq!(pause_event["message"], "because", "{info}");
    let text = stdout(&cli.aurora(&["update", "info", KEY]));
    assert!(
        text.contains("ROLL_FORWARD_PAUSED at ") && text.contains("\n      message: because\n"),
        "{text}"
    );
    let paused_list = json(&cli.aurora(&[
        "update",
        "list",
        "devcluster",
        "--status",
        "paused",
        "--write-json",
    ]));
    assert_eq!(paused_list.as_array().unwrap().len(), 1, "{paused_list}");
    let resumed = cli.aurora(&["update", "resume", KEY]);
    assert_eq!(code(&resumed), Some(0), "{}", stderr(&resumed));
    assert_eq!(stdout(&resumed), "Update has been resumed.\n");
    let finished = cli.aurora_within(LIMIT, &["update", "wait", KEY, &slow_id]);
    assert_eq!(code(&finished), Some(0), "{}", stdout(&finished));
    assert!(stdout(&finished).ends_with("Current state ROLLED_FORWARD\n"));
    let nothing = cli.aurora(&["update", "pause", KEY]);
    assert_eq!(code(&nothing), Some(6));
    assert!(stderr(&nothing).contains("No active update found for this job."));

    // Phase 5: a rolling restart replaces every task, two at a time.
    wait_for_within(60, "three running tasks", || running_ids(port).len() == 3);
    let before = running_ids(port);
    let restarted = cli.aurora_within(
        LIMIT,
        &[
            "job",
            "restart",
            KEY,
            "--batch-size",
            "2",
            "--watch-secs",
            "1",
        ],
    );
    assert_eq!(code(&restarted), Some(0), "{}", stderr(&restarted));
    assert!(stdout(&restarted).contains("Job restart succeeded"));
    wait_for_within(60, "three running tasks after the restart", || {
        running_ids(port).len() == 3
    });
    let after = running_ids(port);
    assert!(before.is_disjoint(&after), "{before:?} then {after:?}");
    let newest = json(&cli.aurora(&["update", "list", KEY, "--write-json"]));
    assert_eq!(newest[0]["status"], "ROLLED_FORWARD", "{newest}");
    assert_eq!(newest.as_array().unwrap().len(), 4, "{newest}");

    // Phase 6: instance 0 updated alone, so the job runs two configs; a restart does each
    // config's instances in turn (one update installs one config).
    let v4 = write(
        "v4.aurora",
        service("v4", "batch_size = 1, watch_secs = 1", ""),
    );
    let partial = cli.aurora_within(
        LIMIT,
        &["update", "start", &format!("{KEY}/0"), &v4, "--wait"],
    );
    assert_eq!(code(&partial), Some(0), "{}", stderr(&partial));
    wait_for_within(60, "three running tasks", || running_ids(port).len() == 3);
    let before = running_ids(port);
    let restarted = cli.aurora_within(
        LIMIT,
        &[
            "job",
            "restart",
            KEY,
            "--batch-size",
            "2",
            "--watch-secs",
            "1",
        ],
    );
    assert_eq!(code(&restarted), Some(0), "{}", stderr(&restarted));
    let said = stderr(&restarted);
    assert!(
        said.contains("Restarting instances 0 ") && said.contains("Restarting instances 1-2 "),
        "{said}"
    );
    wait_for_within(60, "three running tasks after the restart", || {
        running_ids(port).len() == 3
    });
    let after = running_ids(port);
    assert!(before.is_disjoint(&after), "{before:?} then {after:?}");
}

/// A three-instance service whose tasks write their pid (so that processes orphaned by a
/// scheduler killed with -9 can be stopped) and carry `version` in their command line.
fn pid_writing_service(version: &str) -> String {
    format!(
        "\
work = Process(name = 'work', cmdline = 'echo $$ > task.pid; exec sleep 600 # {version}')
jobs = [Service(
  cluster = 'devcluster', role = 'tester', environment = 'test', name = 'rolling',
  instances = 3,
  update_config = UpdateConfig(batch_size = 1, watch_secs = 2),
  task = Task(name = 'rolling', processes = [work],
              resources = Resources(cpu = 0.01, ram = 8 * MB, disk = 8 * MB)))]
"
    )
}

/// Stops every task process a sandbox under `data` recorded (orphans of a killed scheduler's
/// embedded agent are re-parented to this test, a subreaper).
fn kill_recorded_tasks(data: &std::path::Path) {
    let Ok(sandboxes) = std::fs::read_dir(data.join("agent/sandboxes")) else {
        return;
    };
    for sandbox in sandboxes.flatten() {
        support::kill_pid_file(&sandbox.path().join("task.pid"));
    }
}

#[test]
fn an_update_finishes_after_the_dev_scheduler_is_killed_mid_way() {
    become_subreaper();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("aurora-data");
    let port = free_port();
    let mut first = scheduler(&["--dev"], &data, port);
    let aurora = workspace_binary("aurora-cli", "aurora");
    let cli = Cli::new(aurora.parent().unwrap(), dir.path(), port);
    let write = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let v1 = write("v1.aurora", pid_writing_service("v1"));
    let created = cli.aurora_within(
        LIMIT,
        &["job", "create", KEY, &v1, "--wait-until", "RUNNING"],
    );
    assert_eq!(code(&created), Some(0), "{}", stderr(&created));
    let v2 = write("v2.aurora", pid_writing_service("v2"));
    let started = cli.aurora_within(LIMIT, &["update", "start", KEY, &v2]);
    assert_eq!(code(&started), Some(0), "{}", stderr(&started));
    let id = started_id(&started);
    wait_for_within(120, "instance 0 updated", || {
        let info = cli.aurora(&["update", "info", KEY, &id, "--write-json"]);
        code(&info) == Some(0)
            && serde_json::from_slice::<Value>(&info.stdout).is_ok_and(|info| {
                info["instance_update_events"]
                    .as_array()
                    .is_some_and(|events| events.iter().any(|e| e["action"] == "INSTANCE_UPDATED"))
            })
    });

    // The scheduler (and its embedded agent) dies mid-update; its tasks' processes are
    // orphaned and stopped here, as a machine losing power would stop them.
    first.kill_now();
    kill_recorded_tasks(&data);
    let second = scheduler(&["--dev"], &data, port);
    let waited = cli.aurora_within(LIMIT, &["update", "wait", KEY, &id]);
    assert_eq!(code(&waited), Some(0), "{}", stdout(&waited));
    assert!(stdout(&waited).ends_with("Current state ROLLED_FORWARD\n"));
    wait_for_within(120, "three running tasks of the new config", || {
        running_ids(port).len() == 3
    });
    let summary = json(&cli.aurora(&["update", "info", KEY, &id, "--write-json"]));
    let updated: Vec<u64> = summary["instance_update_events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "INSTANCE_UPDATED")
        .map(|e| e["instance"].as_u64().unwrap())
        .collect();
    assert_eq!(
        updated.iter().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from([0, 1, 2]),
        "{summary}"
    );
    assert_eq!(updated.len(), 3, "each instance updated once: {summary}");
    drop(second);
    kill_recorded_tasks(&data);
}
