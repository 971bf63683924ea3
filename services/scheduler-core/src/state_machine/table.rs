//! The transition table, one function per source state, mirroring Aurora's `TaskStateMachine`
//! (final release, 0.22.x) together with the `SAVE_STATE` rule that `StateManagerImpl` applies to
//! every legal transition except deletions.
//!
//! Every `match` names each target explicitly (no `_` arm), so adding a [`ScheduleStatus`] fails
//! the build here until its row and column are decided.

use aurora_events::ScheduleStatus::{
    self, Assigned, Draining, Failed, Finished, Init, Killed, Killing, Lost, Partitioned, Pending,
    Preempting, Restarting, Running, Starting, Throttled,
};

use super::SideEffect::{Delete, IncrementFailures, Kill, Reschedule, SaveState, TransitionToLost};
use super::TaskState::{Deleted, Status};
use super::{SideEffect, TaskState, Transition, TransitionFacts};

/// The transition table: what happens when a task in `from` is asked to move to `to`.
///
/// `facts` describe the task before the transition. Equal states are a [`Transition::Noop`]
/// (Aurora checks this before consulting its table). Effects come in [`SideEffect`] order.
///
/// [`IncrementFailures`] is not in the rows: it is added to every legal transition that
/// [`ScheduleStatus::counts_failure`] names, the rule the read side counts failures by too.
pub fn transition(from: TaskState, to: TaskState, facts: &TransitionFacts) -> Transition {
    match (row(from, to, facts), from, to) {
        (Transition::Legal(mut effects), Status(from), Status(to))
            if ScheduleStatus::counts_failure(from, to) =>
        {
            effects.push(IncrementFailures);
            legal(effects)
        }
        (decided, _, _) => decided,
    }
}

/// The table's row for `from`, before failure accounting.
fn row(from: TaskState, to: TaskState, facts: &TransitionFacts) -> Transition {
    match from {
        Deleted => from_deleted(to),
        Status(status) => match status {
            Init => from_init(to),
            Pending => from_waiting(Pending, to),
            Throttled => from_waiting(Throttled, to),
            Assigned => from_assigned(to, facts),
            Starting => from_starting(to, facts),
            Running => from_running(to, facts),
            Partitioned => from_partitioned(to, facts),
            Preempting => from_being_replaced(Preempting, to),
            Restarting => from_being_replaced(Restarting, to),
            Draining => from_being_replaced(Draining, to),
            Killing => from_killing(to),
            Finished => from_terminal(Finished, to),
            Failed => from_terminal(Failed, to),
            Killed => from_terminal(Killed, to),
            Lost => from_terminal(Lost, to),
        },
    }
}

const ILLEGAL: Transition = Transition::Illegal { kill: false };

/// Illegal, but the task is alive somewhere we believe it should not be: kill it (again).
const ZOMBIE: Transition = Transition::Illegal { kill: true };

/// A legal transition. Sorting puts the effects in Aurora's execution order (the declaration
/// order of [`SideEffect`]), which is also what Aurora does with its unordered set of effects.
fn legal(mut effects: Vec<SideEffect>) -> Transition {
    effects.sort_unstable();
    effects.dedup();
    Transition::Legal(effects)
}

fn save() -> Transition {
    legal(vec![SaveState])
}

/// The task exited 0 while running normally: only services come back.
fn finished(facts: &TransitionFacts) -> Transition {
    if facts.is_service {
        legal(vec![SaveState, Reschedule])
    } else {
        save()
    }
}

/// The task failed on its own (counted by [`transition`]): replace it unless a batch task used
/// up its failures.
fn failed(facts: &TransitionFacts) -> Transition {
    let mut effects = vec![SaveState];
    if facts.is_service || below_max_failures(facts) {
        effects.push(Reschedule);
    }
    legal(effects)
}

/// Aurora's `maxFailures == -1 || failureCount < maxFailures - 1`, where the count excludes the
/// failure being recorded. Only -1 means unlimited; other negative limits never reschedule.
/// Widened to i64 so neither side can overflow.
fn below_max_failures(facts: &TransitionFacts) -> bool {
    let max = i64::from(facts.max_task_failures);
    max == -1 || i64::from(facts.failure_count) < max - 1
}

fn from_deleted(to: TaskState) -> Transition {
    match to {
        Deleted => Transition::Noop,
        // A status update for a task we no longer have.
        Status(Assigned | Starting | Running) => ZOMBIE,
        Status(
            Init | Pending | Throttled | Finished | Failed | Killing | Killed | Lost | Preempting
            | Restarting | Draining | Partitioned,
        ) => ILLEGAL,
    }
}

fn from_init(to: TaskState) -> Transition {
    match to {
        Status(Init) => Transition::Noop,
        Status(Pending | Throttled) => save(),
        // Aurora's INIT rule has no callback, so even a zombie update here issues no kill.
        Status(
            Assigned | Starting | Running | Finished | Failed | Killing | Killed | Lost
            | Preempting | Restarting | Draining | Partitioned,
        )
        | Deleted => ILLEGAL,
    }
}

/// PENDING and THROTTLED: waiting, not on any agent.
fn from_waiting(from: ScheduleStatus, to: TaskState) -> Transition {
    match to {
        Status(same) if same == from => Transition::Noop,
        Status(Assigned) if from == Pending => save(),
        Status(Pending) if from == Throttled => save(),
        // Nothing runs yet, so a kill just removes the task; KILLING is never stored.
        Status(Killing) => legal(vec![Delete]),
        Status(
            Init | Pending | Throttled | Assigned | Starting | Running | Finished | Failed | Killed
            | Lost | Preempting | Restarting | Draining | Partitioned,
        )
        | Deleted => ILLEGAL,
    }
}

