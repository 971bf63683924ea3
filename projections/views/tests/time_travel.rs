//! Time travel: a past view from checkpoints and replay equals a fresh fold of the prefix.

mod common;

use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use ScheduleStatus::*;
use aurora_events::{
    Actor, AgentId, Capacity, Envelope, Event, Identifier, MaintenanceMode, ResourceAggregate,
    ScheduleStatus, Seq, Tier, Timestamp,
};
use aurora_projections::{
    Applied, Error, EventSource, History, HistoryConfig, Queries, SeqWatch, SourceError,
    ViewsConfig,
};
use common::{Script, T0, config, fold, job, snapshot};
use pretty_assertions::assert_eq;

/// A small cluster's life: agents, quota, two jobs whose tasks run, fail, get replaced and
/// finish, a drain, a kill. Time moves 1 ms per event, with some events sharing a time.
fn scripted_history() -> Script {
    let mut s = Script::new();
    s.push(Event::ClusterInitialised {
        cluster: "west".into(),
    });
    for host in ["h1", "h2", "h3"] {
        s.after(1).push(Event::AgentRegistered {
            agent: AgentId(format!("agent-{host}")),
            host: host.into(),
            capacity: Capacity {
                cpus: 16.0,
                ram_mb: 65_536,
                disk_mb: 100_000,
                gpus: 0,
                port_ranges: vec![(31000, 32000)],
            },
            attributes: vec![],
            endpoint: format!("http://{host}:1338"),
        });
    }
    s.by(Actor::User("admin".into())).push(Event::QuotaSet {
        role: Identifier::new("www").expect("role"),
        quota: ResourceAggregate {
            cpus: 40.0,
            ram_mb: 10_000,
            disk_mb: 10_000,
        },
    });
    let web = job("www", "prod", "web");
    let batch = job("www", "devel", "batch");
    s.by(Actor::User("alice".into()));
    let (web_hash, web_tasks) = s
        .after(1)
        .create_job(&config(&web, Tier::Preferred, 1.5, 128, false), 5);
    let (_, batch_tasks) = s.create_job(&config(&batch, Tier::Preemptible, 0.5, 64, false), 4);
    s.by(Actor::Scheduler);
    let hosts = ["h1", "h2", "h3"];
    for (i, task) in web_tasks.iter().chain(&batch_tasks).enumerate() {
        s.after(1).run(task, hosts[i % 3]);
    }
    // Batch tasks finish or fail; web instance 1 fails and is replaced twice.
    for (i, task) in batch_tasks.iter().enumerate() {
        s.after(1).by(Actor::Agent(AgentId(format!(
            "agent-{}",
            hosts[(i + 5) % 3]
        ))));
        if i % 2 == 0 {
            s.change(task, Running, Finished, None);
        } else {
            s.change(task, Running, Failed, Some("exit 1"));
        }
    }
    let mut current = web_tasks[1].clone();
    for _ in 0..2 {
        s.after(1).by(Actor::Agent(AgentId("agent-h2".into())));
        s.change(&current, Running, Failed, Some("exit 2"));
        s.by(Actor::Scheduler);
        current = s.create_task(&web, 1, web_hash, Some(&current));
        s.after(1).run(&current, "h3");
    }
    // Drain h1.
    s.after(5).by(Actor::User("admin".into()));
    s.push(Event::HostMaintenanceChanged {
        host: "h1".into(),
        from: MaintenanceMode::None,
        to: MaintenanceMode::Draining,
    });
    s.by(Actor::Scheduler);
    for task in [&web_tasks[0], &web_tasks[3]] {
        s.change(
            task,
            Running,
            Draining,
            Some("Draining machine for maintenance."),
        );
        s.after(1).change(task, Draining, Killed, None);
        let instance = if *task == web_tasks[0] { 0 } else { 3 };
        let replacement = s.create_task(&web, instance, web_hash, Some(task));
        s.run(&replacement, "h2");
    }
    s.push(Event::HostMaintenanceChanged {
        host: "h1".into(),
        from: MaintenanceMode::Draining,
        to: MaintenanceMode::Drained,
    });
    // Kill the batch job and prune it.
    s.after(3).by(Actor::User("bob".into()));
    for task in &batch_tasks {
        s.push(Event::TaskDeleted {
            task: task.clone(),
            job: batch.clone(),
        });
    }
    s.push(Event::JobRemoved { job: batch });
    s
}

fn history(envelopes: &[Envelope], every: u64) -> History {
    let mut history = History::in_memory(HistoryConfig {
        checkpoint_every: every,
        ..HistoryConfig::default()
    });
    for envelope in envelopes {
        assert_eq!(history.apply(envelope), Applied::Folded);
    }
    history
}

