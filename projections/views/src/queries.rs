//! [`Queries`]: what the web UI and the API read, and its implementation over [`Views`].
//!
//! Every answer is an owned value built from the records on demand, so a reader holds no lock
//! and no borrow once it has its answer, and two views of the same history give equal answers.
//! A query takes the symbol table's read lock once, for all its lookups, and never again while
//! holding it (a nested read could deadlock behind a waiting writer).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use aurora_events::quota::Bucket;
use aurora_events::update::InstanceRange;
use aurora_events::{
    AgentId, ConfigHash, InstanceId, JobKey, ScheduleStatus, Seq, TaskConfig, TaskId, UpdateKey,
};

use crate::fold::{Views, rec};
use crate::model::{
    ActivityEntry, AgentView, ConfigGroup, CronView, HostView, InstanceEventView, JobSummary,
    JobView, QuotaView, RoleSummary, RoleView, Snapshot, TaskCounts, TaskEventView, TaskSummary,
    TaskView, UpdateEventView, UpdateSummary, UpdateView,
};
use crate::records::{HostRec, JobRec, RoleRec, TaskRec, UpdateRec};
use crate::symbols::{Sym, Tables};

/// The read side's questions. Implemented by [`Views`] (the live view, or one returned by
/// [`History::at`](crate::History::at)) and by [`History`](crate::History) (its live view).
pub trait Queries {
    /// The seq of the last event folded in (0 for none).
    fn last_seq(&self) -> Seq;

    /// The cluster's name, once `ClusterInitialised` is folded.
    fn cluster(&self) -> Option<String>;

    /// Every role with a quota or a job, by name.
    fn roles(&self) -> Vec<RoleSummary>;

    /// One role's quota and jobs.
    fn role(&self, role: &str) -> Option<RoleView>;

    /// One job; `Some` for any job the history mentions, even once removed.
    fn job(&self, key: &JobKey) -> Option<JobView>;

    /// One task, until it is deleted (pruned).
    fn task(&self, id: &TaskId) -> Option<TaskView>;

    /// Every update, most recently started first.
    fn updates(&self) -> Vec<UpdateSummary>;

    fn update(&self, key: &UpdateKey) -> Option<UpdateView>;

    /// A stored task config by its hash: configs are content-addressed and never change, and
    /// the views keep every config the history has stored.
    fn task_config(&self, hash: &ConfigHash) -> Option<TaskConfig>;

    /// Every host known from agents, assignments or maintenance, by name.
    fn hosts(&self) -> Vec<HostView>;

    fn host(&self, name: &str) -> Option<HostView>;

    /// The newest `limit` events of the activity feed, newest first (at most the feed's
    /// capacity).
    fn activity(&self, limit: usize) -> Vec<ActivityEntry>;
}

/// Sorted, distinct instances as inclusive ranges: `[0, 1, 2, 5]` → `0-2, 5-5`.
fn instance_ranges(instances: impl IntoIterator<Item = InstanceId>) -> Vec<InstanceRange> {
    InstanceRange::collapse(instances)
}

impl Views {
    fn quota_view(&self, role: Sym, record: &RoleRec) -> QuotaView {
        let mut usage = self.usage.get(role).copied().unwrap_or_default();
        // As Aurora, a cron job's template counts while the job has no active tasks (when it
        // runs, its tasks count instead).
        for (id, job) in self.listed_jobs(record) {
            if let Some((bucket, amount)) = job.cron.as_ref().and_then(|c| c.template_usage) {
                let counts = self.counts(id);
                if counts.pending + counts.active == 0 {
                    usage.add(bucket, amount);
                }
            }
        }
        QuotaView {
            quota: record.quota.unwrap_or_default(),
            prod_shared: usage.bucket(Bucket::ProdShared),
            non_prod_shared: usage.bucket(Bucket::NonProdShared),
            prod_dedicated: usage.bucket(Bucket::ProdDedicated),
            non_prod_dedicated: usage.bucket(Bucket::NonProdDedicated),
        }
    }

    fn counts(&self, job: Sym) -> TaskCounts {
        self.job_counts
            .get(job)
            .map(|c| c.grouped())
            .unwrap_or_default()
    }

