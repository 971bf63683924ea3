//! Moving tasks through the state machine: one place that asks the transition table and turns
//! its side effects into events (state changes, replacements, deletions) and effects (kills),
//! in Aurora's order. Every command that changes a task's state goes through [`change_state`].

use std::collections::BTreeSet;

use aurora_events::{
    Actor, ConfigHash, Event, EventId, InstanceId, JobKey, ScheduleStatus, TaskConfig, TaskId,
    Timestamp,
};

use crate::decision::{Effect, Out};
use crate::state::{ClusterState, Task};
use crate::state_machine::{self, SideEffect, TaskState, Transition};

/// How audit messages name an actor ("Killed by alice").
pub(crate) fn who(actor: &Actor) -> String {
    match actor {
        Actor::User(name) => name.clone(),
        Actor::Scheduler => "scheduler".to_string(),
        Actor::Agent(agent) => agent.to_string(),
    }
}

/// Asks the state machine to move `task` to `to`; emits what follows. Returns the id of the
/// state-change event, if one was saved.
pub(crate) fn change_state(
    state: &ClusterState,
    out: &mut Out,
    task: &Task,
    to: ScheduleStatus,
    message: Option<String>,
    cause: Option<EventId>,
) -> Option<EventId> {
    let facts = task.transition_facts(state.configs());
    match state_machine::transition(
        TaskState::Status(task.status),
        TaskState::Status(to),
        &facts,
    ) {
        Transition::Noop => None,
        Transition::Illegal { kill } => {
            out.illegal(task.id.clone(), Some(task.status), to);
            if kill && let Some(assignment) = &task.assignment {
                out.effect(Effect::Kill {
                    task: task.id.clone(),
                    agent: assignment.agent.clone(),
                });
            }
            None
        }
        Transition::Legal(effects) => {
            let mut saved = None;
            let mut cause = cause;
            let failed_now = effects.contains(&SideEffect::IncrementFailures);
            for effect in effects {
                match effect {
                    // Folded into the task record when the state change is applied.
                    SideEffect::IncrementFailures => {}
                    SideEffect::SaveState => {
                        let id = out.emit(
                            Event::TaskStateChanged {
                                task: task.id.clone(),
                                job: JobKey::clone(&task.job),
                                from: task.status,
                                to,
                                message: message.clone(),
                            },
                            cause,
                        );
                        saved = Some(id);
                        cause = Some(id);
                    }
                    SideEffect::Reschedule => {
                        let failures = task.failure_count + u32::from(failed_now);
                        reschedule(state, out, task, failures, cause);
                    }
                    SideEffect::TransitionToLost => {
                        // Continue from the state just saved (or the current one if none was).
                        let mut moved = task.clone();
                        if saved.is_some() {
                            moved.status = to;
                            moved.history.push(crate::state::TaskEventRecord {
                                at: out.now,
                                status: to,
                            });
                        }
                        let lost_message =
                            "Action performed on partitioned task, marking as LOST.".to_string();
                        change_state(
                            state,
                            out,
                            &moved,
                            ScheduleStatus::Lost,
                            Some(lost_message),
                            cause,
                        );
                    }
                    SideEffect::Kill => {
                        if let Some(assignment) = &task.assignment {
                            out.effect(Effect::Kill {
                                task: task.id.clone(),
                                agent: assignment.agent.clone(),
                            });
                        }
                    }
                    SideEffect::Delete => {
                        out.emit(
                            Event::TaskDeleted {
                                task: task.id.clone(),
                                job: JobKey::clone(&task.job),
                            },
                            cause,
                        );
                    }
                }
            }
            saved
        }
    }
}

