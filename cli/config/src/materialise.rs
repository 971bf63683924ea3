//! From a `Job` instance to a [`JobConfig`]: resolve every template, check what Aurora's client
//! and Thermos check, and fill in [`TaskConfig`] (Aurora's `config/thrift.py: convert`).
//!
//! Effective-settings rule: like Aurora's executor, an HTTP health check or HTTP lifecycle only
//! happens when the task requests the port it needs (`health` by default), so without that port
//! the materialised config carries no health check / lifecycle at all.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use aurora_events::config::{
    Announcer, Constraint, ConstraintKind, HealthCheck, HealthChecker, HttpLifecycle,
    LogDestination, LogRotation, Logger, PartitionPolicy, Process, SlaPolicy, ThermosTask,
};
use aurora_events::update::{UpdateSettings, UpdateStrategy};
use aurora_events::{JobKey, Resources, TaskConfig, Tier};

use crate::JobConfig;
use crate::coerce::coerce_text;
use crate::error::ConfigError;
use crate::template::{Chain, Ref, resolve};
use crate::value::{Binding, Datum, Env, Frame, Instance, Ty};
use crate::vocab::{MB, VOCAB};

/// A struct instance seen from inside the job: reads fields with templates resolved.
#[derive(Clone)]
struct View {
    inst: Arc<Instance>,
    chain: Chain,
}

/// Where a runtime reference such as `{{mesos.instance}}` may stay unresolved.
#[derive(Clone, Copy, PartialEq)]
enum Runtime {
    Allowed,
    Refused,
}

type R<T> = Result<T, ConfigError>;

impl View {
    fn err(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::at(&self.inst.origin, message)
    }

    fn raw(&self, field: &str) -> Option<&Datum> {
        self.inst.get(field)
    }

    fn ty(&self, field: &str) -> Ty {
        self.inst
            .schema
            .index(field)
            .map_or(Ty::String, |i| self.inst.schema.fields[i].ty.clone())
    }

    /// A struct field, seen from inside it.
    fn child(&self, field: &str) -> Option<View> {
        let inst = self.raw(field)?.as_instance()?.clone();
        Some(View {
            chain: self.chain.enter(&inst),
            inst,
        })
    }

    /// A list-of-structs field.
    fn children(&self, field: &str) -> Vec<View> {
        self.raw(field)
            .and_then(Datum::as_list)
            .unwrap_or_default()
            .iter()
            .filter_map(Datum::as_instance)
            .map(|inst| View {
                chain: self.chain.enter(inst),
                inst: inst.clone(),
            })
            .collect()
    }

    /// Text with templates resolved, and the references nothing bound.
    fn resolved(&self, datum: &Datum, field: &str, runtime: Runtime) -> R<(String, Vec<Ref>)> {
        let (text, unbound) = match datum {
            Datum::Str(s) => resolve(s, &self.chain)
                .map_err(|e| self.err(format!("{}: {e}", self.field_name(field))))?,
            other => (other.python_str().unwrap_or_default(), Vec::new()),
        };
        for r in &unbound {
            if !r.is_runtime() {
                return Err(self.err(format!(
                    "unbound template variable {r} (in {})",
                    self.field_name(field)
                )));
            }
            if runtime == Runtime::Refused {
                return Err(self.err(format!(
                    "{{{{{r}}}}} is only known when the task runs: it may be used in process \
                     command lines and shell health checks, not in {}",
                    self.field_name(field)
                )));
            }
        }
        Ok((text, unbound))
    }

    fn field_name(&self, field: &str) -> String {
        format!("{}.{field}", self.inst.schema.name)
    }

    /// A simple field, resolved and coerced to its type.
    fn value(&self, field: &str) -> R<Option<Datum>> {
        let Some(datum) = self.raw(field) else {
            return Ok(None);
        };
        if !matches!(datum, Datum::Str(_)) {
            return Ok(Some(datum.clone()));
        }
        let (text, _) = self.resolved(datum, field, Runtime::Refused)?;
        coerce_text(&text, &self.ty(field))
            .map(Some)
            .map_err(|e| self.err(format!("{}: {e}", self.field_name(field))))
    }

    fn string(&self, field: &str) -> R<Option<String>> {
        Ok(self.value(field)?.and_then(|d| d.python_str()))
    }

    fn required_string(&self, field: &str, owner: &str) -> R<String> {
        self.string(field)?
            .ok_or_else(|| self.err(format!("{owner} has no {field}")))
    }

