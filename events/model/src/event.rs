//! The event vocabulary: every fact the journal records, grouped by aggregate.
//!
//! Rules, because the binary codec is not self-describing:
//! - variants are only ever **appended**; never reorder, remove or change one;
//! - a stored variant never gains a field: a change is a new variant (`JobCreatedV2`), with the
//!   old one still decodable and upcast where it is read;
//! - the golden test (`tests/golden.rs`) pins the bytes of one sample of every variant.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{SlaPolicy, TaskConfig};
use crate::legacy::TaskConfigV1;
use uuid::Uuid;

use crate::ids::{AgentId, ConfigHash, Identifier, InstanceId, JobKey, TaskId, UpdateKey};
use crate::resources::{Capacity, ResourceAggregate};
use crate::status::{InstanceUpdateAction, MaintenanceMode, ScheduleStatus, UpdateStatus};
use crate::update::UpdateInstructions;

/// One fact, in the past tense. See the module docs for the evolution rules.
#[derive(
    Debug, Clone, PartialEq, Serialize, Deserialize, strum::EnumDiscriminants, strum::IntoStaticStr,
)]
#[strum_discriminants(
    name(EventKind),
    derive(
        Hash,
        PartialOrd,
        Ord,
        Serialize,
        Deserialize,
        strum::EnumIter,
        strum::Display,
        strum::EnumString,
        strum::IntoStaticStr
    ),
    strum(serialize_all = "snake_case"),
    serde(rename_all = "snake_case")
)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub enum Event {
    // ----- cluster -----
    /// Produced once, by the explicit initialise step, as seq 1 of a new cluster's journal.
    ClusterInitialised { cluster: String },

    // ----- jobs and configs -----
    /// A task config stored before configs had a `container`; upcast where read
    /// (`TaskConfig::from`). Written today as [`Event::TaskConfigStoredV2`].
    TaskConfigStored {
        hash: ConfigHash,
        config: Box<TaskConfigV1>,
    },
    /// Produced by `createJob`: the job exists with this config and instance count.
    JobCreated {
        job: JobKey,
        config: ConfigHash,
        instances: u32,
    },
    /// Produced when a job's desired config or instance count changes (update finished,
    /// instances added).
    JobConfigReplaced {
        job: JobKey,
        config: ConfigHash,
        instances: u32,
    },
    /// Produced when a job has no tasks left and is forgotten (kill + prune, cron deschedule).
    JobRemoved { job: JobKey },

    // ----- tasks -----
    /// Produced by job creation, instance addition, rescheduling and update steps: a new task
    /// entered PENDING or THROTTLED (from INIT).
    TaskCreated {
        task: TaskId,
        job: JobKey,
        instance: InstanceId,
        config: ConfigHash,
        status: ScheduleStatus,
        /// The task this one replaces when rescheduled.
        ancestor: Option<TaskId>,
        /// Failures carried over from the ancestor chain.
        failure_count: u32,
        /// For a THROTTLED task, how long it is held back (flapping penalty) from this event's
        /// time before it becomes PENDING; 0 otherwise.
        penalty_ms: u64,
        message: Option<String>,
    },
    /// Produced by placement: PENDING → ASSIGNED on an agent, with the ports picked there.
    TaskAssigned {
        task: TaskId,
        job: JobKey,
        agent: AgentId,
        host: String,
        ports: BTreeMap<String, u16>,
    },
    /// Produced by the task state machine (agent status updates, kills, timeouts, preemption,
    /// drains, restarts, admin force): a task moved between two states.
    TaskStateChanged {
        task: TaskId,
        job: JobKey,
        from: ScheduleStatus,
        to: ScheduleStatus,
        message: Option<String>,
    },
    /// Produced by history pruning and by killing a task that never left PENDING/THROTTLED.
    TaskDeleted { task: TaskId, job: JobKey },

    // ----- updates -----
    /// Produced by `startJobUpdate`.
    UpdateStarted {
        update: UpdateKey,
        user: String,
        instructions: UpdateInstructions,
        metadata: BTreeMap<String, String>,
    },
    /// Produced by the update controller and by pause/resume/abort/rollback commands.
    UpdateStateChanged {
        update: UpdateKey,
        from: UpdateStatus,
        to: UpdateStatus,
        message: Option<String>,
    },
    /// Produced by the update controller as it works on one instance.
    UpdateInstanceActioned {
        update: UpdateKey,
        instance: InstanceId,
        action: InstanceUpdateAction,
        message: Option<String>,
    },
    /// Produced by `pulseJobUpdate` for a coordinated update.
    UpdatePulsed { update: UpdateKey },

    // ----- quota -----
    /// Produced by `setQuota` / `aurora-admin set_quota|increase_quota`: the role's new quota.
    QuotaSet {
        role: Identifier,
        quota: ResourceAggregate,
    },

    // ----- hosts -----
    /// Produced when an agent registers or reports new attributes for its host.
    HostAttributesChanged {
        host: String,
        agent: Option<AgentId>,
        attributes: Vec<Attribute>,
    },
    /// Produced by maintenance commands and by a draining host becoming empty (→ DRAINED).
    HostMaintenanceChanged {
        host: String,
        from: MaintenanceMode,
        to: MaintenanceMode,
    },

    // ----- cron -----
    /// Produced by `scheduleCronJob`/`replaceCronTemplate`: the job's cron template.
    CronScheduled {
        job: JobKey,
        config: ConfigHash,
        instances: u32,
        schedule: String,
        collision_policy: CronCollisionPolicy,
    },
    /// Produced by `descheduleCronJob`; running tasks are left alone.
    CronDescheduled { job: JobKey },
    /// Produced by the cron driver when a schedule fires, or by `startCronJob`.
    CronTriggered { job: JobKey, outcome: CronOutcome },

    // ----- agents -----
    /// Produced when an agent registers (or re-registers after a restart).
    AgentRegistered {
        agent: AgentId,
        host: String,
        capacity: Capacity,
        attributes: Vec<Attribute>,
        /// Base URL of the agent's observer (sandbox browser, process logs).
        endpoint: String,
    },
    /// Produced when an agent misses its heartbeats; its tasks become LOST.
    AgentLost { agent: AgentId, reason: String },

    // ----- cluster (continued) -----
    /// Produced when an operator accepts that a damaged journal lost acknowledged events
    /// (`aurora-scheduler --accept-truncation`): the journal had acknowledged seqs up to
    /// `acknowledged` but holds only up to `found`. This event takes seq `found + 1`, so the
    /// seqs `found + 1..=acknowledged` are reused from here on; the loss is on the record.
    JournalTruncationAccepted {
        acknowledged: u64,
        found: u64,
        reason: String,
    },

    // ----- updates (continued) -----
    /// Produced by update-history pruning: the job's terminal updates the scheduler stops
    /// keeping (beyond the per-job cap, older than the age threshold, or of a job with no tasks
    /// left), as Aurora's pruner does. Their events stay in the journal; views forget them.
    UpdatesPruned {
        job: JobKey,
        #[cfg_attr(
            feature = "arbitrary",
            proptest(strategy = "crate::arbitrary::uuids()")
        )]
        updates: Vec<Uuid>,
    },

    // ----- agents (continued) -----
    /// Produced at an agent's first registration with a scheduler that authenticates: the
    /// agent id is bound to the user (credential) that registered it, and from then on the
    /// scheduler refuses that id to any other user: no one else can register, heartbeat or
    /// report as this agent.
    AgentBound { agent: AgentId, principal: String },

    // ----- hosts (continued) -----
    /// Produced by an SLA-aware drain (`aurora-admin sla_host_drain`, Aurora's
    /// `slaDrainHosts`): the host is DRAINING, and each task on it is drained only while its
    /// job's SLA policy (the task's own, else `default_sla`) stays satisfied, until
    /// `timeout_secs` after this event, when the rest are drained regardless. One request per
    /// host; a later one replaces it, and maintenance ending (or the host DRAINED) ends it.
    SlaDrainRequested {
        host: String,
        default_sla: SlaPolicy,
        timeout_secs: u64,
    },

    // ----- jobs and configs (continued) -----
    /// Produced before the first event that refers to a task config not yet stored: the config
    /// itself, once, under its content hash.
    TaskConfigStoredV2 {
        hash: ConfigHash,
        config: Box<TaskConfig>,
    },

    // ----- agents (continued) -----
    /// Produced by an operator (`aurora-admin agent unbind`): the agent id, and the host it
    /// served, are no longer bound to `principal`; the next user to register it binds it.
    /// For a host rebuilt with a new credential.
    AgentUnbound { agent: AgentId, principal: String },
}

