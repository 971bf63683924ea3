//! `aurora-admin sla_list_safe_domain` and `sla_probe_hosts`: which hosts could go down now
//! without taking a production job below its SLA (a percentage of its instances up for at
//! least a duration), computed on this machine from the cluster's live tasks as Aurora's
//! admin client does (`client/api/sla.py`, `DomainUpTimeSlaVector`):
//!
//! - only production tasks in a live state (Aurora's `LIVE_STATES`: RUNNING, KILLING,
//!   PREEMPTING, RESTARTING, DRAINING, PARTITIONED) count, of jobs with at least
//!   `--min_job_instance_count` of them (2);
//! - an instance's uptime runs from when its task entered RUNNING;
//! - a host is probed alone (the only grouping Aurora ships is `by_host`): a job's SLA with
//!   the host down is the share of *all* its counted tasks that are on other hosts and up
//!   long enough.
//!
//! The arithmetic is pure ([`Domain`]); the commands fetch the tasks and print.

use std::collections::{BTreeMap, BTreeSet};

use aurora_api::TaskView;
use aurora_events::ScheduleStatus;

use crate::context::Context;
use crate::exit::{CliError, CliResult};

/// The one grouping Aurora's client ships.
const BY_HOST: &str = "by_host";

/// A job's SLA: this percentage of its instances up for at least this many seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Limit {
    pub percentage: f64,
    pub duration_secs: i64,
}

/// A job's counted tasks: each one's host and, once it has been RUNNING, its uptime.
#[derive(Debug, Clone, Default)]
struct JobTasks {
    tasks: Vec<(String, Option<i64>)>,
}

impl JobTasks {
    /// The job's SLA with `down` hosts gone: (percentage, the remaining uptimes).
    fn without(&self, down: &BTreeSet<String>, duration_secs: i64) -> (f64, Vec<i64>) {
        let total = self.tasks.len();
        let remaining: Vec<i64> = self
            .tasks
            .iter()
            .filter(|(host, _)| !down.contains(host))
            .filter_map(|(_, uptime)| *uptime)
            .collect();
        let above = remaining.iter().filter(|u| **u >= duration_secs).count();
        let percentage = if total == 0 {
            0.0
        } else {
            100.0 * above as f64 / total as f64
        };
        (percentage, remaining)
    }
}

/// The seconds until `uptimes` (of `total` instances) would meet `limit`, `None` when they
/// cannot (too few instances left), 0 when they do.
fn wait_to_sla(uptimes: &[i64], total: usize, limit: Limit) -> Option<i64> {
    let above = uptimes
        .iter()
        .filter(|u| **u >= limit.duration_secs)
        .count();
    if total > 0 && 100.0 * above as f64 / total as f64 >= limit.percentage {
        return Some(0);
    }
    let mut sorted = uptimes.to_vec();
    sorted.sort_unstable();
    let target = (total as f64 * limit.percentage / 100.0).ceil() as i64;
    let index = usize::try_from(sorted.len() as i64 - target).ok()?;
    sorted.get(index).map(|uptime| limit.duration_secs - uptime)
}

/// The production jobs of the cluster and where their tasks run.
#[derive(Debug, Default)]
pub(super) struct Domain {
    /// By `cluster/role/env/name`.
    jobs: BTreeMap<String, JobTasks>,
    jobs_by_host: BTreeMap<String, BTreeSet<String>>,
}

/// One affected job on a host: what its SLA would be with the host down.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Projected {
    pub host: String,
    pub job: String,
    pub percentage: f64,
    pub limit: Limit,
    /// Seconds until the job would meet its SLA again, `None` if it cannot.
    pub safe_in: Option<i64>,
}

impl Domain {
    /// From the cluster's tasks, at `now_ms`.
    pub(super) fn new(
        cluster: &str,
        tasks: &[TaskView],
        min_instances: usize,
        now_ms: i64,
    ) -> Self {
        let mut jobs: BTreeMap<String, JobTasks> = BTreeMap::new();
        for task in tasks {
            let production = task.task_config.as_ref().is_some_and(|c| c.production());
            let Some(host) = &task.host else { continue };
            if !production || !task.status.is_live() {
                continue;
            }
            let uptime = task
                .events
                .iter()
                .find(|(_, status)| *status == ScheduleStatus::Running)
                .map(|(at, _)| (now_ms - at.as_millis()).div_euclid(1000));
            jobs.entry(format!("{cluster}/{}", task.job))
                .or_default()
                .tasks
                .push((host.clone(), uptime));
        }
        jobs.retain(|_, job| job.tasks.len() >= min_instances);
        let mut jobs_by_host: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (key, job) in &jobs {
            for (host, _) in &job.tasks {
                jobs_by_host
                    .entry(host.clone())
                    .or_default()
                    .insert(key.clone());
            }
        }
        Self { jobs, jobs_by_host }
    }