    /// The role's listed jobs, by key.
    fn listed_jobs(&self, record: &RoleRec) -> Vec<(Sym, &JobRec)> {
        let mut jobs: Vec<(Sym, &JobRec)> = record
            .jobs
            .iter()
            .filter_map(|id| rec(&self.jobs, *id).map(|job| (*id, job)))
            .filter(|(_, job)| job.is_listed())
            .collect();
        jobs.sort_by(|a, b| a.1.key.cmp(&b.1.key));
        jobs
    }

    fn role_summary(&self, id: Sym, record: &RoleRec) -> RoleSummary {
        let jobs = self.listed_jobs(record);
        RoleSummary {
            role: record.name.clone(),
            jobs: jobs.len() as u64,
            crons: jobs.iter().filter(|(_, job)| job.cron.is_some()).count() as u64,
            tasks: jobs.iter().fold(TaskCounts::default(), |sum, (id, _)| {
                sum.plus(self.counts(*id))
            }),
            quota: self.quota_view(id, record),
        }
    }

    fn role_view(&self, id: Sym, record: &RoleRec) -> RoleView {
        let jobs: Vec<JobSummary> = self
            .listed_jobs(record)
            .into_iter()
            .map(|(id, job)| JobSummary {
                job: job.key.clone(),
                desired: job.desired,
                is_cron: job.cron.is_some(),
                tasks: self.counts(id),
            })
            .collect();
        RoleView {
            role: record.name.clone(),
            quota: self.quota_view(id, record),
            tasks: jobs
                .iter()
                .fold(TaskCounts::default(), |sum, job| sum.plus(job.tasks)),
            jobs,
        }
    }

    fn host_name(&self, host: Option<Sym>) -> Option<String> {
        host.and_then(|h| rec(&self.hosts, h))
            .map(|h| h.name.to_string())
    }

    fn summary(&self, names: &Tables, id: Sym, task: &TaskRec) -> Option<TaskSummary> {
        Some(TaskSummary {
            id: names.task_id(id)?,
            instance: task.instance,
            status: task.status,
            config: names.config_hash(task.config)?,
            host: self.host_name(task.host),
            failure_count: task.failure_count,
            created_at: task.timeline.first().map(|e| e.at).unwrap_or_default(),
            last_change: task.timeline.last().map(|e| e.at).unwrap_or_default(),
            last_message: names.message_text(task.timeline.iter().rev().find_map(|e| e.message)),
            pending_reason: None,
        })
    }

    fn config_groups(&self, names: &Tables, active: &[TaskSummary]) -> Vec<ConfigGroup> {
        let mut by_config: BTreeMap<ConfigHash, BTreeSet<InstanceId>> = BTreeMap::new();
        for task in active {
            by_config
                .entry(task.config)
                .or_default()
                .insert(task.instance);
        }
        by_config
            .into_iter()
            .map(|(hash, instances)| ConfigGroup {
                hash,
                instances: instance_ranges(instances),
                config: names
                    .find_config(&hash)
                    .and_then(|id| rec(&self.configs, id))
                    .map(|c| (*c.config).clone()),
            })
            .collect()
    }

    fn update_summary(update: &UpdateRec) -> UpdateSummary {
        UpdateSummary {
            key: update.key.clone(),
            user: update.user.clone(),
            status: update.status,
            status_since: update
                .timeline
                .last()
                .map_or(update.started_at, |entry| entry.at),
            started_at: update.started_at,
            last_modified: update.last_modified,
            last_pulse: update.last_pulse,
        }
    }

    /// Most recently started first; ties by key.
    fn sort_updates(updates: &mut [UpdateSummary]) {
        updates.sort_by(|a, b| {
            b.started_at
                .cmp(&a.started_at)
                .then_with(|| a.key.cmp(&b.key))
        });
    }

