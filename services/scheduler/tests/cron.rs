//! Cron on the leader's clock, in process: a schedule fires when it comes due, KILL_EXISTING
//! kills the running task and launches once it is gone, and a scheduler restarted between
//! the kill and the launch neither repeats the firing nor loses the launch.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

mod in_process;

use std::sync::Arc;
use std::time::Duration;

use aurora_events::event::{CronCollisionPolicy, CronOutcome};
use aurora_events::{Actor, Envelope, Event, JobKey, ScheduleStatus, Timestamp};
use aurora_journal::{Journal, ManualClock, MemoryJournal, MemoryStore, SeqRange};
use aurora_scheduler::runtime::{Runtime, RuntimeConfig, StartAs};
use aurora_scheduler_core::commands::ScheduleCronJob;
use aurora_scheduler_core::{Command, Settings};
use in_process::{eventually, insecure_api, register_agent, report, take_launches};

/// 2026-01-01T00:00:10Z: ten seconds past a whole minute.
const T0: i64 = 1_767_225_610_000;
const MINUTE: i64 = 60_000;

async fn start(store: &MemoryStore, clock: &ManualClock) -> Runtime {
    let journal = MemoryJournal::open(store.clone()).unwrap();
    Runtime::start(RuntimeConfig {
        journal: Arc::new(journal.clone()),
        checkpoints: Arc::new(journal),
        clock: Arc::new(clock.clone()),
        settings: Settings::default(),
        agent_timeout: Duration::from_secs(3600),
        start_as: StartAs::Leader,
        mirror: None,
        coordinators: Default::default(),
    })
    .await
    .unwrap()
}

async fn events(store: &MemoryStore) -> Vec<Envelope> {
    let journal = MemoryJournal::open(store.clone()).unwrap();
    journal
        .read(SeqRange::new(1, journal.last_seq()))
        .await
        .unwrap()
}

/// The job's `CronTriggered` outcomes so far, in order.
async fn outcomes(store: &MemoryStore, job: &JobKey) -> Vec<CronOutcome> {
    events(store)
        .await
        .into_iter()
        .filter_map(|e| match e.event {
            Event::CronTriggered { job: j, outcome } if &j == job => Some(outcome),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cron_fires_on_the_leaders_clock_and_a_restart_neither_repeats_nor_loses_a_launch() {
    let store = MemoryStore::new();
    let clock = ManualClock::new(Timestamp(T0));
    MemoryJournal::initialise(store.clone(), "test", Timestamp(T0)).unwrap();
    let runtime = start(&store, &clock).await;
    let app = insecure_api(&runtime);
    register_agent(&app).await;

    let mut config = aurora_events::samples::task_config();

    config.sla_policy = None;
    let job: JobKey = "www-data/prod/nightly".parse().unwrap();
    config.job = job.clone();
    config.is_service = false;
    config.resources.ports.clear();
    config.constraints.clear();
    config.tier = aurora_events::Tier::Preemptible;
    runtime
        .submit(
            Actor::User("tester".into()),
            Command::ScheduleCronJob(ScheduleCronJob {
                job: job.clone(),
                config: Box::new(config),
                instances: 1,
                schedule: "* * * * *".into(),
                collision_policy: CronCollisionPolicy::KillExisting,
            }),
        )
        .await
        .unwrap();

    // Nothing before the minute; at it, one launch.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(outcomes(&store, &job).await, []);
    clock.set(Timestamp(T0 + MINUTE));
    eventually("the first firing", async || {
        (outcomes(&store, &job).await == [CronOutcome::Launched]).then_some(())
    })
    .await;
    let launch = take_launches(&app, 1).await.remove(0);
    report(&app, &launch.task, "STARTING", None).await;
    report(&app, &launch.task, "RUNNING", None).await;

    // The next minute finds it running: it is killed, and the launch waits for its death.
    clock.set(Timestamp(T0 + 2 * MINUTE));
    eventually("the second firing's kill", async || {
        (outcomes(&store, &job).await == [CronOutcome::Launched, CronOutcome::KillingExisting])
            .then_some(())
    })
    .await;

    // The scheduler goes between the kill and the launch; a new one takes over.
    runtime.step_down();
    drop(app);
    drop(runtime);
    let runtime = start(&store, &clock).await;
    let app = insecure_api(&runtime);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        outcomes(&store, &job).await,
        [CronOutcome::Launched, CronOutcome::KillingExisting],
        "no firing repeated, no launch while the task still runs"
    );

    // The agent reports the kill done: exactly one launch follows.
    report(&app, &launch.task, "KILLED", None).await;
    eventually("the owed launch", async || {
        (outcomes(&store, &job).await
            == [
                CronOutcome::Launched,
                CronOutcome::KillingExisting,
                CronOutcome::Launched,
            ])
        .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(outcomes(&store, &job).await.len(), 3, "one launch, once");
    let killed = events(&store).await.into_iter().any(|e| {
        matches!(&e.event, Event::TaskStateChanged { task, to: ScheduleStatus::Killing, message: Some(m), .. }
            if *task == launch.task && m == "Killed by cronScheduler")
    });
    assert!(killed, "the kill names the cron scheduler");
    runtime.step_down();
}