/// The aggregates events belong to; also the middle part of stream subjects.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, strum::Display, strum::IntoStaticStr,
)]
#[strum(serialize_all = "snake_case")]
pub enum Aggregate {
    Cluster,
    Job,
    Task,
    Update,
    Quota,
    Host,
    Cron,
    Agent,
}

impl Event {
    /// The config a config-storing event stores, in today's shape, with its hash.
    pub fn stored_config(&self) -> Option<(ConfigHash, TaskConfig)> {
        match self {
            Event::TaskConfigStored { hash, config } => {
                Some((*hash, TaskConfig::from((**config).clone())))
            }
            Event::TaskConfigStoredV2 { hash, config } => Some((*hash, (**config).clone())),
            _ => None,
        }
    }

    pub fn kind(&self) -> EventKind {
        EventKind::from(self)
    }

    pub fn aggregate(&self) -> Aggregate {
        self.kind().aggregate()
    }

    /// The job an event is about, when it is about one job (for filters and subjects).
    pub fn job(&self) -> Option<&JobKey> {
        match self {
            Event::JobCreated { job, .. }
            | Event::JobConfigReplaced { job, .. }
            | Event::JobRemoved { job }
            | Event::TaskCreated { job, .. }
            | Event::TaskAssigned { job, .. }
            | Event::TaskStateChanged { job, .. }
            | Event::TaskDeleted { job, .. }
            | Event::CronScheduled { job, .. }
            | Event::CronDescheduled { job }
            | Event::CronTriggered { job, .. } => Some(job),
            Event::UpdateStarted { update, .. }
            | Event::UpdateStateChanged { update, .. }
            | Event::UpdateInstanceActioned { update, .. }
            | Event::UpdatePulsed { update } => Some(&update.job),
            Event::UpdatesPruned { job, .. } => Some(job),
            Event::ClusterInitialised { .. }
            | Event::TaskConfigStored { .. }
            | Event::TaskConfigStoredV2 { .. }
            | Event::QuotaSet { .. }
            | Event::HostAttributesChanged { .. }
            | Event::HostMaintenanceChanged { .. }
            | Event::AgentRegistered { .. }
            | Event::AgentLost { .. }
            | Event::AgentBound { .. }
            | Event::AgentUnbound { .. }
            | Event::SlaDrainRequested { .. }
            | Event::JournalTruncationAccepted { .. } => None,
        }
    }

