//! `task run` and `task ssh`: a shell command in the sandbox of a job's RUNNING instances, as
//! Aurora's client ran it over ssh, here through each agent's observer (`crate::observer`),
//! which checks the caller against the cluster's users (see `aurora-agent --auth`).
//!
//! As in Aurora, the command is mustache-expanded per instance before it is sent:
//! `{{thermos.task_id}}`, `{{mesos.instance}}`, `{{mesos.hostname}}` and
//! `{{thermos.ports[NAME]}}` (an unknown variable is an error rather than a literal `{{` for
//! bash to trip on), and it runs as `bash -c` with the sandbox as its working directory (there
//! is no separate executor sandbox here: `--executor-sandbox` names the same directory).
//!
//! `task run` prints each line as Aurora did, `HOST:  LINE` (stdout to stdout, stderr to
//! stderr), one instance's output at a time, in instance order with `-t 1` and as they finish
//! otherwise; it exits 4 when the command failed anywhere. `task ssh` has no terminal to offer
//! over HTTP: with `-c CMD` it runs one command and prints its output as is; without, it reads
//! commands from stdin and runs each line on its own (no state carries over between lines).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Mutex;

use aurora_api::TaskView;
use aurora_events::{InstanceId, ScheduleStatus};
use clap::Args;

use super::wait;
use crate::context::Context;
use crate::exit::{CliError, CliResult, ExitCode};
use crate::keys::{ClusterJobKey, InstanceSpec};
use crate::observer::{Observer, RunResult};

/// `task run`.
#[derive(Debug, Clone, Args)]
pub(crate) struct RunArgs {
    /// CLUSTER/ROLE/ENV/NAME[/INSTANCES]: every RUNNING instance, or those named (`0-2`,
    /// `0,3`).
    key: String,
    /// The command, one argument (quote it): run with bash in each sandbox after
    /// {{thermos.task_id}}, {{mesos.instance}}, {{mesos.hostname}} and {{thermos.ports[NAME]}}
    /// are filled in.
    #[arg(value_name = "CMD")]
    cmd: String,
    /// Instances the command runs on at once.
    #[arg(short = 't', long = "threads", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: u16,
    /// Accepted for Aurora's scripts: the executor's sandbox and the task's are one directory.
    #[arg(long = "executor-sandbox")]
    executor_sandbox: bool,
}

/// `task ssh`.
#[derive(Debug, Clone, Args)]
pub(crate) struct SshArgs {
    /// CLUSTER/ROLE/ENV/NAME[/INSTANCE]; without an instance, the lowest RUNNING one.
    key: String,
    /// Run this command and exit (its output as is); without it, run stdin's lines one by one.
    #[arg(short = 'c', long = "command", value_name = "CMD")]
    command: Option<String>,
    /// Accepted for Aurora's scripts: the executor's sandbox and the task's are one directory.
    #[arg(long = "executor-sandbox")]
    executor_sandbox: bool,
}

/// A RUNNING task and the observer of its agent.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) task: TaskView,
    pub(crate) observer: Observer,
}

impl Target {
    pub(crate) fn host(&self) -> &str {
        self.task.host.as_deref().unwrap_or("?")
    }

    pub(crate) fn id(&self) -> &str {
        self.task.id.as_str()
    }
}

