//! `aurora task run | ssh | scp` end to end against a real `aurora-scheduler --dev` on a free
//! loopback port, whose embedded agent's observer runs the commands and takes the files. The
//! client finds the dev token under its home as a user's would (the scheduler runs with the
//! client's home), so this is the dev flow out of the box; a client without it is refused.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Cli, SERVICE, code, stderr, stdout};

const JOB: &str = "devcluster/tester/test/sleeper";

/// The scheduler, stopped with SIGINT (its agent then kills its tasks), SIGKILL after 10 s.
struct Scheduler(Child);

impl Drop for Scheduler {
    fn drop(&mut self) {
        use nix::sys::signal::{Signal, kill};
        if let Ok(pid) = i32::try_from(self.0.id()) {
            let _ = kill(nix::unistd::Pid::from_raw(pid), Signal::SIGINT);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `aurora-scheduler`, beside the `aurora` under test, built (or found up to date) by cargo
/// so that the test never runs an old one.
fn scheduler_binary() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_aurora")).with_file_name("aurora-scheduler");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build.args([
        "build",
        "--quiet",
        "-p",
        "aurora-scheduler",
        "--bin",
        "aurora-scheduler",
    ]);
    if path
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|profile| profile == "release")
    {
        build.arg("--release");
    }
    assert!(
        build.status().unwrap().success(),
        "building aurora-scheduler failed"
    );
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A minimal HTTP/1.1 exchange with `127.0.0.1:port`: (status, body).
fn http(port: u16, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b)?;
    Some((status, body.to_string()))
}

