//! Property tests: random event sequences over a small universe of jobs, tasks, hosts and
//! updates (so that events keep hitting the same records, in any order, including orders a
//! consistent journal never has), folded with random checkpoint intervals.

mod common;

use std::collections::BTreeMap;

use aurora_events::event::Attribute;
use aurora_events::{
    Actor, AgentId, Capacity, ConfigHash, Envelope, Event, EventId, Identifier,
    InstanceUpdateAction, JobKey, MaintenanceMode, PendingEvent, ResourceAggregate, ScheduleStatus,
    TaskConfig, TaskId, Tier, Timestamp, UpdateKey, UpdateStatus, Uuid,
};
use aurora_projections::{Folded, History, HistoryConfig, Views, ViewsConfig};
use common::{config, fold, job};
use proptest::prelude::*;
use proptest::sample::select;

fn jobs() -> Vec<JobKey> {
    vec![
        job("r1", "prod", "a"),
        job("r1", "devel", "b"),
        job("r2", "prod", "c"),
    ]
}

fn configs() -> Vec<TaskConfig> {
    let jobs = jobs();
    vec![
        config(&jobs[0], Tier::Preferred, 1.3, 100, false),
        config(&jobs[1], Tier::Preemptible, 0.7, 50, false),
        config(&jobs[2], Tier::Preferred, 2.0, 10, true),
    ]
}

fn hashes() -> Vec<ConfigHash> {
    configs().iter().map(TaskConfig::hash).collect()
}

const TASKS: u32 = 8;

fn task(n: u32) -> (TaskId, JobKey, u32) {
    let job = jobs()[(n % 3) as usize].clone();
    let instance = n % 4;
    (
        TaskId::generate(&job, instance, Uuid::from_u128(u128::from(n))),
        job,
        instance,
    )
}

fn update(n: u128) -> UpdateKey {
    UpdateKey {
        job: jobs()[(n % 3) as usize].clone(),
        id: Uuid::from_u128(n),
    }
}

fn status() -> impl Strategy<Value = ScheduleStatus> {
    any::<ScheduleStatus>()
}

fn message() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("exit 1".to_string())),
        Just(Some("Killed by bob".to_string()))
    ]
}

fn host() -> impl Strategy<Value = String> {
    select(vec!["h1".to_string(), "h2".to_string(), "h3".to_string()])
}

