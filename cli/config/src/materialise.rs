//! From a `Job` instance to a [`JobConfig`]: resolve every template, check what Aurora's client
//! and Thermos check, and fill in [`TaskConfig`] (Aurora's `config/thrift.py: convert`).
//!
//! The task side (processes, resources, ports, health checks) is in [`crate::thermos`]; this file
//! holds the job's own fields: key, instances, tier, constraints, metadata, policies, updates.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use aurora_events::config::{Constraint, ConstraintKind, PartitionPolicy, SlaPolicy};
use aurora_events::update::{UpdateSettings, UpdateStrategy};
use aurora_events::{JobKey, TaskConfig, Tier};

use crate::JobConfig;
use crate::container::Container;
use crate::error::ConfigError;
use crate::template::{Chain, Ref};
use crate::thermos::{
    announcer, health_check, lifecycle, port_names, requested_ports, resolved_portmap, resources,
    shell_check, thermos_task, with_port_aliases,
};
use crate::value::{Binding, Datum, Env, Frame, Instance};
use crate::view::{R, View};
use crate::vocab::VOCAB;

/// Materialises one job, with `bindings` (`--bind name=value`) applied as Aurora applies them.
pub(crate) fn job(job: &Arc<Instance>, bindings: &[(String, String)]) -> R<JobConfig> {
    materialise(&prepare(job, bindings)?)
}

