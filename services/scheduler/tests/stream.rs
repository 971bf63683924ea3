//! The JetStream mirror end to end: `aurora-scheduler --dev --nats URL` against a real
//! nats-server, `aurora events tail` from both sources (the same lines), and
//! `aurora-admin journal verify --against-stream` agreeing, then naming a deleted message.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

#[path = "../../../cli/tests/support/mod.rs"]
mod cli_support;
mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use aurora_stream::testing::NatsServer;
use cli_support::{Cli, SERVICE, code, stderr, stdout};
use support::{Guard, become_subreaper, free_port, metric, scheduler, wait_for, workspace_binary};

fn journal_last(port: u16) -> u64 {
    let (_, info) = support::http(port, "GET", "/api/v1/journal", None).unwrap();
    info["last_seq"].as_u64().unwrap()
}

/// The seq at the start of a tail line.
fn seq_of(line: &str) -> u64 {
    line.split_whitespace().next().unwrap().parse().unwrap()
}

/// Starts `aurora events tail ... --follow` and hands its lines over a channel.
fn follow(bin_dir: &Path, root: &Path, args: &[&str]) -> (Guard, mpsc::Receiver<String>) {
    let mut child = Command::new(bin_dir.join("aurora"))
        .args(["events", "tail"])
        .args(args)
        .env("AURORA_CONFIG_ROOT", root.join("client/etc"))
        .env("HOME", root.join("client"))
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    (Guard(child), rx)
}

/// Lines from `rx` until one shows seq `last` (within 30 s).
fn lines_through(rx: &mpsc::Receiver<String>, last: u64) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no line up to seq {last}; got {lines:#?}"));
        let seq = seq_of(&line);
        lines.push(line);
        if seq >= last {
            return lines;
        }
    }
}