#[test]
fn the_view_at_any_seq_equals_a_fresh_fold_of_the_prefix() {
    let script = scripted_history();
    let envelopes = script.envelopes();
    assert!(envelopes.len() > 70, "{} events", envelopes.len());
    let history = history(envelopes, 25);
    assert!(
        history.checkpoint_seqs().len() >= 4,
        "{:?}",
        history.checkpoint_seqs()
    );
    assert_eq!(history.checkpoint_seqs()[..3], [0, 25, 50]);
    for seq in 0..=script.last_seq() {
        let past = history.at(seq).expect("folded seq");
        assert_eq!(past.last_seq(), seq);
        assert_eq!(
            past.snapshot(),
            snapshot(&envelopes[..seq as usize]),
            "at seq {seq}"
        );
    }
    assert_eq!(history.current().snapshot(), snapshot(envelopes));
}

#[test]
fn past_views_are_not_moved_by_later_events() {
    let script = scripted_history();
    let envelopes = script.envelopes();
    let (head, tail) = envelopes.split_at(60);
    let mut history = history(head, 25);
    let at_55 = history.at(55).expect("folded");
    let at_60 = history.at(60).expect("folded");
    let before = (at_55.snapshot(), at_60.snapshot());
    for envelope in tail {
        history.apply(envelope);
    }
    assert_eq!((at_55.snapshot(), at_60.snapshot()), before);
    assert_eq!(history.at(55).expect("folded").snapshot(), before.0);
    // The checkpoint at 50 was taken from the live view, which has moved on since.
    assert_eq!(
        history.at(50).expect("folded").snapshot(),
        snapshot(&envelopes[..50])
    );
}

#[test]
fn at_time_is_the_last_event_committed_at_or_before() {
    let mut s = Script::new();
    let key = job("www", "prod", "web");
    s.push(Event::ClusterInitialised {
        cluster: "west".into(),
    }); // 1 @ T0
    s.after(10);
    let (_, tasks) = s.create_job(&config(&key, Tier::Preferred, 1.0, 64, false), 2); // 2..=5 @ T0+10
    s.after(10).run(&tasks[0], "h1"); // 6..=8 @ T0+20
    let history = history(s.envelopes(), 3);
    let at = |ms: i64| {
        history
            .at_time(Timestamp(T0 + ms))
            .expect("folded")
            .last_seq()
    };
    assert_eq!(history.seq_at(Timestamp(T0 - 1)), 0);
    assert_eq!(at(-1), 0);
    assert_eq!(at(0), 1);
    assert_eq!(at(9), 1);
    assert_eq!(at(10), 5, "every event of one commit time");
    assert_eq!(at(19), 5);
    assert_eq!(at(20), 8);
    assert_eq!(at(1_000_000), 8);
    let at_15 = history.at_time(Timestamp(T0 + 15)).expect("folded");
    assert_eq!(at_15.job(&key).expect("job").tasks.pending, 2);
}

#[test]
fn asking_for_the_future_is_an_error() {
    let script = scripted_history();
    let history = history(&script.envelopes()[..10], 4);
    match history.at(11) {
        Err(Error::NotYetFolded { requested, last }) => assert_eq!((requested, last), (11, 10)),
        other => panic!("expected NotYetFolded, got {other:?}"),
    }
    assert_eq!(history.at(10).expect("the live seq").last_seq(), 10);
}

#[test]
fn without_checkpoints_every_past_view_replays_from_the_start() {
    let script = scripted_history();
    let envelopes = script.envelopes();
    let history = history(envelopes, 0);
    assert_eq!(history.checkpoint_seqs(), vec![0]);
    assert_eq!(
        history.at(77).expect("folded").snapshot(),
        snapshot(&envelopes[..77])
    );
}

#[test]
fn old_checkpoints_thin_out_and_past_views_stay_exact() {
    let script = scripted_history();
    let envelopes = script.envelopes();
    let mut history = History::in_memory(HistoryConfig {
        checkpoint_every: 5,
        max_checkpoints: 4,
        views: ViewsConfig::default(),
    });
    for envelope in envelopes {
        history.apply(envelope);
        assert!(
            history.checkpoint_seqs().len() <= 5,
            "{:?}",
            history.checkpoint_seqs()
        );
    }
    let seqs = history.checkpoint_seqs();
    assert_eq!(seqs[0], 0, "the empty view stays");
    let newest = seqs[seqs.len() - 1];
    assert_eq!(
        newest,
        script.last_seq() / 5 * 5,
        "the newest checkpoint stays"
    );
    let gaps: Vec<u64> = seqs.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.windows(2).all(|g| g[0] >= g[1]),
        "older is sparser: {seqs:?}"
    );
    for seq in (0..=script.last_seq()).step_by(3) {
        assert_eq!(
            history.at(seq).expect("folded").snapshot(),
            snapshot(&envelopes[..seq as usize]),
            "at seq {seq}"
        );
    }
}