pub(super) fn run(ctx: &Context, args: &RunArgs) -> CliResult {
    let spec: InstanceSpec = args.key.parse()?;
    let targets = running_targets(ctx, &spec.key, spec.instances.as_ref())?;
    if targets.is_empty() {
        return Err(CliError::failure(format!(
            "no RUNNING instance of {} to run on",
            args.key
        )));
    }
    // Every command is expanded before any runs: a bad template runs nothing.
    let commands = targets
        .iter()
        .map(|t| expand(&args.cmd, &t.task))
        .collect::<CliResult<Vec<String>>>()?;
    let work = Mutex::new(targets.iter().zip(commands).collect::<Vec<_>>().into_iter());
    let failures: Mutex<Vec<(InstanceId, String, Option<CliError>)>> = Mutex::new(Vec::new());
    let printing = Mutex::new(());
    std::thread::scope(|scope| {
        for _ in 0..usize::from(args.threads).min(targets.len()) {
            scope.spawn(|| {
                loop {
                    let next = work.lock().unwrap_or_else(|e| e.into_inner()).next();
                    let Some((target, command)) = next else {
                        return;
                    };
                    let outcome = target.observer.run(target.id(), &command);
                    let _printing = printing.lock().unwrap_or_else(|e| e.into_inner());
                    let failure = match outcome {
                        Ok(result) => {
                            print_prefixed(target.host(), &result);
                            (!result.succeeded()).then(|| (result.outcome(), None))
                        }
                        Err(error) => Some((error.message.clone(), Some(error))),
                    };
                    if let Some((why, error)) = failure {
                        failures.lock().unwrap_or_else(|e| e.into_inner()).push((
                            target.task.instance,
                            format!(
                                "instance {} on {}: {why}",
                                target.task.instance,
                                target.host()
                            ),
                            error,
                        ));
                    }
                }
            });
        }
    });
    let mut failures = failures.into_inner().unwrap_or_else(|e| e.into_inner());
    if failures.is_empty() {
        return Ok(());
    }
    failures.sort_by_key(|(instance, _, _)| *instance);
    let lines: Vec<&str> = failures.iter().map(|(_, line, _)| line.as_str()).collect();
    // When every instance was refused alike (credentials, say), that refusal's code.
    let codes: BTreeSet<i32> = failures
        .iter()
        .map(|(_, _, e)| {
            e.as_ref()
                .map_or(ExitCode::CommandFailure, |e| e.code)
                .code()
        })
        .collect();
    let code = match (failures.len() == targets.len(), &failures[0].2) {
        (true, Some(error)) if codes.len() == 1 => error.code,
        _ => ExitCode::CommandFailure,
    };
    Err(CliError::new(
        code,
        format!(
            "the command failed on {} of {} instances:\n\t{}",
            failures.len(),
            targets.len(),
            lines.join("\n\t")
        ),
    ))
}

/// Aurora's `HOST:  LINE` for every line of a result.
fn print_prefixed(host: &str, result: &RunResult) {
    let mut out = std::io::stdout().lock();
    for line in result.stdout.lines() {
        let _ = writeln!(out, "{host}:  {line}");
    }
    let _ = out.flush();
    let mut err = std::io::stderr().lock();
    for line in result.stderr.lines() {
        let _ = writeln!(err, "{host}:  {line}");
    }
    note_truncation(host, result);
}

fn note_truncation(host: &str, result: &RunResult) {
    for (cut, stream) in [
        (result.stdout_truncated, "stdout"),
        (result.stderr_truncated, "stderr"),
    ] {
        if cut {
            eprintln!("{host}:  ({stream} was cut at the observer's limit of 1 MiB)");
        }
    }
}

