//! The folds on scripted histories: what each view shows after a known sequence of events.

mod common;

use ScheduleStatus::*;
use aurora_events::event::Attribute;
use aurora_events::{
    Actor, AgentId, Capacity, Event, EventKind, Identifier, MaintenanceMode, ResourceAggregate,
    ScheduleStatus, TaskId, Tier, Timestamp, samples,
};
use aurora_projections::{Applied, Folded, Queries, TaskCounts, TaskEventView, Views, ViewsConfig};
use common::{Script, T0, config, fold, job, ports, snapshot};
use pretty_assertions::assert_eq;

fn alice() -> Actor {
    Actor::User("alice".into())
}

fn agent(host: &str) -> Actor {
    Actor::Agent(AgentId(format!("agent-{host}")))
}

#[test]
fn jobs_and_roles_count_tasks_by_state() {
    let mut s = Script::new();
    let web = job("www", "prod", "web");
    let batch = job("www", "devel", "batch");
    let (_, web_tasks) = s
        .by(alice())
        .create_job(&config(&web, Tier::Preferred, 1.0, 64, false), 4);
    let (_, batch_tasks) = s.create_job(&config(&batch, Tier::Preemptible, 1.0, 64, false), 2);
    s.run(&web_tasks[1], "h1");
    s.run(&web_tasks[2], "h1");
    s.change(&web_tasks[2], Running, Finished, None);
    s.run(&web_tasks[3], "h2");
    s.change(&web_tasks[3], Running, Failed, Some("exit 1"));
    s.push(Event::TaskStateChanged {
        task: batch_tasks[0].clone(),
        job: batch.clone(),
        from: Pending,
        to: Throttled,
        message: None,
    });
    let views = fold(s.envelopes(), ViewsConfig::default());

    let web_counts = TaskCounts {
        pending: 1,
        active: 1,
        finished: 1,
        failed: 1,
    };
    assert_eq!(views.job(&web).expect("web").tasks, web_counts);
    let role = views.role("www").expect("role www");
    assert_eq!(
        role.jobs
            .iter()
            .map(|j| (j.job.to_string(), j.tasks))
            .collect::<Vec<_>>(),
        vec![
            (
                "www/devel/batch".to_string(),
                TaskCounts {
                    pending: 2,
                    ..TaskCounts::default()
                }
            ),
            ("www/prod/web".to_string(), web_counts),
        ]
    );
    assert_eq!(role.tasks.total(), 6);
    let roles = views.roles();
    assert_eq!(roles.len(), 1);
    assert_eq!((roles[0].jobs, roles[0].crons), (2, 0));
    assert_eq!(roles[0].tasks, role.tasks);
    assert_eq!(views.last_seq(), s.last_seq());
}

#[test]
fn quota_buckets_follow_tier_and_dedicated_constraints_exactly() {
    let mut s = Script::new();
    let role = Identifier::new("db").expect("role");
    let quota = ResourceAggregate {
        cpus: 20.5,
        ram_mb: 4096,
        disk_mb: 1000,
    };
    s.by(alice()).push(Event::QuotaSet {
        role: role.clone(),
        quota,
    });
    // Ten production shared tasks of 1.3 cpus: exactly 13 cpus, not 12.999….
    let (_, prod) = s.create_job(
        &config(&job("db", "prod", "a"), Tier::Preferred, 1.3, 100, false),
        10,
    );
    s.create_job(
        &config(&job("db", "prod", "b"), Tier::Preemptible, 0.1, 10, false),
        3,
    );
    s.create_job(
        &config(&job("db", "prod", "c"), Tier::Preferred, 2.0, 20, true),
        2,
    );
    let (_, revocable) = s.create_job(
        &config(&job("db", "prod", "d"), Tier::Revocable, 0.5, 5, true),
        1,
    );
    // Terminal tasks stop counting; active ones (whatever the state) count.
    s.run(&prod[0], "h1");
    s.change(&prod[0], Running, Finished, None);
    s.run(&revocable[0], "h1");

    let views = fold(s.envelopes(), ViewsConfig::default());
    let view = views.role("db").expect("role").quota;
    assert_eq!(view.quota, quota);
    let exact = |cpus: f64, ram_mb: u64, disk_mb: u64| ResourceAggregate {
        cpus,
        ram_mb,
        disk_mb,
    };
    assert_eq!(view.prod_shared, exact(11.7, 900, 90));
    assert_eq!(view.non_prod_shared, exact(0.3, 30, 30));
    assert_eq!(view.prod_dedicated, exact(4.0, 40, 20));
    assert_eq!(view.non_prod_dedicated, exact(0.5, 5, 10));

    // Killing everything of job a (and the finished one staying finished) empties the bucket.
    let mut s2 = Script::new();
    for e in s.envelopes() {
        s2.push(e.event.clone());
    }
    for task in &prod[1..] {
        s2.push(Event::TaskDeleted {
            task: task.clone(),
            job: job("db", "prod", "a"),
        });
    }
    let after = fold(s2.envelopes(), ViewsConfig::default());
    let view = after.role("db").expect("role").quota;
    assert_eq!(view.prod_shared, exact(0.0, 0, 0));
    assert_eq!(roles_quota(&after), quota);
}

