//! The cluster activity feed: the last N events, each as one human-readable line.
//!
//! Task and update-instance events are most of a journal, and formatting a line costs more
//! than folding the event, so their lines (and the job ones, which name hashes) are kept as
//! symbol ids and formatted only when the feed is read. The rarer events are formatted as they
//! are folded.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Arc;

use crate::symbols::Sym;
use aurora_events::event::Attribute;
use aurora_events::{
    EventKind, InstanceId, InstanceUpdateAction, ResourceAggregate, ScheduleStatus, Seq, Timestamp,
    UpdateStatus,
};

/// Names behind the symbol ids a [`Line`] holds (implemented by the symbol table).
pub(crate) trait Names {
    fn task(&self, id: Sym) -> String;
    fn job(&self, id: Sym) -> String;
    fn host(&self, id: Sym) -> String;
    fn message(&self, id: Sym) -> String;
    /// The config's short hash.
    fn config(&self, id: Sym) -> String;
    /// `<uuid> of <job>`.
    fn update(&self, id: Sym) -> String;
}

/// One event's line, formatted or still as data. The data variants hold symbol ids, not
/// names: a record costs no reference counting when made or dropped (a thousand events later,
/// when the memory it would touch is long cold).
#[derive(Debug, Clone)]
pub(crate) enum Line {
    Text(Arc<str>),
    TaskCreated {
        task: Sym,
        status: ScheduleStatus,
        ancestor: Option<Sym>,
        message: Option<Sym>,
    },
    TaskAssigned {
        task: Sym,
        host: Sym,
    },
    TaskStateChanged {
        task: Sym,
        from: ScheduleStatus,
        to: ScheduleStatus,
        message: Option<Sym>,
    },
    TaskDeleted {
        task: Sym,
    },
    JobDesired {
        job: Sym,
        config: Sym,
        instances: u32,
        created: bool,
    },
    UpdateStateChanged {
        update: Sym,
        from: UpdateStatus,
        to: UpdateStatus,
        message: Option<Sym>,
    },
    UpdateInstanceActioned {
        update: Sym,
        instance: InstanceId,
        action: InstanceUpdateAction,
        message: Option<Sym>,
    },
}

impl Line {
    pub(crate) fn text(text: String) -> Self {
        Line::Text(text.into())
    }

    pub(crate) fn render(&self, names: &dyn Names) -> String {
        match self {
            Line::Text(text) => text.to_string(),
            Line::TaskCreated {
                task,
                status,
                ancestor,
                message,
            } => {
                let mut line = format!("task {} created {status}", names.task(*task));
                if let Some(ancestor) = ancestor {
                    let _ = write!(line, " replacing {}", names.task(*ancestor));
                }
                with_message(line, message.map(|m| names.message(m)))
            }
            Line::TaskAssigned { task, host } => {
                format!(
                    "task {} ASSIGNED to {}",
                    names.task(*task),
                    names.host(*host)
                )
            }
            Line::TaskStateChanged {
                task,
                from,
                to,
                message,
            } => with_message(
                format!("task {} {from} -> {to}", names.task(*task)),
                message.map(|m| names.message(m)),
            ),
            Line::TaskDeleted { task } => format!("task {} deleted", names.task(*task)),
            Line::JobDesired {
                job,
                config,
                instances,
                created,
            } => {
                let verb = if *created { "created:" } else { "now wants" };
                format!(
                    "job {} {verb} {instances} instances of config {}",
                    names.job(*job),
                    names.config(*config)
                )
            }
            Line::UpdateStateChanged {
                update,
                from,
                to,
                message,
            } => with_message(
                format!("update {} {from} -> {to}", names.update(*update)),
                message.map(|m| names.message(m)),
            ),
            Line::UpdateInstanceActioned {
                update,
                instance,
                action,
                message,
            } => with_message(
                format!(
                    "update {}: instance {instance} {action}",
                    names.update(*update)
                ),
                message.map(|m| names.message(m)),
            ),
        }
    }
}

fn with_message(mut line: String, message: Option<String>) -> String {
    if let Some(message) = message {
        let _ = write!(line, ": {message}");
    }
    line
}

/// `cpus 1.5, ram 128 MiB, disk 256 MiB`.
pub(crate) fn describe_resources(a: &ResourceAggregate) -> String {
    format!(
        "cpus {}, ram {} MiB, disk {} MiB",
        a.cpus, a.ram_mb, a.disk_mb
    )
}

/// `rack=r1, dedicated=db_team/redis`.
pub(crate) fn describe_attributes(attributes: &[Attribute]) -> String {
    attributes
        .iter()
        .map(|a| format!("{}={}", a.name, a.values.join("|")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One remembered event.
#[derive(Debug, Clone)]
pub(crate) struct ActivityRecord {
    pub(crate) seq: Seq,
    pub(crate) at: Timestamp,
    pub(crate) actor: Sym,
    pub(crate) kind: EventKind,
    pub(crate) line: Line,
}

/// The last `capacity` records, oldest first.
#[derive(Debug, Clone)]
pub(crate) struct Activity {
    capacity: usize,
    records: VecDeque<ActivityRecord>,
}

impl Activity {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            records: VecDeque::with_capacity(capacity),
        }
    }

    pub(crate) fn push(&mut self, record: ActivityRecord) {
        if self.capacity == 0 {
            return;
        }
        if self.records.len() == self.capacity {
            self.records.pop_front();
        }
        self.records.push_back(record);
    }

    /// Newest first.
    pub(crate) fn newest(&self, limit: usize) -> impl Iterator<Item = &ActivityRecord> {
        self.records.iter().rev().take(limit)
    }
}
