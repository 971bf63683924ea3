//! Placement: first fit, overhead, ports, constraints, dedicated hosts, maintenance and pending
//! reasons, each asserted on the whole output; then a property test against a naive model.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use aurora_events::config::{Constraint, ConstraintKind};
use aurora_events::event::Attribute;
use aurora_events::{
    AgentId, Capacity, Event, JobKey, MaintenanceMode, Resources, TaskConfig, TaskId, samples,
};
use aurora_scheduler_core::placement::{
    AgentSlot, Assignment, ExecutorOverhead, JobPresence, Pending, PendingGroup, PendingReason,
    Placement, PlacementInput, PlacementSettings, ResourceKind, Usage, place,
};
use pretty_assertions::assert_eq;

// ----- builders -----

/// An agent whose host is its id: `cpus`, 1 GiB RAM, 10 GiB disk, ports 31000-31004.
fn agent(id: &str, cpus: f64) -> AgentSlot {
    AgentSlot {
        agent: AgentId(id.to_string()),
        host: id.to_string(),
        capacity: Capacity {
            cpus,
            ram_mb: 1024,
            disk_mb: 10_240,
            gpus: 0,
            port_ranges: vec![(31000, 31004)],
        },
        used: Usage::default(),
        attributes: Vec::new(),
        mode: MaintenanceMode::None,
    }
}

fn with_attribute(mut slot: AgentSlot, name: &str, values: &[&str]) -> AgentSlot {
    slot.attributes.push(Attribute {
        name: name.to_string(),
        values: values.iter().map(|v| v.to_string()).collect(),
    });
    slot
}

fn in_mode(mut slot: AgentSlot, mode: MaintenanceMode) -> AgentSlot {
    slot.mode = mode;
    slot
}

fn job(role: &str, name: &str) -> JobKey {
    JobKey::new(role, "prod", name).unwrap()
}

/// A config of job `www-data/prod/<name>` asking for `cpus` (+0.25 overhead), 128 MiB RAM
/// (+128), 10 MiB disk, no ports, no constraints.
fn config(name: &str, cpus: f64) -> TaskConfig {
    TaskConfig {
        job: job("www-data", name),
        resources: Resources {
            cpus,
            ram_mb: 128,
            disk_mb: 10,
            gpus: 0,
            ports: BTreeSet::new(),
        },
        constraints: Vec::new(),
        ..samples::task_config()
    }
}

fn constrained(mut config: TaskConfig, name: &str, kind: ConstraintKind) -> TaskConfig {
    config.constraints.push(Constraint {
        name: name.to_string(),
        kind,
    });
    config
}

fn value(negated: bool, values: &[&str]) -> ConstraintKind {
    ConstraintKind::Value {
        negated,
        values: values.iter().map(|v| v.to_string()).collect(),
    }
}

fn task(config: &TaskConfig, instance: u32) -> TaskId {
    TaskId::from_raw(format!("{}-{instance}", config.job.name))
}

/// Runs one pass over `groups` (config, instance numbers) with default settings.
fn run(agents: &[AgentSlot], groups: &[(&TaskConfig, Range<u32>)]) -> Placement {
    run_with(
        agents,
        groups,
        &JobPresence::new(),
        PlacementSettings::default(),
    )
}

fn run_with(
    agents: &[AgentSlot],
    groups: &[(&TaskConfig, Range<u32>)],
    presence: &JobPresence,
    settings: PlacementSettings,
) -> Placement {
    let groups: Vec<PendingGroup<'_>> = groups
        .iter()
        .map(|(config, instances)| PendingGroup {
            config,
            tasks: instances.clone().map(|i| task(config, i)).collect(),
        })
        .collect();
    place(&PlacementInput {
        agents,
        groups: &groups,
        presence,
        settings,
    })
}

fn assigned(config: &TaskConfig, instance: u32, agent: &str) -> Assignment {
    assigned_ports(config, instance, agent, &[])
}

fn assigned_ports(
    config: &TaskConfig,
    instance: u32,
    agent: &str,
    ports: &[(&str, u16)],
) -> Assignment {
    Assignment {
        task: task(config, instance),
        job: config.job.clone(),
        agent: AgentId(agent.to_string()),
        host: agent.to_string(),
        ports: ports.iter().map(|(n, p)| (n.to_string(), *p)).collect(),
    }
}

fn pending(config: &TaskConfig, instance: u32, reason: PendingReason) -> Pending {
    Pending {
        task: task(config, instance),
        reason,
    }
}

