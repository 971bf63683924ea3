//! Generated worlds, a naive first fit, and the safety checks for the property test.

use std::collections::{BTreeMap, BTreeSet};

use aurora_events::config::{Constraint, ConstraintKind, DEDICATED_ATTRIBUTE};
use aurora_events::{AgentId, Capacity, MaintenanceMode, TaskConfig, TaskId};
use aurora_scheduler_core::placement::{
    AgentSlot, Assignment, HOST_ATTRIBUTE, JobPresence, PendingGroup, PendingReason, Placement,
    Usage, port_seed,
};
use pretty_assertions::assert_eq;
use proptest::prelude::*;
use proptest::sample::{select, subsequence};

use super::{config, job, value};

const OVERHEAD_CPUS: f64 = 0.25;
const OVERHEAD_RAM_MB: u64 = 128;

#[derive(Debug, Clone)]
pub struct World {
    pub agents: Vec<AgentSlot>,
    pub configs: Vec<(TaskConfig, Vec<TaskId>)>,
    pub presence: JobPresence,
}

impl World {
    pub fn groups(&self) -> Vec<PendingGroup<'_>> {
        self.configs
            .iter()
            .map(|(config, tasks)| PendingGroup {
                config,
                tasks: tasks.clone(),
            })
            .collect()
    }
}

fn mode() -> impl Strategy<Value = MaintenanceMode> {
    prop_oneof![
        4 => Just(MaintenanceMode::None),
        1 => Just(MaintenanceMode::Scheduled),
        1 => Just(MaintenanceMode::Draining),
        1 => Just(MaintenanceMode::Drained),
    ]
}

prop_compose! {
    fn agent(index: usize)(
        host in 0..32u32,
        cpus in select(vec![0.5, 1.0, 2.0, 4.0]),
        ram_mb in select(vec![256u64, 512, 1024, 2048]),
        disk_mb in select(vec![0u64, 100, 1000]),
        gpus in 0..3u32,
        ports in 0..4u16,
        // Quarters of the capacity already used.
        used in (0..3u64, 0..3u64, 0..3u64, 0..2u32),
        used_ports in proptest::collection::btree_set(31000..31006u16, 0..3),
        rack in proptest::option::of(select(vec!["r1", "r2", "r3"])),
        dedicated in proptest::option::weighted(0.2, select(vec!["d1", "d2"])),
        mode in mode(),
    ) -> AgentSlot {
        let mut attributes = Vec::new();
        if let Some(rack) = rack {
            attributes.push(aurora_events::event::Attribute {
                name: "rack".into(),
                values: vec![rack.into()],
            });
        }
        if let Some(dedicated) = dedicated {
            attributes.push(aurora_events::event::Attribute {
                name: DEDICATED_ATTRIBUTE.into(),
                values: vec![dedicated.into()],
            });
        }
        AgentSlot {
            agent: AgentId(format!("a{index}")),
            host: format!("h{host}"),
            capacity: Capacity {
                cpus,
                ram_mb,
                disk_mb,
                gpus,
                // `ports` = 0 gives an inverted range, which holds no port.
                port_ranges: vec![(31000, 30999 + ports)],
            },
            used: Usage {
                cpus: cpus * used.0 as f64 / 4.0,
                ram_mb: ram_mb * used.1 / 4,
                disk_mb: disk_mb * used.2 / 4,
                gpus: used.3.min(gpus),
                ports: used_ports,
            },
            attributes,
            mode,
        }
    }
}

fn constraint() -> impl Strategy<Value = Constraint> {
    let c = |name: &str, kind: ConstraintKind| Constraint {
        name: name.into(),
        kind,
    };
    prop_oneof![
        (any::<bool>(), subsequence(vec!["r1", "r2", "r3"], 0..=2))
            .prop_map(move |(negated, values)| c("rack", value(negated, &values))),
        (0..3u32).prop_map(move |limit| c("host", ConstraintKind::Limit { limit })),
        (1..3u32).prop_map(move |limit| c("rack", ConstraintKind::Limit { limit })),
        select(vec!["d1", "d2"]).prop_map(move |d| c(DEDICATED_ATTRIBUTE, value(false, &[d]))),
        any::<bool>().prop_map(move |negated| c("zone", value(negated, &["z1"]))),
    ]
}

