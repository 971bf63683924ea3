//! Rolling updates in the deterministic simulator, driven as the leader drives them (the
//! controller's turn after every step touching an updating job, and on every timer round).
//! Every scenario ends by checking that replaying the journal gives the same state, and that
//! the read model agrees with the write model on the update.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

use std::collections::BTreeMap;

use aurora_events::update::{InstanceRange, UpdateSettings, UpdateStrategy};
use aurora_events::{
    Actor, Capacity, Event, InstanceUpdateAction, JobKey, ScheduleStatus, TaskConfig, Tier,
    UpdateKey, UpdateStatus,
};
use aurora_projections::Queries;
use aurora_scheduler_core::commands::{PulseUpdate, StartUpdate, Steer, SteerUpdate};
use aurora_scheduler_core::update::{AUTO_PAUSE_MESSAGE, PULSE_TIMEOUT_MESSAGE};
use aurora_scheduler_core::{Command, Decision};
use aurora_system_tests::sim::{Script, Sim};

const JOB: &str = "www-data/prod/web";

fn capacity() -> Capacity {
    Capacity {
        cpus: 16.0,
        ram_mb: 65_536,
        disk_mb: 1_000_000,
        gpus: 0,
        port_ranges: vec![(31000, 31999)],
    }
}

fn config(ram_mb: u64) -> TaskConfig {
    let mut config = aurora_events::samples::task_config();
    config.sla_policy = None;
    config.job = JOB.parse::<JobKey>().unwrap();
    config.resources.cpus = 0.5;
    config.resources.ram_mb = ram_mb;
    config.resources.disk_mb = 128;
    config.constraints.clear();
    config.tier = Tier::Preemptible;
    config.is_service = true;
    config.max_task_failures = -1;
    config
}

fn settings(strategy: UpdateStrategy) -> UpdateSettings {
    UpdateSettings {
        strategy,
        max_per_instance_failures: 0,
        max_failed_instances: 0,
        min_wait_in_instance_running_ms: 2_000,
        rollback_on_failure: true,
        update_only_these_instances: Vec::new(),
        block_if_no_pulses_after_ms: None,
        sla_aware: false,
    }
}

fn queue(size: u32) -> UpdateSettings {
    settings(UpdateStrategy::Queue { group_size: size })
}

fn batch(size: u32) -> UpdateSettings {
    settings(UpdateStrategy::Batch {
        group_size: size,
        autopause_after_batch: false,
    })
}

/// A cluster with `instances` of the job running config(128).
fn running(seed: u64, instances: u32) -> Sim {
    let mut sim = Sim::new(seed);
    sim.add_agents(10, 2, &capacity());
    sim.create_job(config(128), instances, Script::RunForever)
        .unwrap();
    sim.run_for(5_000);
    assert_eq!(sim.count(ScheduleStatus::Running), instances as usize);
    sim
}

fn start(
    sim: &mut Sim,
    config: &TaskConfig,
    instances: u32,
    settings: UpdateSettings,
) -> UpdateKey {
    let decision = sim
        .submit(
            Actor::User("alice".into()),
            Command::StartUpdate(StartUpdate {
                job: config.job.clone(),
                config: Box::new(config.clone()),
                instances,
                settings,
                metadata: BTreeMap::new(),
                message: None,
            }),
        )
        .unwrap();
    decision.update.unwrap()
}

fn steer(sim: &mut Sim, steer: Steer) -> Decision {
    sim.submit(
        Actor::User("alice".into()),
        Command::SteerUpdate(SteerUpdate {
            job: JOB.parse().unwrap(),
            steer,
            message: Some(format!("{steer:?} by hand")),
        }),
    )
    .unwrap()
}

fn status(sim: &Sim, key: &UpdateKey) -> UpdateStatus {
    sim.state().update(key).unwrap().status
}

/// Runs until the update is terminal (at most `limit_ms` of simulated time).
fn run_until_done(sim: &mut Sim, key: &UpdateKey, limit_ms: i64) -> UpdateStatus {
    let deadline = sim.now().0 + limit_ms;
    while sim.now().0 < deadline && status(sim, key).is_active() {
        sim.run_for(1_000);
    }
    status(sim, key)
}

/// The update's instance actions, in journal order.
fn actions(sim: &Sim, key: &UpdateKey) -> Vec<(u32, InstanceUpdateAction)> {
    sim.journal()
        .iter()
        .filter_map(|e| match &e.event {
            Event::UpdateInstanceActioned {
                update,
                instance,
                action,
                ..
            } if update == key => Some((*instance, *action)),
            _ => None,
        })
        .collect()
}