    /// The task an event is about, if any.
    pub fn task(&self) -> Option<&TaskId> {
        match self {
            Event::TaskCreated { task, .. }
            | Event::TaskAssigned { task, .. }
            | Event::TaskStateChanged { task, .. }
            | Event::TaskDeleted { task, .. } => Some(task),
            Event::ClusterInitialised { .. }
            | Event::TaskConfigStored { .. }
            | Event::TaskConfigStoredV2 { .. }
            | Event::JobCreated { .. }
            | Event::JobConfigReplaced { .. }
            | Event::JobRemoved { .. }
            | Event::UpdateStarted { .. }
            | Event::UpdateStateChanged { .. }
            | Event::UpdateInstanceActioned { .. }
            | Event::UpdatePulsed { .. }
            | Event::UpdatesPruned { .. }
            | Event::QuotaSet { .. }
            | Event::HostAttributesChanged { .. }
            | Event::HostMaintenanceChanged { .. }
            | Event::CronScheduled { .. }
            | Event::CronDescheduled { .. }
            | Event::CronTriggered { .. }
            | Event::AgentRegistered { .. }
            | Event::AgentLost { .. }
            | Event::AgentBound { .. }
            | Event::AgentUnbound { .. }
            | Event::SlaDrainRequested { .. }
            | Event::JournalTruncationAccepted { .. } => None,
        }
    }
}

impl EventKind {
    pub fn aggregate(self) -> Aggregate {
        match self {
            EventKind::ClusterInitialised | EventKind::JournalTruncationAccepted => {
                Aggregate::Cluster
            }
            EventKind::TaskConfigStored
            | EventKind::TaskConfigStoredV2
            | EventKind::JobCreated
            | EventKind::JobConfigReplaced
            | EventKind::JobRemoved => Aggregate::Job,
            EventKind::TaskCreated
            | EventKind::TaskAssigned
            | EventKind::TaskStateChanged
            | EventKind::TaskDeleted => Aggregate::Task,
            EventKind::UpdateStarted
            | EventKind::UpdateStateChanged
            | EventKind::UpdateInstanceActioned
            | EventKind::UpdatePulsed
            | EventKind::UpdatesPruned => Aggregate::Update,
            EventKind::QuotaSet => Aggregate::Quota,
            EventKind::HostAttributesChanged
            | EventKind::HostMaintenanceChanged
            | EventKind::SlaDrainRequested => Aggregate::Host,
            EventKind::CronScheduled | EventKind::CronDescheduled | EventKind::CronTriggered => {
                Aggregate::Cron
            }
            EventKind::AgentRegistered
            | EventKind::AgentLost
            | EventKind::AgentBound
            | EventKind::AgentUnbound => Aggregate::Agent,
        }
    }
}

/// A host attribute, e.g. `rack: [a]`, `dedicated: [db_team/redis]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub struct Attribute {
    pub name: String,
    #[cfg_attr(
        feature = "arbitrary",
        proptest(strategy = "crate::arbitrary::name_list()")
    )]
    pub values: Vec<String>,
}

/// What a cron run does when the previous run's tasks are still active.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    strum::EnumIter,
    strum::Display,
    strum::EnumString,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub enum CronCollisionPolicy {
    /// Kill the active tasks, then launch (Aurora's default).
    #[default]
    KillExisting,
    /// Skip this run.
    CancelNew,
    /// Deprecated in Aurora: rejected on schedule, treated as CANCEL_NEW.
    RunOverlap,
}

/// What a cron trigger did.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::EnumIter, strum::Display,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
pub enum CronOutcome {
    /// No active tasks: new tasks were created for every instance.
    Launched,
    /// Active tasks are being killed first (KILL_EXISTING); launch follows their death.
    KillingExisting,
    /// The run was skipped because tasks were active (CANCEL_NEW).
    Skipped,
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

    #[test]
    fn every_kind_has_a_snake_case_name_and_an_aggregate() {
        for kind in EventKind::iter() {
            let name = kind.to_string();
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{name}"
            );
            assert_eq!(name.parse::<EventKind>().unwrap(), kind);
            let _ = kind.aggregate();
        }
        assert_eq!(
            EventKind::TaskStateChanged.to_string(),
            "task_state_changed"
        );
    }
}
