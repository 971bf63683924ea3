//! Scenarios run in the deterministic simulator. Every invariant is checked after every commit
//! (see `aurora_system_tests::sim::invariants`); each scenario also checks that folding its
//! journal from seq 1 gives a state with the same digest as the live one.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

use aurora_events::{
    Actor, Capacity, Event, JobKey, ResourceAggregate, ScheduleStatus, TaskConfig, Tier,
};
use aurora_scheduler_core::commands::SetQuota;
use aurora_scheduler_core::scheduling::BackoffSettings;
use aurora_scheduler_core::{Command, Rejection};
use aurora_system_tests::sim::{Script, Sim};

fn capacity(cpus: f64) -> Capacity {
    Capacity {
        cpus,
        ram_mb: 65_536,
        disk_mb: 1_000_000,
        gpus: 0,
        port_ranges: vec![(31000, 31999)],
    }
}

fn config(job: &str, cpus: f64, tier: Tier, is_service: bool) -> TaskConfig {
    let mut config = aurora_events::samples::task_config();
    config.sla_policy = None;
    config.job = job.parse::<JobKey>().unwrap();
    config.resources.cpus = cpus;
    config.resources.ram_mb = 512;
    config.resources.disk_mb = 1024;
    config.constraints.clear();
    config.tier = tier;
    config.is_service = is_service;
    config.max_task_failures = -1;
    config
}

fn assert_replay_matches(sim: &Sim) {
    assert_eq!(
        sim.replayed_digest(),
        sim.state().digest(),
        "replaying the journal must rebuild the same state"
    );
    // A checkpoint of the state decodes to the same state.
    let bytes = sim.state().to_checkpoint();
    let restored = aurora_scheduler_core::ClusterState::from_checkpoint(&bytes, Default::default())
        .expect("checkpoint decodes");
    assert_eq!(
        restored.digest(),
        sim.state().digest(),
        "a checkpoint must restore the same state"
    );
}

fn thousand_running(seed: u64) -> Sim {
    let mut sim = Sim::new(seed);
    sim.add_agents(100, 10, &capacity(16.0));
    sim.create_job(
        config("www-data/prod/web", 1.0, Tier::Preemptible, true),
        1000,
        Script::RunForever,
    )
    .unwrap();
    sim.run_for(10_000);
    sim
}

#[test]
fn a_thousand_instances_on_a_hundred_agents_all_run() {
    let sim = thousand_running(1);
    assert_eq!(
        sim.count(ScheduleStatus::Running),
        1000,
        "{:?}",
        sim.census()
    );
    // First fit with overhead: 16 cpus hold 12 tasks of 1 + 0.25 cpus, so 84 agents are used.
    let used = sim
        .state()
        .agents()
        .keys()
        .filter(|a| sim.state().tasks_on_agent(a).next().is_some())
        .count();
    assert_eq!(used, 84);
    assert_replay_matches(&sim);
}

#[test]
fn tasks_of_lost_agents_are_rescheduled_elsewhere() {
    let mut sim = thousand_running(2);
    let victims: Vec<_> = sim.state().agents().keys().take(10).cloned().collect();
    let held: usize = victims
        .iter()
        .map(|a| sim.state().tasks_on_agent(a).count())
        .sum();
    assert_eq!(held, 120);
    for agent in &victims {
        sim.lose_agent(agent).unwrap();
    }
    assert_eq!(sim.count(ScheduleStatus::Lost), 120);
    assert_eq!(sim.count(ScheduleStatus::Running), 880);
    // They ran only seconds before the loss, which counts as flapping: the replacements wait
    // out a 30 s penalty (THROTTLED) before they are placed.
    sim.run_for(10_000);
    assert_eq!(
        sim.count(ScheduleStatus::Throttled),
        120,
        "{:?}",
        sim.census()
    );
    sim.run_for(30_000);
    assert_eq!(
        sim.count(ScheduleStatus::Running),
        1000,
        "{:?}",
        sim.census()
    );
    for agent in &victims {
        assert_eq!(
            sim.state().tasks_on_agent(agent).count(),
            0,
            "nothing placed on lost {agent}"
        );
    }
    assert_replay_matches(&sim);
}

#[test]
fn flapping_tasks_are_throttled_with_growing_penalties() {
    let mut sim = Sim::new(3);
    sim.add_agents(5, 1, &capacity(8.0));
    sim.create_job(
        config("www-data/prod/crashy", 1.0, Tier::Preemptible, true),
        2,
        Script::FailAfter { after_ms: 2_000 },
    )
    .unwrap();
    sim.run_for(10 * 60_000);
    let penalties: Vec<u64> = sim
        .journal()
        .iter()
        .filter_map(|e| match &e.event {
            Event::TaskCreated {
                job, penalty_ms, ..
            } if job.name.as_str() == "crashy" => Some(*penalty_ms),
            _ => None,
        })
        .collect();
    // Each instance: created (0), then 30 s, 60 s, 120 s, 240 s, capped at 300 s.
    for expected in [30_000, 60_000, 120_000, 240_000, 300_000] {
        assert!(
            penalties.contains(&expected),
            "a penalty of {expected} ms in {penalties:?}"
        );
    }
    assert!(penalties.iter().all(|p| *p <= 300_000));
    assert!(
        sim.count(ScheduleStatus::Throttled) > 0
            || sim.count(ScheduleStatus::Pending) + sim.count(ScheduleStatus::Running) > 0
    );
    assert_replay_matches(&sim);
}