pub(super) fn ssh(ctx: &Context, args: &SshArgs) -> CliResult {
    let spec: InstanceSpec = args.key.parse()?;
    let instance = match &spec.instances {
        None => None,
        Some(set) if set.len() == 1 => set.first().copied(),
        Some(_) => {
            return Err(CliError::invalid_parameter(format!(
                "{}: task ssh takes one instance (CLUSTER/ROLE/ENV/NAME/INSTANCE)",
                args.key
            )));
        }
    };
    if instance.is_none() && args.command.is_some() {
        return Err(CliError::invalid_parameter(
            "INSTANCE must be specified when --command option is given",
        ));
    }
    let wanted = instance.map(|i| BTreeSet::from([i]));
    let mut targets = running_targets(ctx, &spec.key, wanted.as_ref())?;
    if targets.is_empty() {
        return Err(CliError::invalid_parameter(match instance {
            Some(i) => format!("instance {i} of {} is not RUNNING", spec.key),
            None => format!("{} has no RUNNING instance", spec.key),
        }));
    }
    // `running_targets` sorts by instance: the lowest RUNNING one.
    let target = targets.swap_remove(0);
    if instance.is_none() {
        eprintln!(
            "No instance given: using instance {}, the lowest RUNNING one.",
            target.task.instance
        );
    }
    match &args.command {
        Some(command) => {
            let result = target
                .observer
                .run(target.id(), &expand(command, &target.task)?)?;
            print_raw(&result);
            if result.succeeded() {
                Ok(())
            } else {
                Err(CliError::failure(format!(
                    "the command {} (instance {} on {})",
                    result.outcome(),
                    target.task.instance,
                    target.host()
                )))
            }
        }
        None => line_by_line(&target),
    }
}

fn print_raw(result: &RunResult) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(result.stdout.as_bytes());
    let _ = out.flush();
    let _ = std::io::stderr().write_all(result.stderr.as_bytes());
    note_truncation("observer", result);
}

/// `task ssh` without `-c`: each line of stdin run on its own, until EOF or `exit`.
fn line_by_line(target: &Target) -> CliResult {
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    eprintln!(
        "Instance {} on {} (task {}). There is no terminal over the observer: each line runs as \
         its own `bash -c` in the sandbox, so nothing (cd, variables) carries over to the next. \
         End with Ctrl-D or `exit`.",
        target.task.instance,
        target.host(),
        target.id()
    );
    let prompt = format!("{}:{}$ ", target.host(), target.task.instance);
    let mut lines = stdin.lock().lines();
    loop {
        if interactive {
            eprint!("{prompt}");
            let _ = std::io::stderr().flush();
        }
        let Some(line) = lines.next() else {
            return Ok(());
        };
        let line = line.map_err(|e| CliError::failure(format!("reading stdin: {e}")))?;
        let line = line.trim();
        match line {
            "" => continue,
            "exit" | "logout" => return Ok(()),
            _ => {}
        }
        let command = match expand(line, &target.task) {
            Ok(command) => command,
            Err(error) => {
                eprintln!("{}", error.message);
                continue;
            }
        };
        let result = target.observer.run(target.id(), &command)?;
        print_raw(&result);
        if !result.succeeded() {
            eprintln!("({})", result.outcome());
        }
    }
}

/// The RUNNING tasks of `job` (of `instances` only, when given), by instance, each with its
/// agent's observer. Named instances that are not RUNNING are reported on stderr.
pub(crate) fn running_targets(
    ctx: &Context,
    key: &ClusterJobKey,
    instances: Option<&BTreeSet<InstanceId>>,
) -> CliResult<Vec<Target>> {
    let client = ctx.client(&key.cluster)?;
    let tasks = wait::all_tasks(&client, &key.job)?;
    let latest = wait::latest_by_instance(&tasks);
    if let Some(wanted) = instances {
        for instance in wanted {
            match latest.get(instance) {
                Some(task) if task.status == ScheduleStatus::Running => {}
                Some(task) => eprintln!(
                    "Instance {instance} of {key} is {}, not RUNNING: skipped.",
                    task.status
                ),
                None => eprintln!("{key} has no instance {instance}: skipped."),
            }
        }
    }
    let mut observers: BTreeMap<String, Observer> = BTreeMap::new();
    let mut targets = Vec::new();
    for (instance, task) in latest {
        let named = instances.is_none_or(|wanted| wanted.contains(&instance));
        if !named || task.status != ScheduleStatus::Running {
            continue;
        }
        let Some(base) = task.observer.as_deref().filter(|o| !o.is_empty()) else {
            return Err(CliError::new(
                ExitCode::ApiError,
                format!(
                    "the scheduler knows no observer for instance {instance} (task {}, on {}); \
                     is the scheduler older than task run?",
                    task.id,
                    task.host.as_deref().unwrap_or("an unknown host")
                ),
            ));
        };
        let observer = match observers.get(base) {
            Some(observer) => observer.clone(),
            None => {
                let observer = Observer::new(base, client.base())?;
                observers.insert(base.to_string(), observer.clone());
                observer
            }
        };
        targets.push(Target {
            task: task.clone(),
            observer,
        });
    }
    Ok(targets)
}

