//! Several scheduler URIs against a real scheduler behind a dead one (a loopback port nobody
//! listens on, listed first): `aurora-agent --scheduler DEAD,LIVE` registers, takes a launch
//! and reports its task RUNNING through the live scheduler; the `aurora` client with
//! `scheduler_uri: "DEAD,LIVE"` lists and kills the job; with only dead URIs its error names
//! them all. (Replicas that answer 503 NOT_LEADER are exercised against stand-ins in the
//! agent's and the CLI's own tests.)

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

#[path = "../../../cli/tests/support/mod.rs"]
mod cli_support;
mod support;

use std::process::{Command, Stdio};

use cli_support::{Cli, code, dead_urls, stderr, stdout};
use serde_json::json;
use support::{
    Guard, agent_binary, become_subreaper, cli_binaries, config, free_port, http, init, scheduler,
    tasks, wait_for,
};

#[test]
fn an_agent_and_the_cli_find_the_live_scheduler_behind_a_dead_one() {
    become_subreaper();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    init(&data);
    let port = free_port();
    let _scheduler = scheduler(&["--insecure-no-auth"], &data, port);
    let live = format!("http://127.0.0.1:{port}");
    let [dead, dead2] = dead_urls();

    let work = dir.path().join("agent");
    std::fs::create_dir_all(&work).unwrap();
    let _agent = Guard(
        Command::new(agent_binary())
            .args(["--scheduler", &format!("{dead},{live}")])
            .args(["--agent-id", "a1", "--host", "a1", "--cpus", "2"])
            .args([
                "--ram-mb",
                "1024",
                "--disk-mb",
                "1000",
                "--heartbeat-ms",
                "200",
            ])
            .args(["--observer-host", "127.0.0.1", "--observer-port", "0"])
            .arg("--work-dir")
            .arg(&work)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let job = "tester/test/sleeper";
    let request =
        json!({"job": job, "config": config(job, "exec sleep 600", true), "instances": 1});
    let (status, body) = http(port, "POST", "/api/v1/jobs", Some(&request)).unwrap();
    assert_eq!(status, 200, "{body}");
    wait_for("the task RUNNING on the agent", || {
        tasks(port, job)
            .iter()
            .any(|t| t["status"] == "RUNNING" && t["agent"] == "a1")
    });

    let cli = Cli::new(&cli_binaries(), dir.path(), port);
    cli.write_clusters(&[
        ("replicated", &format!("{dead},{live}")),
        ("down", &format!("{dead},{dead2}")),
    ]);
    let listed = cli.aurora(&["job", "list", "replicated/tester"]);
    assert_eq!(code(&listed), Some(0), "{}", stderr(&listed));
    assert_eq!(stdout(&listed), "replicated/tester/test/sleeper\n");
    let killed = cli.aurora(&["job", "killall", "replicated/tester/test/sleeper"]);
    assert_eq!(code(&killed), Some(0), "{}", stderr(&killed));
    wait_for("the task KILLED", || {
        tasks(port, job).iter().all(|t| t["status"] == "KILLED")
    });

    let down = cli.aurora(&["job", "list", "down/tester"]);
    assert_eq!(code(&down), Some(7));
    let message = stderr(&down);
    assert!(
        message.contains(&dead) && message.contains(&dead2),
        "{message}"
    );
}
