//! Jobs as Pystachio-shaped JSON (Aurora's `job inspect --write-json`, `config.json_dumps()`),
//! and back (`--read-json`). [`to_json`] writes the materialised job; [`jobs_from_json`] reads
//! JSON into `Job` instances, which then go through the same checks as a `.aurora` file, so that
//! `load_json(to_json(job))` gives `job` back.

use std::sync::Arc;

use aurora_events::config::{ConstraintKind, HealthChecker, LogDestination, SlaPolicy};
use aurora_events::update::UpdateStrategy;
use serde_json::{Map, Value as Json, json};

use crate::JobConfig;
use crate::coerce::{coerce_text, unknown_field};
use crate::container;
use crate::error::ConfigError;
use crate::value::{Datum, Instance, Origin, Schema, Ty};
use crate::vocab::{MB, VOCAB};

const FILE: &str = "<json>";

/// A constraint as a config writes it in `Job.constraints`: `limit:1`, `a,b`, `!a`.
pub fn constraint_spec(kind: &ConstraintKind) -> String {
    match kind {
        ConstraintKind::Limit { limit } => format!("limit:{limit}"),
        ConstraintKind::Value { negated, values } => {
            format!("{}{}", if *negated { "!" } else { "" }, values.join(","))
        }
    }
}

pub(crate) fn to_json(job: &JobConfig) -> Json {
    let t = &job.task;
    let mut out = Map::new();
    out.insert("name".into(), json!(job.key.name.as_str()));
    out.insert("role".into(), json!(job.key.role.as_str()));
    out.insert("environment".into(), json!(job.key.environment.as_str()));
    out.insert("cluster".into(), json!(job.cluster));
    out.insert("instances".into(), json!(job.instances));
    out.insert("service".into(), json!(t.is_service));
    out.insert("tier".into(), json!(t.tier.to_string()));
    out.insert("priority".into(), json!(t.priority));
    out.insert("production".into(), json!(t.production()));
    out.insert("max_task_failures".into(), json!(t.max_task_failures));
    if let Some(contact) = &t.contact_email {
        out.insert("contact".into(), json!(contact));
    }
    if let Some(cron) = &job.cron_schedule {
        out.insert("cron_schedule".into(), json!(cron));
    }
    if let Some(policy) = &job.cron_collision_policy {
        out.insert("cron_collision_policy".into(), json!(policy));
    }
    if !t.constraints.is_empty() {
        let constraints: Map<String, Json> = t
            .constraints
            .iter()
            .map(|c| (c.name.clone(), json!(constraint_spec(&c.kind))))
            .collect();
        out.insert("constraints".into(), Json::Object(constraints));
    }
    if !t.metadata.is_empty() {
        let metadata: Vec<Json> = t
            .metadata
            .iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect();
        out.insert("metadata".into(), json!(metadata));
    }
    out.insert("task".into(), task_json(job));
    let health_port = t.resources.ports.contains("health");
    match &t.health_check {
        Some(h) => {
            let checker = match &h.checker {
                HealthChecker::Http {
                    endpoint,
                    expected_response,
                    expected_response_code,
                } => json!({"http": {
                    "endpoint": endpoint,
                    "expected_response": expected_response,
                    "expected_response_code": expected_response_code,
                }}),
                HealthChecker::Shell { command } => json!({"shell": {"shell_command": command}}),
            };
            out.insert(
                "health_check_config".into(),
                json!({
                    "health_checker": checker,
                    "initial_interval_secs": f64::from(h.initial_interval_secs),
                    "interval_secs": f64::from(h.interval_secs),
                    "max_consecutive_failures": h.max_consecutive_failures,
                    "min_consecutive_successes": h.min_consecutive_successes,
                    "timeout_secs": f64::from(h.timeout_secs),
                }),
            );
        }
        // With a `health` port the default check would come back; say there is none.
        None if health_port => {
            out.insert("health_check_config".into(), json!({"health_checker": {}}));
        }
        None => {}
    }
    match &t.lifecycle {
        Some(l) => {
            out.insert(
                "lifecycle".into(),
                json!({"http": {
                    "port": l.port,
                    "graceful_shutdown_endpoint": l.graceful_shutdown_endpoint,
                    "graceful_shutdown_wait_secs": l.graceful_shutdown_wait_secs,
                    "shutdown_endpoint": l.shutdown_endpoint,
                    "shutdown_wait_secs": l.shutdown_wait_secs,
                }}),
            );
        }
        None if health_port => {
            out.insert("lifecycle".into(), json!({}));
        }
        None => {}
    }
    if let Some(a) = &t.announce {
        let mut announce = json!({"primary_port": a.primary_port, "portmap": a.portmap});
        if let Some(zk) = &a.zk_path {
            announce["zk_path"] = json!(zk);
        }
        out.insert("announce".into(), announce);
    }
    if let Some(p) = &t.partition_policy {
        out.insert(
            "partition_policy".into(),
            json!({"reschedule": p.reschedule, "delay_secs": p.delay_secs}),
        );
    }
    if let Some(s) = &t.sla_policy {
        let sla = match s {
            SlaPolicy::Count {
                count,
                duration_secs,
            } => json!({"count": count, "duration_secs": duration_secs}),
            SlaPolicy::Percentage {
                percentage,
                duration_secs,
            } => json!({"percentage": percentage, "duration_secs": duration_secs}),
            SlaPolicy::Coordinator { url, status_key } => {
                json!({"coordinator_url": url, "status_key": status_key})
            }
        };
        out.insert("sla_policy".into(), sla);
    }
    out.insert("update_config".into(), update_json(job));
    if let Some(container) = &job.container {
        out.insert("container".into(), container::to_json(container));
    }
    Json::Object(out)
}