fn constraint(name: &str) -> PendingReason {
    PendingReason::ConstraintNotSatisfied(name.to_string())
}

fn insufficient(kinds: &[ResourceKind]) -> PendingReason {
    PendingReason::Insufficient(kinds.to_vec())
}

// ----- first fit -----

#[test]
fn first_fit_follows_host_order_whatever_the_input_order() {
    // 2 cpus per agent, 0.75 + 0.25 overhead per task: two tasks per agent.
    let agents = vec![agent("c", 2.0), agent("a", 2.0), agent("b", 2.0)];
    let web = config("web", 0.75);
    let expected = Placement {
        assignments: vec![
            assigned(&web, 0, "a"),
            assigned(&web, 1, "a"),
            assigned(&web, 2, "b"),
            assigned(&web, 3, "b"),
            assigned(&web, 4, "c"),
        ],
        pending: vec![],
    };
    assert_eq!(run(&agents, &[(&web, 0..5)]), expected);

    let mut reversed = agents.clone();
    reversed.reverse();
    assert_eq!(run(&reversed, &[(&web, 0..5)]), expected);
}

#[test]
fn same_host_name_orders_by_agent_id() {
    let mut second = agent("b", 1.0);
    second.host = "same".into();
    let mut first = agent("a", 1.0);
    first.host = "same".into();
    let web = config("web", 0.75);
    let placement = run(&[second, first], &[(&web, 0..1)]);
    assert_eq!(
        placement
            .assignments
            .iter()
            .map(|a| a.agent.0.as_str())
            .collect::<Vec<_>>(),
        vec!["a"]
    );
}

#[test]
fn groups_are_served_in_the_given_order() {
    let agents = vec![agent("a", 1.0)];
    let first = config("first", 0.75);
    let second = config("second", 0.75);
    let full = insufficient(&[ResourceKind::Cpus]);
    assert_eq!(
        run(&agents, &[(&first, 0..1), (&second, 0..1)]),
        Placement {
            assignments: vec![assigned(&first, 0, "a")],
            pending: vec![pending(&second, 0, full.clone())],
        }
    );
    assert_eq!(
        run(&agents, &[(&second, 0..1), (&first, 0..1)]),
        Placement {
            assignments: vec![assigned(&second, 0, "a")],
            pending: vec![pending(&first, 0, full)],
        }
    );
}

#[test]
fn no_agents_leaves_everything_pending() {
    let web = config("web", 0.5);
    assert_eq!(
        run(&[], &[(&web, 0..2)]),
        Placement {
            assignments: vec![],
            pending: vec![
                pending(&web, 0, PendingReason::NoAgents),
                pending(&web, 1, PendingReason::NoAgents),
            ],
        }
    );
}

// ----- resources -----

#[test]
fn executor_overhead_counts_when_matching() {
    // 1 cpu and 1024 MiB. `big` fits only without overhead; `exact` fits exactly with it.
    let agents = vec![agent("a", 1.0)];
    let mut big = config("big", 0.8);
    big.resources.ram_mb = 900;
    let mut exact = config("exact", 0.75);
    exact.resources.ram_mb = 896;
    let placement = run(&agents, &[(&big, 0..1), (&exact, 0..1)]);
    assert_eq!(
        placement,
        Placement {
            assignments: vec![assigned(&exact, 0, "a")],
            pending: vec![pending(
                &big,
                0,
                insufficient(&[ResourceKind::Cpus, ResourceKind::Ram])
            )],
        }
    );
    assert_eq!(
        placement.pending[0].reason.to_string(),
        "Insufficient: cpus, ram"
    );

    let no_overhead = PlacementSettings {
        executor_overhead: ExecutorOverhead {
            cpus: 0.0,
            ram_mb: 0,
        },
    };
    assert_eq!(
        run_with(&agents, &[(&big, 0..1)], &JobPresence::new(), no_overhead),
        Placement {
            assignments: vec![assigned(&big, 0, "a")],
            pending: vec![],
        }
    );
}

