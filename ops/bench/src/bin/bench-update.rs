//! A rolling update of a large service, from outside, as an operator would run it: one real
//! `aurora-scheduler` (release build, RocksDB journal), `aurora-hollow-agents` simulating the
//! agents, a service of N instances all RUNNING, then one update of every instance to a changed
//! config (more RAM), in groups of G, rolled back on the first failure. It prints, measured:
//!
//! - the update's wall time, as the client saw it (start request → ROLLED_FORWARD seen) and as
//!   the update's own events record it (ROLLING_FORWARD → ROLLED_FORWARD);
//! - how many batches it took (the distinct moments at which instances were started);
//! - the events it wrote (the journal's `last_seq` before and after);
//! - the scheduler's own work meanwhile, from the deltas of its `/metrics` summaries: deciding
//!   (all commands, and `advance_updates` alone, per call and per batch), appending to the
//!   journal and folding (the apply loop), and their sum as a share of the wall time, against
//!   the goal of under 5%; and which commands the appends (an fsync each) came from.
//!
//! Agents keep a work poll open, so kills and launches reach them at once; a replacement task
//! waits PENDING for the next scheduling pass, which runs every timer round (500 ms). The
//! printed gaps between batch starts show how much of a batch that is.
//!
//! Usage: bench-update --bin-dir target/release [--instances 1000 --batch-size 50 ...]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aurora_bench::{Process, free_port};
use aurora_events::update::{UpdateSettings, UpdateStrategy};
use aurora_events::{InstanceUpdateAction, UpdateStatus};
use clap::{Parser, ValueEnum};
use serde_json::{Value, json};

#[derive(Debug, Parser)]
#[command(about = "A rolling update of a large service: wall time and the scheduler's share")]
struct Args {
    /// Where aurora-scheduler and aurora-hollow-agents are (a release build).
    #[arg(long)]
    bin_dir: PathBuf,
    /// Hollow agents.
    #[arg(long, default_value_t = 100)]
    agents: u32,
    /// Instances of the service updated.
    #[arg(long, default_value_t = 1000)]
    instances: u32,
    /// How the update groups instances.
    #[arg(long, value_enum, default_value_t = Strategy::Batch)]
    strategy: Strategy,
    /// Instances per group (a batch, or the queue's width).
    #[arg(long, default_value_t = 50)]
    batch_size: u32,
    /// How long an updated instance must stay RUNNING to count as updated
    /// (`min_wait_in_instance_running_ms`).
    #[arg(long, default_value_t = 0)]
    watch_ms: u64,
    /// Milliseconds between one hollow agent's heartbeats (kills and launches do not wait for
    /// them: the agents keep a work poll open).
    #[arg(long, default_value_t = 1000)]
    heartbeat_ms: u64,
    /// Give up on the update (and fail) after this long.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Strategy {
    /// Keep up to `--batch-size` instances in flight.
    Queue,
    /// Start the next `--batch-size` instances when the previous ones are done.
    Batch,
}

const ROLE: &str = "bench";
const JOB: &str = "bench/prod/svc";
/// What each hollow agent answers a launch with: healthy (RUNNING) 100 ms after launch. Given
/// explicitly so that a change of the agents' default does not silently change the figures.
const SCRIPT: &str = "STARTING@0ms,RUNNING@100ms";
/// Cpus per task and the executor's overhead the scheduler adds to each.
const TASK_CPUS: f64 = 0.1;
const OVERHEAD_CPUS: f64 = 0.25;
/// RAM of the running config and of the config the update installs.
const RAM_BEFORE_MB: u64 = 16;
const RAM_AFTER_MB: u64 = 32;
/// How often the client asks whether the update finished (the client's wall time is at most
/// this much late).
const POLL: Duration = Duration::from_millis(50);

fn spawn(
    name: &'static str,
    binary: &Path,
    args: &[String],
    log: &Path,
) -> anyhow::Result<Process> {
    let log = std::fs::File::create(log)?;
    let child = Command::new(binary)
        .args(args)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    Ok(Process { name, child })
}

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut request = match method {
            "GET" => self.http.get(&url),
            "PUT" => self.http.put(&url),
            _ => self.http.post(&url),
        }
        .header("x-aurora-user", "bench");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.with_context(|| url.clone())?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("{method} {path}: {status}: {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn metrics(&self) -> anyhow::Result<Metrics> {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await?
            .text()
            .await?;
        Ok(Metrics(
            text.lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| {
                    let (name, value) = l.rsplit_once(' ')?;
                    Some((name.to_string(), value.parse().ok()?))
                })
                .collect(),
        ))
    }

    async fn last_seq(&self) -> anyhow::Result<u64> {
        let info = self.send("GET", "/api/v1/journal", None).await?;
        info["last_seq"]
            .as_u64()
            .with_context(|| format!("no last_seq in {info}"))
    }
}