    fn job_view(&self, names: &Tables, id: Sym, job: &JobRec) -> JobView {
        let tasks: Vec<(Sym, &TaskRec)> = job
            .tasks
            .iter()
            .filter_map(|t| rec(&self.tasks, *t).map(|task| (*t, task)))
            .collect();
        let summaries = |active: bool| {
            tasks
                .iter()
                .filter(|(_, t)| t.status.is_active() == active)
                .filter_map(|(id, t)| self.summary(names, *id, t))
                .collect::<Vec<_>>()
        };
        let mut active = summaries(true);
        active.sort_by(|a, b| a.instance.cmp(&b.instance).then_with(|| a.id.cmp(&b.id)));
        let mut finished = summaries(false);
        finished.sort_by(|a, b| {
            b.last_change
                .cmp(&a.last_change)
                .then_with(|| a.id.cmp(&b.id))
        });
        let mut updates: Vec<UpdateSummary> = job
            .updates
            .iter()
            .filter_map(|u| rec(&self.updates, *u))
            .map(Self::update_summary)
            .collect();
        Self::sort_updates(&mut updates);
        JobView {
            job: job.key.clone(),
            desired: job.desired,
            cron: job.cron.as_ref().map(|c| CronView {
                schedule: c.schedule.clone(),
                collision_policy: c.collision_policy,
                config: c.config,
                instances: c.instances,
                last_triggered: c.last_triggered,
                last_outcome: c.last_outcome,
            }),
            tasks: self.counts(id),
            config_groups: self.config_groups(names, &active),
            active,
            finished,
            updates,
        }
    }

    /// `None` only for a task whose job has no record, which a fold never leaves.
    fn task_view(&self, names: &Tables, id: Sym, task: &TaskRec) -> Option<TaskView> {
        let job = rec(&self.jobs, task.job)?.key.clone();
        let mut ancestors = Vec::new();
        let mut seen = BTreeSet::new();
        let mut next = task.ancestor;
        // `seen` bounds the walk even if a damaged journal made the chain a cycle.
        while let Some(ancestor) = next {
            if !seen.insert(ancestor) {
                break;
            }
            next = rec(&self.tasks, ancestor).and_then(|t| t.ancestor);
            ancestors.extend(names.task_id(ancestor));
        }
        let host = self.host_name(task.host);
        let agent = task.agent.and_then(|a| rec(&self.agents, a));
        let timeline = task
            .timeline
            .iter()
            .map(|entry| TaskEventView {
                seq: entry.seq,
                at: entry.at,
                actor: names.actor(entry.actor),
                status: entry.status,
                message: names.message_text(entry.message),
                // Tasks are placed once; the current host is the one it was assigned to.
                host: host
                    .clone()
                    .filter(|_| entry.status == ScheduleStatus::Assigned),
            })
            .collect();
        Some(TaskView {
            id: names.task_id(id)?,
            job,
            instance: task.instance,
            status: task.status,
            config: names.config_hash(task.config)?,
            failure_count: task.failure_count,
            ancestors,
            agent: task.agent.and_then(|a| names.agent_id(a)),
            host,
            observer: agent.map(|a| a.endpoint.clone()),
            ports: task
                .ports
                .iter()
                .map(|(name, port)| (names.port_name(name), port))
                .collect(),
            timeline,
        })
    }

