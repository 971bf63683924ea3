//! Agents registering, reporting attributes, and being lost.

use aurora_events::event::Attribute;
use aurora_events::{Capacity, Event, ScheduleStatus};
use aurora_scheduler_core::commands::{
    LoseAgent, RegisterAgent, UnbindAgent, UpdateHostAttributes,
};
use aurora_scheduler_core::{Command, Rejection};

use super::support::*;

#[test]
fn register_records_capacity_and_attributes() {
    given([])
        .when(Command::RegisterAgent(registration(1)))
        .then_events(vec![agent_registered(1)]);
    let registered = registration(1);
    let backwards = Capacity {
        port_ranges: vec![(2000, 1000)],
        ..registered.capacity.clone()
    };
    let result = given([])
        .when(Command::RegisterAgent(RegisterAgent {
            capacity: backwards,
            ..registered
        }))
        .result;
    assert!(matches!(result, Err(Rejection::InvalidRequest(m)) if m.contains("backwards")));
}

#[test]
fn a_second_live_agent_on_one_host_is_refused() {
    let result = given([agent_registered(1)])
        .when(Command::RegisterAgent(RegisterAgent {
            agent: agent(9),
            ..registration(1)
        }))
        .result;
    assert!(matches!(result, Err(Rejection::InvalidRequest(m)) if m.contains("already served")));
}

/// An agent that moved to another host no longer serves its old one: a new agent may take it,
/// while the host it moved to is still refused to others.
#[test]
fn an_agent_that_moved_hosts_frees_the_old_one() {
    let old_host = registration(1).host;
    let register = |id: u32, host: &str| {
        Command::RegisterAgent(RegisterAgent {
            agent: agent(id),
            host: host.to_string(),
            ..registration(1)
        })
    };
    let mut cluster = given([agent_registered(1)]);
    let moved = cluster.when(register(1, "elsewhere")).decision();
    cluster.commit(&moved);
    cluster.when(register(9, &old_host)).decision();
    let refused = cluster.when(register(9, "elsewhere")).result;
    assert!(
        matches!(&refused, Err(Rejection::InvalidRequest(m)) if m.contains("already served by agent")),
        "{refused:?}"
    );
}

/// Re-registering reconciles in the same decision: a task placed on the agent that it no longer
/// runs is LOST (and, being a service, replaced); one it runs that nobody placed there is
/// killed.
#[test]
fn registering_again_reconciles_the_tasks_the_agent_runs() {
    let service = {
        let mut c = config(&job("web"), 1.0, 64);
        c.is_service = true;
        c
    };
    let kept = task_id(&service.job, 0);
    let gone = task_id(&service.job, 1);
    let mut events = vec![agent_registered(1)];
    events.extend(job_created(&service, &[kept.clone(), gone.clone()]));
    events.extend(running(&service.job, &kept, 1));
    events.extend(running(&service.job, &gone, 1));
    let agent = agent(1);
    let stranger = task_id(&job("other"), 0);
    let decision = given(events)
        .when(Command::RegisterAgent(RegisterAgent {
            running: [kept.clone(), stranger.clone()].into(),
            ..registration(1)
        }))
        .decision();
    let facts = decision.facts();
    assert_eq!(facts[0], agent_registered(1));
    assert_eq!(
        facts[1],
        changed(
            &service.job,
            &gone,
            ScheduleStatus::Running,
            ScheduleStatus::Lost,
            Some(aurora_scheduler_core::commands::NOT_FOUND_ON_AGENT)
        )
    );
    assert_eq!(
        decision.events[1].cause,
        Some(decision.events[0].id),
        "the task is LOST because the agent registered without it (what `aurora why` shows)"
    );
    assert!(
        matches!(&facts[2], Event::TaskCreated { ancestor: Some(a), .. } if a == &gone),
        "the lost service instance is replaced: {:?}",
        facts[2]
    );
    assert_eq!(
        facts.len(),
        3,
        "the task still running is left alone: {facts:?}"
    );
    assert_eq!(
        decision.effects,
        vec![aurora_scheduler_core::Effect::Kill {
            task: stranger,
            agent
        }]
    );
}

#[test]
fn changed_attributes_are_recorded_unchanged_ones_are_not() {
    let given = given([agent_registered(1)]);
    let same = vec![Attribute {
        name: "rack".into(),
        values: vec!["r1".into()],
    }];
    assert!(
        given
            .when(Command::UpdateHostAttributes(UpdateHostAttributes {
                agent: agent(1),
                attributes: same
            }))
            .decision()
            .is_empty()
    );
    let moved = vec![Attribute {
        name: "rack".into(),
        values: vec!["r7".into()],
    }];
    given
        .when(Command::UpdateHostAttributes(UpdateHostAttributes {
            agent: agent(1),
            attributes: moved.clone(),
        }))
        .then_events(vec![Event::HostAttributesChanged {
            host: host(1),
            agent: Some(agent(1)),
            attributes: moved,
        }]);
}

