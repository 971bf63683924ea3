//! Measures the replicated journal (aurora-raft) against etcd, its peer anchor, under the same
//! load: 1, 16 and 256 concurrent appenders, appends/s and p50/p99 latency for each, and the
//! ratios. Run by `ops/bench-journal --replicas N`.
//!
//! - **Ours:** N Raft replicas in this process, each with its own RocksDB data directory and
//!   its own loopback HTTP port; their Raft RPCs go over HTTP as between machines, without
//!   process isolation. Appenders call the leader's `RaftJournal::append` directly.
//! - **etcd:** N `etcd` member processes on loopback (Debian's `etcd-server`, as shipped),
//!   data directories beside ours on the same disk; clients PUT through its JSON gateway to
//!   the leader, values the size of one encoded event.
//! - **Equal durability:** both sync each member's Raft log before an entry counts towards a
//!   quorum (etcd syncs its WAL by default, and nothing here turns that off).
//! - **One fsync round:** the latency of a synced small RocksDB write on the same disk, the
//!   floor that an acknowledged append at low load cannot beat.
//!
//! Both systems are driven by the same loop ([`drive`]) in this process; every process it
//! starts is stopped when the benchmark ends, on error or signal too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aurora_bench::{Process, free_port, latency_histogram};
use aurora_events::{Actor, PendingEvent, codec, samples};
use aurora_journal::{Append, Clock, Journal, Precondition, SystemClock, Term};
use aurora_raft::{RaftJournal, Replica, Router, Storage, Timeouts};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::Parser;
use hdrhistogram::Histogram;
use tokio::task::JoinHandle;

#[derive(Debug, Parser)]
#[command(about = "Replicated journal against an etcd cluster of the same size, same load")]
struct Args {
    /// Replicas in our cluster, and members in etcd's.
    #[arg(long, default_value_t = 3)]
    replicas: u64,
    /// Directory to benchmark in (a fresh subdirectory is made and removed). Must be on the disk
    /// you care about; defaults to the current directory.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Concurrency levels (concurrent appenders, each waiting for its append before the next).
    #[arg(long, value_delimiter = ',', default_value = "1,16,256")]
    levels: Vec<usize>,
    /// The etcd server binary.
    #[arg(long, default_value = "etcd")]
    etcd: PathBuf,
    /// Also show where an append's time goes at one appender (the replicas' timeline marks,
    /// recorded during that measurement; `--levels` must include 1).
    #[arg(long)]
    timeline: bool,
}

/// The goals of issue 14.
const THROUGHPUT_GOAL: f64 = 10.0;
const LOW_LOAD_P99_GOAL: f64 = 2.0;
/// Synced writes timed for the fsync round.
const FSYNC_SAMPLES: usize = 500;

struct Figures {
    per_sec: f64,
    p50_us: u64,
    p99_us: u64,
}

impl Figures {
    fn of(count: u64, elapsed: Duration, histogram: &Histogram<u64>) -> Self {
        Self {
            per_sec: count as f64 / elapsed.as_secs_f64(),
            p50_us: histogram.value_at_quantile(0.50),
            p99_us: histogram.value_at_quantile(0.99),
        }
    }
}

/// A representative event: a task state change with a message, as the scheduler writes most
/// (the same as `bench-journal`'s).
fn sample_event() -> PendingEvent {
    let event = samples::events()
        .into_iter()
        .find(|e| e.kind() == aurora_events::EventKind::TaskStateChanged)
        .expect("samples hold every kind");
    PendingEvent::new(Actor::Scheduler, event)
}

/// What the appenders write to.
enum Target {
    /// The leader's journal, in the term it leads in.
    Ours {
        journal: RaftJournal,
        term: Term,
        template: Box<PendingEvent>,
    },
    /// etcd's leader, through its JSON gateway.
    Etcd {
        client: reqwest::Client,
        put_url: String,
        value: String,
    },
}