/// The update's status changes (to, message), in journal order.
fn changes(sim: &Sim, key: &UpdateKey) -> Vec<(UpdateStatus, Option<String>)> {
    sim.journal()
        .iter()
        .filter_map(|e| match &e.event {
            Event::UpdateStateChanged {
                update,
                to,
                message,
                ..
            } if update == key => Some((*to, message.clone())),
            _ => None,
        })
        .collect()
}

/// The instances with `action`, in the order they got it.
fn with_action(sim: &Sim, key: &UpdateKey, action: InstanceUpdateAction) -> Vec<u32> {
    actions(sim, key)
        .into_iter()
        .filter(|(_, a)| *a == action)
        .map(|(i, _)| i)
        .collect()
}

/// The config each active instance runs.
fn configs(sim: &Sim) -> BTreeMap<u32, u64> {
    let job: JobKey = JOB.parse().unwrap();
    sim.state()
        .active_tasks_of_job(&job)
        .map(|t| {
            (
                t.instance,
                sim.state().config(&t.config).unwrap().resources.ram_mb,
            )
        })
        .collect()
}

fn assert_replay_and_views_agree(sim: &Sim, key: &UpdateKey) {
    assert_eq!(sim.replayed_digest(), sim.state().digest());
    let view = sim.views().update(key).map(|u| u.summary.status);
    assert_eq!(view, Some(status(sim, key)), "the read model agrees");
    sim.sweep();
}

#[test]
fn nine_instances_in_batches_of_three_roll_forward() {
    let mut sim = running(1, 9);
    let key = start(&mut sim, &config(256), 9, batch(3));
    assert_eq!(
        run_until_done(&mut sim, &key, 120_000),
        UpdateStatus::RolledForward
    );
    assert_eq!(
        with_action(&sim, &key, InstanceUpdateAction::InstanceUpdating),
        (0..9).collect::<Vec<_>>()
    );
    // Batches: no instance of a group starts before the previous group is all updated.
    let log = actions(&sim, &key);
    for group in [[3, 4, 5], [6, 7, 8]] {
        let first_start = log
            .iter()
            .position(|(i, a)| group.contains(i) && *a == InstanceUpdateAction::InstanceUpdating)
            .unwrap();
        let updated_before = log[..first_start]
            .iter()
            .filter(|(_, a)| *a == InstanceUpdateAction::InstanceUpdated)
            .count();
        assert_eq!(updated_before, group[0] as usize, "{log:?}");
    }
    assert!(configs(&sim).values().all(|ram| *ram == 256));
    assert_eq!(sim.count(ScheduleStatus::Running), 9);
    assert_replay_and_views_agree(&sim, &key);
}

#[test]
fn a_failing_instance_rolls_the_update_back_in_reverse_batches() {
    let mut sim = running(2, 9);
    let new = config(256);
    sim.script_config(new.hash(), Some(8), Script::NeverHealthy);
    let key = start(&mut sim, &new, 9, batch(3));
    assert_eq!(
        run_until_done(&mut sim, &key, 180_000),
        UpdateStatus::RolledBack
    );
    assert_eq!(
        with_action(&sim, &key, InstanceUpdateAction::InstanceUpdateFailed),
        vec![8]
    );
    assert_eq!(
        with_action(&sim, &key, InstanceUpdateAction::InstanceRollingBack),
        vec![8, 7, 6, 5, 4, 3, 2, 1, 0]
    );
    // Rolled back in (8,7,6)(5,4,3)(2,1,0): each group starts once the previous is rolled back.
    let log = actions(&sim, &key);
    for (group, before) in [([5, 4, 3], 3), ([2, 1, 0], 6)] {
        let first_start = log
            .iter()
            .position(|(i, a)| group.contains(i) && *a == InstanceUpdateAction::InstanceRollingBack)
            .unwrap();
        let rolled_back = log[..first_start]
            .iter()
            .filter(|(_, a)| *a == InstanceUpdateAction::InstanceRolledBack)
            .count();
        assert_eq!(rolled_back, before, "{log:?}");
    }
    let statuses: Vec<UpdateStatus> = changes(&sim, &key).into_iter().map(|(s, _)| s).collect();
    assert_eq!(
        statuses,
        vec![UpdateStatus::RollingBack, UpdateStatus::RolledBack]
    );
    assert_eq!(
        changes(&sim, &key)[0].1.as_deref(),
        Some("Latest failure: instance 8 exited.")
    );
    assert!(
        configs(&sim).values().all(|ram| *ram == 128),
        "{:?}",
        configs(&sim)
    );
    assert_replay_and_views_agree(&sim, &key);
}

