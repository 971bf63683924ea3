//! The leader under a large backlog, from outside, as an operator would see it: one real
//! `aurora-scheduler` (release build, RocksDB journal), `aurora-hollow-agents` simulating N
//! agents, a probe job, then J production services of T/J instances each, sized so that a
//! share of them cannot fit and stays PENDING. It prints:
//!
//! - create → all placeable RUNNING: time and tasks/s;
//! - during the backlog (placement, then a steady period with the unplaceable tasks still
//!   pending): p50/p99/max latency of single-instance kills (of the probe job's running
//!   instances), job-status reads (the task list of one big service, as `aurora job status`
//!   asks for it), job-list reads and agent heartbeats (of a probe agent the benchmark runs);
//! - the leader's time per activity (the scheduler's `aurora_leader_step_seconds` per command)
//!   as a share of the window, and the process's CPU share;
//! - how many agents were declared lost (goal: none);
//! - how long every agent took to register at the start, and to register again (with the
//!   tasks it runs, which the leader reconciles) after the scheduler restarts on its journal.
//!
//! The services are production tasks and the preemption delay is short, so pending tasks
//! search for victims (and find none: every task is production) throughout the backlog.
//!
//! Usage: bench-scale --bin-dir target/release [--agents 1000 --tasks 40000 ...]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aurora_bench::{Process, free_port, latency_histogram, ms};
use clap::Parser;
use hdrhistogram::Histogram;
use serde_json::{Value, json};

#[derive(Debug, Parser)]
#[command(about = "The leader's responsiveness under a large unplaceable backlog")]
struct Args {
    /// Where aurora-scheduler and aurora-hollow-agents are (a release build).
    #[arg(long)]
    bin_dir: PathBuf,
    /// Hollow agents.
    #[arg(long, default_value_t = 1000)]
    agents: u32,
    /// Instances across the big services.
    #[arg(long, default_value_t = 40_000)]
    tasks: u32,
    /// How many services share them.
    #[arg(long, default_value_t = 10)]
    jobs: u32,
    /// Of the big services' tasks, how many cannot fit anywhere.
    #[arg(long, default_value_t = 18_000)]
    unplaceable: u32,
    /// Instances of the probe job whose single-instance kills are timed.
    #[arg(long, default_value_t = 200)]
    probe_instances: u32,
    /// After everything placeable runs, keep probing this long with the backlog pending.
    #[arg(long, default_value_t = 20)]
    steady_secs: u64,
    /// Give up waiting for placement after this long.
    #[arg(long, default_value_t = 900)]
    timeout_secs: u64,
    /// The scheduler's preemption delay: waiting production tasks look for victims after
    /// this long (Aurora's default is 180 s; short, so the search runs during the backlog).
    #[arg(long, default_value_t = 5)]
    preemption_delay_secs: u64,
}

/// Cpus per task and the executor's overhead the scheduler adds to each.
const TASK_CPUS: f64 = 0.1;
const OVERHEAD_CPUS: f64 = 0.25;
const ROLE: &str = "bench";

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

#[derive(Clone)]
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

    async fn metrics(&self) -> anyhow::Result<BTreeMap<String, f64>> {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await?
            .text()
            .await?;
        Ok(text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (name, value) = l.rsplit_once(' ')?;
                Some((name.to_string(), value.parse().ok()?))
            })
            .collect())
    }
}

fn metric(metrics: &BTreeMap<String, f64>, name: &str) -> f64 {
    metrics.get(name).copied().unwrap_or(0.0)
}