    /// The stored configs among `hashes`, by hash.
    fn configs_named<'h>(
        &self,
        names: &Tables,
        hashes: impl IntoIterator<Item = &'h ConfigHash>,
    ) -> BTreeMap<ConfigHash, TaskConfig> {
        hashes
            .into_iter()
            .filter_map(|hash| {
                let record = names
                    .find_config(hash)
                    .and_then(|id| rec(&self.configs, id))?;
                Some((*hash, (*record.config).clone()))
            })
            .collect()
    }

    fn update_view(&self, names: &Tables, update: &UpdateRec) -> UpdateView {
        let instructions = &update.instructions;
        let named = instructions
            .initial_state
            .iter()
            .chain(&instructions.desired_state)
            .map(|group| &group.config);
        UpdateView {
            summary: Self::update_summary(update),
            instructions: (*update.instructions).clone(),
            metadata: (*update.metadata).clone(),
            timeline: update
                .timeline
                .iter()
                .map(|e| UpdateEventView {
                    seq: e.seq,
                    at: e.at,
                    actor: names.actor(e.actor),
                    status: e.status,
                    message: names.message_text(e.message),
                })
                .collect(),
            instance_events: update
                .instance_events
                .iter()
                .map(|e| InstanceEventView {
                    seq: e.seq,
                    at: e.at,
                    actor: names.actor(e.actor),
                    instance: e.instance,
                    action: e.action,
                    message: names.message_text(e.message),
                })
                .collect(),
            instances: update.latest.clone(),
            configs: self.configs_named(names, named),
        }
    }

    fn host_view(&self, names: &Tables, host: &HostRec) -> HostView {
        let mut tasks: Vec<TaskId> = host
            .tasks
            .iter()
            .filter(|t| rec(&self.tasks, **t).is_some())
            .filter_map(|t| names.task_id(*t))
            .collect();
        tasks.sort();
        HostView {
            host: host.name.to_string(),
            mode: host.mode,
            attributes: (*host.attributes).clone(),
            agent: host.agent.map(|id| match rec(&self.agents, id) {
                Some(agent) => AgentView {
                    id: agent.id.clone(),
                    capacity: Some(agent.capacity.clone()),
                    endpoint: Some(agent.endpoint.clone()),
                    registered_at: Some(agent.registered_at),
                    lost: agent.lost,
                },
                // Named by a host event but never registered (yet).
                None => AgentView {
                    id: names.agent_id(id).unwrap_or_else(|| AgentId(String::new())),
                    capacity: None,
                    endpoint: None,
                    registered_at: None,
                    lost: false,
                },
            }),
            tasks,
        }
    }

    fn hosts_view(&self, names: &Tables) -> Vec<HostView> {
        let mut hosts: Vec<&Arc<HostRec>> = self.hosts.iter().flatten().collect();
        hosts.sort_by(|a, b| a.name.cmp(&b.name));
        hosts
            .into_iter()
            .map(|h| self.host_view(names, h))
            .collect()
    }

    fn activity_view(&self, names: &Tables, limit: usize) -> Vec<ActivityEntry> {
        self.activity
            .newest(limit)
            .map(|record| ActivityEntry {
                seq: record.seq,
                at: record.at,
                actor: names.actor(record.actor),
                kind: record.kind,
                summary: record.line.render(names),
            })
            .collect()
    }

    /// Everything the view holds, in the orders [`Queries`] documents: for comparing views and
    /// dumping a cluster. Costs a full walk; not for serving pages.
    pub fn snapshot(&self) -> Snapshot {
        let names = self.symbols.names();
        let mut roles: Vec<RoleView> = self
            .roles
            .iter_ids()
            .filter_map(|(id, r)| r.as_deref().map(|r| self.role_view(id, r)))
            .collect();
        roles.sort_by(|a, b| a.role.cmp(&b.role));
        let mut jobs: Vec<JobView> = self
            .jobs
            .iter_ids()
            .filter_map(|(id, j)| j.as_deref().map(|j| self.job_view(&names, id, j)))
            .collect();
        jobs.sort_by(|a, b| a.job.cmp(&b.job));
        let mut tasks: Vec<TaskView> = self
            .tasks
            .iter_ids()
            .filter_map(|(id, t)| t.as_deref().and_then(|t| self.task_view(&names, id, t)))
            .collect();
        tasks.sort_by(|a, b| a.id.cmp(&b.id));
        let mut updates: Vec<UpdateView> = self
            .updates
            .iter()
            .flatten()
            .map(|u| self.update_view(&names, u))
            .collect();
        updates.sort_by(|a, b| a.summary.key.cmp(&b.summary.key));
        Snapshot {
            last_seq: self.last_seq,
            cluster: self.cluster.clone(),
            roles,
            jobs,
            tasks,
            updates,
            hosts: self.hosts_view(&names),
            activity: self.activity_view(&names, usize::MAX),
        }
    }
}

impl Queries for Views {
    fn last_seq(&self) -> Seq {
        self.last_seq
    }

    fn cluster(&self) -> Option<String> {
        self.cluster.clone()
    }

