//! Runs the `aurora` and `aurora-admin` binaries as a user would, with their own clusters.json
//! (naming `devcluster` at a given port and `nowhere` at a closed one), `$HOME` and `$USER`.
//! Shared by the CLI's own tests and the scheduler's end-to-end CLI tests (`#[path]`-included).

#![allow(dead_code)] // each test binary uses a different part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Cli {
    bin_dir: PathBuf,
    root: PathBuf,
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
        }
    }

    pub fn run(&self, binary: &str, args: &[&str]) -> Output {
        let path = self.bin_dir.join(binary);
        assert!(
            path.exists(),
            "{} is missing: cargo build -p aurora-cli",
            path.display()
        );
        let output = Command::new(path)
            .args(args)
            .env("AURORA_CONFIG_ROOT", self.root.join("etc"))
            .env("HOME", &self.root)
            .env("USER", "tester")
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        eprintln!(
            "$ {binary} {}\n-> {:?}\n{}{}",
            args.join(" "),
            output.status.code(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    pub fn aurora(&self, args: &[&str]) -> Output {
        self.run("aurora", args)
    }

    pub fn admin(&self, args: &[&str]) -> Output {
        self.run("aurora-admin", args)
    }
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

/// A two-instance service in the `.aurora` language.
pub const SERVICE: &str = "\
sleep = Process(name = 'sleep', cmdline = 'exec sleep 600')
jobs = [Service(
  cluster = 'devcluster', role = 'tester', environment = 'test', name = 'sleeper',
  instances = 2,
  task = Task(name = 'sleeper', processes = [sleep],
              resources = Resources(cpu = 0.1, ram = 16 * MB, disk = 16 * MB)))]
";
