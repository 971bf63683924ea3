//! Runs the `aurora` and `aurora-admin` binaries as a user would, with their own clusters.json
//! (naming `devcluster` at a given port and `nowhere` at a closed one), `$HOME` and `$USER`.
//! Shared by the CLI's own tests and the scheduler's end-to-end CLI tests (`#[path]`-included).
//! [`stub`] is a stand-in scheduler for the tests that need only its answers.

#![allow(dead_code)] // each test binary uses a different part

pub mod stub;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct Cli {
    bin_dir: PathBuf,
    root: PathBuf,
    /// Whether the clients get the real `--dev` token (see `command`); a test of
    /// authentication turns it off and gives them their own credentials.
    pub dev_token: bool,
    /// More environment for every command (`AURORA_CA_FILE`, say).
    pub env: Vec<(String, String)>,
}

impl Cli {
    /// `bin_dir` holds the client binaries; the client's files go under `dir/client`.
    pub fn new(bin_dir: &Path, dir: &Path, port: u16) -> Self {
        let root = dir.join("client");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        std::fs::write(
            root.join("etc/clusters.json"),
            format!(
                r#"[{{"name": "devcluster", "scheduler_uri": "http://127.0.0.1:{port}"}},
                   {{"name": "nowhere", "scheduler_uri": "http://127.0.0.1:{closed}"}}]"#
            ),
        )
        .unwrap();
        Self {
            bin_dir: bin_dir.to_path_buf(),
            root,
            dev_token: true,
            env: Vec::new(),
        }
    }

    /// Replaces clusters.json with `clusters`, as (name, scheduler_uri) pairs.
    pub fn write_clusters(&self, clusters: &[(&str, &str)]) {
        let entries: Vec<serde_json::Value> = clusters
            .iter()
            .map(|(name, uri)| serde_json::json!({"name": name, "scheduler_uri": uri}))
            .collect();
        std::fs::write(
            self.root.join("etc/clusters.json"),
            serde_json::Value::from(entries).to_string(),
        )
        .unwrap();
    }

    fn command(&self, binary: &str, args: &[&str]) -> Command {
        let path = self.bin_dir.join(binary);
        assert!(
            path.exists(),
            "{} is missing: cargo build -p aurora-cli",
            path.display()
        );
        let mut command = Command::new(path);
        command
            .args(args)
            .env("AURORA_CONFIG_ROOT", self.root.join("etc"))
            .env("HOME", &self.root)
            .env("USER", "tester")
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        // The client's home is a scratch directory, so hand it the credential that
        // `aurora-scheduler --dev` keeps under the real one (the scheduler tests run their dev
        // schedulers as user `tester` too).
        if let Some(token) = std::env::var_os("HOME")
            .filter(|_| self.dev_token)
            .and_then(|home| {
                std::fs::read_to_string(Path::new(&home).join(".aurora/dev-token")).ok()
            })
        {
            command.env("AURORA_TOKEN", token.trim());
        }
        command
    }

    pub fn run(&self, binary: &str, args: &[&str]) -> Output {
        let output = self.command(binary, args).output().unwrap();
        report(binary, args, &output);
        output
    }

    /// Runs `binary` with its stdout a pipe whose reading end is already closed, as
    /// `... | head -1` leaves it once `head` is done: every write to stdout fails with EPIPE.
    /// Only stderr is captured.
    pub fn run_into_closed_pipe(&self, binary: &str, args: &[&str]) -> Output {
        let (read, write) = nix::unistd::pipe().unwrap();
        drop(read);
        let output = self
            .command(binary, args)
            .stdout(Stdio::from(write))
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        report(binary, args, &output);
        output
    }

    pub fn aurora(&self, args: &[&str]) -> Output {
        self.run("aurora", args)
    }

    /// Runs `aurora` for at most `limit`; a command still running then is killed and the
    /// test fails naming it (for verbs that wait as long as the scheduler takes).
    pub fn aurora_within(&self, limit: Duration, args: &[&str]) -> Output {
        let mut child = self
            .command("aurora", args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Drained while it runs, so a chatty command cannot block on a full pipe.
        let drain = |mut pipe: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                pipe.read_to_end(&mut bytes).unwrap();
                bytes
            })
        };
        let stdout = drain(Box::new(child.stdout.take().unwrap()));
        let stderr = drain(Box::new(child.stderr.take().unwrap()));
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                child.kill().unwrap();
                child.wait().unwrap();
                panic!(
                    "aurora {} still running after {} s; its stderr:\n{}",
                    args.join(" "),
                    limit.as_secs(),
                    String::from_utf8_lossy(&stderr.join().unwrap())
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let output = Output {
            status,
            stdout: stdout.join().unwrap(),
            stderr: stderr.join().unwrap(),
        };
        report("aurora", args, &output);
        output
    }

    /// Runs `aurora`, and once `ready` holds sends it SIGINT (a user's Ctrl-C); the test
    /// fails if it is not ready, or has not ended after the signal, within `limit`.
    pub fn aurora_interrupted(
        &self,
        limit: Duration,
        args: &[&str],
        mut ready: impl FnMut() -> bool,
    ) -> Output {
        let mut child = self
            .command("aurora", args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
        let deadline = Instant::now() + limit;
        while !ready() {
            if Instant::now() > deadline {
                child.kill().unwrap();
                child.wait().unwrap();
                panic!("aurora {}: not ready to interrupt in time", args.join(" "));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                child.kill().unwrap();
                child.wait().unwrap();
                panic!("aurora {}: still running after SIGINT", args.join(" "));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let output = child.wait_with_output().unwrap();
        report("aurora", args, &output);
        output
    }

    /// Runs `aurora` with `input` on its stdin.
    pub fn aurora_with_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        use std::io::Write;
        let mut child = self
            .command("aurora", args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        let output = child.wait_with_output().unwrap();
        report("aurora", args, &output);
        output
    }

    pub fn admin(&self, args: &[&str]) -> Output {
        self.run("aurora-admin", args)
    }

    /// The client's home directory (its `~/.netrc` goes there).
    pub fn home(&self) -> &Path {
        &self.root
    }
}

/// Shows a command and what it printed in the test's output (seen when the test fails).
fn report(binary: &str, args: &[&str], output: &Output) {
    eprintln!(
        "$ {binary} {}\n-> {:?}\n{}{}",
        args.join(" "),
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

pub fn code(output: &Output) -> Option<i32> {
    output.status.code()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Loopback URLs nobody listens on: each port is held by a socket that is bound but never
/// listens, so a connection is refused at once, and no server started meanwhile (by this
/// test or another running beside it) can be given the port. The sockets stay open until
/// the test binary ends.
pub fn dead_urls<const N: usize>() -> [String; N] {
    std::array::from_fn(|_| {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let url = format!("http://{}", socket.local_addr().unwrap());
        std::mem::forget(socket);
        url
    })
}

/// A two-instance service in the `.aurora` language.
pub const SERVICE: &str = "\
sleep = Process(name = 'sleep', cmdline = 'exec sleep 600')
jobs = [Service(
  cluster = 'devcluster', role = 'tester', environment = 'test', name = 'sleeper',
  instances = 2,
  task = Task(name = 'sleeper', processes = [sleep],
              resources = Resources(cpu = 0.1, ram = 16 * MB, disk = 16 * MB)))]
";
