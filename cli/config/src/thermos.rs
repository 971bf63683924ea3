//! The task side of materialising a job: the Thermos task (processes, ordering, loggers), its
//! resources and requested ports, the announcer, and the health check and lifecycle the executor
//! runs.
//!
//! Effective-settings rule: like Aurora's executor, an HTTP health check or HTTP lifecycle only
//! happens when the task requests the port it needs (`health` by default), so without that port
//! the materialised config carries no health check / lifecycle at all.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use aurora_events::Resources;
use aurora_events::config::{
    Announcer, HealthCheck, HealthChecker, HttpLifecycle, LogDestination, LogRotation, Logger,
    Process, ThermosTask,
};

use crate::template::{Chain, Ref};
use crate::value::{Binding, Env, Frame};
use crate::view::{R, View};
use crate::vocab::MB;

/// The Thermos task, and the `{{thermos.ports[...]}}` names its processes reference.
pub(crate) fn thermos_task(task: &View) -> R<(ThermosTask, BTreeSet<String>)> {
    let task_name = task.required_string("name", "Task")?;
    let label = format!("Task '{task_name}'");
    let views = task.children("processes");
    if views.is_empty() {
        return Err(task.err(format!("{label} has no processes")));
    }
    let mut processes: Vec<Process> = Vec::new();
    let mut ports = BTreeSet::new();
    for p in &views {
        let name = p
            .string("name")?
            .ok_or_else(|| p.err(format!("a Process of {label} has no name")))?;
        if name.is_empty() || name.starts_with('.') || name.contains('/') {
            return Err(p.err(format!(
                "invalid process name {name:?}: it must be a valid file name (no '/', not starting with '.')"
            )));
        }
        if processes.iter().any(|q| q.name == name) {
            return Err(p.err(format!("{label} has two processes named '{name}'")));
        }
        let (cmdline, refs) = p
            .command("cmdline")?
            .ok_or_else(|| p.err(format!("Process '{name}' has no cmdline")))?;
        ports.extend(port_names(p, &refs, &format!("Process '{name}'"))?);
        processes.push(Process {
            name,
            cmdline,
            max_failures: p.count("max_failures")?,
            daemon: p.bool("daemon")?,
            ephemeral: p.bool("ephemeral")?,
            min_duration_secs: p.count("min_duration")?,
            is_final: p.bool("final")?,
            logger: logger(p)?,
        });
    }
    let mut ordering = Vec::new();
    for c in task.children("constraints") {
        let order = c.strings("order")?;
        if let Some(unknown) = order
            .iter()
            .find(|n| !processes.iter().any(|p| &p.name == *n))
        {
            let known: Vec<&str> = processes.iter().map(|p| p.name.as_str()).collect();
            return Err(c.err(format!(
                "order() names unknown process '{unknown}' ({label} has: {})",
                known.join(", ")
            )));
        }
        if !order.is_empty() {
            ordering.push(order);
        }
    }
    if let Some(cycle) = cycle(&ordering) {
        return Err(task.err(format!(
            "the ordering constraints of {label} form a cycle: {}",
            cycle.join(" -> ")
        )));
    }
    let executor = ThermosTask {
        name: task_name,
        processes,
        ordering,
        max_failures: task.count("max_failures")?,
        max_concurrency: task.count("max_concurrency")?,
        finalization_wait_secs: task.count("finalization_wait")?,
    };
    Ok((executor, ports))
}

/// The ports `{{thermos.ports[NAME]}}` references name; other forms under `thermos.ports` are
/// refused (Thermos's `PortExtractor`).
pub(crate) fn port_names(view: &View, refs: &[Ref], owner: &str) -> R<BTreeSet<String>> {
    let mut ports = BTreeSet::new();
    for r in refs {
        match r.port() {
            Some(Ok(port)) => {
                ports.insert(port.to_string());
            }
            Some(Err(())) => {
                return Err(view.err(format!(
                    "bad port reference {{{{{r}}}}} in {owner}: write {{{{thermos.ports[NAME]}}}}"
                )));
            }
            None => {}
        }
    }
    Ok(ports)
}

/// The shell health check's command, if the job has one, with its unresolved references.
pub(crate) fn shell_check(j: &View) -> R<Option<(String, Vec<Ref>)>> {
    let shell = j
        .child("health_check_config")
        .and_then(|h| h.child("health_checker"))
        .and_then(|c| c.child("shell"));
    let Some(shell) = shell else {
        return Ok(None);
    };
    shell
        .command("shell_command")?
        .map(Some)
        .ok_or_else(|| shell.err("ShellHealthChecker has no shell_command"))
}

/// A cycle in the "runs before" graph the order lists make, if there is one.
fn cycle(ordering: &[Vec<String>]) -> Option<Vec<String>> {
    let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for list in ordering {
        for pair in list.windows(2) {
            edges.entry(&pair[0]).or_default().insert(&pair[1]);
        }
    }
    fn visit<'a>(
        node: &'a str,
        edges: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| *n == node) {
            let mut cycle: Vec<String> = path[at..].iter().map(|s| s.to_string()).collect();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if !done.insert(node) {
            return None;
        }
        path.push(node);
        for next in edges.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, edges, path, done) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|start| visit(start, &edges, &mut Vec::new(), &mut done))
}

