//! `aurora-admin sla_host_drain` end to end against `aurora-scheduler --dev` (one host): a
//! two-instance service whose SLA keeps one instance up drains one instance at a time (one
//! RUNNING, one PENDING: the host takes nothing new while it drains), the drain's timeout
//! forces the other, and `host_activate` brings both back to RUNNING. Before it, `aurora sla`
//! reports the job's uptime. A job under a coordinator policy drains only the instance its
//! coordinator (a small HTTP server in the test) allows, once it stops saying no.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

#[path = "../../../cli/tests/support/mod.rs"]
mod cli_support;
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cli_support::{Cli, code, stderr, stdout};
use support::{
    become_subreaper, free_port, http, scheduler, tasks, wait_for_within, workspace_binary,
};

const KEEP_ONE_UP: &str = "\
sleep = Process(name = 'sleep', cmdline = 'exec sleep 600')
jobs = [Service(
  cluster = 'devcluster', role = 'tester', environment = 'test', name = 'web',
  instances = 2, sla_policy = CountSlaPolicy(count = 1, duration_secs = 0),
  task = Task(name = 'web', processes = [sleep],
              resources = Resources(cpu = 0.1, ram = 16 * MB, disk = 16 * MB)))]
";

/// The job's active tasks' statuses, sorted.
fn statuses(port: u16) -> Vec<String> {
    let mut statuses: Vec<String> = tasks(port, "tester/test/web")
        .iter()
        .map(|t| t["status"].as_str().unwrap_or_default().to_string())
        .filter(|s| !["FINISHED", "FAILED", "KILLED", "LOST"].contains(&s.as_str()))
        .collect();
    statuses.sort();
    statuses
}

#[test]
fn an_sla_aware_drain_keeps_the_sla_until_its_timeout_and_activation_brings_tasks_back() {
    become_subreaper();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // Aurora's defaults skip the SLA of a two-instance, non-production job: check it.
    let _scheduler = scheduler(
        &[
            "--dev",
            "--min-required-instances-for-sla-check",
            "1",
            "--sla-aware-kill-non-prod",
        ],
        &dir.path().join("aurora-data"),
        port,
    );
    workspace_binary("aurora-cli", "aurora");
    let admin = workspace_binary("aurora-cli", "aurora-admin");
    let cli = Cli::new(admin.parent().unwrap(), dir.path(), port);
    let config = dir.path().join("web.aurora");
    std::fs::write(&config, KEEP_ONE_UP).unwrap();
    let created = cli.aurora(&[
        "job",
        "create",
        "devcluster/tester/test/web",
        config.to_str().unwrap(),
        "--wait-until",
        "RUNNING",
    ]);
    assert_eq!(code(&created), Some(0), "{}", stderr(&created));
    assert_eq!(statuses(port), ["RUNNING", "RUNNING"]);
    // Aurora's uptime reports: both instances up, for less than an hour.
    let up = cli.aurora(&[
        "sla",
        "get-task-up-count",
        "devcluster/tester/test/web",
        "--durations",
        "0s,1h",
    ]);
    assert_eq!(code(&up), Some(0), "{}", stderr(&up));
    assert_eq!(stdout(&up), "0 secs\t- 100.00 %\n1 hrs\t- 0.00 %\n");
    let uptime = cli.aurora(&[
        "sla",
        "get_job_uptime",
        "devcluster/tester/test/web",
        "--percentiles",
        "50",
    ]);
    assert_eq!(code(&uptime), Some(0), "{}", stderr(&uptime));
    assert!(
        stdout(&uptime).starts_with("50.0 percentile\t- ")
            && stdout(&uptime).ends_with(" seconds\n"),
        "{}",
        stdout(&uptime)
    );
    let (_, hosts) = http(port, "GET", "/api/v1/maintenance", None).unwrap();
    let host = hosts[0]["host"].as_str().unwrap().to_string();

    let drained = cli.admin(&[
        "sla_host_drain",
        "--hosts",
        &host,
        "--force_drain_timeout",
        "20s",
        "devcluster",
    ]);
    assert_eq!(code(&drained), Some(0), "{}", stderr(&drained));
    assert!(stdout(&drained).contains("SLA-aware drain requested"));
    // One instance goes; its replacement waits, since the only host is draining; the other
    // stays up, as the SLA says.
    wait_for_within(15, "one instance drained", || {
        statuses(port) == ["PENDING", "RUNNING"]
    });
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        assert_eq!(statuses(port), ["PENDING", "RUNNING"], "the SLA holds");
        std::thread::sleep(Duration::from_millis(250));
    }
    // Past the timeout: the other is drained regardless.
    wait_for_within(40, "the timeout forcing the rest", || {
        statuses(port) == ["PENDING", "PENDING"]
    });
    wait_for_within(10, "the emptied host DRAINED", || {
        let status = cli.admin(&["host_status", "--hosts", &host, "devcluster"]);
        stdout(&status).contains("DRAINED")
    });

    let activated = cli.admin(&["host_activate", "--hosts", &host, "devcluster"]);
    assert_eq!(code(&activated), Some(0), "{}", stderr(&activated));
    wait_for_within(30, "both instances running again", || {
        statuses(port) == ["RUNNING", "RUNNING"]
    });
    // The drain is in the audit trail, with its actor.
    let (_, audit) = http(port, "GET", "/api/v1/audit?kind=host", None).unwrap();
    let entries = audit["entries"].as_array().cloned().unwrap_or_default();
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "sla drain" && e["target"] == host.as_str()),
        "{audit}"
    );
}

