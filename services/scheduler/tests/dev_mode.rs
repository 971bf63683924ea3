//! Starts the real `aurora-scheduler` binary: `--dev` creates its journal and answers `/health`;
//! without `--dev` an empty data directory is refused; `--init` then makes it servable.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

mod support;

use std::time::{Duration, Instant};

use support::{
    Guard, free_port, http_text, init, run_scheduler as run, scheduler, scheduler_binary,
};

/// `/health` answers exactly `OK`.
fn assert_health_ok(port: u16) {
    assert_eq!(
        http_text(port, "GET", "/health", None),
        Some((200, "OK".to_string()))
    );
}

fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    http_text(port, "GET", path, None)
}

#[test]
fn dev_mode_creates_its_journal_and_serves_health() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("aurora-data");
    let port = free_port();
    {
        let _scheduler = scheduler(&["--dev"], &data, port);
        assert_health_ok(port);
        let (status, body) = http_get(port, "/api/v1/journal").unwrap();
        assert_eq!(status, 200);
        assert!(body.contains("\"cluster\":\"devcluster\""), "{body}");
        // Seq 1 is the cluster's initialisation; the embedded agent's registration follows.
        assert!(body.contains("\"last_seq\":"), "{body}");
        assert!(!body.contains("\"last_seq\":0"), "{body}");
        // Prometheus metrics: gauges from the state, counters from the timers' passes.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, metrics) = http_get(port, "/metrics").unwrap();
            assert_eq!(status, 200);
            assert!(
                metrics.contains("aurora_tasks{state=\"RUNNING\"} 0"),
                "{metrics}"
            );
            if metrics.contains("aurora_schedule_attempts_total") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no schedule attempt counted: {metrics}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // Aurora's /vars: `name value` lines under Aurora's names, sorted.
        let (status, vars) = http_get(port, "/vars").unwrap();
        assert_eq!(status, 200);
        for line in [
            "framework_registered 1",
            "scheduler_lifecycle_ACTIVE 1",
            "task_store_RUNNING 0",
            "http_200_responses_events ",
            "schedule_attempts_fired ",
            "scheduler_log_native_append_nanos_total ",
            "jvm_uptime_secs ",
        ] {
            assert!(
                vars.lines().any(|l| l.starts_with(line)),
                "{line:?} missing from /vars:\n{vars}"
            );
        }
        assert!(
            vars.lines().all(|l| l.split(' ').count() == 2
                && l.split(' ').nth(1).unwrap().parse::<u64>().is_ok()),
            "{vars}"
        );
        let (status, json) = http_get(port, "/vars.json").unwrap();
        assert_eq!(status, 200);
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(json["scheduler_lifecycle_ACTIVE"], 1, "{json}");
    }
    // The journal it created is a real, initialised one: a non-dev start serves it.
    let port = free_port();
    let _scheduler = scheduler(&["--insecure-no-auth"], &data, port);
    assert_health_ok(port);
}

#[test]
fn a_scheduler_without_authentication_refuses_to_serve_unless_told() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    init(&data);
    let refused = run(&[], &data);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("--auth FILE") && stderr.contains("--insecure-no-auth"),
        "{stderr}"
    );
    // A replica with users but no secret shared with its peers would leave Raft open.
    let auth = dir.path().join("auth.toml");
    std::fs::write(&auth, "[users.ops]\ntokens = [\"sha256:0000000000000000000000000000000000000000000000000000000000000000\"]\npermissions = [\"admin:*\"]\n").unwrap();
    let replica = run(
        &[
            "--replica-id",
            "1",
            "--peers",
            "1=http://127.0.0.1:9",
            "--cluster",
            "west",
            "--auth",
            auth.to_str().unwrap(),
        ],
        &dir.path().join("replica"),
    );
    assert!(!replica.status.success());
    let stderr = String::from_utf8_lossy(&replica.stderr);
    assert!(stderr.contains("--replication-secret FILE"), "{stderr}");
    // Told, it serves, and every page says it runs without authentication.
    let port = free_port();
    let _scheduler = scheduler(&["--insecure-no-auth"], &data, port);
    let (status, page) = http_text(port, "GET", "/scheduler", None).unwrap();
    assert_eq!(status, 200);
    assert!(
        page.contains(r#"id="warning""#) && page.contains("without authentication"),
        "{page}"
    );
}

#[test]
fn an_uninitialised_directory_is_refused_until_init() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("empty");
    let refused = run(&["--insecure-no-auth"], &data);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("no initialised journal"), "{stderr}");
    assert!(!data.exists(), "a refused start must not create anything");

    let init = run(&["--init", "--cluster", "west"], &data);
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let again = run(&["--init"], &data);
    assert!(!again.status.success(), "initialising twice must fail");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already initialised"));

    let port = free_port();
    let _scheduler = scheduler(&["--insecure-no-auth"], &data, port);
    assert_health_ok(port);
    let (_, body) = http_get(port, "/api/v1/journal").unwrap();
    assert!(body.contains("\"cluster\":\"west\""), "{body}");
}

