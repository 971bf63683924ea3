//! Aurora's operator endpoints beside the pages: `/agents` (and its old name `/slaves`),
//! `/offers`, `/pendingtasks`, `/state` and `/tiers`. Scripts written for Aurora `curl` them
//! and read JSON, so they answer JSON; `/agents` answers a browser with a page, as Aurora's does.
//!
//! There are no Mesos offers here: agents report their capacity and the leader places tasks
//! on it. `/offers` shows what Aurora's shows an operator, what each live agent has free
//! (its capacity less what the tasks placed on it hold), in the shape of Aurora's offers.

use std::collections::BTreeMap;

use crate::query::Query;
use askama::Template;
use aurora_events::{Capacity, ConfigHash, ResourceAggregate, Resources, TaskId, Tier};
use aurora_projections::{HostView, Queries, Views};
use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};
use strum::IntoEnumIterator;

use super::{AtQuery, Layout, PageError, read, render, wants_json};
use crate::WebState;
use crate::format;

/// What an agent has left once the tasks placed on it are counted.
#[derive(Debug, Clone, PartialEq)]
pub struct Free {
    pub cpus: f64,
    pub ram_mb: u64,
    pub disk_mb: u64,
    pub gpus: u32,
    /// Inclusive port ranges no task on the agent holds, in order.
    pub ports: Vec<(u16, u16)>,
}

/// `capacity` less what each task placed on the agent holds: its resources, its executor's
/// `overhead` (as placement counts it: a task that does not fit what is shown free would wait
/// with "Insufficient: cpus" while the page showed room) and the ports it was given. Never
/// below zero: an agent that re-registered smaller than what runs on it has nothing free.
pub fn free_capacity<'a>(
    capacity: &Capacity,
    overhead: &ResourceAggregate,
    placed: impl IntoIterator<Item = (&'a Resources, &'a [u16])>,
) -> Free {
    let mut free = Free {
        cpus: capacity.cpus,
        ram_mb: capacity.ram_mb,
        disk_mb: capacity.disk_mb,
        gpus: capacity.gpus,
        ports: Vec::new(),
    };
    let mut taken: Vec<u16> = Vec::new();
    for (resources, ports) in placed {
        free.cpus = (free.cpus - resources.cpus - overhead.cpus).max(0.0);
        free.ram_mb = free
            .ram_mb
            .saturating_sub(resources.ram_mb)
            .saturating_sub(overhead.ram_mb);
        free.disk_mb = free
            .disk_mb
            .saturating_sub(resources.disk_mb)
            .saturating_sub(overhead.disk_mb);
        free.gpus = free.gpus.saturating_sub(resources.gpus);
        taken.extend_from_slice(ports);
    }
    taken.sort_unstable();
    taken.dedup();
    let mut ranges = capacity.port_ranges.clone();
    ranges.sort_unstable();
    for (first, last) in ranges {
        if first > last {
            continue;
        }
        // Walk the range, cutting it at every taken port inside it.
        let mut start = u32::from(first);
        let end = u32::from(last);
        let inside: Vec<u32> = taken
            .iter()
            .map(|p| u32::from(*p))
            .filter(|p| (start..=end).contains(p))
            .collect();
        for port in inside {
            if port > start {
                free.ports.push((narrow(start), narrow(port - 1)));
            }
            start = port + 1;
        }
        if start <= end {
            free.ports.push((narrow(start), narrow(end)));
        }
    }
    free
}

/// A port number back from the arithmetic above, which never leaves `0..=u16::MAX`.
fn narrow(port: u32) -> u16 {
    u16::try_from(port).unwrap_or(u16::MAX)
}

/// One agent as `/agents` and `/offers` show it.
struct AgentLine {
    host: String,
    agent: String,
    mode: String,
    lost: bool,
    registered: String,
    capacity: String,
    free: Free,
    free_text: String,
    tasks: usize,
    attributes: Vec<(String, String)>,
}

