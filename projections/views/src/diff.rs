//! What changed in a cluster between two instants (`aurora cluster diff`): jobs created and
//! removed, jobs' instance counts and configs, instances killed (a `job killall` is how an
//! Aurora job goes away), quotas, hosts' maintenance modes, each with who did it. Pure: a fold
//! of the events between the two instants over what the views held at the first.

use std::collections::BTreeMap;

use aurora_events::{
    Actor, Envelope, Event, EventId, Identifier, InstanceId, JobKey, MaintenanceMode,
    ResourceAggregate, ScheduleStatus, Seq, TaskId, Timestamp,
};
use serde::{Deserialize, Serialize};

use crate::model::DesiredState;

/// The state at the first instant that later changes are compared with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Before {
    pub desired: BTreeMap<JobKey, DesiredState>,
    pub quotas: BTreeMap<Identifier, ResourceAggregate>,
    /// The tasks active at the first instant (PENDING through PARTITIONED, not being killed):
    /// their job and instance.
    pub active: BTreeMap<TaskId, (JobKey, InstanceId)>,
}

/// One change, as it was committed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub seq: Seq,
    pub at: Timestamp,
    pub actor: Actor,
    /// The person behind a change the scheduler made for them (the user who started the
    /// update that replaced a job's config), when it is known.
    pub on_behalf_of: Option<String>,
    pub what: ChangeKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    JobCreated {
        job: JobKey,
        desired: DesiredState,
    },
    JobRemoved {
        job: JobKey,
    },
    /// A user killed these instances (one command: one change); `left` instances of the job
    /// are still active after it (0: the job is gone, as after `aurora job killall`).
    InstancesKilled {
        job: JobKey,
        instances: Vec<InstanceId>,
        left: u32,
    },
    /// Instance count and/or config; `from` is none when the job had no desired state.
    JobChanged {
        job: JobKey,
        from: Option<DesiredState>,
        to: DesiredState,
    },
    QuotaChanged {
        role: Identifier,
        from: Option<ResourceAggregate>,
        to: ResourceAggregate,
    },
    Maintenance {
        host: String,
        from: MaintenanceMode,
        to: MaintenanceMode,
    },
}

/// Folds the events after the first instant into changes, keeping those of `role` (all when
/// none). Events must be in seq order.
#[derive(Debug, Clone)]
pub struct DiffBuilder {
    before: Before,
    role: Option<String>,
    /// Who started each update seen in the range, by its start event's id.
    starters: BTreeMap<EventId, String>,
    /// How many tasks of each job are active (kept with `before.active`).
    active_per_job: BTreeMap<JobKey, u32>,
    changes: Vec<Change>,
}

impl DiffBuilder {
    pub fn new(before: Before, role: Option<String>) -> Self {
        let mut active_per_job = BTreeMap::new();
        for (job, _) in before.active.values() {
            *active_per_job.entry(job.clone()).or_insert(0) += 1;
        }
        Self {
            before,
            role,
            starters: BTreeMap::new(),
            active_per_job,
            changes: Vec::new(),
        }
    }

    fn task_started(&mut self, task: &TaskId, job: &JobKey, instance: InstanceId) {
        if self
            .before
            .active
            .insert(task.clone(), (job.clone(), instance))
            .is_none()
        {
            *self.active_per_job.entry(job.clone()).or_insert(0) += 1;
        }
    }

    /// `task` is no longer active: its job and instance, if it was.
    fn task_ended(&mut self, task: &TaskId) -> Option<(JobKey, InstanceId)> {
        let (job, instance) = self.before.active.remove(task)?;
        if let Some(count) = self.active_per_job.get_mut(&job) {
            *count = count.saturating_sub(1);
        }
        Some((job, instance))
    }