/// Fills in Aurora's mustache variables for `task` (see the module docs).
pub(crate) fn expand(command: &str, task: &TaskView) -> CliResult<String> {
    let mut out = String::with_capacity(command.len());
    let mut rest = command;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            return Err(CliError::invalid_parameter(format!(
                "unterminated {{{{ in the command {command:?}"
            )));
        };
        out.push_str(&lookup(after[..close].trim(), task)?);
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn lookup(name: &str, task: &TaskView) -> CliResult<String> {
    match name {
        "thermos.task_id" => return Ok(task.id.to_string()),
        "mesos.instance" => return Ok(task.instance.to_string()),
        "mesos.hostname" => return Ok(task.host.clone().unwrap_or_default()),
        _ => {}
    }
    if let Some(port) = name
        .strip_prefix("thermos.ports[")
        .and_then(|r| r.strip_suffix(']'))
    {
        let port = port.trim().trim_matches(|c| c == '\'' || c == '"');
        return task.ports.get(port).map(u16::to_string).ok_or_else(|| {
            CliError::invalid_parameter(format!(
                "{{{{thermos.ports[{port}]}}}}: instance {} has no port named {port:?} (it has: {})",
                task.instance,
                if task.ports.is_empty() {
                    "none".to_string()
                } else {
                    task.ports.keys().cloned().collect::<Vec<_>>().join(", ")
                }
            ))
        });
    }
    Err(CliError::invalid_parameter(format!(
        "unknown template variable {{{{{name}}}}} (known: {{{{thermos.task_id}}}}, \
         {{{{mesos.instance}}}}, {{{{mesos.hostname}}}}, {{{{thermos.ports[NAME]}}}})"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> TaskView {
        TaskView {
            id: aurora_events::TaskId::from_raw("www-prod-web-3-abc"),
            job: "www/prod/web".into(),
            instance: 3,
            status: ScheduleStatus::Running,
            config: aurora_events::samples::task_config().hash(),
            failure_count: 0,
            ancestor: None,
            agent: None,
            host: Some("h1".into()),
            observer: Some("http://h1:1338".into()),
            ports: BTreeMap::from([("http".to_string(), 31001)]),
            events: Vec::new(),
            event_messages: Vec::new(),
            pending_reason: None,
            task_config: None,
        }
    }

    #[test]
    fn aurora_variables_are_filled_in() {
        assert_eq!(
            expand(
                "echo {{mesos.instance}} {{ thermos.task_id }} {{mesos.hostname}}:{{thermos.ports[http]}} {{thermos.ports['http']}}",
                &task()
            ),
            Ok("echo 3 www-prod-web-3-abc h1:31001 31001".to_string())
        );
        assert_eq!(expand("ls -a", &task()), Ok("ls -a".to_string()));
    }

    #[test]
    fn what_cannot_be_filled_in_is_an_invalid_parameter() {
        for (command, says) in [
            (
                "echo {{thermos.ports[admin]}}",
                "no port named \"admin\" (it has: http)",
            ),
            (
                "echo {{profile.x}}",
                "unknown template variable {{profile.x}}",
            ),
            ("echo {{oops", "unterminated {{"),
        ] {
            let error = expand(command, &task()).unwrap_err();
            assert_eq!(error.code, ExitCode::InvalidParameter, "{command}");
            assert!(error.message.contains(says), "{command}: {}", error.message);
        }
    }
}
