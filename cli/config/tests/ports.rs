//! The announcer's portmap as Aurora's executor applies it: `{{thermos.ports[ALIAS]}}` becomes
//! the port the alias leads to (or its fixed number) at load time, so the executor only ever
//! sees allocated ports, and an alias is never requested as a port of its own.

use std::collections::BTreeSet;

use aurora_config::{JobConfig, LoadOptions, load_json, load_str};
use aurora_events::config::{HealthChecker, HttpLifecycle};
use pretty_assertions::assert_eq;

/// The one job of a config whose process runs `cmdline`, with `extra` Job fields.
fn job(cmdline: &str, extra: &str) -> Result<JobConfig, aurora_config::ConfigError> {
    let source = format!(
        "jobs = [Service(cluster = 'c', role = 'r', environment = 'e',\n  \
         task = SimpleTask('t', '{cmdline}'),\n  {extra})]\n"
    );
    let mut loaded = load_str("ports.aurora", &source, &LoadOptions::default())?;
    let job = loaded.jobs.remove(0);
    let back = load_json(&job.to_json().to_string()).expect("reads its own JSON");
    assert_eq!(back.jobs, vec![job.clone()], "JSON round trip");
    Ok(job)
}

fn ports(job: &JobConfig) -> BTreeSet<String> {
    job.task.resources.ports.clone()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

#[test]
fn aliases_in_command_lines_name_the_port_they_alias() {
    let j = job(
        "serve --a={{thermos.ports[alias]}} --b={{thermos.ports[https]}} --h={{thermos.ports[http]}}",
        "announce = Announcer(portmap = {'alias': 'http', 'https': 'alias'})",
    )
    .expect("loads");
    assert_eq!(
        j.task.executor.processes[0].cmdline,
        "serve --a={{thermos.ports[http]}} --b={{thermos.ports[http]}} --h={{thermos.ports[http]}}"
    );
    assert_eq!(ports(&j), set(&["http"]), "aliases are not ports");
    assert_eq!(
        j.task.announce.as_ref().map(|a| a.portmap.len()),
        Some(2),
        "the announcer keeps the portmap as written"
    );
}

#[test]
fn static_ports_are_written_in_and_not_allocated() {
    let j = job(
        "serve --admin={{thermos.ports[admin]}} --http={{thermos.ports[http]}}",
        "announce = Announcer(portmap = {'admin': 8081, 'aurora': 'http'})",
    )
    .expect("loads");
    assert_eq!(
        j.task.executor.processes[0].cmdline,
        "serve --admin=8081 --http={{thermos.ports[http]}}"
    );
    assert_eq!(ports(&j), set(&["http"]));
}

#[test]
fn shell_health_checks_and_lifecycles_follow_aliases() {
    let j = job(
        "serve {{thermos.ports[web]}} {{thermos.ports[health]}}",
        "announce = Announcer(primary_port = 'web', portmap = {'aurora': 'web', 'stop': 'health'}),\n  \
         health_check_config = HealthCheckConfig(health_checker = HealthCheckerConfig(\n    \
         shell = ShellHealthChecker(shell_command = 'curl localhost:{{thermos.ports[aurora]}}'))),\n  \
         lifecycle = LifecycleConfig(http = HttpLifecycleConfig(port = 'stop'))",
    )
    .expect("loads");
    assert_eq!(
        j.task.health_check.as_ref().map(|h| &h.checker),
        Some(&HealthChecker::Shell {
            command: "curl localhost:{{thermos.ports[web]}}".into()
        })
    );
    assert_eq!(
        j.task
            .lifecycle
            .as_ref()
            .map(|l: &HttpLifecycle| l.port.as_str()),
        Some("health")
    );
    assert_eq!(ports(&j), set(&["health", "web"]));
}

#[test]
fn portmap_errors_point_at_the_announcer() {
    let e = job(
        "serve {{thermos.ports[a]}}",
        "announce = Announcer(portmap = {'a': 'b', 'b': 'a'})",
    )
    .expect_err("cycle");
    assert_eq!(
        (e.line, e.column, e.message.as_str()),
        (3, 14, "the announcer portmap has a cycle through 'a'")
    );
    let e = job(
        "serve {{thermos.ports[http]}} {{thermos.ports[health]}}",
        "announce = Announcer(portmap = {'health': 'http'})",
    )
    .expect_err("the HTTP health check only knows 'health'");
    assert_eq!((e.line, e.column), (3, 14));
    assert!(
        e.message.starts_with(
            "the announcer portmap makes 'health' the port 'http', but the executor's HTTP \
             health check only reaches an allocated port named 'health'"
        ),
        "{e}"
    );
    let e = job("serve", "announce = Announcer(portmap = {'x': '70000'})").expect_err("not a port");
    assert_eq!(
        e.message,
        "the announcer portmap maps to 70000, which is not a port number"
    );
}