/// Creates the replacement of `task`: same instance and config, a new id, `ancestor` = the old
/// task, failures carried, THROTTLED with a penalty if the task (and its ancestors) flapped.
fn reschedule(
    state: &ClusterState,
    out: &mut Out,
    task: &Task,
    failure_count: u32,
    cause: Option<EventId>,
) {
    // Tasks killed on purpose (restart, drain, preemption) are not penalised.
    let on_purpose = matches!(
        task.status,
        ScheduleStatus::Restarting | ScheduleStatus::Draining | ScheduleStatus::Preempting
    );
    let penalty_ms = if on_purpose {
        0
    } else {
        flapping_penalty(state, task, out.now)
    };
    let (status, message) = if penalty_ms > 0 {
        (
            ScheduleStatus::Throttled,
            format!("Rescheduled, penalized for {penalty_ms} ms for flapping"),
        )
    } else {
        (ScheduleStatus::Pending, "Rescheduled".to_string())
    };
    let id = out.ids().task_id(&task.job, task.instance);
    out.emit(
        Event::TaskCreated {
            task: id,
            job: JobKey::clone(&task.job),
            instance: task.instance,
            config: task.config,
            status,
            ancestor: Some(task.id.clone()),
            failure_count,
            penalty_ms,
            message: Some(message),
        },
        cause,
    );
}

/// Whether a task flapped: it ended within the flapping threshold of its last active state,
/// and was not restarted, killed or drained on purpose. Becoming PARTITIONED is not a start:
/// a task its partition policy reschedules is judged by when it began running, so a short
/// policy delay does not throttle its replacement.
fn flapped(task: &Task, ended_at: Timestamp, threshold_ms: i64) -> bool {
    let on_purpose = task.history.iter().any(|e| {
        matches!(
            e.status,
            ScheduleStatus::Restarting | ScheduleStatus::Killing | ScheduleStatus::Draining
        )
    });
    if on_purpose {
        return false;
    }
    let last_active = task.history.iter().rev().find(|e| {
        e.status.is_active() && e.status != ScheduleStatus::Partitioned && e.at <= ended_at
    });
    match last_active {
        Some(event) => ended_at.0 - event.at.0 < threshold_ms,
        None => false,
    }
}

/// Aurora's flapping penalty: walk the chain from the task that just ended through its
/// ancestors while each one flapped, doubling from the initial delay up to the maximum.
pub(crate) fn flapping_penalty(state: &ClusterState, ended: &Task, now: Timestamp) -> u64 {
    let settings = state.settings();
    let mut penalty = 0u64;
    let mut current = Some((ended.clone(), now));
    // Bounded: an ancestor chain cannot be longer than the number of tasks.
    let mut steps = 0usize;
    while let Some((task, ended_at)) = current {
        if steps > state.task_count()
            || !flapped(&task, ended_at, settings.flapping_task_threshold_ms)
        {
            break;
        }
        penalty = if penalty == 0 {
            settings.initial_flapping_task_delay_ms
        } else {
            penalty
                .saturating_mul(2)
                .min(settings.max_flapping_task_delay_ms)
        };
        steps += 1;
        current = task
            .ancestor
            .as_ref()
            .and_then(|id| state.task(id))
            .map(|ancestor| (ancestor.clone(), ancestor.last_change()));
    }
    penalty
}

/// Emits `TaskConfigStored` unless the state or this decision already holds the config; returns
/// its hash.
pub(crate) fn store_config(state: &ClusterState, out: &mut Out, config: &TaskConfig) -> ConfigHash {
    let hash = config.hash();
    let stored_now = out
        .decision
        .events
        .iter()
        .any(|e| matches!(&e.event, Event::TaskConfigStoredV2 { hash: h, .. } if *h == hash));
    if state.config(&hash).is_none() && !stored_now {
        out.emit(
            Event::TaskConfigStoredV2 {
                hash,
                config: Box::new(config.clone()),
            },
            None,
        );
    }
    hash
}

/// Creates one PENDING task for each instance.
pub(crate) fn create_pending_tasks(
    out: &mut Out,
    job: &JobKey,
    config: ConfigHash,
    instances: &BTreeSet<InstanceId>,
    cause: Option<EventId>,
) -> Vec<TaskId> {
    let mut created = Vec::with_capacity(instances.len());
    for &instance in instances {
        let id = out.ids().task_id(job, instance);
        out.emit(
            Event::TaskCreated {
                task: id.clone(),
                job: job.clone(),
                instance,
                config,
                status: ScheduleStatus::Pending,
                ancestor: None,
                failure_count: 0,
                penalty_ms: 0,
                message: None,
            },
            cause,
        );
        created.push(id);
    }
    created
}
