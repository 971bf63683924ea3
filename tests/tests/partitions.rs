//! Partition awareness in the deterministic simulator: hollow agents that stop heartbeating,
//! under the three kinds of policy (none: Aurora's default; no rescheduling; a delay), and an
//! agent that comes back within the delay and gets its tasks back. Every invariant is checked
//! after every commit.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

use aurora_events::config::PartitionPolicy;
use aurora_events::{AgentId, Capacity, Event, JobKey, ScheduleStatus, TaskConfig, TaskId, Tier};
use aurora_system_tests::sim::{Script, Sim};

const SECOND: i64 = 1_000;

/// Two agents and a one-instance service under `policy`, running for six minutes.
fn running(policy: Option<PartitionPolicy>) -> (Sim, JobKey, TaskId, AgentId) {
    let mut sim = Sim::new(11);
    sim.add_agents(
        2,
        2,
        &Capacity {
            cpus: 8.0,
            ram_mb: 16_384,
            disk_mb: 100_000,
            gpus: 0,
            port_ranges: vec![(31000, 31999)],
        },
    );
    let job: JobKey = "www-data/prod/web".parse().unwrap();
    let mut config: TaskConfig = aurora_events::samples::task_config();
    config.sla_policy = None;
    config.job = job.clone();
    config.tier = Tier::Preemptible;
    config.constraints.clear();
    config.partition_policy = policy;
    sim.create_job(config, 1, Script::RunForever).unwrap();
    // Long enough that losing it is not flapping (a replacement would be throttled).
    sim.run_for(6 * 60 * SECOND);
    let task = sim.state().active_tasks_of_job(&job).next().unwrap();
    assert_eq!(task.status, ScheduleStatus::Running);
    let agent = task.assignment.as_ref().unwrap().agent.clone();
    let id = task.id.clone();
    (sim, job, id, agent)
}

fn status(sim: &Sim, task: &TaskId) -> Option<ScheduleStatus> {
    sim.state().task(task).map(|t| t.status)
}

/// The job's tasks ever created.
fn created(sim: &Sim, job: &JobKey) -> usize {
    sim.journal()
        .iter()
        .filter(|e| matches!(&e.event, Event::TaskCreated { job: j, .. } if j == job))
        .count()
}

fn replacement_runs_elsewhere(sim: &Sim, job: &JobKey, lost_agent: &AgentId) {
    let active: Vec<_> = sim.state().active_tasks_of_job(job).collect();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].status, ScheduleStatus::Running);
    assert_ne!(&active[0].assignment.as_ref().unwrap().agent, lost_agent);
}

#[test]
fn without_a_policy_the_tasks_are_lost_and_replaced_at_once() {
    let (mut sim, job, task, agent) = running(None);
    sim.lose_agent(&agent).unwrap();
    assert_eq!(status(&sim, &task), Some(ScheduleStatus::Lost));
    sim.run_for(10 * SECOND);
    replacement_runs_elsewhere(&sim, &job, &agent);
    assert_eq!(sim.replayed_digest(), sim.state().digest());
}

#[test]
fn without_rescheduling_the_tasks_wait_for_their_agent_and_get_it_back() {
    let (mut sim, job, task, agent) = running(Some(PartitionPolicy {
        reschedule: false,
        delay_secs: 0,
    }));
    sim.lose_agent(&agent).unwrap();
    assert_eq!(status(&sim, &task), Some(ScheduleStatus::Partitioned));
    sim.run_for(3_600 * SECOND);
    assert_eq!(status(&sim, &task), Some(ScheduleStatus::Partitioned));
    assert_eq!(created(&sim, &job), 1, "nothing replaced it");
    sim.revive_agent(&agent).unwrap();
    assert_eq!(status(&sim, &task), Some(ScheduleStatus::Running));
    assert_eq!(sim.replayed_digest(), sim.state().digest());
}

#[test]
fn a_delay_reschedules_after_it_and_an_agent_back_within_it_keeps_its_tasks() {
    // Back within the delay: the same task runs on, nothing is created.
    let policy = Some(PartitionPolicy {
        reschedule: true,
        delay_secs: 120,
    });
    let (mut sim, job, task, agent) = running(policy);
    sim.lose_agent(&agent).unwrap();
    assert_eq!(status(&sim, &task), Some(ScheduleStatus::Partitioned));
    sim.run_for(60 * SECOND);
    sim.revive_agent(&agent).unwrap();
    sim.run_for(120 * SECOND);
    assert_eq!(status(&sim, &task), Some(ScheduleStatus::Running));
    assert_eq!(created(&sim, &job), 1);

    // Not back: LOST once the delay has passed, and replaced elsewhere.
    let (mut sim, job, task, agent) = running(policy);
    sim.lose_agent(&agent).unwrap();
    sim.run_for(110 * SECOND);
    assert_eq!(status(&sim, &task), Some(ScheduleStatus::Partitioned));
    sim.run_for(20 * SECOND);
    assert_eq!(status(&sim, &task), Some(ScheduleStatus::Lost));
    sim.run_for(10 * SECOND);
    replacement_runs_elsewhere(&sim, &job, &agent);
    assert_eq!(created(&sim, &job), 2);
    assert_eq!(sim.replayed_digest(), sim.state().digest());
}
