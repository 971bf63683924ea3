//! Moving one rolling update along (Aurora's `OneWayJobUpdater` and the controller's
//! evaluation): evaluate the instances in flight, start the next ones the strategy allows, and
//! end, roll back or fail the update when its instances say so. Every step is an event.

use std::collections::BTreeSet;

use aurora_events::{
    Event, EventId, InstanceId, InstanceUpdateAction, ScheduleStatus, UpdateKey, UpdateStatus,
};

use super::evaluate::{Target, Verdict, evaluate};
use super::machine::{awaiting_pulse, is_rolling};
use super::order::{autopauses, room, work_order};
use super::{
    AUTO_PAUSE_MESSAGE, CHECKING_SLA_MESSAGE, PULSE_TIMEOUT_MESSAGE, SLA_PASSED_MESSAGE, diff,
};
use crate::decision::Out;
use crate::lifecycle::{change_state, create_pending_tasks};
use crate::state::{ClusterState, Task, Update};

/// Emits the next steps of the rolling update `key` (ROLLING_FORWARD or ROLLING_BACK). An
/// SLA-aware update may kill the tasks in `approved` (their SLA coordinators said yes) as well
/// as those its Count or Percentage policy allows.
pub(crate) fn advance(
    state: &ClusterState,
    out: &mut Out,
    key: &UpdateKey,
    update: &Update,
    approved: &BTreeSet<aurora_events::TaskId>,
) {
    if !is_rolling(update.status) {
        return;
    }
    let now = out.now;
    let settings = &update.instructions.settings;
    if let Some(blocked) = pulse_expired(update, now.0) {
        change_status(
            out,
            key,
            update.status,
            blocked,
            Some(PULSE_TIMEOUT_MESSAGE.into()),
        );
        return;
    }
    let forward = update.status == UpdateStatus::RollingForward;
    if let Some(missing) = missing_config(state, update) {
        change_status(
            out,
            key,
            update.status,
            UpdateStatus::Error,
            Some(format!(
                "Internal scheduler error: config {} of the update is not stored",
                missing.short()
            )),
        );
        return;
    }
    let since = if forward {
        update.started_at
    } else {
        update.rollback_started.unwrap_or(update.status_since)
    };
    let restart = forward && diff::is_restart(&update.instructions);
    let target_of = |instance: InstanceId| Target {
        config: target_config(update, instance, forward),
        since,
        replace_older: restart,
        max_failures: settings.max_per_instance_failures,
        min_running_ms: settings.min_wait_in_instance_running_ms,
        now,
    };
    let job = &key.job;
    let (done, failed, working, idle) = classify(update, forward);
    let mut failures = failed;
    let mut latest_failure = None;
    let mut in_flight = 0usize;
    let mut steps: Vec<(InstanceId, Verdict)> = Vec::new();
    for &instance in &working {
        let verdict = evaluate(state, job, instance, &target_of(instance));
        match &verdict {
            Verdict::Succeeded => {}
            Verdict::Failed { status } => {
                failures += 1;
                latest_failure = Some((instance, *status));
            }
            Verdict::Kill(_) | Verdict::Replace(_) | Verdict::Wait => in_flight += 1,
        }
        steps.push((instance, verdict));
    }
    let failed_update = failures > settings.max_failed_instances as usize;
    // The next instances to start, unless the update fails now.
    let mut starting: Vec<(InstanceId, Verdict)> = Vec::new();
    let mut needs_work = 0usize;
    if !failed_update {
        let untouched = |instance: InstanceId| !update.instance_actions.contains_key(&instance);
        let mut candidates: Vec<(InstanceId, Verdict)> = Vec::new();
        for &instance in &idle {
            let verdict = evaluate(state, job, instance, &target_of(instance));
            // Already where the update wants it and never touched: nothing to record, and it
            // takes no place in a batch.
            if verdict == Verdict::Succeeded && untouched(instance) {
                continue;
            }
            needs_work += 1;
            candidates.push((instance, verdict));
        }
        let started = done + working.len();
        let limit = room(&settings.strategy, forward, in_flight, started, needs_work);
        starting = candidates.into_iter().take(limit).collect();
        let boundary = forward
            && !starting.is_empty()
            && autopauses(&settings.strategy)
            && started > 0
            && update.paused_at_started != Some(started);
        if boundary {
            // Finish what the current batch says (its instances' outcomes), then pause before
            // the next batch begins.
            record_outcomes(out, key, forward, &steps);
            change_status(
                out,
                key,
                update.status,
                UpdateStatus::RollForwardPaused,
                Some(AUTO_PAUSE_MESSAGE.into()),
            );
            return;
        }
    }
    record_outcomes(out, key, forward, &steps);
    if failed_update {
        let to = if forward && settings.rollback_on_failure {
            UpdateStatus::RollingBack
        } else {
            UpdateStatus::Failed
        };
        let message = latest_failure.map(|(instance, status)| failure_message(instance, status));
        change_status(out, key, update.status, to, message);
        return;
    }
    // An SLA-aware update kills an instance's task only while the job keeps its SLA (the
    // target config's: the new one forward, the old one back), counting this round's kills.
    let mut gate = settings.sla_aware.then(|| SlaGate {
        update,
        forward,
        down: BTreeSet::new(),
        approved,
    });
    for (instance, verdict) in &steps {
        // What the update does next to an instance in flight follows from its latest action.
        let cause = update
            .action_events
            .get(instance)
            .copied()
            .unwrap_or(update.started_event);
        act(state, out, key, *instance, verdict, cause, gate.as_mut());
    }
    for (instance, verdict) in &starting {
        let action = if forward {
            InstanceUpdateAction::InstanceUpdating
        } else {
            InstanceUpdateAction::InstanceRollingBack
        };
        let started = action_event(out, key, *instance, action, Some(update.started_event));
        match verdict {
            Verdict::Succeeded | Verdict::Failed { .. } => {
                record_outcomes(
                    out,
                    key,
                    forward,
                    std::slice::from_ref(&(*instance, verdict.clone())),
                );
            }
            Verdict::Kill(_) | Verdict::Replace(_) | Verdict::Wait => {
                act(state, out, key, *instance, verdict, started, gate.as_mut());
            }
        }
    }
    let remaining = in_flight
        + starting
            .iter()
            .filter(|(_, v)| !matches!(v, Verdict::Succeeded | Verdict::Failed { .. }))
            .count()
        + needs_work.saturating_sub(starting.len());
    let failed_now = starting
        .iter()
        .filter(|(_, v)| matches!(v, Verdict::Failed { .. }))
        .count();
    if failures + failed_now > settings.max_failed_instances as usize {
        // An instance failed the moment it was started: the next round fails the update.
        return;
    }
    if remaining == 0 {
        succeed(state, out, key, update, forward);
    }
}