prop_compose! {
    fn group(index: usize)(
        job_index in 0..3u32,
        cpus in select(vec![0.05, 0.25, 0.5, 1.0, 1.75]),
        ram_mb in select(vec![16u64, 128, 512]),
        disk_mb in select(vec![0u64, 10, 500]),
        gpus in prop_oneof![3 => Just(0u32), 1 => Just(1u32)],
        ports in subsequence(vec!["a", "b", "c"], 0..=3),
        constraints in proptest::collection::vec(constraint(), 0..3),
        tasks in 0..8usize,
    ) -> (TaskConfig, Vec<TaskId>) {
        let mut config = config("x", cpus);
        config.job = job("role", &format!("j{job_index}"));
        config.resources.ram_mb = ram_mb;
        config.resources.disk_mb = disk_mb;
        config.resources.gpus = gpus;
        config.resources.ports = ports.into_iter().map(String::from).collect();
        config.constraints = constraints;
        let ids = (0..tasks).map(|t| TaskId::from_raw(format!("g{index}-t{t}"))).collect();
        (config, ids)
    }
}

pub fn world() -> impl Strategy<Value = World> {
    let agents = (0..24usize).prop_flat_map(|n| (0..n).map(agent).collect::<Vec<_>>());
    let groups = (0..8usize).prop_flat_map(|n| (0..n).map(group).collect::<Vec<_>>());
    // (job, agent — possibly unknown, count)
    let presence = proptest::collection::vec((0..3u32, 0..26usize, 1..3u32), 0..8);
    (agents, groups, presence).prop_map(|(agents, configs, entries)| {
        let mut presence = JobPresence::new();
        for (j, a, count) in entries {
            *presence
                .entry(job("role", &format!("j{j}")))
                .or_default()
                .entry(AgentId(format!("a{a}")))
                .or_default() += count;
        }
        World {
            agents,
            configs,
            presence,
        }
    })
}

// ----- the naive model: every agent, every task, every filter, no shortcuts -----

fn micro(cpus: f64) -> i64 {
    (cpus * 1e6).round() as i64
}

fn mode_rank(mode: MaintenanceMode) -> u8 {
    match mode {
        MaintenanceMode::None => 0,
        MaintenanceMode::Scheduled => 1,
        MaintenanceMode::Draining => 2,
        MaintenanceMode::Drained => 3,
    }
}

/// An agent's attributes by name, with `host` filled in from the host name if missing.
fn attributes(slot: &AgentSlot) -> BTreeMap<&str, BTreeSet<&str>> {
    let mut out: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for attribute in &slot.attributes {
        out.entry(attribute.name.as_str())
            .or_default()
            .extend(attribute.values.iter().map(String::as_str));
    }
    out.entry(HOST_ATTRIBUTE)
        .or_insert_with(|| BTreeSet::from([slot.host.as_str()]));
    out
}

fn ports_in_ranges(slot: &AgentSlot) -> BTreeSet<u16> {
    slot.capacity
        .port_ranges
        .iter()
        .filter(|(lo, hi)| lo <= hi)
        .flat_map(|(lo, hi)| *lo..=*hi)
        .collect()
}

/// Active tasks per (job, agent id): presence on known agents, then every placement.
type Counts<'w> = BTreeMap<(&'w aurora_events::JobKey, &'w AgentId), u32>;

fn initial_counts<'w>(world: &'w World) -> Counts<'w> {
    let mut counts = Counts::new();
    for (job, per_agent) in &world.presence {
        for (agent, count) in per_agent {
            if world.agents.iter().any(|a| &a.agent == agent) {
                *counts.entry((job, agent)).or_default() += count;
            }
        }
    }
    counts
}

