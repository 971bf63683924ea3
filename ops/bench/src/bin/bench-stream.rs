//! The JetStream mirror under the journal's top commit rate: 256 concurrent appenders on a
//! RocksDB journal, first alone (the baseline), then with the mirror publishing to a real
//! nats-server and a reader following the stream as `aurora events tail --follow` does.
//! Prints commit rates, the mirror's publish rate and lag, and commit → delivery latency.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aurora_bench::{latency_histogram, ms, sample_event};
use aurora_events::{EventId, PendingEvent, Seq};
use aurora_journal::{Append, Clock, Journal, Precondition, RocksJournal, SystemClock};
use aurora_stream::testing::NatsServer;
use aurora_stream::{Reader, SubjectFilter, Until};
use clap::Parser;
use futures::StreamExt;

#[derive(Debug, Parser)]
#[command(about = "JetStream mirror throughput and commit-to-delivery latency")]
struct Args {
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Concurrent appenders (the journal's top commit rate needs many).
    #[arg(long, default_value_t = 256)]
    appenders: usize,
    /// Messages the mirror keeps published but unacknowledged.
    #[arg(long, default_value_t = 1024)]
    in_flight: usize,
    /// Leave the following reader out (to see the mirror's own cost).
    #[arg(long)]
    no_tail: bool,
    /// Directory for the journals (on the disk you care about).
    #[arg(long, default_value = ".")]
    dir: std::path::PathBuf,
}

/// When each seq's append was acknowledged, for the reader to measure delivery against.
type Acked = Arc<Mutex<HashMap<Seq, Instant>>>;

async fn load(
    journal: RocksJournal,
    appenders: usize,
    duration: Duration,
    acked: Option<Acked>,
) -> anyhow::Result<aurora_bench::Driven> {
    let term = journal.claim_leadership().await?;
    let template = sample_event();
    aurora_bench::drive(appenders, duration, move |_, _| {
        let journal = journal.clone();
        let event = PendingEvent {
            id: EventId::now_v7(),
            ..template.clone()
        };
        let acked = acked.clone();
        async move {
            let append = Append::new(Precondition::at_end(term), SystemClock.now(), vec![event]);
            let range = journal.append(append).await?;
            if let Some(acked) = acked {
                let now = Instant::now();
                let mut acked = acked.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
                for seq in range.first..=range.last {
                    acked.insert(seq, now);
                }
            }
            Ok(())
        }
    })
    .await
}

/// What one mirrored run measured.
struct Mirrored {
    commit_rate: f64,
    publish_rate: f64,
    lag_at_stop: u64,
    caught_up: Duration,
    delivery: hdrhistogram::Histogram<u64>,
}

/// `appenders` committing for `duration` to a fresh journal mirrored to `nats`, with a reader
/// following the stream (unless `no_tail`).
async fn mirrored_run(
    args: &Args,
    nats: &NatsServer,
    dir: &std::path::Path,
    cluster: &str,
    appenders: usize,
    duration: Duration,
) -> anyhow::Result<Mirrored> {
    let journal = RocksJournal::initialise(dir.join(cluster), cluster, SystemClock.now())?;
    let shared: Arc<dyn Journal> = Arc::new(journal.clone());
    let mut mirror = aurora_scheduler::mirror::Mirror::new(&nats.url(), cluster);
    mirror.config.in_flight = args.in_flight;
    let publisher = mirror.spawn(Arc::clone(&shared));
    let acked: Acked = Arc::new(Mutex::new(HashMap::new()));
    // The stream exists once the mirror has started; wait for its first message.
    let started = Instant::now();
    while mirror.status.published() < 1 {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(30),
            "the mirror did not start"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The follower stops once it has delivered `stop_at` (set when the writers stop). It runs
    // on a thread and a runtime of its own, as `aurora events tail` runs in a process of its
    // own: not queued behind the appenders' tasks on this runtime (the cores are shared all
    // the same).
    let stop_at = Arc::new(AtomicU64::new(u64::MAX));
    let (ready_tx, ready) = tokio::sync::oneshot::channel::<anyhow::Result<()>>();
    let (done_tx, follower) = tokio::sync::oneshot::channel();
    {
        let (acked, stop_at) = (Arc::clone(&acked), Arc::clone(&stop_at));
        let (no_tail, url, cluster) = (args.no_tail, nats.url(), cluster.to_string());
        std::thread::Builder::new()
            .name("tail".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                let runtime = match runtime {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.into()));
                        return;
                    }
                };
                let done =
                    runtime.block_on(follow(url, cluster, no_tail, acked, stop_at, ready_tx));
                let _ = done_tx.send(done);
            })?;
    }
    ready.await??;
    let publish_start = mirror.status.published();
    let acks = (!args.no_tail).then(|| Arc::clone(&acked));
    let loaded = load(journal.clone(), appenders, duration, acks).await?;
    let writers_stopped = Instant::now();
    let committed = journal.last_seq();
    stop_at.store(committed, Ordering::Release);
    let lag_at_stop = committed.saturating_sub(mirror.status.published());
    let published_during = mirror.status.published().saturating_sub(publish_start);
    while mirror.status.published() < committed {
        anyhow::ensure!(
            writers_stopped.elapsed() < Duration::from_secs(300),
            "the mirror did not catch up within 300 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let caught_up = writers_stopped.elapsed();
    let (delivery, delivered) = tokio::time::timeout(Duration::from_secs(60), follower)
        .await
        .map_err(|_| {
            anyhow::anyhow!("the follower did not reach seq {committed} within 60 s")
        })???;
    publisher.abort();
    anyhow::ensure!(
        delivered >= committed,
        "the follower stopped at seq {delivered}"
    );
    let elapsed = loaded.elapsed.as_secs_f64();
    Ok(Mirrored {
        commit_rate: loaded.count as f64 / elapsed,
        publish_rate: published_during as f64 / elapsed,
        lag_at_stop,
        caught_up,
        delivery,
    })
}

/// The follower: reads the stream from seq 2 on, as `aurora events tail --follow` does, and
/// records each event's delay since its writer's acknowledgement, until `stop_at`.
async fn follow(
    url: String,
    cluster: String,
    no_tail: bool,
    acked: Acked,
    stop_at: Arc<AtomicU64>,
    ready: tokio::sync::oneshot::Sender<anyhow::Result<()>>,
) -> anyhow::Result<(hdrhistogram::Histogram<u64>, Seq)> {
    let mut histogram = latency_histogram();
    let reader = match Reader::connect(&url, &cluster).await {
        Ok(reader) => reader,
        Err(e) => {
            let _ = ready.send(Err(anyhow::anyhow!("the follower cannot connect: {e}")));
            return Ok((histogram, 0));
        }
    };
    let mut envelopes = reader.envelopes(SubjectFilter::default(), 1, Until::Forever);
    let _ = ready.send(Ok(()));
    if no_tail {
        return Ok((histogram, u64::MAX));
    }
    let mut last = 1;
    while last < stop_at.load(Ordering::Acquire) {
        let next = tokio::time::timeout(Duration::from_millis(100), envelopes.next()).await;
        let envelope = match next {
            Err(_) => continue,
            Ok(Some(Ok(envelope))) => envelope,
            Ok(Some(Err(e))) => anyhow::bail!("the follower's read failed: {e}"),
            Ok(None) => break,
        };
        let now = Instant::now();
        last = envelope.seq;
        // Delivery can beat the writer's own acknowledgement by a hair; that counts 0.
        let acked_at = acked
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .remove(&envelope.seq);
        let micros = acked_at.map_or(0, |at| now.saturating_duration_since(at).as_micros() as u64);
        let _ = histogram.record(micros.max(1));
    }
    Ok((histogram, last))
}

fn print_delivery(label: &str, histogram: &hdrhistogram::Histogram<u64>) {
    println!(
        "{label}p50 {} ms, p99 {} ms, max {} ms over {} events",
        ms(histogram.value_at_quantile(0.50)),
        ms(histogram.value_at_quantile(0.99)),
        ms(histogram.max()),
        histogram.len()
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let duration = Duration::from_secs_f64(args.seconds);
    let dir = tempfile::tempdir_in(&args.dir)?;

    // The baseline: the journal alone.
    let alone = RocksJournal::initialise(dir.path().join("alone"), "bench", SystemClock.now())?;
    let baseline = load(alone, args.appenders, duration, None).await?;
    let baseline_rate = baseline.count as f64 / baseline.elapsed.as_secs_f64();

    let nats = NatsServer::start()?;
    let top = mirrored_run(&args, &nats, dir.path(), "top", args.appenders, duration).await?;
    let light = mirrored_run(&args, &nats, dir.path(), "light", 1, duration).await?;
    println!(
        "bench-stream: {} appenders at the top rate, 1 for the light load, {:.1} s per run, nats-server (JetStream file storage) on loopback",
        args.appenders, args.seconds
    );
    println!("journal alone:            {baseline_rate:>10.0} events/s committed");
    println!(
        "journal with the mirror:  {:>10.0} events/s committed ({:.2}x of alone)",
        top.commit_rate,
        top.commit_rate / baseline_rate
    );
    println!(
        "mirror:                   {:>10.0} events/s published during the load ({:.2}x of the commit rate); lag {} events when the writers stopped, caught up {} ms later",
        top.publish_rate,
        top.publish_rate / top.commit_rate,
        top.lag_at_stop,
        top.caught_up.as_millis()
    );
    print_delivery("commit -> tail at the top rate:  ", &top.delivery);
    println!(
        "light load (1 appender):  {:>10.0} events/s committed, mirror lag {} at the end",
        light.commit_rate, light.lag_at_stop
    );
    print_delivery("commit -> tail at the light load: ", &light.delivery);
    Ok(())
}
