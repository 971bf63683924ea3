//! Tracking every descendant of a task, so that a kill reaches processes that left the task's
//! process groups (`setsid`) and outlived their parents (double fork).
//!
//! - This process becomes a child subreaper ([`become_subreaper`], once, at the first
//!   launch): orphans of task processes are reparented to it instead of to pid 1, where they
//!   would be out of reach and, in some containers, never reaped.
//! - Every process a task starts, its runs and its health checks' shells, carries the task's
//!   tag in its environment ([`TAG_VAR`]), which its descendants inherit: an orphan adopted
//!   before the executor ever saw it is still recognised as the task's, unless it cleared its
//!   environment. Each of them is also added as a root with the process group it leads, so
//!   that an orphan dead before any scan saw it (a zombie has no environment to read) is
//!   still attributed to the task through its group and reaped.
//! - [`ProcessTracker::scan`] reads `/proc` (periodically, and on every poll while killing) and
//!   lets `tree::select` decide membership: the parent chain from the task's processes,
//!   what it was found to own before (pid and start time, against pid reuse), and tagged
//!   orphans. What it found is remembered, so a child that was seen before its parent died
//!   stays the task's even if its environment is gone.
//! - A scan lists `/proc` once and then reads each process, so a process forked after the
//!   listing is missing, and its parent may have exited (and been reaped) before it was read:
//!   a run that leaves an orphan and exits at once can vanish with its whole group from one
//!   table. The scan therefore lists again until a listing names no process it has not read
//!   ([`read_settled`]); only such a complete table may tell `tree::select` that a group of
//!   the task is no longer in use. Forgotten too early, the group's zombies would be nobody's.
//! - Reaping: tokio waits for the processes the executor started (`waitpid` on their pids);
//!   this module never calls `waitpid(-1)`, which would take their exit statuses. It reaps
//!   only zombies adopted by this process that `tree::select` attributes to the task, each
//!   by its pid with `WNOHANG`, and never a root.
//! - The tag lives in this process's memory, so the executor also records it in the sandbox
//!   before the task starts anything: an agent that was killed without stopping its tasks
//!   finds what they left by it when it starts again (`leftovers.rs`, which reads `/proc`
//!   through [`list_pids`], [`read_proc`] and [`environ_tags`]).
//! - A `docker run` client is a root like any run, but only SIGKILL sweeps signal it: its
//!   container is stopped with `docker kill` (`docker.rs`).
//! - Signals go to single tracked pids only (re-read in the same scan just before), never
//!   to a process group, never to a pid this task does not own.
//!
//! Left out: a cgroup per task (exact, and immune to both environment clearing and pid
//! races), because cgroups are not writable for an agent that is not root or not delegated
//! one; the scan is the mechanism everywhere. Without `/proc`, nothing is found and only the
//! executor's own children are signalled (by the runner, through their pids).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

use super::tree::{self, Ident, Proc};

/// The environment variable whose value names the task a process belongs to.
pub(crate) const TAG_VAR: &str = "AURORA_EXECUTOR_TAG";

/// How many times one scan may list `/proc`. Each listing after the first only adds the
/// processes forked since the previous one, read in a moment, so the second one usually
/// finds nothing new; a table still growing at the last one is incomplete (no group is
/// forgotten from it), and the next scan tries again.
const LISTINGS: usize = 4;

/// Whether this process is a child subreaper, decided once.
static SUBREAPER: OnceLock<bool> = OnceLock::new();

/// Makes this process a child subreaper (once per process; later calls return the first
/// answer). The attribute is process-wide and permanent: every orphan of any descendant is
/// reparented here from then on.
pub(crate) fn become_subreaper() -> bool {
    *SUBREAPER.get_or_init(|| match nix::sys::prctl::set_child_subreaper(true) {
        Ok(()) => {
            tracing::info!("child subreaper: orphaned task processes are reparented here");
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot become a child subreaper: orphaned task processes go to pid 1 and are found by their environment only");
            false
        }
    })
}