#[test]
fn a_paused_update_stands_still_until_resumed() {
    let mut sim = running(3, 6);
    let key = start(&mut sim, &config(256), 6, queue(1));
    sim.run_for(3_000);
    steer(&mut sim, Steer::Pause);
    assert_eq!(status(&sim, &key), UpdateStatus::RollForwardPaused);
    let before = actions(&sim, &key).len();
    sim.run_for(30_000);
    // What was in flight may finish; nothing new starts.
    let started_while_paused = actions(&sim, &key)[before..]
        .iter()
        .filter(|(_, a)| *a == InstanceUpdateAction::InstanceUpdating)
        .count();
    assert_eq!(started_while_paused, 0);
    steer(&mut sim, Steer::Resume);
    assert_eq!(
        run_until_done(&mut sim, &key, 120_000),
        UpdateStatus::RolledForward
    );
    assert_eq!(
        changes(&sim, &key)[0],
        (
            UpdateStatus::RollForwardPaused,
            Some("Pause by hand".to_string())
        )
    );
    assert_replay_and_views_agree(&sim, &key);
}

#[test]
fn an_aborted_update_leaves_the_job_partly_updated() {
    let mut sim = running(4, 6);
    let key = start(&mut sim, &config(256), 6, queue(2));
    sim.run_for(6_000);
    steer(&mut sim, Steer::Abort);
    assert_eq!(status(&sim, &key), UpdateStatus::Aborted);
    let before = actions(&sim, &key).len();
    let running_before = configs(&sim);
    sim.run_for(30_000);
    assert_eq!(
        actions(&sim, &key).len(),
        before,
        "nothing happens after an abort"
    );
    // Instances not reached keep the old config; none is touched after the abort (an
    // instance killed for the update but not yet replaced stays down, as in Aurora).
    let after = configs(&sim);
    assert!(after.values().any(|ram| *ram == 128), "{after:?}");
    assert!(
        after
            .iter()
            .all(|(i, ram)| running_before.get(i) == Some(ram)),
        "{running_before:?} {after:?}"
    );
    assert_replay_and_views_agree(&sim, &key);
}

#[test]
fn a_coordinated_update_blocks_without_pulses_and_goes_on_with_them() {
    let mut sim = running(5, 12);
    let mut coordinated = queue(1);
    coordinated.block_if_no_pulses_after_ms = Some(60_000);
    coordinated.min_wait_in_instance_running_ms = 10_000;
    let key = start(&mut sim, &config(256), 12, coordinated);
    sim.run_for(20_000);
    assert_eq!(status(&sim, &key), UpdateStatus::RollForwardAwaitingPulse);
    assert!(
        actions(&sim, &key).is_empty(),
        "nothing moves without a pulse"
    );
    let pulse = |sim: &mut Sim| {
        sim.submit(
            Actor::User("coordinator".into()),
            Command::PulseUpdate(PulseUpdate {
                update: key.clone(),
            }),
        )
        .unwrap();
    };
    pulse(&mut sim);
    assert_eq!(status(&sim, &key), UpdateStatus::RollingForward);
    sim.run_for(10_000);
    assert!(!actions(&sim, &key).is_empty());
    // The pulses stop: a minute later it blocks again, saying why.
    sim.run_for(60_000);
    assert_eq!(status(&sim, &key), UpdateStatus::RollForwardAwaitingPulse);
    assert!(
        changes(&sim, &key)
            .iter()
            .any(|(s, m)| *s == UpdateStatus::RollForwardAwaitingPulse
                && m.as_deref() == Some(PULSE_TIMEOUT_MESSAGE))
    );
    // Pulsed every 30 s, it finishes.
    let deadline = sim.now().0 + 300_000;
    while status(&sim, &key).is_active() && sim.now().0 < deadline {
        pulse(&mut sim);
        sim.run_for(30_000);
    }
    assert_eq!(status(&sim, &key), UpdateStatus::RolledForward);
    assert_replay_and_views_agree(&sim, &key);
}