#[test]
fn existing_usage_is_respected_and_every_short_resource_is_named() {
    let mut busy = agent("a", 4.0);
    busy.used = Usage {
        cpus: 3.5,
        ram_mb: 1000,
        disk_mb: 10_000,
        gpus: 0,
        ports: BTreeSet::new(),
    };
    let mut gpu = config("gpu", 0.5);
    gpu.resources.gpus = 1;
    gpu.resources.disk_mb = 500;
    assert_eq!(
        run(&[busy], &[(&gpu, 0..1)]),
        Placement {
            assignments: vec![],
            pending: vec![pending(
                &gpu,
                0,
                insufficient(&[
                    ResourceKind::Cpus,
                    ResourceKind::Ram,
                    ResourceKind::Disk,
                    ResourceKind::Gpus
                ])
            )],
        }
    );
}

/// Each task's ports are the free ones met from an offset hashed from its id (here web-0
/// starts at 31002, web-1 at 40001, web-2 at 40002 (taken: on to 40003), wrapping around the
/// agent's ranges), never one already used or given out in the pass.
#[test]
fn ports_start_where_the_task_id_points_and_are_never_given_twice() {
    let mut a = agent("a", 8.0);
    a.capacity.port_ranges = vec![(31000, 31002)];
    a.used.ports = BTreeSet::from([31001]);
    let mut b = agent("b", 8.0);
    b.capacity.port_ranges = vec![(40002, 40003), (40000, 40001)];
    let mut web = config("web", 0.1);
    web.resources.ports = BTreeSet::from(["http".to_string(), "health".to_string()]);
    let placement = run(&[b, a], &[(&web, 0..4)]);
    assert_eq!(
        placement,
        Placement {
            assignments: vec![
                assigned_ports(&web, 0, "a", &[("health", 31002), ("http", 31000)]),
                assigned_ports(&web, 1, "b", &[("health", 40001), ("http", 40002)]),
                assigned_ports(&web, 2, "b", &[("health", 40003), ("http", 40000)]),
            ],
            pending: vec![pending(&web, 3, insufficient(&[ResourceKind::Ports]))],
        }
    );
}

/// Lowest first, a replacement took the port its predecessor had just freed, which the
/// predecessor's orphaned process could still hold ("Address already in use"); tasks on one
/// agent were packed from the bottom of its range. Like Aurora's random pick, ports spread.
#[test]
fn a_replacement_does_not_get_the_port_its_predecessor_freed() {
    let mut a = agent("a", 8.0);
    a.capacity.port_ranges = vec![(31000, 31999)];
    a.capacity.ram_mb = 16_384;
    let mut web = config("web", 0.1);
    web.resources.ports = BTreeSet::from(["http".to_string()]);
    let port_of = |task: &str| {
        let groups = [PendingGroup {
            config: &web,
            tasks: vec![TaskId::from_raw(task.to_string())],
        }];
        let placement = place(&PlacementInput {
            agents: std::slice::from_ref(&a),
            groups: &groups,
            presence: &JobPresence::new(),
            settings: PlacementSettings::default(),
        });
        placement.assignments[0].ports["http"]
    };
    let first = port_of("www-data-prod-web-0-0190b4a0-0000-7000-8000-000000000001");
    let replacement = port_of("www-data-prod-web-0-0190b4a0-0000-7000-8000-000000000002");
    assert_ne!(first, replacement);
    assert_ne!(first, 31000, "not packed from the bottom");
    // One pass over ten instances: spread over the range, not 31000-31009.
    let placement = run(&[a.clone()], &[(&web, 0..10)]);
    let ports: BTreeSet<u16> = placement
        .assignments
        .iter()
        .map(|assignment| assignment.ports["http"])
        .collect();
    assert_eq!(ports.len(), 10);
    assert!(ports.iter().any(|port| *port >= 31100), "{ports:?}");
}

// ----- constraints -----

#[test]
fn value_constraints_with_several_values_and_negation() {
    // 1.5 cpus each: one task of 0.75 + 0.25 per agent, leaving 0.5.
    let agents = vec![
        with_attribute(agent("a", 1.5), "rack", &["r1"]),
        with_attribute(agent("b", 1.5), "rack", &["r2"]),
        with_attribute(agent("c", 1.5), "rack", &["r3"]),
        agent("d", 1.5),
    ];
    let pinned = constrained(config("pinned", 0.75), "rack", value(false, &["r3", "r2"]));
    let avoid = constrained(config("avoid", 0.75), "rack", value(true, &["r1", "r2"]));
    let nowhere = constrained(config("nowhere", 0.1), "rack", value(false, &["r9"]));
    let no_zone = constrained(config("zoned", 0.1), "zone", value(false, &["z1"]));
    assert_eq!(
        run(
            &agents,
            &[
                (&pinned, 0..2),
                (&avoid, 0..2),
                (&nowhere, 0..1),
                (&no_zone, 0..1)
            ]
        ),
        Placement {
            assignments: vec![
                assigned(&pinned, 0, "b"),
                assigned(&pinned, 1, "c"),
                // A host without the attribute satisfies a negated constraint.
                assigned(&avoid, 0, "d"),
            ],
            pending: vec![
                // a and b fail the constraint (score 1000); c and d are half a cpu short
                // (score 500): the earliest of those is nearest.
                pending(&avoid, 1, insufficient(&[ResourceKind::Cpus])),
                pending(&nowhere, 0, constraint("rack")),
                pending(&no_zone, 0, constraint("zone")),
            ],
        }
    );
}

