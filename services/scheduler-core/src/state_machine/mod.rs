//! Aurora's task state machine: which (from, to) transitions are legal and which side effects
//! each one has, in Aurora's order. Pure: a table, no state, no I/O. The table itself is in
//! `table.rs`; this module holds the vocabulary.
//!
//! Callers (the command deciders) ask [`transition`] for the task's current [`TaskState`], the
//! requested one and the [`TransitionFacts`] of the task *before* the change, then carry out the
//! returned [`SideEffect`]s in the order given. Legality never depends on the facts; only which
//! effects a legal transition has does (RESCHEDULE after FINISHED/FAILED/LOST).
//!
//! # Lifecycle
//!
//! ```text
//!  INIT ─▶ PENDING | THROTTLED          THROTTLED ─timer─▶ PENDING ─offer─▶ ASSIGNED
//!  ASSIGNED ─▶ STARTING ─▶ RUNNING ◀──▶ PARTITIONED (agent unreachable; may come back)
//!  on agent ─kill──────────────────────▶ KILLING ─dies─▶ terminal, no replacement
//!  on agent ─restart / drain / preempt─▶ RESTARTING | DRAINING | PREEMPTING
//!                                             └─dies─▶ terminal + replacement
//!  on agent ─exits / dies / is lost────▶ FINISHED | FAILED | KILLED | LOST
//!                                        (replacement: see the effects table in table.rs)
//!  terminal | KILLING ─prune─▶ DELETED        PENDING | THROTTLED ─kill─▶ DELETED
//! ```
//!
//! Legal targets per state (everything else is illegal; the same state is a no-op):
//!
//! ```text
//!  INIT                         PENDING THROTTLED
//!  PENDING                      ASSIGNED KILLING(=delete)
//!  THROTTLED                    PENDING KILLING(=delete)
//!  ASSIGNED                     STARTING RUNNING FINISHED FAILED KILLED LOST
//!                               KILLING RESTARTING DRAINING PREEMPTING
//!  STARTING                     RUNNING FINISHED FAILED KILLED LOST
//!                               KILLING RESTARTING DRAINING PREEMPTING PARTITIONED
//!  RUNNING                      FINISHED FAILED KILLED LOST
//!                               KILLING RESTARTING DRAINING PREEMPTING PARTITIONED
//!  PARTITIONED                  ASSIGNED STARTING RUNNING FINISHED FAILED LOST
//!                               KILLING* RESTARTING* DRAINING* PREEMPTING*
//!  RESTARTING DRAINING          FINISHED FAILED KILLED LOST KILLING PARTITIONED*
//!  PREEMPTING
//!  KILLING                      FINISHED FAILED KILLED LOST PARTITIONED* DELETED
//!  FINISHED FAILED KILLED LOST  DELETED
//!  DELETED                      (none)
//!                               * saved, then immediately LOST
//! ```
//!
//! A kill-like action (KILLING, RESTARTING, DRAINING, PREEMPTING) on a PARTITIONED task, or a
//! kill-like task becoming PARTITIONED, is saved and then immediately turned into LOST
//! ([`SideEffect::TransitionToLost`]): the agent is unreachable, so waiting for the kill could
//! block an update, a restart or maintenance forever.
//!
//! A status update saying that a task we consider terminal, deleted or being killed (KILLING,
//! RESTARTING, DRAINING, PREEMPTING) is ASSIGNED, STARTING or RUNNING is a zombie: illegal, but the
//! task is killed again ([`Transition::Illegal`] with `kill: true`).
//!
//! # Glossary
//!
//! - PENDING vs THROTTLED: both wait for an agent and both are active (they hold the instance),
//!   but only PENDING tasks are offered resources. THROTTLED is a replacement held back as a
//!   penalty for flapping; a timer moves it to PENDING.
//! - DELETED: not a [`ScheduleStatus`]; the task is absent from the store (pruned, or killed while
//!   still waiting). Status updates about unknown tasks are judged from DELETED.
//! - Reschedule: make a replacement task for the same instance (new id, `ancestor_id` = old id),
//!   carrying the failure count over.

mod table;

pub use table::transition;

use aurora_events::ScheduleStatus;

/// A task's state, including Aurora's pseudo-state for a task no longer in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TaskState {
    Status(ScheduleStatus),
    /// The task has been removed (pruned, or killed while PENDING/THROTTLED).
    Deleted,
}

/// A side effect of a transition. When several apply they are carried out in this order
/// (Aurora's `SideEffect` order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SideEffect {
    /// Count one more failure against the task (FAILED).
    IncrementFailures,
    /// Record the new state (and a TaskEvent with the message).
    SaveState,
    /// Create a replacement task for the same instance (new id, ancestor link).
    Reschedule,
    /// Immediately move the task on to LOST (actions on PARTITIONED tasks).
    TransitionToLost,
    /// Tell the agent to kill the task.
    Kill,
    /// Remove the task from the store.
    Delete,
}

/// What a task is like, as far as the transition table cares. All of it describes the task
/// before the transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransitionFacts {
    pub is_service: bool,
    /// Failures counted so far (before this transition).
    pub failure_count: u32,
    /// -1 = unlimited.
    pub max_task_failures: i32,
    /// Whether the task's history contains KILLING (a PARTITIONED task that was being killed is
    /// not rescheduled when it becomes LOST).
    pub was_killing: bool,
}

/// The outcome of asking for a transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// Allowed; carry out these effects in order.
    Legal(Vec<SideEffect>),
    /// The task is already in that state: nothing happens.
    Noop,
    /// Not allowed. Counted, never thrown. `kill` is set for a zombie: a status update saying a
    /// task we consider terminal (or deleted) is alive, which must be killed.
    Illegal { kill: bool },
}