/// Done (final action), failed, working (started, not final) and idle (no action) instances
/// of the update in the given direction, the last two in work order.
fn classify(update: &Update, forward: bool) -> (usize, usize, Vec<InstanceId>, Vec<InstanceId>) {
    let mut done = 0;
    let mut failed = 0;
    let mut working = Vec::new();
    let mut idle = Vec::new();
    for instance in work_order(&update.instructions, forward) {
        match update.latest_action(instance, forward) {
            Some(action) if action.is_final() => {
                done += 1;
                failed += usize::from(action.is_failure());
            }
            Some(_) => working.push(instance),
            None => idle.push(instance),
        }
    }
    (done, failed, working, idle)
}

/// The config `instance` should run in the given direction: the desired config rolling
/// forward (none if the update removes it), its initial config rolling back (none if the
/// update added it).
fn target_config(
    update: &Update,
    instance: InstanceId,
    forward: bool,
) -> Option<aurora_events::ConfigHash> {
    let instructions = &update.instructions;
    let holds = |group: &aurora_events::update::InstanceConfigRanges| {
        group.instances.iter().any(|r| r.contains(instance))
    };
    if forward {
        instructions
            .desired_state
            .as_ref()
            .filter(|group| holds(group))
            .map(|group| group.config)
    } else {
        instructions
            .initial_state
            .iter()
            .find(|group| holds(group))
            .map(|group| group.config)
    }
}

/// A config the update names that the store does not hold (never, in a consistent journal).
fn missing_config(state: &ClusterState, update: &Update) -> Option<aurora_events::ConfigHash> {
    let instructions = &update.instructions;
    instructions
        .initial_state
        .iter()
        .map(|group| group.config)
        .chain(
            instructions
                .desired_state
                .as_ref()
                .map(|group| group.config),
        )
        .find(|config| state.config(config).is_none())
}

/// The awaiting-pulse state a coordinated update blocks in when its last pulse is too old.
fn pulse_expired(update: &Update, now_ms: i64) -> Option<UpdateStatus> {
    let timeout = update
        .instructions
        .settings
        .block_if_no_pulses_after_ms
        .filter(|ms| *ms > 0)?;
    let timeout = i64::try_from(timeout).unwrap_or(i64::MAX);
    let fresh = update
        .last_pulse
        .is_some_and(|at| now_ms.saturating_sub(at.0) < timeout);
    if fresh {
        None
    } else {
        awaiting_pulse(update.status)
    }
}

/// Aurora's message for the failure that failed an update.
fn failure_message(instance: InstanceId, status: ScheduleStatus) -> String {
    let how = match status {
        ScheduleStatus::Failed | ScheduleStatus::Finished => "exited".to_string(),
        other => format!("ended {other}"),
    };
    format!("Latest failure: instance {instance} {how}.")
}

/// Records each instance that succeeded or failed in this evaluation.
fn record_outcomes(out: &mut Out, key: &UpdateKey, forward: bool, steps: &[(InstanceId, Verdict)]) {
    for (instance, verdict) in steps {
        let action = match (verdict, forward) {
            (Verdict::Succeeded, true) => InstanceUpdateAction::InstanceUpdated,
            (Verdict::Succeeded, false) => InstanceUpdateAction::InstanceRolledBack,
            (Verdict::Failed { .. }, true) => InstanceUpdateAction::InstanceUpdateFailed,
            (Verdict::Failed { .. }, false) => InstanceUpdateAction::InstanceRollbackFailed,
            (Verdict::Kill(_) | Verdict::Replace(_) | Verdict::Wait, _) => continue,
        };
        action_event(out, key, *instance, action, None);
    }
}