/// The agents the views know, by host, with what each has free (each task counted with its
/// executor's `overhead`).
fn agent_lines(views: &Views, overhead: &ResourceAggregate) -> Vec<AgentLine> {
    views
        .hosts()
        .into_iter()
        .filter_map(|host| {
            let agent = host.agent.clone()?;
            let capacity = agent.capacity.clone().unwrap_or_default();
            let free = free_on(views, &host, &capacity, overhead);
            Some(AgentLine {
                free_text: format!(
                    "{} cpus, {} RAM, {} disk{}",
                    format::cpus(free.cpus),
                    format::megabytes(free.ram_mb),
                    format::megabytes(free.disk_mb),
                    if free.gpus > 0 {
                        format!(", {} GPUs", free.gpus)
                    } else {
                        String::new()
                    },
                ),
                capacity: format!(
                    "{} cpus, {} RAM, {} disk",
                    format::cpus(capacity.cpus),
                    format::megabytes(capacity.ram_mb),
                    format::megabytes(capacity.disk_mb),
                ),
                free,
                host: host.host.clone(),
                agent: agent.id.0.clone(),
                mode: host.mode.to_string(),
                lost: agent.lost,
                registered: agent
                    .registered_at
                    .map_or_else(|| "—".to_string(), format::time),
                tasks: host.tasks.len(),
                attributes: host
                    .attributes
                    .iter()
                    .map(|a| (a.name.clone(), a.values.join(",")))
                    .collect(),
            })
        })
        .collect()
}

/// What `host`'s agent has free: the tasks holding resources there, by their configs.
fn free_on(
    views: &Views,
    host: &HostView,
    capacity: &Capacity,
    overhead: &ResourceAggregate,
) -> Free {
    let placed: Vec<(Resources, Vec<u16>)> = host
        .tasks
        .iter()
        .filter_map(|id| views.task(id))
        .filter_map(|task| {
            let config = views.task_config(&task.config)?;
            Some((config.resources, task.ports.values().copied().collect()))
        })
        .collect();
    free_capacity(
        capacity,
        overhead,
        placed.iter().map(|(r, ports)| (r, ports.as_slice())),
    )
}

#[derive(Template)]
#[template(path = "agents.html")]
struct AgentsPage {
    layout: Layout,
    agents: Vec<AgentLine>,
}

/// `/agents` (and `/slaves`): every agent with its host, maintenance mode, attributes,
/// capacity and what it has free; JSON to a script.
pub async fn agents(
    State(state): State<WebState>,
    Query(at): Query<AtQuery>,
    headers: axum::http::HeaderMap,
) -> Result<Response, PageError> {
    let wanted_json = wants_json(&headers);
    let overhead = state.executor_overhead;
    let (agents, moment) = match read(&state, "/agents", &at, move |views| {
        agent_lines(views, &overhead)
    })
    .await
    {
        Ok(read) => read,
        Err(e) if wanted_json => return Ok(e.into_json()),
        Err(e) => return Err(e),
    };
    if wanted_json {
        let agents: Vec<Value> = agents
            .iter()
            .map(|a| {
                json!({
                    "host": a.host, "id": a.agent, "mode": a.mode, "lost": a.lost,
                    "tasks": a.tasks,
                    "attributes": a.attributes.iter().cloned().collect::<BTreeMap<_, _>>(),
                    "free": {
                        "cpus": a.free.cpus, "ram_mb": a.free.ram_mb,
                        "disk_mb": a.free.disk_mb, "gpus": a.free.gpus,
                        "ports": port_ranges(&a.free.ports),
                    },
                })
            })
            .collect();
        return Ok(super::json(&Value::Array(agents)));
    }
    render(&AgentsPage {
        layout: moment.layout(&state, "Agents".into(), "agents"),
        agents,
    })
}

fn port_ranges(ranges: &[(u16, u16)]) -> Vec<Value> {
    ranges
        .iter()
        .map(|(begin, end)| json!({"begin": begin, "end": end}))
        .collect()
}

