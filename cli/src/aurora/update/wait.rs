//! Waiting for an update to end (`update wait`, `update start --wait`, `update rollback --wait`
//! and `job restart`): poll its details, report each new state, show the instances done on a
//! progress bar (stderr, hidden off a terminal), and leave with Aurora's exit code for the
//! state it ended in.

use std::collections::{BTreeMap, BTreeSet};

use aurora_api::{UpdateDetails, instance_ranges};
use aurora_events::{InstanceId, InstanceUpdateAction, UpdateStatus, Uuid};
use indicatif::ProgressBar;

use super::lookup::{details_while_waiting, parse_update_id};
use crate::aurora::wait::{POLL, progress};
use crate::client::Client;
use crate::context::Context;
use crate::exit::{CliError, CliResult, ExitCode};
use crate::keys::ClusterJobKey;

/// Which end of an update the caller hoped for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Goal {
    /// `update start`, `update wait`, `job restart`: ROLLED_FORWARD is success.
    RollForward,
    /// `update rollback --wait`: ROLLED_BACK is success.
    RollBack,
}

/// Aurora's `update_state_to_err_code` and `rollback_state_to_err_code`: 0 for the hoped-for
/// end, 4 (command failure) for the opposite one, 20 (unknown) for ABORTED, ERROR and FAILED.
pub(crate) fn exit_code(end: UpdateStatus, goal: Goal) -> ExitCode {
    match (end, goal) {
        (UpdateStatus::RolledForward, Goal::RollForward)
        | (UpdateStatus::RolledBack, Goal::RollBack) => ExitCode::Ok,
        (UpdateStatus::RolledBack, Goal::RollForward)
        | (UpdateStatus::RolledForward, Goal::RollBack) => ExitCode::CommandFailure,
        _ => ExitCode::Unknown,
    }
}

/// `update wait KEY ID`.
pub(crate) fn wait_verb(ctx: &Context, key: &str, id: &str) -> CliResult {
    let key: ClusterJobKey = key.parse()?;
    let id = parse_update_id(id)?;
    let client = ctx.client(&key.cluster)?;
    wait_printing_states(&client, &key, id, Goal::RollForward)
}

/// Waits as Aurora's `wait_for_update` does: "Current state X" on stdout at each change, then
/// the exit code for the end state (an error naming it unless it is the goal).
pub(crate) fn wait_printing_states(
    client: &Client,
    key: &ClusterJobKey,
    id: Uuid,
    goal: Goal,
) -> CliResult {
    let label = match goal {
        Goal::RollForward => "updated",
        Goal::RollBack => "rolled back",
    };
    let end = follow(client, key, id, label, |status| {
        println!("Current state {status}");
    })?;
    match exit_code(end.summary.status, goal) {
        ExitCode::Ok => Ok(()),
        code => Err(CliError::new(
            code,
            format!("update {id} of {key} ended {}", end.summary.status),
        )),
    }
}

/// Polls the update until it is terminal, calling `on_state` for each state seen (the first
/// included), and returns its final details. A progress bar counts the instances it is done
/// with; the states are printed above it.
pub(crate) fn follow(
    client: &Client,
    key: &ClusterJobKey,
    id: Uuid,
    label: &str,
    mut on_state: impl FnMut(UpdateStatus),
) -> CliResult<UpdateDetails> {
    let mut bar: Option<ProgressBar> = None;
    let mut last: Option<UpdateStatus> = None;
    loop {
        let Some(current) = details_while_waiting(client, key, id)? else {
            if let Some(bar) = &bar {
                bar.abandon();
            }
            return Err(CliError::invalid_parameter("Job update not found."));
        };
        let progress = Progress::of(&current);
        let bar = bar.get_or_insert_with(|| progress_bar(progress.total, label));
        bar.set_length(progress.total);
        bar.set_position(progress.done);
        bar.set_message(progress.message(current.summary.status, label));
        let status = current.summary.status;
        if last != Some(status) {
            last = Some(status);
            // A hidden bar drops `println`; `suspend` prints whether or not it is drawn.
            bar.suspend(|| on_state(status));
        }
        if status.is_terminal() {
            bar.finish_and_clear();
            return Ok(current);
        }
        std::thread::sleep(POLL);
    }
}

fn progress_bar(total: u64, label: &str) -> ProgressBar {
    progress(total, &format!("instances {label}"))
}

