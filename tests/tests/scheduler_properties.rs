//! Property tests of the scheduler core through the simulator: random clusters, random jobs
//! with random failure scripts, random kills and agent losses. The simulator checks, after every
//! commit, that no instance has two active tasks, no agent is over-committed, no role's
//! production tasks exceed its quota, and no preemption goes against the tiers.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

use std::collections::BTreeSet;

use aurora_events::{Actor, Capacity, JobKey, ResourceAggregate, Tier};
use aurora_scheduler_core::Command;
use aurora_scheduler_core::commands::{KillTasks, RestartInstances, SetQuota};
use aurora_system_tests::sim::{Script, Sim};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct JobSpec {
    cpus_tenths: u32,
    instances: u32,
    production: bool,
    script: u8,
}

fn job_spec() -> impl Strategy<Value = JobSpec> {
    (1u32..30, 1u32..12, any::<bool>(), 0u8..4).prop_map(
        |(cpus_tenths, instances, production, script)| JobSpec {
            cpus_tenths,
            instances,
            production,
            script,
        },
    )
}

#[derive(Debug, Clone)]
enum Disturbance {
    Kill { job: usize, instance: u32 },
    LoseAgent(usize),
    Restart { job: usize },
}

fn disturbance() -> impl Strategy<Value = Disturbance> {
    prop_oneof![
        (0usize..8, 0u32..12).prop_map(|(job, instance)| Disturbance::Kill { job, instance }),
        (0usize..12).prop_map(Disturbance::LoseAgent),
        (0usize..8).prop_map(|job| Disturbance::Restart { job }),
    ]
}

fn script(kind: u8) -> Script {
    match kind {
        0 => Script::RunForever,
        1 => Script::FinishAfterAWhile,
        2 => Script::FailAfter { after_ms: 3_000 },
        _ => Script::Flaky { fail_percent: 30 },
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_under_random_load(
        seed in any::<u64>(),
        agents in 3u32..12,
        quota_cpus in 0u32..20,
        jobs in proptest::collection::vec(job_spec(), 1..8),
        disturbances in proptest::collection::vec(disturbance(), 0..10),
    ) {
        let mut sim = Sim::new(seed);
        sim.add_agents(agents, 3, &Capacity { cpus: 4.0, ram_mb: 16_384, disk_mb: 100_000, gpus: 0, port_ranges: vec![(31000, 31099)] });
        let role = aurora_events::Identifier::new("team").unwrap();
        let quota = ResourceAggregate { cpus: f64::from(quota_cpus), ram_mb: 1_000_000, disk_mb: 1_000_000 };
        sim.submit(Actor::User("root".into()), Command::SetQuota(SetQuota { role, quota })).unwrap();
        let mut keys = Vec::new();
        for (i, spec) in jobs.iter().enumerate() {
            let mut config = aurora_events::samples::task_config();
            config.sla_policy = None;
            config.job = format!("team/prod/job{i}").parse::<JobKey>().unwrap();
            config.resources.cpus = f64::from(spec.cpus_tenths) / 10.0;
            config.resources.ram_mb = 256;
            config.resources.disk_mb = 256;
            config.resources.ports = BTreeSet::from(["http".to_string()]);
            config.constraints.clear();
            config.tier = if spec.production { Tier::Preferred } else { Tier::Preemptible };
            config.is_service = spec.script != 1;
            config.max_task_failures = 3;
            config.priority = i as i32;
            keys.push(config.job.clone());
            // Rejections (quota) are part of the game; invariants are checked either way.
            let _ = sim.create_job(config, spec.instances, script(spec.script));
        }
        sim.run_for(20_000);
        for disturbance in disturbances {
            match disturbance {
                Disturbance::Kill { job, instance } => {
                    if let Some(key) = keys.get(job) {
                        let _ = sim.submit(
                            Actor::User("alice".into()),
                            Command::KillTasks(KillTasks { job: key.clone(), instances: Some(BTreeSet::from([instance])), message: None }),
                        );
                    }
                }
                Disturbance::LoseAgent(n) => {
                    if let Some(agent) = sim.state().agents().keys().nth(n).cloned() {
                        let _ = sim.lose_agent(&agent);
                    }
                }
                Disturbance::Restart { job } => {
                    if let Some(key) = keys.get(job) {
                        let _ = sim.submit(Actor::User("alice".into()), Command::RestartInstances(RestartInstances { job: key.clone(), instances: None }));
                    }
                }
            }
            sim.run_for(5_000);
        }
        sim.run_for(4 * 60_000);
        prop_assert_eq!(sim.replayed_digest(), sim.state().digest());
    }
}
