//! Probes a real `aurora-scheduler` for the faults issue 12's campaign found, and prints what
//! it does on each (and exits 1 if any check fails):
//!
//! - live-event clients: the rate of quota changes with no `/events/stream` client, then with
//!   1,000 clients trying to connect (goal: at least 50% of the rate without clients);
//! - an instance spec of 3,300 ranges of 100,000 instances is refused at once, and `/health`
//!   stays quick;
//! - a full disk (the data directory on a 512 MiB tmpfs, filled): writes are refused with a
//!   503 naming the full disk, the process stays up past the 5 s after which RocksDB used to
//!   abort it, and writes resume once space is freed (needs root, to mount the tmpfs).
//!
//! Usage: probe --bin-dir target/release

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aurora_bench::{Process, free_port};
use clap::Parser;
use serde_json::json;

#[derive(Debug, Parser)]
#[command(about = "Probe a real scheduler for the faults of issue 12")]
struct Args {
    /// Where aurora-scheduler is (a release build).
    #[arg(long)]
    bin_dir: PathBuf,
    /// Live-event clients that try to connect.
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// Seconds each write-rate measurement lasts.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
}

async fn start(bin: &Path, data: &Path, log: &Path) -> anyhow::Result<(Process, String)> {
    let init = Command::new(bin)
        .args(["--init", "--data-dir"])
        .arg(data)
        .output()?;
    anyhow::ensure!(
        init.status.success(),
        "init: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    let port = free_port()?;
    let child = Command::new(bin)
        // The probe measures the scheduler's robustness, not authentication.
        .args(["--insecure-no-auth", "--data-dir"])
        .arg(data)
        .args(["--http-port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log)?)
        .spawn()?;
    let scheduler = Process {
        name: "aurora-scheduler",
        child,
    };
    let base = format!("http://127.0.0.1:{port}");
    let http = aurora_net::default_client();
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{base}/health")).send().await.is_err() {
        anyhow::ensure!(Instant::now() < deadline, "the scheduler did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok((scheduler, base))
}

/// Quota changes per second, one after another, for `seconds`.
async fn write_rate(http: &reqwest::Client, base: &str, seconds: u64) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut done = 0u64;
    while started.elapsed() < Duration::from_secs(seconds) {
        let quota = json!({"cpus": 1.0, "ram_mb": done % 1000 + 1, "disk_mb": 1});
        let response = http
            .put(format!("{base}/api/v1/quota/probe"))
            .json(&quota)
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "quota set: {}",
            response.status()
        );
        done += 1;
    }
    Ok(done as f64 / started.elapsed().as_secs_f64())
}

struct Report {
    failed: bool,
}

impl Report {
    fn check(&mut self, ok: bool, what: &str) {
        println!("  [{}] {what}", if ok { "ok" } else { "FAIL" });
        self.failed |= !ok;
    }
}

async fn live_clients(args: &Args, report: &mut Report) -> anyhow::Result<()> {
    let work = tempfile::Builder::new().prefix(".probe-").tempdir()?;
    let (_scheduler, base) = start(
        &args.bin_dir.join("aurora-scheduler"),
        &work.path().join("data"),
        &work.path().join("scheduler.log"),
    )
    .await?;
    let http = aurora_net::default_client();
    let alone = write_rate(&http, &base, args.seconds).await?;
    let mut streams = Vec::new();
    let mut refused = 0;
    for _ in 0..args.clients {
        // One client each, as browsers would be.
        let client = aurora_net::default_client();
        match client.get(format!("{base}/events/stream")).send().await {
            Ok(mut response) if response.status().is_success() => {
                streams.push(tokio::spawn(async move {
                    while let Ok(Some(_)) = response.chunk().await {}
                }));
            }
            Ok(response) if response.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE => {
                refused += 1;
            }
            Ok(response) => bail!("unexpected answer {}", response.status()),
            Err(e) => bail!("connecting a live client: {e}"),
        }
    }
    let crowded = write_rate(&http, &base, args.seconds).await?;
    println!(
        "live-event clients: {} connected, {refused} refused; quota changes {alone:.0}/s alone, \
         {crowded:.0}/s with them ({:.0}%)",
        streams.len(),
        100.0 * crowded / alone
    );
    report.check(
        crowded >= 0.5 * alone,
        "writes keep at least half their rate with the clients",
    );
    report.check(
        refused > 0 || args.clients <= 256,
        "clients beyond the cap are refused",
    );
    for stream in streams {
        stream.abort();
    }

    // The probe's oversized range list.
    let spec: Vec<String> = (0..3300u32)
        .map(|i| format!("{}-{}", i * 100_000, i * 100_000 + 99_999))
        .collect();
    let began = Instant::now();
    let response = http
        .get(format!("{base}/api/v1/tasks?instances={}", spec.join(",")))
        .send()
        .await?;
    let took = began.elapsed();
    println!(
        "oversized instance spec: {} in {:.1} ms",
        response.status(),
        took.as_secs_f64() * 1000.0
    );
    report.check(
        response.status() == reqwest::StatusCode::BAD_REQUEST && took < Duration::from_secs(1),
        "a spec naming 330 million instances is refused at once",
    );
    Ok(())
}

/// A tmpfs mounted on `at`, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

async fn full_disk(args: &Args, report: &mut Report) -> anyhow::Result<()> {
    let work = tempfile::Builder::new().prefix(".probe-").tempdir()?;
    let disk = work.path().join("disk");
    std::fs::create_dir(&disk)?;
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=512m", "tmpfs"])
        .arg(&disk)
        .status()?;
    if !mounted.success() {
        println!("full disk: skipped (mounting a tmpfs needs root)");
        return Ok(());
    }
    let _tmpfs = Tmpfs(disk.clone());
    let (mut scheduler, base) = start(
        &args.bin_dir.join("aurora-scheduler"),
        &disk.join("data"),
        &work.path().join("scheduler.log"),
    )
    .await?;
    let http = aurora_net::default_client();
    write_rate(&http, &base, 1).await?;
    let filler = disk.join("filler");
    {
        let mut file = std::fs::File::create(&filler)?;
        let chunk = vec![0u8; 1 << 20];
        while file.write_all(&chunk).is_ok() {}
    }
    let refused = http
        .put(format!("{base}/api/v1/quota/probe"))
        .json(&json!({"cpus": 1.0, "ram_mb": 7, "disk_mb": 1}))
        .send()
        .await?;
    let status = refused.status();
    let body = refused.text().await?;
    println!("full disk: a write answered {status}: {body}");
    report.check(
        status == reqwest::StatusCode::SERVICE_UNAVAILABLE && body.contains("is full"),
        "writes are refused, naming the full disk",
    );
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let failures = metrics
        .lines()
        .find_map(|line| line.strip_prefix("aurora_journal_append_failures_total "))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    report.check(
        failures >= 1.0,
        "the refused write counts in aurora_journal_append_failures_total",
    );
    tokio::time::sleep(Duration::from_secs(7)).await;
    report.check(scheduler.alive(), "the scheduler is still up 7 s later");
    std::fs::remove_file(&filler)?;
    let resumed = write_rate(&http, &base, 1).await;
    report.check(resumed.is_ok(), "writes resume once space is freed");
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut report = Report { failed: false };
    println!("probe: {}", args.bin_dir.display());
    live_clients(&args, &mut report)
        .await
        .context("probing live-event clients")?;
    full_disk(&args, &mut report)
        .await
        .context("probing a full disk")?;
    if report.failed {
        bail!("a check failed");
    }
    Ok(())
}
