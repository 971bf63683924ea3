//! The records a [`Views`](crate::Views) keeps per config, role, job, task, update, host and
//! agent. Quota buckets and their exact arithmetic are `aurora_events::quota`'s, the same the
//! scheduler's write model counts with. Crate-private: callers see the owned shapes in
//! [`model`](crate::model), built from these on demand.
//!
//! Records refer to each other by dense symbol ids (see `symbols.rs`), not by key, so that a
//! fold never searches for a related record. Parts that change often and parts that are large
//! are kept apart (task counts and quota usage outside the job and role records) so that
//! copy-on-write after a checkpoint copies little.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use aurora_events::event::{Attribute, CronCollisionPolicy, CronOutcome};
use aurora_events::quota::{Bucket, Exact};
use aurora_events::update::UpdateInstructions;
use aurora_events::{
    AgentId, Capacity, ConfigHash, Identifier, InstanceId, InstanceUpdateAction, JobKey,
    MaintenanceMode, ResourceAggregate, ScheduleStatus, Seq, TaskConfig, Timestamp, UpdateKey,
    UpdateStatus, Uuid,
};

use crate::model::{DesiredState, TaskCounts};
use crate::symbols::Sym;

/// Tasks of a job per [`ScheduleStatus`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct StatusCounts([u32; 15]);

impl StatusCounts {
    pub(crate) fn inc(&mut self, status: ScheduleStatus) {
        let slot = &mut self.0[status as usize];
        *slot = slot.saturating_add(1);
    }

    /// One count, for reading the counts' cache line ahead of a fold.
    pub(crate) fn first(&self) -> u32 {
        self.0[0]
    }

    pub(crate) fn dec(&mut self, status: ScheduleStatus) {
        let slot = &mut self.0[status as usize];
        *slot = slot.saturating_sub(1);
    }

    fn get(&self, status: ScheduleStatus) -> u64 {
        u64::from(self.0[status as usize])
    }

    /// Aurora's `JobStats` grouping, as its scheduler counts it: a task killed on purpose
    /// ended as asked, so KILLED counts with FINISHED, not with the failures.
    pub(crate) fn grouped(&self) -> TaskCounts {
        use ScheduleStatus::*;
        let mut counts = TaskCounts::default();
        for status in ALL_STATUSES {
            // Every status is named, so a new one cannot be silently left out.
            let group = match status {
                Init | Pending | Throttled => &mut counts.pending,
                Finished | Killed => &mut counts.finished,
                Failed | Lost => &mut counts.failed,
                Assigned | Starting | Running | Killing | Preempting | Restarting | Draining
                | Partitioned => &mut counts.active,
            };
            *group += self.get(status);
        }
        counts
    }
}

/// Every status, in declaration order (the index of [`StatusCounts`]).
const ALL_STATUSES: [ScheduleStatus; 15] = [
    ScheduleStatus::Init,
    ScheduleStatus::Pending,
    ScheduleStatus::Throttled,
    ScheduleStatus::Assigned,
    ScheduleStatus::Starting,
    ScheduleStatus::Running,
    ScheduleStatus::Finished,
    ScheduleStatus::Failed,
    ScheduleStatus::Killing,
    ScheduleStatus::Killed,
    ScheduleStatus::Lost,
    ScheduleStatus::Preempting,
    ScheduleStatus::Restarting,
    ScheduleStatus::Draining,
    ScheduleStatus::Partitioned,
];

/// A stored task config and what one task of it counts against quota.
#[derive(Debug, Clone)]
pub(crate) struct ConfigRec {
    pub(crate) config: Arc<TaskConfig>,
    pub(crate) bucket: Bucket,
    pub(crate) amount: Exact,
}

#[derive(Debug, Clone)]
pub(crate) struct RoleRec {
    pub(crate) name: Identifier,
    pub(crate) quota: Option<ResourceAggregate>,
    /// Every job of the role the view has seen (removed ones are filtered when listed).
    pub(crate) jobs: BTreeSet<Sym>,
}

