//! Tasks whose config asks for a Docker container (Aurora's `Docker(image, parameters)`): every
//! run of a process is one `docker run` of the task's image, through the `docker` CLI found on
//! the agent's `PATH` at launch (no `docker` there: the task fails at once, "this agent has no
//! docker: ..."). What is decided here is pure (the argument lists, the container names, the
//! checks of a config), so it is unit-tested exactly; the I/O is the bounded `docker kill` and
//! `docker rm -f` the runner issues, and the `docker ps` and `docker stop` with which an agent
//! that restarts stops the containers of tasks an earlier agent left (`leftovers.rs`: their
//! names all start with [`container_prefix`] of the task's tag).
//!
//! A run is, in this order:
//!
//! ```text
//! docker run --rm --name <name> --network host --init --sig-proxy=false
//!   -v <sandbox>:<sandbox> -w <sandbox>
//!   -e AURORA_EXECUTOR_TAG=<tag> -e MESOS_SANDBOX=<sandbox> [-e BASH_ENV=<sandbox>/.thermos_profile]
//!   [--<parameter name>=<parameter value> ...]
//!   --entrypoint bash <image> -c <cmdline>
//! ```
//!
//! - The sandbox is mounted at its own (absolute) path, where Aurora mounts it at
//!   `/mnt/mesos/sandbox`: the process then sees the paths the executor, the logs, the observer
//!   and the health checks (which run on the host) use, `.thermos_profile` is sourced from the
//!   same path as outside containers, and `$MESOS_SANDBOX` names it as in Aurora.
//! - Host networking: the ports the scheduler assigned are host ports, and the process binds
//!   them as `{{thermos.ports[name]}}` renders them; HTTP health checks and the lifecycle
//!   reach it on 127.0.0.1 as they reach any task.
//! - `--init` puts a reaping, signal-forwarding init as the container's pid 1, so that a
//!   `docker kill --signal TERM` reaches the shell and zombies inside the container are reaped.
//! - Parameters are passed as `--NAME=VALUE`, in order, as Mesos passes them (`=` keeps a
//!   boolean flag such as `privileged=true` and a value starting with `-` in one argument).
//!   They come after the executor's options, so they may override them (`network`, `user`),
//!   except the ones the executor relies on: `name`, `entrypoint` and `detach` are refused.
//! - The environment is explicit (a container does not inherit the agent's): the task's tag,
//!   `MESOS_SANDBOX`, and `BASH_ENV` when the sandbox holds `.thermos_profile`. The image's own
//!   environment applies otherwise. The image must have `bash`.
//!
//! Stopping: the `docker` client is not the container (the container is the daemon's child),
//! so signalling the client does not stop it. The client runs with `--sig-proxy=false` and is
//! spared the task's SIGTERM sweep (it would die at once and leave its container unobserved):
//! the container gets `docker kill --signal TERM <name>` instead, the client exits when the
//! container does, and after the kill grace `docker rm -f <name>` ends what is left, before
//! the SIGKILL sweep. Every run's container is also removed (`docker rm -f`) once its client
//! exited, whatever the reason, so a task leaves no container behind even when its client was
//! killed. Each docker command is bounded by [`COMMAND_TIMEOUT`]; a container already gone is
//! fine.

use std::ffi::{OsStr, OsString};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use aurora_events::config::{Container, DockerParameter};
use tokio::process::Command;

use super::process::PROFILE;
use super::tracking::TAG_VAR;

/// The variable naming the sandbox inside a container, as Mesos sets it.
pub(crate) const SANDBOX_VAR: &str = "MESOS_SANDBOX";

/// How long one `docker kill` or `docker rm -f` may take.
pub(crate) const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// Parameters the executor sets itself and depends on.
const RESERVED: &[&str] = &["name", "entrypoint", "detach"];

/// A task's Docker container, resolved at launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Docker {
    /// The `docker` CLI, as found on the agent's `PATH`.
    pub(crate) program: PathBuf,
    pub(crate) image: String,
    pub(crate) parameters: Vec<DockerParameter>,
    /// Absolute: mounted at the same path inside the container.
    pub(crate) sandbox: PathBuf,
}