    /// A command line: runtime references stay for the executor.
    fn command(&self, field: &str) -> R<Option<(String, Vec<Ref>)>> {
        match self.raw(field) {
            None => Ok(None),
            Some(datum) => self.resolved(datum, field, Runtime::Allowed).map(Some),
        }
    }

    fn int(&self, field: &str) -> R<Option<i64>> {
        match self.value(field)? {
            None => Ok(None),
            Some(Datum::Int(i)) => Ok(Some(i)),
            Some(Datum::Float(f)) => Ok(Some(f as i64)),
            Some(Datum::Bool(b)) => Ok(Some(i64::from(b))),
            Some(other) => Err(self.err(format!(
                "{} must be an integer, got {}",
                self.field_name(field),
                other.describe()
            ))),
        }
    }

    fn float(&self, field: &str) -> R<Option<f64>> {
        match self.value(field)? {
            None => Ok(None),
            Some(Datum::Int(i)) => Ok(Some(i as f64)),
            Some(Datum::Float(f)) => Ok(Some(f)),
            Some(other) => Err(self.err(format!(
                "{} must be a number, got {}",
                self.field_name(field),
                other.describe()
            ))),
        }
    }

    fn bool(&self, field: &str) -> R<bool> {
        match self.value(field)? {
            None => Ok(false),
            Some(Datum::Bool(b)) => Ok(b),
            Some(Datum::Int(i)) => Ok(i != 0),
            Some(other) => Err(self.err(format!(
                "{} must be a boolean, got {}",
                self.field_name(field),
                other.describe()
            ))),
        }
    }

    /// A non-negative integer field that fits `T` (absent = 0).
    fn count<T: TryFrom<i64>>(&self, field: &str) -> R<T> {
        let value = self.int(field)?.unwrap_or(0);
        T::try_from(value).map_err(|_| {
            self.err(format!(
                "{} must be a non-negative integer in range, got {value}",
                self.field_name(field)
            ))
        })
    }

    /// Whole seconds from a Float field, rounded up (a 0.5 s timeout waits 1 s, not 0).
    fn seconds(&self, field: &str) -> R<u32> {
        let value = self.float(field)?.unwrap_or(0.0);
        if !(0.0..=f64::from(u32::MAX)).contains(&value) {
            return Err(self.err(format!(
                "{} must be a non-negative number of seconds, got {value}",
                self.field_name(field)
            )));
        }
        Ok(value.ceil() as u32)
    }

    fn strings(&self, field: &str) -> R<Vec<String>> {
        let Some(Datum::List(items)) = self.raw(field) else {
            return Ok(Vec::new());
        };
        items
            .iter()
            .map(|d| Ok(self.resolved(d, field, Runtime::Refused)?.0))
            .collect()
    }

    fn string_map(&self, field: &str) -> R<Vec<(String, String)>> {
        let Some(Datum::Map(pairs)) = self.raw(field) else {
            return Ok(Vec::new());
        };
        pairs
            .iter()
            .map(|(k, v)| {
                Ok((
                    self.resolved(k, field, Runtime::Refused)?.0,
                    self.resolved(v, field, Runtime::Refused)?.0,
                ))
            })
            .collect()
    }
}