impl Target {
    /// One acknowledged write; `appender` and `n` make etcd's key unique, as each of our
    /// appends is a new event.
    async fn write(&self, appender: usize, n: u64) -> anyhow::Result<()> {
        match self {
            Self::Ours {
                journal,
                term,
                template,
            } => {
                let event = PendingEvent {
                    id: aurora_events::EventId::now_v7(),
                    ..(**template).clone()
                };
                // Independent appenders: each appends at the end rather than naming the seq
                // it follows, so the leader may group them.
                let append =
                    Append::new(Precondition::at_end(*term), SystemClock.now(), vec![event]);
                journal.append(append).await?;
            }
            Self::Etcd {
                client,
                put_url,
                value,
            } => {
                let key = BASE64.encode(format!("bench/{appender}/{n}"));
                let body = serde_json::json!({"key": key, "value": value});
                let response = client.post(put_url).json(&body).send().await?;
                let status = response.status();
                // The gateway answers errors (no leader, too many requests) in the body of a
                // non-2xx answer; a put counts only when it succeeded.
                if !status.is_success() {
                    bail!("etcd put answered {status}: {}", response.text().await?);
                }
                response.bytes().await?;
            }
        }
        Ok(())
    }
}

/// `appenders` concurrent loops, each writing and waiting for the acknowledgement, for
/// `duration`; the rate of acknowledged writes and their latency.
async fn drive(
    target: &Arc<Target>,
    appenders: usize,
    duration: Duration,
) -> anyhow::Result<Figures> {
    let target = Arc::clone(target);
    let driven = aurora_bench::drive(appenders, duration, move |appender, n| {
        let target = Arc::clone(&target);
        async move { target.write(appender, n).await }
    })
    .await?;
    Ok(Figures::of(driven.count, driven.elapsed, &driven.histogram))
}

/// One fsync round on this disk: synced RocksDB writes of one encoded event, one at a time.
fn fsync_round(dir: &Path, bytes: &[u8]) -> anyhow::Result<Figures> {
    let mut opts = rocksdb::Options::default();
    opts.create_if_missing(true);
    let db = rocksdb::DB::open(&opts, dir)?;
    let mut write_opts = rocksdb::WriteOptions::default();
    write_opts.set_sync(true);
    let mut histogram = latency_histogram();
    let start = Instant::now();
    for n in 0..FSYNC_SAMPLES as u64 {
        let began = Instant::now();
        db.put_opt(n.to_be_bytes(), bytes, &write_opts)?;
        histogram.saturating_record(began.elapsed().as_micros() as u64);
    }
    Ok(Figures::of(
        FSYNC_SAMPLES as u64,
        start.elapsed(),
        &histogram,
    ))
}

/// Our cluster: the replicas and the servers of their Raft routes.
#[derive(Default)]
struct Ours {
    replicas: Vec<Replica>,
    servers: Vec<JoinHandle<()>>,
    /// Each replica's id and data directory.
    dirs: Vec<(u64, PathBuf)>,
}