#[test]
fn a_variable_batch_update_pauses_itself_after_each_batch() {
    let mut sim = running(6, 6);
    let autopause = settings(UpdateStrategy::VariableBatch {
        group_sizes: vec![1, 2],
        autopause_after_batch: true,
    });
    let key = start(&mut sim, &config(256), 6, autopause);
    let mut groups = Vec::new();
    let mut seen = 0;
    for _ in 0..10 {
        let limit = sim.now().0 + 120_000;
        while sim.now().0 < limit && status(&sim, &key) == UpdateStatus::RollingForward {
            sim.run_for(1_000);
        }
        let started = with_action(&sim, &key, InstanceUpdateAction::InstanceUpdating);
        groups.push(started[seen..].to_vec());
        seen = started.len();
        match status(&sim, &key) {
            UpdateStatus::RollForwardPaused => {
                assert_eq!(
                    changes(&sim, &key).last().unwrap().1.as_deref(),
                    Some(AUTO_PAUSE_MESSAGE)
                );
                steer(&mut sim, Steer::Resume);
            }
            other => {
                assert_eq!(other, UpdateStatus::RolledForward);
                break;
            }
        }
    }
    // Groups of 1, then 2 (the last size repeats), a pause between each.
    assert_eq!(groups, vec![vec![0], vec![1, 2], vec![3, 4], vec![5]]);
    assert_replay_and_views_agree(&sim, &key);
}

#[test]
fn a_canary_updates_only_its_instance() {
    let mut sim = running(7, 3);
    let mut canary = queue(1);
    canary.update_only_these_instances = vec![InstanceRange { first: 0, last: 0 }];
    let key = start(&mut sim, &config(256), 3, canary);
    assert_eq!(
        run_until_done(&mut sim, &key, 60_000),
        UpdateStatus::RolledForward
    );
    assert_eq!(
        configs(&sim),
        BTreeMap::from([(0, 256), (1, 128), (2, 128)])
    );
    assert_replay_and_views_agree(&sim, &key);
}

#[test]
fn shrinking_kills_and_growing_adds_instances() {
    let mut sim = running(8, 3);
    let shrink = start(&mut sim, &config(128), 1, queue(1));
    assert_eq!(
        run_until_done(&mut sim, &shrink, 60_000),
        UpdateStatus::RolledForward
    );
    assert_eq!(configs(&sim), BTreeMap::from([(0, 128)]));
    assert_eq!(
        with_action(&sim, &shrink, InstanceUpdateAction::InstanceUpdated),
        vec![1, 2]
    );
    let grow = start(&mut sim, &config(128), 3, queue(2));
    assert_eq!(
        run_until_done(&mut sim, &grow, 60_000),
        UpdateStatus::RolledForward
    );
    assert_eq!(
        configs(&sim),
        BTreeMap::from([(0, 128), (1, 128), (2, 128)])
    );
    assert_eq!(sim.count(ScheduleStatus::Running), 3);
    assert_replay_and_views_agree(&sim, &grow);
}

/// `aurora why` follows cause links: a task the update replaced was KILLED because of its
/// KILLING, which the update's action on its instance caused, which alice's start caused.
#[test]
fn an_updated_task_s_death_leads_back_to_the_update_and_its_starter() {
    let mut sim = running(7, 3);
    let key = start(&mut sim, &config(256), 3, batch(1));
    assert_eq!(
        run_until_done(&mut sim, &key, 120_000),
        UpdateStatus::RolledForward
    );
    let by_id: BTreeMap<_, _> = sim.journal().iter().map(|e| (e.id, e)).collect();
    let chain = |start: &aurora_events::Envelope| {
        let mut chain = vec![start.clone()];
        while let Some(cause) = chain.last().and_then(|e| e.cause) {
            let Some(found) = by_id.get(&cause) else {
                panic!(
                    "cause {cause} of seq {} is not in the journal",
                    chain.last().unwrap().seq
                )
            };
            assert!(found.seq < chain.last().unwrap().seq, "causes come first");
            chain.push((*found).clone());
        }
        chain
    };
    let killed: Vec<_> = sim
        .journal()
        .iter()
        .filter(|e| {
            matches!(
                e.event,
                Event::TaskStateChanged {
                    to: ScheduleStatus::Killed,
                    ..
                }
            )
        })
        .collect();
    assert_eq!(killed.len(), 3, "each old task was killed");
    for death in killed {
        let chain = chain(death);
        let kinds: Vec<&str> = chain.iter().map(|e| e.event.kind().into()).collect();
        assert_eq!(
            kinds,
            [
                "task_state_changed",
                "task_state_changed",
                "update_instance_actioned",
                "update_started"
            ],
            "{chain:#?}"
        );
        assert!(matches!(
            &chain[1].event,
            Event::TaskStateChanged { to: ScheduleStatus::Killing, message: Some(m), .. }
                if m.contains("Killed for job update")
        ));
        assert!(matches!(
            &chain[2].event,
            Event::UpdateInstanceActioned { action: InstanceUpdateAction::InstanceUpdating, update, .. }
                if *update == key
        ));
        assert_eq!(chain[3].actor, Actor::User("alice".into()));
    }
    assert_replay_and_views_agree(&sim, &key);
}
