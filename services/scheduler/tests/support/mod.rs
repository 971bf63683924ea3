//! What the cross-process scheduler tests share: free ports, a tiny HTTP client, child process
//! guards, bounded waits and job configs.

#![allow(dead_code)] // each test binary uses a different part

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A minimal HTTP/1.1 request: (status, JSON body or Null).
pub fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> Option<(u16, Value)> {
    let (status, text) = http_text(port, method, path, body)?;
    Some((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// Whether [`http`] and the helpers built on it send the dev token (see [`dev_authorization`]).
static SEND_DEV_TOKEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// From now on this test process's helpers send no credentials: for a scheduler with its own
/// `--auth` file, which would refuse the dev token as bad credentials.
pub fn without_dev_token() {
    SEND_DEV_TOKEN.store(false, std::sync::atomic::Ordering::Relaxed);
}

/// The `Authorization` header line that `aurora-scheduler --dev` accepts: its token, which it
/// keeps under this user's home (empty when there is none yet). Schedulers without
/// authentication ignore it.
pub fn dev_authorization() -> String {
    if !SEND_DEV_TOKEN.load(std::sync::atomic::Ordering::Relaxed) {
        return String::new();
    }
    std::env::var_os("HOME")
        .and_then(|home| {
            std::fs::read_to_string(aurora_auth::client::dev_token_path(home.as_ref())).ok()
        })
        .map(|token| format!("Authorization: Bearer {}\r\n", token.trim()))
        .unwrap_or_default()
}

/// A minimal HTTP/1.1 request: (status, body text).
pub fn http_text(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Option<(u16, String)> {
    http_text_within(port, method, path, body, Duration::from_secs(10))
}

/// [`http_text`], waiting up to `wait` for the answer.
pub fn http_text_within(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&Value>,
    wait: Duration,
) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(wait)).ok()?;
    let payload = body.map(Value::to_string).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\n\
         x-aurora-user: tester\r\n{}Content-Length: {}\r\n\r\n{payload}",
        dev_authorization(),
        payload.len()
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let chunked = head
        .lines()
        .any(|line| line.eq_ignore_ascii_case("transfer-encoding: chunked"));
    // A follower streams a forwarded answer back, chunked.
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_string()
    };
    Some((status, body))
}

/// A chunked HTTP/1.1 body's content.
fn dechunk(mut body: &str) -> Option<String> {
    let mut content = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n")?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(content);
        }
        content.push_str(rest.get(..size)?);
        body = rest.get(size..)?.strip_prefix("\r\n")?;
    }
}

/// Stops and reaps the child when dropped, so no test leaves a process behind: SIGINT first
/// (an agent then kills its tasks), SIGKILL if it is still there after 5 s.
pub struct Guard(pub Child);