fn roles_quota(views: &Views) -> ResourceAggregate {
    views.roles()[0].quota.quota
}

#[test]
fn config_groups_collapse_instances_into_ranges() {
    let mut s = Script::new();
    let key = job("www", "prod", "web");
    let old = config(&key, Tier::Preferred, 1.0, 64, false);
    let (old_hash, tasks) = s.create_job(&old, 6);
    let new = config(&key, Tier::Preferred, 2.0, 64, false);
    let new_hash = s.store(&new);
    // Instances 2 and 3 move to the new config: old tasks killed, new ones created.
    for instance in [2u32, 3] {
        s.after(1);
        let old_task = &tasks[instance as usize];
        s.change(old_task, Pending, Killing, None);
        s.change(old_task, Killing, Killed, None);
        s.create_task(&key, instance, new_hash, None);
    }
    // Instance 5 is gone altogether.
    s.push(Event::TaskDeleted {
        task: tasks[5].clone(),
        job: key.clone(),
    });
    let view = fold(s.envelopes(), ViewsConfig::default())
        .job(&key)
        .expect("job");
    let groups: Vec<_> = view
        .config_groups
        .iter()
        .map(|g| {
            (
                g.hash,
                g.instances
                    .iter()
                    .map(|r| (r.first, r.last))
                    .collect::<Vec<_>>(),
                g.config.as_ref().map(|c| c.resources.cpus),
            )
        })
        .collect();
    let mut expected = vec![
        (old_hash, vec![(0, 1), (4, 4)], Some(1.0)),
        (new_hash, vec![(2, 3)], Some(2.0)),
    ];
    expected.sort_by_key(|g| g.0);
    assert_eq!(groups, expected);
    assert_eq!(
        view.active.iter().map(|t| t.instance).collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4]
    );
    assert_eq!(
        view.finished
            .iter()
            .map(|t| t.id.clone())
            .collect::<Vec<_>>(),
        vec![tasks[3].clone(), tasks[2].clone()],
        "most recently changed first"
    );
}

#[test]
fn task_timeline_keeps_every_change_with_its_actor_and_message() {
    let mut s = Script::new();
    let key = job("www", "prod", "web");
    s.push(Event::AgentRegistered {
        agent: AgentId("agent-h1".into()),
        host: "h1".into(),
        capacity: Capacity::default(),
        attributes: vec![],
        endpoint: "http://h1:1338".into(),
    });
    let (hash, tasks) = s
        .by(alice())
        .create_job(&config(&key, Tier::Preferred, 1.0, 64, false), 1);
    let created = s.last_seq();
    let task = &tasks[0];
    s.after(5).by(Actor::Scheduler);
    // Three ports: one more than a record keeps inline.
    let assigned = s.assign(
        task,
        "h1",
        &[("http", 31000), ("health", 31001), ("admin", 31002)],
    );
    s.after(7).by(agent("h1"));
    let starting = s.change(task, Assigned, Starting, None);
    s.after(11);
    let running = s.change(task, Starting, Running, Some("healthy"));
    s.after(13).by(Actor::User("bob".into()));
    let killing = s.change(task, Running, Killing, Some("Killed by bob: done"));
    s.after(17).by(agent("h1"));
    let killed = s.change(task, Killing, Killed, None);

    let view = fold(s.envelopes(), ViewsConfig::default())
        .task(task)
        .expect("task");
    let entry = |seq, at, actor, status, message: Option<&str>, host: Option<&str>| TaskEventView {
        seq,
        at: Timestamp(at),
        actor,
        status,
        message: message.map(str::to_string),
        host: host.map(str::to_string),
    };
    assert_eq!(
        view.timeline,
        vec![
            entry(created, T0, alice(), Pending, None, None),
            entry(
                assigned,
                T0 + 5,
                Actor::Scheduler,
                Assigned,
                None,
                Some("h1")
            ),
            entry(starting, T0 + 12, agent("h1"), Starting, None, None),
            entry(
                running,
                T0 + 23,
                agent("h1"),
                Running,
                Some("healthy"),
                None
            ),
            entry(
                killing,
                T0 + 36,
                Actor::User("bob".into()),
                Killing,
                Some("Killed by bob: done"),
                None
            ),
            entry(killed, T0 + 53, agent("h1"), Killed, None, None),
        ]
    );
    assert_eq!(view.status, Killed);
    assert_eq!(view.config, hash);
    assert_eq!(view.host.as_deref(), Some("h1"));
    assert_eq!(view.agent, Some(AgentId("agent-h1".into())));
    assert_eq!(view.observer.as_deref(), Some("http://h1:1338"));
    assert_eq!(
        view.ports,
        ports(&[("admin", 31002), ("health", 31001), ("http", 31000)])
    );
    assert_eq!(view.job, key);
}