#[test]
fn host_limit_spreads_a_job_and_the_rest_waits() {
    let agents = vec![agent("a", 8.0), agent("b", 8.0), agent("c", 8.0)];
    let spread = constrained(
        config("spread", 0.5),
        "host",
        ConstraintKind::Limit { limit: 1 },
    );
    let placement = run(&agents, &[(&spread, 0..4)]);
    assert_eq!(
        placement,
        Placement {
            assignments: vec![
                assigned(&spread, 0, "a"),
                assigned(&spread, 1, "b"),
                assigned(&spread, 2, "c"),
            ],
            pending: vec![pending(
                &spread,
                3,
                PendingReason::LimitNotSatisfied("host".into())
            )],
        }
    );
    assert_eq!(
        placement.pending[0].reason.to_string(),
        "Limit not satisfied: host"
    );
}

#[test]
fn limits_count_active_tasks_and_other_groups_of_the_job() {
    let agents = vec![
        with_attribute(agent("a", 8.0), "rack", &["r1"]),
        with_attribute(agent("b", 8.0), "rack", &["r1"]),
        with_attribute(agent("c", 8.0), "rack", &["r2"]),
        with_attribute(agent("d", 8.0), "rack", &["r2"]),
        agent("e", 8.0),
    ];
    let per_rack = constrained(
        config("svc", 0.5),
        "rack",
        ConstraintKind::Limit { limit: 2 },
    );
    // The same job with another config (mid-update): its tasks count towards the limit too.
    let mut updated = per_rack.clone();
    updated.resources.ram_mb = 256;
    let presence = JobPresence::from([(
        per_rack.job.clone(),
        BTreeMap::from([(AgentId("b".into()), 1)]),
    )]);
    assert_eq!(
        run_with(
            &agents,
            &[(&per_rack, 0..2), (&updated, 2..4)],
            &presence,
            PlacementSettings::default()
        ),
        Placement {
            assignments: vec![
                // r1 already has one (on b): one more there, then r2.
                assigned(&per_rack, 0, "a"),
                assigned(&per_rack, 1, "c"),
                assigned(&updated, 2, "c"),
            ],
            pending: vec![
                // e lacks the attribute ("Constraint not satisfied"), but a comes first.
                pending(&updated, 3, PendingReason::LimitNotSatisfied("rack".into())),
            ],
        }
    );
}

#[test]
fn limit_on_a_missing_attribute_is_a_constraint_mismatch() {
    let agents = vec![agent("a", 8.0)];
    let spread = constrained(
        config("spread", 0.5),
        "rack",
        ConstraintKind::Limit { limit: 1 },
    );
    assert_eq!(
        run(&agents, &[(&spread, 0..1)]),
        Placement {
            assignments: vec![],
            pending: vec![pending(&spread, 0, constraint("rack"))],
        }
    );
}

// ----- dedicated hosts -----

#[test]
fn dedicated_hosts_take_only_their_tasks_and_those_tasks_only_them() {
    let agents = vec![
        with_attribute(agent("a", 1.5), "dedicated", &["db/redis"]),
        agent("b", 1.0),
        with_attribute(agent("c", 1.5), "dedicated", &["web/cache"]),
    ];
    let plain = config("plain", 0.75);
    let dedicated_to = |name: &str, value_: &str| {
        constrained(
            TaskConfig {
                job: job("db", name),
                ..config(name, 0.75)
            },
            "dedicated",
            value(false, &[value_]),
        )
    };
    let redis = dedicated_to("redis", "db/redis");
    let other = dedicated_to("other", "db/other");
    assert_eq!(
        run(&agents, &[(&plain, 0..2), (&redis, 0..2), (&other, 0..1)]),
        Placement {
            assignments: vec![assigned(&plain, 0, "b"), assigned(&redis, 0, "a")],
            pending: vec![
                // a and c: "Host is dedicated"; b: a whole cpu short. Equal rank: a is first.
                pending(&plain, 1, PendingReason::DedicatedHost),
                // b lacks the attribute and c has another value; a is only half a cpu short.
                pending(&redis, 1, insufficient(&[ResourceKind::Cpus])),
                // No host is dedicated to db/other.
                pending(&other, 0, constraint("dedicated")),
            ],
        }
    );
}