    /// Hosts whose tasks could all be killed now with every affected job still within its
    /// limit (`overrides` by job key, else `default`), each with its jobs' projections;
    /// only hosts in `include` when it is not empty.
    pub(super) fn safe_hosts(
        &self,
        default: Limit,
        overrides: &BTreeMap<String, Limit>,
        include: &BTreeSet<String>,
    ) -> Vec<(String, Vec<Projected>)> {
        let mut safe = Vec::new();
        'hosts: for (host, jobs) in &self.jobs_by_host {
            if !include.is_empty() && !include.contains(host) {
                continue;
            }
            let down = BTreeSet::from([host.clone()]);
            let mut projected = Vec::new();
            for job in jobs {
                let limit = overrides.get(job).copied().unwrap_or(default);
                let (percentage, _) = self.jobs[job].without(&down, limit.duration_secs);
                if percentage < limit.percentage {
                    continue 'hosts;
                }
                projected.push(Projected {
                    host: host.clone(),
                    job: job.clone(),
                    percentage,
                    limit,
                    safe_in: Some(0),
                });
            }
            safe.push((host.clone(), projected));
        }
        safe
    }

    /// For each of `hosts` that runs counted tasks: every affected job's SLA with that host
    /// down, whether it stays within `limit`, and when it would again.
    pub(super) fn probe(&self, hosts: &BTreeSet<String>, limit: Limit) -> Vec<Projected> {
        let mut out = Vec::new();
        for host in hosts {
            let Some(jobs) = self.jobs_by_host.get(host) else {
                continue;
            };
            let down = BTreeSet::from([host.clone()]);
            for job in jobs {
                let tasks = &self.jobs[job];
                let (percentage, remaining) = tasks.without(&down, limit.duration_secs);
                let safe_in = if percentage >= limit.percentage {
                    Some(0)
                } else {
                    wait_to_sla(&remaining, tasks.tasks.len(), limit)
                };
                out.push(Projected {
                    host: host.clone(),
                    job: job.clone(),
                    percentage,
                    limit,
                    safe_in,
                });
            }
        }
        out
    }
}

/// `sla_list_safe_domain`'s options.
#[derive(Debug, clap::Args)]
pub(super) struct SafeDomainArgs {
    /// Hosts to leave out of the result (comma-separated).
    #[arg(short = 'x', long = "exclude_hosts")]
    exclude_hosts: Option<String>,
    /// A file of hosts (one per line) to leave out of the result.
    #[arg(short = 'X', long = "exclude_file")]
    exclude_file: Option<std::path::PathBuf>,
    /// Only these hosts (comma-separated).
    #[arg(short = 'i', long = "include_hosts")]
    include_hosts: Option<String>,
    /// Only the hosts in this file (one per line).
    #[arg(short = 'I', long = "include_file")]
    include_file: Option<std::path::PathBuf>,
    /// Also list each host's affected jobs: HOST JOB PREDICTED_SLA DURATION_SECONDS.
    #[arg(short = 'l', long = "list_jobs")]
    list_jobs: bool,
    #[command(flatten)]
    common: CommonArgs,
    /// Per-job SLAs, one "cluster/role/env/job percentage duration" per line.
    #[arg(short = 'o', long = "override_file")]
    override_file: Option<std::path::PathBuf>,
}

/// `sla_probe_hosts`' host options.
#[derive(Debug, clap::Args)]
pub(super) struct ProbeArgs {
    /// Hosts to probe (comma-separated).
    #[arg(long)]
    hosts: Option<String>,
    /// A file of hosts to probe (one per line).
    #[arg(long)]
    filename: Option<std::path::PathBuf>,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, clap::Args)]
struct CommonArgs {
    /// How hosts are grouped; Aurora's client ships only by_host.
    #[arg(long, default_value = BY_HOST)]
    grouping: String,
    /// Jobs with fewer counted instances are left out.
    #[arg(long = "min_job_instance_count", default_value_t = 2)]
    min_job_instance_count: usize,
}