#[test]
fn rescheduled_tasks_list_their_ancestors_and_count_failures() {
    let mut s = Script::new();
    let key = job("www", "prod", "web");
    let (hash, tasks) = s.create_job(&config(&key, Tier::Preferred, 1.0, 64, false), 1);
    let first = tasks[0].clone();
    s.run(&first, "h1");
    s.change(&first, Running, Failed, Some("exit 1"));
    let second = s.create_task(&key, 0, hash, Some(&first));
    s.run(&second, "h1");
    s.change(&second, Running, Failed, Some("exit 1"));
    let third = s.create_task(&key, 0, hash, Some(&second));
    // The first one is pruned: the chain still names it, and stops there.
    s.push(Event::TaskDeleted {
        task: first.clone(),
        job: key.clone(),
    });
    let views = fold(s.envelopes(), ViewsConfig::default());
    let view = views.task(&third).expect("third");
    assert_eq!(view.ancestors, vec![second.clone(), first.clone()]);
    assert!(views.task(&first).is_none());
    let failed = views.task(&second).expect("second");
    assert_eq!(
        failed.failure_count, 1,
        "FAILED from RUNNING counts a failure"
    );
    assert_eq!(
        views.job(&key).expect("job").finished[0]
            .last_message
            .as_deref(),
        Some("exit 1")
    );
}

#[test]
fn failures_while_being_replaced_are_not_counted() {
    let mut s = Script::new();
    let key = job("www", "prod", "web");
    let (_, tasks) = s.create_job(&config(&key, Tier::Preferred, 1.0, 64, false), 1);
    s.run(&tasks[0], "h1");
    s.change(&tasks[0], Running, Restarting, None);
    s.change(&tasks[0], Restarting, Failed, None);
    let views = fold(s.envelopes(), ViewsConfig::default());
    assert_eq!(views.task(&tasks[0]).expect("task").failure_count, 0);
}

