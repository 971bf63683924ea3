//! Host maintenance: `host_deactivate`, `host_activate`, `host_status`, `host_drain`,
//! `sla_host_drain`.

use std::time::{Duration, Instant};

use aurora_api::{Committed, HostStatus};
use aurora_events::MaintenanceMode;
use serde_json::json;

use super::HostsArgs;
use crate::client::Client;
use crate::context::Context;
use crate::exit::{CliError, CliResult, ExitCode};

/// The hosts from `--hosts` and `--filename`, in order, without repeats.
fn hosts(args: &HostsArgs) -> CliResult<Vec<String>> {
    let mut hosts: Vec<String> = args
        .hosts
        .iter()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .collect();
    if let Some(path) = &args.filename {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::invalid_parameter(format!("cannot read {}: {e}", path.display()))
        })?;
        hosts.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string),
        );
    }
    let mut seen = std::collections::BTreeSet::new();
    hosts.retain(|h| seen.insert(h.clone()));
    if hosts.is_empty() {
        return Err(CliError::invalid_parameter(
            "name the hosts with --hosts a,b or --filename FILE",
        ));
    }
    Ok(hosts)
}

/// The maintenance modes of those of `hosts` the scheduler knows, in the order named: like
/// Aurora's `maintenanceStatus`, which ignores hosts it has never heard of. Asked for named
/// hosts, the scheduler answers NONE for unknown ones too; its list of every host (without
/// `?hosts=`) names only those it knows (from agents, assignments or maintenance).
fn statuses(client: &Client, hosts: &[String]) -> CliResult<Vec<HostStatus>> {
    let known: Vec<HostStatus> = client.get("/api/v1/maintenance")?;
    Ok(known_named(known, hosts))
}

/// `known`'s statuses of `hosts`, in the order of `hosts`.
fn known_named(known: Vec<HostStatus>, hosts: &[String]) -> Vec<HostStatus> {
    let mut known: std::collections::BTreeMap<String, HostStatus> = known
        .into_iter()
        .map(|status| (status.host.clone(), status))
        .collect();
    hosts.iter().filter_map(|host| known.remove(host)).collect()
}

pub(super) fn change(ctx: &Context, cluster: &str, args: &HostsArgs, action: &str) -> CliResult {
    let hosts = hosts(args)?;
    let client = ctx.client(cluster)?;
    let _: Committed = client.post(
        &format!("/api/v1/maintenance/{action}"),
        &json!({"hosts": hosts}),
    )?;
    for status in statuses(&client, &hosts)? {
        println!("{}: {}", status.host, status.mode);
    }
    Ok(())
}

pub(super) fn status(ctx: &Context, cluster: &str, args: &HostsArgs) -> CliResult {
    let hosts = hosts(args)?;
    let client = ctx.client(cluster)?;
    for status in statuses(&client, &hosts)? {
        println!("{}", status_line(&status));
    }
    Ok(())
}

/// Aurora's `host_status` line: it logs `"%s is in state: %s"` through twitter.common.log's
/// plain formatter, so scripts take the mode as the sixth word (`awk '{print $6}'`). Aurora
/// writes it to stderr; here it is data, on stdout (a script's `2>&1` sees it either way).
fn status_line(status: &HostStatus) -> String {
    crate::info_line(&format!("{} is in state: {}", status.host, status.mode))
}

pub(super) fn drain(ctx: &Context, cluster: &str, args: &HostsArgs, wait_secs: u64) -> CliResult {
    let hosts = hosts(args)?;
    let client = ctx.client(cluster)?;
    let _: Committed = client.post("/api/v1/maintenance/drain", &json!({"hosts": hosts}))?;
    let started = Instant::now();
    loop {
        let current = statuses(&client, &hosts)?;
        let waiting: Vec<&HostStatus> = current
            .iter()
            .filter(|s| s.mode != MaintenanceMode::Drained)
            .collect();
        if waiting.is_empty() {
            for status in &current {
                println!("{}: {}", status.host, status.mode);
            }
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(wait_secs) {
            let names: Vec<&str> = waiting.iter().map(|s| s.host.as_str()).collect();
            return Err(CliError::new(
                ExitCode::Timeout,
                format!(
                    "hosts not drained after {wait_secs} s: {}",
                    names.join(", ")
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// `sla_host_drain`: asks the scheduler for an SLA-aware drain and returns; the scheduler
/// drains the hosts' tasks as their jobs' SLAs allow (`host_status` shows the progress).
pub(super) fn sla_drain(
    ctx: &Context,
    cluster: &str,
    args: &HostsArgs,
    default_percentage: f64,
    default_duration: &str,
    force_drain_timeout: &str,
) -> CliResult {
    let hosts = hosts(args)?;
    if !(0.0..=100.0).contains(&default_percentage) {
        return Err(CliError::invalid_parameter(format!(
            "--default_percentage {default_percentage} is not between 0 and 100"
        )));
    }
    let duration = crate::time::parse_duration_secs(default_duration)
        .map_err(|e| CliError::invalid_parameter(format!("--default_duration: {e}")))?;
    let timeout = crate::time::parse_duration_secs(force_drain_timeout)
        .map_err(|e| CliError::invalid_parameter(format!("--force_drain_timeout: {e}")))?;
    let client = ctx.client(cluster)?;
    let _: Committed = client.post(
        "/api/v1/maintenance/sla_drain",
        &json!({
            "hosts": hosts,
            "default_percentage": default_percentage,
            "default_duration_secs": duration,
            "timeout_secs": timeout,
        }),
    )?;
    for host in &hosts {
        println!("{host}: SLA-aware drain requested");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(host: &str, mode: MaintenanceMode) -> HostStatus {
        HostStatus {
            host: host.into(),
            mode,
        }
    }

    #[test]
    fn only_known_hosts_have_a_status_in_the_order_named() {
        let known = vec![
            status("a", MaintenanceMode::Drained),
            status("b", MaintenanceMode::None),
            status("c", MaintenanceMode::Scheduled),
        ];
        let named = ["c", "nosuchhost", "b"].map(String::from);
        assert_eq!(
            known_named(known, &named),
            vec![
                status("c", MaintenanceMode::Scheduled),
                status("b", MaintenanceMode::None),
            ]
        );
    }

    #[test]
    fn host_status_reads_as_aurora_logs_it() {
        let line = status_line(&HostStatus {
            host: "agent-7.example.com".into(),
            mode: MaintenanceMode::Draining,
        });
        assert_eq!(line, " INFO] agent-7.example.com is in state: DRAINING");
        assert_eq!(line.split_whitespace().nth(5), Some("DRAINING"));
    }
}
