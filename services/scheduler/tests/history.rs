//! History from the CLI against `aurora-scheduler --dev`: `--at` on job status, job list,
//! quota get and update info showing the past; `task history` of a task rescheduled after a
//! failure; `why` on a task an update killed naming the update and who started it.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

#[path = "../../../cli/tests/support/mod.rs"]
mod cli_support;
mod support;

use std::time::Duration;

use cli_support::{Cli, code, stderr, stdout};
use serde_json::Value;
use support::{become_subreaper, cli_binaries, free_port, scheduler, tasks, wait_for};

const KEY: &str = "devcluster/tester/test/hist";
const JOB: &str = "tester/test/hist";
const LIMIT: Duration = Duration::from_secs(180);

fn service(version: &str) -> String {
    format!(
        "\
work = Process(name = 'work', cmdline = 'while true; do sleep 1; done # {version}')
jobs = [Service(
  cluster = 'devcluster', role = 'tester', environment = 'test', name = 'hist',
  instances = 2,
  update_config = UpdateConfig(batch_size = 2, watch_secs = 1),
  task = Task(name = 'hist', processes = [work],
              resources = Resources(cpu = 0.01, ram = 8 * MB, disk = 8 * MB)))]
"
    )
}

fn json(output: &std::process::Output) -> Value {
    assert_eq!(code(output), Some(0), "{}", stderr(output));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn journal_last(port: u16) -> u64 {
    let (_, info) = support::http(port, "GET", "/api/v1/journal", None).unwrap();
    info["last_seq"].as_u64().unwrap()
}

#[test]
fn the_past_task_histories_and_causes_from_the_cli() {
    become_subreaper();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _scheduler = scheduler(&["--dev"], &dir.path().join("aurora-data"), port);
    let cli = Cli::new(&cli_binaries(), dir.path(), port);
    let write = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let before_anything = journal_last(port).to_string();
    let quota = cli.admin(&["set_quota", "devcluster", "tester", "4", "4G", "4G"]);
    assert_eq!(code(&quota), Some(0), "{}", stderr(&quota));
    let v1 = write("v1.aurora", service("v1"));
    let created = cli.aurora_within(
        LIMIT,
        &["job", "create", KEY, &v1, "--wait-until", "RUNNING"],
    );
    assert_eq!(code(&created), Some(0), "{}", stderr(&created));
    let old: Vec<String> = tasks(port, JOB)
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    let before_update = journal_last(port).to_string();
    let v2 = write("v2.aurora", service("v2"));
    let updated = cli.aurora_within(LIMIT, &["update", "start", KEY, &v2, "--wait"]);
    assert_eq!(code(&updated), Some(0), "{}", stderr(&updated));

    // --at: before the job existed, and before the update.
    let listed = json(&cli.aurora(&[
        "job",
        "list",
        "devcluster",
        "--write-json",
        "--at",
        &before_anything,
    ]));
    assert_eq!(
        listed,
        serde_json::json!([]),
        "no job at seq {before_anything}"
    );
    let listed = json(&cli.aurora(&["job", "list", "devcluster", "--write-json"]));
    assert_eq!(listed, serde_json::json!([KEY]));
    let then = json(&cli.aurora(&["job", "status", KEY, "--write-json", "--at", &before_update]));
    let active: Vec<&str> = then[0]["active"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["assignedTask"]["taskId"].as_str().unwrap())
        .collect();
    assert_eq!(active.len(), 2);
    assert!(
        active.iter().all(|id| old.contains(&id.to_string())),
        "{then}"
    );
    let now = json(&cli.aurora(&["job", "status", KEY, "--write-json"]));
    assert!(
        now[0]["active"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| !old.contains(&t["assignedTask"]["taskId"].as_str().unwrap().to_string()))
    );
    let no_quota = json(&cli.aurora(&[
        "quota",
        "get",
        "devcluster/tester",
        "--write-json",
        "--at",
        &before_anything,
    ]));
    let with_quota = json(&cli.aurora(&["quota", "get", "devcluster/tester", "--write-json"]));
    assert_ne!(no_quota, with_quota, "the quota set since shows only now");
    let no_update = cli.aurora(&["update", "info", KEY, "--at", &before_update]);
    assert_ne!(
        code(&no_update),
        Some(0),
        "no update yet at seq {before_update}"
    );
    let bad = cli.aurora(&["job", "list", "devcluster", "--at", "yesterday"]);
    assert_eq!(code(&bad), Some(6), "{}", stderr(&bad));

    // cluster diff: exactly the changes made in between, with who made them.
    let first = cli.aurora(&[
        "cluster",
        "diff",
        "devcluster",
        "--from",
        &before_anything,
        "--to",
        &before_update,
    ]);
    assert_eq!(code(&first), Some(0), "{}", stderr(&first));
    let text = stdout(&first);
    let changes: Vec<&str> = text
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with("          "))
        .collect();
    assert_eq!(changes.len(), 2, "{text}");
    assert!(
        changes[0].contains("user:tester") && changes[0].contains("quota of tester"),
        "{text}"
    );
    assert!(
        changes[1].contains("job tester/test/hist created: 2 instances"),
        "{text}"
    );
    let second = cli.aurora(&["cluster", "diff", "devcluster", "--from", &before_update]);
    let text = stdout(&second);
    assert_eq!(code(&second), Some(0), "{}", stderr(&second));
    let changes: Vec<&str> = text
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with("          "))
        .collect();
    assert_eq!(changes.len(), 1, "{text}");
    assert!(
        changes[0].contains("scheduler for tester")
            && changes[0].contains("job tester/test/hist: config"),
        "{text}"
    );
    assert!(
        text.contains("-") && text.contains("# v1") && text.contains("# v2"),
        "a config diff: {text}"
    );
    let other_role = json(&cli.aurora(&[
        "cluster",
        "diff",
        "devcluster",
        "--from",
        &before_anything,
        "--role",
        "nobody",
        "--write-json",
    ]));
    assert_eq!(other_role["changes"], serde_json::json!([]), "{other_role}");

    // why: an old task was KILLED by the update tester started.
    let why = cli.aurora(&["why", &old[0]]);
    assert_eq!(code(&why), Some(0), "{}", stderr(&why));
    let text = stdout(&why);
    let lines: Vec<&str> = text.lines().skip(1).collect();
    assert!(
        lines[0].contains("update") && lines[0].contains("started by tester"),
        "{text}"
    );
    assert!(
        lines.iter().any(|l| l.contains("INSTANCE_UPDATING")),
        "{text}"
    );
    assert!(
        lines.iter().any(|l| l.contains("Killed for job update")),
        "{text}"
    );
    assert!(lines.last().unwrap().contains("KILLED"), "{text}");
    let why = json(&cli.aurora(&["why", &old[0], "--write-json"]));
    let chain = why["chain"].as_array().unwrap();
    assert_eq!(chain.last().unwrap()["actor"]["user"], "tester", "{why}");
    assert!(why["missing_cause"].is_null());

    // task history: the whole lifecycle, each step with its seq, actor and host.
    let history = cli.aurora(&["task", "history", &old[0]]);
    assert_eq!(code(&history), Some(0), "{}", stderr(&history));
    let text = stdout(&history);
    assert!(text.starts_with(&format!("Task {}", old[0])), "{text}");
    for status in [
        "PENDING", "ASSIGNED", "STARTING", "RUNNING", "KILLING", "KILLED",
    ] {
        assert!(text.contains(status), "{status} missing from {text}");
    }
    assert!(text.contains(" on "), "the host it was assigned to: {text}");
    let missing = cli.aurora(&["task", "history", "no-such-task"]);
    assert_ne!(code(&missing), Some(0));
    assert!(
        stderr(&missing).contains("no such task"),
        "{}",
        stderr(&missing)
    );

    // A task that fails is rescheduled; its replacement's history shows where it came from.
    let doomed = write(
        "doomed.aurora",
        "work = Process(name = 'work', cmdline = 'sleep 1; exit 1')
jobs = [Service(cluster = 'devcluster', role = 'tester', environment = 'test', name = 'doomed',
  max_task_failures = -1,
  task = Task(name = 'doomed', processes = [work],
              resources = Resources(cpu = 0.01, ram = 8 * MB, disk = 8 * MB)))]
"
        .to_string(),
    );
    let created = cli.aurora_within(
        LIMIT,
        &[
            "job",
            "create",
            "devcluster/tester/test/doomed",
            &doomed,
            "--wait-until",
            "RUNNING",
        ],
    );
    assert_eq!(code(&created), Some(0), "{}", stderr(&created));
    let mut replacement = String::new();
    wait_for("a rescheduled task", || {
        let found = tasks(port, "tester/test/doomed")
            .into_iter()
            .find(|t| !t["ancestor"].is_null());
        if let Some(task) = found {
            replacement = task["id"].as_str().unwrap().to_string();
        }
        !replacement.is_empty()
    });
    let history = json(&cli.aurora(&["task", "history", &replacement, "--write-json"]));
    let chain = history.as_array().unwrap();
    assert!(chain.len() >= 2, "{history}");
    assert_eq!(chain.last().unwrap()["id"], replacement.as_str());
    assert!(
        chain[0]["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["status"] == "FAILED"),
        "the ancestor failed: {history}"
    );

    // A killall is how a job goes away: the diff says so, and who did it.
    let before_kill = journal_last(port).to_string();
    let killed = cli.aurora_within(LIMIT, &["job", "killall", KEY]);
    assert_eq!(code(&killed), Some(0), "{}", stderr(&killed));
    let diff = cli.aurora(&["cluster", "diff", "devcluster", "--from", &before_kill]);
    assert_eq!(code(&diff), Some(0), "{}", stderr(&diff));
    let text = stdout(&diff);
    // The client kills a batch (one instance, as Aurora's) per call: one change each.
    let kills: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(kills.len(), 2, "{text}");
    assert!(
        kills[0].contains("user:tester")
            && kills[0].contains("job tester/test/hist: instance 0 killed; 1 left"),
        "{text}"
    );
    assert!(
        kills[1].contains("job tester/test/hist: instance 1 killed; none left"),
        "{text}"
    );
}