#[test]
fn hosts_show_attributes_maintenance_and_the_tasks_placed_there() {
    let mut s = Script::new();
    let rack = |r: &str| Attribute {
        name: "rack".into(),
        values: vec![r.into()],
    };
    for host in ["h1", "h2"] {
        s.push(Event::AgentRegistered {
            agent: AgentId(format!("agent-{host}")),
            host: host.into(),
            capacity: Capacity {
                cpus: 8.0,
                ..Capacity::default()
            },
            attributes: vec![rack("r1")],
            endpoint: format!("http://{host}:1338"),
        });
    }
    let key = job("www", "prod", "web");
    let (_, tasks) = s.create_job(&config(&key, Tier::Preferred, 1.0, 64, false), 3);
    s.run(&tasks[0], "h1");
    s.run(&tasks[1], "h1");
    s.run(&tasks[2], "h2");
    s.push(Event::HostAttributesChanged {
        host: "h2".into(),
        agent: None,
        attributes: vec![rack("r2")],
    });
    let mut sorted_h1 = vec![tasks[0].clone(), tasks[1].clone()];
    sorted_h1.sort();

    let views = fold(s.envelopes(), ViewsConfig::default());
    let h1 = views.host("h1").expect("h1");
    assert_eq!(h1.tasks, sorted_h1);
    assert_eq!(h1.mode, MaintenanceMode::None);
    assert_eq!(views.host("h2").expect("h2").attributes, vec![rack("r2")]);

    // Drain h1: its tasks go DRAINING then KILLED, and leave the host.
    s.by(alice()).push(Event::HostMaintenanceChanged {
        host: "h1".into(),
        from: MaintenanceMode::None,
        to: MaintenanceMode::Draining,
    });
    s.by(Actor::Scheduler);
    s.change(
        &tasks[0],
        Running,
        Draining,
        Some("Draining machine for maintenance."),
    );
    s.change(
        &tasks[1],
        Running,
        Draining,
        Some("Draining machine for maintenance."),
    );
    let midway = fold(s.envelopes(), ViewsConfig::default());
    assert_eq!(
        midway.host("h1").expect("h1").tasks,
        sorted_h1,
        "DRAINING tasks still hold resources"
    );
    s.by(agent("h1"));
    s.change(&tasks[0], Draining, Killed, None);
    s.change(&tasks[1], Draining, Killed, None);
    s.by(Actor::Scheduler).push(Event::HostMaintenanceChanged {
        host: "h1".into(),
        from: MaintenanceMode::Draining,
        to: MaintenanceMode::Drained,
    });
    s.push(Event::AgentLost {
        agent: AgentId("agent-h2".into()),
        reason: "missed heartbeats".into(),
    });
    let views = fold(s.envelopes(), ViewsConfig::default());
    let hosts = views.hosts();
    assert_eq!(
        hosts
            .iter()
            .map(|h| (h.host.as_str(), h.mode, h.tasks.len()))
            .collect::<Vec<_>>(),
        vec![
            ("h1", MaintenanceMode::Drained, 0),
            ("h2", MaintenanceMode::None, 1)
        ]
    );
    let h2_agent = hosts[1].agent.as_ref().expect("agent");
    assert!(h2_agent.lost);
    assert_eq!(h2_agent.endpoint.as_deref(), Some("http://h2:1338"));
    assert_eq!(hosts[0].agent.as_ref().map(|a| a.lost), Some(false));
}

#[test]
fn activity_feed_keeps_the_last_n_events_newest_first() {
    let mut s = Script::new();
    s.push(Event::ClusterInitialised {
        cluster: "west".into(),
    });
    let key = job("www", "prod", "web");
    let (_, tasks) = s
        .by(alice())
        .create_job(&config(&key, Tier::Preferred, 1.0, 64, false), 1);
    s.by(Actor::Scheduler).assign(&tasks[0], "h1", &[]);
    s.by(agent("h1"))
        .change(&tasks[0], Assigned, Failed, Some("exit 1"));
    s.by(alice()).push(Event::HostMaintenanceChanged {
        host: "h1".into(),
        from: MaintenanceMode::None,
        to: MaintenanceMode::Scheduled,
    });
    let views = fold(
        s.envelopes(),
        ViewsConfig {
            activity_capacity: 3,
        },
    );
    let feed = views.activity(10);
    assert_eq!(
        feed.iter()
            .map(|e| (e.seq, e.kind, e.actor.clone(), e.summary.clone()))
            .collect::<Vec<_>>(),
        vec![
            (
                7,
                EventKind::HostMaintenanceChanged,
                alice(),
                "host h1 maintenance NONE -> SCHEDULED".to_string()
            ),
            (
                6,
                EventKind::TaskStateChanged,
                agent("h1"),
                format!("task {} ASSIGNED -> FAILED: exit 1", tasks[0])
            ),
            (
                5,
                EventKind::TaskAssigned,
                Actor::Scheduler,
                format!("task {} ASSIGNED to h1", tasks[0])
            ),
        ]
    );
    assert_eq!(views.activity(1).len(), 1);
    assert_eq!(views.cluster().as_deref(), Some("west"));
    let none = fold(
        s.envelopes(),
        ViewsConfig {
            activity_capacity: 0,
        },
    );
    assert!(none.activity(10).is_empty());
}

#[test]
fn every_sample_event_folds_and_summarises() {
    let envelopes: Vec<_> = samples::events()
        .into_iter()
        .enumerate()
        .map(|(i, e)| samples::envelope(i as u64 + 1, e))
        .collect();
    let views = fold(&envelopes, ViewsConfig::default());
    let feed = views.activity(usize::MAX);
    assert_eq!(feed.len(), envelopes.len());
    for entry in &feed {
        assert!(!entry.summary.is_empty(), "{entry:?}");
        assert_eq!(entry.actor, Actor::User("alice".into()));
    }
    let json = serde_json::to_string(&views.snapshot()).expect("serialises");
    assert!(json.contains("devcluster"));
}

