//! `update start KEY[/INSTANCES] CONFIG [--wait]` (Aurora's `StartUpdate`): load the config as
//! `job create` does, show what the update will do, ask the scheduler to start it (once more on
//! a network failure, with the same client update id so the retry cannot start a second
//! update), print the update's page, and with `--wait` wait for it to end.

use std::collections::{BTreeMap, BTreeSet};

use aurora_api::{CLIENT_UPDATE_ID, ConfigSummary, StartUpdate, UpdateStarted, instance_ranges};
use aurora_config::JobConfig;
use aurora_events::update::InstanceRange;
use aurora_events::{InstanceId, TaskConfig, Uuid};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::lookup::update_url;
use super::verbs::StartArgs;
use super::wait::{Goal, wait_printing_states};
use crate::client::{Client, Refusal};
use crate::context::Context;
use crate::exit::{CliError, CliResult, ExitCode};
use crate::keys::InstanceSpec;

pub(crate) fn start(ctx: &Context, args: &StartArgs) -> CliResult {
    let spec: InstanceSpec = args.key.parse()?;
    let key = &spec.key;
    let config = &args.config;
    let job = crate::aurora::selected_job(ctx, key, config)?;
    if job.cron_schedule.is_some() {
        return Err(CliError::failure(
            "Cron jobs may only be updated with \"aurora cron schedule\" command",
        ));
    }
    if args.strict {
        check_scope(spec.instances.as_ref(), job.instances)?;
    }
    let client = ctx.client(&key.cluster)?;
    let summary: ConfigSummary = client
        .try_get(&format!("/api/v1/jobs/{}/config-summary", key.job))?
        .map_err(|refusal| {
            let mut error = refusal.aurora_error("Error getting diff info from scheduler");
            error.code = ExitCode::CommandFailure;
            error
        })?;
    let diff = UpdateDiff::compute(&summary, &job.task, job.instances, spec.instances.as_ref());
    for line in diff.lines() {
        println!("{line}");
    }
    let request = start_request(&job, spec.instances.as_ref(), args.message.message.clone());
    let path = format!("/api/v1/jobs/{}/update", key.job);
    let started: UpdateStarted = post_retrying_once(&client, &path, &request)?
        .map_err(|refusal| refusal.aurora_error("Failed to start update due to error:"))?;
    let Some(id) = started.id else {
        // Nothing to do is not a failure (Aurora prints the scheduler's message, exit 0).
        println!(
            "{}",
            started.message.as_deref().unwrap_or(aurora_api::UNCHANGED)
        );
        return Ok(());
    };
    println!(
        "Job update has started. View your update progress at {}",
        update_url(client.base(), &key.job, id)
    );
    if args.wait {
        return wait_printing_states(&client, key, id, Goal::RollForward);
    }
    Ok(())
}

/// `--strict`: every instance named must exist in the job the config describes. Aurora's
/// message and exit code (6) for instances that do not.
pub(crate) fn check_scope(scope: Option<&BTreeSet<InstanceId>>, instances: u32) -> CliResult {
    let beyond: Vec<String> = scope
        .into_iter()
        .flatten()
        .filter(|i| **i >= instances)
        .map(ToString::to_string)
        .collect();
    if beyond.is_empty() {
        return Ok(());
    }
    Err(CliError::invalid_parameter(format!(
        "Invalid instance parameter: [{}]",
        beyond.join(", ")
    )))
}

/// The request: the config's task, instance count and update settings, the `/INSTANCES` scope
/// as ranges, and a fresh client update id (the same for a retry of this request).
pub(crate) fn start_request(
    job: &JobConfig,
    scope: Option<&BTreeSet<InstanceId>>,
    message: Option<String>,
) -> StartUpdate {
    let mut settings = job.update.clone();
    settings.update_only_these_instances = scope_ranges(scope);
    StartUpdate {
        config: job.task.clone(),
        instances: job.instances,
        settings,
        metadata: fresh_client_update_id(),
        message,
    }
}

/// The `/INSTANCES` of a key as the ranges Aurora sends (`instances_to_ranges`); none for all.
pub(crate) fn scope_ranges(scope: Option<&BTreeSet<InstanceId>>) -> Vec<InstanceRange> {
    scope.map_or_else(Vec::new, |set| instance_ranges(set.iter().copied()))
}

/// Metadata naming this invocation, so that the scheduler recognises a retried request.
pub(crate) fn fresh_client_update_id() -> BTreeMap<String, String> {
    BTreeMap::from([(CLIENT_UPDATE_ID.to_string(), Uuid::now_v7().to_string())])
}