impl Guard {
    /// `kill -9`: no chance to clean up.
    pub fn kill_now(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    fn stop(&mut self) {
        use nix::sys::signal::{Signal, kill};
        if matches!(self.0.try_wait(), Ok(Some(_))) {
            return; // already reaped: its pid may belong to someone else now
        }
        if let Ok(pid) = i32::try_from(self.0.id()) {
            let _ = kill(nix::unistd::Pid::from_raw(pid), Signal::SIGINT);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill_now();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Polls `ready` every 100 ms for up to `secs` seconds; whether it became true.
pub fn poll_within(secs: u64, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if ready() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Polls `ready` every 100 ms for up to `secs` seconds.
pub fn wait_for_within(secs: u64, what: &str, ready: impl FnMut() -> bool) {
    assert!(
        poll_within(secs, ready),
        "timed out after {secs} s waiting for {what}"
    );
}

pub fn wait_for(what: &str, ready: impl FnMut() -> bool) {
    wait_for_within(30, what, ready)
}

pub fn scheduler_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_aurora-scheduler"))
}

/// The `aurora-agent` binary beside the scheduler's, up to date.
pub fn agent_binary() -> PathBuf {
    workspace_binary("aurora-agent", "aurora-agent")
}

/// Runs `aurora-scheduler` with `args` to completion (e.g. `--init`).
pub fn run_scheduler(args: &[&str], data: &Path) -> std::process::Output {
    Command::new(scheduler_binary())
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap()
}

/// Initialises a cluster's journal in `data` (`aurora-scheduler --init`).
pub fn init(data: &Path) {
    let init = run_scheduler(&["--init"], data);
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
}

/// Starts `aurora-scheduler` with `args` and waits for `/health`.
pub fn scheduler(args: &[&str], data: &Path, port: u16) -> Guard {
    let child = Command::new(scheduler_binary())
        .args(args)
        .args(["--http-port", &port.to_string(), "--data-dir"])
        .arg(data)
        // With --dev, the local user (the actor of what its token does) is `tester`, as the
        // CLI tests' user is.
        .env("USER", "tester")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let guard = Guard(child);
    wait_for("/health", || {
        matches!(http(port, "GET", "/health", None), Some((200, _)))
    });
    guard
}

/// Starts an `aurora-agent` named `name` against the scheduler on `port`.
pub fn agent(name: &str, work: &Path, port: u16) -> Guard {
    agent_at(name, work, &format!("http://127.0.0.1:{port}"))
}

/// Starts an `aurora-agent` named `name` against `schedulers` (URLs, comma-separated).
pub fn agent_at(name: &str, work: &Path, schedulers: &str) -> Guard {
    agent_with(name, work, schedulers, &[])
}

/// Like [`agent_at`], with extra arguments (`--credential FILE`, say).
pub fn agent_with(name: &str, work: &Path, schedulers: &str, extra: &[&str]) -> Guard {
    let child = Command::new(agent_binary())
        .args([
            "--scheduler",
            schedulers,
            "--agent-id",
            name,
            "--host",
            name,
        ])
        .args([
            "--cpus",
            "4",
            "--ram-mb",
            "4096",
            "--disk-mb",
            "10000",
            "--observer-host",
            "127.0.0.1",
            "--observer-port",
            "0",
            "--heartbeat-ms",
            "200",
            "--work-dir",
        ])
        .arg(work)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Guard(child)
}

/// A small job config running `cmdline` as process `hello`.
pub fn config(job: &str, cmdline: &str, is_service: bool) -> Value {
    let mut config = aurora_events::samples::task_config();
    config.sla_policy = None;
    config.job = job.parse().unwrap();
    config.is_service = is_service;
    config.tier = aurora_events::Tier::Preemptible;
    config.resources.cpus = 0.1;
    config.resources.ram_mb = 16;
    config.resources.disk_mb = 16;
    config.resources.ports.clear();
    config.constraints.clear();
    config.health_check = None;
    config.lifecycle = None;
    config.executor.processes[0].name = "hello".into();
    config.executor.processes[0].cmdline = cmdline.into();
    config.executor.processes[0].logger.rotate = None;
    serde_json::to_value(config).unwrap()
}

/// Every task of `job` still known, as the API shows them.
pub fn tasks(port: u16, job: &str) -> Vec<Value> {
    let (status, body) = http(
        port,
        "GET",
        &format!("/api/v1/jobs/{job}/tasks?all=true"),
        None,
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    body.as_array().cloned().unwrap_or_default()
}

/// Makes this test process the reaper of its orphaned descendants (task processes of an agent
/// killed with -9), so that they are re-parented here, where the test kills and reaps them,
/// rather than to whatever reaper runs the test suite.
pub fn become_subreaper() {
    nix::sys::prctl::set_child_subreaper(true).unwrap();
}

/// Kills and reaps a process whose pid a task wrote to a file, if it is still there (a task
/// orphaned by an agent killed with -9; see [`become_subreaper`]). Only a single pid above 1 is
/// ever signalled: never a process group, never "every process".
pub fn kill_pid_file(path: &Path) {
    use nix::sys::signal::{Signal, kill};
    use nix::sys::wait::waitpid;
    use nix::unistd::Pid;
    if let Ok(text) = std::fs::read_to_string(path)
        && let Ok(pid) = text.trim().parse::<i32>()
        && pid > 1
    {
        let pid = Pid::from_raw(pid);
        if kill(pid, Signal::SIGKILL).is_ok() {
            // Reap it if it was re-parented to us; an error means it is someone else's child.
            let _ = waitpid(pid, None);
        }
    }
}

/// The `aurora-hollow-agents` binary beside the scheduler's. Built (a no-op when it is up to
/// date) on every call: the scheduler's tests do not build the agent crate's binaries, and a
/// stale simulator would test old code.
pub fn hollow_agents_binary() -> PathBuf {
    workspace_binary("aurora-agent", "aurora-hollow-agents")
}

/// A binary of another workspace package, beside the scheduler's, built (or found up to date)
/// by cargo on every call so that a test never runs an old build.
pub fn workspace_binary(package: &str, bin: &str) -> PathBuf {
    let path = scheduler_binary().with_file_name(bin);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "--quiet", "-p", package, "--bin", bin]);
    if path
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|profile| profile == "release")
    {
        build.arg("--release");
    }
    let started = Instant::now();
    let status = build.status().unwrap();
    assert!(status.success(), "building {bin} failed");
    if started.elapsed() > Duration::from_secs(2) {
        // Worth knowing when a test's timing looks wrong: this build ran inside the test.
        eprintln!("building {bin} took {:.1?}", started.elapsed());
    }
    assert!(path.exists(), "no {} after building it", path.display());
    path
}

/// The directory of the `aurora` and `aurora-admin` binaries, both built (or found up to
/// date) first: what a test's `Cli` runs.
pub fn cli_binaries() -> PathBuf {
    workspace_binary("aurora-cli", "aurora-admin");
    let aurora = workspace_binary("aurora-cli", "aurora");
    aurora
        .parent()
        .map(Path::to_path_buf)
        .expect("the binaries' directory")
}

/// Starts `aurora-hollow-agents` against the scheduler on `port`, with `args` (e.g.
/// `--count 50`) after the scheduler's URL and a 200 ms heartbeat.
pub fn hollow_agents(port: u16, args: &[&str]) -> Guard {
    let child = Command::new(hollow_agents_binary())
        .args([
            "--scheduler",
            &format!("http://127.0.0.1:{port}"),
            "--heartbeat-ms",
            "200",
        ])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Guard(child)
}

/// The value of one series of the scheduler's `/metrics`, named exactly as printed (e.g.
/// `aurora_agents{lost="false"}`); `None` if the scheduler or the series is not there.
pub fn metric(port: u16, series: &str) -> Option<f64> {
    let (status, text) = http_text(port, "GET", "/metrics", None)?;
    if status != 200 {
        return None;
    }
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

/// Every committed event from seq `from` on, read page by page.
pub fn events_from(port: u16, from: u64) -> Vec<Value> {
    let mut events = Vec::new();
    let mut next = from;
    loop {
        let (status, page) = http(
            port,
            "GET",
            &format!("/api/v1/events?from={next}&limit=1000"),
            None,
        )
        .unwrap();
        assert_eq!(status, 200, "{page}");
        let batch = page["events"].as_array().cloned().unwrap_or_default();
        let Some(last) = batch.last().and_then(|e| e["seq"].as_u64()) else {
            return events;
        };
        events.extend(batch);
        next = last + 1;
    }
}