    fn roles(&self) -> Vec<RoleSummary> {
        let mut roles: Vec<RoleSummary> = self
            .roles
            .iter_ids()
            .filter_map(|(id, r)| r.as_deref().map(|r| (id, r)))
            .filter(|(_, r)| r.quota.is_some() || r.jobs.iter().any(|j| self.is_listed(*j)))
            .map(|(id, r)| self.role_summary(id, r))
            .collect();
        roles.sort_by(|a, b| a.role.cmp(&b.role));
        roles
    }

    fn role(&self, role: &str) -> Option<RoleView> {
        let id = self.symbols.names().find_role(role)?;
        rec(&self.roles, id).map(|r| self.role_view(id, r))
    }

    fn job(&self, key: &JobKey) -> Option<JobView> {
        let names = self.symbols.names();
        let id = names.find_job(key)?;
        rec(&self.jobs, id).map(|j| self.job_view(&names, id, j))
    }

    fn task(&self, id: &TaskId) -> Option<TaskView> {
        let names = self.symbols.names();
        let id = names.find_task(id)?;
        rec(&self.tasks, id).and_then(|t| self.task_view(&names, id, t))
    }

    fn updates(&self) -> Vec<UpdateSummary> {
        let mut updates: Vec<UpdateSummary> = self
            .updates
            .iter()
            .flatten()
            .map(|u| Self::update_summary(u))
            .collect();
        Self::sort_updates(&mut updates);
        updates
    }

    fn update(&self, key: &UpdateKey) -> Option<UpdateView> {
        let names = self.symbols.names();
        let id = names.find_update(key)?;
        rec(&self.updates, id).map(|u| self.update_view(&names, u))
    }

    fn task_config(&self, hash: &ConfigHash) -> Option<TaskConfig> {
        let names = self.symbols.names();
        self.configs_named(&names, [hash]).into_values().next()
    }

    fn hosts(&self) -> Vec<HostView> {
        self.hosts_view(&self.symbols.names())
    }

    fn host(&self, name: &str) -> Option<HostView> {
        let names = self.symbols.names();
        let id = names.find_host(name)?;
        rec(&self.hosts, id).map(|h| self.host_view(&names, h))
    }

    fn activity(&self, limit: usize) -> Vec<ActivityEntry> {
        self.activity_view(&self.symbols.names(), limit)
    }
}

impl Views {
    fn is_listed(&self, job: Sym) -> bool {
        rec(&self.jobs, job).is_some_and(JobRec::is_listed)
    }

    /// One task as a job page row, without its timeline or ancestors: the cheap lookup for
    /// callers that check many tasks (the simulator compares every task it touches with the
    /// write model). `None` once the task is deleted.
    pub fn task_summary(&self, id: &TaskId) -> Option<TaskSummary> {
        let names = self.symbols.names();
        let sym = names.find_task(id)?;
        rec(&self.tasks, sym).and_then(|t| self.summary(&names, sym, t))
    }

    /// The seq of the event that pruned `key` from the history, if it was pruned by then; a
    /// page uses it to say so (and to offer the moment before) rather than "no such update".
    pub fn pruned_update(&self, key: &UpdateKey) -> Option<Seq> {
        let names = self.symbols.names();
        let job = rec(&self.jobs, names.find_job(&key.job)?)?;
        job.pruned_updates
            .iter()
            .find(|(id, _)| *id == key.id)
            .map(|(_, seq)| *seq)
    }

    /// A role's quota and usage alone, without its job list; zero for a role the view has not
    /// seen.
    pub fn quota(&self, role: &str) -> QuotaView {
        let names = self.symbols.names();
        names
            .find_role(role)
            .and_then(|id| rec(&self.roles, id).map(|r| self.quota_view(id, r)))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ranges_collapse_runs() {
        let pairs: Vec<(u32, u32)> = instance_ranges([0, 1, 2, 5, 7, 8])
            .iter()
            .map(|r| (r.first, r.last))
            .collect();
        assert_eq!(pairs, vec![(0, 2), (5, 5), (7, 8)]);
        assert!(instance_ranges([]).is_empty());
    }
}
