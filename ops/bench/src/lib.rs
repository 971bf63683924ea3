//! # aurora-bench
//!
//! Benchmark binaries, run in release by the `ops/bench-*` scripts, that print their figures.
//! Not tests: nothing here asserts a speed. The library holds what the binaries share.
//!
//! May depend on any aurora crate; nothing depends on it.

pub mod history;
pub mod timeline;

/// The allocator the scheduler's binary uses (see its `main.rs`), so that the benchmarks
/// measure the code as it runs there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::Child;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// A process a benchmark started, stopped when dropped: SIGTERM first (so a scheduler closes
/// its journal), then SIGKILL if it has not stopped within 10 s.
#[derive(Debug)]
pub struct Process {
    pub name: &'static str,
    pub child: Child,
}

impl Process {
    /// Whether it is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("{} did not stop on SIGTERM; killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A representative event: a task state change with a message, as the scheduler writes most.
pub fn sample_event() -> aurora_events::PendingEvent {
    let event = aurora_events::samples::events()
        .into_iter()
        .find(|e| e.kind() == aurora_events::EventKind::TaskStateChanged)
        .unwrap_or(aurora_events::Event::ClusterInitialised {
            cluster: "bench".into(),
        });
    aurora_events::PendingEvent::new(aurora_events::Actor::Scheduler, event)
}

/// A free TCP port on loopback.
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A latency histogram in microseconds, 1 µs to 60 s, 3 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    match Histogram::new_with_bounds(1, 60_000_000, 3) {
        Ok(histogram) => histogram,
        Err(e) => unreachable!("constant bounds are valid: {e}"),
    }
}

/// Formats microseconds as milliseconds with three decimals.
/// What [`drive`] measured: how many writes were acknowledged, in how long, and their latency.
#[derive(Debug)]
pub struct Driven {
    pub count: u64,
    pub elapsed: Duration,
    pub histogram: Histogram<u64>,
}

/// Runs `writers` concurrent loops for `duration`, each calling `write(writer, n)` for its
/// `n`th write and waiting for it before the next; the first failed write fails the run.
pub async fn drive<W, F>(writers: usize, duration: Duration, write: W) -> anyhow::Result<Driven>
where
    W: Fn(usize, u64) -> F + Clone + Send + 'static,
    F: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let write = write.clone();
        tasks.push(tokio::spawn(async move {
            let mut histogram = latency_histogram();
            let mut count = 0u64;
            while Instant::now() < deadline {
                let began = Instant::now();
                write(writer, count).await?;
                histogram.saturating_record(began.elapsed().as_micros() as u64);
                count += 1;
            }
            anyhow::Ok((count, histogram))
        }));
    }
    let mut driven = Driven {
        count: 0,
        elapsed: Duration::ZERO,
        histogram: latency_histogram(),
    };
    for task in tasks {
        let (count, histogram) = task.await??;
        driven.count += count;
        driven
            .histogram
            .add(&histogram)
            .map_err(|e| anyhow::anyhow!("merge histograms: {e}"))?;
    }
    driven.elapsed = start.elapsed();
    Ok(driven)
}

pub fn ms(micros: u64) -> String {
    format!("{:.3}", micros as f64 / 1000.0)
}

/// A line of `/proc/self/status` in KiB (e.g. `VmRSS`, `VmHWM`), where the platform has it.
fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Current resident memory of this process, in KiB.
pub fn resident_kib() -> Option<u64> {
    proc_status_kib("VmRSS:")
}

/// Peak resident memory of this process so far, in KiB.
pub fn peak_resident_kib() -> Option<u64> {
    proc_status_kib("VmHWM:")
}

/// Time the calling thread has spent on a CPU and waiting for one, in nanoseconds, from
/// `/proc/thread-self/schedstat` (Linux with scheduler statistics). On a shared machine the
/// wall time of a run includes time other processes held the CPU; the on-CPU time does not,
/// which makes it the fairer measure of a single-threaded rate per core.
pub fn thread_cpu_ns() -> Option<ThreadCpu> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let mut fields = stat.split_whitespace().map(str::parse::<u64>);
    Some(ThreadCpu {
        on_cpu: fields.next()?.ok()?,
        waiting: fields.next()?.ok()?,
    })
}

/// See [`thread_cpu_ns`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThreadCpu {
    pub on_cpu: u64,
    pub waiting: u64,
}

impl ThreadCpu {
    /// The time spent between `self` (earlier) and `later`.
    pub fn until(self, later: Self) -> Self {
        Self {
            on_cpu: later.on_cpu.saturating_sub(self.on_cpu),
            waiting: later.waiting.saturating_sub(self.waiting),
        }
    }
}

/// The median and the best of some rates (the median of an even count is the upper middle).
/// `None` when there are none.
pub fn median_and_best(rates: &[f64]) -> Option<(f64, f64)> {
    let mut sorted = rates.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some((*sorted.get(sorted.len() / 2)?, *sorted.last()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_best_are_not_the_first_or_the_mean() {
        assert_eq!(median_and_best(&[]), None);
        assert_eq!(median_and_best(&[3.0]), Some((3.0, 3.0)));
        assert_eq!(median_and_best(&[9.0, 1.0, 2.0]), Some((2.0, 9.0)));
        assert_eq!(median_and_best(&[4.0, 1.0, 3.0, 2.0]), Some((3.0, 4.0)));
    }

    #[test]
    fn thread_cpu_advances_with_work_where_available() {
        let Some(before) = thread_cpu_ns() else {
            return; // not Linux, or no scheduler statistics
        };
        let mut x = 0u64;
        let started = std::time::Instant::now();
        while started.elapsed().as_millis() < 30 {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let Some(after) = thread_cpu_ns() else {
            panic!("schedstat vanished");
        };
        assert!(before.until(after).on_cpu > 0, "{before:?} {after:?}");
    }
}
