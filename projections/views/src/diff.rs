//! What changed in a cluster between two instants (`aurora cluster diff`): jobs created and
//! removed, jobs' instance counts and configs, quotas, hosts' maintenance modes, each with
//! who did it. Pure: a fold of the events between the two instants over what the views held
//! at the first.

use std::collections::BTreeMap;

use aurora_events::{
    Actor, Envelope, Event, EventId, Identifier, JobKey, MaintenanceMode, ResourceAggregate, Seq,
    Timestamp,
};
use serde::{Deserialize, Serialize};

use crate::model::DesiredState;

/// The state at the first instant that later changes are compared with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Before {
    pub desired: BTreeMap<JobKey, DesiredState>,
    pub quotas: BTreeMap<Identifier, ResourceAggregate>,
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
    changes: Vec<Change>,
}

impl DiffBuilder {
    pub fn new(before: Before, role: Option<String>) -> Self {
        Self {
            before,
            role,
            starters: BTreeMap::new(),
            changes: Vec::new(),
        }
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
            Event::ClusterInitialised { .. }
            | Event::TaskConfigStored { .. }
            | Event::TaskConfigStoredV2 { .. }
            | Event::TaskCreated { .. }
            | Event::TaskAssigned { .. }
            | Event::TaskStateChanged { .. }
            | Event::TaskDeleted { .. }
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
            | ChangeKind::JobChanged { job, .. } => Some(job.role.as_str()),
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
