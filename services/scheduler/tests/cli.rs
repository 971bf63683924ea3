//! The `aurora` and `aurora-admin` binaries end to end against `aurora-scheduler --dev` on a
//! free port: create (with `--wait-until`), status, list, kill, killall, quota and admin
//! commands, each with Aurora's exit code. (Offline behaviour is tested in the CLI crate.)

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

#[path = "../../../cli/tests/support/mod.rs"]
mod cli_support;
mod support;

use std::path::Path;

use cli_support::{Cli, SERVICE, code, stderr, stdout};
use serde_json::Value;
use support::{become_subreaper, free_port, scheduler, tasks, workspace_binary};

#[test]
fn create_status_kill_and_killall_with_aurora_exit_codes() {
    become_subreaper();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _scheduler = scheduler(&["--dev"], &dir.path().join("aurora-data"), port);
    workspace_binary("aurora-cli", "aurora-admin");
    let aurora = workspace_binary("aurora-cli", "aurora");
    let bin_dir = aurora.parent().unwrap().to_path_buf();
    let cli = Cli::new(&bin_dir, dir.path(), port);
    let hello = Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap())
        .join("../../examples/hello_world.aurora");
    let hello = hello.to_str().unwrap();

    // The shipped example runs to completion.
    let created = cli.aurora(&[
        "job",
        "create",
        "devcluster/tester/test/hello_world",
        hello,
        "--wait-until",
        "FINISHED",
    ]);
    assert_eq!(code(&created), Some(0));
    let finished = tasks(port, "tester/test/hello_world");
    assert_eq!(finished[0]["status"], "FINISHED", "{finished:?}");

    // A service, waited for until RUNNING.
    let config = dir.path().join("sleeper.aurora");
    std::fs::write(&config, SERVICE).unwrap();
    let config = config.to_str().unwrap();
    let created = cli.aurora(&[
        "job",
        "create",
        "devcluster/tester/test/sleeper",
        config,
        "--wait-until",
        "RUNNING",
    ]);
    assert_eq!(code(&created), Some(0));
    assert!(stdout(&created).contains("Job create succeeded"));
    let running = tasks(port, "tester/test/sleeper");
    assert_eq!(running.len(), 2);
    assert!(
        running.iter().all(|t| t["status"] == "RUNNING"),
        "{running:?}"
    );

    let listed = cli.aurora(&["job", "list", "devcluster/tester/*/sl*"]);
    assert_eq!(code(&listed), Some(0));
    assert_eq!(stdout(&listed).trim(), "devcluster/tester/test/sleeper");

    let status = cli.aurora(&["job", "status", "devcluster/tester", "--write-json"]);
    assert_eq!(code(&status), Some(0));
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    let jobs: Vec<&str> = status
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job"].as_str().unwrap())
        .collect();
    // A wildcard lists Aurora's getJobs: hello_world finished, so only the sleeper.
    assert_eq!(jobs, ["devcluster/tester/test/sleeper"]);
    assert_eq!(status[0]["active"].as_array().unwrap().len(), 2);
    // Named in full, a finished job is shown with its finished task.
    let finished = cli.aurora(&["job", "status", "devcluster/tester/test/hello_world"]);
    assert_eq!(code(&finished), Some(0), "{}", stderr(&finished));
    assert!(
        stdout(&finished).contains("FINISHED"),
        "{}",
        stdout(&finished)
    );
    let text = cli.aurora(&["job", "status", "devcluster/tester/test/sleeper"]);
    assert!(
        stdout(&text).contains("Active tasks (2)"),
        "{}",
        stdout(&text)
    );

    // diff: nothing against the same config; the changed command line against another.
    let same = cli.aurora(&["job", "diff", "devcluster/tester/test/sleeper", config]);
    assert_eq!(code(&same), Some(0));
    assert!(
        stdout(&same).contains("No differences"),
        "{}",
        stdout(&same)
    );
    let changed = dir.path().join("changed.aurora");
    std::fs::write(&changed, SERVICE.replace("sleep 600", "sleep 601")).unwrap();
    let diff = cli.aurora(&[
        "job",
        "diff",
        "devcluster/tester/test/sleeper",
        changed.to_str().unwrap(),
    ]);
    assert_eq!(code(&diff), Some(0));
    let diff = stdout(&diff);
    assert!(
        diff.contains("-")
            && diff.contains("sleep 600")
            && diff.contains("+")
            && diff.contains("sleep 601"),
        "{diff}"
    );

    // A rolling restart replaces both tasks, each watched RUNNING for a second.
    let before: Vec<Value> = tasks(port, "tester/test/sleeper");
    let restarted = cli.aurora(&[
        "job",
        "restart",
        "devcluster/tester/test/sleeper",
        "--watch-secs",
        "1",
    ]);
    assert_eq!(code(&restarted), Some(0));
    let after_restart = tasks(port, "tester/test/sleeper");
    let running: Vec<&Value> = after_restart
        .iter()
        .filter(|t| t["status"] == "RUNNING")
        .collect();
    assert_eq!(running.len(), 2, "{after_restart:?}");
    assert!(
        running
            .iter()
            .all(|t| before.iter().all(|b| b["id"] != t["id"])),
        "new tasks after the restart"
    );

    // kill needs instances; killall must not have them.
    let no_instances = cli.aurora(&["job", "kill", "devcluster/tester/test/sleeper"]);
    assert_eq!(code(&no_instances), Some(6));
    let killed = cli.aurora(&[
        "job",
        "kill",
        "devcluster/tester/test/sleeper/1",
        "-m",
        "bye",
    ]);
    assert_eq!(code(&killed), Some(0));
    let after: Vec<(u64, String)> = tasks(port, "tester/test/sleeper")
        .iter()
        .map(|t| {
            (
                t["instance"].as_u64().unwrap(),
                t["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(after.contains(&(1, "KILLED".into())), "{after:?}");
    assert!(after.contains(&(0, "RUNNING".into())), "{after:?}");
    let killall = cli.aurora(&["job", "killall", "devcluster/tester/test/sleeper"]);
    assert_eq!(code(&killall), Some(0));
    assert!(
        tasks(port, "tester/test/sleeper")
            .iter()
            .all(|t| t["status"] == "KILLED")
    );
    let again = cli.aurora(&["job", "killall", "devcluster/tester/test/sleeper"]);
    assert_eq!(code(&again), Some(0));
    assert!(stderr(&again).contains("No tasks to kill"));

    // Quota through aurora-admin and back through aurora.
    let set = cli.admin(&["set_quota", "devcluster", "tester", "2", "1G", "512M"]);
    assert_eq!(code(&set), Some(0));
    let quota = cli.aurora(&["quota", "get", "devcluster/tester", "--write-json"]);
    assert_eq!(code(&quota), Some(0));
    // Aurora's GetQuotaResult: resources as a list of one-field objects.
    let quota: Value = serde_json::from_slice(&quota.stdout).unwrap();
    assert_eq!(quota["quota"]["resources"][1]["ramMb"], 1024);
    assert_eq!(quota["quota"]["resources"][2]["diskMb"], 512);
    let increased = cli.admin(&["increase_quota", "devcluster", "tester", "1", "1G", "0"]);
    assert_eq!(code(&increased), Some(0));
    let quota = cli.aurora(&["quota", "get", "devcluster/tester"]);
    assert!(
        stdout(&quota).contains("  CPU: 3.0 core(s)\n  RAM: 2048 MB\n  Disk: 512 MB\n"),
        "{}",
        stdout(&quota)
    );

    let query = cli.admin(&[
        "query",
        "devcluster",
        "tester",
        "sleeper",
        "--states",
        "KILLED",
        "-l",
        "%name%/%instanceId% %status%",
    ]);
    assert_eq!(code(&query), Some(0));
    let mut lines: Vec<String> = stdout(&query).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 4, "two restarted and two killed tasks");
    lines.sort();
    lines.dedup();
    assert_eq!(lines, ["sleeper/0 KILLED", "sleeper/1 KILLED"]);
    // A host the scheduler never saw has no status (Aurora's maintenanceStatus answers for
    // known hosts only): nothing is printed, and that is not an error.
    let hosts = cli.admin(&["host_status", "--hosts", "nowhere-host", "devcluster"]);
    assert_eq!(code(&hosts), Some(0));
    assert_eq!(stdout(&hosts), "");
    let snapshot = cli.admin(&["scheduler_snapshot", "devcluster"]);
    assert_eq!(code(&snapshot), Some(0));
}