#[derive(Debug, Clone)]
pub(crate) struct CronRec {
    pub(crate) schedule: String,
    pub(crate) collision_policy: CronCollisionPolicy,
    pub(crate) config: ConfigHash,
    pub(crate) instances: u32,
    /// The bucket and amount the template adds to its role's usage while the job has no
    /// active tasks (Aurora counts idle cron templates against quota).
    pub(crate) template_usage: Option<(Bucket, Exact)>,
    pub(crate) last_triggered: Option<Timestamp>,
    pub(crate) last_outcome: Option<CronOutcome>,
}

#[derive(Debug, Clone)]
pub(crate) struct JobRec {
    pub(crate) key: JobKey,
    pub(crate) role: Sym,
    pub(crate) desired: Option<DesiredState>,
    pub(crate) cron: Option<CronRec>,
    /// The job's tasks (ids ascending), active or not, until deleted.
    pub(crate) tasks: Vec<Sym>,
    /// The job's updates, in the order they started.
    pub(crate) updates: Vec<Sym>,
    /// Updates pruned from the history and the seq of the event that pruned them, oldest
    /// first: so that a page can say an update is gone and when, rather than never was.
    pub(crate) pruned_updates: Vec<(Uuid, Seq)>,
}

impl JobRec {
    /// Whether the job shows in its role's job list.
    pub(crate) fn is_listed(&self) -> bool {
        self.desired.is_some() || self.cron.is_some() || !self.tasks.is_empty()
    }
}

/// One entry of a task's timeline. The actor and the message are symbol ids: the entry is
/// plain data, copied and dropped without touching anything else.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimelineEntry {
    pub(crate) seq: Seq,
    pub(crate) at: Timestamp,
    pub(crate) actor: Sym,
    pub(crate) status: ScheduleStatus,
    pub(crate) message: Option<Sym>,
}

/// Entries kept inside the task record before the timeline spills to the heap: a whole
/// ordinary life (PENDING, ASSIGNED, STARTING, RUNNING, KILLING, KILLED), so that most tasks
/// need no second allocation and a state change touches one record.
const INLINE_TIMELINE: usize = 6;

/// A task's timeline, oldest first.
#[derive(Debug, Clone, Default)]
pub(crate) struct Timeline {
    len: usize,
    inline: [Option<TimelineEntry>; INLINE_TIMELINE],
    spill: Vec<TimelineEntry>,
}

impl Timeline {
    pub(crate) fn push(&mut self, entry: TimelineEntry) {
        match self.inline.get_mut(self.len) {
            Some(slot) => *slot = Some(entry),
            None => self.spill.push(entry),
        }
        self.len += 1;
    }

    /// Whether the inline slot the next entry goes to is taken (never, it is read only so that
    /// its cache line is brought in ahead of the push).
    pub(crate) fn next_slot_taken(&self) -> bool {
        self.inline.get(self.len).is_some_and(Option::is_some)
    }

    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = &TimelineEntry> {
        self.inline.iter().flatten().chain(&self.spill)
    }

    pub(crate) fn first(&self) -> Option<&TimelineEntry> {
        self.iter().next()
    }

    pub(crate) fn last(&self) -> Option<&TimelineEntry> {
        self.iter().next_back()
    }
}

/// Ports kept inside the task record before spilling to the heap: tasks name one or two.
const INLINE_PORTS: usize = 2;

/// A task's assigned ports: (port name symbol id, number), by name id.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ports {
    len: usize,
    inline: [(Sym, u16); INLINE_PORTS],
    spill: Vec<(Sym, u16)>,
}

impl Ports {
    pub(crate) fn new(ports: impl IntoIterator<Item = (Sym, u16)>) -> Self {
        let mut all = Self::default();
        for port in ports {
            match all.inline.get_mut(all.len) {
                Some(slot) => *slot = port,
                None => all.spill.push(port),
            }
            all.len += 1;
        }
        all
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (Sym, u16)> + '_ {
        self.inline[..self.len.min(INLINE_PORTS)]
            .iter()
            .chain(&self.spill)
            .copied()
    }
}