impl Ours {
    /// Starts `n` replicas with data in `dir/<id>`, initialises the cluster through replica 1
    /// and returns the leader's journal. What started is in `self` even if this fails, for
    /// [`Self::stop`].
    async fn start(&mut self, dir: &Path, n: u64) -> anyhow::Result<RaftJournal> {
        let cluster = "bench";
        let mut listeners = BTreeMap::new();
        let mut peers = BTreeMap::new();
        for id in 1..=n {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            peers.insert(
                id,
                format!("http://127.0.0.1:{}", listener.local_addr()?.port()),
            );
            listeners.insert(id, listener);
        }
        let router = Router::http(cluster, peers, Duration::from_secs(2));
        // The scheduler's timeouts: with elections at 700–1400 ms, a loaded 2-core machine
        // does not mistake a late heartbeat for a dead leader in the middle of a measurement.
        let timeouts = Timeouts {
            heartbeat: Duration::from_millis(100),
            election: (Duration::from_millis(700), Duration::from_millis(1_400)),
            append: Duration::from_secs(10),
            claim: Duration::from_secs(10),
        };
        for (id, listener) in listeners {
            let data = dir.join(id.to_string());
            let storage = Storage::open(&data, id, aurora_raft::Origin::Founding)?;
            self.dirs.push((id, data));
            let replica = Replica::start(id, &storage, &router, timeouts.clone()).await?;
            let routes = aurora_raft::http::routes(&replica, cluster);
            // Served as the scheduler serves its port.
            self.servers.push(tokio::spawn(aurora_net::serve(
                listener,
                routes,
                aurora_net::Limits::default(),
                None,
                std::future::pending(),
            )));
            self.replicas.push(replica);
        }
        let members: BTreeSet<_> = (1..=n).collect();
        let journal =
            RaftJournal::initialise(&self.replicas[0], members, cluster, SystemClock.now()).await?;
        Ok(journal)
    }