fn task_json(job: &JobConfig) -> Json {
    let t = &job.task;
    let e = &t.executor;
    let processes: Vec<Json> = e
        .processes
        .iter()
        .map(|p| {
            let mut process = json!({
                "name": p.name,
                "cmdline": p.cmdline,
                "max_failures": p.max_failures,
                "daemon": p.daemon,
                "ephemeral": p.ephemeral,
                "min_duration": p.min_duration_secs,
                "final": p.is_final,
            });
            if p.logger != aurora_events::config::Logger::default() {
                let destination = match p.logger.destination {
                    LogDestination::File => "file",
                    LogDestination::Console => "console",
                    LogDestination::Both => "both",
                    LogDestination::None => "none",
                };
                let mut logger = json!({"destination": destination, "mode": "standard"});
                if let Some(r) = &p.logger.rotate {
                    logger["mode"] = json!("rotate");
                    logger["rotate"] =
                        json!({"log_size": r.log_size_mb * MB as u64, "backups": r.backups});
                }
                process["logger"] = logger;
            }
            process
        })
        .collect();
    let constraints: Vec<Json> = e.ordering.iter().map(|o| json!({"order": o})).collect();
    let r = &t.resources;
    let mut resources = json!({
        "cpu": r.cpus,
        "ram": r.ram_mb * MB as u64,
        "disk": r.disk_mb * MB as u64,
    });
    if r.gpus > 0 {
        resources["gpu"] = json!(r.gpus);
    }
    json!({
        "name": e.name,
        "processes": processes,
        "constraints": constraints,
        "resources": resources,
        "max_failures": e.max_failures,
        "max_concurrency": e.max_concurrency,
        "finalization_wait": e.finalization_wait_secs,
    })
}

fn update_json(job: &JobConfig) -> Json {
    let u = &job.update;
    let mut update = json!({
        "batch_size": 1,
        "watch_secs": u.min_wait_in_instance_running_ms / 1000,
        "max_per_shard_failures": u.max_per_instance_failures,
        "max_total_failures": u.max_failed_instances,
        "rollback_on_failure": u.rollback_on_failure,
        "wait_for_batch_completion": false,
        "sla_aware": u.sla_aware,
    });
    match &u.strategy {
        UpdateStrategy::Queue { group_size } => update["batch_size"] = json!(group_size),
        UpdateStrategy::Batch {
            group_size,
            autopause_after_batch: false,
        } => {
            update["batch_size"] = json!(group_size);
            update["wait_for_batch_completion"] = json!(true);
        }
        UpdateStrategy::Batch {
            group_size,
            autopause_after_batch: true,
        } => {
            update["update_strategy"] =
                json!({"batch_size": group_size, "autopause_after_batch": true});
        }
        UpdateStrategy::VariableBatch {
            group_sizes,
            autopause_after_batch,
        } => {
            update["update_strategy"] =
                json!({"batch_sizes": group_sizes, "autopause_after_batch": autopause_after_batch});
        }
    }
    if let Some(ms) = u.block_if_no_pulses_after_ms {
        update["pulse_interval_secs"] = json!(ms / 1000);
    }
    update
}

