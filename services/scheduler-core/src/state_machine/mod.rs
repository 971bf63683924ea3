//! Aurora's task state machine: which (from, to) transitions are legal and which side effects
//! each one has, in Aurora's order. Pure: a table, no state.
//!
//! (Skeleton: the implementation is being written; the types are the contract.)

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

/// What a task is like, as far as the transition table cares.
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

/// The transition table. See Aurora's `TaskStateMachine`.
pub fn transition(from: TaskState, to: TaskState, facts: &TransitionFacts) -> Transition {
    let _ = (from, to, facts);
    Transition::Illegal { kill: false }
}