/// Materialises one job, with `bindings` (`--bind name=value`) applied as Aurora applies them.
pub(crate) fn job(job: &Arc<Instance>, bindings: &[(String, String)]) -> R<JobConfig> {
    let mut bound = (**job).clone();
    let text = |pairs: &[(String, String)]| -> R<Env> {
        let entries = pairs
            .iter()
            .map(|(k, v)| {
                let key = Ref::parse(k).ok_or_else(|| {
                    ConfigError::at(
                        &job.origin,
                        format!("cannot bind {k:?}: not a valid template name"),
                    )
                })?;
                Ok((key, Binding::Text(v.clone())))
            })
            .collect::<R<Vec<_>>>()?;
        Ok(Env { entries })
    };
    if !bindings.is_empty() {
        bound
            .scopes
            .insert(0, Frame::Env(Arc::new(text(bindings)?)));
    }
    // Aurora's `standard_bindings`: deprecated names for the job's own fields.
    let standard = [
        ("mesos.role", "{{role}}"),
        ("mesos.cluster", "{{cluster}}"),
        ("thermos.user", "{{role}}"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    bound
        .scopes
        .insert(0, Frame::Env(Arc::new(text(&standard)?)));
    let inst = Arc::new(bound);
    let j = View {
        chain: Chain::empty().enter(&inst),
        inst,
    };
    materialise(&j)
}

fn materialise(j: &View) -> R<JobConfig> {
    let label = match j.string("name") {
        Ok(Some(name)) => format!("Job '{name}'"),
        _ => "Job".to_string(),
    };
    for field in ["cluster", "task", "role", "environment"] {
        if j.raw(field).is_none() {
            return Err(j.err(format!("{label} has no {field}")));
        }
    }
    let role = j.required_string("role", &label)?;
    let environment = j.required_string("environment", &label)?;
    let name = j.required_string("name", &label)?;
    let cluster = j.required_string("cluster", &label)?;
    if cluster.is_empty() {
        return Err(j.err(format!("{label} has an empty cluster")));
    }
    let key = JobKey::new(&role, &environment, &name)
        .map_err(|e| j.err(format!("invalid job key {role}/{environment}/{name}: {e}")))?;
    let instances = j.int("instances")?.unwrap_or(1);
    let instances = u32::try_from(instances)
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| {
            j.err(format!(
                "{label}: instances must be at least 1, got {instances}"
            ))
        })?;

    let task = j
        .child("task")
        .ok_or_else(|| j.err(format!("{label} has no task")))?;
    let (executor, mut referenced) = thermos_task(&task)?;
    // Aurora only looks at processes; the executor renders shell checks too, so a port
    // only a shell check names is requested as well.
    if let Some((_, refs)) = shell_check(j)? {
        referenced.extend(port_names(j, &refs, "the shell health check")?);
    }
    let announce = announcer(j)?;
    let ports = requested_ports(j, &referenced, announce.as_ref())?;
    let resources = resources(&task, &executor.name, ports)?;

    let tier = tier(j)?;
    let cron_schedule = j.string("cron_schedule")?;
    let policy = j
        .string("cron_collision_policy")?
        .unwrap_or_else(|| "KILL_EXISTING".into());
    let policy = policy.to_ascii_uppercase();
    if !["KILL_EXISTING", "CANCEL_NEW", "RUN_OVERLAP"].contains(&policy.as_str()) {
        return Err(j.err(format!(
            "invalid cron_collision_policy {policy:?}: use KILL_EXISTING, CANCEL_NEW or RUN_OVERLAP"
        )));
    }
    let cron_collision_policy =
        (cron_schedule.is_some() || policy != "KILL_EXISTING").then_some(policy);

    let config = TaskConfig {
        job: key.clone(),
        owner: None,
        is_service: j.bool("service")?,
        priority: j
            .int("priority")?
            .unwrap_or(0)
            .try_into()
            .map_err(|_| j.err("priority out of range"))?,
        max_task_failures: j
            .int("max_task_failures")?
            .unwrap_or(1)
            .try_into()
            .map_err(|_| j.err("max_task_failures out of range"))?,
        tier,
        health_check: health_check(j, &resources.ports)?,
        lifecycle: lifecycle(j, &resources.ports)?,
        resources,
        constraints: constraints(j)?,
        contact_email: j.string("contact")?,
        metadata: metadata(j)?,
        executor,
        announce,
        partition_policy: match j.child("partition_policy") {
            None => None,
            Some(p) => Some(PartitionPolicy {
                reschedule: p.bool("reschedule")?,
                delay_secs: p.count("delay_secs")?,
            }),
        },
        sla_policy: sla_policy(j)?,
    };
    required_fields(&j.inst)?;
    Ok(JobConfig {
        cluster,
        key,
        instances,
        task: config,
        cron_schedule,
        cron_collision_policy,
        update: update_settings(j)?,
    })
}

/// Pystachio's `check()` for what the specific checks above do not cover: every struct in the
/// job has its `Required` fields.
fn required_fields(inst: &Arc<Instance>) -> R<()> {
    for (field, value) in inst.schema.fields.iter().zip(&inst.values) {
        match value {
            None if field.required => {
                return Err(ConfigError::at(
                    &inst.origin,
                    format!(
                        "{} has no {} (it is required)",
                        inst.schema.name, field.name
                    ),
                ));
            }
            Some(Datum::Struct(child)) => required_fields(child)?,
            Some(Datum::List(items)) => {
                for child in items.iter().filter_map(Datum::as_instance) {
                    required_fields(child)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The Thermos task, and the `{{thermos.ports[...]}}` names its processes reference.
fn thermos_task(task: &View) -> R<(ThermosTask, BTreeSet<String>)> {
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
fn port_names(view: &View, refs: &[Ref], owner: &str) -> R<BTreeSet<String>> {
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
fn shell_check(j: &View) -> R<Option<(String, Vec<Ref>)>> {
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

fn resources(task: &View, task_name: &str, ports: BTreeSet<String>) -> R<Resources> {
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

fn announcer(j: &View) -> R<Option<Announcer>> {
    let Some(a) = j.child("announce") else {
        return Ok(None);
    };
    Ok(Some(Announcer {
        primary_port: a.required_string("primary_port", "Announcer")?,
        portmap: a.string_map("portmap")?.into_iter().collect(),
        zk_path: a.string("zk_path")?,
    }))
}

/// Aurora's `AuroraConfig.ports()`: ports referenced by processes, seen through the announcer's
/// portmap (aliases followed; ports mapped to numbers are static and not allocated), plus the
/// portmap's own non-static targets.
fn requested_ports(
    j: &View,
    referenced: &BTreeSet<String>,
    announce: Option<&Announcer>,
) -> R<BTreeSet<String>> {
    let portmap = announce.map(|a| a.portmap.clone()).unwrap_or_default();
    let resolve = |name: &str| -> R<Option<String>> {
        let mut seen = BTreeSet::new();
        let mut root = name.to_string();
        while let Some(next) = portmap.get(&root) {
            if !seen.insert(root.clone()) {
                return Err(j.err(format!(
                    "the announcer portmap has a cycle through '{name}'"
                )));
            }
            root = next.clone();
        }
        Ok((root.parse::<u16>().is_err()).then_some(root))
    };
    let mut ports = BTreeSet::new();
    for name in portmap.keys().chain(referenced) {
        ports.extend(resolve(name)?);
    }
    Ok(ports)
}

fn health_check(j: &View, ports: &BTreeSet<String>) -> R<Option<HealthCheck>> {
    let Some(h) = j.child("health_check_config") else {
        return Ok(None);
    };
    let checker = match h.child("health_checker") {
        Some(c) => match (c.child("shell"), c.child("http")) {
            (Some(_), _) => shell_check(j)?.map(|(command, _)| HealthChecker::Shell { command }),
            (None, Some(http)) if ports.contains("health") => Some(HealthChecker::Http {
                endpoint: http.string("endpoint")?.unwrap_or_default(),
                expected_response: http.string("expected_response")?.unwrap_or_default(),
                expected_response_code: http.count("expected_response_code")?,
            }),
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

fn lifecycle(j: &View, ports: &BTreeSet<String>) -> R<Option<HttpLifecycle>> {
    let Some(http) = j.child("lifecycle").and_then(|l| l.child("http")) else {
        return Ok(None);
    };
    let port = http.required_string("port", "HttpLifecycleConfig")?;
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

/// `{'host': 'limit:1', 'rack': '!a,b'}` → constraints, by attribute name.
fn constraints(j: &View) -> R<Vec<Constraint>> {
    let mut out = Vec::new();
    for (name, spec) in j.string_map("constraints")? {
        let kind = if let Some(limit) = spec.strip_prefix("limit:") {
            let limit = limit.trim().parse::<u32>().map_err(|_| {
                j.err(format!(
                    "constraint '{name}': {spec:?} is not a valid limit, it must be limit:<integer>"
                ))
            })?;
            ConstraintKind::Limit { limit }
        } else {
            let (negated, values) = match spec.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, spec.as_str()),
            };
            let values: BTreeSet<String> = values.split(',').map(str::to_string).collect();
            ConstraintKind::Value {
                negated,
                values: values.into_iter().collect(),
            }
        };
        out.push(Constraint { name, kind });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn metadata(j: &View) -> R<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for m in j.children("metadata") {
        let key = m.required_string("key", "Metadata")?;
        let value = m.required_string("value", "Metadata")?;
        if let Some(previous) = out.insert(key.clone(), value.clone()) {
            if previous != value {
                return Err(m.err(format!(
                    "metadata key '{key}' is given two values: {previous:?} and {value:?}"
                )));
            }
        }
    }
    Ok(out)
}

/// The tier as written; without one, `production = True` picks `preferred` (the production
/// tier), otherwise Aurora's default, `preemptible`. A production job on a non-production tier
/// is a contradiction and refused.
fn tier(j: &View) -> R<Tier> {
    let production = j.bool("production")?;
    match j.string("tier")? {
        None if production => Ok(Tier::Preferred),
        None => Ok(Tier::default()),
        Some(name) => {
            let tier: Tier = name.parse().map_err(|_| {
                j.err(format!(
                    "unknown tier '{name}' (tiers: preferred, preemptible, revocable)"
                ))
            })?;
            if production && !tier.production() {
                return Err(j.err(format!(
                    "production = True conflicts with tier '{name}', which is not a production tier"
                )));
            }
            Ok(tier)
        }
    }
}

fn sla_policy(j: &View) -> R<Option<SlaPolicy>> {
    let Some(s) = j.child("sla_policy") else {
        return Ok(None);
    };
    let v = &*VOCAB;
    Ok(Some(if s.inst.is(&v.count_sla_policy) {
        SlaPolicy::Count {
            count: s.count("count")?,
            duration_secs: s.count("duration_secs")?,
        }
    } else if s.inst.is(&v.percentage_sla_policy) {
        SlaPolicy::Percentage {
            percentage: s.float("percentage")?.unwrap_or(0.0),
            duration_secs: s.count("duration_secs")?,
        }
    } else {
        SlaPolicy::Coordinator {
            url: s.required_string("coordinator_url", "CoordinatorSlaPolicy")?,
            status_key: s.string("status_key")?.unwrap_or_default(),
        }
    }))
}

/// Aurora's `UpdaterConfig` checks and `to_thrift_update_settings`.
fn update_settings(j: &View) -> R<UpdateSettings> {
    let Some(u) = j.child("update_config") else {
        return Err(j.err("Job has no update_config"));
    };
    let batch_size = u.int("batch_size")?.unwrap_or(1);
    if batch_size <= 0 {
        return Err(u.err(format!(
            "UpdateConfig.batch_size must be greater than 0, got {batch_size}"
        )));
    }
    let watch_secs = u.int("watch_secs")?.unwrap_or(45);
    let min_wait_in_instance_running_ms = u64::try_from(watch_secs).map_err(|_| {
        u.err(format!(
            "UpdateConfig.watch_secs must be at least 0, got {watch_secs}"
        ))
    })? * 1000;
    let pulse = u.int("pulse_interval_secs")?;
    if let Some(p) = pulse {
        if p < 60 {
            return Err(u.err(format!(
                "UpdateConfig.pulse_interval_secs must be at least 60 seconds, got {p}"
            )));
        }
    }
    let wait = u.bool("wait_for_batch_completion")?;
    let group = |s: &View, field: &str| -> R<u32> {
        let size: u32 = s.count(field)?;
        if size == 0 {
            return Err(s.err(format!("{} must be greater than 0", s.field_name(field))));
        }
        Ok(size)
    };
    let strategy = match u.child("update_strategy") {
        None if wait => UpdateStrategy::Batch {
            group_size: group(&u, "batch_size")?,
            autopause_after_batch: false,
        },
        None => UpdateStrategy::Queue {
            group_size: group(&u, "batch_size")?,
        },
        Some(s) => {
            if wait {
                return Err(u.err("ambiguous update configuration: wait_for_batch_completion cannot be combined with an update_strategy"));
            }
            if batch_size > 1 {
                return Err(u.err("ambiguous update configuration: set the batch size inside update_strategy, not in UpdateConfig.batch_size"));
            }
            let v = &*VOCAB;
            if s.inst.is(&v.queue_strategy) {
                UpdateStrategy::Queue {
                    group_size: group(&s, "batch_size")?,
                }
            } else if s.inst.is(&v.batch_strategy) {
                UpdateStrategy::Batch {
                    group_size: group(&s, "batch_size")?,
                    autopause_after_batch: s.bool("autopause_after_batch")?,
                }
            } else {
                let sizes = s.strings("batch_sizes")?;
                let group_sizes = sizes
                    .iter()
                    .map(|size| size.parse::<u32>().ok().filter(|n| *n > 0))
                    .collect::<Option<Vec<u32>>>()
                    .filter(|sizes| !sizes.is_empty())
                    .ok_or_else(|| s.err(format!("VariableBatchUpdateStrategy.batch_sizes must be positive integers, got {sizes:?}")))?;
                UpdateStrategy::VariableBatch {
                    group_sizes,
                    autopause_after_batch: s.bool("autopause_after_batch")?,
                }
            }
        }
    };
    Ok(UpdateSettings {
        strategy,
        max_per_instance_failures: u.count("max_per_shard_failures")?,
        max_failed_instances: u.count("max_total_failures")?,
        min_wait_in_instance_running_ms,
        rollback_on_failure: u.bool("rollback_on_failure")?,
        update_only_these_instances: Vec::new(),
        block_if_no_pulses_after_ms: pulse.map(|p| p as u64 * 1000),
        sla_aware: u.bool("sla_aware")?,
    })
}
