//! What an update changes (Aurora's `JobDiff`): from the job's active instances and a proposed
//! config and instance count, the instances added, changed, removed and left alone, narrowed
//! to a scope, as the update's instructions.

use std::collections::{BTreeMap, BTreeSet};

use aurora_events::update::{
    InstanceConfigRanges, InstanceRange, UpdateInstructions, UpdateSettings,
};
use aurora_events::{ConfigHash, InstanceId, JobKey};

use crate::decision::Rejection;
use crate::state::ClusterState;

/// The job's active instances and the config each runs.
pub fn current_instances(state: &ClusterState, job: &JobKey) -> BTreeMap<InstanceId, ConfigHash> {
    state
        .active_tasks_of_job(job)
        .map(|task| (task.instance, task.config))
        .collect()
}

/// Collapses sorted instance ids into inclusive ranges.
pub fn ranges(instances: impl IntoIterator<Item = InstanceId>) -> Vec<InstanceRange> {
    InstanceRange::collapse(instances)
}

/// The instances named by a scope (`update_only_these_instances`); `None` for an empty scope
/// (every instance). Every instance must be below `limit` (one past the highest instance the
/// update could concern): a range reaching beyond is refused before it is expanded, so that a
/// request naming billions of instances costs nothing.
fn scope(
    settings: &UpdateSettings,
    limit: InstanceId,
) -> Result<Option<BTreeSet<InstanceId>>, Rejection> {
    if settings.update_only_these_instances.is_empty() {
        return Ok(None);
    }
    let mut instances = BTreeSet::new();
    for range in &settings.update_only_these_instances {
        if range.first > range.last {
            return Err(Rejection::InvalidRequest(format!(
                "instance range {}-{} is empty",
                range.first, range.last
            )));
        }
        if range.last >= limit {
            return Err(out_of_scope(format!(
                "{}-{}",
                range.first.max(limit),
                range.last
            )));
        }
        instances.extend(range.first..=range.last);
    }
    Ok(Some(instances))
}

/// Aurora's refusal of a scope naming instances the update has nothing to do with.
fn out_of_scope(instances: String) -> Rejection {
    Rejection::InvalidRequest(format!(
        "The update request attempted to update specific instances, but some are irrelevant to the update and current job state: [{instances}]"
    ))
}

/// The instructions of an update of `job` to `config` × `instances` with `settings`, or
/// [`Rejection::UpdateUnchanged`] when it would change nothing.
pub fn instructions(
    current: &BTreeMap<InstanceId, ConfigHash>,
    config: ConfigHash,
    instances: u32,
    settings: &UpdateSettings,
) -> Result<UpdateInstructions, Rejection> {
    let limit = current.keys().next_back().map_or(instances, |highest| {
        instances.max(highest.saturating_add(1))
    });
    let scope = scope(settings, limit)?;
    if let Some(scope) = &scope {
        // Aurora refuses a scope naming instances the update has nothing to do with.
        let strays: Vec<String> = scope
            .iter()
            .filter(|i| !current.contains_key(i) && **i >= instances)
            .map(u32::to_string)
            .collect();
        if !strays.is_empty() {
            return Err(out_of_scope(strays.join(", ")));
        }
    }
    let in_scope = |i: &InstanceId| scope.as_ref().is_none_or(|s| s.contains(i));
    // Replaced: active instances whose config changes or that are removed, by current config.
    let mut replaced: BTreeMap<ConfigHash, BTreeSet<InstanceId>> = BTreeMap::new();
    for (instance, current_config) in current.iter().filter(|(i, _)| in_scope(i)) {
        if *instance >= instances || *current_config != config {
            replaced
                .entry(*current_config)
                .or_default()
                .insert(*instance);
        }
    }
    // Replacements: wanted instances that are absent or run another config.
    let replacements: BTreeSet<InstanceId> = (0..instances)
        .filter(in_scope)
        .filter(|i| current.get(i) != Some(&config))
        .collect();
    if replaced.is_empty() && replacements.is_empty() {
        return Err(Rejection::UpdateUnchanged);
    }
    Ok(UpdateInstructions {
        initial_state: replaced
            .into_iter()
            .map(|(config, instances)| InstanceConfigRanges {
                config,
                instances: ranges(instances),
            })
            .collect(),
        desired_state: (!replacements.is_empty()).then(|| InstanceConfigRanges {
            config,
            instances: ranges(replacements),
        }),
        settings: settings.clone(),
    })
}

