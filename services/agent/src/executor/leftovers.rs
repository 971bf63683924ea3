//! What tasks leave behind when their agent dies without stopping them (`kill -9`, or the
//! `--dev` scheduler that embeds the agent being killed): their processes live on, reparented
//! to pid 1, still holding their ports, while the scheduler, which marked the tasks LOST, puts
//! new ones in their place. An agent that starts stops them before it registers
//! ([`sweep_leftovers`]), as an Aurora agent that restarts kills what it cannot recover.
//!
//! - The executor records its tag (the value of `TAG_VAR` in the environment of every process
//!   the task starts, unique per executor across restarts; see `tracking.rs`) in the sandbox,
//!   in [`RECORD`], before the task starts any process: the tag otherwise lives only in the
//!   memory of the agent that dies. With a Docker container the record says so, and the
//!   containers are found by the prefix their names share (`docker::container_prefix`). The
//!   executor removes the record once nothing the task started runs any more.
//! - The sweep reads the records in `<work dir>/sandboxes/*`, this agent's own (an agent with
//!   another work directory on the same machine never sees another's records, so never
//!   touches its tasks); finds the processes whose environment carries one of their tags;
//!   SIGTERMs them (and `docker stop`s the tasks' containers, which applies the same grace);
//!   waits up to the kill grace; then SIGKILLs what is left, and whatever was forked meanwhile.
//!   A record is removed once nothing with its tag runs, so a later start does not sweep
//!   again; one whose processes survived SIGKILL is kept, for the next start to try again.
//! - Signals go to single pids, never to a group, each re-read just before it is sent (same
//!   start time, tag still in its environment) against pid reuse. Zombies count as gone: their
//!   adopter (pid 1, or a subreaper) reaps them.
//!
//! A task can write in its sandbox, a container's too (it is mounted there). So the record is
//! trusted only as far as a forged one could not do more than the task itself: it must be a
//! regular file owned by this agent's user, its tag must look like one the executor makes, and
//! it names no program to run (the agent's own `docker` CLI stops the containers).
//!
//! Left out: processes that cleared their environment (nothing says whose they are), and
//! processes of another user (their environment cannot be read).

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::time::{Instant, sleep};

use super::docker;
use super::tracking::{environ_tags, list_pids, read_proc};
use super::tree::Ident;

/// The record of the executor's tag, in the sandbox.
pub(crate) const RECORD: &str = ".aurora-executor-tag";

/// The line after the tag in the record of a task that runs in a Docker container.
const DOCKER_LINE: &str = "docker";

/// How long SIGKILLed processes get to be gone (as the runner's reap wait).
const KILL_WAIT: Duration = Duration::from_secs(2);

/// Poll period while waiting for processes to go.
const POLL: Duration = Duration::from_millis(50);

/// What the executor records in the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) tag: String,
    /// The task runs in a Docker container.
    pub(crate) docker: bool,
}

impl Record {
    /// `<tag>\n`, then `docker\n` for a task in a Docker container.
    fn encode(&self) -> String {
        let mut text = format!("{}\n", self.tag);
        if self.docker {
            text.push_str(DOCKER_LINE);
            text.push('\n');
        }
        text
    }

    /// `None` for anything [`Record::encode`] would not write.
    fn parse(text: &str) -> Option<Self> {
        let mut lines = text.lines();
        let tag = lines.next()?;
        if !plausible_tag(tag) {
            return None;
        }
        let docker = match lines.next() {
            None => false,
            Some(DOCKER_LINE) => true,
            Some(_) => return None,
        };
        lines.next().is_none().then(|| Self {
            tag: tag.to_string(),
            docker,
        })
    }
}

/// A tag as `tracking.rs` makes them: `<pid>.<counter>.<nanos>`, digits and dots only. Nothing
/// else is looked for in environments or container names.
fn plausible_tag(tag: &str) -> bool {
    (1..=64).contains(&tag.len()) && tag.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

/// Writes the record into `sandbox` (through a temporary file and a rename, so that a record
/// is whole or absent). No fsync: the record guards against the agent dying, not the machine,
/// whose crash takes the task's processes along. The error is the task's failure message.
pub(crate) async fn write_record(sandbox: &Path, record: &Record) -> Result<(), String> {
    let path = sandbox.join(RECORD);
    let temporary = sandbox.join(format!("{RECORD}.new"));
    let written = async {
        tokio::fs::write(&temporary, record.encode()).await?;
        tokio::fs::rename(&temporary, &path).await
    };
    written.await.map_err(|e| {
        format!(
            "cannot record the executor's tag in {}: {e}",
            path.display()
        )
    })
}

/// Removes the record: nothing the task started runs any more.
pub(crate) fn remove_record(sandbox: &Path) {
    let path = sandbox.join(RECORD);
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove the executor's record")
        }
    }
}