#[test]
fn quota_is_enforced_for_production_jobs() {
    let mut sim = Sim::new(4);
    sim.add_agents(10, 2, &capacity(8.0));
    let role = aurora_events::Identifier::new("www-data").unwrap();
    let quota = ResourceAggregate {
        cpus: 10.0,
        ram_mb: 100_000,
        disk_mb: 100_000,
    };
    sim.submit(
        Actor::User("root".into()),
        Command::SetQuota(SetQuota { role, quota }),
    )
    .unwrap();
    sim.create_job(
        config("www-data/prod/api", 1.0, Tier::Preferred, true),
        8,
        Script::RunForever,
    )
    .unwrap();
    let over = sim.create_job(
        config("www-data/prod/extra", 1.0, Tier::Preferred, true),
        3,
        Script::RunForever,
    );
    assert!(
        matches!(over, Err(Rejection::InsufficientQuota(_))),
        "{over:?}"
    );
    sim.create_job(
        config("www-data/prod/extra", 1.0, Tier::Preferred, true),
        2,
        Script::RunForever,
    )
    .unwrap();
    // Non-production work is not limited by quota.
    sim.create_job(
        config("www-data/prod/batch", 1.0, Tier::Preemptible, false),
        20,
        Script::FinishAfterAWhile,
    )
    .unwrap();
    sim.run_for(120_000);
    assert_eq!(
        sim.state()
            .tasks()
            .filter(|t| t.job.name.as_str() != "batch" && t.status == ScheduleStatus::Running)
            .count(),
        10
    );
    assert_replay_matches(&sim);
}

#[test]
fn production_tasks_preempt_preemptible_ones_when_the_cluster_is_full() {
    let mut sim = Sim::new(5);
    sim.add_agents(10, 2, &capacity(4.0));
    sim.create_job(
        config("www-data/prod/filler", 1.0, Tier::Preemptible, true),
        30,
        Script::RunForever,
    )
    .unwrap();
    sim.run_for(5_000);
    assert_eq!(sim.count(ScheduleStatus::Running), 30);
    let role = aurora_events::Identifier::new("www-data").unwrap();
    let quota = ResourceAggregate {
        cpus: 10.0,
        ram_mb: 100_000,
        disk_mb: 100_000,
    };
    sim.submit(
        Actor::User("root".into()),
        Command::SetQuota(SetQuota { role, quota }),
    )
    .unwrap();
    sim.create_job(
        config("www-data/prod/important", 1.0, Tier::Preferred, true),
        5,
        Script::RunForever,
    )
    .unwrap();
    sim.run_for(60_000);
    let important = |sim: &Sim| {
        sim.state()
            .tasks()
            .filter(|t| t.job.name.as_str() == "important" && t.status == ScheduleStatus::Running)
            .count()
    };
    assert_eq!(
        important(&sim),
        0,
        "no preemption before the 3 minute delay"
    );
    sim.run_for(4 * 60_000);
    assert_eq!(important(&sim), 5, "{:?}", sim.census());
    let preempted = sim
        .journal()
        .iter()
        .filter(|e| {
            matches!(
                &e.event,
                Event::TaskStateChanged {
                    to: ScheduleStatus::Preempting,
                    ..
                }
            )
        })
        .count();
    assert_eq!(preempted, 5, "one victim per preemptor");
    assert_replay_matches(&sim);
}

#[test]
fn a_backlog_backs_off_and_is_placed_once_there_is_room() {
    let mut sim = Sim::new(6);
    // Passes as the leader runs them, trying at most 20 tasks each.
    sim.use_backoff(BackoffSettings {
        max_tasks_per_pass: 20,
        ..BackoffSettings::default()
    });
    // Room for 3 tasks of 1 cpu (plus overhead) on each agent: 30 of the 60.
    sim.add_agents(10, 2, &capacity(4.0));
    sim.create_job(
        config("www-data/prod/big", 1.0, Tier::Preemptible, true),
        60,
        Script::RunForever,
    )
    .unwrap();
    sim.run_for(10_000);
    assert_eq!(sim.count(ScheduleStatus::Running), 30, "{:?}", sim.census());
    assert_eq!(sim.count(ScheduleStatus::Pending), 30);
    let backoff = sim.backoff();
    assert_eq!(backoff.len(), 1, "the group that does not fit backs off");
    // It waits longer after each pass that leaves it unplaced (1, 2, 4, 8, 16 s...): over the
    // next 30 s a handful of passes try it, where every pass would try 20 tasks without.
    let before = sim.tasks_tried();
    sim.run_for(30_000);
    let tried = sim.tasks_tried() - before;
    assert!(
        (20..=3 * 20).contains(&tried),
        "{tried} tasks tried in 30 passes"
    );
    // Room appears: within the longest penalty (60 s) the group is tried again and placed.
    sim.add_agents(10, 2, &capacity(4.0));
    sim.run_for(65_000);
    assert_eq!(sim.count(ScheduleStatus::Running), 60, "{:?}", sim.census());
    assert!(sim.backoff().is_empty());
    assert_replay_matches(&sim);
}
