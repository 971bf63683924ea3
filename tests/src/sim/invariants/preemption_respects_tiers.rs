//! A task is only ever preempted in favour of a task allowed to preempt it: never production
//! for non-production, never across roles within one tier.

use aurora_events::{Event, ScheduleStatus, TaskId};
use aurora_scheduler_core::commands::may_preempt;

use super::Observed;

pub fn check(observed: &Observed<'_>) -> Result<(), String> {
    let state = observed.state;
    for envelope in observed.recent {
        let Event::TaskStateChanged {
            task,
            to: ScheduleStatus::Preempting,
            message,
            ..
        } = &envelope.event
        else {
            continue;
        };
        let preemptor = message
            .as_deref()
            .and_then(|m| m.strip_prefix("Preempting in favor of "))
            .ok_or_else(|| format!("{task} preempted without naming the preemptor"))?;
        let config_of = |id: &TaskId| state.task(id).and_then(|t| state.config(&t.config));
        let (Some(victim), Some(candidate)) =
            (config_of(task), config_of(&TaskId::from_raw(preemptor)))
        else {
            continue; // pruned since; it was checked when it happened
        };
        if !may_preempt(candidate, victim) {
            return Err(format!(
                "{task} ({:?}) preempted for {preemptor} ({:?})",
                victim.tier, candidate.tier
            ));
        }
    }
    Ok(())
}