#[test]
fn a_dedicated_host_refuses_an_ordinary_task() {
    let agents = vec![with_attribute(agent("a", 8.0), "dedicated", &["db/redis"])];
    let plain = config("plain", 0.5);
    let placement = run(&agents, &[(&plain, 0..1)]);
    assert_eq!(
        placement,
        Placement {
            assignments: vec![],
            pending: vec![pending(&plain, 0, PendingReason::DedicatedHost)],
        }
    );
    assert_eq!(placement.pending[0].reason.to_string(), "Host is dedicated");
}

// ----- maintenance -----

#[test]
fn draining_and_drained_hosts_are_vetoed_and_scheduled_ones_used_last() {
    let agents = vec![
        in_mode(agent("a", 1.0), MaintenanceMode::Scheduled),
        in_mode(agent("b", 1.0), MaintenanceMode::Draining),
        in_mode(agent("c", 1.0), MaintenanceMode::Drained),
        agent("d", 1.0),
    ];
    let web = config("web", 0.75);
    assert_eq!(
        run(&agents, &[(&web, 0..3)]),
        Placement {
            assignments: vec![assigned(&web, 0, "d"), assigned(&web, 1, "a")],
            pending: vec![pending(&web, 2, insufficient(&[ResourceKind::Cpus]))],
        }
    );

    let draining = vec![agents[2].clone(), agents[1].clone()];
    let placement = run(&draining, &[(&web, 0..1)]);
    assert_eq!(
        placement,
        Placement {
            assignments: vec![],
            pending: vec![pending(&web, 0, PendingReason::HostDraining)],
        }
    );
    assert_eq!(
        placement.pending[0].reason.to_string(),
        "Host draining for maintenance"
    );
    assert_eq!(
        run(&draining[..1], &[(&web, 0..1)]).pending[0]
            .reason
            .to_string(),
        "Host drained for maintenance"
    );
}

// ----- output -----

#[test]
fn an_assignment_becomes_a_task_assigned_event() {
    let web = config("web", 0.5);
    let assignment = assigned_ports(&web, 0, "a", &[("http", 31000)]);
    assert_eq!(
        assignment.into_event(),
        Event::TaskAssigned {
            task: task(&web, 0),
            job: web.job.clone(),
            agent: AgentId("a".into()),
            host: "a".into(),
            ports: BTreeMap::from([("http".to_string(), 31000)]),
        }
    );
}

#[test]
fn reasons_read_like_aurora() {
    let texts: Vec<String> = [
        PendingReason::NoAgents,
        PendingReason::DedicatedHost,
        PendingReason::HostDraining,
        PendingReason::HostDrained,
        constraint("rack"),
        PendingReason::LimitNotSatisfied("host".into()),
        insufficient(&ResourceKind::ALL),
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(
        texts,
        vec![
            "No agents registered",
            "Host is dedicated",
            "Host draining for maintenance",
            "Host drained for maintenance",
            "Constraint not satisfied: rack",
            "Limit not satisfied: host",
            "Insufficient: cpus, ram, disk, ports, gpus",
        ]
    );
}

// ----- properties -----

#[path = "placement/model.rs"]
mod model;

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// Random clusters and pending groups: nothing is over-committed, every task is placed once
    /// or pending, every placement obeys the task's constraints, and the fast engine makes the
    /// same choices as a naive first fit that checks every agent for every task.
    #[test]
    fn placement_is_safe_and_equals_naive_first_fit(world in model::world()) {
        let groups = world.groups();
        let placement = place(&PlacementInput {
            agents: &world.agents,
            groups: &groups,
            presence: &world.presence,
            settings: PlacementSettings::default(),
        });
        model::check_invariants(&world, &groups, &placement);
        assert_eq!(
            model::naive_first_fit(&world, &groups),
            placement.assignments
        );
    }
}