/// How far an update is, per instance: those it has finished with (their latest action is an
/// end: updated, rolled back, or failed either way) out of those it touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Progress {
    pub(crate) done: u64,
    pub(crate) total: u64,
    /// Instances whose latest action is still in progress.
    pub(crate) working: BTreeSet<InstanceId>,
}

impl Progress {
    pub(crate) fn of(details: &UpdateDetails) -> Self {
        let instructions = &details.instructions;
        // The instances changed (initial state) and those given the new config (desired
        // state); an instance neither replaced nor added never gets an event.
        let mut touched: BTreeSet<InstanceId> = instructions
            .initial_state
            .iter()
            .chain(&instructions.desired_state)
            .flat_map(|group| &group.instances)
            .flat_map(|range| range.first..=range.last)
            .collect();
        let mut latest: BTreeMap<InstanceId, InstanceUpdateAction> = BTreeMap::new();
        for event in &details.instance_events {
            latest.insert(event.instance, event.action);
        }
        touched.extend(latest.keys().copied());
        let done = latest.values().filter(|a| is_end(**a)).count() as u64;
        let working = latest
            .iter()
            .filter(|(_, action)| !is_end(**action))
            .map(|(instance, _)| *instance)
            .collect();
        Self {
            done,
            total: touched.len() as u64,
            working,
        }
    }

    /// The bar's message: the update's state and the instances in flight.
    pub(crate) fn message(&self, status: UpdateStatus, label: &str) -> String {
        if self.working.is_empty() {
            return format!("{status}: instances {label}");
        }
        let ranges: Vec<String> = instance_ranges(self.working.iter().copied())
            .iter()
            .map(ToString::to_string)
            .collect();
        format!(
            "{status}: instances {label} (working on {})",
            ranges.join(",")
        )
    }
}

fn is_end(action: InstanceUpdateAction) -> bool {
    match action {
        InstanceUpdateAction::InstanceUpdated
        | InstanceUpdateAction::InstanceRolledBack
        | InstanceUpdateAction::InstanceUpdateFailed
        | InstanceUpdateAction::InstanceRollbackFailed => true,
        InstanceUpdateAction::InstanceUpdating | InstanceUpdateAction::InstanceRollingBack => false,
    }
}

#[cfg(test)]
mod tests {
    use aurora_api::InstanceEvent;
    use aurora_events::Timestamp;

    use super::*;
    use crate::aurora::update::info::tests::details;

    #[test]
    fn exit_codes_follow_aurora() {
        use UpdateStatus::*;
        let forward: Vec<i32> = [RolledForward, RolledBack, Aborted, Error, Failed]
            .into_iter()
            .map(|s| exit_code(s, Goal::RollForward).code())
            .collect();
        assert_eq!(forward, [0, 4, 20, 20, 20]);
        let back: Vec<i32> = [RolledForward, RolledBack, Aborted, Error, Failed]
            .into_iter()
            .map(|s| exit_code(s, Goal::RollBack).code())
            .collect();
        assert_eq!(back, [4, 0, 20, 20, 20]);
    }

    #[test]
    fn progress_counts_instances_whose_latest_action_is_an_end() {
        let mut update = details();
        // Instance 1 updated, 2 updating, 3 added by the update and not yet touched.
        update.instance_events.truncate(3);
        update.instructions.desired_state = Some(aurora_events::update::InstanceConfigRanges {
            config: aurora_events::samples::task_config().hash(),
            instances: vec![aurora_events::update::InstanceRange { first: 1, last: 3 }],
        });
        let progress = Progress::of(&update);
        assert_eq!(
            progress,
            Progress {
                done: 1,
                total: 3,
                working: BTreeSet::from([2]),
            }
        );
        assert_eq!(
            progress.message(UpdateStatus::RollingForward, "updated"),
            "ROLLING_FORWARD: instances updated (working on 2)"
        );
        // Rolling back: 1 back on the old config, 2 and 3 in flight.
        update.instance_events.extend([
            InstanceEvent {
                instance: 1,
                at: Timestamp(10_000),
                action: InstanceUpdateAction::InstanceRolledBack,
                message: None,
            },
            InstanceEvent {
                instance: 3,
                at: Timestamp(10_000),
                action: InstanceUpdateAction::InstanceRollingBack,
                message: None,
            },
        ]);
        let progress = Progress::of(&update);
        assert_eq!((progress.done, progress.total), (1, 3));
        assert_eq!(
            progress.message(UpdateStatus::RollingBack, "updated"),
            "ROLLING_BACK: instances updated (working on 2-3)"
        );
    }
}