#[test]
fn losing_an_agent_loses_and_reschedules_its_tasks() {
    let job = job("hello");
    let config = config(&job, 1.0, 128);
    let task = task_id(&job, 0);
    let decision = given(one_running(&config, &task))
        .at(10 * 60_000)
        .when(Command::LoseAgent(LoseAgent {
            agent: agent(1),
            reason: "missed 3 heartbeats".into(),
        }))
        .decision();
    let new = created_tasks(&decision);
    pretty_assertions::assert_eq!(
        decision.facts(),
        vec![
            Event::AgentLost {
                agent: agent(1),
                reason: "missed 3 heartbeats".into()
            },
            changed(
                &job,
                &task,
                ScheduleStatus::Running,
                ScheduleStatus::Lost,
                Some("Agent agent-1 lost: missed 3 heartbeats")
            ),
            Event::TaskCreated {
                task: new[0].clone(),
                job: job.clone(),
                instance: 0,
                config: config.hash(),
                status: ScheduleStatus::Pending,
                ancestor: Some(task.clone()),
                failure_count: 0,
                penalty_ms: 0,
                message: Some("Rescheduled".into()),
            },
        ]
    );
    assert_eq!(decision.events[1].cause, Some(decision.events[0].id));
}

/// A task told to die before the agent (or the leader) restarted is told again when the agent
/// registers with it still running: the earlier kill lived only in the old leader's memory.
#[test]
fn registering_again_kills_again_what_is_being_killed() {
    let service = {
        let mut c = config(&job("web"), 1.0, 64);
        c.is_service = true;
        c
    };
    let restarting = task_id(&service.job, 0);
    let running_one = task_id(&service.job, 1);
    let mut events = vec![agent_registered(1)];
    events.extend(job_created(
        &service,
        &[restarting.clone(), running_one.clone()],
    ));
    events.extend(running(&service.job, &restarting, 1));
    events.extend(running(&service.job, &running_one, 1));
    events.push(changed(
        &service.job,
        &restarting,
        ScheduleStatus::Running,
        ScheduleStatus::Restarting,
        None,
    ));
    let agent = agent(1);
    let decision = given(events)
        .when(Command::RegisterAgent(RegisterAgent {
            running: [restarting.clone(), running_one].into(),
            ..registration(1)
        }))
        .decision();
    assert_eq!(decision.facts(), vec![agent_registered(1)]);
    assert_eq!(
        decision.effects,
        vec![aurora_scheduler_core::Effect::Kill {
            task: restarting,
            agent
        }]
    );
}

/// The endpoint becomes a link on task pages: only an http(s) URL, or none, is accepted.
#[test]
fn an_endpoint_must_be_an_http_url() {
    use aurora_scheduler_core::commands::check_endpoint;
    for good in [
        "",
        "http://host-1:1338",
        "https://agent.example.com/observer",
        "HTTP://10.0.0.1:1338",
    ] {
        assert_eq!(check_endpoint(good), Ok(()), "{good}");
    }
    for bad in [
        "javascript:alert(document.domain)//x",
        "ftp://host/",
        "http://",
        "http:///path",
        "https://user@host/",
        "http://host/a b",
        "http://host/\nx",
        "//host:1338",
    ] {
        let refused = check_endpoint(bad);
        assert!(
            matches!(&refused, Err(Rejection::InvalidRequest(m)) if m.contains("invalid agent endpoint")),
            "{bad:?}: {refused:?}"
        );
    }
    let result = given([])
        .when(Command::RegisterAgent(RegisterAgent {
            endpoint: "javascript:alert(1)".into(),
            ..registration(1)
        }))
        .result;
    assert!(
        matches!(result, Err(Rejection::InvalidRequest(_))),
        "{result:?}"
    );
}

/// Registering agent 1 as `principal`.
fn register_as(principal: Option<&str>) -> Command {
    Command::RegisterAgent(RegisterAgent {
        principal: principal.map(str::to_owned),
        ..registration(1)
    })
}

fn bound(principal: &str) -> Event {
    Event::AgentBound {
        agent: agent(1),
        principal: principal.into(),
    }
}

/// Under authentication the first registration binds the agent id to its user; the same user
/// registers again without a new binding; another user is refused, even after the agent was
/// lost.
#[test]
fn an_agent_id_is_bound_to_the_first_user_that_registers_it() {
    given([])
        .when(register_as(Some("agent-vm1")))
        .then_events(vec![agent_registered(1), bound("agent-vm1")]);
    given([agent_registered(1), bound("agent-vm1")])
        .when(register_as(Some("agent-vm1")))
        .then_events(vec![agent_registered(1)]);
    let lost = Event::AgentLost {
        agent: agent(1),
        reason: "missed heartbeats".into(),
    };
    let result = given([agent_registered(1), bound("agent-vm1"), lost])
        .when(register_as(Some("mallory")))
        .result;
    assert!(
        matches!(&result, Err(Rejection::AgentBoundElsewhere { bound, presented, .. })
            if bound == "agent-vm1" && presented == "mallory"),
        "{result:?}"
    );
    // Without authentication nothing is bound.
    given([])
        .when(register_as(None))
        .then_events(vec![agent_registered(1)]);
}