/// A task whose leftovers a sweep stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swept {
    /// The sandbox's directory name: the task's id.
    pub task: String,
    /// Processes signalled: SIGTERMed, or SIGKILLed when found only after the grace.
    pub killed: usize,
    /// Processes still running after SIGKILL, or that could not be signalled (the record is
    /// kept, for the next start).
    pub survivors: usize,
    /// Containers stopped.
    pub containers: usize,
}

/// One sandbox with a record.
#[derive(Debug)]
struct Leftover {
    task: String,
    sandbox: PathBuf,
    record: Record,
    signalled: BTreeSet<Ident>,
}

/// Stops every process (and container) of the tasks recorded under `sandboxes` (an agent's
/// `<work dir>/sandboxes`), giving them `kill_grace` between SIGTERM and SIGKILL; `docker` is
/// the CLI the agent's executors use (a name looked up on `PATH`, or a path). Call it before
/// any executor of this process starts: every record found is taken for an earlier agent's.
/// Returns what it found, one entry per record; logs each task swept.
pub async fn sweep_leftovers(sandboxes: &Path, kill_grace: Duration, docker: &Path) -> Vec<Swept> {
    let mut leftovers = read_records(sandboxes);
    if leftovers.is_empty() {
        return Vec::new();
    }
    let me = i32::try_from(std::process::id()).unwrap_or(i32::MAX);
    let tags: BTreeMap<Vec<u8>, usize> = leftovers
        .iter()
        .enumerate()
        .map(|(i, leftover)| (leftover.record.tag.as_bytes().to_vec(), i))
        .collect();

    let found = find(&tags, me);
    signal_found(&mut leftovers, &found, Signal::SIGTERM);
    let program = docker_program(&leftovers, docker);
    let containers = futures::future::join_all(
        leftovers
            .iter()
            .map(|leftover| stop_containers(program.as_deref(), &leftover.record, kill_grace)),
    );
    let (containers, ()) = tokio::join!(containers, wait_gone(all(&found), kill_grace));

    // Survivors of the grace, and what was forked meanwhile (a fresh look).
    let found = find(&tags, me);
    signal_found(&mut leftovers, &found, Signal::SIGKILL);
    wait_gone(all(&found), KILL_WAIT).await;
    // Whatever still carries a tag: SIGKILL did not end it, or it could not be signalled.
    let left = find(&tags, me);

    leftovers
        .into_iter()
        .zip(containers)
        .enumerate()
        .map(|(index, (leftover, containers))| {
            let survivors = left.get(&index).map_or(0, BTreeSet::len);
            let swept = Swept {
                task: leftover.task,
                killed: leftover.signalled.len(),
                survivors,
                containers,
            };
            if survivors == 0 {
                remove_record(&leftover.sandbox);
                tracing::info!(task = %swept.task, processes = swept.killed, containers, "stopped what a task of an earlier agent left running");
            } else {
                tracing::error!(task = %swept.task, processes = swept.killed, survivors, "processes a task of an earlier agent left survived SIGKILL; the next start tries again");
            }
            swept
        })
        .collect()
}

/// The sandboxes under `sandboxes` that hold a trustworthy record (see the module docs).
fn read_records(sandboxes: &Path) -> Vec<Leftover> {
    let entries = match std::fs::read_dir(sandboxes) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            tracing::warn!(dir = %sandboxes.display(), error = %e, "cannot list sandboxes: what earlier tasks left running is not stopped");
            return Vec::new();
        }
    };
    let uid = nix::unistd::geteuid().as_raw();
    let mut leftovers: Vec<Leftover> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let sandbox = entry.path();
            let path = sandbox.join(RECORD);
            // Not followed: a link could name any file.
            let meta = std::fs::symlink_metadata(&path).ok()?;
            let text = if meta.is_file() && meta.uid() == uid {
                std::fs::read_to_string(&path).ok()
            } else {
                None
            };
            let Some(record) = text.as_deref().and_then(Record::parse) else {
                tracing::warn!(path = %path.display(), "ignoring a record of an executor's tag that this agent did not write");
                return None;
            };
            Some(Leftover {
                task: entry.file_name().to_string_lossy().into_owned(),
                sandbox,
                record,
                signalled: BTreeSet::new(),
            })
        })
        .collect();
    leftovers.sort_by(|a, b| a.task.cmp(&b.task));
    leftovers
}