/// Records an instance action; returns its event id (the cause of what follows for it).
fn action_event(
    out: &mut Out,
    key: &UpdateKey,
    instance: InstanceId,
    action: InstanceUpdateAction,
    cause: Option<EventId>,
) -> EventId {
    out.emit(
        Event::UpdateInstanceActioned {
            update: key.clone(),
            instance,
            action,
            message: None,
        },
        cause,
    )
}

/// The SLA an SLA-aware update's kills keep, and the tasks it has killed this round.
struct SlaGate<'a> {
    update: &'a Update,
    forward: bool,
    down: BTreeSet<aurora_events::TaskId>,
    /// Tasks whose SLA coordinator said yes.
    approved: &'a BTreeSet<aurora_events::TaskId>,
}

impl SlaGate<'_> {
    /// Whether the update may kill `task` (of `instance`) now; if so, counts it as down. A
    /// coordinator not asked yet is asked (an effect).
    fn admits(
        &mut self,
        state: &ClusterState,
        out: &mut Out,
        instance: InstanceId,
        task: &Task,
    ) -> bool {
        let config = target_config(self.update, instance, self.forward)
            .and_then(|hash| state.config(&hash))
            .or_else(|| state.config(&task.config));
        let allowed = match config.and_then(crate::sla::policy_of) {
            Some(policy) => {
                crate::sla::check(state, out, task, &policy, &self.down, self.approved, None)
            }
            None => true,
        };
        if allowed {
            self.down.insert(task.id.clone());
        }
        allowed
    }
}

/// Carries out an instance's verdict: kill its task or add its replacement, both caused by
/// the update's action on the instance (so `aurora why` leads from a killed task to the update
/// and whoever started it). An SLA-aware update's kill waits for its SLA (`gate`).
fn act(
    state: &ClusterState,
    out: &mut Out,
    key: &UpdateKey,
    instance: InstanceId,
    verdict: &Verdict,
    cause: EventId,
    gate: Option<&mut SlaGate<'_>>,
) {
    match verdict {
        Verdict::Kill(task) => {
            if let Some(task) = state.task(task) {
                let mut cause = cause;
                if let Some(gate) = gate {
                    let admitted = gate.admits(state, out, instance, task);
                    let checking = gate.update.sla_checking.contains(&instance);
                    // Aurora's instance events: one when the kill starts waiting for the SLA,
                    // one when it may go on.
                    let message = match (admitted, checking) {
                        (false, false) => CHECKING_SLA_MESSAGE,
                        (true, true) => SLA_PASSED_MESSAGE,
                        (false, true) | (true, false) => "",
                    };
                    if !message.is_empty() {
                        let action = if gate.forward {
                            InstanceUpdateAction::InstanceUpdating
                        } else {
                            InstanceUpdateAction::InstanceRollingBack
                        };
                        cause = out.emit(
                            Event::UpdateInstanceActioned {
                                update: key.clone(),
                                instance,
                                action,
                                message: Some(message.into()),
                            },
                            Some(cause),
                        );
                    }
                    if !admitted {
                        return;
                    }
                }
                change_state(
                    state,
                    out,
                    task,
                    ScheduleStatus::Killing,
                    Some(format!("Killed for job update {}", key.id)),
                    Some(cause),
                );
            }
        }
        Verdict::Replace(config) => {
            create_pending_tasks(
                out,
                &key.job,
                *config,
                &BTreeSet::from([instance]),
                Some(cause),
            );
        }
        Verdict::Succeeded | Verdict::Failed { .. } | Verdict::Wait => {}
    }
}

/// Ends the update successfully: ROLLED_FORWARD (the job now wants the new config) or
/// ROLLED_BACK.
fn succeed(state: &ClusterState, out: &mut Out, key: &UpdateKey, update: &Update, forward: bool) {
    if forward {
        change_status(out, key, update.status, UpdateStatus::RolledForward, None);
        if let Some(desired) = &update.instructions.desired_state {
            let instances = state.active_tasks_of_job(&key.job).count() as u32;
            out.emit(
                Event::JobConfigReplaced {
                    job: key.job.clone(),
                    config: desired.config,
                    instances,
                },
                // The job changed because someone started the update.
                Some(update.started_event),
            );
        }
    } else {
        change_status(out, key, update.status, UpdateStatus::RolledBack, None);
    }
}

pub(crate) fn change_status(
    out: &mut Out,
    key: &UpdateKey,
    from: UpdateStatus,
    to: UpdateStatus,
    message: Option<String>,
) {
    out.emit(
        Event::UpdateStateChanged {
            update: key.clone(),
            from,
            to,
            message,
        },
        None,
    );
}
