//! The text and JSON that scripts written around Apache Aurora's client parse, end to end
//! against `aurora-scheduler --dev`: `job status` (text and `--write-json` read the way
//! Aurora's e2e script reads it), `job list`, `quota get`, `aurora-admin query -l`,
//! `host_status`, `get_scheduler`, and `job kill`'s batches, `--strict` and
//! `--max-total-failures`. (The exact formats are pinned by the CLI's unit tests on fixed data.)

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

#[path = "../../../cli/tests/support/mod.rs"]
mod cli_support;
mod support;

use std::time::{Duration, Instant};

use cli_support::{Cli, SERVICE, code, stderr, stdout};
use serde_json::Value;
use support::{become_subreaper, cli_binaries, free_port, http_text, scheduler, tasks};

/// Two instances whose process ignores SIGTERM: they die only when the agent's grace period
/// (10 s for `--dev`) ends in SIGKILL, so a 1-second kill wait fails.
const STUBBORN: &str = "\
stubborn = Process(name = 'stubborn', cmdline = \"trap '' TERM; exec sleep 600\")
jobs = [Service(
  cluster = 'devcluster', role = 'tester', environment = 'test', name = 'stubborn',
  instances = 2,
  task = Task(name = 'stubborn', processes = [stubborn],
              resources = Resources(cpu = 0.1, ram = 16 * MB, disk = 16 * MB)))]
";

