//! The task state machine against an expected table written out by hand: every (from, to) pair
//! over the 15 statuses plus DELETED, for several kinds of task. A change to any arm of
//! `transition` shows up as a named `FROM -> TO` row in the diff.
//!
//! Sources for the expectations: reference §1.2–1.3 and Aurora's own
//! `TaskStateMachineTest.testAllTransitions`.

use aurora_events::ScheduleStatus::{
    self, Assigned, Draining, Failed, Finished, Init, Killed, Killing, Lost, Partitioned, Pending,
    Preempting, Restarting, Running, Starting, Throttled,
};
use aurora_scheduler_core::state_machine::{
    SideEffect, TaskState, Transition, TransitionFacts, transition,
};
use pretty_assertions::assert_eq;
use proptest::prelude::*;

const fn s(status: ScheduleStatus) -> TaskState {
    TaskState::Status(status)
}
const DEL: TaskState = TaskState::Deleted;

/// Column order of [`MATRIX`].
const COLUMNS: [TaskState; 16] = [
    s(Init),
    s(Pending),
    s(Throttled),
    s(Assigned),
    s(Starting),
    s(Running),
    s(Finished),
    s(Failed),
    s(Killing),
    s(Killed),
    s(Lost),
    s(Preempting),
    s(Restarting),
    s(Draining),
    s(Partitioned),
    DEL,
];

/// Where a state sits in [`COLUMNS`]. Exhaustive on purpose: a new status fails this build too.
fn column(state: TaskState) -> usize {
    match state {
        TaskState::Status(status) => match status {
            Init => 0,
            Pending => 1,
            Throttled => 2,
            Assigned => 3,
            Starting => 4,
            Running => 5,
            Finished => 6,
            Failed => 7,
            Killing => 8,
            Killed => 9,
            Lost => 10,
            Preempting => 11,
            Restarting => 12,
            Draining => 13,
            Partitioned => 14,
        },
        TaskState::Deleted => 15,
    }
}

// Cell codes:
//   .  no-op (same state)          -  illegal          Z  illegal, kill the zombie
//   letters: a legal transition with exactly these effects in this order:
//     I IncrementFailures, S SaveState, R Reschedule, L TransitionToLost, K Kill, D Delete
//   fin? / fail? / plost?  depend on the task; resolved per FactCase below:
//     fin?   running normally → FINISHED
//     fail?  running normally (or partitioned) → FAILED
//     plost? PARTITIONED → LOST
#[rustfmt::skip]
const MATRIX: [(TaskState, [&str; 16]); 16] = [
    //                 INIT PEND THRO ASGN STRT RUNN FINI    FAIL     KLNG KILD LOST     PREE REST DRAI PART DEL
    (s(Init),        [".", "S", "S", "-", "-", "-", "-",    "-",     "-", "-", "-",     "-", "-", "-", "-", "-"]),
    (s(Pending),     ["-", ".", "-", "S", "-", "-", "-",    "-",     "D", "-", "-",     "-", "-", "-", "-", "-"]),
    (s(Throttled),   ["-", "S", ".", "-", "-", "-", "-",    "-",     "D", "-", "-",     "-", "-", "-", "-", "-"]),
    (s(Assigned),    ["-", "-", "-", ".", "S", "S", "fin?", "fail?", "SK", "SR", "SRK", "SK", "SK", "SK", "-", "-"]),
    (s(Starting),    ["-", "-", "-", "-", ".", "S", "fin?", "fail?", "SK", "SR", "SR",  "SK", "SK", "SK", "S", "-"]),
    (s(Running),     ["-", "-", "-", "-", "-", ".", "fin?", "fail?", "SK", "SR", "SR",  "SK", "SK", "SK", "S", "-"]),
    (s(Finished),    ["-", "-", "-", "Z", "Z", "Z", ".",    "-",     "-", "-", "-",     "-", "-", "-", "-", "D"]),
    (s(Failed),      ["-", "-", "-", "Z", "Z", "Z", "-",    ".",     "-", "-", "-",     "-", "-", "-", "-", "D"]),
    (s(Killing),     ["-", "-", "-", "Z", "Z", "Z", "S",    "S",     ".", "S", "S",     "-", "-", "-", "SL", "D"]),
    (s(Killed),      ["-", "-", "-", "Z", "Z", "Z", "-",    "-",     "-", ".", "-",     "-", "-", "-", "-", "D"]),
    (s(Lost),        ["-", "-", "-", "Z", "Z", "Z", "-",    "-",     "-", "-", ".",     "-", "-", "-", "-", "D"]),
    (s(Preempting),  ["-", "-", "-", "Z", "Z", "Z", "SR",   "SR",    "S", "SR", "SRK",  ".", "-", "-", "SL", "-"]),
    (s(Restarting),  ["-", "-", "-", "Z", "Z", "Z", "SR",   "SR",    "S", "SR", "SRK",  "-", ".", "-", "SL", "-"]),
    (s(Draining),    ["-", "-", "-", "Z", "Z", "Z", "SR",   "SR",    "S", "SR", "SRK",  "-", "-", ".", "SL", "-"]),
    (s(Partitioned), ["-", "-", "-", "S", "S", "S", "S",    "fail?", "SL", "-", "plost?", "SL", "SL", "SL", ".", "-"]),
    (DEL,            ["-", "-", "-", "Z", "Z", "Z", "-",    "-",     "-", "-", "-",     "-", "-", "-", "-", "."]),
];

