//! An update's progress per instance, as the update page draws it: one cell per instance in
//! the order the update works them (see `batches.rs`), coloured by the instance's latest
//! action, with a legend counting each colour. Pure, tested here.

use std::collections::{BTreeMap, BTreeSet};

use aurora_events::{InstanceId, InstanceUpdateAction, UpdateStatus};
use aurora_projections::UpdateView;

use crate::batches::{self, Direction};

/// Where one instance stands in an update: untouched, or its latest action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CellState {
    Untouched,
    Updating,
    Updated,
    Failed,
    RollingBack,
    RolledBack,
    RollbackFailed,
}

impl CellState {
    /// Every state, in the legend's order.
    pub const ALL: [CellState; 7] = [
        CellState::Untouched,
        CellState::Updating,
        CellState::Updated,
        CellState::Failed,
        CellState::RollingBack,
        CellState::RolledBack,
        CellState::RollbackFailed,
    ];

    pub fn of(action: Option<InstanceUpdateAction>) -> Self {
        match action {
            None => CellState::Untouched,
            Some(InstanceUpdateAction::InstanceUpdating) => CellState::Updating,
            Some(InstanceUpdateAction::InstanceUpdated) => CellState::Updated,
            Some(InstanceUpdateAction::InstanceUpdateFailed) => CellState::Failed,
            Some(InstanceUpdateAction::InstanceRollingBack) => CellState::RollingBack,
            Some(InstanceUpdateAction::InstanceRolledBack) => CellState::RolledBack,
            Some(InstanceUpdateAction::InstanceRollbackFailed) => CellState::RollbackFailed,
        }
    }

    /// The CSS class colouring the cell (styled in `aurora.css`).
    pub fn class(self) -> &'static str {
        match self {
            CellState::Untouched => "untouched",
            CellState::Updating => "updating",
            CellState::Updated => "updated",
            CellState::Failed => "failed",
            CellState::RollingBack => "rolling-back",
            CellState::RolledBack => "rolled-back",
            CellState::RollbackFailed => "rollback-failed",
        }
    }

    /// The state in words, for the legend and the cell's title.
    pub fn label(self) -> &'static str {
        match self {
            CellState::Untouched => "not yet touched",
            CellState::Updating => "updating",
            CellState::Updated => "updated",
            CellState::Failed => "failed",
            CellState::RollingBack => "rolling back",
            CellState::RolledBack => "rolled back",
            CellState::RollbackFailed => "rollback failed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    pub instance: InstanceId,
    pub state: CellState,
}

/// What the page draws of an update's instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub direction: Direction,
    /// Cells in work order, cut into the strategy's batches; instances acted on that the
    /// instructions do not name (an inconsistent journal) come last, in a batch of their own.
    pub batches: Vec<Vec<Cell>>,
    /// Whether batches are worth drawing apart (not when every batch is one instance).
    pub grouped: bool,
    /// Each state with how many cells are in it, in legend order.
    pub legend: Vec<(CellState, usize)>,
    pub total: usize,
    /// The instructions named more instances than are drawn.
    pub truncated: bool,
}

/// Whether the update has turned back: it works its instances in reverse from then on, so
/// the picture follows the rollback's order even once it ended (rolled back, or failed or
/// aborted while rolling back).
pub fn direction(view: &UpdateView) -> Direction {
    let rolled_back = view.timeline.iter().any(|entry| match entry.status {
        UpdateStatus::RollingBack
        | UpdateStatus::RollBackPaused
        | UpdateStatus::RollBackAwaitingPulse
        | UpdateStatus::RolledBack => true,
        UpdateStatus::RollingForward
        | UpdateStatus::RollForwardPaused
        | UpdateStatus::RollForwardAwaitingPulse
        | UpdateStatus::RolledForward
        | UpdateStatus::Aborted
        | UpdateStatus::Error
        | UpdateStatus::Failed => false,
    });
    if rolled_back {
        Direction::Back
    } else {
        Direction::Forward
    }
}

pub fn progress(view: &UpdateView) -> Progress {
    let direction = direction(view);
    let plan = batches::plan(&view.instructions, direction, |instance| {
        view.instances.contains_key(&instance)
    });
    let cell = |instance: InstanceId| Cell {
        instance,
        state: CellState::of(view.instances.get(&instance).copied()),
    };
    let mut batches: Vec<Vec<Cell>> = plan
        .batches
        .iter()
        .map(|batch| batch.iter().copied().map(cell).collect())
        .collect();
    let planned: BTreeSet<InstanceId> = plan.batches.iter().flatten().copied().collect();
    let strays: Vec<Cell> = view
        .instances
        .keys()
        .filter(|instance| !planned.contains(instance))
        .take(batches::MAX_INSTANCES.saturating_sub(planned.len()))
        .copied()
        .map(cell)
        .collect();
    if !strays.is_empty() {
        batches.push(strays);
    }
    let mut counts: BTreeMap<CellState, usize> = BTreeMap::new();
    for cell in batches.iter().flatten() {
        *counts.entry(cell.state).or_default() += 1;
    }
    Progress {
        direction,
        grouped: batches.iter().any(|batch| batch.len() > 1),
        legend: CellState::ALL
            .iter()
            .map(|state| (*state, counts.get(state).copied().unwrap_or_default()))
            .collect(),
        total: counts.values().sum(),
        truncated: plan.truncated,
        batches,
    }
}

impl Progress {
    fn count(&self, state: CellState) -> usize {
        self.legend
            .iter()
            .find(|(s, _)| *s == state)
            .map_or(0, |(_, n)| *n)
    }