/// Every rule but resources: dedicated, maintenance, value and limit constraints.
fn constraints_allow(
    world: &World,
    counts: &Counts<'_>,
    config: &TaskConfig,
    slot: &AgentSlot,
) -> bool {
    let attrs = attributes(slot);
    if attrs.contains_key(DEDICATED_ATTRIBUTE) && !config.is_dedicated() {
        return false;
    }
    match slot.mode {
        MaintenanceMode::None | MaintenanceMode::Scheduled => {}
        MaintenanceMode::Draining | MaintenanceMode::Drained => return false,
    }
    config.constraints.iter().all(|c| match &c.kind {
        ConstraintKind::Value { negated, values } => {
            let present = attrs
                .get(c.name.as_str())
                .is_some_and(|have| values.iter().any(|v| have.contains(v.as_str())));
            present != *negated
        }
        ConstraintKind::Limit { limit } => match attrs.get(c.name.as_str()) {
            None => false,
            Some(have) => have.iter().all(|value| {
                let on_value: u32 = world
                    .agents
                    .iter()
                    .filter(|other| {
                        attributes(other)
                            .get(c.name.as_str())
                            .is_some_and(|vs| vs.contains(value))
                    })
                    .map(|other| {
                        counts
                            .get(&(&config.job, &other.agent))
                            .copied()
                            .unwrap_or(0)
                    })
                    .sum();
                on_value < *limit
            }),
        },
    })
}

#[derive(Debug)]
struct Free {
    cpus: i64,
    ram: i64,
    disk: i64,
    gpus: i64,
    ports: BTreeSet<u16>,
    /// Every port of the agent's ranges, ascending, taken or not.
    all_ports: Vec<u16>,
}