/// One scrape of `/metrics`: each series (name with labels) and its value.
struct Metrics(BTreeMap<String, f64>);

impl Metrics {
    fn get(&self, series: &str) -> f64 {
        self.0.get(series).copied().unwrap_or(0.0)
    }

    /// A summary's `_sum` and `_count` (`labels` as printed, e.g. `{command="tick"}`, or "").
    fn summary(&self, name: &str, labels: &str) -> Spent {
        Spent {
            secs: self.get(&format!("{name}_sum{labels}")),
            count: self.get(&format!("{name}_count{labels}")),
        }
    }

    /// The `command` label values of a summary.
    fn commands(&self, name: &str) -> BTreeSet<String> {
        let prefix = format!("{name}_sum{{command=\"");
        self.0
            .keys()
            .filter_map(|series| series.strip_prefix(&prefix)?.strip_suffix("\"}"))
            .map(str::to_string)
            .collect()
    }
}

/// Time recorded by a summary and how many samples it took.
#[derive(Debug, Clone, Copy, Default)]
struct Spent {
    secs: f64,
    count: f64,
}

impl Spent {
    fn since(self, before: Spent) -> Spent {
        Spent {
            secs: self.secs - before.secs,
            count: self.count - before.count,
        }
    }

    fn add(self, other: Spent) -> Spent {
        Spent {
            secs: self.secs + other.secs,
            count: self.count + other.count,
        }
    }

    fn mean_ms(self) -> f64 {
        if self.count > 0.0 {
            1000.0 * self.secs / self.count
        } else {
            0.0
        }
    }
}

/// A production service's config whose tasks take `TASK_CPUS` and `ram_mb`.
fn service(ram_mb: u64) -> Value {
    let mut config = aurora_events::samples::task_config();
    config.sla_policy = None;
    config.job = JOB.parse().expect("a valid job key");
    config.tier = aurora_events::Tier::Preferred;
    config.is_service = true;
    config.resources.cpus = TASK_CPUS;
    config.resources.ram_mb = ram_mb;
    config.resources.disk_mb = 16;
    config.resources.ports.clear();
    config.constraints.clear();
    config.health_check = None;
    config.lifecycle = None;
    serde_json::to_value(config).expect("a config serialises")
}