/// One event over the small universe.
fn event() -> impl Strategy<Value = Event> {
    let stored = (0..3usize).prop_map(|i| {
        let config = configs()[i].clone();
        Event::TaskConfigStoredV2 {
            hash: config.hash(),
            config: Box::new(config),
        }
    });
    let job_desired =
        (0..3usize, 0..3usize, 0..5u32, any::<bool>()).prop_map(|(j, c, n, created)| {
            let (job, config) = (jobs()[j].clone(), hashes()[c]);
            if created {
                Event::JobCreated {
                    job,
                    config,
                    instances: n,
                }
            } else {
                Event::JobConfigReplaced {
                    job,
                    config,
                    instances: n,
                }
            }
        });
    let removed = (0..3usize).prop_map(|j| Event::JobRemoved {
        job: jobs()[j].clone(),
    });
    let created = (
        0..TASKS,
        0..3usize,
        status(),
        proptest::option::of(0..TASKS),
        0..3u32,
        message(),
    )
        .prop_map(|(n, c, status, ancestor, failure_count, message)| {
            let (task, job, instance) = task(n);
            Event::TaskCreated {
                task,
                job,
                instance,
                config: hashes()[c],
                status,
                ancestor: ancestor.map(task_id),
                failure_count,
                penalty_ms: 0,
                message,
            }
        });
    let assigned = (0..TASKS, host(), 0..3u16).prop_map(|(n, host, port)| {
        let (task, job, _) = task(n);
        Event::TaskAssigned {
            task,
            job,
            agent: AgentId(format!("agent-{host}")),
            host,
            ports: BTreeMap::from([("http".to_string(), 31000 + port)]),
        }
    });
    let changed = (0..TASKS, status(), status(), message()).prop_map(|(n, from, to, message)| {
        let (task, job, _) = task(n);
        Event::TaskStateChanged {
            task,
            job,
            from,
            to,
            message,
        }
    });
    let deleted = (0..TASKS).prop_map(|n| {
        let (task, job, _) = task(n);
        Event::TaskDeleted { task, job }
    });
    let update_started = (0..4u128).prop_map(|n| Event::UpdateStarted {
        update: update(n),
        user: "alice".into(),
        instructions: sample_instructions(),
        metadata: BTreeMap::new(),
    });
    let update_changed = (
        0..4u128,
        any::<UpdateStatus>(),
        any::<UpdateStatus>(),
        message(),
    )
        .prop_map(|(n, from, to, message)| Event::UpdateStateChanged {
            update: update(n),
            from,
            to,
            message,
        });
    let update_actioned = (0..4u128, 0..4u32, any::<InstanceUpdateAction>(), message()).prop_map(
        |(n, instance, action, message)| Event::UpdateInstanceActioned {
            update: update(n),
            instance,
            action,
            message,
        },
    );
    let pulsed = (0..4u128).prop_map(|n| Event::UpdatePulsed { update: update(n) });
    // Updates n and n + 3 belong to the same job.
    let pruned = (0..4u128).prop_map(|n| Event::UpdatesPruned {
        job: update(n).job,
        updates: vec![update(n).id, update(n + 3).id],
    });
    let quota = (0..3usize, 0..100u32).prop_map(|(r, cpus)| Event::QuotaSet {
        role: Identifier::new(["r1", "r2", "r3"][r]).expect("role"),
        quota: ResourceAggregate {
            cpus: f64::from(cpus) / 10.0,
            ram_mb: u64::from(cpus) * 10,
            disk_mb: 5,
        },
    });
    let host_attributes =
        (host(), any::<bool>()).prop_map(|(host, with_agent)| Event::HostAttributesChanged {
            agent: with_agent.then(|| AgentId(format!("agent-{host}"))),
            attributes: vec![Attribute {
                name: "rack".into(),
                values: vec![format!("rack-{host}")],
            }],
            host,
        });
    let maintenance = (host(), any::<MaintenanceMode>(), any::<MaintenanceMode>())
        .prop_map(|(host, from, to)| Event::HostMaintenanceChanged { host, from, to });
    let cron = (0..3usize, 0..3u8).prop_map(|(j, what)| {
        let job = jobs()[j].clone();
        match what {
            0 => Event::CronScheduled {
                job,
                config: hashes()[j],
                instances: 1,
                schedule: "* * * * *".into(),
                collision_policy: Default::default(),
            },
            1 => Event::CronDescheduled { job },
            _ => Event::CronTriggered {
                job,
                outcome: aurora_events::event::CronOutcome::Launched,
            },
        }
    });
    let agent = (host(), any::<bool>()).prop_map(|(host, lost)| {
        let agent = AgentId(format!("agent-{host}"));
        if lost {
            Event::AgentLost {
                agent,
                reason: "heartbeats".into(),
            }
        } else {
            Event::AgentRegistered {
                agent,
                endpoint: format!("http://{host}:1338"),
                host,
                capacity: Capacity::default(),
                attributes: vec![],
            }
        }
    });
    prop_oneof![
        2 => stored,
        2 => job_desired,
        1 => removed,
        6 => created,
        4 => assigned,
        10 => changed,
        2 => deleted,
        1 => update_started,
        1 => update_changed,
        2 => update_actioned,
        1 => pulsed,
        1 => pruned,
        1 => quota,
        1 => host_attributes,
        1 => maintenance,
        1 => cron,
        1 => agent,
        1 => Just(Event::ClusterInitialised { cluster: "c".into() }),
    ]
}

fn task_id(n: u32) -> TaskId {
    task(n).0
}

fn sample_instructions() -> aurora_events::update::UpdateInstructions {
    aurora_events::samples::events()
        .into_iter()
        .find_map(|e| match e {
            Event::UpdateStarted { instructions, .. } => Some(instructions),
            _ => None,
        })
        .expect("a sample update")
}

fn actor() -> impl Strategy<Value = Actor> {
    prop_oneof![
        Just(Actor::Scheduler),
        Just(Actor::User("alice".into())),
        host().prop_map(|h| Actor::Agent(AgentId(format!("agent-{h}")))),
    ]
}

/// A journal: dense seqs from 1, commit times that never decrease (and often repeat).
fn journal(max: usize) -> impl Strategy<Value = Vec<Envelope>> {
    proptest::collection::vec((event(), actor(), 0..3i64), 0..max).prop_map(|events| {
        let mut at = common::T0;
        events
            .into_iter()
            .enumerate()
            .map(|(i, (event, actor, step))| {
                at += step;
                let seq = i as u64 + 1;
                PendingEvent {
                    id: EventId::from_parts(seq, [3; 10]),
                    actor,
                    cause: None,
                    event,
                }
                .commit(seq, Timestamp(at))
            })
            .collect()
    })
}