/// One task's processes, as far as scans found them.
#[derive(Debug)]
pub(crate) struct ProcessTracker {
    /// The tag: [`TAG_VAR`]'s value in the environment of every process the task starts.
    value: String,
    me: i32,
    /// Parents whose children may be orphans of the task: this process, and pid 1 when it
    /// could not become a subreaper.
    adopters: Vec<i32>,
    /// Started by the executor and awaited through tokio: never reaped here.
    roots: BTreeSet<Ident>,
    /// Every member found so far (and the roots), until it is no longer in the table.
    known: BTreeSet<Ident>,
    groups: BTreeSet<i32>,
    /// Members running as of the last scan.
    live: BTreeSet<Ident>,
    /// The last signal sent to each member, so that a repeated sweep signals only newcomers.
    signalled: BTreeMap<Ident, Signal>,
    /// Roots only SIGKILL reaches: `docker run` clients, whose containers are stopped through
    /// `docker kill` (a SIGTERM would end the client at once and leave its container
    /// unobserved; see `docker.rs`).
    spared: BTreeSet<Ident>,
}

impl ProcessTracker {
    pub(crate) fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let me = i32::try_from(std::process::id()).unwrap_or(i32::MAX);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        // Unique per executor in this process, and across restarts of the agent.
        let value = format!("{me}.{}.{nanos}", NEXT.fetch_add(1, Ordering::Relaxed));
        let mut adopters = vec![me];
        if !become_subreaper() {
            adopters.push(1);
        }
        Self {
            value,
            me,
            adopters,
            roots: BTreeSet::new(),
            known: BTreeSet::new(),
            groups: BTreeSet::new(),
            live: BTreeSet::new(),
            signalled: BTreeMap::new(),
            spared: BTreeSet::new(),
        }
    }

    /// The tag to put in the environment of every process the task starts.
    pub(crate) fn tag(&self) -> &str {
        &self.value
    }

    /// Records a process started for the task (a run, or a health check's shell) that its
    /// starter awaits itself, as [`started`] read it. The process group it leads is the task's
    /// from now on: a short-lived orphan it leaves there may be dead before any scan sees it
    /// alive, and only its group then says that the zombie is the task's to reap.
    pub(crate) fn add_root(&mut self, p: Proc) {
        self.roots.insert(p.ident());
        self.known.insert(p.ident());
        self.live.insert(p.ident());
        if p.pgrp == p.pid {
            self.groups.insert(p.pgrp);
        }
    }

    /// Records a `docker run` client as [`Self::add_root`] does; of the sweeps, only SIGKILL
    /// signals it.
    pub(crate) fn add_docker_client(&mut self, p: Proc) {
        self.spared.insert(p.ident());
        self.add_root(p);
    }

    /// Whether a scan may still find something: a member or root not yet seen gone, or a
    /// process group of the task still in use (where a zombie may wait to be reaped).
    pub(crate) fn is_empty(&self) -> bool {
        self.known.is_empty() && self.groups.is_empty()
    }

    /// Whether a member was running at the last scan.
    pub(crate) fn has_live(&self) -> bool {
        !self.live.is_empty()
    }

    /// Reads the process table, updates what the task owns and reaps its adopted zombies.
    pub(crate) fn scan(&mut self) {
        if self.is_empty() {
            return;
        }
        let (table, complete) = match read_settled(list_pids, |pid| self.read_row(pid)) {
            Ok(read) => read,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read /proc: the task's processes are not tracked");
                return;
            }
        };
        if !complete {
            tracing::debug!("processes kept forking while /proc was read: no group is forgotten");
        }
        let selection = tree::select(
            &table,
            complete,
            &self.known,
            &self.roots,
            &self.groups,
            self.me,
        );
        for id in &selection.reap {
            reap(*id);
        }
        let gone = |id: &Ident| !selection.members.contains(id);
        let departed = self.known.iter().filter(|id| gone(id)).count();
        let found = selection
            .members
            .iter()
            .filter(|id| !self.known.contains(id))
            .count();
        if found > 0 || departed > 0 {
            tracing::debug!(
                found,
                departed,
                live = selection.live.len(),
                "task processes"
            );
        }
        self.roots.retain(|id| selection.members.contains(id));
        self.signalled.retain(|id, _| selection.live.contains(id));
        self.spared.retain(|id| selection.live.contains(id));
        self.known = selection.members;
        self.live = selection.live;
        self.groups = selection.groups;
    }

    /// Sends `signal` to every member running at the last scan that has not had it yet.
    pub(crate) fn signal(&mut self, signal: Signal) {
        for &id in &self.live {
            if self.signalled.get(&id) == Some(&signal)
                || (signal != Signal::SIGKILL && self.spared.contains(&id))
            {
                continue;
            }
            match kill(Pid::from_raw(id.pid), signal) {
                Ok(()) => tracing::debug!(pid = id.pid, ?signal, "signalled"),
                Err(Errno::ESRCH) => {}
                Err(e) => tracing::warn!(pid = id.pid, ?signal, error = %e, "cannot signal"),
            }
            self.signalled.insert(id, signal);
        }
    }

    /// `/proc/<pid>/stat` of one process, tagged where an adopter is its parent; `None` once
    /// it is gone.
    fn read_row(&self, pid: i32) -> Option<Proc> {
        let mut p = read_proc(pid)?;
        if self.adopters.contains(&p.ppid) && !self.known.contains(&p.ident()) && !p.zombie {
            p.tagged = self.environ_has_tag(pid);
        }
        Some(p)
    }

    fn environ_has_tag(&self, pid: i32) -> bool {
        environ_tags(pid)
            .iter()
            .any(|value| value.as_slice() == self.value.as_bytes())
    }
}