    /// A user's kill of `task` (KILLING, KILLED without asking first, or deleted while
    /// pending): the instance it ran, if it was active.
    fn killed(&mut self, envelope: &Envelope, task: &TaskId) -> Option<ChangeKind> {
        let ended = self.task_ended(task);
        if !matches!(envelope.actor, Actor::User(_)) {
            return None;
        }
        let (job, instance) = ended?;
        let left = self.active_per_job.get(&job).copied().unwrap_or(0);
        // The same command's earlier kills (one commit: same actor and time) make one change.
        if let Some(last) = self.changes.last_mut()
            && last.actor == envelope.actor
            && last.at == envelope.at
            && let ChangeKind::InstancesKilled {
                job: killed_job,
                instances,
                left: killed_left,
            } = &mut last.what
            && *killed_job == job
        {
            instances.push(instance);
            instances.sort_unstable();
            *killed_left = left;
            return None;
        }
        Some(ChangeKind::InstancesKilled {
            job,
            instances: vec![instance],
            left,
        })
    }

    fn keeps_role(&self, role: &str) -> bool {
        self.role.as_deref().is_none_or(|r| r == role)
    }

    pub fn apply(&mut self, envelope: &Envelope) {
        let what = match &envelope.event {
            Event::UpdateStarted { user, .. } => {
                self.starters.insert(envelope.id, user.clone());
                None
            }
            Event::JobCreated {
                job,
                config,
                instances,
            } => {
                let desired = DesiredState {
                    config: *config,
                    instances: *instances,
                };
                self.before.desired.insert(job.clone(), desired);
                Some(ChangeKind::JobCreated {
                    job: job.clone(),
                    desired,
                })
            }
            Event::JobConfigReplaced {
                job,
                config,
                instances,
            } => {
                let to = DesiredState {
                    config: *config,
                    instances: *instances,
                };
                let from = self.before.desired.insert(job.clone(), to);
                (from != Some(to)).then(|| ChangeKind::JobChanged {
                    job: job.clone(),
                    from,
                    to,
                })
            }
            Event::JobRemoved { job } => {
                self.before.desired.remove(job);
                Some(ChangeKind::JobRemoved { job: job.clone() })
            }
            Event::QuotaSet { role, quota } => {
                let from = self.before.quotas.insert(role.clone(), *quota);
                (from.as_ref() != Some(quota)).then(|| ChangeKind::QuotaChanged {
                    role: role.clone(),
                    from,
                    to: *quota,
                })
            }
            Event::HostMaintenanceChanged { host, from, to } => Some(ChangeKind::Maintenance {
                host: host.clone(),
                from: *from,
                to: *to,
            }),
            Event::TaskCreated {
                task,
                job,
                instance,
                status,
                ..
            } => {
                if is_active(*status) {
                    self.task_started(task, job, *instance);
                }
                None
            }
            Event::TaskStateChanged { task, from, to, .. } => {
                let asked_to_die = *to == ScheduleStatus::Killing
                    || (*to == ScheduleStatus::Killed && *from != ScheduleStatus::Killing);
                if asked_to_die {
                    self.killed(envelope, task)
                } else {
                    if !is_active(*to) {
                        self.task_ended(task);
                    }
                    None
                }
            }
            // A task killed while it waited to be placed (a prune deletes ended tasks only).
            Event::TaskDeleted { task, .. } => self.killed(envelope, task),
            Event::ClusterInitialised { .. }
            | Event::TaskConfigStored { .. }
            | Event::TaskConfigStoredV2 { .. }
            | Event::TaskAssigned { .. }
            | Event::UpdateStateChanged { .. }
            | Event::UpdateInstanceActioned { .. }
            | Event::UpdatePulsed { .. }
            | Event::UpdatesPruned { .. }
            | Event::HostAttributesChanged { .. }
            | Event::CronScheduled { .. }
            | Event::CronDescheduled { .. }
            | Event::CronTriggered { .. }
            | Event::AgentRegistered { .. }
            | Event::AgentLost { .. }
            | Event::AgentBound { .. }
            | Event::AgentUnbound { .. }
            | Event::SlaDrainRequested { .. }
            | Event::JournalTruncationAccepted { .. } => None,
        };
        let Some(what) = what else { return };
        let role = match &what {
            ChangeKind::JobCreated { job, .. }
            | ChangeKind::JobRemoved { job }
            | ChangeKind::JobChanged { job, .. }
            | ChangeKind::InstancesKilled { job, .. } => Some(job.role.as_str()),
            ChangeKind::QuotaChanged { role, .. } => Some(role.as_str()),
            ChangeKind::Maintenance { .. } => None,
        };
        // Hosts belong to no role: a role's diff leaves them out.
        let kept = match role {
            Some(role) => self.keeps_role(role),
            None => self.role.is_none(),
        };
        if !kept {
            return;
        }
        let on_behalf_of = envelope
            .cause
            .and_then(|cause| self.starters.get(&cause).cloned());
        self.changes.push(Change {
            seq: envelope.seq,
            at: envelope.at,
            actor: envelope.actor.clone(),
            on_behalf_of,
            what,
        });
    }