impl CommonArgs {
    fn check(&self) -> CliResult {
        if self.grouping != BY_HOST {
            return Err(CliError::invalid_parameter(format!(
                "Unknown grouping function {}. Must be one of: {BY_HOST}",
                self.grouping
            )));
        }
        Ok(())
    }
}

/// Aurora's `parse_sla_percentage`: a number within (0, 100].
fn percentage(text: &str) -> CliResult<f64> {
    match text.trim().parse::<f64>() {
        Ok(value) if value > 0.0 && value <= 100.0 => Ok(value),
        _ => Err(CliError::invalid_parameter(format!(
            "Invalid percentage {text}. Must be within (0, 100]."
        ))),
    }
}

fn duration(text: &str) -> CliResult<i64> {
    let secs = crate::time::parse_duration_secs(text)
        .map_err(|e| CliError::invalid_parameter(format!("duration {text:?}: {e}")))?;
    Ok(i64::try_from(secs).unwrap_or(i64::MAX))
}

fn limit(percentage_text: &str, duration_text: &str) -> CliResult<Limit> {
    Ok(Limit {
        percentage: percentage(percentage_text)?,
        duration_secs: duration(duration_text)?,
    })
}

/// Host names from a comma-separated list and a file of one per line.
fn host_names(list: Option<&str>, file: Option<&std::path::Path>) -> CliResult<BTreeSet<String>> {
    let mut names: BTreeSet<String> = list
        .into_iter()
        .flat_map(|l| l.split(','))
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .collect();
    if let Some(file) = file {
        let text = std::fs::read_to_string(file).map_err(|e| {
            CliError::invalid_parameter(format!("cannot read {}: {e}", file.display()))
        })?;
        names.extend(
            text.lines()
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(str::to_string),
        );
    }
    Ok(names)
}

/// An override file: `cluster/role/env/job percentage duration` per line.
fn overrides(file: &std::path::Path) -> CliResult<BTreeMap<String, Limit>> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| CliError::invalid_parameter(format!("cannot read {}: {e}", file.display())))?;
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        let [job, pct, dur] = tokens.as_slice() else {
            return Err(CliError::invalid_parameter(format!(
                "Invalid line in {}:{line}",
                file.display()
            )));
        };
        if job.split('/').count() != 4 {
            return Err(CliError::invalid_parameter(format!(
                "Invalid line in {}:{line} (a job is cluster/role/env/name)",
                file.display()
            )));
        }
        out.insert((*job).to_string(), limit(pct, dur)?);
    }
    Ok(out)
}

fn live_tasks(ctx: &Context, cluster: &str) -> CliResult<Vec<TaskView>> {
    let states: Vec<String> = <ScheduleStatus as strum::IntoEnumIterator>::iter()
        .filter(|status| status.is_live())
        .map(|status| status.to_string())
        .collect();
    ctx.client(cluster)?.get(&format!(
        "/api/v1/tasks?statuses={}&configs=true",
        states.join(",")
    ))
}

