//! Three jobs from Apache Aurora's end-to-end suite, run as its script runs them against
//! `aurora-scheduler --dev`, with the configs as Aurora writes them (`python3` for `python`, and
//! the daemon's loop bounded so that a failing run leaves nothing behind):
//!
//! - a `.thermos_profile` written by one process is sourced by the next (`test_thermos_profile`:
//!   `aurora task ssh KEY/0 --command='tail -1 .logs/read_env/0/stdout'` prints `hello`);
//! - an ephemeral daemon next to a main process and a final one (`ephemeral_daemon_with_final`):
//!   touching the stop file ends `main`, the final process removes the file, and the task
//!   FINISHES although the ephemeral daemon never ends;
//! - a process that double-forks and calls `setsid` (`test_daemonizing_process`): `aurora job
//!   killall` reaches it with SIGTERM, and its handler removes the term file.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

#[path = "../../../cli/tests/support/mod.rs"]
mod cli_support;
mod support;

use std::path::Path;

use cli_support::{Cli, code, stderr, stdout};
use support::{become_subreaper, free_port, scheduler, tasks, wait_for, workspace_binary};

const THERMOS_PROFILE: &str = "\
import getpass

setup_env = Process(
  name = 'setup_env',
  cmdline = '''cat <<EOF > .thermos_profile
export IT_WORKS=hello
EOF''')

read_env = Process(
  name = 'read_env',
  cmdline = 'echo \"$IT_WORKS\"')

serve = Process(
  name = 'serve',
  cmdline = 'exec sleep 600')

task = SequentialTask(
  name = 'thermos_profile',
  resources = Resources(cpu = 0.1, ram = 16 * MB, disk = 16 * MB),
  processes = [setup_env, read_env, serve])

jobs = [Service(
  cluster = 'devcluster',
  role = getpass.getuser(),
  environment = 'test',
  name = 'thermos_profile',
  contact = '{{role}}@localhost',
  task = task)]
";

const EPHEMERAL_DAEMON_WITH_FINAL: &str = "\
import getpass

ephemeral_daemon_process = Process(
  name = 'ephemeral_daemon',
  daemon = True,
  ephemeral = True,
  cmdline = 'echo \"ephemeral daemon started\"; sleep 3600')

main_process = Process(
  name = 'main',
  cmdline = 'while [[ ! -e {{stop_file}} ]]; do sleep 1; done; echo \"main OK\"')

final_process = Process(
  name = 'final',
  final = True,
  cmdline = 'rm {{stop_file}}; echo \"final OK\"')

test_task = Task(
  name = 'ephemeral_daemon_with_final',
  resources = Resources(cpu=0.1, ram=32*MB, disk=64*MB),
  processes = [ephemeral_daemon_process, main_process, final_process])

job = Job(
  cluster = 'devcluster',
  task = test_task,
  role = getpass.getuser(),
  environment = 'test',
  contact = '{{role}}@localhost',
)

jobs = [
  job(name = 'ephemeral_daemon_with_final')
]
";

const DAEMONIZING_PROCESS: &str = r#"
import getpass

hello_loop = Process(
  name = 'hello',
  cmdline = """
    while true; do
      echo hello world
      sleep 10
    done
  """)

write_program = Process(
  name = "write_program",
  cmdline = """
    cat >./daemon.py <<EOL
import os
import signal
import sys
import time

def handler(signum, frame):
    os.remove("{{term_file}}")
    sys.exit(0)

def main():
    pid = os.fork()
    if pid > 0:
        sys.exit(0)

    os.setsid()
    os.umask(0)

    pid = os.fork()
    if pid > 0:
        sys.exit(0)

    signal.signal(signal.SIGTERM, handler)
    for _ in range(120):
        time.sleep(1)

if __name__ == '__main__':
    main()

EOL
  """
)

run_daemon = Process(
  name = 'run_daemon',
  cmdline = 'python3 ./daemon.py'
)

task = Task(
  processes = [hello_loop, write_program, run_daemon],
  constraints = order(write_program, run_daemon),
  resources = Resources(cpu=0.1, ram=16*MB, disk=100*MB)
)

jobs = [
  Service(
    cluster = 'devcluster',
    environment = 'test',
    role = getpass.getuser(),
    name = 'daemonize',
    task = task
  )
]
"#;

/// The pids of `python3 ./daemon.py` processes whose working directory is under `root`.
fn daemons_under(root: &Path) -> Vec<i32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let is_daemon =
            args.len() >= 2 && args[0].ends_with(b"python3") && args[1] == b"./daemon.py";
        let under_root = std::fs::read_link(entry.path().join("cwd"))
            .map(|cwd| cwd.starts_with(root))
            .unwrap_or(false);
        if is_daemon && under_root {
            pids.push(pid);
        }
    }
    pids
}