/// The running processes carrying one of `tags`, by the index of the leftover whose tag it is.
fn find(tags: &BTreeMap<Vec<u8>, usize>, me: i32) -> BTreeMap<usize, BTreeSet<Ident>> {
    let pids = match list_pids() {
        Ok(pids) => pids,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read /proc: what earlier tasks left running is not stopped");
            return BTreeMap::new();
        }
    };
    let mut found: BTreeMap<usize, BTreeSet<Ident>> = BTreeMap::new();
    for pid in pids.into_iter().filter(|&pid| pid > 1 && pid != me) {
        let Some(&index) = environ_tags(pid).iter().find_map(|tag| tags.get(tag)) else {
            continue;
        };
        if let Some(p) = read_proc(pid).filter(|p| !p.zombie) {
            found.entry(index).or_default().insert(p.ident());
        }
    }
    found
}

fn all(found: &BTreeMap<usize, BTreeSet<Ident>>) -> BTreeSet<Ident> {
    found.values().flatten().copied().collect()
}

/// Sends `signal` to every process found, each as [`signal_one`] checks it.
fn signal_found(
    leftovers: &mut [Leftover],
    found: &BTreeMap<usize, BTreeSet<Ident>>,
    signal: Signal,
) {
    for (&index, ids) in found {
        let Some(leftover) = leftovers.get_mut(index) else {
            continue;
        };
        for &id in ids {
            if signal_one(id, leftover.record.tag.as_bytes(), signal) {
                leftover.signalled.insert(id);
            }
        }
    }
}

/// Signals `id` if it still is the process found (pid and start time) and still carries
/// `tag`, both read again just now; true if it was signalled.
fn signal_one(id: Ident, tag: &[u8], signal: Signal) -> bool {
    if !running(id) || !environ_tags(id.pid).iter().any(|t| t == tag) {
        return false;
    }
    match kill(Pid::from_raw(id.pid), signal) {
        Ok(()) => {
            tracing::debug!(pid = id.pid, ?signal, "signalled a leftover process");
            true
        }
        Err(Errno::ESRCH) => false,
        Err(e) => {
            tracing::warn!(pid = id.pid, ?signal, error = %e, "cannot signal a leftover process");
            false
        }
    }
}

/// Whether `id` still runs (a zombie does not).
fn running(id: Ident) -> bool {
    read_proc(id.pid).is_some_and(|p| p.ident() == id && !p.zombie)
}

/// Waits until none of `ids` runs, or `limit` passed.
async fn wait_gone(ids: BTreeSet<Ident>, limit: Duration) {
    let deadline = Instant::now() + limit;
    while ids.iter().any(|&id| running(id)) && Instant::now() < deadline {
        sleep(POLL).await;
    }
}

/// The docker CLI, if a leftover ran in a Docker container and this agent has one.
fn docker_program(leftovers: &[Leftover], docker: &Path) -> Option<PathBuf> {
    if !leftovers.iter().any(|leftover| leftover.record.docker) {
        return None;
    }
    let found = docker::find_program(docker, std::env::var_os("PATH").as_deref());
    if found.is_none() {
        tracing::warn!(docker = %docker.display(), "tasks of an earlier agent ran in Docker containers, and this agent has no docker: their containers are left running");
    }
    found
}

/// Stops and removes the containers of the task `record` names (none without a Docker
/// container or a `docker` CLI); returns how many there were.
async fn stop_containers(program: Option<&Path>, record: &Record, grace: Duration) -> usize {
    let Some(program) = program.filter(|_| record.docker) else {
        return 0;
    };
    let prefix = docker::container_prefix(&record.tag);
    let Some(listing) = docker::command_within(
        program,
        &docker::list_args(&prefix),
        docker::COMMAND_TIMEOUT,
    )
    .await
    else {
        return 0;
    };
    let listing = String::from_utf8_lossy(&listing);
    let names: Vec<&str> = listing
        .lines()
        .map(str::trim)
        .filter(|name| name.starts_with(&prefix))
        .collect();
    let stops = names.iter().map(|name| async move {
        // `docker stop` gives the container the grace itself; `rm -f` removes what is left
        // (a container run with `--rm` is gone by then).
        let stop = docker::stop_args(name, grace);
        docker::command_within(program, &stop, grace + docker::COMMAND_TIMEOUT).await;
        docker::command(program, &docker::remove_args(name)).await;
    });
    futures::future::join_all(stops).await;
    names.len()
}

#[cfg(test)]
#[path = "leftovers_tests.rs"]
mod tests;