/// What the task runs in: `Ok(None)` for a plain sandbox (no container, or a Mesos container
/// with neither image nor volumes). `docker` names the CLI (a bare name is looked up in
/// `path`, the agent's `PATH`); `sandbox` must be absolute. The error is the task's failure
/// message.
pub(crate) fn prepare(
    container: Option<&Container>,
    docker: &Path,
    path: Option<&OsStr>,
    sandbox: &Path,
) -> Result<Option<Docker>, String> {
    let (image, parameters) = match container {
        None => return Ok(None),
        Some(Container::Mesos { image, volumes }) => {
            return if image.is_none() && volumes.is_empty() {
                Ok(None)
            } else {
                Err(
                    "this agent cannot run Mesos containers with an image or volumes: it runs \
                     plain sandboxes and Docker containers"
                        .to_string(),
                )
            };
        }
        Some(Container::Docker { image, parameters }) => (image, parameters),
    };
    if image.trim().is_empty() {
        return Err("a Docker container needs an image".to_string());
    }
    for parameter in parameters {
        check_parameter(parameter)?;
    }
    if !sandbox.is_absolute() || sandbox.as_os_str().as_encoded_bytes().contains(&b':') {
        return Err(format!(
            "cannot mount the sandbox {} into a Docker container: `docker run -v` needs an \
             absolute path without ':'",
            sandbox.display()
        ));
    }
    let program = find_program(docker, path).ok_or_else(|| {
        format!(
            "this agent has no docker: no executable {} on its PATH, and the task runs in a \
             Docker container (image {image})",
            docker.display()
        )
    })?;
    Ok(Some(Docker {
        program,
        image: image.clone(),
        parameters: parameters.clone(),
        sandbox: sandbox.to_path_buf(),
    }))
}

/// A parameter is a long option name (`env`, `add-host`, ...) the executor does not set itself.
fn check_parameter(parameter: &DockerParameter) -> Result<(), String> {
    let name = parameter.name.as_str();
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !valid {
        return Err(format!(
            "invalid Docker parameter name {name:?}: a `docker run` option without its dashes, \
             such as env or add-host"
        ));
    }
    if RESERVED.contains(&name) {
        return Err(format!(
            "the Docker parameter {name:?} is set by the executor and cannot be given"
        ));
    }
    Ok(())
}

/// `program` if it holds a `/`, else the first `path` entry holding it; executable files only.
pub(crate) fn find_program(program: &Path, path: Option<&OsStr>) -> Option<PathBuf> {
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.as_os_str().as_encoded_bytes().contains(&b'/') {
        return executable(program).then(|| program.to_path_buf());
    }
    std::env::split_paths(path?)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(program))
        .find(|candidate| executable(candidate))
}

/// The container of run `run` of the task's `index`-th process: unique per task (the
/// executor's tag is unique across tasks and agent restarts), process and run. Docker allows
/// `[a-zA-Z0-9][a-zA-Z0-9_.-]*`: other characters of the process name become `_`, and the
/// index keeps two names that differ only there apart.
pub(crate) fn container_name(tag: &str, index: usize, process: &str, run: u32) -> String {
    format!("{}{index}-{}-{run}", container_prefix(tag), safe(process))
}

/// How every container name of the task tagged `tag` starts: an agent that did not start
/// them finds them by it (`leftovers.rs`). Tags hold no `-`, so no other task's names start
/// the same.
pub(crate) fn container_prefix(tag: &str) -> String {
    format!("aurora-{}-", safe(tag))
}