/// CPU time (user + system) of process `pid`, in seconds.
fn process_cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Polls `what` every 100 ms until it holds, failing after `limit`.
async fn wait_until(
    limit: Duration,
    what: &str,
    mut check: impl AsyncFnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    while !check().await? {
        anyhow::ensure!(started.elapsed() < limit, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(started.elapsed())
}

/// What the finished update's details show.
struct Record {
    /// ROLLING_FORWARD → the terminal status, from the update's own events (ms).
    event_wall_ms: i64,
    statuses: Vec<String>,
    /// Distinct moments at which instances were started: one decision starts a whole batch
    /// (or, for a queue, whatever slots had freed), all with that decision's timestamp.
    batches: usize,
    /// Milliseconds from one batch's start to the next's, in order.
    gaps: Vec<i64>,
    /// How often each instance was updated (should be once each).
    updated: BTreeMap<u64, u32>,
    failed: usize,
}

fn record(details: &Value) -> anyhow::Result<Record> {
    let events = details["update_events"]
        .as_array()
        .context("no update_events")?;
    let at = |e: &Value| e["at"].as_i64().unwrap_or(0);
    let (Some(first), Some(last)) = (events.first(), events.last()) else {
        bail!("an update without events: {details}");
    };
    let statuses = events
        .iter()
        .map(|e| e["status"].as_str().unwrap_or("?").to_string())
        .collect();
    let mut starts = BTreeSet::new();
    let mut updated = BTreeMap::new();
    let mut failed = 0;
    for event in details["instance_events"]
        .as_array()
        .context("no instance_events")?
    {
        let action: InstanceUpdateAction = serde_json::from_value(event["action"].clone())?;
        match action {
            InstanceUpdateAction::InstanceUpdating => {
                starts.insert(at(event));
            }
            InstanceUpdateAction::InstanceUpdated => {
                *updated
                    .entry(event["instance"].as_u64().unwrap_or(u64::MAX))
                    .or_default() += 1;
            }
            InstanceUpdateAction::InstanceUpdateFailed
            | InstanceUpdateAction::InstanceRollingBack
            | InstanceUpdateAction::InstanceRolledBack
            | InstanceUpdateAction::InstanceRollbackFailed => failed += 1,
        }
    }
    Ok(Record {
        event_wall_ms: at(last) - at(first),
        statuses,
        batches: starts.len(),
        gaps: starts
            .iter()
            .zip(starts.iter().skip(1))
            .map(|(a, b)| b - a)
            .collect(),
        updated,
        failed,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.batch_size > 0, "--batch-size must be at least 1");
    anyhow::ensure!(args.agents > 0, "--agents must be at least 1");
    let scheduler_bin = args.bin_dir.join("aurora-scheduler");
    let hollow_bin = args.bin_dir.join("aurora-hollow-agents");
    let work = tempfile::Builder::new()
        .prefix(".bench-update-")
        .tempdir()?;
    let data = work.path().join("data");
    // Room for twice an agent's share, so that a replacement always fits somewhere while the
    // instance it replaces is still being killed.
    let per_agent = args.instances.div_ceil(args.agents);
    let agent_cpus = f64::from(2 * per_agent) * (TASK_CPUS + OVERHEAD_CPUS) + 0.1;
    let strategy = match args.strategy {
        Strategy::Queue => UpdateStrategy::Queue {
            group_size: args.batch_size,
        },
        Strategy::Batch => UpdateStrategy::Batch {
            group_size: args.batch_size,
            autopause_after_batch: false,
        },
    };
    println!(
        "bench-update: {} hollow agents (heartbeat every {} ms, tasks RUNNING 100 ms after \
         launch); a {}-instance service updated from {RAM_BEFORE_MB} to {RAM_AFTER_MB} MiB of \
         RAM, {:?} of {}, watch {} ms, rollback on failure, no failures tolerated",
        args.agents,
        args.heartbeat_ms,
        args.instances,
        args.strategy,
        args.batch_size,
        args.watch_ms
    );

    let init = Command::new(&scheduler_bin)
        .args(["--init", "--cluster", "bench", "--data-dir"])
        .arg(&data)
        .output()
        .with_context(|| format!("running {}", scheduler_bin.display()))?;
    anyhow::ensure!(
        init.status.success(),
        "init: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    let port = free_port()?;
    let scheduler = spawn(
        "aurora-scheduler",
        &scheduler_bin,
        &[
            "--insecure-no-auth".into(),
            "--data-dir".into(),
            data.display().to_string(),
            "--http-port".into(),
            port.to_string(),
            // A replaced instance ends soon after it started; that is the update's doing, not
            // a flapping task, and must not hold its replacement back.
            "--flapping-task-threshold-secs".into(),
            "0".into(),
        ],
        &work.path().join("scheduler.log"),
    )?;
    let api = Api {
        http: aurora_net::default_client(),
        base: format!("http://127.0.0.1:{port}"),
    };
    wait_until(
        Duration::from_secs(30),
        "the scheduler to come up",
        async || Ok(api.send("GET", "/api/v1/journal", None).await.is_ok()),
    )
    .await?;
    let hollow = spawn(
        "aurora-hollow-agents",
        &hollow_bin,
        &[
            "--scheduler".into(),
            api.base.clone(),
            "--count".into(),
            args.agents.to_string(),
            "--cpus".into(),
            format!("{agent_cpus:.3}"),
            "--ram-mb".into(),
            "65536".into(),
            "--disk-mb".into(),
            "1000000".into(),
            "--racks".into(),
            "10".into(),
            "--heartbeat-ms".into(),
            args.heartbeat_ms.to_string(),
            "--script".into(),
            SCRIPT.into(),
        ],
        &work.path().join("hollow.log"),
    )?;
    let agents = f64::from(args.agents);
    wait_until(
        Duration::from_secs(120),
        "the agents to register",
        async || Ok(api.metrics().await?.get("aurora_agents{lost=\"false\"}") >= agents),
    )
    .await?;
    // Enough quota for the old and the new config side by side.
    let instances = f64::from(args.instances);
    api.send(
        "PUT",
        &format!("/api/v1/quota/{ROLE}"),
        Some(json!({
            "cpus": 4.0 * instances * TASK_CPUS,
            "ram_mb": 1u64 << 40,
            "disk_mb": 1u64 << 40,
        })),
    )
    .await?;
    api.send(
        "POST",
        "/api/v1/jobs",
        Some(json!({"job": JOB, "config": service(RAM_BEFORE_MB), "instances": args.instances})),
    )
    .await?;
    let took = wait_until(
        Duration::from_secs(300),
        "every instance RUNNING",
        async || Ok(api.metrics().await?.get("aurora_tasks{state=\"RUNNING\"}") >= instances),
    )
    .await?;
    println!(
        "create → all {} RUNNING: {:.1} s",
        args.instances,
        took.as_secs_f64()
    );
    // Let what creating the job set going (timer rounds, the last reports) settle first.
    tokio::time::sleep(Duration::from_secs(1)).await;

    // The update.
    let settings = UpdateSettings {
        strategy,
        max_per_instance_failures: 0,
        max_failed_instances: 0,
        min_wait_in_instance_running_ms: args.watch_ms,
        rollback_on_failure: true,
        update_only_these_instances: vec![],
        block_if_no_pulses_after_ms: None,
        sla_aware: false,
    };
    let request = json!({
        "config": service(RAM_AFTER_MB),
        "instances": args.instances,
        "settings": serde_json::to_value(&settings)?,
    });
    let pid = scheduler.child.id();
    let seq_before = api.last_seq().await?;
    let before = api.metrics().await?;
    let cpu_before = process_cpu_secs(pid);
    let started = Instant::now();
    let answer = api
        .send("POST", &format!("/api/v1/jobs/{JOB}/update"), Some(request))
        .await?;
    let Some(id) = answer["id"].as_str().map(str::to_string) else {
        bail!("no update started: {answer}");
    };
    // The job's update list (small), not the details (every instance's events, hundreds of
    // KiB at this size), is what is polled: the polling should not add to the scheduler's load.
    let limit = Duration::from_secs(args.timeout_secs);
    let mut last_report = Instant::now();
    let status = loop {
        let listed = api
            .send("GET", &format!("/api/v1/jobs/{JOB}/updates"), None)
            .await?;
        let summary = listed
            .as_array()
            .and_then(|all| all.iter().find(|u| u["id"] == id.as_str()))
            .with_context(|| format!("update {id} not listed: {listed}"))?;
        let status: UpdateStatus = serde_json::from_value(summary["status"].clone())?;
        if status.is_terminal() {
            break status;
        }
        if started.elapsed() > limit {
            bail!(
                "the update is still {status} after {} s (logs in {})",
                args.timeout_secs,
                work.keep().display()
            );
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            eprintln!(
                "  … {:.0} s: {status}, {} tasks RUNNING",
                started.elapsed().as_secs_f64(),
                api.metrics().await?.get("aurora_tasks{state=\"RUNNING\"}")
            );
            last_report = Instant::now();
        }
        tokio::time::sleep(POLL).await;
    };
    let wall = started.elapsed();
    let after = api.metrics().await?;
    let cpu_after = process_cpu_secs(pid);
    let seq_after = api.last_seq().await?;
    let details = api
        .send("GET", &format!("/api/v1/updates/{JOB}/{id}"), None)
        .await?;
    let record = record(&details)?;
    if status != UpdateStatus::RolledForward {
        bail!(
            "the update ended {status}, not ROLLED_FORWARD: {:?}, {} instance failures or \
             rollbacks (logs in {})",
            record.statuses,
            record.failed,
            work.keep().display()
        );
    }
    let once_each =
        record.updated.len() == args.instances as usize && record.updated.values().all(|&n| n == 1);

    let wall_secs = wall.as_secs_f64();
    let events = seq_after - seq_before;
    println!("results:");
    println!(
        "  wall time, client (start request → ROLLED_FORWARD seen, polled every {} ms): {wall_secs:.2} s",
        POLL.as_millis()
    );
    println!(
        "  wall time, the update's events ({}): {:.2} s",
        record.statuses.join(" → "),
        record.event_wall_ms as f64 / 1000.0
    );
    println!(
        "  batches: {} (distinct moments instances were started), {:.2} s each on average",
        record.batches,
        wall_secs / record.batches.max(1) as f64
    );
    let mut gaps = record.gaps.clone();
    gaps.sort_unstable();
    if let (Some(first), Some(last)) = (gaps.first(), gaps.last()) {
        println!(
            "  from one batch's start to the next: min {first} ms, median {} ms, max {last} ms",
            gaps[gaps.len() / 2]
        );
    }
    println!(
        "  instances updated: {}{}",
        record.updated.len(),
        if once_each {
            " (each exactly once)"
        } else {
            " (NOT each exactly once)"
        }
    );
    println!(
        "  events written: {events} (journal last_seq {seq_before} → {seq_after}), {:.1} per instance",
        events as f64 / instances
    );

    let decide = "aurora_leader_decide_seconds";
    let mut per_command: Vec<(String, Spent)> = after
        .commands(decide)
        .into_iter()
        .map(|command| {
            let labels = format!("{{command=\"{command}\"}}");
            let spent = after
                .summary(decide, &labels)
                .since(before.summary(decide, &labels));
            (command, spent)
        })
        .filter(|(_, spent)| spent.count > 0.0)
        .collect();
    per_command.sort_by(|a, b| b.1.secs.total_cmp(&a.1.secs));
    let deciding = per_command
        .iter()
        .fold(Spent::default(), |total, (_, spent)| total.add(*spent));
    let advancing = per_command
        .iter()
        .find(|(command, _)| command == "advance_updates")
        .map_or(Spent::default(), |(_, spent)| *spent);
    let appending = after
        .summary("aurora_journal_append_seconds", "")
        .since(before.summary("aurora_journal_append_seconds", ""));
    let applying = after
        .summary("aurora_apply_seconds", "")
        .since(before.summary("aurora_apply_seconds", ""));
    let share = |secs: f64| 100.0 * secs / wall_secs;
    println!("  the scheduler's work during the update (deltas of its /metrics summaries):");
    println!(
        "    decide, every command     {:>8.3} s  {:>5.2}%  n={}",
        deciding.secs,
        share(deciding.secs),
        deciding.count
    );
    for (command, spent) in &per_command {
        println!(
            "      {command:<22}  {:>8.3} s  {:>5.2}%  n={:<6} mean {:.3} ms",
            spent.secs,
            share(spent.secs),
            spent.count,
            spent.mean_ms()
        );
    }
    println!(
        "    journal append            {:>8.3} s  {:>5.2}%  n={:<6} mean {:.3} ms",
        appending.secs,
        share(appending.secs),
        appending.count,
        appending.mean_ms()
    );
    // Status reports are decided in batches, one append per step; whatever else was appended
    // came from the scheduler's own commands (mostly the update controller's turns, which are
    // not steps of their own).
    let step = "aurora_leader_step_seconds";
    let labels = "{command=\"status_update\"}";
    let report_steps = after
        .summary(step, labels)
        .since(before.summary(step, labels))
        .count;
    let reports = per_command
        .iter()
        .find(|(command, _)| command == "status_update")
        .map_or(0.0, |(_, spent)| spent.count);
    println!(
        "      {report_steps} appends of status reports ({reports} reports, {:.1} per append); \
         {} of the scheduler's own commands and users' requests",
        reports / report_steps.max(1.0),
        appending.count - report_steps
    );
    println!(
        "    apply (the fold)          {:>8.3} s  {:>5.2}%  n={:<6} mean {:.3} ms",
        applying.secs,
        share(applying.secs),
        applying.count,
        applying.mean_ms()
    );
    let total = deciding.secs + appending.secs + applying.secs;
    let met = share(total) < 5.0;
    println!(
        "    decide + append + apply   {total:>8.3} s  {:>5.2}% of the wall time (goal < 5%: {})",
        share(total),
        if met { "met" } else { "NOT met" }
    );
    println!(
        "  advance_updates decide: {} calls, mean {:.3} ms, {:.3} ms per batch",
        advancing.count,
        advancing.mean_ms(),
        1000.0 * advancing.secs / record.batches.max(1) as f64
    );
    // The exporter's quantiles cover its sliding window (three 20 s buckets), not exactly the
    // update: only an update shorter than 40 s lies wholly inside it, and the window may then
    // also hold idle rounds from before the update.
    let quantile = |q: &str| {
        1000.0
            * after.get(&format!(
                "aurora_leader_decide_seconds{{command=\"advance_updates\",quantile=\"{q}\"}}"
            ))
    };
    println!(
        "  advance_updates decide over the exporter's last 40–60 s{}: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        if wall_secs < 40.0 {
            " (the whole update and some idle rounds before it)"
        } else {
            " (the update's end only)"
        },
        quantile("0.5"),
        quantile("0.99"),
        quantile("1")
    );
    if let (Some(a), Some(b)) = (cpu_before, cpu_after) {
        println!(
            "  scheduler process CPU over the update: {:.2} s ({:.1}% of one core; HTTP, \
             heartbeats and reads included)",
            b - a,
            share(b - a)
        );
    }
    drop(hollow);
    drop(scheduler);
    Ok(())
}
