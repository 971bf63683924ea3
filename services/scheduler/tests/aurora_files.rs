//! A config written for Apache Aurora, in the style of its end-to-end suite, run unchanged
//! against `aurora-scheduler --dev`: a profile whose role defaults to `getpass.getuser()`,
//! Python's usual imports, a `jobs` list with a Docker job next to a plain one, and an
//! announcer port alias. The plain job is created and runs; the Docker job is refused at
//! `job create`, naming what this cluster lacks.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

#[path = "../../../cli/tests/support/mod.rs"]
mod cli_support;
mod support;

use cli_support::{Cli, code, stderr, stdout};
use support::{become_subreaper, free_port, scheduler, tasks, wait_for, workspace_binary};

const HTTP_EXAMPLE: &str = "\
from __future__ import print_function
import getpass
import json
import os

class DefaultProfile(Struct):
  role = Default(String, getpass.getuser())
  cmd = Default(String, 'echo port={{thermos.ports[alias]}} > served_port && exec sleep 600')

settings = json.loads('{\"cpu\": 0.1}')

run_server = Process(name = 'run_server', cmdline = '{{profile.cmd}}')
task = SequentialTask(
  name = 'http_example',
  processes = [run_server],
  resources = Resources(cpu = settings['cpu'], ram = 16 * MB, disk = 16 * MB))

job = Service(
  cluster = 'devcluster',
  role = '{{profile.role}}',
  environment = 'test',
  instances = 1,
  announce = Announcer(primary_port = 'http', portmap = {'alias': 'http'}),
  task = task)

jobs = [
  job(name = 'http_example').bind(profile = DefaultProfile()),
  job(name = 'http_example_docker',
      container = Docker(image = 'http_example_netcat', parameters = [
        Parameter(name = 'env', value = 'HTTP_PORT=8888')]),
  ).bind(profile = DefaultProfile()),
]
";

#[test]
fn an_aurora_end_to_end_style_config_runs_its_plain_job_and_refuses_the_docker_one() {
    become_subreaper();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _scheduler = scheduler(&["--dev"], &dir.path().join("aurora-data"), port);
    let aurora = workspace_binary("aurora-cli", "aurora");
    let cli = Cli::new(aurora.parent().unwrap(), dir.path(), port);
    let config = dir.path().join("http_example.aurora");
    std::fs::write(&config, HTTP_EXAMPLE).unwrap();
    let config = config.to_str().unwrap();
    // `getpass.getuser()` reads LOGNAME, then USER (which the test client sets), as Python.
    let role = std::env::var("LOGNAME").unwrap_or_else(|_| "tester".into());
    let plain = format!("devcluster/{role}/test/http_example");
    let docker = format!("devcluster/{role}/test/http_example_docker");

    // The alias resolves to the port it names; only that port is requested.
    let inspected = cli.aurora(&["job", "inspect", &plain, config, "--raw"]);
    assert_eq!(code(&inspected), Some(0), "{}", stderr(&inspected));
    let task: serde_json::Value = serde_json::from_str(&stdout(&inspected)).unwrap();
    let cmdline = task["executor"]["processes"][0]["cmdline"]
        .as_str()
        .unwrap();
    assert!(cmdline.contains("{{thermos.ports[http]}}"), "{cmdline}");
    assert_eq!(task["resources"]["ports"], serde_json::json!(["http"]));

    let created = cli.aurora(&["job", "create", &plain, config, "--wait-until", "RUNNING"]);
    assert_eq!(code(&created), Some(0), "{}", stderr(&created));
    let running = |job: &str| {
        tasks(port, job)
            .iter()
            .filter(|t| t["status"] == "RUNNING")
            .count()
    };
    wait_for("the plain job running", || {
        running(&format!("{role}/test/http_example")) == 1
    });

    let refused = cli.aurora(&["job", "create", &docker, config]);
    assert_ne!(code(&refused), Some(0));
    assert!(
        stderr(&refused).contains("The container type DOCKER is not allowed")
            && stderr(&refused).contains("this cluster has no Docker containerizer"),
        "{}",
        stderr(&refused)
    );
    assert!(tasks(port, &format!("{role}/test/http_example_docker")).is_empty());
}
