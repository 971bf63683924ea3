//! A task in the shape of Aurora's thrift `ScheduledTask`, as its client prints it with
//! `job status --write-json` (thrift's simple-JSON protocol: camelCase fields in field-id
//! order, unset optional fields left out, enums as names, booleans as `true`/`false`). Scripts
//! read `.status`, `.assignedTask.instanceId`, `.assignedTask.slaveHost`,
//! `.assignedTask.taskId` and `.assignedTask.task.*` from it.

use std::collections::BTreeMap;

use aurora_api::TaskView;
use aurora_events::config::{ConstraintKind, SlaPolicy};
use aurora_events::{ScheduleStatus, TaskConfig};
use serde::Serialize;

/// `ScheduledTask`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScheduledTask {
    pub(crate) assigned_task: AssignedTask,
    pub(crate) status: ScheduleStatus,
    pub(crate) failure_count: u32,
    pub(crate) task_events: Vec<TaskEvent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ancestor_id: Option<String>,
    pub(crate) times_partitioned: usize,
}

/// `AssignedTask`: `slaveId` and `slaveHost` only once the task was placed.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AssignedTask {
    pub(crate) task_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) slave_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) slave_host: Option<String>,
    /// Absent only when the scheduler did not send the config.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) task: Option<Task>,
    pub(crate) assigned_ports: BTreeMap<String, u16>,
    pub(crate) instance_id: u32,
}

/// `TaskEvent`.
#[derive(Debug, Serialize)]
pub(crate) struct TaskEvent {
    pub(crate) timestamp: i64,
    pub(crate) status: ScheduleStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) message: Option<String>,
}

/// `TaskConfig` (the fields this scheduler has; Aurora's `container`, `taskLinks` and
/// `mesosFetcherUris` have no counterpart here and are left out).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Task {
    is_service: bool,
    priority: i32,
    max_task_failures: i32,
    owner: Identity,
    production: bool,
    constraints: Vec<Constraint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    contact_email: Option<String>,
    executor_config: ExecutorConfig,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    metadata: Vec<Metadata>,
    job: JobKey,
    tier: String,
    resources: Vec<Resource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    partition_policy: Option<PartitionPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sla_policy: Option<Sla>,
}

#[derive(Debug, Serialize)]
struct Identity {
    user: String,
}

#[derive(Debug, Serialize)]
struct JobKey {
    role: String,
    environment: String,
    name: String,
}

#[derive(Debug, Serialize)]
struct Metadata {
    key: String,
    value: String,
}

/// Aurora's executor name; `data` is this scheduler's own task description, as JSON text.
#[derive(Debug, Serialize)]
struct ExecutorConfig {
    name: &'static str,
    data: String,
}

/// The thrift union `Resource`: exactly one field per entry.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
enum Resource {
    NumCpus(f64),
    RamMb(u64),
    DiskMb(u64),
    NamedPort(String),
    NumGpus(u32),
}

#[derive(Debug, Serialize)]
struct Constraint {
    name: String,
    constraint: TaskConstraint,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
enum TaskConstraint {
    Value { negated: bool, values: Vec<String> },
    Limit { limit: u32 },
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PartitionPolicy {
    reschedule: bool,
    delay_secs: u64,
}

/// The thrift union `SlaPolicy`.
#[derive(Debug, Serialize)]
enum Sla {
    #[serde(rename = "percentageSlaPolicy")]
    Percentage {
        percentage: f64,
        #[serde(rename = "durationSecs")]
        duration_secs: u64,
    },
    #[serde(rename = "countSlaPolicy")]
    Count {
        count: u32,
        #[serde(rename = "durationSecs")]
        duration_secs: u64,
    },
    #[serde(rename = "coordinatorSlaPolicy")]
    Coordinator {
        #[serde(rename = "coordinatorUrl")]
        coordinator_url: String,
        #[serde(rename = "statusKey")]
        status_key: String,
    },
}

/// The resources of `config` in Aurora's display order: cpus, RAM, disk, ports (by name),
/// GPUs (only when asked for).
fn resources(config: &TaskConfig) -> Vec<Resource> {
    let r = &config.resources;
    let mut list = vec![
        Resource::NumCpus(r.cpus),
        Resource::RamMb(r.ram_mb),
        Resource::DiskMb(r.disk_mb),
    ];
    list.extend(r.ports.iter().cloned().map(Resource::NamedPort));
    if r.gpus > 0 {
        list.push(Resource::NumGpus(r.gpus));
    }
    list
}

fn task(config: &TaskConfig) -> Task {
    let job = &config.job;
    Task {
        is_service: config.is_service,
        priority: config.priority,
        max_task_failures: config.max_task_failures,
        owner: Identity {
            user: config.owner.clone().unwrap_or_else(|| job.role.to_string()),
        },
        production: config.production(),
        constraints: config
            .constraints
            .iter()
            .map(|c| Constraint {
                name: c.name.clone(),
                constraint: match &c.kind {
                    ConstraintKind::Value { negated, values } => TaskConstraint::Value {
                        negated: *negated,
                        values: values.clone(),
                    },
                    ConstraintKind::Limit { limit } => TaskConstraint::Limit { limit: *limit },
                },
            })
            .collect(),
        contact_email: config.contact_email.clone(),
        executor_config: ExecutorConfig {
            name: "AuroraExecutor",
            data: serde_json::to_string(&config.executor).unwrap_or_default(),
        },
        metadata: config
            .metadata
            .iter()
            .map(|(key, value)| Metadata {
                key: key.clone(),
                value: value.clone(),
            })
            .collect(),
        job: JobKey {
            role: job.role.to_string(),
            environment: job.environment.to_string(),
            name: job.name.to_string(),
        },
        tier: config.tier.to_string(),
        resources: resources(config),
        partition_policy: config.partition_policy.as_ref().map(|p| PartitionPolicy {
            reschedule: p.reschedule,
            delay_secs: p.delay_secs,
        }),
        sla_policy: config.sla_policy.as_ref().map(|policy| match policy {
            SlaPolicy::Count {
                count,
                duration_secs,
            } => Sla::Count {
                count: *count,
                duration_secs: *duration_secs,
            },
            SlaPolicy::Percentage {
                percentage,
                duration_secs,
            } => Sla::Percentage {
                percentage: *percentage,
                duration_secs: *duration_secs,
            },
            SlaPolicy::Coordinator { url, status_key } => Sla::Coordinator {
                coordinator_url: url.clone(),
                status_key: status_key.clone(),
            },
        }),
    }
}

impl ScheduledTask {
    pub(crate) fn from_view(view: &TaskView) -> Self {
        let task_events = view
            .events
            .iter()
            .enumerate()
            .map(|(i, (at, status))| TaskEvent {
                timestamp: at.as_millis(),
                status: *status,
                message: view.event_messages.get(i).cloned().flatten(),
            })
            .collect();
        Self {
            assigned_task: AssignedTask {
                task_id: view.id.to_string(),
                slave_id: view.agent.clone(),
                slave_host: view.host.clone(),
                task: view.task_config.as_ref().map(task),
                assigned_ports: view.ports.clone(),
                instance_id: view.instance,
            },
            status: view.status,
            failure_count: view.failure_count,
            task_events,
            ancestor_id: view.ancestor.as_ref().map(ToString::to_string),
            // Each time the task entered PARTITIONED (Aurora's `timesPartitioned`).
            times_partitioned: view
                .events
                .iter()
                .filter(|(_, status)| *status == ScheduleStatus::Partitioned)
                .count(),
        }
    }
}