#[test]
fn feeding_a_stream_twice_or_with_duplicates_changes_nothing() {
    let mut s = Script::new();
    let key = job("www", "prod", "web");
    let (_, tasks) = s.create_job(&config(&key, Tier::Preferred, 1.0, 64, false), 3);
    for task in &tasks {
        s.run(task, "h1");
    }
    s.change(&tasks[0], Running, Finished, None);
    let once = snapshot(s.envelopes());

    let mut twice = Folded::new(Views::default());
    for envelope in s.envelopes().iter().chain(s.envelopes()) {
        twice.apply(envelope);
    }
    assert_eq!(twice.view().snapshot(), once);

    let mut stuttering = Folded::new(Views::default());
    for (i, envelope) in s.envelopes().iter().enumerate() {
        assert_eq!(stuttering.apply(envelope), Applied::Folded);
        // Redeliver the previous and this one: both ignored.
        let earlier = &s.envelopes()[i.saturating_sub(1)];
        assert_eq!(stuttering.apply(earlier), Applied::Duplicate);
        assert_eq!(stuttering.apply(envelope), Applied::Duplicate);
    }
    assert_eq!(stuttering.view().snapshot(), once);
}

#[test]
fn removed_jobs_leave_the_role_list_once_their_tasks_are_gone() {
    let mut s = Script::new();
    let key = job("www", "prod", "web");
    let (_, tasks) = s.create_job(&config(&key, Tier::Preferred, 1.0, 64, false), 1);
    s.push(Event::JobRemoved { job: key.clone() });
    let views = fold(s.envelopes(), ViewsConfig::default());
    let listed = views.role("www").expect("role").jobs;
    assert_eq!(listed.len(), 1, "still listed while it has a task");
    assert_eq!(listed[0].desired, None);

    s.push(Event::TaskDeleted {
        task: tasks[0].clone(),
        job: key.clone(),
    });
    let views = fold(s.envelopes(), ViewsConfig::default());
    assert!(views.role("www").expect("role").jobs.is_empty());
    assert!(views.roles().is_empty(), "no quota and no jobs: not listed");
    let page = views.job(&key).expect("a removed job still has a page");
    assert!(page.active.is_empty() && page.finished.is_empty());
}

#[test]
fn cron_templates_show_on_the_job_and_role() {
    let mut s = Script::new();
    let key = job("www", "prod", "nightly");
    let hash = s.store(&config(&key, Tier::Preemptible, 1.0, 64, false));
    s.push(Event::CronScheduled {
        job: key.clone(),
        config: hash,
        instances: 2,
        schedule: "0 2 * * *".into(),
        collision_policy: Default::default(),
    });
    s.after(60_000).push(Event::CronTriggered {
        job: key.clone(),
        outcome: aurora_events::event::CronOutcome::Launched,
    });
    let views = fold(s.envelopes(), ViewsConfig::default());
    let cron = views.job(&key).expect("job").cron.expect("cron");
    assert_eq!(cron.schedule, "0 2 * * *");
    assert_eq!(cron.last_triggered, Some(Timestamp(T0 + 60_000)));
    assert_eq!(views.roles()[0].crons, 1);
    s.push(Event::CronDescheduled { job: key.clone() });
    let views = fold(s.envelopes(), ViewsConfig::default());
    assert!(views.job(&key).expect("job").cron.is_none());
    assert!(views.roles().is_empty());
}

#[test]
fn events_about_unknown_records_change_nothing_but_are_in_the_feed() {
    let mut s = Script::new();
    let ghost = TaskId::from_raw("www-prod-web-0-ghost");
    s.push(Event::TaskStateChanged {
        task: ghost.clone(),
        job: job("www", "prod", "web"),
        from: Running,
        to: Finished,
        message: None,
    });
    s.push(Event::AgentLost {
        agent: AgentId("nobody".into()),
        reason: "gone".into(),
    });
    let views = fold(s.envelopes(), ViewsConfig::default());
    assert!(views.task(&ghost).is_none());
    assert!(views.roles().is_empty());
    assert_eq!(views.activity(10).len(), 2);
}

