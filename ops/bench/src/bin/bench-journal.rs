//! Measures the RocksDB journal's commit throughput and latency with 1, 16 and 256 concurrent
//! appenders, and a raw RocksDB loop doing synced writes of the same bytes in batches of the same
//! sizes (the physical limit of this disk), and prints the ratios. All on one disk, in one run.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aurora_bench::{latency_histogram, ms, sample_event};
use aurora_events::{PendingEvent, codec};
use aurora_journal::{Append, Clock, Journal, Precondition, RocksJournal, SystemClock};
use clap::Parser;
use hdrhistogram::Histogram;

#[derive(Debug, Parser)]
#[command(about = "Journal commit throughput and latency against raw synced RocksDB writes")]
struct Args {
    /// Directory to benchmark in (a fresh subdirectory is made and removed). Must be on the disk
    /// you care about; defaults to the current directory.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Concurrency levels (appenders for the journal, events per write for the raw loop).
    #[arg(long, value_delimiter = ',', default_value = "1,16,256")]
    levels: Vec<usize>,
}

struct Figures {
    events_per_sec: f64,
    p50_us: u64,
    p99_us: u64,
}

/// A copy of the sample with a fresh id, as a producer would make it; building the sample list
/// anew per append would measure the samples, not the journal.
fn fresh(template: &PendingEvent) -> PendingEvent {
    PendingEvent {
        id: aurora_events::EventId::now_v7(),
        ..template.clone()
    }
}

async fn journal_run(dir: &Path, appenders: usize, duration: Duration) -> anyhow::Result<Figures> {
    let journal = RocksJournal::initialise(dir, "bench", SystemClock.now())?;
    let term = journal.claim_leadership().await?;
    let template = sample_event();
    let driven = aurora_bench::drive(appenders, duration, move |_, _| {
        let (journal, event) = (journal.clone(), fresh(&template));
        async move {
            // Independent appenders, as a benchmark of group commit: each appends at the
            // end rather than naming the seq it follows.
            let append = Append::new(Precondition::at_end(term), SystemClock.now(), vec![event]);
            journal.append(append).await?;
            Ok(())
        }
    })
    .await?;
    let (total, histogram) = (driven.count, driven.histogram);
    let elapsed = driven.elapsed.as_secs_f64();
    Ok(Figures {
        events_per_sec: total as f64 / elapsed,
        p50_us: histogram.value_at_quantile(0.50),
        p99_us: histogram.value_at_quantile(0.99),
    })
}

/// Synced writes of `per_write` pre-encoded events each, back to back, for `duration`.
fn raw_run(dir: &Path, per_write: usize, duration: Duration) -> anyhow::Result<Figures> {
    let mut opts = rocksdb::Options::default();
    opts.create_if_missing(true);
    opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
    let db = rocksdb::DB::open(&opts, dir)?;
    let mut write_opts = rocksdb::WriteOptions::default();
    write_opts.set_sync(true);
    let bytes = codec::encode(&sample_event().commit(1, aurora_events::Timestamp(0)));
    let mut histogram: Histogram<u64> = latency_histogram();
    let mut seq = 0u64;
    let start = Instant::now();
    while start.elapsed() < duration {
        let mut batch = rocksdb::WriteBatch::default();
        for _ in 0..per_write {
            seq += 1;
            batch.put(seq.to_be_bytes(), &bytes);
        }
        let began = Instant::now();
        db.write_opt(batch, &write_opts)?;
        histogram.saturating_record(began.elapsed().as_micros() as u64);
    }
    Ok(Figures {
        events_per_sec: seq as f64 / start.elapsed().as_secs_f64(),
        p50_us: histogram.value_at_quantile(0.50),
        p99_us: histogram.value_at_quantile(0.99),
    })
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let duration = Duration::from_secs_f64(args.seconds);
    let work = tempfile::Builder::new()
        .prefix(".bench-journal-")
        .tempdir_in(&args.dir)?;
    let event_bytes = codec::encode(&sample_event().commit(1, aurora_events::Timestamp(0))).len();
    println!(
        "bench-journal: {event_bytes}-byte events, {:.1} s per measurement, in {}",
        args.seconds,
        work.path().display()
    );
    println!();
    println!(
        "{:<28} {:>12} {:>10} {:>10}",
        "measurement", "events/s", "p50 ms", "p99 ms"
    );

    let mut rows = Vec::new();
    for &level in &args.levels {
        let journal = journal_run(
            &work.path().join(format!("journal-{level}")),
            level,
            duration,
        )
        .await?;
        let raw_dir = work.path().join(format!("raw-{level}"));
        let raw = tokio::task::spawn_blocking(move || raw_run(&raw_dir, level, duration)).await??;
        for (name, f) in [
            (format!("journal, {level} appenders"), &journal),
            (format!("raw, {level} events/write"), &raw),
        ] {
            println!(
                "{name:<28} {:>12.0} {:>10} {:>10}",
                f.events_per_sec,
                ms(f.p50_us),
                ms(f.p99_us)
            );
        }
        rows.push((level, journal, raw));
    }
    println!();
    for (level, journal, raw) in &rows {
        println!(
            "level {level:>3}: journal/raw throughput {:.2}; journal p99 / raw p99 {:.2}; journal p99 / raw p50 {:.2}",
            journal.events_per_sec / raw.events_per_sec,
            journal.p99_us as f64 / raw.p99_us.max(1) as f64,
            journal.p99_us as f64 / raw.p50_us.max(1) as f64,
        );
    }
    Ok(())
}
