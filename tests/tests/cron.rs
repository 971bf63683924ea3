//! Cron in the deterministic simulator, with the leader's own clockwork: firings on the
//! minute, KILL_EXISTING with tasks that take their time to die (exactly one launch once they
//! are gone), CANCEL_NEW, a start, a deschedule, and a leader restarted between a firing's
//! kill and its launch. Every invariant is checked after every commit.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

use aurora_events::event::{CronCollisionPolicy, CronOutcome};
use aurora_events::{Capacity, Event, JobKey, ScheduleStatus, TaskConfig, Tier};
use aurora_scheduler_core::Command;
use aurora_scheduler_core::commands::{DescheduleCronJob, StartCronJob};
use aurora_system_tests::sim::{START_MS, Script, Sim};

const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;

fn sim() -> (Sim, JobKey, TaskConfig) {
    let mut sim = Sim::new(7);
    sim.add_agents(
        4,
        2,
        &Capacity {
            cpus: 8.0,
            ram_mb: 16_384,
            disk_mb: 100_000,
            gpus: 0,
            port_ranges: vec![(31000, 31999)],
        },
    );
    let job: JobKey = "www-data/prod/nightly".parse().unwrap();
    let mut config = aurora_events::samples::task_config();
    config.sla_policy = None;
    config.job = job.clone();
    config.is_service = false;
    config.tier = Tier::Preemptible;
    config.constraints.clear();
    config.resources.ports.clear();
    (sim, job, config)
}

/// The job's trigger outcomes so far, each with its time (ms after the start).
fn outcomes(sim: &Sim, job: &JobKey) -> Vec<(i64, CronOutcome)> {
    sim.journal()
        .iter()
        .filter_map(|e| match &e.event {
            Event::CronTriggered { job: j, outcome } if j == job => {
                Some((e.at.0 - START_MS, *outcome))
            }
            _ => None,
        })
        .collect()
}

fn kinds(sim: &Sim, job: &JobKey) -> Vec<CronOutcome> {
    outcomes(sim, job).into_iter().map(|(_, o)| o).collect()
}

fn running(sim: &Sim, job: &JobKey) -> usize {
    sim.state()
        .active_tasks_of_job(job)
        .filter(|t| t.status == ScheduleStatus::Running)
        .count()
}

fn assert_replays(sim: &Sim) {
    assert_eq!(sim.replayed_digest(), sim.state().digest());
}

#[test]
fn a_firing_with_no_active_tasks_launches_every_instance_on_the_minute() {
    let (mut sim, job, config) = sim();
    sim.schedule_cron(
        config,
        2,
        "*/5 * * * *",
        CronCollisionPolicy::KillExisting,
        Script::FinishAfterAWhile,
    )
    .unwrap();
    sim.run_for(4 * MINUTE + 50 * SECOND);
    assert!(outcomes(&sim, &job).is_empty());
    assert_eq!(sim.state().active_tasks_of_job(&job).count(), 0);
    sim.run_for(20 * SECOND);
    let fired = outcomes(&sim, &job);
    assert_eq!(kinds(&sim, &job), [CronOutcome::Launched]);
    // On the round after 00:05:00 (rounds are 500 ms apart here).
    assert!(
        (5 * MINUTE..5 * MINUTE + SECOND).contains(&fired[0].0),
        "{fired:?}"
    );
    assert_eq!(running(&sim, &job), 2);
    assert_replays(&sim);
}

#[test]
fn kill_existing_waits_for_slow_deaths_and_launches_exactly_once() {
    let (mut sim, job, config) = sim();
    sim.set_kill_delay(90 * SECOND);
    sim.schedule_cron(
        config,
        2,
        "* * * * *",
        CronCollisionPolicy::KillExisting,
        Script::RunForever,
    )
    .unwrap();
    sim.run_for(MINUTE + 30 * SECOND);
    assert_eq!(running(&sim, &job), 2);
    // 00:02: the running tasks are killed; they take 90 s to die.
    sim.run_for(40 * SECOND);
    assert_eq!(
        kinds(&sim, &job),
        [CronOutcome::Launched, CronOutcome::KillingExisting]
    );
    assert_eq!(sim.count(ScheduleStatus::Killing), 2);
    // 00:03: they are still dying, so that run is skipped; at 00:03:30 they are gone and the
    // owed launch follows at once.
    sim.run_for(MINUTE + 25 * SECOND);
    let fired = outcomes(&sim, &job);
    assert_eq!(
        kinds(&sim, &job),
        [
            CronOutcome::Launched,
            CronOutcome::KillingExisting,
            CronOutcome::Skipped,
            CronOutcome::Launched,
        ],
        "{fired:?}"
    );
    let relaunch = fired[3].0;
    assert!(
        (3 * MINUTE + 30 * SECOND..3 * MINUTE + 32 * SECOND).contains(&relaunch),
        "{fired:?}"
    );
    assert_eq!(sim.state().active_tasks_of_job(&job).count(), 2);
    assert_replays(&sim);
}

