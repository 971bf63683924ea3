//! # aurora-bench
//!
//! Benchmark binaries, run in release by the `ops/bench-*` scripts, that print their figures.
//! Not tests: nothing here asserts a speed. The library holds what the binaries share.
//!
//! May depend on any aurora crate; nothing depends on it.

pub mod history;

use hdrhistogram::Histogram;

/// A latency histogram in microseconds, 1 µs to 60 s, 3 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    match Histogram::new_with_bounds(1, 60_000_000, 3) {
        Ok(histogram) => histogram,
        Err(e) => unreachable!("constant bounds are valid: {e}"),
    }
}

/// Formats microseconds as milliseconds with three decimals.
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