    /// One line for the job page's notice: `3 of 9 instances updated, 1 failed`.
    pub fn summary(&self) -> String {
        let (done, failed, verb) = match self.direction {
            Direction::Forward => (
                self.count(CellState::Updated),
                self.count(CellState::Failed),
                "updated",
            ),
            Direction::Back => (
                self.count(CellState::RolledBack),
                self.count(CellState::Failed) + self.count(CellState::RollbackFailed),
                "rolled back",
            ),
        };
        let mut line = format!("{done} of {} instances {verb}", self.total);
        if failed > 0 {
            line.push_str(&format!(", {failed} failed"));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use aurora_events::update::{
        InstanceConfigRanges, InstanceRange, UpdateInstructions, UpdateSettings, UpdateStrategy,
    };
    use aurora_events::{Actor, ConfigHash, JobKey, Timestamp, UpdateKey, Uuid};
    use aurora_projections::{UpdateEventView, UpdateSummary};

    use super::*;
    use InstanceUpdateAction::*;

    fn view(
        statuses: &[UpdateStatus],
        actions: &[(InstanceId, InstanceUpdateAction)],
    ) -> UpdateView {
        let all = vec![InstanceRange { first: 0, last: 5 }];
        UpdateView {
            summary: UpdateSummary {
                key: UpdateKey {
                    job: JobKey::new("www", "prod", "web").expect("key"),
                    id: Uuid::from_u128(1),
                },
                user: "alice".into(),
                status: *statuses.last().expect("a status"),
                status_since: Timestamp(0),
                started_at: Timestamp(0),
                last_modified: Timestamp(0),
                last_pulse: None,
            },
            instructions: UpdateInstructions {
                initial_state: vec![InstanceConfigRanges {
                    config: ConfigHash([1; 32]),
                    instances: all.clone(),
                }],
                desired_state: Some(InstanceConfigRanges {
                    config: ConfigHash([2; 32]),
                    instances: all,
                }),
                settings: UpdateSettings {
                    strategy: UpdateStrategy::Batch {
                        group_size: 2,
                        autopause_after_batch: false,
                    },
                    max_per_instance_failures: 0,
                    max_failed_instances: 0,
                    min_wait_in_instance_running_ms: 0,
                    rollback_on_failure: true,
                    update_only_these_instances: Vec::new(),
                    block_if_no_pulses_after_ms: None,
                    sla_aware: false,
                },
            },
            metadata: Default::default(),
            timeline: statuses
                .iter()
                .enumerate()
                .map(|(n, status)| UpdateEventView {
                    seq: n as u64 + 1,
                    at: Timestamp(0),
                    actor: Actor::Scheduler,
                    status: *status,
                    message: None,
                })
                .collect(),
            instance_events: Vec::new(),
            instances: actions.iter().copied().collect(),
            configs: Default::default(),
        }
    }

    fn drawn(progress: &Progress) -> Vec<Vec<(InstanceId, &'static str)>> {
        progress
            .batches
            .iter()
            .map(|b| b.iter().map(|c| (c.instance, c.state.class())).collect())
            .collect()
    }

    #[test]
    fn forward_progress_colours_cells_in_work_order() {
        let progress = progress(&view(
            &[UpdateStatus::RollingForward],
            &[
                (0, InstanceUpdated),
                (1, InstanceUpdated),
                (2, InstanceUpdating),
            ],
        ));
        assert_eq!(progress.direction, Direction::Forward);
        assert_eq!(
            drawn(&progress),
            vec![
                vec![(0, "updated"), (1, "updated")],
                vec![(2, "updating"), (3, "untouched")],
                vec![(4, "untouched"), (5, "untouched")],
            ]
        );
        assert!(progress.grouped);
        assert_eq!(progress.total, 6);
        assert_eq!(progress.summary(), "2 of 6 instances updated");
        assert_eq!(
            progress.legend,
            vec![
                (CellState::Untouched, 3),
                (CellState::Updating, 1),
                (CellState::Updated, 2),
                (CellState::Failed, 0),
                (CellState::RollingBack, 0),
                (CellState::RolledBack, 0),
                (CellState::RollbackFailed, 0),
            ]
        );
    }

    #[test]
    fn a_rollback_is_drawn_in_reverse_even_once_it_ended() {
        let progress = progress(&view(
            &[
                UpdateStatus::RollingForward,
                UpdateStatus::RollingBack,
                UpdateStatus::RolledBack,
            ],
            &[
                (0, InstanceRolledBack),
                (1, InstanceRolledBack),
                (2, InstanceUpdateFailed),
                (9, InstanceUpdating),
            ],
        ));
        assert_eq!(progress.direction, Direction::Back);
        assert_eq!(
            drawn(&progress),
            vec![
                vec![(2, "failed"), (1, "rolled-back")],
                vec![(0, "rolled-back")],
                vec![(5, "untouched"), (4, "untouched"), (3, "untouched")],
                vec![(9, "updating")],
            ],
            "the rollback works the touched instances; the untouched, then an instance the \
             instructions do not name, come last"
        );
        assert_eq!(progress.summary(), "2 of 7 instances rolled back, 1 failed");
    }

    #[test]
    fn every_action_has_its_own_state() {
        let states: BTreeSet<CellState> = [
            None,
            Some(InstanceUpdating),
            Some(InstanceUpdated),
            Some(InstanceUpdateFailed),
            Some(InstanceRollingBack),
            Some(InstanceRolledBack),
            Some(InstanceRollbackFailed),
        ]
        .into_iter()
        .map(CellState::of)
        .collect();
        assert_eq!(states.len(), CellState::ALL.len());
        let classes: BTreeSet<&str> = CellState::ALL.iter().map(|s| s.class()).collect();
        assert_eq!(classes.len(), CellState::ALL.len());
    }
}