    pub fn finish(self) -> Vec<Change> {
        self.changes
    }
}

/// Whether a task in `status` counts as one of its job's instances: waiting or running, and
/// not on its way out.
pub fn is_active(status: ScheduleStatus) -> bool {
    match status {
        ScheduleStatus::Init
        | ScheduleStatus::Pending
        | ScheduleStatus::Throttled
        | ScheduleStatus::Assigned
        | ScheduleStatus::Starting
        | ScheduleStatus::Running
        | ScheduleStatus::Restarting
        | ScheduleStatus::Draining
        | ScheduleStatus::Preempting
        | ScheduleStatus::Partitioned => true,
        ScheduleStatus::Killing
        | ScheduleStatus::Finished
        | ScheduleStatus::Failed
        | ScheduleStatus::Killed
        | ScheduleStatus::Lost => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aurora_events::{ConfigHash, PendingEvent};

    fn envelope(seq: Seq, actor: Actor, event: Event) -> Envelope {
        PendingEvent::new(actor, event).commit(seq, Timestamp(seq as i64 * 1000))
    }

    fn sample_instructions() -> aurora_events::update::UpdateInstructions {
        aurora_events::samples::events()
            .into_iter()
            .find_map(|e| match e {
                Event::UpdateStarted { instructions, .. } => Some(instructions),
                _ => None,
            })
            .expect("the samples start an update")
    }

    fn alice() -> Actor {
        Actor::User("alice".into())
    }

    #[test]
    fn a_users_kills_are_one_change_per_command_with_the_instances_left() {
        let job = JobKey::new("bob", "prod", "api").unwrap();
        let task = |i: u32| TaskId::from_raw(format!("bob-prod-api-{i}"));
        let mut before = Before::default();
        for i in 0..3 {
            before.active.insert(task(i), (job.clone(), i));
        }
        let mut builder = DiffBuilder::new(before, None);
        let bob = || Actor::User("bob".into());
        let changed = |i: u32, from, to| Event::TaskStateChanged {
            task: task(i),
            job: job.clone(),
            from,
            to,
            message: None,
        };
        let at = |seq: Seq, at: i64, actor: Actor, event: Event| {
            let mut e = envelope(seq, actor, event);
            e.at = Timestamp(at);
            e
        };
        // A restart is not a kill; the instance stays.
        builder.apply(&at(
            1,
            1,
            bob(),
            changed(1, ScheduleStatus::Running, ScheduleStatus::Restarting),
        ));
        // One command kills instances 0 and 2 (one commit time).
        builder.apply(&at(
            2,
            2,
            bob(),
            changed(0, ScheduleStatus::Running, ScheduleStatus::Killing),
        ));
        builder.apply(&at(
            3,
            2,
            bob(),
            changed(2, ScheduleStatus::Running, ScheduleStatus::Killing),
        ));
        // Ending as asked is not another kill.
        builder.apply(&at(
            4,
            3,
            Actor::Agent(aurora_events::AgentId("vm".into())),
            changed(0, ScheduleStatus::Killing, ScheduleStatus::Killed),
        ));
        // Instance 1's replacement waits; a scheduler-made kill (an update's) is not the user's.
        builder.apply(&at(
            5,
            4,
            Actor::Scheduler,
            changed(1, ScheduleStatus::Restarting, ScheduleStatus::Finished),
        ));
        builder.apply(&at(
            6,
            4,
            Actor::Scheduler,
            Event::TaskCreated {
                task: task(9),
                job: job.clone(),
                instance: 1,
                config: ConfigHash([1; 32]),
                status: ScheduleStatus::Pending,
                ancestor: Some(task(1)),
                failure_count: 0,
                penalty_ms: 0,
                message: None,
            },
        ));
        // The last instance is killed while pending: deleted.
        builder.apply(&at(
            7,
            5,
            bob(),
            Event::TaskDeleted {
                task: task(9),
                job: job.clone(),
            },
        ));
        let kills: Vec<(Seq, ChangeKind)> = builder
            .finish()
            .into_iter()
            .map(|c| (c.seq, c.what))
            .collect();
        assert_eq!(
            kills,
            vec![
                (
                    2,
                    ChangeKind::InstancesKilled {
                        job: job.clone(),
                        instances: vec![0, 2],
                        left: 1
                    }
                ),
                (
                    7,
                    ChangeKind::InstancesKilled {
                        job: job.clone(),
                        instances: vec![1],
                        left: 0
                    }
                ),
            ]
        );
    }

    #[test]
    fn changes_are_listed_with_who_and_compared_with_the_state_before() {
        let job = JobKey::new("www", "prod", "web").unwrap();
        let other = JobKey::new("db", "prod", "pg").unwrap();
        let (c1, c2) = (ConfigHash([1; 32]), ConfigHash([2; 32]));
        let mut before = Before::default();
        before.desired.insert(
            job.clone(),
            DesiredState {
                config: c1,
                instances: 2,
            },
        );
        let mut builder = DiffBuilder::new(before, None);
        let start = envelope(
            10,
            alice(),
            Event::UpdateStarted {
                update: aurora_events::UpdateKey {
                    job: job.clone(),
                    id: aurora_events::Uuid::nil(),
                },
                user: "alice".into(),
                instructions: sample_instructions(),
                metadata: BTreeMap::new(),
            },
        );
        builder.apply(&start);
        let mut replaced = envelope(
            11,
            Actor::Scheduler,
            Event::JobConfigReplaced {
                job: job.clone(),
                config: c2,
                instances: 3,
            },
        );
        replaced.cause = Some(start.id);
        builder.apply(&replaced);
        builder.apply(&envelope(
            12,
            Actor::User("bob".into()),
            Event::JobCreated {
                job: other.clone(),
                config: c1,
                instances: 1,
            },
        ));
        builder.apply(&envelope(
            13,
            Actor::User("bob".into()),
            Event::HostMaintenanceChanged {
                host: "h1".into(),
                from: MaintenanceMode::None,
                to: MaintenanceMode::Draining,
            },
        ));
        let changes = builder.clone().finish();
        assert_eq!(changes.len(), 3);
        assert_eq!(changes[0].on_behalf_of.as_deref(), Some("alice"));
        assert_eq!(
            changes[0].what,
            ChangeKind::JobChanged {
                job: job.clone(),
                from: Some(DesiredState {
                    config: c1,
                    instances: 2
                }),
                to: DesiredState {
                    config: c2,
                    instances: 3
                },
            }
        );
        assert!(matches!(changes[1].what, ChangeKind::JobCreated { .. }));
        assert_eq!(changes[1].actor, Actor::User("bob".into()));
        assert!(matches!(changes[2].what, ChangeKind::Maintenance { .. }));

        // A role's diff keeps its own jobs and leaves hosts out.
        let mut www = DiffBuilder::new(Before::default(), Some("www".into()));
        for seq in [&start, &replaced] {
            www.apply(seq);
        }
        www.apply(&envelope(14, alice(), Event::JobRemoved { job: other }));
        let kept = www.finish();
        assert_eq!(kept.len(), 1);
        assert!(matches!(
            kept[0].what,
            ChangeKind::JobChanged { from: None, .. }
        ));
    }
}