/// First fit of every task, in order, over agents sorted by (mode, host, id), checking
/// every agent with every rule each time.
pub fn naive_first_fit(world: &World, groups: &[PendingGroup<'_>]) -> Vec<Assignment> {
    let mut order: Vec<&AgentSlot> = world.agents.iter().collect();
    order.sort_by_key(|a| (mode_rank(a.mode), a.host.clone(), a.agent.clone()));
    let mut free: Vec<Free> = order
        .iter()
        .map(|a| Free {
            cpus: micro(a.capacity.cpus) - micro(a.used.cpus),
            ram: a.capacity.ram_mb as i64 - a.used.ram_mb as i64,
            disk: a.capacity.disk_mb as i64 - a.used.disk_mb as i64,
            gpus: i64::from(a.capacity.gpus) - i64::from(a.used.gpus),
            ports: &ports_in_ranges(a) - &a.used.ports,
            all_ports: ports_in_ranges(a).into_iter().collect(),
        })
        .collect();
    let mut counts = initial_counts(world);
    let mut out = Vec::new();
    for group in groups {
        let r = &group.config.resources;
        for task in &group.tasks {
            let found = (0..order.len()).find(|&i| {
                let f = &free[i];
                constraints_allow(world, &counts, group.config, order[i])
                    && f.cpus >= micro(r.cpus) + micro(OVERHEAD_CPUS)
                    && f.ram >= (r.ram_mb + OVERHEAD_RAM_MB) as i64
                    && f.disk >= r.disk_mb as i64
                    && f.gpus >= i64::from(r.gpus)
                    && f.ports.len() >= r.ports.len()
            });
            let Some(i) = found else { continue };
            let f = &mut free[i];
            f.cpus -= micro(r.cpus) + micro(OVERHEAD_CPUS);
            f.ram -= (r.ram_mb + OVERHEAD_RAM_MB) as i64;
            f.disk -= r.disk_mb as i64;
            f.gpus -= i64::from(r.gpus);
            // The free ports met walking every port of the ranges, wrapping around, from the
            // one at the task's seed (modulo how many there are).
            let numbers: Vec<u16> = if r.ports.is_empty() {
                Vec::new()
            } else {
                let n = f.all_ports.len();
                let start = (port_seed(task) % n as u64) as usize;
                (0..n)
                    .map(|k| f.all_ports[(start + k) % n])
                    .filter(|port| f.ports.contains(port))
                    .take(r.ports.len())
                    .collect()
            };
            for n in &numbers {
                f.ports.remove(n);
            }
            *counts
                .entry((&group.config.job, &order[i].agent))
                .or_default() += 1;
            out.push(Assignment {
                task: task.clone(),
                job: group.config.job.clone(),
                agent: order[i].agent.clone(),
                host: order[i].host.clone(),
                ports: r.ports.iter().cloned().zip(numbers).collect(),
            });
        }
    }
    out
}

// ----- safety -----

pub fn check_invariants(world: &World, groups: &[PendingGroup<'_>], placement: &Placement) {
    // Every task exactly once, placed or pending.
    let mut asked: Vec<&TaskId> = groups.iter().flat_map(|g| &g.tasks).collect();
    let mut answered: Vec<&TaskId> = placement
        .assignments
        .iter()
        .map(|a| &a.task)
        .chain(placement.pending.iter().map(|p| &p.task))
        .collect();
    asked.sort();
    answered.sort();
    assert_eq!(asked, answered);
    for p in &placement.pending {
        match &p.reason {
            PendingReason::NoAgents => assert!(world.agents.is_empty()),
            PendingReason::Insufficient(kinds) => assert!(!kinds.is_empty()),
            PendingReason::DedicatedHost
            | PendingReason::HostDraining
            | PendingReason::HostDrained
            | PendingReason::ConstraintNotSatisfied(_)
            | PendingReason::LimitNotSatisfied(_) => assert!(!world.agents.is_empty()),
        }
    }

    let configs: BTreeMap<&TaskId, &TaskConfig> = groups
        .iter()
        .flat_map(|g| g.tasks.iter().map(|t| (t, g.config)))
        .collect();
    let mut counts = initial_counts(world);
    let mut taken: BTreeMap<&AgentId, (f64, u64, u64, u32, BTreeSet<u16>)> = BTreeMap::new();
    for a in &placement.assignments {
        let config = configs[&a.task];
        let slot = world.agents.iter().find(|s| s.agent == a.agent).unwrap();
        assert_eq!(a.host, slot.host);
        assert_eq!(a.job, config.job);
        // Constraints hold at the moment of placement (limit counts include earlier ones).
        assert!(
            constraints_allow(world, &counts, config, slot),
            "{a:?} breaks {:?}",
            config.constraints
        );
        *counts.entry((&config.job, &slot.agent)).or_default() += 1;

        let r = &config.resources;
        let t = taken.entry(&slot.agent).or_insert_with(|| {
            (
                slot.used.cpus,
                slot.used.ram_mb,
                slot.used.disk_mb,
                slot.used.gpus,
                slot.used.ports.clone(),
            )
        });
        t.0 += r.cpus + OVERHEAD_CPUS;
        t.1 += r.ram_mb + OVERHEAD_RAM_MB;
        t.2 += r.disk_mb;
        t.3 += r.gpus;
        assert!(
            t.0 <= slot.capacity.cpus + 1e-6,
            "cpus over-committed on {}",
            slot.agent
        );
        assert!(
            t.1 <= slot.capacity.ram_mb,
            "ram over-committed on {}",
            slot.agent
        );
        assert!(
            t.2 <= slot.capacity.disk_mb,
            "disk over-committed on {}",
            slot.agent
        );
        assert!(
            t.3 <= slot.capacity.gpus,
            "gpus over-committed on {}",
            slot.agent
        );

        assert_eq!(
            a.ports.keys().collect::<Vec<_>>(),
            r.ports.iter().collect::<Vec<_>>()
        );
        let in_ranges = ports_in_ranges(slot);
        for port in a.ports.values() {
            assert!(
                in_ranges.contains(port),
                "port {port} outside {:?}",
                slot.capacity.port_ranges
            );
            assert!(
                t.4.insert(*port),
                "port {port} given twice on {}",
                slot.agent
            );
        }
    }
}
