//! `job restart KEY[/INSTANCES]`: a rolling restart. Aurora's client restarted instances
//! itself, batch by batch; here the scheduler does it as an update of the instances to the
//! config they already run (one `rolling-restart` call), so it survives the client going away
//! and shows on the updates page. The client waits for that update to end.

use std::collections::{BTreeMap, BTreeSet};

use aurora_api::{RollingRestart, UpdateStarted};
use aurora_events::update::{UpdateSettings, UpdateStrategy};
use aurora_events::{ConfigHash, InstanceId, UpdateStatus};

use super::RestartArgs;
use super::update::{Goal, exit_code, follow, fresh_client_update_id, post_retrying_once};
use super::wait::all_tasks;
use crate::context::Context;
use crate::exit::{CliError, CliResult, ExitCode};
use crate::keys::InstanceSpec;

/// The update settings of a restart: batches of `--batch-size` kept in flight (Aurora's queue
/// strategy), each instance watched RUNNING for `--watch-secs`, the failure limits as given,
/// and no rollback (a restart has nothing to roll back to) unless `--rollback-on-failure`.
pub(crate) fn restart_settings(args: &RestartArgs) -> CliResult<UpdateSettings> {
    if args.batch_size == 0 {
        return Err(CliError::invalid_parameter(
            "--batch-size must be at least 1",
        ));
    }
    Ok(UpdateSettings {
        strategy: UpdateStrategy::Queue {
            group_size: args.batch_size,
        },
        max_per_instance_failures: args.max_per_instance_failures,
        max_failed_instances: args.max_total_failures,
        min_wait_in_instance_running_ms: args.watch_secs.saturating_mul(1000),
        rollback_on_failure: args.rollback_on_failure,
        update_only_these_instances: Vec::new(),
        block_if_no_pulses_after_ms: None,
        sla_aware: false,
    })
}

pub(super) fn restart(ctx: &Context, key: &str, args: &RestartArgs) -> CliResult {
    let spec: InstanceSpec = key.parse()?;
    let key = &spec.key;
    let settings = restart_settings(args)?;
    if let Some(config) = &args.config {
        // Aurora reads the config only for its hooks; a config that does not load or does
        // not define the job is still refused, as Aurora refuses it.
        ctx.load_selected(config, &args.bind, args.read_json, key)?;
    }
    let client = ctx.client(&key.cluster)?;
    // The active instances by the config they run: an update installs one config, so
    // instances running several (after `update start KEY/0-1`, or an aborted update) are
    // restarted one config's instances after another.
    let mut by_config: BTreeMap<ConfigHash, BTreeSet<InstanceId>> = BTreeMap::new();
    let mut active: BTreeSet<InstanceId> = BTreeSet::new();
    for task in all_tasks(&client, &key.job)?
        .iter()
        .filter(|t| t.status.is_active())
    {
        active.insert(task.instance);
        if spec
            .instances
            .as_ref()
            .is_none_or(|set| set.contains(&task.instance))
        {
            by_config
                .entry(task.config)
                .or_default()
                .insert(task.instance);
        }
    }
    if let (Some(wanted), true) = (&spec.instances, args.strict) {
        check_active(wanted, &active)?;
    }
    let mut groups: Vec<BTreeSet<InstanceId>> = by_config.into_values().collect();
    groups.sort_by_key(|group| group.first().copied());
    if groups.len() <= 1 {
        // One config (or none known yet): the scheduler is told the instances as asked.
        return restart_group(&client, key, spec.instances.clone(), &settings);
    }
    for group in groups {
        let shown: Vec<String> =
            aurora_events::update::InstanceRange::collapse(group.iter().copied())
                .iter()
                .map(ToString::to_string)
                .collect();
        eprintln!(
            "Restarting instances {} (they run one config; the others run another)",
            shown.join(",")
        );
        restart_group(&client, key, Some(group), &settings)?;
    }
    Ok(())
}

/// One `rolling-restart` call for `instances` (all active ones when `None`), waited for.
fn restart_group(
    client: &crate::client::Client,
    key: &crate::keys::ClusterJobKey,
    instances: Option<BTreeSet<InstanceId>>,
    settings: &UpdateSettings,
) -> CliResult {
    let request = RollingRestart {
        instances,
        settings: settings.clone(),
        metadata: fresh_client_update_id(),
        message: None,
    };
    let path = format!("/api/v1/jobs/{}/rolling-restart", key.job);
    let started: UpdateStarted = post_retrying_once(client, &path, &request)?
        .map_err(|refusal| refusal.aurora_error(&format!("Error restarting job {key}:")))?;
    let Some(id) = started.id else {
        // Aurora: no active instances is "Nothing to do.", and a success.
        eprintln!(
            "{}",
            started
                .message
                .as_deref()
                .unwrap_or("No active instances to restart.")
        );
        return Ok(());
    };
    // Aurora's restart is the client's loop, and Ctrl-C ends it; here the scheduler carries
    // it out, so Ctrl-C ends only the watching: say so, and how to stop the restart itself.
    let note = format!(
        "\nInterrupted: the restart goes on at the scheduler (update {id} of {key}). Stop it \
         with `aurora update pause {key}` (then `update resume` or `update abort`), or follow \
         it with `aurora update wait {key} {id}`."
    );
    say_on_ctrl_c(note);
    let end = follow(client, key, id, "restarted", |_| {})?.summary.status;
    match exit_code(end, Goal::RollForward) {
        ExitCode::Ok => {
            println!("Job restart succeeded");
            Ok(())
        }
        _ => Err(restart_failed(
            end,
            &super::update::update_url(client.base(), &key.job, id),
        )),
    }
}

