//! Fixed, deterministic sample values: one event of every kind, a realistic task config.
//! The golden test pins their encodings; other crates' tests build on them.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use crate::config::*;
use crate::envelope::{Actor, Envelope, Seq, Timestamp};
use crate::event::{Attribute, CronCollisionPolicy, CronOutcome, Event};
use crate::ids::{AgentId, EventId, Identifier, JobKey, TaskId, UpdateKey};
use crate::resources::{Capacity, ResourceAggregate, Resources};
use crate::status::{InstanceUpdateAction, MaintenanceMode, ScheduleStatus, UpdateStatus};
use crate::update::*;

fn ident(s: &str) -> Identifier {
    Identifier::new(s).expect("sample identifiers are valid")
}

pub fn job() -> JobKey {
    JobKey {
        role: ident("www-data"),
        environment: ident("prod"),
        name: ident("hello"),
    }
}

pub fn task_id(instance: u32) -> TaskId {
    TaskId::generate(
        &job(),
        instance,
        Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + u128::from(instance)),
    )
}

/// The tutorial's hello_world: one process, 1 cpu, 128 MiB RAM and disk, plus every optional
/// part filled in so the golden bytes cover them.
pub fn task_config() -> TaskConfig {
    TaskConfig {
        job: job(),
        owner: Some("www-data".into()),
        is_service: true,
        priority: 0,
        max_task_failures: 1,
        tier: Tier::Preferred,
        resources: Resources {
            cpus: 1.0,
            ram_mb: 128,
            disk_mb: 128,
            gpus: 0,
            ports: BTreeSet::from(["health".to_string(), "http".to_string()]),
        },
        constraints: vec![
            Constraint {
                name: "rack".into(),
                kind: ConstraintKind::Value {
                    negated: true,
                    values: vec!["r1".into(), "r2".into()],
                },
            },
            Constraint {
                name: "host".into(),
                kind: ConstraintKind::Limit { limit: 1 },
            },
        ],
        contact_email: Some("team@example.com".into()),
        metadata: BTreeMap::from([("team".to_string(), "web".to_string())]),
        executor: ThermosTask {
            name: "hello".into(),
            processes: vec![Process {
                name: "hello".into(),
                cmdline: "echo hello world && sleep 60".into(),
                max_failures: 1,
                daemon: false,
                ephemeral: false,
                min_duration_secs: 5,
                is_final: false,
                logger: Logger {
                    destination: LogDestination::File,
                    rotate: Some(LogRotation {
                        log_size_mb: 100,
                        backups: 5,
                    }),
                },
            }],
            ordering: vec![vec!["hello".into()]],
            max_failures: 1,
            max_concurrency: 0,
            finalization_wait_secs: 30,
        },
        health_check: Some(HealthCheck {
            checker: HealthChecker::Http {
                endpoint: "/health".into(),
                expected_response: "ok".into(),
                expected_response_code: 0,
            },
            initial_interval_secs: 15,
            interval_secs: 10,
            max_consecutive_failures: 0,
            min_consecutive_successes: 1,
            timeout_secs: 1,
        }),
        lifecycle: Some(HttpLifecycle {
            port: "health".into(),
            graceful_shutdown_endpoint: "/quitquitquit".into(),
            graceful_shutdown_wait_secs: 5,
            shutdown_endpoint: "/abortabortabort".into(),
            shutdown_wait_secs: 5,
        }),
        announce: Some(Announcer {
            primary_port: "http".into(),
            portmap: BTreeMap::from([("aurora".to_string(), "http".to_string())]),
            zk_path: None,
        }),
        partition_policy: Some(PartitionPolicy {
            reschedule: true,
            delay_secs: 0,
        }),
        sla_policy: Some(SlaPolicy::Percentage {
            percentage: 95.0,
            duration_secs: 1800,
        }),
        container: None,
    }
}

pub fn update_key() -> UpdateKey {
    UpdateKey {
        job: job(),
        id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_00aa),
    }
}