/// The cluster's production jobs now, as `common` counts them.
fn live_domain(ctx: &Context, cluster: &str, common: &CommonArgs) -> CliResult<Domain> {
    let tasks = live_tasks(ctx, cluster)?;
    Ok(Domain::new(
        cluster,
        &tasks,
        common.min_job_instance_count,
        now_ms(),
    ))
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

pub(super) fn list_safe_domain(
    ctx: &Context,
    cluster: &str,
    percentage_text: &str,
    duration_text: &str,
    args: &SafeDomainArgs,
) -> CliResult {
    args.common.check()?;
    let default = limit(percentage_text, duration_text)?;
    let exclude = host_names(args.exclude_hosts.as_deref(), args.exclude_file.as_deref())?;
    let include = host_names(args.include_hosts.as_deref(), args.include_file.as_deref())?;
    let overrides = match &args.override_file {
        Some(file) => overrides(file)?,
        None => BTreeMap::new(),
    };
    let domain = live_domain(ctx, cluster, &args.common)?;
    for (host, jobs) in domain.safe_hosts(default, &overrides, &include) {
        if exclude.contains(&host) {
            continue;
        }
        if !args.list_jobs {
            println!("{host}");
            continue;
        }
        for p in jobs {
            println!(
                "{}\t{}\t{:.2}\t{}",
                p.host, p.job, p.percentage, p.limit.duration_secs
            );
        }
    }
    Ok(())
}

pub(super) fn probe_hosts(
    ctx: &Context,
    cluster: &str,
    percentage_text: &str,
    duration_text: &str,
    args: &ProbeArgs,
) -> CliResult {
    args.common.check()?;
    let wanted = limit(percentage_text, duration_text)?;
    let hosts = host_names(args.hosts.as_deref(), args.filename.as_deref())?;
    if hosts.is_empty() {
        return Err(CliError::invalid_parameter(
            "give the hosts to probe with --hosts or --filename",
        ));
    }
    let domain = live_domain(ctx, cluster, &args.common)?;
    for p in domain.probe(&hosts, wanted) {
        let safe = if p.safe_in == Some(0) {
            "True"
        } else {
            "False"
        };
        let safe_in = p
            .safe_in
            .map_or_else(|| "n/a".to_string(), |s| s.to_string());
        println!(
            "{}\t{}\t{:.2}\t{safe}\t{safe_in}",
            p.host, p.job, p.percentage
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tasks(list: &[(&str, Option<i64>)]) -> JobTasks {
        JobTasks {
            tasks: list.iter().map(|(h, u)| ((*h).to_string(), *u)).collect(),
        }
    }

    fn domain(jobs: &[(&str, JobTasks)]) -> Domain {
        let mut d = Domain::default();
        for (key, job) in jobs {
            for (host, _) in &job.tasks {
                d.jobs_by_host
                    .entry(host.clone())
                    .or_default()
                    .insert((*key).to_string());
            }
            d.jobs.insert((*key).to_string(), job.clone());
        }
        d
    }

    #[test]
    fn a_host_is_safe_while_every_job_on_it_stays_within_its_sla() {
        // web: 4 instances up an hour, one per host; db: 2 instances on h1 and h2, one of
        // them up only a minute.
        let web = tasks(&[
            ("h1", Some(3600)),
            ("h2", Some(3600)),
            ("h3", Some(3600)),
            ("h4", Some(3600)),
        ]);
        let db = tasks(&[("h1", Some(3600)), ("h2", Some(60))]);
        let d = domain(&[("c/r/prod/web", web), ("c/r/prod/db", db)]);
        let seventy_five = Limit {
            percentage: 75.0,
            duration_secs: 1800,
        };
        let none = BTreeSet::new();
        let safe: Vec<String> = d
            .safe_hosts(seventy_five, &BTreeMap::new(), &none)
            .into_iter()
            .map(|(h, _)| h)
            .collect();
        // h1 down leaves db at 0 % up for 30 min; h2 down leaves it at 50 %.
        assert_eq!(safe, ["h3", "h4"]);
        let lenient = BTreeMap::from([(
            "c/r/prod/db".to_string(),
            Limit {
                percentage: 50.0,
                duration_secs: 1800,
            },
        )]);
        let safe: Vec<String> = d
            .safe_hosts(seventy_five, &lenient, &none)
            .into_iter()
            .map(|(h, _)| h)
            .collect();
        assert_eq!(safe, ["h2", "h3", "h4"]);

        let probed = d.probe(&BTreeSet::from(["h2".to_string()]), seventy_five);
        let db = probed.iter().find(|p| p.job == "c/r/prod/db").unwrap();
        assert_eq!(db.percentage, 50.0);
        // 2 instances at 75 % need both up 30 min; with h2 down only one is left: never.
        assert_eq!(db.safe_in, None);
        let web = probed.iter().find(|p| p.job == "c/r/prod/web").unwrap();
        assert_eq!((web.percentage, web.safe_in), (75.0, Some(0)));
    }

    #[test]
    fn the_wait_to_sla_is_until_enough_instances_have_been_up_long_enough() {
        let limit = Limit {
            percentage: 50.0,
            duration_secs: 600,
        };
        // 4 instances, 50 % → 2 must be up 10 min; the second longest has been up 400 s, for 200 s more.
        assert_eq!(wait_to_sla(&[100, 400, 500], 4, limit), Some(200));
        assert_eq!(wait_to_sla(&[700, 800], 4, limit), Some(0));
        assert_eq!(wait_to_sla(&[100], 4, limit), None);
    }
}