/// `/offers`: what each live agent has free, in the shape of Aurora's offers (resources
/// `cpus`, `mem`, `disk`, `gpus` as scalars and `ports` as ranges; attributes as text).
pub async fn offers(State(state): State<WebState>, Query(at): Query<AtQuery>) -> Response {
    let overhead = state.executor_overhead;
    let agents = match read(&state, "/offers", &at, move |views| {
        agent_lines(views, &overhead)
    })
    .await
    {
        Ok((agents, _)) => agents,
        Err(e) => return e.into_json(),
    };
    let offers: Vec<Value> = agents
        .iter()
        .filter(|a| !a.lost)
        .map(|a| {
            let scalar =
                |name: &str, value: f64| json!({"name": name, "type": "SCALAR", "scalar": value});
            let mut resources = vec![
                scalar("cpus", a.free.cpus),
                scalar("mem", a.free.ram_mb as f64),
                scalar("disk", a.free.disk_mb as f64),
            ];
            if a.free.gpus > 0 {
                resources.push(scalar("gpus", f64::from(a.free.gpus)));
            }
            resources.push(json!({
                "name": "ports", "type": "RANGES", "ranges": port_ranges(&a.free.ports),
            }));
            let attributes: Vec<Value> = a
                .attributes
                .iter()
                .map(|(name, text)| json!({"name": name, "type": "TEXT", "text": text}))
                .collect();
            json!({
                "id": a.agent, "agent_id": a.agent, "hostname": a.host,
                "resources": resources, "attributes": attributes,
            })
        })
        .collect();
    super::json(&Value::Array(offers))
}

/// `/pendingtasks`: the tasks waiting to be placed, grouped as Aurora groups them (by job and
/// task config), each group with its task ids and why its first task waits. Reasons are the
/// leader's, now: `?at=` is refused rather than answered with today's tasks.
pub async fn pending_tasks(State(state): State<WebState>, Query(at): Query<AtQuery>) -> Response {
    if at.at.is_some() {
        return PageError::bad_request(
            "/pendingtasks shows the tasks waiting now, with the leader's reasons; it has no \
             ?at= (a job's page at a past moment shows its tasks as they were)",
        )
        .into_json();
    }
    let groups: BTreeMap<(String, ConfigHash), Vec<TaskId>> = state
        .read
        .live_off_thread(|views| {
            let mut groups: BTreeMap<(String, ConfigHash), Vec<TaskId>> = BTreeMap::new();
            for role in views.roles() {
                let Some(role) = views.role(role.role.as_str()) else {
                    continue;
                };
                for job in role.jobs.iter().filter(|j| j.tasks.pending > 0) {
                    let Some(view) = views.job(&job.job) else {
                        continue;
                    };
                    for task in view.active.iter().filter(|t| {
                        matches!(
                            t.status,
                            aurora_events::ScheduleStatus::Pending
                                | aurora_events::ScheduleStatus::Throttled
                        )
                    }) {
                        groups
                            .entry((job.job.to_string(), task.config))
                            .or_default()
                            .push(task.id.clone());
                    }
                }
            }
            groups
        })
        .await;
    let waiting: Vec<TaskId> = groups.values().flatten().cloned().collect();
    let reasons = state.read.pending_reasons(&waiting);
    let groups: Vec<Value> = groups
        .into_iter()
        .map(|((name, _), task_ids)| {
            let reason = task_ids.first().and_then(|id| reasons.get(id)).cloned();
            json!({"name": name, "taskIds": task_ids, "reason": reason})
        })
        .collect();
    super::json(&Value::Array(groups))
}