#[test]
fn pending_reasons_come_from_the_runtime_hook() {
    let mut s = Script::new();
    let key = job("www", "prod", "web");
    let (_, tasks) = s.create_job(&config(&key, Tier::Preferred, 1.0, 64, false), 2);
    s.run(&tasks[1], "h1");
    let mut view = fold(s.envelopes(), ViewsConfig::default())
        .job(&key)
        .expect("job");
    assert!(view.active.iter().all(|t| t.pending_reason.is_none()));
    assert_eq!(view.waiting_tasks(), vec![tasks[0].clone()]);
    let reasons = tasks
        .iter()
        .map(|t| (t.clone(), "Insufficient CPU".to_string()))
        .collect();
    view.fill_pending_reasons(&reasons);
    assert_eq!(
        view.active
            .iter()
            .map(|t| t.pending_reason.as_deref())
            .collect::<Vec<_>>(),
        vec![Some("Insufficient CPU"), None],
        "only pending tasks get a reason"
    );
}

#[test]
fn long_timelines_keep_every_entry_in_order() {
    let mut s = Script::new();
    let key = job("www", "prod", "web");
    let (_, tasks) = s.create_job(&config(&key, Tier::Preferred, 1.0, 64, false), 1);
    let task = &tasks[0];
    s.run(task, "h1");
    // Flapping reachability: well past the entries a record keeps inline.
    for round in 0..4 {
        s.after(1).change(
            task,
            Running,
            Partitioned,
            Some(&format!("unreachable {round}")),
        );
        s.after(1).change(task, Partitioned, Running, None);
    }
    s.change(task, Running, Finished, Some("done"));
    let view = fold(s.envelopes(), ViewsConfig::default())
        .task(task)
        .expect("task");
    let statuses: Vec<_> = view.timeline.iter().map(|e| e.status).collect();
    let mut expected = vec![Pending, Assigned, Starting, Running];
    for _ in 0..4 {
        expected.extend([Partitioned, Running]);
    }
    expected.push(Finished);
    assert_eq!(statuses, expected);
    assert_eq!(
        view.timeline[8].message.as_deref(),
        Some("unreachable 2"),
        "messages stay with their entries past the inline ones"
    );
    assert_eq!(
        view.timeline.last().and_then(|e| e.message.as_deref()),
        Some("done")
    );
    let seqs: Vec<_> = view.timeline.iter().map(|e| e.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let summary = fold(s.envelopes(), ViewsConfig::default())
        .job(&key)
        .expect("job")
        .finished
        .remove(0);
    assert_eq!(summary.last_message.as_deref(), Some("done"));
    assert_eq!(summary.created_at, Timestamp(T0));
}

#[test]
fn the_feed_tells_a_new_job_from_a_changed_one() {
    let mut s = Script::new();
    let key = job("www", "prod", "web");
    let web = config(&key, Tier::Preferred, 1.0, 64, false);
    let (hash, _) = s.create_job(&web, 1);
    s.push(Event::JobConfigReplaced {
        job: key.clone(),
        config: hash,
        instances: 3,
    });
    let views = fold(s.envelopes(), ViewsConfig::default());
    let summaries: Vec<String> = views
        .activity(usize::MAX)
        .into_iter()
        .filter(|e| matches!(e.kind, EventKind::JobCreated | EventKind::JobConfigReplaced))
        .map(|e| e.summary)
        .collect();
    assert_eq!(
        summaries,
        vec![
            format!("job {key} now wants 3 instances of config {}", hash.short()),
            format!("job {key} created: 1 instances of config {}", hash.short()),
        ]
    );
}

#[test]
fn an_idle_cron_template_counts_in_its_roles_quota_until_its_tasks_run() {
    let mut s = Script::new();
    let nightly = job("db", "prod", "nightly");
    let template = config(&nightly, Tier::Preferred, 0.5, 64, false);
    let hash = s.store(&template);
    s.push(Event::CronScheduled {
        job: nightly.clone(),
        config: hash,
        instances: 3,
        schedule: "0 3 * * *".into(),
        collision_policy: aurora_events::event::CronCollisionPolicy::KillExisting,
    });
    let idle = fold(s.envelopes(), ViewsConfig::default());
    let view = idle.role("db").expect("role").quota;
    assert_eq!(view.prod_shared.cpus, 1.5);
    assert_eq!(view.prod_shared.ram_mb, 192);
    // Its tasks running: they count instead, once.
    for instance in 0..3 {
        s.create_task(&nightly, instance, hash, None);
    }
    let running = fold(s.envelopes(), ViewsConfig::default());
    assert_eq!(
        running.role("db").expect("role").quota.prod_shared.cpus,
        1.5
    );
}