/// Reads a job object, a list of them, or `{"jobs": [...]}` into `Job` instances. Like
/// Pystachio's non-strict `json_loads`, keys a struct does not have are ignored.
pub(crate) fn jobs_from_json(source: &str) -> Result<Vec<Arc<Instance>>, ConfigError> {
    let parsed: Json = serde_json::from_str(source)
        .map_err(|e| ConfigError::new(FILE, e.line() as u32, e.column() as u32, e.to_string()))?;
    let items = match parsed {
        Json::Array(items) => items,
        Json::Object(mut map) if map.get("jobs").is_some_and(Json::is_array) => {
            match map.remove("jobs") {
                Some(Json::Array(items)) => items,
                _ => Vec::new(),
            }
        }
        object @ Json::Object(_) => vec![object],
        other => {
            return Err(ConfigError::new(
                FILE,
                0,
                0,
                format!("expected a job object or a list of jobs, got {other}"),
            ));
        }
    };
    if items.is_empty() {
        return Err(ConfigError::new(FILE, 0, 0, "no jobs in the JSON input"));
    }
    let job_ty = Ty::Struct(VOCAB.job.clone());
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match datum(item, &job_ty, false) {
            Ok(Some(Datum::Struct(job))) => Ok(job),
            Ok(_) => Err(ConfigError::new(
                FILE,
                0,
                0,
                format!("jobs[{i}] is not a job object"),
            )),
            Err(e) => Err(ConfigError::new(FILE, 0, 0, format!("jobs[{i}]: {e}"))),
        })
        .collect()
}

fn datum(v: &Json, ty: &Ty, strict: bool) -> Result<Option<Datum>, String> {
    let simple = |text: String| coerce_text(&text, ty).map(Some);
    match (v, ty) {
        (Json::Null, _) => Ok(None),
        (Json::String(s), _) if s.contains("{{") => Ok(Some(Datum::str(s))),
        (Json::String(s), Ty::String | Ty::Integer | Ty::Float | Ty::Boolean | Ty::Enum(_)) => {
            simple(s.clone())
        }
        (Json::Bool(b), Ty::Boolean) => Ok(Some(Datum::Bool(*b))),
        (Json::Bool(b), Ty::String) => Ok(Some(Datum::str(if *b { "True" } else { "False" }))),
        (Json::Number(n), Ty::Integer) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .map(|i| Some(Datum::Int(i)))
            .ok_or_else(|| format!("{n} is not an integer")),
        (Json::Number(n), Ty::Float) => Ok(n.as_f64().map(Datum::Float)),
        (Json::Number(n), Ty::Boolean) => Ok(Some(Datum::Bool(n.as_f64() != Some(0.0)))),
        (Json::Number(n), Ty::String) => Ok(Some(Datum::str(&n.to_string()))),
        (Json::Array(items), Ty::List(item)) => {
            let items = items
                .iter()
                .map(|i| {
                    datum(i, item, strict)?
                        .ok_or_else(|| "a list element cannot be null".to_string())
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Some(Datum::List(Arc::from(items))))
        }
        (Json::Object(map), Ty::Map(key, value)) => {
            let pairs = map
                .iter()
                .map(|(k, v)| {
                    let k = coerce_text(k, key)?;
                    let v = datum(v, value, strict)?
                        .ok_or_else(|| format!("{k}: a map value cannot be null"))?;
                    Ok((k, v))
                })
                .collect::<Result<Vec<_>, String>>()?;
            Ok(Some(Datum::Map(Arc::from(pairs))))
        }
        (Json::Object(map), Ty::Struct(schema)) => {
            instance(map, schema, strict).map(|i| Some(Datum::Struct(Arc::new(i))))
        }
        (Json::Object(_), Ty::Choice(options)) => options
            .iter()
            .find_map(|o| datum(v, o, true).ok().flatten())
            .map(Some)
            .ok_or_else(|| format!("{v} fits none of {}", ty.name())),
        _ => Err(format!("{v} is not a valid {}", ty.name())),
    }
}

fn instance(
    map: &Map<String, Json>,
    schema: &Arc<Schema>,
    strict: bool,
) -> Result<Instance, String> {
    let mut inst = Instance::defaults(schema, Origin::nowhere(FILE));
    for (key, value) in map {
        let Some(index) = schema.index(key) else {
            if strict {
                return Err(unknown_field(schema, key));
            }
            continue;
        };
        let ty = &schema.fields[index].ty;
        let parsed = match container::unwrap_mesos(value) {
            Some(mesos) if Arc::ptr_eq(schema, &VOCAB.job) && key == "container" => {
                datum(mesos, &Ty::Struct(VOCAB.mesos.clone()), true)
            }
            _ => datum(value, ty, strict),
        };
        inst.values[index] = parsed.map_err(|e| format!("{}.{key}: {e}", schema.name))?;
    }
    Ok(inst)
}