fn safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The arguments (after the program) of `docker run` for one run of `cmdline` (rendered) in
/// container `name`, for the task tagged `tag`; `profile`: the sandbox holds
/// `.thermos_profile`. See the module docs.
pub(crate) fn run_args(
    docker: &Docker,
    name: &str,
    tag: &str,
    profile: bool,
    cmdline: &str,
) -> Vec<OsString> {
    let sandbox = docker.sandbox.as_os_str();
    let mut env = vec![
        (TAG_VAR, OsString::from(tag)),
        (SANDBOX_VAR, sandbox.to_os_string()),
    ];
    if profile {
        env.push(("BASH_ENV", docker.sandbox.join(PROFILE).into_os_string()));
    }
    let mut mount = sandbox.to_os_string();
    mount.push(":");
    mount.push(sandbox);
    let mut args: Vec<OsString> = [
        "run",
        "--rm",
        "--name",
        name,
        "--network",
        "host",
        "--init",
        "--sig-proxy=false",
        "-v",
    ]
    .into_iter()
    .map(OsString::from)
    .collect();
    args.push(mount);
    args.push("-w".into());
    args.push(sandbox.to_os_string());
    for (key, value) in &env {
        let mut pair = OsString::from(format!("{key}="));
        pair.push(value);
        args.push("-e".into());
        args.push(pair);
    }
    for parameter in &docker.parameters {
        args.push(format!("--{}={}", parameter.name, parameter.value).into());
    }
    for arg in ["--entrypoint", "bash", docker.image.as_str(), "-c", cmdline] {
        args.push(arg.into());
    }
    args
}

/// `docker kill --signal <signal> <name>`.
pub(crate) fn kill_args(name: &str, signal: &str) -> Vec<String> {
    ["kill", "--signal", signal, name]
        .map(String::from)
        .to_vec()
}

/// `docker rm -f <name>`: stops (SIGKILL) and removes the container.
pub(crate) fn remove_args(name: &str) -> Vec<String> {
    ["rm", "-f", name].map(String::from).to_vec()
}

/// `docker ps --all --filter name=<prefix> --format {{.Names}}`: the containers whose names
/// contain `prefix` (Docker's filter matches anywhere in the name, so the caller keeps the
/// ones that start with it), one per line.
pub(crate) fn list_args(prefix: &str) -> Vec<String> {
    [
        "ps",
        "--all",
        "--filter",
        &format!("name={prefix}"),
        "--format",
        "{{.Names}}",
    ]
    .map(String::from)
    .to_vec()
}

/// `docker stop -t <grace> <name>`: SIGTERM, up to `grace` (whole seconds, rounded up), then
/// SIGKILL. `-t` is the short option of both the old `--time` and the new `--timeout`.
pub(crate) fn stop_args(name: &str, grace: Duration) -> Vec<String> {
    let secs = grace.as_secs() + u64::from(grace.subsec_nanos() > 0);
    ["stop", "-t", &secs.to_string(), name]
        .map(String::from)
        .to_vec()
}

/// Runs `program args`, bounded by [`COMMAND_TIMEOUT`]. A failure is logged, not returned: the
/// container may be gone already ("No such container", which is what was wanted), and there
/// is nothing else the caller could do but go on stopping the task.
pub(crate) async fn command(program: &Path, args: &[String]) {
    command_within(program, args, COMMAND_TIMEOUT).await;
}

/// Runs `program args`, bounded by `timeout`, and returns its standard output if it succeeded.
/// Failures are logged as [`command`] logs them.
pub(crate) async fn command_within(
    program: &Path,
    args: &[String],
    timeout: Duration,
) -> Option<Vec<u8>> {
    let output = Command::new(program)
        .args(args)
        // Not the agent's group: a terminal's Ctrl-C meant for the agent does not reach it.
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(timeout, output).await {
        Ok(Ok(out)) if out.status.success() => {
            tracing::debug!(?args, "docker");
            return Some(out.stdout);
        }
        Ok(Ok(out)) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            if stderr.contains("No such container") || stderr.contains("is not running") {
                tracing::debug!(?args, stderr = %stderr.trim(), "docker: container already gone");
            } else {
                tracing::warn!(?args, status = %out.status, stderr = %stderr.trim(), "docker command failed");
            }
        }
        Ok(Err(e)) => tracing::warn!(?args, error = %e, "cannot run docker"),
        Err(_) => tracing::warn!(?args, ?timeout, "docker command timed out"),
    }
    None
}

#[cfg(test)]
#[path = "docker_tests.rs"]
mod tests;
