//! Thermos's task helpers (`schema_helpers.py`): `order`, `SequentialTask`, `SimpleTask`,
//! `Tasks.concat` and `Tasks.combine`, on instances.
//!
//! Differences from Thermos, both deliberate: merged processes and constraints keep the order
//! they were given in (Thermos goes through a Python `set`, so its order is arbitrary), and the
//! merged task keeps the identity (name, failure limits) of the *first* task, as the
//! configuration tutorial and Thermos's own docstring say.

use std::sync::Arc;

use crate::template::{Chain, resolve};
use crate::value::{Datum, Instance, Origin};
use crate::vocab::{GB, VOCAB};

/// A process's name as `process.name()` gives it: interpolated as far as its scopes allow.
pub(crate) fn process_name(process: &Arc<Instance>) -> Result<String, String> {
    match process.get("name") {
        Some(Datum::Str(name)) => Ok(resolve(name, &Chain::empty().enter(process))?.0),
        Some(other) => Ok(other.python_str().unwrap_or_default()),
        None => Err(format!(
            "order() needs named processes; {process} has no name"
        )),
    }
}

/// `order(a, b, c)`: one `Constraint(order=[...])`, in a list so constraints can be added.
pub(crate) fn order(names: Vec<String>, origin: &Origin) -> Vec<Datum> {
    let names: Vec<Datum> = names.iter().map(|n| Datum::str(n)).collect();
    let constraint = Instance::defaults(&VOCAB.constraint, origin.clone())
        .with("order", Some(Datum::List(Arc::from(names))));
    vec![Datum::Struct(Arc::new(constraint))]
}

fn processes(task: &Instance) -> Vec<Arc<Instance>> {
    task.get("processes")
        .and_then(Datum::as_list)
        .map(|items| {
            items
                .iter()
                .filter_map(|d| d.as_instance().cloned())
                .collect()
        })
        .unwrap_or_default()
}

fn constraints(task: &Instance) -> Vec<Datum> {
    task.get("constraints")
        .and_then(Datum::as_list)
        .map(<[Datum]>::to_vec)
        .unwrap_or_default()
}

/// `SequentialTask`: orders every process in the order listed. Like Thermos, refuses a task
/// that already has ordering constraints.
pub(crate) fn sequential(task: Instance, origin: &Origin) -> Result<Instance, String> {
    if !constraints(&task).is_empty() {
        return Err("cannot turn a Task with existing constraints into a SequentialTask".into());
    }
    if task.get("processes").is_none() {
        return Ok(task);
    }
    let names = processes(&task)
        .iter()
        .map(process_name)
        .collect::<Result<Vec<_>, _>>()?;
    let order = order(names, origin);
    Ok(task.with("constraints", Some(Datum::List(Arc::from(order)))))
}

/// `SimpleTask(name, command)`: one process, 1 cpu, 1 GiB of RAM and disk.
pub(crate) fn simple(name: &str, command: &str, origin: &Origin) -> Instance {
    let process = Instance::defaults(&VOCAB.process, origin.clone())
        .with("name", Some(Datum::str(name)))
        .with("cmdline", Some(Datum::str(command)));
    let resources = resources(1.0, GB, GB, 0, origin);
    Instance::defaults(&VOCAB.task, origin.clone())
        .with("name", Some(Datum::str(name)))
        .with(
            "processes",
            Some(Datum::List(Arc::from(vec![Datum::Struct(Arc::new(
                process,
            ))]))),
        )
        .with("resources", Some(resources))
}

fn resources(cpu: f64, ram: i64, disk: i64, gpu: i64, origin: &Origin) -> Datum {
    let r = Instance::defaults(&VOCAB.resources, origin.clone())
        .with("cpu", Some(Datum::Float(cpu)))
        .with("ram", Some(Datum::Int(ram)))
        .with("disk", Some(Datum::Int(disk)))
        .with("gpu", Some(Datum::Int(gpu)));
    Datum::Struct(Arc::new(r))
}