/// The job as [`materialise`] sees it: with `bindings` and Aurora's standard bindings applied.
/// Fails only on a binding name that is not a template name.
pub(crate) fn prepare(job: &Arc<Instance>, bindings: &[(String, String)]) -> R<View> {
    let mut bound = (**job).clone();
    let text = |pairs: &[(String, String)]| -> R<Env> {
        let entries = pairs
            .iter()
            .map(|(k, v)| {
                let key = Ref::parse(k).ok_or_else(|| {
                    ConfigError::at(
                        &job.origin,
                        format!("cannot bind {k:?}: not a valid template name"),
                    )
                })?;
                Ok((key, Binding::Text(v.clone())))
            })
            .collect::<R<Vec<_>>>()?;
        Ok(Env { entries })
    };
    if !bindings.is_empty() {
        bound
            .scopes
            .insert(0, Frame::Env(Arc::new(text(bindings)?)));
    }
    // Aurora's `standard_bindings`: deprecated names for the job's own fields.
    let standard = [
        ("mesos.role", "{{role}}"),
        ("mesos.cluster", "{{cluster}}"),
        ("thermos.user", "{{role}}"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    bound
        .scopes
        .insert(0, Frame::Env(Arc::new(text(&standard)?)));
    let inst = Arc::new(bound);
    Ok(View {
        chain: Chain::empty().enter(&inst),
        inst,
    })
}

/// The job's `cluster/role/environment/name`, as far as its templates resolve (a part that
/// does not is shown as written, an absent one as `{MISSING}`, as Aurora lists candidates):
/// enough to find the job a command names without materialising the others.
pub(crate) fn key_text(j: &View) -> String {
    let part = |field: &str| match j.string(field) {
        Ok(Some(text)) => text,
        _ => j
            .raw(field)
            .and_then(Datum::python_str)
            .unwrap_or_else(|| "{MISSING}".into()),
    };
    ["cluster", "role", "environment", "name"]
        .map(part)
        .join("/")
}

/// The job's [`JobConfig`]: every template resolved, Aurora's checks made.
pub(crate) fn materialise(j: &View) -> R<JobConfig> {
    let label = match j.string("name") {
        Ok(Some(name)) => format!("Job '{name}'"),
        _ => "Job".to_string(),
    };
    for field in ["cluster", "task", "role", "environment"] {
        if j.raw(field).is_none() {
            return Err(j.err(format!("{label} has no {field}")));
        }
    }
    let role = j.required_string("role", &label)?;
    let environment = j.required_string("environment", &label)?;
    let name = j.required_string("name", &label)?;
    let cluster = j.required_string("cluster", &label)?;
    if cluster.is_empty() {
        return Err(j.err(format!("{label} has an empty cluster")));
    }
    let key = JobKey::new(&role, &environment, &name)
        .map_err(|e| j.err(format!("invalid job key {role}/{environment}/{name}: {e}")))?;
    let instances = j.int("instances")?.unwrap_or(1);
    let instances = u32::try_from(instances)
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| {
            j.err(format!(
                "{label}: instances must be at least 1, got {instances}"
            ))
        })?;

    let announce = announcer(j)?;
    let portmap = resolved_portmap(j, announce.as_ref())?;
    // The task side sees the portmap's aliases resolved (see `with_port_aliases`).
    let t = &with_port_aliases(j, &portmap);
    let task = t
        .child("task")
        .ok_or_else(|| j.err(format!("{label} has no task")))?;
    let (executor, mut referenced) = thermos_task(&task)?;
    // Aurora only looks at processes; the executor renders shell checks too, so a port
    // only a shell check names is requested as well.
    if let Some((_, refs)) = shell_check(t)? {
        referenced.extend(port_names(t, &refs, "the shell health check")?);
    }
    let ports = requested_ports(&referenced, &portmap);
    let resources = resources(&task, &executor.name, ports)?;

    let tier = tier(j)?;
    let cron_schedule = j.string("cron_schedule")?;
    let policy = j
        .string("cron_collision_policy")?
        .unwrap_or_else(|| "KILL_EXISTING".into());
    let policy = policy.to_ascii_uppercase();
    if !["KILL_EXISTING", "CANCEL_NEW", "RUN_OVERLAP"].contains(&policy.as_str()) {
        return Err(j.err(format!(
            "invalid cron_collision_policy {policy:?}: use KILL_EXISTING, CANCEL_NEW or RUN_OVERLAP"
        )));
    }
    let cron_collision_policy =
        (cron_schedule.is_some() || policy != "KILL_EXISTING").then_some(policy);

    let container = crate::container::materialise(j)?;
    let config = TaskConfig {
        job: key.clone(),
        owner: None,
        container: container.as_ref().and_then(Container::to_task_container),
        is_service: j.bool("service")?,
        priority: j
            .int("priority")?
            .unwrap_or(0)
            .try_into()
            .map_err(|_| j.err("priority out of range"))?,
        max_task_failures: j
            .int("max_task_failures")?
            .unwrap_or(1)
            .try_into()
            .map_err(|_| j.err("max_task_failures out of range"))?,
        tier,
        health_check: health_check(t, &resources.ports, &portmap)?,
        lifecycle: lifecycle(t, &resources.ports, &portmap)?,
        resources,
        constraints: constraints(j)?,
        contact_email: j.string("contact")?,
        metadata: metadata(j)?,
        executor,
        announce,
        partition_policy: match j.child("partition_policy") {
            None => None,
            Some(p) => Some(PartitionPolicy {
                reschedule: p.bool("reschedule")?,
                delay_secs: p.count("delay_secs")?,
            }),
        },
        sla_policy: sla_policy(j)?,
    };
    required_fields(&j.inst)?;
    Ok(JobConfig {
        cluster,
        key,
        instances,
        task: config,
        cron_schedule,
        cron_collision_policy,
        update: update_settings(j)?,
        container,
    })
}

/// Pystachio's `check()` for what the specific checks above do not cover: every struct in the
/// job has its `Required` fields.
fn required_fields(inst: &Arc<Instance>) -> R<()> {
    for (field, value) in inst.schema.fields.iter().zip(&inst.values) {
        match value {
            None if field.required => {
                return Err(ConfigError::at(
                    &inst.origin,
                    format!(
                        "{} has no {} (it is required)",
                        inst.schema.name, field.name
                    ),
                ));
            }
            Some(Datum::Struct(child)) => required_fields(child)?,
            Some(Datum::List(items)) => {
                for child in items.iter().filter_map(Datum::as_instance) {
                    required_fields(child)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// `{'host': 'limit:1', 'rack': '!a,b'}` → constraints, by attribute name.
fn constraints(j: &View) -> R<Vec<Constraint>> {
    let mut out = Vec::new();
    for (name, spec) in j.string_map("constraints")? {
        let kind = if let Some(limit) = spec.strip_prefix("limit:") {
            let limit = limit.trim().parse::<u32>().map_err(|_| {
                j.err(format!(
                    "constraint '{name}': {spec:?} is not a valid limit, it must be limit:<integer>"
                ))
            })?;
            ConstraintKind::Limit { limit }
        } else {
            let (negated, values) = match spec.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, spec.as_str()),
            };
            let values: BTreeSet<String> = values.split(',').map(str::to_string).collect();
            ConstraintKind::Value {
                negated,
                values: values.into_iter().collect(),
            }
        };
        out.push(Constraint { name, kind });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn metadata(j: &View) -> R<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for m in j.children("metadata") {
        let key = m.required_string("key", "Metadata")?;
        let value = m.required_string("value", "Metadata")?;
        if let Some(previous) = out.insert(key.clone(), value.clone()) {
            if previous != value {
                return Err(m.err(format!(
                    "metadata key '{key}' is given two values: {previous:?} and {value:?}"
                )));
            }
        }
    }
    Ok(out)
}

/// The tier as written; without one, `production = True` picks `preferred` (the production
/// tier), otherwise Aurora's default, `preemptible`. A production job on a non-production tier
/// is a contradiction and refused.
fn tier(j: &View) -> R<Tier> {
    let production = j.bool("production")?;
    match j.string("tier")? {
        None if production => Ok(Tier::Preferred),
        None => Ok(Tier::default()),
        Some(name) => {
            let tier: Tier = name.parse().map_err(|_| {
                j.err(format!(
                    "unknown tier '{name}' (tiers: preferred, preemptible, revocable)"
                ))
            })?;
            if production && !tier.production() {
                return Err(j.err(format!(
                    "production = True conflicts with tier '{name}', which is not a production tier"
                )));
            }
            Ok(tier)
        }
    }
}

fn sla_policy(j: &View) -> R<Option<SlaPolicy>> {
    let Some(s) = j.child("sla_policy") else {
        return Ok(None);
    };
    let v = &*VOCAB;
    Ok(Some(if s.inst.is(&v.count_sla_policy) {
        SlaPolicy::Count {
            count: s.count("count")?,
            duration_secs: s.count("duration_secs")?,
        }
    } else if s.inst.is(&v.percentage_sla_policy) {
        SlaPolicy::Percentage {
            percentage: s.float("percentage")?.unwrap_or(0.0),
            duration_secs: s.count("duration_secs")?,
        }
    } else {
        SlaPolicy::Coordinator {
            url: s.required_string("coordinator_url", "CoordinatorSlaPolicy")?,
            status_key: s.string("status_key")?.unwrap_or_default(),
        }
    }))
}

/// Aurora's `UpdaterConfig` checks and `to_thrift_update_settings`.
fn update_settings(j: &View) -> R<UpdateSettings> {
    let Some(u) = j.child("update_config") else {
        return Err(j.err("Job has no update_config"));
    };
    let batch_size = u.int("batch_size")?.unwrap_or(1);
    if batch_size <= 0 {
        return Err(u.err(format!(
            "UpdateConfig.batch_size must be greater than 0, got {batch_size}"
        )));
    }
    let watch_secs = u.int("watch_secs")?.unwrap_or(45);
    let min_wait_in_instance_running_ms = u64::try_from(watch_secs).map_err(|_| {
        u.err(format!(
            "UpdateConfig.watch_secs must be at least 0, got {watch_secs}"
        ))
    })? * 1000;
    let pulse = u.int("pulse_interval_secs")?;
    if let Some(p) = pulse {
        if p < 60 {
            return Err(u.err(format!(
                "UpdateConfig.pulse_interval_secs must be at least 60 seconds, got {p}"
            )));
        }
    }
    let wait = u.bool("wait_for_batch_completion")?;
    let group = |s: &View, field: &str| -> R<u32> {
        let size: u32 = s.count(field)?;
        if size == 0 {
            return Err(s.err(format!("{} must be greater than 0", s.field_name(field))));
        }
        Ok(size)
    };
    let strategy = match u.child("update_strategy") {
        None if wait => UpdateStrategy::Batch {
            group_size: group(&u, "batch_size")?,
            autopause_after_batch: false,
        },
        None => UpdateStrategy::Queue {
            group_size: group(&u, "batch_size")?,
        },
        Some(s) => {
            if wait {
                return Err(u.err("ambiguous update configuration: wait_for_batch_completion cannot be combined with an update_strategy"));
            }
            if batch_size > 1 {
                return Err(u.err("ambiguous update configuration: set the batch size inside update_strategy, not in UpdateConfig.batch_size"));
            }
            let v = &*VOCAB;
            if s.inst.is(&v.queue_strategy) {
                UpdateStrategy::Queue {
                    group_size: group(&s, "batch_size")?,
                }
            } else if s.inst.is(&v.batch_strategy) {
                UpdateStrategy::Batch {
                    group_size: group(&s, "batch_size")?,
                    autopause_after_batch: s.bool("autopause_after_batch")?,
                }
            } else {
                let sizes = s.strings("batch_sizes")?;
                let group_sizes = sizes
                    .iter()
                    .map(|size| size.parse::<u32>().ok().filter(|n| *n > 0))
                    .collect::<Option<Vec<u32>>>()
                    .filter(|sizes| !sizes.is_empty())
                    .ok_or_else(|| s.err(format!("VariableBatchUpdateStrategy.batch_sizes must be positive integers, got {sizes:?}")))?;
                UpdateStrategy::VariableBatch {
                    group_sizes,
                    autopause_after_batch: s.bool("autopause_after_batch")?,
                }
            }
        }
    };
    Ok(UpdateSettings {
        strategy,
        max_per_instance_failures: u.count("max_per_shard_failures")?,
        max_failed_instances: u.count("max_total_failures")?,
        min_wait_in_instance_running_ms,
        rollback_on_failure: u.bool("rollback_on_failure")?,
        update_only_these_instances: Vec::new(),
        block_if_no_pulses_after_ms: pulse.map(|p| p as u64 * 1000),
        sla_aware: u.bool("sla_aware")?,
    })
}
