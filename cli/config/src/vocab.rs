//! The Thermos and Aurora schemas every `.aurora` file sees without imports (Aurora's
//! `thermos/config/schema_base.py` and `aurora/config/schema/base.py`), as data: field names,
//! types, which are required and their defaults.

use std::sync::{Arc, LazyLock};

use crate::value::{Datum, EnumTy, Field, Instance, Origin, Schema, Ty};

pub(crate) const MB: i64 = 1024 * 1024;
pub(crate) const GB: i64 = 1024 * MB;

/// The schemas, shared by every load. Types compare by identity, so there is one of each.
#[derive(Debug)]
pub(crate) struct Vocab {
    pub resources: Arc<Schema>,
    pub constraint: Arc<Schema>,
    pub rotate_policy: Arc<Schema>,
    pub logger: Arc<Schema>,
    pub process: Arc<Schema>,
    pub task: Arc<Schema>,
    pub queue_strategy: Arc<Schema>,
    pub batch_strategy: Arc<Schema>,
    pub variable_batch_strategy: Arc<Schema>,
    pub update_config: Arc<Schema>,
    pub http_health_checker: Arc<Schema>,
    pub shell_health_checker: Arc<Schema>,
    pub health_checker_config: Arc<Schema>,
    pub health_check_config: Arc<Schema>,
    pub http_lifecycle_config: Arc<Schema>,
    pub lifecycle_config: Arc<Schema>,
    pub announcer: Arc<Schema>,
    pub partition_policy: Arc<Schema>,
    pub metadata: Arc<Schema>,
    pub executor_config: Arc<Schema>,
    pub percentage_sla_policy: Arc<Schema>,
    pub count_sla_policy: Arc<Schema>,
    pub coordinator_sla_policy: Arc<Schema>,
    pub parameter: Arc<Schema>,
    pub docker: Arc<Schema>,
    pub appc_image: Arc<Schema>,
    pub docker_image: Arc<Schema>,
    pub volume: Arc<Schema>,
    pub mesos: Arc<Schema>,
    /// Deprecated in Aurora (`Container(docker = Docker(...))`), still accepted.
    pub container: Arc<Schema>,
    pub job: Arc<Schema>,
    pub logger_destination: Arc<EnumTy>,
    pub logger_mode: Arc<EnumTy>,
    /// A volume's `Mode`: `RO` or `RW`.
    pub mode: Arc<EnumTy>,
}

pub(crate) static VOCAB: LazyLock<Vocab> = LazyLock::new(Vocab::build);

fn builtin() -> Origin {
    Origin::nowhere("<aurora schema>")
}

fn opt(name: &str, ty: Ty) -> Field {
    Field {
        name: name.into(),
        ty,
        required: false,
        default: None,
        reserved: false,
    }
}

/// `field`, declared only so that configs setting it still load.
fn reserved(field: Field) -> Field {
    Field {
        reserved: true,
        ..field
    }
}

fn req(name: &str, ty: Ty) -> Field {
    Field {
        required: true,
        ..opt(name, ty)
    }
}

fn def(name: &str, ty: Ty, default: Datum) -> Field {
    Field {
        default: Some(default),
        ..opt(name, ty)
    }
}

fn schema(name: &str, fields: Vec<Field>) -> Arc<Schema> {
    Arc::new(Schema {
        name: name.into(),
        fields,
    })
}

fn list(ty: Ty) -> Ty {
    Ty::List(Arc::new(ty))
}

fn strings() -> Ty {
    Ty::Map(Arc::new(Ty::String), Arc::new(Ty::String))
}

fn empty_list() -> Datum {
    Datum::List(Arc::from(Vec::new()))
}

/// An instance of `schema` with defaults, then `fields` set.
fn instance(schema: &Arc<Schema>, fields: Vec<(&str, Datum)>) -> Datum {
    let mut inst = Instance::defaults(schema, builtin());
    for (name, value) in fields {
        inst = inst.with(name, Some(value));
    }
    Datum::Struct(Arc::new(inst))
}