/// One kind of task, with the literal outcome of each task-dependent cell.
struct FactCase {
    label: &'static str,
    facts: TransitionFacts,
    fin: &'static str,
    fail: &'static str,
    plost: &'static str,
}

const fn facts(
    is_service: bool,
    failure_count: u32,
    max_task_failures: i32,
    was_killing: bool,
) -> TransitionFacts {
    TransitionFacts {
        is_service,
        failure_count,
        max_task_failures,
        was_killing,
    }
}

#[rustfmt::skip]
const FACT_CASES: [FactCase; 9] = [
    FactCase { label: "service, first failure, max 1",      facts: facts(true, 0, 1, false),   fin: "SR", fail: "ISR", plost: "SRK" },
    FactCase { label: "service, way over its max",          facts: facts(true, 9, 3, false),   fin: "SR", fail: "ISR", plost: "SRK" },
    FactCase { label: "batch, unlimited failures",          facts: facts(false, 7, -1, false), fin: "S",  fail: "ISR", plost: "SRK" },
    FactCase { label: "batch, max 0 (Aurora's test task)",  facts: facts(false, 0, 0, false),  fin: "S",  fail: "IS",  plost: "SRK" },
    FactCase { label: "batch, max 1: first failure is last",facts: facts(false, 0, 1, false),  fin: "S",  fail: "IS",  plost: "SRK" },
    FactCase { label: "batch, max 3, 1 failure so far",     facts: facts(false, 1, 3, false),  fin: "S",  fail: "ISR", plost: "SRK" },
    FactCase { label: "batch, max 3, 2 failures so far",    facts: facts(false, 2, 3, false),  fin: "S",  fail: "IS",  plost: "SRK" },
    FactCase { label: "batch, was being killed",            facts: facts(false, 0, -1, true),  fin: "S",  fail: "ISR", plost: "SK" },
    FactCase { label: "service, was being killed",          facts: facts(true, 5, 3, true),    fin: "SR", fail: "ISR", plost: "SK" },
];

fn name(state: TaskState) -> String {
    match state {
        TaskState::Status(status) => status.to_string(),
        TaskState::Deleted => "DELETED".to_owned(),
    }
}

fn effects(code: &str) -> Transition {
    let effects = code
        .chars()
        .map(|letter| match letter {
            'I' => SideEffect::IncrementFailures,
            'S' => SideEffect::SaveState,
            'R' => SideEffect::Reschedule,
            'L' => SideEffect::TransitionToLost,
            'K' => SideEffect::Kill,
            'D' => SideEffect::Delete,
            other => panic!("unknown effect letter {other:?} in cell {code:?}"),
        })
        .collect();
    Transition::Legal(effects)
}

fn expected(code: &str, case: &FactCase) -> Transition {
    match code {
        "." => Transition::Noop,
        "-" => Transition::Illegal { kill: false },
        "Z" => Transition::Illegal { kill: true },
        "fin?" => effects(case.fin),
        "fail?" => effects(case.fail),
        "plost?" => effects(case.plost),
        letters => effects(letters),
    }
}