#[test]
fn the_mirror_the_tail_and_the_verifier_agree() {
    become_subreaper();
    let mut nats = NatsServer::start().expect("nats-server (./ops/test installs it)");
    let dir = tempfile::tempdir().unwrap();
    let refused = support::run_scheduler(
        &["--dev", "--nats", "http://127.0.0.1:4222"],
        &dir.path().join("never"),
    );
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("is not a NATS server URL"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let port = free_port();
    let _scheduler = scheduler(
        &["--dev", "--nats", &nats.url()],
        &dir.path().join("aurora-data"),
        port,
    );
    workspace_binary("aurora-cli", "aurora-admin");
    let aurora = workspace_binary("aurora-cli", "aurora");
    let bin_dir = aurora.parent().unwrap().to_path_buf();
    let cli = Cli::new(&bin_dir, dir.path(), port);
    let config = dir.path().join("sleeper.aurora");
    std::fs::write(&config, SERVICE).unwrap();
    let config = config.to_str().unwrap();
    let key = "devcluster/tester/test/sleeper";
    let created = cli.aurora(&["job", "create", key, config, "--wait-until", "RUNNING"]);
    assert_eq!(code(&created), Some(0), "{}", stderr(&created));

    let last = journal_last(port);
    wait_for("the mirror to catch up", || {
        metric(port, "aurora_stream_published_seq").is_some_and(|seq| seq as u64 >= last)
    });
    assert_eq!(metric(port, "aurora_stream_mirror_healthy"), Some(1.0));

    // The standalone read side, fed from the stream, serves the same job page once caught up.
    let web_port = free_port();
    let web = workspace_binary("aurora-read-side", "aurora-web");
    let web_state = dir.path().join("web-state");
    let nats_url = nats.url();
    // The read side takes an auth file that knows the dev token the helpers send, with reads
    // closed to anonymous requests: pages then come through its gate as through the scheduler's.
    let dev_token = std::fs::read_to_string(aurora_auth::client::dev_token_path(
        std::path::Path::new(&std::env::var("HOME").unwrap()),
    ))
    .unwrap();
    let auth = dir.path().join("auth.toml");
    std::fs::write(
        &auth,
        format!(
            "anonymous_read = false\n[users.tester]\ntokens = [\"{}\"]\npermissions = [\"admin:*\"]\n",
            aurora_auth::token_digest(dev_token.trim())
        ),
    )
    .unwrap();
    let start_web = || {
        let mut child = Command::new(&web)
            .args(["--nats", &nats_url, "--cluster", "devcluster", "--auth"])
            .arg(&auth)
            .args(["--http-port", &web_port.to_string()])
            .arg("--state-dir")
            .arg(&web_state)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Its first line says where it starts from.
        let mut banner = String::new();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        std::io::BufRead::read_line(&mut out, &mut banner).unwrap();
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        (Guard(child), banner)
    };
    let (mut web_process, banner) = start_web();
    assert!(banner.contains("resumed from local seq 0"), "{banner}");
    let page = "/scheduler/tester/test/sleeper";
    let mut pages = (String::new(), String::new());
    let same = || {
        let ours = support::http_text(web_port, "GET", page, None);
        let theirs = support::http_text(port, "GET", page, None);
        match (ours, theirs) {
            (Some((200, ours)), Some((200, theirs))) => (ours, theirs),
            _ => (String::new(), "unavailable".into()),
        }
    };
    support::wait_for_within(
        60,
        "the read side's job page to equal the scheduler's",
        || {
            pages = same();
            pages.0 == pages.1
        },
    );
    assert!(pages.0.contains("sleeper"), "{}", pages.0);
    // Without credentials the read side answers nothing but a 401.
    {
        use std::io::{Read, Write};
        let mut raw = std::net::TcpStream::connect(("127.0.0.1", web_port)).unwrap();
        write!(
            raw,
            "GET {page} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        raw.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    }
    let past = format!("{page}?at=5");
    assert_eq!(
        support::http_text(web_port, "GET", &past, None),
        support::http_text(port, "GET", &past, None),
        "past views replayed from the stream equal the scheduler's"
    );
    // And the same read API, the history queries included.
    let (_, tasks) = support::http(port, "GET", "/api/v1/jobs/tester/test/sleeper/tasks", None)
        .expect("the job's tasks");
    let task = tasks[0]["id"].as_str().expect("a task id").to_string();
    for path in [
        "/api/v1/jobs".to_string(),
        "/api/v1/jobs?role=tester".to_string(),
        "/api/v1/jobs/tester/test/sleeper/tasks?configs=true".to_string(),
        "/api/v1/jobs/tester/test/sleeper/tasks?at=5".to_string(),
        "/api/v1/jobs/tester/test/sleeper/config-summary".to_string(),
        "/api/v1/tasks?statuses=RUNNING".to_string(),
        format!("/api/v1/tasks/{task}?configs=true"),
        format!("/api/v1/tasks/{task}/history"),
        format!("/api/v1/tasks/{task}/why"),
        "/api/v1/quota/tester".to_string(),
        "/api/v1/updates".to_string(),
        "/api/v1/maintenance".to_string(),
        "/api/v1/pending".to_string(),
        "/api/v1/diff?from=1".to_string(),
    ] {
        // Equal once the read side has folded whatever the scheduler committed meanwhile.
        let mut answers = (None, None);
        support::wait_for_within(30, &format!("the read side to answer {path} alike"), || {
            answers = (
                support::http(web_port, "GET", &path, None),
                support::http(port, "GET", &path, None),
            );
            answers.0 == answers.1
        });
        assert!(
            answers.1.as_ref().is_some_and(|(status, _)| *status == 200),
            "{path}: {answers:?}"
        );
    }
    let (_, with_configs) = support::http(
        web_port,
        "GET",
        "/api/v1/jobs/tester/test/sleeper/tasks?configs=true",
        None,
    )
    .expect("tasks with configs");
    assert!(
        with_configs[0]["task_config"].is_object(),
        "the read side finds each task's config: {with_configs}"
    );
    let why =
        support::http(web_port, "GET", &format!("/api/v1/tasks/{task}/why"), None).expect("why");
    assert!(
        why.1["chain"].as_array().is_some_and(|c| c.len() >= 2),
        "the chain reaches the create command: {why:?}"
    );
    let refused = support::http(
        web_port,
        "GET",
        "/api/v1/jobs/tester/test/sleeper/tasks?at=x",
        None,
    )
    .expect("an answer");
    assert_eq!(refused.0, 400, "{refused:?}");

    // `events tail ARGS` from JetStream and from the scheduler: they must print alike.
    let url = nats.url();
    let tail_both = |args: &[&str]| -> String {
        let printed: Vec<String> = ["nats", "scheduler"]
            .iter()
            .map(|source| {
                let mut all = vec!["events", "tail"];
                all.extend_from_slice(args);
                all.extend_from_slice(&["--source", source, "--nats", &url]);
                let out = cli.aurora(&all);
                assert_eq!(code(&out), Some(0), "{source}: {}", stderr(&out));
                stdout(&out)
            })
            .collect();
        assert_eq!(
            printed[0], printed[1],
            "JetStream and the scheduler print alike: {args:?}"
        );
        printed[0].clone()
    };

    // Strictly after --from.
    let tail = tail_both(&["devcluster", "--from", "3"]);
    let seqs: Vec<u64> = tail.lines().map(seq_of).collect();
    assert_eq!(seqs, (4..=last).collect::<Vec<_>>(), "{tail}");
    assert!(tail.contains("user:tester"), "{tail}");

    // --from TIME: strictly after the last event committed at or before that instant.
    let events = support::events_from(port, 1);
    let pivot = events[events.len() / 2]["at"].as_i64().unwrap();
    let after = events
        .iter()
        .filter(|e| e["at"].as_i64().unwrap() <= pivot)
        .map(|e| e["seq"].as_u64().unwrap())
        .max()
        .unwrap();
    let instant = format!("{}", jiff::Timestamp::from_millisecond(pivot).unwrap());
    let tail = tail_both(&["devcluster", "--from", &instant]);
    let first = tail.lines().next().map(seq_of);
    assert_eq!(first, Some(after + 1), "from {instant}");

    // Filters: one job's task events, both sources alike.
    let filtered = tail_both(&["devcluster/tester/test/sleeper", "--kind", "task", "--json"]);
    let lines: Vec<serde_json::Value> = filtered
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines.len() >= 6,
        "two tasks created, assigned, started...: {lines:?}"
    );
    for line in &lines {
        assert_eq!(line["format"], 1);
        let event = line["envelope"]["event"].as_object().unwrap();
        let (kind, body) = event.iter().next().unwrap();
        assert!(kind.starts_with("Task"), "{line}");
        assert_eq!(body["job"]["name"], "sleeper", "{line}");
    }

    // The read side stops here (kill -9); it restarts further down on its local log.
    web_process.kill_now();
    let folded = journal_last(port);

    // Following: both sources print the same live events.
    let now = journal_last(port).to_string();
    let (_nats_tail, from_nats) = follow(
        &bin_dir,
        dir.path(),
        &[
            "devcluster",
            "--follow",
            "--from",
            &now,
            "--source",
            "nats",
            "--nats",
            &url,
        ],
    );
    let (_sse_tail, from_sse) = follow(
        &bin_dir,
        dir.path(),
        &[
            "devcluster",
            "--follow",
            "--from",
            &now,
            "--source",
            "scheduler",
        ],
    );
    let killed = cli.aurora(&["job", "killall", key]);
    assert_eq!(code(&killed), Some(0), "{}", stderr(&killed));
    let last = journal_last(port);
    let live_nats = lines_through(&from_nats, last);
    let live_sse = lines_through(&from_sse, last);
    assert_eq!(live_nats, live_sse);
    let seqs: Vec<u64> = live_nats.iter().map(|l| seq_of(l)).collect();
    let first = now.parse::<u64>().unwrap() + 1;
    assert_eq!(seqs, (first..=last).collect::<Vec<_>>());
    assert!(
        live_nats.iter().any(|l| l.contains("KILLING")),
        "{live_nats:#?}"
    );

    // NATS down: commits go on, unhindered; the mirror's lag shows, and it catches up after.
    nats.stop();
    let started = std::time::Instant::now();
    let recreated = cli.aurora(&["job", "create", key, config, "--wait-until", "RUNNING"]);
    assert_eq!(code(&recreated), Some(0), "{}", stderr(&recreated));
    assert!(started.elapsed() < Duration::from_secs(60));
    wait_for("the lag to show while NATS is down", || {
        metric(port, "aurora_stream_mirror_lag_events").is_some_and(|lag| lag > 0.0)
    });
    wait_for("the mirror to report itself unhealthy", || {
        metric(port, "aurora_stream_mirror_healthy") == Some(0.0)
    });
    nats.resume().unwrap();

    // The verifier agrees, then names a deleted message.
    wait_for("the mirror to catch up", || {
        metric(port, "aurora_stream_mirror_lag_events") == Some(0.0)
    });
    let verify = || {
        cli.admin(&[
            "journal",
            "verify",
            "devcluster",
            "--against-stream",
            "--nats",
            &url,
        ])
    };
    let verified = verify();
    assert_eq!(code(&verified), Some(0), "{}", stderr(&verified));
    assert!(
        stdout(&verified).contains("holds exactly the journal's"),
        "{}",
        stdout(&verified)
    );
    // Restarted on its local log (with a torn tail, as a crash mid-write leaves), the read side
    // resumes from its own copy rather than seq 0, and folds what was committed meanwhile
    // (the kill, the outage, the re-creation).
    let log = web_state.join("devcluster.events");
    let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    std::io::Write::write_all(&mut file, &[99, 0, 0, 0, 1, 2]).unwrap();
    drop(file);
    let (_web_process, banner) = start_web();
    let resumed: u64 = banner
        .split("resumed from local seq ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|seq| seq.parse().ok())
        .unwrap_or_else(|| panic!("no resume position in {banner:?}"));
    assert!(resumed > 0 && resumed <= folded, "{banner}");
    support::wait_for_within(60, "the restarted read side to catch up", || {
        pages = same();
        pages.0 == pages.1
    });
    assert!(
        pages.0.contains("KILLED"),
        "the kill is folded: {}",
        pages.0
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = async_nats::connect(nats.url()).await.unwrap();
        let stream = async_nats::jetstream::new(client)
            .get_stream(aurora_stream::subject::stream_name("devcluster"))
            .await
            .unwrap();
        assert!(stream.delete_message(5).await.unwrap());
    });
    let tampered = verify();
    assert_eq!(code(&tampered), Some(4), "{}", stdout(&tampered));
    assert!(
        stderr(&tampered).contains("seq 5 is in the journal but not in the stream"),
        "{}",
        stderr(&tampered)
    );
}