/// When each update the journals name was pruned (not part of a snapshot).
fn pruned(views: &Views) -> Vec<Option<u64>> {
    (0..7u128)
        .map(|n| views.pruned_update(&update(n)))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the checkpoint interval (and however many checkpoints were thinned out), the
    /// view at any seq equals a fresh fold of the events up to it.
    #[test]
    fn past_views_equal_fresh_folds(
        envelopes in journal(160),
        every in 0u64..40,
        max_checkpoints in 1usize..8,
        capacity in 0usize..20,
        picks in proptest::collection::vec(any::<proptest::sample::Index>(), 1..6),
    ) {
        let views = ViewsConfig { activity_capacity: capacity };
        let mut history = History::in_memory(HistoryConfig {
            checkpoint_every: every,
            max_checkpoints,
            views,
        });
        for envelope in &envelopes {
            history.apply(envelope);
        }
        for pick in picks {
            let seq = pick.index(envelopes.len() + 1);
            let past = history.at(seq as u64).expect("folded");
            let fresh = fold(&envelopes[..seq], views);
            prop_assert_eq!(past.snapshot(), fresh.snapshot(), "seq {}", seq);
            prop_assert_eq!(pruned(&past), pruned(&fresh), "seq {}", seq);
        }
        prop_assert_eq!(history.current().snapshot(), fold(&envelopes, views).snapshot());
    }

    /// at_time(t) is the view after the last event committed at or before t.
    #[test]
    fn time_travel_by_time_matches_by_seq(envelopes in journal(80), offset in -2i64..200) {
        let mut history = History::in_memory(HistoryConfig { checkpoint_every: 7, ..HistoryConfig::default() });
        history.apply_all(&envelopes);
        let time = Timestamp(common::T0 + offset);
        let expected = envelopes.iter().filter(|e| e.at <= time).count();
        let past = history.at_time(time).expect("folded");
        prop_assert_eq!(past.snapshot(), fold(&envelopes[..expected], ViewsConfig::default()).snapshot());
    }

    /// Redelivery (any event again, any number of times, once folded) changes nothing.
    #[test]
    fn redelivery_changes_nothing(
        envelopes in journal(80),
        repeats in proptest::collection::vec(any::<proptest::sample::Index>(), 0..40),
    ) {
        let mut folded = Folded::new(Views::default());
        let mut repeats = repeats.into_iter().peekable();
        for (i, envelope) in envelopes.iter().enumerate() {
            folded.apply(envelope);
            while let Some(pick) = repeats.next_if(|_| i % 3 == 0) {
                folded.apply(&envelopes[pick.index(i + 1)]);
            }
        }
        prop_assert_eq!(folded.view().snapshot(), fold(&envelopes, ViewsConfig::default()).snapshot());
    }
}

/// Arbitrary events of every kind (from `aurora-events`' strategies) fold without panicking
/// and give the same view through a history.
#[test]
fn arbitrary_events_fold() {
    // The derived strategy for `Event` nests deeply enough to overflow the default test
    // thread's stack in debug builds: run it on a thread with a large one.
    std::thread::Builder::new()
        .stack_size(256 * 1024 * 1024)
        .spawn(arbitrary_events_fold_on_this_thread)
        .expect("a test thread")
        .join()
        .expect("arbitrary events fold consistently");
}

fn arbitrary_events_fold_on_this_thread() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(32));
    let strategy = proptest::collection::vec(any::<Event>(), 0..30);
    runner
        .run(&strategy, |events| {
            let envelopes: Vec<Envelope> = events
                .into_iter()
                .enumerate()
                .map(|(i, e)| aurora_events::samples::envelope(i as u64 + 1, e))
                .collect();
            let mut history = History::in_memory(HistoryConfig {
                checkpoint_every: 4,
                ..HistoryConfig::default()
            });
            history.apply_all(&envelopes);
            for seq in 0..=envelopes.len() {
                let past = history.at(seq as u64).expect("folded");
                prop_assert_eq!(
                    past.snapshot(),
                    fold(&envelopes[..seq], ViewsConfig::default()).snapshot()
                );
            }
            Ok(())
        })
        .expect("arbitrary events fold consistently");
}
