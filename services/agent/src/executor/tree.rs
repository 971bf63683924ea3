//! Which processes belong to a task, decided purely from a snapshot of the process table.
//!
//! Process groups and sessions are not enough to find a task's processes: a daemon that calls
//! `setsid` leaves both, and once its parent exits it is reparented (to the agent, which is a
//! child subreaper; see `tracking.rs`). So membership is decided here from what survives that:
//!
//! - a process the task is already known to own, named by pid *and* start time (a pid alone
//!   may have been reused by an unrelated process since it was seen);
//! - a process whose environment carries the task's tag (the I/O side reads environments only
//!   of orphans, the processes adopted by the reaper, and sets [`Proc::tagged`]);
//! - a child of a member, by its current parent pid. The snapshot is read one process at a
//!   time, not atomically: a parent may die and its pid be reused between two reads, so a
//!   child started before its "parent" is not its child and is not taken.
//!
//! A process group or session the task created is forgotten once no row uses it, but only
//! when the snapshot is complete (see `tracking.rs`): a table that may lack processes forked
//! while it was read cannot tell that a group is empty, and a group forgotten too early leaves
//! the zombies of its orphans to nobody.
//!
//! Zombies are dead: they are never signalled, but the reaper must collect the ones it adopted
//! (`waitpid` on exactly those pids) or they stay in the table forever. Besides known members,
//! a zombie child of the reaper is the task's when it was in a process group or session the
//! task created; a zombie that led its own group is excluded from that rule, because a group
//! id can outlive its group and be reused by an unrelated leader (such as a fresh child of the
//! agent started by someone else, whose status is not ours to take). The task's own roots
//! (started and awaited through tokio) are never reaped here.

use std::collections::{BTreeMap, BTreeSet};

/// One row of the process table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Proc {
    pub(crate) pid: i32,
    pub(crate) ppid: i32,
    pub(crate) pgrp: i32,
    pub(crate) sid: i32,
    /// Clock ticks after boot at which it started (`/proc/<pid>/stat` field 22).
    pub(crate) start: u64,
    pub(crate) zombie: bool,
    /// Its environment carries the task's tag (only looked up for adopted processes).
    pub(crate) tagged: bool,
}

impl Proc {
    pub(crate) fn ident(&self) -> Ident {
        Ident {
            pid: self.pid,
            start: self.start,
        }
    }
}

/// One process across pid reuse: its pid and its start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Ident {
    pub(crate) pid: i32,
    pub(crate) start: u64,
}

/// What the task owns as of one snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Selection {
    /// Every member, live or zombie: what is known next time.
    pub(crate) members: BTreeSet<Ident>,
    /// Members still running: the ones a kill signals.
    pub(crate) live: BTreeSet<Ident>,
    /// Zombie children of the reaper that are the task's and not its roots: to `waitpid`.
    pub(crate) reap: BTreeSet<Ident>,
    /// Process groups and sessions created by members (id = creator's pid) still in use.
    pub(crate) groups: BTreeSet<i32>,
}

/// Everything the task owns in `table`.
///
/// `complete`: every process alive when the table was finished is in it (otherwise no group
/// is forgotten); `known`: members found before (including the roots); `roots`: processes the
/// executor started and awaits itself; `groups`: groups and sessions the task created, from
/// the last selection; `reaper`: this process, which adopts orphans and is never a member.
pub(crate) fn select(
    table: &[Proc],
    complete: bool,
    known: &BTreeSet<Ident>,
    roots: &BTreeSet<Ident>,
    groups: &BTreeSet<i32>,
    reaper: i32,
) -> Selection {
    let excluded = |p: &Proc| p.pid <= 1 || p.pid == reaper;
    let by_pid: BTreeMap<i32, &Proc> = table.iter().map(|p| (p.pid, p)).collect();
    let mut children: BTreeMap<i32, Vec<&Proc>> = BTreeMap::new();
    for p in by_pid.values() {
        children.entry(p.ppid).or_default().push(p);
    }

    let mut members = BTreeSet::new();
    let mut queue: Vec<&Proc> = by_pid
        .values()
        .copied()
        .filter(|p| !excluded(p))
        .filter(|p| p.tagged || known.contains(&p.ident()))
        .collect();
    while let Some(p) = queue.pop() {
        if !members.insert(p.ident()) {
            continue;
        }
        for &child in children.get(&p.pid).map_or(&[][..], Vec::as_slice) {
            if !excluded(child) && child.start >= p.start && !members.contains(&child.ident()) {
                queue.push(child);
            }
        }
    }

    let in_use: BTreeSet<i32> = by_pid.values().flat_map(|p| [p.pgrp, p.sid]).collect();
    let created = by_pid
        .values()
        .filter(|p| members.contains(&p.ident()))
        .flat_map(|p| [p.pgrp, p.sid].into_iter().filter(move |&id| id == p.pid));
    let groups: BTreeSet<i32> = groups
        .iter()
        .copied()
        .chain(created)
        .filter(|id| *id > 1 && (in_use.contains(id) || !complete))
        .collect();

    let live = by_pid
        .values()
        .filter(|p| !p.zombie && members.contains(&p.ident()))
        .map(|p| p.ident())
        .collect();
    let reap = by_pid
        .values()
        .filter(|p| p.zombie && p.ppid == reaper && !excluded(p) && !roots.contains(&p.ident()))
        .filter(|p| {
            members.contains(&p.ident())
                || (p.pgrp != p.pid && groups.contains(&p.pgrp))
                || (p.sid != p.pid && groups.contains(&p.sid))
        })
        .map(|p| p.ident())
        .collect();
    Selection {
        members,
        live,
        reap,
        groups,
    }
}

/// The row a `/proc/<pid>/stat` line describes (not tagged). The command name may contain
/// spaces and parentheses, so fields are counted after its last `)`.
pub(crate) fn parse_stat(stat: &str) -> Option<Proc> {
    let open = stat.find(" (")?;
    let close = stat.rfind(')')?;
    let pid = stat.get(..open)?.trim().parse().ok()?;
    // Fields 3.. of proc(5): state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
    // cmajflt utime stime cutime cstime priority nice num_threads itrealvalue starttime.
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    Some(Proc {
        pid,
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        sid: fields.get(3)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
        // `X` (dead) is only ever seen briefly, on the way out of a reaped zombie.
        zombie: matches!(state, 'Z' | 'X'),
        tagged: false,
    })
}

#[cfg(test)]
#[path = "tree_tests.rs"]
mod tests;
