//! The write model's indexes, recomputed by scanning its records, to check the ones its fold
//! maintains. Two ways: every index rebuilt from scratch from the records (catches a fold that
//! forgot to take a task out or put it back), and the answers the deciders read from the
//! indexes worked out as they were before there were indexes, by walking every task (catches
//! an index that means something else than what the deciders assume).
//!
//! Costs a walk over everything: for tests and the simulator, never for deciding.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use aurora_events::quota::{Bucket, Exact, Usage};
use aurora_events::{
    ConfigHash, Identifier, InstanceId, JobKey, ScheduleStatus, TaskConfig, Timestamp,
};

use crate::commands::may_preempt;

use super::indexes::{Indexes, micro_cpus};
use super::{ClusterState, TaskId};

/// `Err` naming the index when `live` and `scanned` differ, with a bounded view of both.
fn same<T: PartialEq + Debug>(name: &str, live: &T, scanned: &T) -> Result<(), String> {
    if live == scanned {
        return Ok(());
    }
    let shown = |value: &T| {
        let text = format!("{value:?}");
        match text.char_indices().nth(600) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text,
        }
    };
    Err(format!(
        "index {name} differs from a scan: kept {}, scanned {}",
        shown(live),
        shown(scanned)
    ))
}

impl ClusterState {
    /// Checks every index against the records: `Err` names the first that differs.
    pub fn check_indexes(&self) -> Result<(), String> {
        self.check_rebuilt()?;
        self.check_answers()
    }

    /// Every index equals one built from scratch from the records.
    fn check_rebuilt(&self) -> Result<(), String> {
        let mut scanned = Indexes::default();
        for task in self.tasks.values() {
            scanned.add_task(task, self.configs.get(&task.config));
        }
        for (agent, ids) in &self.on_agent {
            for task in ids.iter().filter_map(|id| self.tasks.get(id)) {
                scanned.load(agent, task, self.configs.get(&task.config));
            }
        }
        for (key, update) in &self.updates {
            scanned.update_status(key, update.status.is_active());
        }
        for (name, host) in &self.hosts {
            scanned.host_mode(name, host.mode);
        }
        let live = &self.indexes;
        same(
            "active updates",
            &live.active_updates,
            &scanned.active_updates,
        )?;
        same("quota usage", &live.usage, &scanned.usage)?;
        same("pending groups", &live.pending, &scanned.pending)?;
        same("throttled", &live.throttled, &scanned.throttled)?;
        same("transient", &live.transient, &scanned.transient)?;
        same("killing", &live.killing, &scanned.killing)?;
        same("partitioned", &live.partitioned, &scanned.partitioned)?;
        same("terminal", &live.terminal, &scanned.terminal)?;
        same(
            "terminal by job",
            &live.terminal_by_job,
            &scanned.terminal_by_job,
        )?;
        same(
            "terminal counts",
            &live.terminal_counts,
            &scanned.terminal_counts,
        )?;
        same("agent load", &live.agent_load, &scanned.agent_load)?;
        same(
            "draining hosts",
            &live.draining_hosts,
            &scanned.draining_hosts,
        )?;
        same("victims", &live.victims, &scanned.victims)?;
        // Every field is compared above; this catches one added without a comparison.
        same("indexes", live, &scanned)
    }

