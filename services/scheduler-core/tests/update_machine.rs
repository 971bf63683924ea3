//! The update status machine against Aurora's table, for every pair of the 11 states: each
//! legal change is allowed and every other is refused.

use aurora_events::UpdateStatus::{self, *};
use aurora_scheduler_core::update::machine::{awaiting_pulse, may_change, paused, rolling};
use strum::IntoEnumIterator;

/// Aurora's `JobUpdateStateMachine`, written out as data.
fn aurora_table(from: UpdateStatus) -> &'static [UpdateStatus] {
    match from {
        RollingForward => &[
            RollingBack,
            RollForwardPaused,
            RollForwardAwaitingPulse,
            RolledForward,
            Aborted,
            Failed,
            Error,
        ],
        RollingBack => &[
            RollBackPaused,
            RollBackAwaitingPulse,
            RolledBack,
            Aborted,
            Error,
            Failed,
        ],
        RollForwardPaused => &[
            RollingBack,
            RollingForward,
            RollForwardAwaitingPulse,
            Aborted,
            Error,
        ],
        RollBackPaused => &[RollingBack, RollBackAwaitingPulse, Aborted, Error],
        RollForwardAwaitingPulse => &[
            RollingBack,
            RollingForward,
            RollForwardPaused,
            Aborted,
            Error,
        ],
        RollBackAwaitingPulse => &[RollingBack, RollBackPaused, Aborted, Error],
        RolledForward | RolledBack | Aborted | Error | Failed => &[],
    }
}

#[test]
fn every_legal_change_is_allowed_and_every_other_refused() {
    let mut legal = 0;
    for from in UpdateStatus::iter() {
        for to in UpdateStatus::iter() {
            let expected = aurora_table(from).contains(&to);
            assert_eq!(may_change(from, to), expected, "{from} -> {to}");
            legal += usize::from(expected);
        }
    }
    // 7 + 6 + 5 + 4 + 5 + 4 changes, none out of a terminal state.
    assert_eq!(legal, 31);
}

#[test]
fn pause_resume_and_pulse_states_are_reachable_by_legal_changes_only() {
    for from in UpdateStatus::iter() {
        for to in [paused(from), rolling(from), awaiting_pulse(from)]
            .into_iter()
            .flatten()
        {
            assert!(to == from || may_change(from, to), "{from} -> {to}");
        }
        assert_eq!(paused(from).is_some(), from.is_active(), "{from}");
    }
}