/// One sample of every event kind, in declaration order.
pub fn events() -> Vec<Event> {
    let config = task_config();
    let hash = config.hash();
    let mut docker = config.clone();
    docker.container = Some(crate::config::Container::Docker {
        image: "nginx:1.25".into(),
        parameters: vec![crate::config::DockerParameter {
            name: "env".into(),
            value: "HTTP_PORT=8080".into(),
        }],
    });
    vec![
        Event::ClusterInitialised {
            cluster: "devcluster".into(),
        },
        Event::TaskConfigStored {
            hash,
            config: Box::new(
                crate::legacy::TaskConfigV1::try_from(config.clone())
                    .expect("the sample has no container"),
            ),
        },
        Event::JobCreated {
            job: job(),
            config: hash,
            instances: 3,
        },
        Event::JobConfigReplaced {
            job: job(),
            config: hash,
            instances: 4,
        },
        Event::JobRemoved { job: job() },
        Event::TaskCreated {
            task: task_id(1),
            job: job(),
            instance: 1,
            config: hash,
            status: ScheduleStatus::Throttled,
            ancestor: Some(task_id(0)),
            failure_count: 2,
            penalty_ms: 30_000,
            message: Some("Rescheduled, penalized for 30000 ms for flapping".into()),
        },
        Event::TaskAssigned {
            task: task_id(1),
            job: job(),
            agent: AgentId("agent-1".into()),
            host: "host-1.example.com".into(),
            ports: BTreeMap::from([("health".to_string(), 31001), ("http".to_string(), 31000)]),
        },
        Event::TaskStateChanged {
            task: task_id(1),
            job: job(),
            from: ScheduleStatus::Running,
            to: ScheduleStatus::Killing,
            message: Some("Killed by alice: maintenance".into()),
        },
        Event::TaskDeleted {
            task: task_id(1),
            job: job(),
        },
        Event::UpdateStarted {
            update: update_key(),
            user: "alice".into(),
            instructions: UpdateInstructions {
                initial_state: vec![InstanceConfigRanges {
                    config: hash,
                    instances: vec![InstanceRange { first: 0, last: 2 }],
                }],
                desired_state: Some(InstanceConfigRanges {
                    config: hash,
                    instances: vec![InstanceRange { first: 0, last: 3 }],
                }),
                settings: UpdateSettings {
                    strategy: UpdateStrategy::VariableBatch {
                        group_sizes: vec![1, 2, 3],
                        autopause_after_batch: false,
                    },
                    max_per_instance_failures: 1,
                    max_failed_instances: 2,
                    min_wait_in_instance_running_ms: 45_000,
                    rollback_on_failure: true,
                    update_only_these_instances: vec![],
                    block_if_no_pulses_after_ms: Some(60_000),
                    sla_aware: false,
                },
            },
            metadata: BTreeMap::from([(
                "org.apache.aurora.client.update_id".to_string(),
                "5c6b1ba2".to_string(),
            )]),
        },
        Event::UpdateStateChanged {
            update: update_key(),
            from: UpdateStatus::RollingForward,
            to: UpdateStatus::RollForwardPaused,
            message: Some("Update auto paused".into()),
        },
        Event::UpdateInstanceActioned {
            update: update_key(),
            instance: 2,
            action: InstanceUpdateAction::InstanceUpdating,
            message: None,
        },
        Event::UpdatePulsed {
            update: update_key(),
        },
        Event::QuotaSet {
            role: ident("www-data"),
            quota: ResourceAggregate {
                cpus: 10.5,
                ram_mb: 10_240,
                disk_mb: 40_960,
            },
        },
        Event::HostAttributesChanged {
            host: "host-1.example.com".into(),
            agent: Some(AgentId("agent-1".into())),
            attributes: vec![
                Attribute {
                    name: "rack".into(),
                    values: vec!["r1".into()],
                },
                Attribute {
                    name: "dedicated".into(),
                    values: vec!["db_team/redis".into()],
                },
            ],
        },
        Event::HostMaintenanceChanged {
            host: "host-1.example.com".into(),
            from: MaintenanceMode::Scheduled,
            to: MaintenanceMode::Draining,
        },
        Event::CronScheduled {
            job: job(),
            config: hash,
            instances: 1,
            schedule: "*/5 * * * *".into(),
            collision_policy: CronCollisionPolicy::KillExisting,
        },
        Event::CronDescheduled { job: job() },
        Event::CronTriggered {
            job: job(),
            outcome: CronOutcome::KillingExisting,
        },
        Event::AgentRegistered {
            agent: AgentId("agent-1".into()),
            host: "host-1.example.com".into(),
            capacity: Capacity {
                cpus: 8.0,
                ram_mb: 16_384,
                disk_mb: 100_000,
                gpus: 0,
                port_ranges: vec![(31000, 32000)],
            },
            attributes: vec![Attribute {
                name: "rack".into(),
                values: vec!["r1".into()],
            }],
            endpoint: "http://host-1.example.com:1338".into(),
        },
        Event::AgentLost {
            agent: AgentId("agent-1".into()),
            reason: "missed 3 heartbeats".into(),
        },
        Event::JournalTruncationAccepted {
            acknowledged: 9002,
            found: 4122,
            reason: "the write-ahead log was damaged".into(),
        },
        Event::UpdatesPruned {
            job: job(),
            updates: vec![Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001)],
        },
        Event::AgentBound {
            agent: AgentId("agent-1".into()),
            principal: "agent-vm1".into(),
        },
        Event::SlaDrainRequested {
            host: "host-1".into(),
            default_sla: SlaPolicy::Percentage {
                percentage: 95.0,
                duration_secs: 1800,
            },
            timeout_secs: 7 * 24 * 3600,
        },
        Event::TaskConfigStoredV2 {
            hash: docker.hash(),
            config: Box::new(docker),
        },
        Event::AgentUnbound {
            agent: AgentId("agent-1".into()),
            principal: "agent-vm1".into(),
        },
    ]
}

/// A fixed envelope around `event` at `seq`.
pub fn envelope(seq: Seq, event: Event) -> Envelope {
    Envelope {
        seq,
        id: EventId::from_parts(1_767_225_600_000 + seq, [7; 10]),
        at: Timestamp(1_767_225_600_000 + i64::try_from(seq).unwrap_or(0)),
        actor: Actor::User("alice".into()),
        cause: Some(EventId::from_parts(1_767_225_600_000, [1; 10])),
        event,
        prev_hash: None,
    }
}

/// `envelope` framed as format 1 (journals written before the hash chain) framed it: every
/// field but `prev_hash`. For tests that old journals still read; nothing writes it.
pub fn format_1_record(envelope: &Envelope) -> Vec<u8> {
    let payload = crate::codec::encode_value(&(
        envelope.seq,
        envelope.id,
        envelope.at,
        &envelope.actor,
        envelope.cause,
        &envelope.event,
    ));
    let mut bytes = vec![crate::codec::FORMAT_VERSION_UNCHAINED];
    bytes.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
    bytes.extend_from_slice(&payload);
    bytes
}