/// `/state`: which tasks each agent holds (task id → config hash) and the configs those
/// hashes name, once each.
pub async fn state_dump(State(state): State<WebState>, Query(at): Query<AtQuery>) -> Response {
    let dumped = read(&state, "/state", &at, |views| {
        let mut agents = serde_json::Map::new();
        let mut configs = serde_json::Map::new();
        for host in views.hosts() {
            let Some(agent) = &host.agent else { continue };
            let mut tasks = serde_json::Map::new();
            for task in host.tasks.iter().filter_map(|id| views.task(id)) {
                let hash = task.config.to_string();
                if !configs.contains_key(&hash)
                    && let Some(config) = views.task_config(&task.config)
                {
                    configs.insert(
                        hash.clone(),
                        serde_json::to_value(config).unwrap_or_default(),
                    );
                }
                tasks.insert(task.id.to_string(), Value::String(hash));
            }
            agents.insert(
                agent.id.0.clone(),
                json!({"host": host.host, "tasks": tasks}),
            );
        }
        json!({"agents": agents, "configs": configs})
    })
    .await;
    match dumped {
        Ok((dump, _)) => super::json(&dump),
        Err(e) => e.into_json(),
    }
}

/// `/tiers`: the cluster's tiers and the default one, as Aurora's tier config file reads.
pub async fn tiers() -> Response {
    let tiers: serde_json::Map<String, Value> = Tier::iter()
        .map(|tier| {
            let name: &'static str = tier.into();
            (
                name.to_string(),
                json!({"revocable": tier.revocable(), "preemptible": tier.preemptible()}),
            )
        })
        .collect();
    let default: &'static str = Tier::default().into();
    super::json(&json!({"default": default, "tiers": tiers}))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_OVERHEAD: ResourceAggregate = ResourceAggregate {
        cpus: 0.0,
        ram_mb: 0,
        disk_mb: 0,
    };

    fn capacity(ports: Vec<(u16, u16)>) -> Capacity {
        Capacity {
            cpus: 4.0,
            ram_mb: 1024,
            disk_mb: 2048,
            gpus: 1,
            port_ranges: ports,
        }
    }

    fn resources(cpus: f64, ram_mb: u64) -> Resources {
        Resources {
            cpus,
            ram_mb,
            disk_mb: 100,
            gpus: 0,
            ports: Default::default(),
        }
    }

    #[test]
    fn free_capacity_takes_each_tasks_resources_and_ports() {
        let one = resources(1.5, 256);
        let two = resources(0.5, 512);
        let free = free_capacity(
            &capacity(vec![(31000, 31010), (40000, 40000)]),
            &NO_OVERHEAD,
            [(&one, &[31000, 31005][..]), (&two, &[31010, 40000][..])],
        );
        assert_eq!(free.cpus, 2.0);
        assert_eq!(free.ram_mb, 256);
        assert_eq!(free.disk_mb, 1848);
        assert_eq!(free.gpus, 1);
        assert_eq!(free.ports, vec![(31001, 31004), (31006, 31009)]);
        // Each task's executor holds its share too, as placement counts it.
        let with_executors = free_capacity(
            &capacity(vec![]),
            &crate::DEFAULT_EXECUTOR_OVERHEAD,
            [(&one, &[][..]), (&two, &[][..])],
        );
        assert_eq!(with_executors.cpus, 1.5);
        assert_eq!(with_executors.ram_mb, 0, "1024 - 256 - 512 - 2 × 128");
    }

    #[test]
    fn free_capacity_never_goes_below_zero() {
        let big = Resources {
            gpus: 3,
            ..resources(10.0, 4096)
        };
        let free = free_capacity(&capacity(vec![(1, 1)]), &NO_OVERHEAD, [(&big, &[1][..])]);
        assert_eq!(free.cpus, 0.0);
        assert_eq!(free.ram_mb, 0);
        assert_eq!(free.gpus, 0);
        assert!(free.ports.is_empty());
    }

    #[test]
    fn free_capacity_keeps_the_edges_of_the_port_space() {
        let none: [(&Resources, &[u16]); 0] = [];
        let free = free_capacity(
            &capacity(vec![(65530, 65535), (0, 2), (9, 3)]),
            &NO_OVERHEAD,
            none,
        );
        assert_eq!(free.ports, vec![(0, 2), (65530, 65535)]);
        let task = resources(0.1, 1);
        let free = free_capacity(
            &capacity(vec![(65534, 65535)]),
            &NO_OVERHEAD,
            [(&task, &[65535][..])],
        );
        assert_eq!(free.ports, vec![(65534, 65534)]);
    }
}