    /// What the deciders read from the indexes equals what walking every task gives.
    fn check_answers(&self) -> Result<(), String> {
        // The active update: the first non-terminal update of the job, by key.
        for job in self.updates.keys().map(|key| &key.job) {
            let walked = self
                .updates
                .iter()
                .find(|(key, update)| &key.job == job && update.status.is_active())
                .map(|(key, _)| key);
            let kept = self.active_update(job).map(|(key, _)| key);
            same(&format!("active update of {job}"), &kept, &walked)?;
        }

        // Quota usage: the active tasks of each role, per bucket.
        let mut usage: BTreeMap<&Identifier, Usage> = BTreeMap::new();
        for task in self.tasks.values().filter(|t| t.status.is_active()) {
            if let Some(config) = self.configs.get(&task.config) {
                usage
                    .entry(&task.job.role)
                    .or_default()
                    .add(Bucket::of(config), Exact::of_config(config));
            }
        }
        let roles: BTreeSet<&Identifier> = usage.keys().copied().collect();
        for role in roles.iter().copied().chain(self.indexes.usage.keys()) {
            let walked = usage.get(role).copied().unwrap_or_default();
            same(&format!("usage of {role}"), &self.role_usage(role), &walked)?;
        }

        // Pending groups: PENDING tasks by config, each group by (instance, since, id).
        let mut groups: BTreeMap<ConfigHash, Vec<(InstanceId, Timestamp, TaskId)>> =
            BTreeMap::new();
        for task in self
            .tasks
            .values()
            .filter(|t| t.status == ScheduleStatus::Pending)
        {
            groups.entry(task.config).or_default().push((
                task.instance,
                task.last_change(),
                task.id.clone(),
            ));
        }
        let walked: Vec<(ConfigHash, Timestamp, Vec<TaskId>)> = groups
            .into_iter()
            .map(|(hash, mut tasks)| {
                tasks.sort();
                let oldest = tasks.iter().map(|(_, at, _)| *at).min().unwrap_or_default();
                (
                    hash,
                    oldest,
                    tasks.into_iter().map(|(_, _, id)| id).collect(),
                )
            })
            .collect();
        let kept: Vec<(ConfigHash, Timestamp, Vec<TaskId>)> = self
            .pending_groups()
            .map(|(hash, group)| (*hash, group.oldest(), group.tasks().cloned().collect()))
            .collect();
        same("pending tasks by config", &kept, &walked)?;

        // Agent load: what the tasks on each agent request, and their ports.
        for agent in self.agents.keys() {
            let (mut tasks, mut cpus, mut ram, mut disk, mut gpus) = (0u32, 0i64, 0u64, 0u64, 0u64);
            let mut ports: BTreeMap<u16, u32> = BTreeMap::new();
            for task in self.tasks_on_agent(agent) {
                if let Some(config) = self.configs.get(&task.config) {
                    tasks += 1;
                    cpus += micro_cpus(config.resources.cpus);
                    ram += config.resources.ram_mb;
                    disk += config.resources.disk_mb;
                    gpus += u64::from(config.resources.gpus);
                }
                for port in task.assignment.iter().flat_map(|a| a.port_numbers()) {
                    *ports.entry(port).or_default() += 1;
                }
            }
            let walked = (tasks, cpus, ram, disk, gpus, ports);
            let kept = self.agent_load(agent).map_or_else(
                || (0, 0, 0, 0, 0, BTreeMap::new()),
                |l| {
                    (
                        l.tasks,
                        l.micro_cpus,
                        l.ram_mb,
                        l.disk_mb,
                        l.gpus,
                        l.ports.clone(),
                    )
                },
            );
            same(&format!("load of {agent}"), &kept, &walked)?;
        }

        // Preemption candidates: for every candidate config, an agent has one exactly when a
        // walk over its tasks finds a task that config may preempt.
        for agent in self.agents.keys() {
            let victims: Vec<&TaskConfig> = self
                .tasks_on_agent(agent)
                .filter(|t| {
                    matches!(
                        t.status,
                        ScheduleStatus::Assigned
                            | ScheduleStatus::Starting
                            | ScheduleStatus::Running
                    )
                })
                .filter_map(|t| self.configs.get(&t.config))
                .collect();
            for candidate in self.configs.values() {
                let walked = victims.iter().any(|v| may_preempt(candidate, v));
                let kept = self.victims(agent).is_some_and(|v| v.any_for(candidate));
                same(
                    &format!("preemption candidates on {agent} for {}", candidate.job),
                    &kept,
                    &walked,
                )?;
            }
        }

        // Jobs over the per-job maximum of terminal tasks.
        let mut terminal: BTreeMap<&JobKey, usize> = BTreeMap::new();
        for task in self.tasks.values().filter(|t| t.status.is_terminal()) {
            *terminal.entry(&task.job).or_default() += 1;
        }
        for over in [0, 1, 2, 100] {
            let mut walked: Vec<&JobKey> = terminal
                .iter()
                .filter(|(_, count)| **count > over)
                .map(|(job, _)| *job)
                .collect();
            let mut kept: Vec<&JobKey> = self.jobs_with_terminal_over(over).collect();
            walked.sort();
            kept.sort();
            same(
                &format!("jobs with over {over} terminal tasks"),
                &kept,
                &walked,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use aurora_events::{
        Actor, AgentId, Capacity, Event, EventId, PendingEvent, ScheduleStatus, TaskId, Timestamp,
        samples,
    };

    use crate::settings::Settings;
    use crate::state::ClusterState;

    /// A task through a whole life (pending, assigned with a port, running, killing, killed)
    /// beside one that stays pending and one throttled, every event a second apart.
    fn state() -> ClusterState {
        let config = samples::task_config();
        let job = config.job.clone();
        let hash = config.hash();
        let task = |i: u32| TaskId::from_raw(format!("task-{i}"));
        let created = |i: u32, status: ScheduleStatus| Event::TaskCreated {
            task: task(i),
            job: job.clone(),
            instance: i,
            config: hash,
            status,
            ancestor: None,
            failure_count: 0,
            penalty_ms: 30_000,
            message: None,
        };
        let changed = |from, to| Event::TaskStateChanged {
            task: task(0),
            job: job.clone(),
            from,
            to,
            message: None,
        };
        let events = vec![
            Event::AgentRegistered {
                agent: AgentId("agent-1".into()),
                host: "host-1".into(),
                capacity: Capacity::default(),
                attributes: vec![],
                endpoint: String::new(),
            },
            Event::TaskConfigStoredV2 {
                hash,
                config: Box::new(config.clone()),
            },
            created(0, ScheduleStatus::Pending),
            created(1, ScheduleStatus::Pending),
            created(2, ScheduleStatus::Throttled),
            Event::TaskAssigned {
                task: task(0),
                job: job.clone(),
                agent: AgentId("agent-1".into()),
                host: "host-1".into(),
                ports: BTreeMap::from([("http".to_string(), 31000)]),
            },
            changed(ScheduleStatus::Assigned, ScheduleStatus::Running),
            changed(ScheduleStatus::Running, ScheduleStatus::Killing),
        ];
        let mut state = ClusterState::new(Settings::default());
        for (i, event) in events.into_iter().enumerate() {
            let seq = i as u64 + 1;
            let pending = PendingEvent {
                id: EventId::from_parts(seq, [0; 10]),
                actor: Actor::Scheduler,
                cause: None,
                event,
            };
            state.apply(&pending.commit(seq, Timestamp(1_000 * seq as i64)));
        }
        state
    }

    #[test]
    fn kept_indexes_equal_a_scan_through_a_life_and_a_checkpoint() {
        let mut state = state();
        assert_eq!(state.check_indexes(), Ok(()));
        assert_eq!(state.pending_groups().count(), 1);
        assert_eq!(
            state
                .agent_load(&AgentId("agent-1".into()))
                .map(|l| l.tasks),
            Some(1)
        );
        let killed = PendingEvent {
            id: EventId::from_parts(99, [0; 10]),
            actor: Actor::Scheduler,
            cause: None,
            event: Event::TaskStateChanged {
                task: TaskId::from_raw("task-0"),
                job: samples::job(),
                from: ScheduleStatus::Killing,
                to: ScheduleStatus::Killed,
                message: None,
            },
        };
        state.apply(&killed.commit(state.last_seq() + 1, Timestamp(99_000)));
        assert_eq!(state.check_indexes(), Ok(()));
        assert_eq!(state.agent_load(&AgentId("agent-1".into())), None);
        assert_eq!(state.terminal_until(Timestamp(99_000)).count(), 1);
        let restored = ClusterState::from_checkpoint(&state.to_checkpoint(), Settings::default())
            .expect("decodes");
        assert_eq!(restored.check_indexes(), Ok(()));
        assert_eq!(restored.digest(), state.digest());
    }

    /// The check is not vacuous: an index that lost a task is reported, naming the index.
    #[test]
    fn a_stale_index_is_reported() {
        let mut state = state();
        state.indexes.throttled.clear();
        let problem = state
            .check_indexes()
            .expect_err("the throttled task is missing");
        assert!(problem.starts_with("index throttled differs"), "{problem}");

        let mut state = self::state();
        state.indexes.agent_load.clear();
        let problem = state
            .check_indexes()
            .expect_err("the agent's load is missing");
        assert!(problem.starts_with("index agent load differs"), "{problem}");
    }
}
