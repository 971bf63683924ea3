//! The update fold on scripted histories: an update's state, instance actions, timeline and
//! pruning.

mod common;

use aurora_events::update::{InstanceConfigRanges, InstanceRange};
use aurora_events::{
    Actor, Event, InstanceUpdateAction, Tier, Timestamp, UpdateKey, UpdateStatus, Uuid, samples,
};
use aurora_projections::{Queries, ViewsConfig};
use common::{Script, T0, config, fold, job};
use pretty_assertions::assert_eq;

fn alice() -> Actor {
    Actor::User("alice".into())
}

fn update_key(n: u128) -> UpdateKey {
    UpdateKey {
        job: job("www", "prod", "web"),
        id: Uuid::from_u128(n),
    }
}

#[test]
fn updates_keep_their_state_instance_actions_and_timeline() {
    let mut s = Script::new();
    let key = job("www", "prod", "web");
    let web = config(&key, Tier::Preferred, 1.0, 64, false);
    let (hash, _) = s.create_job(&web, 2);
    let update = update_key(1);
    let mut instructions = samples::events()
        .into_iter()
        .find_map(|e| match e {
            Event::UpdateStarted { instructions, .. } => Some(instructions),
            _ => None,
        })
        .expect("a sample update");
    instructions.initial_state = vec![InstanceConfigRanges {
        config: hash,
        instances: vec![InstanceRange { first: 0, last: 1 }],
    }];
    s.after(100).by(alice());
    let started = s.push(Event::UpdateStarted {
        update: update.clone(),
        user: "alice".into(),
        instructions: instructions.clone(),
        metadata: Default::default(),
    });
    s.after(10).by(Actor::Scheduler);
    s.push(Event::UpdateInstanceActioned {
        update: update.clone(),
        instance: 0,
        action: InstanceUpdateAction::InstanceUpdating,
        message: None,
    });
    s.after(10);
    s.push(Event::UpdateInstanceActioned {
        update: update.clone(),
        instance: 0,
        action: InstanceUpdateAction::InstanceUpdated,
        message: None,
    });
    s.after(10).by(Actor::User("bob".into()));
    let paused = s.push(Event::UpdateStateChanged {
        update: update.clone(),
        from: UpdateStatus::RollingForward,
        to: UpdateStatus::RollForwardPaused,
        message: Some("paused by bob".into()),
    });
    s.after(10);
    s.push(Event::UpdatePulsed {
        update: update.clone(),
    });
    // A second, later update of the same job; and an event for an update never started.
    s.after(10).by(alice());
    s.push(Event::UpdateStarted {
        update: update_key(2),
        user: "carol".into(),
        instructions,
        metadata: Default::default(),
    });
    s.push(Event::UpdatePulsed {
        update: update_key(3),
    });

    let views = fold(s.envelopes(), ViewsConfig::default());
    let view = views.update(&update).expect("update");
    assert_eq!(view.summary.status, UpdateStatus::RollForwardPaused);
    assert_eq!(view.summary.user, "alice");
    assert_eq!(view.summary.started_at, Timestamp(T0 + 100));
    assert_eq!(view.summary.last_modified, Timestamp(T0 + 130));
    assert_eq!(view.summary.last_pulse, Some(Timestamp(T0 + 140)));
    assert_eq!(
        view.summary.status_since,
        Timestamp(T0 + 130),
        "paused then"
    );
    // The initial config was stored; the desired one (the samples') never was.
    assert_eq!(
        view.configs.into_iter().collect::<Vec<_>>(),
        vec![(hash, web)]
    );
    assert_eq!(
        view.timeline
            .iter()
            .map(|e| (e.seq, e.status, e.actor.clone(), e.message.clone()))
            .collect::<Vec<_>>(),
        vec![
            (started, UpdateStatus::RollingForward, alice(), None),
            (
                paused,
                UpdateStatus::RollForwardPaused,
                Actor::User("bob".into()),
                Some("paused by bob".into())
            ),
        ]
    );
    assert_eq!(
        view.instance_events
            .iter()
            .map(|e| (e.instance, e.action))
            .collect::<Vec<_>>(),
        vec![
            (0, InstanceUpdateAction::InstanceUpdating),
            (0, InstanceUpdateAction::InstanceUpdated)
        ]
    );
    assert_eq!(
        view.instances.into_iter().collect::<Vec<_>>(),
        vec![(0, InstanceUpdateAction::InstanceUpdated)]
    );
    let listed: Vec<_> = views.updates().into_iter().map(|u| u.key).collect();
    assert_eq!(listed, vec![update_key(2), update_key(1)], "newest first");
    let on_job: Vec<_> = views
        .job(&key)
        .expect("job")
        .updates
        .into_iter()
        .map(|u| u.key)
        .collect();
    assert_eq!(on_job, listed);
    assert!(views.update(&update_key(3)).is_none());
}

#[test]
fn pruned_updates_vanish_and_say_when() {
    let mut s = Script::new();
    let key = job("www", "prod", "web");
    s.create_job(&config(&key, Tier::Preferred, 1.0, 64, false), 1);
    let instructions = samples::events()
        .into_iter()
        .find_map(|e| match e {
            Event::UpdateStarted { instructions, .. } => Some(instructions),
            _ => None,
        })
        .expect("a sample update");
    for n in 1..=3 {
        s.after(10).push(Event::UpdateStarted {
            update: update_key(n),
            user: "alice".into(),
            instructions: instructions.clone(),
            metadata: Default::default(),
        });
        s.push(Event::UpdateStateChanged {
            update: update_key(n),
            from: UpdateStatus::RollingForward,
            to: UpdateStatus::RolledForward,
            message: None,
        });
    }
    let before = s.last_seq();
    let pruned = s.push(Event::UpdatesPruned {
        job: key.clone(),
        updates: vec![update_key(1).id, update_key(2).id],
    });

    let views = fold(s.envelopes(), ViewsConfig::default());
    assert!(views.update(&update_key(1)).is_none());
    assert_eq!(views.pruned_update(&update_key(1)), Some(pruned));
    assert_eq!(views.pruned_update(&update_key(2)), Some(pruned));
    assert_eq!(views.pruned_update(&update_key(3)), None, "kept");
    assert_eq!(views.pruned_update(&update_key(9)), None, "never was");
    let listed: Vec<_> = views.updates().into_iter().map(|u| u.key).collect();
    assert_eq!(listed, vec![update_key(3)]);
    let on_job: Vec<_> = views
        .job(&key)
        .expect("job")
        .updates
        .into_iter()
        .map(|u| u.key)
        .collect();
    assert_eq!(on_job, listed);

    let earlier = fold(&s.envelopes()[..before as usize], ViewsConfig::default());
    assert!(earlier.update(&update_key(1)).is_some());
    assert_eq!(earlier.pruned_update(&update_key(1)), None);
}