#[test]
fn cancel_new_skips_runs_while_the_last_one_runs() {
    let (mut sim, job, config) = sim();
    sim.schedule_cron(
        config,
        1,
        "* * * * *",
        CronCollisionPolicy::CancelNew,
        Script::RunForever,
    )
    .unwrap();
    sim.run_for(3 * MINUTE + 30 * SECOND);
    assert_eq!(
        kinds(&sim, &job),
        [
            CronOutcome::Launched,
            CronOutcome::Skipped,
            CronOutcome::Skipped
        ]
    );
    // The one task still runs: nothing killed, nothing added.
    let created = sim
        .journal()
        .iter()
        .filter(|e| matches!(&e.event, Event::TaskCreated { job: j, .. } if *j == job))
        .count();
    assert_eq!(created, 1);
    assert_eq!(running(&sim, &job), 1);
    assert_replays(&sim);
}

#[test]
fn a_start_runs_now_and_a_deschedule_stops_the_firings_but_not_the_tasks() {
    let (mut sim, job, config) = sim();
    sim.schedule_cron(
        config,
        2,
        "0 3 * * *",
        CronCollisionPolicy::KillExisting,
        Script::RunForever,
    )
    .unwrap();
    sim.run_for(10 * SECOND);
    sim.submit(
        aurora_events::Actor::User("alice".into()),
        Command::StartCronJob(StartCronJob { job: job.clone() }),
    )
    .unwrap();
    sim.run_for(5 * SECOND);
    assert_eq!(kinds(&sim, &job), [CronOutcome::Launched]);
    assert_eq!(running(&sim, &job), 2);

    sim.submit(
        aurora_events::Actor::User("alice".into()),
        Command::DescheduleCronJob(DescheduleCronJob { job: job.clone() }),
    )
    .unwrap();
    // Past 03:00 the next day: no firing; the tasks run on.
    sim.run_for(28 * 60 * MINUTE);
    assert_eq!(kinds(&sim, &job), [CronOutcome::Launched]);
    assert_eq!(running(&sim, &job), 2);
    assert_replays(&sim);
}

#[test]
fn a_leader_restarted_between_the_kill_and_the_launch_neither_repeats_nor_loses_it() {
    let (mut sim, job, config) = sim();
    sim.set_kill_delay(90 * SECOND);
    sim.schedule_cron(
        config,
        2,
        "* * * * *",
        CronCollisionPolicy::KillExisting,
        Script::RunForever,
    )
    .unwrap();
    // Launched at 00:01, killing at 00:02.
    sim.run_for(2 * MINUTE + 30 * SECOND);
    assert_eq!(
        kinds(&sim, &job),
        [CronOutcome::Launched, CronOutcome::KillingExisting]
    );
    // The leader goes at 00:02:30; a new one takes over from the journal.
    sim.restart_leader();
    assert!(sim.state().cron_job(&job).unwrap().launch_owed);
    sim.run_for(10 * SECOND);
    assert_eq!(
        kinds(&sim, &job),
        [CronOutcome::Launched, CronOutcome::KillingExisting],
        "the 00:02 firing is not repeated"
    );
    // The tasks die at 00:03:30; the 00:03 run is skipped meanwhile; one launch follows.
    sim.run_for(MINUTE + 5 * SECOND);
    assert_eq!(
        kinds(&sim, &job),
        [
            CronOutcome::Launched,
            CronOutcome::KillingExisting,
            CronOutcome::Skipped,
            CronOutcome::Launched,
        ]
    );
    assert_eq!(sim.state().active_tasks_of_job(&job).count(), 2);
    assert_replays(&sim);
}