fn logger(p: &View) -> R<Logger> {
    let Some(l) = p.child("logger") else {
        return Ok(Logger::default());
    };
    let destination = match l.string("destination")?.as_deref() {
        None | Some("file") => LogDestination::File,
        Some("console") => LogDestination::Console,
        Some("both") => LogDestination::Both,
        Some("none") => LogDestination::None,
        Some(other) => return Err(l.err(format!("unknown logger destination {other:?}"))),
    };
    let rotate = match l.string("mode")?.as_deref() {
        None | Some("standard") => None,
        Some("rotate") => {
            let (bytes, backups) = match l.child("rotate") {
                Some(r) => (r.int("log_size")?.unwrap_or(100 * MB), r.count("backups")?),
                None => (100 * MB, 5),
            };
            let log_size_mb = u64::try_from(bytes / MB)
                .ok()
                .filter(|mb| *mb > 0)
                .ok_or_else(|| {
                    l.err(format!(
                        "RotatePolicy.log_size must be at least 1 MiB, got {bytes} bytes"
                    ))
                })?;
            Some(LogRotation {
                log_size_mb,
                backups,
            })
        }
        Some(other) => return Err(l.err(format!("unknown logger mode {other:?}"))),
    };
    Ok(Logger {
        destination,
        rotate,
    })
}

pub(crate) fn resources(task: &View, task_name: &str, ports: BTreeSet<String>) -> R<Resources> {
    let r = task
        .child("resources")
        .ok_or_else(|| task.err(format!("Task '{task_name}' has no resources")))?;
    for field in ["cpu", "ram", "disk"] {
        if r.raw(field).is_none() {
            return Err(r.err(format!(
                "the Resources of Task '{task_name}' have no {field}"
            )));
        }
    }
    let cpus = r.float("cpu")?.unwrap_or(0.0);
    if cpus.is_nan() || cpus <= 0.0 {
        return Err(r.err(format!(
            "Task '{task_name}': cpu must be greater than 0, got {cpus}"
        )));
    }
    let mib = |field: &str| -> R<u64> {
        let bytes = r.int(field)?.unwrap_or(0);
        u64::try_from(bytes / MB)
            .ok()
            .filter(|mb| *mb > 0)
            .ok_or_else(|| {
                r.err(format!(
                "Task '{task_name}': {field} must be at least 1 MiB ({MB} bytes), got {bytes} bytes"
            ))
            })
    };
    Ok(Resources {
        cpus,
        ram_mb: mib("ram")?,
        disk_mb: mib("disk")?,
        gpus: r.count("gpu")?,
        ports,
    })
}

pub(crate) fn announcer(j: &View) -> R<Option<Announcer>> {
    let Some(a) = j.child("announce") else {
        return Ok(None);
    };
    Ok(Some(Announcer {
        primary_port: a.required_string("primary_port", "Announcer")?,
        portmap: a.string_map("portmap")?.into_iter().collect(),
        zk_path: a.string("zk_path")?,
    }))
}

/// Where a name in the announcer's portmap leads once its aliases are followed (Aurora's
/// `PortResolver`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PortTarget {
    /// A port the scheduler allocates by this name.
    Named(String),
    /// A fixed port number: nothing is allocated.
    Static(u16),
}

/// The announcer's portmap with every alias followed to its end: `{'aurora': 'http',
/// 'https': 'aurora', 'admin': '8081'}` → aurora and https → `Named(http)`, admin →
/// `Static(8081)`. A cycle, or a number that is no port, is an error at the `Announcer`.
pub(crate) fn resolved_portmap(
    j: &View,
    announce: Option<&Announcer>,
) -> R<BTreeMap<String, PortTarget>> {
    let Some(portmap) = announce.map(|a| &a.portmap) else {
        return Ok(BTreeMap::new());
    };
    let blame = j.child("announce").unwrap_or_else(|| j.clone());
    let target = |value: &str| -> R<PortTarget> {
        if !value.bytes().all(|b| b.is_ascii_digit()) || value.is_empty() {
            return Ok(PortTarget::Named(value.to_string()));
        }
        value.parse::<u16>().map(PortTarget::Static).map_err(|_| {
            blame.err(format!(
                "the announcer portmap maps to {value}, which is not a port number"
            ))
        })
    };
    let mut resolved = BTreeMap::new();
    for name in portmap.keys() {
        let mut seen = BTreeSet::from([name.as_str()]);
        let mut root = name.as_str();
        while let Some(next) = portmap.get(root) {
            if !seen.insert(next) {
                return Err(blame.err(format!(
                    "the announcer portmap has a cycle through '{name}'"
                )));
            }
            root = next;
        }
        resolved.insert(name.clone(), target(root)?);
    }
    Ok(resolved)
}