/// A task. Plain data apart from two rarely used spill vectors: the task id itself lives in
/// the symbol table, so making, copying and dropping a record touches no reference count.
#[derive(Debug, Clone)]
pub(crate) struct TaskRec {
    pub(crate) job: Sym,
    pub(crate) role: Sym,
    pub(crate) instance: InstanceId,
    /// The config's symbol id (its hash is in the symbol table).
    pub(crate) config: Sym,
    /// The bucket and amount this task adds to its role's usage while active, decided from its
    /// config when it was created; `None` if the config was not stored yet (an inconsistent
    /// journal), in which case it never counts.
    pub(crate) quota: Option<(Bucket, Exact)>,
    pub(crate) status: ScheduleStatus,
    pub(crate) failure_count: u32,
    /// The replaced task's symbol id (its record may be pruned; the id still names it).
    pub(crate) ancestor: Option<Sym>,
    pub(crate) agent: Option<Sym>,
    pub(crate) host: Option<Sym>,
    pub(crate) ports: Ports,
    pub(crate) timeline: Timeline,
}

impl TaskRec {
    /// Where the task stands for the job counts, quota usage and host task lists.
    pub(crate) fn footprint(&self) -> Footprint {
        Footprint {
            status: self.status,
            host: self.host,
        }
    }
}

/// The parts of a task that the aggregates (job counts, role usage, host task lists) depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Footprint {
    pub(crate) status: ScheduleStatus,
    pub(crate) host: Option<Sym>,
}

impl Footprint {
    /// The host whose task list includes the task: placed there and holding resources.
    pub(crate) fn on_host(&self) -> Option<Sym> {
        self.host.filter(|_| self.status.is_on_agent())
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct UpdateEntry {
    pub(crate) seq: Seq,
    pub(crate) at: Timestamp,
    pub(crate) actor: Sym,
    pub(crate) status: UpdateStatus,
    pub(crate) message: Option<Sym>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct InstanceEntry {
    pub(crate) seq: Seq,
    pub(crate) at: Timestamp,
    pub(crate) actor: Sym,
    pub(crate) instance: InstanceId,
    pub(crate) action: InstanceUpdateAction,
    pub(crate) message: Option<Sym>,
}

#[derive(Debug, Clone)]
pub(crate) struct UpdateRec {
    pub(crate) key: UpdateKey,
    pub(crate) user: String,
    pub(crate) status: UpdateStatus,
    pub(crate) instructions: Arc<UpdateInstructions>,
    pub(crate) metadata: Arc<BTreeMap<String, String>>,
    pub(crate) started_at: Timestamp,
    pub(crate) last_modified: Timestamp,
    pub(crate) last_pulse: Option<Timestamp>,
    pub(crate) timeline: Vec<UpdateEntry>,
    pub(crate) instance_events: Vec<InstanceEntry>,
    pub(crate) latest: BTreeMap<InstanceId, InstanceUpdateAction>,
}

#[derive(Debug, Clone)]
pub(crate) struct HostRec {
    pub(crate) name: Arc<str>,
    pub(crate) mode: MaintenanceMode,
    /// Shared: the record is copied whenever its task list changes; the attributes rarely do.
    pub(crate) attributes: Arc<Vec<Attribute>>,
    pub(crate) agent: Option<Sym>,
    /// Tasks holding resources here, ascending. A sorted vector rather than a set: a host has
    /// tens of tasks, and the vector is one allocation to reach and to copy on write.
    pub(crate) tasks: Vec<Sym>,
}

#[derive(Debug, Clone)]
pub(crate) struct AgentRec {
    pub(crate) id: AgentId,
    pub(crate) capacity: Capacity,
    pub(crate) endpoint: String,
    pub(crate) registered_at: Timestamp,
    pub(crate) lost: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_group_like_aurora() {
        let mut counts = StatusCounts::default();
        for status in ALL_STATUSES {
            counts.inc(status);
        }
        assert_eq!(
            counts.grouped(),
            TaskCounts {
                pending: 3,
                active: 8,
                finished: 2,
                failed: 2,
            }
        );
        for (i, status) in ALL_STATUSES.iter().enumerate() {
            assert_eq!(
                *status as usize, i,
                "ALL_STATUSES follows declaration order"
            );
        }
    }
}
