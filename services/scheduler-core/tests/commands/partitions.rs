//! Partition awareness: a lost agent's tasks under a partition policy go PARTITIONED, become
//! LOST (and are rescheduled) once the policy's delay has passed — or never, when it says not
//! to reschedule — and come back to RUNNING when their agent returns running them.

use std::collections::BTreeSet;

use aurora_events::config::PartitionPolicy;
use aurora_events::{Event, ScheduleStatus, TaskConfig, Timestamp};
use aurora_scheduler_core::Command;
use aurora_scheduler_core::commands::{
    LoseAgent, NOT_FOUND_ON_AGENT, RECONCILED, RegisterAgent, Tick,
};

use super::support::*;

const LOST_AT: i64 = 10 * 60_000;

fn with_policy(policy: Option<PartitionPolicy>) -> TaskConfig {
    let mut config = config(&job("web"), 1.0, 128);
    config.partition_policy = policy;
    config
}

/// Agent 1 runs the job's one task; at `LOST_AT` it is lost.
fn lost(config: &TaskConfig) -> (Given, aurora_events::TaskId) {
    let task = task_id(&config.job, 0);
    let mut cluster = given(one_running(config, &task)).at(LOST_AT);
    let decision = cluster
        .when(Command::LoseAgent(LoseAgent {
            agent: agent(1),
            reason: "missed 3 heartbeats".into(),
        }))
        .decision();
    cluster.commit(&decision);
    (cluster, task)
}

fn status(cluster: &Given, task: &aurora_events::TaskId) -> Option<ScheduleStatus> {
    cluster.state.task(task).map(|t| t.status)
}

fn tick(cluster: &Given, since_after_t0: i64) -> aurora_scheduler_core::Decision {
    cluster
        .when(Command::Tick(Tick {
            since: Timestamp(T0 + since_after_t0),
        }))
        .decision()
}

#[test]
fn without_a_policy_a_lost_agents_tasks_are_lost_at_once_as_in_aurora() {
    let (cluster, task) = lost(&with_policy(None));
    assert_eq!(status(&cluster, &task), Some(ScheduleStatus::Lost));
}

#[test]
fn a_delayed_policy_partitions_then_reschedules_after_the_delay() {
    let config = with_policy(Some(PartitionPolicy {
        reschedule: true,
        delay_secs: 120,
    }));
    let (cluster, task) = lost(&config);
    assert_eq!(status(&cluster, &task), Some(ScheduleStatus::Partitioned));
    // A minute on: still waiting for the agent.
    let waiting = tick(&cluster.at(LOST_AT + 60_000), LOST_AT + 59_000);
    assert!(
        !waiting
            .facts()
            .iter()
            .any(|e| matches!(e, Event::TaskStateChanged { task: t, .. } if *t == task)),
        "{:?}",
        waiting.facts()
    );
    // Past the delay: LOST, and a replacement.
    let expired = tick(&cluster.at(LOST_AT + 120_000), LOST_AT + 119_000);
    let facts = expired.facts();
    assert!(
        facts.iter().any(|e| matches!(e,
            Event::TaskStateChanged { task: t, from: ScheduleStatus::Partitioned, to: ScheduleStatus::Lost, message: Some(m), .. }
                if *t == task && m.contains("Partitioned for 120 s"))),
        "{facts:?}"
    );
    assert_eq!(created_tasks(&expired).len(), 1, "one replacement");
}

#[test]
fn a_policy_without_rescheduling_waits_for_the_agent_forever() {
    let config = with_policy(Some(PartitionPolicy {
        reschedule: false,
        delay_secs: 0,
    }));
    let (cluster, task) = lost(&config);
    assert_eq!(status(&cluster, &task), Some(ScheduleStatus::Partitioned));
    let day = 24 * 60 * 60_000;
    let decision = tick(&cluster.at(LOST_AT + day), LOST_AT);
    assert!(decision.facts().is_empty(), "{:?}", decision.facts());
}

#[test]
fn an_agent_that_returns_running_its_tasks_gets_them_back() {
    let config = with_policy(Some(PartitionPolicy {
        reschedule: true,
        delay_secs: 300,
    }));
    let (cluster, task) = lost(&config);
    let back = |running: BTreeSet<aurora_events::TaskId>| {
        cluster
            .at(LOST_AT + 60_000)
            .when(Command::RegisterAgent(RegisterAgent {
                running,
                ..registration(1)
            }))
            .decision()
    };
    let returned = back(BTreeSet::from([task.clone()]));
    assert!(
        returned.facts().contains(&changed(
            &config.job,
            &task,
            ScheduleStatus::Partitioned,
            ScheduleStatus::Running,
            Some(RECONCILED),
        )),
        "{:?}",
        returned.facts()
    );
    // Back without it: it is LOST (and rescheduled) at once.
    let without = back(BTreeSet::new());
    assert!(
        without.facts().contains(&changed(
            &config.job,
            &task,
            ScheduleStatus::Partitioned,
            ScheduleStatus::Lost,
            Some(NOT_FOUND_ON_AGENT),
        )),
        "{:?}",
        without.facts()
    );
}