    /// Stops the replicas and their servers, and waits until their storage is let go.
    async fn stop(&mut self) {
        for server in self.servers.drain(..) {
            server.abort();
        }
        for replica in self.replicas.drain(..) {
            if let Err(e) = replica.shutdown().await {
                eprintln!("{e}");
            }
        }
        // A replica's tasks may still be applying (a follower opening its journal, say) after
        // its shutdown returns; they would write into the directory as it is removed. Once its
        // storage can be opened again, nothing holds it (RocksDB's lock).
        let deadline = Instant::now() + Duration::from_secs(10);
        for (id, dir) in self.dirs.drain(..) {
            while let Err(e) = Storage::open(&dir, id, aurora_raft::Origin::Founding) {
                if Instant::now() > deadline {
                    eprintln!("replica {id} still holds its storage: {e}");
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// etcd's cluster: its member processes (stopped when dropped) and their client URLs.
struct Etcd {
    members: Vec<Process>,
    clients: Vec<String>,
    logs: PathBuf,
}

impl Etcd {
    /// Starts `n` members with data and logs in `dir`, and waits until they have a leader.
    async fn start(binary: &Path, dir: &Path, n: u64) -> anyhow::Result<Self> {
        let mut ports = Vec::new();
        for _ in 0..n {
            ports.push((free_port()?, free_port()?));
        }
        let initial_cluster = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("m{}=http://127.0.0.1:{peer}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        std::fs::create_dir_all(dir)?;
        let mut etcd = Self {
            members: Vec::new(),
            clients: Vec::new(),
            logs: dir.to_path_buf(),
        };
        for (i, (client, peer)) in ports.iter().enumerate() {
            let name = format!("m{}", i + 1);
            let log = std::fs::File::create(dir.join(format!("{name}.log")))?;
            let client_url = format!("http://127.0.0.1:{client}");
            let peer_url = format!("http://127.0.0.1:{peer}");
            let child = Command::new(binary)
                .arg(format!("--name={name}"))
                .arg(format!("--data-dir={}", dir.join(&name).display()))
                .arg(format!("--listen-client-urls={client_url}"))
                .arg(format!("--advertise-client-urls={client_url}"))
                .arg(format!("--listen-peer-urls={peer_url}"))
                .arg(format!("--initial-advertise-peer-urls={peer_url}"))
                .arg(format!("--initial-cluster={initial_cluster}"))
                .arg("--initial-cluster-state=new")
                .arg(format!(
                    "--initial-cluster-token=bench-{}",
                    std::process::id()
                ))
                .arg("--logger=zap")
                .arg("--log-level=warn")
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .with_context(|| {
                    format!(
                        "cannot start {} (Debian: apt-get install etcd-server)",
                        binary.display()
                    )
                })?;
            etcd.members.push(Process {
                name: "etcd",
                child,
            });
            etcd.clients.push(client_url);
        }
        etcd.wait_healthy(Duration::from_secs(30)).await?;
        Ok(etcd)
    }

    /// The tail of every member's log, for an error.
    fn log_tails(&self) -> String {
        let mut out = String::new();
        for i in 1..=self.members.len() {
            let path = self.logs.join(format!("m{i}.log"));
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let tail: Vec<_> = text.lines().rev().take(5).collect();
            out.push_str(&format!("\n--- {} (last lines)\n", path.display()));
            for line in tail.into_iter().rev() {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    /// Fails, with the members' logs, if one of them has exited.
    fn check_alive(&mut self) -> anyhow::Result<()> {
        if self.members.iter_mut().all(Process::alive) {
            return Ok(());
        }
        bail!("an etcd member exited{}", self.log_tails())
    }

    async fn wait_healthy(&mut self, wait: Duration) -> anyhow::Result<()> {
        let client = aurora_net::ClientTls::default()
            .builder()?
            .timeout(Duration::from_secs(2))
            .build()?;
        let deadline = Instant::now() + wait;
        loop {
            self.check_alive()?;
            let mut healthy = 0;
            for url in &self.clients {
                let answer = client.get(format!("{url}/health")).send().await;
                if let Ok(response) = answer
                    && let Ok(body) = response.json::<serde_json::Value>().await
                    && body["health"] == "true"
                {
                    healthy += 1;
                }
            }
            if healthy == self.clients.len() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "etcd not healthy within {wait:?} ({healthy} of {} members){}",
                    self.clients.len(),
                    self.log_tails()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The leader's client URL: clients that write to a follower pay a forwarding hop that
    /// our appenders, at the leader, do not.
    async fn leader(&self, client: &reqwest::Client) -> anyhow::Result<String> {
        for url in &self.clients {
            let status: serde_json::Value = client
                .post(format!("{url}/v3/maintenance/status"))
                .json(&serde_json::json!({}))
                .send()
                .await?
                .json()
                .await?;
            let member = &status["header"]["member_id"];
            if !member.is_null() && *member == status["leader"] {
                return Ok(url.clone());
            }
        }
        bail!("no etcd member says it leads")
    }
}

/// The first line of `etcd --version`.
fn etcd_version(binary: &Path) -> String {
    Command::new(binary)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| {
            let first = text.lines().next()?;
            Some(first.replace("etcd Version: ", "etcd "))
        })
        .unwrap_or_else(|| "etcd (version unknown)".into())
}

fn row(name: &str, f: &Figures) {
    println!(
        "{name:<24} {:>10.0} {:>10} {:>10}",
        f.per_sec, f.p50_us, f.p99_us
    );
}

/// Everything, in the temporary directory `work`; our replicas are left in `ours` to stop.
async fn measure(args: &Args, work: &Path, ours: &mut Ours) -> anyhow::Result<()> {
    let duration = Duration::from_secs_f64(args.seconds);
    let n = args.replicas;
    if args.timeline && !args.levels.contains(&1) {
        bail!("--timeline records at one appender: --levels must include 1");
    }
    let timeline = if args.timeline {
        Some(aurora_bench::timeline::Recorder::install()?)
    } else {
        None
    };
    let template = sample_event();
    let bytes = codec::encode(&template.clone().commit(1, aurora_events::Timestamp(0)));

    let fsync_dir = work.join("fsync");
    let fsync_bytes = bytes.clone();
    let fsync =
        tokio::task::spawn_blocking(move || fsync_round(&fsync_dir, &fsync_bytes)).await??;

    let journal = ours.start(&work.join("ours"), n).await?;
    let term = journal.claim_leadership().await?;
    let leader = journal.replica().id();
    let ours_target = Arc::new(Target::Ours {
        journal,
        term,
        template: Box::new(template),
    });
    let mut etcd = Etcd::start(&args.etcd, &work.join("etcd"), n).await?;
    // Many connections at 256 clients: reqwest keeps one per request in flight.
    let client = aurora_net::ClientTls::default()
        .builder()?
        .timeout(Duration::from_secs(10))
        .build()?;
    let etcd_leader = etcd.leader(&client).await?;
    let etcd_target = Arc::new(Target::Etcd {
        client,
        put_url: format!("{etcd_leader}/v3/kv/put"),
        value: BASE64.encode(&bytes),
    });

    println!(
        "bench-replicated: {n} replicas, {}-byte events, {:.1} s per measurement, in {}",
        bytes.len(),
        args.seconds,
        work.display()
    );
    println!(
        "ours: {n} aurora-raft replicas in this process, each with its own RocksDB data \
         directory and loopback HTTP port (Raft RPCs over HTTP as between machines, without \
         process isolation); appenders call the leader's RaftJournal::append in process."
    );
    println!(
        "etcd: {}, {n} member processes on loopback, data on the same disk; clients PUT \
         {}-byte values through its JSON gateway to the leader (one more HTTP hop than ours).",
        etcd_version(&args.etcd),
        bytes.len()
    );
    println!(
        "Both sync each member's Raft log before an entry counts towards a quorum. Latencies \
         in µs."
    );
    println!();
    println!(
        "fsync round: synced {}-byte RocksDB write on this disk, {FSYNC_SAMPLES} one at a \
         time: p50 {} µs, p99 {} µs",
        bytes.len(),
        fsync.p50_us,
        fsync.p99_us
    );
    println!();
    println!(
        "{:<24} {:>10} {:>10} {:>10}",
        "measurement", "writes/s", "p50 µs", "p99 µs"
    );

    // Connections, caches and the leaders' first entries, before anything is timed.
    let warm_up = Duration::from_millis(500);
    drive(&ours_target, 16, warm_up).await?;
    drive(&etcd_target, 16, warm_up).await?;

    let mut results = Vec::new();
    for &level in &args.levels {
        // Alternating the two at each level, so that a disk whose speed drifts during the run
        // shifts both alike.
        let ours = if let Some(recorder) = timeline.as_ref().filter(|_| level == 1) {
            recorder.record(true);
            let ours = drive(&ours_target, level, duration).await;
            recorder.record(false);
            eprintln!("\n{}", recorder.report(leader));
            ours?
        } else {
            drive(&ours_target, level, duration).await?
        };
        row(&format!("ours, {level} appenders"), &ours);
        let theirs = drive(&etcd_target, level, duration).await?;
        etcd.check_alive()?;
        row(&format!("etcd, {level} clients"), &theirs);
        results.push((level, ours, theirs));
    }

    println!();
    for (level, ours, theirs) in &results {
        println!(
            "level {level:>3}: ours/etcd throughput {:.2} (goal ≥ {THROUGHPUT_GOAL}); ours p99 / etcd p99 {:.2}",
            ours.per_sec / theirs.per_sec,
            ours.p99_us as f64 / theirs.p99_us.max(1) as f64,
        );
    }
    if let Some((level, ours, _)) = results.iter().min_by_key(|(level, _, _)| *level) {
        println!(
            "ours p99 at {level} appender(s) / fsync round p50: {:.2} (goal ≤ {LOW_LOAD_P99_GOAL})",
            ours.p99_us as f64 / fsync.p50_us.max(1) as f64
        );
    }

    Ok(())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.replicas == 0 {
        bail!("--replicas must be at least 1");
    }
    let work = tempfile::Builder::new()
        .prefix(".bench-replicated-")
        .tempdir_in(&args.dir)?;
    let mut ours = Ours::default();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    // On a signal, as on an error, the measurement is dropped, which stops the etcd members,
    // rather than exiting at once, which would leave them running.
    let result = tokio::select! {
        result = measure(&args, work.path(), &mut ours) => result,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        _ = terminate.recv() => Err(anyhow::anyhow!("terminated")),
    };
    // Before the directory is removed: running replicas would write into it meanwhile.
    ours.stop().await;
    drop(work);
    result
}