/// POSTs `body`, and once more if the first attempt never got an answer (network error or
/// timeout). Safe only for requests the scheduler deduplicates, as it does updates by their
/// client update id; Aurora's client retries `startJobUpdate` the same way.
pub(crate) fn post_retrying_once<T: DeserializeOwned>(
    client: &Client,
    path: &str,
    body: &impl Serialize,
) -> CliResult<Result<T, Refusal>> {
    match client.try_post(path, body) {
        Err(error) if matches!(error.code, ExitCode::NetworkError | ExitCode::Timeout) => {
            eprintln!("{}; trying once more", error.message);
            client.try_post(path, body)
        }
        answer => answer,
    }
}

/// What an update will do to each instance (Aurora's `getJobUpdateDiff`), from the job's
/// running config groups: instances added, removed, updated, and left alone. Each list keeps
/// the config groups' own ranges, as Aurora prints them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct UpdateDiff {
    pub(crate) add: Vec<InstanceRange>,
    pub(crate) remove: Vec<InstanceRange>,
    pub(crate) update: Vec<InstanceRange>,
    pub(crate) unchanged: Vec<InstanceRange>,
}

impl UpdateDiff {
    /// Aurora's `JobDiff.compute`: instances whose config differs from the proposal, or that
    /// the new count drops, are replaced; instances the proposal has and the job lacks or runs
    /// differently are replacements; a scope limits both. Everything else is unchanged.
    pub(crate) fn compute(
        running: &ConfigSummary,
        proposed: &TaskConfig,
        instances: u32,
        scope: Option<&BTreeSet<InstanceId>>,
    ) -> Self {
        let in_scope = |i: &InstanceId| scope.is_none_or(|s| s.contains(i));
        let mut current: BTreeMap<InstanceId, usize> = BTreeMap::new();
        for (index, group) in running.groups.iter().enumerate() {
            for range in &group.instances {
                for instance in range.first..=range.last {
                    current.insert(instance, index);
                }
            }
        }
        let same = |index: usize| running.groups[index].config == *proposed;
        let replaced: BTreeSet<InstanceId> = current
            .iter()
            .filter(|(i, group)| (**i >= instances || !same(**group)) && in_scope(i))
            .map(|(i, _)| *i)
            .collect();
        let replacements: BTreeSet<InstanceId> = (0..instances)
            .filter(|i| current.get(i).is_none_or(|group| !same(*group)) && in_scope(i))
            .collect();
        // Ranges per running group, sorted by where they start, as Aurora lists them.
        let by_group = |wanted: &dyn Fn(InstanceId) -> bool| -> Vec<InstanceRange> {
            let mut ranges: Vec<InstanceRange> = (0..running.groups.len())
                .flat_map(|index| {
                    instance_ranges(
                        current
                            .iter()
                            .filter(|(i, group)| **group == index && wanted(**i))
                            .map(|(i, _)| *i),
                    )
                })
                .collect();
            ranges.sort();
            ranges
        };
        Self {
            add: instance_ranges(replacements.difference(&replaced).copied()),
            remove: by_group(&|i| replaced.contains(&i) && !replacements.contains(&i)),
            update: by_group(&|i| replaced.contains(&i) && replacements.contains(&i)),
            unchanged: by_group(&|i| !replaced.contains(&i) && !replacements.contains(&i)),
        }
    }