impl Vocab {
    fn build() -> Self {
        use Datum::{Bool, Float, Int};
        use Ty::{Boolean, Integer, String};

        let resources = schema(
            "Resources",
            vec![
                req("cpu", Ty::Float),
                req("ram", Integer),
                req("disk", Integer),
                def("gpu", Integer, Int(0)),
            ],
        );
        let constraint = schema("Constraint", vec![opt("order", list(String))]);
        let rotate_policy = schema(
            "RotatePolicy",
            vec![
                def("log_size", Integer, Int(100 * MB)),
                def("backups", Integer, Int(5)),
            ],
        );
        let logger_destination = Arc::new(EnumTy {
            name: "LoggerDestination".into(),
            values: ["file", "console", "both", "none"]
                .map(std::string::String::from)
                .to_vec(),
        });
        let logger_mode = Arc::new(EnumTy {
            name: "LoggerMode".into(),
            values: ["standard", "rotate"]
                .map(std::string::String::from)
                .to_vec(),
        });
        let logger = schema(
            "Logger",
            vec![
                def(
                    "destination",
                    Ty::Enum(logger_destination.clone()),
                    Datum::str("file"),
                ),
                def(
                    "mode",
                    Ty::Enum(logger_mode.clone()),
                    Datum::str("standard"),
                ),
                opt("rotate", Ty::Struct(rotate_policy.clone())),
            ],
        );
        let process = schema(
            "Process",
            vec![
                req("cmdline", String),
                req("name", String),
                // Reserved by Thermos for future use (`schema_base.py`): accepted and ignored,
                // and not among the fields Aurora documents for Process.
                reserved(opt("resources", Ty::Struct(resources.clone()))),
                def("max_failures", Integer, Int(1)),
                def("daemon", Boolean, Bool(false)),
                def("ephemeral", Boolean, Bool(false)),
                def("min_duration", Integer, Int(5)),
                def("final", Boolean, Bool(false)),
                opt("logger", Ty::Struct(logger.clone())),
            ],
        );
        let task = schema(
            "Task",
            vec![
                def("name", String, Datum::str("{{processes[0].name}}")),
                opt("processes", list(Ty::Struct(process.clone()))),
                def(
                    "constraints",
                    list(Ty::Struct(constraint.clone())),
                    empty_list(),
                ),
                opt("resources", Ty::Struct(resources.clone())),
                def("max_failures", Integer, Int(1)),
                def("max_concurrency", Integer, Int(0)),
                def("finalization_wait", Integer, Int(30)),
                opt("user", String),
            ],
        );

        let queue_strategy = schema(
            "QueueUpdateStrategy",
            vec![def("batch_size", Integer, Int(1))],
        );
        let batch_strategy = schema(
            "BatchUpdateStrategy",
            vec![
                def("batch_size", Integer, Int(1)),
                def("autopause_after_batch", Boolean, Bool(false)),
            ],
        );
        let variable_batch_strategy = schema(
            "VariableBatchUpdateStrategy",
            vec![
                req("batch_sizes", list(Integer)),
                def("autopause_after_batch", Boolean, Bool(false)),
            ],
        );
        let strategies: Arc<[Ty]> = Arc::from(vec![
            Ty::Struct(queue_strategy.clone()),
            Ty::Struct(batch_strategy.clone()),
            Ty::Struct(variable_batch_strategy.clone()),
        ]);
        let update_config = schema(
            "UpdateConfig",
            vec![
                def("batch_size", Integer, Int(1)),
                def("watch_secs", Integer, Int(45)),
                def("max_per_shard_failures", Integer, Int(0)),
                def("max_total_failures", Integer, Int(0)),
                def("rollback_on_failure", Boolean, Bool(true)),
                def("wait_for_batch_completion", Boolean, Bool(false)),
                opt("pulse_interval_secs", Integer),
                def("sla_aware", Boolean, Bool(false)),
                opt("update_strategy", Ty::Choice(strategies)),
            ],
        );

        let http_health_checker = schema(
            "HttpHealthChecker",
            vec![
                def("endpoint", String, Datum::str("/health")),
                def("expected_response", String, Datum::str("ok")),
                def("expected_response_code", Integer, Int(0)),
            ],
        );
        let shell_health_checker = schema("ShellHealthChecker", vec![req("shell_command", String)]);
        let health_checker_config = schema(
            "HealthCheckerConfig",
            vec![
                opt("http", Ty::Struct(http_health_checker.clone())),
                opt("shell", Ty::Struct(shell_health_checker.clone())),
            ],
        );
        let default_checker = instance(
            &health_checker_config,
            vec![("http", instance(&http_health_checker, vec![]))],
        );
        let health_check_config = schema(
            "HealthCheckConfig",
            vec![
                def(
                    "health_checker",
                    Ty::Struct(health_checker_config.clone()),
                    default_checker,
                ),
                def("initial_interval_secs", Ty::Float, Float(15.0)),
                def("interval_secs", Ty::Float, Float(10.0)),
                def("max_consecutive_failures", Integer, Int(0)),
                def("min_consecutive_successes", Integer, Int(1)),
                def("timeout_secs", Ty::Float, Float(1.0)),
            ],
        );
        let http_lifecycle_config = schema(
            "HttpLifecycleConfig",
            vec![
                def("port", String, Datum::str("health")),
                def(
                    "graceful_shutdown_endpoint",
                    String,
                    Datum::str("/quitquitquit"),
                ),
                def("shutdown_endpoint", String, Datum::str("/abortabortabort")),
                def("graceful_shutdown_wait_secs", Integer, Int(5)),
                def("shutdown_wait_secs", Integer, Int(5)),
            ],
        );
        let lifecycle_config = schema(
            "LifecycleConfig",
            vec![opt("http", Ty::Struct(http_lifecycle_config.clone()))],
        );
        let default_lifecycle = instance(
            &lifecycle_config,
            vec![("http", instance(&http_lifecycle_config, vec![]))],
        );
        let announcer = schema(
            "Announcer",
            vec![
                def("primary_port", String, Datum::str("http")),
                def(
                    "portmap",
                    strings(),
                    Datum::Map(Arc::from(vec![(
                        Datum::str("aurora"),
                        Datum::str("{{primary_port}}"),
                    )])),
                ),
                opt("zk_path", String),
            ],
        );
        let partition_policy = schema(
            "PartitionPolicy",
            vec![
                def("reschedule", Boolean, Bool(true)),
                def("delay_secs", Integer, Int(0)),
            ],
        );
        let metadata = schema("Metadata", vec![req("key", String), req("value", String)]);
        let executor_config = schema(
            "ExecutorConfig",
            vec![
                def("name", String, Datum::str("AuroraExecutor")),
                def("data", String, Datum::str("")),
            ],
        );
        let percentage_sla_policy = schema(
            "PercentageSlaPolicy",
            vec![req("percentage", Ty::Float), req("duration_secs", Integer)],
        );
        let count_sla_policy = schema(
            "CountSlaPolicy",
            vec![req("count", Integer), req("duration_secs", Integer)],
        );
        let coordinator_sla_policy = schema(
            "CoordinatorSlaPolicy",
            vec![
                req("coordinator_url", String),
                def("status_key", String, Datum::str("drain")),
            ],
        );
        let sla_policies: Arc<[Ty]> = Arc::from(vec![
            Ty::Struct(coordinator_sla_policy.clone()),
            Ty::Struct(count_sla_policy.clone()),
            Ty::Struct(percentage_sla_policy.clone()),
        ]);
        let parameter = schema("Parameter", vec![req("name", String), req("value", String)]);
        let docker = schema(
            "Docker",
            vec![
                req("image", String),
                def(
                    "parameters",
                    list(Ty::Struct(parameter.clone())),
                    empty_list(),
                ),
            ],
        );
        let appc_image = schema(
            "AppcImage",
            vec![req("name", String), req("image_id", String)],
        );
        let docker_image = schema("DockerImage", vec![req("name", String), req("tag", String)]);
        let mode = Arc::new(EnumTy {
            name: "Mode".into(),
            values: ["RO", "RW"].map(std::string::String::from).to_vec(),
        });
        let volume = schema(
            "Volume",
            vec![
                req("container_path", String),
                req("host_path", String),
                req("mode", Ty::Enum(mode.clone())),
            ],
        );
        let mesos = schema(
            "Mesos",
            vec![
                opt(
                    "image",
                    Ty::Choice(Arc::from(vec![
                        Ty::Struct(appc_image.clone()),
                        Ty::Struct(docker_image.clone()),
                    ])),
                ),
                def("volumes", list(Ty::Struct(volume.clone())), empty_list()),
            ],
        );
        let container = schema("Container", vec![opt("docker", Ty::Struct(docker.clone()))]);
        let containers: Arc<[Ty]> = Arc::from(vec![
            Ty::Struct(container.clone()),
            Ty::Struct(docker.clone()),
            Ty::Struct(mesos.clone()),
        ]);
        let job = schema(
            "Job",
            vec![
                def("name", String, Datum::str("{{task.name}}")),
                req("role", String),
                opt("contact", String),
                req("cluster", String),
                req("environment", String),
                def("instances", Integer, Int(1)),
                req("task", Ty::Struct(task.clone())),
                opt("announce", Ty::Struct(announcer.clone())),
                opt("tier", String),
                opt("cron_schedule", String),
                def("cron_collision_policy", String, Datum::str("KILL_EXISTING")),
                def(
                    "update_config",
                    Ty::Struct(update_config.clone()),
                    instance(&update_config, vec![]),
                ),
                opt("constraints", strings()),
                def("metadata", list(Ty::Struct(metadata.clone())), empty_list()),
                def("service", Boolean, Bool(false)),
                def("max_task_failures", Integer, Int(1)),
                def("production", Boolean, Bool(false)),
                def("priority", Integer, Int(0)),
                def(
                    "health_check_config",
                    Ty::Struct(health_check_config.clone()),
                    instance(&health_check_config, vec![]),
                ),
                def(
                    "lifecycle",
                    Ty::Struct(lifecycle_config.clone()),
                    default_lifecycle,
                ),
                // Aurora itself sends these as `{}` (AURORA-739); accepted and ignored.
                opt("task_links", strings()),
                def(
                    "executor_config",
                    Ty::Struct(executor_config.clone()),
                    instance(&executor_config, vec![]),
                ),
                def("enable_hooks", Boolean, Bool(false)),
                opt("partition_policy", Ty::Struct(partition_policy.clone())),
                opt("sla_policy", Ty::Choice(sla_policies)),
                opt("container", Ty::Choice(containers)),
            ],
        );
        Vocab {
            resources,
            constraint,
            rotate_policy,
            logger,
            process,
            task,
            queue_strategy,
            batch_strategy,
            variable_batch_strategy,
            update_config,
            http_health_checker,
            shell_health_checker,
            health_checker_config,
            health_check_config,
            http_lifecycle_config,
            lifecycle_config,
            announcer,
            partition_policy,
            metadata,
            executor_config,
            percentage_sla_policy,
            count_sla_policy,
            coordinator_sla_policy,
            parameter,
            docker,
            appc_image,
            docker_image,
            volume,
            mesos,
            container,
            job,
            logger_destination,
            logger_mode,
            mode,
        }
    }