/// The bodies a coordinator was sent.
type Asked = Arc<Mutex<Vec<serde_json::Value>>>;

/// A coordinator on a free loopback port: says no to everything until `yes` is set, then yes
/// for instance 0 only. Returns its URL and the bodies it was sent.
fn coordinator(yes: Arc<AtomicBool>) -> (String, Asked) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/drain", listener.local_addr().unwrap());
    let asked = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&asked);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(value) = lower.strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let yes = yes.load(Ordering::SeqCst) && body["instanceId"] == 0;
            seen.lock().unwrap().push(body);
            let answer = format!("{{\"drain\": {yes}}}");
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (url, asked)
}

#[test]
fn a_coordinated_drain_waits_for_the_coordinators_yes() {
    become_subreaper();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _scheduler = scheduler(
        &[
            "--dev",
            "--sla-aware-kill-non-prod",
            "--sla-coordinator-interval-secs",
            "1",
        ],
        &dir.path().join("aurora-data"),
        port,
    );
    workspace_binary("aurora-cli", "aurora");
    let admin = workspace_binary("aurora-cli", "aurora-admin");
    let cli = Cli::new(admin.parent().unwrap(), dir.path(), port);
    let saying_yes = Arc::new(AtomicBool::new(false));
    let (url, asked) = coordinator(Arc::clone(&saying_yes));
    let config = dir.path().join("web.aurora");
    std::fs::write(
        &config,
        KEEP_ONE_UP.replace(
            "CountSlaPolicy(count = 1, duration_secs = 0)",
            &format!("CoordinatorSlaPolicy(coordinator_url = '{url}', status_key = 'drain')"),
        ),
    )
    .unwrap();
    let created = cli.aurora(&[
        "job",
        "create",
        "devcluster/tester/test/web",
        config.to_str().unwrap(),
        "--wait-until",
        "RUNNING",
    ]);
    assert_eq!(code(&created), Some(0), "{}", stderr(&created));
    let (_, hosts) = http(port, "GET", "/api/v1/maintenance", None).unwrap();
    let host = hosts[0]["host"].as_str().unwrap().to_string();
    let drained = cli.admin(&["sla_host_drain", "--hosts", &host, "devcluster"]);
    assert_eq!(code(&drained), Some(0), "{}", stderr(&drained));
    // While the coordinator says no, both stay up, and each is asked again and again.
    wait_for_within(20, "both coordinators asked twice", || {
        let asked = asked.lock().unwrap();
        (0..2).all(|i| asked.iter().filter(|b| b["instanceId"] == i).count() >= 2)
    });
    assert_eq!(statuses(port), ["RUNNING", "RUNNING"], "nobody said yes");
    {
        let asked = asked.lock().unwrap();
        let first = &asked[0];
        assert_eq!(first["job"]["role"], "tester");
        assert_eq!(first["job"]["name"], "web");
        assert_eq!(first["status"], "RUNNING");
        assert_eq!(first["host"], host.as_str());
        assert!(first["taskId"].as_str().is_some_and(|t| t.contains("web")));
        // The default timeout (Aurora's 7 days) is told as the countdown to a forced drain.
        let countdown = first["forceMaintenanceCountdownMs"].as_i64().unwrap();
        assert!(countdown > 6 * 24 * 3600 * 1000, "{first}");
    }
    // Then it says yes for instance 0: that one drains, and instance 1 stays up.
    saying_yes.store(true, Ordering::SeqCst);
    wait_for_within(20, "instance 0 drained on its coordinator's yes", || {
        statuses(port) == ["PENDING", "RUNNING"]
    });
    std::thread::sleep(Duration::from_secs(3));
    let running: Vec<u64> = tasks(port, "tester/test/web")
        .iter()
        .filter(|t| t["status"] == "RUNNING")
        .filter_map(|t| t["instance"].as_u64())
        .collect();
    assert_eq!(running, [1], "instance 1's coordinator never said yes");
}