/// The values of [`TAG_VAR`] in `/proc/<pid>/environ` (one, unless someone set it twice):
/// the tags of the tasks the process belongs to. None when it has no tag, is gone, or its
/// environment cannot be read (another user's process): not a task's as far as anyone can
/// tell. The environment is the one the process started with.
pub(crate) fn environ_tags(pid: i32) -> Vec<Vec<u8>> {
    let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
        return Vec::new();
    };
    environ
        .split(|&b| b == 0)
        .filter_map(|var| {
            var.strip_prefix(TAG_VAR.as_bytes())?
                .strip_prefix(b"=")
                .map(<[u8]>::to_vec)
        })
        .collect()
}

/// The pids `/proc` lists now.
pub(crate) fn list_pids() -> std::io::Result<Vec<i32>> {
    Ok(std::fs::read_dir("/proc")?
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect())
}

/// Reads the process table through `list` (the pids present) and `read` (one process's row,
/// `None` once it is gone), listing again after each round of reads, up to [`LISTINGS`]
/// times, until a listing names only pids already read. Returns the rows and whether that
/// happened. The table is then complete as of the last listing: every process present then
/// (running or a zombie) was named by it, hence read; and one gone when it was read left
/// nothing unlisted, since a child it forked is reparented, not removed, and stays in `/proc`
/// (as a zombie at least) until its adopter reaps it. A pid is read once per scan: for a
/// listed pid to name a new process by the next listing, the whole pid space would have to
/// cycle within one scan.
fn read_settled(
    mut list: impl FnMut() -> std::io::Result<Vec<i32>>,
    mut read: impl FnMut(i32) -> Option<Proc>,
) -> std::io::Result<(Vec<Proc>, bool)> {
    let mut tried = BTreeSet::new();
    let mut table = Vec::new();
    for _ in 0..LISTINGS {
        let fresh: Vec<i32> = list()?
            .into_iter()
            .filter(|&pid| tried.insert(pid))
            .collect();
        if fresh.is_empty() {
            return Ok((table, true));
        }
        table.extend(fresh.into_iter().filter_map(&mut read));
    }
    Ok((table, false))
}

/// A process this process just started and has not reaped, read now: its pid cannot have
/// been reused yet, so the start time read is its own. `None` (with a warning) when `/proc`
/// cannot tell; the process is then not tracked.
pub(crate) fn started(pid: i32) -> Option<Proc> {
    let found = read_proc(pid);
    if found.is_none() {
        tracing::warn!(pid, "cannot read a started process in /proc: untracked");
    }
    found
}

/// `/proc/<pid>/stat` of one process; `None` once it is gone (or without `/proc`).
pub(crate) fn read_proc(pid: i32) -> Option<Proc> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    tree::parse_stat(&stat).filter(|p| p.pid == pid)
}

/// Reaps one adopted zombie, unless its pid now names another process.
fn reap(id: Ident) {
    if read_proc(id.pid).map(|p| p.ident()) != Some(id) {
        return;
    }
    match waitpid(Pid::from_raw(id.pid), Some(WaitPidFlag::WNOHANG)) {
        Ok(status) => tracing::debug!(pid = id.pid, ?status, "reaped an orphan of the task"),
        // Already reaped, or not our child after all: nothing to collect.
        Err(Errno::ECHILD) => {}
        Err(e) => tracing::warn!(pid = id.pid, error = %e, "cannot reap"),
    }
}

#[cfg(test)]
#[path = "tracking_tests.rs"]
mod tests;