    /// The struct types a config can name, by name.
    pub fn schemas(&self) -> Vec<&Arc<Schema>> {
        vec![
            &self.resources,
            &self.constraint,
            &self.rotate_policy,
            &self.logger,
            &self.process,
            &self.task,
            &self.queue_strategy,
            &self.batch_strategy,
            &self.variable_batch_strategy,
            &self.update_config,
            &self.http_health_checker,
            &self.shell_health_checker,
            &self.health_checker_config,
            &self.health_check_config,
            &self.http_lifecycle_config,
            &self.lifecycle_config,
            &self.announcer,
            &self.partition_policy,
            &self.metadata,
            &self.executor_config,
            &self.percentage_sla_policy,
            &self.count_sla_policy,
            &self.coordinator_sla_policy,
            &self.parameter,
            &self.docker,
            &self.appc_image,
            &self.docker_image,
            &self.volume,
            &self.mesos,
            &self.container,
            &self.job,
        ]
    }

    /// Ready-made instances: `Service = Job(service = True)`, the lifecycle presets and the
    /// default health checker.
    pub fn instances(&self) -> Vec<(&'static str, Datum)> {
        vec![
            (
                "Service",
                instance(&self.job, vec![("service", Datum::Bool(true))]),
            ),
            (
                "DefaultLifecycleConfig",
                instance(
                    &self.lifecycle_config,
                    vec![("http", instance(&self.http_lifecycle_config, vec![]))],
                ),
            ),
            ("DisableLifecycle", instance(&self.lifecycle_config, vec![])),
            (
                "DefaultHealthChecker",
                instance(
                    &self.health_checker_config,
                    vec![("http", instance(&self.http_health_checker, vec![]))],
                ),
            ),
        ]
    }
}