fn from_assigned(to: TaskState, facts: &TransitionFacts) -> Transition {
    match to {
        Status(Assigned) => Transition::Noop,
        Status(Starting | Running) => save(),
        Status(Finished) => finished(facts),
        Status(Failed) => failed(facts),
        // Killed without our asking (not via KILLING): replace it.
        Status(Killed) => legal(vec![SaveState, Reschedule]),
        // Timed out or the launch failed: the agent may still start it, so kill it too.
        Status(Lost) => legal(vec![SaveState, Reschedule, Kill]),
        Status(Killing | Restarting | Draining | Preempting) => legal(vec![SaveState, Kill]),
        // Mesos only reports a task unreachable once it has been seen, i.e. from STARTING on.
        Status(Init | Pending | Throttled | Partitioned) | Deleted => ILLEGAL,
    }
}

fn from_starting(to: TaskState, facts: &TransitionFacts) -> Transition {
    match to {
        Status(Starting) => Transition::Noop,
        Status(Running | Partitioned) => save(),
        Status(Finished) => finished(facts),
        Status(Failed) => failed(facts),
        Status(Killed | Lost) => legal(vec![SaveState, Reschedule]),
        Status(Killing | Restarting | Draining | Preempting) => legal(vec![SaveState, Kill]),
        // Going back to ASSIGNED is an out-of-order update, not a zombie: Aurora issues no kill.
        Status(Init | Pending | Throttled | Assigned) | Deleted => ILLEGAL,
    }
}

fn from_running(to: TaskState, facts: &TransitionFacts) -> Transition {
    match to {
        Status(Running) => Transition::Noop,
        Status(Partitioned) => save(),
        Status(Finished) => finished(facts),
        Status(Failed) => failed(facts),
        Status(Killed | Lost) => legal(vec![SaveState, Reschedule]),
        Status(Killing | Restarting | Draining | Preempting) => legal(vec![SaveState, Kill]),
        // Out-of-order updates (a late STARTING) are dropped without a kill, as in Aurora.
        Status(Init | Pending | Throttled | Assigned | Starting) | Deleted => ILLEGAL,
    }
}

fn from_partitioned(to: TaskState, facts: &TransitionFacts) -> Transition {
    match to {
        Status(Partitioned) => Transition::Noop,
        // The agent came back: take its word. FINISHED here never reschedules, even a service
        // (Aurora's PARTITIONED callback has no FINISHED case).
        Status(Assigned | Starting | Running | Finished) => save(),
        Status(Failed) => failed(facts),
        // Partitioned for too long. A task that was being killed (KILLING → PARTITIONED → LOST)
        // stays dead.
        Status(Lost) if facts.was_killing => legal(vec![SaveState, Kill]),
        Status(Lost) => legal(vec![SaveState, Reschedule, Kill]),
        // Aurora saves the requested state, then moves on to LOST at once: the kill cannot reach
        // the agent, and waiting would block updates, restarts and maintenance.
        Status(Killing | Restarting | Draining | Preempting) => {
            legal(vec![SaveState, TransitionToLost])
        }
        // KILLED is not in Aurora's PARTITIONED rule; a kill of a partitioned task goes via LOST.
        Status(Init | Pending | Throttled | Killed) | Deleted => ILLEGAL,
    }
}

/// PREEMPTING, RESTARTING and DRAINING: being killed by the system, with a replacement to follow.
fn from_being_replaced(from: ScheduleStatus, to: TaskState) -> Transition {
    match to {
        Status(same) if same == from => Transition::Noop,
        // The death was asked for: replace without counting a failure.
        Status(Finished | Failed | Killed) => legal(vec![SaveState, Reschedule]),
        Status(Lost) => legal(vec![SaveState, Reschedule, Kill]),
        // A user kill overrides: no replacement any more.
        Status(Killing) => save(),
        Status(Partitioned) => legal(vec![SaveState, TransitionToLost]),
        // Aurora's callback for these states kills on any attempt to revive the task.
        Status(Assigned | Starting | Running) => ZOMBIE,
        // Includes moving sideways between PREEMPTING, RESTARTING and DRAINING.
        Status(Init | Pending | Throttled | Preempting | Restarting | Draining) | Deleted => {
            ILLEGAL
        }
    }
}

fn from_killing(to: TaskState) -> Transition {
    match to {
        Status(Killing) => Transition::Noop,
        Status(Finished | Failed | Killed | Lost) => save(),
        // Unblocks whatever waits for the kill (e.g. an update); see `from_partitioned`.
        Status(Partitioned) => legal(vec![SaveState, TransitionToLost]),
        Deleted => legal(vec![Delete]),
        // Aurora handles KILLING with its terminal-state callback, which kills on revival.
        Status(Assigned | Starting | Running) => ZOMBIE,
        Status(Init | Pending | Throttled | Preempting | Restarting | Draining) => ILLEGAL,
    }
}

/// FINISHED, FAILED, KILLED, LOST.
fn from_terminal(from: ScheduleStatus, to: TaskState) -> Transition {
    match to {
        Status(same) if same == from => Transition::Noop,
        // Pruning: nothing to save for a task about to vanish.
        Deleted => legal(vec![Delete]),
        Status(Assigned | Starting | Running) => ZOMBIE,
        Status(
            Init | Pending | Throttled | Finished | Failed | Killing | Killed | Lost | Preempting
            | Restarting | Draining | Partitioned,
        ) => ILLEGAL,
    }
}