/// What Ctrl-C prints before the command ends (exit 130): the restart being followed now.
static CTRL_C_NOTE: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

/// Has Ctrl-C print `note` (the handler is set once; a later group replaces the note).
fn say_on_ctrl_c(note: String) {
    *CTRL_C_NOTE.lock().unwrap_or_else(|e| e.into_inner()) = note;
    static HANDLER: std::sync::Once = std::sync::Once::new();
    HANDLER.call_once(|| {
        // (It fails only if another handler is set: Ctrl-C then ends the command as before.)
        let _ = ctrlc::set_handler(|| {
            eprintln!("{}", CTRL_C_NOTE.lock().unwrap_or_else(|e| e.into_inner()));
            std::process::exit(ExitCode::Interrupted.code());
        });
    });
}

/// `--strict`: Aurora's `get_active_instances_or_raise`.
pub(crate) fn check_active(
    wanted: &BTreeSet<InstanceId>,
    active: &BTreeSet<InstanceId>,
) -> CliResult {
    let unknown: Vec<String> = wanted.difference(active).map(ToString::to_string).collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(CliError::invalid_parameter(format!(
        "Invalid instance parameter: [{}]",
        unknown.join(", ")
    )))
}

/// A restart that did not roll forward is a command failure (exit 4), whatever it ended in.
fn restart_failed(end: UpdateStatus, url: &str) -> CliError {
    CliError::failure(format!("Job restart failed: it ended {end} (see {url})"))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// The restart flags as a user types them.
    fn args(flags: &[&str]) -> RestartArgs {
        #[derive(Parser)]
        struct Restart {
            #[command(flatten)]
            args: RestartArgs,
        }
        let argv = std::iter::once("restart").chain(flags.iter().copied());
        Restart::try_parse_from(argv).unwrap().args
    }

    #[test]
    fn defaults_are_aurora_restart_defaults_without_rollback() {
        assert_eq!(
            restart_settings(&args(&[])).unwrap(),
            UpdateSettings {
                strategy: UpdateStrategy::Queue { group_size: 1 },
                max_per_instance_failures: 0,
                max_failed_instances: 0,
                min_wait_in_instance_running_ms: 30_000,
                rollback_on_failure: false,
                update_only_these_instances: Vec::new(),
                block_if_no_pulses_after_ms: None,
                sla_aware: false,
            }
        );
    }

    #[test]
    fn flags_become_settings() {
        let flags = args(&[
            "--batch-size",
            "3",
            "--watch-secs",
            "5",
            "--max-per-instance-failures",
            "2",
            "--max-total-failures",
            "1",
            "--rollback-on-failure",
            "--healthcheck-interval-seconds",
            "9",
            "--strict",
            "--force",
        ]);
        let settings = restart_settings(&flags).unwrap();
        assert_eq!(settings.strategy, UpdateStrategy::Queue { group_size: 3 });
        assert_eq!(settings.min_wait_in_instance_running_ms, 5_000);
        assert_eq!(settings.max_per_instance_failures, 2);
        assert_eq!(settings.max_failed_instances, 1);
        assert!(settings.rollback_on_failure);
        assert!(flags.strict && flags.force);
        let zero = restart_settings(&args(&["--batch-size", "0"])).unwrap_err();
        assert_eq!(zero.code, ExitCode::InvalidParameter);
    }

    #[test]
    fn strict_names_the_inactive_instances() {
        let active = BTreeSet::from([0, 1, 2]);
        assert!(check_active(&BTreeSet::from([0, 2]), &active).is_ok());
        let error = check_active(&BTreeSet::from([1, 3, 4]), &active).unwrap_err();
        assert_eq!(error.code, ExitCode::InvalidParameter);
        assert_eq!(error.message, "Invalid instance parameter: [3, 4]");
    }

    #[test]
    fn a_restart_that_does_not_roll_forward_fails_naming_its_end() {
        let error = restart_failed(UpdateStatus::RolledBack, "http://s/updates/r/e/j/1");
        assert_eq!(error.code, ExitCode::CommandFailure);
        assert_eq!(
            error.message,
            "Job restart failed: it ended ROLLED_BACK (see http://s/updates/r/e/j/1)"
        );
    }
}