/// Whether process `pid` has a handler for SIGTERM (its `SigCgt` mask in /proc).
fn catches_sigterm(pid: i32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (nix::sys::signal::Signal::SIGTERM as u32 - 1)) != 0)
}

fn statuses(port: u16, job: &str) -> Vec<String> {
    tasks(port, job)
        .iter()
        .map(|t| t["status"].as_str().unwrap_or("?").to_string())
        .collect()
}

#[test]
fn aurora_end_to_end_suite_jobs_behave_as_in_aurora() {
    become_subreaper();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _scheduler = scheduler(&["--dev"], &dir.path().join("aurora-data"), port);
    let aurora = workspace_binary("aurora-cli", "aurora");
    let cli = Cli::new(aurora.parent().unwrap(), dir.path(), port);
    let role = std::env::var("LOGNAME").unwrap_or_else(|_| "tester".into());
    // `aurora job create KEY CONFIG --bind BIND --wait-until RUNNING`, which must succeed.
    let create_running = |key: &str, config: &str, bind: &str| {
        let created = cli.aurora(&[
            "job",
            "create",
            key,
            config,
            "--bind",
            bind,
            "--wait-until",
            "RUNNING",
        ]);
        assert_eq!(code(&created), Some(0), "{}", stderr(&created));
    };
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };

    // test_thermos_profile
    let config = write("thermos_profile.aurora", THERMOS_PROFILE);
    let key = format!("devcluster/{role}/test/thermos_profile");
    let created = cli.aurora(&["job", "create", &key, &config, "--wait-until", "RUNNING"]);
    assert_eq!(code(&created), Some(0), "{}", stderr(&created));
    let mut read_env = String::new();
    wait_for("read_env's output in the sandbox", || {
        let ssh = cli.aurora(&[
            "task",
            "ssh",
            &format!("{key}/0"),
            "--command=tail -1 .logs/read_env/0/stdout",
        ]);
        read_env = stdout(&ssh).trim().to_string();
        code(&ssh) == Some(0) && !read_env.is_empty()
    });
    assert_eq!(read_env, "hello", "the profile was not sourced");
    let killed = cli.aurora(&["job", "killall", &key]);
    assert_eq!(code(&killed), Some(0), "{}", stderr(&killed));

    // test_ephemeral_daemon_with_final
    let config = write("ephemeral.aurora", EPHEMERAL_DAEMON_WITH_FINAL);
    let job = format!("{role}/test/ephemeral_daemon_with_final");
    let key = format!("devcluster/{job}");
    let stop_file = dir.path().join("stop_file");
    let bind = format!("stop_file={}", stop_file.display());
    create_running(&key, &config, &bind);
    let status = cli.aurora(&["job", "status", &key]);
    assert_eq!(code(&status), Some(0), "{}", stderr(&status));
    assert!(stdout(&status).contains("RUNNING"), "{}", stdout(&status));
    std::fs::write(&stop_file, "").unwrap(); // ends `main`
    wait_for("the final process to remove the stop file", || {
        !stop_file.exists()
    });
    wait_for("the task to finish beside its ephemeral daemon", || {
        statuses(port, &job) == ["FINISHED"]
    });

    // test_daemonizing_process
    let config = write("daemonize.aurora", DAEMONIZING_PROCESS);
    let job = format!("{role}/test/daemonize");
    let key = format!("devcluster/{job}");
    let term_file = dir.path().join("term_file");
    std::fs::write(&term_file, "").unwrap();
    let bind = format!("term_file={}", term_file.display());
    create_running(&key, &config, &bind);
    // While it double-forks, the first process and the intermediate child run the same command
    // line for a moment: wait for the one daemon that stays, once it has its SIGTERM handler
    // (killed before, it would die without removing the file, as it would under Aurora).
    let mut daemons = Vec::new();
    wait_for("the double-forked daemon, alone, handling SIGTERM", || {
        daemons = daemons_under(dir.path());
        daemons.len() == 1 && catches_sigterm(daemons[0])
    });
    let daemon = daemons[0];
    let killed = cli.aurora(&["job", "killall", &key]);
    assert_eq!(code(&killed), Some(0), "{}", stderr(&killed));
    wait_for(
        "the daemon's SIGTERM handler to remove the term file",
        || !term_file.exists(),
    );
    wait_for("the daemon to be gone", || {
        !Path::new(&format!("/proc/{daemon}")).exists()
    });
    assert_eq!(statuses(port, &job), ["KILLED"]);
}
