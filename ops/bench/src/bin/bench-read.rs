//! Measures the read side over a generated, seeded history (default 1M events; see
//! `aurora_bench::history`): how fast the projections replay it on one core (goal: 2M events/s),
//! how fast a `History` ingests it while taking checkpoints and what those cost in memory,
//! the latency of `at(seq)` for random seqs (goal: p99 ≤ 50 ms), and the latency of the live
//! queries the pages use. Prints figures; asserts nothing.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use anyhow::Context;
use aurora_bench::history::{Shape, generate};
use aurora_bench::{
    ThreadCpu, latency_histogram, median_and_best, ms, peak_resident_kib, resident_kib,
    thread_cpu_ns,
};
use aurora_events::{Envelope, EventKind, JobKey, TaskId, Timestamp};
use aurora_projections::{Folded, History, HistoryConfig, MemoryLog, Queries, Views, ViewsConfig};
use clap::Parser;
use hdrhistogram::Histogram;
use rand::{Rng as _, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[derive(Debug, Parser)]
#[command(about = "Projection replay speed, time-travel latency and memory")]
struct Args {
    /// Events in the generated history.
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// History checkpoint interval, in events.
    #[arg(long, default_value_t = 10_000)]
    checkpoint_every: u64,
    /// Checkpoints kept before old ones are thinned out.
    #[arg(long, default_value_t = 128)]
    max_checkpoints: usize,
    /// Random seqs (and live queries) sampled for the latency figures.
    #[arg(long, default_value_t = 1_000)]
    samples: usize,
    /// Full replays timed, one after another on this thread; the median and the best of all
    /// of them are printed (by wall time and by time on a CPU).
    #[arg(long, default_value_t = 7)]
    replays: usize,
    /// Events the activity feed keeps.
    #[arg(long, default_value_t = 1_000)]
    activity: usize,
    /// Only time the replays, folding the generated events directly (no History ingest
    /// before them), then stop: for profiling the fold alone.
    #[arg(long)]
    replay_only: bool,
    /// With --replay-only: time each event and print the cost per event kind (the timer adds
    /// some 20-40 ns to each).
    #[arg(long)]
    by_kind: bool,
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn rss_growth(before: Option<u64>, after: Option<u64>) -> String {
    match (before, after) {
        (Some(before), Some(after)) => mib(after.saturating_sub(before)),
        _ => "unavailable".to_string(),
    }
}

fn percentiles(histogram: &Histogram<u64>) -> String {
    format!(
        "p50 {} ms, p99 {} ms, max {} ms",
        ms(histogram.value_at_quantile(0.5)),
        ms(histogram.value_at_quantile(0.99)),
        ms(histogram.max())
    )
}

fn record(histogram: &mut Histogram<u64>, started: Instant) {
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    // The histogram's lowest value is 1 µs.
    let _ = histogram.record(micros.max(1));
}

/// Folds the events once more, timing each, and prints the cost per kind.
fn by_kind(envelopes: &[Envelope], views: ViewsConfig) {
    let mut per: BTreeMap<EventKind, (u64, f64)> = BTreeMap::new();
    let mut folded = Folded::new(Views::new(views));
    for envelope in envelopes {
        let started = Instant::now();
        folded.apply(envelope);
        let slot = per.entry(envelope.event.kind()).or_default();
        slot.0 += 1;
        slot.1 += started.elapsed().as_secs_f64();
    }
    let total: f64 = per.values().map(|(_, secs)| secs).sum();
    for (kind, (count, secs)) in &per {
        println!(
            "  {kind:26} {count:8} events {:6.0} ns/event {:5.1}% of the time",
            secs / *count as f64 * 1e9,
            100.0 * secs / total
        );
    }
}

/// Folds every event into a fresh view `runs` times on this thread and prints the median and
/// best rate over all runs, by wall time and by time on a CPU (see `thread_cpu_ns`), and how
/// long the thread waited for a CPU. Returns the last run's view and what one view added to
/// the resident set.
fn replays(log: &[Envelope], views: ViewsConfig, runs: usize) -> anyhow::Result<(Views, String)> {
    let runs = runs.max(1);
    let before_views = resident_kib();
    let mut wall_rates = Vec::with_capacity(runs);
    let mut cpu_rates = Vec::with_capacity(runs);
    let mut waited = 0;
    let mut view_growth = String::new();
    let mut live = None;
    for run in 0..runs {
        // Drop the previous run's view first so runs do not pay for each other's memory.
        drop(live.take());
        let cpu_before = thread_cpu_ns();
        let started = Instant::now();
        let mut folded = Folded::new(Views::new(views));
        // Through the slice entry point, as the scheduler's read model folds (History::apply_all
        // shares its batched fold), rather than one `apply` per envelope.
        folded.apply_slice(log);
        let elapsed = started.elapsed().as_secs_f64();
        let cpu = cpu_before
            .zip(thread_cpu_ns())
            .map(|(before, after)| before.until(after));
        wall_rates.push(log.len() as f64 / elapsed);
        if let Some(ThreadCpu { on_cpu, waiting }) = cpu {
            cpu_rates.push(log.len() as f64 / (on_cpu.max(1) as f64 / 1e9));
            waited += waiting;
        }
        if run == 0 {
            view_growth = rss_growth(before_views, resident_kib());
        }
        live = Some(folded.into_view());
    }
    let live = live.context("at least one replay ran")?;
    let (median, best) = median_and_best(&wall_rates).context("at least one replay ran")?;
    println!(
        "replay (1 core):      median {median:.0} events/s, best {best:.0} events/s over {runs} runs"
    );
    match median_and_best(&cpu_rates) {
        Some((median, best)) if cpu_rates.len() == runs => println!(
            "replay per CPU-s:     median {median:.0} events/s, best {best:.0} events/s over {runs} runs \
             (on-CPU time; the runs waited {:.0} ms for a CPU in all)",
            waited as f64 / 1e6
        ),
        _ => println!("replay per CPU-s:     unavailable (no /proc/thread-self/schedstat)"),
    }
    Ok((live, view_growth))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let views = ViewsConfig {
        activity_capacity: args.activity,
    };

    let started = Instant::now();
    let (envelopes, stats) = generate(Shape {
        events: args.events,
        seed: args.seed,
        ..Shape::default()
    });
    let task_events = envelopes
        .iter()
        .filter(|e| {
            matches!(
                e.event.kind(),
                EventKind::TaskCreated
                    | EventKind::TaskAssigned
                    | EventKind::TaskStateChanged
                    | EventKind::TaskDeleted
            )
        })
        .count();
    println!(
        "bench-read: {} events (seed {}), generated in {:.2} s",
        envelopes.len(),
        args.seed,
        started.elapsed().as_secs_f64()
    );
    println!(
        "history:              {} jobs created, {} tasks created, {} updates, {} job kills, \
         {} drains, {} tasks pruned; {:.0}% task events",
        stats.jobs_created,
        stats.tasks_created,
        stats.updates,
        stats.kills,
        stats.drains,
        stats.pruned,
        100.0 * task_events as f64 / envelopes.len().max(1) as f64
    );
    let last = envelopes.last().map_or(0, |e| e.seq);
    let span = match (envelopes.first(), envelopes.last()) {
        (Some(first), Some(last)) => (first.at, last.at),
        _ => (Timestamp(0), Timestamp(0)),
    };

    if args.replay_only {
        replays(&envelopes, views, args.replays)?;
        if args.by_kind {
            by_kind(&envelopes, views);
        }
        return Ok(());
    }

    // 1. History: every event moved into its memory log, a checkpoint every N. Measured first,
    // while every allocation is fresh, so that resident growth is what the history holds (the
    // generated vector's buffer is freed as the log's is filled: the log itself nets out).
    let before_history = resident_kib();
    let started = Instant::now();
    let mut history = History::with_source(
        MemoryLog::with_capacity(envelopes.len()),
        HistoryConfig {
            checkpoint_every: args.checkpoint_every,
            max_checkpoints: args.max_checkpoints,
            views,
        },
    );
    for envelope in envelopes {
        history.apply_owned(envelope);
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "history ingest:       {:.0} events/s with {} checkpoints (every {}); live view and \
         checkpoints grew RSS by {}",
        last as f64 / elapsed,
        history.checkpoint_seqs().len() - 1,
        args.checkpoint_every,
        rss_growth(before_history, resident_kib())
    );
    let log = history.source().events();

    // 2. Replay: a fresh view folds every event, on this thread.
    let (live, view_growth) = replays(log, views, args.replays)?;
    let roles = live.roles();
    let hosts = live.hosts();
    let jobs: Vec<JobKey> = roles
        .iter()
        .filter_map(|r| live.role(r.role.as_str()))
        .flat_map(|r| r.jobs.into_iter().map(|j| j.job))
        .collect();
    anyhow::ensure!(!jobs.is_empty(), "the generated history left no jobs");
    let tasks: u64 = roles.iter().map(|r| r.tasks.total()).sum();
    println!(
        "live view:            {} roles, {} jobs, {tasks} tasks, {} hosts; one view is {view_growth}",
        roles.len(),
        jobs.len(),
        hosts.len()
    );

    // 3. Live queries, as the pages would issue them.
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed ^ 0x5eed);
    let mut job_latency = latency_histogram();
    let mut task_ids: Vec<TaskId> = Vec::new();
    for _ in 0..args.samples {
        let key = &jobs[rng.random_range(0..jobs.len())];
        let started = Instant::now();
        let view = live.job(key);
        record(&mut job_latency, started);
        if let Some(view) = view {
            task_ids.extend(view.active.into_iter().take(1).map(|t| t.id));
        }
    }
    let mut task_latency = latency_histogram();
    for id in &task_ids {
        let started = Instant::now();
        black_box(live.task(id));
        record(&mut task_latency, started);
    }
    let started = Instant::now();
    black_box(live.roles());
    let roles_ms = started.elapsed().as_secs_f64() * 1000.0;
    let started = Instant::now();
    black_box(live.hosts());
    let hosts_ms = started.elapsed().as_secs_f64() * 1000.0;
    let started = Instant::now();
    black_box(live.activity(100));
    let activity_ms = started.elapsed().as_secs_f64() * 1000.0;
    println!("query job(key):       {}", percentiles(&job_latency));
    println!("query task(id):       {}", percentiles(&task_latency));
    println!(
        "query roles():        {roles_ms:.3} ms; hosts(): {hosts_ms:.3} ms; activity(100): {activity_ms:.3} ms"
    );
    drop(live);

    // 4. Time travel to random seqs and times.
    let mut at_latency = latency_histogram();
    for _ in 0..args.samples {
        let seq = rng.random_range(1..=last.max(1));
        let started = Instant::now();
        let past = history.at(seq)?;
        record(&mut at_latency, started);
        anyhow::ensure!(past.last_seq() == seq, "at({seq}) gave {}", past.last_seq());
    }
    println!("at(seq):              {}", percentiles(&at_latency));
    let mut at_job_latency = latency_histogram();
    for _ in 0..args.samples.min(200) {
        let seq = rng.random_range(1..=last.max(1));
        let key = &jobs[rng.random_range(0..jobs.len())];
        let started = Instant::now();
        black_box(history.at(seq)?.job(key));
        record(&mut at_job_latency, started);
    }
    println!("at(seq) + job(key):   {}", percentiles(&at_job_latency));
    let mut at_time_latency = latency_histogram();
    for _ in 0..args.samples.min(200) {
        let time = Timestamp(rng.random_range(span.0.0..=span.1.0));
        let started = Instant::now();
        black_box(history.at_time(time)?);
        record(&mut at_time_latency, started);
    }
    println!("at_time(t):           {}", percentiles(&at_time_latency));
    match peak_resident_kib() {
        Some(peak) => println!(
            "peak RSS:             {} (events in the history's log, history, one more view)",
            mib(peak)
        ),
        None => println!("peak RSS:             unavailable (no /proc/self/status)"),
    }
    black_box(&history);
    Ok(())
}
