//! `explain_pending`: why tasks wait, from the write model alone, in the words of a scheduling
//! pass's pending reasons (and agreeing with them).

use std::collections::BTreeMap;

use aurora_events::config::{Constraint, ConstraintKind};
use aurora_events::{Event, ScheduleStatus, TaskId};
use aurora_scheduler_core::commands::Schedule;
use aurora_scheduler_core::{Command, Decision, WAITING_FOR_PASS, explain_pending};
use pretty_assertions::assert_eq;

use super::support::*;

/// Two 8-cpu agents (racks r1 and r0); a job of 16 one-cpu tasks (12 fit); a job pinned to a
/// rack no agent is in; a running task; a THROTTLED task.
fn cluster() -> (Given, Vec<TaskId>) {
    let wide = job("wide");
    let wide_config = config(&wide, 1.0, 128);
    let wide_tasks: Vec<TaskId> = (0..16).map(|i| task_id(&wide, i)).collect();
    let pinned = job("pinned");
    let mut pinned_config = config(&pinned, 0.5, 128);
    pinned_config.constraints.push(Constraint {
        name: "rack".into(),
        kind: ConstraintKind::Value {
            negated: false,
            values: vec!["r9".into()],
        },
    });
    let pinned_tasks: Vec<TaskId> = (0..2).map(|i| task_id(&pinned, i)).collect();
    let mut events = vec![agent_registered(1), agent_registered(2)];
    events.extend(job_created(&wide_config, &wide_tasks));
    events.extend(job_created(&pinned_config, &pinned_tasks));
    let mut asked = wide_tasks;
    asked.extend(pinned_tasks);
    (given(events), asked)
}

/// The pass's reason for every task it tried: its pending reason, or that it was placed.
fn reasons_of(decision: &Decision) -> BTreeMap<TaskId, String> {
    let mut reasons: BTreeMap<TaskId, String> = decision.pending.iter().cloned().collect();
    for event in decision.facts() {
        if let Event::TaskAssigned { task, .. } = event {
            reasons.insert(task, WAITING_FOR_PASS.to_string());
        }
    }
    reasons
}

#[test]
fn before_a_pass_the_reasons_are_the_pass_s_own() {
    let (cluster, asked) = cluster();
    let decision = cluster
        .when(Command::Schedule(Schedule::default()))
        .decision();
    assert_eq!(decision.pending.len(), 6, "4 of the wide job, 2 pinned");
    assert_eq!(
        explain_pending(&cluster.state, &asked),
        reasons_of(&decision)
    );
}

#[test]
fn after_a_pass_the_tasks_left_keep_the_pass_s_reasons() {
    let (mut cluster, _) = cluster();
    let decision = cluster
        .when(Command::Schedule(Schedule::default()))
        .decision();
    cluster.commit(&decision);
    let left: Vec<TaskId> = decision.pending.iter().map(|(t, _)| t.clone()).collect();
    let expected: BTreeMap<TaskId, String> = decision.pending.iter().cloned().collect();
    assert_eq!(explain_pending(&cluster.state, &left), expected);
    assert_eq!(
        expected.values().collect::<std::collections::BTreeSet<_>>(),
        ["Constraint not satisfied: rack", "Insufficient: cpus"]
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .iter()
            .collect()
    );
}

#[test]
fn limits_are_explained_like_the_pass() {
    let spread = job("spread");
    let mut config = config(&spread, 1.0, 128);
    config.constraints.push(Constraint {
        name: "host".into(),
        kind: ConstraintKind::Limit { limit: 1 },
    });
    let tasks: Vec<TaskId> = (0..3).map(|i| task_id(&spread, i)).collect();
    let mut events = vec![agent_registered(1), agent_registered(2)];
    events.extend(job_created(&config, &tasks));
    let mut cluster = given(events);
    let decision = cluster
        .when(Command::Schedule(Schedule::default()))
        .decision();
    assert_eq!(
        decision.pending,
        vec![(tasks[2].clone(), "Limit not satisfied: host".to_string())]
    );
    assert_eq!(
        explain_pending(&cluster.state, &tasks),
        reasons_of(&decision)
    );
    cluster.commit(&decision);
    assert_eq!(
        explain_pending(&cluster.state, &tasks),
        BTreeMap::from([(tasks[2].clone(), "Limit not satisfied: host".to_string())]),
        "placed tasks are not pending any more"
    );
}

#[test]
fn throttled_running_and_unknown_tasks() {
    let flappy = job("flappy");
    let config = config(&flappy, 1.0, 128);
    let throttled = task_id(&flappy, 0);
    let running_task = task_id(&flappy, 1);
    let mut events = vec![agent_registered(1)];
    events.extend(job_created(&config, std::slice::from_ref(&running_task)));
    events.extend(running(&flappy, &running_task, 1));
    events.push(Event::TaskCreated {
        task: throttled.clone(),
        job: flappy.clone(),
        instance: 0,
        config: config.hash(),
        status: ScheduleStatus::Throttled,
        ancestor: None,
        failure_count: 1,
        penalty_ms: 30_000,
        message: None,
    });
    let cluster = given(events);
    let asked = [throttled.clone(), running_task, TaskId::from_raw("nobody")];
    assert_eq!(
        explain_pending(&cluster.state, &asked),
        BTreeMap::from([(
            throttled,
            "Throttled for flapping until 2026-01-01 00:00:30.000 UTC".to_string()
        )])
    );
}