    /// Aurora's `show_job_update_diff` text (which prints the removals twice; once here).
    pub(crate) fn lines(&self) -> Vec<String> {
        let mut lines = vec!["This job update will:".to_string()];
        for (header, ranges) in [
            ("add instances:", &self.add),
            ("remove instances:", &self.remove),
            ("update instances:", &self.update),
            ("not change instances:", &self.unchanged),
        ] {
            if ranges.is_empty() {
                continue;
            }
            let spans: Vec<String> = ranges
                .iter()
                .map(|r| {
                    if r.first == r.last {
                        format!("[{}]", r.first)
                    } else {
                        format!("[{}-{}]", r.first, r.last)
                    }
                })
                .collect();
            lines.push(format!("{header} {}", spans.join(", ")));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use aurora_api::ConfigGroup;

    use super::*;

    fn range(first: u32, last: u32) -> InstanceRange {
        InstanceRange { first, last }
    }

    fn running(groups: Vec<(TaskConfig, Vec<InstanceRange>)>) -> ConfigSummary {
        ConfigSummary {
            job: "bozo/test/hello".into(),
            groups: groups
                .into_iter()
                .map(|(config, instances)| ConfigGroup {
                    hash: config.hash(),
                    config,
                    instances,
                })
                .collect(),
        }
    }

    fn configs() -> (TaskConfig, TaskConfig) {
        let old = aurora_events::samples::task_config();
        let mut new = old.clone();
        new.max_task_failures += 1;
        (old, new)
    }

    #[test]
    fn a_changed_config_with_more_instances_updates_and_adds() {
        let (old, new) = configs();
        let job = running(vec![
            (old.clone(), vec![range(0, 1)]),
            (new.clone(), vec![range(2, 2)]),
        ]);
        let diff = UpdateDiff::compute(&job, &new, 5, None);
        assert_eq!(
            diff,
            UpdateDiff {
                add: vec![range(3, 4)],
                remove: vec![],
                update: vec![range(0, 1)],
                unchanged: vec![range(2, 2)],
            }
        );
        assert_eq!(
            diff.lines(),
            [
                "This job update will:",
                "add instances: [3-4]",
                "update instances: [0-1]",
                "not change instances: [2]",
            ]
        );
    }

    #[test]
    fn fewer_instances_remove_and_a_scope_limits_the_change() {
        let (old, new) = configs();
        let job = running(vec![(old.clone(), vec![range(0, 3)])]);
        let diff = UpdateDiff::compute(&job, &new, 2, Some(&BTreeSet::from([0, 3])));
        assert_eq!(
            diff,
            UpdateDiff {
                add: vec![],
                remove: vec![range(3, 3)],
                update: vec![range(0, 0)],
                unchanged: vec![range(1, 2)],
            }
        );
        assert_eq!(
            diff.lines(),
            [
                "This job update will:",
                "remove instances: [3]",
                "update instances: [0]",
                "not change instances: [1-2]",
            ]
        );
        let same = UpdateDiff::compute(&job, &old, 4, None);
        assert_eq!(
            same.lines(),
            ["This job update will:", "not change instances: [0-3]"]
        );
        let fresh = UpdateDiff::compute(&running(vec![]), &new, 2, None);
        assert_eq!(
            fresh.lines(),
            ["This job update will:", "add instances: [0-1]"]
        );
    }

    #[test]
    fn instance_scopes_become_ranges() {
        assert_eq!(scope_ranges(None), vec![]);
        let scope = BTreeSet::from([0, 1, 2, 5, 8, 9]);
        assert_eq!(
            scope_ranges(Some(&scope)),
            vec![range(0, 2), range(5, 5), range(8, 9)]
        );
        let spec: InstanceSpec = "west/bozo/test/hello/0-2,5,8,9".parse().unwrap();
        assert_eq!(
            scope_ranges(spec.instances.as_ref()),
            vec![range(0, 2), range(5, 5), range(8, 9)]
        );
    }

    #[test]
    fn the_request_carries_the_config_scope_and_a_fresh_client_id() {
        let loaded = aurora_config::load_str(
            "hello.aurora",
            "jobs = [Service(cluster = 'west', role = 'bozo', environment = 'test', name = 'hello', \
             instances = 3, update_config = UpdateConfig(batch_size = 2, watch_secs = 7), \
             task = Task(name = 't', processes = [Process(name = 'p', cmdline = 'sleep 1')], \
             resources = Resources(cpu = 0.1, ram = 16 * MB, disk = 16 * MB)))]",
            &aurora_config::LoadOptions::default(),
        )
        .unwrap();
        let job = &loaded.jobs[0];
        let first = start_request(job, Some(&BTreeSet::from([1, 2])), Some("why".into()));
        assert_eq!(first.instances, 3);
        assert_eq!(first.config, job.task);
        assert_eq!(first.message.as_deref(), Some("why"));
        assert_eq!(
            first.settings.update_only_these_instances,
            vec![range(1, 2)]
        );
        assert_eq!(first.settings.min_wait_in_instance_running_ms, 7_000);
        assert_eq!(
            first.settings.strategy,
            aurora_events::update::UpdateStrategy::Queue { group_size: 2 }
        );
        let second = start_request(job, None, None);
        assert!(second.settings.update_only_these_instances.is_empty());
        let id = |r: &StartUpdate| r.metadata[CLIENT_UPDATE_ID].clone();
        assert_ne!(id(&first), id(&second), "each invocation has its own id");
        assert!(id(&first).parse::<Uuid>().is_ok());
    }

    #[test]
    fn strict_refuses_instances_beyond_the_job() {
        assert!(check_scope(None, 2).is_ok());
        assert!(check_scope(Some(&BTreeSet::from([0, 1])), 2).is_ok());
        let error = check_scope(Some(&BTreeSet::from([1, 2, 7])), 2).unwrap_err();
        assert_eq!(error.code, ExitCode::InvalidParameter);
        assert_eq!(error.message, "Invalid instance parameter: [2, 7]");
    }
}