/// Registering a new agent id, `agent-new`, on agent 1's host as `principal`.
fn register_new_id_on_host_1(principal: &str) -> Command {
    let Command::RegisterAgent(mut registration) = register_as(Some(principal)) else {
        unreachable!()
    };
    registration.agent = aurora_events::AgentId("agent-new".into());
    Command::RegisterAgent(registration)
}

fn agent_1_lost() -> Event {
    Event::AgentLost {
        agent: agent(1),
        reason: "missed heartbeats".into(),
    }
}

/// The host is bound with its agent: once agent 1 (bound to agent-vm1) is lost, another user
/// cannot take its host over under a new agent id, while agent-vm1 itself may.
#[test]
fn a_host_is_bound_to_the_user_of_its_agent() {
    let result = given([agent_registered(1), bound("agent-vm1"), agent_1_lost()])
        .when(register_new_id_on_host_1("mallory"))
        .result;
    assert!(
        matches!(&result, Err(Rejection::HostBoundElsewhere { host: h, agent: a, bound, presented })
            if *h == host(1) && *a == agent(1) && bound == "agent-vm1" && presented == "mallory"),
        "{result:?}"
    );
    let message = result.unwrap_err().to_string();
    assert!(message.contains("aurora-admin agent unbind"), "{message}");

    let accepted = given([agent_registered(1), bound("agent-vm1"), agent_1_lost()])
        .when(register_new_id_on_host_1("agent-vm1"))
        .result
        .unwrap();
    assert!(
        accepted.events.iter().any(|e| matches!(&e.event,
            Event::AgentBound { agent, principal } if agent.0 == "agent-new" && principal == "agent-vm1")),
        "{:?}",
        accepted.events
    );
}

/// An operator unbinds a lost agent: its id and its host are free for another user, who
/// binds them at registration. Unbinding an unbound or unknown agent is refused.
#[test]
fn an_unbound_agent_frees_its_id_and_its_host() {
    let unbound = Event::AgentUnbound {
        agent: agent(1),
        principal: "agent-vm1".into(),
    };
    given([agent_registered(1), bound("agent-vm1"), agent_1_lost()])
        .when(Command::UnbindAgent(UnbindAgent { agent: agent(1) }))
        .then_events(vec![unbound.clone()]);

    let history = [
        agent_registered(1),
        bound("agent-vm1"),
        agent_1_lost(),
        unbound.clone(),
    ];
    given(history.clone())
        .when(register_as(Some("mallory")))
        .then_events(vec![agent_registered(1), bound("mallory")]);
    let new_id = given(history.clone())
        .when(register_new_id_on_host_1("mallory"))
        .result
        .unwrap();
    assert!(
        new_id.events.iter().any(|e| matches!(&e.event,
            Event::AgentBound { principal, .. } if principal == "mallory")),
        "{:?}",
        new_id.events
    );

    let again = given(history)
        .when(Command::UnbindAgent(UnbindAgent { agent: agent(1) }))
        .result;
    assert!(
        matches!(&again, Err(Rejection::InvalidRequest(m)) if m.contains("not bound")),
        "{again:?}"
    );
    let unknown = given([])
        .when(Command::UnbindAgent(UnbindAgent { agent: agent(9) }))
        .result;
    assert!(
        matches!(&unknown, Err(Rejection::UnknownAgent(_))),
        "{unknown:?}"
    );
}

/// Agent ids and hosts end up in URLs, pages and every event about the agent: only names of
/// host-name characters are registered.
#[test]
fn agent_ids_and_hosts_must_be_names() {
    let host = registration(1).host;
    let register = |agent: &str, host: &str| RegisterAgent {
        agent: aurora_events::AgentId(agent.into()),
        host: host.into(),
        ..registration(1)
    };
    let long = "a".repeat(254);
    for (agent, host) in [
        ("", host.as_str()),
        ("../x", host.as_str()),
        ("a%2Fb", host.as_str()),
        (long.as_str(), host.as_str()),
        ("agent-1", "<script>alert(1)</script>"),
    ] {
        let result = given([])
            .when(Command::RegisterAgent(register(agent, host)))
            .result;
        assert!(
            matches!(&result, Err(Rejection::InvalidRequest(m)) if m.contains("invalid")),
            "{agent:?} on {host:?}: {result:?}"
        );
    }
    for (agent, host) in [
        ("20150101-000000-0000-0000-S0", "h1.example.com"),
        ("hollow-371", "10.0.0.1"),
        ("a_b:c", "::1"),
    ] {
        let result = given([])
            .when(Command::RegisterAgent(register(agent, host)))
            .result;
        assert!(result.is_ok(), "{agent:?} on {host:?}: {result:?}");
    }
}
