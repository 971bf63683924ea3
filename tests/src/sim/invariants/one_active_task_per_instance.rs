//! Never more than one active task per instance of a job.

use std::collections::BTreeMap;

use super::Observed;

pub fn check(observed: &Observed<'_>) -> Result<(), String> {
    let state = observed.state;
    let mut active = BTreeMap::new();
    for task in state.tasks().filter(|t| t.status.is_active()) {
        if let Some(other) = active.insert((&task.job, task.instance), &task.id) {
            return Err(format!(
                "{}/{} has two active tasks: {other} and {}",
                task.job, task.instance, task.id
            ));
        }
    }
    Ok(())
}