/// The job with `{{thermos.ports[ALIAS]}}` bound, below every other binding, to what the
/// portmap makes of it: `{{thermos.ports[TARGET]}}` for an alias of an allocated port, the
/// number for a static one. Command lines and shell health checks then name only ports the
/// executor is given, and an alias is never requested as a port of its own.
pub(crate) fn with_port_aliases(j: &View, portmap: &BTreeMap<String, PortTarget>) -> View {
    let entries: Vec<(Ref, Binding)> = portmap
        .iter()
        .filter_map(|(alias, target)| {
            let text = match target {
                PortTarget::Named(port) => {
                    Ref::parse(&format!("thermos.ports[{port}]"))?;
                    format!("{{{{thermos.ports[{port}]}}}}")
                }
                PortTarget::Static(number) => number.to_string(),
            };
            let reference = Ref::parse(&format!("thermos.ports[{alias}]"))?;
            Some((reference, Binding::Text(text)))
        })
        .collect();
    if entries.is_empty() {
        return j.clone();
    }
    let mut inst = (*j.inst).clone();
    inst.scopes.push(Frame::Env(Arc::new(Env { entries })));
    let inst = Arc::new(inst);
    View {
        chain: Chain::empty().enter(&inst),
        inst,
    }
}

/// Aurora's `AuroraConfig.ports()`: the ports the task references (aliases already replaced by
/// [`with_port_aliases`]) and the portmap's allocated targets; static ports are not allocated.
pub(crate) fn requested_ports(
    referenced: &BTreeSet<String>,
    portmap: &BTreeMap<String, PortTarget>,
) -> BTreeSet<String> {
    let targets = portmap.values().filter_map(|t| match t {
        PortTarget::Named(port) => Some(port.clone()),
        PortTarget::Static(_) => None,
    });
    referenced.iter().cloned().chain(targets).collect()
}

/// The port an HTTP health check or lifecycle named `name` talks to: the name itself, or the
/// allocated port it aliases. The executor's HTTP checks know ports only by allocated name, so
/// a static port is refused, and the health check (which always uses `health`) cannot follow
/// an alias at all. Errors point at the job's `Announcer`, where the alias is.
fn http_port(
    j: &View,
    name: &str,
    portmap: &BTreeMap<String, PortTarget>,
    what: &str,
) -> R<String> {
    match portmap.get(name) {
        None => Ok(name.to_string()),
        Some(PortTarget::Named(port)) if what != "health check" => Ok(port.clone()),
        Some(target) => {
            let to = match target {
                PortTarget::Named(port) => format!("the port '{port}'"),
                PortTarget::Static(number) => format!("the fixed port {number}"),
            };
            let blame = j.child("announce").unwrap_or_else(|| j.clone());
            Err(blame.err(format!(
                "the announcer portmap makes '{name}' {to}, but the executor's HTTP {what} \
                 only reaches an allocated port named '{name}': drop '{name}' from the portmap, \
                 or use a shell health check"
            )))
        }
    }
}

pub(crate) fn health_check(
    j: &View,
    ports: &BTreeSet<String>,
    portmap: &BTreeMap<String, PortTarget>,
) -> R<Option<HealthCheck>> {
    let Some(h) = j.child("health_check_config") else {
        return Ok(None);
    };
    let checker = match h.child("health_checker") {
        Some(c) => match (c.child("shell"), c.child("http")) {
            (Some(_), _) => shell_check(j)?.map(|(command, _)| HealthChecker::Shell { command }),
            (None, Some(http))
                if ports.contains(&http_port(j, "health", portmap, "health check")?) =>
            {
                Some(HealthChecker::Http {
                    endpoint: http.string("endpoint")?.unwrap_or_default(),
                    expected_response: http.string("expected_response")?.unwrap_or_default(),
                    expected_response_code: http.count("expected_response_code")?,
                })
            }
            _ => None,
        },
        None => None,
    };
    let Some(checker) = checker else {
        return Ok(None);
    };
    Ok(Some(HealthCheck {
        checker,
        initial_interval_secs: h.seconds("initial_interval_secs")?,
        interval_secs: h.seconds("interval_secs")?,
        max_consecutive_failures: h.count("max_consecutive_failures")?,
        min_consecutive_successes: h.count("min_consecutive_successes")?,
        timeout_secs: h.seconds("timeout_secs")?,
    }))
}

pub(crate) fn lifecycle(
    j: &View,
    ports: &BTreeSet<String>,
    portmap: &BTreeMap<String, PortTarget>,
) -> R<Option<HttpLifecycle>> {
    let Some(http) = j.child("lifecycle").and_then(|l| l.child("http")) else {
        return Ok(None);
    };
    let port = http.required_string("port", "HttpLifecycleConfig")?;
    let port = http_port(j, &port, portmap, "lifecycle")?;
    if !ports.contains(&port) {
        return Ok(None);
    }
    Ok(Some(HttpLifecycle {
        port,
        graceful_shutdown_endpoint: http
            .string("graceful_shutdown_endpoint")?
            .unwrap_or_default(),
        graceful_shutdown_wait_secs: http.count("graceful_shutdown_wait_secs")?,
        shutdown_endpoint: http.string("shutdown_endpoint")?.unwrap_or_default(),
        shutdown_wait_secs: http.count("shutdown_wait_secs")?,
    }))
}