#[test]
fn scripts_read_what_aurora_printed() {
    become_subreaper();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _scheduler = scheduler(&["--dev"], &dir.path().join("aurora-data"), port);
    let cli = Cli::new(&cli_binaries(), dir.path(), port);
    let config = dir.path().join("sleeper.aurora");
    std::fs::write(&config, SERVICE).unwrap();
    let key = "devcluster/tester/test/sleeper";
    let created = cli.aurora(&[
        "job",
        "create",
        key,
        config.to_str().unwrap(),
        "--wait-until",
        "RUNNING",
    ]);
    assert_eq!(code(&created), Some(0));

    // --write-json, read as Aurora's e2e script reads it.
    let json = cli.aurora(&["job", "status", key, "--write-json"]);
    assert_eq!(code(&json), Some(0));
    let json: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json[0]["job"], key);
    let active = json[0]["active"].as_array().unwrap();
    assert_eq!(active.len(), 2);
    let ids: Vec<String> = tasks(port, "tester/test/sleeper")
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    for (i, task) in active.iter().enumerate() {
        assert_eq!(task["status"], "RUNNING");
        assert_eq!(task["assignedTask"]["instanceId"], i);
        assert!(ids.contains(&task["assignedTask"]["taskId"].as_str().unwrap().to_string()));
        assert_eq!(task["assignedTask"]["task"]["job"]["name"], "sleeper");
    }
    let host = active[0]["assignedTask"]["slaveHost"]
        .as_str()
        .unwrap()
        .to_string();

    // The text: Aurora's lines, and its closing blank line.
    let text = stdout(&cli.aurora(&["job", "status", key]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "Active tasks (2):");
    assert_eq!(
        lines[1],
        format!(
            "\tTask role: tester, env: test, name: sleeper, instance: 0, status: RUNNING on {host}"
        )
    );
    assert_eq!(lines[2], "\t  CPU: 0.1 core(s), RAM: 16 MB, Disk: 16 MB");
    assert_eq!(lines[3], "\t  events:");
    assert!(
        lines[4].starts_with("\t   ") && lines[4].ends_with(" PENDING: None"),
        "{text}"
    );
    assert!(text.ends_with("Inactive tasks (0):\n\n"), "{text:?}");

    let missing = cli.aurora(&["job", "status", "devcluster/nobody"]);
    assert_eq!(code(&missing), Some(6));
    assert!(stderr(&missing).contains("Found no jobs matching devcluster/nobody/*/*"));
    let missing = cli.aurora(&["job", "status", "devcluster/nobody", "--write-json"]);
    assert_eq!(code(&missing), Some(0));
    let missing: Value = serde_json::from_slice(&missing.stdout).unwrap();
    assert_eq!(missing["jobspec"], "devcluster/nobody/*/*");
    assert_eq!(missing["error"], "No matching jobs found");

    assert_eq!(
        stdout(&cli.aurora(&["job", "list", "devcluster/tester/test"])),
        format!("{key}\n")
    );

    // aurora_admin query -l '%taskId%' --shards=0 --states=RUNNING cluster role job
    let query = cli.admin(&[
        "query",
        "-l",
        "%taskId% %slaveHost%",
        "--shards=0",
        "--states=RUNNING",
        "devcluster",
        "tester",
        "sleeper",
    ]);
    assert_eq!(code(&query), Some(0));
    assert_eq!(
        stdout(&query),
        format!(
            "{} {host}\n",
            active[0]["assignedTask"]["taskId"].as_str().unwrap()
        )
    );
    let status = cli.admin(&["host_status", "--hosts", &host, "devcluster"]);
    assert_eq!(
        stdout(&status),
        format!(" INFO] {host} is in state: NONE\n")
    );
    let leader = cli.admin(&["get_scheduler", "devcluster"]);
    assert_eq!(
        stdout(&leader),
        format!("Found leading scheduler at: http://127.0.0.1:{port}\n")
    );
    let quota = stdout(&cli.aurora(&["quota", "get", "devcluster/tester"]));
    assert!(
        quota.starts_with("Allocated:\n  CPU: 0.0 core(s)\n  RAM: 0 MB\n  Disk: 0 MB\n")
            && quota.contains(
                "Non-production shared pool resources consumed:\n  CPU: 0.2 core(s)\n  RAM: 32 MB\n  Disk: 32 MB\n"
            ),
        "{quota}"
    );

    // kill: --strict refuses an instance that is not active; batches of one, each reported.
    let strict = cli.aurora(&["job", "kill", &format!("{key}/0,5"), "--strict"]);
    assert_eq!(code(&strict), Some(6));
    assert!(stderr(&strict).contains("Invalid instance parameter: [5]"));
    let started = Instant::now();
    let killed = cli.aurora_within(
        Duration::from_secs(60),
        &["job", "kill", &format!("{key}/0-1"), "-m", "bye"],
    );
    assert_eq!(code(&killed), Some(0));
    assert_eq!(
        stdout(&killed),
        "Successfully killed instances [0]\nSuccessfully killed instances [1]\nJob kill succeeded\n"
    );
    // Two kills, each waited for without a fixed poll interval.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let gone = tasks(port, "tester/test/sleeper");
    assert!(gone.iter().all(|t| t["status"] == "KILLED"), "{gone:?}");
    let again = cli.aurora(&["job", "killall", key]);
    assert_eq!(code(&again), Some(0));
    assert!(stderr(&again).contains(&format!("No tasks to kill found for job {key}")));
    assert_eq!(stdout(&again), "Job killall succeeded\n");
    let json = cli.aurora(&["job", "status", key, "--write-json"]);
    let json: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json[0]["inactive"][0]["status"], "KILLED");
    let events = json[0]["inactive"][0]["taskEvents"].as_array().unwrap();
    assert!(
        events.iter().any(|e| e["status"] == "KILLING"
            && e["message"].as_str().is_some_and(|m| m.ends_with(": bye"))),
        "{events:?}"
    );

    // Batches that do not die in time are failures: past --max-total-failures the kill stops.
    let config = dir.path().join("stubborn.aurora");
    std::fs::write(&config, STUBBORN).unwrap();
    let stubborn = "devcluster/tester/test/stubborn";
    let created = cli.aurora(&[
        "job",
        "create",
        stubborn,
        config.to_str().unwrap(),
        "--wait-until",
        "RUNNING",
    ]);
    assert_eq!(code(&created), Some(0));
    let stopped = cli.aurora(&[
        "job",
        "kill",
        &format!("{stubborn}/0-1"),
        "--wait-secs",
        "1",
    ]);
    assert_eq!(code(&stopped), Some(4));
    assert!(
        stderr(&stopped).contains("Instances [0] were not killed in time")
            && stderr(&stopped)
                .contains("Exceeded maximum number of errors while killing instances"),
        "{}",
        stderr(&stopped)
    );
    let statuses: Vec<(u64, String)> = tasks(port, "tester/test/stubborn")
        .iter()
        .map(|t| {
            (
                t["instance"].as_u64().unwrap(),
                t["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        statuses.contains(&(1, "RUNNING".to_string())),
        "the second batch was never killed: {statuses:?}"
    );
    let tolerated = cli.aurora(&[
        "job",
        "kill",
        &format!("{stubborn}/1"),
        "--wait-secs",
        "1",
        "--max-total-failures",
        "1",
    ]);
    assert_eq!(code(&tolerated), Some(4));
    assert!(
        stderr(&tolerated).contains("Errors occurred while killing instances"),
        "{}",
        stderr(&tolerated)
    );
    // Without batching, one wait for all: they die when the grace period ends.
    let all = cli.aurora_within(
        Duration::from_secs(120),
        &["job", "killall", stubborn, "--no-batching"],
    );
    assert_eq!(code(&all), Some(0), "{}", stderr(&all));
    assert_eq!(stdout(&all), "Job killall succeeded\n");

    let (_, vars) = http_text(port, "GET", "/vars", None).unwrap();
    let killed: u64 = vars
        .lines()
        .find_map(|l| l.strip_prefix("task_store_KILLED "))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(killed >= 2, "{vars}");
}