#[test]
fn the_matrix_lists_every_state_once_in_column_order() {
    for (index, state) in COLUMNS.iter().enumerate() {
        assert_eq!(column(*state), index, "{}", name(*state));
        assert_eq!(MATRIX[index].0, *state, "row {index}");
    }
}

#[test]
fn every_pair_matches_the_table_for_each_kind_of_task() {
    for case in &FACT_CASES {
        let mut want = Vec::new();
        let mut got = Vec::new();
        for (from, cells) in &MATRIX {
            for (to, code) in COLUMNS.iter().zip(cells) {
                let pair = format!("{} -> {}", name(*from), name(*to));
                want.push((pair.clone(), expected(code, case)));
                got.push((pair, transition(*from, *to, &case.facts)));
            }
        }
        assert_eq!(got.len(), 256);
        assert_eq!(got, want, "task: {}", case.label);
    }
}

/// `(is_service, failures before this one, max_task_failures, replaced?)`.
#[rustfmt::skip]
const FAILURE_LIMIT: [(bool, u32, i32, bool); 16] = [
    (false, 0, -1, true),
    (false, 1_000_000, -1, true),
    (false, 0, 0, false),
    (false, 0, 1, false),
    (false, 0, 2, true),
    (false, 1, 2, false),
    (false, 0, 3, true),
    (false, 1, 3, true),
    (false, 2, 3, false),
    (false, 3, 3, false),
    (false, 0, -2, false),        // only -1 means unlimited
    (false, u32::MAX, i32::MAX, false),
    (false, 0, i32::MIN, false),
    (true, 0, 0, true),
    (true, 3, 3, true),
    (true, u32::MAX, 1, true),
];

#[test]
fn the_failure_limit_decides_whether_a_failed_task_is_replaced() {
    let counted_from = [s(Assigned), s(Starting), s(Running), s(Partitioned)];
    for (is_service, failure_count, max, replaced) in FAILURE_LIMIT {
        let task = facts(is_service, failure_count, max, false);
        let want = if replaced {
            effects("ISR")
        } else {
            effects("IS")
        };
        for from in counted_from {
            assert_eq!(
                transition(from, s(Failed), &task),
                want,
                "{} -> FAILED, service {is_service}, {failure_count} failures, max {max}",
                name(from)
            );
        }
    }
}

fn any_state() -> impl Strategy<Value = TaskState> {
    prop_oneof![
        15 => any::<ScheduleStatus>().prop_map(TaskState::Status),
        1 => Just(TaskState::Deleted),
    ]
}

fn any_facts() -> impl Strategy<Value = TransitionFacts> {
    (
        any::<bool>(),
        prop_oneof![0..5u32, any::<u32>()],
        prop_oneof![-2..5i32, any::<i32>()],
        any::<bool>(),
    )
        .prop_map(|(service, count, max, killing)| facts(service, count, max, killing))
}

fn kind(outcome: &Transition) -> &'static str {
    match outcome {
        Transition::Legal(_) => "legal",
        Transition::Noop => "noop",
        Transition::Illegal { kill: false } => "illegal",
        Transition::Illegal { kill: true } => "zombie",
    }
}

proptest! {
    /// Whether a transition is allowed never depends on the task, only its effects do; and the
    /// effects obey reference §1.2: in order, no repeats, saved unless deleted, and a replacement
    /// only when the task reaches a terminal state.
    #[test]
    fn legality_is_about_states_and_effects_are_well_formed(
        from in any_state(),
        to in any_state(),
        task in any_facts(),
    ) {
        let outcome = transition(from, to, &task);
        let baseline = transition(from, to, &facts(false, 0, -1, false));
        prop_assert_eq!(kind(&outcome), kind(&baseline));
        if let Transition::Legal(effects) = outcome {
            prop_assert!(effects.windows(2).all(|pair| pair[0] < pair[1]), "{:?}", effects);
            let saves = effects.contains(&SideEffect::SaveState);
            let deletes = effects.contains(&SideEffect::Delete);
            prop_assert!(saves != deletes, "{:?}", effects);
            if effects.contains(&SideEffect::Reschedule) {
                prop_assert!(matches!(to, TaskState::Status(st) if st.is_terminal()));
            }
        }
    }
}