/// The instructions of a rolling restart of `instances` (all active ones when `None`): each is
/// replaced by a task of the config it runs. They must all run one config (an update installs
/// one).
pub fn restart_instructions(
    current: &BTreeMap<InstanceId, ConfigHash>,
    job: &JobKey,
    instances: Option<&BTreeSet<InstanceId>>,
    settings: &UpdateSettings,
) -> Result<UpdateInstructions, Rejection> {
    if let Some(wanted) = instances {
        let missing: Vec<String> = wanted
            .iter()
            .filter(|i| !current.contains_key(i))
            .map(u32::to_string)
            .collect();
        if !missing.is_empty() {
            return Err(Rejection::InvalidRequest(format!(
                "instances {} of {job} are not active",
                missing.join(",")
            )));
        }
    }
    let chosen: BTreeMap<InstanceId, ConfigHash> = current
        .iter()
        .filter(|(i, _)| instances.is_none_or(|set| set.contains(i)))
        .map(|(i, c)| (*i, *c))
        .collect();
    let configs: BTreeSet<ConfigHash> = chosen.values().copied().collect();
    let config = match configs.len() {
        0 => return Err(Rejection::UnknownJob(job.clone())),
        1 => configs
            .into_iter()
            .next()
            .ok_or(Rejection::UnknownJob(job.clone()))?,
        n => {
            return Err(Rejection::InvalidRequest(format!(
                "the instances to restart run {n} different configs; restart the instances of one config at a time (aurora job status shows which)"
            )));
        }
    };
    let group = InstanceConfigRanges {
        config,
        instances: ranges(chosen.keys().copied()),
    };
    let mut settings = settings.clone();
    settings.update_only_these_instances = group.instances.clone();
    Ok(UpdateInstructions {
        initial_state: vec![group.clone()],
        desired_state: Some(group),
        settings,
    })
}

/// Whether the instructions are a restart's (see [`UpdateInstructions::is_restart`]).
pub fn is_restart(instructions: &UpdateInstructions) -> bool {
    instructions.is_restart()
}

#[cfg(test)]
mod tests {
    use aurora_events::update::UpdateStrategy;

    use super::*;

    const OLD: ConfigHash = ConfigHash([1; 32]);
    const NEW: ConfigHash = ConfigHash([2; 32]);

    fn settings(scope: &[(u32, u32)]) -> UpdateSettings {
        UpdateSettings {
            strategy: UpdateStrategy::Queue { group_size: 1 },
            max_per_instance_failures: 0,
            max_failed_instances: 0,
            min_wait_in_instance_running_ms: 0,
            rollback_on_failure: true,
            update_only_these_instances: scope
                .iter()
                .map(|(first, last)| InstanceRange {
                    first: *first,
                    last: *last,
                })
                .collect(),
            block_if_no_pulses_after_ms: None,
            sla_aware: false,
        }
    }

    fn current(n: u32, config: ConfigHash) -> BTreeMap<InstanceId, ConfigHash> {
        (0..n).map(|i| (i, config)).collect()
    }

    fn pairs(ranges: &[InstanceRange]) -> Vec<(u32, u32)> {
        ranges.iter().map(|r| (r.first, r.last)).collect()
    }

    #[test]
    fn changed_added_and_removed_instances_and_unchanged_ones_left_out() {
        let mut now = current(3, OLD);
        now.insert(1, NEW);
        // 0 and 2 change, 1 is unchanged, 3-4 are added.
        let grow = instructions(&now, NEW, 5, &settings(&[])).unwrap();
        assert_eq!(grow.initial_state.len(), 1);
        assert_eq!(
            pairs(&grow.initial_state[0].instances),
            vec![(0, 0), (2, 2)]
        );
        let desired = grow.desired_state.unwrap();
        assert_eq!(pairs(&desired.instances), vec![(0, 0), (2, 4)]);
        // Shrinking to one instance of the config it already runs only kills.
        let shrink = instructions(&current(3, NEW), NEW, 1, &settings(&[])).unwrap();
        assert_eq!(pairs(&shrink.initial_state[0].instances), vec![(1, 2)]);
        assert!(shrink.desired_state.is_none());
    }

    #[test]
    fn a_scope_narrows_the_update_and_strays_are_refused() {
        let canary = instructions(&current(3, OLD), NEW, 3, &settings(&[(0, 0)])).unwrap();
        assert_eq!(pairs(&canary.initial_state[0].instances), vec![(0, 0)]);
        assert_eq!(
            pairs(&canary.desired_state.unwrap().instances),
            vec![(0, 0)]
        );
        let stray = instructions(&current(3, OLD), NEW, 3, &settings(&[(7, 7)]));
        assert!(matches!(stray, Err(Rejection::InvalidRequest(m)) if m.contains('7')));
        // A range of billions of instances is refused without being expanded.
        let huge = instructions(&current(3, OLD), NEW, 3, &settings(&[(0, u32::MAX)]));
        assert!(matches!(huge, Err(Rejection::InvalidRequest(m)) if m.contains("irrelevant")));
    }

    #[test]
    fn nothing_to_change_is_unchanged_and_a_restart_is_recognised() {
        let same = instructions(&current(3, OLD), OLD, 3, &settings(&[]));
        assert_eq!(same, Err(Rejection::UpdateUnchanged));
        let job: JobKey = "role/prod/web".parse().unwrap();
        let restart = restart_instructions(&current(3, OLD), &job, None, &settings(&[])).unwrap();
        assert!(is_restart(&restart));
        assert!(!is_restart(
            &instructions(&current(3, OLD), NEW, 3, &settings(&[])).unwrap()
        ));
        let mut mixed = current(3, OLD);
        mixed.insert(2, NEW);
        assert!(restart_instructions(&mixed, &job, None, &settings(&[])).is_err());
    }
}