/// Copies a directory tree (regular files and directories; anything else is skipped).
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn the_hash_chain_names_an_event_rewritten_on_disk() {
    become_subreaper();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("aurora-data");
    let port = free_port();
    let scheduler_process = scheduler(&["--dev"], &data, port);
    let cli = Cli::new(&cli_binaries(), dir.path(), port);
    for cpu in ["1", "2", "3"] {
        let quota = cli.admin(&["set_quota", "devcluster", "tester", cpu, "4G", "4G"]);
        assert_eq!(code(&quota), Some(0), "{}", stderr(&quota));
    }
    let clean = cli.admin(&["journal", "verify", "devcluster"]);
    assert_eq!(code(&clean), Some(0), "{}", stderr(&clean));
    assert!(
        stdout(&clean).contains("hash chain intact from seq 2 to the head"),
        "{}",
        stdout(&clean)
    );
    // Checked in parts of two events, one request each, it reads the same.
    let parts = cli.admin(&["journal", "verify", "devcluster", "--batch", "2"]);
    assert_eq!(code(&parts), Some(0), "{}", stderr(&parts));
    assert_eq!(stdout(&parts), stdout(&clean));
    let head = cli.admin(&["journal", "head", "devcluster"]);
    assert_eq!(code(&head), Some(0), "{}", stderr(&head));
    let (_, pinned) = support::http(port, "GET", "/api/v1/journal/head", None).unwrap();
    let hash = pinned["hash"].as_str().unwrap();
    assert!(stdout(&head).contains(hash), "{}", stdout(&head));
    // A later verify passes through the pinned head; a wrong hash or a seq not reached fails.
    let pin = format!("{}:{hash}", pinned["seq"]);
    let quota = cli.admin(&["set_quota", "devcluster", "tester", "4", "4G", "4G"]);
    assert_eq!(code(&quota), Some(0), "{}", stderr(&quota));
    let through = cli.admin(&["journal", "verify", "devcluster", "--pinned", &pin]);
    assert_eq!(code(&through), Some(0), "{}", stderr(&through));
    assert!(
        stdout(&through).contains(&format!(
            "passes through the pinned head, seq {}",
            pinned["seq"]
        )),
        "{}",
        stdout(&through)
    );
    let wrong = format!("{}:{}", pinned["seq"], "ab".repeat(32));
    let refused = cli.admin(&["journal", "verify", "devcluster", "--pinned", &wrong]);
    assert_eq!(code(&refused), Some(4), "{}", stdout(&refused));
    assert!(
        stderr(&refused).contains("was altered"),
        "{}",
        stderr(&refused)
    );
    let beyond = format!("9999:{hash}");
    let refused = cli.admin(&["journal", "verify", "devcluster", "--pinned", &beyond]);
    assert_eq!(code(&refused), Some(4), "{}", stdout(&refused));
    assert!(
        stderr(&refused).contains("were removed"),
        "{}",
        stderr(&refused)
    );
    let (_, newest) = support::http(port, "GET", "/api/v1/journal/head", None).unwrap();
    let newest_pin = format!("{}:{}", newest["seq"], newest["hash"].as_str().unwrap());

    // Whoever rewrites a quota change's actor in a copy of the files, checksum and all, is
    // named by the link after it.
    let events = support::events_from(port, 1);
    let quota_set = events
        .iter()
        .find(|e| e["event"].get("QuotaSet").is_some())
        .and_then(|e| e["seq"].as_u64())
        .expect("a quota event");
    drop(scheduler_process);
    let copy = dir.path().join("copy");
    copy_tree(&data, &copy);
    aurora_journal::RocksJournal::rewrite_record(&copy, quota_set, |envelope| {
        envelope.actor = aurora_events::Actor::User("mallory".into());
    })
    .unwrap();
    let copy_port = free_port();
    let _copy_scheduler = scheduler(&["--dev"], &copy, copy_port);
    let copy_cli = Cli::new(&cli_binaries(), dir.path(), copy_port);
    let tampered = copy_cli.admin(&["journal", "verify", "devcluster"]);
    assert_eq!(code(&tampered), Some(4), "{}", stdout(&tampered));
    let expected = format!("seq {} is damaged", quota_set + 1);
    assert!(
        stderr(&tampered).contains(&expected)
            && stderr(&tampered).contains(&format!("at or before seq {quota_set}")),
        "{}",
        stderr(&tampered)
    );
    // In parts of one event, the altered one and the one after it fall in different parts:
    // the later part still goes on from the record before it, and names the same seq.
    let tampered = copy_cli.admin(&["journal", "verify", "devcluster", "--batch", "1"]);
    assert_eq!(code(&tampered), Some(4), "{}", stdout(&tampered));
    assert!(
        stderr(&tampered).contains(&expected),
        "{}",
        stderr(&tampered)
    );

    // The newest event rewritten: no link after it names it, so only the pinned head does.
    let newest_seq = newest["seq"].as_u64().unwrap();
    let copy = dir.path().join("copy-of-the-head");
    copy_tree(&data, &copy);
    aurora_journal::RocksJournal::rewrite_record(&copy, newest_seq, |envelope| {
        envelope.actor = aurora_events::Actor::User("mallory".into());
    })
    .unwrap();
    let head_port = free_port();
    let _head_scheduler = scheduler(&["--dev"], &copy, head_port);
    let head_cli = Cli::new(&cli_binaries(), dir.path(), head_port);
    let unpinned = head_cli.admin(&["journal", "verify", "devcluster"]);
    assert_eq!(code(&unpinned), Some(0), "{}", stderr(&unpinned));
    assert!(
        stdout(&unpinned).contains("--pinned SEQ:HASH"),
        "says what the chain alone cannot vouch for: {}",
        stdout(&unpinned)
    );
    let pinned = head_cli.admin(&["journal", "verify", "devcluster", "--pinned", &newest_pin]);
    assert_eq!(code(&pinned), Some(4), "{}", stdout(&pinned));
    assert!(
        stderr(&pinned).contains(&format!("at or before seq {newest_seq} was altered")),
        "{}",
        stderr(&pinned)
    );
}