fn wait_for(what: &str, secs: u64, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One RUNNING task as the API shows it.
#[derive(Debug)]
struct Task {
    id: String,
    host: String,
    observer: String,
}

#[test]
fn task_run_ssh_and_scp_through_the_observer() {
    eprintln!("given aurora-scheduler --dev, with the client's home, and a two-instance service");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let aurora = PathBuf::from(env!("CARGO_BIN_EXE_aurora"));
    let mut cli = Cli::new(aurora.parent().unwrap(), dir.path(), port);
    cli.dev_token = false;
    let data = dir.path().join("aurora-data");
    let log = std::fs::File::create(dir.path().join("scheduler.log")).unwrap();
    let _scheduler = Scheduler(
        Command::new(scheduler_binary())
            .args(["--dev", "--http-port", &port.to_string(), "--data-dir"])
            .arg(&data)
            .env("HOME", cli.home())
            .env("USER", "tester")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    wait_for("the scheduler's /health", 60, || {
        matches!(http(port, "GET", "/health", ""), Some((200, _)))
    });
    let config = dir.path().join("sleeper.aurora");
    std::fs::write(&config, SERVICE).unwrap();
    let created = cli.aurora_within(
        Duration::from_secs(120),
        &[
            "job",
            "create",
            JOB,
            config.to_str().unwrap(),
            "--wait-until",
            "RUNNING",
        ],
    );
    assert_eq!(code(&created), Some(0));
    let (status, body) = http(port, "GET", "/api/v1/jobs/tester/test/sleeper/tasks", "").unwrap();
    assert_eq!(status, 200, "{body}");
    let tasks: Vec<Task> = serde_json::from_str::<Vec<Value>>(&body)
        .unwrap()
        .iter()
        .map(|t| Task {
            id: t["id"].as_str().unwrap().to_string(),
            host: t["host"].as_str().unwrap().to_string(),
            observer: t["observer"]
                .as_str()
                .expect("the task API names the observer")
                .to_string(),
        })
        .collect();
    assert_eq!(tasks.len(), 2, "{body}");
    let sandboxes = data.join("agent/sandboxes").canonicalize().unwrap();
    let sandbox = |i: usize| sandboxes.join(&tasks[i].id);

    eprintln!(
        "when task run runs a templated command on both instances, each answers from its sandbox"
    );
    let ran = cli.aurora(&["task", "run", JOB, "echo {{mesos.instance}} $PWD"]);
    assert_eq!(code(&ran), Some(0));
    let expected: String = (0..2)
        .map(|i| format!("{}:  {i} {}\n", tasks[i].host, sandbox(i).display()))
        .collect();
    assert_eq!(stdout(&ran), expected);
    let one = cli.aurora(&[
        "task",
        "run",
        &format!("{JOB}/1"),
        "echo {{thermos.task_id}}",
    ]);
    assert_eq!(code(&one), Some(0));
    assert_eq!(
        stdout(&one),
        format!("{}:  {}\n", tasks[1].host, tasks[1].id)
    );

    eprintln!("and a command failing on one instance fails the run, naming it");
    let failed = cli.aurora(&["task", "run", JOB, "test {{mesos.instance}} = 0"]);
    assert_eq!(code(&failed), Some(4));
    assert!(
        stderr(&failed).contains("instance 1 on"),
        "{}",
        stderr(&failed)
    );
    assert!(
        stderr(&failed).contains("exit status 1"),
        "{}",
        stderr(&failed)
    );
    let bad = cli.aurora(&["task", "run", JOB, "echo {{thermos.ports[http]}}"]);
    assert_eq!(code(&bad), Some(6));
    assert!(
        stderr(&bad).contains("no port named \"http\""),
        "{}",
        stderr(&bad)
    );

    eprintln!(
        "task ssh -c runs on one instance; without an instance it is refused; stdin lines run one by one"
    );
    let ssh = cli.aurora(&[
        "task",
        "ssh",
        &format!("{JOB}/1"),
        "-c",
        "echo {{thermos.task_id}}; pwd",
    ]);
    assert_eq!(code(&ssh), Some(0));
    assert_eq!(
        stdout(&ssh),
        format!("{}\n{}\n", tasks[1].id, sandbox(1).display())
    );
    let ssh_fails = cli.aurora(&["task", "ssh", &format!("{JOB}/0"), "-c", "exit 3"]);
    assert_eq!(code(&ssh_fails), Some(4));
    assert!(
        stderr(&ssh_fails).contains("exit status 3"),
        "{}",
        stderr(&ssh_fails)
    );
    let no_instance = cli.aurora(&["task", "ssh", JOB, "-c", "true"]);
    assert_eq!(code(&no_instance), Some(6));
    let lines = cli.aurora_with_stdin(
        &["task", "ssh", JOB],
        b"echo one\ncd /\npwd\nexit\necho never\n",
    );
    assert_eq!(code(&lines), Some(0));
    assert_eq!(stdout(&lines), format!("one\n{}\n", sandbox(0).display()));
    assert!(
        stderr(&lines).contains("using instance 0"),
        "{}",
        stderr(&lines)
    );

    eprintln!("task scp copies a file in and back out, byte for byte, with its mode");
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let local = dir.path().join("payload.bin");
    std::fs::write(&local, &bytes).unwrap();
    std::fs::set_permissions(&local, std::fs::Permissions::from_mode(0o750)).unwrap();
    let local = local.to_str().unwrap();
    let copied = cli.aurora(&["task", "scp", local, &format!("{JOB}/0:copied.bin")]);
    assert_eq!(code(&copied), Some(0));
    assert_eq!(std::fs::read(sandbox(0).join("copied.bin")).unwrap(), bytes);
    let mode = std::fs::metadata(sandbox(0).join("copied.bin"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o750);
    let into_dir = cli.aurora(&["task", "scp", local, &format!("{JOB}/1:")]);
    assert_eq!(code(&into_dir), Some(0));
    assert_eq!(
        std::fs::read(sandbox(1).join("payload.bin")).unwrap(),
        bytes
    );
    let back = dir.path().join("back.bin");
    let out = cli.aurora(&[
        "task",
        "scp",
        &format!("{JOB}/0:copied.bin"),
        back.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), Some(0));
    assert_eq!(std::fs::read(&back).unwrap(), bytes);

    eprintln!("but nothing leaves the sandbox: .., absolute paths and symlinks out are refused");
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret"), "not yours").unwrap();
    for target in [
        format!("{JOB}/0:../escaped.bin"),
        format!("{JOB}/0:{}/escaped.bin", outside.display()),
    ] {
        let refused = cli.aurora(&["task", "scp", local, &target]);
        assert_eq!(code(&refused), Some(6), "{target}");
        assert!(
            stderr(&refused).contains("outside the sandbox"),
            "{}",
            stderr(&refused)
        );
    }
    let linked = cli.aurora(&[
        "task",
        "run",
        &format!("{JOB}/0"),
        &format!("ln -s {} out", outside.display()),
    ]);
    assert_eq!(code(&linked), Some(0));
    let planted = cli.aurora(&["task", "scp", local, &format!("{JOB}/0:out/planted")]);
    assert_eq!(code(&planted), Some(6));
    assert!(
        stderr(&planted).contains("outside the sandbox"),
        "{}",
        stderr(&planted)
    );
    let stolen = dir.path().join("stolen");
    let leaked = cli.aurora(&[
        "task",
        "scp",
        &format!("{JOB}/0:out/secret"),
        stolen.to_str().unwrap(),
    ]);
    assert_eq!(code(&leaked), Some(6));
    assert!(!outside.join("planted").exists() && !sandboxes.join("escaped.bin").exists());
    assert!(!outside.join("escaped.bin").exists() && !stolen.exists());

    eprintln!("and without credentials the observer refuses, to the CLI and to a bare request");
    let stranger = dir.path().join("stranger");
    std::fs::create_dir(&stranger).unwrap();
    cli.env
        .push(("HOME".into(), stranger.to_str().unwrap().into()));
    let refused = cli.aurora(&["task", "run", JOB, "touch intruder"]);
    assert_eq!(code(&refused), Some(30));
    assert!(
        stderr(&refused).contains("observer"),
        "{}",
        stderr(&refused)
    );
    let refused = cli.aurora(&["task", "scp", local, &format!("{JOB}/0:intruder")]);
    assert_eq!(code(&refused), Some(30));
    let observer_port: u16 = tasks[0]
        .observer
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let (status, body) = http(
        observer_port,
        "POST",
        &format!("/tasks/{}/run", tasks[0].id),
        r#"{"command": "touch intruder"}"#,
    )
    .unwrap();
    assert_eq!(status, 401, "{body}");
    assert!(!sandbox(0).join("intruder").exists() && !sandbox(1).join("intruder").exists());
}