/// A journal stand-in: serves a shared list of envelopes and counts what it was asked.
struct Journal {
    envelopes: Arc<Vec<Envelope>>,
    reads: Cell<Vec<(Seq, Seq)>>,
    fail: bool,
}

impl EventSource for Journal {
    fn read(&self, from: Seq, to: Seq) -> Result<Vec<Envelope>, SourceError> {
        if self.fail {
            return Err(SourceError::new("disk on fire"));
        }
        let mut reads = self.reads.take();
        reads.push((from, to));
        self.reads.set(reads);
        Ok(self
            .envelopes
            .iter()
            .filter(|e| (from..=to).contains(&e.seq))
            .cloned()
            .collect())
    }
}

#[test]
fn a_supplied_event_source_serves_the_replays() {
    let script = scripted_history();
    let envelopes = Arc::new(script.envelopes().to_vec());
    let journal = Journal {
        envelopes: Arc::clone(&envelopes),
        reads: Cell::new(Vec::new()),
        fail: false,
    };
    let mut history = History::with_source(
        journal,
        HistoryConfig {
            checkpoint_every: 20,
            ..HistoryConfig::default()
        },
    );
    assert_eq!(history.apply_all(envelopes.iter()), Applied::Folded);
    assert_eq!(
        history.at(47).expect("folded").snapshot(),
        snapshot(&envelopes[..47])
    );
    assert_eq!(history.at(40).expect("folded").last_seq(), 40);
    assert_eq!(
        history.source().reads.take(),
        vec![(41, 47)],
        "seq 40 is a checkpoint"
    );

    // Replay can run away from the history: take the checkpoint, replay elsewhere.
    let rewind = history.rewind(65).expect("folded");
    assert_eq!((rewind.base_seq(), rewind.target()), (60, 65));
    let failing = Journal {
        envelopes: Arc::clone(&envelopes),
        reads: Cell::new(Vec::new()),
        fail: true,
    };
    match rewind.clone().replay(&failing) {
        Err(Error::Source { from, to, .. }) => assert_eq!((from, to), (61, 65)),
        other => panic!("expected a source error, got {other:?}"),
    }
    let short = Journal {
        envelopes: Arc::new(envelopes[..62].to_vec()),
        reads: Cell::new(Vec::new()),
        fail: false,
    };
    match rewind.clone().replay(&short) {
        Err(Error::SourceShort { last, wanted }) => assert_eq!((last, wanted), (62, 65)),
        other => panic!("expected a short source, got {other:?}"),
    }
    let gappy = Journal {
        envelopes: Arc::new(envelopes.iter().filter(|e| e.seq != 63).cloned().collect()),
        reads: Cell::new(Vec::new()),
        fail: false,
    };
    match rewind.replay(&gappy) {
        Err(Error::SourceOutOfOrder { expected, got }) => assert_eq!((expected, got), (63, 64)),
        other => panic!("expected a gap, got {other:?}"),
    }
}

#[test]
fn listeners_hear_how_far_the_history_has_folded() {
    let script = scripted_history();
    let envelopes = script.envelopes();
    let mut history = History::default();
    let watch = Arc::new(SeqWatch::new());
    history.add_listener(Arc::clone(&watch) as Arc<dyn aurora_projections::SeqListener>);
    assert_eq!(watch.wait_for(1, Duration::ZERO), Err(0));
    history.apply(&envelopes[0]);
    assert_eq!(watch.wait_for(1, Duration::ZERO), Ok(1));
    history.apply_all(&envelopes[1..30]);
    assert_eq!(watch.current(), 30);
    // A gap folds nothing and tells nothing new.
    assert_eq!(history.apply(&envelopes[40]), Applied::Gap { expected: 31 });
    assert_eq!(watch.current(), 30);
    assert_eq!(history.apply(&envelopes[5]), Applied::Duplicate);
    assert_eq!(history.last_seq(), 30);
}

#[test]
fn history_answers_queries_from_its_live_view() {
    let script = scripted_history();
    let envelopes = script.envelopes();
    let history = history(envelopes, 25);
    let live = fold(envelopes, ViewsConfig::default());
    assert_eq!(history.roles(), live.roles());
    assert_eq!(history.hosts(), live.hosts());
    assert_eq!(history.activity(5), live.activity(5));
    assert_eq!(Queries::last_seq(&history), script.last_seq());
    let web = job("www", "prod", "web");
    assert_eq!(history.job(&web), live.job(&web));
    let view = history.job(&web).expect("web");
    assert_eq!(view.active.len(), 5);
    assert_eq!(
        (view.tasks.failed, view.tasks.finished),
        (2, 2),
        "two failures; two drained kills count as finished, as Aurora's JobStats counts KILLED"
    );
}