/// A number the combinators can add up: templates are not resolved yet at this point, so a
/// templated resource cannot be summed (Thermos cannot either).
fn number(value: Option<&Datum>, what: &str) -> Result<f64, String> {
    match value {
        None => Ok(0.0),
        Some(Datum::Int(i)) => Ok(*i as f64),
        Some(Datum::Float(f)) => Ok(*f),
        Some(other) => Err(format!(
            "Tasks.concat/Tasks.combine need concrete numbers, but {what} is {}",
            other.describe()
        )),
    }
}

/// Per-dimension (cpu, ram, disk, gpu) amounts of each task; an unset `resources` counts 0.
fn amounts(tasks: &[Arc<Instance>]) -> Result<Vec<[f64; 4]>, String> {
    tasks
        .iter()
        .map(|t| {
            let r = t.get("resources").and_then(Datum::as_instance);
            let get = |f: &str| number(r.and_then(|r| r.get(f)), &format!("resources.{f}"));
            Ok([get("cpu")?, get("ram")?, get("disk")?, get("gpu")?])
        })
        .collect()
}

fn finalization_waits(tasks: &[Arc<Instance>]) -> Result<Vec<f64>, String> {
    tasks
        .iter()
        .map(|t| number(t.get("finalization_wait"), "finalization_wait"))
        .collect()
}

fn dedupe(items: impl IntoIterator<Item = Datum>) -> Vec<Datum> {
    let mut out: Vec<Datum> = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

fn merged(
    tasks: &[Arc<Instance>],
    resources_of: [f64; 4],
    constraints: Vec<Datum>,
    finalization_wait: f64,
    origin: &Origin,
) -> Instance {
    let processes = dedupe(
        tasks
            .iter()
            .flat_map(|t| processes(t).into_iter().map(Datum::Struct)),
    );
    let [cpu, ram, disk, gpu] = resources_of;
    let mut base = (*tasks[0]).clone();
    base.origin = origin.clone();
    base.with("processes", Some(Datum::List(Arc::from(processes))))
        .with(
            "resources",
            Some(resources(cpu, ram as i64, disk as i64, gpu as i64, origin)),
        )
        .with("constraints", Some(Datum::List(Arc::from(constraints))))
        .with(
            "finalization_wait",
            Some(Datum::Int(finalization_wait as i64)),
        )
}

/// `Tasks.combine`: all processes in parallel; resources add up; the longest finalization wait.
pub(crate) fn combine(tasks: &[Arc<Instance>], origin: &Origin) -> Result<Instance, String> {
    if tasks.is_empty() {
        return Ok(Instance::defaults(&VOCAB.task, origin.clone()));
    }
    let mut total = [0.0; 4];
    for a in amounts(tasks)? {
        for (t, x) in total.iter_mut().zip(a) {
            *t += x;
        }
    }
    let wait = finalization_waits(tasks)?.into_iter().fold(0.0, f64::max);
    let constraints = dedupe(tasks.iter().flat_map(|t| constraints(t)));
    Ok(merged(tasks, total, constraints, wait, origin))
}

/// `Tasks.concat`: each task's processes run after all of the previous task's; resources are
/// the per-dimension maximum; finalization waits add up.
pub(crate) fn concat(tasks: &[Arc<Instance>], origin: &Origin) -> Result<Instance, String> {
    if tasks.is_empty() {
        return Ok(Instance::defaults(&VOCAB.task, origin.clone()));
    }
    let mut most = [0.0f64; 4];
    for a in amounts(tasks)? {
        for (m, x) in most.iter_mut().zip(a) {
            *m = m.max(x);
        }
    }
    let wait = finalization_waits(tasks)?.into_iter().sum();
    let mut all = dedupe(tasks.iter().flat_map(|t| constraints(t)));
    for pair in tasks.windows(2) {
        for p1 in processes(&pair[0]) {
            for p2 in processes(&pair[1]) {
                if p1 != p2 {
                    let names = vec![process_name(&p1)?, process_name(&p2)?];
                    all.extend(order(names, origin));
                }
            }
        }
    }
    Ok(merged(tasks, most, dedupe(all), wait, origin))
}