/// The config of a production service of `job` whose tasks take `TASK_CPUS`.
fn service(job: &str) -> Value {
    let mut config = aurora_events::samples::task_config();
    config.sla_policy = None;
    config.job = job.parse().expect("valid job key");
    config.tier = aurora_events::Tier::Preferred;
    config.is_service = true;
    config.resources.cpus = TASK_CPUS;
    config.resources.ram_mb = 16;
    config.resources.disk_mb = 16;
    config.resources.ports.clear();
    config.constraints.clear();
    config.health_check = None;
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

/// Latencies probed concurrently while the backlog lasts.
#[derive(Default)]
struct Probes {
    kills: Option<Histogram<u64>>,
    status: Option<Histogram<u64>>,
    list: Option<Histogram<u64>>,
    heartbeats: Option<Histogram<u64>>,
    errors: u64,
}

async fn timed(
    histogram: &mut Histogram<u64>,
    call: impl Future<Output = anyhow::Result<Value>>,
) -> bool {
    let began = Instant::now();
    let ok = call.await.is_ok();
    histogram.saturating_record(began.elapsed().as_micros() as u64);
    ok
}

/// Runs the probes until `stop`: one kill of the next probe instance every 250 ms, a job
/// status read every 500 ms, a job list every 250 ms, a probe-agent heartbeat every 100 ms.
async fn probe(api: Api, instances: u32, stop: Arc<AtomicBool>) -> Probes {
    let kills = {
        let (api, stop) = (api.clone(), Arc::clone(&stop));
        tokio::spawn(async move {
            let mut h = latency_histogram();
            let mut errors = 0;
            for instance in 0..instances {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let body = json!({"instances": [instance], "message": "bench probe"});
                if !timed(
                    &mut h,
                    api.send("POST", "/api/v1/jobs/bench/prod/probe/kill", Some(body)),
                )
                .await
                {
                    errors += 1;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            (h, errors)
        })
    };
    let every = |period: Duration, path: &'static str, method: &'static str| {
        let (api, stop) = (api.clone(), Arc::clone(&stop));
        tokio::spawn(async move {
            let mut h = latency_histogram();
            let mut errors = 0;
            while !stop.load(Ordering::Relaxed) {
                if !timed(&mut h, api.send(method, path, None)).await {
                    errors += 1;
                }
                tokio::time::sleep(period).await;
            }
            (h, errors)
        })
    };
    let status = every(
        Duration::from_millis(500),
        "/api/v1/jobs/bench/prod/svc0/tasks",
        "GET",
    );
    let list = every(Duration::from_millis(250), "/api/v1/jobs?role=bench", "GET");
    let heartbeats = every(
        Duration::from_millis(100),
        "/api/v1/agents/bench-probe/heartbeat",
        "POST",
    );
    let mut probes = Probes::default();
    for (slot, task) in [
        (&mut probes.kills, kills),
        (&mut probes.status, status),
        (&mut probes.list, list),
        (&mut probes.heartbeats, heartbeats),
    ] {
        if let Ok((h, errors)) = task.await {
            *slot = Some(h);
            probes.errors += errors;
        }
    }
    probes
}

fn line(what: &str, h: Option<&Histogram<u64>>) {
    match h {
        Some(h) if !h.is_empty() => println!(
            "  {what:<34} n={:<5} p50 {:>9} ms  p99 {:>9} ms  max {:>9} ms",
            h.len(),
            ms(h.value_at_quantile(0.50)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max())
        ),
        _ => println!("  {what:<34} (no samples)"),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let scheduler_bin = args.bin_dir.join("aurora-scheduler");
    let hollow_bin = args.bin_dir.join("aurora-hollow-agents");
    let work = tempfile::Builder::new().prefix(".bench-scale-").tempdir()?;
    let data = work.path().join("data");
    let placeable = args.tasks - args.unplaceable.min(args.tasks);
    // Every agent holds the same number of tasks; the last agents' share rounds up.
    let per_agent = (placeable + args.probe_instances).div_ceil(args.agents.max(1));
    // Room for `per_agent` tasks, not one more.
    let agent_cpus = f64::from(per_agent) * (TASK_CPUS + OVERHEAD_CPUS) + 0.1;
    println!(
        "bench-scale: {} hollow agents of {agent_cpus:.2} cpus ({per_agent} tasks each); {} \
         services of {} instances ({} placeable, {} cannot fit); a {}-instance probe job",
        args.agents,
        args.jobs,
        args.tasks / args.jobs.max(1),
        placeable,
        args.unplaceable,
        args.probe_instances
    );

    let init = Command::new(&scheduler_bin)
        .args(["--init", "--cluster", "bench", "--data-dir"])
        .arg(&data)
        .output()?;
    anyhow::ensure!(
        init.status.success(),
        "init: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    let port = free_port()?;
    let scheduler_args: [String; 7] = [
        "--insecure-no-auth".into(),
        "--data-dir".into(),
        data.display().to_string(),
        "--http-port".into(),
        port.to_string(),
        "--preemption-delay-secs".into(),
        args.preemption_delay_secs.to_string(),
    ];
    let scheduler = spawn(
        "aurora-scheduler",
        &scheduler_bin,
        &scheduler_args,
        &work.path().join("scheduler.log"),
    )?;
    let api = Api {
        http: aurora_net::default_client(),
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while api.send("GET", "/api/v1/journal", None).await.is_err() {
        anyhow::ensure!(Instant::now() < deadline, "the scheduler did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _hollow = spawn(
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
            "20".into(),
        ],
        &work.path().join("hollow.log"),
    )?;
    let registering = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let live = metric(&api.metrics().await?, "aurora_agents{lost=\"false\"}");
        if live >= f64::from(args.agents) {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "only {live} agents registered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let registered_in = registering.elapsed();
    // The probe agent: registered with no room, so nothing is placed on it; its heartbeats are
    // timed.
    api.send(
        "POST",
        "/api/v1/agents/register",
        Some(json!({
            "agent": "bench-probe", "host": "bench-probe",
            "capacity": {"cpus": 0.0, "ram_mb": 0, "disk_mb": 0, "gpus": 0, "port_ranges": []},
            "attributes": [], "endpoint": "", "running": []
        })),
    )
    .await?;
    let total_cpus = f64::from(args.tasks + args.probe_instances) * TASK_CPUS * 2.0;
    api.send(
        "PUT",
        &format!("/api/v1/quota/{ROLE}"),
        Some(json!({"cpus": total_cpus, "ram_mb": 1u64 << 40, "disk_mb": 1u64 << 40})),
    )
    .await?;
    api.send(
        "POST",
        "/api/v1/jobs",
        Some(json!({"job": "bench/prod/probe", "config": service("bench/prod/probe"), "instances": args.probe_instances})),
    )
    .await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let running = metric(&api.metrics().await?, "aurora_tasks{state=\"RUNNING\"}");
        if running >= f64::from(args.probe_instances) {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "the probe job did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The backlog.
    let pid = scheduler.child.id();
    let before = api.metrics().await?;
    let cpu_before = process_cpu_secs(pid);
    let stop = Arc::new(AtomicBool::new(false));
    let probing = tokio::spawn(probe(api.clone(), args.probe_instances, Arc::clone(&stop)));
    let started = Instant::now();
    let per_job = args.tasks / args.jobs.max(1);
    let mut creates = latency_histogram();
    for j in 0..args.jobs {
        let job = format!("{ROLE}/prod/svc{j}");
        let began = Instant::now();
        api.send(
            "POST",
            "/api/v1/jobs",
            Some(json!({"job": job, "config": service(&job), "instances": per_job})),
        )
        .await?;
        creates.saturating_record(began.elapsed().as_micros() as u64);
    }
    let placeable_running = f64::from(placeable);
    let deadline = started + Duration::from_secs(args.timeout_secs);
    let mut placed_in = None;
    let mut last_report = Instant::now();
    while placed_in.is_none() {
        let m = api.metrics().await?;
        let running = metric(&m, "aurora_tasks{state=\"RUNNING\"}");
        // Probe instances killed meanwhile no longer run: count only the services'.
        let probe_left =
            f64::from(args.probe_instances) - metric(&m, "aurora_tasks{state=\"KILLED\"}");
        if running - probe_left.max(0.0) >= placeable_running {
            placed_in = Some(started.elapsed());
        } else if Instant::now() > deadline {
            println!("  gave up after {} s: {running} RUNNING", args.timeout_secs);
            break;
        } else if last_report.elapsed() > Duration::from_secs(10) {
            eprintln!(
                "  … {:.0} s: {running} RUNNING, {} PENDING",
                started.elapsed().as_secs_f64(),
                metric(&m, "aurora_tasks{state=\"PENDING\"}")
            );
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(args.steady_secs)).await;
    stop.store(true, Ordering::Relaxed);
    let window = started.elapsed();
    let after = api.metrics().await?;
    let cpu_after = process_cpu_secs(pid);
    let probes = probing.await?;

    println!("results:");
    match placed_in {
        Some(took) => println!(
            "  create → all {placeable} placeable RUNNING: {:.1} s ({:.0} tasks/s)",
            took.as_secs_f64(),
            f64::from(placeable) / took.as_secs_f64()
        ),
        None => println!(
            "  not every placeable task ran within {} s",
            args.timeout_secs
        ),
    }
    line(&format!("create job ({per_job} instances)"), Some(&creates));
    line("kill one instance", probes.kills.as_ref());
    line(
        &format!("job status read ({per_job} tasks)"),
        probes.status.as_ref(),
    );
    line("job list read", probes.list.as_ref());
    line("agent heartbeat", probes.heartbeats.as_ref());
    println!("  probe errors: {}", probes.errors);
    let window_secs = window.as_secs_f64();
    if let (Some(a), Some(b)) = (cpu_before, cpu_after) {
        println!(
            "  scheduler CPU over the {window_secs:.1} s window: {:.2} cores",
            (b - a) / window_secs
        );
    }
    println!("  leader time per activity (share of the window):");
    let mut shares: Vec<(String, f64)> = after
        .iter()
        .filter_map(|(name, value)| {
            let command = name
                .strip_prefix("aurora_leader_step_seconds_sum{command=\"")?
                .strip_suffix("\"}")?;
            let spent = value - metric(&before, name);
            (spent > 0.0).then(|| (command.to_string(), spent))
        })
        .collect();
    shares.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (command, spent) in shares {
        let longest = metric(
            &after,
            &format!("aurora_leader_step_seconds{{command=\"{command}\",quantile=\"1\"}}"),
        );
        let deciding = metric(
            &after,
            &format!("aurora_leader_decide_seconds{{command=\"{command}\",quantile=\"1\"}}"),
        );
        println!(
            "    {command:<22} {spent:>8.2} s  {:>5.1}%  (longest step {:.1} ms, of which deciding {:.1} ms)",
            100.0 * spent / window_secs,
            longest * 1000.0,
            deciding * 1000.0
        );
    }
    let applying =
        metric(&after, "aurora_apply_seconds_sum") - metric(&before, "aurora_apply_seconds_sum");
    println!(
        "    (apply loop            {applying:>8.2} s  {:>5.1}%, longest batch {:.1} ms; longest journal append {:.1} ms)",
        100.0 * applying / window_secs,
        1000.0 * metric(&after, "aurora_apply_seconds{quantile=\"1\"}"),
        1000.0 * metric(&after, "aurora_journal_append_seconds{quantile=\"1\"}"),
    );
    println!(
        "    (write-model checkpoints: {}, longest encode {:.1} ms)",
        metric(&after, "aurora_checkpoint_encode_seconds_count")
            - metric(&before, "aurora_checkpoint_encode_seconds_count"),
        1000.0 * metric(&after, "aurora_checkpoint_encode_seconds{quantile=\"1\"}"),
    );
    let lost = metric(&after, "aurora_agents_lost_total");
    println!("  agents declared lost: {lost}");
    println!(
        "  {} agents registered at the start in {:.2} s",
        args.agents,
        registered_in.as_secs_f64()
    );

    // A restart on the same journal: every agent registers again with the tasks it runs,
    // and each registration reconciles them, as after a leader change.
    drop(scheduler);
    let restarted = Instant::now();
    let scheduler = spawn(
        "aurora-scheduler",
        &scheduler_bin,
        &scheduler_args,
        &work.path().join("scheduler-restarted.log"),
    )?;
    let deadline = restarted + Duration::from_secs(300);
    let mut answering = None;
    loop {
        if let Ok(m) = api.metrics().await {
            answering.get_or_insert_with(|| restarted.elapsed());
            let registrations = metric(
                &m,
                "aurora_leader_decide_seconds_count{command=\"register_agent\"}",
            );
            if registrations >= f64::from(args.agents) {
                break;
            }
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the agents did not register again within 300 s of the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let answering = answering.unwrap_or_default();
    let again = restarted.elapsed();
    let m = api.metrics().await?;
    println!(
        "  after a restart: answering in {:.2} s, all {} agents registered again {:.2} s after \
         that (in {} leader steps); agents declared lost: {}",
        answering.as_secs_f64(),
        args.agents,
        (again - answering).as_secs_f64(),
        metric(
            &m,
            "aurora_leader_step_seconds_count{command=\"register_agent\"}"
        ),
        metric(&m, "aurora_agents_lost_total"),
    );
    drop(_hollow);
    drop(scheduler);
    Ok(())
}
