//! The statuses of tasks, updates, update instances and hosts, with Aurora's state sets.

use serde::{Deserialize, Serialize};

/// Aurora's 15 task states (`ScheduleStatus`). The transition table lives in scheduler-core;
/// this type only names the states and the sets Aurora groups them in.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::EnumIter,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub enum ScheduleStatus {
    /// Created, not yet PENDING (exists only inside one decision).
    Init,
    /// Waiting to be placed on an agent.
    Pending,
    /// Rescheduled but held back as a penalty for flapping.
    Throttled,
    /// Placed on an agent; launch sent.
    Assigned,
    /// The executor acknowledged the launch; sandbox setup or health-check warm-up.
    Starting,
    /// Running (and healthy, when health-checked).
    Running,
    /// Exited 0.
    Finished,
    /// Exited non-zero or broke a failure limit.
    Failed,
    /// A user or the system asked for a kill; no replacement will be made.
    Killing,
    /// Terminated by the system.
    Killed,
    /// The agent or executor was lost, the task timed out, or the launch failed.
    Lost,
    /// Being killed to make room for another task.
    Preempting,
    /// Being killed for a user restart; a replacement follows its death.
    Restarting,
    /// Being killed for host maintenance; a replacement follows its death.
    Draining,
    /// The agent is unreachable (partition-aware mode).
    Partitioned,
}

impl ScheduleStatus {
    /// Aurora's thrift id of this status, for display and interoperability.
    pub fn aurora_id(self) -> i32 {
        match self {
            ScheduleStatus::Init => 11,
            ScheduleStatus::Pending => 0,
            ScheduleStatus::Throttled => 16,
            ScheduleStatus::Assigned => 9,
            ScheduleStatus::Starting => 1,
            ScheduleStatus::Running => 2,
            ScheduleStatus::Finished => 3,
            ScheduleStatus::Failed => 4,
            ScheduleStatus::Killing => 6,
            ScheduleStatus::Killed => 5,
            ScheduleStatus::Lost => 7,
            ScheduleStatus::Preempting => 13,
            ScheduleStatus::Restarting => 12,
            ScheduleStatus::Draining => 17,
            ScheduleStatus::Partitioned => 18,
        }
    }

    /// ACTIVE_STATES: the task occupies its instance (at most one active task per instance).
    pub fn is_active(self) -> bool {
        match self {
            ScheduleStatus::Pending
            | ScheduleStatus::Throttled
            | ScheduleStatus::Assigned
            | ScheduleStatus::Starting
            | ScheduleStatus::Running
            | ScheduleStatus::Killing
            | ScheduleStatus::Preempting
            | ScheduleStatus::Restarting
            | ScheduleStatus::Draining
            | ScheduleStatus::Partitioned => true,
            ScheduleStatus::Init
            | ScheduleStatus::Finished
            | ScheduleStatus::Failed
            | ScheduleStatus::Killed
            | ScheduleStatus::Lost => false,
        }
    }

    /// SLAVE_ASSIGNED_STATES: active and placed on an agent (holds resources there).
    pub fn is_on_agent(self) -> bool {
        self.is_active() && !matches!(self, ScheduleStatus::Pending | ScheduleStatus::Throttled)
    }

    /// LIVE_STATES: the sandbox is alive.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            ScheduleStatus::Killing
                | ScheduleStatus::Preempting
                | ScheduleStatus::Restarting
                | ScheduleStatus::Draining
                | ScheduleStatus::Partitioned
                | ScheduleStatus::Running
        )
    }

    /// TERMINAL_STATES. INIT is neither active nor terminal.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            ScheduleStatus::Finished
                | ScheduleStatus::Failed
                | ScheduleStatus::Killed
                | ScheduleStatus::Lost
        )
    }

    /// Whether a task moving `from` → `to` failed on its own, which counts one failure against
    /// its `max_task_failures` (the state machine's INCREMENT_FAILURES): FAILED from ASSIGNED,
    /// STARTING, RUNNING or PARTITIONED. Dying while being killed or replaced (KILLING,
    /// PREEMPTING, RESTARTING, DRAINING) was asked for and does not count.
    ///
    /// The one statement of this rule: the transition table derives its effect from it, and
    /// the write model and the read side count failures with it, so their counts agree.
    pub fn counts_failure(from: ScheduleStatus, to: ScheduleStatus) -> bool {
        if to != ScheduleStatus::Failed {
            return false;
        }
        match from {
            ScheduleStatus::Assigned
            | ScheduleStatus::Starting
            | ScheduleStatus::Running
            | ScheduleStatus::Partitioned => true,
            ScheduleStatus::Init
            | ScheduleStatus::Pending
            | ScheduleStatus::Throttled
            | ScheduleStatus::Finished
            | ScheduleStatus::Failed
            | ScheduleStatus::Killing
            | ScheduleStatus::Killed
            | ScheduleStatus::Lost
            | ScheduleStatus::Preempting
            | ScheduleStatus::Restarting
            | ScheduleStatus::Draining => false,
        }
    }
}

/// The 11 states of a job update (`JobUpdateStatus`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::EnumIter,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub enum UpdateStatus {
    RollingForward,
    RollingBack,
    RollForwardPaused,
    RollBackPaused,
    RolledForward,
    RolledBack,
    Aborted,
    Error,
    Failed,
    RollForwardAwaitingPulse,
    RollBackAwaitingPulse,
}