/// The probe's finding, reproduced: 3,000 acknowledged quota changes, the scheduler killed
/// with -9, its write-ahead log cut in half. The scheduler refuses to start (it used to serve
/// a shorter history and reuse seqs), names the loss and the way out; `--accept-truncation`
/// records the loss as an event, and the scheduler then starts on what is left.
#[test]
fn a_damaged_write_ahead_log_is_refused_until_the_loss_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    support::init(&data);
    let port = free_port();
    let mut first = scheduler(&["--insecure-no-auth"], &data, port);
    let mut acknowledged = 0;
    for n in 0..3000u32 {
        let quota = serde_json::json!({"cpus": 1.0, "ram_mb": 1 + n, "disk_mb": 1});
        let (status, body) = support::http(
            port,
            "PUT",
            &format!("/api/v1/quota/role{}", n % 50),
            Some(&quota),
        )
        .unwrap();
        assert_eq!(status, 200, "{body}");
        acknowledged = body["last_seq"].as_u64().unwrap();
    }
    first.kill_now();
    // Cut the write-ahead log (where the acknowledged events are after a crash) in half.
    let log = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let size = std::fs::metadata(&log).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(size / 2)
        .unwrap();

    let refused = run(&["--insecure-no-auth"], &data);
    assert!(
        !refused.status.success(),
        "must not start on a shorter history"
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(&format!("acknowledged seq {acknowledged}")),
        "names what was acknowledged: {stderr}"
    );
    assert!(
        stderr.contains("--accept-truncation"),
        "names the way out: {stderr}"
    );
    let dev = run(&["--dev"], &data);
    assert!(!dev.status.success(), "--dev does not start over either");

    let accepted = run(&["--accept-truncation"], &data);
    assert!(
        accepted.status.success(),
        "{}",
        String::from_utf8_lossy(&accepted.stderr)
    );
    let said = String::from_utf8_lossy(&accepted.stdout);
    assert!(said.contains("recorded the loss of seqs"), "{said}");

    let port = free_port();
    let _second = scheduler(&["--insecure-no-auth"], &data, port);
    assert_health_ok(port);
    let (_, info) = support::http(port, "GET", "/api/v1/journal", None).unwrap();
    let last = info["last_seq"].as_u64().unwrap();
    assert!(last < acknowledged, "what is left: {info}");
    let recorded = support::events_from(port, 1)
        .into_iter()
        .any(|e| e["event"]["JournalTruncationAccepted"]["acknowledged"] == acknowledged);
    assert!(recorded, "the loss is on the record");
}

/// `aurora-scheduler --dev --auth FILE` in a home of its own (no `~/.netrc`, no dev token),
/// with `AURORA_TOKEN` set to `token` or unset, its standard output and error captured.
fn dev_with_auth(dir: &std::path::Path, token: Option<&str>) -> Guard {
    let auth = dir.join("auth.toml");
    let digest = aurora_auth::token_digest(&aurora_auth::new_token([9; 32]));
    std::fs::write(
        &auth,
        format!("[users.vm]\ntokens = [\"{digest}\"]\npermissions = [\"agent:*\"]\n"),
    )
    .unwrap();
    let mut command = std::process::Command::new(scheduler_binary());
    command
        .args(["--dev", "--auth"])
        .arg(&auth)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--http-port", &free_port().to_string()])
        .env("HOME", dir)
        .env_remove("AURORA_TOKEN")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(token) = token {
        command.env("AURORA_TOKEN", token);
    }
    Guard(command.spawn().unwrap())
}

/// A token that cannot go in a header (a line break in it) is a refusal to start naming
/// where it came from, as the CLI's; the embedded agent used to log one error and retry
/// registering anonymously for ever behind a healthy banner.
#[test]
fn dev_with_auth_refuses_an_agent_credential_it_cannot_send() {
    let dir = tempfile::tempdir().unwrap();
    let token = format!("{}\n=", aurora_auth::new_token([9; 32]));
    let mut scheduler = dev_with_auth(dir.path(), Some(&token));
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = scheduler.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the scheduler started anyway");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(!status.success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(scheduler.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.contains("the credential from AURORA_TOKEN cannot be sent in an HTTP header")
            && stderr.contains("line break"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(&aurora_auth::new_token([9; 32])),
        "{stderr}"
    );
}

/// Without any credential for its embedded agent, `--dev --auth` says so in its banner, naming
/// what to do, rather than looking healthy while no task can run.
#[test]
fn dev_with_auth_warns_when_its_agent_has_no_credential() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut scheduler = dev_with_auth(dir.path(), None);
    let stdout = scheduler.0.stdout.take().unwrap();
    let (lines, banner) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if lines.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    let mut seen = Vec::new();
    let warning = loop {
        let line = banner
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no warning in the banner: {seen:#?}"));
        if line.contains("WARNING") {
            break line;
        }
        seen.push(line);
    };
    assert!(
        warning.contains("the embedded agent has no credential")
            && warning.contains("AURORA_TOKEN")
            && warning.contains("agent:*"),
        "{warning}"
    );
}