impl UpdateStatus {
    /// Terminal update states; the others are active (one active update per job).
    pub fn is_terminal(self) -> bool {
        match self {
            UpdateStatus::RolledForward
            | UpdateStatus::RolledBack
            | UpdateStatus::Aborted
            | UpdateStatus::Error
            | UpdateStatus::Failed => true,
            UpdateStatus::RollingForward
            | UpdateStatus::RollingBack
            | UpdateStatus::RollForwardPaused
            | UpdateStatus::RollBackPaused
            | UpdateStatus::RollForwardAwaitingPulse
            | UpdateStatus::RollBackAwaitingPulse => false,
        }
    }

    /// Not terminal: the update still owns its job (at most one active update per job, and
    /// kills, restarts and added instances wait for it).
    pub fn is_active(self) -> bool {
        !self.is_terminal()
    }
}

/// What happened to one instance during an update (`JobUpdateAction`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::EnumIter,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub enum InstanceUpdateAction {
    InstanceUpdated,
    InstanceRolledBack,
    InstanceUpdating,
    InstanceRollingBack,
    InstanceUpdateFailed,
    InstanceRollbackFailed,
}

impl InstanceUpdateAction {
    /// Whether the action belongs to rolling forward (as opposed to rolling back).
    pub fn is_forward(self) -> bool {
        match self {
            InstanceUpdateAction::InstanceUpdating
            | InstanceUpdateAction::InstanceUpdated
            | InstanceUpdateAction::InstanceUpdateFailed => true,
            InstanceUpdateAction::InstanceRollingBack
            | InstanceUpdateAction::InstanceRolledBack
            | InstanceUpdateAction::InstanceRollbackFailed => false,
        }
    }

    /// Whether the instance is done in that direction (updated, rolled back or failed).
    pub fn is_final(self) -> bool {
        match self {
            InstanceUpdateAction::InstanceUpdating | InstanceUpdateAction::InstanceRollingBack => {
                false
            }
            InstanceUpdateAction::InstanceUpdated
            | InstanceUpdateAction::InstanceRolledBack
            | InstanceUpdateAction::InstanceUpdateFailed
            | InstanceUpdateAction::InstanceRollbackFailed => true,
        }
    }

    /// Whether the instance failed in that direction.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            InstanceUpdateAction::InstanceUpdateFailed
                | InstanceUpdateAction::InstanceRollbackFailed
        )
    }
}

/// A host's maintenance mode.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Serialize,
    Deserialize,
    strum::EnumIter,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub enum MaintenanceMode {
    /// In service.
    #[default]
    None,
    /// Maintenance planned: still schedulable, offered last.
    Scheduled,
    /// Tasks are being drained off; nothing new is placed.
    Draining,
    /// Empty and out of service.
    Drained,
}

/// How the message of a transition an operator forced begins (`aurora-admin` force task
/// state): the audit trail tells such a transition from one a command caused by it.
pub const FORCED_TRANSITION: &str = "Transition forced by";

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

    #[test]
    fn there_are_fifteen_states_with_distinct_aurora_ids() {
        let ids: std::collections::BTreeSet<i32> = ScheduleStatus::iter()
            .map(ScheduleStatus::aurora_id)
            .collect();
        assert_eq!(ScheduleStatus::iter().count(), 15);
        assert_eq!(ids.len(), 15);
    }

    #[test]
    fn state_sets_match_aurora() {
        use ScheduleStatus::*;
        let active: Vec<_> = ScheduleStatus::iter().filter(|s| s.is_active()).collect();
        assert_eq!(
            active,
            vec![
                Pending,
                Throttled,
                Assigned,
                Starting,
                Running,
                Killing,
                Preempting,
                Restarting,
                Draining,
                Partitioned
            ]
        );
        let terminal: Vec<_> = ScheduleStatus::iter().filter(|s| s.is_terminal()).collect();
        assert_eq!(terminal, vec![Finished, Failed, Killed, Lost]);
        assert!(!Init.is_active() && !Init.is_terminal());
        assert!(!Pending.is_on_agent() && Assigned.is_on_agent());
        assert!(Running.is_live() && !Starting.is_live());
    }

    #[test]
    fn statuses_print_like_aurora() {
        assert_eq!(ScheduleStatus::Partitioned.to_string(), "PARTITIONED");
        assert_eq!(
            "ROLL_FORWARD_AWAITING_PULSE"
                .parse::<UpdateStatus>()
                .unwrap(),
            UpdateStatus::RollForwardAwaitingPulse
        );
        assert_eq!(
            serde_json::to_string(&MaintenanceMode::Drained).unwrap(),
            "\"DRAINED\""
        );
        assert_eq!(UpdateStatus::iter().filter(|s| s.is_terminal()).count(), 5);
        assert!(UpdateStatus::iter().all(|s| s.is_active() != s.is_terminal()));
    }

    #[test]
    fn only_failing_on_its_own_counts_a_failure() {
        use ScheduleStatus::*;
        let counted: Vec<_> = ScheduleStatus::iter()
            .filter(|from| ScheduleStatus::counts_failure(*from, Failed))
            .collect();
        assert_eq!(counted, vec![Assigned, Starting, Running, Partitioned]);
        for to in ScheduleStatus::iter().filter(|s| *s != Failed) {
            assert!(ScheduleStatus::iter().all(|from| !ScheduleStatus::counts_failure(from, to)));
        }
    }
}
